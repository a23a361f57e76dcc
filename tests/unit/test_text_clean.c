/* common/text_clean.c: UTF-8 validity, repair by maximal subparts, clean log lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "text_clean.h"

#define FFFD "\xEF\xBF\xBD"

static void check_repair_n(const char *in, size_t len, const char *want, size_t want_len)
{
    size_t out_len = 0;
    char *out = utf8_repair(in, len, &out_len);
    assert_non_null(out);
    assert_int_equal(out_len, want_len);
    assert_memory_equal(out, want, out_len);
    assert_int_equal(utf8_valid_prefix(out, out_len), out_len);
    free(out);
}

static void check_repair(const char *in, size_t len, const char *want)
{
    check_repair_n(in, len, want, strlen(want));
}

static void test_valid_prefix_stops_at_the_first_invalid_sequence(void **state)
{
    (void)state;
    const char ok[] = "plain ASCII long enough for the word loop, caf\xC3\xA9 \xF0\x9F\x98\x80";
    assert_int_equal(utf8_valid_prefix(ok, sizeof ok - 1), sizeof ok - 1);
    assert_int_equal(utf8_valid_prefix("abcdefghij\x80", 11), 10);
    assert_int_equal(utf8_valid_prefix("\xED\xA0\x80", 3), 0);      /* a surrogate */
    assert_int_equal(utf8_valid_prefix("\xE0\x80\xAF", 3), 0);      /* overlong */
    assert_int_equal(utf8_valid_prefix("a\xF4\x90\x80\x80", 5), 1); /* above U+10FFFF */
    assert_int_equal(utf8_valid_prefix("ab\xE2\x82", 4), 2);        /* cut at the end */
}

/* The Unicode standard's own example (table 3-8): one U+FFFD per maximal subpart. */
static void test_repair_replaces_maximal_subparts(void **state)
{
    (void)state;
    const char in[] = "\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64";
    check_repair(in, sizeof in - 1, "a" FFFD FFFD FFFD "b" FFFD "c" FFFD FFFD "d");
    check_repair("\xC0\xAF", 2, FFFD FFFD);
    check_repair("\xF4\x90\x80\x80", 4, FFFD FFFD FFFD FFFD);
    check_repair("x\xE2\x82", 3, "x" FFFD);
    check_repair("", 0, "");
    check_repair_n("nul\0inside", 10, "nul\0inside", 10); /* NUL is valid UTF-8 */
}

static void test_clean_line_escapes_controls_and_folds_newlines(void **state)
{
    (void)state;
    char out[128];
    text_clean_line("a\x1b[2Jb\tc\nd\re\x7f"
                    "f\xC2\x9B"
                    "g\xFFh",
                    out, sizeof out);
    assert_string_equal(out, "a\\x1b[2Jb\tc d e\\x7ff\\u009bg" FFFD "h");
    /* Truncation never splits a character or an escape. */
    char small[6];
    assert_int_equal(text_clean_line("ab\xC3\xA9\xC3\xA9", small, sizeof small), 4);
    assert_string_equal(small, "ab\xC3\xA9");
    assert_int_equal(text_clean_line("abc\x01", small, sizeof small), 3);
    assert_string_equal(small, "abc");
    char one[1];
    assert_int_equal(text_clean_line("anything", one, sizeof one), 0);
    assert_string_equal(one, "");
}

/* Total on any bytes: random input always repairs to valid UTF-8 and cleans to a line. */
static void test_random_bytes(void **state)
{
    (void)state;
    unsigned seed = 12345;
    char in[64], line[256];
    for (int round = 0; round < 20000; round++) {
        size_t len = (size_t)(rand_r(&seed) % 63);
        for (size_t i = 0; i < len; i++)
            in[i] = (char)(rand_r(&seed) % 7 == 0 ? rand_r(&seed) % 32 : rand_r(&seed) % 256);
        in[len] = '\0';
        size_t out_len;
        char *out = utf8_repair(in, len, &out_len);
        assert_non_null(out);
        assert_int_equal(utf8_valid_prefix(out, out_len), out_len);
        free(out);
        size_t n = text_clean_line(in, line, sizeof line);
        assert_int_equal(utf8_valid_prefix(line, n), n);
        for (size_t i = 0; i < n; i++)
            assert_true((unsigned char)line[i] >= 0x20 || line[i] == '\t');
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_prefix_stops_at_the_first_invalid_sequence),
        cmocka_unit_test(test_repair_replaces_maximal_subparts),
        cmocka_unit_test(test_clean_line_escapes_controls_and_folds_newlines),
        cmocka_unit_test(test_random_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
