#include "agent_config.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json_whole.h"
#include "pa_plugin.h"
#include "yaml_json.h"

/* Where a message points: "FILE: KEY: PROBLEM", as config_check's messages do. */
typedef struct reader {
    const char *file;
    char *err;
    size_t err_size;
} reader;

static int bad(const reader *r, const char *key, const char *what)
{
    snprintf(r->err, r->err_size, "%s: %s: %s", r->file, key, what);
    return PA_ERR_CONFIG;
}

/*
 * The agent's pydantic fields in lax mode: an int is a whole number (or a
 * string of digits), a bool is a boolean (or 0/1, or pydantic's words: yes,
 * no, on, off, true, false, t, f, y, n), a string is a string.
 * Missing or null keys keep the default.
 */
static int read_int(const reader *r, const cJSON *obj, const char *key, const char *path, long lo,
                    long hi, long *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v))
        return PA_OK;
    double d = NAN;
    if (cJSON_IsNumber(v))
        d = v->valuedouble;
    else if (cJSON_IsString(v) && v->valuestring[0] &&
             strspn(v->valuestring, "0123456789") == strlen(v->valuestring) &&
             strlen(v->valuestring) < 10)
        d = atof(v->valuestring);
    char name[160], what[96];
    snprintf(name, sizeof name, "%s.%s", path, key);
    snprintf(what, sizeof what, "expected a whole number from %ld to %ld (the agent's range)", lo,
             hi);
    if (!(d >= (double)lo && d <= (double)hi) || d != floor(d))
        return bad(r, name, what);
    *out = (long)d;
    return PA_OK;
}

/* pydantic's words for a boolean, in any case. */
static bool word_in(const char *text, const char *const *words)
{
    for (; *words; words++)
        if (strcasecmp(text, *words) == 0)
            return true;
    return false;
}

static int read_bool(const reader *r, const cJSON *obj, const char *key, const char *path,
                     bool *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v))
        return PA_OK;
    char name[160];
    snprintf(name, sizeof name, "%s.%s", path, key);
    static const char *const TRUE_WORDS[] = {"1", "on", "t", "true", "y", "yes", NULL};
    static const char *const FALSE_WORDS[] = {"0", "off", "f", "false", "n", "no", NULL};
    if (cJSON_IsBool(v))
        *out = cJSON_IsTrue(v);
    else if (cJSON_IsNumber(v) && (v->valuedouble == 0 || v->valuedouble == 1))
        *out = v->valuedouble == 1;
    else if (cJSON_IsString(v) && word_in(v->valuestring, TRUE_WORDS))
        *out = true;
    else if (cJSON_IsString(v) && word_in(v->valuestring, FALSE_WORDS))
        *out = false;
    else
        return bad(r, name, "expected true or false");
    return PA_OK;
}

/* A string key; *out stays NULL when missing or null. */
static int read_string(const reader *r, const cJSON *obj, const char *key, const char *path,
                       const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v))
        return PA_OK;
    char name[160];
    snprintf(name, sizeof name, "%s.%s", path, key);
    if (!cJSON_IsString(v))
        return bad(r, name, "expected a string");
    *out = v->valuestring;
    return PA_OK;
}

/* The agent's workspace_id rule: "all", or letters, digits, '-' and '_'; kept lowercased. */
static int workspace_id(const reader *r, const cJSON *ws, const char *path, char *out,
                        size_t out_size)
{
    const char *id = NULL;
    char name[160];
    snprintf(name, sizeof name, "%s.workspace_id", path);
    if (read_string(r, ws, "workspace_id", path, &id) != PA_OK)
        return PA_ERR_CONFIG;
    if (!id)
        return bad(r, name, "missing (the agent requires it)");
    size_t n = strlen(id);
    if (n == 0 || n >= out_size)
        return bad(r, name, n ? "too long" : "empty");
    for (size_t i = 0; i <= n; i++) {
        unsigned char c = (unsigned char)id[i];
        if (c && !isalnum(c) && c != '-' && c != '_')
            return bad(r, name,
                       "expected \"all\" or letters, digits, '-' and '_' (the agent's "
                       "rule)");
        out[i] = (char)tolower(c);
    }
    return PA_OK;
}

