/* Unit tests for host.json parsing: each bad input names its key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "config_rules.h"
#include "pa_plugin.h"

static int parse(const char *text, host_config *cfg, char *err, size_t err_size)
{
    return config_parse(text, strlen(text), "host.json", cfg, err, err_size);
}

static void expect_error(const char *text, const char *message)
{
    host_config cfg;
    char err[512] = "";
    assert_int_equal(parse(text, &cfg, err, sizeof err), PA_ERR_CONFIG);
    assert_string_equal(err, message);
    assert_int_equal(cfg.plugin_count, 0);
}

static void test_full_example_parses(void **state)
{
    (void)state;
    const char *text =
        "{ \"poll_interval_seconds\": 900,"
        "  \"pool\": { \"size\": 4, \"lease_timeout_ms\": 5000, \"max_lifetime_seconds\": 1800 },"
        "  \"plugins\": { \"granola\": { \"enabled\": true,"
        "     \"instances\": [ { \"id\": \"work\", \"workspace_id\": \"work\", \"lookback_days\": "
        "7 },"
        "                      { \"id\": \"home\", \"enabled\": false } ] } } }";
    host_config cfg;
    char err[512];
    assert_int_equal(parse(text, &cfg, err, sizeof err), PA_OK);
    assert_int_equal(cfg.poll_interval_seconds, 900);
    assert_int_equal(cfg.pool_size, 4);
    assert_int_equal(cfg.lease_timeout_ms, 5000);
    assert_int_equal(cfg.max_lifetime_seconds, 1800);
    assert_int_equal(cfg.backoff_cap_seconds, 86400);
    assert_int_equal(cfg.plugin_count, 1);
    const plugin_config *pc = config_find_plugin(&cfg, "granola");
    assert_non_null(pc);
    assert_true(pc->enabled);
    assert_int_equal(pc->instance_count, 2);
    assert_string_equal(pc->instances[0].id, "work");
    assert_string_equal(pc->instances[0].json,
                        "{\"id\":\"work\",\"workspace_id\":\"work\",\"lookback_days\":7}");
    assert_true(pc->instances[0].enabled);
    assert_false(pc->instances[1].enabled);
    assert_null(config_find_plugin(&cfg, "mail"));
    config_free(&cfg);
}

static void test_defaults_apply_to_empty_object(void **state)
{
    (void)state;
    host_config cfg;
    char err[512];
    assert_int_equal(parse("{}", &cfg, err, sizeof err), PA_OK);
    assert_int_equal(cfg.poll_interval_seconds, 900);
    assert_int_equal(cfg.pool_size, 4);
    assert_int_equal(cfg.busy_timeout_ms, 5000);
    assert_int_equal(cfg.plugin_count, 0);
    config_free(&cfg);
}

static void test_errors_name_the_key(void **state)
{
    (void)state;
    expect_error("{\"pol_interval\": 5}", "host.json: pol_interval: unknown key");
    expect_error("{\"poll_interval_seconds\": \"900\"}",
                 "host.json: poll_interval_seconds: expected an integer from 1 to 2592000");
    expect_error("{\"poll_interval_seconds\": 1.5}",
                 "host.json: poll_interval_seconds: expected an integer from 1 to 2592000");
    expect_error("{\"pool\": {\"size\": 0}}",
                 "host.json: pool.size: expected an integer from 1 to 256");
    expect_error("{\"pool\": {\"sise\": 2}}", "host.json: pool.sise: unknown key");
    expect_error("{\"pool\": []}", "host.json: pool: expected an object");
    expect_error("{\"plugins\": {\"g\": {\"instances\": {}}}}",
                 "host.json: plugins.g.instances: expected an array");
    expect_error("{\"plugins\": {\"g\": {\"instances\": [{\"id\": \"\"}]}}}",
                 "host.json: plugins.g.instances[0].id: expected a non-empty string");
    expect_error("{\"plugins\": {\"g\": {\"instances\": [{\"id\": \"a\"}, {\"id\": \"a\"}]}}}",
                 "host.json: plugins.g.instances[1].id: duplicate instance id 'a'");
    /* Ids and names whole in every log source: 5,000 bytes would be cut, and collide. */
    char long_id[300];
    snprintf(long_id, sizeof long_id,
             "{\"plugins\": {\"g\": {\"instances\": [{\"id\": \"%0129d\"}]}}}", 0);
    expect_error(long_id, "host.json: plugins.g.instances[0]: id: longer than 128 bytes");
    char expected[200];
    snprintf(long_id, sizeof long_id, "{\"plugins\": {\"%065d\": {}}}", 0);
    snprintf(expected, sizeof expected,
             "host.json: plugins.%065d: a plugin name is at most 64 bytes", 0);
    expect_error(long_id, expected);
    expect_error("{\"plugins\": {\"g\": {\"enabled\": 1}}}",
                 "host.json: plugins.g.enabled: expected true or false");
    expect_error("{\"plugins\": {\"g\": {\"instance\": []}}}",
                 "host.json: plugins.g.instance: unknown key");
    expect_error("{\"plugins\": {\"g\": {}, \"g\": {}}}", "host.json: plugins.g: duplicate key");
    expect_error("[1]", "host.json: (top level): expected a JSON object");
    expect_error("{\"plugins\": {\"g\": {\"instances\": [{\"id\": \"a\", \"enabled\": \"no\"}]}}}",
                 "host.json: plugins.g.instances[0].enabled: expected true or false");
}

