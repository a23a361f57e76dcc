#include "config.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_whole.h"
#include "pa_plugin.h"

#define CONFIG_MAX_BYTES (1u << 20)

void config_defaults(host_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->poll_interval_seconds = 900;
    cfg->backoff_cap_seconds = 24 * 3600;
    cfg->pool_size = 4;
    cfg->lease_timeout_ms = 5000;
    cfg->busy_timeout_ms = 5000;
    cfg->max_lifetime_seconds = 1800;
}

static int fail(char *err, size_t err_size, const char *origin, const char *key, const char *what)
{
    snprintf(err, err_size, "%s: %s: %s", origin, key, what);
    return PA_ERR_CONFIG;
}

/* Reads an optional integer member into *out, checking type and range. */
static int read_int(const cJSON *obj, const char *name, const char *path, int64_t min, int64_t max,
                    int64_t *out, const char *origin, char *err, size_t err_size)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!item)
        return PA_OK;
    char what[128];
    double v = item->valuedouble;
    if (!cJSON_IsNumber(item) || v != floor(v) || v < (double)min || v > (double)max) {
        snprintf(what, sizeof what, "expected an integer from %lld to %lld", (long long)min,
                 (long long)max);
        return fail(err, err_size, origin, path, what);
    }
    *out = (int64_t)v;
    return PA_OK;
}

/* Rejects members not named in allowed (NULL-terminated) and duplicates. */
static int check_keys(const cJSON *obj, const char *const *allowed, const char *where,
                      const char *origin, char *err, size_t err_size)
{
    for (const cJSON *m = obj->child; m; m = m->next) {
        bool known = allowed == NULL;
        for (size_t i = 0; allowed && allowed[i]; i++)
            known = known || strcmp(m->string, allowed[i]) == 0;
        char key[256];
        snprintf(key, sizeof key, "%s%s", where, m->string);
        if (!known)
            return fail(err, err_size, origin, key, "unknown key");
        for (const cJSON *o = m->next; o; o = o->next) {
            if (strcmp(o->string, m->string) == 0)
                return fail(err, err_size, origin, key, "duplicate key");
        }
    }
    return PA_OK;
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
        if (check_keys(inst, NULL, where, origin, err, err_size) != PA_OK)
            return PA_ERR_CONFIG;
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(inst, "id");
        if (!cJSON_IsString(id) || id->valuestring[0] == '\0') {
            snprintf(path + strlen(path), sizeof path - strlen(path), ".id");
            return fail(err, err_size, origin, path, "expected a non-empty string");
        }
        for (size_t j = 0; j < pc->instance_count; j++) {
            if (strcmp(pc->instances[j].id, id->valuestring) == 0) {
                snprintf(path + strlen(path), sizeof path - strlen(path), ".id");
                char what[300];
                snprintf(what, sizeof what, "duplicate instance id '%s'", id->valuestring);
                return fail(err, err_size, origin, path, what);
            }
        }
        const cJSON *enabled = cJSON_GetObjectItemCaseSensitive(inst, "enabled");
        if (enabled && !cJSON_IsBool(enabled)) {
            snprintf(path + strlen(path), sizeof path - strlen(path), ".enabled");
            return fail(err, err_size, origin, path, "expected true or false");
        }
        instance_config *ic = &pc->instances[pc->instance_count];
        ic->id = strdup(id->valuestring);
        ic->json = cJSON_PrintUnformatted(inst);
        ic->enabled = !enabled || cJSON_IsTrue(enabled);
        pc->instance_count++;
        if (!ic->id || !ic->json)
            return fail(err, err_size, origin, path, "out of memory");
    }
    return PA_OK;
}

static int parse_plugins(const cJSON *plugins, host_config *cfg, const char *origin, char *err,
                         size_t err_size)
{
    if (!cJSON_IsObject(plugins))
        return fail(err, err_size, origin, "plugins", "expected an object");
    if (check_keys(plugins, NULL, "plugins.", origin, err, err_size) != PA_OK)
        return PA_ERR_CONFIG;
    int n = cJSON_GetArraySize(plugins);
    cfg->plugins = calloc((size_t)(n > 0 ? n : 1), sizeof *cfg->plugins);
    if (!cfg->plugins)
        return fail(err, err_size, origin, "plugins", "out of memory");
    static const char *const plugin_keys[] = {"enabled", "instances", NULL};
    for (const cJSON *p = plugins->child; p; p = p->next) {
        char path[256];
        snprintf(path, sizeof path, "plugins.%s", p->string);
        if (!cJSON_IsObject(p))
            return fail(err, err_size, origin, path, "expected an object");
        if (p->string[0] == '\0' || strchr(p->string, '/'))
            return fail(err, err_size, origin, path, "a plugin name is a file name without .so");
        snprintf(path, sizeof path, "plugins.%s.", p->string);
        if (check_keys(p, plugin_keys, path, origin, err, err_size) != PA_OK)
            return PA_ERR_CONFIG;
        plugin_config *pc = &cfg->plugins[cfg->plugin_count++];
        pc->name = strdup(p->string);
        if (!pc->name)
            return fail(err, err_size, origin, path, "out of memory");
        const cJSON *enabled = cJSON_GetObjectItemCaseSensitive(p, "enabled");
        if (enabled && !cJSON_IsBool(enabled)) {
            snprintf(path, sizeof path, "plugins.%s.enabled", p->string);
            return fail(err, err_size, origin, path, "expected true or false");
        }
        pc->enabled = !enabled || cJSON_IsTrue(enabled);
        const cJSON *instances = cJSON_GetObjectItemCaseSensitive(p, "instances");
        if (instances && parse_instances(instances, pc, origin, err, err_size) != PA_OK)
            return PA_ERR_CONFIG;
    }
    return PA_OK;
}

