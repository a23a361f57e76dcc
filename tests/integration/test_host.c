/*
 * Tests through host_stub's real entry point: real .so plugins, a real
 * SQLite file, stdout/stderr and exit codes as an operator sees them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_schema.h"
#include "run_host.h"

/* 2026-01-01T00:00:00Z: every test with a virtual clock starts here. */
#define FAKE_CLOCK "1767225600"

/* Returns line number n (0-based) of text as a parsed JSON object. */
static cJSON *json_line(const char *text, int n)
{
    const char *line = text;
    for (int i = 0; i < n && line; i++) {
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    assert_non_null(line);
    const char *end = strchr(line, '\n');
    char *copy = strndup(line, end ? (size_t)(end - line) : strlen(line));
    cJSON *o = cJSON_Parse(copy);
    if (!o)
        fail_msg("not JSON: %s", copy);
    free(copy);
    return o;
}

static void test_example_tasks_are_printed_and_stored_once(void **state)
{
    test_env *env = *state;
    env_add_plugin(env, "example");
    env_write_config(env, "{\"plugins\": {\"example\": {\"instances\": ["
                          "{\"id\": \"a\", \"items_per_poll\": 2, \"title\": \"Check\"}]}}}");
    host_result r;
    const char *args[] = {"--polls", "2", "--fake-clock", FAKE_CLOCK, NULL};
    host_run(env, &r, args);
    assert_int_equal(r.exit_code, 0);
    assert_int_equal(count_lines(r.out), 4);
    cJSON *first = json_line(r.out, 0);
    assert_string_equal(json_str(first, "title"), "Check 1.1");
    assert_string_equal(json_str(first, "type"), "example");
    assert_string_equal(json_str(first, "description"), "An item from the example plugin.");
    assert_string_equal(json_str(first, "priority"), "medium");
    assert_string_equal(json_str(first, "source"), "example");
    assert_string_equal(json_str(first, "source_reference"), "a-1-1");
    assert_string_equal(json_str(first, "account_id"), "a");
    assert_string_equal(json_str(first, "created_at"), "2026-01-01T00:00:00Z");
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(first, "due_date")));
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(first, "id")->valueint, 1);
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(first, "tags");
    assert_int_equal(cJSON_GetArraySize(tags), 2);
    assert_string_equal(cJSON_GetArrayItem(tags, 0)->valuestring, "example");
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(first, "metadata");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(meta, "poll")->valueint, 1);
    cJSON_Delete(first);
    cJSON *last = json_line(r.out, 3);
    assert_string_equal(json_str(last, "source_reference"), "a-2-2");
    /* The second poll came one interval (900 s) later on the virtual clock. */
    assert_string_equal(json_str(last, "created_at"), "2026-01-01T00:15:00Z");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(last, "id")->valueint, 4);
    cJSON_Delete(last);
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM pa_tasks"), 4);
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM pa_outbox WHERE consumed_at IS NULL"), 0);
    assert_int_equal(db_scalar(env, "SELECT count(DISTINCT outbox_id) FROM pa_tasks"), 4);
    assert_contains(r.err, "loaded plugin 'example' version 1.0.0 (ABI 1.5)");
    assert_contains(r.err, "plugin example/a: shut down");
    host_result_free(&r);

    /* A second run over the same database prints only the new tasks. */
    host_run(env, &r, args);
    assert_int_equal(r.exit_code, 0);
    assert_int_equal(count_lines(r.out), 4);
    cJSON *again = json_line(r.out, 0);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(again, "id")->valueint, 5);
    cJSON_Delete(again);
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM pa_tasks"), 8);
    host_result_free(&r);
}

static void exec_on(test_env *env, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(env->db, &db), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

/* The whole text of a table's definition, or "" (caller frees). */
static char *table_sql(test_env *env, const char *table)
{
    sqlite3 *db;
    sqlite3_stmt *stmt;
    assert_int_equal(sqlite3_open(env->db, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT sql FROM sqlite_master WHERE name = ?1", -1, &stmt, NULL),
        SQLITE_OK);
    sqlite3_bind_text(stmt, 1, table, -1, SQLITE_STATIC);
    char *sql =
        strdup(sqlite3_step(stmt) == SQLITE_ROW ? (const char *)sqlite3_column_text(stmt, 0) : "");
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return sql;
}

static void test_agent_database_is_used_unchanged(void **state)
{
    test_env *env = *state;
    exec_on(env, AGENT_TASKS_DDL AGENT_PROCESSED_NOTES_DDL AGENT_TASK_ROW);
    env_add_plugin(env, "example");
    env_write_config(env, "{\"plugins\": {\"example\": {\"instances\": ["
                          "{\"id\": \"a\", \"items_per_poll\": 2}]}}}");
    host_result r;
    const char *args[] = {"--polls", "2", "--fake-clock", FAKE_CLOCK, NULL};
    host_run(env, &r, args);
    assert_int_equal(r.exit_code, 0);
    assert_int_equal(count_lines(r.out), 4);
    assert_lacks(r.err, "outbox consumer");
    host_result_free(&r);
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM pa_tasks"), 4);
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM pa_outbox WHERE consumed_at IS NULL"), 0);
    /* The agent's tables: the same definition, the same one row. */
    char *sql = table_sql(env, "tasks");
    /* sqlite_master keeps the CREATE TABLE text as written, without the final ';' */
    assert_true(strlen(sql) > 0 && strncmp(sql, AGENT_TASKS_DDL, strlen(sql)) == 0);
    free(sql);
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM tasks"), 1);
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM tasks WHERE title = 'Reply to Dana'"
                                    " AND tags = 'email,follow-up'"),
                     1);
    /* Everything the host created is named pa_. */
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                                    " AND name NOT LIKE 'pa\\_%' ESCAPE '\\'"
                                    " AND name NOT IN ('tasks', 'processed_granola_notes',"
                                    " 'sqlite_sequence')"),
                     0);
    assert_int_equal(db_scalar(env, "SELECT version FROM pa_schema WHERE component = 'host'"), 4);
}

static void test_earlier_host_tables_are_migrated_once(void **state)
{
    test_env *env = *state;
    /* What the previous host_stub created, with one delivered and one pending item. */
    exec_on(env,
            "CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, plugin TEXT NOT NULL,"
            " instance_id TEXT NOT NULL, item_json TEXT NOT NULL, created_at TEXT NOT NULL,"
            " consumed_at TEXT);"
            "CREATE TABLE tasks (id INTEGER PRIMARY KEY AUTOINCREMENT, outbox_id INTEGER NOT NULL"
            " UNIQUE REFERENCES outbox(id), type TEXT NOT NULL, title TEXT NOT NULL,"
            " description TEXT, priority TEXT NOT NULL, source TEXT NOT NULL, source_reference"
            " TEXT NOT NULL, account_id TEXT NOT NULL, due_date TEXT, tags TEXT NOT NULL,"
            " metadata TEXT, created_at TEXT NOT NULL);"
            "INSERT INTO outbox VALUES (1, 'example', 'a', '{\"type\":\"example\",\"title\":"
            "\"Old\",\"description\":null,\"priority\":\"medium\",\"source\":\"example\","
            "\"source_reference\":\"old-1\",\"account_id\":\"a\",\"due_date\":null,"
            "\"tags\":[\"example\"]}', '2025-12-01T00:00:00Z', '2025-12-01T00:00:01Z');"
            "INSERT INTO tasks VALUES (1, 1, 'example', 'Old', NULL, 'medium', 'example', 'old-1',"
            " 'a', NULL, '[\"example\"]', NULL, '2025-12-01T00:00:01Z');"
            "INSERT INTO outbox VALUES (2, 'example', 'a', '{\"type\":\"example\",\"title\":"
            "\"Pending\",\"description\":null,\"priority\":\"high\",\"source\":\"example\","
            "\"source_reference\":\"old-2\",\"account_id\":\"a\",\"due_date\":null,"
            "\"tags\":[],\"metadata\":{\"k\":1}}', '2025-12-01T00:00:00Z', NULL);");
    env_write_config(env, "{\"plugins\": {}}");
    host_result r;
    const char *args[] = {"--polls", "1", "--fake-clock", FAKE_CLOCK, NULL};
    host_run(env, &r, args);
    assert_int_equal(r.exit_code, 0);
    assert_contains(r.err, "schema: moved this host's earlier outbox and tasks tables into "
                           "pa_outbox and pa_tasks (1 task(s))");
    /* The pending item became a task now, with the next id. */
    assert_int_equal(count_lines(r.out), 1);
    cJSON *t = json_line(r.out, 0);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(t, "id")->valueint, 2);
    assert_string_equal(json_str(t, "title"), "Pending");
    assert_string_equal(json_str(t, "priority"), "high");
    assert_int_equal(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(t, "metadata"), "k")
            ->valueint,
        1);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(t, "schema_version")->valueint, 1);
    cJSON_Delete(t);
    host_result_free(&r);
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM pa_tasks"), 2);
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM pa_tasks WHERE id = 1 AND title = 'Old'"
                                    " AND plugin = 'example' AND instance = 'a'"),
                     1);
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM sqlite_master WHERE name IN"
                                    " ('outbox', 'tasks')"),
                     0);
    /* Once: a second start finds version 1 and moves nothing. */
    host_run(env, &r, args);
    assert_int_equal(r.exit_code, 0);
    assert_lacks(r.err, "schema: moved");
    assert_int_equal(count_lines(r.out), 0);
    host_result_free(&r);
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM pa_tasks"), 2);
}

