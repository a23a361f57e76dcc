/*
 * The supervisor's half of the outbox: the host's tables and their
 * migrations, and the move of emitted items into pa_tasks, over db.h. The
 * SQL comes in two dialects (SQLite's JSON1, PostgreSQL's json operators,
 * an identity column each); everything else is one code path.
 *
 * Exactly once across hosts: on SQLite, BEGIN IMMEDIATE gives one host the
 * outbox at a time; on PostgreSQL the move locks the rows it takes (FOR
 * UPDATE SKIP LOCKED), so concurrent hosts take disjoint rows, and the
 * UNIQUE outbox_id refuses a second task for one item whatever happens.
 */
#include "task_store.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"

#include "clock.h"
#include "log.h"
#include "task_fields.h"

/* Rows moved per transaction: bounds memory and the time the write lock is held. */
#define CONSUME_BATCH 256

/* The host's tables: every one prefixed pa_, versioned in pa_schema (component "host"). */
#define HOST_SCHEMA_VERSION 4

/* SQL generated from the one field list (task_fields.h). */
#define COLUMN_DEF(name, def, kind, value)  ", " #name " " def
#define COLUMN_NAME(name, def, kind, value) ", " #name
#define OLD_COLUMN(name, def, kind, value)  ", t." #name
#define EXTRACT(name, def, kind, value)     ", json_extract(item_json, '$." #name "')"
#define PG_EXTRACT(name, def, kind, value)  ", item_json::json->>'" #name "'"

/* A task line's columns, in its order (task_line). */
#define LINE_COLUMNS "id" PA_TASK_FIELDS(COLUMN_NAME) ", created_at, plugin, instance"

/* What differs between the engines: SQL only. */
typedef struct task_sql {
    const char *schema_table;
    const char *schema;         /* the host tables, IF NOT EXISTS */
    const char *migration_lock; /* serialises migrations across hosts; NULL: BEGIN does */
    /* ?1 the time, ?2 the batch size; returns the task lines when lines is NULL */
    const char *move;
    const char *mark;            /* ?1 the time */
    const char *lines;           /* ?1 the highest task id before the move */
    const char *notify;          /* ?1 the number of new tasks; NULL: none */
    const char *record_version;  /* ?1 the version, ?2 the time */
    const char *has_task_column; /* ?1 a column name: 1 when pa_tasks has it */
    const char *record_status;   /* ?1..?8: pa_instances' columns in order */
    const char *first_pending;   /* id, plugin, instance_id of the first row the move would take */
    const char *guard;           /* keeps plugin sessions out of the host tables; NULL: none */
    const char *drop_foreign;    /* drops triggers not the host's on its tables; NULL: none */
    bool adopts_old_tables;
} task_sql;

// clang-format off
/* The SQL reads as SQL, one clause per line. */

/* The host tables; ID: the engine's identity column, REF: the integer type that refers to one. */
#define HOST_TABLES(ID, REF)                                                                       \
    "CREATE TABLE IF NOT EXISTS pa_outbox ("                                                       \
    " id " ID ","                                                                                  \
    " plugin TEXT NOT NULL,"                                                                       \
    " instance_id TEXT NOT NULL,"                                                                  \
    " item_json TEXT NOT NULL,"                                                                    \
    " created_at TEXT NOT NULL,"                                                                   \
    " consumed_at TEXT);"                                                                          \
    "CREATE INDEX IF NOT EXISTS pa_outbox_pending ON pa_outbox(id) WHERE consumed_at IS NULL;"     \
    "CREATE TABLE IF NOT EXISTS pa_tasks ("                                                        \
    " id " ID ","                                                                                  \
    " outbox_id " REF " NOT NULL UNIQUE REFERENCES pa_outbox(id),"                                 \
    " plugin TEXT NOT NULL,"                                                                       \
    " instance TEXT NOT NULL"                                                                      \
    PA_TASK_FIELDS(COLUMN_DEF) ","                                                                 \
    " created_at TEXT NOT NULL,"                                                                   \
    " delivered_at TEXT" CLAIM_COLUMNS ");"                                                       \
    "CREATE INDEX IF NOT EXISTS pa_tasks_undelivered ON pa_tasks(id) WHERE delivered_at IS NULL;"  \
    INSTANCES_TABLE REJECTED_TABLE(REF)

/*
 * Version 3. An outbox row the move cannot turn into a task (a NOT NULL
 * column missing, JSON that does not parse): set aside with the engine's
 * error, so everyone else's items keep flowing. The row itself stays in
 * pa_outbox, marked consumed; docs/OPERATIONS.md says how to retry one.
 */
#define REJECTED_TABLE(REF)                                                                        \
    "CREATE TABLE IF NOT EXISTS pa_outbox_rejected ("                                              \
    " outbox_id " REF " PRIMARY KEY REFERENCES pa_outbox(id),"                                     \
    " plugin TEXT NOT NULL,"                                                                       \
    " instance_id TEXT NOT NULL,"                                                                  \
    " error TEXT NOT NULL,"                                                                        \
    " rejected_at TEXT NOT NULL);"

/*
 * Version 2. A consumer's claim with a visibility timeout (docs/TASKS.md):
 * who holds the task, until when, and how many times it was handed out.
 */
