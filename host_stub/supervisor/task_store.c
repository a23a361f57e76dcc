/*
 * The supervisor's half of the outbox: the host's tables and their
 * migrations, and the move of emitted items into pa_tasks.
 */
#include "task_store.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "task_fields.h"

/* Rows moved per transaction: bounds memory and the time the write lock is held. */
#define CONSUME_BATCH 256

/* The host's tables: every one prefixed pa_, versioned in pa_schema (component "host"). */
#define HOST_SCHEMA_VERSION 1

/* SQL generated from the one field list (task_fields.h). */
#define COLUMN_DEF(name, def, kind, value)  ", " #name " " def
#define COLUMN_NAME(name, def, kind, value) ", " #name
#define OLD_COLUMN(name, def, kind, value)  ", t." #name
#define EXTRACT(name, def, kind, value)     ", json_extract(item_json, '$." #name "')"
#define PAIR_TEXT(name)                     ", '" #name "', " #name
#define PAIR_JSON(name)                     ", '" #name "', json(" #name ")"
#define JSON_PAIR(name, def, kind, value)   PAIR_##kind(name)

// clang-format off
/* The SQL reads as SQL, one clause per line. */
static const char SCHEMA_V1[] =
    "CREATE TABLE IF NOT EXISTS pa_outbox ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " plugin TEXT NOT NULL,"
    " instance_id TEXT NOT NULL,"
    " item_json TEXT NOT NULL,"
    " created_at TEXT NOT NULL,"
    " consumed_at TEXT);"
    "CREATE INDEX IF NOT EXISTS pa_outbox_pending ON pa_outbox(id) WHERE consumed_at IS NULL;"
    "CREATE TABLE IF NOT EXISTS pa_tasks ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " outbox_id INTEGER NOT NULL UNIQUE REFERENCES pa_outbox(id),"
    " plugin TEXT NOT NULL,"
    " instance TEXT NOT NULL"
    PA_TASK_FIELDS(COLUMN_DEF) ","
    " created_at TEXT NOT NULL,"
    " delivered_at TEXT);"
    "CREATE INDEX IF NOT EXISTS pa_tasks_undelivered ON pa_tasks(id) WHERE delivered_at IS NULL;";

/* Moving pending outbox rows into tasks is one statement: the item is never rebuilt in C. */
static const char MOVE_SQL[] =
    "INSERT INTO pa_tasks(outbox_id, plugin, instance" PA_TASK_FIELDS(COLUMN_NAME) ", created_at)"
    " SELECT id, plugin, instance_id" PA_TASK_FIELDS(EXTRACT) ", ?1"
    " FROM pa_outbox WHERE consumed_at IS NULL ORDER BY id LIMIT ?2";

static const char MARK_SQL[] =
    "UPDATE pa_outbox SET consumed_at = ?1 WHERE consumed_at IS NULL"
    " AND EXISTS (SELECT 1 FROM pa_tasks t WHERE t.outbox_id = pa_outbox.id)";

#define STRINGIFY_(x) #x
#define STRINGIFY(x)  STRINGIFY_(x)
/* The task line (docs/TASKS.md): the row as JSON, tags and metadata as JSON values. */
static const char LINES_SQL[] =
    "SELECT json_object('schema_version', " STRINGIFY(PA_TASKS_SCHEMA_VERSION) ", 'id', id"
    PA_TASK_FIELDS(JSON_PAIR)
    ", 'created_at', created_at, 'plugin', plugin, 'instance', instance)"
    " FROM pa_tasks WHERE id > ?1 ORDER BY id";

/* Earlier host versions' own tables, recognised by their columns, moved once. */
static const char ADOPT_OUTBOX_SQL[] =
    "INSERT INTO pa_outbox(id, plugin, instance_id, item_json, created_at, consumed_at)"
    " SELECT id, plugin, instance_id, item_json, created_at, consumed_at FROM outbox";
static const char ADOPT_TASKS_SQL[] =
    "INSERT INTO pa_tasks(id, outbox_id, plugin, instance" PA_TASK_FIELDS(COLUMN_NAME) ", created_at)"
    " SELECT t.id, t.outbox_id, o.plugin, o.instance_id" PA_TASK_FIELDS(OLD_COLUMN) ", t.created_at"
    " FROM tasks t JOIN outbox o ON o.id = t.outbox_id";
// clang-format on

static int exec(sqlite3 *db, const char *sql, const char *what, char *err, size_t err_size)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return PA_OK;
    snprintf(err, err_size, "%s: %s", what, msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return PA_ERR_DB;
}

