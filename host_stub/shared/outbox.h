/*
 * The outbox (items emitted by plugins, written in the plugin's own
 * transaction) and its consumer, which turns each outbox row into exactly
 * one row of pa_tasks and prints it as one JSON line (docs/TASKS.md).
 *
 * The host owns only tables named pa_*, versioned in pa_schema; it never
 * alters a table it did not create, so it shares a database with the agent
 * (whose own tasks table is left alone).
 */
#ifndef HOST_OUTBOX_H
#define HOST_OUTBOX_H

#include <stdio.h>

#include "pa_plugin.h"
#include "pool.h"

/*
 * Brings the host's tables (pa_schema, pa_outbox, pa_tasks) to the current
 * version in one transaction; moves an earlier host's outbox and tasks tables
 * (recognised by their columns) into them once. PA_ERR_DB with a message when
 * the database is newer than this host or a step fails (nothing is changed).
 */
int outbox_create_schema(pool *p, pool_owner *host, char *err, size_t err_size);

/* Validates item and inserts its outbox row on the lease's connection, in its transaction. */
int outbox_insert(pool *p, pool_owner *owner, pa_lease lease, const char *plugin,
                  const char *instance, const pa_item *item, int64_t now_ms, char *err,
                  size_t err_size);

/*
 * Moves every pending outbox row into pa_tasks (one statement per batch of
 * 256, in one WRITE transaction each), then prints the new tasks to out
 * (NULL: not printed; they are in pa_tasks all the same).
 * *consumed receives the number of tasks made.
 */
int outbox_consume(pool *p, pool_owner *host, int64_t now_ms, FILE *out, size_t *consumed,
                   char *err, size_t err_size);

/* Formats ms since the epoch as ISO 8601 UTC ("2026-02-12T20:30:00Z"). */
void format_iso8601(int64_t ms, char *buf, size_t size);

#endif
