/*
 * processed_granola_notes over the engine-neutral statement API (ABI 1.4):
 * one code path for SQLite and PostgreSQL; only the table's DDL differs, as
 * the agent's SQLAlchemy models create it on each engine.
 */
#include "note_store.h"

#include <stdio.h>
#include <string.h>

/* Ids checked per statement: one statement text, whatever the count (NULL pads it). */
#define FIND_BATCH 16

static int lease_failed(const note_store *s, const char *what, int rc, char *err, size_t err_size)
{
    snprintf(err, err_size, "%s: %s", what, s->api->last_error(s->ctx));
    return rc;
}

/* The failure of a statement call: the host's message, the lease rolled back. */
static int db_failed(const note_store *s, pa_lease lease, const char *what, int rc, char *err,
                     size_t err_size)
{
    snprintf(err, err_size, "%s: %s", what, s->api->last_error(s->ctx));
    PA_RELEASE(s->api, s->ctx, lease, PA_RELEASE_ROLLBACK);
    return rc == PA_OK ? PA_ERR_DB : rc;
}

/* The agent's own DDL (SQLAlchemy's CREATE TABLE on each engine): either side may create it. */
static const char SQLITE_DDL[] =
    "CREATE TABLE IF NOT EXISTS processed_granola_notes ("
    " id INTEGER NOT NULL, note_id VARCHAR(200) NOT NULL,"
    " workspace_id VARCHAR(200) NOT NULL, account_id VARCHAR(100) NOT NULL,"
    " note_title VARCHAR(500) NOT NULL, note_created_at DATETIME NOT NULL,"
    " processed_at DATETIME DEFAULT (CURRENT_TIMESTAMP) NOT NULL,"
    " tasks_created_count INTEGER NOT NULL, PRIMARY KEY (id),"
    " CONSTRAINT uix_note_account UNIQUE (note_id, account_id))";
static const char POSTGRES_DDL[] =
    "CREATE TABLE IF NOT EXISTS processed_granola_notes ("
    " id SERIAL NOT NULL, note_id VARCHAR(200) NOT NULL,"
    " workspace_id VARCHAR(200) NOT NULL, account_id VARCHAR(100) NOT NULL,"
    " note_title VARCHAR(500) NOT NULL, note_created_at TIMESTAMP WITH TIME ZONE NOT NULL,"
    " processed_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP NOT NULL,"
    " tasks_created_count INTEGER NOT NULL, PRIMARY KEY (id),"
    " CONSTRAINT uix_note_account UNIQUE (note_id, account_id))";

/* Runs st to its end. */
static int run_to_end(const note_store *s, pa_stmt *st)
{
    int row = 1, rc = PA_OK;
    while (rc == PA_OK && row)
        rc = s->api->stmt_step(s->ctx, st, &row);
    return rc;
}

int note_store_create_schema(const note_store *s, char *err, size_t err_size)
{
    if (!PA_HOST_HAS(s->api, stmt_prepare)) {
        snprintf(err, err_size, "this host lacks the statement API of ABI 1.4; use a newer host");
        return PA_ERR_CONFIG;
    }
    pa_lease lease;
    int rc = PA_LEASE(s->api, s->ctx, PA_LEASE_WRITE, PA_LEASE_DEFAULT_TIMEOUT, &lease);
    if (rc != PA_OK)
        return lease_failed(s, "creating processed_granola_notes", rc, err, err_size);
    bool pg = s->api->db_backend(s->ctx) == PA_DB_POSTGRESQL;
    pa_stmt *st = s->api->stmt_prepare(s->ctx, lease, pg ? POSTGRES_DDL : SQLITE_DDL);
    rc = st ? run_to_end(s, st) : PA_ERR_DB;
    if (rc != PA_OK)
        return db_failed(s, lease, "creating processed_granola_notes", rc, err, err_size);
    rc = PA_RELEASE(s->api, s->ctx, lease, PA_RELEASE_COMMIT);
    if (rc != PA_OK)
        return lease_failed(s, "creating processed_granola_notes", rc, err, err_size);
    return PA_OK;
}

/* Marks is_new for ids[from .. from+n) not found among the processed notes of account_id. */
static int find_batch(const note_store *s, pa_stmt *st, const char *account_id,
                      const char *const *ids, size_t n, bool *is_new)
{
    const pa_host_api *api = s->api;
    int rc = api->stmt_bind_text(s->ctx, st, 1, account_id, -1);
    for (size_t k = 0; k < FIND_BATCH && rc == PA_OK; k++) {
        rc = k < n ? api->stmt_bind_text(s->ctx, st, (int)k + 2, ids[k], -1)
                   : api->stmt_bind_null(s->ctx, st, (int)k + 2);
        if (k < n)
            is_new[k] = true;
    }
    int row = 1;
    while (rc == PA_OK && (rc = api->stmt_step(s->ctx, st, &row)) == PA_OK && row) {
        size_t len;
        const char *done = api->stmt_column_text(s->ctx, st, 0, &len);
        for (size_t k = 0; done && k < n; k++) {
            if (strlen(ids[k]) == len && memcmp(ids[k], done, len) == 0)
                is_new[k] = false;
        }
    }
    return rc;
}