/* Version 1 of the host tables, as a host_stub before the claim columns wrote them. */
#define HOST_TABLES_V1                                                                             \
    "CREATE TABLE pa_schema (component TEXT PRIMARY KEY, version INTEGER NOT NULL,"                \
    " applied_at TEXT NOT NULL); INSERT INTO pa_schema VALUES ('host', 1, 'x');"                   \
    "CREATE TABLE pa_outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, plugin TEXT NOT NULL,"          \
    " instance_id TEXT NOT NULL, item_json TEXT NOT NULL, created_at TEXT NOT NULL,"               \
    " consumed_at TEXT);"                                                                          \
    "CREATE TABLE pa_tasks (id INTEGER PRIMARY KEY AUTOINCREMENT, outbox_id INTEGER NOT NULL"      \
    " UNIQUE REFERENCES pa_outbox(id), plugin TEXT NOT NULL, instance TEXT NOT NULL,"              \
    " type TEXT NOT NULL, title TEXT NOT NULL, description TEXT, priority TEXT NOT NULL,"          \
    " source TEXT NOT NULL, source_reference TEXT NOT NULL, account_id TEXT NOT NULL,"             \
    " due_date TEXT, tags TEXT NOT NULL, metadata TEXT, created_at TEXT NOT NULL,"                 \
    " delivered_at TEXT);"                                                                         \
    "INSERT INTO pa_outbox VALUES (1, 'example', 'a', '{}', 'x', 'x');"                            \
    "INSERT INTO pa_tasks (id, outbox_id, plugin, instance, type, title, priority, source,"        \
    " source_reference, account_id, tags, created_at) VALUES (1, 1, 'example', 'a', 'task',"       \
    " 'Kept', 'medium', 'example', 'r-1', 'a', '[]', 'x');"

/* Version 2 adds a consumer's claim to pa_tasks and pa_instances; a version 1 task keeps. */
static void test_version_1_tables_gain_the_claim_columns(void **state)
{
    test_env *env = *state;
    exec_on(env, HOST_TABLES_V1);
    env_write_config(env, "{\"plugins\": {}}");
    host_result r;
    const char *args[] = {"--polls", "1", NULL};
    for (int run = 0; run < 2;
         run++) { /* the second start finds the current version: nothing to do */
        host_run(env, &r, args);
        assert_int_equal(r.exit_code, 0);
        host_result_free(&r);
        assert_int_equal(db_scalar(env, "SELECT version FROM pa_schema WHERE component = 'host'"),
                         4);
        assert_int_equal(db_scalar(env, "SELECT count(*) FROM pragma_table_info('pa_tasks')"
                                        " WHERE name IN ('claimed_by', 'claim_until', 'claims')"),
                         3);
        assert_int_equal(db_scalar(env, "SELECT count(*) FROM pa_tasks WHERE id = 1"
                                        " AND title = 'Kept' AND claims = 0"
                                        " AND claimed_by IS NULL AND delivered_at IS NULL"),
                         1);
        assert_int_equal(db_scalar(env, "SELECT count(*) FROM pa_instances"), 0);
    }
}

static void test_a_newer_schema_is_refused_untouched(void **state)
{
    test_env *env = *state;
    exec_on(env, "CREATE TABLE pa_schema (component TEXT PRIMARY KEY, version INTEGER NOT NULL,"
                 " applied_at TEXT NOT NULL); INSERT INTO pa_schema VALUES ('host', 99, 'x');");
    env_write_config(env, "{\"plugins\": {}}");
    host_result r;
    const char *args[] = {"--polls", "1", NULL};
    host_run(env, &r, args);
    assert_int_equal(r.exit_code, 1);
    assert_contains(r.err, "the database's host tables are at schema version 99, newer than this "
                           "host_stub's 4; use a newer host_stub");
    host_result_free(&r);
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM sqlite_master WHERE name = 'pa_tasks'"),
                     0);

    /* A version no host wrote (negative) is refused too, never used to pick a migration. */
    exec_on(env, "UPDATE pa_schema SET version = -1 WHERE component = 'host'");
    host_run(env, &r, args);
    assert_int_equal(r.exit_code, 1);
    assert_contains(r.err, "pa_schema holds no valid schema version for the host (read -1)");
    host_result_free(&r);
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM sqlite_master WHERE name = 'pa_tasks'"),
                     0);
}

/* examples/consume_tasks.py --until-empty on env's database, stdout to out_path. */
static pid_t start_consumer(test_env *env, const char *out_path)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0)
            _exit(127);
        dup2(fd, 1);
        execlp("python3", "python3", PA_SOURCE_DIR "/examples/consume_tasks.py", "--db", env->db,
               "--limit", "3", "--until-empty", (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void test_two_consumers_claim_every_task_once(void **state)
{
    test_env *env = *state;
    env_add_plugin(env, "example");
    env_write_config(env, "{\"plugins\": {\"example\": {\"instances\": ["
                          "{\"id\": \"a\", \"items_per_poll\": 20}]}}}");
    host_result r;
    const char *args[] = {"--polls", "10", "--fake-clock", FAKE_CLOCK, NULL};
    host_run(env, &r, args);
    assert_int_equal(r.exit_code, 0);
    host_result_free(&r);
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM pa_tasks WHERE delivered_at IS NULL"),
                     200);
    char out[2][200];
    pid_t pids[2];
    for (int i = 0; i < 2; i++) {
        snprintf(out[i], sizeof out[i], "%s/consumer%d.jsonl", env->dir, i);
        pids[i] = start_consumer(env, out[i]);
    }
    int seen[201] = {0}, total = 0;
    for (int i = 0; i < 2; i++) {
        int status;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        FILE *f = fopen(out[i], "r");
        assert_non_null(f);
        char line[4096];
        while (fgets(line, sizeof line, f)) {
            cJSON *item = cJSON_Parse(line);
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(item, "task_id");
            assert_true(cJSON_IsNumber(id) && id->valueint >= 1 && id->valueint <= 200);
            seen[id->valueint]++;
            total++;
            /* Shaped like the agent's ActionableItem: lists and dicts, not JSON text. */
            assert_true(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(item, "tags")));
            assert_true(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(item, "metadata")));
            assert_string_equal(json_str(item, "instance"), "a");
            cJSON_Delete(item);
        }
        fclose(f);
    }
    assert_int_equal(total, 200);
    for (int id = 1; id <= 200; id++) {
        if (seen[id] != 1)
            fail_msg("task %d was delivered %d times", id, seen[id]);
    }
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM pa_tasks WHERE delivered_at IS NULL"), 0);
}

/* Items that never became tasks make the run fail: exit 1, never 0. */
static void test_undelivered_items_fail_the_run(void **state)
{
    test_env *env = *state;
    /* A pa_tasks the consumer cannot write (someone else's table of that name). */
    exec_on(env, "CREATE TABLE pa_schema (component TEXT PRIMARY KEY, version INTEGER NOT NULL,"
                 " applied_at TEXT NOT NULL); INSERT INTO pa_schema VALUES ('host', 1, 'x');"
                 "CREATE TABLE pa_tasks (id INTEGER PRIMARY KEY, delivered_at TEXT);");
    env_add_plugin(env, "example");
    env_write_config(env, "{\"plugins\": {\"example\": {\"instances\": ["
                          "{\"id\": \"a\", \"items_per_poll\": 1}]}}}");
    host_result r;
    const char *args[] = {"--polls", "1", "--fake-clock", FAKE_CLOCK, NULL};
    host_run(env, &r, args);
    assert_int_equal(r.exit_code, 1);
    assert_contains(r.err, "outbox consumer:");
    assert_contains(r.err, "exiting with status 1: the last outbox round failed");
    assert_string_equal(r.out, "");
    host_result_free(&r);
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM pa_outbox WHERE consumed_at IS NULL"), 1);
}

static void test_emit_refuses_invalid_utf8(void **state)
{
    test_env *env = *state;
    env_add_plugin(env, "example");
    env_write_config(env, "{\"plugins\": {\"example\": {\"instances\": ["
                          "{\"id\": \"a\", \"invalid_utf8\": true}]}}}");
    host_result r;
    const char *args[] = {"--polls", "1", "--fake-clock", FAKE_CLOCK, NULL};
    host_run(env, &r, args);
    assert_int_equal(r.exit_code, 3); /* a poll failed, or an instance did not start */
    assert_contains(r.err, "poll failed (1 in a row): emit failed: emit: item field 'title' is "
                           "not valid UTF-8 (PA_ERR_INVALID)");
    assert_string_equal(r.out, "");
    host_result_free(&r);
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM pa_outbox"), 0);
}

