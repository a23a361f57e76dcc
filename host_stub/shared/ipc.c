#include "ipc.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "port.h"

void ipc_begin(ipc_msg *m, unsigned char *buf, size_t cap, ipc_type t)
{
    *m = (ipc_msg){.buf = buf, .cap = cap < IPC_MAX_MESSAGE ? cap : IPC_MAX_MESSAGE};
    if (m->cap == 0) {
        m->bad = true;
        return;
    }
    buf[0] = (unsigned char)t;
    m->len = 1;
}

static void put_bytes(ipc_msg *m, const void *p, size_t n)
{
    if (m->bad || n > m->cap - m->len) {
        m->bad = true;
        return;
    }
    memcpy(m->buf + m->len, p, n);
    m->len += n;
}

void ipc_put_int(ipc_msg *m, int64_t v)
{
    put_bytes(m, "i", 1);
    put_bytes(m, &v, sizeof v);
}

void ipc_put_str(ipc_msg *m, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    uint32_t len = (uint32_t)n;
    if (n > UINT32_MAX) {
        m->bad = true;
        return;
    }
    put_bytes(m, "s", 1);
    put_bytes(m, &len, sizeof len);
    put_bytes(m, s ? s : "", n);
    put_bytes(m, "", 1);
}

#if defined(PA_HAVE_SEQPACKET_PAIR) && !defined(PA_PORTABLE)
const ipc_framing ipc_channel_framing = IPC_FRAMING_PACKETS;
#else
const ipc_framing ipc_channel_framing = IPC_FRAMING_STREAM;
#endif

/* Room for a whole frame in each direction, so a send to an idle peer never waits. */
#define STREAM_BUFFER_BYTES ((int)(IPC_MAX_MESSAGE + 4096))

int ipc_channel_pair_as(ipc_framing framing, int sv[2])
{
    if (framing == IPC_FRAMING_PACKETS)
        return port_socketpair(SOCK_SEQPACKET, sv);
    if (port_socketpair(SOCK_STREAM, sv) != 0)
        return -1;
    int size = STREAM_BUFFER_BYTES;
    for (int i = 0; i < 2; i++) {
        /* Best effort: a platform's cap only makes a large send wait for the reader. */
        (void)setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
        (void)setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    }
    return 0;
}

int ipc_channel_pair(int sv[2])
{
    return ipc_channel_pair_as(ipc_channel_framing, sv);
}

/* Sends every byte of iov[0..n); 0, or -1 with errno. */
static int send_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        struct msghdr h = {.msg_iov = iov, .msg_iovlen = n};
        ssize_t sent = sendmsg(fd, &h, MSG_NOSIGNAL);
        if (sent < 0 && errno == EINTR)
            continue;
        if (sent < 0)
            return -1;
        size_t left = (size_t)sent;
        for (; n > 0 && left >= iov->iov_len; iov++, n--)
            left -= iov->iov_len;
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
    return 0;
}

int ipc_send_as(ipc_framing framing, int fd, const ipc_msg *m)
{
    if (m->bad) {
        errno = EMSGSIZE;
        return -1;
    }
    uint32_t len = (uint32_t)m->len;
    struct iovec iov[2] = {{.iov_base = &len, .iov_len = sizeof len},
                           {.iov_base = m->buf, .iov_len = m->len}};
    if (framing == IPC_FRAMING_STREAM)
        return send_all(fd, iov, 2);
    ssize_t n;
    do
        n = send(fd, m->buf, m->len, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)m->len ? 0 : -1;
}

int ipc_send(int fd, const ipc_msg *m)
{
    return ipc_send_as(ipc_channel_framing, fd, m);
}

void ipc_reader(ipc_msg *m, unsigned char *buf, size_t cap)
{
    *m = (ipc_msg){.buf = buf, .cap = cap};
}

/*
 * recv(2) that retries an interruption, and one ECONNRESET: a peer that exits
 * with messages of ours unread makes the next recv fail with it even when
 * messages it sent first still wait (Linux reports the socket error before
 * the queue). The error is cleared by being reported, so one more recv
 * returns those messages, then 0.
 */
