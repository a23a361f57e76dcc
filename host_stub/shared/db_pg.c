/*
 * The PostgreSQL driver of db.h, over libpq.
 *
 * A session is set up once per connection: TimeZone UTC and ISO dates (so a
 * time reads back the same whatever the server's settings),
 * default_transaction_read_only on (a READ lease runs in autocommit, each
 * statement its own read-only transaction: nothing can be left idle in a
 * transaction, and a write on a READ lease is refused), and the
 * statement_timeout asked for. A WRITE lease is BEGIN READ WRITE.
 *
 * Statements are server-side prepared once per connection (named pa_1,
 * pa_2, ...), '?' and '?N' rewritten to $N; values go as text (a blob as
 * binary), results come back as text.
 *
 * A connection found broken (server restart, pg_terminate_backend, a cut
 * network) before the current lease has done anything is reconnected and
 * the call retried once: nothing can happen twice. After the first
 * statement that succeeded, a broken connection fails the call; the lease
 * is never replayed behind its holder's back.
 */
#include "db_driver.h"

#include <errno.h>
#include <libpq-fe.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"

/*
 * How long past statement_timeout a call waits for any answer. The server's
 * own timeout answers first; this is for a server or network that says
 * nothing at all, which libpq alone would wait on for ever.
 */
#define ANSWER_MARGIN_MS 2000

/* Type OIDs (catalog/pg_type.h), as the server sends them. */
enum {
    OID_BOOL = 16,
    OID_BYTEA = 17,
    OID_INT8 = 20,
    OID_INT2 = 21,
    OID_INT4 = 23,
    OID_OID = 26,
    OID_FLOAT4 = 700,
    OID_FLOAT8 = 701,
    OID_NUMERIC = 1700
};

typedef struct pg_state {
    db_conn base;
    PGconn *pg;
    int statement_timeout_ms;
    unsigned generation;   /* bumped at each reconnect: statements must be prepared again */
    unsigned next_name;    /* pa_N */
    pa_lease_mode mode;    /* of the current lease */
    bool lease_did_work;   /* a statement of this lease succeeded: no retry after this */
    bool server_read_only; /* the database or role has default_transaction_read_only on */
    bool silent;           /* a call got no answer in time: the connection is abandoned */
    bool plugin_session;   /* marked so the host tables' trigger refuses its writes */
    db_guard guard;        /* told of each such refusal (refused only) */
} pg_state;

typedef struct pg_stmt {
    db_stmt base;
    char name[24];
    char *sql; /* with $N placeholders */
    int nparams;
    char **values; /* owned copies, NULL for SQL NULL */
    int *lengths;
    int *formats;
    unsigned prepared_generation; /* 0: not prepared on this connection yet */
    PGresult *res;
    int row;
    int64_t changes;
    unsigned char *blob; /* a decoded bytea of the current row */
    size_t blob_len;
} pg_stmt;

static pg_state *state_of(db_conn *c)
{
    return (pg_state *)c;
}

static void drop_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message; /* "relation already exists, skipping" and the like: not for stderr */
}

/* libpq's message without its trailing newline. */
static void copy_message(const char *msg, char *err, size_t err_size)
{
    snprintf(err, err_size, "%s", msg && msg[0] ? msg : "unknown PostgreSQL error");
    size_t n = strlen(err);
    while (n && (err[n - 1] == '\n' || err[n - 1] == ' '))
        err[--n] = '\0';
    for (char *p = err; *p; p++) {
        if (*p == '\n')
            *p = ' '; /* one line */
    }
}

/*
 * Waits for the whole answer to what was just sent (sent: the PQsend* call
 * succeeded), at most statement_timeout + ANSWER_MARGIN_MS: the first failed
 * result, or the last one. NULL when nothing could be sent (libpq's error
 * says why) or nothing came in time (s->silent).
 */
