#include "config.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_rules.h"
#include "json_whole.h"
#include "pa_plugin.h"

#define DAY (24LL * 3600)

/* host.json's keys, their ranges and defaults: the one place they are listed. */
static const config_rule TOP_RULES[] = {
    CONFIG_INT_RULE("poll_interval_seconds", 1, 30 * DAY, 900),
    CONFIG_INT_RULE("backoff_cap_seconds", 1, 30 * DAY, DAY),
    CONFIG_INT_RULE("quick_check_interval_seconds", 0, 30 * DAY, 0),
    CONFIG_STRING_RULE("isolation", "process"),
    CONFIG_INT_RULE("poll_timeout_seconds", 1, DAY, 300),
    /* Short: while one instance holds a WRITE lease, no other can write (ARCHITECTURE.md). */
    CONFIG_INT_RULE("write_lease_timeout_seconds", 1, DAY, 10),
    CONFIG_INT_RULE("shutdown_grace_seconds", 0, 3600, 5),
    CONFIG_INT_RULE("worker_memory_limit_mb", 0, 1024LL * 1024, 2048),
    CONFIG_STRING_RULE("database", NULL),
    CONFIG_OBJECT_RULE("pool"),
    CONFIG_OBJECT_RULE("plugins"),
    CONFIG_END,
};
static const config_rule POOL_RULES[] = {
    CONFIG_INT_RULE("size", 1, 256, 4),
    CONFIG_INT_RULE("lease_timeout_ms", 0, 3600LL * 1000, 5000),
    CONFIG_INT_RULE("busy_timeout_ms", 0, 3600LL * 1000, 5000),
    CONFIG_INT_RULE("max_lifetime_seconds", 0, 30 * DAY, 1800),
    /* A connection unused this long is closed (0: kept): no server backend idles for a host. */
    CONFIG_INT_RULE("idle_seconds", 0, DAY, 120),
    /* PostgreSQL: bounded, so no database call waits on the network for ever. */
    CONFIG_INT_RULE("connect_timeout_seconds", 2, 300, 5),
    CONFIG_INT_RULE("statement_timeout_ms", 1, 3600LL * 1000, 30000),
    CONFIG_END,
};
static const config_rule PLUGIN_RULES[] = {
    CONFIG_BOOL_RULE("enabled", true),
    CONFIG_ARRAY_RULE("instances"),
    CONFIG_END,
};
/*
 * An instance's own keys are its plugin's to check; the host needs these.
 * The HOST_ONLY ones are not handed to the plugin (0: the host-wide value).
 */
/* The longest plugin name and instance id: "plugin NAME/ID" fits a log source whole. */
#define CONFIG_NAME_MAX 64
#define CONFIG_ID_MAX   128

static const config_rule INSTANCE_RULES[] = {
    CONFIG_REQUIRED_STRING_RULE("id"),
    CONFIG_BOOL_RULE("enabled", true),
    CONFIG_INT_RULE("poll_timeout_seconds", 0, DAY, 0),
    CONFIG_INT_RULE("poll_interval_seconds", 0, 30 * DAY, 0),
    CONFIG_INT_RULE("write_lease_timeout_seconds", 0, DAY, 0),
    CONFIG_END,
};
static const char *const HOST_ONLY[] = {"poll_timeout_seconds", "poll_interval_seconds",
                                        "write_lease_timeout_seconds"};
static const config_rule ANY_KEYS[] = {CONFIG_END};

