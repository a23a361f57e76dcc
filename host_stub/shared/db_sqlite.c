/*
 * The SQLite driver of db.h: one sqlite3 connection in WAL mode, a WRITE
 * lease as BEGIN IMMEDIATE, and the guards a raw handle needs once a plugin
 * has had it (an authorizer that refuses anyone but the lease's holder, and
 * any plugin statement that changes the host's tables; the callbacks it may
 * have set, undone when the lease ends).
 */
#include "db_driver.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

typedef struct sqlite_conn {
    db_conn base;
    sqlite3 *db;
    char *path;
    int busy_timeout_ms;
    db_guard guard;
    sqlite3_stmt *begin_stmt;
    sqlite3_stmt *commit_stmt;
    sqlite3_stmt *rollback_stmt;
    int fatal_code; /* the first fatal error seen, 0 if none */
} sqlite_conn;

typedef struct sqlite_stmt {
    db_stmt base;
    sqlite3_stmt *st;
    int64_t changes;
} sqlite_stmt;

static sqlite_conn *conn_of(db_conn *c)
{
    return (sqlite_conn *)c;
}

static sqlite3_stmt *stmt_of(const db_stmt *st)
{
    return ((const sqlite_stmt *)st)->st;
}

static bool is_fatal(int code)
{
    switch (code & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_NOMEM:
        return true;
    default:
        return false;
    }
}

/* Remembers a fatal error and the code of any failure; returns the status for code. */
static int note_result(sqlite_conn *s, int code)
{
    if (code == SQLITE_OK || code == SQLITE_DONE || code == SQLITE_ROW) {
        db_set_code(&s->base, NULL);
        return PA_OK;
    }
    int extended = sqlite3_extended_errcode(s->db);
    char text[16];
    snprintf(text, sizeof text, "%d", extended ? extended : code);
    db_set_code(&s->base, text);
    if (is_fatal(code) && !s->fatal_code)
        s->fatal_code = code;
    return (code & 0xff) == SQLITE_CONSTRAINT ? PA_ERR_CONSTRAINT : PA_ERR_DB;
}

/*
 * The host's table (pa_*) that action would change, or hang a trigger, view
 * or index on, or shadow with a temporary one; NULL for any other action.
 * Which argument names the table is SQLite's "Authorizer Action Codes".
 */
static const char *host_table_changed(int action, const char *a, const char *b)
{
    const char *table;
    switch (action) {
    case SQLITE_INSERT:
    case SQLITE_UPDATE:
    case SQLITE_DELETE:
    case SQLITE_CREATE_TABLE:
    case SQLITE_CREATE_TEMP_TABLE:
    case SQLITE_DROP_TABLE:
    case SQLITE_DROP_TEMP_TABLE:
    case SQLITE_CREATE_VIEW:
    case SQLITE_CREATE_TEMP_VIEW:
    case SQLITE_DROP_VIEW:
    case SQLITE_DROP_TEMP_VIEW:
        table = a;
        break;
    case SQLITE_CREATE_TRIGGER:
    case SQLITE_CREATE_TEMP_TRIGGER:
    case SQLITE_DROP_TRIGGER:
    case SQLITE_DROP_TEMP_TRIGGER:
    case SQLITE_CREATE_INDEX:
    case SQLITE_CREATE_TEMP_INDEX:
    case SQLITE_DROP_INDEX:
    case SQLITE_DROP_TEMP_INDEX:
    case SQLITE_ALTER_TABLE:
        table = b;
        break;
    default:
        return NULL;
    }
    return table && sqlite3_strnicmp(table, "pa_", 3) == 0 ? table : NULL;
}

static int guard_statement(void *userdata, int action, const char *a, const char *b, const char *c,
                           const char *d)
{
    (void)c, (void)d;
    const db_guard *g = userdata;
    if (g->allows && !g->allows(g->arg)) {
        if (g->denied)
            g->denied(g->arg);
        return SQLITE_DENY;
    }
    const char *table = g->host_sql ? host_table_changed(action, a, b) : NULL;
    if (!table || g->host_sql(g->arg))
        return SQLITE_OK;
    char what[32];
    snprintf(what, sizeof what, "SQLite action %d", action);
    if (g->refused)
        g->refused(g->arg, table, what);
    return SQLITE_DENY;
}

/*
 * Runs sql, retrying while the database is busy or locked, up to timeout_ms.
 * Switching a new file to WAL needs a moment alone with it, and SQLite does
 * not always call the busy handler for that: several hosts starting together
 * on a new file failed with "database is locked" without this.
 */
