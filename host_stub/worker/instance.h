/*
 * A running plugin instance and its lifecycle: init, poll and shutdown, each
 * followed by the reclaim of any lease the plugin did not give back. What
 * the plugin's calls need lives here; the supervisor's records (schedule,
 * counters, last error) live in the supervisor's slot.
 */
#ifndef WORKER_INSTANCE_H
#define WORKER_INSTANCE_H

#include <stdbool.h>
#include <stdint.h>

#include "held_sites.h"
#include "pa_plugin.h"
#include "plugin_image.h"
#include "pool.h"

/* The host's side of pa_host_ctx: one per instance this worker serves. */
struct pa_host_ctx {
    pool *pool;
    const plugin_image *plugin;
    const char *id;       /* the instance id, owned by the caller */
    const char *json;     /* the instance object handed to init, owned by the caller */
    char log_source[256]; /* "plugin NAME/ID" */
    pool_owner owner;
    void *state; /* the plugin's instance pointer */
    bool running;
    char last_error[1024];
    char db_code[16];      /* db_error_code: the engine's code of the last failed call */
    int64_t not_before_ms; /* from defer_next_poll during the last poll; 0 if none */
    uint64_t items_emitted;
    uint64_t http_requests;
    held_table *held;     /* the borrow-site table the supervisor reads; NULL: none */
    pa_run_mode run_mode; /* why the host runs it (run_mode); kept across instance_start */
};
typedef struct pa_host_ctx host_instance;

const pa_host_api *host_api_table(void);

/*
 * Calls the plugin's init with json; on failure err holds "init failed
 * (STATUS): message". in is reset first, all but held.
 */
int instance_start(host_instance *in, pool *p, const plugin_image *plugin, const char *id,
                   const char *json, char *err, size_t err_size);
/* Calls the plugin's poll; on failure err holds the plugin's message and status. */
int instance_poll(host_instance *in, char *err, size_t err_size);
void instance_stop(host_instance *in);

#endif
