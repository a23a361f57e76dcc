/*
 * processed_granola_notes: which meetings an account has already turned into
 * items (docs/GRANOLA_PLUGIN.md, "A poll", step 7). Every function takes and
 * releases its own lease; none is held across a network request.
 */
#ifndef GRANOLA_NOTE_STORE_H
#define GRANOLA_NOTE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pa_plugin.h"

typedef struct note_store {
    const pa_host_api *api;
    pa_host_ctx *ctx;
} note_store;

/*
 * A row of processed_granola_notes, a table the agent's Python integration
 * shares: it is written exactly as the agent's SQLAlchemy model writes it
 * (../shared/GRANOLA.md), so the agent reads every row: timestamps as each
 * engine's own time (stmt_bind_time: naive UTC "YYYY-MM-DD HH:MM:SS.ffffff"
 * on SQLite, timestamptz on PostgreSQL), no NULL in a NOT NULL column.
 */
typedef struct processed_note {
    const char *note_id;
    const char *workspace_id;
    const char *account_id;
    const char *title;     /* NULL: "Untitled Meeting", as the item says */
    int64_t created_at_ms; /* the meeting's date, parsed */
} processed_note;

/*
 * Creates the table as the agent's models would on this engine; PA_ERR_CONFIG
 * on a host without the statement API (ABI 1.4).
 */
int note_store_create_schema(const note_store *s, char *err, size_t err_size);

/* Sets is_new[i] for each ids[i] not yet processed for account_id: one statement per 16 ids. */
int note_store_find_new(const note_store *s, const char *account_id, const char *const *ids,
                        size_t count, bool *is_new, char *err, size_t err_size);

/*
 * In one WRITE lease: inserts the processed row (ON CONFLICT DO NOTHING) and,
 * only if it inserted, emits item; commits. *emitted tells which happened.
 */
int note_store_record_and_emit(const note_store *s, const processed_note *note, const pa_item *item,
                               bool *emitted, char *err, size_t err_size);

#endif
