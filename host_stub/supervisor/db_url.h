/*
 * Which database the host serves, named as the agent names it
 * (docs/OPERATIONS.md, "The database"): --db, else host.json's "database",
 * else the agent's own PA_DATABASE__URL, else ./agent.db. Accepted forms:
 * SQLAlchemy's sqlite:///PATH (sqlite:////ABS for an absolute path, a
 * +driver suffix dropped), a plain path, and libpq URIs postgresql:// or
 * postgres:// (SQLAlchemy's postgresql+psycopg2:// too). Text shown in logs
 * never carries a password.
 */
#ifndef SUPERVISOR_DB_URL_H
#define SUPERVISOR_DB_URL_H

#include <stddef.h>

#include "db.h"

typedef struct db_target {
    db_kind kind;
    char path[4096];  /* SQLite: the file; PostgreSQL: the libpq URI, driver suffix dropped */
    char shown[1024]; /* the URL or path for logs and messages, any password as *** */
    char origin[160]; /* where it came from: "--db", "host.json \"database\"", ... */
} db_target;

/* The agent's side of the choice (--agent-config); all NULL without one. */
typedef struct agent_database {
    const char *url; /* config.yaml's database.url, or NULL */
    const char *dir; /* config.yaml's absolute directory: the agent's working directory */
} agent_database;

/*
 * Parses text (from origin, for messages) into *out. 0, or -1 with one line
 * in err naming the origin and what is wrong (never the password).
 */
int db_url_parse(const char *text, const char *origin, db_target *out, char *err, size_t err_size);

/*
 * The database by precedence: flag (--db, or NULL), config_value (host.json,
 * or NULL), then the agent's own order. With agent->dir (an agent config):
 * agent->url, then PA_DATABASE__URL, then the agent's default
 * sqlite:///personal_assistant.db, a relative SQLite path resolved against
 * agent->dir as the agent, working there, resolves it. Without: the
 * environment, then ./agent.db. Where only PA_DATABASE_URL (one
 * underscore, which the agent does not read) is set, warns naming both
 * variables and does not use it. 0, or -1 with err set.
 */
int db_url_choose(const char *flag, const char *config_value, const agent_database *agent,
                  db_target *out, char *err, size_t err_size);

/* Writes text into out with the password of a URL (user:PASSWORD@, password=) replaced by ***. */
void db_url_redact(const char *text, char *out, size_t out_size);

#endif
