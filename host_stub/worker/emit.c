/*
 * emit: a plugin's item, checked and written as one pa_outbox row on the
 * plugin's own WRITE lease, inside its transaction (docs/ARCHITECTURE.md,
 * "The walk of an item"). The item becomes JSON here, once; the supervisor's
 * move into pa_tasks takes the columns out of that JSON in SQL.
 */
#include "emit.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "task_fields.h"
#include "text_clean.h"

/*
 * Prepared once per connection: a poll emits one item per transaction. On
 * PostgreSQL through the host's function, the one way a plugin's session
 * may write the outbox (task_store.c, schema version 4); on SQLite the
 * statement runs as the host's (pool_run_as), past the authorizer.
 */
static const char INSERT_SQL[] =
    "INSERT INTO pa_outbox(plugin, instance_id, item_json, created_at) VALUES (?1, ?2, ?3, ?4)";
static const char PG_INSERT_SQL[] = "SELECT pa_emit(?1, ?2, ?3, ?4)";

static bool present(const char *s)
{
    return s && s[0] != '\0';
}

static bool valid_priority(const char *p)
{
    return !strcmp(p, "low") || !strcmp(p, "medium") || !strcmp(p, "high") || !strcmp(p, "urgent");
}

static bool is_utf8(const char *s)
{
    return !s || utf8_valid_prefix(s, strlen(s)) == strlen(s);
}

#define CHECK_UTF8(name, def, kind, value)                                                         \
    if (!bad && !is_utf8(value))                                                                   \
        bad = #name;

/* The first text field of it that is not valid UTF-8, or NULL. */
static const char *invalid_utf8_field(const pa_item *it, const char *instance)
{
    const char *bad = NULL;
    PA_TASK_FIELDS(CHECK_UTF8)
    for (size_t i = 0; !bad && i < it->tag_count; i++)
        bad = is_utf8(it->tags[i]) ? NULL : "tags";
    if (!bad && !is_utf8(it->metadata_json))
        bad = "metadata_json";
    return bad;
}

/* A plugin's item, checked: NULL, or the reason it cannot be stored. */
static const char *item_problem(const pa_item *it, const char *instance, char *why, size_t why_size)
{
    if (!it || PA_ABI_MAJOR(it->abi_version) != PA_ABI_VERSION_MAJOR ||
        !PA_HAS_FIELD(it, pa_item, metadata_json)) {
        snprintf(why, why_size, "item is NULL or not a pa_item of ABI %u.x", PA_ABI_VERSION_MAJOR);
        return why;
    }
    const char *missing = !present(it->type)               ? "type"
                          : !present(it->title)            ? "title"
                          : !present(it->source)           ? "source"
                          : !present(it->source_reference) ? "source_reference"
                                                           : NULL;
    if (missing)
        snprintf(why, why_size, "item field '%s' is required", missing);
    else if (!valid_priority(it->priority ? it->priority : "medium"))
        snprintf(why, why_size, "priority must be low, medium, high or urgent");
    else if (it->tag_count && !it->tags)
        snprintf(why, why_size, "tag_count is %zu but tags is NULL", it->tag_count);
    else if ((missing = invalid_utf8_field(it, instance)) != NULL)
        snprintf(why, why_size, "item field '%s' is not valid UTF-8", missing);
    else
        return NULL;
    return why;
}

static bool add_TEXT(cJSON *o, const char *name, const char *value)
{
    return value ? cJSON_AddStringToObject(o, name, value) != NULL
                 : cJSON_AddNullToObject(o, name) != NULL;
}

static bool add_JSON(cJSON *o, const char *name, const char *value)
{
    (void)o, (void)name, (void)value; /* tags and metadata: built by the caller */
    return true;
}

#define ADD_FIELD(name, def, kind, value) ok = ok && add_##kind(o, #name, value);

/* Builds the stored JSON for item; NULL with err set when the item is invalid. */
static char *item_to_json(const char *instance, const pa_item *it, char *err, size_t err_size)
{
    char why[160];
    if (item_problem(it, instance, why, sizeof why)) {
        snprintf(err, err_size, "emit: %s", why);
        return NULL;
    }
    cJSON *metadata = it->metadata_json ? cJSON_Parse(it->metadata_json) : NULL;
    if (it->metadata_json && !cJSON_IsObject(metadata)) {
        cJSON_Delete(metadata);
        snprintf(err, err_size, "emit: metadata_json is not a JSON object");
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    bool ok = o != NULL;
    PA_TASK_FIELDS(ADD_FIELD)
    cJSON *tags = ok ? cJSON_AddArrayToObject(o, "tags") : NULL;
    ok = ok && tags;
    for (size_t i = 0; ok && i < it->tag_count; i++)
        ok = it->tags[i] && cJSON_AddItemToArray(tags, cJSON_CreateString(it->tags[i]));
    if (ok && metadata && (ok = cJSON_AddItemToObject(o, "metadata", metadata)))
        metadata = NULL;
    char *text = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(metadata);
    cJSON_Delete(o);
    if (!text)
        snprintf(err, err_size, "emit: %s",
                 ok ? "out of memory" : "a tag is NULL or out of memory");
    return text;
}

int emit_item(pool *p, pool_owner *owner, pa_lease lease, const char *plugin, const char *instance,
              const pa_item *item, int64_t now_ms, char **json_out, char *err, size_t err_size)
{
    /* The lease is checked here, once: live, this owner's, WRITE. */
    int status;
    char why[900] = "cannot bind";
    db_stmt *stmt = pool_prepare(p, owner, lease, PA_LEASE_WRITE,
                                 pool_kind(p) == DB_POSTGRES ? PG_INSERT_SQL : INSERT_SQL, &status,
                                 why, sizeof why);
    if (!stmt) {
        if (status == PA_ERR_DB)
            snprintf(err, err_size, "emit: cannot write outbox row: %s", why);
        else
            snprintf(err, err_size, "emit needs a live WRITE lease (%s)",
                     status == PA_ERR_INVALID ? why : "lease is stale or invalid");
        return status;
    }
    char *json = item_to_json(instance, item, err, err_size);
    if (!json)
        return PA_ERR_INVALID;
    char stamp[32];
    clock_format_iso8601(now_ms, stamp, sizeof stamp);
    int rc = db_bind_text(stmt, 1, plugin, -1);
    if (rc == PA_OK)
        rc = db_bind_text(stmt, 2, instance, -1);
    if (rc == PA_OK)
        rc = db_bind_text(stmt, 3, json, -1);
    if (rc == PA_OK)
        rc = db_bind_text(stmt, 4, stamp, -1);
    bool row = true;
    while (rc == PA_OK && row) /* PostgreSQL's SELECT has one row, nothing in it */
        rc = db_step(stmt, &row, why, sizeof why);
    if (rc != PA_OK)
        snprintf(err, err_size, "emit: cannot write outbox row: %s", why);
    if (rc == PA_OK && json_out)
        *json_out = json;
    else
        cJSON_free(json);
    return rc == PA_OK ? PA_OK : PA_ERR_DB;
}
