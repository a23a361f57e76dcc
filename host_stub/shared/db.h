/*
 * db: the one interface between the host and a database engine (the model is
 * APR's apr_dbd: one driver per engine behind one set of calls). The pool,
 * the outbox, the migrations, the health check and the plugins' statement
 * API go through it; only db_sqlite.c and db_pg.c name an engine.
 *
 * A connection belongs to one thread at a time (the pool's lease gives it);
 * nothing here locks. Statements are the connection's: prepared once per
 * connection, keyed by their SQL, reset when a lease ends, freed with the
 * connection. Callers never free one.
 *
 * SQL that runs on both: '?' or '?N' placeholders (N from 1), standard
 * DML, and CREATE TABLE IF NOT EXISTS with the types docs/ABI.md lists.
 *
 * Statuses are pa_status values: PA_ERR_DB for an engine's refusal,
 * PA_ERR_CONSTRAINT for a violated constraint on either engine.
 */
#ifndef SHARED_DB_H
#define SHARED_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pa_plugin.h"

typedef enum db_kind { DB_SQLITE = 1, DB_POSTGRES = 2 } db_kind;

/* What a column holds (the ABI's pa_value_type, same numbers). */
typedef enum db_type {
    DB_NULL = 0,
    DB_INTEGER = 1,
    DB_FLOAT = 2,
    DB_TEXT = 3,
    DB_BLOB = 4
} db_type;

typedef struct db_conn db_conn;
typedef struct db_stmt db_stmt;

/*
 * The pool's say over who may use a SQLite handle it lent out: allows() runs
 * on every statement prepared on the raw handle, and denied() is told of a
 * refusal. Both NULL: anyone may. A statement that would change one of the
 * host's tables (pa_*: write it, or create, drop or alter it or a trigger,
 * view or index on it) is refused besides unless host_sql() says the host
 * itself is running it; host_sql NULL: the host's tables are open to all.
 * refused() is told which table and which action ("SQLite action 18").
 *
 * PostgreSQL has no authorizer: there a session marked plugin_session is
 * refused by the host tables' own trigger (task_store.c, schema version 4),
 * and refused() is told of each refusal a statement through this API meets.
 * allows, denied and host_sql are SQLite's alone.
 */
typedef struct db_guard {
    bool (*allows)(void *arg);
    void (*denied)(void *arg);
    bool (*host_sql)(void *arg);
    void (*refused)(void *arg, const char *table, const char *action);
    void *arg;
} db_guard;

typedef struct db_settings {
    db_kind kind;
    const char *location;         /* SQLite: the file; PostgreSQL: a libpq URI or conninfo */
    const char *application_name; /* PostgreSQL: shown in pg_stat_activity; may be NULL */
    int busy_timeout_ms;          /* SQLite: how long to wait on a locked file */
    int connect_timeout_s;        /* PostgreSQL: connecting, at most (>= 2, libpq's minimum) */
    int statement_timeout_ms;     /* PostgreSQL: one statement, at most; 0 = the server's */
    bool plugin_session;          /* PostgreSQL: lent to a plugin (pa.plugin_session = on) */
    db_guard guard;
} db_settings;

/* "SQLite" or "PostgreSQL". */
const char *db_kind_name(db_kind kind);
/* One line per engine: the library in use and the one built against. */
void db_engine_versions(char *out, size_t out_size);

/* Opens one connection. PA_OK, or PA_ERR_DB with one line in err (no password). */
int db_open(const db_settings *settings, db_conn **out, char *err, size_t err_size);
/* Frees its statements and closes it; NULL is a no-op. */
void db_close(db_conn *c);
db_kind db_conn_kind(const db_conn *c);

/*
 * A lease starts on c: a WRITE lease opens a transaction (SQLite: BEGIN
 * IMMEDIATE; PostgreSQL: BEGIN), a READ lease runs in autocommit. On
 * PostgreSQL a connection found broken here, or at the first statement of a
 * lease that has done nothing yet, is reconnected and the call retried once:
 * nothing can have happened twice. After that, a broken connection fails.
 */
int db_lease_begin(db_conn *c, pa_lease_mode mode, char *err, size_t err_size);
/*
 * The same, waiting at most lock_wait_ms for a lock another connection holds
 * (SQLite's write lock; PostgreSQL's BEGIN takes none): PA_ERR_TIMEOUT when
 * it stayed held.
 */
int db_lease_begin_within(db_conn *c, pa_lease_mode mode, int lock_wait_ms, char *err,
                          size_t err_size);

/* What db_lease_end cleaned up after the holder (for the pool's log). */
typedef struct db_cleanup {
    unsigned statements_reset;     /* SQLite: active statements of the holder's own, reset */
    unsigned statements_finalized; /* SQLite: unfinalized statements of the holder's own */
    bool rolled_back_open;         /* an open transaction was rolled back (commit not asked) */
    bool commit_failed;
} db_cleanup;