static long long scalar(sqlite3 *db, const char *sql, const char *arg)
{
    sqlite3_stmt *stmt = NULL;
    long long v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) == SQLITE_OK) {
        if (arg)
            sqlite3_bind_text(stmt, 1, arg, -1, SQLITE_STATIC);
        if (sqlite3_step(stmt) == SQLITE_ROW)
            v = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_finalize(stmt);
    return v;
}

/* True when table has every column in the SQL list columns ("'a','b'"), count of them. */
static bool has_columns(sqlite3 *db, const char *table, const char *columns, int count)
{
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pragma_table_info(?1) WHERE name IN (%s)",
             columns);
    return scalar(db, sql, table) == count;
}

/*
 * Version 1: the pa_ tables. An outbox and tasks table that an earlier host
 * wrote (its exact columns) are moved into them and dropped; a tasks table
 * of anyone else (the agent's own) is left exactly as it is.
 */
static int migrate_to_1(sqlite3 *db, char *err, size_t err_size)
{
    int rc = exec(db, SCHEMA_V1, "creating the host tables", err, err_size);
    bool old_outbox =
        rc == PA_OK &&
        has_columns(db, "outbox", "'plugin','instance_id','item_json','created_at','consumed_at'",
                    5);
    bool old_tasks = old_outbox && has_columns(db, "tasks",
                                               "'outbox_id','type','tags','metadata',"
                                               "'source_reference','created_at'",
                                               6);
    if (old_outbox)
        rc = exec(db, ADOPT_OUTBOX_SQL, "moving outbox into pa_outbox", err, err_size);
    if (rc == PA_OK && old_tasks)
        rc = exec(db, ADOPT_TASKS_SQL, "moving tasks into pa_tasks", err, err_size);
    long long moved_tasks = old_tasks ? sqlite3_changes(db) : 0;
    if (rc == PA_OK && old_tasks)
        rc = exec(db, "DROP TABLE tasks", "dropping the old tasks table", err, err_size);
    if (rc == PA_OK && old_outbox)
        rc = exec(db, "DROP TABLE outbox", "dropping the old outbox table", err, err_size);
    if (rc == PA_OK && old_outbox)
        log_msg(PA_LOG_INFO, "host",
                "schema: moved this host's earlier outbox%s into pa_outbox%s (%lld task(s))",
                old_tasks ? " and tasks tables" : " table", old_tasks ? " and pa_tasks" : "",
                moved_tasks);
    return rc;
}

typedef int (*migration_fn)(sqlite3 *db, char *err, size_t err_size);
static const migration_fn MIGRATIONS[HOST_SCHEMA_VERSION] = {migrate_to_1};

/* Brings the host's tables to HOST_SCHEMA_VERSION inside the caller's transaction. */
static int migrate(sqlite3 *db, char *err, size_t err_size)
{
    int rc = exec(db,
                  "CREATE TABLE IF NOT EXISTS pa_schema (component TEXT PRIMARY KEY,"
                  " version INTEGER NOT NULL, applied_at TEXT NOT NULL)",
                  "creating pa_schema", err, err_size);
    if (rc != PA_OK)
        return rc;
    long long version =
        scalar(db, "SELECT coalesce(max(version), 0) FROM pa_schema WHERE component = ?1", "host");
    if (version < 0) { /* unreadable, or a row someone wrote by hand: never index by it */
        snprintf(err, err_size,
                 "pa_schema holds no valid schema version for the host (read %lld); the host "
                 "tables are left as they are",
                 version);
        return PA_ERR_DB;
    }
    if (version > HOST_SCHEMA_VERSION) {
        snprintf(err, err_size,
                 "the database's host tables are at schema version %lld, newer than this "
                 "host_stub's %d; use a newer host_stub",
                 version, HOST_SCHEMA_VERSION);
        return PA_ERR_DB;
    }
    for (long long v = version; v < HOST_SCHEMA_VERSION && rc == PA_OK; v++)
        rc = MIGRATIONS[v](db, err, err_size);
    /* Up to date: a table someone dropped comes back (IF NOT EXISTS costs nothing). */
    if (rc == PA_OK && version == HOST_SCHEMA_VERSION)
        rc = exec(db, SCHEMA_V1, "creating the host tables", err, err_size);
    if (rc == PA_OK && version < HOST_SCHEMA_VERSION) {
        char sql[256];
        snprintf(sql, sizeof sql,
                 "INSERT INTO pa_schema(component, version, applied_at) VALUES ('host', %d,"
                 " strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', 'now')) ON CONFLICT(component) DO UPDATE"
                 " SET version = excluded.version, applied_at = excluded.applied_at",
                 HOST_SCHEMA_VERSION);
        rc = exec(db, sql, "recording the schema version", err, err_size);
    }
    return rc;
}