static void test_malformed_json_reports_position(void **state)
{
    (void)state;
    expect_error("{\"pool\": {\"size\": 4,}}", "host.json: malformed JSON near byte 21");
    expect_error("", "host.json: malformed JSON near byte 0");
}

/* The whole file is the document: nothing after it, no NUL, valid UTF-8. */
static void test_only_one_whole_json_document_is_accepted(void **state)
{
    (void)state;
    expect_error("{} xxx", "host.json: content after the JSON value at byte 3");
    expect_error("{\"plugins\": {}}\n{}", "host.json: content after the JSON value at byte 16");
    host_config cfg;
    char err[512] = "";
    static const char with_nul[] = "{}\0{\"plugins\": 1}";
    assert_int_equal(
        config_parse(with_nul, sizeof with_nul - 1, "host.json", &cfg, err, sizeof err),
        PA_ERR_CONFIG);
    assert_string_equal(err, "host.json: a NUL byte at byte 2");
    expect_error("{\"plugins\": {\"x\xff\": {}}}", "host.json: invalid UTF-8 at byte 15");
    assert_int_equal(parse("{}  \n\t", &cfg, err, sizeof err), PA_OK); /* white space is fine */
    config_free(&cfg);
    /* An escaped NUL would cut the string ("a\u0000b" read as "a"): refused, not cut. */
    expect_error("{\"database\": \"a.db\\u0000b\"}",
                 "host.json: an escaped NUL (\\u0000) at byte 18");
    expect_error("{\"database\": \"\\\\\\u0000\"}",
                 "host.json: an escaped NUL (\\u0000) at byte 16");
    /* An escaped backslash followed by "u0000" is text, not an escape. */
    assert_int_equal(parse("{\"database\": \"a\\\\u0000\"}", &cfg, err, sizeof err), PA_OK);
    assert_string_equal(cfg.database, "a\\u0000");
    config_free(&cfg);
}

/* The one validator both config parsers use: every rule, one message format. */
static void test_config_rules(void **state)
{
    (void)state;
    static const config_rule rules[] = {
        CONFIG_REQUIRED_STRING_RULE("id"), CONFIG_INT_RULE("n", 1, 10, 5),
        CONFIG_BOOL_RULE("on", true),      CONFIG_STRING_RULE("s", "dflt"),
        CONFIG_ARRAY_RULE("list"),         CONFIG_END,
    };
    static const struct {
        const char *json;
        bool allow_unknown;
        const char *message; /* NULL: accepted */
    } cases[] = {
        {"{\"id\": \"a\"}", false, NULL},
        {"{\"id\": \"a\", \"x\": 1}", false, "f: p.x: unknown key"},
        {"{\"id\": \"a\", \"x\": 1}", true, NULL},
        {"{\"id\": \"a\", \"x\": 1, \"x\": 2}", true, "f: p.x: duplicate key"},
        {"{\"n\": 3}", false, "f: p.id: required"},
        {"{\"id\": \"\"}", false, "f: p.id: expected a non-empty string"},
        {"{\"id\": \"a\", \"n\": 11}", false, "f: p.n: expected an integer from 1 to 10"},
        {"{\"id\": \"a\", \"n\": 2.5}", false, "f: p.n: expected an integer from 1 to 10"},
        {"{\"id\": \"a\", \"on\": 1}", false, "f: p.on: expected true or false"},
        {"{\"id\": \"a\", \"list\": {}}", false, "f: p.list: expected an array"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *o = cJSON_Parse(cases[i].json);
        char err[128] = "";
        int rc = config_check(o, rules, cases[i].allow_unknown, "f", "p.", err, sizeof err);
        if (cases[i].message)
            assert_string_equal(err, cases[i].message);
        else
            assert_int_equal(rc, PA_OK);
        cJSON_Delete(o);
    }
    cJSON *o = cJSON_Parse("{\"id\": \"a\", \"n\": 7}");
    assert_int_equal(config_int(o, rules, "n"), 7);
    assert_true(config_bool(o, rules, "on")); /* defaults */
    assert_string_equal(config_string(o, rules, "s"), "dflt");
    cJSON_Delete(o);
}

static void test_missing_file_is_named(void **state)
{
    (void)state;
    host_config cfg;
    char err[512];
    assert_int_equal(config_load("/nonexistent/host.json", &cfg, err, sizeof err), PA_ERR_CONFIG);
    assert_string_equal(err, "/nonexistent/host.json: cannot open: No such file or directory");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_example_parses),
        cmocka_unit_test(test_defaults_apply_to_empty_object),
        cmocka_unit_test(test_errors_name_the_key),
        cmocka_unit_test(test_malformed_json_reports_position),
        cmocka_unit_test(test_only_one_whole_json_document_is_accepted),
        cmocka_unit_test(test_config_rules),
        cmocka_unit_test(test_missing_file_is_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