/* Copies from into to. */
static void copy_file(const char *from, const char *to)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", from, to);
    assert_int_equal(system(cmd), 0);
}

/* A page overwritten mid-file, anywhere: refused at start, with what to do. */
static void test_damaged_database_is_refused(void **state)
{
    test_env *env = *state;
    env_add_plugin(env, "example");
    env_write_config(env, "{\"plugins\": {\"example\": {\"instances\": ["
                          "{\"id\": \"a\", \"items_per_poll\": 150}]}}}");
    host_result r;
    const char *args[] = {"--polls", "3", "--fake-clock", FAKE_CLOCK, NULL};
    host_run(env, &r, args);
    assert_int_equal(r.exit_code, 0);
    host_result_free(&r);
    long pages = db_scalar(env, "SELECT page_count FROM pragma_page_count");
    long page_size = db_scalar(env, "SELECT page_size FROM pragma_page_size");
    assert_true(pages >= 10);
    char good[200];
    snprintf(good, sizeof good, "%s.good", env->db);
    copy_file(env->db, good);
    char *garbage = malloc((size_t)page_size);
    memset(garbage, 0x5a, (size_t)page_size);
    for (long page = 2; page <= 10; page++) { /* page 1 is the header: "not a database" */
        copy_file(good, env->db);
        FILE *f = fopen(env->db, "r+b");
        assert_non_null(f);
        assert_int_equal(fseek(f, (page - 1) * page_size, SEEK_SET), 0);
        assert_int_equal(fwrite(garbage, 1, (size_t)page_size, f), (size_t)page_size);
        fclose(f);
        host_run(env, &r, args);
        if (r.exit_code != 1 || !strstr(r.err, "is damaged (SQLITE_CORRUPT; quick_check: "))
            fail_msg("page %ld overwritten: exit %d\n%s", page, r.exit_code, r.err);
        assert_contains(r.err, ".recover | sqlite3 ");
        assert_string_equal(r.out, "");
        host_result_free(&r);
    }
    free(garbage);
    copy_file(good, env->db);
    const char *checked[] = {"--polls", "3", "--fake-clock", FAKE_CLOCK, "--verbose", NULL};
    env_write_config(env, "{\"quick_check_interval_seconds\": 900, \"plugins\": {\"example\": "
                          "{\"instances\": [{\"id\": \"a\"}]}}}");
    host_run(env, &r, checked);
    assert_int_equal(r.exit_code, 0);
    assert_true(count_lines_with(r.err, "quick_check ok") >= 2); /* every 900 s: polls 2, 3 */
    host_result_free(&r);
}

