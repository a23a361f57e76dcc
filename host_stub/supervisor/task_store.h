/*
 * The host's tables and the move of emitted items into tasks: each pa_outbox
 * row (written by a worker's emit, worker/emit.c, in the plugin's own
 * transaction) becomes exactly one row of pa_tasks, printed as one JSON line
 * (docs/TASKS.md).
 *
 * The host owns only tables named pa_*, versioned in pa_schema; it never
 * alters a table it did not create, so it shares a database with the agent
 * (whose own tasks table is left alone).
 */
#ifndef SUPERVISOR_TASK_STORE_H
#define SUPERVISOR_TASK_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "pa_plugin.h"
#include "pool.h"

/*
 * Brings the host's tables (pa_schema, pa_outbox, pa_tasks) to the current
 * version in one transaction; moves an earlier host's outbox and tasks tables
 * (recognised by their columns) into them once. PA_ERR_DB with a message when
 * the database is newer than this host or a step fails (nothing is changed).
 */
int task_store_migrate(pool *p, pool_owner *host, char *err, size_t err_size);

/* Where new tasks' lines go, each once its transaction has committed. */
typedef struct task_sink {
    void (*line)(void *arg, const char *line, size_t len);
    void *arg;
} task_sink;

/* One outbox round: its bounds, then what it did. */
typedef struct task_round {
    int64_t now_ms;        /* the tasks' created_at */
    int lock_wait_ms;      /* each transaction waits this long for the lock; < 0: the pool's */
    int64_t budget_ms;     /* no new batch starts after this long; < 0: until the outbox is empty */
    const task_sink *sink; /* NULL: not printed (they are in pa_tasks all the same) */
    /* Told of each row set aside, by its plugin and instance; NULL: not told. */
    void (*set_aside)(void *arg, const char *plugin, const char *instance);
    void *set_aside_arg;
    size_t consumed; /* out: tasks made */
    size_t rejected; /* out: rows set aside in pa_outbox_rejected */
    bool more;       /* out: the budget ran out with rows left */
} task_round;

/*
 * Moves pending outbox rows into pa_tasks, one statement per batch of 256
 * in one WRITE transaction each, and hands each new task's line to the sink.
 * A batch that fails is retried row by row; a row that cannot become a task
 * alone (a NOT NULL column missing, JSON that does not parse) is set aside
 * in pa_outbox_rejected with the engine's error and logged, and the rest
 * flows. PA_ERR_TIMEOUT when a poll held the lock past lock_wait_ms (nothing
 * lost: the next round moves it); another error when the database failed.
 */
int task_store_consume(pool *p, pool_owner *host, task_round *r, char *err, size_t err_size);

/* One instance's status as pa_instances keeps it (docs/TASKS.md). */
typedef struct instance_status {
    const char *plugin;
    const char *instance;
    bool running;
    int64_t last_success_ms; /* host clock; 0: never */
    int64_t last_failure_ms; /* host clock; 0: never */
    const char *last_error;  /* NULL or "": none */
    int64_t failures;        /* consecutive */
} instance_status;

/*
 * Writes n instances' status into pa_instances in one WRITE lease, waiting
 * at most lock_wait_ms (< 0: the pool's lease timeout) for the lock
 * (PA_ERR_TIMEOUT: nothing written; the next round writes it).
 */
int task_store_record_status(pool *p, pool_owner *host, int64_t now_ms, int lock_wait_ms,
                             const instance_status *rows, size_t n, char *err, size_t err_size);

#endif