static PGresult *await_answer(pg_state *s, int sent)
{
    if (!sent)
        return NULL;
    int64_t deadline =
        clock_mono_ns() + (int64_t)(s->statement_timeout_ms + ANSWER_MARGIN_MS) * 1000000;
    PGresult *kept = NULL;
    for (;;) {
        while (PQisBusy(s->pg)) {
            int64_t left_ms = (deadline - clock_mono_ns()) / 1000000;
            if (left_ms <= 0) {
                s->silent = true;
                PQclear(kept);
                return NULL;
            }
            struct pollfd pfd = {.fd = PQsocket(s->pg), .events = POLLIN};
            if (poll(&pfd, 1, left_ms > 60000 ? 60000 : (int)left_ms) < 0 && errno != EINTR)
                break;
            if (pfd.revents && PQconsumeInput(s->pg) == 0)
                break; /* the connection failed: PQgetResult reports it */
        }
        PGresult *r = PQgetResult(s->pg);
        if (!r)
            return kept;
        if (kept && PQresultStatus(kept) == PGRES_FATAL_ERROR) {
            PQclear(r);
        } else {
            PQclear(kept);
            kept = r;
        }
    }
}

static PGresult *exec_simple(pg_state *s, const char *sql)
{
    return await_answer(s, PQsendQuery(s->pg, sql));
}

/*
 * The host tables' trigger (task_store.c) refuses a plugin session's write
 * with insufficient_privilege and the table named: the pool counts and logs
 * it, as SQLite's authorizer does. Raw-handle statements are refused alike,
 * unseen here.
 */
static void report_host_table_refusal(pg_state *s, const PGresult *res, const char *state)
{
    const char *table = res ? PQresultErrorField(res, PG_DIAG_TABLE_NAME) : NULL;
    if (s->plugin_session && s->guard.refused && state && strcmp(state, "42501") == 0 && table &&
        strncmp(table, "pa_", 3) == 0)
        s->guard.refused(s->guard.arg, table, "PostgreSQL, its trigger pa_host_only");
}

/* The status for a failed result, its SQLSTATE noted and its message in err. */
static int result_failure(pg_state *s, const PGresult *res, char *err, size_t err_size)
{
    if (!res && s->silent) {
        snprintf(err, err_size,
                 "no answer from PostgreSQL within %d ms; the connection is abandoned",
                 s->statement_timeout_ms + ANSWER_MARGIN_MS);
        db_set_code(&s->base, "08006");
        return PA_ERR_TIMEOUT;
    }
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    report_host_table_refusal(s, res, state);
    if (PQstatus(s->pg) == CONNECTION_BAD && !state)
        state = "08006"; /* connection_failure */
    db_set_code(&s->base, state ? state : "XX000");
    copy_message(res ? PQresultErrorMessage(res) : PQerrorMessage(s->pg), err, err_size);
    if (!err[0] || strcmp(err, "unknown PostgreSQL error") == 0)
        copy_message(PQerrorMessage(s->pg), err, err_size);
    if (state && strncmp(state, "23", 2) == 0)
        return PA_ERR_CONSTRAINT;
    if (state && strcmp(state, "57014") == 0)
        return PA_ERR_TIMEOUT; /* query_canceled: statement_timeout */
    return PA_ERR_DB;
}

/* Runs one command with no result rows; PA_OK or a status with err set. */
static int command(pg_state *s, const char *sql, char *err, size_t err_size)
{
    PGresult *res = exec_simple(s, sql);
    int rc = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK
                 ? PA_OK
                 : result_failure(s, res, err, err_size);
    PQclear(res);
    if (rc == PA_OK)
        db_set_code(&s->base, NULL);
    return rc;
}

