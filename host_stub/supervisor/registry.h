/*
 * The plugins a host has loaded and the instances configured for them:
 * starting, stopping and, when a plugin file changes, replacing a plugin
 * without losing its instances (docs/HOT_RELOAD.md). The same whether
 * workers are processes or threads.
 */
#ifndef SUPERVISOR_REGISTRY_H
#define SUPERVISOR_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "loader.h"
#include "slot.h"

typedef struct registry {
    loader *loader;
    slot_policy policy;
    int64_t grace_ms;             /* how long a worker may take to shut down */
    int64_t shutdown_deadline_ns; /* set at SIGTERM: every stop ends by then; 0 until */
    loaded_plugin **plugins;
    size_t plugin_count, plugin_cap;
    instance_slot **slots;
    size_t slot_count, slot_cap;
    uint64_t reloads;
    uint64_t failed_reloads;
} registry;

/* Scans the plugins directory (each file described by a worker) and prepares a slot per enabled
 * instance. */
int registry_init(registry *r, loader *l, const host_config *cfg, const slot_policy *policy,
                  char *err, size_t err_size);
/* Starts every slot whose plugin is loaded; returns how many run. */
size_t registry_start_all(registry *r);
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
 * or disabled ones stop; kept ones in backoff poll now (slot_poll_now). The
 * slots then point into cfg, which must outlive them. Logs one line with the
 * counts, also written into summary.
 */
int registry_apply_config(registry *r, const host_config *cfg, char *summary, size_t summary_size,
                          char *err, size_t err_size);

/* Whether any instance has a poll under way. */
bool registry_any_busy(const registry *r);
/* Whether any instance runs. */
bool registry_any_running(const registry *r);

/* Stops everything still running and closes every plugin. */
void registry_free(registry *r);
loaded_plugin *registry_find(const registry *r, const char *name);
/* The slot of instance id of plugin, or NULL (removed, disabled, never configured). */
instance_slot *registry_slot(const registry *r, const char *plugin, const char *id);

#endif
