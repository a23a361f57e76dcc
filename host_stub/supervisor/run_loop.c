/*
 * The supervisor's one loop, whatever the isolation (docs/ARCHITECTURE.md,
 * "The walk of a poll"). Each instance's plugin runs in its worker (a
 * process, or a thread with "isolation": "none"); this loop only schedules,
 * waits and keeps the books. Polls of different instances overlap, so a
 * slow, hung or crashed one costs the others nothing. Every wait has a
 * deadline: a poll's poll_timeout_seconds, and at a stop
 * shutdown_grace_seconds.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_config.h"
#include "clock.h"
#include "control_commands.h"
#include "db_health.h"
#include "host.h"
#include "log.h"
#include "service_notify.h"
#include "signal_source.h"
#include "task_output.h"
#include "task_store.h"

/*
 * How often the resident memory of a polling worker's tree is compared with
 * its limit, and of a worker between polls (threads and children go on
 * after a poll; the check costs a few /proc reads per process).
 */
#define MEMORY_CHECK_MS      100LL
#define IDLE_MEMORY_CHECK_MS 1000LL

/* The longest a finished poll's items wait for a slower poll before becoming tasks. */
#define OUTBOX_MAX_DELAY_MS 1000LL

/* Drains pending signals without blocking; SIGINT/SIGTERM request a stop. */
static void handle_signals(host *h)
{
    for (int sig; (sig = signal_source_next(h->signal_fd)) != 0;) {
        if (sig == SIGCHLD) {
            h->child_ended = true;
        } else if (sig == SIGUSR1) {
            print_stats(h);
        } else if (sig == SIGHUP) {
            log_msg(PA_LOG_INFO, "host", "SIGHUP received: re-reading %s between polls",
                    h->opt.config_name);
            h->reload_config = true;
        } else if (!h->stop) {
            log_msg(PA_LOG_INFO, "host", "signal %d received; finishing and shutting down", sig);
            service_notify("STOPPING=1");
            h->stop = true;
        }
    }
}

/* A reload's end, told to the service manager and to whoever asked on the control socket. */
static void reload_done(host *h, bool applied, const char *outcome)
{
    service_notify("READY=1");
    commands_reload_done(h, applied, outcome);
}

/*
 * SIGHUP: host.json again, applied between polls. A configuration that does
 * not load is refused with its error and the running one kept; instances
 * added, removed or changed are started, stopped or restarted, the others
 * keep running. Pool and isolation settings need a restart.
 */
static void reload_config(host *h)
{
    h->reload_config = false;
    service_notify("RELOADING=1");
    host_config fresh;
    char err[1200];
    if (config_load_sources(h->opt.config_path, h->opt.agent_config_path, &fresh, NULL, err,
                            sizeof err) != PA_OK) {
        log_msg(PA_LOG_ERROR, "host", "%s; keeping the running configuration", err);
        reload_done(h, false, err);
        return;
    }
    if (fresh.pool_size != h->cfg.pool_size || fresh.lease_timeout_ms != h->cfg.lease_timeout_ms ||
        fresh.busy_timeout_ms != h->cfg.busy_timeout_ms ||
        fresh.max_lifetime_seconds != h->cfg.max_lifetime_seconds ||
        fresh.isolated != h->cfg.isolated)
        log_msg(PA_LOG_WARN, "host",
                "%s: the pool or isolation settings changed; they apply at the next start",
                h->opt.config_name);
    fresh.isolated = h->cfg.isolated;
    host_config old = h->cfg;
    h->cfg = fresh;
    h->reg.policy = host_policy(h);
    h->reg.grace_ms = fresh.shutdown_grace_seconds * 1000;
    char outcome[300];
    if (registry_apply_config(&h->reg, &h->cfg, outcome, sizeof outcome, err, sizeof err) !=
        PA_OK) {
        log_msg(PA_LOG_ERROR, "host", "applying %s failed: %s", h->opt.config_name, err);
        h->cfg = old;
        h->reg.policy = host_policy(h);
        h->reg.grace_ms = old.shutdown_grace_seconds * 1000;
        config_free(&fresh);
        reload_done(h, false, err);
        return;
    }
    config_free(&old); /* every slot now points into the fresh configuration */
    reload_done(h, true, outcome);
}

/* Applies the plugin changes that have settled. Runs between polls only. */
static void apply_plugin_changes(host *h)
{
    if (!h->watcher)
        return;
    watcher_drain(h->watcher, clock_mono_ns() / 1000000);
    char *ready[16];
    size_t n;
    while ((n = watcher_take_ready(h->watcher, clock_mono_ns() / 1000000, ready, 16)) > 0) {
        for (size_t i = 0; i < n; i++) {
            registry_apply_change(&h->reg, ready[i]);
            free(ready[i]);
        }
    }
}

