#include "note_store.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int lease_failed(const note_store *s, const char *what, int rc, char *err, size_t err_size)
{
    snprintf(err, err_size, "%s: %s", what, s->api->last_error(s->ctx));
    return rc;
}

static int db_failed(const note_store *s, pa_lease lease, const char *what, sqlite3 *db, char *err,
                     size_t err_size)
{
    snprintf(err, err_size, "%s: %s", what, db ? sqlite3_errmsg(db) : "stale lease");
    PA_RELEASE(s->api, s->ctx, lease, PA_RELEASE_ROLLBACK);
    return PA_ERR_DB;
}

/* A statement: the host's cached one when it offers them (ABI 1.2), else our own. */
typedef struct store_stmt {
    sqlite3_stmt *stmt;
    bool owned; /* prepared here, so finalized here */
} store_stmt;

static int store_prepare(const note_store *s, pa_lease lease, sqlite3 *db, const char *sql,
                         store_stmt *out)
{
    out->owned = !PA_HOST_HAS(s->api, prepare_cached);
    out->stmt = NULL;
    if (!db)
        return SQLITE_MISUSE;
    if (!out->owned) {
        out->stmt = s->api->prepare_cached(s->ctx, lease, sql);
        return out->stmt ? SQLITE_OK : SQLITE_ERROR;
    }
    return sqlite3_prepare_v2(db, sql, -1, &out->stmt, NULL);
}

static void store_done(store_stmt *st)
{
    if (st->owned) {
        sqlite3_finalize(st->stmt);
    } else if (st->stmt) {
        sqlite3_reset(st->stmt);
        sqlite3_clear_bindings(st->stmt);
    }
    st->stmt = NULL;
}

