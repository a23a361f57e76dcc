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

static int fail(char *err, size_t err_size, const char *origin, const char *key, const char *what)
{
    snprintf(err, err_size, "%s: %s: %s", origin, key, what);
    return PA_ERR_CONFIG;
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

static int parse_instances(const cJSON *list, plugin_config *pc, const char *origin, char *err,
                           size_t err_size)
{
    char path[256];
    snprintf(path, sizeof path, "plugins.%s.instances", pc->name);
    if (!cJSON_IsArray(list))
        return fail(err, err_size, origin, path, "expected an array of instance objects");
    int n = cJSON_GetArraySize(list);
    pc->instances = calloc((size_t)(n > 0 ? n : 1), sizeof *pc->instances);
    if (!pc->instances)
        return fail(err, err_size, origin, path, "out of memory");
    int i = 0;
    for (const cJSON *inst = list->child; inst; inst = inst->next, i++) {
        snprintf(path, sizeof path, "plugins.%s.instances[%d]", pc->name, i);
        if (!cJSON_IsObject(inst))
            return fail(err, err_size, origin, path, "expected an object");
        char where[300];
        snprintf(where, sizeof where, "%s.", path);
        if (config_check(inst, INSTANCE_RULES, true, origin, where, err, err_size) != PA_OK)
            return PA_ERR_CONFIG;
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(inst, "id");
        if (!cJSON_IsString(id) || !id->valuestring) /* INSTANCE_RULES require it */
            return fail(err, err_size, origin, path, "id: expected a string");
        /* Whole in every log line and status (plugin/id within a log source's 255 bytes). */
        if (strlen(id->valuestring) > CONFIG_ID_MAX)
            return fail(err, err_size, origin, path, "id: longer than 128 bytes");
        for (size_t j = 0; j < pc->instance_count; j++) {
            if (pc->instances[j].id && strcmp(pc->instances[j].id, id->valuestring) == 0) {
                snprintf(path + strlen(path), sizeof path - strlen(path), ".id");
                char what[300];
                snprintf(what, sizeof what, "duplicate instance id '%s'", id->valuestring);
                return fail(err, err_size, origin, path, what);
            }
        }
        instance_config *ic = &pc->instances[pc->instance_count];
        ic->id = strdup(id->valuestring);
        ic->json = print_for_plugin(inst);
        ic->enabled = config_bool(inst, INSTANCE_RULES, "enabled");
        ic->poll_timeout_seconds = config_int(inst, INSTANCE_RULES, "poll_timeout_seconds");
        ic->poll_interval_seconds = config_int(inst, INSTANCE_RULES, "poll_interval_seconds");
        ic->write_lease_timeout_seconds =
            config_int(inst, INSTANCE_RULES, "write_lease_timeout_seconds");
        pc->instance_count++;
        if (!ic->id || !ic->json)
            return fail(err, err_size, origin, path, "out of memory");
    }
    return PA_OK;
}

static int parse_plugins(const cJSON *plugins, host_config *cfg, const char *origin, char *err,
                         size_t err_size)
{
    if (config_check(plugins, ANY_KEYS, true, origin, "plugins.", err, err_size) != PA_OK)
        return PA_ERR_CONFIG;
    int n = cJSON_GetArraySize(plugins);
    cfg->plugins = calloc((size_t)(n > 0 ? n : 1), sizeof *cfg->plugins);
    if (!cfg->plugins)
        return fail(err, err_size, origin, "plugins", "out of memory");
    for (const cJSON *p = plugins->child; p; p = p->next) {
        char path[256];
        snprintf(path, sizeof path, "plugins.%s", p->string);
        if (!cJSON_IsObject(p))
            return fail(err, err_size, origin, path, "expected an object");
        if (p->string[0] == '\0' || strchr(p->string, '/'))
            return fail(err, err_size, origin, path, "a plugin name is a file name without .so");
        if (strlen(p->string) > CONFIG_NAME_MAX)
            return fail(err, err_size, origin, path, "a plugin name is at most 64 bytes");
        snprintf(path, sizeof path, "plugins.%s.", p->string);
        if (config_check(p, PLUGIN_RULES, false, origin, path, err, err_size) != PA_OK)
            return PA_ERR_CONFIG;
        plugin_config *pc = &cfg->plugins[cfg->plugin_count++];
        pc->name = strdup(p->string);
        if (!pc->name)
            return fail(err, err_size, origin, path, "out of memory");
        pc->enabled = config_bool(p, PLUGIN_RULES, "enabled");
        const cJSON *instances = cJSON_GetObjectItemCaseSensitive(p, "instances");
        if (instances && parse_instances(instances, pc, origin, err, err_size) != PA_OK)
            return PA_ERR_CONFIG;
    }
    return PA_OK;
}

static int parse_root(const cJSON *root, host_config *cfg, const char *origin, char *err,
                      size_t err_size)
{
    if (!cJSON_IsObject(root))
        return fail(err, err_size, origin, "(top level)", "expected a JSON object");
    if (config_check(root, TOP_RULES, false, origin, "", err, err_size) != PA_OK ||
        config_check(cJSON_GetObjectItemCaseSensitive(root, "pool"), POOL_RULES, false, origin,
                     "pool.", err, err_size) != PA_OK)
        return PA_ERR_CONFIG;
    const char *isolation = config_string(root, TOP_RULES, "isolation");
    if (strcmp(isolation, "process") != 0 && strcmp(isolation, "none") != 0)
        return fail(err, err_size, origin, "isolation", "expected \"process\" or \"none\"");
    read_settings(root, cfg);
    const char *database = config_string(root, TOP_RULES, "database");
    if (database && !(cfg->database = strdup(database)))
        return fail(err, err_size, origin, "database", "out of memory");
    const cJSON *plugins = cJSON_GetObjectItemCaseSensitive(root, "plugins");
    if (plugins)
        return parse_plugins(plugins, cfg, origin, err, err_size);
    return PA_OK;
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
    config_defaults(cfg);
    int rc = parse_root(root, cfg, origin, err, err_size);
    if (rc != PA_OK)
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