/* The periodic quick_check (quick_check_interval_seconds); false when the file is damaged. */
static bool check_database_when_due(host *h, int64_t *due_ms)
{
    int64_t every = h->cfg.quick_check_interval_seconds * 1000, now = clock_wall_ms();
    if (every <= 0 || now < *due_ms)
        return true;
    *due_ms = now + every;
    char err[1200];
    if (db_quick_check(h->pool, &h->self, h->db.path, err, sizeof err) == PA_OK) {
        log_msg(PA_LOG_DEBUG, "host", "database %s: quick_check ok", h->db.path);
        return true;
    }
    log_msg(PA_LOG_ERROR, "host", "%s; stopping", err);
    return false;
}

/* The file and -wal still the ones the host opened; false (logged) when one was deleted or
 * replaced. */
static bool database_file_in_place(host *h)
{
    pool_stats st;
    pool_get_stats(h->pool, &st);
    char err[4600];
    if (db_watch_check(&h->watch, st.connections_opened, err, sizeof err) == 0)
        return true;
    log_msg(PA_LOG_ERROR, "host", "%s; stopping, and exiting with status 1", err);
    return false;
}

/*
 * An outbox round waits this long at most for the database's lock: a plugin
 * hung inside its WRITE lease holds SQLite's write lock until its deadline,
 * and the loop must stay free to enforce that deadline. The round is then
 * retried. Only the last round of a bounded run (--polls) waits longer.
 */
#define OUTBOX_LOCK_WAIT_MS 100

/* One round moves rows for this long at most; the rest waits for the next turn of the loop. */
#define OUTBOX_ROUND_BUDGET_MS 50

/*
 * The instances whose status changed, into pa_instances (docs/TASKS.md): what
 * a consumer reports as the instance's health. Not written now, offered again
 * next round.
 */
void host_record_status(host *h, int lock_wait_ms)
{
    if (!h->pool)
        return;
    instance_status rows[64];
    instance_slot *from[64];
    size_t n = 0;
    for (size_t i = 0; i < h->reg.slot_count && n < 64; i++) {
        if (slot_status(h->reg.slots[i], &rows[n]))
            from[n++] = h->reg.slots[i];
    }
    char err[1024];
    int rc = task_store_record_status(h->pool, &h->self, clock_wall_ms(), lock_wait_ms, rows, n,
                                      err, sizeof err);
    if (rc == PA_OK)
        return;
    for (size_t i = 0; i < n; i++)
        slot_status_unsent(from[i]);
    if (rc != PA_ERR_TIMEOUT)
        log_msg(PA_LOG_WARN, "host", "instance status not recorded: %s", err);
}

/*
 * Turns the items the outbox holds into tasks, their lines queued for stdout.
 * last: the loop ends after it, so it may wait for the lock as a bounded run
 * always has.
 */
/*
 * How long the last round may move rows: a bounded run's, until the outbox is
 * empty; a stop's, what is left of the grace (what stays waits in pa_outbox
 * for the next start, lost to no one).
 */
static int64_t last_round_budget_ms(const host *h)
{
    if (!h->stop)
        return -1;
    int64_t left = (h->reg.shutdown_deadline_ns - clock_mono_ns()) / 1000000;
    return left > OUTBOX_ROUND_BUDGET_MS ? left : OUTBOX_ROUND_BUDGET_MS;
}

/* A row set aside goes into its instance's books (ctl status: dead_lettered). */
static void count_set_aside(void *arg, const char *plugin, const char *instance)
{
    instance_slot *s = registry_slot(&((host *)arg)->reg, plugin, instance);
    if (s)
        s->dead_lettered++;
}