int note_store_find_new(const note_store *s, const char *account_id, const char *const *ids,
                        size_t count, bool *is_new, char *err, size_t err_size)
{
    for (size_t i = 0; i < count; i++)
        is_new[i] = false;
    if (count == 0)
        return PA_OK;
    pa_lease lease;
    int rc = PA_LEASE(s->api, s->ctx, PA_LEASE_READ, PA_LEASE_DEFAULT_TIMEOUT, &lease);
    if (rc != PA_OK)
        return lease_failed(s, "checking processed notes", rc, err, err_size);
    pa_stmt *st = s->api->stmt_prepare(
        s->ctx, lease,
        "SELECT note_id FROM processed_granola_notes WHERE account_id = ?1 AND note_id IN"
        " (?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)");
    rc = st ? PA_OK : PA_ERR_DB;
    for (size_t from = 0; from < count && rc == PA_OK; from += FIND_BATCH) {
        size_t n = count - from < FIND_BATCH ? count - from : FIND_BATCH;
        rc = find_batch(s, st, account_id, ids + from, n, is_new + from);
    }
    if (rc != PA_OK) {
        for (size_t i = 0; i < count; i++)
            is_new[i] = false;
        return db_failed(s, lease, "checking processed notes", rc, err, err_size);
    }
    rc = PA_RELEASE(s->api, s->ctx, lease, PA_RELEASE_COMMIT);
    return rc == PA_OK ? PA_OK : lease_failed(s, "checking processed notes", rc, err, err_size);
}

/* Inserts the row unless (note_id, account_id) is there; *inserted: it was not. */
static int insert_processed(const note_store *s, pa_lease lease, const processed_note *note,
                            bool *inserted)
{
    const pa_host_api *api = s->api;
    pa_stmt *st = api->stmt_prepare(
        s->ctx, lease,
        "INSERT INTO processed_granola_notes(note_id, workspace_id, account_id, note_title,"
        " note_created_at, processed_at, tasks_created_count) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1)"
        " ON CONFLICT (note_id, account_id) DO NOTHING");
    if (!st)
        return PA_ERR_DB;
    const char *title = note->title ? note->title : "Untitled Meeting";
    int rc = api->stmt_bind_text(s->ctx, st, 1, note->note_id, -1);
    if (rc == PA_OK)
        rc = api->stmt_bind_text(s->ctx, st, 2, note->workspace_id, -1);
    if (rc == PA_OK)
        rc = api->stmt_bind_text(s->ctx, st, 3, note->account_id, -1);
    if (rc == PA_OK)
        rc = api->stmt_bind_text(s->ctx, st, 4, title, -1);
    /* Each engine's own time: SQLAlchemy's naive UTC text on SQLite, timestamptz on PostgreSQL. */
    if (rc == PA_OK)
        rc = api->stmt_bind_time(s->ctx, st, 5, note->created_at_ms * 1000);
    if (rc == PA_OK)
        rc = api->stmt_bind_time(s->ctx, st, 6, api->now_ms(s->ctx) * 1000);
    if (rc == PA_OK)
        rc = run_to_end(s, st);
    *inserted = rc == PA_OK && api->stmt_changes(s->ctx, st) == 1;
    return rc;
}

int note_store_record_and_emit(const note_store *s, const processed_note *note, const pa_item *item,
                               bool *emitted, char *err, size_t err_size)
{
    *emitted = false;
    pa_lease lease;
    int rc = PA_LEASE(s->api, s->ctx, PA_LEASE_WRITE, PA_LEASE_DEFAULT_TIMEOUT, &lease);
    if (rc != PA_OK)
        return lease_failed(s, "recording a processed note", rc, err, err_size);
    bool inserted = false;
    rc = insert_processed(s, lease, note, &inserted);
    if (rc != PA_OK)
        return db_failed(s, lease, "recording a processed note", rc, err, err_size);
    if (inserted) {
        /* Inserted just now: the item goes out in the same transaction. */
        rc = s->api->emit(s->ctx, lease, item);
        if (rc != PA_OK) {
            snprintf(err, err_size, "emitting meeting %s: %s", note->note_id,
                     s->api->last_error(s->ctx));
            PA_RELEASE(s->api, s->ctx, lease, PA_RELEASE_ROLLBACK);
            return rc;
        }
        *emitted = true;
    }
    rc = PA_RELEASE(s->api, s->ctx, lease, PA_RELEASE_COMMIT);
    if (rc != PA_OK) {
        *emitted = false;
        return lease_failed(s, "committing a processed note", rc, err, err_size);
    }
    return PA_OK;
}
