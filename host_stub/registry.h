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

/* One configured, enabled instance; in.running tells whether it is up. */
typedef struct instance_slot {
    const plugin_config *plugin;
    const instance_config *config;
    host_instance in;
} instance_slot;

typedef struct registry {
    loader *loader;
    pool *pool;
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

/* Stops everything still running and closes every plugin. */
void registry_free(registry *r);
loaded_plugin *registry_find(const registry *r, const char *name);

#endif
