/*
 * db_url.c: the database named as the agent names it. The accepted forms,
 * the refusals, passwords kept out of every shown text, and the precedence
 * --db, host.json, PA_DATABASE__URL, ./agent.db (with the lookalike
 * PA_DATABASE_URL warned about and not used).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "db_url.h"
#include "log.h"

static char g_lines[4096];

static void keep_line(void *userdata, pa_log_level level, const char *line)
{
    (void)userdata, (void)level;
    strncat(g_lines, line, sizeof g_lines - strlen(g_lines) - 2);
    strcat(g_lines, "\n");
}

static int setup(void **state)
{
    (void)state;
    unsetenv("PA_DATABASE__URL");
    unsetenv("PA_DATABASE_URL");
    g_lines[0] = '\0';
    log_set_sink(keep_line, NULL);
    return 0;
}

static void parses(const char *text, db_kind kind, const char *path)
{
    db_target t;
    char err[512] = "";
    if (db_url_parse(text, "test", &t, err, sizeof err) != 0)
        fail_msg("%s: %s", text, err);
    assert_int_equal(t.kind, kind);
    assert_string_equal(t.path, path);
}

static void refuses(const char *text, const char *why)
{
    db_target t;
    char err[512] = "";
    assert_int_equal(db_url_parse(text, "test", &t, err, sizeof err), -1);
    if (!strstr(err, why))
        fail_msg("%s: expected '%s' in: %s", text, why, err);
    assert_null(strstr(err, "s3cret"));
}

static void test_forms(void **state)
{
    (void)state;
    parses("sqlite:///personal_assistant.db", DB_SQLITE, "personal_assistant.db");
    parses("sqlite:////var/lib/pa/agent.db", DB_SQLITE, "/var/lib/pa/agent.db");
    parses("sqlite+pysqlite:///data/a.db", DB_SQLITE, "data/a.db");
    parses("SQLite:///a.db", DB_SQLITE, "a.db");
    parses("./agent.db", DB_SQLITE, "./agent.db");
    parses("/tmp/x://y.db", DB_SQLITE, "/tmp/x://y.db"); /* a path, not a scheme */
    parses("postgresql://pauser:pw@db:5432/personal_assistant", DB_POSTGRES,
           "postgresql://pauser:pw@db:5432/personal_assistant");
    parses("postgres://db/pa?sslmode=require", DB_POSTGRES, "postgresql://db/pa?sslmode=require");
    parses("postgresql+psycopg2://u@db/pa", DB_POSTGRES, "postgresql://u@db/pa");
}

static void test_refusals(void **state)
{
    (void)state;
    refuses("", "empty");
    refuses("mysql://u:s3cret@db/pa", "unknown scheme 'mysql'");
    refuses("sqlite://", "expected sqlite:///PATH");
    refuses("sqlite:///:memory:", "in-memory");
    refuses("sqlite:///a.db?timeout=5", "query parameters");
}

static void redacts(const char *text, const char *shown)
{
    char out[512];
    db_url_redact(text, out, sizeof out);
    assert_string_equal(out, shown);
}

static void test_passwords_never_shown(void **state)
{
    (void)state;
    redacts("postgresql://pauser:s3cret@db:5432/pa", "postgresql://pauser:***@db:5432/pa");
    redacts("postgresql://db/pa?user=u&password=s3cret&sslmode=require",
            "postgresql://db/pa?user=u&password=***&sslmode=require");
    redacts("postgresql://pauser@db/pa", "postgresql://pauser@db/pa");
    redacts("sqlite:///a@b:c.db", "sqlite:///a@b:c.db");
    redacts("./agent.db", "./agent.db");
    db_target t;
    char err[512];
    assert_int_equal(db_url_parse("postgresql://u:s3cret@db/pa", "x", &t, err, sizeof err), 0);
    assert_string_equal(t.shown, "postgresql://u:***@db/pa");
}

