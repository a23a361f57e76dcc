/*
 * One plugin binary on either engine (docs/ABI.md, "SQL on both engines"):
 * run once on SQLite (test_engines) and once on PostgreSQL (test_engines_pg,
 * PA_TEST_BACKEND=postgresql). The same stmt_probe.so drives every call of
 * the ABI 1.4 statement API; the answers must be the same on both, except
 * where docs/ABI.md says the engines differ. A plugin of ABI 1.3 keeps
 * working on SQLite and fails with a clear message on PostgreSQL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "pg_env.h"
#include "run_host.h"

#define FAKE_CLOCK "1767225600" /* 2026-01-01T00:00:00Z */

static const cJSON *member(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v)
        fail_msg("no \"%s\" in the probe's report", key);
    return v;
}

static void assert_true_member(const cJSON *o, const char *key)
{
    if (!cJSON_IsTrue(member(o, key)))
        fail_msg("the probe's \"%s\" is not true", key);
}

static void test_the_statement_api_answers_alike(void **state)
{
    test_env *env = *state;
    bool pg = pg_backend_selected();
    env_add_plugin(env, "stmt_probe");
    env_write_config(env, "{\"plugins\": {\"stmt_probe\": {\"instances\": [{\"id\": \"p\"}]}}}");
    const char *args[] = {"--polls", "2", "--fake-clock", FAKE_CLOCK, NULL};
    host_result r;
    host_run(env, &r, args);
    if (r.exit_code != 0 || count_lines(r.out) != 2)
        fail_msg("host exited %d with %d line(s)\n%s", r.exit_code, count_lines(r.out), r.err);
    cJSON *line = cJSON_Parse(r.out); /* the first line */
    const cJSON *m = member(line, "metadata");
    assert_string_equal(json_str(m, "backend"), pg ? "postgresql" : "sqlite");
    assert_int_equal((long)member(m, "changes")->valuedouble, 1);
    assert_string_equal(json_str(m, "duplicate"), "PA_ERR_CONSTRAINT");
    /* The engine's own code: unique_violation, SQLITE_CONSTRAINT_UNIQUE. */
    assert_string_equal(json_str(m, "duplicate_code"), pg ? "23505" : "2067");
    const char *oks[] = {"time_ok", "bytes_ok", "int_ok",   "float_ok",
                         "text_ok", "null_ok",  "types_ok", "raw_handle_right"};
    for (size_t i = 0; i < sizeof oks / sizeof oks[0]; i++)
        assert_true_member(m, oks[i]);
    assert_string_equal(json_str(m, "stale"), "PA_ERR_INVALID");
    /* A READ lease cannot write on PostgreSQL (a read-only session); on SQLite it is not checked.
     */
    assert_string_equal(json_str(m, "read_lease_write"), pg ? "PA_ERR_DB" : "PA_OK");
    cJSON_Delete(line);
    /* Each engine stores the time its own way, as the agent's SQLAlchemy does. */
    assert_int_equal(db_scalar(env, pg ? "SELECT count(*) FROM probe WHERE name IN ('p-1', 'p-2')"
                                         " AND at = '2026-01-01 00:00:00.123456+00'::timestamptz"
                                       : "SELECT count(*) FROM probe WHERE name IN ('p-1', 'p-2')"
                                         " AND at = '2026-01-01 00:00:00.123456'"),
                     2);
    assert_contains(r.err, "stmt_bind_int64: not a statement of a lease this instance holds");
    host_result_free(&r);
}

static void test_a_plugin_of_abi_1_3(void **state)
{
    test_env *env = *state;
    env_add_plugin(env, "old_abi");
    env_write_config(env, "{\"plugins\": {\"old_abi\": {\"instances\": [{\"id\": \"o\"}]}}}");
    const char *args[] = {"--polls", "2", "--fake-clock", FAKE_CLOCK, NULL};
    host_result r;
    host_run(env, &r, args);
    assert_contains(r.err, "loaded plugin 'old_abi' version 1.3.0 (ABI 1.3)");
    if (pg_backend_selected()) {
        assert_contains(r.err, "lease_db (PA_ERR_UNSUPPORTED): the database is PostgreSQL; "
                               "lease_db returns SQLite handles: use the statement API (ABI "
                               "1.4) or lease_pg");
        assert_contains(r.err,
                        "error plugin old_abi/o: poll failed (1 in a row): no SQLite handle");
        assert_int_equal(count_lines(r.out), 0);
    } else {
        assert_int_equal(r.exit_code, 0);
        assert_int_equal(count_lines_with(r.out, "\"source\":\"old_abi\""), 2);
        assert_int_equal(db_scalar(env, "SELECT count(*) FROM old_abi_rows"), 2);
        assert_lacks(r.err, "poll failed");
    }
    host_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_the_statement_api_answers_alike, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_a_plugin_of_abi_1_3, env_setup, env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
