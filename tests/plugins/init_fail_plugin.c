/* "init_fail": init always fails with a message; other instances must go on. */
#include <stdio.h>

#include "tp_support.h"

TP_DESCRIBE("init_fail", "init always fails")

int pa_plugin_init(const pa_host_api *api, pa_host_ctx *ctx, const char *config_json,
                   void **instance_out, char *errbuf, size_t errbuf_size)
{
    (void)api, (void)ctx, (void)config_json;
    *instance_out = NULL;
    snprintf(errbuf, errbuf_size, "init_fail: refusing to start, as configured");
    return PA_ERR_CONFIG;
}

int pa_plugin_poll(void *instance, char *errbuf, size_t errbuf_size)
{
    (void)instance;
    snprintf(errbuf, errbuf_size, "init_fail: poll must never be called");
    return PA_ERR_GENERIC;
}

void pa_plugin_shutdown(void *instance)
{
    (void)instance;
}
