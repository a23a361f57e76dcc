/*
 * hello: the smallest useful plugin, built only from the installed SDK
 * (docs/PLUGIN_GUIDE.md walks through it).
 *
 * host.json:  "plugins": { "hello": { "instances": [
 *                 { "id": "greeter", "greeting": "Hello", "name": "world" } ] } }
 *
 * Each poll emits one item, "Hello, world #N", and records N in a table of
 * its own (hello_greetings), in the same transaction as the item: the count
 * survives restarts and reloads because it lives in the database.
 */
#include <pa_plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const pa_plugin_info INFO = PA_PLUGIN_INFO_INIT("hello", "1.0.0", "greets, once a poll");

typedef struct hello {
    const pa_host_api *api;
    pa_host_ctx *ctx;
    char id[64];
    char greeting[128];
    char name[128];
} hello;

PA_EXPORT const pa_plugin_info *pa_plugin_describe(void)
{
    return &INFO;
}

/* config_json lives only during init: read what we need with SQLite's JSON functions. */
static int read_config(hello *h, const char *config_json, char *err, size_t err_size)
{
    pa_lease lease;
    if (PA_LEASE(h->api, h->ctx, PA_LEASE_READ, PA_LEASE_DEFAULT_TIMEOUT, &lease) != PA_OK) {
        snprintf(err, err_size, "hello: %s", h->api->last_error(h->ctx));
        return PA_ERR_DB;
    }
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(h->api->lease_db(h->ctx, lease),
                                "SELECT coalesce(json_extract(?1, '$.id'), ''),"
                                " coalesce(json_extract(?1, '$.greeting'), 'Hello'),"
                                " coalesce(json_extract(?1, '$.name'), 'world')",
                                -1, &stmt, NULL);
    if (rc == SQLITE_OK)
        sqlite3_bind_text(stmt, 1, config_json, -1, SQLITE_STATIC);
    rc = rc == SQLITE_OK ? sqlite3_step(stmt) : rc;
    if (rc == SQLITE_ROW) {
        snprintf(h->id, sizeof h->id, "%s", (const char *)sqlite3_column_text(stmt, 0));
        snprintf(h->greeting, sizeof h->greeting, "%s", (const char *)sqlite3_column_text(stmt, 1));
        snprintf(h->name, sizeof h->name, "%s", (const char *)sqlite3_column_text(stmt, 2));
    } else {
        snprintf(err, err_size, "hello: config is not a JSON object");
    }
    sqlite3_finalize(stmt);
    PA_RELEASE(h->api, h->ctx, lease, PA_RELEASE_COMMIT);
    return rc == SQLITE_ROW ? PA_OK : PA_ERR_CONFIG;
}

PA_EXPORT int pa_plugin_init(const pa_host_api *api, pa_host_ctx *ctx, const char *config_json,
                             void **instance_out, char *errbuf, size_t errbuf_size)
{
    *instance_out = NULL;
    if (!PA_HOST_HAS(api, lease_db) || PA_ABI_MAJOR(api->abi_version) != PA_ABI_VERSION_MAJOR) {
        snprintf(errbuf, errbuf_size, "hello: host ABI not supported");
        return PA_ERR_INVALID;
    }
    hello *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(errbuf, errbuf_size, "hello: out of memory");
        return PA_ERR_NOMEM;
    }
    h->api = api;
    h->ctx = ctx;
    int rc = read_config(h, config_json, errbuf, errbuf_size);
    if (rc != PA_OK) {
        free(h);
        return rc;
    }
    *instance_out = h;
    return PA_OK;
}

/* One transaction: count the greeting in our own table, and emit it. */
PA_EXPORT int pa_plugin_poll(void *instance, char *errbuf, size_t errbuf_size)
{
    hello *h = instance;
    pa_lease lease;
    if (PA_LEASE(h->api, h->ctx, PA_LEASE_WRITE, PA_LEASE_DEFAULT_TIMEOUT, &lease) != PA_OK) {
        snprintf(errbuf, errbuf_size, "%s", h->api->last_error(h->ctx));
        return PA_ERR_DB;
    }
    sqlite3 *db = h->api->lease_db(h->ctx, lease);
    sqlite3_stmt *stmt = NULL;
    int n = 0;
    int rc = sqlite3_exec(db,
                          "CREATE TABLE IF NOT EXISTS hello_greetings (instance TEXT PRIMARY KEY,"
                          " count INTEGER NOT NULL)",
                          NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db,
                                "INSERT INTO hello_greetings VALUES (?1, 1) ON CONFLICT(instance)"
                                " DO UPDATE SET count = count + 1 RETURNING count",
                                -1, &stmt, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(stmt, 1, h->id, -1, SQLITE_STATIC);
        rc = sqlite3_step(stmt) == SQLITE_ROW ? SQLITE_OK : SQLITE_ERROR;
        n = sqlite3_column_int(stmt, 0);
    }
    sqlite3_finalize(stmt);
    if (rc == SQLITE_OK) {
        char title[300], ref[96];
        snprintf(title, sizeof title, "%s, %s #%d", h->greeting, h->name, n);
        snprintf(ref, sizeof ref, "%s-%d", h->id, n);
        static const char *const tags[] = {"hello"};
        pa_item item = PA_ITEM_INIT;
        item.type = "greeting";
        item.title = title;
        item.source = "hello";
        item.source_reference = ref;
        item.tags = tags;
        item.tag_count = 1;
        rc = h->api->emit(h->ctx, lease, &item) == PA_OK ? SQLITE_OK : SQLITE_ERROR;
    }
    if (rc != SQLITE_OK) {
        snprintf(errbuf, errbuf_size, "hello: %s",
                 h->api->last_error(h->ctx)[0] ? h->api->last_error(h->ctx) : sqlite3_errmsg(db));
        PA_RELEASE(h->api, h->ctx, lease, PA_RELEASE_ROLLBACK);
        return PA_ERR_DB;
    }
    return PA_RELEASE(h->api, h->ctx, lease, PA_RELEASE_COMMIT);
}

PA_EXPORT void pa_plugin_shutdown(void *instance)
{
    free(instance);
}