void note_store_format_time(int64_t epoch_ms, char out[32])
{
    int64_t ms = epoch_ms % 1000 < 0 ? epoch_ms % 1000 + 1000 : epoch_ms % 1000;
    time_t secs = (time_t)((epoch_ms - ms) / 1000);
    struct tm tm;
    if (!gmtime_r(&secs, &tm))
        memset(&tm, 0, sizeof tm);
    char day[24];
    strftime(day, sizeof day, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(out, 32, "%s.%06d", day, (int)ms * 1000);
}

int note_store_create_schema(const note_store *s, char *err, size_t err_size)
{
    /* The agent's own DDL (SQLAlchemy's CREATE TABLE): either side may create it first. */
    static const char SQL[] =
        "CREATE TABLE IF NOT EXISTS processed_granola_notes ("
        " id INTEGER NOT NULL, note_id VARCHAR(200) NOT NULL,"
        " workspace_id VARCHAR(200) NOT NULL, account_id VARCHAR(100) NOT NULL,"
        " note_title VARCHAR(500) NOT NULL, note_created_at DATETIME NOT NULL,"
        " processed_at DATETIME DEFAULT (CURRENT_TIMESTAMP) NOT NULL,"
        " tasks_created_count INTEGER NOT NULL, PRIMARY KEY (id),"
        " CONSTRAINT uix_note_account UNIQUE (note_id, account_id))";
    pa_lease lease;
    int rc = PA_LEASE(s->api, s->ctx, PA_LEASE_WRITE, PA_LEASE_DEFAULT_TIMEOUT, &lease);
    if (rc != PA_OK)
        return lease_failed(s, "creating processed_granola_notes", rc, err, err_size);
    sqlite3 *db = s->api->lease_db(s->ctx, lease);
    if (!db || sqlite3_exec(db, SQL, NULL, NULL, NULL) != SQLITE_OK)
        return db_failed(s, lease, "creating processed_granola_notes", db, err, err_size);
    rc = PA_RELEASE(s->api, s->ctx, lease, PA_RELEASE_COMMIT);
    if (rc != PA_OK)
        return lease_failed(s, "creating processed_granola_notes", rc, err, err_size);
    return PA_OK;
}

int note_store_find_new(const note_store *s, const char *account_id, const char *const *ids,
                        size_t count, bool *is_new, char *err, size_t err_size)
{
    for (size_t i = 0; i < count; i++)
        is_new[i] = false;
    if (count == 0)
        return PA_OK;
    cJSON *array = cJSON_CreateStringArray(ids, (int)count);
    char *json = array ? cJSON_PrintUnformatted(array) : NULL;
    cJSON_Delete(array);
    if (!json) {
        snprintf(err, err_size, "out of memory");
        return PA_ERR_NOMEM;
    }
    pa_lease lease;
    int rc = PA_LEASE(s->api, s->ctx, PA_LEASE_READ, PA_LEASE_DEFAULT_TIMEOUT, &lease);
    if (rc != PA_OK) {
        cJSON_free(json);
        return lease_failed(s, "checking processed notes", rc, err, err_size);
    }
    sqlite3 *db = s->api->lease_db(s->ctx, lease);
    store_stmt st;
    /* One statement for the whole list: the ids travel as one JSON array. */
    int sr = store_prepare(s, lease, db,
                           "SELECT CAST(j.key AS INTEGER) FROM json_each(?1) AS j"
                           " WHERE NOT EXISTS (SELECT 1 FROM processed_granola_notes p"
                           " WHERE p.note_id = j.value AND p.account_id = ?2)",
                           &st);
    sqlite3_stmt *stmt = st.stmt;
    if (sr == SQLITE_OK) {
        sqlite3_bind_text(stmt, 1, json, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 2, account_id, -1, SQLITE_STATIC);
        while ((sr = sqlite3_step(stmt)) == SQLITE_ROW) {
            sqlite3_int64 index = sqlite3_column_int64(stmt, 0);
            if (index >= 0 && (size_t)index < count)
                is_new[index] = true;
        }
    }
    store_done(&st);
    cJSON_free(json);
    if (sr != SQLITE_DONE)
        return db_failed(s, lease, "checking processed notes", db, err, err_size);
    rc = PA_RELEASE(s->api, s->ctx, lease, PA_RELEASE_COMMIT);
    return rc == PA_OK ? PA_OK : lease_failed(s, "checking processed notes", rc, err, err_size);
}

int note_store_record_and_emit(const note_store *s, const processed_note *note, const pa_item *item,
                               bool *emitted, char *err, size_t err_size)
{
    *emitted = false;
    char now[32], created[32];
    note_store_format_time(s->api->now_ms(s->ctx), now);
    note_store_format_time(note->created_at_ms, created);

    pa_lease lease;
    int rc = PA_LEASE(s->api, s->ctx, PA_LEASE_WRITE, PA_LEASE_DEFAULT_TIMEOUT, &lease);
    if (rc != PA_OK)
        return lease_failed(s, "recording a processed note", rc, err, err_size);
    sqlite3 *db = s->api->lease_db(s->ctx, lease);
    store_stmt st;
    int sr = store_prepare(s, lease, db,
                           "INSERT INTO processed_granola_notes(note_id, workspace_id,"
                           " account_id, note_title, note_created_at, processed_at,"
                           " tasks_created_count) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1)"
                           " ON CONFLICT(note_id, account_id) DO NOTHING",
                           &st);
    sqlite3_stmt *stmt = st.stmt;
    if (sr == SQLITE_OK) {
        sqlite3_bind_text(stmt, 1, note->note_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 2, note->workspace_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 3, note->account_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 4, note->title ? note->title : "Untitled Meeting", -1,
                          SQLITE_STATIC);
        sqlite3_bind_text(stmt, 5, created, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 6, now, -1, SQLITE_STATIC);
        sr = sqlite3_step(stmt);
    }
    store_done(&st);
    if (sr != SQLITE_DONE)
        return db_failed(s, lease, "recording a processed note", db, err, err_size);
    if (sqlite3_changes(db) == 1) {
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
