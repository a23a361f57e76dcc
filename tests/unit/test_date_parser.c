/* Unit tests for Granola's date formats. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "date_parser.h"

static int64_t parse_ok(const char *text)
{
    int64_t ms = 0;
    if (!gr_parse_date(text, strlen(text), &ms))
        fail_msg("could not parse '%s'", text);
    return ms;
}

static void parse_fails(const char *text)
{
    int64_t ms = 0;
    if (gr_parse_date(text, strlen(text), &ms))
        fail_msg("'%s' should not parse", text);
}

/* 2026-02-12T20:30:00Z */
#define FEB12_2030Z 1770928200000LL

static void test_iso_forms(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("2026-02-12T20:30:00Z"), FEB12_2030Z);
    assert_int_equal(parse_ok("2026-02-12T20:30:00.123Z"), FEB12_2030Z);
    assert_int_equal(parse_ok("2026-02-12T20:30Z"), FEB12_2030Z);
    assert_int_equal(parse_ok("2026-02-12 20:30:00"), FEB12_2030Z);
    assert_int_equal(parse_ok("2026-02-12T12:30:00-08:00"), FEB12_2030Z);
    assert_int_equal(parse_ok("2026-02-13T02:00:00+0530"), FEB12_2030Z);
    assert_int_equal(parse_ok("2026-02-12T21:30:00+01"), FEB12_2030Z);
    assert_int_equal(parse_ok("  2026-02-12T20:30:00Z \n"), FEB12_2030Z);
    assert_int_equal(parse_ok("2026-02-12"), FEB12_2030Z - (20 * 3600 + 30 * 60) * 1000LL);
    assert_int_equal(parse_ok("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(parse_ok("2024-02-29T00:00:00Z"), 1709164800000LL);
}

static void test_human_forms(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("Feb 12, 2026 8:30 PM"), FEB12_2030Z);
    assert_int_equal(parse_ok("February 12, 2026 8:30 pm"), FEB12_2030Z);
    assert_int_equal(parse_ok("Feb 12, 2026 12:30 PM PST"), FEB12_2030Z);
    assert_int_equal(parse_ok("Feb 12, 2026 20:30"), FEB12_2030Z);
    assert_int_equal(parse_ok("Feb 12 2026 8:30PM"), FEB12_2030Z);
    assert_int_equal(parse_ok("Feb 12, 2026 12:00 AM"),
                     FEB12_2030Z - (20 * 3600 + 30 * 60) * 1000LL);
    /* Sep 15, 2026 2:20 PM PDT = 21:20 UTC */
    assert_int_equal(parse_ok("Sep 15, 2026 2:20 PM PDT"), 1789507200000LL);
    assert_int_equal(parse_ok("Sept 15, 2026 2:20 PM PDT"), 1789507200000LL);
    assert_int_equal(parse_ok("Feb 12, 2026"), FEB12_2030Z - (20 * 3600 + 30 * 60) * 1000LL);
}

static void test_garbage_is_rejected(void **state)
{
    (void)state;
    const char *bad[] = {"",
                         "   ",
                         "yesterday",
                         "2026-13-01",
                         "2026-02-30T00:00:00Z",
                         "2025-02-29",
                         "2026-02-12T25:00:00Z",
                         "2026-02-12T20:30:00+25:00",
                         "2026-02-12T20:30:00Q",
                         "2026-02-12T",
                         "2026-2-12",
                         "Feb 12, 2026 8:30 PM XYZ",
                         "Feb 12, 2026 13:30 PM",
                         "Feb 12, 2026 0:30 AM",
                         "Fe 12, 2026",
                         "Feb 2026",
                         "Feb 12, 26",
                         "Febr 12, 2026",
                         "2026-02-12T20:30:00.Z"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        parse_fails(bad[i]);
    int64_t ms;
    assert_false(gr_parse_date(NULL, 0, &ms));
}

static void test_length_is_respected(void **state)
{
    (void)state;
    int64_t ms;
    /* Only the first 10 bytes are the date; what follows must not be read. */
    assert_true(gr_parse_date("2026-02-12T99:99", 10, &ms));
    assert_int_equal(ms, FEB12_2030Z - (20 * 3600 + 30 * 60) * 1000LL);
    assert_false(gr_parse_date("2026-02-12", 9, &ms));
}

static void test_civil_days(void **state)
{
    (void)state;
    assert_int_equal(gr_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(gr_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(gr_days_from_civil(1969, 12, 31), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iso_forms),           cmocka_unit_test(test_human_forms),
        cmocka_unit_test(test_garbage_is_rejected), cmocka_unit_test(test_length_is_respected),
        cmocka_unit_test(test_civil_days),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
