/*
 * The supervisor <-> worker channel (host_stub/shared/ipc.c) on a real
 * SOCK_SEQPACKET pair: fields round-trip, a reader never goes past a
 * message, and a peer that exits is read to its last message before the
 * end of file, even when it left messages of ours unread.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "ipc.h"

static int pair_setup(void **state)
{
    static int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
        return -1;
    *state = sv;
    return 0;
}

static int pair_teardown(void **state)
{
    int *sv = *state;
    close(sv[0]);
    if (sv[1] >= 0)
        close(sv[1]);
    return 0;
}

static void send_log(int fd, const char *text)
{
    unsigned char buf[256];
    ipc_msg m;
    ipc_begin(&m, buf, sizeof buf, IPC_LOG);
    ipc_put_int(&m, 2);
    ipc_put_str(&m, "plugin x/y");
    ipc_put_str(&m, text);
    assert_int_equal(ipc_send(fd, &m), 0);
}

static void test_fields_round_trip(void **state)
{
    int *sv = *state;
    send_log(sv[1], "hello");
    static unsigned char buf[IPC_MAX_MESSAGE];
    ipc_msg m;
    ipc_reader(&m, buf, sizeof buf);
    assert_int_equal(ipc_recv(sv[0], &m, true), 1);
    assert_int_equal(ipc_type_of(&m), IPC_LOG);
    assert_int_equal(ipc_get_int(&m), 2);
    assert_string_equal(ipc_get_str(&m), "plugin x/y");
    assert_string_equal(ipc_get_str(&m), "hello");
    assert_false(m.bad);
    /* Past the last field: nothing is read, the message is marked bad. */
    assert_string_equal(ipc_get_str(&m), "");
    assert_true(m.bad);
    assert_int_equal(ipc_recv(sv[0], &m, true), -1);
    assert_int_equal(errno, EAGAIN);
}

static void test_a_field_of_the_wrong_kind_is_bad(void **state)
{
    int *sv = *state;
    send_log(sv[1], "text");
    unsigned char buf[512];
    ipc_msg m;
    ipc_reader(&m, buf, sizeof buf);
    assert_int_equal(ipc_recv(sv[0], &m, true), 1);
    assert_string_equal(ipc_get_str(&m), ""); /* an int comes first */
    assert_true(m.bad);
    assert_int_equal(ipc_get_int(&m), 0);
}

static void test_a_put_that_does_not_fit_is_not_sent(void **state)
{
    int *sv = *state;
    unsigned char buf[16];
    ipc_msg m;
    ipc_begin(&m, buf, sizeof buf, IPC_LOG);
    ipc_put_str(&m, "a string longer than sixteen bytes");
    assert_true(m.bad);
    assert_int_equal(ipc_send(sv[1], &m), -1);
    assert_int_equal(errno, EMSGSIZE);
    ipc_msg in;
    unsigned char inbuf[64];
    ipc_reader(&in, inbuf, sizeof inbuf);
    assert_int_equal(ipc_recv(sv[0], &in, true), -1);
    assert_int_equal(errno, EAGAIN);
}

static void test_a_message_larger_than_the_buffer_is_refused(void **state)
{
    int *sv = *state;
    send_log(sv[1], "this message is longer than the reader's buffer");
    unsigned char buf[24];
    ipc_msg m;
    ipc_reader(&m, buf, sizeof buf);
    assert_int_equal(ipc_recv(sv[0], &m, true), -1);
    assert_int_equal(errno, EMSGSIZE);
    assert_int_equal(m.len, 0);
}

/*
 * The worker whose init fails: it answers, then exits without reading the
 * POLL already queued for it. Linux then fails the next recv with
 * ECONNRESET before the answer; the reader must still get the answer.
 */
static void test_a_peer_that_exits_leaving_ours_unread_is_read_to_the_end(void **state)
{
    int *sv = *state;
    unsigned char out[64];
    ipc_msg poll_msg;
    ipc_begin(&poll_msg, out, sizeof out, IPC_POLL);
    ipc_put_int(&poll_msg, -1);
    assert_int_equal(ipc_send(sv[0], &poll_msg), 0); /* never read by the peer */
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        close(sv[0]);
        send_log(sv[1], "first");
        send_log(sv[1], "last words");
        _exit(0);
    }
    close(sv[1]);
    sv[1] = -1;
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    unsigned char buf[256];
    ipc_msg m;
    ipc_reader(&m, buf, sizeof buf);
    assert_int_equal(ipc_recv(sv[0], &m, true), 1);
    ipc_get_int(&m);
    ipc_get_str(&m);
    assert_string_equal(ipc_get_str(&m), "first");
    assert_int_equal(ipc_recv(sv[0], &m, true), 1);
    ipc_get_int(&m);
    ipc_get_str(&m);
    assert_string_equal(ipc_get_str(&m), "last words");
    assert_int_equal(ipc_recv(sv[0], &m, true), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fields_round_trip, pair_setup, pair_teardown),
        cmocka_unit_test_setup_teardown(test_a_field_of_the_wrong_kind_is_bad, pair_setup,
                                        pair_teardown),
        cmocka_unit_test_setup_teardown(test_a_put_that_does_not_fit_is_not_sent, pair_setup,
                                        pair_teardown),
        cmocka_unit_test_setup_teardown(test_a_message_larger_than_the_buffer_is_refused,
                                        pair_setup, pair_teardown),
        cmocka_unit_test_setup_teardown(
            test_a_peer_that_exits_leaving_ours_unread_is_read_to_the_end, pair_setup,
            pair_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
