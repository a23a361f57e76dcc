/*
 * Fuzz target: the supervisor <-> worker channel's reader (shared/ipc.c). The
 * worker shares its process with plugin code, so the supervisor must be total
 * on any bytes a worker sends. Each input goes through a real SOCK_SEQPACKET
 * pair and ipc_recv, then is read as every message type's field list
 * (ints and strings, as the two sides read them). Properties: no read past
 * the message; every string ends inside it; and a message read without
 * error is exactly what ipc_put writes for the same fields (the encoding
 * round-trips).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "ipc.h"

/* Each type's fields, as the readers take them: 'i' an int, 's' a string. */
static const char *layout(int type)
{
    switch (type) {
    case IPC_HELLO:
        return "isss";
    case IPC_LOAD_FAILED:
        return "s";
    case IPC_INIT:
        return "ssssiiiii"; /* name, id, object, db path; five ints */
    case IPC_INIT_DONE:
        return "iss";
    case IPC_POLL:
        return "i";
    case IPC_POLL_DONE:
        return "isiiis";
    case IPC_LOG:
        return "iss";
    case IPC_BYE:
        return "s";
    default:
        return "";
    }
}

static void check_message(ipc_msg *m)
{
    const char *fields = layout(ipc_type_of(m));
    unsigned char out[IPC_MAX_MESSAGE];
    ipc_msg again;
    ipc_begin(&again, out, sizeof out, (ipc_type)ipc_type_of(m));
    for (const char *f = fields; *f; f++) {
        if (*f == 'i') {
            ipc_put_int(&again, ipc_get_int(m));
        } else {
            const char *s = ipc_get_str(m);
            const char *end = (const char *)m->buf + m->len;
            if (!m->bad) /* a string handed out lies, with its NUL, inside the message */
                FUZZ_CHECK(s > (const char *)m->buf && s < end && s + strlen(s) < end);
            ipc_put_str(&again, s);
        }
    }
    FUZZ_CHECK(m->pos <= m->len);
    if (!m->bad && *fields) /* what was read is what the writer would have sent */
        FUZZ_CHECK(again.len == m->pos && memcmp(out, m->buf, again.len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > IPC_MAX_MESSAGE)
        return 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
        return 0;
    int sndbuf = IPC_MAX_MESSAGE * 2;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    if (send(sv[0], data, size, MSG_NOSIGNAL) == (ssize_t)size) {
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
    return 0;
}
