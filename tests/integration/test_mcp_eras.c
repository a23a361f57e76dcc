/*
 * granola.so against servers of every MCP era (legacy 2025-11-25, modern
 * 2026-07-28, dual) and transport (JSON, SSE, sessionless), with every fault
 * of the fake server; then the replies an attacker would send. The real
 * host_stub loads the real granola.so; tests/fake_granola plays the server.
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

#include "granola_env.h"
#include "text_clean.h"

typedef struct server_kind {
    const char *name;
    const char *args[6]; /* fake_granola flags, NULL-terminated */
    bool legacy;         /* the server speaks no modern revision */
    bool sse;
} server_kind;

/* SSE servers keep each stream open 50 ms after the response, as real ones may. */
static const server_kind KINDS[] = {
    {"legacy json", {"--era", "legacy", NULL}, true, false},
    {"legacy sse", {"--era", "legacy", "--sse", "--sse-linger", "50", NULL}, true, true},
    {"legacy sessionless", {"--era", "legacy", "--sessionless", NULL}, true, false},
    {"modern json", {"--era", "modern", NULL}, false, false},
    {"modern sse", {"--era", "modern", "--sse", "--sse-linger", "50", NULL}, false, true},
    {"dual json", {"--era", "dual", NULL}, false, false},
    {"dual sse", {"--era", "dual", "--sse", "--sse-linger", "50", NULL}, false, true},
};
#define N_KINDS (sizeof KINDS / sizeof KINDS[0])

static long stat_number(const cJSON *stats, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(stats, a);
    if (b)
        v = cJSON_GetObjectItemCaseSensitive(v, b);
    return cJSON_IsNumber(v) ? (long)v->valuedouble : -1;
}

static void restart(granola_ctx *c, const server_kind *k)
{
    fake_stop(&c->server);
    fake_start(&c->server, c->fixture, k->args);
    remove(c->env.db);
}

/* A modern or dual server is never sent initialize; a legacy one is probed once per process. */
static void assert_era_traffic(granola_ctx *c, const server_kind *k, long host_processes)
{
    cJSON *stats = fake_stats(&c->server);
    if (k->legacy) {
        assert_int_equal(fake_count(stats, "refused"), host_processes);
        assert_int_equal(fake_count(stats, "initialize"), host_processes);
    } else {
        assert_int_equal(fake_count(stats, "initialize"), 0);
        assert_int_equal(stat_number(stats, "eras", "legacy"), 0);
    }
    cJSON_Delete(stats);
}

static void test_every_era_and_transport_serves_the_fixture_on_one_connection(void **state)
{
    granola_ctx *c = *state;
    write_standard_fixture(c);
    for (size_t i = 0; i < N_KINDS; i++) {
        const server_kind *k = &KINDS[i];
        restart(c, k);
        write_config(c, NULL);
        host_result r;
        run_polls(c, 3, &r);
        if (count_lines(r.out) != 4)
            fail_msg("%s: %d tasks, expected 4\n%s", k->name, count_lines(r.out), r.err);
        assert_store_consistent(c);
        const char *agreed = k->legacy ? "MCP protocol revision 2025-11-25 (legacy era) in use"
                                       : "MCP protocol revision 2026-07-28 (modern era) in use";
        assert_int_equal(count_lines_with(r.err, agreed), 1);
        assert_int_equal(count_lines_with(r.err, "falling back to the initialize handshake"),
                         k->legacy ? 1 : 0);
        assert_era_traffic(c, k, 1);
        cJSON *stats = fake_stats(&c->server);
        /* One TCP connection for 3 polls: streams are drained, never abandoned. */
        if (stat_number(stats, "connections", NULL) != 1)
            fail_msg("%s: %ld connections", k->name, stat_number(stats, "connections", NULL));
        assert_int_equal(fake_count(stats, "tools/call:list_meetings"), 3);
        /* Once a poll: the two meetings without notes yet are asked for again. */
        assert_int_equal(fake_count(stats, "tools/call:get_meetings"), 3);
        cJSON_Delete(stats);
        host_result_free(&r);
    }
}