/* The instance object one workspace becomes (the granola plugin's keys, plus the host's). */
static int workspace_instance(const reader *r, const cJSON *ws, const char *path, cJSON **out)
{
    char id[201];
    long lookback = 7, every_minutes = 15;
    bool enabled = true;
    const char *display = NULL, *token_path = NULL;
    if (!cJSON_IsObject(ws))
        return bad(r, path, "expected a mapping");
    if (workspace_id(r, ws, path, id, sizeof id) != PA_OK ||
        read_bool(r, ws, "enabled", path, &enabled) != PA_OK ||
        read_int(r, ws, "lookback_days", path, 1, 90, &lookback) != PA_OK ||
        read_int(r, ws, "polling_interval_minutes", path, 1, 1440, &every_minutes) != PA_OK ||
        read_string(r, ws, "display_name", path, &display) != PA_OK ||
        read_string(r, ws, "token_path", path, &token_path) != PA_OK)
        return PA_ERR_CONFIG;
    cJSON *inst = cJSON_CreateObject();
    bool ok = inst && cJSON_AddStringToObject(inst, "id", id) &&
              cJSON_AddStringToObject(inst, "workspace_id", id) &&
              cJSON_AddBoolToObject(inst, "enabled", enabled) &&
              cJSON_AddNumberToObject(inst, "lookback_days", (double)lookback) &&
              cJSON_AddNumberToObject(inst, "poll_interval_seconds", (double)every_minutes * 60);
    if (ok && display && *display)
        ok = cJSON_AddStringToObject(inst, "display_name", display) != NULL;
    if (ok && token_path && *token_path) /* empty: the agent's default, as the agent reads it */
        ok = cJSON_AddStringToObject(inst, "token_path", token_path) != NULL;
    if (!ok) {
        cJSON_Delete(inst);
        return bad(r, path, "out of memory");
    }
    *out = inst;
    return PA_OK;
}

static const cJSON *find_instance(const cJSON *instances, const char *id)
{
    const cJSON *inst;
    cJSON_ArrayForEach(inst, instances)
    {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(inst, "id");
        if (cJSON_IsString(v) && strcmp(v->valuestring, id) == 0)
            return inst;
    }
    return NULL;
}

/*
 * granola.workspaces as granola instances into *out (an array, empty when
 * the agent's Granola integration is off), refusing what the agent refuses.
 */
static int granola_instances(const reader *r, const cJSON *agent, cJSON **out)
{
    const cJSON *granola = cJSON_GetObjectItemCaseSensitive(agent, "granola");
    bool enabled = false;
    *out = cJSON_CreateArray();
    if (!*out)
        return bad(r, "granola", "out of memory");
    if (!granola || cJSON_IsNull(granola))
        return PA_OK;
    if (!cJSON_IsObject(granola))
        return bad(r, "granola", "expected a mapping");
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(granola, "workspaces");
    if (read_bool(r, granola, "enabled", "granola", &enabled) != PA_OK)
        return PA_ERR_CONFIG;
    if (list && !cJSON_IsNull(list) && !cJSON_IsArray(list))
        return bad(r, "granola.workspaces", "expected a list");
    int i = 0;
    const cJSON *ws;
    cJSON_ArrayForEach(ws, list)
    {
        char path[64];
        snprintf(path, sizeof path, "granola.workspaces[%d]", i++);
        cJSON *inst = NULL;
        if (workspace_instance(r, ws, path, &inst) != PA_OK)
            return PA_ERR_CONFIG;
        const char *id = cJSON_GetObjectItemCaseSensitive(inst, "id")->valuestring;
        if (find_instance(*out, id)) {
            char what[300];
            snprintf(what, sizeof what,
                     "workspace_id '%s' twice; the agent requires unique workspace ids", id);
            cJSON_Delete(inst);
            return bad(r, path, what);
        }
        cJSON_AddItemToArray(*out, inst);
    }
    if (!enabled) { /* checked all the same, as the agent checks them */
        cJSON_Delete(*out);
        *out = cJSON_CreateArray();
    }
    return *out ? PA_OK : bad(r, "granola", "out of memory");
}

/* host.json's plugins.granola.instances[] over the agent's: keys added or replaced, by id. */
static int apply_overrides(const reader *host, cJSON *granola, cJSON *from_agent)
{
    cJSON *overrides = cJSON_DetachItemFromObjectCaseSensitive(granola, "instances");
    int rc = PA_OK, i = 0;
    if (overrides && !cJSON_IsArray(overrides))
        rc = bad(host, "plugins.granola.instances", "expected an array of instance objects");
    const cJSON *o, *list = rc == PA_OK ? overrides : NULL;
    cJSON_ArrayForEach(o, list)
    {
        char path[64];
        snprintf(path, sizeof path, "plugins.granola.instances[%d]", i++);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
        cJSON *target =
            cJSON_IsString(id) ? (cJSON *)find_instance(from_agent, id->valuestring) : NULL;
        if (!cJSON_IsObject(o) || !cJSON_IsString(id)) {
            rc = bad(host, path, "expected an object with an \"id\"");
        } else if (!target) {
            char what[400];
            snprintf(what, sizeof what,
                     "no workspace '%.200s' in the agent's granola.workspaces; with "
                     "--agent-config the agent's config says which workspaces exist",
                     id->valuestring);
            rc = bad(host, path, what);
        }
        for (const cJSON *kv = rc == PA_OK ? o->child : NULL; kv; kv = kv->next) {
            cJSON *copy = cJSON_Duplicate(kv, true);
            if (!copy || (cJSON_GetObjectItemCaseSensitive(target, kv->string)
                              ? !cJSON_ReplaceItemInObjectCaseSensitive(target, kv->string, copy)
                              : !cJSON_AddItemToObject(target, kv->string, copy))) {
                cJSON_Delete(copy);
                rc = bad(host, path, "out of memory");
            }
        }
        if (rc != PA_OK)
            break;
    }
    cJSON_Delete(overrides);
    return rc;
}

