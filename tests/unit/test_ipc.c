/*
 * The supervisor <-> worker channel (host_stub/shared/ipc.c) on a real pair,
 * in both framings whatever this build uses (SOCK_SEQPACKET packets, and the
 * framed stream macOS and PA_PORTABLE builds use): fields round-trip, a
 * reader never goes past a message, and a peer that exits is read to its
 * last message before the end of file, even when it left messages of ours
 * unread. For the stream: a frame that comes in parts is put together
 * without blocking, and a bad length or an end inside a frame is an error.
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

typedef struct channel {
    int sv[2];
    ipc_framing framing;
} channel;

static int pair_setup(void **state, ipc_framing framing)
{
    static channel c;
    c.framing = framing;
    if (ipc_channel_pair_as(framing, c.sv) != 0)
        return -1;
    *state = &c;
    return 0;
}

static int packets_setup(void **state)
{
    return pair_setup(state, IPC_FRAMING_PACKETS);
}

static int stream_setup(void **state)
{
    return pair_setup(state, IPC_FRAMING_STREAM);
}

static int pair_teardown(void **state)
{
    channel *c = *state;
    close(c->sv[0]);
    if (c->sv[1] >= 0)
        close(c->sv[1]);
    return 0;
}

static void send_log(const channel *c, int fd, const char *text)
{
    unsigned char buf[256];
    ipc_msg m;
    ipc_begin(&m, buf, sizeof buf, IPC_LOG);
    ipc_put_int(&m, 2);
    ipc_put_str(&m, "plugin x/y");
    ipc_put_str(&m, text);
    assert_int_equal(ipc_send_as(c->framing, fd, &m), 0);
}

static void test_fields_round_trip(void **state)
{
    channel *c = *state;
    int *sv = c->sv;
    send_log(c, sv[1], "hello");
    static unsigned char buf[IPC_MAX_MESSAGE];
    ipc_msg m;
    ipc_reader(&m, buf, sizeof buf);
    assert_int_equal(ipc_recv_as(c->framing, sv[0], &m, true), 1);
    assert_int_equal(ipc_type_of(&m), IPC_LOG);
    assert_int_equal(ipc_get_int(&m), 2);
    assert_string_equal(ipc_get_str(&m), "plugin x/y");
    assert_string_equal(ipc_get_str(&m), "hello");
    assert_false(m.bad);
    /* Past the last field: nothing is read, the message is marked bad. */
    assert_string_equal(ipc_get_str(&m), "");
    assert_true(m.bad);
    assert_int_equal(ipc_recv_as(c->framing, sv[0], &m, true), -1);
    assert_int_equal(errno, EAGAIN);
}

static void test_a_field_of_the_wrong_kind_is_bad(void **state)
{
    channel *c = *state;
    int *sv = c->sv;
    send_log(c, sv[1], "text");
    unsigned char buf[512];
    ipc_msg m;
    ipc_reader(&m, buf, sizeof buf);
    assert_int_equal(ipc_recv_as(c->framing, sv[0], &m, true), 1);
    assert_string_equal(ipc_get_str(&m), ""); /* an int comes first */
    assert_true(m.bad);
    assert_int_equal(ipc_get_int(&m), 0);
}

static void test_a_put_that_does_not_fit_is_not_sent(void **state)
{
    channel *c = *state;
    int *sv = c->sv;
    unsigned char buf[16];
    ipc_msg m;
    ipc_begin(&m, buf, sizeof buf, IPC_LOG);
    ipc_put_str(&m, "a string longer than sixteen bytes");
    assert_true(m.bad);
    assert_int_equal(ipc_send_as(c->framing, sv[1], &m), -1);
    assert_int_equal(errno, EMSGSIZE);
    ipc_msg in;
    unsigned char inbuf[64];
    ipc_reader(&in, inbuf, sizeof inbuf);
    assert_int_equal(ipc_recv_as(c->framing, sv[0], &in, true), -1);
    assert_int_equal(errno, EAGAIN);
}

