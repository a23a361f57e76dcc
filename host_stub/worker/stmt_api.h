/*
 * The engine-neutral statement calls of pa_host_api (ABI 1.4): each checks
 * that the plugin's statement pointer is one of a lease this instance holds
 * on this thread before following it, then goes to db.h.
 */
#ifndef WORKER_STMT_API_H
#define WORKER_STMT_API_H

#include "instance.h"

pa_db_backend stmt_api_backend(pa_host_ctx *ctx);
pa_stmt *stmt_api_prepare(pa_host_ctx *ctx, pa_lease lease, const char *sql);
int stmt_api_bind_null(pa_host_ctx *ctx, pa_stmt *stmt, int index);
int stmt_api_bind_int64(pa_host_ctx *ctx, pa_stmt *stmt, int index, int64_t value);
int stmt_api_bind_double(pa_host_ctx *ctx, pa_stmt *stmt, int index, double value);
int stmt_api_bind_text(pa_host_ctx *ctx, pa_stmt *stmt, int index, const char *text, int64_t len);
int stmt_api_bind_blob(pa_host_ctx *ctx, pa_stmt *stmt, int index, const void *data, size_t len);
int stmt_api_bind_time(pa_host_ctx *ctx, pa_stmt *stmt, int index, int64_t utc_us);
int stmt_api_step(pa_host_ctx *ctx, pa_stmt *stmt, int *has_row);
int stmt_api_column_count(pa_host_ctx *ctx, pa_stmt *stmt);
pa_value_type stmt_api_column_type(pa_host_ctx *ctx, pa_stmt *stmt, int i);
int64_t stmt_api_column_int64(pa_host_ctx *ctx, pa_stmt *stmt, int i);
double stmt_api_column_double(pa_host_ctx *ctx, pa_stmt *stmt, int i);
const char *stmt_api_column_text(pa_host_ctx *ctx, pa_stmt *stmt, int i, size_t *len);
const void *stmt_api_column_blob(pa_host_ctx *ctx, pa_stmt *stmt, int i, size_t *len);
int stmt_api_column_time(pa_host_ctx *ctx, pa_stmt *stmt, int i, int64_t *utc_us);
int64_t stmt_api_changes(pa_host_ctx *ctx, pa_stmt *stmt);
const char *stmt_api_error_code(pa_host_ctx *ctx);
struct pg_conn *stmt_api_lease_pg(pa_host_ctx *ctx, pa_lease lease);

#endif
