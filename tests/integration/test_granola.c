/*
 * The Granola plugin end to end: the real host_stub loads the real granola.so,
 * which talks to tests/fake_granola on 127.0.0.1 and writes a real SQLite file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_schema.h"
#include "granola_env.h"

static void test_first_poll_emits_each_eligible_meeting_second_none(void **state)
{
    granola_ctx *c = *state;
    write_standard_fixture(c);
    fake_start(&c->server, c->fixture, NULL);
    write_config(c, NULL);
    host_result r;
    run_polls(c, 2, &r);
    assert_int_equal(count_lines(r.out), 4);

    cJSON *t = task_with_reference(r.out, "m-1");
    assert_string_equal(json_str(t, "title"), "Review meeting: Q1 & \"planning\" <draft>");
    assert_string_equal(json_str(t, "description"),
                        "## Decisions\n- ship if p < 0.05 & latency > 3 ms\n- owner: \"Ann\"\n\n"
                        "**Attendees:** ann@acme.com, bob@beta.io, Carol, dan@x.io, eve@x.io");
    assert_string_equal(json_str(t, "type"), "document_review");
    assert_string_equal(json_str(t, "priority"), "medium");
    assert_string_equal(json_str(t, "source"), "granola");
    assert_string_equal(json_str(t, "account_id"), "work");
    assert_string_equal(json_str(t, "instance"), "work");
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(t, "tags");
    assert_int_equal(cJSON_GetArraySize(tags), 2);
    assert_string_equal(cJSON_GetArrayItem(tags, 0)->valuestring, "meeting-notes");
    assert_string_equal(cJSON_GetArrayItem(tags, 1)->valuestring, "granola");
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(t, "metadata");
    assert_string_equal(json_str(meta, "note_id"), "m-1");
    assert_string_equal(json_str(meta, "workspace_id"), "work");
    assert_string_equal(json_str(meta, "date"), "2026-02-11T15:00:00Z");
    const cJSON *attendees = cJSON_GetObjectItemCaseSensitive(meta, "attendees");
    assert_int_equal(cJSON_GetArraySize(attendees), 6);
    assert_string_equal(cJSON_GetArrayItem(attendees, 5)->valuestring, "frank@x.io");
    cJSON_Delete(t);

    t = task_with_reference(r.out, "m-2");
    assert_string_equal(json_str(t, "description"), "Short standup.");
    cJSON_Delete(t);
    t = task_with_reference(r.out, "m-8");
    assert_string_equal(json_str(t, "title"), "Review meeting: Untitled Meeting");
    assert_string_equal(json_str(t, "description"), "legacy notes");
    cJSON_Delete(t);
    t = task_with_reference(r.out, "m-9");
    const char *d = json_str(t, "description");
    assert_int_equal(strlen(d), 8000 * 2);
    assert_memory_equal(d + strlen(d) - 2, "\xC3\xA9", 2);
    cJSON_Delete(t);

    /* Empty and "No summary" meetings are not marked; nothing else is either. */
    assert_int_equal(db_scalar(&c->env, "SELECT count(*) FROM processed_granola_notes"), 4);
    assert_int_equal(db_scalar(&c->env, "SELECT count(*) FROM processed_granola_notes"
                                        " WHERE note_id IN ('m-3','m-4','m-5','m-6','m-7')"),
                     0);
    assert_int_equal(db_scalar(&c->env, "SELECT count(*) FROM processed_granola_notes WHERE"
                                        " account_id = 'work' AND workspace_id = 'work' AND"
                                        " tasks_created_count = 1"),
                     4);
    assert_store_consistent(c);
    assert_contains(r.err, "meeting m-7 has an unparseable date 'someday'");
    assert_contains(r.err, "listed 9, in window 6, new 6, fetched 6, emitted 4, without notes "
                           "yet 2");
    assert_contains(r.err, "listed 9, in window 6, new 2, fetched 2, emitted 0, without notes "
                           "yet 2");
    assert_contains(r.err, "http POST http://127.0.0.1:");
    assert_contains(r.err, "-> 200 in ");
    assert_contains(r.err, "(tools/call list_meetings)");

    cJSON *stats = fake_stats(&c->server);
    assert_int_equal(fake_count(stats, "initialize"), 1);
    assert_int_equal(fake_count(stats, "notifications/initialized"), 1);
    assert_int_equal(fake_count(stats, "tools/call:list_meetings"), 2);
    assert_int_equal(fake_count(stats, "tools/call:get_meetings"), 2);
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(stats, "last_list_arguments");
    assert_string_equal(json_str(args, "time_range"), "custom");
    assert_string_equal(json_str(args, "custom_start"), "2026-02-05");
    assert_string_equal(json_str(args, "custom_end"), "2026-02-13");
    cJSON_Delete(stats);
    host_result_free(&r);
}

