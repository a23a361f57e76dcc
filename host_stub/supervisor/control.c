#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "pa_plugin.h"
#include "port.h"

enum client_stage { CLIENT_FREE, CLIENT_READING, CLIENT_WAITING, CLIENT_WRITING };

typedef struct client {
    int fd;
    unsigned id;
    enum client_stage stage;
    bool taken;          /* its request went to control_take_request */
    int64_t deadline_ns; /* reading or writing; none while the host works on the answer */
    char in[CONTROL_REQUEST_MAX + 1];
    size_t in_len;
    char *out;
    size_t out_len, out_done;
} client;

struct control {
    int listen_fd, lock_fd;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    unsigned next_id;
    int64_t accept_paused_until_ns; /* out of descriptors: accepting waits, the loop never spins */
    client clients[CONTROL_CLIENTS];
};

/* A folder for the default path: made 0700 if missing; refused unless ours and closed. */
static int own_private_dir(const char *dir, int make_dir, char *err, size_t err_size)
{
    struct stat st;
    if (make_dir && mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, err_size, "cannot create the control folder %s: %s", dir, strerror(errno));
        return PA_ERR_CONFIG;
    }
    if (lstat(dir, &st) != 0) {
        snprintf(err, err_size, "no control folder %s: %s", dir, strerror(errno));
        return PA_ERR_CONFIG;
    }
    if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
        snprintf(err, err_size,
                 "the control folder %s must be a folder of this user with mode 0700; it is "
                 "not, so no one else's socket is trusted (give --control PATH)",
                 dir);
        return PA_ERR_CONFIG;
    }
    return PA_OK;
}

int control_path(const char *explicit_path, int make_dir, char *out, size_t out_size,
                 const char **chosen, char *err, size_t err_size)
{
    const char *env = getenv("PA_CONTROL_SOCKET");
    const char *given = explicit_path ? explicit_path : env && *env ? env : NULL;
    size_t limit = sizeof(((struct sockaddr_un *)0)->sun_path);
    *chosen = NULL;
    if (given && strcmp(given, "none") == 0)
        return PA_OK;
    char dir[4096];
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    if (given)
        snprintf(out, out_size, "%s", given);
    else if (xdg && *xdg && snprintf(dir, sizeof dir, "%s/pa-plugins", xdg) > 0)
        snprintf(out, out_size, "%s/control.sock", dir);
    else if (snprintf(dir, sizeof dir, "/tmp/pa-plugins-%lu", (unsigned long)geteuid()) > 0)
        snprintf(out, out_size, "%s/control.sock", dir);
    if (strlen(out) >= limit || strlen(out) + 1 >= out_size) {
        snprintf(err, err_size, "the control socket path %.200s is longer than %zu bytes", out,
                 limit - 1);
        return PA_ERR_CONFIG;
    }
    if (!given) {
        int rc = own_private_dir(dir, make_dir, err, err_size);
        if (rc != PA_OK)
            return rc;
    }
    *chosen = out;
    return PA_OK;
}