#define CLAIM_COLUMNS ", claimed_by TEXT, claim_until TEXT, claims INTEGER NOT NULL DEFAULT 0"
/* Each instance's last status, for a consumer to report (pa_plugins' authenticate()). */
#define INSTANCES_TABLE                                                                            \
    "CREATE TABLE IF NOT EXISTS pa_instances ("                                                    \
    " plugin TEXT NOT NULL,"                                                                       \
    " instance TEXT NOT NULL,"                                                                     \
    " running INTEGER NOT NULL,"                                                                   \
    " last_success_at TEXT,"                                                                       \
    " last_failure_at TEXT,"                                                                       \
    " last_error TEXT,"                                                                            \
    " failures INTEGER NOT NULL,"                                                                  \
    " updated_at TEXT NOT NULL,"                                                                   \
    " PRIMARY KEY (plugin, instance));"

/*
 * Version 4, PostgreSQL: the host's tables refuse a plugin's session.
 * PostgreSQL has no authorizer, so each pa_ table has a statement trigger
 * that refuses INSERT, UPDATE, DELETE and TRUNCATE from a session the host
 * marked as lent to a plugin (pa.plugin_session, db_pg.c), unless the write
 * comes through pa_emit(), which emit() calls and which sets pa.host_write
 * for its own length only. It uses set_config: a function's SET clause on a
 * custom setting needs a superuser since PostgreSQL 15, and an error inside
 * ends the transaction or savepoint, which undoes the setting. Sessions of
 * the supervisor, the agent and its tools are not marked and not affected.
 * This holds against a plugin's bugs, not its malice (docs/ARCHITECTURE.md,
 * "Threat model"): a session may reset the setting, and DDL is not refused
 * (event triggers need a superuser). A trigger of anyone else's on a pa_
 * table, which could eat or change rows when the supervisor's own writes
 * fire it, is dropped by the move itself, in its transaction, before it
 * moves anything (pa_drop_foreign_triggers, one round trip per batch; one
 * it may not drop is reported, never a reason to stop moving). Functions and
 * triggers are made only where missing, at every start: replacing a trigger
 * would lock its table against the agent's readers. A later version that
 * changes one replaces it in its migration.
 */
#define PG_HOST_ONLY_FN                                                                            \
    "CREATE FUNCTION pa_host_only() RETURNS trigger LANGUAGE plpgsql AS $f$"                       \
    " BEGIN"                                                                                       \
    "  IF current_setting('pa.plugin_session', true) = 'on'"                                       \
    "     AND current_setting('pa.host_write', true) IS DISTINCT FROM 'on' THEN"                   \
    "   RAISE EXCEPTION 'a plugin''s session may not change the host''s table % (%);"              \
    " only emit() writes the outbox', TG_TABLE_NAME, TG_OP"                                        \
    "    USING ERRCODE = 'insufficient_privilege', TABLE = TG_TABLE_NAME;"                         \
    "  END IF;"                                                                                    \
    "  RETURN NULL;"                                                                               \
    " END $f$"

#define PG_EMIT_FN                                                                                 \
    "CREATE FUNCTION pa_emit(p_plugin TEXT, p_instance_id TEXT, p_item_json TEXT,"                 \
    " p_created_at TEXT) RETURNS void LANGUAGE plpgsql AS $f$"                                     \
    " DECLARE was TEXT := current_setting('pa.host_write', true);"                                 \
    " BEGIN"                                                                                       \
    "  PERFORM set_config('pa.host_write', 'on', true);"                                           \
    "  INSERT INTO pa_outbox(plugin, instance_id, item_json, created_at)"                          \
    "   VALUES (p_plugin, p_instance_id, p_item_json, p_created_at);"                              \
    "  PERFORM set_config('pa.host_write', coalesce(was, ''), true);"                              \
    " END $f$"

#define PG_DROP_FOREIGN_FN                                                                         \
    "CREATE FUNCTION pa_drop_foreign_triggers() RETURNS TEXT LANGUAGE plpgsql AS $f$"              \
    " DECLARE r RECORD; found TEXT := '';"                                                         \
    " BEGIN"                                                                                       \
    "  FOR r IN SELECT t.tgname, c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid" \
    "   WHERE NOT t.tgisinternal AND t.tgname <> 'pa_host_only' AND t.tgrelid IN (SELECT"          \
    "    to_regclass(n) FROM unnest(ARRAY['pa_schema', 'pa_outbox', 'pa_tasks',"                   \
    "    'pa_outbox_rejected', 'pa_instances']) n) ORDER BY c.relname, t.tgname LOOP"              \
    "   found := found || CASE WHEN found = '' THEN '' ELSE ', ' END"                              \
    "    || r.tgname || ' on ' || r.relname;"                                                      \
    "   BEGIN"                                                                                     \
    "    EXECUTE format('DROP TRIGGER %I ON %I', r.tgname, r.relname);"                            \
    "   EXCEPTION WHEN insufficient_privilege THEN"                                                \
    "    found := found || ' (not dropped: this role does not own the table)';"                    \
    "   END;"                                                                                      \
    "  END LOOP;"                                                                                  \
    "  RETURN found;"                                                                              \
    " END $f$"