static void test_meeting_whose_notes_arrive_later_is_picked_up(void **state)
{
    granola_ctx *c = *state;
    write_standard_fixture(c);
    fake_start(&c->server, c->fixture, NULL);
    write_config(c, NULL);
    host_result r;
    run_polls(c, 1, &r);
    assert_int_equal(count_lines(r.out), 4);
    host_result_free(&r);
    fake_control(&c->server, "{\"set_summary\": {\"id\": \"m-3\", \"summary\": \"Notes now\"}}");
    run_polls(c, 1, &r);
    assert_int_equal(count_lines(r.out), 1);
    cJSON *t = task_with_reference(r.out, "m-3");
    assert_string_equal(json_str(t, "description"), "Notes now");
    cJSON_Delete(t);
    assert_int_equal(db_scalar(&c->env, "SELECT count(*) FROM processed_granola_notes"), 5);
    host_result_free(&r);
}

static void test_requests_per_poll_and_one_connection(void **state)
{
    granola_ctx *c = *state;
    write_bulk_fixture(c, 25);
    fake_start(&c->server, c->fixture, NULL);
    write_config(c, NULL);
    host_result r;
    run_polls(c, 3, &r);
    assert_int_equal(count_lines(r.out), 25);
    cJSON *stats = fake_stats(&c->server);
    assert_int_equal(fake_count(stats, "initialize"), 1);
    assert_int_equal(fake_count(stats, "tools/call:list_meetings"), 3);
    assert_int_equal(fake_count(stats, "tools/call:get_meetings"), 3); /* ceil(25/10), then 0 */
    assert_int_equal((long)cJSON_GetObjectItemCaseSensitive(stats, "max_get_ids")->valuedouble, 10);
    assert_int_equal((long)cJSON_GetObjectItemCaseSensitive(stats, "connections")->valuedouble, 1);
    cJSON_Delete(stats);
    host_result_free(&r);
}

static void test_sse_replies_with_crlf_and_small_chunks(void **state)
{
    granola_ctx *c = *state;
    write_standard_fixture(c);
    const char *args[] = {"--sse", NULL};
    fake_start(&c->server, c->fixture, args);
    fake_control(&c->server, "{\"crlf\": true, \"chunk_bytes\": 7}");
    write_config(c, NULL);
    check_standard_run(c);
}

static void test_sse_replies_with_lf(void **state)
{
    granola_ctx *c = *state;
    write_standard_fixture(c);
    const char *args[] = {"--sse", NULL};
    fake_start(&c->server, c->fixture, args);
    write_config(c, NULL);
    check_standard_run(c);
}

static void test_sessionless_server(void **state)
{
    granola_ctx *c = *state;
    write_standard_fixture(c);
    const char *args[] = {"--sessionless", NULL};
    fake_start(&c->server, c->fixture, args);
    write_config(c, NULL);
    check_standard_run(c);
    cJSON *stats = fake_stats(&c->server);
    assert_int_equal((long)cJSON_GetObjectItemCaseSensitive(stats, "sessions")->valuedouble, 0);
    cJSON_Delete(stats);
}

static void test_expired_session_is_renewed_once(void **state)
{
    granola_ctx *c = *state;
    write_bulk_fixture(c, 5);
    fake_start(&c->server, c->fixture, NULL);
    /*
     * Poll 1: the modern probe is refused (no session), then initialize,
     * initialized, list, get on the session; poll 2's list gets 404.
     */
    fake_control(&c->server, "{\"expire_after_requests\": 4}");
    write_config(c, NULL);
    host_result r;
    run_polls(c, 2, &r);
    assert_int_equal(count_lines(r.out), 5);
    assert_int_equal(count_lines_with(r.err, "poll failed"), 0);
    cJSON *stats = fake_stats(&c->server);
    assert_int_equal(fake_count(stats, "initialize"), 2);
    assert_int_equal(fake_count(stats, "tools/call:list_meetings"), 2);
    assert_int_equal(fake_count(stats, "refused"), 2); /* the probe, the expired session */
    cJSON_Delete(stats);
    host_result_free(&r);
}