static int set_up_session(pg_state *s, char *err, size_t err_size)
{
    PQsetNoticeProcessor(s->pg, drop_notice, NULL);
    /* An operator's read-only database stays read-only: WRITE leases are refused on it. */
    PGresult *res = exec_simple(s, "SHOW default_transaction_read_only");
    s->server_read_only = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
                          strcmp(PQgetvalue(res, 0, 0), "on") == 0;
    PQclear(res);
    char sql[320];
    snprintf(sql, sizeof sql,
             "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'iso_8601';"
             " SET default_transaction_read_only = on; SET statement_timeout = %d%s",
             s->statement_timeout_ms > 0 ? s->statement_timeout_ms : 0,
             s->plugin_session ? "; SET pa.plugin_session = on" : "");
    return command(s, sql, err, err_size);
}

static void close_conn(db_conn *c)
{
    pg_state *s = state_of(c);
    PQfinish(s->pg);
    free(s);
}

static int open_conn(const db_settings *settings, db_conn **out, char *err, size_t err_size)
{
    pg_state *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, err_size, "out of memory opening the database");
        return PA_ERR_NOMEM;
    }
    s->base.driver = &db_pg_driver;
    s->statement_timeout_ms = settings->statement_timeout_ms;
    s->plugin_session = settings->plugin_session;
    s->guard = settings->guard;
    s->generation = 1;
    char timeout[16];
    snprintf(timeout, sizeof timeout, "%d",
             settings->connect_timeout_s >= 2 ? settings->connect_timeout_s : 2);
    /*
     * Keywords before dbname are defaults the URL may override (keepalives
     * and a 20 s TCP user timeout: a silent network fails a call within about
     * 25 s instead of hanging the caller's loop;
     * no GSSAPI encryption unless asked for, which saves a round trip and
     * Kerberos' per-thread state); those after it are the host's
     * (application_name, connect_timeout).
     */
    const char *keys[] = {"keepalives",
                          "keepalives_idle",
                          "keepalives_interval",
                          "keepalives_count",
                          "tcp_user_timeout",
                          "gssencmode",
                          "dbname",
                          "connect_timeout",
                          settings->application_name ? "application_name" : NULL,
                          NULL};
    const char *values[] = {"1",
                            "10",
                            "5",
                            "3",
                            "20000",
                            "disable",
                            settings->location,
                            timeout,
                            settings->application_name,
                            NULL};
    s->pg = PQconnectdbParams(keys, values, 1);
    int rc = PA_OK;
    if (!s->pg || PQstatus(s->pg) != CONNECTION_OK) {
        char why[512];
        copy_message(s->pg ? PQerrorMessage(s->pg) : "out of memory", why, sizeof why);
        snprintf(err, err_size, "cannot connect to PostgreSQL: %s", why);
        rc = PA_ERR_DB;
    }
    if (rc == PA_OK && set_up_session(s, err, err_size) != PA_OK)
        rc = PA_ERR_DB;
    if (rc != PA_OK) {
        close_conn(&s->base);
        return rc;
    }
    *out = &s->base;
    return PA_OK;
}

/*
 * Reconnects a broken connection for a lease that has done nothing yet:
 * session set up again, its transaction begun again, every statement to be
 * prepared again.
 */
static int reconnect(pg_state *s, char *err, size_t err_size)
{
    PQreset(s->pg);
    if (PQstatus(s->pg) != CONNECTION_OK) {
        char why[512];
        copy_message(PQerrorMessage(s->pg), why, sizeof why);
        snprintf(err, err_size, "reconnecting to PostgreSQL failed: %s", why);
        db_set_code(&s->base, "08006");
        return PA_ERR_DB;
    }
    s->generation++;
    s->silent = false;
    log_msg(PA_LOG_INFO, "pool", "a broken PostgreSQL connection was replaced before use");
    int rc = set_up_session(s, err, err_size);
    if (rc == PA_OK && s->mode == PA_LEASE_WRITE)
        rc = command(s, "BEGIN READ WRITE", err, err_size);
    return rc;
}

/* The call failed on a broken connection and may be tried again on a new one. */
static bool may_retry(const pg_state *s)
{
    return !s->lease_did_work && !s->silent && PQstatus(s->pg) == CONNECTION_BAD;
}