#define PG_GUARD_SQL                                                                               \
    "DO $d$ DECLARE t TEXT; BEGIN"                                                                 \
    " IF to_regproc('pa_host_only') IS NULL THEN EXECUTE $e$" PG_HOST_ONLY_FN "$e$; END IF;"       \
    " IF to_regproc('pa_emit') IS NULL THEN EXECUTE $e$" PG_EMIT_FN "$e$; END IF;"                 \
    " IF to_regproc('pa_drop_foreign_triggers') IS NULL THEN"                                      \
    "  EXECUTE $e$" PG_DROP_FOREIGN_FN "$e$;"                                                      \
    " END IF;"                                                                                     \
    " FOREACH t IN ARRAY ARRAY['pa_schema', 'pa_outbox', 'pa_tasks', 'pa_outbox_rejected',"        \
    "  'pa_instances'] LOOP"                                                                       \
    "  IF NOT EXISTS (SELECT 1 FROM pg_trigger"                                                    \
    "   WHERE tgname = 'pa_host_only' AND tgrelid = to_regclass(t)) THEN"                          \
    "   EXECUTE format('CREATE TRIGGER pa_host_only BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE" \
    " ON %I FOR EACH STATEMENT EXECUTE FUNCTION pa_host_only()', t);"                              \
    "  END IF;"                                                                                    \
    " END LOOP;"                                                                                   \
    " END $d$"

/* The same on both engines. */
static const char SCHEMA_TABLE_SQL[] =
    "CREATE TABLE IF NOT EXISTS pa_schema (component TEXT PRIMARY KEY,"
    " version INTEGER NOT NULL, applied_at TEXT NOT NULL)";
static const char MARK_SQL[] =
    "UPDATE pa_outbox SET consumed_at = ?1 WHERE consumed_at IS NULL"
    " AND EXISTS (SELECT 1 FROM pa_tasks t WHERE t.outbox_id = pa_outbox.id)";
static const char RECORD_VERSION_SQL[] =
    "INSERT INTO pa_schema(component, version, applied_at) VALUES ('host', ?1, ?2)"
    " ON CONFLICT(component) DO UPDATE"
    " SET version = excluded.version, applied_at = excluded.applied_at";

static const char RECORD_STATUS_SQL[] =
    "INSERT INTO pa_instances(plugin, instance, running, last_success_at, last_failure_at,"
    " last_error, failures, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
    " ON CONFLICT(plugin, instance) DO UPDATE SET running = excluded.running,"
    " last_success_at = excluded.last_success_at, last_failure_at = excluded.last_failure_at,"
    " last_error = excluded.last_error, failures = excluded.failures,"
    " updated_at = excluded.updated_at";

#define FIRST_PENDING_SQL                                                                          \
    "SELECT id, plugin, instance_id FROM pa_outbox WHERE consumed_at IS NULL ORDER BY id LIMIT 1"
static const char REJECT_SQL[] =
    "INSERT INTO pa_outbox_rejected(outbox_id, plugin, instance_id, error, rejected_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5)";
static const char MARK_REJECTED_SQL[] =
    "UPDATE pa_outbox SET consumed_at = ?1 WHERE id = ?2 AND consumed_at IS NULL";

static const task_sql SQLITE_SQL = {
    .schema_table = SCHEMA_TABLE_SQL,
    .schema = HOST_TABLES("INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER"),
    /* Moving pending outbox rows into tasks is one statement: the item is never rebuilt in C. */
    .move =
        "INSERT INTO pa_tasks(outbox_id, plugin, instance" PA_TASK_FIELDS(COLUMN_NAME) ", created_at)"
        " SELECT id, plugin, instance_id" PA_TASK_FIELDS(EXTRACT) ", ?1"
        " FROM pa_outbox WHERE consumed_at IS NULL ORDER BY id LIMIT ?2",
    .mark = MARK_SQL,
    .lines = "SELECT " LINE_COLUMNS " FROM pa_tasks WHERE id > ?1 ORDER BY id",
    .record_version = RECORD_VERSION_SQL,
    .has_task_column = "SELECT count(*) FROM pragma_table_info('pa_tasks') WHERE name = ?1",
    .record_status = RECORD_STATUS_SQL,
    .first_pending = FIRST_PENDING_SQL,
    .adopts_old_tables = true,
};

static const task_sql POSTGRES_SQL = {
    .schema_table = SCHEMA_TABLE_SQL,
    .schema = HOST_TABLES("BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", "BIGINT"),
    /* Two hosts creating the tables at once would collide in the catalog: one at a time. */
    .migration_lock = "SELECT pg_advisory_xact_lock(7361746173)",
    /* Rows another host is moving are skipped, not waited for; the lines come back in order. */
    .move =
        "WITH taken AS (SELECT id, plugin, instance_id, item_json FROM pa_outbox"
        " WHERE consumed_at IS NULL ORDER BY id LIMIT ?2 FOR UPDATE SKIP LOCKED),"
        " moved AS (INSERT INTO pa_tasks(outbox_id, plugin, instance" PA_TASK_FIELDS(COLUMN_NAME) ", created_at)"
        " SELECT id, plugin, instance_id" PA_TASK_FIELDS(PG_EXTRACT) ", ?1 FROM taken ORDER BY id"
        " RETURNING *)"
        " SELECT " LINE_COLUMNS " FROM moved ORDER BY id",
    .mark = MARK_SQL,
    /* Delivered at COMMIT, so a listener never hears of a task it cannot read (docs/TASKS.md). */
    .notify = "SELECT pg_notify('pa_tasks', ?1)",
    .record_version = RECORD_VERSION_SQL,
    .has_task_column = "SELECT count(*) FROM information_schema.columns"
                       " WHERE table_schema = current_schema() AND table_name = 'pa_tasks'"
                       " AND column_name = ?1",
    .record_status = RECORD_STATUS_SQL,
    .first_pending = FIRST_PENDING_SQL " FOR UPDATE SKIP LOCKED",
    .guard = PG_GUARD_SQL,
    .drop_foreign = "SELECT pa_drop_foreign_triggers()",
};

