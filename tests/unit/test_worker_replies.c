/*
 * A poll's answer as the supervisor takes it (worker_read in
 * supervisor/worker_proc.c), over a real SOCK_SEQPACKET pair: the worker
 * shares its process with plugin code, so a POLL_DONE must carry the nonce
 * of the POLL it answers, and its counts are kept only when plausible.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "channel.h"
#include "log.h"
#include "worker_proc.h"

#define NONCE 0x5eed1234abcdLL

static char logged[4096];

static void keep_line(void *userdata, pa_log_level level, const char *line)
{
    (void)userdata, (void)level;
    size_t used = strlen(logged);
    snprintf(logged + used, sizeof logged - used, "%s\n", line);
}

typedef struct pair {
    int worker_end;
    worker_proc *w;
} pair;

/* A ready worker waiting for the answer to the POLL that carried NONCE. */
static int ready_worker(void **state)
{
    static pair p;
    int sv[2];
    if (ipc_channel_pair(sv) != 0)
        return -1;
    p.worker_end = sv[0];
    p.w = calloc(1, sizeof *p.w);
    if (!p.w)
        return -1;
    *p.w = (worker_proc){
        .pid = -1, .channel = sv[1], .output = -1, .stage = WORKER_READY, .poll_nonce = NONCE};
    ipc_reader(&p.w->in, p.w->buf, sizeof p.w->buf);
    snprintf(p.w->source, sizeof p.w->source, "plugin test/replies");
    logged[0] = '\0';
    log_set_sink(keep_line, NULL);
    *state = &p;
    return 0;
}

static int close_worker(void **state)
{
    pair *p = *state;
    close(p->worker_end);
    worker_free(p->w); /* closes its end; pid -1: nothing to kill */
    log_set_sink(NULL, NULL);
    return 0;
}

/* What worker_read makes of one POLL_DONE with these fields. */
static worker_event answer(pair *p, int64_t nonce, int64_t items, int64_t requests,
                           worker_poll_result *res)
{
    channel_msg m = {.type = IPC_POLL_DONE,
                     .u.poll_done = {.rc = 0,
                                     .message = "",
                                     .not_before_ms = 0,
                                     .items = items,
                                     .http_requests = requests,
                                     .longest_hold_ns = 0,
                                     .pool_stats = "",
                                     .nonce = nonce}};
    assert_int_equal(channel_send(p->worker_end, &m), 0);
    memset(res, 0, sizeof *res);
    return worker_read(p->w, res);
}

/* A POLL_DONE with the poll's nonce and these counts ends the poll with them, unremarked. */
static void assert_answer_kept(pair *p, int64_t items, int64_t requests)
{
    worker_poll_result res;
    assert_int_equal(answer(p, NONCE, items, requests, &res), WORKER_POLL_DONE);
    assert_int_equal(res.items, items);
    assert_int_equal(res.http_requests, requests);
    assert_string_equal(logged, "");
}

static void test_the_poll_answered_with_its_nonce_ends(void **state)
{
    assert_answer_kept(*state, 5, 2);
}

/* A plugin's thread writing a POLL_DONE of its own to the channel: the worker is dropped. */
static void test_a_poll_done_without_the_nonce_drops_the_worker(void **state)
{
    pair *p = *state;
    worker_poll_result res;
    assert_int_equal(answer(p, NONCE + 1, 1, 0, &res), WORKER_GONE);
    assert_non_null(strstr(p->w->gone_why, "the nonce does not match"));
    assert_int_equal(answer(p, 0, 1, 0, &res), WORKER_GONE);
}

static void test_implausible_counts_are_counted_as_zero(void **state)
{
    worker_poll_result res;
    assert_int_equal(answer(*state, NONCE, 2000000000002LL, -1, &res), WORKER_POLL_DONE);
    assert_int_equal(res.items, 0);
    assert_int_equal(res.http_requests, 0);
    assert_non_null(strstr(logged, "the worker reported 2000000000002 items for one poll, "
                                   "outside 0..100000000; counted as 0"));
    assert_non_null(strstr(logged, "the worker reported -1 HTTP requests for one poll, outside "
                                   "0..10000000; counted as 0"));
}

static void test_the_largest_plausible_counts_are_kept(void **state)
{
    assert_answer_kept(*state, 100000000, 10000000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_the_poll_answered_with_its_nonce_ends, ready_worker,
                                        close_worker),
        cmocka_unit_test_setup_teardown(test_a_poll_done_without_the_nonce_drops_the_worker,
                                        ready_worker, close_worker),
        cmocka_unit_test_setup_teardown(test_implausible_counts_are_counted_as_zero, ready_worker,
                                        close_worker),
        cmocka_unit_test_setup_teardown(test_the_largest_plausible_counts_are_kept, ready_worker,
                                        close_worker),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
