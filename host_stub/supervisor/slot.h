/*
 * One configured instance as the supervisor keeps it: its worker, its
 * schedule and its books. Every change of a slot's state happens in slot.c,
 * whatever causes it (a start, a poll's answer, a crash, a deadline, a
 * stop), so the life of an instance reads in one file
 * (docs/ARCHITECTURE.md, "The life of an instance").
 */
#ifndef SUPERVISOR_SLOT_H
#define SUPERVISOR_SLOT_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "loader.h"
#include "scheduler.h"
#include "task_store.h"
#include "worker_proc.h"

/* What every slot's transitions go by: set from host.json and the command line. */
typedef struct slot_policy {
    const worker_settings *workers;
    int64_t interval_ms;            /* between polls, unless the instance backs off */
    bool interval_forced;           /* --interval: interval_ms over an instance's own */
    int64_t backoff_cap_ms;         /* backoff_cap_seconds */
    int64_t poll_timeout_ms;        /* poll_timeout_seconds; an instance's own wins */
    int64_t write_lease_timeout_ms; /* write_lease_timeout_seconds; an instance's own wins */
    int64_t memory_limit_mb;        /* worker_memory_limit_mb; 0: none */
    int64_t shutdown_grace_seconds; /* for the log line of a poll killed at a stop */
} slot_policy;

/*
 * One configured, enabled instance. running tells whether it is up: a
 * running instance whose worker died has worker == NULL until its next poll
 * launches a new one.
 */
typedef struct instance_slot {
    const plugin_config *plugin;
    const instance_config *config;
    const loaded_plugin *version; /* the plugin version it runs; NULL before its first start */
    char log_source[256];         /* "plugin NAME/ID" */
    bool running;
    worker_proc *worker;
    bool busy;           /* a poll was sent to worker and has not been answered */
    int64_t deadline_ns; /* monotonic; when busy, the poll's deadline */
    int64_t sent_ns;     /* monotonic; when the poll was sent */
    sched_entry sched;
    int64_t not_before_ms; /* the plugin's defer_next_poll in its last poll; 0 if none */
    uint64_t polls;
    uint64_t poll_failures;
    uint64_t items_emitted;
    uint64_t http_requests;
    int64_t last_success_ms;          /* host clock; 0: never */
    int64_t last_failure_ms;          /* host clock; 0: never */
    char last_error[256];             /* the last failed start's or poll's message; "" before */
    bool status_changed;              /* since pa_instances last got it (slot_status) */
    int64_t longest_hold_ns;          /* the longest lease any of its workers reported */
    bool poll_requested;              /* slot_poll_now: due at once, whatever its schedule */
    uint64_t polls_sent, polls_ended; /* for its whole life, restarts included (ctl poll) */
    int last_poll_rc;                 /* the last ended poll's */
    uint64_t last_poll_items;         /* items it emitted */
    int64_t last_poll_ms;             /* host clock, when it ended; 0: never */
    double last_poll_duration_ms;
    uint64_t dead_lettered; /* its outbox rows set aside in pa_outbox_rejected by this host */
    char pool_stats[WORKER_STATS_MAX]; /* its worker's pool, as last reported */
} instance_slot;

/* A stopped slot for pc/ic (log source set); NULL when out of memory. */
instance_slot *slot_new(const plugin_config *pc, const instance_config *ic);

/*
 * Starts s on version pl and waits for its init (bounded by the instance's
 * poll timeout and a SIGTERM). On failure the reason is logged, kept as the
 * slot's last error, and false returned.
 */
bool slot_start(instance_slot *s, const slot_policy *p, const loaded_plugin *pl);
/* Reload: s now runs on pl in w, a worker already started; its schedule starts anew. */
void slot_adopt(instance_slot *s, const slot_policy *p, const loaded_plugin *pl, worker_proc *w);
/* s now belongs to version pl (NULL: none, its file is gone); a crashed one restarts on it. */
void slot_retarget(instance_slot *s, const loaded_plugin *pl);
/*
 * An operator asked (a reload, ctl poll): s's next poll is due now, its
 * backoff and any deferral dropped. Nothing when s is not running.
 */
void slot_poll_now(instance_slot *s);

/* Stopping in two halves, so many workers shut down side by side until one deadline. */
void slot_stop_begin(instance_slot *s);
void slot_stop_finish(instance_slot *s, int64_t deadline_ns);

/*
 * s's status for pa_instances into *out (pointing into s), when it changed
 * since the last call that returned true; false otherwise.
 */
bool slot_status(instance_slot *s, instance_status *out);
/* The status written by slot_status did not reach the database: offer it again. */
void slot_status_unsent(instance_slot *s);

/*
 * After a SIGCHLD: when the slot's worker process has ended, what it sent is
 * read and it is reaped and described as a crash (its poll lost), even while
 * a child it left holds its channel open. True when a poll ended.
 */
bool slot_check_ended(instance_slot *s, const slot_policy *p);
/* Whether s is due at now_ms (host clock) and free to poll. */
bool slot_due(const instance_slot *s, int64_t now_ms);
/*
 * Sends s its poll, launching a new worker first if it has none (without
 * waiting: the worker takes the poll after its init). true when the poll
 * ended already (it could not be sent: a failure, with backoff).
 */
bool slot_dispatch(instance_slot *s, const slot_policy *p);
/* Takes what s's worker sent; true when a poll ended. */
bool slot_read(instance_slot *s, const slot_policy *p);
/*
 * Kills a busy worker past the memory limit (when check_memory; the worker
 * and every process it started, proc_tree.h), past its
 * WRITE-lease deadline (slot_write_deadline_ms), past its poll deadline, or
 * past stop_deadline_ns (0: not stopping); true when a poll ended so.
 */
bool slot_enforce(instance_slot *s, const slot_policy *p, bool check_memory,
                  int64_t stop_deadline_ns);
/*
 * Kills a worker that is not polling when it and the processes it started
 * are past the memory limit (a thread or child that grows after its poll),
 * as a failed poll: the next poll starts a new worker, after a backoff.
 */
void slot_enforce_idle(instance_slot *s, const slot_policy *p);

/*
 * When (CLOCK_MONOTONIC, ms) s's busy worker passes its WRITE-lease deadline:
 * its oldest WRITE lease's start plus write_lease_timeout_seconds (the
 * instance's own, else the host's); -1 when it holds none, is idle, or runs
 * in process (no table to read).
 */
int64_t slot_write_deadline_ms(const instance_slot *s, const slot_policy *p);

/* The instance's poll deadline, in ms. */
int64_t slot_poll_timeout_ms(const instance_slot *s, const slot_policy *p);
/* Leases its worker holds right now (from the held-sites table); 0 without a worker. */
int slot_leases_held(const instance_slot *s);

#endif