static int lease_begin(db_conn *c, pa_lease_mode mode, int lock_wait_ms, char *err, size_t err_size)
{
    (void)lock_wait_ms; /* BEGIN takes no lock here; the move skips locked rows */
    pg_state *s = state_of(c);
    s->mode = mode;
    s->lease_did_work = false;
    if (PQstatus(s->pg) == CONNECTION_BAD && reconnect(s, err, err_size) != PA_OK)
        return PA_ERR_DB;
    if (mode != PA_LEASE_WRITE)
        return PA_OK;
    if (s->server_read_only) {
        snprintf(err, err_size,
                 "the database is read-only (default_transaction_read_only is on for it or for "
                 "this role); WRITE leases are refused");
        db_set_code(&s->base, "25006"); /* read_only_sql_transaction */
        return PA_ERR_DB;
    }
    int rc = command(s, "BEGIN READ WRITE", err, err_size);
    if (rc != PA_OK && may_retry(s))
        rc = reconnect(s, err, err_size); /* begins the transaction itself */
    return rc;
}

static int lease_end(db_conn *c, bool commit, db_cleanup *cleanup, char *err, size_t err_size)
{
    pg_state *s = state_of(c);
    PGTransactionStatusType ts = PQtransactionStatus(s->pg);
    int rc = PA_OK;
    char ignored[256];
    if (s->silent) {
        /* Nothing more is sent on it: the pool retires it (unusable). */
        if (commit) {
            snprintf(err, err_size,
                     "PostgreSQL stopped answering during the lease; its "
                     "transaction is lost (the server rolls it back)");
            cleanup->commit_failed = true;
            rc = PA_ERR_DB;
        }
    } else if (commit && PQstatus(s->pg) == CONNECTION_BAD) {
        /* The server rolled the transaction back when the connection went. */
        snprintf(err, err_size,
                 "the connection to PostgreSQL broke during the lease; its "
                 "transaction was lost (rolled back by the server)");
        db_set_code(&s->base, "08006");
        cleanup->commit_failed = true;
        rc = PA_ERR_DB;
    } else if ((ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) && commit) {
        PGresult *res = exec_simple(s, "COMMIT");
        /* COMMIT of a failed transaction "succeeds" as ROLLBACK. */
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            rc = result_failure(s, res, err, err_size);
        else if (strcmp(PQcmdStatus(res), "COMMIT") != 0)
            rc = PA_ERR_DB;
        if (rc != PA_OK && PQresultStatus(res) == PGRES_COMMAND_OK)
            snprintf(err, err_size, "a statement of the transaction had failed; rolled back");
        PQclear(res);
        cleanup->commit_failed = rc != PA_OK;
        if (rc != PA_OK && PQtransactionStatus(s->pg) != PQTRANS_IDLE)
            command(s, "ROLLBACK", ignored, sizeof ignored);
        rc = rc == PA_OK ? PA_OK : PA_ERR_DB;
    } else if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
        command(s, "ROLLBACK", ignored, sizeof ignored);
        cleanup->rolled_back_open = true;
    }
    s->mode = 0;
    return rc;
}

static bool unusable(db_conn *c, char *why, size_t why_size)
{
    pg_state *s = state_of(c);
    if (!s->silent && PQstatus(s->pg) != CONNECTION_BAD &&
        PQtransactionStatus(s->pg) == PQTRANS_IDLE)
        return false;
    snprintf(why, why_size, "%s",
             s->silent ? "PostgreSQL did not answer in time"
                       : "the connection to PostgreSQL broke or was left in a transaction");
    return true;
}

static int exec_sql(db_conn *c, const char *sql, char *err, size_t err_size)
{
    pg_state *s = state_of(c);
    int rc = command(s, sql, err, err_size);
    if (rc != PA_OK && may_retry(s) && reconnect(s, err, err_size) == PA_OK)
        rc = command(s, sql, err, err_size);
    if (rc == PA_OK)
        s->lease_did_work = true;
    return rc;
}