/* Earlier host versions' own tables (SQLite only), recognised by their columns, moved once. */
static const char ADOPT_OUTBOX_SQL[] =
    "INSERT INTO pa_outbox(id, plugin, instance_id, item_json, created_at, consumed_at)"
    " SELECT id, plugin, instance_id, item_json, created_at, consumed_at FROM outbox";
static const char ADOPT_TASKS_SQL[] =
    "INSERT INTO pa_tasks(id, outbox_id, plugin, instance" PA_TASK_FIELDS(COLUMN_NAME) ", created_at)"
    " SELECT t.id, t.outbox_id, o.plugin, o.instance_id" PA_TASK_FIELDS(OLD_COLUMN) ", t.created_at"
    " FROM tasks t JOIN outbox o ON o.id = t.outbox_id";
// clang-format on

static const task_sql *sql_for(pool *p)
{
    return pool_kind(p) == DB_POSTGRES ? &POSTGRES_SQL : &SQLITE_SQL;
}

/* One lease's statements, for the host's own work. */
typedef struct host_lease {
    pool *pool;
    pool_owner *owner;
    pa_lease lease;
    char *err;
    size_t err_size;
    bool sql_refused; /* a statement did not prepare: the schema, not a row, is at fault */
} host_lease;

static db_stmt *prepare(host_lease *l, const char *sql, const char *what)
{
    int status;
    char why[900];
    db_stmt *st = pool_prepare(l->pool, l->owner, l->lease, 0, sql, &status, why, sizeof why);
    if (!st) {
        snprintf(l->err, l->err_size, "%s: %s", what, why);
        l->sql_refused = true;
    }
    return st;
}

/* Runs a statement to its end (rows dropped); binds: ?1 text (or NULL), ?2 integer (or < 0). */
static int run(host_lease *l, const char *sql, const char *text, int64_t number, const char *what)
{
    db_stmt *st = prepare(l, sql, what);
    if (!st)
        return PA_ERR_DB;
    int rc = PA_OK;
    if (text)
        rc = db_bind_text(st, 1, text, -1);
    if (rc == PA_OK && number >= 0)
        rc = db_bind_int64(st, text ? 2 : 1, number);
    bool row = true;
    char why[900] = "";
    while (rc == PA_OK && row)
        rc = db_step(st, &row, why, sizeof why);
    if (rc != PA_OK)
        snprintf(l->err, l->err_size, "%s: %s", what, why[0] ? why : "cannot bind");
    return rc;
}

static int exec(host_lease *l, const char *sql, const char *what)
{
    char why[900] = "the lease is not live";
    db_conn *c = pool_conn(l->pool, l->owner, l->lease);
    int rc = c ? db_exec(c, sql, why, sizeof why) : PA_ERR_STALE_LEASE;
    if (rc != PA_OK)
        snprintf(l->err, l->err_size, "%s: %s", what, why);
    return rc;
}

/* The first column of the first row as an integer, or -1. */
static int64_t scalar(host_lease *l, const char *sql, const char *arg)
{
    db_stmt *st = prepare(l, sql, "reading the host tables");
    bool row = false;
    char why[900];
    if (!st || (arg && db_bind_text(st, 1, arg, -1) != PA_OK) ||
        db_step(st, &row, why, sizeof why) != PA_OK || !row)
        return -1;
    int64_t v = db_column_int64(st, 0);
    while (row && db_step(st, &row, why, sizeof why) == PA_OK)
        ;
    return v;
}

/* True when table has every column in the SQL list columns ("'a','b'"), count of them. */
static bool has_columns(host_lease *l, const char *table, const char *columns, int count)
{
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pragma_table_info(?1) WHERE name IN (%s)",
             columns);
    return scalar(l, sql, table) == count;
}

/*
 * Version 1: the pa_ tables. An outbox and tasks table that an earlier host
 * wrote on SQLite (its exact columns) are moved into them and dropped; a
 * tasks table of anyone else (the agent's own) is left exactly as it is.
 */
static int migrate_to_1(host_lease *l, const task_sql *q)
{
    int rc = exec(l, q->schema, "creating the host tables");
    bool old_outbox =
        rc == PA_OK && q->adopts_old_tables &&
        has_columns(l, "outbox", "'plugin','instance_id','item_json','created_at','consumed_at'",
                    5);
    bool old_tasks = old_outbox && has_columns(l, "tasks",
                                               "'outbox_id','type','tags','metadata',"
                                               "'source_reference','created_at'",
                                               6);
    if (old_outbox)
        rc = run(l, ADOPT_OUTBOX_SQL, NULL, -1, "moving outbox into pa_outbox");
    int64_t moved_tasks = 0;
    if (rc == PA_OK && old_tasks) {
        db_stmt *st = prepare(l, ADOPT_TASKS_SQL, "moving tasks into pa_tasks");
        rc = run(l, ADOPT_TASKS_SQL, NULL, -1, "moving tasks into pa_tasks");
        moved_tasks = st ? db_changes(st) : 0;
    }
    if (rc == PA_OK && old_tasks)
        rc = exec(l, "DROP TABLE tasks", "dropping the old tasks table");
    if (rc == PA_OK && old_outbox)
        rc = exec(l, "DROP TABLE outbox", "dropping the old outbox table");
    if (rc == PA_OK && old_outbox)
        log_msg(PA_LOG_INFO, "host",
                "schema: moved this host's earlier outbox%s into pa_outbox%s (%lld task(s))",
                old_tasks ? " and tasks tables" : " table", old_tasks ? " and pa_tasks" : "",
                (long long)moved_tasks);
    return rc;
}