static void test_missing_and_rejected_tokens(void **state)
{
    granola_ctx *c = *state;
    write_standard_fixture(c);
    const char *args[] = {"--token", "a-different-token", NULL};
    fake_start(&c->server, c->fixture, args);
    write_config(c, NULL);
    host_result r;
    run_polls(c, 1, &r);
    assert_int_equal(count_lines(r.out), 0);
    /* Refused: one renewal (the endpoint discovered, as for the agent's token file), refused too.
     */
    assert_contains(r.err, "discovered the token endpoint for renewal: http://127.0.0.1:");
    assert_contains(r.err, "poll failed (1 in a row): renewing the Granola token (the server "
                           "refused it) failed: token refresh failed (HTTP 400): invalid_grant: "
                           "unknown or already used refresh token; log in again (granola_login "
                           "--instance work) (PA_ERR_AUTH)");
    host_result_free(&r);

    remove(c->token_path);
    fake_control(&c->server, "{\"reset_stats\": true}");
    run_polls(c, 1, &r);
    assert_contains(r.err, "poll failed (1 in a row): no Granola token: cannot read ");
    assert_contains(r.err, "log in to Granola to create it");
    cJSON *stats = fake_stats(&c->server);
    assert_int_equal(fake_count(stats, "initialize") + fake_count(stats, "unauthorized"), 0);
    cJSON_Delete(stats);
    host_result_free(&r);

    /* A FIFO where the token should be: refused at once, never waited on (open() would block). */
    assert_int_equal(mkfifo(c->token_path, 0600), 0);
    run_polls(c, 1, &r);
    assert_contains(r.err, "no Granola token: cannot read ");
    assert_contains(r.err, "(not a regular file (a FIFO))");
    host_result_free(&r);
}