static int check(db_conn *c, char *err, size_t err_size)
{
    pg_state *s = state_of(c);
    int rc = command(s, "SELECT 1", err, err_size);
    if (rc != PA_OK && may_retry(s) && reconnect(s, err, err_size) == PA_OK)
        rc = command(s, "SELECT 1", err, err_size);
    return rc;
}

/* Skips a quoted run starting at p (quote char q, doubled to escape); returns past its end. */
static const char *skip_quoted(const char *p, char q)
{
    for (p++; *p; p++) {
        if (*p == q && p[1] == q)
            p++;
        else if (*p == q)
            return p + 1;
    }
    return p;
}

/*
 * Rewrites '?' and '?N' to $N outside quotes and comments; *count gets the
 * highest number. NULL on a number over 65535, or out of memory.
 */
static char *dollar_placeholders(const char *sql, int *count)
{
    size_t n = strlen(sql);
    char *out = malloc(n * 6 + 1); /* '?' -> "$65535" at most */
    if (!out)
        return NULL;
    char *o = out;
    int next = 0, highest = 0;
    for (const char *p = sql; *p;) {
        const char *from = p;
        if (*p == '\'' || *p == '"')
            p = skip_quoted(p, *p);
        else if (p[0] == '-' && p[1] == '-')
            p += strcspn(p, "\n");
        else if (p[0] == '/' && p[1] == '*')
            p = strstr(p + 2, "*/") ? strstr(p + 2, "*/") + 2 : p + strlen(p);
        if (p != from) {
            memcpy(o, from, (size_t)(p - from));
            o += p - from;
            continue;
        }
        if (*p != '?') {
            *o++ = *p++;
            continue;
        }
        long number = ++next;
        if (p[1] >= '0' && p[1] <= '9') {
            char *end;
            number = strtol(p + 1, &end, 10);
            p = end;
        } else {
            p++;
        }
        if (number < 1 || number > 65535) {
            free(out);
            return NULL;
        }
        if (number > highest)
            highest = (int)number;
        o += sprintf(o, "$%ld", number);
    }
    *o = '\0';
    *count = highest;
    return out;
}

static void free_values(pg_stmt *st)
{
    for (int i = 0; i < st->nparams; i++) {
        free(st->values[i]);
        st->values[i] = NULL;
        st->lengths[i] = 0;
        st->formats[i] = 0;
    }
}

static void finish_result(pg_stmt *st)
{
    PQclear(st->res);
    st->res = NULL;
    st->row = -1;
    free(st->blob);
    st->blob = NULL;
    st->blob_len = 0;
}

static void finalize(db_stmt *base)
{
    pg_stmt *st = (pg_stmt *)base;
    finish_result(st);
    if (st->values)
        free_values(st);
    free(st->values);
    free(st->lengths);
    free(st->formats);
    free(st->sql);
    free(st);
}

static int prepare_on_server(pg_state *s, pg_stmt *st, char *err, size_t err_size)
{
    if (st->prepared_generation == s->generation)
        return PA_OK;
    PGresult *res = await_answer(s, PQsendPrepare(s->pg, st->name, st->sql, 0, NULL));
    int rc =
        PQresultStatus(res) == PGRES_COMMAND_OK ? PA_OK : result_failure(s, res, err, err_size);
    PQclear(res);
    if (rc == PA_OK)
        st->prepared_generation = s->generation;
    return rc;
}

