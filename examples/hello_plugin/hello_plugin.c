/*
 * hello: the smallest useful plugin, built only from the installed SDK
 * (docs/PLUGIN_GUIDE.md walks through it).
 *
 * host.json:  "plugins": { "hello": { "instances": [
 *                 { "id": "greeter", "greeting": "Hello", "name": "world" } ] } }
 *
 * Each poll emits one item, "Hello, world #N", and records N in a table of
 * its own (hello_greetings), in the same transaction as the item: the count
 * survives restarts and reloads because it lives in the database. It uses
 * only the engine-neutral statement API (ABI 1.4), so the same hello.so runs
 * on a host serving SQLite or PostgreSQL.
 */
#include <pa_plugin.h>
#include <stdbool.h>
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

/* Runs one statement to its first row (or its end); PA_OK, *has_row set. */
static int step_once(const hello *h, pa_stmt *st, int *has_row)
{
    *has_row = 0;
    return st ? h->api->stmt_step(h->ctx, st, has_row) : PA_ERR_DB;
}

static void copy_column(const hello *h, pa_stmt *st, int i, char *out, size_t out_size)
{
    const char *text = h->api->stmt_column_text(h->ctx, st, i, NULL);
    snprintf(out, out_size, "%s", text ? text : "");
}

/*
 * config_json lives only during init: read what we need with the database's
 * own JSON functions, which differ by engine (the one thing that does here).
 */
static int read_config(hello *h, const char *config_json, char *err, size_t err_size)
{
    static const char SQLITE_SQL[] = "SELECT coalesce(json_extract(?1, '$.id'), ''),"
                                     " coalesce(json_extract(?1, '$.greeting'), 'Hello'),"
                                     " coalesce(json_extract(?1, '$.name'), 'world')";
    static const char POSTGRES_SQL[] = "SELECT coalesce(?1::json->>'id', ''),"
                                       " coalesce(?1::json->>'greeting', 'Hello'),"
                                       " coalesce(?1::json->>'name', 'world')";
    pa_lease lease;
    if (PA_LEASE(h->api, h->ctx, PA_LEASE_READ, PA_LEASE_DEFAULT_TIMEOUT, &lease) != PA_OK) {
        snprintf(err, err_size, "hello: %s", h->api->last_error(h->ctx));
        return PA_ERR_DB;
    }
    bool pg = h->api->db_backend(h->ctx) == PA_DB_POSTGRESQL;
    pa_stmt *st = h->api->stmt_prepare(h->ctx, lease, pg ? POSTGRES_SQL : SQLITE_SQL);
    int row = 0;
    int rc = st ? h->api->stmt_bind_text(h->ctx, st, 1, config_json, -1) : PA_ERR_DB;
    if (rc == PA_OK)
        rc = step_once(h, st, &row);
    if (rc == PA_OK && row) {
        copy_column(h, st, 0, h->id, sizeof h->id);
        copy_column(h, st, 1, h->greeting, sizeof h->greeting);
        copy_column(h, st, 2, h->name, sizeof h->name);
    } else {
        snprintf(err, err_size, "hello: config is not a JSON object");
    }
    PA_RELEASE(h->api, h->ctx, lease, PA_RELEASE_COMMIT);
    return rc == PA_OK && row ? PA_OK : PA_ERR_CONFIG;
}

PA_EXPORT int pa_plugin_init(const pa_host_api *api, pa_host_ctx *ctx, const char *config_json,
                             void **instance_out, char *errbuf, size_t errbuf_size)
{
    *instance_out = NULL;
    if (!PA_HOST_HAS(api, stmt_prepare) || PA_ABI_MAJOR(api->abi_version) != PA_ABI_VERSION_MAJOR) {
        snprintf(errbuf, errbuf_size, "hello: needs a host of ABI 1.4 or later");
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

/* Our table, as each engine spells it; the rest of the SQL runs on both (docs/ABI.md). */
static const char *table_ddl(const hello *h)
{
    return h->api->db_backend(h->ctx) == PA_DB_POSTGRESQL
               ? "CREATE TABLE IF NOT EXISTS hello_greetings (instance TEXT PRIMARY KEY,"
                 " count BIGINT NOT NULL)"
               : "CREATE TABLE IF NOT EXISTS hello_greetings (instance TEXT PRIMARY KEY,"
                 " count INTEGER NOT NULL)";
}

/* Counts this greeting in our table: the new count, or -1. */
static long count_greeting(const hello *h, pa_lease lease)
{
    int row = 0;
    if (step_once(h, h->api->stmt_prepare(h->ctx, lease, table_ddl(h)), &row) != PA_OK)
        return -1;
    pa_stmt *st =
        h->api->stmt_prepare(h->ctx, lease,
                             "INSERT INTO hello_greetings VALUES (?1, 1) ON CONFLICT (instance)"
                             " DO UPDATE SET count = hello_greetings.count + 1 RETURNING count");
    if (!st || h->api->stmt_bind_text(h->ctx, st, 1, h->id, -1) != PA_OK ||
        step_once(h, st, &row) != PA_OK || !row)
        return -1;
    long n = (long)h->api->stmt_column_int64(h->ctx, st, 0);
    while (row && h->api->stmt_step(h->ctx, st, &row) == PA_OK)
        ; /* to its end, so the statement is done before the lease is */
    return n;
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
    long n = count_greeting(h, lease);
    int rc = n > 0 ? PA_OK : PA_ERR_DB;
    if (rc == PA_OK) {
        char title[300], ref[96];
        snprintf(title, sizeof title, "%s, %s #%ld", h->greeting, h->name, n);
        snprintf(ref, sizeof ref, "%s-%ld", h->id, n);
        static const char *const tags[] = {"hello"};
        pa_item item = PA_ITEM_INIT;
        item.type = "greeting";
        item.title = title;
        item.source = "hello";
        item.source_reference = ref;
        item.tags = tags;
        item.tag_count = 1;
        rc = h->api->emit(h->ctx, lease, &item);
    }
    if (rc != PA_OK) {
        snprintf(errbuf, errbuf_size, "hello: %s", h->api->last_error(h->ctx));
        PA_RELEASE(h->api, h->ctx, lease, PA_RELEASE_ROLLBACK);
        return rc;
    }
    return PA_RELEASE(h->api, h->ctx, lease, PA_RELEASE_COMMIT);
}

PA_EXPORT void pa_plugin_shutdown(void *instance)
{
    free(instance);
}
