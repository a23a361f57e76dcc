/*
 * "example": the well-behaved plugin. Each poll emits items_per_poll items in
 * one WRITE lease and commits (or rolls back, with "rollback": true, to show
 * that emitted items vanish with their transaction; with "invalid_utf8": true
 * each title ends in a byte that is not UTF-8).
 */
#include <stdio.h>
#include <stdlib.h>

#include "tp_support.h"

/* The build makes variants of this plugin for the hot-reload tests. */
#ifndef EXAMPLE_VERSION
#define EXAMPLE_VERSION "1.0.0"
#endif
#ifndef EXAMPLE_TITLE
#define EXAMPLE_TITLE "Example item"
#endif

TP_DESCRIBE_VERSION("example", EXAMPLE_VERSION, "emits numbered example items")

int pa_plugin_init(const pa_host_api *api, pa_host_ctx *ctx, const char *config_json,
                   void **instance_out, char *errbuf, size_t errbuf_size)
{
#ifdef EXAMPLE_FAIL_INIT
    (void)api, (void)ctx, (void)config_json;
    *instance_out = NULL;
    snprintf(errbuf, errbuf_size, "example %s refuses to start", EXAMPLE_VERSION);
    return PA_ERR_CONFIG;
#endif
    tp_instance *t;
    int rc = tp_new(api, ctx, config_json, &t, errbuf, errbuf_size);
    if (rc == PA_OK && tp_int(t, "items_per_poll", 1) < 0) {
        snprintf(errbuf, errbuf_size, "config: 'items_per_poll' must be >= 0");
        tp_free(t);
        return PA_ERR_CONFIG;
    }
    *instance_out = t;
    return rc;
}

int pa_plugin_poll(void *instance, char *errbuf, size_t errbuf_size)
{
    tp_instance *t = instance;
#ifdef EXAMPLE_CRASH_POLL
    abort(); /* the broken version a fix replaces */
#endif
    t->polls++;
    pa_lease lease;
    int rc = PA_LEASE(t->api, t->ctx, PA_LEASE_WRITE, PA_LEASE_DEFAULT_TIMEOUT, &lease);
    if (rc != PA_OK) {
        snprintf(errbuf, errbuf_size, "lease failed: %s", t->api->last_error(t->ctx));
        return rc;
    }
    long count = tp_int(t, "items_per_poll", 1);
    const char *title = tp_str(t, "title", EXAMPLE_TITLE);
    static const char *const tags[] = {"example", "test"};
    for (long k = 1; k <= count && rc == PA_OK; k++) {
        char ref[160], full_title[256], metadata[64];
        snprintf(ref, sizeof ref, "%s-%ld-%ld", t->id, t->polls, k);
        /* "invalid_utf8": a title ending in a byte that is not UTF-8, which emit refuses. */
        snprintf(full_title, sizeof full_title, "%s %ld.%ld%s", title, t->polls, k,
                 tp_bool(t, "invalid_utf8", false) ? "\xff" : "");
        snprintf(metadata, sizeof metadata, "{\"poll\":%ld,\"index\":%ld}", t->polls, k);
        pa_item item = {.abi_version = PA_ABI_VERSION,
                        .struct_size = sizeof item,
                        .type = "example",
                        .title = full_title,
                        .description = "An item from the example plugin.",
                        .priority = "medium",
                        .source = "example",
                        .source_reference = ref,
                        .tags = tags,
                        .tag_count = 2,
                        .metadata_json = metadata};
        rc = t->api->emit(t->ctx, lease, &item);
    }
    if (rc != PA_OK) {
        snprintf(errbuf, errbuf_size, "emit failed: %s", t->api->last_error(t->ctx));
        PA_RELEASE(t->api, t->ctx, lease, PA_RELEASE_ROLLBACK);
        return rc;
    }
    bool rollback = tp_bool(t, "rollback", false);
    rc = PA_RELEASE(t->api, t->ctx, lease, rollback ? PA_RELEASE_ROLLBACK : PA_RELEASE_COMMIT);
    if (rc != PA_OK)
        snprintf(errbuf, errbuf_size, "release failed: %s", t->api->last_error(t->ctx));
    return rc;
}

void pa_plugin_shutdown(void *instance)
{
    tp_instance *t = instance;
    t->api->log(t->ctx, PA_LOG_INFO, "shutdown() ran"); /* the containment tests look for it */
    tp_free(t);
}