/* -wal and -shm take the database file's mode; a -shm left read-only is corrected. */
static void test_side_files_follow_the_database_mode(void **state)
{
    test_env *env = *state;
    env_add_plugin(env, "example");
    env_write_config(env, "{\"plugins\": {\"example\": {\"instances\": [{\"id\": \"a\"}]}}}");
    host_result r;
    const char *args[] = {"--polls", "1", "--fake-clock", FAKE_CLOCK, NULL};
    host_run(env, &r, args);
    assert_int_equal(r.exit_code, 0);
    host_result_free(&r);
    assert_int_equal(chmod(env->db, 0640), 0);
    /* Another process keeps the database open, so the side files outlive the host. */
    sqlite3 *reader;
    assert_int_equal(sqlite3_open(env->db, &reader), SQLITE_OK);
    assert_int_equal(sqlite3_exec(reader, "SELECT count(*) FROM pa_tasks", NULL, NULL, NULL),
                     SQLITE_OK);
    char shm[200];
    snprintf(shm, sizeof shm, "%s-shm", env->db);
    assert_int_equal(chmod(shm, 0444), 0); /* as a run against a read-only database leaves it */
    host_run(env, &r, args);
    assert_int_equal(r.exit_code, 0);
    host_result_free(&r);
    struct stat st;
    assert_int_equal(stat(shm, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    char wal[200];
    snprintf(wal, sizeof wal, "%s-wal", env->db);
    if (stat(wal, &st) == 0)
        assert_int_equal(st.st_mode & 0777, 0640);
    sqlite3_close(reader);
}

/*
 * The plugins directory's whole path is checked, as sshd's StrictModes does:
 * a parent anyone may write to (and rename the directory in) is refused; a
 * sticky one (as /tmp) is not.
 */
static void test_a_plugins_directory_under_an_open_parent_is_refused(void **state)
{
    test_env *env = *state;
    char parent[300], plugins[400];
    snprintf(parent, sizeof parent, "%s/open", env->dir);
    snprintf(plugins, sizeof plugins, "%s/plugins", parent);
    assert_int_equal(mkdir(parent, 0755), 0);
    assert_int_equal(mkdir(plugins, 0755), 0);
    env_write_config(env, "{\"plugins\": {}}");
    for (int sticky = 0; sticky < 2; sticky++) {
        assert_int_equal(chmod(parent, sticky ? 01777 : 0777), 0);
        const char *argv[] = {PA_HOST_STUB, "--plugins", plugins,   "--config", env->config,
                              "--db",       env->db,     "--polls", "1",        NULL};
        pid_t pid = spawn_wrapped(argv, env->out_path, env->err_path);
        host_result r;
        host_wait(env, pid, &r);
        if (sticky) {
            assert_int_equal(r.exit_code, 0);
        } else {
            assert_int_equal(r.exit_code, 2);
            assert_contains(r.err, "its parent '");
            assert_contains(r.err,
                            "/open' is writable by everyone and not sticky (mode 0777); anyone "
                            "who can rename it can replace the plugins");
        }
        host_result_free(&r);
    }
}

static void test_emitted_items_roll_back_with_their_transaction(void **state)
{
    test_env *env = *state;
    env_add_plugin(env, "example");
    env_write_config(env, "{\"plugins\": {\"example\": {\"instances\": ["
                          "{\"id\": \"r\", \"items_per_poll\": 3, \"rollback\": true}]}}}");
    host_result r;
    const char *args[] = {"--polls", "1", "--fake-clock", FAKE_CLOCK, NULL};
    host_run(env, &r, args);
    assert_int_equal(r.exit_code, 0);
    assert_string_equal(r.out, "");
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM pa_outbox"), 0);
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM pa_tasks"), 0);
    assert_lacks(r.err, "poll failed");
    host_result_free(&r);
}

static void check_leak_reclaimed(test_env *env, const char *phase)
{
    char config[256];
    snprintf(config, sizeof config,
             "{\"plugins\": {\"leak_lease\": {\"instances\": [{\"id\": \"x\", \"leak_in\": "
             "\"%s\"}]}}}",
             phase);
    env_write_config(env, config);
    host_result r;
    const char *args[] = {"--polls", "1", "--fake-clock", FAKE_CLOCK, "--stats", NULL};
    host_run(env, &r, args);
    assert_int_equal(r.exit_code, 0);
    char expected[256];
    snprintf(expected, sizeof expected, "in leak(), at end of %s; rolled back", phase);
    /* Logged by the worker's pool, under the worker's instance: no worker speaks as the host. */
    assert_int_equal(count_lines_with(r.err, "warn plugin leak_lease/x: pool: reclaimed unreleased "
                                             "WRITE lease from plugin 'leak_lease' instance 'x', "
                                             "borrowed at tests/plugins/leak_lease_plugin.c:"),
                     1);
    assert_int_equal(count_lines_with(r.err, expected), 1);
    assert_contains(r.err, "reclaims=1 ");
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM leak_probe"), 0);
    host_result_free(&r);
}

static void test_unreleased_lease_is_reclaimed_after_each_phase(void **state)
{
    test_env *env = *state;
    env_add_plugin(env, "leak_lease");
    check_leak_reclaimed(env, "init");
    check_leak_reclaimed(env, "poll");
    check_leak_reclaimed(env, "shutdown");
}

static void test_open_transaction_and_statements_cleaned_at_release(void **state)
{
    test_env *env = *state;
    env_add_plugin(env, "open_txn");
    env_write_config(env, "{\"plugins\": {\"open_txn\": {\"instances\": [{\"id\": \"o\"}]}}}");
    host_result r;
    const char *args[] = {"--polls", "1", "--fake-clock", FAKE_CLOCK, "--stats", NULL};
    host_run(env, &r, args);
    assert_int_equal(r.exit_code, 0);
    assert_contains(r.err, "warn plugin open_txn/o: pool: plugin 'open_txn' instance 'o' released "
                           "a READ lease "
                           "(borrowed at tests/plugins/open_txn_plugin.c:");
    assert_contains(r.err, "with a transaction open at tests/plugins/open_txn_plugin.c:");
    assert_contains(r.err, "with 1 active statement(s) reset and 1 unfinalized statement(s) "
                           "finalized");
    assert_contains(r.err, "rollbacks_on_release=1 statements_reset=1 statements_finalized=1");
    assert_lacks(r.err, "poll failed");
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM open_txn_probe"), 0);
    host_result_free(&r);
}

static void test_double_release_and_stale_use_are_detected(void **state)
{
    test_env *env = *state;
    env_add_plugin(env, "double_release");
    env_write_config(env,
                     "{\"plugins\": {\"double_release\": {\"instances\": [{\"id\": \"d\"}]}}}");
    host_result r;
    const char *args[] = {"--polls", "1", "--fake-clock", FAKE_CLOCK, "--stats", NULL};
    host_run(env, &r, args);
    assert_int_equal(r.exit_code, 0);
    assert_contains(r.err, "error plugin double_release/d: pool: release of a stale lease by "
                           "plugin 'double_release' instance 'd' at "
                           "tests/plugins/double_release_plugin.c:");
    assert_contains(r.err, "the lease was already released (borrowed at "
                           "tests/plugins/double_release_plugin.c:");
    assert_contains(r.err, "error plugin double_release/d: pool: use of a stale lease by plugin "
                           "'double_release'");
    assert_contains(r.err, "by other than its lease's holder (a handle kept after release; the "
                           "connection was last borrowed by plugin 'double_release' instance 'd'");
    assert_contains(r.err, "all three misuses were detected");
    assert_contains(r.err, "stale_uses=3 ");
    assert_lacks(r.err, "poll failed");
    host_result_free(&r);
}

static void test_refused_plugins_do_not_stop_the_others(void **state)
{
    test_env *env = *state;
    env_add_plugin(env, "example");
    env_add_plugin(env, "wrong_abi");
    env_add_plugin(env, "missing_entry");
    env_write_config(env, "{\"plugins\": {\"example\": {\"instances\": [{\"id\": \"e\"}]},"
                          " \"wrong_abi\": {\"instances\": [{\"id\": \"w\"}]}}}");
    host_result r;
    const char *args[] = {"--polls", "1", "--fake-clock", FAKE_CLOCK, NULL};
    host_run(env, &r, args);
    assert_int_equal(r.exit_code, 3); /* wrong_abi/w never ran */
    char line[512];
    snprintf(line, sizeof line,
             "error loader: refusing plugin '%s/wrong_abi.so': built for ABI 99.0, host ABI is "
             "1.5 (major versions differ)",
             env->plugins);
    assert_int_equal(count_lines_with(r.err, line), 1);
    snprintf(line, sizeof line,
             "error loader: refusing plugin '%s/missing_entry.so': missing entry point "
             "pa_plugin_poll",
             env->plugins);
    assert_int_equal(count_lines_with(r.err, line), 1);
    assert_contains(r.err, "plugin 'wrong_abi' was refused; its 1 instance(s) will not run");
    assert_int_equal(count_lines(r.out), 1);
    host_result_free(&r);
}

static void test_unsafe_files_and_directories_are_refused(void **state)
{
    test_env *env = *state;
    env_add_plugin(env, "example");
    env_add_plugin(env, "poll_fail");
    env_add_plugin(env, "open_txn");
    char path[256];
    snprintf(path, sizeof path, "%s/poll_fail.so", env->plugins);
    assert_int_equal(chmod(path, 0775), 0);
    snprintf(path, sizeof path, "%s/open_txn.so", env->plugins);
    /* nobody: a user that is neither us nor root */
    assert_int_equal(chown(path, 65534, 65534), 0);
    env_write_config(env, "{\"plugins\": {\"example\": {\"instances\": [{\"id\": \"e\"}]}}}");
    host_result r;
    const char *args[] = {"--polls", "1", "--fake-clock", FAKE_CLOCK, NULL};
    host_run(env, &r, args);
    assert_int_equal(r.exit_code, 0);
    assert_contains(r.err, "/poll_fail.so': writable by group or others");
    assert_contains(r.err, "/open_txn.so': owned by another user");
    assert_int_equal(count_lines(r.out), 1);
    host_result_free(&r);

    /* A FIFO named like a plugin: refused at once, never waited on (open() would block). */
    snprintf(path, sizeof path, "%s/fifo.so", env->plugins);
    assert_int_equal(mkfifo(path, 0600), 0);
    host_run(env, &r, args);
    assert_int_equal(r.exit_code, 0);
    assert_contains(r.err, "/fifo.so': not a regular file (a FIFO)");
    assert_int_equal(count_lines(r.out), 1);
    host_result_free(&r);
    assert_int_equal(unlink(path), 0);

    assert_int_equal(chmod(env->plugins, 0777), 0);
    host_run(env, &r, args);
    assert_int_equal(r.exit_code, 2);
    assert_contains(r.err, "refusing plugins directory");
    assert_contains(r.err, "writable by group or others (mode 0777)");
    host_result_free(&r);
}

static void test_failed_init_leaves_other_instances_running(void **state)
{
    test_env *env = *state;
    env_add_plugin(env, "example");
    env_add_plugin(env, "init_fail");
    env_write_config(env, "{\"plugins\": {\"init_fail\": {\"instances\": [{\"id\": \"bad\"}]},"
                          " \"example\": {\"instances\": [{\"id\": \"good\"}]}}}");
    host_result r;
    const char *args[] = {"--polls", "2", "--fake-clock", FAKE_CLOCK, NULL};
    host_run(env, &r, args);
    assert_int_equal(r.exit_code, 3); /* a poll failed, or an instance did not start */
    assert_int_equal(count_lines_with(r.err, "error plugin init_fail/bad: init failed "
                                             "(PA_ERR_CONFIG): init_fail: refusing to start, as "
                                             "configured; instance not started"),
                     1);
    assert_lacks(r.err, "poll must never be called");
    assert_int_equal(count_lines(r.out), 2);
    host_result_free(&r);
}

/*
 * docs/ABI.md, at pa_plugin_init: an init that fails after setting
 * *instance_out gets shutdown on it; at log: a line is cut at 2047 bytes; at
 * report_http: a report too short for its fields is ignored.
 */
static void test_failed_init_with_an_instance_gets_shutdown(void **state)
{
    test_env *env = *state;
    env_add_plugin(env, "init_fail");
    env_write_config(env, "{\"plugins\": {\"init_fail\": {\"instances\": [{\"id\": \"left\", "
                          "\"leave_instance\": true, \"log_chars\": 5000, "
                          "\"short_report\": true}]}}}");
    host_result r;
    const char *args[] = {"--polls", "1", "--fake-clock", FAKE_CLOCK, "--verbose", NULL};
    host_run(env, &r, args);
    assert_int_equal(r.exit_code, 1); /* no instance could start */
    assert_int_equal(count_lines_with(r.err, "info plugin init_fail/left: init_fail: shutdown "
                                             "called on the instance init left"),
                     1);
    const char *x = strstr(r.err, "info plugin init_fail/left: x");
    assert_non_null(x);
    size_t run = strspn(strchr(x, 'x'), "x");
    if (run < 1900 || run > 2047)
        fail_msg("a 5000-character log line kept %zu characters", run);
    assert_lacks(r.err, "http ? ?");
    host_result_free(&r);
}

/* docs/ABI.md, at pa_plugin_init: an instance object over 130048 bytes is refused before init. */
static void test_instance_object_over_the_limit_is_refused(void **state)
{
    test_env *env = *state;
    env_add_plugin(env, "example");
    size_t pad = 131000;
    char *config = malloc(pad + 256);
    assert_non_null(config);
    int n = snprintf(config, 256,
                     "{\"plugins\": {\"example\": {\"instances\": [{\"id\": \"big\", \"pad\": \"");
    memset(config + n, 'p', pad);
    strcpy(config + n + pad, "\"}, {\"id\": \"small\"}]}}}");
    env_write_config(env, config);
    free(config);
    host_result r;
    const char *args[] = {"--polls", "1", "--fake-clock", FAKE_CLOCK, NULL};
    host_run(env, &r, args);
    assert_int_equal(r.exit_code, 3); /* a poll failed, or an instance did not start */
    assert_contains(r.err, "error plugin example/big: the instance object is too large for a "
                           "worker (limit 130048 bytes); instance not started");
    assert_contains(r.err, "info plugin example/small: started");
    host_result_free(&r);
}

/* host_stub without --db: the database comes from host.json or the agent's variable. */
static void run_without_db_flag(test_env *env, host_result *r)
{
    const char *argv[] = {PA_HOST_STUB, "--plugins", env->plugins,   "--config", env->config,
                          "--polls",    "1",         "--fake-clock", FAKE_CLOCK, NULL};
    host_wait(env, spawn_wrapped(argv, env->out_path, env->err_path), r);
}

/* The agent's database, named as the agent names it (docs/OPERATIONS.md, "The database"). */
static void test_database_named_as_the_agent_names_it(void **state)
{
    test_env *env = *state;
    env_add_plugin(env, "example");
    env_write_config(env, "{\"plugins\": {\"example\": {\"instances\": [{\"id\": \"a\"}]}}}");
    char url[256], other[256];
    snprintf(url, sizeof url, "sqlite:///%s", env->db); /* env->db is absolute: four slashes */
    snprintf(other, sizeof other, "sqlite:///%s/elsewhere.db", env->dir);
    setenv("PA_DATABASE__URL", url, 1);
    setenv("PA_DATABASE_URL", other, 1);
    host_result r;
    run_without_db_flag(env, &r);
    assert_int_equal(r.exit_code, 0);
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM pa_tasks"), 1);
    char line[512];
    snprintf(line, sizeof line, "info host: database: SQLite file %s (from PA_DATABASE__URL)",
             env->db);
    assert_contains(r.err, line);
    assert_contains(r.err, "warn host: PA_DATABASE_URL (");
    assert_contains(r.err, ") differs from PA_DATABASE__URL; host_stub reads PA_DATABASE__URL");
    host_result_free(&r);

    /*
     * A server URL (SQLAlchemy's driver suffix dropped) is used; one that
     * cannot be reached is one error line and exit 1, its password never shown.
     */
    setenv("PA_DATABASE__URL", "postgresql+psycopg2://pauser:s3cret@127.0.0.1:1/pa", 1);
    unsetenv("PA_DATABASE_URL");
    run_without_db_flag(env, &r);
    assert_int_equal(r.exit_code, 1);
    assert_contains(r.err,
                    "info host: database: PostgreSQL "
                    "postgresql+psycopg2://pauser:***@127.0.0.1:1/pa (from PA_DATABASE__URL)");
    assert_contains(r.err, "error host: cannot connect to PostgreSQL: ");
    assert_lacks(r.err, "s3cret");
    host_result_free(&r);
    setenv("PA_DATABASE__URL", "mysql://u@db/pa", 1);
    run_without_db_flag(env, &r);
    assert_int_equal(r.exit_code, 2);
    assert_contains(r.err, "unknown scheme 'mysql'");
    host_result_free(&r);

    /* host.json's "database" comes before the variable; --db before both. */
    char config[512];
    snprintf(config, sizeof config,
             "{\"database\": \"%s\", \"plugins\": {\"example\": {\"instances\": "
             "[{\"id\": \"a\"}]}}}",
             url);
    env_write_config(env, config);
    run_without_db_flag(env, &r);
    assert_int_equal(r.exit_code, 0);
    assert_contains(r.err, "(from host.json \"database\")");
    host_result_free(&r);
    snprintf(config, sizeof config,
             "{\"database\": \"mysql://nowhere\", \"plugins\": {\"example\": "
             "{\"instances\": [{\"id\": \"a\"}]}}}");
    env_write_config(env, config);
    const char *args[] = {"--polls", "1", "--fake-clock", FAKE_CLOCK, NULL};
    host_run(env, &r, args);
    assert_int_equal(r.exit_code, 0);
    assert_contains(r.err, "(from --db)");
    host_result_free(&r);
    unsetenv("PA_DATABASE__URL");
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM pa_tasks"), 3);
}

/* --check-config: the host's rules and each plugin's, without the database. */
static void test_check_config(void **state)
{
    test_env *env = *state;
    env_add_plugin(env, "example");
    env_add_plugin(env, "init_fail");
    env_write_config(env, "{\"plugins\": {\"example\": {\"instances\": [{\"id\": \"a\"}]}}}");
    host_result r;
    const char *check[] = {"--check-config", NULL};
    host_run(env, &r, check);
    assert_int_equal(r.exit_code, 0);
    assert_contains(r.out, "host.json: 1 instance(s) checked, 0 problem(s)");
    host_result_free(&r);
    assert_int_equal(access(env->db, F_OK), -1); /* no database was created or touched */
    env_write_config(env, "{\"plugins\": {\"example\": {\"instances\": [{\"id\": \"a\"}]},"
                          " \"init_fail\": {\"instances\": [{\"id\": \"b\"}, {\"id\": \"c\"}]}}}");
    host_run(env, &r, check);
    assert_int_equal(r.exit_code, 2);
    assert_contains(r.out,
                    "host.json: plugins.init_fail instance 'b': init failed (PA_ERR_CONFIG): "
                    "init_fail: refusing to start, as configured");
    assert_contains(r.out, "host.json: plugins.init_fail instance 'c': init failed");
    assert_contains(r.out, "host.json: 3 instance(s) checked, 2 problem(s)");
    host_result_free(&r);
    /* Everything it finds, host-level and per instance, on stdout, one line each. */
    env_write_config(env,
                     "{\"poll_interval_seconds\": 0, \"pool\": {\"size\": 0}, \"plugins\": "
                     "{\"example\": {\"instances\": [{\"id\": \"a\", \"poll_timeout_seconds\": "
                     "-1}, {\"id\": \"b\"}, {\"id\": \"b\"}]}, \"nothere\": {\"instances\": "
                     "[{\"id\": \"x\"}]}}}");
    host_run(env, &r, check);
    assert_int_equal(r.exit_code, 2);
    assert_contains(r.out, "host.json: poll_interval_seconds: expected an integer from 1 to "
                           "2592000\n");
    assert_contains(r.out, "host.json: pool.size: expected an integer from 1 to 256\n");
    assert_contains(r.out, "host.json: plugins.example.instances[0].poll_timeout_seconds: "
                           "expected an integer from 0 to 86400\n");
    assert_contains(r.out, "host.json: plugins.example.instances[2].id: duplicate instance id "
                           "'b'\n");
    assert_contains(r.out, "host.json: plugins.nothere: no nothere.so in the plugins directory");
    assert_contains(r.out, "host.json: 2 instance(s) checked, 5 problem(s)\n");
    assert_int_equal(count_lines(r.out), 6);
    host_result_free(&r);
    assert_int_equal(access(env->db, F_OK), -1);
}

/* Nothing could start: a bounded run fails, saying why. */
static void test_a_run_where_no_instance_starts_fails(void **state)
{
    test_env *env = *state;
    env_add_plugin(env, "init_fail");
    env_write_config(env, "{\"plugins\": {\"init_fail\": {\"instances\": [{\"id\": \"a\"}, "
                          "{\"id\": \"b\"}]}}}");
    host_result r;
    const char *args[] = {"--polls", "2", "--fake-clock", FAKE_CLOCK, NULL};
    host_run(env, &r, args);
    assert_int_equal(r.exit_code, 1);
    assert_contains(r.err, "error host: none of the 2 configured instance(s) could start (see "
                           "the lines above); exiting with status 1");
    host_result_free(&r);
}

static void test_failing_instance_backs_off_and_resets(void **state)
{
    test_env *env = *state;
    env_add_plugin(env, "poll_fail");
    env_write_config(env, "{\"poll_interval_seconds\": 900, \"plugins\": {\"poll_fail\": "
                          "{\"instances\": [{\"id\": \"f\", \"fail_polls\": 3}]}}}");
    host_result r;
    const char *args[] = {"--polls", "5", "--fake-clock", FAKE_CLOCK, NULL};
    host_run(env, &r, args);
    assert_int_equal(r.exit_code, 3); /* a poll failed, or an instance did not start */
    const char *expected[] = {
        "error plugin poll_fail/f: poll failed (1 in a row): simulated failure 1 "
        "(PA_ERR_REMOTE); backing off, next poll in 1800 s",
        "error plugin poll_fail/f: poll failed (2 in a row): simulated failure 2 "
        "(PA_ERR_REMOTE); backing off, next poll in 3600 s",
        "error plugin poll_fail/f: poll failed (3 in a row): simulated failure 3 "
        "(PA_ERR_REMOTE); backing off, next poll in 7200 s",
        "info plugin poll_fail/f: poll succeeded after 3 failure(s); interval reset to 900 s",
    };
    const char *at = r.err;
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        const char *hit = strstr(at, expected[i]);
        if (!hit)
            fail_msg("missing (in order): %s\n%s", expected[i], r.err);
        at = hit;
    }
    assert_int_equal(count_lines_with(r.err, "poll failed"), 3);
    host_result_free(&r);
}

static void test_backoff_is_capped_and_other_instances_keep_polling(void **state)
{
    test_env *env = *state;
    env_add_plugin(env, "poll_fail");
    env_add_plugin(env, "example");
    env_write_config(env, "{\"poll_interval_seconds\": 900, \"backoff_cap_seconds\": 3000,"
                          " \"plugins\": {\"poll_fail\": {\"instances\": [{\"id\": \"f\"}]},"
                          " \"example\": {\"instances\": [{\"id\": \"e\"}]}}}");
    host_result r;
    /* Rounds at 0, 900, 1800, 2700, 3600, 4500 s: example polls in every one. */
    const char *args[] = {"--polls", "6", "--fake-clock", FAKE_CLOCK, NULL};
    host_run(env, &r, args);
    assert_int_equal(r.exit_code, 3); /* a poll failed, or an instance did not start */
    assert_int_equal(count_lines(r.out), 6);
    assert_contains(r.err, "(1 in a row): simulated failure 1 (PA_ERR_REMOTE); backing off, next "
                           "poll in 1800 s");
    assert_contains(r.err, "(2 in a row): simulated failure 2 (PA_ERR_REMOTE); backing off, next "
                           "poll in 3000 s");
    assert_int_equal(count_lines_with(r.err, "poll failed"), 2);
    host_result_free(&r);
}

static void expect_config_error(test_env *env, const char *config, const char *message)
{
    env_write_config(env, config);
    host_result r;
    const char *args[] = {"--polls", "1", NULL};
    host_run(env, &r, args);
    assert_int_equal(r.exit_code, 2);
    assert_int_equal(count_lines(r.err), 1);
    assert_contains(r.err, message);
    host_result_free(&r);
}

static void test_bad_configuration_exits_2_with_one_line(void **state)
{
    test_env *env = *state;
    env_add_plugin(env, "example");
    char message[512];
    snprintf(message, sizeof message, "%s: bogus: unknown key", env->config);
    expect_config_error(env, "{\"bogus\": 1}", message);
    snprintf(message, sizeof message, "%s: pool.size: expected an integer", env->config);
    expect_config_error(env, "{\"pool\": {\"size\": \"4\"}}", message);
    snprintf(message, sizeof message,
             "%s: plugins.example.instances[1].id: duplicate instance id 'a'", env->config);
    expect_config_error(
        env, "{\"plugins\": {\"example\": {\"instances\": [{\"id\": \"a\"}, {\"id\": \"a\"}]}}}",
        message);
    snprintf(message, sizeof message, "%s: plugins.nothere: no nothere.so in plugins directory",
             env->config);
    expect_config_error(env, "{\"plugins\": {\"nothere\": {\"instances\": []}}}", message);
    snprintf(message, sizeof message, "%s: malformed JSON near byte", env->config);
    expect_config_error(env, "{\"plugins\": ", message);
    /* Valid JSON one byte over the limit: read in pieces, refused by size, not parsed. */
    size_t big_len = (1u << 20) + 1;
    char *big = malloc(big_len + 1);
    assert_non_null(big);
    memset(big, ' ', big_len);
    memcpy(big, "{}", 2);
    big[big_len] = '\0';
    snprintf(message, sizeof message, "%s: larger than 1 MiB", env->config);
    expect_config_error(env, big, message);
    big[big_len - 1] = '\0'; /* exactly the limit: accepted */
    env_write_config(env, big);
    free(big);
    host_result r;
    const char *check_args[] = {"--check-config", NULL};
    host_run(env, &r, check_args);
    assert_int_equal(r.exit_code, 0);
    host_result_free(&r);

    assert_int_equal(unlink(env->config), 0);
    const char *args[] = {"--polls", "1", NULL};
    host_run(env, &r, args);
    assert_int_equal(r.exit_code, 2);
    assert_int_equal(count_lines(r.err), 1);
    assert_contains(r.err, "host.json: cannot open: No such file or directory");
    host_result_free(&r);

    assert_int_equal(mkfifo(env->config, 0600), 0);
    host_run(env, &r, args);
    assert_int_equal(r.exit_code, 2);
    assert_int_equal(count_lines(r.err), 1);
    assert_contains(r.err, "host.json: cannot open: not a regular file (a FIFO)");
    host_result_free(&r);

    const char *bad_args[] = {"--polls", "zero", NULL};
    host_run(env, &r, bad_args);
    assert_int_equal(r.exit_code, 2);
    assert_contains(r.err, "--polls: expected a positive integer, got 'zero'");
    host_result_free(&r);
}

static bool wait_for(const char *path, const char *needle, int seconds)
{
    for (int i = 0; i < seconds * 20; i++) {
        char *text = read_file(path);
        bool found = strstr(text, needle) != NULL;
        free(text);
        if (found)
            return true;
        usleep(50000);
    }
    return false;
}

/*
 * The database file, or its -wal, deleted or replaced under a running host:
 * the host stops writing at once, says which and why, and exits 1, instead
 * of writing tasks into a file no one will read again.
 */
static void test_a_vanished_database_stops_the_host(void **state)
{
    test_env *env = *state;
    static const char *const cases[][2] = {
        {"", "was deleted while the host ran"},
        {"replace", "was replaced while the host ran"},
        {"-wal", "the database's write-ahead log "},
    };
    env_add_plugin(env, "example");
    env_write_config(env, "{\"plugins\": {\"example\": {\"instances\": [{\"id\": \"a\"}]}}}");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char side[600];
        for (const char *const *suffix = (const char *const[]){"", "-wal", "-shm", NULL}; *suffix;
             suffix++) {
            snprintf(side, sizeof side, "%s%s", env->db, *suffix);
            unlink(side); /* each case starts on a new file */
        }
        unlink(env->err_path); /* the last case's "created" must not be read for this one's */
        pid_t pid = host_start(env, (const char *[]){"--interval", "1", NULL});
        assert_true(wait_for(env->err_path, "created 1 task(s)", 60));
        char path[600];
        snprintf(path, sizeof path, "%s%s", env->db, strcmp(cases[i][0], "-wal") ? "" : "-wal");
        if (strcmp(cases[i][0], "replace") == 0) {
            char copy[600];
            snprintf(copy, sizeof copy, "%s.copy", env->db);
            FILE *f = fopen(copy, "w");
            assert_non_null(f);
            fclose(f);
            assert_int_equal(rename(copy, env->db), 0);
        } else {
            assert_int_equal(unlink(path), 0);
        }
        host_result r;
        host_wait(env, pid, &r);
        assert_int_equal(r.exit_code, 1);
        assert_contains(r.err, cases[i][1]);
        assert_contains(r.err, "; stopping, and exiting with status 1");
        host_result_free(&r);
    }
}

