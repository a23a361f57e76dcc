/*
 * login_callback: the loopback HTTP listener that receives the OAuth
 * redirect (RFC 8252, section 7.3) for granola_login.
 *
 * Every connection is served side by side under one deadline: an idle
 * connection (a browser's preconnect) or a slow one never delays the
 * callback, and nothing outlives --timeout. Only "GET /callback?..." with
 * this login's state ends the wait; other paths get a 404 at once. The
 * callback's own connection stays open so the browser is told the outcome
 * only once it is known (the token saved, or why not).
 */
#ifndef GRANOLA_LOGIN_CALLBACK_H
#define GRANOLA_LOGIN_CALLBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/*
 * Listens on address:port, address an IPv4 address in dotted form (the
 * caller's default 127.0.0.1; 0.0.0.0 inside a container whose port is
 * published), port 0 picking one; the fd, or -1 with err.
 */
int callback_listen(const char *address, long port, long *bound_port, char *err, size_t err_size);

/*
 * Waits up to timeout_seconds for the callback. On success *code (caller frees) and
 * *reply_fd (answer it with callback_reply) are set and 0 is returned; else
 * -1 with err (timed out, a forged or stale state, the server's error).
 */
int callback_await(int listen_fd, const char *state, long timeout_seconds, char **code,
                   int *reply_fd, char *err, size_t err_size);

/* Answers the browser with a short HTML page (text is escaped) and closes fd. */
void callback_reply(int fd, bool ok, const char *text);

/*
 * The request target of the HTTP request head in buf[0..len): NULL while the
 * head is incomplete (*complete false) or when it is not a GET (*complete
 * true). Total on any bytes. Caller frees.
 */
char *callback_request_target(const char *buf, size_t len, bool *complete);

#endif