static db_stmt *prepare(db_conn *c, const char *sql, int *status, char *err, size_t err_size)
{
    pg_state *s = state_of(c);
    pg_stmt *st = calloc(1, sizeof *st);
    int count = 0;
    char *converted = st ? dollar_placeholders(sql, &count) : NULL;
    if (st && converted) {
        st->sql = converted;
        st->nparams = count;
        st->values = calloc((size_t)count + 1, sizeof *st->values);
        st->lengths = calloc((size_t)count + 1, sizeof *st->lengths);
        st->formats = calloc((size_t)count + 1, sizeof *st->formats);
    }
    if (!st || !converted || !st->values || !st->lengths || !st->formats) {
        *status = st && !converted ? PA_ERR_INVALID : PA_ERR_NOMEM;
        snprintf(err, err_size, "%s",
                 *status == PA_ERR_INVALID ? "a placeholder number is over 65535"
                                           : "out of memory");
        if (st)
            finalize(&st->base);
        return NULL;
    }
    st->row = -1;
    snprintf(st->name, sizeof st->name, "pa_%u", ++s->next_name);
    /* Prepared now, so bad SQL is reported where it is given (one round trip, once). */
    int rc = prepare_on_server(s, st, err, err_size);
    if (rc != PA_OK && may_retry(s) && reconnect(s, err, err_size) == PA_OK)
        rc = prepare_on_server(s, st, err, err_size);
    if (rc != PA_OK) {
        *status = rc;
        finalize(&st->base);
        return NULL;
    }
    return &st->base;
}

static void reset(db_stmt *base)
{
    pg_stmt *st = (pg_stmt *)base;
    finish_result(st);
    free_values(st);
}

static int bind(db_stmt *base, int index, const db_value *v)
{
    pg_stmt *st = (pg_stmt *)base;
    if (index < 1 || index > st->nparams)
        return PA_ERR_INVALID;
    finish_result(st);
    char text[48];
    const void *data = text;
    size_t len = 0;
    int format = 0;
    switch (v->type) {
    case DB_INTEGER:
        if (v->is_time) {
            db_format_time(v->i, text, sizeof text - 4);
            strcat(text, "+00");
        } else {
            snprintf(text, sizeof text, "%lld", (long long)v->i);
        }
        len = strlen(text);
        break;
    case DB_FLOAT:
        snprintf(text, sizeof text, "%.17g", v->d);
        len = strlen(text);
        break;
    case DB_TEXT:
    case DB_BLOB:
        data = v->p;
        len = v->len;
        format = v->type == DB_BLOB;
        break;
    default:
        data = NULL;
    }
    if (len > INT_MAX - 1)
        return PA_ERR_INVALID; /* libpq's lengths are ints: refused, never truncated */
    char *copy = NULL;
    if (data && !(copy = malloc(len + 1)))
        return PA_ERR_NOMEM;
    if (copy) {
        memcpy(copy, data, len);
        copy[len] = '\0';
    }
    free(st->values[index - 1]);
    st->values[index - 1] = copy;
    st->lengths[index - 1] = (int)len;
    st->formats[index - 1] = format;
    return PA_OK;
}

static PGresult *execute(pg_state *s, pg_stmt *st)
{
    return await_answer(s, PQsendQueryPrepared(s->pg, st->name, st->nparams,
                                               (const char *const *)st->values, st->lengths,
                                               st->formats, 0));
}

/* Runs st: prepared on this connection if need be, retried once on a new connection. */
static int run(pg_state *s, pg_stmt *st, char *err, size_t err_size)
{
    for (int attempt = 0;; attempt++) {
        int rc = prepare_on_server(s, st, err, err_size);
        if (rc == PA_OK) {
            st->res = execute(s, st);
            ExecStatusType es = PQresultStatus(st->res);
            if (es == PGRES_COMMAND_OK || es == PGRES_TUPLES_OK) {
                const char *tuples = PQcmdTuples(st->res);
                st->changes = es == PGRES_COMMAND_OK && tuples[0] ? strtoll(tuples, NULL, 10) : 0;
                s->lease_did_work = true;
                db_set_code(&s->base, NULL);
                return PA_OK;
            }
            rc = result_failure(s, st->res, err, err_size);
            finish_result(st);
        }
        if (attempt > 0 || !may_retry(s) || reconnect(s, err, err_size) != PA_OK)
            return rc;
    }
}

