/*
 * stmt_cache: the prepared statements of one pooled connection, keyed by
 * their SQL text (the pool's prepare_cached). A statement is prepared the
 * first time a lease asks for it, reset with its bindings cleared when that
 * lease ends, and finalized, least recently used first, when the cache is
 * full or the connection closes. Statements handed out during the current
 * lease are never evicted. Callers never finalize them.
 *
 * Not locked: a cache belongs to one connection, and a lease gives that
 * connection to one thread at a time (see pool.c).
 */
#ifndef HOST_STMT_CACHE_H
#define HOST_STMT_CACHE_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STMT_CACHE_SIZE 16

typedef struct stmt_cache_entry {
    char *sql;
    sqlite3_stmt *stmt;
    uint64_t last_used;
    bool touched; /* handed out during the current lease */
} stmt_cache_entry;

/* Zero-initialised is empty. */
typedef struct stmt_cache {
    stmt_cache_entry entries[STMT_CACHE_SIZE];
    bool touched;  /* some entry was handed out in this lease */
    uint64_t tick; /* for least-recently-used eviction */
} stmt_cache;

/*
 * The statement for sql on db, prepared (SQLITE_PREPARE_PERSISTENT) if not
 * cached yet. NULL with err set ("prepare_cached: " and SQLite's message,
 * "out of memory", or "more than 16 cached statements in one lease").
 */
sqlite3_stmt *stmt_cache_get(stmt_cache *c, sqlite3 *db, const char *sql, char *err,
                             size_t err_size);
/* True when stmt is one of the cache's (so the pool must not finalize it). */
bool stmt_cache_holds(const stmt_cache *c, const sqlite3_stmt *stmt);
/* Resets what the ending lease used, bindings cleared, so the next borrower starts clean. */
void stmt_cache_end_lease(stmt_cache *c);
/* Finalizes every statement; the cache is empty again (before its connection closes). */
void stmt_cache_clear(stmt_cache *c);

#endif
