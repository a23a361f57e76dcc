/* The ABI 1.4 statement calls (stmt_api.h). A pa_stmt is a db_stmt the pool lent. */
#include "stmt_api.h"

#include <stdio.h>
#include <string.h>

#include "db.h"
#include "log.h"

static void fail(pa_host_ctx *ctx, const char *code, const char *fmt, const char *detail)
{
    snprintf(ctx->last_error, sizeof ctx->last_error, fmt, detail);
    snprintf(ctx->db_code, sizeof ctx->db_code, "%s", code ? code : "");
    log_msg(PA_LOG_ERROR, ctx->log_source, "%s", ctx->last_error);
}

/* The statement, or NULL (logged) when it is not one of a lease this instance holds here. */
static db_stmt *usable(pa_host_ctx *ctx, pa_stmt *stmt, const char *call)
{
    if (!ctx)
        return NULL;
    db_stmt *st = (db_stmt *)stmt;
    if (st && pool_stmt_usable(ctx->pool, &ctx->owner, st))
        return st;
    fail(ctx, NULL,
         "%s: not a statement of a lease this instance holds on this thread (released, "
         "reclaimed, or never prepared)",
         call);
    return NULL;
}

pa_db_backend stmt_api_backend(pa_host_ctx *ctx)
{
    return ctx && pool_kind(ctx->pool) == DB_POSTGRES ? PA_DB_POSTGRESQL : PA_DB_SQLITE;
}

pa_stmt *stmt_api_prepare(pa_host_ctx *ctx, pa_lease lease, const char *sql)
{
    if (!ctx)
        return NULL;
    int status;
    char why[900];
    db_stmt *st = pool_prepare(ctx->pool, &ctx->owner, lease, 0, sql, &status, why, sizeof why);
    if (!st) {
        char msg[1000];
        snprintf(msg, sizeof msg, "stmt_prepare (%s): %s", pa_status_name(status), why);
        fail(ctx, NULL, "%s", msg);
        return NULL;
    }
    ctx->db_code[0] = '\0';
    return (pa_stmt *)st;
}

static int bound(pa_host_ctx *ctx, int rc, int index)
{
    if (rc == PA_OK)
        return PA_OK;
    char what[64];
    snprintf(what, sizeof what, "%d", index);
    fail(ctx, NULL,
         rc == PA_ERR_INVALID ? "stmt_bind: parameter %s is out of range"
                              : "stmt_bind: out of memory binding parameter %s",
         what);
    return rc;
}

int stmt_api_bind_null(pa_host_ctx *ctx, pa_stmt *stmt, int index)
{
    db_stmt *st = usable(ctx, stmt, "stmt_bind_null");
    return st ? bound(ctx, db_bind_null(st, index), index) : PA_ERR_INVALID;
}

int stmt_api_bind_int64(pa_host_ctx *ctx, pa_stmt *stmt, int index, int64_t value)
{
    db_stmt *st = usable(ctx, stmt, "stmt_bind_int64");
    return st ? bound(ctx, db_bind_int64(st, index, value), index) : PA_ERR_INVALID;
}

int stmt_api_bind_double(pa_host_ctx *ctx, pa_stmt *stmt, int index, double value)
{
    db_stmt *st = usable(ctx, stmt, "stmt_bind_double");
    return st ? bound(ctx, db_bind_double(st, index, value), index) : PA_ERR_INVALID;
}

int stmt_api_bind_text(pa_host_ctx *ctx, pa_stmt *stmt, int index, const char *text, int64_t len)
{
    db_stmt *st = usable(ctx, stmt, "stmt_bind_text");
    return st ? bound(ctx, db_bind_text(st, index, text, len), index) : PA_ERR_INVALID;
}

int stmt_api_bind_blob(pa_host_ctx *ctx, pa_stmt *stmt, int index, const void *data, size_t len)
{
    db_stmt *st = usable(ctx, stmt, "stmt_bind_blob");
    return st ? bound(ctx, db_bind_blob(st, index, data, len), index) : PA_ERR_INVALID;
}

