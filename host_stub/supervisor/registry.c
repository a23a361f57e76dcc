#include "registry.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clock.h"
#include "log.h"

static bool add_plugin(registry *r, loaded_plugin *pl)
{
    if (r->plugin_count == r->plugin_cap) {
        size_t cap = r->plugin_cap ? r->plugin_cap * 2 : 8;
        loaded_plugin **grown = realloc(r->plugins, cap * sizeof *grown);
        if (!grown)
            return false;
        r->plugins = grown;
        r->plugin_cap = cap;
    }
    r->plugins[r->plugin_count++] = pl;
    return true;
}

static size_t plugin_index(const registry *r, const char *name)
{
    for (size_t i = 0; i < r->plugin_count; i++) {
        if (strcmp(r->plugins[i]->name, name) == 0)
            return i;
    }
    return SIZE_MAX;
}

loaded_plugin *registry_find(const registry *r, const char *name)
{
    size_t i = plugin_index(r, name);
    return i == SIZE_MAX ? NULL : r->plugins[i];
}

static instance_slot *new_slot(const plugin_config *pc, const instance_config *ic)
{
    instance_slot *s = calloc(1, sizeof *s);
    if (s) {
        s->plugin = pc;
        s->config = ic;
    }
    return s;
}

static size_t total_enabled(const host_config *cfg)
{
    size_t n = 0;
    for (size_t i = 0; i < cfg->plugin_count; i++)
        for (size_t j = 0; j < cfg->plugins[i].instance_count; j++)
            n += cfg->plugins[i].enabled && cfg->plugins[i].instances[j].enabled;
    return n;
}

int registry_init(registry *r, loader *l, pool *p, const host_config *cfg, int64_t interval_ms,
                  char *err, size_t err_size)
{
    memset(r, 0, sizeof *r);
    r->loader = l;
    r->pool = p;
    r->interval_ms = interval_ms;
    size_t total = 0;
    for (size_t i = 0; i < cfg->plugin_count; i++)
        total += cfg->plugins[i].instance_count;
    r->slots = calloc(total ? total : 1, sizeof *r->slots);
    r->slot_cap = total ? total : 1;
    for (size_t i = 0; r->slots && i < cfg->plugin_count; i++) {
        const plugin_config *pc = &cfg->plugins[i];
        for (size_t j = 0; j < pc->instance_count; j++) {
            if (!pc->enabled || !pc->instances[j].enabled) {
                log_msg(PA_LOG_INFO, "host", "instance %s/%s is disabled", pc->name,
                        pc->instances[j].id);
                continue;
            }
            if (!(r->slots[r->slot_count] = new_slot(pc, &pc->instances[j])))
                break;
            r->slot_count++;
        }
    }
    if (!r->slots || r->slot_count < total_enabled(cfg)) {
        snprintf(err, err_size, "out of memory allocating %zu instances", total);
        return PA_ERR_NOMEM;
    }
    loaded_plugin **found = NULL;
    size_t count = 0;
    int rc = loader_scan(l, &found, &count, err, err_size);
    for (size_t i = 0; i < count; i++) {
        if (!add_plugin(r, found[i]))
            loader_close(found[i]);
    }
    free(found);
    if (rc != PA_OK)
        return rc;
    for (size_t i = 0; i < cfg->plugin_count; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s.so", loader_dir(l), cfg->plugins[i].name);
        if (!registry_find(r, cfg->plugins[i].name) && lstat(path, &st) == 0)
            log_msg(PA_LOG_ERROR, "host",
                    "plugin '%s' was refused; its %zu instance(s) will not run",
                    cfg->plugins[i].name, cfg->plugins[i].instance_count);
    }
    return PA_OK;
}

/* In a worker process (isolation) or in this one; in is reset either way. */
static int start_instance(registry *r, instance_slot *s, const loaded_plugin *pl, char *err,
                          size_t err_size)
{
    if (!r->workers)
        return instance_start(&s->in, r->pool, pl, s->config, err, err_size);
    instance_prepare(&s->in, r->pool, pl, s->config);
    int rc = worker_start(r->workers, pl, s->config, s->in.log_source, &s->worker, err, err_size);
    s->in.running = rc == PA_OK;
    s->busy = false;
    if (rc == PA_OK)
        snprintf(s->pool_stats, sizeof s->pool_stats, "%s", s->worker->pool_stats);
    return rc;
}

static void log_started(const instance_slot *s, const loaded_plugin *pl)
{
    if (s->worker)
        log_msg(PA_LOG_INFO, s->in.log_source, "started (plugin version %s, worker pid %ld)",
                pl->info->version, (long)s->worker->pid);
    else
        log_msg(PA_LOG_INFO, s->in.log_source, "started (plugin version %s)", pl->info->version);
}

