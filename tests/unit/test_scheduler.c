/* Unit tests for the poll schedule: doubling backoff, cap, reset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "scheduler.h"

static void test_first_poll_is_due_at_once(void **state)
{
    (void)state;
    sched_entry e;
    sched_start(&e, 5000, 900000);
    assert_int_equal(e.next_due_ms, 5000);
    assert_int_equal(sched_on_success(&e, 6000), 0);
    assert_int_equal(e.next_due_ms, 6000 + 900000);
}

static void test_failures_double_the_delay_up_to_the_cap(void **state)
{
    (void)state;
    sched_entry e;
    sched_start(&e, 0, 900000);
    const int64_t cap = 3 * 3600 * 1000;
    assert_int_equal(sched_on_failure(&e, 0, cap), 1800000);
    assert_int_equal(sched_on_failure(&e, 0, cap), 3600000);
    assert_int_equal(sched_on_failure(&e, 0, cap), 7200000);
    assert_int_equal(sched_on_failure(&e, 0, cap), cap);
    assert_int_equal(sched_on_failure(&e, 100, cap), cap);
    assert_int_equal(e.next_due_ms, 100 + cap);
    assert_int_equal(e.failures, 5);
}

static void test_success_resets_the_interval(void **state)
{
    (void)state;
    sched_entry e;
    sched_start(&e, 0, 900000);
    sched_on_failure(&e, 0, 86400000);
    sched_on_failure(&e, 0, 86400000);
    assert_int_equal(sched_on_success(&e, 10), 2);
    assert_int_equal(e.delay_ms, 900000);
    assert_int_equal(e.next_due_ms, 10 + 900000);
    assert_int_equal(sched_on_failure(&e, 0, 86400000), 1800000);
}

static void test_cap_below_interval_keeps_interval(void **state)
{
    (void)state;
    sched_entry e;
    sched_start(&e, 0, 900000);
    assert_int_equal(sched_on_failure(&e, 0, 1000), 900000);
}

static void test_not_before_pushes_the_next_poll(void **state)
{
    (void)state;
    sched_entry e;
    sched_start(&e, 0, 1000);
    sched_on_success(&e, 0);
    sched_not_before(&e, 5000);
    assert_int_equal(e.next_due_ms, 5000);
    sched_not_before(&e, 10);
    assert_int_equal(e.next_due_ms, 5000);
}

/* The poll policy: backoff and a plugin's deferral merged, the deferral capped. */
static void test_after_poll_merges_backoff_and_deferral(void **state)
{
    (void)state;
    const int64_t interval = 900000, cap = 86400000;
    sched_entry e;
    unsigned ended = 99;
    sched_start(&e, 0, interval);

    /* Success without deferral: the interval. */
    assert_int_equal(sched_after_poll(&e, true, 1000, cap, 0, &ended), interval);
    assert_int_equal(ended, 0);
    assert_int_equal(e.next_due_ms, 1000 + interval);

    /* Failure with a shorter deferral: the backoff wins. */
    assert_int_equal(sched_after_poll(&e, false, 2000, cap, 2000 + 60000, NULL), 2 * interval);
    /* Failure with a longer deferral: the deferral wins. */
    assert_int_equal(sched_after_poll(&e, false, 3000, cap, 3000 + 7200000, NULL), 7200000);
    assert_int_equal(e.failures, 2);

    /* A deferral past the cap (Retry-After: 99999999999) stops at the cap. */
    assert_int_equal(sched_after_poll(&e, false, 4000, cap, INT64_MAX, NULL), cap);
    assert_int_equal(e.next_due_ms, 4000 + cap);

    /* Success after failures: reset, the failures it ended reported, a deferral still honoured. */
    assert_int_equal(sched_after_poll(&e, true, 5000, cap, 5000 + 2 * interval, &ended),
                     2 * interval);
    assert_int_equal(ended, 3);
    assert_int_equal(e.failures, 0);
    assert_int_equal(e.delay_ms, interval);

    /* A deferral already in the past changes nothing. */
    assert_int_equal(sched_after_poll(&e, true, 6000, cap, 10, NULL), interval);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_poll_is_due_at_once),
        cmocka_unit_test(test_failures_double_the_delay_up_to_the_cap),
        cmocka_unit_test(test_success_resets_the_interval),
        cmocka_unit_test(test_cap_below_interval_keeps_interval),
        cmocka_unit_test(test_not_before_pushes_the_next_poll),
        cmocka_unit_test(test_after_poll_merges_backoff_and_deferral),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
