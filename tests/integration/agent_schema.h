/*
 * The existing agent's tables as its SQLAlchemy models create them on SQLite
 * (../shared/GRANOLA.md, "The existing agent"), verbatim: the part of the
 * world this project did not write and must coexist with.
 */
#ifndef AGENT_SCHEMA_H
#define AGENT_SCHEMA_H

#define AGENT_PROCESSED_NOTES_DDL                                                                  \
    "CREATE TABLE processed_granola_notes (\n"                                                     \
    "\tid INTEGER NOT NULL, note_id VARCHAR(200) NOT NULL,\n"                                      \
    "\tworkspace_id VARCHAR(200) NOT NULL, account_id VARCHAR(100) NOT NULL,\n"                    \
    "\tnote_title VARCHAR(500) NOT NULL, note_created_at DATETIME NOT NULL,\n"                     \
    "\tprocessed_at DATETIME DEFAULT (CURRENT_TIMESTAMP) NOT NULL,\n"                              \
    "\ttasks_created_count INTEGER NOT NULL, PRIMARY KEY (id),\n"                                  \
    "\tCONSTRAINT uix_note_account UNIQUE (note_id, account_id));"

#define AGENT_TASKS_DDL                                                                            \
    "CREATE TABLE tasks (\n"                                                                       \
    "\tid INTEGER NOT NULL, title VARCHAR(500) NOT NULL, description TEXT,\n"                      \
    "\tstatus VARCHAR(11) NOT NULL, priority VARCHAR(8) NOT NULL,\n"                               \
    "\tsource VARCHAR(13) NOT NULL, priority_score FLOAT NOT NULL,\n"                              \
    "\tdue_date DATETIME, created_at DATETIME DEFAULT (CURRENT_TIMESTAMP) NOT NULL,\n"             \
    "\tupdated_at DATETIME DEFAULT (CURRENT_TIMESTAMP) NOT NULL, completed_at DATETIME,\n"         \
    "\tsource_reference VARCHAR(500), account_id VARCHAR(100), tags VARCHAR(500),\n"               \
    "\tdocument_links VARCHAR(5000), initiative_id INTEGER, PRIMARY KEY (id),\n"                   \
    "\tFOREIGN KEY(initiative_id) REFERENCES initiatives (id) ON DELETE SET NULL);"

/* A task as the agent writes it: enum names, comma-separated tags, naive UTC times. */
#define AGENT_TASK_ROW                                                                             \
    "INSERT INTO tasks (title, description, status, priority, source, priority_score,"             \
    " created_at, updated_at, source_reference, account_id, tags) VALUES ('Reply to Dana',"        \
    " 'From mail', 'PENDING', 'MEDIUM', 'GMAIL', 50.0, '2026-11-27 12:37:36.000000',"              \
    " '2026-11-27 12:37:36.000000', 'msg-1', 'work', 'email,follow-up');"

#endif
