/*
 * The fields of an item, defined once. Each use below is generated from this
 * list: the pa_tasks columns, the one statement that moves outbox rows into
 * pa_tasks (json_extract from the stored item), and the JSON line a task is
 * printed as (json_object). The emit side (outbox.c, item_to_json) reads the
 * same list to copy text fields out of a pa_item.
 *
 *   X(name, SQL column definition, JSON kind, value)
 *
 * JSON kind: TEXT (a string or null) or JSON (an array or object stored as
 * JSON text). value is the field's text read from `it` (a const pa_item *)
 * with its default applied (`instance` is the emitting instance's id); the
 * JSON kinds are built by item_to_json itself, so their value is NULL.
 */
#ifndef HOST_TASK_FIELDS_H
#define HOST_TASK_FIELDS_H

#define PA_TASK_FIELDS(X)                                                                          \
    X(type, "TEXT NOT NULL", TEXT, it->type)                                                       \
    X(title, "TEXT NOT NULL", TEXT, it->title)                                                     \
    X(description, "TEXT", TEXT, it->description)                                                  \
    X(priority, "TEXT NOT NULL", TEXT, it->priority ? it->priority : "medium")                     \
    X(source, "TEXT NOT NULL", TEXT, it->source)                                                   \
    X(source_reference, "TEXT NOT NULL", TEXT, it->source_reference)                               \
    X(account_id, "TEXT NOT NULL", TEXT, it->account_id ? it->account_id : instance)               \
    X(due_date, "TEXT", TEXT, it->due_date)                                                        \
    X(tags, "TEXT NOT NULL", JSON, NULL)                                                           \
    X(metadata, "TEXT", JSON, NULL)

/* The version of the task line and table contract (docs/TASKS.md). */
#define PA_TASKS_SCHEMA_VERSION 1

#endif
