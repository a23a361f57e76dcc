/*
 * The supervisor's handle on one worker (docs/ARCHITECTURE.md): starting it
 * as a process ("host_stub --worker") or, with "isolation": "none", on a
 * thread of this process; the channel's request/reply steps (channel.h);
 * the worker's output and log lines; deadlines; and telling how it ended.
 * Both kinds speak the same channel, so the rest of the supervisor does not
 * know which it has, except that a thread cannot be killed.
 *
 * Every wait is bounded; a worker that sends anything malformed, closes its
 * channel or stops answering is killed (SIGKILL) and reaped, never waited on
 * without a deadline; a thread that does is left to end on its own.
 * Single-threaded: call from the supervisor's loop only.
 */
#ifndef SUPERVISOR_WORKER_PROC_H
#define SUPERVISOR_WORKER_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "held_sites.h"
#include "proc_tree.h"
#include "ipc.h"
#include "db.h"
#include "loader.h"
#include "worker_args.h"

typedef struct worker_settings {
    const char *exe; /* this host_stub binary, by its real path */
    db_kind db_kind;
    const char *db_path;
    int pool_size, lease_timeout_ms, busy_timeout_ms;
    int connect_timeout_s, statement_timeout_ms; /* PostgreSQL */
    int64_t pool_idle_ms;
    int64_t max_lifetime_ms;
    int64_t start_timeout_ms; /* HELLO and INIT_DONE must come within this */
    worker_entry_fn
        in_process;       /* non-NULL: workers are threads running this ("isolation": "none") */
    pa_run_mode run_mode; /* serve, --check-config, --dry-run: told to each worker in INIT */
    /* A dry run: each item a worker would have emitted (its JSON), to the task stream. */
    void (*echo_item)(void *arg, const char *json, size_t len);
    void *echo_item_arg;
} worker_settings;

/* Where a worker is in its start; a launched one passes through all three. */
typedef enum worker_stage {
    WORKER_AWAITING_HELLO, /* launched: spawned, INIT queued */
    WORKER_AWAITING_INIT,  /* HELLO came; the plugin's init runs */
    WORKER_READY           /* INIT_DONE came with PA_OK: it takes polls */
} worker_stage;

typedef struct worker_thread worker_thread;

typedef struct worker_proc {
    pid_t pid;             /* a process; -1 once reaped, or for a thread */
    worker_thread *thread; /* a thread ("isolation": "none"); NULL once reaped */
    worker_stage stage;
    int channel;              /* -1 once closed */
    int output;               /* the worker's stdout and stderr; -1 at end of file */
    held_table *held;         /* shared borrow-site table */
    char source[256];         /* log source of its lines, "plugin NAME/ID" */
    char last_line[512];      /* the last line it logged or printed, for a death notice */
    const char *gone_why;     /* why worker_read said WORKER_GONE (static text) */
    plugin_description hello; /* what its HELLO said */
    char partial[1024];       /* an output line still without its newline */
    size_t partial_len;
    char pool_stats[WORKER_STATS_MAX]; /* its pool's counters, as of its last reply */
    int64_t longest_hold_ns;           /* its instance's longest lease, as of its last reply */
    bool shutdown_sent;                /* SHUTDOWN is on its way: its next message is BYE */
    int64_t poll_nonce;                /* the poll under way's, which its POLL_DONE gives back */
    int64_t lines_window_ms;           /* when its current rate-limit window began */
    unsigned lines_in_window;          /* log and output lines logged in that window */
    uint64_t lines_suppressed;         /* and not logged, over LINE_BURST */
    void (*echo_item)(void *arg, const char *json, size_t len); /* a dry run's (worker_settings) */
    void *echo_item_arg;
    ipc_msg in; /* its messages' reader over buf, kept between reads (a frame may come in parts) */
    unsigned char buf[IPC_MAX_MESSAGE];
} worker_proc;

typedef struct worker_poll_result {
    int rc;
    char message[1200];
    int64_t not_before_ms;
    uint64_t items, http_requests;
} worker_poll_result;