/*
 * The instance's figures in the stats come from its own worker's pool, in
 * either isolation: the supervisor's pool serves no plugin, so reading it
 * for an instance (as the host once did) showed 0.000 with workers.
 */
static void check_stats_are_the_instances(test_env *env, const char *isolation)
{
    env_add_plugin(env, "example");
    char config[256];
    snprintf(config, sizeof config,
             "{\"isolation\": \"%s\", \"plugins\": {\"example\": {\"instances\": "
             "[{\"id\": \"a\", \"items_per_poll\": 3}]}}}",
             isolation);
    env_write_config(env, config);
    host_result r;
    const char *args[] = {"--polls", "2", "--fake-clock", FAKE_CLOCK, "--stats", NULL};
    host_run(env, &r, args);
    assert_int_equal(r.exit_code, 0);
    assert_int_equal(count_lines(r.out), 6);
    /* Two polls of one WRITE lease each, in the instance's worker. */
    assert_contains(r.err, " info stats: worker example/a pool: leases read=0 write=2 ");
    const char *line = strstr(r.err, "pool: longest_hold_ms plugin=example ");
    assert_non_null(line);
    double longest = -1;
    assert_int_equal(sscanf(line, "pool: longest_hold_ms plugin=example %lf", &longest), 1);
    if (!(longest > 0))
        fail_msg("isolation %s: longest_hold_ms is %.3f\n%s", isolation, longest, r.err);
    assert_contains(r.err, " info status: instance example/a: running=0 version=- polls=2 ");
    assert_contains(r.err, " items=6 leases_held=0 ");
    host_result_free(&r);
}