/* The lock that makes one host the socket's owner; -1 and errno EWOULDBLOCK when held. */
static int lock_path(const char *path)
{
    char lock[sizeof(((struct sockaddr_un *)0)->sun_path) + 8];
    snprintf(lock, sizeof lock, "%s.lock", path);
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

static int listen_at(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
    int fd = port_socket(AF_UNIX, SOCK_STREAM, true);
    if (fd < 0)
        return -1;
    /* Owner only from the start: the mode is set before anyone can connect. */
    mode_t old = umask(0177);
    int rc = bind(fd, (struct sockaddr *)&addr, sizeof addr);
    umask(old);
    if (rc != 0 || listen(fd, CONTROL_CLIENTS) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int control_open(const char *path, control **out, char *err, size_t err_size)
{
    *out = NULL;
    control *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, err_size, "out of memory for the control socket");
        return PA_ERR_NOMEM;
    }
    snprintf(c->path, sizeof c->path, "%s", path);
    c->lock_fd = lock_path(path);
    if (c->lock_fd < 0 && errno == EWOULDBLOCK) {
        log_msg(PA_LOG_WARN, "control",
                "another host_stub answers on the control socket %s; this one has none (give "
                "it --control PATH)",
                path);
        free(c);
        return PA_OK;
    }
    if (c->lock_fd >= 0)
        unlink(path); /* a socket left by a host that was killed; no one else can hold it */
    c->listen_fd = c->lock_fd >= 0 ? listen_at(path) : -1;
    if (c->listen_fd < 0) {
        snprintf(err, err_size, "cannot listen on the control socket %s: %s", path,
                 strerror(errno));
        if (c->lock_fd >= 0)
            close(c->lock_fd);
        free(c);
        return PA_ERR_GENERIC;
    }
    for (size_t i = 0; i < CONTROL_CLIENTS; i++)
        c->clients[i].fd = -1;
    log_msg(PA_LOG_INFO, "control", "answering on %s", path);
    *out = c;
    return PA_OK;
}

static void drop(client *cl)
{
    if (cl->fd >= 0)
        close(cl->fd);
    free(cl->out);
    *cl = (client){.fd = -1};
}

void control_close(control *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < CONTROL_CLIENTS; i++)
        drop(&c->clients[i]);
    unlink(c->path);
    close(c->listen_fd);
    close(c->lock_fd);
    free(c);
}

static int64_t deadline_in(int64_t ms)
{
    return clock_mono_ns() + ms * 1000000;
}

/* Writes what the client's answer has left, as far as the socket takes it now. */
static void write_some(client *cl)
{
    while (cl->out_done < cl->out_len) {
        ssize_t n = send(cl->fd, cl->out + cl->out_done, cl->out_len - cl->out_done,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            drop(cl);
            return;
        }
        cl->out_done += (size_t)n;
    }
    drop(cl); /* answered: the end of the stream says so */
}

/* Queues text (and a '\n') as the client's answer and starts writing it. */
static void answer(client *cl, const char *text)
{
    size_t len = strlen(text);
    free(cl->out);
    cl->out = malloc(len + 1);
    if (!cl->out) {
        drop(cl);
        return;
    }
    memcpy(cl->out, text, len);
    cl->out[len] = '\n';
    cl->out_len = len + 1;
    cl->out_done = 0;
    cl->stage = CLIENT_WRITING;
    cl->deadline_ns = deadline_in(CONTROL_WRITE_MS);
    write_some(cl);
}

/* The peer runs as this user, or as root; anyone else is answered no. */
static bool peer_allowed(int fd)
{
    uid_t uid;
    return port_peer_uid(fd, &uid) == 0 && (uid == geteuid() || uid == 0);
}

/* Connections taken per turn of the loop at most: a storm of them waits for the next turn. */
#define ACCEPTS_PER_TURN 32

static void accept_clients(control *c)
{
    for (int taken = 0; taken < ACCEPTS_PER_TURN; taken++) {
        int fd = port_accept(c->listen_fd, true);
        if (fd < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM))
            c->accept_paused_until_ns = deadline_in(100);
        if (fd < 0)
            return; /* EAGAIN: none left; anything else: the client's problem, retried by it */
        client *cl = NULL;
        for (size_t i = 0; i < CONTROL_CLIENTS && !cl; i++)
            cl = c->clients[i].stage == CLIENT_FREE ? &c->clients[i] : NULL;
        if (!cl || !peer_allowed(fd)) {
            const char *no = cl ? "{\"ok\":false,\"error\":\"permission denied: not the host's "
                                  "user\"}\n"
                                : "{\"ok\":false,\"error\":\"busy: too many clients\"}\n";
            ssize_t told = send(fd, no, strlen(no), MSG_NOSIGNAL | MSG_DONTWAIT);
            (void)told; /* best effort: the client is not kept either way */
            close(fd);
            continue;
        }
        if (++c->next_id == 0)
            c->next_id = 1; /* 0 is no client */
        *cl = (client){.fd = fd,
                       .id = c->next_id,
                       .stage = CLIENT_READING,
                       .deadline_ns = deadline_in(CONTROL_READ_MS)};
    }
}

