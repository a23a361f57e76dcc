#include "login_callback.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "oauth.h"
#include "port.h"
#include "secret.h"

#define MAX_CONNECTIONS 16
#define HEAD_MAX        8192

typedef struct connection {
    int fd;
    size_t len;
    char head[HEAD_MAX];
} connection;

int callback_listen(const char *address, long port, long *bound_port, char *err, size_t err_size)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, address, &addr.sin_addr) != 1) {
        snprintf(err, err_size, "--listen: expected an IPv4 address, got '%.64s'", address);
        return -1;
    }
    int fd = port_socket(AF_INET, SOCK_STREAM, true);
    int one = 1;
    socklen_t len = sizeof addr;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
        snprintf(err, err_size,
                 "cannot listen on %s:%ld for the login callback: %s (choose another "
                 "with --port)",
                 address, port, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *bound_port = ntohs(addr.sin_port);
    return fd;
}

char *callback_request_target(const char *buf, size_t len, bool *complete)
{
    *complete = false;
    for (size_t i = 0; i + 3 < len && !*complete; i++)
        *complete = memcmp(buf + i, "\r\n\r\n", 4) == 0;
    if (!*complete || len < 4 || memcmp(buf, "GET ", 4) != 0)
        return NULL;
    size_t n = 0;
    while (4 + n < len && buf[4 + n] != ' ' && buf[4 + n] != '\r' && buf[4 + n] != '\n')
        n++;
    return strndup(buf + 4, n);
}

/* Writes what fits of text as HTML text: & < > " escaped. */
static void html_escape(const char *text, char *out, size_t size)
{
    size_t o = 0;
    for (const char *p = text; *p && o + 7 < size; p++) {
        const char *rep = *p == '&'   ? "&amp;"
                          : *p == '<' ? "&lt;"
                          : *p == '>' ? "&gt;"
                          : *p == '"' ? "&quot;"
                                      : NULL;
        size_t n = rep ? strlen(rep) : 1;
        memcpy(out + o, rep ? rep : p, n);
        o += n;
    }
    out[o] = '\0';
}

static void respond(int fd, int status, const char *reason, const char *text)
{
    char body[1024], escaped[700];
    html_escape(text, escaped, sizeof escaped);
    int n = snprintf(body, sizeof body,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/html; charset=utf-8\r\n"
                     "Connection: close\r\nCache-Control: no-store\r\n\r\n"
                     "<!doctype html><title>Granola login</title><p>%s</p>\n",
                     status, reason, escaped);
    if (n > 0 &&
        send(fd, body, (size_t)n < sizeof body ? (size_t)n : sizeof body - 1, MSG_NOSIGNAL) < 0)
        return; /* the browser went away; the outcome stands */
}

void callback_reply(int fd, bool ok, const char *text)
{
    if (fd < 0)
        return;
    respond(fd, ok ? 200 : 500, ok ? "OK" : "Internal Server Error", text);
    close(fd);
}

static void drop(connection *conns, size_t *n, size_t i)
{
    secret_wipe(conns[i].head, conns[i].len); /* a request may carry the code */
    close(conns[i].fd);
    conns[i] = conns[--*n];
}

/* A complete request on c: 1 the callback (code or failure decided), 0 answered, -1 error. */
static int handle_request(connection *c, const char *target, const char *state, char **code,
                          char *err, size_t err_size)
{
    const char *query = strchr(target, '?');
    size_t path_len = query ? (size_t)(query - target) : strlen(target);
    if (path_len != 9 || strncmp(target, "/callback", 9) != 0) {
        respond(c->fd, 404, "Not Found", "Not found.");
        return 0;
    }
    char *got_state = query ? oauth_query_param(query + 1, "state") : NULL;
    char *got_code = query ? oauth_query_param(query + 1, "code") : NULL;
    char *error = query ? oauth_query_param(query + 1, "error") : NULL;
    int rc = 1;
    if (!got_state || strcmp(got_state, state) != 0) {
        respond(c->fd, 400, "Bad Request",
                "Login failed: this response does not belong to "
                "this login.");
        snprintf(err, err_size,
                 "the callback's state does not match this login (a forged or "
                 "stale redirect); nothing was saved");
        rc = -1;
    } else if (error || !got_code) {
        respond(c->fd, 400, "Bad Request", "Login failed. You can close this tab.");
        snprintf(err, err_size, "the authorization server refused the login: %.200s",
                 error ? error : "no code in the callback");
        rc = -1;
    } else {
        *code = got_code;
        got_code = NULL;
    }
    free(got_state), free(error);
    secret_free(got_code);
    return rc;
}

/* Reads what c has; 1 when the callback came (fd kept open), 0 keep going, -1 failed. */
static int serve(connection *c, const char *state, char **code, char *err, size_t err_size,
                 bool *closed)
{
    ssize_t n = recv(c->fd, c->head + c->len, sizeof c->head - 1 - c->len, 0);
    if (n <= 0) {
        *closed = n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
        return 0;
    }
    c->len += (size_t)n;
    bool complete;
    char *target = callback_request_target(c->head, c->len, &complete);
    if (!complete && c->len < sizeof c->head - 1)
        return 0;
    int rc = target ? handle_request(c, target, state, code, err, err_size) : 0;
    if (!target)
        respond(c->fd, 400, "Bad Request", "Bad request.");
    secret_free(target);
    secret_wipe(c->head, c->len);
    *closed = rc != 1; /* the callback's connection waits for the outcome */
    return rc;
}

int callback_await(int listen_fd, const char *state, long timeout_seconds, char **code,
                   int *reply_fd, char *err, size_t err_size)
{
    time_t deadline = time(NULL) + timeout_seconds;
    connection *conns = calloc(MAX_CONNECTIONS, sizeof *conns);
    size_t n = 0;
    int rc = conns ? 0 : -1;
    *code = NULL;
    *reply_fd = -1;
    if (!conns)
        snprintf(err, err_size, "out of memory");
    while (rc == 0) {
        long left_ms = (long)(deadline - time(NULL)) * 1000;
        struct pollfd p[MAX_CONNECTIONS + 1] = {{.fd = listen_fd, .events = POLLIN}};
        for (size_t i = 0; i < n; i++)
            p[i + 1] = (struct pollfd){.fd = conns[i].fd, .events = POLLIN};
        if (left_ms <= 0 || poll(p, (nfds_t)(n + 1), (int)left_ms) == 0) {
            snprintf(err, err_size,
                     "timed out after %ld s waiting for the browser to come back to the "
                     "callback; run granola_login again",
                     timeout_seconds);
            rc = -1;
            break;
        }
        for (size_t i = n; i-- > 0 && rc == 0;) {
            bool closed = false;
            if (p[i + 1].revents)
                rc = serve(&conns[i], state, code, err, err_size, &closed);
            if (rc == 1) { /* kept open for the outcome page; no longer ours to poll */
                *reply_fd = conns[i].fd;
                conns[i] = conns[--n];
            } else if (closed) {
                drop(conns, &n, i);
            }
        }
        if (rc == 0 && (p[0].revents & POLLIN)) {
            int fd = port_accept(listen_fd, true);
            if (fd >= 0 && n == MAX_CONNECTIONS)
                drop(conns, &n, 0); /* full: make room; none of them has sent a whole request */
            if (fd >= 0)
                conns[n++] = (connection){.fd = fd};
        }
    }
    while (n > 0)
        drop(conns, &n, n - 1);
    free(conns);
    return rc == 1 ? 0 : -1;
}