static void test_stats_are_the_instances_with_workers(void **state)
{
    check_stats_are_the_instances(*state, "process");
}

static void test_stats_are_the_instances_in_process(void **state)
{
    check_stats_are_the_instances(*state, "none");
}

static void test_signals_print_stats_and_stop_cleanly(void **state)
{
    test_env *env = *state;
    env_add_plugin(env, "example");
    env_add_plugin(env, "poll_fail");
    env_write_config(env, "{\"plugins\": {\"example\": {\"instances\": [{\"id\": \"s\"}]},"
                          " \"poll_fail\": {\"instances\": [{\"id\": \"f\"}]}}}");
    const char *args[] = {"--interval", "1", NULL};
    pid_t pid = host_start(env, args);
    assert_true(wait_for(env->out_path, "\"source_reference\":\"s-1-1\"", 60));
    kill(pid, SIGUSR1);
    assert_true(wait_for(env->err_path, "host: reloads=", 60));
    /* Stats and status: log lines with time and level, key=value, one per instance. */
    char *err = read_file(env->err_path);
    assert_contains(err, " info stats: pool: leases read=");
    assert_contains(err, " info status: instance example/s: running=1 version=1.0.0 polls=");
    assert_contains(err, "failures_in_a_row=0 failures=0 last_success=20");
    assert_contains(err, "leases_held=0");
    assert_contains(err, " info status: instance poll_fail/f: running=1 ");
    assert_contains(err, "failures_in_a_row=1 failures=1 last_success=- last_failure=20");
    assert_contains(err, "last_failure_reason=\"simulated failure 1 (PA_ERR_REMOTE)\"");
    free(err);
    kill(pid, SIGTERM);
    host_result r;
    host_wait(env, pid, &r);
    assert_int_equal(r.exit_code, 0);
    assert_contains(r.err, "signal 15 received; finishing and shutting down");
    assert_contains(r.err, "plugin example/s: shut down");
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM pa_tasks"), count_lines(r.out));
    host_result_free(&r);
}

