/*
 * The messages of the supervisor <-> worker channel, each decoded by one
 * total function and encoded by one, both generated from the field lists
 * below, so the two sides cannot disagree on a message's shape. Framing (a
 * SOCK_SEQPACKET packet per message, or a length-framed stream where the
 * platform lacks it; the field encoding) is ipc.h's.
 *
 * The conversation (docs/ARCHITECTURE.md, "The channel"):
 *
 *   worker                       supervisor
 *   HELLO | LOAD_FAILED   ->
 *                         <-     INIT            (or the channel closes: a describe)
 *   INIT_DONE             ->
 *                         <-     POLL            (any number of times)
 *   POLL_DONE             ->
 *                         <-     SHUTDOWN        (or the channel closes)
 *   BYE                   ->
 *
 * and LOG from the worker at any time. Message by message, the fields:
 *
 *   HELLO        abi_version name version description
 *   LOAD_FAILED  reason
 *   INIT         plugin instance_id instance_json db_path pool_size
 *                lease_timeout_ms busy_timeout_ms max_lifetime_ms virtual_ms
 *                db_kind connect_timeout_s statement_timeout_ms pool_idle_ms
 *                run_mode (pa_run_mode: serve, check, dry run)
 *   INIT_DONE    rc message longest_hold_ns pool_stats
 *   POLL         virtual_ms nonce
 *   POLL_DONE    rc message not_before_ms items http_requests
 *                longest_hold_ns pool_stats nonce
 *   LOG          level source text
 *   SHUTDOWN     (none)
 *   BYE          longest_hold_ns pool_stats
 *
 * virtual_ms is the supervisor's virtual clock, or -1 for the real one.
 * nonce is a random number each POLL carries and its POLL_DONE gives back:
 * the poll is over when the worker's own loop says so, not when a plugin's
 * thread writes a POLL_DONE to the channel (it would have to go looking for
 * the number).
 * pool_stats is the worker pool's pool_print_stats text (at most
 * WORKER_STATS_MAX bytes). The worker shares its process with plugin code, so
 * the supervisor decodes every message as untrusted input.
 */
#ifndef SHARED_CHANNEL_H
#define SHARED_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipc.h"

/* X(kind, name): kind INT is an int64_t, STR a NUL-terminated string without NUL inside. */
#define CHANNEL_HELLO_FIELDS(X)       X(INT, abi_version) X(STR, name) X(STR, version) X(STR, description)
#define CHANNEL_LOAD_FAILED_FIELDS(X) X(STR, reason)
#define CHANNEL_INIT_FIELDS(X)                                                                     \
    X(STR, plugin)                                                                                 \
    X(STR, instance_id)                                                                            \
    X(STR, instance_json)                                                                          \
    X(STR, db_path)                                                                                \
    X(INT, pool_size)                                                                              \
    X(INT, lease_timeout_ms)                                                                       \
    X(INT, busy_timeout_ms)                                                                        \
    X(INT, max_lifetime_ms)                                                                        \
    X(INT, virtual_ms)                                                                             \
    X(INT, db_kind)                                                                                \
    X(INT, connect_timeout_s)                                                                      \
    X(INT, statement_timeout_ms) X(INT, pool_idle_ms) X(INT, run_mode)
#define CHANNEL_INIT_DONE_FIELDS(X)                                                                \
    X(INT, rc) X(STR, message) X(INT, longest_hold_ns) X(STR, pool_stats)
#define CHANNEL_POLL_FIELDS(X) X(INT, virtual_ms) X(INT, nonce)
#define CHANNEL_POLL_DONE_FIELDS(X)                                                                \
    X(INT, rc)                                                                                     \
    X(STR, message)                                                                                \
    X(INT, not_before_ms)                                                                          \
    X(INT, items) X(INT, http_requests) X(INT, longest_hold_ns) X(STR, pool_stats) X(INT, nonce)
#define CHANNEL_LOG_FIELDS(X)      X(INT, level) X(STR, source) X(STR, text)
#define CHANNEL_SHUTDOWN_FIELDS(X) /* none */
#define CHANNEL_BYE_FIELDS(X)      X(INT, longest_hold_ns) X(STR, pool_stats)

#define CHANNEL_FIELD_INT(name)   int64_t name;
#define CHANNEL_FIELD_STR(name)   const char *name;
#define CHANNEL_FIELD(kind, name) CHANNEL_FIELD_##kind(name)

typedef struct msg_hello {
    CHANNEL_HELLO_FIELDS(CHANNEL_FIELD)
} msg_hello;
typedef struct msg_load_failed {
    CHANNEL_LOAD_FAILED_FIELDS(CHANNEL_FIELD)
} msg_load_failed;
typedef struct msg_init {
    CHANNEL_INIT_FIELDS(CHANNEL_FIELD)
} msg_init;
typedef struct msg_init_done {
    CHANNEL_INIT_DONE_FIELDS(CHANNEL_FIELD)
} msg_init_done;
typedef struct msg_poll {
    CHANNEL_POLL_FIELDS(CHANNEL_FIELD)
} msg_poll;
typedef struct msg_poll_done {
    CHANNEL_POLL_DONE_FIELDS(CHANNEL_FIELD)
} msg_poll_done;
typedef struct msg_log {
    CHANNEL_LOG_FIELDS(CHANNEL_FIELD)
} msg_log;
typedef struct msg_bye {
    CHANNEL_BYE_FIELDS(CHANNEL_FIELD)
} msg_bye;

/* One message of any type; type tells which member is meant. */
typedef struct channel_msg {
    ipc_type type;
    union {
        msg_hello hello;
        msg_load_failed load_failed;
        msg_init init;
        msg_init_done init_done;
        msg_poll poll;
        msg_poll_done poll_done;
        msg_log log;
        msg_bye bye;
    } u;
} channel_msg;

/*
 * Encodes m into buf (cap bytes) as out, ready for ipc_send; out->bad is set
 * when it does not fit (or m->type is unknown). A NULL string is sent as "".
 */
void channel_encode(const channel_msg *m, unsigned char *buf, size_t cap, ipc_msg *out);

/*
 * Decodes the message ipc_recv left in in. false when it is malformed: an
 * unknown type, a field missing or of the wrong kind, or bytes left over.
 * Total on any input. The strings of *out point into in's buffer and live
 * until the next receive into it.
 */
bool channel_decode(ipc_msg *in, channel_msg *out);

/* Encodes m and sends it on fd (ipc_send): 0, or -1 with errno (EMSGSIZE: too large). */
int channel_send(int fd, const channel_msg *m);

/* The message's name ("POLL_DONE"), or "?" for an unknown type. Static storage. */
const char *channel_type_name(int type);

#endif