static void outbox_round(host *h, bool last)
{
    task_sink sink = {task_output_line, h->output};
    task_round r = {.now_ms = clock_wall_ms(),
                    .lock_wait_ms = last && !h->stop ? -1 : OUTBOX_LOCK_WAIT_MS,
                    .budget_ms = last ? last_round_budget_ms(h) : OUTBOX_ROUND_BUDGET_MS,
                    .sink = task_output_closed(h->output) ? NULL : &sink,
                    .set_aside = count_set_aside,
                    .set_aside_arg = h};
    char err[1024];
    int rc = task_store_consume(h->pool, &h->self, &r, err, sizeof err);
    h->outbox_rejected += r.rejected;
    h->outbox_more = r.more;
    if (rc == PA_ERR_TIMEOUT && !last) {
        log_msg(PA_LOG_DEBUG, "outbox", "a poll under way holds the database; moving later");
        h->polls_ended_ns =
            clock_mono_ns(); /* again after OUTBOX_MAX_DELAY_MS, or when polls end */
        return;
    }
    h->undelivered = rc != PA_OK;
    if (h->undelivered)
        log_msg(PA_LOG_ERROR, "outbox", "%s", err);
    else if (r.consumed)
        log_msg(PA_LOG_INFO, "outbox", "created %zu task(s)", r.consumed);
    if (last && r.more)
        log_msg(PA_LOG_INFO, "outbox",
                "stopping with items still in pa_outbox; the next start makes them tasks");
    host_record_status(h, OUTBOX_LOCK_WAIT_MS);
}

static void note_poll_ended(host *h, bool ended)
{
    if (ended && !h->polls_ended_ns)
        h->polls_ended_ns = clock_mono_ns();
}

/* Sends the due polls; a running instance without a worker gets a new one first. */
static bool dispatch_due(host *h, int64_t now)
{
    bool any = false;
    for (size_t i = 0; i < h->reg.slot_count; i++) {
        instance_slot *s = h->reg.slots[i];
        if (!slot_due(s, now))
            continue;
        any = true;
        note_poll_ended(h, slot_dispatch(s, &h->reg.policy));
    }
    return any;
}

/* The fixed descriptors the loop polls before the control socket's and the workers'. */
#define FIXED_FDS 3

/* Waits up to wait_ms for a signal, a plugin change, a control client or anything from a worker. */
static void wait_events(host *h, int64_t wait_ms)
{
    registry *r = &h->reg;
    size_t cap = FIXED_FDS + CONTROL_CLIENTS + 1 + 2 * r->slot_count;
    struct pollfd *pfd = calloc(cap, sizeof *pfd);
    if (!pfd) {
        poll(NULL, 0, 10); /* out of memory: try again shortly */
        return;
    }
    pfd[0] = (struct pollfd){.fd = h->signal_fd, .events = POLLIN};
    pfd[1] = (struct pollfd){.fd = h->watcher ? watcher_fd(h->watcher) : -1, .events = POLLIN};
    pfd[2] = (struct pollfd){.fd = task_output_waiting_fd(h->output), .events = POLLOUT};
    size_t control_n = control_pollfds(h->control, pfd + FIXED_FDS);
    size_t base = FIXED_FDS + control_n, n = base;
    for (size_t i = 0; i < r->slot_count; i++) {
        const worker_proc *w = r->slots[i]->worker;
        /* A worker told to shut down answers BYE, read when its stop is finished. */
        pfd[n++] =
            (struct pollfd){.fd = w && !w->shutdown_sent ? w->channel : -1, .events = POLLIN};
        pfd[n++] = (struct pollfd){.fd = w ? w->output : -1, .events = POLLIN};
    }
    int ready = poll(pfd, (nfds_t)n, wait_ms < 0 ? 0 : wait_ms > 60000 ? 60000 : (int)wait_ms);
    if (ready > 0 && pfd[0].revents)
        handle_signals(h);
    if (ready > 0 && pfd[1].revents)
        watcher_drain(h->watcher, clock_mono_ns() / 1000000);
    if (ready > 0 && pfd[2].revents)
        task_output_flush(h->output);
    for (size_t i = 0; ready > 0 && i < r->slot_count; i++) {
        instance_slot *s = r->slots[i];
        if (s->worker && pfd[base + 2 * i + 1].revents)
            worker_read_output(s->worker);
        if (s->worker && pfd[base + 2 * i].revents)
            note_poll_ended(h, slot_read(s, &r->policy));
    }
    if (ready > 0)
        control_serve(h->control, pfd + FIXED_FDS, control_n);
    free(pfd);
}

static int64_t earlier(int64_t wait, int64_t candidate)
{
    return candidate < wait ? candidate : wait;
}