static void chooses(const char *flag, const char *config, const char *path, const char *origin)
{
    db_target t;
    char err[512] = "";
    if (db_url_choose(flag, config, NULL, &t, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_string_equal(t.path, path);
    assert_string_equal(t.origin, origin);
}

static void test_precedence(void **state)
{
    (void)state;
    chooses(NULL, NULL, "./agent.db", "the default");
    setenv("PA_DATABASE__URL", "sqlite:///from_env.db", 1);
    chooses(NULL, NULL, "from_env.db", "PA_DATABASE__URL");
    chooses(NULL, "sqlite:///from_config.db", "from_config.db", "host.json \"database\"");
    chooses("flag.db", "sqlite:///from_config.db", "flag.db", "--db");
    assert_null(strstr(g_lines, "PA_DATABASE_URL"));
}

static void chooses_as_agent(const char *flag, const char *config, const char *yaml_url,
                             const char *path, const char *origin)
{
    agent_database agent = {yaml_url, "/srv/agent"};
    db_target t;
    char err[512] = "";
    if (db_url_choose(flag, config, &agent, &t, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_string_equal(t.path, path);
    assert_string_equal(t.origin, origin);
}

#define RELATIVE_NOTE ", relative to config.yaml's directory, the agent's working directory"

/* With the agent's config.yaml: its url, then its variable, then its default, beside it. */
static void test_precedence_with_the_agent_config(void **state)
{
    (void)state;
    chooses_as_agent(NULL, NULL, NULL, "/srv/agent/personal_assistant.db",
                     "the agent's default sqlite:///personal_assistant.db" RELATIVE_NOTE);
    setenv("PA_DATABASE__URL", "sqlite:///from_env.db", 1);
    chooses_as_agent(NULL, NULL, NULL, "/srv/agent/from_env.db", "PA_DATABASE__URL" RELATIVE_NOTE);
    chooses_as_agent(NULL, NULL, "sqlite:///data/pa.db", "/srv/agent/data/pa.db",
                     "config.yaml database.url" RELATIVE_NOTE);
    chooses_as_agent(NULL, NULL, "sqlite:////var/lib/pa.db", "/var/lib/pa.db",
                     "config.yaml database.url");
    chooses_as_agent(NULL, NULL, "postgresql://pauser@db/pa", "postgresql://pauser@db/pa",
                     "config.yaml database.url");
    /* host_stub's own settings come first, relative to where host_stub runs. */
    chooses_as_agent(NULL, "sqlite:///from_config.db", "sqlite:///data/pa.db", "from_config.db",
                     "host.json \"database\"");
    chooses_as_agent("flag.db", NULL, "sqlite:///data/pa.db", "flag.db", "--db");
}

static void test_the_lookalike_is_warned_about_and_not_used(void **state)
{
    (void)state;
    setenv("PA_DATABASE_URL", "postgresql://u:s3cret@db/pa", 1);
    chooses(NULL, NULL, "./agent.db", "the default");
    assert_non_null(strstr(g_lines, "PA_DATABASE_URL is set (postgresql://u:***@db/pa) but the "
                                    "agent reads PA_DATABASE__URL (two underscores)"));
    g_lines[0] = '\0';
    setenv("PA_DATABASE__URL", "sqlite:///agents.db", 1);
    chooses(NULL, NULL, "agents.db", "PA_DATABASE__URL");
    assert_non_null(strstr(g_lines, "differs from PA_DATABASE__URL"));
    assert_null(strstr(g_lines, "s3cret"));
    g_lines[0] = '\0';
    setenv("PA_DATABASE_URL", "sqlite:///agents.db", 1);
    chooses(NULL, NULL, "agents.db", "PA_DATABASE__URL");
    assert_string_equal(g_lines, ""); /* the same value: nothing to say */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_forms, setup),
        cmocka_unit_test_setup(test_refusals, setup),
        cmocka_unit_test_setup(test_passwords_never_shown, setup),
        cmocka_unit_test_setup(test_precedence, setup),
        cmocka_unit_test_setup(test_precedence_with_the_agent_config, setup),
        cmocka_unit_test_setup(test_the_lookalike_is_warned_about_and_not_used, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
