#include "slot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "held_sites.h"
#include "log.h"

instance_slot *slot_new(const plugin_config *pc, const instance_config *ic)
{
    instance_slot *s = calloc(1, sizeof *s);
    if (s) {
        s->plugin = pc;
        s->config = ic;
        snprintf(s->log_source, sizeof s->log_source, "plugin %s/%s", pc->name, ic->id);
    }
    return s;
}

int64_t slot_poll_timeout_ms(const instance_slot *s, const slot_policy *p)
{
    return s->config->poll_timeout_seconds ? s->config->poll_timeout_seconds * 1000
                                           : p->poll_timeout_ms;
}

int64_t slot_write_deadline_ms(const instance_slot *s, const slot_policy *p)
{
    if (!s->busy || !s->worker)
        return -1;
    int64_t since = held_oldest_since(s->worker->held, PA_LEASE_WRITE);
    int64_t limit = s->config->write_lease_timeout_seconds
                        ? s->config->write_lease_timeout_seconds * 1000
                        : p->write_lease_timeout_ms;
    return since < 0 ? -1 : since + limit;
}

int slot_leases_held(const instance_slot *s)
{
    return s->worker ? held_count(s->worker->held) : 0;
}

/* A worker's pool figures, as it last reported them, into the slot's books. */
static void keep_pool_figures(instance_slot *s)
{
    snprintf(s->pool_stats, sizeof s->pool_stats, "%s", s->worker->pool_stats);
    if (s->worker->longest_hold_ns > s->longest_hold_ns)
        s->longest_hold_ns = s->worker->longest_hold_ns;
}

static void log_started(instance_slot *s)
{
    char where[64];
    worker_where(s->worker, where, sizeof where);
    if (s->worker->pid > 0)
        log_msg(PA_LOG_INFO, s->log_source, "started (plugin version %s, worker %s)",
                s->version->description.version, where);
    else
        log_msg(PA_LOG_INFO, s->log_source, "started (plugin version %s)",
                s->version->description.version);
}

/* The books of a start: counters begin anew, as the old in-process instance's did. */
static void begin(instance_slot *s, const slot_policy *p, const loaded_plugin *pl, worker_proc *w)
{
    s->version = pl;
    s->worker = w;
    s->running = true;
    s->busy = false;
    s->not_before_ms = 0;
    s->polls = s->poll_failures = s->items_emitted = s->http_requests = 0;
    s->last_success_ms = s->last_failure_ms = 0;
    s->last_error[0] = '\0';
    keep_pool_figures(s);
    int64_t own_ms = s->config->poll_interval_seconds * 1000;
    sched_start(&s->sched, clock_wall_ms(),
                own_ms > 0 && !p->interval_forced ? own_ms : p->interval_ms);
    s->status_changed = true;
    log_started(s);
}

bool slot_start(instance_slot *s, const slot_policy *p, const loaded_plugin *pl)
{
    char err[1200];
    worker_proc *w = NULL;
    if (worker_start(p->workers, pl, s->config, s->log_source, &w, err, sizeof err) == PA_OK) {
        begin(s, p, pl, w);
        return true;
    }
    s->version = pl;
    s->running = false;
    s->last_failure_ms = clock_wall_ms();
    s->status_changed = true;
    snprintf(s->last_error, sizeof s->last_error, "%.250s", err);
    log_msg(PA_LOG_ERROR, s->log_source, "%s; instance not started", err);
    return false;
}

void slot_adopt(instance_slot *s, const slot_policy *p, const loaded_plugin *pl, worker_proc *w)
{
    begin(s, p, pl, w);
}

void slot_retarget(instance_slot *s, const loaded_plugin *pl)
{
    s->version = pl;
}

void slot_poll_now(instance_slot *s)
{
    if (!s->running)
        return;
    s->not_before_ms = 0;
    s->poll_requested = true;
    sched_poll_now(&s->sched, clock_wall_ms());
    s->status_changed = true;
}

void slot_stop_begin(instance_slot *s)
{
    if (s->running && s->worker)
        worker_stop_begin(s->worker);
}

void slot_stop_finish(instance_slot *s, int64_t deadline_ns)
{
    if (!s->running)
        return;
    if (s->worker) {
        worker_stop_finish(s->worker, deadline_ns);
        keep_pool_figures(s);
        worker_free(s->worker);
    }
    s->worker = NULL;
    s->busy = false;
    s->running = false;
    s->polls_ended = s->polls_sent; /* one under way ended with its worker */
    s->status_changed = true;
    log_msg(PA_LOG_INFO, s->log_source, "shut down");
}

bool slot_status(instance_slot *s, instance_status *out)
{
    if (!s->status_changed)
        return false;
    s->status_changed = false;
    *out = (instance_status){.plugin = s->plugin->name,
                             .instance = s->config->id,
                             .running = s->running,
                             .last_success_ms = s->last_success_ms,
                             .last_failure_ms = s->last_failure_ms,
                             .last_error = s->last_error,
                             .failures = s->sched.failures};
    return true;
}

