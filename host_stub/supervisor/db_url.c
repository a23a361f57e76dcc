#include "db_url.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* The agent's own variable (pydantic-settings: prefix PA_, nested delimiter __). */
#define AGENT_VARIABLE "PA_DATABASE__URL"
/* What the agent's compose files set, and the agent does not read. */
#define LOOKALIKE_VARIABLE "PA_DATABASE_URL"
#define DEFAULT_PATH       "./agent.db"
/* The agent's own default (src/utils/config.py), relative to its working directory. */
#define AGENT_DEFAULT_URL "sqlite:///personal_assistant.db"

void db_url_redact(const char *text, char *out, size_t out_size)
{
    size_t n = 0;
    const char *scheme_end = strstr(text, "://");
    const char *authority = scheme_end ? scheme_end + 3 : NULL;
    const char *at = authority ? strchr(authority, '@') : NULL;
    const char *slash = authority ? strchr(authority, '/') : NULL;
    const char *colon = authority ? strchr(authority, ':') : NULL;
    if (at && slash && at > slash)
        at = NULL; /* an '@' in the path is not userinfo */
    for (const char *p = text; *p && n + 1 < out_size;) {
        if (at && colon && colon < at && p == colon + 1) {
            n += (size_t)snprintf(out + n, out_size - n, "***");
            p = at;
            continue;
        }
        if (strncmp(p, "password=", 9) == 0 &&
            (p == text || p[-1] == '?' || p[-1] == '&' || p[-1] == ' ')) {
            n += (size_t)snprintf(out + n, out_size - n, "password=***");
            p += 9 + strcspn(p + 9, "& ");
            continue;
        }
        out[n++] = *p++;
    }
    out[n < out_size ? n : out_size - 1] = '\0';
}

/* The scheme of "scheme://...", lower-cased, without a +driver suffix; false if text has none. */
static bool url_scheme(const char *text, char *scheme, size_t size)
{
    const char *end = strstr(text, "://");
    if (!end)
        return false;
    size_t len = (size_t)(end - text);
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)text[i]) && !strchr("+-.", text[i]))
            return false; /* "C:/x://y" or a path that happens to hold "://" */
    size_t keep = strcspn(text, "+");
    if (keep > len)
        keep = len;
    snprintf(scheme, size, "%.*s", (int)keep, text);
    for (char *c = scheme; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    return len > 0;
}

static int refuse(char *err, size_t err_size, const db_target *t, const char *why)
{
    snprintf(err, err_size, "database from %s (%s): %s", t->origin, t->shown, why);
    return -1;
}

/* SQLAlchemy's sqlite:///relative and sqlite:////absolute. */
static int parse_sqlite(const char *rest, db_target *out, char *err, size_t err_size)
{
    if (strchr(rest, '?'))
        return refuse(err, err_size, out, "query parameters are not supported; name the file only");
    if (rest[0] != '/' || rest[1] == '\0')
        return refuse(err, err_size, out,
                      "expected sqlite:///PATH (three slashes, as SQLAlchemy writes it); sqlite:// "
                      "alone is an in-memory database no one else can share");
    const char *path = rest + 1;
    if (strcmp(path, ":memory:") == 0)
        return refuse(err, err_size, out, "an in-memory database cannot be shared with the agent");
    if ((size_t)snprintf(out->path, sizeof out->path, "%s", path) >= sizeof out->path)
        return refuse(err, err_size, out, "the path is too long");
    return 0;
}

int db_url_parse(const char *text, const char *origin, db_target *out, char *err, size_t err_size)
{
    memset(out, 0, sizeof *out);
    snprintf(out->origin, sizeof out->origin, "%s", origin);
    db_url_redact(text ? text : "", out->shown, sizeof out->shown);
    if (!text || !*text)
        return refuse(err, err_size, out, "empty");
    char scheme[32];
    if (!url_scheme(text, scheme, sizeof scheme)) {
        out->kind = DB_SQLITE; /* a plain path */
        if ((size_t)snprintf(out->path, sizeof out->path, "%s", text) >= sizeof out->path)
            return refuse(err, err_size, out, "the path is too long");
        return 0;
    }
    const char *rest = strstr(text, "://") + 3;
    if (strcmp(scheme, "sqlite") == 0) {
        out->kind = DB_SQLITE;
        return parse_sqlite(rest, out, err, err_size);
    }
    if (strcmp(scheme, "postgresql") == 0 || strcmp(scheme, "postgres") == 0) {
        out->kind = DB_POSTGRES;
        snprintf(out->path, sizeof out->path, "postgresql://%s", rest); /* libpq's spelling */
        return 0;
    }
    char why[160];
    snprintf(why, sizeof why,
             "unknown scheme '%s'; expected sqlite:///PATH, a path, or postgresql://", scheme);
    return refuse(err, err_size, out, why);
}

/* PA_DATABASE_URL alone is the agent's compose files' slip: say so, and follow the agent. */
static void warn_lookalike(const char *agent_value)
{
    const char *lookalike = getenv(LOOKALIKE_VARIABLE);
    if (!lookalike || !*lookalike || (agent_value && strcmp(agent_value, lookalike) == 0))
        return;
    char shown[1024];
    db_url_redact(lookalike, shown, sizeof shown);
    if (agent_value)
        log_msg(PA_LOG_WARN, "host",
                "%s (%s) differs from %s; host_stub reads %s, as the agent does",
                LOOKALIKE_VARIABLE, shown, AGENT_VARIABLE, AGENT_VARIABLE);
    else
        log_msg(PA_LOG_WARN, "host",
                "%s is set (%s) but the agent reads %s (two underscores), which is not set; "
                "host_stub does not use %s either, so that both use the same database: set %s",
                LOOKALIKE_VARIABLE, shown, AGENT_VARIABLE, LOOKALIKE_VARIABLE, AGENT_VARIABLE);
}

/* The agent's own order, relative SQLite paths resolved where the agent works. */
static int choose_as_agent(const char *env, const agent_database *agent, db_target *out, char *err,
                           size_t err_size)
{
    int rc = agent->url ? db_url_parse(agent->url, "config.yaml database.url", out, err, err_size)
             : env      ? db_url_parse(env, AGENT_VARIABLE, out, err, err_size)
                   : db_url_parse(AGENT_DEFAULT_URL, "the agent's default " AGENT_DEFAULT_URL, out,
                                  err, err_size);
    if (rc != 0 || out->kind != DB_SQLITE || out->path[0] == '/')
        return rc;
    char joined[sizeof out->path];
    if ((size_t)snprintf(joined, sizeof joined, "%s/%s", agent->dir, out->path) >= sizeof joined)
        return refuse(err, err_size, out, "the path is too long");
    memcpy(out->path, joined, sizeof joined);
    size_t n = strlen(out->origin);
    snprintf(out->origin + n, sizeof out->origin - n,
             ", relative to config.yaml's directory, the agent's working directory");
    return 0;
}

int db_url_choose(const char *flag, const char *config_value, const agent_database *agent,
                  db_target *out, char *err, size_t err_size)
{
    const char *env = getenv(AGENT_VARIABLE);
    if (env && !*env)
        env = NULL;
    warn_lookalike(env);
    if (flag)
        return db_url_parse(flag, "--db", out, err, err_size);
    if (config_value)
        return db_url_parse(config_value, "host.json \"database\"", out, err, err_size);
    if (agent && agent->dir)
        return choose_as_agent(env, agent, out, err, err_size);
    if (env)
        return db_url_parse(env, AGENT_VARIABLE, out, err, err_size);
    return db_url_parse(DEFAULT_PATH, "the default", out, err, err_size);
}
