/*
 * "old_abi": a plugin as ABI 1.3 allowed, built against the frozen 1.3
 * header (tests/plugins/abi_1_3/): its SQL goes through lease_db and SQLite
 * itself. Each poll inserts a row into its own table and emits one item in
 * the same WRITE lease. On SQLite a 1.4 host runs it as before; on
 * PostgreSQL lease_db returns NULL and last_error says why (docs/ABI.md).
 */
#include <stdio.h>
#include <stdlib.h>

#include "pa_plugin.h"

#if PA_ABI_VERSION_MINOR != 3
#error "old_abi must be built against the ABI 1.3 header"
#endif

static const pa_plugin_info INFO = PA_PLUGIN_INFO_INIT("old_abi", "1.3.0", "a plugin of ABI 1.3");

typedef struct old_instance {
    const pa_host_api *api;
    pa_host_ctx *ctx;
    long polls;
} old_instance;

const pa_plugin_info *pa_plugin_describe(void)
{
    return &INFO;
}

int pa_plugin_init(const pa_host_api *api, pa_host_ctx *ctx, const char *config_json,
                   void **instance_out, char *errbuf, size_t errbuf_size)
{
    (void)config_json;
    old_instance *o = calloc(1, sizeof *o);
    if (!o) {
        snprintf(errbuf, errbuf_size, "out of memory");
        return PA_ERR_NOMEM;
    }
    o->api = api;
    o->ctx = ctx;
    *instance_out = o;
    return PA_OK;
}

int pa_plugin_poll(void *instance, char *errbuf, size_t errbuf_size)
{
    old_instance *o = instance;
    o->polls++;
    pa_lease lease;
    int rc = PA_LEASE(o->api, o->ctx, PA_LEASE_WRITE, PA_LEASE_DEFAULT_TIMEOUT, &lease);
    if (rc != PA_OK) {
        snprintf(errbuf, errbuf_size, "lease: %s", o->api->last_error(o->ctx));
        return rc;
    }
    sqlite3 *db = o->api->lease_db(o->ctx, lease);
    if (!db) {
        snprintf(errbuf, errbuf_size, "no SQLite handle: %s", o->api->last_error(o->ctx));
        PA_RELEASE(o->api, o->ctx, lease, PA_RELEASE_ROLLBACK);
        return PA_ERR_DB;
    }
    rc = sqlite3_exec(db,
                      "CREATE TABLE IF NOT EXISTS old_abi_rows (v INTEGER);"
                      "INSERT INTO old_abi_rows VALUES (1)",
                      NULL, NULL, NULL) == SQLITE_OK
             ? PA_OK
             : PA_ERR_DB;
    char ref[32];
    snprintf(ref, sizeof ref, "old-%ld", o->polls);
    pa_item item = PA_ITEM_INIT;
    item.type = "example";
    item.title = "An item of a 1.3 plugin";
    item.source = "old_abi";
    item.source_reference = ref;
    if (rc == PA_OK)
        rc = o->api->emit(o->ctx, lease, &item);
    int released =
        PA_RELEASE(o->api, o->ctx, lease, rc == PA_OK ? PA_RELEASE_COMMIT : PA_RELEASE_ROLLBACK);
    if (rc != PA_OK)
        snprintf(errbuf, errbuf_size, "%s", o->api->last_error(o->ctx));
    return rc == PA_OK ? released : rc;
}

void pa_plugin_shutdown(void *instance)
{
    free(instance);
}
