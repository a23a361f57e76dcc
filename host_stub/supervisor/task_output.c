/*
 * Task lines to stdout without ever blocking the supervisor's loop
 * (docs/TASKS.md, "The stream"). pa_tasks is the truth; stdout is a
 * courtesy copy. Lines wait in one bounded queue and are written with
 * non-blocking writes whenever stdout takes more. A reader that stalls
 * costs lines once the queue is full, counted and logged, never the loop; a
 * reader that closes ends the printing, logged once.
 *
 * stdout's O_NONBLOCK is set for the run and its flags restored at the end,
 * since the open file description may be shared with whoever started us;
 * never on a terminal, whose description the shell shares and which a
 * kill -9 would leave non-blocking.
 */
#include "task_output.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

struct task_output {
    int fd;
    int saved_flags; /* fd's flags before the run, or -1 */
    char *buf;       /* queued bytes: buf[start, end) */
    size_t start, end, limit;
    bool closed;          /* the reader is gone: nothing more is printed */
    uint64_t dropped;     /* lines not printed because the queue was full */
    uint64_t dropped_now; /* of those, since the reader last kept up */
};

task_output *task_output_new(int fd, size_t limit)
{
    task_output *o = calloc(1, sizeof *o);
    if (!o || !(o->buf = malloc(limit))) {
        free(o);
        return NULL;
    }
    o->fd = fd;
    o->limit = limit;
    o->saved_flags = isatty(fd) ? -1 : fcntl(fd, F_GETFL);
    if (o->saved_flags >= 0 && !(o->saved_flags & O_NONBLOCK))
        fcntl(fd, F_SETFL, o->saved_flags | O_NONBLOCK);
    return o;
}

static void reader_gone(task_output *o, int err)
{
    o->closed = true;
    o->start = o->end = 0;
    log_msg(PA_LOG_WARN, "outbox",
            "stdout is closed (%s); tasks are no longer printed but stay in pa_tasks "
            "(docs/TASKS.md)",
            strerror(err));
}

void task_output_flush(task_output *o)
{
    while (o && !o->closed && o->start < o->end) {
        ssize_t n = write(o->fd, o->buf + o->start, o->end - o->start);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            reader_gone(o, n < 0 ? errno : EPIPE);
            return;
        }
        o->start += (size_t)n;
    }
    if (!o || o->start < o->end)
        return;
    o->start = o->end = 0;
    if (o->dropped_now) {
        log_msg(PA_LOG_WARN, "outbox",
                "stdout's reader is keeping up again; %llu task line(s) were not printed while "
                "it stalled (they are in pa_tasks)",
                (unsigned long long)o->dropped_now);
        o->dropped_now = 0;
    }
}

/* Room for n more bytes at the end of the queue, moving what waits to the front. */
static bool make_room(task_output *o, size_t n)
{
    if (o->limit - o->end >= n)
        return true;
    memmove(o->buf, o->buf + o->start, o->end - o->start);
    o->end -= o->start;
    o->start = 0;
    return o->limit - o->end >= n;
}

void task_output_line(void *arg, const char *line, size_t len)
{
    task_output *o = arg;
    if (o->closed)
        return;
    if (!make_room(o, len + 1)) {
        task_output_flush(o);
        if (o->closed)
            return;
    }
    if (!make_room(o, len + 1)) {
        if (o->dropped_now++ == 0)
            log_msg(PA_LOG_WARN, "outbox",
                    "stdout's reader has stalled with %zu bytes waiting; task lines are not "
                    "printed until it reads again (they stay in pa_tasks)",
                    o->end - o->start);
        o->dropped++;
        return;
    }
    memcpy(o->buf + o->end, line, len);
    o->buf[o->end + len] = '\n';
    o->end += len + 1;
    task_output_flush(o);
}

int task_output_waiting_fd(const task_output *o)
{
    return o && !o->closed && o->start < o->end ? o->fd : -1;
}

bool task_output_closed(const task_output *o)
{
    return !o || o->closed;
}

uint64_t task_output_dropped(const task_output *o)
{
    return o ? o->dropped : 0;
}

void task_output_finish(task_output *o, int64_t deadline_ns)
{
    if (!o)
        return;
    for (;;) {
        task_output_flush(o);
        int64_t left_ms = (deadline_ns - clock_mono_ns()) / 1000000;
        if (task_output_waiting_fd(o) < 0 || left_ms <= 0)
            break;
        struct pollfd pfd = {.fd = o->fd, .events = POLLOUT};
        poll(&pfd, 1, left_ms > 100 ? 100 : (int)left_ms);
    }
    size_t left = o->end - o->start;
    if (left)
        log_msg(PA_LOG_WARN, "outbox",
                "stdout's reader did not take the last %zu bytes of task lines before the "
                "shutdown deadline; the tasks are in pa_tasks",
                left);
    if (o->saved_flags >= 0)
        fcntl(o->fd, F_SETFL, o->saved_flags);
    free(o->buf);
    free(o);
}
