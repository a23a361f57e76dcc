/*
 * "init_fail": init always fails with a message; other instances must go on.
 * Instance keys, for the ABI's promises about a failed init and the log:
 *   "leave_instance": true  sets *instance_out before failing: the host must
 *                           call shutdown on it (it logs that it was called);
 *   "log_chars": N          logs one line of N 'x' characters first;
 *   "short_report": true    reports an HTTP request in a struct too short for
 *                           its fields (the host ignores it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tp_support.h"

TP_DESCRIBE("init_fail", "init always fails")

static void log_long_line(const tp_instance *t)
{
    long n = tp_int(t, "log_chars", 0);
    char *line = n > 0 ? malloc((size_t)n + 1) : NULL;
    if (!line)
        return;
    memset(line, 'x', (size_t)n);
    line[n] = '\0';
    t->api->log(t->ctx, PA_LOG_INFO, "%s", line);
    free(line);
}

int pa_plugin_init(const pa_host_api *api, pa_host_ctx *ctx, const char *config_json,
                   void **instance_out, char *errbuf, size_t errbuf_size)
{
    *instance_out = NULL;
    tp_instance *t = NULL;
    if (tp_new(api, ctx, config_json, &t, errbuf, errbuf_size) == PA_OK) {
        log_long_line(t);
        if (tp_bool(t, "short_report", false)) {
            pa_http_report r = PA_HTTP_REPORT_INIT;
            r.struct_size = 8; /* only the version header */
            api->report_http(ctx, &r);
        }
        if (tp_bool(t, "leave_instance", false))
            *instance_out = t;
        else
            tp_free(t);
    }
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
    tp_instance *t = instance;
    if (!t)
        return;
    t->api->log(t->ctx, PA_LOG_INFO, "init_fail: shutdown called on the instance init left");
    tp_free(t);
}