int task_store_migrate(pool *p, pool_owner *host, char *err, size_t err_size)
{
    pa_lease lease;
    int rc = pool_lease(p, host, PA_LEASE_WRITE, -1, POOL_HERE, &lease, err, err_size);
    if (rc != PA_OK)
        return rc;
    /* One transaction: a migration happens whole or not at all, and once across hosts. */
    rc = migrate(pool_lease_db(p, host, lease, POOL_HERE), err, err_size);
    char release_err[512];
    int release_rc =
        pool_release(p, host, lease, rc == PA_OK ? PA_RELEASE_COMMIT : PA_RELEASE_ROLLBACK,
                     POOL_HERE, release_err, sizeof release_err);
    if (rc == PA_OK && release_rc != PA_OK) {
        snprintf(err, err_size, "%s", release_err);
        rc = release_rc;
    }
    return rc;
}

/* Runs a prepared statement to its end; SQLITE_DONE on success. */
static int run(sqlite3 *db, const char *sql, const char *stamp, int limit)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(stmt, 1, stamp, -1, SQLITE_STATIC);
        if (limit)
            sqlite3_bind_int(stmt, 2, limit);
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
            ;
    }
    sqlite3_finalize(stmt);
    return rc;
}

/* Moves up to CONSUME_BATCH pending items into pa_tasks; collects their JSON lines. */
static int consume_batch(sqlite3 *db, const char *stamp, char **lines, size_t *count, char *err,
                         size_t err_size)
{
    long long before = scalar(db, "SELECT coalesce(max(id), 0) FROM pa_tasks", NULL);
    int rc = before < 0 ? SQLITE_ERROR : run(db, MOVE_SQL, stamp, CONSUME_BATCH);
    if (rc == SQLITE_DONE)
        rc = run(db, MARK_SQL, stamp, 0);
    sqlite3_stmt *select = NULL;
    if (rc == SQLITE_DONE &&
        (rc = sqlite3_prepare_v2(db, LINES_SQL, -1, &select, NULL)) == SQLITE_OK) {
        sqlite3_bind_int64(select, 1, before);
        while ((rc = sqlite3_step(select)) == SQLITE_ROW && *count < CONSUME_BATCH) {
            const char *line = (const char *)sqlite3_column_text(select, 0);
            if (!line || !(lines[*count] = strdup(line))) {
                rc = SQLITE_NOMEM;
                break;
            }
            (*count)++;
        }
    }
    sqlite3_finalize(select);
    if (rc == SQLITE_DONE)
        return PA_OK;
    snprintf(err, err_size, "outbox consumer: %s", sqlite3_errmsg(db));
    return PA_ERR_DB;
}

int task_store_consume(pool *p, pool_owner *host, int64_t now_ms, FILE *out, size_t *consumed,
                       char *err, size_t err_size)
{
    *consumed = 0;
    char stamp[32];
    clock_format_iso8601(now_ms, stamp, sizeof stamp);
    for (;;) {
        char *lines[CONSUME_BATCH];
        size_t count = 0;
        pa_lease lease;
        err[0] = '\0';
        int rc = pool_lease(p, host, PA_LEASE_WRITE, -1, POOL_HERE, &lease, err, err_size);
        if (rc != PA_OK)
            return rc;
        sqlite3 *db = pool_lease_db(p, host, lease, POOL_HERE);
        rc = consume_batch(db, stamp, lines, &count, err, err_size);
        char release_err[512];
        int release_rc =
            pool_release(p, host, lease, rc == PA_OK ? PA_RELEASE_COMMIT : PA_RELEASE_ROLLBACK,
                         POOL_HERE, release_err, sizeof release_err);
        if (rc == PA_OK && release_rc != PA_OK) {
            rc = release_rc;
            snprintf(err, err_size, "%s", release_err);
        }
        /* Print only what committed: a task is announced once it exists. */
        for (size_t i = 0; i < count; i++) {
            if (rc == PA_OK && out)
                fprintf(out, "%s\n", lines[i]);
            free(lines[i]);
        }
        if (out)
            fflush(out);
        if (rc != PA_OK)
            return rc;
        *consumed += count;
        if (count < CONSUME_BATCH)
            return PA_OK;
    }
}