/* The same fault, per era: the message is the transport's, the era never changes. */
static void run_fault_in_every_kind(granola_ctx *c, const char *fault, const char *config_extra,
                                    const char *json_message, const char *sse_message,
                                    bool modern_only)
{
    for (size_t i = 0; i < N_KINDS; i++) {
        const server_kind *k = &KINDS[i];
        if (modern_only && k->legacy)
            continue;
        restart(c, k);
        fault_case fc = {fault, config_extra, k->sse ? sse_message : json_message};
        run_fault_case(c, &fc);
        /* Neither poll (the failing one, the recovery) downgraded or re-probed. */
        assert_era_traffic(c, k, 2);
    }
}

static void test_each_fault_in_every_era(void **state)
{
    granola_ctx *c = *state;
    write_standard_fixture(c);
    run_fault_in_every_kind(
        c,
        "{\"method\": \"list_meetings\", \"kind\": \"status\", "
        "\"status\": 503}",
        NULL, "tools/call list_meetings: Granola server error (HTTP 503): fault",
        "tools/call list_meetings: Granola server error (HTTP 503): fault", false);
    run_fault_in_every_kind(c,
                            "{\"method\": \"get_meetings\", \"kind\": \"delay\", "
                            "\"delay_ms\": 2500}",
                            "\"timeout_seconds\": 1", "tools/call get_meetings: timed out after 1.",
                            "tools/call get_meetings: timed out after 1.", false);
    run_fault_in_every_kind(c, "{\"method\": \"get_meetings\", \"kind\": \"truncate\"}", NULL,
                            "tools/call get_meetings: response truncated",
                            "tools/call get_meetings: response truncated", false);
    run_fault_in_every_kind(c, "{\"method\": \"list_meetings\", \"kind\": \"malformed\"}", NULL,
                            "tools/call list_meetings: malformed JSON in response near byte",
                            "tools/call list_meetings: event stream ended without a response",
                            false);
    run_fault_in_every_kind(
        c, "{\"method\": \"get_meetings\", \"kind\": \"oversize\", \"oversize_bytes\": 200000}",
        "\"max_response_bytes\": 65536",
        "tools/call get_meetings: response larger than max_response_bytes (65536)",
        "tools/call get_meetings: response larger than max_response_bytes (65536)", false);
    run_fault_in_every_kind(c, "{\"method\": \"list_meetings\", \"kind\": \"wrong_id\"}", NULL,
                            "does not match request id", "does not match request id", false);
    run_fault_in_every_kind(c, "{\"method\": \"list_meetings\", \"kind\": \"fractional_id\"}", NULL,
                            ".0000000001 does not match request id",
                            ".0000000001 does not match request id", false);
    run_fault_in_every_kind(c, "{\"method\": \"get_meetings\", \"kind\": \"rpc_error\"}", NULL,
                            "tools/call get_meetings: JSON-RPC error -32000: simulated server "
                            "failure",
                            "tools/call get_meetings: JSON-RPC error -32000: simulated server "
                            "failure",
                            false);
    run_fault_in_every_kind(c, "{\"method\": \"list_meetings\", \"kind\": \"tool_error\"}", NULL,
                            "tools/call list_meetings: tool error: Granola could not load "
                            "meetings right now",
                            "tools/call list_meetings: tool error: Granola could not load "
                            "meetings right now",
                            false);
    run_fault_in_every_kind(c, "{\"method\": \"list_meetings\", \"kind\": \"input_required\"}",
                            NULL,
                            "tools/call list_meetings: the server asked for more input "
                            "(resultType input_required)",
                            "tools/call list_meetings: the server asked for more input "
                            "(resultType input_required)",
                            true);
}

static void test_legacy_handshake_fault(void **state)
{
    granola_ctx *c = *state;
    write_standard_fixture(c);
    for (size_t i = 0; i < N_KINDS; i++) {
        if (!KINDS[i].legacy)
            continue;
        restart(c, &KINDS[i]);
        fault_case fc = {"{\"method\": \"initialize\", \"kind\": \"status\", \"status\": 500}",
                         NULL, "initialize: Granola server error (HTTP 500): fault"};
        run_fault_case(c, &fc);
    }
}

