/*
 * "exit_hangs": well behaved until its process exits, when a destructor of
 * the .so sleeps for ever. Plugin code runs at exit too (destructors, atexit
 * handlers, a library's cleanup): the host must give a worker that has said
 * its last word a deadline, like any other plugin code.
 */
#include <unistd.h>

#include "tp_support.h"

TP_DESCRIBE("exit_hangs", "hangs in a destructor at exit (tests)")

__attribute__((destructor)) static void hang_at_exit(void)
{
    for (;;)
        pause();
}

int pa_plugin_init(const pa_host_api *api, pa_host_ctx *ctx, const char *config_json,
                   void **instance_out, char *errbuf, size_t errbuf_size)
{
    return tp_init_plain(api, ctx, config_json, instance_out, errbuf, errbuf_size);
}

int pa_plugin_poll(void *instance, char *errbuf, size_t errbuf_size)
{
    (void)errbuf;
    (void)errbuf_size;
    ((tp_instance *)instance)->polls++;
    return PA_OK;
}

void pa_plugin_shutdown(void *instance)
{
    tp_free(instance);
}
