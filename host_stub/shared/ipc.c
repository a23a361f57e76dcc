#include "ipc.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

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

int ipc_send(int fd, const ipc_msg *m)
{
    if (m->bad) {
        errno = EMSGSIZE;
        return -1;
    }
    ssize_t n;
    do
        n = send(fd, m->buf, m->len, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)m->len ? 0 : -1;
}

void ipc_reader(ipc_msg *m, unsigned char *buf, size_t cap)
{
    *m = (ipc_msg){.buf = buf, .cap = cap};
}

int ipc_recv(int fd, ipc_msg *m, bool nonblocking)
{
    ssize_t n;
    int resets = 0;
    /*
     * A peer that exits with messages of ours unread makes the next recv fail
     * with ECONNRESET even when messages it sent first still wait (Linux
     * reports the socket error before the queue). The error is cleared by
     * being reported, so one more recv returns those messages, then 0.
     */
    do
        n = recv(fd, m->buf, m->cap, MSG_TRUNC | (nonblocking ? MSG_DONTWAIT : 0));
    while (n < 0 && (errno == EINTR || (errno == ECONNRESET && resets++ == 0)));
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