static void test_refused_credentials_never_downgrade(void **state)
{
    granola_ctx *c = *state;
    write_standard_fixture(c);
    const char *args[] = {"--era", "modern", "--token", "a-different-token", NULL};
    fake_start(&c->server, c->fixture, args);
    write_config(c, NULL);
    host_result r;
    run_polls(c, 2, &r);
    /* Each poll: the 401, one renewal attempt (refused: the token is not the server's). */
    assert_int_equal(count_lines_with(r.err, "poll failed"), 2);
    assert_int_equal(count_lines_with(r.err, "renewing the Granola token (the server refused it) "
                                             "failed"),
                     2);
    assert_lacks(r.err, "falling back to the initialize handshake");
    host_result_free(&r);
    cJSON *stats = fake_stats(&c->server);
    assert_int_equal(fake_count(stats, "initialize"), 0);
    assert_int_equal(stat_number(stats, "eras", "legacy"), 0);
    cJSON_Delete(stats);
}

static void test_no_revision_in_common_names_both_lists(void **state)
{
    granola_ctx *c = *state;
    write_standard_fixture(c);
    const char *args[] = {"--era", "modern", NULL};
    fake_start(&c->server, c->fixture, args);
    fake_control(&c->server, "{\"supported_versions\": [\"2099-01-01\"]}");
    write_config(c, NULL);
    host_result r;
    run_polls(c, 1, &r);
    assert_contains(r.err, "poll failed (1 in a row): tools/call list_meetings: no MCP protocol "
                           "revision in common: the server supports [\"2099-01-01\"], this client "
                           "2026-07-28, 2025-11-25, 2025-06-18 and 2025-03-26 (JSON-RPC error "
                           "-32022: Unsupported protocol version: 2026-07-28)");
    assert_int_equal(count_lines(r.out), 0);
    host_result_free(&r);
}

static void test_unsupported_version_moves_to_the_best_common_revision(void **state)
{
    granola_ctx *c = *state;
    write_standard_fixture(c);
    const char *args[] = {"--era", "dual", NULL};
    fake_start(&c->server, c->fixture, args);
    /* A dual server that serves one legacy revision: the client must meet it there. */
    fake_control(&c->server, "{\"supported_versions\": [\"2025-06-18\", \"2024-11-05\"]}");
    write_config(c, NULL);
    host_result r;
    run_polls(c, 2, &r);
    assert_int_equal(count_lines(r.out), 4);
    assert_contains(r.err, "MCP: the server does not serve revision 2026-07-28 (it supports "
                           "[\"2025-06-18\",\"2024-11-05\"]); using 2025-06-18");
    assert_int_equal(count_lines_with(r.err, "MCP protocol revision 2025-06-18 (legacy era) in "
                                             "use"),
                     1);
    host_result_free(&r);
    cJSON *stats = fake_stats(&c->server);
    assert_int_equal(fake_count(stats, "initialize"), 1);
    assert_int_equal(fake_count(stats, "refused"), 1);
    cJSON_Delete(stats);
}

/* The fake refuses what the TypeScript SDK refuses: the modern era's tests mean something. */
static void test_fake_server_enforces_modern_rules(void **state)
{
    granola_ctx *c = *state;
    write_standard_fixture(c);
    const char *args[] = {"--era", "modern", NULL};
    fake_start(&c->server, c->fixture, args);
    const char *meta = "\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\","
                       "\"io.modelcontextprotocol/clientCapabilities\":{}}";
    char body[512];
    snprintf(body, sizeof body,
             "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{\"name\":"
             "\"list_meetings\",\"arguments\":{},%s}}",
             meta);
    const char *mismatched[] = {"Content-Type: application/json",
                                "MCP-Protocol-Version: 2026-07-28", "Mcp-Method: tools/call",
                                "Mcp-Name: get_meetings", NULL};
    char *reply = NULL;
    assert_int_equal(fake_post_mcp(&c->server, mismatched, body, &reply), 400);
    assert_contains(reply, "\"code\":-32020");
    free(reply);
    const char *encoded[] = {"Content-Type: application/json", "MCP-Protocol-Version: 2026-07-28",
                             "Mcp-Method: tools/call",
                             "Mcp-Name: =?base64?bGlzdF9tZWV0aW5ncw==?=", NULL};
    assert_int_equal(fake_post_mcp(&c->server, encoded, body, &reply), 200);
    assert_contains(reply, "\"resultType\":\"complete\"");
    free(reply);
    const char *legacy[] = {"Content-Type: application/json", NULL};
    assert_int_equal(fake_post_mcp(&c->server, legacy,
                                   "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\","
                                   "\"params\":{\"protocolVersion\":\"2025-11-25\"}}",
                                   &reply),
                     400);
    assert_contains(reply, "\"code\":-32022");
    assert_contains(reply, "\"supported\":[\"2026-07-28\"]");
    free(reply);
    const char *discover[] = {"Content-Type: application/json", "MCP-Protocol-Version: 2026-07-28",
                              "Mcp-Method: server/discover", NULL};
    snprintf(body, sizeof body,
             "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"server/discover\","
             "\"params\":{%s}}",
             meta);
    assert_int_equal(fake_post_mcp(&c->server, discover, body, &reply), 200);
    assert_contains(reply, "\"supportedVersions\":[\"2026-07-28\"]");
    free(reply);
}