/*
 * Version 2: pa_tasks gains a consumer's claim (CLAIM_COLUMNS), and
 * pa_instances appears. A database created at version 1 has neither; one
 * created by this host has both already (HOST_TABLES is the current shape).
 */
static int migrate_to_2(host_lease *l, const task_sql *q)
{
    static const char *const added[][2] = {
        {"claimed_by", "ALTER TABLE pa_tasks ADD COLUMN claimed_by TEXT"},
        {"claim_until", "ALTER TABLE pa_tasks ADD COLUMN claim_until TEXT"},
        {"claims", "ALTER TABLE pa_tasks ADD COLUMN claims INTEGER NOT NULL DEFAULT 0"},
    };
    int rc = exec(l, q->schema, "creating the host tables");
    for (size_t i = 0; rc == PA_OK && i < sizeof added / sizeof added[0]; i++) {
        int64_t present = scalar(l, q->has_task_column, added[i][0]);
        if (present < 0) {
            snprintf(l->err, l->err_size, "reading pa_tasks' columns failed");
            return PA_ERR_DB;
        }
        if (present == 0)
            rc = exec(l, added[i][1], "adding a claim column to pa_tasks");
    }
    return rc;
}

/* Version 3: pa_outbox_rejected appears (HOST_TABLES creates what is missing). */
static int migrate_to_3(host_lease *l, const task_sql *q)
{
    return exec(l, q->schema, "creating the host tables");
}

/* Version 4: the guard on PostgreSQL (PG_GUARD_SQL); nothing on SQLite, whose authorizer guards. */
static int guard_tables(host_lease *l, const task_sql *q)
{
    return q->guard ? exec(l, q->guard, "guarding the host tables") : PA_OK;
}

typedef int (*migration_fn)(host_lease *l, const task_sql *q);
static const migration_fn MIGRATIONS[HOST_SCHEMA_VERSION] = {migrate_to_1, migrate_to_2,
                                                             migrate_to_3, guard_tables};

/* Brings the host's tables to HOST_SCHEMA_VERSION inside the lease's transaction. */
static int migrate(host_lease *l, const task_sql *q)
{
    int rc =
        q->migration_lock ? run(l, q->migration_lock, NULL, -1, "locking the host tables") : PA_OK;
    if (rc == PA_OK)
        rc = exec(l, q->schema_table, "creating pa_schema");
    if (rc != PA_OK)
        return rc;
    int64_t version =
        scalar(l, "SELECT coalesce(max(version), 0) FROM pa_schema WHERE component = ?1", "host");
    if (version < 0) { /* unreadable, or a row someone wrote by hand: never index by it */
        snprintf(l->err, l->err_size,
                 "pa_schema holds no valid schema version for the host (read %lld); the host "
                 "tables are left as they are",
                 (long long)version);
        return PA_ERR_DB;
    }
    if (version > HOST_SCHEMA_VERSION) {
        snprintf(l->err, l->err_size,
                 "the database's host tables are at schema version %lld, newer than this "
                 "host_stub's %d; use a newer host_stub",
                 (long long)version, HOST_SCHEMA_VERSION);
        return PA_ERR_DB;
    }
    for (int64_t v = version; v < HOST_SCHEMA_VERSION && rc == PA_OK; v++)
        rc = MIGRATIONS[v](l, q);
    /* Up to date: a table someone dropped comes back (IF NOT EXISTS costs nothing), guarded. */
    if (rc == PA_OK && version == HOST_SCHEMA_VERSION)
        rc = exec(l, q->schema, "creating the host tables");
    if (rc == PA_OK && version == HOST_SCHEMA_VERSION)
        rc = guard_tables(l, q);
    if (rc == PA_OK && version < HOST_SCHEMA_VERSION) {
        db_stmt *st = prepare(l, q->record_version, "recording the schema version");
        char stamp[32];
        clock_format_iso8601(clock_wall_ms(), stamp, sizeof stamp);
        bool row = false;
        char why[900];
        rc = st ? db_bind_int64(st, 1, HOST_SCHEMA_VERSION) : PA_ERR_DB;
        if (rc == PA_OK)
            rc = db_bind_text(st, 2, stamp, -1);
        if (rc == PA_OK && (rc = db_step(st, &row, why, sizeof why)) != PA_OK)
            snprintf(l->err, l->err_size, "recording the schema version: %s", why);
    }
    return rc;
}

/* Releases l's lease, committing when rc is PA_OK; returns rc, or the failed COMMIT's status. */
static int release(host_lease *l, int rc)
{
    char release_err[512];
    int release_rc = pool_release(l->pool, l->owner, l->lease,
                                  rc == PA_OK ? PA_RELEASE_COMMIT : PA_RELEASE_ROLLBACK, POOL_HERE,
                                  release_err, sizeof release_err);
    if (rc == PA_OK && release_rc != PA_OK) {
        snprintf(l->err, l->err_size, "%s", release_err);
        rc = release_rc;
    }
    return rc;
}

int task_store_migrate(pool *p, pool_owner *host, char *err, size_t err_size)
{
    host_lease l = {p, host, {0}, err, err_size, false};
    int rc = pool_lease(p, host, PA_LEASE_WRITE, -1, POOL_HERE, &l.lease, err, err_size);
    if (rc != PA_OK)
        return rc;
    /* One transaction: a migration happens whole or not at all, and once across hosts. */
    return release(&l, migrate(&l, sql_for(p)));
}

/* A growing line; failed once an allocation failed. */
typedef struct line_buf {
    char *text;
    size_t len, cap;
    bool failed;
} line_buf;