static bool start_slot(registry *r, instance_slot *s, const loaded_plugin *pl, char *err,
                       size_t err_size)
{
    if (start_instance(r, s, pl, err, err_size) != PA_OK)
        return false;
    sched_start(&s->in.sched, clock_wall_ms(), r->interval_ms);
    log_started(s, pl);
    return true;
}

static int64_t grace_deadline(const registry *r)
{
    return r->shutdown_deadline_ns ? r->shutdown_deadline_ns
                                   : clock_mono_ns() + r->grace_ms * 1000000;
}

/* Isolation: the two halves of stopping, so many workers shut down side by side. */
static void stop_slot_begin(instance_slot *s)
{
    if (s->in.running && s->worker)
        worker_stop_begin(s->worker);
}

static void stop_slot_finish(const registry *r, instance_slot *s, int64_t deadline_ns)
{
    if (!s->in.running)
        return;
    if (r->workers) {
        if (s->worker) {
            worker_stop_finish(s->worker, deadline_ns);
            snprintf(s->pool_stats, sizeof s->pool_stats, "%s", s->worker->pool_stats);
            worker_free(s->worker);
        }
        s->worker = NULL;
        s->busy = false;
        s->in.running = false;
    } else {
        instance_stop(&s->in);
    }
    log_msg(PA_LOG_INFO, s->in.log_source, "shut down");
}

static void stop_slot(registry *r, instance_slot *s)
{
    stop_slot_begin(s);
    stop_slot_finish(r, s, grace_deadline(r));
}

int registry_launch_worker(registry *r, instance_slot *s, char *err, size_t err_size)
{
    return worker_launch(r->workers, s->in.plugin, s->config, s->in.log_source, &s->worker, err,
                         err_size);
}

/* Starts s on pl; a failure is logged and kept as the slot's last error. */
static bool start_or_log(registry *r, instance_slot *s, const loaded_plugin *pl)
{
    char err[1200];
    if (start_slot(r, s, pl, err, sizeof err))
        return true;
    snprintf(s->in.last_poll_error, sizeof s->in.last_poll_error, "%.250s", err);
    log_msg(PA_LOG_ERROR, s->in.log_source, "%s; instance not started", err);
    return false;
}

/* Starts the slots of plugin pl; returns how many started. */
static size_t start_slots_of(registry *r, const loaded_plugin *pl)
{
    size_t started = 0;
    for (size_t i = 0; i < r->slot_count; i++) {
        instance_slot *s = r->slots[i];
        if (strcmp(s->plugin->name, pl->name) == 0)
            started += start_or_log(r, s, pl);
    }
    return started;
}

void registry_start_all(registry *r)
{
    for (size_t i = 0; i < r->plugin_count; i++)
        start_slots_of(r, r->plugins[i]);
}

void registry_stop_all(registry *r)
{
    /* Every worker is asked first, then all are given the same deadline. */
    for (size_t i = r->slot_count; i-- > 0;)
        stop_slot_begin(r->slots[i]);
    int64_t deadline = grace_deadline(r);
    for (size_t i = r->slot_count; i-- > 0;)
        stop_slot_finish(r, r->slots[i], deadline);
}

void registry_free(registry *r)
{
    registry_stop_all(r);
    for (size_t i = 0; i < r->plugin_count; i++)
        loader_close(r->plugins[i]);
    free(r->plugins);
    for (size_t i = 0; i < r->slot_count; i++)
        free(r->slots[i]);
    free(r->slots);
    memset(r, 0, sizeof *r);
}

static void remove_plugin(registry *r, size_t index)
{
    loaded_plugin *pl = r->plugins[index];
    size_t stopped = 0;
    for (size_t i = 0; i < r->slot_count; i++) {
        if (r->slots[i]->in.running && r->slots[i]->in.plugin == pl) {
            stop_slot(r, r->slots[i]);
            stopped++;
        }
    }
    log_msg(PA_LOG_INFO, "reload", "plugin '%s' removed: %zu instance(s) shut down", pl->name,
            stopped);
    r->plugins[index] = r->plugins[--r->plugin_count];
    loader_close(pl);
}

/*
 * Swaps old for fresh: the old instances shut down, the same configurations
 * start on the new version. If one fails to start, the new ones stop again
 * and the old version is restarted.
 */
/* A successful reload: fresh takes the old version's place, which is closed. */
static void reload_done(registry *r, size_t index, loaded_plugin *fresh, size_t count,
                        int64_t started_ns)
{
    loaded_plugin *old = r->plugins[index];
    r->reloads++;
    log_msg(PA_LOG_INFO, "reload",
            "reloaded plugin '%s' version %s -> %s: %zu instance(s) "
            "restarted in %.1f ms",
            old->name, old->info->version, fresh->info->version, count,
            (double)(clock_mono_ns() - started_ns) / 1e6);
    r->plugins[index] = fresh;
    loader_close(old);
}

