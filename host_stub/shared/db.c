/*
 * The engine-neutral half of db.h: dispatch to a driver, the per-connection
 * statement cache (least recently used out first, never one used in the
 * current lease), and the one time format both engines are given.
 */
#include "db_driver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const db_driver *driver_for(db_kind kind)
{
    return kind == DB_POSTGRES ? &db_pg_driver : kind == DB_SQLITE ? &db_sqlite_driver : NULL;
}

const char *db_kind_name(db_kind kind)
{
    return kind == DB_POSTGRES ? "PostgreSQL" : "SQLite";
}

void db_engine_versions(char *out, size_t out_size)
{
    char sqlite[128], pg[128];
    db_sqlite_driver.version(sqlite, sizeof sqlite);
    db_pg_driver.version(pg, sizeof pg);
    snprintf(out, out_size, "%s\n%s\n", sqlite, pg);
}

int db_open(const db_settings *settings, db_conn **out, char *err, size_t err_size)
{
    *out = NULL;
    const db_driver *d = driver_for(settings->kind);
    if (!d || !settings->location) {
        snprintf(err, err_size, "no database engine or location given");
        return PA_ERR_INVALID;
    }
    return d->open(settings, out, err, err_size);
}

static void free_stmt(db_stmt *st)
{
    char *sql = st->sql;
    st->conn->driver->finalize(st);
    free(sql);
}

void db_close(db_conn *c)
{
    if (!c)
        return;
    for (int i = 0; i < DB_CACHE_SIZE; i++) {
        if (c->cache[i])
            free_stmt(c->cache[i]);
        c->cache[i] = NULL;
    }
    c->driver->close(c);
}

db_kind db_conn_kind(const db_conn *c)
{
    return c->driver->kind;
}

void db_set_code(db_conn *c, const char *code)
{
    if (!code || !code[0]) {
        c->code[0] = '\0'; /* every successful call: no formatting on that path */
        return;
    }
    snprintf(c->code, sizeof c->code, "%s", code);
}

const char *db_error_code(const db_conn *c)
{
    return c->code;
}

bool db_cache_holds(const db_conn *c, const db_stmt *st)
{
    for (int i = 0; i < DB_CACHE_SIZE; i++) {
        if (c->cache[i] == st)
            return true;
    }
    return false;
}

int db_lease_begin(db_conn *c, pa_lease_mode mode, char *err, size_t err_size)
{
    db_set_code(c, NULL);
    return c->driver->lease_begin(c, mode, -1, err, err_size);
}

int db_lease_begin_within(db_conn *c, pa_lease_mode mode, int lock_wait_ms, char *err,
                          size_t err_size)
{
    db_set_code(c, NULL);
    return c->driver->lease_begin(c, mode, lock_wait_ms < 0 ? 0 : lock_wait_ms, err, err_size);
}

int db_lease_end(db_conn *c, bool commit, db_cleanup *cleanup, char *err, size_t err_size)
{
    *cleanup = (db_cleanup){0};
    for (int i = 0; c->touched && i < DB_CACHE_SIZE; i++) {
        db_stmt *st = c->cache[i];
        if (st && st->touched) {
            c->driver->reset(st);
            st->touched = false;
        }
    }
    c->touched = false;
    int rc = c->driver->lease_end(c, commit, cleanup, err, err_size);
    c->exposed = false;
    return rc;
}

bool db_conn_unusable(db_conn *c, char *why, size_t why_size)
{
    return c->driver->unusable(c, why, why_size);
}

int db_check(db_conn *c, char *err, size_t err_size)
{
    return c->driver->check(c, err, err_size);
}

int db_exec(db_conn *c, const char *sql, char *err, size_t err_size)
{
    return c->driver->exec(c, sql, err, err_size);
}

/* The slot for a new statement: an empty one, else the least recently used not in use. */
static int victim_slot(const db_conn *c)
{
    int victim = -1;
    for (int i = 0; i < DB_CACHE_SIZE; i++) {
        const db_stmt *st = c->cache[i];
        if (!st)
            return i;
        if (!st->touched && (victim < 0 || st->last_used < c->cache[victim]->last_used))
            victim = i;
    }
    return victim;
}

