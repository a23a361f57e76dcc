#include "outbox.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Rows moved per transaction: bounds memory and the time the write lock is held. */
#define CONSUME_BATCH 256

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS outbox ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " plugin TEXT NOT NULL,"
    " instance_id TEXT NOT NULL,"
    " item_json TEXT NOT NULL,"
    " created_at TEXT NOT NULL,"
    " consumed_at TEXT);"
    "CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(id) WHERE consumed_at IS NULL;"
    "CREATE TABLE IF NOT EXISTS tasks ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " outbox_id INTEGER NOT NULL UNIQUE REFERENCES outbox(id),"
    " type TEXT NOT NULL,"
    " title TEXT NOT NULL,"
    " description TEXT,"
    " priority TEXT NOT NULL,"
    " source TEXT NOT NULL,"
    " source_reference TEXT NOT NULL,"
    " account_id TEXT NOT NULL,"
    " due_date TEXT,"
    " tags TEXT NOT NULL,"
    " metadata TEXT,"
    " created_at TEXT NOT NULL);";

void format_iso8601(int64_t ms, char *buf, size_t size)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int outbox_create_schema(pool *p, pool_owner *host, char *err, size_t err_size)
{
    pa_lease lease;
    int rc = pool_lease(p, host, PA_LEASE_WRITE, -1, POOL_HERE, &lease, err, err_size);
    if (rc != PA_OK)
        return rc;
    sqlite3 *db = pool_lease_db(p, host, lease, POOL_HERE);
    char *msg = NULL;
    if (sqlite3_exec(db, SCHEMA, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, err_size, "cannot create outbox/tasks tables: %s", msg ? msg : "?");
        sqlite3_free(msg);
        pool_release(p, host, lease, PA_RELEASE_ROLLBACK, POOL_HERE, err, err_size);
        return PA_ERR_DB;
    }
    return pool_release(p, host, lease, PA_RELEASE_COMMIT, POOL_HERE, err, err_size);
}

static bool present(const char *s)
{
    return s && s[0] != '\0';
}

static bool valid_priority(const char *p)
{
    return !strcmp(p, "low") || !strcmp(p, "medium") || !strcmp(p, "high") || !strcmp(p, "urgent");
}