/* Reads the checked top-level and pool values (or their defaults) into cfg. */
static void read_settings(const cJSON *root, host_config *cfg)
{
    const cJSON *pool = cJSON_GetObjectItemCaseSensitive(root, "pool");
    cfg->poll_interval_seconds = config_int(root, TOP_RULES, "poll_interval_seconds");
    cfg->backoff_cap_seconds = config_int(root, TOP_RULES, "backoff_cap_seconds");
    cfg->quick_check_interval_seconds = config_int(root, TOP_RULES, "quick_check_interval_seconds");
    cfg->isolated = strcmp(config_string(root, TOP_RULES, "isolation"), "none") != 0;
    cfg->poll_timeout_seconds = config_int(root, TOP_RULES, "poll_timeout_seconds");
    cfg->write_lease_timeout_seconds = config_int(root, TOP_RULES, "write_lease_timeout_seconds");
    cfg->shutdown_grace_seconds = config_int(root, TOP_RULES, "shutdown_grace_seconds");
    cfg->worker_memory_limit_mb = config_int(root, TOP_RULES, "worker_memory_limit_mb");
    cfg->pool_size = (int)config_int(pool, POOL_RULES, "size");
    cfg->lease_timeout_ms = (int)config_int(pool, POOL_RULES, "lease_timeout_ms");
    cfg->busy_timeout_ms = (int)config_int(pool, POOL_RULES, "busy_timeout_ms");
    cfg->max_lifetime_seconds = config_int(pool, POOL_RULES, "max_lifetime_seconds");
    cfg->pool_idle_seconds = config_int(pool, POOL_RULES, "idle_seconds");
    cfg->connect_timeout_seconds = (int)config_int(pool, POOL_RULES, "connect_timeout_seconds");
    cfg->statement_timeout_ms = (int)config_int(pool, POOL_RULES, "statement_timeout_ms");
}

void config_defaults(host_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    read_settings(NULL, cfg);
}

/*
 * Where a parse reports: err holds the (last) problem; with report set,
 * every problem is also told to it and the parse goes on past it, skipping
 * only what the problem spoils (--check-config).
 */
typedef struct parse_ctx {
    const char *origin;
    char *err;
    size_t err_size;
    config_report *report;
} parse_ctx;

static int fail(parse_ctx *x, const char *key, const char *what)
{
    snprintf(x->err, x->err_size, "%s: %s: %s", x->origin, key, what);
    if (x->report) {
        x->report->problem(x->report->arg, x->err);
        x->report->count++;
    }
    return PA_ERR_CONFIG;
}

static void forward_problem(void *arg, const char *message)
{
    parse_ctx *x = arg;
    snprintf(x->err, x->err_size, "%s", message);
    if (x->report) {
        x->report->problem(x->report->arg, message);
        x->report->count++;
    }
}

/* obj against rules (config_check); every problem told when reporting. */
static int check(parse_ctx *x, const cJSON *obj, const config_rule *rules, bool allow_unknown,
                 const char *prefix)
{
    if (!x->report)
        return config_check(obj, rules, allow_unknown, x->origin, prefix, x->err, x->err_size);
    return config_check_each(obj, rules, allow_unknown, x->origin, prefix, forward_problem, x)
               ? PA_ERR_CONFIG
               : PA_OK;
}

/* The instance object as its plugin gets it: without the keys only the host reads. */
static char *print_for_plugin(const cJSON *inst)
{
    cJSON *copy = cJSON_Duplicate(inst, true);
    for (size_t i = 0; copy && i < sizeof HOST_ONLY / sizeof HOST_ONLY[0]; i++)
        cJSON_DeleteItemFromObjectCaseSensitive(copy, HOST_ONLY[i]);
    char *text = copy ? cJSON_PrintUnformatted(copy) : NULL;
    cJSON_Delete(copy);
    return text;
}

/* The id of instance object inst at path, checked; NULL (reported) when it has none usable. */
static const char *instance_id(parse_ctx *x, const cJSON *inst, const plugin_config *pc, char *path,
                               size_t path_size)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(inst, "id");
    if (!cJSON_IsString(id) || !id->valuestring) { /* INSTANCE_RULES require it */
        fail(x, path, "id: expected a string");
        return NULL;
    }
    /* Whole in every log line and status (plugin/id within a log source's 255 bytes). */
    if (strlen(id->valuestring) > CONFIG_ID_MAX) {
        fail(x, path, "id: longer than 128 bytes");
        return NULL;
    }
    for (size_t j = 0; j < pc->instance_count; j++) {
        if (pc->instances[j].id && strcmp(pc->instances[j].id, id->valuestring) == 0) {
            snprintf(path + strlen(path), path_size - strlen(path), ".id");
            char what[300];
            snprintf(what, sizeof what, "duplicate instance id '%s'", id->valuestring);
            fail(x, path, what);
            return NULL;
        }
    }
    return id->valuestring;
}