/*
 * Ends the lease: commits when commit is true and a transaction is open,
 * else rolls back whatever is open; resets the statements it used and undoes
 * what the holder may have set on a raw handle. PA_OK, or PA_ERR_DB (err
 * set) for a failed COMMIT, rolled back.
 */
int db_lease_end(db_conn *c, bool commit, db_cleanup *cleanup, char *err, size_t err_size);

/*
 * The connection should be closed rather than lent again: a fatal engine
 * error (SQLite: corrupt, I/O; PostgreSQL: the connection broke). why says
 * which, for the log.
 */
bool db_conn_unusable(db_conn *c, char *why, size_t why_size);

/*
 * Is the database sound enough to use? SQLite: PRAGMA quick_check (a damaged
 * file is refused, err says how to recover it); PostgreSQL: a round trip.
 */
int db_check(db_conn *c, char *err, size_t err_size);

/* Runs sql (one or more statements, no parameters). PA_OK or a status with err set. */
int db_exec(db_conn *c, const char *sql, char *err, size_t err_size);

/* The cached statement for sql, prepared on first use. NULL with *status and err set. */
db_stmt *db_prepare(db_conn *c, const char *sql, int *status, char *err, size_t err_size);
/* True when st is one of c's statements (compared, never followed). */
bool db_cache_holds(const db_conn *c, const db_stmt *st);
/* The connection a statement belongs to. */
db_conn *db_stmt_conn(const db_stmt *st);

/* Binds, index from 1. PA_OK, or PA_ERR_INVALID (index out of range), PA_ERR_NOMEM. */
int db_bind_null(db_stmt *st, int index);
int db_bind_int64(db_stmt *st, int index, int64_t v);
int db_bind_double(db_stmt *st, int index, double v);
/* len < 0: up to the NUL. The text is copied. */
int db_bind_text(db_stmt *st, int index, const char *text, int64_t len);
int db_bind_blob(db_stmt *st, int index, const void *data, size_t len);
/*
 * A point in time, microseconds since the epoch, UTC. SQLite stores
 * SQLAlchemy's text "YYYY-MM-DD HH:MM:SS.ffffff"; PostgreSQL a timestamptz.
 */
int db_bind_time(db_stmt *st, int index, int64_t utc_us);

/*
 * Runs the statement, or moves to its next row. *row: a row is there to read.
 * Stepping again after the last row runs the statement again. PA_OK, or
 * PA_ERR_DB / PA_ERR_CONSTRAINT / PA_ERR_TIMEOUT (statement_timeout) with err.
 */
int db_step(db_stmt *st, bool *row, char *err, size_t err_size);
/* Rows the last run inserted, updated or deleted. */
int64_t db_changes(const db_stmt *st);

/* Columns of the current row, index from 0. Out of range reads as NULL. */
int db_column_count(const db_stmt *st);
db_type db_column_type(const db_stmt *st, int i);
int64_t db_column_int64(const db_stmt *st, int i);
double db_column_double(const db_stmt *st, int i);
/* Valid until the next step or reset of st; *len may be NULL. NULL for SQL NULL. */
const char *db_column_text(const db_stmt *st, int i, size_t *len);
const void *db_column_blob(const db_stmt *st, int i, size_t *len);
/* PA_OK with *utc_us, or PA_ERR_INVALID when the value is not a time. */
int db_column_time(const db_stmt *st, int i, int64_t *utc_us);

/*
 * The engine's code for the last failure on c: a SQLSTATE ("23505") on
 * PostgreSQL, SQLite's extended result code in decimal ("2067"); "" when the
 * last call succeeded.
 */
const char *db_error_code(const db_conn *c);

/* Raw handles, the plugins' escape hatches: NULL on the other engine. */
struct sqlite3 *db_sqlite_handle(db_conn *c);
struct pg_conn *db_pg_handle(db_conn *c);
/* The holder had a raw handle: db_lease_end must undo what it may have set. */
void db_mark_exposed(db_conn *c);

/*
 * The SQLite statement behind st, for the ABI 1.2 prepare_cached call (NULL
 * on PostgreSQL).
 */
struct sqlite3_stmt *db_stmt_sqlite(db_stmt *st);

/* Formats utc_us as SQLAlchemy's naive UTC text: "YYYY-MM-DD HH:MM:SS.ffffff". */
void db_format_time(int64_t utc_us, char *out, size_t out_size);
/*
 * Parses "YYYY-MM-DD[ T]HH:MM:SS[.f{1,6}][Z|+HH[:MM]|-HH[:MM]]" (no offset:
 * UTC). 0 and *utc_us, or -1.
 */
int db_parse_time(const char *text, size_t len, int64_t *utc_us);

#endif