static void put(line_buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *grown = realloc(b->text, cap);
        if (!grown) {
            b->failed = true;
            return;
        }
        b->text = grown;
        b->cap = cap;
    }
    memcpy(b->text + b->len, s, n);
    b->len += n;
    b->text[b->len] = '\0';
}

static void put_key(line_buf *b, const char *name)
{
    put(b, ",\"", 2);
    put(b, name, strlen(name));
    put(b, "\":", 2);
}

/* A text column as a JSON string (cJSON's escaping), or null. */
static void put_TEXT(line_buf *b, const char *name, const db_stmt *st, int i)
{
    put_key(b, name);
    const char *v = db_column_text(st, i, NULL);
    cJSON *s = v ? cJSON_CreateString(v) : NULL;
    char *quoted = s ? cJSON_PrintUnformatted(s) : NULL;
    if (v && !quoted)
        b->failed = true;
    else if (quoted)
        put(b, quoted, strlen(quoted));
    else
        put(b, "null", 4);
    cJSON_free(quoted);
    cJSON_Delete(s);
}

/* A column holding JSON (written compact by emit) as that JSON, or null. */
static void put_JSON(line_buf *b, const char *name, const db_stmt *st, int i)
{
    put_key(b, name);
    size_t n;
    const char *v = db_column_text(st, i, &n);
    put(b, v ? v : "null", v ? n : 4);
}

#define PUT_FIELD(name, def, kind, value) put_##kind(&b, #name, st, column++);

/*
 * The task line (docs/TASKS.md) of the current row of LINE_COLUMNS, the same
 * bytes on both engines: the row as compact JSON, tags and metadata as JSON
 * values. NULL when out of memory.
 */
static char *task_line(const db_stmt *st)
{
    line_buf b = {0};
    char head[64];
    snprintf(head, sizeof head, "{\"schema_version\":%d,\"id\":%lld", PA_TASKS_SCHEMA_VERSION,
             (long long)db_column_int64(st, 0));
    put(&b, head, strlen(head));
    int column = 1;
    PA_TASK_FIELDS(PUT_FIELD)
    put_TEXT(&b, "created_at", st, column++);
    put_TEXT(&b, "plugin", st, column++);
    put_TEXT(&b, "instance", st, column);
    put(&b, "}", 1);
    if (b.failed) {
        free(b.text);
        return NULL;
    }
    return b.text;
}

/* Collects the line of every row of st (LINE_COLUMNS) into lines (up to CONSUME_BATCH). */
static int collect_lines(host_lease *l, db_stmt *st, char **lines, size_t *count)
{
    bool row = true;
    char why[900] = "";
    int rc = PA_OK;
    while (rc == PA_OK && (rc = db_step(st, &row, why, sizeof why)) == PA_OK && row) {
        if (*count >= CONSUME_BATCH || !(lines[*count] = task_line(st))) {
            snprintf(why, sizeof why, "%s",
                     *count >= CONSUME_BATCH ? "too many rows" : "out of memory");
            rc = PA_ERR_NOMEM;
            break;
        }
        (*count)++;
    }
    if (rc != PA_OK)
        snprintf(l->err, l->err_size, "outbox consumer: %s", why);
    return rc;
}

static int bind_move(db_stmt *st, const char *stamp, size_t batch)
{
    int rc = db_bind_text(st, 1, stamp, -1);
    return rc == PA_OK ? db_bind_int64(st, 2, (int64_t)batch) : rc;
}

/* Moves up to batch pending items into pa_tasks; collects their JSON lines. */
/* Triggers of anyone else's on the host's tables (PostgreSQL, PG_GUARD_SQL) dropped, and said. */
static int drop_foreign_triggers(host_lease *l, const task_sql *q)
{
    db_stmt *st = q->drop_foreign ? prepare(l, q->drop_foreign, "guarding the host tables") : NULL;
    bool row = false;
    char why[900] = "";
    int rc = !q->drop_foreign ? PA_OK : st ? db_step(st, &row, why, sizeof why) : PA_ERR_DB;
    if (rc != PA_OK && why[0])
        snprintf(l->err, l->err_size, "guarding the host tables: %s", why);
    size_t len = 0;
    const char *dropped = rc == PA_OK && row ? db_column_text(st, 0, &len) : NULL;
    if (dropped && len)
        log_msg(PA_LOG_ERROR, "outbox",
                "dropped trigger(s) on the host's tables that were not the host's: %.*s (the "
                "host's writes would fire them, to eat or change tasks; docs/ARCHITECTURE.md, "
                "\"Threat model\")",
                (int)(len > 800 ? 800 : len), dropped);
    while (rc == PA_OK && row)
        rc = db_step(st, &row, why, sizeof why);
    return rc;
}

static int consume_batch(host_lease *l, const task_sql *q, const char *stamp, size_t batch,
                         char **lines, size_t *count)
{
    int rc = drop_foreign_triggers(l, q);
    int64_t before =
        rc == PA_OK && q->lines ? scalar(l, "SELECT coalesce(max(id), 0) FROM pa_tasks", NULL) : 0;
    rc = rc == PA_OK && before >= 0 ? PA_OK : PA_ERR_DB;
    if (rc == PA_OK && q->lines) {
        rc = run(l, q->move, stamp, (int64_t)batch, "outbox consumer");
    } else if (rc == PA_OK) { /* the move returns the lines */
        db_stmt *move = prepare(l, q->move, "outbox consumer");
        rc = move ? bind_move(move, stamp, batch) : PA_ERR_DB;
        if (rc == PA_OK)
            rc = collect_lines(l, move, lines, count);
    }
    if (rc == PA_OK)
        rc = run(l, q->mark, stamp, -1, "outbox consumer");
    if (rc == PA_OK && q->lines) {
        db_stmt *select = prepare(l, q->lines, "outbox consumer");
        rc = select ? db_bind_int64(select, 1, before) : PA_ERR_DB;
        if (rc == PA_OK)
            rc = collect_lines(l, select, lines, count);
    }
    if (rc == PA_OK && q->notify && *count) {
        char n[24];
        snprintf(n, sizeof n, "%zu", *count);
        rc = run(l, q->notify, n, -1, "announcing new tasks");
    }
    return rc;
}