/* One instance object into pc's next instance; PA_ERR_CONFIG (reported) when it is refused. */
static int parse_instance(parse_ctx *x, const cJSON *inst, plugin_config *pc, int index)
{
    char path[256];
    snprintf(path, sizeof path, "plugins.%s.instances[%d]", pc->name, index);
    if (!cJSON_IsObject(inst))
        return fail(x, path, "expected an object");
    char where[300];
    snprintf(where, sizeof where, "%s.", path);
    if (check(x, inst, INSTANCE_RULES, true, where) != PA_OK)
        return PA_ERR_CONFIG;
    const char *id = instance_id(x, inst, pc, path, sizeof path);
    if (!id)
        return PA_ERR_CONFIG;
    instance_config *ic = &pc->instances[pc->instance_count];
    ic->id = strdup(id);
    ic->json = print_for_plugin(inst);
    ic->enabled = config_bool(inst, INSTANCE_RULES, "enabled");
    ic->poll_timeout_seconds = config_int(inst, INSTANCE_RULES, "poll_timeout_seconds");
    ic->poll_interval_seconds = config_int(inst, INSTANCE_RULES, "poll_interval_seconds");
    ic->write_lease_timeout_seconds =
        config_int(inst, INSTANCE_RULES, "write_lease_timeout_seconds");
    if (!ic->id || !ic->json) {
        free(ic->id);
        cJSON_free(ic->json);
        *ic = (instance_config){0};
        return fail(x, path, "out of memory");
    }
    pc->instance_count++;
    return PA_OK;
}

static int parse_instances(parse_ctx *x, const cJSON *list, plugin_config *pc)
{
    char path[256];
    snprintf(path, sizeof path, "plugins.%s.instances", pc->name);
    if (!cJSON_IsArray(list))
        return fail(x, path, "expected an array of instance objects");
    int n = cJSON_GetArraySize(list);
    pc->instances = calloc((size_t)(n > 0 ? n : 1), sizeof *pc->instances);
    if (!pc->instances)
        return fail(x, path, "out of memory");
    int i = 0, rc = PA_OK;
    for (const cJSON *inst = list->child; inst; inst = inst->next, i++) {
        if (parse_instance(x, inst, pc, i) != PA_OK) {
            rc = PA_ERR_CONFIG;
            if (!x->report)
                return rc;
        }
    }
    return rc;
}

/* One plugin's object into cfg's next plugin; PA_ERR_CONFIG (reported) when it is refused. */
static int parse_plugin(parse_ctx *x, const cJSON *p, host_config *cfg)
{
    char path[256];
    snprintf(path, sizeof path, "plugins.%s", p->string);
    if (!cJSON_IsObject(p))
        return fail(x, path, "expected an object");
    if (p->string[0] == '\0' || strchr(p->string, '/'))
        return fail(x, path, "a plugin name is a file name without .so");
    if (strlen(p->string) > CONFIG_NAME_MAX)
        return fail(x, path, "a plugin name is at most 64 bytes");
    snprintf(path, sizeof path, "plugins.%s.", p->string);
    if (check(x, p, PLUGIN_RULES, false, path) != PA_OK)
        return PA_ERR_CONFIG;
    plugin_config *pc = &cfg->plugins[cfg->plugin_count];
    if (!(pc->name = strdup(p->string)))
        return fail(x, path, "out of memory");
    cfg->plugin_count++;
    pc->enabled = config_bool(p, PLUGIN_RULES, "enabled");
    const cJSON *instances = cJSON_GetObjectItemCaseSensitive(p, "instances");
    return instances ? parse_instances(x, instances, pc) : PA_OK;
}

static int parse_plugins(parse_ctx *x, const cJSON *plugins, host_config *cfg)
{
    if (check(x, plugins, ANY_KEYS, true, "plugins.") != PA_OK && !x->report)
        return PA_ERR_CONFIG;
    int n = cJSON_GetArraySize(plugins);
    cfg->plugins = calloc((size_t)(n > 0 ? n : 1), sizeof *cfg->plugins);
    if (!cfg->plugins)
        return fail(x, "plugins", "out of memory");
    int rc = PA_OK;
    for (const cJSON *p = plugins->child; p; p = p->next) {
        if (parse_plugin(x, p, cfg) != PA_OK) {
            rc = PA_ERR_CONFIG;
            if (!x->report)
                return rc;
        }
    }
    return rc;
}