static int exec_waiting(sqlite3 *db, const char *sql, int timeout_ms)
{
    int64_t deadline = clock_mono_ns() + (int64_t)timeout_ms * 1000000;
    useconds_t delay = 1000;
    int rc;
    while (((rc = sqlite3_exec(db, sql, NULL, NULL, NULL)) & 0xff) == SQLITE_BUSY ||
           (rc & 0xff) == SQLITE_LOCKED) {
        if (clock_mono_ns() >= deadline)
            break;
        usleep(delay);
        delay = delay < 50000 ? delay * 2 : 50000;
    }
    return rc;
}

/*
 * The -wal and -shm files take the database file's mode: one left by a run
 * against a read-only database (0444) would otherwise keep every later
 * writer out after the database itself was made writable again.
 */
static void match_side_files_mode(const char *path)
{
    struct stat db_st, st;
    if (stat(path, &db_st) != 0)
        return;
    const char *suffixes[] = {"-wal", "-shm"};
    for (size_t i = 0; i < 2; i++) {
        char side[4200];
        snprintf(side, sizeof side, "%s%s", path, suffixes[i]);
        if (stat(side, &st) == 0 && (st.st_mode & 0777) != (db_st.st_mode & 0777) &&
            chmod(side, db_st.st_mode & 0777) != 0)
            log_msg(PA_LOG_WARN, "pool", "cannot give %s the database's mode %04o: %s", side,
                    (unsigned)(db_st.st_mode & 0777), strerror(errno));
    }
}

/* Why a database opened read-only: often a -shm left read-only by an earlier run. */
static void explain_readonly(const char *path, char *hint, size_t hint_size)
{
    char shm[4200];
    struct stat st;
    snprintf(shm, sizeof shm, "%s-shm", path);
    if (stat(shm, &st) == 0 && !(st.st_mode & S_IWUSR))
        snprintf(
            hint, hint_size,
            " (%.200s is read-only, mode %04o, left by a run against a read-only database; make "
            "it writable with chmod u+w, or remove it while nothing uses the database)",
            shm, (unsigned)(st.st_mode & 0777));
    else
        snprintf(hint, hint_size,
                 " (the database file or its folder is not writable by this user)");
}

static void close_conn(db_conn *c)
{
    sqlite_conn *s = conn_of(c);
    sqlite3_finalize(s->begin_stmt);
    sqlite3_finalize(s->commit_stmt);
    sqlite3_finalize(s->rollback_stmt);
    sqlite3_close_v2(s->db);
    free(s->path);
    free(s);
}

static int prepare_persistent(sqlite3 *db, const char *sql, sqlite3_stmt **out)
{
    return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);
}

static int open_conn(const db_settings *settings, db_conn **out, char *err, size_t err_size)
{
    sqlite_conn *s = calloc(1, sizeof *s);
    char *path = strdup(settings->location);
    if (!s || !path) {
        free(s), free(path);
        snprintf(err, err_size, "out of memory opening the database");
        return PA_ERR_NOMEM;
    }
    s->base.driver = &db_sqlite_driver;
    s->path = path;
    s->busy_timeout_ms = settings->busy_timeout_ms;
    s->guard = settings->guard;
    /* Before the open as well as after: a -shm left read-only must not fail this open. */
    match_side_files_mode(path);
    int rc = sqlite3_open_v2(
        path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, err_size, "cannot open database '%s': %s", path,
                 s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        close_conn(&s->base);
        return PA_ERR_DB;
    }
    sqlite3_busy_timeout(s->db, s->busy_timeout_ms);
    rc = exec_waiting(s->db,
                      "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                      "PRAGMA foreign_keys=ON;",
                      s->busy_timeout_ms);
    if (rc == SQLITE_OK)
        match_side_files_mode(path);
    if (rc == SQLITE_OK)
        rc = prepare_persistent(s->db, "BEGIN IMMEDIATE", &s->begin_stmt);
    if (rc == SQLITE_OK)
        rc = prepare_persistent(s->db, "COMMIT", &s->commit_stmt);
    if (rc == SQLITE_OK)
        rc = prepare_persistent(s->db, "ROLLBACK", &s->rollback_stmt);
    if (rc != SQLITE_OK) {
        char hint[400] = "";
        if ((rc & 0xff) == SQLITE_READONLY)
            explain_readonly(path, hint, sizeof hint);
        snprintf(err, err_size, "cannot set up connection to '%s': %s%s", path,
                 sqlite3_errmsg(s->db), hint);
        close_conn(&s->base);
        return PA_ERR_DB;
    }
    sqlite3_set_authorizer(s->db, guard_statement, &s->guard);
    *out = &s->base;
    return PA_OK;
}

