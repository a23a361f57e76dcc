/* The pa_host_api table handed to plugins: each call attributed to its ctx. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "clock.h"
#include "instance.h"
#include "log.h"
#include "emit.h"
#include "stmt_api.h"
#include "worker_args.h"

static void set_error(host_instance *in, const char *msg)
{
    snprintf(in->last_error, sizeof in->last_error, "%s", msg);
}

static void api_log(pa_host_ctx *ctx, pa_log_level level, const char *fmt, ...)
{
    if (!ctx || !fmt)
        return;
    if (level < PA_LOG_ERROR || level > PA_LOG_DEBUG)
        level = PA_LOG_INFO;
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, ctx->log_source, fmt, ap);
    va_end(ap);
}

static int api_lease(pa_host_ctx *ctx, pa_lease_mode mode, int timeout_ms, const char *file,
                     int line, const char *func, pa_lease *out)
{
    if (!ctx || !out)
        return PA_ERR_INVALID;
    pool_site site = {file ? file : "?", line, func ? func : "?"};
    char err[1024];
    int rc = pool_lease(ctx->pool, &ctx->owner, mode, timeout_ms, site, out, err, sizeof err);
    if (rc == PA_OK)
        held_add(ctx->held, *out, mode, site.file, site.line, site.func);
    if (rc != PA_OK) {
        set_error(ctx, err);
        log_msg(PA_LOG_WARN, ctx->log_source, "%s", err);
    }
    return rc;
}

static sqlite3 *api_lease_db(pa_host_ctx *ctx, pa_lease lease)
{
    if (!ctx)
        return NULL;
    sqlite3 *db = pool_lease_db(ctx->pool, &ctx->owner, lease, (pool_site){"?", 0, "lease_db"});
    if (!db && pool_kind(ctx->pool) != DB_SQLITE) {
        set_error(ctx, "lease_db (PA_ERR_UNSUPPORTED): the database is PostgreSQL; lease_db "
                       "returns SQLite handles: use the statement API (ABI 1.4) or lease_pg");
        log_msg(PA_LOG_ERROR, ctx->log_source, "%s", ctx->last_error);
    }
    return db;
}

static int api_release(pa_host_ctx *ctx, pa_lease lease, pa_release_action action, const char *file,
                       int line, const char *func)
{
    if (!ctx)
        return PA_ERR_INVALID;
    pool_site site = {file ? file : "?", line, func ? func : "?"};
    char err[1024] = "";
    int rc = pool_release(ctx->pool, &ctx->owner, lease, action, site, err, sizeof err);
    if (rc == PA_OK)
        held_remove(ctx->held, lease);
    if (rc != PA_OK)
        set_error(ctx, err);
    return rc;
}

static pa_run_mode api_run_mode(pa_host_ctx *ctx)
{
    return ctx ? ctx->run_mode : PA_RUN_SERVE;
}

static int api_emit(pa_host_ctx *ctx, pa_lease lease, const pa_item *item)
{
    if (!ctx)
        return PA_ERR_INVALID;
    char err[1024], *json = NULL;
    bool dry = ctx->run_mode == PA_RUN_DRY;
    /* The outbox row is the host's statement, on the plugin's lease: it may write pa_outbox. */
    const pool_owner *plugin = pool_run_as(NULL);
    int rc = emit_item(ctx->pool, &ctx->owner, lease, ctx->plugin->name, ctx->id, item,
                       clock_wall_ms(), dry ? &json : NULL, err, sizeof err);
    pool_run_as(plugin);
    if (rc != PA_OK) {
        set_error(ctx, err);
        log_msg(PA_LOG_ERROR, ctx->log_source, "%s", err);
        return rc;
    }
    /* A dry run's row is rolled back with the lease: the item goes to the supervisor instead. */
    if (json)
        log_msg(PA_LOG_INFO, DRY_RUN_ITEM_SOURCE, "%s", json);
    cJSON_free(json);
    ctx->items_emitted++;
    return PA_OK;
}

static void api_report_http(pa_host_ctx *ctx, const pa_http_report *r)
{
    if (!ctx || !PA_HAS_FIELD(r, pa_http_report, request_type))
        return; /* a report from before ABI 1.1 lacks fields the line needs */
    ctx->http_requests++;
    log_msg(PA_LOG_DEBUG, ctx->log_source, "http %s %s -> %ld in %.3f s (%s)",
            r->method ? r->method : "?", r->url ? r->url : "?", r->status, r->seconds,
            r->request_type ? r->request_type : "-");
}

static int64_t api_now_ms(pa_host_ctx *ctx)
{
    (void)ctx;
    return clock_wall_ms();
}

static const char *api_last_error(pa_host_ctx *ctx)
{
    return ctx ? ctx->last_error : "";
}

static void api_defer_next_poll(pa_host_ctx *ctx, int64_t earliest_ms)
{
    if (ctx && earliest_ms > ctx->not_before_ms)
        ctx->not_before_ms = earliest_ms;
}

static sqlite3_stmt *api_prepare_cached(pa_host_ctx *ctx, pa_lease lease, const char *sql)
{
    if (!ctx)
        return NULL;
    char err[1024];
    sqlite3_stmt *stmt = pool_cached_stmt(ctx->pool, &ctx->owner, lease, sql, err, sizeof err);
    if (!stmt) {
        set_error(ctx, err);
        log_msg(PA_LOG_ERROR, ctx->log_source, "%s", err);
    }
    return stmt;
}

static const pa_host_api API = {
    .abi_version = PA_ABI_VERSION,
    .struct_size = sizeof(pa_host_api),
    .log = api_log,
    .lease = api_lease,
    .lease_db = api_lease_db,
    .release = api_release,
    .emit = api_emit,
    .report_http = api_report_http,
    .now_ms = api_now_ms,
    .last_error = api_last_error,
    .defer_next_poll = api_defer_next_poll,
    .prepare_cached = api_prepare_cached,
    .db_backend = stmt_api_backend,
    .stmt_prepare = stmt_api_prepare,
    .stmt_bind_null = stmt_api_bind_null,
    .stmt_bind_int64 = stmt_api_bind_int64,
    .stmt_bind_double = stmt_api_bind_double,
    .stmt_bind_text = stmt_api_bind_text,
    .stmt_bind_blob = stmt_api_bind_blob,
    .stmt_bind_time = stmt_api_bind_time,
    .stmt_step = stmt_api_step,
    .stmt_column_count = stmt_api_column_count,
    .stmt_column_type = stmt_api_column_type,
    .stmt_column_int64 = stmt_api_column_int64,
    .stmt_column_double = stmt_api_column_double,
    .stmt_column_text = stmt_api_column_text,
    .stmt_column_blob = stmt_api_column_blob,
    .stmt_column_time = stmt_api_column_time,
    .stmt_changes = stmt_api_changes,
    .db_error_code = stmt_api_error_code,
    .lease_pg = stmt_api_lease_pg,
    .run_mode = api_run_mode,
};

const pa_host_api *host_api_table(void)
{
    return &API;
}