/* ---- hardened replies ----------------------------------------------------- */

static void run_with_backoff_cap(granola_ctx *c, long cap_seconds, host_result *r)
{
    char config[1024];
    snprintf(config, sizeof config,
             "{\"poll_interval_seconds\": 60, \"backoff_cap_seconds\": %ld, \"plugins\": "
             "{\"granola\": {\"instances\": [{\"id\": \"work\", \"workspace_id\": \"work\", "
             "\"token_path\": \"%s\", \"server_url\": \"%s\"}]}}}",
             cap_seconds, c->token_path, c->server.url);
    env_write_config(&c->env, config);
    run_polls(c, 2, r);
}

static void test_retry_after_is_capped_at_the_backoff_cap(void **state)
{
    granola_ctx *c = *state;
    write_standard_fixture(c);
    const char *args[] = {"--era", "modern", NULL};
    fake_start(&c->server, c->fixture, args);
    const char *values[] = {"99999999999", "99999999999999999999999999",
                            "Fri, 31 Dec 9999 23:59:59 GMT", "-5"};
    const char *said[] = {"retry after 2592000 s", "retry after 2592000 s", "retry after 2592000 s",
                          "retry after 1 s"};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char control[256];
        snprintf(control, sizeof control,
                 "{\"fault\": {\"method\": \"list_meetings\", \"kind\": \"status\", \"status\": "
                 "429, \"retry_after_text\": \"%s\", \"count\": 1}}",
                 values[i]);
        fake_control(&c->server, control);
        remove(c->env.db);
        host_result r;
        run_with_backoff_cap(c, 3600, &r);
        assert_contains(r.err, said[i]);
        if (i < 3) /* the host's cap wins over the server's wish */
            assert_contains(r.err, "(PA_ERR_REMOTE); backing off, next poll in 3600 s");
        assert_int_equal(count_lines(r.out), 4); /* and the next poll ran, an hour later */
        host_result_free(&r);
    }
}

static void test_urls_are_logged_without_userinfo_or_query(void **state)
{
    granola_ctx *c = *state;
    write_standard_fixture(c);
    const char *args[] = {"--era", "modern", NULL};
    fake_start(&c->server, c->fixture, args);
    fake_control(&c->server, "{\"fault\": {\"method\": \"get_meetings\", \"kind\": \"status\", "
                             "\"status\": 502, \"count\": 1}}");
    char url[256], extra[300];
    snprintf(url, sizeof url, "http://user:PASSWORD-7c1@127.0.0.1:%d/mcp?key=QUERY-SECRET-19#frag",
             c->server.port);
    snprintf(extra, sizeof extra, "\"server_url\": \"%s\"", url);
    char config[1024];
    snprintf(config, sizeof config,
             "{\"plugins\": {\"granola\": {\"instances\": [{\"id\": \"work\", \"workspace_id\": "
             "\"work\", \"token_path\": \"%s\", %s}]}}}",
             c->token_path, extra);
    env_write_config(&c->env, config);
    host_result r;
    run_polls(c, 2, &r);
    if (count_lines(r.out) != 4)
        fail_msg("tasks:\n%s\nlog:\n%s", r.out, r.err);
    char logged[96];
    snprintf(logged, sizeof logged, "http POST http://127.0.0.1:%d/mcp -> 200", c->server.port);
    assert_contains(r.err, logged);
    assert_lacks(r.err, "PASSWORD-7c1");
    assert_lacks(r.err, "QUERY-SECRET-19");
    assert_lacks(r.err, "user:");
    host_result_free(&r);
}