/* The next moment the loop must act: a due poll, a poll deadline, a settling plugin change. */
static int64_t next_wake_ms(host *h, bool dispatching, int64_t idle_due, int64_t stop_deadline_ns)
{
    const registry *r = &h->reg;
    int64_t now = clock_wall_ms(), mono_ms = clock_mono_ns() / 1000000, wait = 60000;
    for (size_t i = 0; i < r->slot_count; i++) {
        const instance_slot *s = r->slots[i];
        if (s->busy)
            wait = earlier(wait, s->deadline_ns / 1000000 - mono_ms);
        int64_t write_deadline = slot_write_deadline_ms(s, &r->policy);
        if (write_deadline >= 0)
            wait = earlier(wait, write_deadline - mono_ms);
        /* While a poll runs: its memory, and a WRITE lease it may take at any moment. */
        if (s->busy)
            wait = earlier(wait, MEMORY_CHECK_MS);
        else if (s->worker && r->policy.memory_limit_mb > 0)
            wait = earlier(wait, h->idle_memory_check_ns / 1000000 - mono_ms);
        if (dispatching && s->running && !s->busy)
            wait = earlier(wait, s->sched.next_due_ms - now);
    }
    if (dispatching && !registry_any_running(r))
        wait = earlier(wait, idle_due - now);
    if (stop_deadline_ns)
        wait = earlier(wait, stop_deadline_ns / 1000000 - mono_ms);
    if (h->watcher)
        wait = earlier(wait, watcher_next_deadline(h->watcher) - mono_ms);
    if (h->polls_ended_ns)
        wait = earlier(wait, OUTBOX_MAX_DELAY_MS);
    int64_t control_due = control_next_deadline_ms(h->control);
    if (control_due >= 0)
        wait = earlier(wait, control_due);
    int64_t watchdog_due = service_watchdog();
    if (watchdog_due >= 0)
        wait = earlier(wait, watchdog_due);
    if (h->outbox_more)
        wait = 0;
    return wait < 0 ? 0 : wait;
}

static bool changes_pending(host *h)
{
    return h->reload_config ||
           (h->watcher && watcher_next_deadline(h->watcher) <= clock_mono_ns() / 1000000);
}

/*
 * Polls past their deadline are killed; at a stop, so are polls past the
 * grace; and workers past the memory limit, checked every MEMORY_CHECK_MS
 * while they poll and every IDLE_MEMORY_CHECK_MS between polls.
 */
static void enforce_deadlines(host *h, int64_t stop_deadline_ns)
{
    int64_t now = clock_mono_ns();
    bool check_memory = now >= h->memory_check_ns;
    bool check_idle = now >= h->idle_memory_check_ns;
    if (check_memory)
        h->memory_check_ns = now + MEMORY_CHECK_MS * 1000000;
    if (check_idle)
        h->idle_memory_check_ns = now + IDLE_MEMORY_CHECK_MS * 1000000;
    for (size_t i = 0; i < h->reg.slot_count; i++) {
        instance_slot *s = h->reg.slots[i];
        if (check_idle && !h->stop)
            slot_enforce_idle(s, &h->reg.policy);
        note_poll_ended(h, slot_enforce(s, &h->reg.policy, check_memory, stop_deadline_ns));
    }
}

/*
 * At a stop, every worker not polling is told to shut down at once, and one
 * whose poll ends is told then: each gets what is left of the grace for its
 * shutdown(), however long a hung poll beside it holds the stop up.
 */
static void ask_idle_to_stop(host *h)
{
    for (size_t i = 0; h->stop && i < h->reg.slot_count; i++) {
        instance_slot *s = h->reg.slots[i];
        if (s->running && !s->busy && s->worker && s->worker->stage == WORKER_READY)
            slot_stop_begin(s);
    }
}

/* How often the supervisor looks for processes plugins left behind, besides at each SIGCHLD. */
#define ORPHAN_SWEEP_MS 1000LL

/*
 * Workers that ended are reaped at once (a child holding the channel no
 * longer hides a crash), and processes of plugins whose parent ended, which
 * the supervisor adopted as subreaper, are killed: no process of an
 * instance outlives it.
 */
static void collect_ended(host *h)
{
    int64_t now = clock_mono_ns();
    if (!h->child_ended && now < h->orphan_sweep_ns)
        return;
    bool signalled = h->child_ended;
    h->child_ended = false;
    h->orphan_sweep_ns = now + ORPHAN_SWEEP_MS * 1000000;
    for (size_t i = 0; signalled && i < h->reg.slot_count; i++)
        note_poll_ended(h, slot_check_ended(h->reg.slots[i], &h->reg.policy));
    size_t orphans = h->cfg.isolated ? worker_reap_orphans() : 0;
    if (orphans)
        log_msg(PA_LOG_WARN, "host",
                "killed %zu process(es) a plugin left running after their parent ended (no "
                "process of an instance outlives it; docs/ARCHITECTURE.md)",
                orphans);
}

