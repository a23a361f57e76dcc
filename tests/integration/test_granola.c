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
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fake_server.h"
#include "run_host.h"

/* 2026-02-12T12:00:00Z: the virtual "now" of every run. */
#define NOW   "1770897600"
#define TOKEN "tok-SECRET-5f2a9c"

typedef struct ctx {
    test_env env;
    fake_server server;
    char fixture[160];
    char token_path[160];
} ctx;

static int setup(void **state)
{
    ctx *c = calloc(1, sizeof *c);
    env_create(&c->env);
    env_install_plugin(&c->env, PA_GRANOLA_SO);
    snprintf(c->fixture, sizeof c->fixture, "%s/fixture.json", c->env.dir);
    snprintf(c->token_path, sizeof c->token_path, "%s/token.granola.json", c->env.dir);
    FILE *f = fopen(c->token_path, "w");
    assert_non_null(f);
    fprintf(f,
            "{\"access_token\": \"%s\", \"refresh_token\": \"r\", \"expires_at\": "
            "\"2030-01-01T00:00:00Z\", \"client_id\": \"c\"}",
            TOKEN);
    fclose(f);
    assert_int_equal(chmod(c->token_path, 0600), 0);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    ctx *c = *state;
    fake_stop(&c->server);
    env_destroy(&c->env);
    free(c);
    return 0;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static cJSON *participant(const char *name, const char *email, const char *company, bool creator,
                          bool entity_email)
{
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "name", name);
    if (email)
        cJSON_AddStringToObject(p, "email", email);
    if (company)
        cJSON_AddStringToObject(p, "company", company);
    if (creator)
        cJSON_AddTrueToObject(p, "creator");
    if (entity_email)
        cJSON_AddStringToObject(p, "email_form", "entity");
    return p;
}

static cJSON *meeting(cJSON *list, const char *id, const char *title, const char *date,
                      const char *workspace, const char *summary)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", id);
    if (title)
        cJSON_AddStringToObject(m, "title", title);
    cJSON_AddStringToObject(m, "date", date);
    if (workspace)
        cJSON_AddStringToObject(m, "workspace_id", workspace);
    if (summary)
        cJSON_AddStringToObject(m, "summary", summary);
    cJSON_AddItemToArray(list, m);
    return m;
}

static char *long_summary(void)
{
    /* 9000 two-byte characters: the description must stop at 8000 characters. */
    char *s = malloc(9000 * 2 + 1);
    for (int i = 0; i < 9000; i++)
        memcpy(s + 2 * i, "\xC3\xA9", 2);
    s[9000 * 2] = '\0';
    return s;
}

/* The standard fixture: every quirk and every reason to skip a meeting. */
static void write_standard_fixture(ctx *c)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(root, "meetings");
    cJSON *m1 = meeting(list, "m-1", "Q1 & \"planning\" <draft>", "2026-02-11T15:00:00Z", "work",
                        "## Decisions\n- ship if p < 0.05 & latency > 3 ms\n- owner: \"Ann\"");
    cJSON *people = cJSON_AddArrayToObject(m1, "participants");
    cJSON_AddItemToArray(people, participant("Ann Lee", "ann@acme.com", "Acme", true, false));
    cJSON_AddItemToArray(people, participant("Bob Stone", "bob@beta.io", "Beta", false, true));
    cJSON_AddItemToArray(people, participant("Carol", NULL, NULL, false, false));
    cJSON_AddItemToArray(people, participant("Dan", "dan@x.io", NULL, false, false));
    cJSON_AddItemToArray(people, participant("Eve", "eve@x.io", NULL, false, true));
    cJSON_AddItemToArray(people, participant("Frank", "frank@x.io", NULL, false, false));
    meeting(list, "m-2", "Standup", "Feb 10, 2026 9:00 AM PST", "work", "Short standup.");
    meeting(list, "m-3", "Pending notes", "2026-02-11T10:00:00Z", "work", "");
    meeting(list, "m-4", "Placeholder", "2026-02-11T11:00:00Z", "work", "  No Summary \n");
    meeting(list, "m-5", "Old", "2026-01-02T10:00:00Z", "work", "old news");
    meeting(list, "m-6", "Home stuff", "2026-02-11T10:00:00Z", "home", "home notes");
    meeting(list, "m-7", "Someday", "someday", "work", "undated");
    cJSON *m8 = meeting(list, "m-8", NULL, "2026-02-09T08:00:00Z", NULL, NULL);
    cJSON_AddStringToObject(m8, "notes", "legacy notes");
    char *text = long_summary();
    meeting(list, "m-9", "Long", "2026-02-08T08:00:00Z", "work", text);
    free(text);
    char *json = cJSON_Print(root);
    write_text(c->fixture, json);
    free(json);
    cJSON_Delete(root);
}

