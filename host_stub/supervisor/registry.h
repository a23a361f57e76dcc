/*
 * The plugins a host has loaded and the instances configured for them:
 * starting, stopping and, when a plugin file changes, replacing a plugin
 * without losing its instances (ARCHITECTURE.md Contract 4).
 */
#ifndef HOST_REGISTRY_H
#define HOST_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "instance.h"
#include "loader.h"
#include "pool.h"
#include "worker_proc.h"

/*
 * One configured, enabled instance; in.running tells whether it is up. With
 * isolation, in holds the supervisor's bookkeeping (names, schedule,
 * counters) and the plugin runs in worker; a running instance whose worker
 * died has worker == NULL until it is started again at its next poll.
 */
typedef struct instance_slot {
    const plugin_config *plugin;
    const instance_config *config;
    host_instance in;
    worker_proc *worker;
    bool busy;                         /* a poll was sent to worker and has not been answered */
    int64_t deadline_ns;               /* monotonic; when busy, the poll's deadline */
    int64_t sent_ns;                   /* monotonic; when the poll was sent */
    char pool_stats[WORKER_STATS_MAX]; /* isolation: its worker's pool, as last reported */
} instance_slot;

typedef struct registry {
    loader *loader;
    pool *pool;
    const worker_settings *workers; /* isolation: how to start workers; NULL: in process */
    int64_t grace_ms;               /* how long a worker may take to shut down */
    int64_t shutdown_deadline_ns;   /* set at SIGTERM: every stop ends by then; 0 until */
    int64_t interval_ms;
    loaded_plugin **plugins;
    size_t plugin_count, plugin_cap;
    instance_slot **slots; /* each allocated alone: its address is the plugin's ctx */
    size_t slot_count, slot_cap;
    uint64_t reloads;
    uint64_t failed_reloads;
} registry;

/* Scans the plugins directory and prepares a slot per enabled instance. */
int registry_init(registry *r, loader *l, pool *p, const host_config *cfg, int64_t interval_ms,
                  char *err, size_t err_size);
/* Starts every slot whose plugin is loaded. */
void registry_start_all(registry *r);
/*
 * Applies a change to file_name ("x.so") in the plugins directory: loads a
 * new plugin, replaces a changed one, or removes a deleted one. Call between
 * polls only. Every outcome is logged in one line.
 */
void registry_apply_change(registry *r, const char *file_name);
void registry_stop_all(registry *r);
/*
 * A new host.json, applied between polls (SIGHUP): instances of the same
 * plugin and id whose object is unchanged keep running; changed ones restart
 * with the new object; new ones start (when their plugin is loaded); removed
 * or disabled ones stop. The slots then point into cfg, which must outlive
 * them. Logs one line with the counts.
 */
int registry_apply_config(registry *r, const host_config *cfg, char *err, size_t err_size);

/*
 * Isolation: launches a new worker for a running instance whose worker is
 * gone (after a crash or a kill), keeping its schedule and counters. It does
 * not wait for the worker's start (worker_launch): the supervisor's loop
 * goes on, and worker_read reports how the start went. PA_OK, or an error
 * with err set.
 */
int registry_launch_worker(registry *r, instance_slot *s, char *err, size_t err_size);

/* Stops everything still running and closes every plugin. */
void registry_free(registry *r);
loaded_plugin *registry_find(const registry *r, const char *name);

#endif