/* Steps a host statement once and resets it; returns the step result. */
static int run_host_stmt(sqlite3_stmt *stmt)
{
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    return rc;
}

static int lease_begin(db_conn *c, pa_lease_mode mode, int lock_wait_ms, char *err, size_t err_size)
{
    sqlite_conn *s = conn_of(c);
    if (mode != PA_LEASE_WRITE)
        return PA_OK;
    if (lock_wait_ms >= 0)
        sqlite3_busy_timeout(s->db, lock_wait_ms);
    int rc = run_host_stmt(s->begin_stmt);
    if (lock_wait_ms >= 0)
        sqlite3_busy_timeout(s->db, s->busy_timeout_ms);
    if (rc == SQLITE_DONE)
        return PA_OK;
    snprintf(err, err_size, "BEGIN IMMEDIATE failed: %s", sqlite3_errmsg(s->db));
    int status = note_result(s, rc);
    return lock_wait_ms >= 0 && (rc & 0xff) == SQLITE_BUSY ? PA_ERR_TIMEOUT : status;
}

static bool is_host_stmt(const sqlite_conn *s, sqlite3_stmt *stmt)
{
    if (stmt == s->begin_stmt || stmt == s->commit_stmt || stmt == s->rollback_stmt)
        return true;
    for (int i = 0; i < DB_CACHE_SIZE; i++) {
        if (s->base.cache[i] && stmt_of(s->base.cache[i]) == stmt)
            return true;
    }
    return false;
}

/* Resets and finalizes what the holder left prepared; the host's statements stay. */
static void drop_holder_statements(sqlite_conn *s, db_cleanup *cleanup)
{
    sqlite3_stmt *stmt = sqlite3_next_stmt(s->db, NULL);
    while (stmt) {
        sqlite3_stmt *next = sqlite3_next_stmt(s->db, stmt);
        if (!is_host_stmt(s, stmt)) {
            if (sqlite3_stmt_busy(stmt)) {
                sqlite3_reset(stmt);
                cleanup->statements_reset++;
            }
            sqlite3_finalize(stmt);
            cleanup->statements_finalized++;
        }
        stmt = next;
    }
}

/*
 * Callbacks a holder may have set on the handle point into its code: they
 * must not fire in the next holder's lease (another instance, or any lease
 * after the plugin is unloaded). The busy handler goes back to the
 * connection's busy timeout. The authorizer is the host's and is left alone,
 * since setting one expires every prepared statement; docs/ABI.md says what a
 * plugin must not change. Six calls, about 75 ns in all
 * (docs/PERFORMANCE.md), so only for a lease whose handle was exposed.
 */
static void reset_callbacks(sqlite_conn *s)
{
    sqlite3_progress_handler(s->db, 0, NULL, NULL);
    sqlite3_commit_hook(s->db, NULL, NULL);
    sqlite3_rollback_hook(s->db, NULL, NULL);
    sqlite3_update_hook(s->db, NULL, NULL);
    sqlite3_trace_v2(s->db, 0, NULL, NULL);
    sqlite3_busy_timeout(s->db, s->busy_timeout_ms);
}

static int lease_end(db_conn *c, bool commit, db_cleanup *cleanup, char *err, size_t err_size)
{
    sqlite_conn *s = conn_of(c);
    int last = sqlite3_errcode(s->db);
    if (is_fatal(last) && !s->fatal_code)
        s->fatal_code = last;
    drop_holder_statements(s, cleanup);
    int rc = PA_OK;
    if (!sqlite3_get_autocommit(s->db)) {
        if (!commit) {
            run_host_stmt(s->rollback_stmt);
            cleanup->rolled_back_open = true;
        } else {
            int step = run_host_stmt(s->commit_stmt);
            if (step != SQLITE_DONE) {
                snprintf(err, err_size, "%s; rolled back", sqlite3_errmsg(s->db));
                note_result(s, step);
                cleanup->commit_failed = true;
                if (!sqlite3_get_autocommit(s->db))
                    run_host_stmt(s->rollback_stmt);
                rc = PA_ERR_DB;
            }
        }
    }
    if (c->exposed)
        reset_callbacks(s);
    return rc;
}

