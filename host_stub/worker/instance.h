/*
 * A running plugin instance and its lifecycle: init, poll and shutdown, each
 * followed by the reclaim of any lease the plugin did not give back.
 */
#ifndef HOST_INSTANCE_H
#define HOST_INSTANCE_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "held_sites.h"
#include "loader.h"
#include "pa_plugin.h"
#include "pool.h"
#include "scheduler.h"

/* The host's side of pa_host_ctx: one per configured instance. */
struct pa_host_ctx {
    pool *pool;
    const loaded_plugin *plugin;
    const instance_config *config;
    char log_source[256]; /* "plugin NAME/ID" */
    pool_owner owner;
    void *state; /* the plugin's instance pointer */
    bool running;
    char last_error[1024];
    sched_entry sched;
    int64_t not_before_ms; /* from defer_next_poll during the last poll; 0 if none */
    uint64_t polls;
    uint64_t poll_failures;
    uint64_t items_emitted;
    uint64_t http_requests;
    int64_t last_success_ms;   /* host clock; 0: never */
    int64_t last_failure_ms;   /* host clock; 0: never */
    char last_poll_error[256]; /* the last failed init's or poll's message; "" before one */
    held_table *held;          /* a worker's borrow-site table; NULL in process (kept by start) */
};
typedef struct pa_host_ctx host_instance;

const pa_host_api *host_api_table(void);

/* Resets in (all but held) and names it for plugin and config; no plugin code runs. */
void instance_prepare(host_instance *in, pool *p, const loaded_plugin *plugin,
                      const instance_config *config);
/* Calls the plugin's init; on failure err holds the reason. Every field but held is reset. */
int instance_start(host_instance *in, pool *p, const loaded_plugin *plugin,
                   const instance_config *config, char *err, size_t err_size);
/* Calls the plugin's poll; on failure err holds the plugin's message. */
int instance_poll(host_instance *in, char *err, size_t err_size);
void instance_stop(host_instance *in);

#endif