int stmt_api_bind_time(pa_host_ctx *ctx, pa_stmt *stmt, int index, int64_t utc_us)
{
    db_stmt *st = usable(ctx, stmt, "stmt_bind_time");
    return st ? bound(ctx, db_bind_time(st, index, utc_us), index) : PA_ERR_INVALID;
}

int stmt_api_step(pa_host_ctx *ctx, pa_stmt *stmt, int *has_row)
{
    if (has_row)
        *has_row = 0;
    db_stmt *st = usable(ctx, stmt, "stmt_step");
    if (!st || !has_row)
        return PA_ERR_INVALID;
    bool row = false;
    char why[900];
    int rc = db_step(st, &row, why, sizeof why);
    if (rc != PA_OK) {
        char msg[1000];
        snprintf(msg, sizeof msg, "stmt_step (%s): %s", pa_status_name(rc), why);
        snprintf(ctx->last_error, sizeof ctx->last_error, "%s", msg);
        snprintf(ctx->db_code, sizeof ctx->db_code, "%s", db_error_code(db_stmt_conn(st)));
        /* A constraint is often the plugin's own "already done": its to log, not ours. */
        log_msg(rc == PA_ERR_CONSTRAINT ? PA_LOG_DEBUG : PA_LOG_ERROR, ctx->log_source, "%s", msg);
        return rc;
    }
    ctx->db_code[0] = '\0';
    *has_row = row;
    return PA_OK;
}

/* Column reads never fail loudly: a bad statement reads as no row. */
static db_stmt *readable(pa_host_ctx *ctx, pa_stmt *stmt)
{
    return usable(ctx, stmt, "stmt_column");
}

int stmt_api_column_count(pa_host_ctx *ctx, pa_stmt *stmt)
{
    db_stmt *st = readable(ctx, stmt);
    return st ? db_column_count(st) : 0;
}

pa_value_type stmt_api_column_type(pa_host_ctx *ctx, pa_stmt *stmt, int i)
{
    db_stmt *st = readable(ctx, stmt);
    return st ? (pa_value_type)db_column_type(st, i) : PA_VALUE_NULL;
}

int64_t stmt_api_column_int64(pa_host_ctx *ctx, pa_stmt *stmt, int i)
{
    db_stmt *st = readable(ctx, stmt);
    return st ? db_column_int64(st, i) : 0;
}

double stmt_api_column_double(pa_host_ctx *ctx, pa_stmt *stmt, int i)
{
    db_stmt *st = readable(ctx, stmt);
    return st ? db_column_double(st, i) : 0.0;
}

const char *stmt_api_column_text(pa_host_ctx *ctx, pa_stmt *stmt, int i, size_t *len)
{
    db_stmt *st = readable(ctx, stmt);
    if (len)
        *len = 0;
    return st ? db_column_text(st, i, len) : NULL;
}

const void *stmt_api_column_blob(pa_host_ctx *ctx, pa_stmt *stmt, int i, size_t *len)
{
    db_stmt *st = readable(ctx, stmt);
    if (len)
        *len = 0;
    return st ? db_column_blob(st, i, len) : NULL;
}

int stmt_api_column_time(pa_host_ctx *ctx, pa_stmt *stmt, int i, int64_t *utc_us)
{
    db_stmt *st = readable(ctx, stmt);
    return st && utc_us ? db_column_time(st, i, utc_us) : PA_ERR_INVALID;
}

int64_t stmt_api_changes(pa_host_ctx *ctx, pa_stmt *stmt)
{
    db_stmt *st = usable(ctx, stmt, "stmt_changes");
    return st ? db_changes(st) : -1;
}

const char *stmt_api_error_code(pa_host_ctx *ctx)
{
    return ctx ? ctx->db_code : "";
}

struct pg_conn *stmt_api_lease_pg(pa_host_ctx *ctx, pa_lease lease)
{
    if (!ctx)
        return NULL;
    struct pg_conn *pg =
        pool_lease_pg(ctx->pool, &ctx->owner, lease, (pool_site){"?", 0, "lease_pg"});
    if (!pg && pool_kind(ctx->pool) != DB_POSTGRES)
        fail(ctx, NULL, "%s",
             "lease_pg (PA_ERR_UNSUPPORTED): the database is SQLite; use lease_db or the "
             "statement API");
    return pg;
}
