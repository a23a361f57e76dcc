/*
 * Fuzz target: the supervisor's reading of a launched worker's replies
 * (worker_read in supervisor/worker_proc.c), the start's steps included.
 * A worker shares its process with plugin code, so any sequence of messages
 * may come. Input: records of one length byte, then that many bytes, each
 * sent as one message over a real channel pair (the build's framing); then the worker's end
 * is closed. Properties, whatever the bytes:
 *   - a start is reported once at most, WORKER_STARTED only from a worker
 *     that was not ready, and then the worker is ready;
 *   - a poll's answer (WORKER_POLL_DONE) only from a ready worker;
 *   - after WORKER_START_FAILED or WORKER_GONE the caller stops reading;
 *   - the reply's message is a terminated string inside its buffer;
 *   - reading ends: every message is consumed, then the end is reported.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "log.h"
#include "worker_proc.h"

static void discard_line(void *userdata, pa_log_level level, const char *line)
{
    (void)userdata;
    (void)level;
    (void)line;
}

/* Sends the records; false when the input is not a whole number of them. */
static bool send_records(int fd, const uint8_t *data, size_t size, size_t *count)
{
    *count = 0;
    for (size_t pos = 0; pos < size;) {
        size_t len = data[pos++];
        if (len == 0 || len > size - pos)
            return false;
        /* As the worker's end sends it, in this build's framing (ipc.h). */
        ipc_msg raw = {.buf = (unsigned char *)(uintptr_t)(data + pos), .cap = len, .len = len};
        if (ipc_send(fd, &raw) != 0)
            return false;
        pos += len;
        (*count)++;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool quiet;
    if (!quiet) {
        log_set_sink(discard_line, NULL);
        quiet = true;
    }
    int sv[2];
    if (ipc_channel_pair(sv) != 0)
        return 0;
    int sndbuf = 1 << 20;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    size_t sent = 0;
    bool whole = send_records(sv[0], data, size, &sent);
    close(sv[0]); /* the worker has exited: its end reads as end of file after its messages */
    worker_proc *w = calloc(1, sizeof *w);
    if (!w || !whole) {
        free(w);
        close(sv[1]);
        return 0;
    }
    *w = (worker_proc){.pid = -1, .channel = sv[1], .output = -1, .stage = WORKER_AWAITING_HELLO};
    ipc_reader(&w->in, w->buf, sizeof w->buf);
    bool started = false;
    for (size_t calls = 0;; calls++) {
        FUZZ_CHECK(calls <= sent + 1); /* each call consumes at least one message, or ends */
        worker_poll_result res;
        memset(&res, 0x55, sizeof res);
        worker_stage before = w->stage;
        worker_event ev = worker_read(w, &res);
        if (ev == WORKER_STARTED) {
            FUZZ_CHECK(!started && before != WORKER_READY && w->stage == WORKER_READY);
            started = true;
        } else if (ev == WORKER_POLL_DONE) {
            FUZZ_CHECK(started && w->stage == WORKER_READY);
        } else if (ev == WORKER_START_FAILED) {
            FUZZ_CHECK(!started && w->stage != WORKER_READY);
        }
        if (ev == WORKER_POLL_DONE || ev == WORKER_START_FAILED)
            FUZZ_CHECK(memchr(res.message, '\0', sizeof res.message) != NULL);
        /* With the peer closed, "nothing waits" cannot happen: the end is always reported. */
        FUZZ_CHECK(ev != WORKER_NOTHING);
        if (ev == WORKER_START_FAILED || ev == WORKER_GONE)
            break;
    }
    worker_free(w); /* closes the channel; pid -1: nothing to kill */
    return 0;
}