void slot_status_unsent(instance_slot *s)
{
    s->status_changed = true;
}

/* The poll policy applied to a finished poll, and its log line. */
static void after_poll(instance_slot *s, const slot_policy *p, int rc, const char *err, double ms)
{
    int64_t now = clock_wall_ms();
    unsigned ended = 0;
    int64_t delay =
        sched_after_poll(&s->sched, rc == PA_OK, now, p->backoff_cap_ms, s->not_before_ms, &ended);
    s->status_changed = true;
    if (rc != PA_OK) {
        s->last_failure_ms = now;
        snprintf(s->last_error, sizeof s->last_error, "%.250s", err);
        log_msg(PA_LOG_ERROR, s->log_source,
                "poll failed (%u in a row): %s; backing off, next poll in %lld s",
                s->sched.failures, err, (long long)(delay / 1000));
        return;
    }
    s->last_success_ms = now;
    if (ended)
        log_msg(PA_LOG_INFO, s->log_source,
                "poll succeeded after %u failure(s); interval reset to %lld s", ended,
                (long long)(s->sched.interval_ms / 1000));
    log_msg(PA_LOG_DEBUG, s->log_source, "poll done in %.3f ms", ms);
}

static double ms_since_sent(const instance_slot *s)
{
    return (double)(clock_mono_ns() - s->sent_ns) / 1e6;
}

/* The books of any poll's end, answered or lost. */
static void poll_ended(instance_slot *s, int rc, uint64_t items)
{
    s->busy = false;
    s->polls++;
    s->polls_ended++;
    s->last_poll_rc = rc;
    s->last_poll_items = items;
    s->last_poll_ms = clock_wall_ms();
    s->last_poll_duration_ms = ms_since_sent(s);
}

/* A poll that ended without the plugin's answer (crash, kill, no worker): a failure. */
static void poll_lost(instance_slot *s, const slot_policy *p, const char *why)
{
    poll_ended(s, PA_ERR_GENERIC, 0);
    s->poll_failures++;
    s->not_before_ms = 0;
    after_poll(s, p, PA_ERR_GENERIC, why, ms_since_sent(s));
}

/* Kills and frees the slot's worker; how it ended goes into how. */
static void drop_worker(instance_slot *s, char *how, size_t how_size)
{
    worker_kill(s->worker, how, how_size);
    worker_free(s->worker);
    s->worker = NULL;
}

/* The worker's channel ended or broke: it is killed (if need be), reaped and described. */
static bool worker_gone(instance_slot *s, const slot_policy *p)
{
    char where[64], how[128], why[1200];
    worker_where(s->worker, where, sizeof where);
    const char *when = s->worker->stage != WORKER_READY ? "during its start"
                       : s->busy                        ? "during the poll"
                                                        : "between polls";
    worker_kill(s->worker, how, sizeof how);
    snprintf(why, sizeof why, "worker (%s) %s %s; its last line: \"%.400s\"", where, how, when,
             s->worker->last_line);
    worker_free(s->worker);
    s->worker = NULL;
    if (s->busy) {
        poll_lost(s, p, why);
        return true;
    }
    /* Between polls: the next poll starts a new worker, after a backoff. */
    s->poll_failures++;
    after_poll(s, p, PA_ERR_GENERIC, why, 0);
    return false;
}

/* A poll past its deadline (or still running at the shutdown deadline): kill, say what it held. */
static void kill_overdue(instance_slot *s, const slot_policy *p, const char *deadline)
{
    char held[1024], where[64], how[128], why[1600];
    held_describe(s->worker->held, clock_mono_ns() / 1000000, held, sizeof held);
    worker_where(s->worker, where, sizeof where);
    drop_worker(s, how, sizeof how);
    snprintf(why, sizeof why, "poll stopped after %.1f s (%s); worker (%s) %s; it held %s",
             ms_since_sent(s) / 1e3, deadline, where, how, held);
    poll_lost(s, p, why);
}

static void poll_answered(instance_slot *s, const slot_policy *p, const worker_poll_result *res)
{
    poll_ended(s, res->rc, res->items);
    s->poll_failures += res->rc != PA_OK;
    s->items_emitted += res->items;
    s->http_requests += res->http_requests;
    s->not_before_ms = res->not_before_ms;
    keep_pool_figures(s);
    after_poll(s, p, res->rc, res->message, ms_since_sent(s));
}

/* A relaunched worker refused its plugin or failed its init: the poll it was to run is lost. */
static void start_failed(instance_slot *s, const slot_policy *p, const worker_poll_result *res)
{
    char how[128], why[1400];
    drop_worker(s, how, sizeof how);
    snprintf(why, sizeof why, "worker restart failed: %s", res->message);
    poll_lost(s, p, why);
}