/* A WRITE lease for l, waiting at most lock_wait_ms for the lock (< 0: the pool's timeout). */
static int lease_write(host_lease *l, int lock_wait_ms)
{
    if (lock_wait_ms < 0)
        return pool_lease(l->pool, l->owner, PA_LEASE_WRITE, -1, POOL_HERE, &l->lease, l->err,
                          l->err_size);
    return pool_lease_briefly(l->pool, l->owner, PA_LEASE_WRITE, lock_wait_ms, POOL_HERE, &l->lease,
                              l->err, l->err_size);
}

static const char *text_or_unknown(const db_stmt *st, int i)
{
    const char *text = db_column_text(st, i, NULL);
    return text ? text : "?";
}

/* Binds ?1..?5 of REJECT_SQL and runs it: the first pending row, set aside with why. */
static int record_rejection(host_lease *l, db_stmt *first, const char *why, const char *stamp)
{
    db_stmt *st = prepare(l, REJECT_SQL, "setting a bad outbox row aside");
    int rc = st ? db_bind_int64(st, 1, db_column_int64(first, 0)) : PA_ERR_DB;
    if (rc == PA_OK)
        rc = db_bind_text(st, 2, text_or_unknown(first, 1), -1);
    if (rc == PA_OK)
        rc = db_bind_text(st, 3, text_or_unknown(first, 2), -1);
    if (rc == PA_OK)
        rc = db_bind_text(st, 4, why, -1);
    if (rc == PA_OK)
        rc = db_bind_text(st, 5, stamp, -1);
    bool row = true;
    char step_err[900] = "cannot bind";
    while (rc == PA_OK && row)
        rc = db_step(st, &row, step_err, sizeof step_err);
    if (rc != PA_OK)
        snprintf(l->err, l->err_size, "setting a bad outbox row aside: %s", step_err);
    return rc;
}

/*
 * The first pending row, whose move alone just failed with why: marked
 * consumed and recorded in pa_outbox_rejected, in one transaction. PA_OK
 * when a row was set aside (logged once, here).
 */
static int reject_first_pending(host_lease *l, const task_sql *q, const char *stamp,
                                const char *why, char plugin[128], char instance[256])
{
    db_stmt *first = prepare(l, q->first_pending, "finding the bad outbox row");
    bool row = false;
    char step_err[900] = "";
    int rc = first ? db_step(first, &row, step_err, sizeof step_err) : PA_ERR_DB;
    if (rc == PA_OK && !row) {
        snprintf(l->err, l->err_size, "outbox consumer: %s (no pending row to set aside)", why);
        return PA_ERR_DB;
    }
    int64_t id = rc == PA_OK ? db_column_int64(first, 0) : 0;
    if (rc == PA_OK) {
        snprintf(plugin, 128, "%s", text_or_unknown(first, 1));
        snprintf(instance, 256, "%s", text_or_unknown(first, 2));
    }
    if (rc == PA_OK)
        rc = record_rejection(l, first, why, stamp);
    if (rc == PA_OK)
        log_msg(PA_LOG_ERROR, "outbox",
                "outbox row %lld from %s/%s set aside: %s; every other item goes on (see "
                "pa_outbox_rejected, docs/OPERATIONS.md)",
                (long long)id, text_or_unknown(first, 1), text_or_unknown(first, 2), why);
    while (rc == PA_OK && row)
        rc = db_step(first, &row, step_err, sizeof step_err);
    return rc == PA_OK ? run(l, MARK_REJECTED_SQL, stamp, id, "setting a bad outbox row aside")
                       : rc;
}

/*
 * Whether a failed move failed for its rows' sake (a constraint, a value that
 * does not convert: SQLSTATE classes 23 and 22; SQLite's CONSTRAINT and
 * MISMATCH, or ERROR from a statement that prepared, as a JSON function
 * raises), not the schema's or the database's. Asked before the rollback.
 */
static bool rows_at_fault(host_lease *l, int rc)
{
    if (rc == PA_ERR_CONSTRAINT)
        return true;
    const db_conn *c = pool_conn(l->pool, l->owner, l->lease);
    const char *code = c ? db_error_code(c) : "";
    if (rc != PA_ERR_DB || l->sql_refused || !code[0])
        return false;
    if (pool_kind(l->pool) == DB_POSTGRES)
        return strncmp(code, "22", 2) == 0 || strncmp(code, "23", 2) == 0;
    long primary = strtol(code, NULL, 10) & 0xff;
    return primary == 1 /* SQLITE_ERROR */ || primary == 19 /* CONSTRAINT */ ||
           primary == 20 /* MISMATCH */;
}

