/* Unit tests for PKCE, query parsing and the token file's read/write rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oauth.h"
#include "pa_plugin.h"
#include "token_file.h"

static void test_s256_matches_rfc7636_appendix_b(void **state)
{
    (void)state;
    char *challenge = oauth_s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    assert_string_equal(challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    free(challenge);
}

static void test_random_tokens_are_url_safe_and_distinct(void **state)
{
    (void)state;
    char *a = oauth_random_token(48), *b = oauth_random_token(48);
    assert_int_equal(strlen(a), 64); /* RFC 7636: 43 to 128 characters */
    assert_string_not_equal(a, b);
    assert_int_equal(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                     64);
    assert_null(oauth_random_token(65));
    free(a);
    free(b);
}

static void test_query_parameters(void **state)
{
    (void)state;
    char *v = oauth_query_param("code=abc%2Fdef&state=s+1&x=", "state");
    assert_string_equal(v, "s 1");
    free(v);
    v = oauth_query_param("code=abc%2Fdef&state=s", "code");
    assert_string_equal(v, "abc/def");
    free(v);
    assert_null(oauth_query_param("codex=1", "code"));
    assert_null(oauth_query_param("", "code"));
}

static void test_token_file_round_trip_and_mode(void **state)
{
    (void)state;
    char dir[] = "/tmp/pa_token_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/token.json", dir);
    granola_token t = {.access_token = "a",
                       .refresh_token = "r",
                       .client_id = "c",
                       .token_endpoint = "https://auth.example/token",
                       .resource = "https://mcp.example/mcp",
                       .expires_at_ms = 1770897600000LL};
    char err[512];
    assert_int_equal(granola_token_save(path, &t, err, sizeof err), PA_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    granola_token back;
    assert_int_equal(granola_token_load(path, &back, err, sizeof err), PA_OK);
    assert_string_equal(back.access_token, "a");
    assert_string_equal(back.refresh_token, "r");
    assert_string_equal(back.client_id, "c");
    assert_null(back.client_secret);
    assert_int_equal(back.expires_at_ms, 1770897600000LL);
    granola_token_free(&back);

    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(granola_token_load(path, &back, err, sizeof err), PA_ERR_AUTH);
    assert_non_null(strstr(err, "(mode 0640); run: chmod 600 "));

    assert_int_equal(chmod(path, 0600), 0);
    FILE *f = fopen(path, "w");
    fputs("{\"refresh_token\": \"r\"}", f);
    fclose(f);
    assert_int_equal(granola_token_load(path, &back, err, sizeof err), PA_ERR_AUTH);
    assert_non_null(strstr(err, "has no usable access_token"));

    /* A save that cannot happen leaves the old file alone. */
    char missing[160];
    snprintf(missing, sizeof missing, "%s/no/such/dir/token.json", dir);
    assert_int_equal(granola_token_save(missing, &t, err, sizeof err), PA_ERR_AUTH);
    assert_non_null(strstr(err, "the previous file is unchanged"));

    unlink(path);
    assert_int_equal(rmdir(dir), 0);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, 0600), 0);
}