static void test_each_fault_is_a_poll_error_and_the_next_poll_recovers(void **state)
{
    granola_ctx *c = *state;
    write_standard_fixture(c);
    const fault_case cases[] = {
        {"{\"method\": \"list_meetings\", \"kind\": \"status\", \"status\": 503}", NULL,
         "tools/call list_meetings: Granola server error (HTTP 503): fault (PA_ERR_REMOTE)"},
        {"{\"method\": \"initialize\", \"kind\": \"status\", \"status\": 500}", NULL,
         "initialize: Granola server error (HTTP 500): fault"},
        {"{\"method\": \"get_meetings\", \"kind\": \"delay\", \"delay_ms\": 2500}",
         "\"timeout_seconds\": 1", "tools/call get_meetings: timed out after 1."},
        {"{\"method\": \"get_meetings\", \"kind\": \"truncate\"}", NULL,
         "tools/call get_meetings: response truncated"},
        {"{\"method\": \"list_meetings\", \"kind\": \"malformed\"}", NULL,
         "tools/call list_meetings: malformed JSON in response near byte"},
        {"{\"method\": \"get_meetings\", \"kind\": \"oversize\", \"oversize_bytes\": 200000}",
         "\"max_response_bytes\": 65536",
         "tools/call get_meetings: response larger than max_response_bytes (65536)"},
        {"{\"method\": \"list_meetings\", \"kind\": \"wrong_id\"}", NULL,
         "does not match request id"},
        {"{\"method\": \"get_meetings\", \"kind\": \"rpc_error\"}", NULL,
         "tools/call get_meetings: JSON-RPC error -32000: simulated server failure"},
        {"{\"method\": \"list_meetings\", \"kind\": \"tool_error\"}", NULL,
         "tools/call list_meetings: tool error: Granola could not load meetings right now"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* A fresh server and database per case: each starts from nothing. */
        fake_stop(&c->server);
        fake_start(&c->server, c->fixture, NULL);
        remove(c->env.db);
        run_fault_case(c, &cases[i]);
    }
}

static void test_faults_in_sse_mode(void **state)
{
    granola_ctx *c = *state;
    write_standard_fixture(c);
    const char *args[] = {"--sse", NULL};
    fake_start(&c->server, c->fixture, args);
    fault_case fc = {"{\"method\": \"get_meetings\", \"kind\": \"truncate\"}", NULL,
                     "tools/call get_meetings: response truncated"};
    run_fault_case(c, &fc);
}

static void test_rate_limit_defers_the_next_poll(void **state)
{
    granola_ctx *c = *state;
    write_standard_fixture(c);
    fake_start(&c->server, c->fixture, NULL);
    fake_control(&c->server, "{\"fault\": {\"method\": \"list_meetings\", \"kind\": \"status\", "
                             "\"status\": 429, \"retry_after\": 300, \"count\": 1}}");
    write_config(c, NULL);
    host_result r;
    run_polls(c, 2, &r);
    /* Backoff alone would be 120 s (2 x 60); Retry-After asks for 300. */
    assert_contains(r.err, "tools/call list_meetings: rate limited by Granola (HTTP 429); retry "
                           "after 300 s (PA_ERR_REMOTE); backing off, next poll in 300 s");
    assert_contains(r.err, "poll succeeded after 1 failure(s)");
    assert_int_equal(count_lines(r.out), 4);
    host_result_free(&r);
}

static void test_failure_between_batches_keeps_what_committed(void **state)
{
    granola_ctx *c = *state;
    write_bulk_fixture(c, 25);
    fake_start(&c->server, c->fixture, NULL);
    fake_control(&c->server, "{\"fault\": {\"method\": \"get_meetings\", \"kind\": \"status\", "
                             "\"status\": 502, \"skip\": 1}}");
    write_config(c, NULL);
    host_result r;
    run_polls(c, 1, &r);
    assert_int_equal(count_lines(r.out), 10);
    assert_contains(r.err, "tools/call get_meetings: Granola server error (HTTP 502)");
    host_result_free(&r);
    assert_store_consistent(c);
    fake_control(&c->server, "{\"fault\": null}");
    run_polls(c, 1, &r);
    assert_int_equal(count_lines(r.out), 15);
    host_result_free(&r);
    assert_int_equal(db_scalar(&c->env, "SELECT count(DISTINCT source_reference) FROM pa_tasks"),
                     25);
    assert_store_consistent(c);
}

static void test_thousand_meetings(void **state)
{
    granola_ctx *c = *state;
    write_bulk_fixture(c, 1000);
    fake_start(&c->server, c->fixture, NULL);
    write_config(c, NULL);
    host_result r;
    run_polls(c, 2, &r);
    assert_int_equal(count_lines(r.out), 1000);
    assert_int_equal(db_scalar(&c->env, "SELECT count(*) FROM processed_granola_notes"), 1000);
    cJSON *stats = fake_stats(&c->server);
    assert_int_equal(fake_count(stats, "tools/call:get_meetings"), 100);
    assert_int_equal(fake_count(stats, "tools/call:list_meetings"), 2);
    cJSON_Delete(stats);
    host_result_free(&r);
}

static void test_lookback_and_workspace_filters(void **state)
{
    granola_ctx *c = *state;
    write_standard_fixture(c);
    fake_start(&c->server, c->fixture, NULL);
    /* 45 days reach m-5 (Jan 2); "all" keeps m-6 from the home workspace. */
    char config[1024];
    snprintf(config, sizeof config,
             "{\"plugins\": {\"granola\": {\"instances\": [{\"id\": \"everything\", "
             "\"workspace_id\": \"all\", \"lookback_days\": 45, \"token_path\": \"%s\", "
             "\"server_url\": \"%s\"}, {\"id\": \"home\", \"workspace_id\": \"home\", "
             "\"token_path\": \"%s\", \"server_url\": \"%s\"}]}}}",
             c->token_path, c->server.url, c->token_path, c->server.url);
    env_write_config(&c->env, config);
    host_result r;
    run_polls(c, 1, &r);
    /* everything: m-1 m-2 m-5 m-6 m-8 m-9; home: m-6, and m-8 which names no workspace. */
    assert_int_equal(db_scalar(&c->env, "SELECT count(*) FROM pa_tasks WHERE account_id = 'all'"),
                     6);
    assert_int_equal(db_scalar(&c->env, "SELECT count(*) FROM pa_tasks WHERE account_id = 'home'"),
                     2);
    assert_int_equal(db_scalar(&c->env, "SELECT count(*) FROM pa_tasks WHERE account_id = 'home'"
                                        " AND source_reference IN ('m-6', 'm-8')"),
                     2);
    host_result_free(&r);
}

/* A typo in a Granola key is found by --check-config, with no server and no database. */
/* Every row of every table of the SQLite file at path, as text, in a stable order. */
static char *dump_tables(const char *path)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_str *out = sqlite3_str_new(db);
    sqlite3_stmt *tables = NULL;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT name, sql FROM sqlite_schema WHERE type = 'table' "
                                        "ORDER BY name",
                                        -1, &tables, NULL),
                     SQLITE_OK);
    while (sqlite3_step(tables) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(tables, 0);
        sqlite3_str_appendf(out, "%s\n", sqlite3_column_text(tables, 1));
        char *sql = sqlite3_mprintf("SELECT * FROM \"%w\" ORDER BY 1, 2", name);
        sqlite3_stmt *rows = NULL;
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &rows, NULL), SQLITE_OK);
        while (sqlite3_step(rows) == SQLITE_ROW) {
            for (int i = 0; i < sqlite3_column_count(rows); i++)
                sqlite3_str_appendf(out, "%s|", sqlite3_column_text(rows, i));
            sqlite3_str_appendall(out, "\n");
        }
        sqlite3_finalize(rows);
        sqlite3_free(sql);
    }
    sqlite3_finalize(tables);
    char *text = sqlite3_str_finish(out);
    char *copy = strdup(text ? text : "");
    sqlite3_free(text);
    sqlite3_close(db);
    return copy;
}