/*
 * Isolation: the new version's workers start first, beside the old ones; only
 * once every one is up do the old workers stop. If one fails, the new ones
 * stop and the old ones never paused.
 */
static void replace_plugin_isolated(registry *r, size_t index, loaded_plugin *fresh,
                                    int64_t started_ns)
{
    loaded_plugin *old = r->plugins[index];
    worker_proc **next = calloc(r->slot_count ? r->slot_count : 1, sizeof *next);
    char err[1200] = "";
    const instance_slot *failed = NULL;
    size_t count = 0;
    for (size_t i = 0; next && i < r->slot_count && !failed; i++) {
        instance_slot *s = r->slots[i];
        if (!s->in.running || s->in.plugin != old || !s->worker)
            continue;
        if (worker_start(r->workers, fresh, s->config, s->in.log_source, &next[i], err,
                         sizeof err) != PA_OK)
            failed = s;
        count++;
    }
    if (!next || failed) {
        r->failed_reloads++;
        log_msg(PA_LOG_ERROR, "reload",
                "reload of plugin '%s' to version %s failed: instance '%s' %s; version %s keeps "
                "serving",
                old->name, fresh->info->version, failed ? failed->config->id : "-",
                next ? err : "out of memory", old->info->version);
        for (size_t i = 0; next && i < r->slot_count; i++)
            if (next[i])
                worker_stop_begin(next[i]);
        for (size_t i = 0; next && i < r->slot_count; i++) {
            worker_stop_finish(next[i], grace_deadline(r));
            worker_free(next[i]);
        }
        free(next);
        loader_close(fresh);
        return;
    }
    for (size_t i = 0; i < r->slot_count; i++)
        if (next[i])
            worker_stop_begin(r->slots[i]->worker);
    int64_t deadline = grace_deadline(r);
    for (size_t i = 0; i < r->slot_count; i++) {
        instance_slot *s = r->slots[i];
        if (next[i]) { /* as in process: the old instance shuts down, the new one starts */
            stop_slot_finish(r, s, deadline);
            instance_prepare(&s->in, r->pool, fresh, s->config);
            s->worker = next[i];
            s->in.running = true;
            sched_start(&s->in.sched, clock_wall_ms(), r->interval_ms);
            log_started(s, fresh);
        } else if (s->in.plugin == old) { /* a crashed one restarts on the new version */
            s->in.plugin = fresh;
            s->in.owner.plugin = fresh->name;
        }
    }
    free(next);
    reload_done(r, index, fresh, count, started_ns);
}

static void replace_plugin(registry *r, size_t index, loaded_plugin *fresh, int64_t started_ns)
{
    if (r->workers) {
        replace_plugin_isolated(r, index, fresh, started_ns);
        return;
    }
    loaded_plugin *old = r->plugins[index];
    bool *restart = calloc(r->slot_count ? r->slot_count : 1, sizeof *restart);
    if (!restart) {
        log_msg(PA_LOG_ERROR, "reload",
                "reload of plugin '%s' failed: out of memory; version %s "
                "keeps serving",
                old->name, old->info->version);
        loader_close(fresh);
        return;
    }
    size_t count = 0;
    for (size_t i = 0; i < r->slot_count; i++) {
        if (r->slots[i]->in.running && r->slots[i]->in.plugin == old) {
            stop_slot(r, r->slots[i]);
            restart[i] = true;
            count++;
        }
    }
    char err[1200] = "";
    const instance_slot *failed = NULL;
    for (size_t i = 0; i < r->slot_count && !failed; i++) {
        if (restart[i] && !start_slot(r, r->slots[i], fresh, err, sizeof err))
            failed = r->slots[i];
    }
    if (failed) {
        r->failed_reloads++;
        log_msg(PA_LOG_ERROR, "reload",
                "reload of plugin '%s' to version %s failed: instance "
                "'%s' %s; restarting version %s",
                old->name, fresh->info->version, failed->config->id, err, old->info->version);
        for (size_t i = 0; i < r->slot_count; i++) {
            if (!restart[i])
                continue;
            stop_slot(r, r->slots[i]);
            char again[1200];
            if (!start_slot(r, r->slots[i], old, again, sizeof again))
                log_msg(PA_LOG_ERROR, r->slots[i]->in.log_source,
                        "%s; instance not restarted on version %s", again, old->info->version);
        }
        loader_close(fresh);
        free(restart);
        return;
    }
    reload_done(r, index, fresh, count, started_ns);
    free(restart);
}

