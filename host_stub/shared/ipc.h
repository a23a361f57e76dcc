/*
 * The supervisor <-> worker channel (docs/ARCHITECTURE.md): one AF_UNIX
 * SOCK_SEQPACKET socket per worker, so every message arrives whole or not at
 * all and a dead peer reads as end of file.
 *
 * Grammar of one message (all integers little-endian as the host stores them;
 * both ends are the same binary):
 *
 *   message = type:u8 field*
 *   field   = int | str
 *   int     = 'i' value:i64
 *   str     = 's' length:u32 bytes[length] '\0'
 *
 * Each message type has a fixed field list (ipc_type below). The reader is
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
#define IPC_MAX_MESSAGE (128 * 1024)
/* Longest pool statistics text a worker sends (a few lines of counters). */
#define WORKER_STATS_MAX 1500

typedef enum ipc_type {
    /* worker -> supervisor, right after exec: abi, name, version, description */
    IPC_HELLO = 1,
    /* worker -> supervisor, instead of HELLO: the loader's refusal (str) */
    IPC_LOAD_FAILED,
    /*
     * supervisor -> worker: plugin name, instance id, instance object, db
     * path, pool size, lease timeout ms, busy timeout ms, max lifetime ms,
     * virtual clock ms (-1: real clock)
     */
    IPC_INIT,
    /* worker -> supervisor: status, message, pool statistics (pool_print_stats text) */
    IPC_INIT_DONE,
    /* supervisor -> worker: virtual clock ms (-1: real clock) */
    IPC_POLL,
    /*
     * worker -> supervisor: status, message, not_before ms, items emitted,
     * http requests, pool statistics
     */
    IPC_POLL_DONE,
    /* worker -> supervisor, any time: level, source, text */
    IPC_LOG,
    /* supervisor -> worker: call shutdown, close the pool, exit */
    IPC_SHUTDOWN,
    /* worker -> supervisor: shutdown done; pool statistics */
    IPC_BYE,
} ipc_type;

typedef struct ipc_msg {
    unsigned char *buf;
    size_t cap, len, pos;
    bool bad; /* a put did not fit, or a get found the wrong thing */
} ipc_msg;

/* Starts a message of type t in buf (cap bytes; at most IPC_MAX_MESSAGE are sent). */
void ipc_begin(ipc_msg *m, unsigned char *buf, size_t cap, ipc_type t);
void ipc_put_int(ipc_msg *m, int64_t v);
void ipc_put_str(ipc_msg *m, const char *s);
/* Sends m whole; 0, or -1 with errno (EMSGSIZE when a put did not fit). Never raises SIGPIPE. */
int ipc_send(int fd, const ipc_msg *m);

/*
 * Receives one message into m's buffer (set up with ipc_reader). 1: a
 * message, its type from ipc_type_of; 0: the peer closed (after every
 * message it sent was read, even when it left ours unread); -1: errno
 * (EAGAIN when nonblocking and nothing waits; EMSGSIZE for an oversized
 * message).
 */
int ipc_recv(int fd, ipc_msg *m, bool nonblocking);
void ipc_reader(ipc_msg *m, unsigned char *buf, size_t cap);
/* The type byte, or 0 for an empty message. */
int ipc_type_of(const ipc_msg *m);
int64_t ipc_get_int(ipc_msg *m);
/* Points into m's buffer; valid until the next receive. "" (and m->bad) on a bad field. */
const char *ipc_get_str(ipc_msg *m);

#endif