/*
 * --dry-run against the fake server: the new meetings are printed as the
 * items they would become, every table stays as it was, row for row, and the
 * next real poll delivers exactly those meetings (none was marked processed).
 */
static void test_a_dry_run_prints_the_items_and_changes_nothing(void **state)
{
    granola_ctx *c = *state;
    write_standard_fixture(c);
    fake_start(&c->server, c->fixture, NULL);
    write_config(c, NULL);
    host_result r;
    run_polls(c, 1, &r);
    assert_int_equal(count_lines(r.out), 4);
    host_result_free(&r);
    /* m-3's notes arrive: one new item for the next poll. */
    fake_control(&c->server, "{\"set_summary\": {\"id\": \"m-3\", \"summary\": \"Notes now\"}}");
    char *before = dump_tables(c->env.db);
    const char *dry[] = {"--dry-run", "--fake-clock", NOW, NULL};
    host_run(&c->env, &r, dry);
    if (r.exit_code != 0 || count_lines(r.out) != 1)
        fail_msg("dry run: exit %d\n%s\n%s", r.exit_code, r.out, r.err);
    cJSON *t = task_with_reference(r.out, "m-3");
    assert_string_equal(json_str(t, "description"), "Notes now");
    cJSON_Delete(t);
    assert_contains(r.err, "dry run: every instance polls once");
    assert_contains(r.err, "emitted 1");
    host_result_free(&r);
    char *after = dump_tables(c->env.db);
    assert_string_equal(before, after);
    assert_true(strstr(before, "|m-1|") != NULL); /* the dump holds the rows, not just names */
    free(before);
    free(after);
    run_polls(c, 1, &r);
    assert_int_equal(count_lines(r.out), 1);
    t = task_with_reference(r.out, "m-3");
    cJSON_Delete(t);
    host_result_free(&r);
    assert_store_consistent(c);
}

/* --check-config with the host's run mode: the token file is checked before any poll. */
static void check_token(granola_ctx *c, int exit_code, const char *said)
{
    host_result r;
    const char *check[] = {"--check-config", "--fake-clock", NOW, NULL};
    host_run(&c->env, &r, check);
    if (r.exit_code != exit_code || !strstr(exit_code ? r.out : r.err, said))
        fail_msg("--check-config exited %d, expected %d with\n  %s\n%s\n%s", r.exit_code, exit_code,
                 said, r.out, r.err);
    if (strstr(r.out, TOKEN) || strstr(r.err, TOKEN))
        fail_msg("the bearer token appeared in --check-config's output");
    host_result_free(&r);
}

