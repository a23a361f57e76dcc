/* "wrong_abi": claims ABI major 99; the host must refuse it before init. */
#include "tp_support.h"

static const pa_plugin_info INFO = {(99u << 16) | 0u, sizeof(pa_plugin_info), "wrong_abi", "1.0.0",
                                    "built for another ABI major"};

const pa_plugin_info *pa_plugin_describe(void)
{
    return &INFO;
}

int pa_plugin_init(const pa_host_api *api, pa_host_ctx *ctx, const char *config_json,
                   void **instance_out, char *errbuf, size_t errbuf_size)
{
    (void)api, (void)ctx, (void)config_json, (void)instance_out, (void)errbuf, (void)errbuf_size;
    return PA_ERR_GENERIC;
}

int pa_plugin_poll(void *instance, char *errbuf, size_t errbuf_size)
{
    (void)instance, (void)errbuf, (void)errbuf_size;
    return PA_ERR_GENERIC;
}

void pa_plugin_shutdown(void *instance)
{
    (void)instance;
}
