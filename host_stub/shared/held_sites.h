/*
 * Which leases a worker holds, and where each was borrowed: a small table in
 * shared memory (a memfd both processes map), written by the worker's host API
 * on lease and release, read by the supervisor after it killed the worker for
 * a missed deadline. A hung worker cannot be asked; this needs no asking.
 *
 * Costs one uncontended mutex and two short copies per lease and release. A
 * worker that corrupts the table (it is in the plugin's address space) can
 * only garble the supervisor's log line: the reader bounds every string.
 */
#ifndef SHARED_HELD_SITES_H
#define SHARED_HELD_SITES_H

#include <stddef.h>
#include <stdint.h>

#include "pa_plugin.h"

#define HELD_SITES_MAX 32

typedef struct held_entry {
    uint64_t lease_id; /* 0: free */
    int32_t mode;      /* pa_lease_mode */
    int32_t line;
    int64_t since_ms; /* CLOCK_MONOTONIC (coarse), in ms */
    char file[120];   /* copied, not formatted: a lease stays cheap */
    char func[56];
} held_entry;

typedef struct held_table {
    held_entry entries[HELD_SITES_MAX];
} held_table;

/* Supervisor: a new zeroed table; *fd_out is the memfd to hand to the worker. NULL on failure. */
held_table *held_create(int *fd_out);
/* Worker: maps the table behind fd (which it may then close). NULL on failure. */
held_table *held_attach(int fd);
void held_unmap(held_table *t);

/* Worker side; t may be NULL (in-process mode), then they do nothing. Thread-safe. */
void held_add(held_table *t, pa_lease lease, pa_lease_mode mode, const char *file, int line,
              const char *func);
void held_remove(held_table *t, pa_lease lease);
void held_clear(held_table *t);

/* Supervisor side: how many leases the table shows held right now. */
int held_count(const held_table *t);
/*
 * Supervisor side: since when (the table's clock: CLOCK_MONOTONIC, in ms) the
 * oldest lease of mode has been held; -1 when none is, or t is NULL. Read
 * without the worker's lock: a torn read can only move a deadline by one check.
 */
int64_t held_oldest_since(const held_table *t, pa_lease_mode mode);

/*
 * Supervisor side: "WRITE lease from a.c:12 (poll) for 2.0 s, READ lease
 * from ..." or "no lease" into buf. now_ms is clock_mono_ns() / 1e6.
 */
void held_describe(const held_table *t, int64_t now_ms, char *buf, size_t size);

#endif