static int step(db_stmt *base, bool *row, char *err, size_t err_size)
{
    pg_stmt *st = (pg_stmt *)base;
    pg_state *s = state_of(base->conn);
    if (!st->res) {
        int rc = run(s, st, err, err_size);
        if (rc != PA_OK)
            return rc;
    }
    free(st->blob);
    st->blob = NULL;
    st->row++;
    if (st->row < PQntuples(st->res)) {
        *row = true;
        return PA_OK;
    }
    /* Done: the next step runs the statement again (its bindings kept). */
    int64_t changes = st->changes;
    finish_result(st);
    st->changes = changes;
    return PA_OK;
}

static int64_t changes(const db_stmt *base)
{
    return ((const pg_stmt *)base)->changes;
}

static bool on_row(const pg_stmt *st)
{
    return st->res && st->row >= 0 && st->row < PQntuples(st->res);
}

static int column_count(const db_stmt *base)
{
    const pg_stmt *st = (const pg_stmt *)base;
    return on_row(st) ? PQnfields(st->res) : 0;
}

static db_type column_type(const db_stmt *base, int i)
{
    const pg_stmt *st = (const pg_stmt *)base;
    if (PQgetisnull(st->res, st->row, i))
        return DB_NULL;
    switch (PQftype(st->res, i)) {
    case OID_BOOL:
    case OID_INT2:
    case OID_INT4:
    case OID_INT8:
    case OID_OID:
        return DB_INTEGER;
    case OID_FLOAT4:
    case OID_FLOAT8:
    case OID_NUMERIC:
        return DB_FLOAT;
    case OID_BYTEA:
        return DB_BLOB;
    default:
        return DB_TEXT;
    }
}

static const char *value(const pg_stmt *st, int i)
{
    return PQgetisnull(st->res, st->row, i) ? NULL : PQgetvalue(st->res, st->row, i);
}

static int64_t column_int64(const db_stmt *base, int i)
{
    const char *v = value((const pg_stmt *)base, i);
    if (!v)
        return 0;
    if (v[0] == 't' || v[0] == 'f')
        return v[0] == 't';
    return strtoll(v, NULL, 10);
}

static double column_double(const db_stmt *base, int i)
{
    const char *v = value((const pg_stmt *)base, i);
    return v ? strtod(v, NULL) : 0.0;
}

static const char *column_text(const db_stmt *base, int i, size_t *len)
{
    const pg_stmt *st = (const pg_stmt *)base;
    const char *v = value(st, i);
    *len = v ? (size_t)PQgetlength(st->res, st->row, i) : 0;
    return v;
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* A bytea in the server's hex output ("\x4142"), decoded; other columns as their text. */
static const void *column_blob(const db_stmt *base, int i, size_t *len)
{
    pg_stmt *st = (pg_stmt *)base;
    size_t n;
    const char *v = column_text(base, i, &n);
    if (!v || PQftype(st->res, i) != OID_BYTEA || n < 2 || v[0] != '\\' || v[1] != 'x') {
        *len = n;
        return v;
    }
    free(st->blob);
    st->blob = malloc((n - 2) / 2 + 1);
    if (!st->blob)
        return NULL;
    size_t out = 0;
    for (size_t k = 2; k + 1 < n; k += 2) {
        int hi = hex_digit(v[k]), lo = hex_digit(v[k + 1]);
        if (hi < 0 || lo < 0)
            break;
        st->blob[out++] = (unsigned char)(hi * 16 + lo);
    }
    st->blob_len = out;
    *len = out;
    return st->blob;
}

struct pg_conn *db_pg_handle(db_conn *c)
{
    return c->driver == &db_pg_driver ? state_of(c)->pg : NULL;
}

static void version(char *out, size_t out_size)
{
    int v = PQlibVersion(); /* 150018: 15.18 */
    snprintf(out, out_size, "libpq %d.%d", v / 10000, v % 10000);
}

const db_driver db_pg_driver = {
    .kind = DB_POSTGRES,
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
