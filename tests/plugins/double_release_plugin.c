/*
 * "double_release": releases a lease twice, then uses it and its raw
 * connection. Each misuse must be detected by the host; the poll fails if
 * any of them was not.
 */
#include <stdio.h>

#include "tp_support.h"

TP_DESCRIBE("double_release", "releases a lease twice")

int pa_plugin_init(const pa_host_api *api, pa_host_ctx *ctx, const char *config_json,
                   void **instance_out, char *errbuf, size_t errbuf_size)
{
    return tp_init_plain(api, ctx, config_json, instance_out, errbuf, errbuf_size);
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
    sqlite3 *raw = t->api->lease_db(t->ctx, lease);
    PA_RELEASE(t->api, t->ctx, lease, PA_RELEASE_COMMIT);
    int second = PA_RELEASE(t->api, t->ctx, lease, PA_RELEASE_COMMIT);
    sqlite3 *after = t->api->lease_db(t->ctx, lease);
    sqlite3_stmt *stmt = NULL;
    int prepare = sqlite3_prepare_v2(raw, "SELECT 1", -1, &stmt, NULL);
    sqlite3_finalize(stmt);
    if (second != PA_ERR_STALE_LEASE || after != NULL || prepare != SQLITE_AUTH) {
        snprintf(errbuf, errbuf_size,
                 "misuse went undetected: second release %d, lease_db %s, prepare %d", second,
                 after ? "non-NULL" : "NULL", prepare);
        return PA_ERR_GENERIC;
    }
    t->api->log(t->ctx, PA_LOG_INFO, "all three misuses were detected");
    return PA_OK;
}

void pa_plugin_shutdown(void *instance)
{
    tp_free(instance);
}