/* n meetings in the window, all with notes. */
static void write_bulk_fixture(ctx *c, int n)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(root, "meetings");
    for (int i = 0; i < n; i++) {
        char id[32], title[64];
        snprintf(id, sizeof id, "bulk-%04d", i);
        snprintf(title, sizeof title, "Meeting %d", i);
        cJSON *m = meeting(list, id, title, "2026-02-11T09:30:00Z", "work",
                           "Discussed the roadmap.\n- follow up with <legal> & finance");
        cJSON *people = cJSON_AddArrayToObject(m, "participants");
        cJSON_AddItemToArray(people, participant("Ann", "ann@acme.com", "Acme", true, i % 2));
    }
    char *json = cJSON_PrintUnformatted(root);
    write_text(c->fixture, json);
    free(json);
    cJSON_Delete(root);
}

/* host.json with one granola instance; extra is spliced into the instance object. */
static void write_config(ctx *c, const char *extra)
{
    char config[2048];
    snprintf(config, sizeof config,
             "{\"poll_interval_seconds\": 60, \"plugins\": {\"granola\": {\"instances\": [{"
             "\"id\": \"work\", \"workspace_id\": \"work\", "
             "\"token_path\": \"%s\", \"server_url\": \"%s\"%s%s}]}}}",
             c->token_path, c->server.url, extra ? ", " : "", extra ? extra : "");
    env_write_config(&c->env, config);
}

static void run_polls(ctx *c, int polls, host_result *r)
{
    char n[16];
    snprintf(n, sizeof n, "%d", polls);
    const char *args[] = {"--polls", n, "--fake-clock", NOW, "--verbose", NULL};
    host_run(&c->env, r, args);
    if (r->exit_code != 0)
        fail_msg("host_stub exited %d:\n%s", r->exit_code, r->err);
    /* The token must never reach any output, even at debug level. */
    if (strstr(r->out, TOKEN) || strstr(r->err, TOKEN))
        fail_msg("the bearer token appeared in host output");
}

static cJSON *task_with_reference(const char *out, const char *ref)
{
    for (const char *line = out; line && *line;) {
        const char *end = strchr(line, '\n');
        char *copy = strndup(line, end ? (size_t)(end - line) : strlen(line));
        cJSON *o = cJSON_Parse(copy);
        free(copy);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "source_reference");
        if (cJSON_IsString(v) && strcmp(v->valuestring, ref) == 0)
            return o;
        cJSON_Delete(o);
        line = end ? end + 1 : NULL;
    }
    fail_msg("no task for %s in\n%s", ref, out);
    return NULL;
}

/* Contract 3: a processed row never exists without its outbox row, nor the reverse. */
static void assert_store_consistent(ctx *c)
{
    assert_int_equal(db_scalar(&c->env,
                               "SELECT count(*) FROM processed_granola_notes p WHERE NOT EXISTS"
                               " (SELECT 1 FROM outbox o WHERE o.plugin = 'granola' AND"
                               " json_extract(o.item_json, '$.source_reference') = p.note_id AND"
                               " json_extract(o.item_json, '$.account_id') = p.account_id)"),
                     0);
    assert_int_equal(db_scalar(&c->env, "SELECT count(*) FROM outbox WHERE plugin = 'granola'"),
                     db_scalar(&c->env, "SELECT count(*) FROM processed_granola_notes"));
}