/* Every flag: -h and --version exit 0 on stdout; a usage error exits 2 on stderr. */
static void test_command_line_conventions(void **state)
{
    test_env *env = *state;
    host_result r;
    const char *help[] = {"-h", NULL};
    host_run(env, &r, help);
    assert_int_equal(r.exit_code, 0);
    assert_contains(r.out, "usage: host_stub");
    host_result_free(&r);
    const char *version[] = {"--version", NULL};
    host_run(env, &r, version);
    assert_int_equal(r.exit_code, 0);
    assert_contains(r.out, "host_stub 0.1.0\nplugin ABI 1.5\nSQLite 3.");
    assert_contains(r.out, ")\nlibpq ");
    host_result_free(&r);
    const char *bad[][3] = {{"--no-such-flag", NULL, NULL},
                            {"--log-format", "xml", NULL},
                            {"--polls", "0", NULL},
                            {"--verbose", "--quiet", NULL}};
    const char *said[] = {
        "host_stub: unknown or incomplete option '--no-such-flag'\nusage: host_stub",
        "--log-format: expected text or journald, got 'xml'",
        "--polls: expected a positive integer, got '0'",
        "host_stub: --verbose and --quiet cannot go together"};
    for (size_t i = 0; i < 4; i++) {
        host_run(env, &r, bad[i]);
        assert_int_equal(r.exit_code, 2);
        assert_contains(r.err, said[i]);
        /* Said as host_stub, never as the path it was started by. */
        assert_true(strncmp(r.err, "host_stub: ", 11) == 0 || strncmp(r.err, "usage:", 6) == 0);
        assert_string_equal(r.out, "");
        host_result_free(&r);
    }
}

static void test_log_lines_carry_milliseconds_or_journald_priorities(void **state)
{
    test_env *env = *state;
    env_add_plugin(env, "example");
    env_write_config(env, "{\"plugins\": {\"example\": {\"instances\": [{\"id\": \"a\"}]}}}");
    host_result r;
    const char *text[] = {"--polls", "1", NULL};
    host_run(env, &r, text);
    assert_int_equal(r.exit_code, 0);
    /* 2026-11-29T14:22:39.123Z info loader: ... */
    assert_true(strlen(r.err) > 25 && r.err[19] == '.' && r.err[23] == 'Z' && r.err[24] == ' ');
    host_result_free(&r);
    const char *journald[] = {"--polls", "1", "--log-format", "journald", NULL};
    host_run(env, &r, journald);
    assert_int_equal(r.exit_code, 0);
    assert_true(strncmp(r.err, "<6>host: database: SQLite file ", 31) == 0);
    assert_contains(r.err, "\n<6>loader: loaded plugin 'example'");
    assert_contains(r.err, "\n<6>plugin example/a: started");
    host_result_free(&r);
}

/* A second host on the same database is refused and names the first. */
static void test_one_host_per_database(void **state)
{
    test_env *env = *state;
    env_add_plugin(env, "example");
    env_write_config(env, "{\"plugins\": {\"example\": {\"instances\": [{\"id\": \"s\"}]}}}");
    const char *args[] = {"--interval", "3600", NULL};
    pid_t first = host_start(env, args);
    assert_true(wait_for(env->out_path, "\"source_reference\":\"s-1-1\"", 60));
    test_env second = *env;
    snprintf(second.out_path, sizeof second.out_path, "%s/stdout2", env->dir);
    snprintf(second.err_path, sizeof second.err_path, "%s/stderr2", env->dir);
    host_result r;
    const char *once[] = {"--polls", "1", NULL};
    host_wait(&second, host_start(&second, once), &r);
    assert_int_equal(r.exit_code, 2);
    char expected[128];
    snprintf(expected, sizeof expected, "another host_stub (pid %ld) is using the database",
             (long)first);
    assert_contains(r.err, expected);
    assert_contains(r.err, "--allow-shared-db");
    host_result_free(&r);
    /* --allow-shared-db on the second alone is no way past a first that runs alone. */
    const char *shared_once[] = {"--polls", "1", "--allow-shared-db", "--control", "none", NULL};
    host_wait(&second, host_start(&second, shared_once), &r);
    assert_int_equal(r.exit_code, 2);
    assert_contains(r.err, "alone, without --allow-shared-db");
    host_result_free(&r);
    kill(first, SIGTERM);
    host_wait(env, first, &r);
    assert_int_equal(r.exit_code, 0);
    host_result_free(&r);
    /* The other way round: a first that shares refuses a second that would not. */
    const char *shared[] = {"--interval", "3600", "--allow-shared-db", NULL};
    first = host_start(env, shared);
    assert_true(wait_for(env->err_path, "control: answering on", 60));
    host_wait(&second, host_start(&second, once), &r);
    assert_int_equal(r.exit_code, 2);
    assert_contains(r.err, "is using the database");
    assert_contains(r.err, "with --allow-shared-db");
    host_result_free(&r);
    host_wait(&second, host_start(&second, shared_once), &r);
    assert_int_equal(r.exit_code, 0);
    host_result_free(&r);
    kill(first, SIGTERM);
    host_wait(env, first, &r);
    assert_int_equal(r.exit_code, 0);
    host_result_free(&r);
}

/* A reader closing stdout: logged once, the host goes on, tasks stay in pa_tasks. */
static void test_closed_stdout_is_not_fatal(void **state)
{
    test_env *env = *state;
    env_add_plugin(env, "example");
    env_write_config(env, "{\"plugins\": {\"example\": {\"instances\": [{\"id\": \"p\"}]}}}");
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int err = open(env->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fds[1], 1);
        dup2(err, 2);
        close(fds[0]);
        execl(PA_HOST_STUB, PA_HOST_STUB, "--plugins", env->plugins, "--config", env->config,
              "--db", env->db, "--polls", "3", "--fake-clock", FAKE_CLOCK, (char *)NULL);
        _exit(127);
    }
    close(fds[0]); /* nobody will read */
    close(fds[1]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    char *err = read_file(env->err_path);
    assert_int_equal(count_lines_with(err, "stdout is closed (Broken pipe); tasks are no longer "
                                           "printed but stay in pa_tasks"),
                     1);
    free(err);
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM pa_tasks"), 3);
}

/* SIGHUP applies host.json anew between polls: added, changed, removed; a bad one is refused. */
static void test_sighup_applies_the_new_configuration(void **state)
{
    test_env *env = *state;
    env_add_plugin(env, "example");
    env_write_config(env, "{\"plugins\": {\"example\": {\"instances\": [{\"id\": \"h\"}]}}}");
    const char *args[] = {"--interval", "3600", NULL};
    pid_t pid = host_start(env, args);
    assert_true(wait_for(env->out_path, "\"source_reference\":\"h-1-1\"", 60));
    /* Added: k starts at once; h, unchanged, keeps running (no second start). */
    env_write_config(env, "{\"plugins\": {\"example\": {\"instances\": [{\"id\": \"h\"}, "
                          "{\"id\": \"k\", \"title\": \"Kay\"}]}}}");
    kill(pid, SIGHUP);
    assert_true(wait_for(env->err_path,
                         "configuration applied: 1 instance(s) unchanged, 0 "
                         "restarted, 1 started, 0 stopped",
                         60));
    assert_true(wait_for(env->out_path, "\"title\":\"Kay 1.1\"", 60));
    /* A bad file is refused; everything keeps running. */
    env_write_config(env, "{\"poll_interval_seconds\": 0}");
    kill(pid, SIGHUP);
    assert_true(wait_for(env->err_path, "keeping the running configuration", 60));
    /* h removed, k changed: h stops, k restarts with its new object. */
    env_write_config(env, "{\"plugins\": {\"example\": {\"instances\": [{\"id\": \"k\", "
                          "\"title\": \"Kay two\"}]}}}");
    kill(pid, SIGHUP);
    assert_true(wait_for(env->err_path,
                         "configuration applied: 0 instance(s) unchanged, 1 "
                         "restarted, 0 started, 1 stopped",
                         60));
    assert_true(wait_for(env->out_path, "\"title\":\"Kay two 1.1\"", 60));
    kill(pid, SIGTERM);
    host_result r;
    host_wait(env, pid, &r);
    assert_int_equal(r.exit_code, 0);
    assert_int_equal(count_lines_with(r.err, "plugin example/h: started"), 1);
    assert_int_equal(count_lines_with(r.err, "plugin example/h: shut down"), 1);
    assert_contains(r.err, "poll_interval_seconds");
    host_result_free(&r);
}