static void test_check_config_checks_the_token_file(void **state)
{
    granola_ctx *c = *state;
    write_standard_fixture(c);
    fake_start(&c->server, c->fixture, NULL); /* for its URL: a check sends no request */
    write_config(c, NULL);
    check_token(c, 0, "ok, expires ");
    assert_int_equal(chmod(c->token_path, 0644), 0);
    check_token(c, 2, "chmod 600");
    assert_int_equal(chmod(c->token_path, 0600), 0);
    write_text(c->token_path, "{\"access_token\": \"" TOKEN "\"}");
    check_token(c, 2, "names no expires_at");
    write_text(c->token_path, "{\"access_token\": \"" TOKEN "\", \"expires_at\": "
                              "\"2026-01-01T00:00:00+00:00\"}");
    check_token(c, 2, "expired on 2026-01-01 and there is no refresh_token");
    write_text(c->token_path, "{not json");
    check_token(c, 2, "1 instance(s) checked, 1 problem(s)");
    assert_int_equal(unlink(c->token_path), 0);
    check_token(c, 2, c->token_path);
    /* Nothing was created or renamed on the way. */
    assert_int_equal(access(c->token_path, F_OK), -1);
    assert_int_equal(access(c->env.db, F_OK), -1);
}

static void test_check_config_finds_a_typo(void **state)
{
    granola_ctx *c = *state;
    env_write_config(&c->env,
                     "{\"plugins\": {\"granola\": {\"instances\": [{\"id\": \"work\", "
                     "\"lookback_dayz\": 7, \"server_url\": \"http://127.0.0.1:1/mcp\"}]}}}");
    host_result r;
    const char *check[] = {"--check-config", NULL};
    host_run(&c->env, &r, check);
    assert_int_equal(r.exit_code, 2);
    assert_contains(r.out, "host.json: plugins.granola instance 'work': init failed "
                           "(PA_ERR_CONFIG): instance config: lookback_dayz: unknown key");
    host_result_free(&r);
    assert_int_equal(access(c->env.db, F_OK), -1);
}

/* A --polls run whose only instance cannot start: exit 1, saying why. */
static void run_refused(granola_ctx *c, host_result *r)
{
    const char *args[] = {"--polls", "1", "--fake-clock", NOW, NULL};
    host_run(&c->env, r, args);
    assert_int_equal(r->exit_code, 1);
    assert_contains(r->err, "none of the 1 configured instance(s) could start (see the lines "
                            "above); exiting with status 1");
}