/*
 * True when the worker's process has ended (it is left unreaped for
 * worker_kill, which describes how): a crash seen at SIGCHLD, not only when
 * its channel closes, which a child holding the channel delays.
 */
bool worker_ended(const worker_proc *w);
/*
 * Kills and reaps every child of this process that is not a live worker:
 * with the supervisor a subreaper, the processes plugins started whose
 * parent ended. Returns how many were found. Processes only ("isolation":
 * "none" runs plugins' children as the supervisor's own).
 */
size_t worker_reap_orphans(void);

/* Loader describer (loader_set_describer; userdata is a worker_settings). */
int worker_describe(void *settings, const char *private_path, const char *path, const char *name,
                    plugin_description *out, char *err, size_t err_size);

/*
 * Starts a worker for pl and brings instance ic up in it: worker_launch,
 * then the same start steps worker_read takes, waited for here (HELLO
 * within start_timeout_ms, INIT_DONE within the instance's poll timeout, a
 * SIGTERM cutting either short). On failure err says why and *out is NULL;
 * the worker is gone.
 */
int worker_start(const worker_settings *ws, const loaded_plugin *pl, const instance_config *ic,
                 const char *source, worker_proc **out, char *err, size_t err_size);

/*
 * Starts a worker for pl and queues INIT for instance ic without waiting:
 * worker_read reports WORKER_STARTED or WORKER_START_FAILED later. A POLL
 * may be sent at once; the worker takes it after its init. On failure err
 * says why and *out is NULL; the process is gone.
 */
int worker_launch(const worker_settings *ws, const loaded_plugin *pl, const instance_config *ic,
                  const char *source, worker_proc **out, char *err, size_t err_size);

/* Asks for one poll; the reply comes through worker_read. -1 when the channel is broken. */
int worker_send_poll(worker_proc *w);

typedef enum worker_event {
    WORKER_NOTHING,
    WORKER_POLL_DONE,
    WORKER_STARTED,      /* a launched worker's init succeeded */
    WORKER_START_FAILED, /* its plugin was refused or its init failed: res->message says how */
    WORKER_GONE
} worker_event;
/*
 * Takes what the channel holds without blocking: log lines are logged under
 * the worker's source; a poll's reply fills *res and returns WORKER_POLL_DONE
 * (call again for more); a launched worker's start is reported as
 * WORKER_STARTED or WORKER_START_FAILED; an ended or broken channel, or a
 * message out of turn, returns WORKER_GONE.
 */
worker_event worker_read(worker_proc *w, worker_poll_result *res);
/* Logs the complete lines waiting on the worker's output, without blocking. */
void worker_read_output(worker_proc *w);

/*
 * Kills (SIGKILL) and reaps the worker, logs what is left of its output and
 * writes how it ended into how ("killed by signal 9 (Killed)", "exited with
 * status 3"). A thread is told to end by closing the channel and, if it has
 * not ended within 100 ms (a hung plugin), left to end on its own. The
 * handle stays valid for held and last_line until freed.
 */
void worker_kill(worker_proc *w, char *how, size_t how_size);

/* "pid 123" for a process, "in process" for a thread: for log lines. */
void worker_where(const worker_proc *w, char *buf, size_t size);

/*
 * The resident memory of the worker and every process it started
 * (proc_tree.h) into *out: 0, or -1 when it cannot be read or the worker is
 * a thread.
 */
int worker_memory(const worker_proc *w, proc_tree_usage *out);

/* Orderly end: SHUTDOWN now (worker_stop_begin), then wait until deadline_ns (monotonic). */
void worker_stop_begin(worker_proc *w);
/* Waits for the worker to finish its shutdown and exit; kills it at deadline_ns. */
void worker_stop_finish(worker_proc *w, int64_t deadline_ns);
/* Releases the handle (the process must be reaped: worker_kill or worker_stop_finish). */
void worker_free(worker_proc *w);

#endif