static void test_invalid_utf8_becomes_replacement_and_logs_stay_clean(void **state)
{
    granola_ctx *c = *state;
    cJSON *root = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(root, "meetings");
    /* Raw bytes that are not UTF-8: a lone continuation, an overlong '/', a cut sequence. */
    meeting(list, "m-bad", "Caf\xC3\xA9 \x80 sync", "2026-02-11T15:00:00Z", "work",
            "Notes \xC0\xAF with \xE2\x82 cut and \xF4\x90\x80\x80 above U+10FFFF");
    /* Escape sequences and other controls where a log line will quote them. */
    meeting(list, "m-\x1b[2Jesc", "Esc", "\x1b[31msomeday\x07\x9b", "work", "text");
    char *json = cJSON_PrintUnformatted(root);
    write_text(c->fixture, json);
    free(json);
    cJSON_Delete(root);
    const char *args[] = {"--era", "modern", NULL};
    fake_start(&c->server, c->fixture, args);
    write_config(c, NULL);
    host_result r;
    run_polls(c, 1, &r);
    assert_int_equal(count_lines(r.out), 1);
    assert_int_equal(utf8_valid_prefix(r.out, strlen(r.out)), strlen(r.out));
    assert_int_equal(utf8_valid_prefix(r.err, strlen(r.err)), strlen(r.err));
    cJSON *t = task_with_reference(r.out, "m-bad");
    assert_string_equal(json_str(t, "title"), "Review meeting: Caf\xC3\xA9 \xEF\xBF\xBD sync");
    assert_string_equal(json_str(t, "description"),
                        "Notes \xEF\xBF\xBD\xEF\xBF\xBD with \xEF\xBF\xBD cut and "
                        "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD above U+10FFFF");
    cJSON_Delete(t);
    assert_int_equal(db_scalar(&c->env, "SELECT count(*) FROM pa_tasks WHERE title LIKE "
                                        "'%' || char(65533) || '%'"),
                     1);
    /* The unparseable date is logged, its controls visible and inert. */
    assert_contains(r.err, "meeting m-\\x1b[2Jesc has an unparseable date '\\x1b[31msomeday\\x07");
    for (const char *p = r.err; *p; p++) {
        if ((unsigned char)*p < 0x20 && *p != '\n' && *p != '\t')
            fail_msg("control byte 0x%02x in the log", (unsigned char)*p);
    }
    host_result_free(&r);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_every_era_and_transport_serves_the_fixture_on_one_connection, granola_setup,
            granola_teardown),
        cmocka_unit_test_setup_teardown(test_each_fault_in_every_era, granola_setup,
                                        granola_teardown),
        cmocka_unit_test_setup_teardown(test_legacy_handshake_fault, granola_setup,
                                        granola_teardown),
        cmocka_unit_test_setup_teardown(test_refused_credentials_never_downgrade, granola_setup,
                                        granola_teardown),
        cmocka_unit_test_setup_teardown(test_no_revision_in_common_names_both_lists, granola_setup,
                                        granola_teardown),
        cmocka_unit_test_setup_teardown(test_unsupported_version_moves_to_the_best_common_revision,
                                        granola_setup, granola_teardown),
        cmocka_unit_test_setup_teardown(test_fake_server_enforces_modern_rules, granola_setup,
                                        granola_teardown),
        cmocka_unit_test_setup_teardown(test_retry_after_is_capped_at_the_backoff_cap,
                                        granola_setup, granola_teardown),
        cmocka_unit_test_setup_teardown(test_urls_are_logged_without_userinfo_or_query,
                                        granola_setup, granola_teardown),
        cmocka_unit_test_setup_teardown(test_invalid_utf8_becomes_replacement_and_logs_stay_clean,
                                        granola_setup, granola_teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
