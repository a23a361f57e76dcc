/*
 * "poll_fail": the first "fail_polls" polls fail (all of them when the key is
 * absent), then polls succeed. Drives the scheduler's backoff and reset.
 */
#include <stdio.h>

#include "tp_support.h"

TP_DESCRIBE("poll_fail", "fails its first polls")

int pa_plugin_init(const pa_host_api *api, pa_host_ctx *ctx, const char *config_json,
                   void **instance_out, char *errbuf, size_t errbuf_size)
{
    return tp_init_plain(api, ctx, config_json, instance_out, errbuf, errbuf_size);
}

int pa_plugin_poll(void *instance, char *errbuf, size_t errbuf_size)
{
    tp_instance *t = instance;
    t->polls++;
    long fail_polls = tp_int(t, "fail_polls", -1);
    if (fail_polls < 0 || t->polls <= fail_polls) {
        snprintf(errbuf, errbuf_size, "simulated failure %ld", t->polls);
        return PA_ERR_REMOTE;
    }
    return PA_OK;
}

void pa_plugin_shutdown(void *instance)
{
    tp_free(instance);
}
