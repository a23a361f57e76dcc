/*
 * The control socket's transport (docs/OPERATIONS.md, "Asking a running
 * host"): a unix stream socket, mode 0600 in a folder only the host's user
 * may enter, that `host_stub status` and `host_stub ctl` talk to.
 *
 * The protocol: the client sends one request line (at most
 * CONTROL_REQUEST_MAX bytes, ending in '\n'); the host answers with one JSON
 * object and a '\n', then closes. What a request means is the supervisor's
 * business (control_commands.c); this file only moves bytes, and bounds
 * every client: at most CONTROL_CLIENTS at once (one more is told "busy"),
 * CONTROL_READ_MS to send its request, CONTROL_WRITE_MS to take its answer,
 * a peer of another user refused. Nothing here ever blocks: the supervisor's
 * loop polls the descriptors control_pollfds lists.
 *
 * Used from the supervisor's loop only, from its one thread.
 */
#ifndef SUPERVISOR_CONTROL_H
#define SUPERVISOR_CONTROL_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#define CONTROL_REQUEST_MAX 1024
#define CONTROL_CLIENTS     16
#define CONTROL_READ_MS     2000
#define CONTROL_WRITE_MS    5000

typedef struct control control;

/*
 * The socket path: explicit (--control) if given, else $PA_CONTROL_SOCKET,
 * else $XDG_RUNTIME_DIR/pa-plugins/control.sock, else
 * /tmp/pa-plugins-UID/control.sock. "none" (returned as NULL) means no socket.
 * The folder of a default path is created (0700) when make_dir is set.
 * PA_OK, or PA_ERR_CONFIG with the reason in err (too long, a folder that is
 * not this user's own, or open to others).
 */
int control_path(const char *explicit_path, int make_dir, char *out, size_t out_size,
                 const char **chosen, char *err, size_t err_size);

/*
 * Listens at path. *out is NULL and PA_OK returned when another live host
 * holds the path (its lock file path.lock): that is logged, and this host has
 * no socket. A stale socket is replaced. Other failures: an error code, err.
 */
int control_open(const char *path, control **out, char *err, size_t err_size);
/* Closes every client and the socket, and removes the socket file. NULL: nothing. */
void control_close(control *c);

/* The descriptors to poll, at most CONTROL_CLIENTS + 1, into fds; their count. */
size_t control_pollfds(const control *c, struct pollfd *fds);
/* After poll(): accepts, reads and writes what fds (as filled) say is ready. */
void control_serve(control *c, const struct pollfd *fds, size_t n);
/* Drops clients past their deadline. */
void control_expire(control *c);
/* The next client deadline, in ms from now (0 if passed), or -1 when none. */
int64_t control_next_deadline_ms(const control *c);

/*
 * A request waiting to be taken: its client's id and its line (no '\n';
 * valid until the answer). 0 when there is none.
 */
int control_take_request(control *c, unsigned *id, const char **line);
/*
 * Answers client id with json (one object; a '\n' is added) and closes it
 * once written. Nothing when the client has gone.
 */
void control_answer(control *c, unsigned id, const char *json);
/* Whether client id is still connected and waiting for its answer. */
int control_waiting(const control *c, unsigned id);

#endif