static void test_first_poll_emits_each_eligible_meeting_second_none(void **state)
{
    ctx *c = *state;
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
    ctx *c = *state;
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
    ctx *c = *state;
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

static void check_standard_run(ctx *c)
{
    host_result r;
    run_polls(c, 1, &r);
    assert_int_equal(count_lines(r.out), 4);
    cJSON *t = task_with_reference(r.out, "m-1");
    assert_string_equal(json_str(t, "title"), "Review meeting: Q1 & \"planning\" <draft>");
    cJSON_Delete(t);
    host_result_free(&r);
}

static void test_sse_replies_with_crlf_and_small_chunks(void **state)
{
    ctx *c = *state;
    write_standard_fixture(c);
    const char *args[] = {"--sse", NULL};
    fake_start(&c->server, c->fixture, args);
    fake_control(&c->server, "{\"crlf\": true, \"chunk_bytes\": 7}");
    write_config(c, NULL);
    check_standard_run(c);
}

static void test_sse_replies_with_lf(void **state)
{
    ctx *c = *state;
    write_standard_fixture(c);
    const char *args[] = {"--sse", NULL};
    fake_start(&c->server, c->fixture, args);
    write_config(c, NULL);
    check_standard_run(c);
}

static void test_sessionless_server(void **state)
{
    ctx *c = *state;
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
    ctx *c = *state;
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
    ctx *c = *state;
    write_standard_fixture(c);
    const char *args[] = {"--token", "a-different-token", NULL};
    fake_start(&c->server, c->fixture, args);
    write_config(c, NULL);
    host_result r;
    run_polls(c, 1, &r);
    assert_int_equal(count_lines(r.out), 0);
    assert_contains(r.err, "poll failed (1 in a row): tools/call list_meetings: Granola refused "
                           "the credentials (HTTP 401); log in again (PA_ERR_AUTH)");
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
}

typedef struct fault_case {
    const char *fault;
    const char *config_extra;
    const char *message;
} fault_case;

static void run_fault_case(ctx *c, const fault_case *fc)
{
    char control[512];
    snprintf(control, sizeof control, "{\"fault\": %s}", fc->fault);
    fake_control(&c->server, control);
    write_config(c, fc->config_extra);
    host_result r;
    run_polls(c, 1, &r);
    if (count_lines_with(r.err, fc->message) != 1)
        fail_msg("fault %s: expected one line with\n  %s\nin\n%s", fc->fault, fc->message, r.err);
    assert_int_equal(count_lines_with(r.err, "poll failed (1 in a row)"), 1);
    host_result_free(&r);
    assert_store_consistent(c);

    fake_control(&c->server, "{\"fault\": null}");
    run_polls(c, 1, &r);
    assert_int_equal(count_lines_with(r.err, "poll failed"), 0);
    host_result_free(&r);
    assert_int_equal(db_scalar(&c->env, "SELECT count(*) FROM tasks"), 4);
    assert_store_consistent(c);
}

static void test_each_fault_is_a_poll_error_and_the_next_poll_recovers(void **state)
{
    ctx *c = *state;
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
    ctx *c = *state;
    write_standard_fixture(c);
    const char *args[] = {"--sse", NULL};
    fake_start(&c->server, c->fixture, args);
    fault_case fc = {"{\"method\": \"get_meetings\", \"kind\": \"truncate\"}", NULL,
                     "tools/call get_meetings: response truncated"};
    run_fault_case(c, &fc);
}

static void test_rate_limit_defers_the_next_poll(void **state)
{
    ctx *c = *state;
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
    ctx *c = *state;
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
    assert_int_equal(db_scalar(&c->env, "SELECT count(DISTINCT source_reference) FROM tasks"), 25);
    assert_store_consistent(c);
}

static void test_thousand_meetings(void **state)
{
    ctx *c = *state;
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
    ctx *c = *state;
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
    assert_int_equal(db_scalar(&c->env, "SELECT count(*) FROM tasks WHERE account_id = 'all'"), 6);
    assert_int_equal(db_scalar(&c->env, "SELECT count(*) FROM tasks WHERE account_id = 'home'"), 2);
    assert_int_equal(db_scalar(&c->env, "SELECT count(*) FROM tasks WHERE account_id = 'home'"
                                        " AND source_reference IN ('m-6', 'm-8')"),
                     2);
    host_result_free(&r);
}

static void test_bad_instance_configuration(void **state)
{
    ctx *c = *state;
    write_standard_fixture(c);
    fake_start(&c->server, c->fixture, NULL);
    const struct {
        const char *extra;
        const char *message;
    } cases[] = {
        {"\"lookback\": 3", "init failed (PA_ERR_CONFIG): config key 'lookback': unknown key"},
        {"\"lookback_days\": \"7\"",
         "config key 'lookback_days': expected an integer from 1 to 3650"},
        {"\"timeout_seconds\": 0", "config key 'timeout_seconds': expected an integer from 1 to "
                                   "3600"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_config(c, cases[i].extra);
        host_result r;
        run_polls(c, 1, &r);
        assert_contains(r.err, cases[i].message);
        host_result_free(&r);
    }
    env_write_config(&c->env, "{\"plugins\": {\"granola\": {\"instances\": [{\"id\": \"w\", "
                              "\"server_url\": \"http://example.com/mcp\"}]}}}");
    host_result r;
    run_polls(c, 1, &r);
    assert_contains(r.err, "config key 'server_url': plain http is only allowed to a loopback "
                           "host; use https");
    host_result_free(&r);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_first_poll_emits_each_eligible_meeting_second_none,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_meeting_whose_notes_arrive_later_is_picked_up, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_requests_per_poll_and_one_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sse_replies_with_crlf_and_small_chunks, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sse_replies_with_lf, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sessionless_server, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired_session_is_renewed_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_and_rejected_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_each_fault_is_a_poll_error_and_the_next_poll_recovers,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_faults_in_sse_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate_limit_defers_the_next_poll, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_between_batches_keeps_what_committed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_thousand_meetings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lookback_and_workspace_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_instance_configuration, setup, teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