static void test_a_message_larger_than_the_buffer_is_refused(void **state)
{
    channel *c = *state;
    int *sv = c->sv;
    send_log(c, sv[1], "this message is longer than the reader's buffer");
    unsigned char buf[24];
    ipc_msg m;
    ipc_reader(&m, buf, sizeof buf);
    assert_int_equal(ipc_recv_as(c->framing, sv[0], &m, true), -1);
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
    channel *c = *state;
    int *sv = c->sv;
    unsigned char out[64];
    ipc_msg poll_msg;
    ipc_begin(&poll_msg, out, sizeof out, IPC_POLL);
    ipc_put_int(&poll_msg, -1);
    assert_int_equal(ipc_send_as(c->framing, sv[0], &poll_msg), 0); /* never read by the peer */
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        close(sv[0]);
        send_log(c, sv[1], "first");
        send_log(c, sv[1], "last words");
        _exit(0);
    }
    close(sv[1]);
    sv[1] = -1;
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    unsigned char buf[256];
    ipc_msg m;
    ipc_reader(&m, buf, sizeof buf);
    assert_int_equal(ipc_recv_as(c->framing, sv[0], &m, true), 1);
    ipc_get_int(&m);
    ipc_get_str(&m);
    assert_string_equal(ipc_get_str(&m), "first");
    assert_int_equal(ipc_recv_as(c->framing, sv[0], &m, true), 1);
    ipc_get_int(&m);
    ipc_get_str(&m);
    assert_string_equal(ipc_get_str(&m), "last words");
    assert_int_equal(ipc_recv_as(c->framing, sv[0], &m, true), 0);
}

/* A frame's length, as the stream framing writes it before the message. */
static void write_length(int fd, uint32_t len)
{
    assert_int_equal(write(fd, &len, sizeof len), (ssize_t)sizeof len);
}

static void test_a_frame_in_parts_is_put_together_without_blocking(void **state)
{
    channel *c = *state;
    unsigned char out[64];
    ipc_msg m;
    ipc_begin(&m, out, sizeof out, IPC_POLL);
    ipc_put_int(&m, 42);
    unsigned char buf[64];
    ipc_msg in;
    ipc_reader(&in, buf, sizeof buf);
    /* Two bytes of the length, then the rest of it and half the message, then the rest. */
    uint32_t len = (uint32_t)m.len;
    unsigned char whole[4 + 64];
    memcpy(whole, &len, 4);
    memcpy(whole + 4, out, m.len);
    size_t cuts[] = {2, 4 + m.len / 2, 4 + m.len};
    size_t at = 0;
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(write(c->sv[1], whole + at, cuts[i] - at), (ssize_t)(cuts[i] - at));
        at = cuts[i];
        if (i < 2) {
            assert_int_equal(ipc_recv_as(c->framing, c->sv[0], &in, true), -1);
            assert_int_equal(errno, EAGAIN);
        }
    }
    assert_int_equal(ipc_recv_as(c->framing, c->sv[0], &in, true), 1);
    assert_int_equal(ipc_type_of(&in), IPC_POLL);
    assert_int_equal(ipc_get_int(&in), 42);
    assert_true(ipc_at_end(&in));
}

static void test_a_zero_or_oversized_length_is_refused(void **state)
{
    channel *c = *state;
    unsigned char buf[64];
    ipc_msg in;
    ipc_reader(&in, buf, sizeof buf);
    write_length(c->sv[1], 0);
    assert_int_equal(ipc_recv_as(c->framing, c->sv[0], &in, true), -1);
    assert_int_equal(errno, EMSGSIZE);
    write_length(c->sv[1], (uint32_t)IPC_MAX_MESSAGE + 1);
    assert_int_equal(ipc_recv_as(c->framing, c->sv[0], &in, true), -1);
    assert_int_equal(errno, EMSGSIZE);
}

static void test_an_end_inside_a_frame_is_an_error(void **state)
{
    channel *c = *state;
    write_length(c->sv[1], 10);
    assert_int_equal(write(c->sv[1], "abc", 3), 3);
    close(c->sv[1]);
    c->sv[1] = -1;
    unsigned char buf[64];
    ipc_msg in;
    ipc_reader(&in, buf, sizeof buf);
    assert_int_equal(ipc_recv_as(c->framing, c->sv[0], &in, true), -1);
    assert_int_equal(errno, EPROTO);
}

/* Each test in both framings. */
#define BOTH(test)                                                                                 \
    cmocka_unit_test_setup_teardown(test, packets_setup, pair_teardown),                           \
        cmocka_unit_test_setup_teardown(test, stream_setup, pair_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_fields_round_trip),
        BOTH(test_a_field_of_the_wrong_kind_is_bad),
        BOTH(test_a_put_that_does_not_fit_is_not_sent),
        BOTH(test_a_message_larger_than_the_buffer_is_refused),
        BOTH(test_a_peer_that_exits_leaving_ours_unread_is_read_to_the_end),
        cmocka_unit_test_setup_teardown(test_a_frame_in_parts_is_put_together_without_blocking,
                                        stream_setup, pair_teardown),
        cmocka_unit_test_setup_teardown(test_a_zero_or_oversized_length_is_refused, stream_setup,
                                        pair_teardown),
        cmocka_unit_test_setup_teardown(test_an_end_inside_a_frame_is_an_error, stream_setup,
                                        pair_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