/* One round's dispatch; with nothing to poll, a round is one interval. */
static bool dispatch_round(host *h, int64_t *idle_due)
{
    int64_t now = clock_wall_ms();
    bool any_running = registry_any_running(&h->reg);
    bool round = dispatch_due(h, now);
    if (!any_running && now >= *idle_due) {
        round = true;
        note_poll_ended(h, true);
        *idle_due = now + h->reg.policy.interval_ms;
    }
    return round;
}

/*
 * One outbox round per batch of polls; a poll still running delays the
 * others' tasks by at most OUTBOX_MAX_DELAY_MS. A round that ran out of its
 * budget goes on at once, after the loop has looked at its signals.
 */
static void outbox_when_due(host *h, bool busy, bool last)
{
    if (h->damaged)
        return; /* nothing more is written to a damaged or vanished file */
    if (h->outbox_more || last ||
        (h->polls_ended_ns &&
         (!busy || clock_mono_ns() - h->polls_ended_ns >= OUTBOX_MAX_DELAY_MS * 1000000))) {
        h->polls_ended_ns = 0;
        outbox_round(h, last);
    }
}

/* The service manager's STATUS= one-liner, sent when it changes. */
static void report_status(host *h)
{
    if (!service_notify_active())
        return; /* each turn of the loop: no one to tell, nothing to count */
    size_t running = 0, failing = 0;
    uint64_t items = 0;
    for (size_t i = 0; i < h->reg.slot_count; i++) {
        const instance_slot *s = h->reg.slots[i];
        running += s->running;
        failing += !s->running || s->sched.failures > 0;
        items += s->items_emitted;
    }
    char line[200];
    snprintf(line, sizeof line,
             "%zu of %zu instance(s) running, %zu failing; %llu item(s) emitted%s", running,
             h->reg.slot_count, failing, (unsigned long long)items, h->stop ? "; stopping" : "");
    if (strcmp(line, h->status_line) == 0)
        return;
    snprintf(h->status_line, sizeof h->status_line, "%s", line);
    service_status("%s", line);
}

void run_loop(host *h)
{
    registry *r = &h->reg;
    long rounds = 0;
    bool dispatching = true;
    int64_t check_due = clock_wall_ms() + h->cfg.quick_check_interval_seconds * 1000;
    int64_t idle_due = clock_wall_ms(), stop_deadline_ns = 0;
    for (;;) {
        if (h->stop && !stop_deadline_ns)
            r->shutdown_deadline_ns = stop_deadline_ns =
                clock_mono_ns() + h->cfg.shutdown_grace_seconds * 1000000000;
        if (!h->stop && dispatching && !changes_pending(h)) {
            rounds += dispatch_round(h, &idle_due);
            dispatching = !(h->opt.polls && rounds >= h->opt.polls);
        }
        ask_idle_to_stop(h);
        bool busy = registry_any_busy(r);
        bool last = !busy && (h->stop || !dispatching);
        outbox_when_due(h, busy, last);
        if (last)
            break;
        if (!busy && h->reload_config)
            reload_config(h);
        if (!busy)
            apply_plugin_changes(h);
        if (!h->damaged &&
            (!database_file_in_place(h) || (!h->stop && !check_database_when_due(h, &check_due))))
            h->stop = h->damaged = true;
        int64_t wait = next_wake_ms(h, dispatching && !h->stop, idle_due, stop_deadline_ns);
        /*
         * The supervisor's own PostgreSQL connections idle out too
         * (pool.idle_seconds); its SQLite one stays, so the -wal lives as
         * long as the host does (db_watch.h).
         */
        int64_t idle_ms = h->db.kind == DB_POSTGRES ? h->cfg.pool_idle_seconds * 1000 : 0;
        pool_close_idle(h->pool, idle_ms);
        int64_t connections_due = pool_idle_due_ms(h->pool, idle_ms);
        if (connections_due >= 0)
            wait = earlier(wait, connections_due);
        if (!busy && clock_is_virtual() && wait > 0 && !changes_pending(h)) {
            clock_advance_ms(wait); /* nothing runs: the virtual clock jumps */
            wait = 0;
        }
        if (h->cfg.isolated)
            wait = earlier(wait, (h->orphan_sweep_ns - clock_mono_ns()) / 1000000);
        wait_events(h, wait < 0 ? 0 : wait);
        collect_ended(h);
        enforce_deadlines(h, stop_deadline_ns);
        control_expire(h->control);
        commands_serve(h);
        commands_progress(h);
        report_status(h);
    }
}
