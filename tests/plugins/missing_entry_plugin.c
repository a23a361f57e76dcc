/* "missing_entry": has no pa_plugin_poll; the host must refuse it. */
#include "tp_support.h"

TP_DESCRIBE("missing_entry", "lacks pa_plugin_poll")

int pa_plugin_init(const pa_host_api *api, pa_host_ctx *ctx, const char *config_json,
                   void **instance_out, char *errbuf, size_t errbuf_size)
{
    (void)api, (void)ctx, (void)config_json, (void)instance_out, (void)errbuf, (void)errbuf_size;
    return PA_ERR_GENERIC;
}

void pa_plugin_shutdown(void *instance)
{
    (void)instance;
}