/* The agent's file: its extra fields survive a rewrite, expires_at comes back in its form. */
static void test_agent_token_file_keeps_its_fields(void **state)
{
    (void)state;
    char dir[] = "/tmp/token_agent_XXXXXX", path[64], err[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/token.json", dir);
    write_file(path, "{\"access_token\": \"at\", \"token_type\": \"Bearer\", \"expires_in\": "
                     "3600, \"refresh_token\": \"rt\", \"scope\": \"mcp\", \"client_id\": "
                     "\"cid\", \"expires_at\": \"2026-11-29T12:00:00.123456+00:00\"}");
    granola_token t;
    assert_int_equal(granola_token_load(path, &t, err, sizeof err), PA_OK);
    assert_string_equal(t.refresh_token, "rt");
    assert_null(t.token_endpoint);
    assert_true(t.expires_at_ms == 1795953600123LL || t.expires_at_ms == 1795953600000LL);
    assert_false(t.recovered);
    assert_int_equal(granola_token_save(path, &t, err, sizeof err), PA_OK);
    granola_token_free(&t);
    FILE *f = fopen(path, "r");
    char text[1024] = "";
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    assert_non_null(strstr(text, "\"token_type\":\t\"Bearer\""));
    assert_non_null(strstr(text, "\"scope\":\t\"mcp\""));
    assert_non_null(strstr(text, "\"expires_in\":\t3600"));
    assert_true(strstr(text, "\"expires_at\":\t\"2026-11-29T12:00:00.123000+00:00\"") ||
                strstr(text, "\"expires_at\":\t\"2026-11-29T12:00:00.000000+00:00\""));
    unlink(path);
    rmdir(dir);
}

/* A complete PATH.pending is the newest token; a torn one is dropped and PATH used. */
static void test_pending_file_is_promoted_or_dropped(void **state)
{
    (void)state;
    char dir[] = "/tmp/token_pending_XXXXXX", path[64], pending[80], err[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/token.json", dir);
    snprintf(pending, sizeof pending, "%s.pending", path);
    write_file(path, "{\"access_token\": \"old\", \"refresh_token\": \"spent\"}");
    write_file(pending, "{\"access_token\": \"new\", \"refresh_token\": \"fresh\"}");
    granola_token t;
    assert_int_equal(granola_token_load(path, &t, err, sizeof err), PA_OK);
    assert_string_equal(t.refresh_token, "fresh");
    assert_true(t.recovered);
    granola_token_free(&t);
    assert_int_equal(access(pending, F_OK), -1);
    /* Torn mid-write: not JSON. The file in place stays the token. */
    write_file(pending, "{\"access_token\": \"ne");
    assert_int_equal(granola_token_load(path, &t, err, sizeof err), PA_OK);
    assert_string_equal(t.refresh_token, "fresh");
    assert_false(t.recovered);
    granola_token_free(&t);
    assert_int_equal(access(pending, F_OK), -1);
    unlink(path);
    rmdir(dir);
}

/* Trailing content, a NUL byte or invalid UTF-8: not a token file, whatever came first. */
static void test_token_file_must_be_one_whole_document(void **state)
{
    (void)state;
    char dir[] = "/tmp/token_strict_XXXXXX", path[64], err[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/token.json", dir);
    static const struct {
        const char *text;
        size_t len;
        const char *why;
    } cases[] = {
#define CASE(text, why) {text, sizeof text - 1, why}
        CASE("{\"access_token\": \"a\"} {\"x\": 1}", "(content after the JSON value at byte 22)"),
        CASE("{\"access_token\": \"a\"}\0junk", "(a NUL byte at byte 21)"),
        CASE("{\"access_token\": \"a\xc3\"}", "(invalid UTF-8 at byte 19)"),
        CASE("{\"access_token\": \"a\\u0000b\"}", "(an escaped NUL (\\u0000) at byte 19)"),
#undef CASE
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        fwrite(cases[i].text, 1, cases[i].len, f);
        fclose(f);
        assert_int_equal(chmod(path, 0600), 0);
        granola_token t;
        assert_int_equal(granola_token_load(path, &t, err, sizeof err), PA_ERR_AUTH);
        if (!strstr(err, cases[i].why))
            fail_msg("case %zu: %s", i, err);
    }
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_s256_matches_rfc7636_appendix_b),
        cmocka_unit_test(test_random_tokens_are_url_safe_and_distinct),
        cmocka_unit_test(test_query_parameters),
        cmocka_unit_test(test_token_file_round_trip_and_mode),
        cmocka_unit_test(test_agent_token_file_keeps_its_fields),
        cmocka_unit_test(test_pending_file_is_promoted_or_dropped),
        cmocka_unit_test(test_token_file_must_be_one_whole_document),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
