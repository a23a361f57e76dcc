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

instance_slot *registry_slot(const registry *r, const char *plugin, const char *id)
{
    for (size_t i = 0; i < r->slot_count; i++) {
        instance_slot *s = r->slots[i];
        if (strcmp(s->plugin->name, plugin) == 0 && strcmp(s->config->id, id) == 0)
            return s;
    }
    return NULL;
}

static size_t total_enabled(const host_config *cfg)
{
    size_t n = 0;
    for (size_t i = 0; i < cfg->plugin_count; i++)
        for (size_t j = 0; j < cfg->plugins[i].instance_count; j++)
            n += cfg->plugins[i].enabled && cfg->plugins[i].instances[j].enabled;
    return n;
}

int registry_init(registry *r, loader *l, const host_config *cfg, const slot_policy *policy,
                  char *err, size_t err_size)
{
    memset(r, 0, sizeof *r);
    r->loader = l;
    r->policy = *policy;
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
            if (!(r->slots[r->slot_count] = slot_new(pc, &pc->instances[j])))
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

static int64_t grace_deadline(const registry *r)
{
    return r->shutdown_deadline_ns ? r->shutdown_deadline_ns
                                   : clock_mono_ns() + r->grace_ms * 1000000;
}

static void stop_slot(registry *r, instance_slot *s)
{
    slot_stop_begin(s);
    slot_stop_finish(s, grace_deadline(r));
}

/* Starts the slots of plugin pl; returns how many started. */
static size_t start_slots_of(registry *r, const loaded_plugin *pl)
{
    size_t started = 0;
    for (size_t i = 0; i < r->slot_count; i++) {
        instance_slot *s = r->slots[i];
        if (strcmp(s->plugin->name, pl->name) == 0)
            started += slot_start(s, &r->policy, pl);
    }
    return started;
}

size_t registry_start_all(registry *r)
{
    size_t running = 0;
    for (size_t i = 0; i < r->plugin_count; i++)
        running += start_slots_of(r, r->plugins[i]);
    return running;
}

bool registry_any_busy(const registry *r)
{
    for (size_t i = 0; i < r->slot_count; i++)
        if (r->slots[i]->busy)
            return true;
    return false;
}

bool registry_any_running(const registry *r)
{
    for (size_t i = 0; i < r->slot_count; i++)
        if (r->slots[i]->running)
            return true;
    return false;
}

void registry_stop_all(registry *r)
{
    /* Every worker is asked first, then all are given the same deadline. */
    for (size_t i = r->slot_count; i-- > 0;)
        slot_stop_begin(r->slots[i]);
    int64_t deadline = grace_deadline(r);
    for (size_t i = r->slot_count; i-- > 0;)
        slot_stop_finish(r->slots[i], deadline);
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
        if (r->slots[i]->running && r->slots[i]->version == pl) {
            stop_slot(r, r->slots[i]);
            stopped++;
        }
        if (r->slots[i]->version == pl)
            slot_retarget(r->slots[i], NULL); /* the version is closed below */
    }
    log_msg(PA_LOG_INFO, "reload", "plugin '%s' removed: %zu instance(s) shut down", pl->name,
            stopped);
    r->plugins[index] = r->plugins[--r->plugin_count];
    loader_close(pl);
}

/* A successful reload: fresh takes the old version's place, which is closed. */
static void reload_done(registry *r, size_t index, loaded_plugin *fresh, size_t count,
                        int64_t started_ns)
{
    loaded_plugin *old = r->plugins[index];
    r->reloads++;
    log_msg(PA_LOG_INFO, "reload",
            "reloaded plugin '%s' version %s -> %s: %zu instance(s) "
            "restarted in %.1f ms",
            old->name, old->description.version, fresh->description.version, count,
            (double)(clock_mono_ns() - started_ns) / 1e6);
    r->plugins[index] = fresh;
    loader_close(old);
}

/*
 * An instance of the old version with no worker (crashed, in backoff) polls
 * on the new one at once; one whose start failed starts on it. A fixed
 * version serves without waiting out the broken one's backoff. True when it
 * will run.
 */
static bool retarget_stalled(registry *r, instance_slot *s, const loaded_plugin *fresh)
{
    if (!s->running)
        return slot_start(s, &r->policy, fresh);
    slot_retarget(s, fresh);
    slot_poll_now(s);
    return true;
}

/*
 * The new version's workers start first, beside the old ones; only once
 * every one is up do the old workers stop. If one fails, the new ones stop
 * and the old ones never paused.
 */