static int parse_root(const cJSON *root, host_config *cfg, const char *origin, char *err,
                      size_t err_size)
{
    static const char *const top_keys[] = {"poll_interval_seconds",
                                           "backoff_cap_seconds",
                                           "quick_check_interval_seconds",
                                           "pool",
                                           "plugins",
                                           NULL};
    static const char *const pool_keys[] = {"size", "lease_timeout_ms", "max_lifetime_seconds",
                                            "busy_timeout_ms", NULL};
    if (!cJSON_IsObject(root))
        return fail(err, err_size, origin, "(top level)", "expected a JSON object");
    if (check_keys(root, top_keys, "", origin, err, err_size) != PA_OK)
        return PA_ERR_CONFIG;
    const int64_t day = 24 * 3600;
    int64_t v;
    if (read_int(root, "poll_interval_seconds", "poll_interval_seconds", 1, 30 * day,
                 &cfg->poll_interval_seconds, origin, err, err_size) != PA_OK ||
        read_int(root, "backoff_cap_seconds", "backoff_cap_seconds", 1, 30 * day,
                 &cfg->backoff_cap_seconds, origin, err, err_size) != PA_OK ||
        read_int(root, "quick_check_interval_seconds", "quick_check_interval_seconds", 0, 30 * day,
                 &cfg->quick_check_interval_seconds, origin, err, err_size) != PA_OK)
        return PA_ERR_CONFIG;
    const cJSON *pool = cJSON_GetObjectItemCaseSensitive(root, "pool");
    if (pool) {
        if (!cJSON_IsObject(pool))
            return fail(err, err_size, origin, "pool", "expected an object");
        if (check_keys(pool, pool_keys, "pool.", origin, err, err_size) != PA_OK)
            return PA_ERR_CONFIG;
        v = cfg->pool_size;
        if (read_int(pool, "size", "pool.size", 1, 256, &v, origin, err, err_size) != PA_OK)
            return PA_ERR_CONFIG;
        cfg->pool_size = (int)v;
        v = cfg->lease_timeout_ms;
        if (read_int(pool, "lease_timeout_ms", "pool.lease_timeout_ms", 0, 3600 * 1000, &v, origin,
                     err, err_size) != PA_OK)
            return PA_ERR_CONFIG;
        cfg->lease_timeout_ms = (int)v;
        v = cfg->busy_timeout_ms;
        if (read_int(pool, "busy_timeout_ms", "pool.busy_timeout_ms", 0, 3600 * 1000, &v, origin,
                     err, err_size) != PA_OK)
            return PA_ERR_CONFIG;
        cfg->busy_timeout_ms = (int)v;
        if (read_int(pool, "max_lifetime_seconds", "pool.max_lifetime_seconds", 0, 30 * day,
                     &cfg->max_lifetime_seconds, origin, err, err_size) != PA_OK)
            return PA_ERR_CONFIG;
    }
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
    int rc = parse_root(root, cfg, origin, err, err_size);
    cJSON_Delete(root);
    if (rc != PA_OK)
        config_free(cfg);
    return rc;
}

int config_load(const char *path, host_config *cfg, char *err, size_t err_size)
{
    config_defaults(cfg);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_size, "%s: cannot open config file: %s", path, strerror(errno));
        return PA_ERR_CONFIG;
    }
    char *buf = malloc(CONFIG_MAX_BYTES + 1);
    size_t len = buf ? fread(buf, 1, CONFIG_MAX_BYTES + 1, f) : 0;
    int read_error = ferror(f);
    fclose(f);
    if (!buf || read_error || len > CONFIG_MAX_BYTES) {
        snprintf(err, err_size, "%s: %s", path,
                 !buf         ? "out of memory"
                 : read_error ? "cannot read config file"
                              : "config file larger than 1 MiB");
        free(buf);
        return PA_ERR_CONFIG;
    }
    int rc = config_parse(buf, len, path, cfg, err, err_size);
    free(buf);
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
}

const plugin_config *config_find_plugin(const host_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->plugin_count; i++) {
        if (strcmp(cfg->plugins[i].name, name) == 0)
            return &cfg->plugins[i];
    }
    return NULL;
}