void registry_apply_change(registry *r, const char *file_name)
{
    int64_t started_ns = clock_mono_ns();
    char name[256], path[4096];
    size_t len = strlen(file_name);
    if (len < 4 || len - 3 >= sizeof name)
        return;
    snprintf(name, sizeof name, "%.*s", (int)(len - 3), file_name);
    snprintf(path, sizeof path, "%s/%s", loader_dir(r->loader), file_name);
    size_t index = plugin_index(r, name);
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (index != SIZE_MAX)
            remove_plugin(r, index);
        return;
    }
    if (index != SIZE_MAX && loader_same_source(r->plugins[index], &st))
        return; /* touched, not changed */
    loaded_plugin *fresh;
    char err[1200];
    if (loader_open(r->loader, file_name, &fresh, err, sizeof err) != PA_OK) {
        if (index != SIZE_MAX) {
            r->failed_reloads++;
            log_msg(PA_LOG_ERROR, "reload",
                    "reload of plugin '%s' failed: %s; version %s keeps "
                    "serving",
                    name, err, r->plugins[index]->info->version);
        } else {
            log_msg(PA_LOG_ERROR, "loader", "%s", err);
        }
        return;
    }
    if (index != SIZE_MAX) {
        replace_plugin(r, index, fresh, started_ns);
        return;
    }
    if (!add_plugin(r, fresh)) {
        log_msg(PA_LOG_ERROR, "reload", "cannot add plugin '%s': out of memory", name);
        loader_close(fresh);
        return;
    }
    size_t started = start_slots_of(r, fresh);
    log_msg(PA_LOG_INFO, "reload",
            "plugin '%s' version %s added: %zu instance(s) started in "
            "%.1f ms",
            name, fresh->info->version, started, (double)(clock_mono_ns() - started_ns) / 1e6);
}

/* The enabled instance of cfg with this plugin and id, or NULL. */
static const instance_config *find_instance(const host_config *cfg, const char *plugin,
                                            const char *id, const plugin_config **pc_out)
{
    for (size_t i = 0; i < cfg->plugin_count; i++) {
        const plugin_config *pc = &cfg->plugins[i];
        for (size_t j = 0; pc->enabled && strcmp(pc->name, plugin) == 0 && j < pc->instance_count;
             j++) {
            if (pc->instances[j].enabled && strcmp(pc->instances[j].id, id) == 0) {
                *pc_out = pc;
                return &pc->instances[j];
            }
        }
    }
    return NULL;
}

/* (Re)starts s on its plugin if that plugin is loaded; true when it runs. */
static bool start_if_loaded(registry *r, instance_slot *s)
{
    const loaded_plugin *pl = registry_find(r, s->plugin->name);
    return pl && start_or_log(r, s, pl);
}

int registry_apply_config(registry *r, const host_config *cfg, char *err, size_t err_size)
{
    size_t total = total_enabled(cfg), kept = 0, started = 0, restarted = 0, stopped = 0;
    instance_slot **slots = calloc(total ? total : 1, sizeof *slots);
    if (!slots) {
        snprintf(err, err_size, "out of memory");
        return PA_ERR_NOMEM;
    }
    size_t n = 0;
    /* The instances that stay: the same plugin and id, still enabled. */
    for (size_t i = 0; i < r->slot_count; i++) {
        instance_slot *s = r->slots[i];
        const plugin_config *pc = NULL;
        const instance_config *ic = find_instance(cfg, s->plugin->name, s->config->id, &pc);
        if (!ic) {
            stopped += s->in.running;
            stop_slot(r, s);
            free(s);
            continue;
        }
        bool changed = strcmp(ic->json, s->config->json) != 0;
        s->plugin = pc;
        s->config = s->in.config = ic;
        if (changed && s->in.running) {
            stop_slot(r, s);
            restarted += start_if_loaded(r, s);
        } else if (changed || !s->in.running) {
            started += start_if_loaded(r, s); /* new object, or a failed one retried */
        } else {
            kept++;
        }
        slots[n++] = s;
    }
    /* The new ones. */
    for (size_t i = 0; i < cfg->plugin_count; i++) {
        const plugin_config *pc = &cfg->plugins[i];
        for (size_t j = 0; pc->enabled && j < pc->instance_count; j++) {
            const instance_config *ic = &pc->instances[j];
            bool known = false;
            for (size_t k = 0; k < n && !known; k++)
                known = strcmp(slots[k]->plugin->name, pc->name) == 0 &&
                        strcmp(slots[k]->config->id, ic->id) == 0;
            if (known || !ic->enabled || n == total)
                continue;
            instance_slot *s = new_slot(pc, ic);
            if (!s)
                continue;
            slots[n++] = s;
            started += start_if_loaded(r, s);
        }
    }
    free(r->slots);
    r->slots = slots;
    r->slot_count = n;
    r->slot_cap = total ? total : 1;
    log_msg(PA_LOG_INFO, "host",
            "configuration applied: %zu instance(s) unchanged, %zu restarted, %zu started, "
            "%zu stopped",
            kept, restarted, started, stopped);
    return PA_OK;
}
