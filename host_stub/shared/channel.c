#include "channel.h"

#include <errno.h>
#include <stdlib.h>

#define PUT_INT(m, v) ipc_put_int(m, v)
#define PUT_STR(m, v) ipc_put_str(m, (v) ? (v) : "")
#define GET_INT(m)    ipc_get_int(m)
#define GET_STR(m)    ipc_get_str(m)

#define ENCODE_FIELD(kind, name) PUT_##kind(out, v->name);
#define DECODE_FIELD(kind, name) v->name = GET_##kind(in);

/* One encoder and one decoder per message type, from its field list. */
#define CHANNEL_CODEC(member, FIELDS)                                                              \
    static void encode_##member(ipc_msg *out, const msg_##member *v)                               \
    {                                                                                              \
        (void)out, (void)v;                                                                        \
        FIELDS(ENCODE_FIELD)                                                                       \
    }                                                                                              \
    static void decode_##member(ipc_msg *in, msg_##member *v)                                      \
    {                                                                                              \
        (void)in, (void)v;                                                                         \
        FIELDS(DECODE_FIELD)                                                                       \
    }

typedef struct msg_shutdown {
    char unused;
} msg_shutdown;

CHANNEL_CODEC(hello, CHANNEL_HELLO_FIELDS)
CHANNEL_CODEC(load_failed, CHANNEL_LOAD_FAILED_FIELDS)
CHANNEL_CODEC(init, CHANNEL_INIT_FIELDS)
CHANNEL_CODEC(init_done, CHANNEL_INIT_DONE_FIELDS)
CHANNEL_CODEC(poll, CHANNEL_POLL_FIELDS)
CHANNEL_CODEC(poll_done, CHANNEL_POLL_DONE_FIELDS)
CHANNEL_CODEC(log, CHANNEL_LOG_FIELDS)
CHANNEL_CODEC(shutdown, CHANNEL_SHUTDOWN_FIELDS)
CHANNEL_CODEC(bye, CHANNEL_BYE_FIELDS)

void channel_encode(const channel_msg *m, unsigned char *buf, size_t cap, ipc_msg *out)
{
    msg_shutdown none = {0};
    ipc_begin(out, buf, cap, m->type);
    switch (m->type) {
    case IPC_HELLO:
        encode_hello(out, &m->u.hello);
        break;
    case IPC_LOAD_FAILED:
        encode_load_failed(out, &m->u.load_failed);
        break;
    case IPC_INIT:
        encode_init(out, &m->u.init);
        break;
    case IPC_INIT_DONE:
        encode_init_done(out, &m->u.init_done);
        break;
    case IPC_POLL:
        encode_poll(out, &m->u.poll);
        break;
    case IPC_POLL_DONE:
        encode_poll_done(out, &m->u.poll_done);
        break;
    case IPC_LOG:
        encode_log(out, &m->u.log);
        break;
    case IPC_SHUTDOWN:
        encode_shutdown(out, &none);
        break;
    case IPC_BYE:
        encode_bye(out, &m->u.bye);
        break;
    default:
        out->bad = true;
    }
}

bool channel_decode(ipc_msg *in, channel_msg *out)
{
    msg_shutdown none;
    out->type = (ipc_type)ipc_type_of(in);
    switch (out->type) {
    case IPC_HELLO:
        decode_hello(in, &out->u.hello);
        break;
    case IPC_LOAD_FAILED:
        decode_load_failed(in, &out->u.load_failed);
        break;
    case IPC_INIT:
        decode_init(in, &out->u.init);
        break;
    case IPC_INIT_DONE:
        decode_init_done(in, &out->u.init_done);
        break;
    case IPC_POLL:
        decode_poll(in, &out->u.poll);
        break;
    case IPC_POLL_DONE:
        decode_poll_done(in, &out->u.poll_done);
        break;
    case IPC_LOG:
        decode_log(in, &out->u.log);
        break;
    case IPC_SHUTDOWN:
        decode_shutdown(in, &none);
        break;
    case IPC_BYE:
        decode_bye(in, &out->u.bye);
        break;
    default:
        return false;
    }
    return !in->bad && ipc_at_end(in);
}

int channel_send(int fd, const channel_msg *m)
{
    unsigned char small[4096];
    ipc_msg out;
    channel_encode(m, small, sizeof small, &out);
    if (!out.bad || m->type < IPC_HELLO || m->type > IPC_BYE)
        return ipc_send(fd, &out);
    /* Only INIT (the instance object) and long texts need more: the heap, up to the limit. */
    unsigned char *big = malloc(IPC_MAX_MESSAGE);
    if (!big) {
        errno = ENOMEM;
        return -1;
    }
    channel_encode(m, big, IPC_MAX_MESSAGE, &out);
    int rc = ipc_send(fd, &out);
    free(big);
    return rc;
}

const char *channel_type_name(int type)
{
    static const char *const names[] = {"?",    "HELLO",     "LOAD_FAILED", "INIT",     "INIT_DONE",
                                        "POLL", "POLL_DONE", "LOG",         "SHUTDOWN", "BYE"};
    return type > 0 && (size_t)type < sizeof names / sizeof names[0] ? names[type] : "?";
}