/* Reads what the client sent; its request is ready at the first '\n'. */
static void read_some(client *cl)
{
    char scratch[256];
    bool reading = cl->stage == CLIENT_READING;
    char *into = reading ? cl->in + cl->in_len : scratch;
    size_t room = reading ? CONTROL_REQUEST_MAX - cl->in_len : sizeof scratch;
    ssize_t n = recv(cl->fd, into, room, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        drop(cl); /* gone, before or while its answer was being made */
        return;
    }
    if (!reading)
        return; /* more after the request: ignored */
    cl->in_len += (size_t)n;
    cl->in[cl->in_len] = '\0';
    char *nl = memchr(cl->in, '\n', cl->in_len);
    if (nl) {
        *nl = '\0';
        cl->stage = CLIENT_WAITING;
        cl->deadline_ns = 0;
    } else if (cl->in_len == CONTROL_REQUEST_MAX || memchr(cl->in, '\0', cl->in_len)) {
        answer(cl, "{\"ok\":false,\"error\":\"a request is one line of at most 1023 bytes\"}");
    }
}

size_t control_pollfds(const control *c, struct pollfd *fds)
{
    size_t n = 0;
    bool paused = c && clock_mono_ns() < c->accept_paused_until_ns;
    fds[n++] = (struct pollfd){.fd = c && !paused ? c->listen_fd : -1, .events = POLLIN};
    for (size_t i = 0; c && i < CONTROL_CLIENTS; i++) {
        const client *cl = &c->clients[i];
        short events = cl->stage == CLIENT_WRITING ? POLLOUT : POLLIN;
        fds[n++] = (struct pollfd){.fd = cl->stage == CLIENT_FREE ? -1 : cl->fd, .events = events};
    }
    return n;
}

void control_serve(control *c, const struct pollfd *fds, size_t n)
{
    if (!c || n == 0)
        return;
    for (size_t i = 0; i + 1 < n && i < CONTROL_CLIENTS; i++) {
        client *cl = &c->clients[i];
        if (cl->stage == CLIENT_FREE || fds[i + 1].fd != cl->fd || !fds[i + 1].revents)
            continue;
        if (cl->stage == CLIENT_WRITING)
            write_some(cl);
        else
            read_some(cl);
    }
    if (fds[0].revents)
        accept_clients(c);
}

void control_expire(control *c)
{
    int64_t now = clock_mono_ns();
    for (size_t i = 0; c && i < CONTROL_CLIENTS; i++) {
        client *cl = &c->clients[i];
        if (cl->stage != CLIENT_FREE && cl->deadline_ns && now >= cl->deadline_ns)
            drop(cl); /* too slow to ask, or to take its answer */
    }
}

int64_t control_next_deadline_ms(const control *c)
{
    int64_t next = -1, now = clock_mono_ns();
    if (c && now < c->accept_paused_until_ns)
        next = (c->accept_paused_until_ns - now) / 1000000 + 1;
    for (size_t i = 0; c && i < CONTROL_CLIENTS; i++) {
        const client *cl = &c->clients[i];
        if (cl->stage == CLIENT_FREE || !cl->deadline_ns)
            continue;
        int64_t left = cl->deadline_ns > now ? (cl->deadline_ns - now) / 1000000 + 1 : 0;
        next = next < 0 || left < next ? left : next;
    }
    return next;
}

int control_take_request(control *c, unsigned *id, const char **line)
{
    for (size_t i = 0; c && i < CONTROL_CLIENTS; i++) {
        client *cl = &c->clients[i];
        if (cl->stage == CLIENT_WAITING && !cl->taken) {
            cl->taken = true;
            *id = cl->id;
            *line = cl->in;
            return 1;
        }
    }
    return 0;
}

static client *find(const control *c, unsigned id)
{
    for (size_t i = 0; c && i < CONTROL_CLIENTS; i++) {
        if (c->clients[i].stage == CLIENT_WAITING && c->clients[i].id == id)
            return (client *)&c->clients[i];
    }
    return NULL;
}

void control_answer(control *c, unsigned id, const char *json)
{
    client *cl = find(c, id);
    if (cl)
        answer(cl, json);
}

int control_waiting(const control *c, unsigned id)
{
    return find(c, id) != NULL;
}