/* One transaction of the round: up to batch rows moved, their lines to the sink once committed. */
static int move_once(pool *p, pool_owner *host, const task_sql *q, task_round *r, const char *stamp,
                     size_t batch, size_t *count, bool *row_fault, char *err, size_t err_size)
{
    char *lines[CONSUME_BATCH];
    *count = 0;
    host_lease l = {p, host, {0}, err, err_size, false};
    err[0] = '\0';
    int rc = lease_write(&l, r->lock_wait_ms);
    if (rc != PA_OK)
        return rc;
    rc = consume_batch(&l, q, stamp, batch, lines, count);
    *row_fault = rc != PA_OK && rows_at_fault(&l, rc);
    rc = release(&l, rc);
    /* Only what committed is announced: a task is printed once it exists. */
    for (size_t i = 0; i < *count; i++) {
        if (rc == PA_OK && r->sink)
            r->sink->line(r->sink->arg, lines[i], strlen(lines[i]));
        free(lines[i]);
    }
    return rc;
}

/* The first pending row, which moved alone fails with err: set aside (rejected) in its own lease.
 */
static int set_aside(pool *p, pool_owner *host, const task_sql *q, task_round *r, const char *stamp,
                     char *err, size_t err_size)
{
    char why[1024];
    snprintf(why, sizeof why, "%s", err);
    host_lease l = {p, host, {0}, err, err_size, false};
    char plugin[128] = "", instance[256] = "";
    int rc = lease_write(&l, r->lock_wait_ms);
    if (rc == PA_OK)
        rc = release(&l, reject_first_pending(&l, q, stamp, why, plugin, instance));
    if (rc == PA_OK)
        r->rejected++;
    if (rc == PA_OK && r->set_aside)
        r->set_aside(r->set_aside_arg, plugin, instance);
    return rc;
}

int task_store_consume(pool *p, pool_owner *host, task_round *r, char *err, size_t err_size)
{
    r->consumed = r->rejected = 0;
    r->more = false;
    char stamp[32];
    clock_format_iso8601(r->now_ms, stamp, sizeof stamp);
    const task_sql *q = sql_for(p);
    int64_t deadline_ns = r->budget_ms < 0 ? 0 : clock_mono_ns() + r->budget_ms * 1000000;
    /* After a failed batch, rows go one by one until the bad one is found (or a batch's worth). */
    size_t batch = CONSUME_BATCH, singles_left = 0;
    for (;;) {
        size_t count = 0;
        bool at_fault = false;
        int rc = move_once(p, host, q, r, stamp, batch, &count, &at_fault, err, err_size);
        if (at_fault && batch > 1) {
            batch = 1, singles_left = CONSUME_BATCH;
            continue;
        }
        if (at_fault) { /* this one row is the cause */
            rc = set_aside(p, host, q, r, stamp, err, err_size);
            batch = CONSUME_BATCH, singles_left = 0;
            count = 1; /* not the end of the outbox */
        } else if (batch == 1 && count > 0 && --singles_left == 0) {
            batch = CONSUME_BATCH; /* no bad row among them: the failure has passed */
        }
        if (rc != PA_OK)
            return rc;
        r->consumed += at_fault ? 0 : count;
        if (count < batch)
            return PA_OK; /* the outbox is empty */
        if (deadline_ns && clock_mono_ns() >= deadline_ns) {
            r->more = true; /* the rest next round: the loop checks its signals and deadlines */
            return PA_OK;
        }
    }
}

/* A time column: the ISO 8601 text every pa_ table holds, or NULL for never. */
static int bind_stamp(db_stmt *st, int index, int64_t ms)
{
    if (ms <= 0)
        return db_bind_null(st, index);
    char stamp[32];
    clock_format_iso8601(ms, stamp, sizeof stamp);
    return db_bind_text(st, index, stamp, -1);
}

static int record_one(host_lease *l, const task_sql *q, const instance_status *r, int64_t now_ms)
{
    db_stmt *st = prepare(l, q->record_status, "recording an instance's status");
    if (!st)
        return PA_ERR_DB;
    int rc = db_bind_text(st, 1, r->plugin, -1);
    if (rc == PA_OK)
        rc = db_bind_text(st, 2, r->instance, -1);
    if (rc == PA_OK)
        rc = db_bind_int64(st, 3, r->running ? 1 : 0);
    if (rc == PA_OK)
        rc = bind_stamp(st, 4, r->last_success_ms);
    if (rc == PA_OK)
        rc = bind_stamp(st, 5, r->last_failure_ms);
    if (rc == PA_OK)
        rc = r->last_error && *r->last_error ? db_bind_text(st, 6, r->last_error, -1)
                                             : db_bind_null(st, 6);
    if (rc == PA_OK)
        rc = db_bind_int64(st, 7, r->failures);
    if (rc == PA_OK)
        rc = bind_stamp(st, 8, now_ms);
    bool row = true;
    char why[900] = "cannot bind";
    while (rc == PA_OK && row)
        rc = db_step(st, &row, why, sizeof why);
    if (rc != PA_OK)
        snprintf(l->err, l->err_size, "recording the status of %s/%s: %s", r->plugin, r->instance,
                 why);
    return rc;
}

int task_store_record_status(pool *p, pool_owner *host, int64_t now_ms, int lock_wait_ms,
                             const instance_status *rows, size_t n, char *err, size_t err_size)
{
    if (n == 0)
        return PA_OK;
    host_lease l = {p, host, {0}, err, err_size, false};
    int rc = lease_write(&l, lock_wait_ms);
    if (rc != PA_OK)
        return rc;
    const task_sql *q = sql_for(p);
    for (size_t i = 0; i < n && rc == PA_OK; i++)
        rc = record_one(&l, q, &rows[i], now_ms);
    return release(&l, rc);
}