/* Builds the stored JSON for item; NULL with err set when the item is invalid. */
static char *item_to_json(const char *instance, const pa_item *item, char *err, size_t err_size)
{
    if (!item || PA_ABI_MAJOR(item->abi_version) != PA_ABI_VERSION_MAJOR ||
        !PA_HAS_FIELD(item, pa_item, metadata_json)) {
        snprintf(err, err_size, "emit: item is NULL or not a pa_item of ABI %u.x",
                 PA_ABI_VERSION_MAJOR);
        return NULL;
    }
    const char *missing = !present(item->type)               ? "type"
                          : !present(item->title)            ? "title"
                          : !present(item->source)           ? "source"
                          : !present(item->source_reference) ? "source_reference"
                                                             : NULL;
    if (missing) {
        snprintf(err, err_size, "emit: item field '%s' is required", missing);
        return NULL;
    }
    const char *priority = item->priority ? item->priority : "medium";
    if (!valid_priority(priority)) {
        snprintf(err, err_size, "emit: priority must be low, medium, high or urgent");
        return NULL;
    }
    if (item->tag_count && !item->tags) {
        snprintf(err, err_size, "emit: tag_count is %zu but tags is NULL", item->tag_count);
        return NULL;
    }
    cJSON *metadata = NULL;
    if (item->metadata_json) {
        metadata = cJSON_Parse(item->metadata_json);
        if (!cJSON_IsObject(metadata)) {
            cJSON_Delete(metadata);
            snprintf(err, err_size, "emit: metadata_json is not a JSON object");
            return NULL;
        }
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *tags = cJSON_AddArrayToObject(o, "tags");
    bool ok = o && tags;
    for (size_t i = 0; ok && i < item->tag_count; i++) {
        ok = item->tags[i] && cJSON_AddItemToArray(tags, cJSON_CreateString(item->tags[i]));
    }
    ok = ok && cJSON_AddStringToObject(o, "type", item->type) &&
         cJSON_AddStringToObject(o, "title", item->title) &&
         (item->description ? cJSON_AddStringToObject(o, "description", item->description)
                            : cJSON_AddNullToObject(o, "description")) &&
         cJSON_AddStringToObject(o, "priority", priority) &&
         cJSON_AddStringToObject(o, "source", item->source) &&
         cJSON_AddStringToObject(o, "source_reference", item->source_reference) &&
         cJSON_AddStringToObject(o, "account_id", item->account_id ? item->account_id : instance) &&
         (item->due_date ? cJSON_AddStringToObject(o, "due_date", item->due_date)
                         : cJSON_AddNullToObject(o, "due_date"));
    if (ok && metadata) {
        ok = cJSON_AddItemToObject(o, "metadata", metadata);
        if (ok)
            metadata = NULL;
    }
    char *text = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(metadata);
    cJSON_Delete(o);
    if (!text)
        snprintf(err, err_size, "emit: %s",
                 ok ? "out of memory" : "a tag is NULL or out of memory");
    return text;
}

int outbox_insert(pool *p, pool_owner *owner, pa_lease lease, const char *plugin,
                  const char *instance, const pa_item *item, int64_t now_ms, char *err,
                  size_t err_size)
{
    char *json = item_to_json(instance, item, err, err_size);
    if (!json)
        return PA_ERR_INVALID;
    char stamp[32];
    format_iso8601(now_ms, stamp, sizeof stamp);
    /* Prepared once per connection: a poll emits one item per transaction. */
    sqlite3_stmt *stmt = pool_cached_stmt(p, owner, lease,
                                          "INSERT INTO outbox(plugin, instance_id, item_json,"
                                          " created_at) VALUES (?1, ?2, ?3, ?4)",
                                          err, err_size);
    int rc = SQLITE_ERROR;
    if (stmt) {
        sqlite3_bind_text(stmt, 1, plugin, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 2, instance, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 3, json, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 4, stamp, -1, SQLITE_STATIC);
        rc = sqlite3_step(stmt);
    }
    if (stmt && rc != SQLITE_DONE)
        snprintf(err, err_size, "emit: cannot write outbox row: %s",
                 sqlite3_errmsg(sqlite3_db_handle(stmt)));
    if (stmt) {
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
    }
    cJSON_free(json);
    return rc == SQLITE_DONE ? PA_OK : PA_ERR_DB;
}

static const char *str_field(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void bind_text_or_null(sqlite3_stmt *stmt, int index, const char *text)
{
    if (text)
        sqlite3_bind_text(stmt, index, text, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(stmt, index);
}

/* Inserts the task for one outbox row; returns the new task's JSON line or NULL. */
static char *make_task(sqlite3_stmt *insert, sqlite3_int64 outbox_id, const char *plugin,
                       const char *instance, const char *item_json, const char *stamp, char *err,
                       size_t err_size)
{
    cJSON *item = cJSON_Parse(item_json);
    const char *title = str_field(item, "title");
    if (!cJSON_IsObject(item) || !title) {
        snprintf(err, err_size, "outbox row %lld holds an invalid item", (long long)outbox_id);
        cJSON_Delete(item);
        return NULL;
    }
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(item, "tags");
    const cJSON *metadata = cJSON_GetObjectItemCaseSensitive(item, "metadata");
    char *tags_text = cJSON_PrintUnformatted(tags);
    char *metadata_text = cJSON_IsObject(metadata) ? cJSON_PrintUnformatted(metadata) : NULL;
    sqlite3_bind_int64(insert, 1, outbox_id);
    bind_text_or_null(insert, 2, str_field(item, "type"));
    bind_text_or_null(insert, 3, title);
    bind_text_or_null(insert, 4, str_field(item, "description"));
    bind_text_or_null(insert, 5, str_field(item, "priority"));
    bind_text_or_null(insert, 6, str_field(item, "source"));
    bind_text_or_null(insert, 7, str_field(item, "source_reference"));
    bind_text_or_null(insert, 8, str_field(item, "account_id"));
    bind_text_or_null(insert, 9, str_field(item, "due_date"));
    bind_text_or_null(insert, 10, tags_text ? tags_text : "[]");
    bind_text_or_null(insert, 11, metadata_text);
    sqlite3_bind_text(insert, 12, stamp, -1, SQLITE_STATIC);
    int rc = sqlite3_step(insert);
    sqlite3_int64 task_id = sqlite3_last_insert_rowid(sqlite3_db_handle(insert));
    sqlite3_reset(insert);
    sqlite3_clear_bindings(insert);
    cJSON_free(tags_text);
    cJSON_free(metadata_text);
    char *line = NULL;
    if (rc != SQLITE_DONE) {
        snprintf(err, err_size, "cannot insert task for outbox row %lld: %s", (long long)outbox_id,
                 sqlite3_errmsg(sqlite3_db_handle(insert)));
    } else {
        /* The printed line is the task row, in the tasks table's column order. */
        static const char *const order[] = {
            "title",      "description", "priority", "source", "source_reference",
            "account_id", "due_date",    "tags",     "type",   "metadata"};
        cJSON *row = cJSON_CreateObject();
        cJSON_AddNumberToObject(row, "id", (double)task_id);
        for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
            cJSON *field = cJSON_DetachItemFromObjectCaseSensitive(item, order[i]);
            if (field)
                cJSON_AddItemToObject(row, order[i], field);
        }
        cJSON_AddStringToObject(row, "created_at", stamp);
        cJSON_AddStringToObject(row, "plugin", plugin);
        cJSON_AddStringToObject(row, "instance", instance);
        cJSON_Delete(item);
        item = row;
        line = cJSON_PrintUnformatted(item);
        if (!line)
            snprintf(err, err_size, "out of memory printing task %lld", (long long)task_id);
    }
    cJSON_Delete(item);
    return line;
}

static int consume_batch(sqlite3 *db, const char *stamp, char **lines, size_t *count, char *err,
                         size_t err_size)
{
    sqlite3_stmt *select = NULL, *insert = NULL, *mark = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT id, plugin, instance_id, item_json FROM outbox"
                                " WHERE consumed_at IS NULL ORDER BY id LIMIT ?1",
                                -1, &select, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db,
                                "INSERT INTO tasks(outbox_id, type, title, description, priority,"
                                " source, source_reference, account_id, due_date, tags, metadata,"
                                " created_at) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)",
                                -1, &insert, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "UPDATE outbox SET consumed_at = ?1 WHERE id = ?2", -1, &mark,
                                NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, err_size, "outbox consumer: %s", sqlite3_errmsg(db));
        goto done;
    }
    sqlite3_bind_int(select, 1, CONSUME_BATCH);
    sqlite3_bind_text(mark, 1, stamp, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(select)) == SQLITE_ROW) {
        sqlite3_int64 id = sqlite3_column_int64(select, 0);
        char *line = make_task(insert, id, (const char *)sqlite3_column_text(select, 1),
                               (const char *)sqlite3_column_text(select, 2),
                               (const char *)sqlite3_column_text(select, 3), stamp, err, err_size);
        if (!line) {
            rc = SQLITE_ERROR;
            break;
        }
        lines[(*count)++] = line;
        sqlite3_bind_int64(mark, 2, id);
        rc = sqlite3_step(mark);
        sqlite3_reset(mark);
        if (rc != SQLITE_DONE) {
            snprintf(err, err_size, "outbox consumer: %s", sqlite3_errmsg(db));
            break;
        }
    }
    if (rc == SQLITE_DONE)
        rc = SQLITE_OK;
    if (rc != SQLITE_OK && err[0] == '\0')
        snprintf(err, err_size, "outbox consumer: %s", sqlite3_errmsg(db));
done:
    sqlite3_finalize(select);
    sqlite3_finalize(insert);
    sqlite3_finalize(mark);
    return rc == SQLITE_OK ? PA_OK : PA_ERR_DB;
}

int outbox_consume(pool *p, pool_owner *host, int64_t now_ms, FILE *out, size_t *consumed,
                   char *err, size_t err_size)
{
    *consumed = 0;
    char stamp[32];
    format_iso8601(now_ms, stamp, sizeof stamp);
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
            if (rc == PA_OK)
                fprintf(out, "%s\n", lines[i]);
            cJSON_free(lines[i]);
        }
        fflush(out);
        if (rc != PA_OK)
            return rc;
        *consumed += count;
        if (count < CONSUME_BATCH)
            return PA_OK;
    }
}
