/*
 * bench_channel: what the length-framed stream channel (macOS, the BSDs,
 * PA_PORTABLE) costs against SOCK_SEQPACKET (Linux), in the same run
 * (docs/PERFORMANCE.md).
 *
 *   bench_channel [ROUND_TRIPS]        (default 20000 per size and framing)
 *
 * A forked echo process returns each message; the parent times round trips
 * of messages of 64 B (a POLL), 1 KiB (a POLL_DONE with statistics) and
 * 64 KiB (a large LOG), through ipc_send_as and ipc_recv_as on a pair of
 * each framing. Prints the median of 20 batches' mean round trip for each,
 * and the stream's ratio to packets.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BENCH_NAME "bench_channel"
#include "bench_common.h"
#include "ipc.h"

#define BATCHES 20

static unsigned char g_out[IPC_MAX_MESSAGE], g_in[IPC_MAX_MESSAGE];

/* The child: every message back as it came, until the channel closes. */
static void echo(ipc_framing framing, int fd)
{
    ipc_msg m;
    ipc_reader(&m, g_in, sizeof g_in);
    while (ipc_recv_as(framing, fd, &m, false) == 1) {
        ipc_msg back = {.buf = m.buf, .cap = m.len, .len = m.len};
        if (ipc_send_as(framing, fd, &back) != 0)
            _exit(1);
        ipc_reader(&m, g_in, sizeof g_in);
    }
    _exit(0);
}

/* A LOG message of about size bytes: one string field filling it. */
static void make_message(ipc_msg *m, size_t size)
{
    static char text[IPC_MAX_MESSAGE];
    size_t n = size > 16 ? size - 16 : 1;
    memset(text, 'x', n);
    text[n] = '\0';
    ipc_begin(m, g_out, sizeof g_out, IPC_LOG);
    ipc_put_str(m, text);
    if (m->bad)
        bench_die("message too large");
}

typedef struct echo_pair {
    ipc_framing framing;
    int fd;
    pid_t pid;
} echo_pair;

static echo_pair start_echo(ipc_framing framing)
{
    int sv[2];
    if (ipc_channel_pair_as(framing, sv) != 0)
        bench_die("cannot make a channel pair");
    pid_t pid = fork();
    if (pid < 0)
        bench_die("cannot fork");
    if (pid == 0) {
        close(sv[0]);
        echo(framing, sv[1]);
    }
    close(sv[1]);
    return (echo_pair){framing, sv[0], pid};
}

/*
 * Both channels close before either wait: the second echo inherited the
 * parent's end of the first pair, and lets go of it only when it ends.
 */
static void stop_echoes(echo_pair *a, echo_pair *b)
{
    close(a->fd);
    close(b->fd);
    int status;
    waitpid(a->pid, &status, 0);
    waitpid(b->pid, &status, 0);
}

/* The mean round trip, in ns, of n messages out through e. */
static double batch_ns(const echo_pair *e, const ipc_msg *out, long n)
{
    ipc_msg in;
    double start = (bench_now_ms() * 1e6);
    for (long i = 0; i < n; i++) {
        ipc_reader(&in, g_in, sizeof g_in);
        if (ipc_send_as(e->framing, e->fd, out) != 0 ||
            ipc_recv_as(e->framing, e->fd, &in, false) != 1 || in.len != out->len)
            bench_die("the echo failed");
    }
    return ((bench_now_ms() * 1e6) - start) / (double)n;
}

/*
 * Messages of size through both framings, their batches interleaved so that
 * both see the same machine; the median batch of each, in ns per round trip.
 */
static void compare(size_t size, long trips, double *packets, double *stream)
{
    echo_pair p = start_echo(IPC_FRAMING_PACKETS), s = start_echo(IPC_FRAMING_STREAM);
    ipc_msg out;
    make_message(&out, size);
    double pb[BATCHES], sb[BATCHES];
    for (int b = 0; b < BATCHES; b++) {
        pb[b] = batch_ns(&p, &out, trips / BATCHES);
        sb[b] = batch_ns(&s, &out, trips / BATCHES);
    }
    stop_echoes(&p, &s);
    *packets = bench_median(pb, BATCHES);
    *stream = bench_median(sb, BATCHES);
}

int main(int argc, char **argv)
{
    long trips = argc > 1 ? strtol(argv[1], NULL, 10) : 20000;
    if (trips < BATCHES)
        bench_die("ROUND_TRIPS: at least 20");
    signal(SIGPIPE, SIG_IGN);
    static const size_t sizes[] = {64, 1024, 64 * 1024};
    static const char *const names[] = {"64b", "1k", "64k"};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        double packets, stream;
        compare(sizes[i], trips, &packets, &stream);
        printf("round_trip_%s_packets_ns %10.0f\n", names[i], packets);
        printf("round_trip_%s_stream_ns  %10.0f\n", names[i], stream);
        printf("ratio_%s_stream_over_packets %6.2f\n", names[i], stream / packets);
    }
    return 0;
}