/* The agent's granola instances into root's plugins.granola (host.json's keys kept over them). */
static int merge_granola(const reader *host, cJSON *root, cJSON *from_agent)
{
    cJSON *plugins = cJSON_GetObjectItemCaseSensitive(root, "plugins");
    if (!plugins && cJSON_GetArraySize(from_agent) == 0)
        return PA_OK;
    if (!plugins)
        plugins = cJSON_AddObjectToObject(root, "plugins");
    if (!cJSON_IsObject(plugins))
        return bad(host, "plugins", "expected an object");
    cJSON *granola = cJSON_GetObjectItemCaseSensitive(plugins, "granola");
    if (!granola && cJSON_GetArraySize(from_agent) == 0)
        return PA_OK;
    if (!granola)
        granola = cJSON_AddObjectToObject(plugins, "granola");
    if (!cJSON_IsObject(granola))
        return bad(host, "plugins.granola", "expected an object");
    if (apply_overrides(host, granola, from_agent) != PA_OK)
        return PA_ERR_CONFIG;
    cJSON *copy = cJSON_Duplicate(from_agent, true);
    if (!copy || !cJSON_AddItemToObject(granola, "instances", copy)) {
        cJSON_Delete(copy);
        return bad(host, "plugins.granola", "out of memory");
    }
    return PA_OK;
}

/* The directory of path, made absolute: the agent's working directory. */
static char *directory_of(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return NULL;
    char *slash = strrchr(copy, '/');
    if (slash == copy)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    char *dir = realpath(slash ? copy : ".", NULL);
    free(copy);
    return dir;
}

int agent_config_merge(const cJSON *agent, const char *agent_name, cJSON *root,
                       const char *host_name, char **database_url, char *err, size_t err_size)
{
    reader r = {agent_name, err, err_size}, host = {host_name, err, err_size};
    cJSON *instances = NULL;
    const cJSON *database = cJSON_GetObjectItemCaseSensitive(agent, "database");
    const char *url = NULL;
    *database_url = NULL;
    int rc = cJSON_IsObject(agent) ? PA_OK : bad(&r, "(top level)", "expected a mapping");
    if (rc == PA_OK && !cJSON_IsObject(root))
        rc = bad(&host, "(top level)", "expected a JSON object");
    if (rc == PA_OK && database && !cJSON_IsNull(database) && !cJSON_IsObject(database))
        rc = bad(&r, "database", "expected a mapping");
    if (rc == PA_OK)
        rc = read_string(&r, database, "url", "database", &url);
    if (rc == PA_OK)
        rc = granola_instances(&r, agent, &instances);
    if (rc == PA_OK)
        rc = merge_granola(&host, root, instances);
    if (rc == PA_OK && url && *url && !(*database_url = strdup(url)))
        rc = bad(&r, "database.url", "out of memory");
    cJSON_Delete(instances);
    return rc;
}

int config_load_sources(const char *host_json, const char *agent_yaml, host_config *cfg,
                        config_report *report, char *err, size_t err_size)
{
    if (!agent_yaml && !report)
        return config_load(host_json, cfg, err, err_size);
    config_defaults(cfg);
    char why[256];
    cJSON *root = host_json ? json_load_file(host_json, why, sizeof why) : cJSON_CreateObject();
    cJSON *agent = root && agent_yaml ? yaml_json_load_file(agent_yaml, why, sizeof why)
                                      : cJSON_CreateObject();
    const char *host_name = host_json ? host_json : agent_yaml;
    char *dir = NULL, *url = NULL;
    int rc = PA_OK;
    if (!root || !agent) {
        snprintf(err, err_size, "%s: %s", !root && host_json ? host_json : agent_yaml,
                 !root && !host_json ? "out of memory" : why);
        rc = PA_ERR_CONFIG;
    }
    if (rc == PA_OK && agent_yaml)
        rc = agent_config_merge(agent, agent_yaml, root, host_name, &url, err, err_size);
    if (rc == PA_OK && agent_yaml && !(dir = directory_of(agent_yaml))) {
        snprintf(err, err_size, "%s: (its directory): cannot resolve", agent_yaml);
        rc = PA_ERR_CONFIG;
    }
    if (rc != PA_OK && report) { /* the file, or the agent's part: one problem, and the end */
        report->problem(report->arg, err);
        report->count++;
    }
    if (rc == PA_OK)
        rc = config_from_json_reporting(root, host_name, cfg, report, err, err_size);
    cJSON_Delete(agent);
    cJSON_Delete(root);
    if (rc != PA_OK && !report) {
        free(dir);
        free(url);
        return rc;
    }
    cfg->agent_dir = dir;
    cfg->agent_database_url = url;
    return rc;
}