db_stmt *db_prepare(db_conn *c, const char *sql, int *status, char *err, size_t err_size)
{
    if (!sql) {
        *status = PA_ERR_INVALID;
        snprintf(err, err_size, "no SQL");
        return NULL;
    }
    for (int i = 0; i < DB_CACHE_SIZE; i++) {
        db_stmt *st = c->cache[i];
        if (st && strcmp(st->sql, sql) == 0) {
            st->last_used = ++c->tick;
            st->touched = c->touched = true;
            return st;
        }
    }
    int slot = victim_slot(c);
    if (slot < 0) {
        *status = PA_ERR_INVALID;
        snprintf(err, err_size, "more than %d cached statements in one lease", DB_CACHE_SIZE);
        return NULL;
    }
    char *copy = strdup(sql);
    db_stmt *st = copy ? c->driver->prepare(c, sql, status, err, err_size) : NULL;
    if (!st) {
        if (!copy) {
            *status = PA_ERR_NOMEM;
            snprintf(err, err_size, "out of memory");
        }
        free(copy);
        return NULL;
    }
    if (c->cache[slot])
        free_stmt(c->cache[slot]);
    st->conn = c;
    st->sql = copy;
    st->last_used = ++c->tick;
    st->touched = c->touched = true;
    c->cache[slot] = st;
    return st;
}

db_conn *db_stmt_conn(const db_stmt *st)
{
    return st->conn;
}

static int bind(db_stmt *st, int index, db_value v)
{
    return st->conn->driver->bind(st, index, &v);
}

int db_bind_null(db_stmt *st, int index)
{
    return bind(st, index, (db_value){.type = DB_NULL});
}

int db_bind_int64(db_stmt *st, int index, int64_t v)
{
    return bind(st, index, (db_value){.type = DB_INTEGER, .i = v});
}

int db_bind_double(db_stmt *st, int index, double v)
{
    return bind(st, index, (db_value){.type = DB_FLOAT, .d = v});
}

int db_bind_text(db_stmt *st, int index, const char *text, int64_t len)
{
    if (!text)
        return db_bind_null(st, index);
    size_t n = len < 0 ? strlen(text) : (size_t)len;
    return bind(st, index, (db_value){.type = DB_TEXT, .p = text, .len = n});
}

int db_bind_blob(db_stmt *st, int index, const void *data, size_t len)
{
    if (!data && len)
        return PA_ERR_INVALID;
    return bind(st, index, (db_value){.type = DB_BLOB, .p = data ? data : "", .len = len});
}

int db_bind_time(db_stmt *st, int index, int64_t utc_us)
{
    return bind(st, index, (db_value){.type = DB_INTEGER, .is_time = true, .i = utc_us});
}

int db_step(db_stmt *st, bool *row, char *err, size_t err_size)
{
    st->touched = st->conn->touched = true;
    *row = false;
    return st->conn->driver->step(st, row, err, err_size);
}

int64_t db_changes(const db_stmt *st)
{
    return st->conn->driver->changes(st);
}

int db_column_count(const db_stmt *st)
{
    return st->conn->driver->column_count(st);
}

static bool in_range(const db_stmt *st, int i)
{
    return i >= 0 && i < db_column_count(st);
}

db_type db_column_type(const db_stmt *st, int i)
{
    return in_range(st, i) ? st->conn->driver->column_type(st, i) : DB_NULL;
}

int64_t db_column_int64(const db_stmt *st, int i)
{
    return in_range(st, i) ? st->conn->driver->column_int64(st, i) : 0;
}

double db_column_double(const db_stmt *st, int i)
{
    return in_range(st, i) ? st->conn->driver->column_double(st, i) : 0.0;
}

const char *db_column_text(const db_stmt *st, int i, size_t *len)
{
    size_t ignored;
    if (!len)
        len = &ignored;
    *len = 0;
    return in_range(st, i) ? st->conn->driver->column_text(st, i, len) : NULL;
}