/* The top level and pool; when they have problems the defaults stay (checking goes on). */
static int parse_settings(parse_ctx *x, const cJSON *root, host_config *cfg)
{
    bool top_ok = check(x, root, TOP_RULES, false, "") == PA_OK;
    if (!top_ok && !x->report)
        return PA_ERR_CONFIG;
    bool pool_ok = check(x, cJSON_GetObjectItemCaseSensitive(root, "pool"), POOL_RULES, false,
                         "pool.") == PA_OK;
    if (!top_ok || !pool_ok)
        return PA_ERR_CONFIG;
    const char *isolation = config_string(root, TOP_RULES, "isolation");
    if (strcmp(isolation, "process") != 0 && strcmp(isolation, "none") != 0)
        return fail(x, "isolation", "expected \"process\" or \"none\"");
    read_settings(root, cfg);
    const char *database = config_string(root, TOP_RULES, "database");
    if (database && !(cfg->database = strdup(database)))
        return fail(x, "database", "out of memory");
    return PA_OK;
}

static int parse_root(parse_ctx *x, const cJSON *root, host_config *cfg)
{
    if (!cJSON_IsObject(root))
        return fail(x, "(top level)", "expected a JSON object");
    int rc = parse_settings(x, root, cfg);
    if (rc != PA_OK && !x->report)
        return rc;
    const cJSON *plugins = cJSON_GetObjectItemCaseSensitive(root, "plugins");
    int plugins_rc = plugins ? parse_plugins(x, plugins, cfg) : PA_OK;
    return rc != PA_OK ? rc : plugins_rc;
}

int config_parse(const char *text, size_t len, const char *origin, host_config *cfg, char *err,
                 size_t err_size)
{
    config_defaults(cfg);
    char why[128];
    cJSON *root = json_parse_whole(text, len, why, sizeof why);
    if (!root) {
        snprintf(err, err_size, "%s: %s", origin, why);
        return PA_ERR_CONFIG;
    }
    int rc = config_from_json(root, origin, cfg, err, err_size);
    cJSON_Delete(root);
    return rc;
}

int config_from_json(const cJSON *root, const char *origin, host_config *cfg, char *err,
                     size_t err_size)
{
    return config_from_json_reporting(root, origin, cfg, NULL, err, err_size);
}

int config_from_json_reporting(const cJSON *root, const char *origin, host_config *cfg,
                               config_report *report, char *err, size_t err_size)
{
    config_defaults(cfg);
    parse_ctx x = {origin, err, err_size, report};
    int rc = parse_root(&x, root, cfg);
    if (rc != PA_OK && !report)
        config_free(cfg);
    return rc;
}

int config_load(const char *path, host_config *cfg, char *err, size_t err_size)
{
    config_defaults(cfg);
    char why[160];
    cJSON *root = json_load_file(path, why, sizeof why);
    if (!root) {
        snprintf(err, err_size, "%s: %s", path, why);
        return PA_ERR_CONFIG;
    }
    int rc = config_from_json(root, path, cfg, err, err_size);
    cJSON_Delete(root);
    return rc;
}

void config_free(host_config *cfg)
{
    for (size_t i = 0; i < cfg->plugin_count; i++) {
        plugin_config *pc = &cfg->plugins[i];
        for (size_t j = 0; j < pc->instance_count; j++) {
            free(pc->instances[j].id);
            cJSON_free(pc->instances[j].json);
        }
        free(pc->instances);
        free(pc->name);
    }
    free(cfg->plugins);
    cfg->plugins = NULL;
    cfg->plugin_count = 0;
    free(cfg->database);
    cfg->database = NULL;
    free(cfg->agent_dir);
    cfg->agent_dir = NULL;
    free(cfg->agent_database_url);
    cfg->agent_database_url = NULL;
}

const plugin_config *config_find_plugin(const host_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->plugin_count; i++) {
        if (strcmp(cfg->plugins[i].name, name) == 0)
            return &cfg->plugins[i];
    }
    return NULL;
}