/* HOME is env's directory for the rest of this test process (each test is its own env). */
static void keep_home_in(test_env *env)
{
    assert_int_equal(setenv("HOME", env->dir, 1), 0);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* The agent's own example config.yaml, as fetched: it checks clean and runs its workspace. */
static void test_the_agents_example_config_checks_and_runs(void **state)
{
    test_env *env = *state;
    env_install_plugin(env, PA_GRANOLA_SO);
    env_write_config(env, "{}");
    keep_home_in(env); /* the default token path is under $HOME: never a real token here */
    const char *check[] = {"--agent-config",
                           PA_SOURCE_DIR "/tests/agent_pinned/config.example.yaml",
                           "--check-config", NULL};
    host_result r;
    host_run(env, &r, check);
    /* The plugin checks what its first poll needs: this machine never logged in. */
    assert_int_equal(r.exit_code, 2);
    assert_contains(r.out, "1 instance(s) checked, 1 problem(s)");
    assert_contains(r.out, "plugins.granola instance 'all': init failed (PA_ERR_AUTH): ");
    assert_contains(r.out, "/.personal-assistant/token.granola.json");
    host_result_free(&r);
    char token_dir[200], token[260];
    snprintf(token_dir, sizeof token_dir, "%s/.personal-assistant", env->dir);
    snprintf(token, sizeof token, "%s/token.granola.json", token_dir);
    assert_int_equal(mkdir(token_dir, 0700), 0);
    write_text(token, "{\"access_token\": \"t\", \"refresh_token\": \"r\", \"expires_at\": "
                      "\"2099-01-01T00:00:00+00:00\"}");
    assert_int_equal(chmod(token, 0600), 0);
    host_run(env, &r, check);
    assert_int_equal(r.exit_code, 0);
    assert_contains(r.out, "1 instance(s) checked, 0 problem(s)");
    host_result_free(&r);
    assert_int_equal(unlink(token), 0);
    const char *run[] = {"--agent-config", PA_SOURCE_DIR "/tests/agent_pinned/config.example.yaml",
                         "--polls", "1", NULL};
    host_run(env, &r, run); /* --db (host_run's) wins over the example's database.url */
    assert_contains(r.err, "plugin granola/all: started");
    assert_contains(r.err, "no Granola token"); /* this machine never logged in */
    host_result_free(&r);
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM pa_instances WHERE instance = 'all'"
                                    " AND failures = 1"),
                     1);
}

/*
 * The agent's config.yaml (--agent-config): its workspaces are granola instances, and
 * SIGHUP reads it again (a workspace added starts, a broken file is refused).
 */
static void test_sighup_reads_the_agents_config_again(void **state)
{
    test_env *env = *state;
    env_install_plugin(env, PA_GRANOLA_SO);
    env_write_config(env, "{}");
    keep_home_in(env);
    char yaml[160];
    snprintf(yaml, sizeof yaml, "%s/config.yaml", env->dir);
    write_text(yaml, "llm: {model: gpt-4}\n"
                     "granola:\n  enabled: true\n  workspaces:\n    - workspace_id: Work\n");
    const char *args[] = {"--agent-config", yaml, "--interval", "3600", NULL};
    pid_t pid = host_start(env, args);
    assert_true(wait_for(env->err_path, "plugin granola/work: started", 60));
    write_text(yaml, "granola:\n  enabled: true\n  workspaces:\n    - workspace_id: Work\n"
                     "    - {workspace_id: home, polling_interval_minutes: 5}\n");
    kill(pid, SIGHUP);
    assert_true(wait_for(env->err_path,
                         "configuration applied: 1 instance(s) unchanged, 0 "
                         "restarted, 1 started, 0 stopped",
                         60));
    assert_true(wait_for(env->err_path, "plugin granola/home: started", 60));
    write_text(yaml, "granola:\n  enabled: true\n  workspaces:\n    - workspace_id: Work\n"
                     "    - workspace_id: WORK\n");
    kill(pid, SIGHUP);
    assert_true(wait_for(env->err_path,
                         "workspace_id 'work' twice; the agent requires unique "
                         "workspace ids; keeping the running configuration",
                         60));
    kill(pid, SIGTERM);
    host_result r;
    host_wait(env, pid, &r);
    assert_int_equal(r.exit_code, 0);
    host_result_free(&r);
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM pa_instances WHERE plugin = 'granola'"
                                    " AND running = 0"),
                     2);
}

/* Runtime folders: removed at exit, and those of killed hosts removed at the next start. */
static void test_stale_runtime_folders_are_removed(void **state)
{
    test_env *env = *state;
    char runtime[200], stale[240], file[280];
    snprintf(runtime, sizeof runtime, "%s/run", env->dir);
    snprintf(stale, sizeof stale, "%s/host_stub-999999-abcdef", runtime);
    snprintf(file, sizeof file, "%s/example.1.so", stale);
    assert_int_equal(mkdir(runtime, 0700), 0);
    assert_int_equal(mkdir(stale, 0700), 0);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    env_add_plugin(env, "example");
    env_write_config(env, "{\"plugins\": {\"example\": {\"instances\": [{\"id\": \"r\"}]}}}");
    setenv("XDG_RUNTIME_DIR", runtime, 1);
    host_result r;
    const char *args[] = {"--polls", "1", NULL};
    host_run(env, &r, args);
    unsetenv("XDG_RUNTIME_DIR");
    assert_int_equal(r.exit_code, 0);
    assert_contains(r.err, "left by host_stub pid 999999");
    host_result_free(&r);
    assert_int_equal(access(stale, F_OK), -1);
    DIR *d = opendir(runtime);
    assert_non_null(d);
    int left = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        left += strncmp(e->d_name, "host_stub-", 10) == 0;
    closedir(d);
    assert_int_equal(left, 0);
}

static void test_two_hosts_sharing_a_database_consume_each_item_once(void **state)
{
    test_env *env = *state;
    env_add_plugin(env, "example");
    env_write_config(env, "{\"pool\": {\"size\": 2}, \"plugins\": {\"example\": {\"instances\": "
                          "[{\"id\": \"m\", \"items_per_poll\": 5}]}}}");
    /* Create the schema first so both processes start on an existing file. */
    host_result r;
    const char *one[] = {"--polls", "1", "--fake-clock", FAKE_CLOCK, "--quiet", NULL};
    host_run(env, &r, one);
    assert_int_equal(r.exit_code, 0);
    host_result_free(&r);

    test_env second = *env;
    snprintf(second.out_path, sizeof second.out_path, "%s/stdout2", env->dir);
    snprintf(second.err_path, sizeof second.err_path, "%s/stderr2", env->dir);
    const char *args[] = {"--polls",           "20",        "--fake-clock", FAKE_CLOCK, "--quiet",
                          "--allow-shared-db", "--control", "none",         NULL};
    pid_t a = host_start(env, args);
    pid_t b = host_start(&second, args);
    host_result ra, rb;
    host_wait(env, a, &ra);
    host_wait(&second, b, &rb);
    assert_int_equal(ra.exit_code, 0);
    assert_int_equal(rb.exit_code, 0);
    assert_string_equal(ra.err, "");
    assert_string_equal(rb.err, "");
    /* 5 + 2 x 20 x 5 items; the first 5 were printed by the first run. */
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM pa_outbox"), 205);
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM pa_tasks"), 205);
    assert_int_equal(db_scalar(env, "SELECT count(DISTINCT outbox_id) FROM pa_tasks"), 205);
    assert_int_equal(count_lines(ra.out) + count_lines(rb.out), 200);
    host_result_free(&ra);
    host_result_free(&rb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_example_tasks_are_printed_and_stored_once, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_agent_database_is_used_unchanged, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_earlier_host_tables_are_migrated_once, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_version_1_tables_gain_the_claim_columns, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_a_newer_schema_is_refused_untouched, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_two_consumers_claim_every_task_once, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_undelivered_items_fail_the_run, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_emit_refuses_invalid_utf8, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_damaged_database_is_refused, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_a_vanished_database_stops_the_host, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_side_files_follow_the_database_mode, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_a_plugins_directory_under_an_open_parent_is_refused,
                                        env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_emitted_items_roll_back_with_their_transaction,
                                        env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_unreleased_lease_is_reclaimed_after_each_phase,
                                        env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_open_transaction_and_statements_cleaned_at_release,
                                        env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_double_release_and_stale_use_are_detected, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_refused_plugins_do_not_stop_the_others, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_unsafe_files_and_directories_are_refused, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_failed_init_leaves_other_instances_running, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_failing_instance_backs_off_and_resets, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_backoff_is_capped_and_other_instances_keep_polling,
                                        env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_bad_configuration_exits_2_with_one_line, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_database_named_as_the_agent_names_it, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_failed_init_with_an_instance_gets_shutdown, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_instance_object_over_the_limit_is_refused, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_stats_are_the_instances_with_workers, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_stats_are_the_instances_in_process, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_signals_print_stats_and_stop_cleanly, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_check_config, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_a_run_where_no_instance_starts_fails, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_command_line_conventions, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_log_lines_carry_milliseconds_or_journald_priorities,
                                        env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_one_host_per_database, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_closed_stdout_is_not_fatal, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_the_agents_example_config_checks_and_runs, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_sighup_reads_the_agents_config_again, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_sighup_applies_the_new_configuration, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_stale_runtime_folders_are_removed, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_two_hosts_sharing_a_database_consume_each_item_once,
                                        env_setup, env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
