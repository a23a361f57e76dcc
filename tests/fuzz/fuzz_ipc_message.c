/*
 * Fuzz target: the supervisor <-> worker channel's decoder (shared/channel.c
 * over shared/ipc.c). The worker shares its process with plugin code, so the
 * supervisor must be total on any bytes a worker sends. Each input goes
 * through a real channel pair of this build's framing (ipc.h) and ipc_recv,
 * then channel_decode.
 * Properties: no read past the message; every string handed out ends inside
 * it; and a message that decodes is exactly what channel_encode writes for
 * what was decoded (the codec round-trips, so both sides agree on it).
 *
 * Then the same bytes, unframed, down a stream pair (the framing of
 * platforms without SOCK_SEQPACKET, whatever this build's is), its writer
 * closed: the reader takes them as lengths and bodies, and must end, with
 * every message it hands out inside the bytes sent, and no more than them.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "channel.h"
#include "ipc.h"

/* Every string a decoded message hands out lies, with its NUL, inside the received bytes. */
static void check_inside(const ipc_msg *m, const char *str)
{
    const char *start = (const char *)m->buf, *end = start + m->len;
    FUZZ_CHECK(str > start && str < end && str + strlen(str) < end);
}

#define CHECK_INT(name)
#define CHECK_STR(name)         check_inside(m, v->name);
#define CHECK_FIELD(kind, name) CHECK_##kind(name)
#define CHECK_MESSAGE(member, FIELDS)                                                              \
    static void check_##member(const ipc_msg *m, const msg_##member *v)                            \
    {                                                                                              \
        (void)m, (void)v;                                                                          \
        FIELDS(CHECK_FIELD)                                                                        \
    }
CHECK_MESSAGE(hello, CHANNEL_HELLO_FIELDS)
CHECK_MESSAGE(load_failed, CHANNEL_LOAD_FAILED_FIELDS)
CHECK_MESSAGE(init, CHANNEL_INIT_FIELDS)
CHECK_MESSAGE(init_done, CHANNEL_INIT_DONE_FIELDS)
CHECK_MESSAGE(poll, CHANNEL_POLL_FIELDS)
CHECK_MESSAGE(poll_done, CHANNEL_POLL_DONE_FIELDS)
CHECK_MESSAGE(log, CHANNEL_LOG_FIELDS)
CHECK_MESSAGE(bye, CHANNEL_BYE_FIELDS)

static void check_strings(const ipc_msg *m, const channel_msg *c)
{
    switch (c->type) {
    case IPC_HELLO:
        check_hello(m, &c->u.hello);
        break;
    case IPC_LOAD_FAILED:
        check_load_failed(m, &c->u.load_failed);
        break;
    case IPC_INIT:
        check_init(m, &c->u.init);
        break;
    case IPC_INIT_DONE:
        check_init_done(m, &c->u.init_done);
        break;
    case IPC_POLL:
        check_poll(m, &c->u.poll);
        break;
    case IPC_POLL_DONE:
        check_poll_done(m, &c->u.poll_done);
        break;
    case IPC_LOG:
        check_log(m, &c->u.log);
        break;
    case IPC_BYE:
        check_bye(m, &c->u.bye);
        break;
    default:
        break;
    }
}

static void check_message(ipc_msg *m)
{
    channel_msg c;
    if (!channel_decode(m, &c)) {
        FUZZ_CHECK(m->pos <= m->len);
        return;
    }
    check_strings(m, &c);
    /* What was decoded is exactly what the encoder writes for it: the codec round-trips. */
    static unsigned char out[IPC_MAX_MESSAGE];
    ipc_msg again;
    channel_encode(&c, out, sizeof out, &again);
    FUZZ_CHECK(!again.bad && again.len == m->len && memcmp(out, m->buf, m->len) == 0);
}

/* The input as raw stream bytes: frames read from them, then an end or an error, never a hang. */
static void read_raw_stream(const uint8_t *data, size_t size)
{
    int sv[2];
    if (ipc_channel_pair_as(IPC_FRAMING_STREAM, sv) != 0)
        return;
    /* The pair holds the largest message unread, and size is at most that: this does not wait. */
    size_t sent = 0;
    while (sent < size) {
        ssize_t n = write(sv[0], data + sent, size - sent);
        if (n <= 0)
            break;
        sent += (size_t)n;
    }
    close(sv[0]);
    unsigned char *buf = malloc(IPC_MAX_MESSAGE);
    ipc_msg m;
    ipc_reader(&m, buf, IPC_MAX_MESSAGE);
    size_t taken = 0;
    while (buf && ipc_recv_as(IPC_FRAMING_STREAM, sv[1], &m, false) == 1) {
        FUZZ_CHECK(m.len > 0 && m.len <= IPC_MAX_MESSAGE);
        taken += 4 + m.len;
        FUZZ_CHECK(taken <= sent);
        FUZZ_CHECK(memcmp(m.buf, data + taken - m.len, m.len) == 0);
        ipc_reader(&m, buf, IPC_MAX_MESSAGE);
    }
    free(buf);
    close(sv[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > IPC_MAX_MESSAGE)
        return 0;
    int sv[2];
    if (ipc_channel_pair(sv) != 0)
        return 0;
    int sndbuf = IPC_MAX_MESSAGE * 2;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    ipc_msg raw = {.buf = (unsigned char *)(uintptr_t)data, .cap = size, .len = size};
    if (ipc_send(sv[0], &raw) == 0) {
        /* A buffer of exactly the message's size: the sanitizer sees any overread. */
        unsigned char *buf = malloc(size);
        ipc_msg m;
        ipc_reader(&m, buf, size);
        if (buf && ipc_recv(sv[1], &m, true) == 1) {
            FUZZ_CHECK(m.len == size && ipc_type_of(&m) == data[0]);
            check_message(&m);
        }
        free(buf);
    }
    close(sv[0]);
    close(sv[1]);
    read_raw_stream(data, size);
    return 0;
}