static ssize_t recv_retrying(int fd, void *buf, size_t len, int flags)
{
    ssize_t n;
    int resets = 0;
    do
        n = recv(fd, buf, len, flags);
    while (n < 0 && (errno == EINTR || (errno == ECONNRESET && resets++ == 0)));
    return n;
}

/* The frame's length once its header is whole; 0 before. */
static uint32_t frame_length(const ipc_msg *m)
{
    uint32_t len = 0;
    if (m->frame_got >= sizeof m->frame_head)
        memcpy(&len, m->frame_head, sizeof len);
    return len;
}

/* One frame, resumed where the last call left it (see ipc.h). */
static int recv_frame(int fd, ipc_msg *m, bool nonblocking)
{
    const size_t head = sizeof m->frame_head;
    m->len = m->pos = 0;
    m->bad = false;
    for (;;) {
        uint32_t len = frame_length(m);
        if (m->frame_got >= head && (len == 0 || len > m->cap || len > IPC_MAX_MESSAGE)) {
            m->frame_got = 0;
            errno = EMSGSIZE;
            return -1;
        }
        if (m->frame_got >= head && m->frame_got - head == len)
            break;
        unsigned char *to = m->frame_got < head ? m->frame_head + m->frame_got
                                                : m->buf + (m->frame_got - head);
        size_t want = m->frame_got < head ? head - m->frame_got : head + len - m->frame_got;
        ssize_t n = recv_retrying(fd, to, want, nonblocking ? MSG_DONTWAIT : 0);
        if (n == 0 && m->frame_got > 0)
            errno = EPROTO; /* the peer ended inside a frame */
        if (n <= 0)
            return n == 0 && m->frame_got == 0 ? 0 : -1;
        m->frame_got += (size_t)n;
    }
    m->len = frame_length(m);
    m->pos = 1;
    m->frame_got = 0;
    return 1;
}

int ipc_recv_as(ipc_framing framing, int fd, ipc_msg *m, bool nonblocking)
{
    if (framing == IPC_FRAMING_STREAM)
        return recv_frame(fd, m, nonblocking);
    ssize_t n = recv_retrying(fd, m->buf, m->cap, MSG_TRUNC | (nonblocking ? MSG_DONTWAIT : 0));
    m->len = m->pos = 0;
    m->bad = false;
    if (n <= 0)
        return n == 0 ? 0 : -1;
    if ((size_t)n > m->cap) { /* MSG_TRUNC: n is the real size */
        errno = EMSGSIZE;
        return -1;
    }
    m->len = (size_t)n;
    m->pos = 1;
    return 1;
}

int ipc_recv(int fd, ipc_msg *m, bool nonblocking)
{
    return ipc_recv_as(ipc_channel_framing, fd, m, nonblocking);
}

int ipc_type_of(const ipc_msg *m)
{
    return m->len ? m->buf[0] : 0;
}

/* The next field's tag must be want, with at least n bytes after it. */
static bool take_tag(ipc_msg *m, char want, size_t n)
{
    if (m->bad || m->pos >= m->len || m->buf[m->pos] != (unsigned char)want ||
        m->len - m->pos - 1 < n) {
        m->bad = true;
        return false;
    }
    m->pos++;
    return true;
}

int64_t ipc_get_int(ipc_msg *m)
{
    int64_t v = 0;
    if (!take_tag(m, 'i', sizeof v))
        return 0;
    memcpy(&v, m->buf + m->pos, sizeof v);
    m->pos += sizeof v;
    return v;
}

const char *ipc_get_str(ipc_msg *m)
{
    uint32_t len = 0;
    if (!take_tag(m, 's', sizeof len))
        return "";
    memcpy(&len, m->buf + m->pos, sizeof len);
    size_t at = m->pos + sizeof len;
    /* The text and its NUL must lie inside, with no NUL within. */
    if (m->len - at < (size_t)len + 1 || m->buf[at + len] != '\0' ||
        memchr(m->buf + at, '\0', len)) {
        m->bad = true;
        return "";
    }
    m->pos = at + len + 1;
    return (const char *)m->buf + at;
}

bool ipc_at_end(const ipc_msg *m)
{
    return m->pos == m->len;
}