bool slot_read(instance_slot *s, const slot_policy *p)
{
    bool ended = false;
    worker_poll_result res;
    worker_event ev;
    while (s->worker && (ev = worker_read(s->worker, &res)) != WORKER_NOTHING) {
        if (ev == WORKER_STARTED) {
            char where[64];
            worker_where(s->worker, where, sizeof where);
            log_msg(PA_LOG_INFO, s->log_source, "worker restarted (plugin version %s, %s)",
                    s->version->description.version, where);
        } else if (ev == WORKER_START_FAILED && s->busy) {
            start_failed(s, p, &res);
            ended = true;
        } else if (ev == WORKER_POLL_DONE && s->busy) {
            poll_answered(s, p, &res);
            ended = true;
        } else {
            ended = worker_gone(s, p) || ended; /* ended, broke, or answered out of turn */
        }
    }
    return ended;
}

bool slot_check_ended(instance_slot *s, const slot_policy *p)
{
    if (!s->worker || s->worker->shutdown_sent || !worker_ended(s->worker))
        return false;
    bool ended = slot_read(s, p); /* what it sent before it ended counts */
    if (s->worker && worker_ended(s->worker))
        ended = worker_gone(s, p) || ended;
    return ended;
}

bool slot_due(const instance_slot *s, int64_t now_ms)
{
    return s->running && !s->busy && (s->poll_requested || s->sched.next_due_ms <= now_ms);
}

bool slot_dispatch(instance_slot *s, const slot_policy *p)
{
    s->sent_ns = clock_mono_ns();
    s->poll_requested = false;
    s->polls_sent++;
    char err[1200];
    /* A new worker takes this poll after its init; the loop does not wait for either. */
    if (!s->worker && worker_launch(p->workers, s->version, s->config, s->log_source, &s->worker,
                                    err, sizeof err) != PA_OK) {
        poll_lost(s, p, err); /* this round's poll is lost, as a failure */
        return true;
    }
    s->busy = true;
    s->deadline_ns = s->sent_ns + slot_poll_timeout_ms(s, p) * 1000000;
    if (worker_send_poll(s->worker) != 0)
        return worker_gone(s, p);
    return false;
}

/* Whether the memory of a worker and its processes is past the limit; says so into why. */
static bool over_memory_limit(const slot_policy *p, const worker_proc *w, char *why,
                              size_t why_size)
{
    int64_t limit = p->memory_limit_mb << 20;
    proc_tree_usage use;
    if (limit <= 0 || worker_memory(w, &use) != 0 || use.resident_bytes <= limit)
        return false;
    snprintf(why, why_size,
             "resident memory of the worker and its processes (%zu) %lld MiB is over "
             "worker_memory_limit_mb %lld",
             use.processes, (long long)(use.resident_bytes >> 20), (long long)p->memory_limit_mb);
    return true;
}

void slot_enforce_idle(instance_slot *s, const slot_policy *p)
{
    char over[200], where[64], how[128], why[600];
    if (s->busy || !s->worker || s->worker->shutdown_sent ||
        !over_memory_limit(p, s->worker, over, sizeof over))
        return;
    worker_where(s->worker, where, sizeof where);
    drop_worker(s, how, sizeof how);
    snprintf(why, sizeof why, "worker (%s) %s between polls: %s", where, how, over);
    /* As for a worker lost between polls: the next poll starts a new one, after a backoff. */
    s->poll_failures++;
    after_poll(s, p, PA_ERR_GENERIC, why, 0);
}

bool slot_enforce(instance_slot *s, const slot_policy *p, bool check_memory,
                  int64_t stop_deadline_ns)
{
    if (!s->busy || !s->worker)
        return false;
    int64_t now = clock_mono_ns(), write_deadline = slot_write_deadline_ms(s, p);
    char deadline[200];
    if (check_memory && over_memory_limit(p, s->worker, deadline, sizeof deadline)) {
        kill_overdue(s, p, deadline);
    } else if (write_deadline >= 0 && now / 1000000 >= write_deadline) {
        /* No other instance can write while it holds the lock: its own, shorter, deadline. */
        snprintf(deadline, sizeof deadline,
                 "a WRITE lease held past write_lease_timeout_seconds, %lld; no other instance "
                 "can write meanwhile",
                 (long long)(s->config->write_lease_timeout_seconds
                                 ? s->config->write_lease_timeout_seconds
                                 : p->write_lease_timeout_ms / 1000));
        kill_overdue(s, p, deadline);
    } else if (now >= s->deadline_ns) {
        snprintf(deadline, sizeof deadline, "poll_timeout_seconds is %lld",
                 (long long)(slot_poll_timeout_ms(s, p) / 1000));
        kill_overdue(s, p, deadline);
    } else if (stop_deadline_ns && now >= stop_deadline_ns) {
        snprintf(deadline, sizeof deadline, "shutting down; shutdown_grace_seconds is %lld",
                 (long long)p->shutdown_grace_seconds);
        kill_overdue(s, p, deadline);
    } else {
        return false;
    }
    return true;
}