const void *db_column_blob(const db_stmt *st, int i, size_t *len)
{
    size_t ignored;
    if (!len)
        len = &ignored;
    *len = 0;
    return in_range(st, i) ? st->conn->driver->column_blob(st, i, len) : NULL;
}

int db_column_time(const db_stmt *st, int i, int64_t *utc_us)
{
    size_t len;
    const char *text = db_column_type(st, i) == DB_TEXT ? db_column_text(st, i, &len) : NULL;
    return text && db_parse_time(text, len, utc_us) == 0 ? PA_OK : PA_ERR_INVALID;
}

void db_mark_exposed(db_conn *c)
{
    c->exposed = true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void db_format_time(int64_t utc_us, char *out, size_t out_size)
{
    int64_t us = utc_us % 1000000, secs = utc_us / 1000000;
    if (us < 0)
        us += 1000000, secs--;
    int64_t days = secs / 86400, rem = secs % 86400;
    if (rem < 0)
        rem += 86400, days--;
    /* civil_from_days */
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = yoe + era * 400 + (m <= 2);
    snprintf(out, out_size, "%04lld-%02lld-%02lld %02lld:%02lld:%02lld.%06lld", (long long)y,
             (long long)m, (long long)d, (long long)(rem / 3600), (long long)(rem / 60 % 60),
             (long long)(rem % 60), (long long)us);
}

/* Reads exactly n digits at *p; -1 if they are not there. */
static int64_t digits(const char **p, const char *end, int n)
{
    int64_t v = 0;
    for (int k = 0; k < n; k++, (*p)++) {
        if (*p >= end || **p < '0' || **p > '9')
            return -1;
        v = v * 10 + (**p - '0');
    }
    return v;
}

static bool take(const char **p, const char *end, char c)
{
    if (*p < end && **p == c) {
        (*p)++;
        return true;
    }
    return false;
}

/* "Z", "+HH", "+HHMM" or "+HH:MM" (or '-'): the offset in seconds, or -1 on junk. */
static int parse_offset(const char **p, const char *end, int64_t *offset_s)
{
    *offset_s = 0;
    if (*p == end || take(p, end, 'Z'))
        return *p == end ? 0 : -1;
    int sign = take(p, end, '+') ? 1 : take(p, end, '-') ? -1 : 0;
    int64_t h = sign ? digits(p, end, 2) : -1, m = 0;
    if (h < 0 || h > 23)
        return -1;
    if (*p < end) {
        take(p, end, ':');
        m = digits(p, end, 2);
    }
    if (m < 0 || m > 59 || *p != end)
        return -1;
    *offset_s = sign * (h * 3600 + m * 60);
    return 0;
}

int db_parse_time(const char *text, size_t len, int64_t *utc_us)
{
    const char *p = text, *end = text + len;
    int64_t y = digits(&p, end, 4), mo = take(&p, end, '-') ? digits(&p, end, 2) : -1;
    int64_t d = take(&p, end, '-') ? digits(&p, end, 2) : -1;
    bool sep = take(&p, end, ' ') || take(&p, end, 'T');
    int64_t h = sep ? digits(&p, end, 2) : -1;
    int64_t mi = take(&p, end, ':') ? digits(&p, end, 2) : -1;
    int64_t s = take(&p, end, ':') ? digits(&p, end, 2) : -1;
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
        s < 0 || s > 60)
        return -1;
    int64_t us = 0;
    if (take(&p, end, '.')) {
        int n = 0;
        for (; p < end && *p >= '0' && *p <= '9'; p++, n++) {
            if (n < 6)
                us = us * 10 + (*p - '0');
        }
        if (n == 0)
            return -1;
        for (; n < 6; n++)
            us *= 10;
    }
    int64_t offset_s;
    if (parse_offset(&p, end, &offset_s) != 0)
        return -1;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset_s;
    *utc_us = secs * 1000000 + us;
    return 0;
}