static void test_bad_instance_configuration(void **state)
{
    granola_ctx *c = *state;
    write_standard_fixture(c);
    fake_start(&c->server, c->fixture, NULL);
    const struct {
        const char *extra;
        const char *message;
    } cases[] = {
        {"\"lookback\": 3", "init failed (PA_ERR_CONFIG): instance config: lookback: unknown key"},
        {"\"lookback_days\": \"7\"",
         "instance config: lookback_days: expected an integer from 1 to 3650"},
        {"\"timeout_seconds\": 0",
         "instance config: timeout_seconds: expected an integer from 1 to "
         "3600"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_config(c, cases[i].extra);
        host_result r;
        run_refused(c, &r);
        assert_contains(r.err, cases[i].message);
        host_result_free(&r);
    }
    env_write_config(&c->env, "{\"plugins\": {\"granola\": {\"instances\": [{\"id\": \"w\", "
                              "\"server_url\": \"http://example.com/mcp\"}]}}}");
    host_result r;
    run_refused(c, &r);
    assert_contains(r.err, "instance config: server_url: plain http is only allowed to a loopback "
                           "host; use https");
    host_result_free(&r);
}

/* SQLAlchemy's SQLite DateTime, read back as strictly as SQLAlchemy 1.4 does. */
static bool is_sqlalchemy_datetime(const char *v)
{
    static const char shape[] = "dddd-dd-dd dd:dd:dd.dddddd";
    if (!v || strlen(v) != sizeof shape - 1)
        return false;
    for (size_t i = 0; shape[i]; i++) {
        if (shape[i] == 'd' ? (v[i] < '0' || v[i] > '9') : v[i] != shape[i])
            return false;
    }
    return true;
}

static void test_agent_table_rows_stay_readable_by_the_agent(void **state)
{
    granola_ctx *c = *state;
    write_standard_fixture(c);
    fake_start(&c->server, c->fixture, NULL);
    write_config(c, NULL);
    /* The agent's table, from its SQLAlchemy DDL (../shared/GRANOLA.md), with a row it wrote. */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(c->env.db, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db,
                     AGENT_PROCESSED_NOTES_DDL
                     "INSERT INTO processed_granola_notes (note_id, workspace_id, account_id,"
                     " note_title, note_created_at, processed_at, tasks_created_count) VALUES"
                     " ('m-2', 'work', 'work', 'Standup', '2026-02-10 17:00:00.000000',"
                     " '2026-02-10 18:00:00.123456', 1);",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    host_result r;
    run_polls(c, 1, &r);
    assert_int_equal(count_lines(r.out), 3); /* m-2 counts as processed: the agent did it */
    host_result_free(&r);

    assert_int_equal(sqlite3_open(c->env.db, &db), SQLITE_OK);
    sqlite3_stmt *stmt;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT note_id, note_title, note_created_at, processed_at,"
                                        " tasks_created_count FROM processed_granola_notes",
                                        -1, &stmt, NULL),
                     SQLITE_OK);
    int rows = 0;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
        rows++;
        const char *id = (const char *)sqlite3_column_text(stmt, 0);
        const char *title = (const char *)sqlite3_column_text(stmt, 1);
        const char *created = (const char *)sqlite3_column_text(stmt, 2);
        const char *processed = (const char *)sqlite3_column_text(stmt, 3);
        if (!title || !is_sqlalchemy_datetime(created) || !is_sqlalchemy_datetime(processed))
            fail_msg("row %s is not in the agent's format: title %s, created %s, processed %s", id,
                     title ? title : "NULL", created ? created : "NULL",
                     processed ? processed : "NULL");
        assert_int_equal(sqlite3_column_int(stmt, 4), 1);
        if (strcmp(id, "m-1") == 0) {
            assert_string_equal(created, "2026-02-11 15:00:00.000000");
            assert_string_equal(processed, "2026-02-12 12:00:00.000000"); /* the virtual now */
        }
        if (strcmp(id, "m-8") == 0)
            assert_string_equal(title, "Untitled Meeting");
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    assert_int_equal(rows, 4);
    assert_int_equal(db_scalar(&c->env, "SELECT count(*) FROM pa_outbox WHERE plugin = 'granola'"),
                     3);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_first_poll_emits_each_eligible_meeting_second_none,
                                        granola_setup, granola_teardown),
        cmocka_unit_test_setup_teardown(test_meeting_whose_notes_arrive_later_is_picked_up,
                                        granola_setup, granola_teardown),
        cmocka_unit_test_setup_teardown(test_requests_per_poll_and_one_connection, granola_setup,
                                        granola_teardown),
        cmocka_unit_test_setup_teardown(test_sse_replies_with_crlf_and_small_chunks, granola_setup,
                                        granola_teardown),
        cmocka_unit_test_setup_teardown(test_sse_replies_with_lf, granola_setup, granola_teardown),
        cmocka_unit_test_setup_teardown(test_sessionless_server, granola_setup, granola_teardown),
        cmocka_unit_test_setup_teardown(test_expired_session_is_renewed_once, granola_setup,
                                        granola_teardown),
        cmocka_unit_test_setup_teardown(test_missing_and_rejected_tokens, granola_setup,
                                        granola_teardown),
        cmocka_unit_test_setup_teardown(test_each_fault_is_a_poll_error_and_the_next_poll_recovers,
                                        granola_setup, granola_teardown),
        cmocka_unit_test_setup_teardown(test_faults_in_sse_mode, granola_setup, granola_teardown),
        cmocka_unit_test_setup_teardown(test_rate_limit_defers_the_next_poll, granola_setup,
                                        granola_teardown),
        cmocka_unit_test_setup_teardown(test_failure_between_batches_keeps_what_committed,
                                        granola_setup, granola_teardown),
        cmocka_unit_test_setup_teardown(test_thousand_meetings, granola_setup, granola_teardown),
        cmocka_unit_test_setup_teardown(test_lookback_and_workspace_filters, granola_setup,
                                        granola_teardown),
        cmocka_unit_test_setup_teardown(test_agent_table_rows_stay_readable_by_the_agent,
                                        granola_setup, granola_teardown),
        cmocka_unit_test_setup_teardown(test_a_dry_run_prints_the_items_and_changes_nothing,
                                        granola_setup, granola_teardown),
        cmocka_unit_test_setup_teardown(test_check_config_checks_the_token_file, granola_setup,
                                        granola_teardown),
        cmocka_unit_test_setup_teardown(test_check_config_finds_a_typo, granola_setup,
                                        granola_teardown),
        cmocka_unit_test_setup_teardown(test_bad_instance_configuration, granola_setup,
                                        granola_teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
