/*
 * The supervisor's state, shared by the files that make up its one run:
 * supervisor.c (set-up and tear-down), run_loop.c (the loop), stats.c and
 * check_config.c. Private to the supervisor.
 */
#ifndef SUPERVISOR_HOST_H
#define SUPERVISOR_HOST_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "control.h"
#include "db_url.h"
#include "db_watch.h"
#include "loader.h"
#include "options.h"
#include "pool.h"
#include "registry.h"
#include "task_output.h"
#include "watcher.h"
#include "worker_proc.h"

typedef struct host {
    options opt;
    host_config cfg;
    db_target db; /* the database served: --db, host.json, PA_DATABASE__URL, ./agent.db */
    loader *loader;
    watcher *watcher;
    registry reg;
    pool *pool; /* the supervisor's own: schema, outbox moves, health checks; never a plugin's */
    pool_owner self;
    int signal_fd;
    bool stop;
    bool undelivered;    /* the last outbox round failed: items may sit in pa_outbox */
    task_output *output; /* the task lines' queue to stdout; NULL: out of memory, not printed */
    bool outbox_more;    /* the last outbox round ran out of its budget with rows left */
    uint64_t outbox_rejected; /* outbox rows set aside in pa_outbox_rejected by this run */
    bool reload_config;       /* SIGHUP: apply host.json anew at the next poll boundary */
    int db_lock_fd;           /* the one-host-per-database lock, or -1 */
    bool damaged;   /* a periodic quick_check found the database damaged, or it was deleted */
    db_watch watch; /* the SQLite file and -wal, checked each turn of the loop */
    char exe[4096]; /* this binary, started again as each worker process */
    worker_settings workers;
    int64_t memory_check_ns;      /* when busy workers' memory is next checked */
    int64_t idle_memory_check_ns; /* when the memory of workers between polls is */
    int64_t polls_ended_ns;       /* when the first poll since the last outbox round ended */
    bool child_ended;             /* SIGCHLD came: a worker, or an orphan, has ended */
    int64_t orphan_sweep_ns;      /* when adopted orphans are next looked for */
    int64_t started_ms;           /* host clock, when the host started */
    control *control;             /* the control socket; NULL: none (--control none, or held) */
    struct commands *commands;    /* control requests answered later (control_commands.c) */
    char status_line[200];        /* the last STATUS= sent to the service manager */
} host;

/*
 * Chooses the database (db_url_choose) into h->db. 0, or EXIT_CONFIG with
 * the reason in err: a malformed URL, an unknown scheme, or PostgreSQL,
 * which this host does not serve yet.
 */
int host_choose_database(host *h, char *err, size_t err_size);
/* The slot policy host.json and the command line give. */
slot_policy host_policy(const host *h);
/* How workers start, on db_path: processes of this binary, or threads running in_process. */
int host_setup_workers(host *h, db_kind kind, const char *db_path, worker_entry_fn in_process);
/* Logs each configured plugin without a file; EXIT_CONFIG unless --watch. */
int host_check_plugins_exist(host *h);

/* The loop: polls, outbox rounds, signals, reloads, until a stop or --polls N rounds. */
void run_loop(host *h);
/*
 * The instances whose status changed since the last call, into pa_instances,
 * waiting at most lock_wait_ms for the lock. Nothing without a pool.
 */
void host_record_status(host *h, int lock_wait_ms);
/* SIGUSR1 and --stats: the host's pool, each worker's, each plugin and instance, the process. */
void print_stats(host *h);
/* --check-config: exits 0 or EXIT_CONFIG. */
int check_config(host *h, worker_entry_fn in_process);

#endif