static void replace_plugin(registry *r, size_t index, loaded_plugin *fresh, int64_t started_ns)
{
    loaded_plugin *old = r->plugins[index];
    worker_proc **next = calloc(r->slot_count ? r->slot_count : 1, sizeof *next);
    char err[1200] = "";
    const instance_slot *failed = NULL;
    size_t count = 0;
    for (size_t i = 0; next && i < r->slot_count && !failed; i++) {
        instance_slot *s = r->slots[i];
        if (!s->running || s->version != old || !s->worker)
            continue;
        if (worker_start(r->policy.workers, fresh, s->config, s->log_source, &next[i], err,
                         sizeof err) != PA_OK)
            failed = s;
        count++;
    }
    if (!next || failed) {
        r->failed_reloads++;
        log_msg(PA_LOG_ERROR, "reload",
                "reload of plugin '%s' to version %s failed: instance '%s' %s; version %s keeps "
                "serving",
                old->name, fresh->description.version, failed ? failed->config->id : "-",
                next ? err : "out of memory", old->description.version);
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
            slot_stop_begin(r->slots[i]);
    int64_t deadline = grace_deadline(r);
    for (size_t i = 0; i < r->slot_count; i++) {
        instance_slot *s = r->slots[i];
        if (next[i]) { /* the old instance shuts down, the new one takes its place */
            slot_stop_finish(s, deadline);
            slot_adopt(s, &r->policy, fresh, next[i]);
        } else if (s->version == old) {
            count += retarget_stalled(r, s, fresh);
        }
    }
    free(next);
    reload_done(r, index, fresh, count, started_ns);
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
                    name, err, r->plugins[index]->description.version);
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
            name, fresh->description.version, started,
            (double)(clock_mono_ns() - started_ns) / 1e6);
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
    return pl && slot_start(s, &r->policy, pl);
}

/* The plugin's object or one of the host's own keys for the instance differs. */
static bool instance_changed(const instance_config *now, const instance_config *before)
{
    return strcmp(now->json, before->json) != 0 ||
           now->poll_interval_seconds != before->poll_interval_seconds ||
           now->poll_timeout_seconds != before->poll_timeout_seconds ||
           now->write_lease_timeout_seconds != before->write_lease_timeout_seconds;
}

/* What applying a configuration did, for its one log line. */
typedef struct apply_counts {
    size_t kept, started, restarted, stopped, backed_off;
} apply_counts;

/*
 * Old slot s under the new cfg: stopped and freed (returns false) when its
 * instance is gone or disabled; else restarted with a changed object,
 * started if it was not running, or kept (polling now if it was failing).
 */
static bool carry_over(registry *r, instance_slot *s, const host_config *cfg, apply_counts *n)
{
    const plugin_config *pc = NULL;
    const instance_config *ic = find_instance(cfg, s->plugin->name, s->config->id, &pc);
    if (!ic) {
        n->stopped += s->running;
        stop_slot(r, s);
        free(s);
        return false;
    }
    bool changed = instance_changed(ic, s->config);
    s->plugin = pc;
    s->config = ic;
    if (changed && s->running) {
        stop_slot(r, s);
        n->restarted += start_if_loaded(r, s);
    } else if (changed || !s->running) {
        n->started += start_if_loaded(r, s); /* new object, or a failed one retried */
    } else {
        n->kept++;
        n->backed_off += s->sched.failures > 0;
        if (s->sched.failures > 0)
            slot_poll_now(s); /* the operator may have fixed what it failed on */
    }
    return true;
}

int registry_apply_config(registry *r, const host_config *cfg, char *summary, size_t summary_size,
                          char *err, size_t err_size)
{
    size_t total = total_enabled(cfg);
    apply_counts counts = {0};
    instance_slot **slots = calloc(total ? total : 1, sizeof *slots);
    if (!slots) {
        snprintf(err, err_size, "out of memory");
        return PA_ERR_NOMEM;
    }
    size_t n = 0;
    /* The instances that stay: the same plugin and id, still enabled. */
    for (size_t i = 0; i < r->slot_count; i++) {
        if (carry_over(r, r->slots[i], cfg, &counts))
            slots[n++] = r->slots[i];
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
            instance_slot *s = slot_new(pc, ic);
            if (!s)
                continue;
            slots[n++] = s;
            counts.started += start_if_loaded(r, s);
        }
    }
    free(r->slots);
    r->slots = slots;
    r->slot_count = n;
    r->slot_cap = total ? total : 1;
    snprintf(summary, summary_size,
             "configuration applied: %zu instance(s) unchanged, %zu restarted, %zu started, "
             "%zu stopped; %zu failing instance(s) poll now",
             counts.kept, counts.restarted, counts.started, counts.stopped, counts.backed_off);
    log_msg(PA_LOG_INFO, "host", "%s", summary);
    return PA_OK;
}