static bool unusable(db_conn *c, char *why, size_t why_size)
{
    sqlite_conn *s = conn_of(c);
    if (!s->fatal_code)
        return false;
    bool corrupt =
        (s->fatal_code & 0xff) == SQLITE_CORRUPT || (s->fatal_code & 0xff) == SQLITE_NOTADB;
    snprintf(why, why_size, "fatal SQLite error %d (%s)%s%s%s", s->fatal_code,
             sqlite3_errstr(s->fatal_code),
             corrupt ? ": SQLITE_CORRUPT, the database file is damaged; stop the host and "
                       "recover it with sqlite3 "
                     : "",
             corrupt ? s->path : "", corrupt ? " .recover" : "");
    return true;
}

static int exec_sql(db_conn *c, const char *sql, char *err, size_t err_size)
{
    sqlite_conn *s = conn_of(c);
    char *msg = NULL;
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        snprintf(err, err_size, "%s", msg ? msg : sqlite3_errmsg(s->db));
    sqlite3_free(msg);
    return note_result(s, rc);
}

static int damaged(const char *path, const char *findings, char *err, size_t err_size)
{
    snprintf(err, err_size,
             "database %s is damaged (SQLITE_CORRUPT; quick_check: %.300s); host_stub will not "
             "use it. Stop everything that uses it and recover it: sqlite3 %s .recover | sqlite3 "
             "%s.recovered, then start with --db %s.recovered",
             path, findings, path, path, path);
    return PA_ERR_DB;
}

