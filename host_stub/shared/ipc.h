/*
 * The framing of the supervisor <-> worker channel (docs/ARCHITECTURE.md):
 * one AF_UNIX socket pair per worker, where a dead peer reads as end of file.
 * Where the platform has SOCK_SEQPACKET for AF_UNIX (Linux; CMake's run
 * check PA_HAVE_SEQPACKET_PAIR), each message is one packet, arriving whole
 * or not at all. Elsewhere (macOS), and with -DPA_PORTABLE=ON, the pair is
 * SOCK_STREAM and each message is framed:
 *
 *   frame = length:u32 message[length]        (1 <= length <= IPC_MAX_MESSAGE)
 *
 * and a reader keeps a frame's bytes in its ipc_msg until the frame is
 * whole, so a non-blocking reader never waits on a peer that sends half of
 * one. Both framings are built everywhere (ipc_*_as), so the tests run both.
 * The messages themselves, field by field, are channel.h's.
 *
 * Grammar of one message (all integers in host byte order; both ends are the
 * same binary):
 *
 *   message = type:u8 field*
 *   field   = int | str
 *   int     = 'i' value:i64
 *   str     = 's' length:u32 bytes[length] '\0'
 *
 * Each message type has a fixed field list (channel.h). The reader is
 * total: a short, oversized or mistyped message sets the message's bad flag
 * and yields 0 or "", never reads past the buffer. The worker side is code
 * the plugin shares a process with, so the supervisor treats a bad message as
 * a broken worker and kills it.
 */
#ifndef HOST_IPC_H
#define HOST_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest message either side sends; the instance object in INIT is the big one. */
#define IPC_MAX_MESSAGE ((size_t)128 * 1024)
/* Longest pool statistics text a worker sends (a few lines of counters). */
#define WORKER_STATS_MAX 1500

/* The message types; their fields are listed in channel.h. */
typedef enum ipc_type {
    IPC_HELLO = 1,   /* worker: loaded, here is what it is */
    IPC_LOAD_FAILED, /* worker: the plugin was refused */
    IPC_INIT,        /* supervisor: start the instance */
    IPC_INIT_DONE,   /* worker: init's result */
    IPC_POLL,        /* supervisor: poll once */
    IPC_POLL_DONE,   /* worker: the poll's result */
    IPC_LOG,         /* worker, any time: a log line */
    IPC_SHUTDOWN,    /* supervisor: shut the instance down and exit */
    IPC_BYE,         /* worker: shut down */
} ipc_type;

typedef enum ipc_framing {
    IPC_FRAMING_PACKETS, /* SOCK_SEQPACKET: a message per packet */
    IPC_FRAMING_STREAM,  /* SOCK_STREAM: a length, then the message */
} ipc_framing;

/* This build's framing (see above). */
extern const ipc_framing ipc_channel_framing;

typedef struct ipc_msg {
    unsigned char *buf;
    size_t cap, len, pos;
    bool bad; /* a put did not fit, or a get found the wrong thing */
    /* A stream reader's frame in progress: bytes of it received, header included. */
    size_t frame_got;
    unsigned char frame_head[4];
} ipc_msg;

/*
 * A connected pair for one channel, both ends close-on-exec and blocking: 0,
 * or -1 with errno. For STREAM, each end's buffers are sized to hold the
 * largest message, so a send to a peer with nothing unread does not wait.
 */
int ipc_channel_pair(int sv[2]);
int ipc_channel_pair_as(ipc_framing framing, int sv[2]);

/* Starts a message of type t in buf (cap bytes; at most IPC_MAX_MESSAGE are sent). */
void ipc_begin(ipc_msg *m, unsigned char *buf, size_t cap, ipc_type t);
void ipc_put_int(ipc_msg *m, int64_t v);
void ipc_put_str(ipc_msg *m, const char *s);
/* Sends m whole; 0, or -1 with errno (EMSGSIZE when a put did not fit). Never raises SIGPIPE. */
int ipc_send(int fd, const ipc_msg *m);
int ipc_send_as(ipc_framing framing, int fd, const ipc_msg *m);

/*
 * Receives one message into m's buffer (set up with ipc_reader). 1: a
 * message, its type from ipc_type_of; 0: the peer closed (after every
 * message it sent was read, even when it left ours unread); -1: errno
 * (EAGAIN when nonblocking and no whole message waits; EMSGSIZE for an
 * oversized message or a zero length; EPROTO for an end of file inside a
 * frame). A STREAM reader must pass the same m, unchanged, to every call
 * until one returns 1: a frame's first bytes wait in it.
 */
int ipc_recv(int fd, ipc_msg *m, bool nonblocking);
int ipc_recv_as(ipc_framing framing, int fd, ipc_msg *m, bool nonblocking);
void ipc_reader(ipc_msg *m, unsigned char *buf, size_t cap);
/* The type byte, or 0 for an empty message. */
int ipc_type_of(const ipc_msg *m);
int64_t ipc_get_int(ipc_msg *m);
/* Points into m's buffer; valid until the next receive. "" (and m->bad) on a bad field. */
const char *ipc_get_str(ipc_msg *m);
/* Whether every field of a received message has been read. */
bool ipc_at_end(const ipc_msg *m);

#endif
