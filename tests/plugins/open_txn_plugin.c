/*
 * "open_txn": on a READ lease, opens a transaction, writes a probe row and
 * leaves a statement mid-step and unfinalized, then releases. The host must
 * roll the transaction back and clean up the statement.
 */
#include <stdio.h>

#include "tp_support.h"

TP_DESCRIBE("open_txn", "releases with a transaction open")

int pa_plugin_init(const pa_host_api *api, pa_host_ctx *ctx, const char *config_json,
                   void **instance_out, char *errbuf, size_t errbuf_size)
{
    tp_instance *t;
    int rc = tp_new(api, ctx, config_json, &t, errbuf, errbuf_size);
    if (rc == PA_OK)
        rc = tp_create_probe(t, "open_txn_probe", errbuf, errbuf_size);
    if (rc != PA_OK) {
        tp_free(t);
        return rc;
    }
    *instance_out = t;
    return PA_OK;
}

int pa_plugin_poll(void *instance, char *errbuf, size_t errbuf_size)
{
    tp_instance *t = instance;
    pa_lease lease;
    int rc = PA_LEASE(t->api, t->ctx, PA_LEASE_READ, PA_LEASE_DEFAULT_TIMEOUT, &lease);
    if (rc != PA_OK) {
        snprintf(errbuf, errbuf_size, "lease failed: %s", t->api->last_error(t->ctx));
        return rc;
    }
    if (tp_exec_sqlite(t, lease, "BEGIN; INSERT INTO open_txn_probe VALUES ('uncommitted')") !=
        SQLITE_OK) {
        snprintf(errbuf, errbuf_size, "could not open the transaction");
        PA_RELEASE(t->api, t->ctx, lease, PA_RELEASE_COMMIT);
        return PA_ERR_DB;
    }
    sqlite3_stmt *stmt = NULL;
    sqlite3 *db = t->api->lease_db(t->ctx, lease);
    if (sqlite3_prepare_v2(db, "SELECT 1 UNION ALL SELECT 2", -1, &stmt, NULL) == SQLITE_OK)
        sqlite3_step(stmt); /* left active on purpose */
    return PA_RELEASE(t->api, t->ctx, lease, PA_RELEASE_COMMIT);
}

void pa_plugin_shutdown(void *instance)
{
    tp_free(instance);
}
