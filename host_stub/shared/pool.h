/*
 * The lease pool (docs/ABI.md, "Leases"): a bounded set of connections to
 * one database (SQLite or PostgreSQL, through db.h), lent out for one
 * operation at a time.
 * Both sides have one: each worker lends to its plugin, the supervisor
 * borrows for its own work (schema, outbox moves, health checks).
 *
 * Thread-safe. A lease is owned by the thread that took it until released.
 */
#ifndef SHARED_POOL_H
#define SHARED_POOL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <sqlite3.h>

#include "db.h"
#include "pa_plugin.h"

typedef struct pool pool;

/* Who borrowed: a plugin instance (or the host itself). Owned by the caller. */
typedef struct pool_owner {
    const char *plugin;
    const char *instance;
    int64_t longest_hold_ns; /* updated by the pool under its lock */
} pool_owner;

typedef struct pool_site {
    const char *file;
    int line;
    const char *func;
} pool_site;

#define POOL_HERE ((pool_site){__FILE__, __LINE__, __func__})

typedef struct pool_config {
    db_kind kind;                 /* 0: SQLite */
    const char *path;             /* SQLite: the file; PostgreSQL: the libpq URI or conninfo */
    const char *application_name; /* PostgreSQL: host_stub/<plugin>/<instance>; may be NULL */
    int connect_timeout_s;        /* PostgreSQL */
    int statement_timeout_ms;     /* PostgreSQL; 0: the server's */
    bool lent_to_plugins;    /* PostgreSQL: sessions a plugin uses (db_settings.plugin_session) */
    bool rollback_writes;    /* a dry run: every WRITE lease ends in ROLLBACK, whatever is asked */
    int size;                /* max connections, >= 1 */
    int lease_timeout_ms;    /* used for PA_LEASE_DEFAULT_TIMEOUT */
    int busy_timeout_ms;     /* sqlite3_busy_timeout */
    int64_t max_lifetime_ms; /* 0 = unlimited; up to 10% jitter below */
    int64_t (*now_ms)(void); /* clock for lifetimes; NULL = monotonic */
} pool_config;

typedef struct pool_stats {
    int size;
    int open_connections;
    int in_use;
    int peak_in_use;
    int waiters;
    uint64_t leases_read;
    uint64_t leases_write;
    uint64_t waits;         /* leases that had to queue */
    uint64_t wait_ns_total; /* time spent queued, granted or not */
    uint64_t wait_ns_max;
    uint64_t timeouts;
    uint64_t reclaims;             /* unreleased leases taken back */
    uint64_t host_table_refusals;  /* plugin statements refused for changing a pa_* table */
    uint64_t rollbacks_on_release; /* transactions left open, rolled back */
    uint64_t statements_reset;     /* active statements reset at release */
    uint64_t statements_finalized; /* unfinalized statements at release */
    uint64_t stale_uses;           /* double release, use after release */
    uint64_t commit_failures;
    uint64_t connections_opened;
    uint64_t retired_lifetime;
    uint64_t retired_fatal;
    uint64_t retired_idle; /* closed by pool_close_idle */
} pool_stats;

/* Returns PA_OK or PA_ERR_INVALID with err filled. Connections open lazily. */
int pool_open(const pool_config *config, pool **out, char *err, size_t err_size);
/* Closes every connection; leases still out are rolled back and logged. */
void pool_close(pool *p);

/*
 * timeout_ms < 0 means the configured default. On failure err holds one line
 * naming the cause and, for a timeout, the pool state and current holders.
 */
int pool_lease(pool *p, pool_owner *owner, pa_lease_mode mode, int timeout_ms, pool_site site,
               pa_lease *out, char *err, size_t err_size);
/*
 * pool_lease for the host's own work while plugins may hold the database:
 * waits at most lock_wait_ms for the database's lock (SQLite's write lock),
 * then PA_ERR_TIMEOUT, so a plugin hung inside its WRITE lease cannot hold
 * the caller for the connection's whole busy timeout.
 */
int pool_lease_briefly(pool *p, pool_owner *owner, pa_lease_mode mode, int lock_wait_ms,
                       pool_site site, pa_lease *out, char *err, size_t err_size);

/*
 * Declares whose code runs on this thread from now on (a plugin instance's
 * entry point, or NULL for the host's own); returns the previous one, to
 * restore. The authorizer refuses a leased connection to code of any other
 * owner, and to any thread but the one that holds the lease, so a handle
 * kept past its release never runs inside someone else's transaction.
 */
const pool_owner *pool_run_as(const pool_owner *owner);

/*
 * The raw handle of a live lease: NULL (logged at site) when the lease is not
 * live for this owner, or NULL unlogged when the database is the other engine.
 */
sqlite3 *pool_lease_db(pool *p, pool_owner *owner, pa_lease lease, pool_site site);
struct pg_conn *pool_lease_pg(pool *p, pool_owner *owner, pa_lease lease, pool_site site);
db_kind pool_kind(const pool *p);
/* The connection of a live lease of owner's (the host's own work), or NULL. */
db_conn *pool_conn(pool *p, pool_owner *owner, pa_lease lease);

/*
 * The cached statement for sql on a live lease's connection, in mode need (0:
 * any). NULL with *status set: PA_ERR_STALE_LEASE (not live), PA_ERR_INVALID
 * (another mode: err says "got a READ lease"; no SQL; the 17th statement),
 * PA_ERR_DB (the engine refused the SQL).
 */
db_stmt *pool_prepare(pool *p, pool_owner *owner, pa_lease lease, pa_lease_mode need,
                      const char *sql, int *status, char *err, size_t err_size);
/*
 * True when st is a statement of a connection that owner holds a lease on,
 * and this thread is the holder's: a plugin's statement pointer is checked
 * here before it is followed.
 */
bool pool_stmt_usable(pool *p, const pool_owner *owner, const db_stmt *st);
/*
 * prepare_cached (ABI 1.2): the SQLite statement of pool_prepare, the handle
 * marked exposed. NULL with err set; always NULL on PostgreSQL.
 */
sqlite3_stmt *pool_cached_stmt(pool *p, pool_owner *owner, pa_lease lease, const char *sql,
                               char *err, size_t err_size);

/* The mode of a live lease, or 0. */
pa_lease_mode pool_lease_mode(pool *p, pool_owner *owner, pa_lease lease);
int pool_release(pool *p, pool_owner *owner, pa_lease lease, pa_release_action action,
                 pool_site site, char *err, size_t err_size);
/*
 * Roll back and take back every lease owner still holds; phase ("poll",
 * "init", "shutdown") goes into the log line. Returns the number reclaimed.
 */
int pool_reclaim(pool *p, pool_owner *owner, const char *phase);

/*
 * Closes the connections nobody has leased for idle_ms or more (0: none), so
 * a server keeps no backend for a host between polls. Returns how many.
 */
int pool_close_idle(pool *p, int64_t idle_ms);
/* Milliseconds until pool_close_idle(p, idle_ms) would close a connection, or -1: none is idle. */
int64_t pool_idle_due_ms(pool *p, int64_t idle_ms);

void pool_get_stats(pool *p, pool_stats *out);
int64_t pool_owner_longest_hold_ns(pool *p, const pool_owner *owner);
void pool_print_stats(pool *p, FILE *out);
/* Leases owner holds right now. */
int pool_owner_leases(pool *p, const pool_owner *owner);

#endif