static int check(db_conn *c, char *err, size_t err_size)
{
    sqlite_conn *s = conn_of(c);
    sqlite3_stmt *stmt = NULL;
    char findings[512] = "";
    bool ok = false;
    /* At most three findings: enough to name the damage, quick to stop. */
    int sr = sqlite3_prepare_v2(s->db, "PRAGMA quick_check(3)", -1, &stmt, NULL);
    while (sr == SQLITE_OK && (sr = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *line = (const char *)sqlite3_column_text(stmt, 0);
        ok = ok || (line && strcmp(line, "ok") == 0);
        size_t used = strlen(findings);
        snprintf(findings + used, sizeof findings - used, "%s%s", used ? "; " : "",
                 line ? line : "?");
        sr = SQLITE_OK;
    }
    int code = sqlite3_errcode(s->db);
    sqlite3_finalize(stmt);
    if (ok && sr == SQLITE_DONE)
        return PA_OK;
    if (sr == SQLITE_DONE || (code & 0xff) == SQLITE_CORRUPT || (code & 0xff) == SQLITE_NOTADB)
        return damaged(s->path, findings[0] ? findings : sqlite3_errstr(code), err, err_size);
    snprintf(err, err_size, "cannot check database %s: %s", s->path, sqlite3_errstr(code));
    return PA_ERR_DB;
}

static db_stmt *prepare(db_conn *c, const char *sql, int *status, char *err, size_t err_size)
{
    sqlite_conn *s = conn_of(c);
    sqlite_stmt *st = calloc(1, sizeof *st);
    if (!st) {
        *status = PA_ERR_NOMEM;
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    int rc = prepare_persistent(s->db, sql, &st->st);
    if (rc != SQLITE_OK) {
        snprintf(err, err_size, "%s", sqlite3_errmsg(s->db));
        *status = note_result(s, rc);
        sqlite3_finalize(st->st);
        free(st);
        return NULL;
    }
    return &st->base;
}

static void reset(db_stmt *st)
{
    sqlite3_reset(stmt_of(st));
    sqlite3_clear_bindings(stmt_of(st));
}

static void finalize(db_stmt *st)
{
    sqlite3_finalize(stmt_of(st));
    free(st);
}

static int bind(db_stmt *st, int index, const db_value *v)
{
    sqlite3_stmt *s = stmt_of(st);
    if (index < 1 || index > sqlite3_bind_parameter_count(s))
        return PA_ERR_INVALID;
    /* A bound value may be bound again after the statement ran: reset first. */
    if (sqlite3_stmt_busy(s))
        sqlite3_reset(s);
    int rc;
    char stamp[40];
    switch (v->type) {
    case DB_INTEGER:
        if (v->is_time) {
            db_format_time(v->i, stamp, sizeof stamp);
            rc = sqlite3_bind_text(s, index, stamp, -1, SQLITE_TRANSIENT);
        } else {
            rc = sqlite3_bind_int64(s, index, v->i);
        }
        break;
    case DB_FLOAT:
        rc = sqlite3_bind_double(s, index, v->d);
        break;
    case DB_TEXT:
        rc = sqlite3_bind_text64(s, index, v->p, v->len, SQLITE_TRANSIENT, SQLITE_UTF8);
        break;
    case DB_BLOB:
        rc = sqlite3_bind_blob64(s, index, v->p, v->len, SQLITE_TRANSIENT);
        break;
    default:
        rc = sqlite3_bind_null(s, index);
    }
    return rc == SQLITE_OK ? PA_OK : rc == SQLITE_NOMEM ? PA_ERR_NOMEM : PA_ERR_INVALID;
}

static int step(db_stmt *st, bool *row, char *err, size_t err_size)
{
    sqlite_stmt *ss = (sqlite_stmt *)st;
    sqlite_conn *s = conn_of(st->conn);
    int64_t before = sqlite3_total_changes64(s->db);
    int rc = sqlite3_step(ss->st);
    if (rc == SQLITE_ROW) {
        *row = true;
        return note_result(s, rc);
    }
    ss->changes = rc == SQLITE_DONE && !sqlite3_stmt_readonly(ss->st)
                      ? sqlite3_total_changes64(s->db) - before
                      : 0;
    if (rc != SQLITE_DONE) {
        snprintf(err, err_size, "%s", sqlite3_errmsg(s->db));
        int status = note_result(s, rc);
        sqlite3_reset(ss->st);
        return status;
    }
    sqlite3_reset(ss->st); /* the next step runs it again, as on PostgreSQL */
    return note_result(s, rc);
}

static int64_t changes(const db_stmt *st)
{
    return ((const sqlite_stmt *)st)->changes;
}

static int column_count(const db_stmt *st)
{
    return sqlite3_data_count(stmt_of(st));
}

static db_type column_type(const db_stmt *st, int i)
{
    switch (sqlite3_column_type(stmt_of(st), i)) {
    case SQLITE_INTEGER:
        return DB_INTEGER;
    case SQLITE_FLOAT:
        return DB_FLOAT;
    case SQLITE_TEXT:
        return DB_TEXT;
    case SQLITE_BLOB:
        return DB_BLOB;
    default:
        return DB_NULL;
    }
}

static int64_t column_int64(const db_stmt *st, int i)
{
    return sqlite3_column_int64(stmt_of(st), i);
}

static double column_double(const db_stmt *st, int i)
{
    return sqlite3_column_double(stmt_of(st), i);
}

static const char *column_text(const db_stmt *st, int i, size_t *len)
{
    const char *text = (const char *)sqlite3_column_text(stmt_of(st), i);
    *len = text ? (size_t)sqlite3_column_bytes(stmt_of(st), i) : 0;
    return text;
}

static const void *column_blob(const db_stmt *st, int i, size_t *len)
{
    const void *blob = sqlite3_column_blob(stmt_of(st), i);
    *len = (size_t)sqlite3_column_bytes(stmt_of(st), i);
    return blob ? blob : (sqlite3_column_type(stmt_of(st), i) == SQLITE_NULL ? NULL : "");
}

struct sqlite3 *db_sqlite_handle(db_conn *c)
{
    return c->driver == &db_sqlite_driver ? conn_of(c)->db : NULL;
}

struct sqlite3_stmt *db_stmt_sqlite(db_stmt *st)
{
    return st->conn->driver == &db_sqlite_driver ? stmt_of(st) : NULL;
}

static void version(char *out, size_t out_size)
{
    snprintf(out, out_size, "SQLite %s (built with %s)", sqlite3_libversion(), SQLITE_VERSION);
}

const db_driver db_sqlite_driver = {
    .kind = DB_SQLITE,
    .version = version,
    .open = open_conn,
    .close = close_conn,
    .lease_begin = lease_begin,
    .lease_end = lease_end,
    .unusable = unusable,
    .exec = exec_sql,
    .check = check,
    .prepare = prepare,
    .reset = reset,
    .finalize = finalize,
    .bind = bind,
    .step = step,
    .changes = changes,
    .column_count = column_count,
    .column_type = column_type,
    .column_int64 = column_int64,
    .column_double = column_double,
    .column_text = column_text,
    .column_blob = column_blob,
};
