#include "tp_support.h"

#include <stdio.h>
#include <stdlib.h>

int tp_new(const pa_host_api *api, pa_host_ctx *ctx, const char *config_json, tp_instance **out,
           char *errbuf, size_t errbuf_size)
{
    *out = NULL;
    tp_instance *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(errbuf, errbuf_size, "out of memory");
        return PA_ERR_NOMEM;
    }
    t->api = api;
    t->ctx = ctx;
    t->config = cJSON_Parse(config_json);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(t->config, "id");
    if (!cJSON_IsString(id)) {
        snprintf(errbuf, errbuf_size, "config: 'id' must be a string");
        tp_free(t);
        return PA_ERR_CONFIG;
    }
    t->id = id->valuestring;
    *out = t;
    return PA_OK;
}

int tp_init_plain(const pa_host_api *api, pa_host_ctx *ctx, const char *config_json,
                  void **instance_out, char *errbuf, size_t errbuf_size)
{
    tp_instance *t;
    int rc = tp_new(api, ctx, config_json, &t, errbuf, errbuf_size);
    *instance_out = t;
    return rc;
}

void tp_free(tp_instance *t)
{
    if (!t)
        return;
    cJSON_Delete(t->config);
    free(t);
}

long tp_int(const tp_instance *t, const char *key, long fallback)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(t->config, key);
    return cJSON_IsNumber(v) ? (long)v->valuedouble : fallback;
}

const char *tp_str(const tp_instance *t, const char *key, const char *fallback)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(t->config, key);
    return cJSON_IsString(v) ? v->valuestring : fallback;
}

bool tp_bool(const tp_instance *t, const char *key, bool fallback)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(t->config, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : fallback;
}

int tp_exec(const tp_instance *t, pa_lease lease, const char *sql)
{
    pa_stmt *st = t->api->stmt_prepare(t->ctx, lease, sql);
    int row = 1, rc = st ? PA_OK : PA_ERR_DB;
    while (rc == PA_OK && row)
        rc = t->api->stmt_step(t->ctx, st, &row);
    return rc;
}

long tp_count(const tp_instance *t, pa_lease lease, const char *table)
{
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    pa_stmt *st = t->api->stmt_prepare(t->ctx, lease, sql);
    int row = 0;
    if (!st || t->api->stmt_step(t->ctx, st, &row) != PA_OK || !row)
        return -1;
    return (long)t->api->stmt_column_int64(t->ctx, st, 0);
}

int tp_exec_sqlite(const tp_instance *t, pa_lease lease, const char *sql)
{
    sqlite3 *db = t->api->lease_db(t->ctx, lease);
    return db ? sqlite3_exec(db, sql, NULL, NULL, NULL) : SQLITE_MISUSE;
}

int tp_create_probe(const tp_instance *t, const char *table, char *errbuf, size_t errbuf_size)
{
    pa_lease lease;
    int rc = PA_LEASE(t->api, t->ctx, PA_LEASE_WRITE, PA_LEASE_DEFAULT_TIMEOUT, &lease);
    if (rc != PA_OK) {
        snprintf(errbuf, errbuf_size, "lease failed: %s", t->api->last_error(t->ctx));
        return rc;
    }
    char sql[256];
    snprintf(sql, sizeof sql, "CREATE TABLE IF NOT EXISTS %s(v TEXT)", table);
    if (tp_exec(t, lease, sql) != PA_OK) {
        snprintf(errbuf, errbuf_size, "cannot create %s", table);
        PA_RELEASE(t->api, t->ctx, lease, PA_RELEASE_ROLLBACK);
        return PA_ERR_DB;
    }
    return PA_RELEASE(t->api, t->ctx, lease, PA_RELEASE_COMMIT);
}
