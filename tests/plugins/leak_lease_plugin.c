/*
 * "leak_lease": takes a WRITE lease, writes a probe row and never releases
 * it, in the phase named by "leak_in" ("init", "poll" or "shutdown"). The
 * host must reclaim it, roll the row back and say where it was borrowed.
 */
#include <string.h>

#include "tp_support.h"

TP_DESCRIBE("leak_lease", "forgets to release a lease")

static void leak(tp_instance *t, const char *phase)
{
    if (strcmp(tp_str(t, "leak_in", "poll"), phase) != 0)
        return;
    pa_lease lease;
    if (PA_LEASE(t->api, t->ctx, PA_LEASE_WRITE, PA_LEASE_DEFAULT_TIMEOUT, &lease) == PA_OK)
        tp_exec(t, lease, "INSERT INTO leak_probe VALUES ('leaked')");
}

int pa_plugin_init(const pa_host_api *api, pa_host_ctx *ctx, const char *config_json,
                   void **instance_out, char *errbuf, size_t errbuf_size)
{
    tp_instance *t;
    int rc = tp_new(api, ctx, config_json, &t, errbuf, errbuf_size);
    if (rc == PA_OK)
        rc = tp_create_probe(t, "leak_probe", errbuf, errbuf_size);
    if (rc != PA_OK) {
        tp_free(t);
        return rc;
    }
    leak(t, "init");
    *instance_out = t;
    return PA_OK;
}

int pa_plugin_poll(void *instance, char *errbuf, size_t errbuf_size)
{
    (void)errbuf, (void)errbuf_size;
    leak(instance, "poll");
    return PA_OK;
}

void pa_plugin_shutdown(void *instance)
{
    leak(instance, "shutdown");
    tp_free(instance);
}
