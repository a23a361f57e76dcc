#include "worker_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

/* Why a start was given up when SIGTERM or SIGINT came during it. */
#define STOPPING "the host is stopping (a SIGTERM or SIGINT came)"

/* Descriptors above the ones a worker is given, so the moves in the child cannot collide. */
#define HIGH_FD 10

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static int high_dup(int fd)
{
    int high = fcntl(fd, F_DUPFD_CLOEXEC, HIGH_FD);
    close(fd);
    return high;
}

/* In the child between fork and exec: async-signal-safe calls only. */
static void become_worker(const worker_settings *ws, pid_t supervisor, int channel, int held,
                          int out, int null_fd, const char *const argv[])
{
    /* Die with the supervisor, even on kill -9; set before exec, so no window is left open. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != supervisor)
        _exit(127);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL); /* the supervisor's signalfd set stays its own */
    setpgid(0, 0);                         /* a terminal's ^C reaches the supervisor only */
    if (dup2(null_fd, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0 || dup2(channel, 3) < 0 ||
        dup2(held, 4) < 0)
        _exit(127);
    execv(ws->exe, (char *const *)argv);
    _exit(127);
}

/* Forks and execs "host_stub --worker ..."; w gets its descriptors and pid. */
static int spawn(const worker_settings *ws, const char *private_path, const char *path,
                 const char *name, worker_proc *w, char *err, size_t err_size)
{
    int sv[2] = {-1, -1}, pipefd[2] = {-1, -1}, held_fd = -1;
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    bool made = null_fd >= 0 && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0 &&
                pipe2(pipefd, O_CLOEXEC) == 0 && (w->held = held_create(&held_fd)) != NULL;
    if (made) {
        sv[1] = high_dup(sv[1]);
        pipefd[1] = high_dup(pipefd[1]);
        held_fd = high_dup(held_fd);
        null_fd = high_dup(null_fd);
        made = sv[1] >= 0 && pipefd[1] >= 0 && held_fd >= 0 && null_fd >= 0;
    }
    char level[16];
    snprintf(level, sizeof level, "%d", (int)log_get_level());
    const char *argv[] = {"host_stub", "--worker", private_path, path, name, level, NULL};
    pid_t supervisor = getpid();
    w->pid = made ? fork() : -1;
    if (w->pid == 0)
        become_worker(ws, supervisor, sv[1], held_fd, pipefd[1], null_fd, argv);
    int saved = errno;
    close_fd(&sv[1]);
    close_fd(&pipefd[1]);
    close_fd(&held_fd);
    close_fd(&null_fd);
    w->channel = sv[0];
    w->output = pipefd[0];
    if (w->pid < 0) {
        snprintf(err, err_size, "cannot start a worker process: %s", strerror(saved));
        return PA_ERR_GENERIC;
    }
    fcntl(w->output, F_SETFL, O_NONBLOCK);
    return PA_OK;
}

static worker_proc *new_handle(const char *source)
{
    worker_proc *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->pid = -1;
    w->channel = w->output = -1;
    snprintf(w->source, sizeof w->source, "%s", source);
    return w;
}

static void remember(worker_proc *w, const char *line)
{
    snprintf(w->last_line, sizeof w->last_line, "%s", line);
}

/* Logs one line the worker printed (not through the host API: printf, a crash report). */
static void log_output_line(worker_proc *w, const char *line, size_t len)
{
    log_msg(PA_LOG_WARN, w->source, "output: %.*s", (int)len, line);
    snprintf(w->last_line, sizeof w->last_line, "%.*s", (int)len, line);
}

void worker_read_output(worker_proc *w)
{
    char chunk[4096];
    ssize_t n;
    while (w->output >= 0) {
        n = read(w->output, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0) { /* end of file: every writer is gone */
            close_fd(&w->output);
            break;
        }
        for (ssize_t i = 0; i < n; i++) {
            bool full = w->partial_len == sizeof w->partial;
            if (chunk[i] == '\n' || full) {
                log_output_line(w, w->partial, w->partial_len);
                w->partial_len = 0;
            }
            if (chunk[i] != '\n')
                w->partial[w->partial_len++] = chunk[i];
        }
    }
    if (w->output >= 0 || w->partial_len == 0)
        return;
    log_output_line(w, w->partial, w->partial_len); /* the last line, without its newline */
    w->partial_len = 0;
}

/* A LOG message: logged under the source the worker gave, which names the instance. */
static bool take_log(worker_proc *w, ipc_msg *m)
{
    int64_t level = ipc_get_int(m);
    const char *source = ipc_get_str(m);
    const char *text = ipc_get_str(m);
    if (m->bad)
        return false;
    if (level < PA_LOG_ERROR || level > PA_LOG_DEBUG)
        level = PA_LOG_INFO;
    log_msg((pa_log_level)level, source, "%s", text);
    remember(w, text);
    return true;
}

/* SIGTERM or SIGINT waiting, not yet read from the supervisor's signalfd: the host is stopping. */
static bool stop_pending(void)
{
    sigset_t pending;
    return sigpending(&pending) == 0 &&
           (sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGINT) == 1);
}

/* How often a start's wait looks for a pending stop; well inside the 0.5 s a stop may overrun. */
#define STOP_CHECK_MS 50

/*
 * Waits until deadline_ns for a message of type want (log lines and output
 * are handled meanwhile). 1: m holds it; 0: the worker closed or sent
 * something else (*why says which); -1: the deadline passed; -2 (only when
 * yields_to_stop) a SIGTERM or SIGINT is pending, so a start is not worth
 * finishing: the supervisor's loop reads the signal once this returns.
 */
static int await(worker_proc *w, int want, int64_t deadline_ns, bool yields_to_stop, ipc_msg *m,
                 const char **why)
{
    ipc_reader(m, w->buf, sizeof w->buf);
    int slice_ms = yields_to_stop ? STOP_CHECK_MS : 1000;
    for (;;) {
        if (yields_to_stop && stop_pending())
            return -2;
        int64_t left_ms = (deadline_ns - clock_mono_ns()) / 1000000;
        if (left_ms <= 0)
            return -1;
        struct pollfd pfd[2] = {{.fd = w->channel, .events = POLLIN},
                                {.fd = w->output, .events = POLLIN}};
        if (poll(pfd, 2, left_ms > slice_ms ? slice_ms : (int)left_ms) < 0 && errno != EINTR)
            return -1;
        if (pfd[1].revents)
            worker_read_output(w);
        if (!pfd[0].revents)
            continue;
        int got = ipc_recv(w->channel, m, true);
        if (got < 0 && errno == EAGAIN)
            continue;
        if (got != 1) {
            *why = got == 0 ? "the worker ended" : "the channel failed";
            return 0;
        }
        if (ipc_type_of(m) == IPC_LOG && take_log(w, m))
            continue;
        if (ipc_type_of(m) == want)
            return 1;
        *why = "the worker sent a message out of turn";
        return 0;
    }
}

static void take_stats(worker_proc *w, ipc_msg *m)
{
    const char *text = ipc_get_str(m);
    if (!m->bad)
        snprintf(w->pool_stats, sizeof w->pool_stats, "%s", text);
}

static void describe_status(int status, char *how, size_t how_size)
{
    if (WIFSIGNALED(status))
        snprintf(how, how_size, "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else if (WIFEXITED(status))
        snprintf(how, how_size, "exited with status %d", WEXITSTATUS(status));
    else
        snprintf(how, how_size, "ended (wait status %d)", status);
}

void worker_kill(worker_proc *w, char *how, size_t how_size)
{
    if (how_size)
        how[0] = '\0';
    if (w->pid > 0) {
        int status = 0;
        /* The whole group: processes the plugin started die with its worker. */
        kill(-w->pid, SIGKILL);
        kill(w->pid, SIGKILL);
        while (waitpid(w->pid, &status, 0) < 0 && errno == EINTR)
            ;
        describe_status(status, how, how_size);
        w->pid = -1;
    }
    close_fd(&w->channel);
    /*
     * Whatever it printed before dying. The pipe ends with its group; a
     * process that left the group and kept the pipe gets 100 ms per read.
     */
    struct pollfd pfd = {.fd = w->output, .events = POLLIN};
    while (w->output >= 0 && poll(&pfd, 1, 100) > 0)
        worker_read_output(w);
    close_fd(&w->output);
}

void worker_free(worker_proc *w)
{
    if (!w)
        return;
    if (w->pid > 0) {
        char how[128];
        worker_kill(w, how, sizeof how);
    }
    close_fd(&w->channel);
    close_fd(&w->output);
    held_unmap(w->held);
    free(w);
}

/* HELLO's fields into *d (NULL: only checked); false when malformed. */
static bool take_hello(ipc_msg *m, plugin_description *d)
{
    plugin_description ignored;
    if (!d)
        d = &ignored;
    d->abi_version = (uint32_t)ipc_get_int(m);
    snprintf(d->name, sizeof d->name, "%s", ipc_get_str(m));
    snprintf(d->version, sizeof d->version, "%s", ipc_get_str(m));
    snprintf(d->description, sizeof d->description, "%s", ipc_get_str(m));
    return !m->bad;
}

/* Waits for a spawned worker's HELLO, into *d; on failure the process is gone. */
static int greet(const worker_settings *ws, const char *path, worker_proc *w, plugin_description *d,
                 char *err, size_t err_size)
{
    ipc_msg m;
    const char *why = "";
    int got = await(w, IPC_HELLO, clock_mono_ns() + ws->start_timeout_ms * 1000000, true, &m, &why);
    if (got == 1) {
        if (take_hello(&m, d))
            return PA_OK;
        why = "the worker's HELLO was malformed";
    }
    char how[128];
    bool refused = got == 0 && ipc_type_of(&m) == IPC_LOAD_FAILED;
    /* The refusal names the file as the in-process loader would. */
    const char *reason = refused ? ipc_get_str(&m) : "";
    char copy[1200];
    snprintf(copy, sizeof copy, "%s", reason);
    worker_kill(w, how, sizeof how);
    if (refused && copy[0])
        snprintf(err, err_size, "%s", copy);
    else if (got == -2)
        snprintf(err, err_size, "refusing plugin '%s' for now: %s", path, STOPPING);
    else if (got < 0)
        snprintf(err, err_size, "refusing plugin '%s': its worker did not start within %lld ms",
                 path, (long long)ws->start_timeout_ms);
    else
        snprintf(err, err_size, "refusing plugin '%s': %s (%s; last line: \"%s\")", path, why, how,
                 w->last_line);
    return PA_ERR_INVALID;
}

int worker_describe(void *settings, const char *private_path, const char *path, const char *name,
                    plugin_description *out, char *err, size_t err_size)
{
    worker_proc *w = new_handle("loader");
    if (!w) {
        snprintf(err, err_size, "refusing plugin '%s': out of memory", path);
        return PA_ERR_NOMEM;
    }
    int rc = spawn(settings, private_path, path, name, w, err, err_size);
    if (rc == PA_OK)
        rc = greet(settings, path, w, out, err, err_size);
    /* Closing the channel before it got INIT ends the worker; reap it. */
    close_fd(&w->channel);
    if (rc == PA_OK) {
        int status;
        while (waitpid(w->pid, &status, 0) < 0 && errno == EINTR)
            ;
        w->pid = -1;
    }
    worker_free(w);
    return rc;
}

static int send_init(worker_proc *w, const worker_settings *ws, const loaded_plugin *pl,
                     const instance_config *ic)
{
    ipc_msg m;
    ipc_begin(&m, w->buf, sizeof w->buf, IPC_INIT);
    ipc_put_str(&m, pl->name);
    ipc_put_str(&m, ic->id);
    ipc_put_str(&m, ic->json);
    ipc_put_str(&m, ws->db_path);
    ipc_put_int(&m, ws->pool_size);
    ipc_put_int(&m, ws->lease_timeout_ms);
    ipc_put_int(&m, ws->busy_timeout_ms);
    ipc_put_int(&m, ws->max_lifetime_ms);
    ipc_put_int(&m, clock_is_virtual() ? clock_wall_ms() : -1);
    return ipc_send(w->channel, &m);
}

/*
 * Spawns a worker and queues INIT at once: the worker reads it after sending
 * HELLO, so nothing here waits for the worker.
 */
int worker_launch(const worker_settings *ws, const loaded_plugin *pl, const instance_config *ic,
                  const char *source, worker_proc **out, char *err, size_t err_size)
{
    *out = NULL;
    worker_proc *w = new_handle(source);
    if (!w) {
        snprintf(err, err_size, "out of memory");
        return PA_ERR_NOMEM;
    }
    int rc = spawn(ws, pl->private_path, pl->path, pl->name, w, err, err_size);
    if (rc == PA_OK && send_init(w, ws, pl, ic) != 0) {
        snprintf(err, err_size,
                 errno == EMSGSIZE
                     ? "the instance object is too large for a worker (limit %d bytes)"
                     : "cannot send INIT to the worker",
                 IPC_MAX_MESSAGE - 1024);
        char how[128];
        worker_kill(w, how, sizeof how);
        rc = PA_ERR_CONFIG;
    }
    if (rc != PA_OK) {
        worker_free(w);
        return rc;
    }
    w->stage = WORKER_AWAITING_HELLO;
    *out = w;
    return PA_OK;
}

int worker_start(const worker_settings *ws, const loaded_plugin *pl, const instance_config *ic,
                 const char *source, worker_proc **out, char *err, size_t err_size)
{
    *out = NULL;
    worker_proc *w = NULL;
    int rc = worker_launch(ws, pl, ic, source, &w, err, err_size);
    if (rc == PA_OK)
        rc = greet(ws, pl->path, w, NULL, err, err_size);
    if (rc != PA_OK) {
        worker_free(w);
        return rc;
    }
    /* init has the instance's poll deadline, as a poll would. */
    int64_t init_timeout_ms =
        ic->poll_timeout_seconds ? ic->poll_timeout_seconds * 1000 : ws->start_timeout_ms;
    ipc_msg m;
    const char *why = "";
    int got = await(w, IPC_INIT_DONE, clock_mono_ns() + init_timeout_ms * 1000000, true, &m, &why);
    rc = got == 1 ? (int)ipc_get_int(&m) : PA_ERR_GENERIC;
    const char *message = got == 1 ? ipc_get_str(&m) : "";
    if (got == 1)
        take_stats(w, &m);
    if (got == 1 && !m.bad && rc == PA_OK) {
        w->stage = WORKER_READY;
        *out = w;
        return PA_OK;
    }
    char how[128] = "", reason[1200];
    bool refused = got == 1 && !m.bad && rc != PA_OK;
    snprintf(reason, sizeof reason, "%s", refused ? message : "");
    worker_kill(w, how, sizeof how);
    if (refused)
        snprintf(err, err_size, "%s", reason); /* the plugin's own "init failed (...)" */
    else if (got == -2)
        snprintf(err, err_size, "init did not finish: %s; worker killed", STOPPING);
    else if (got < 0)
        snprintf(err, err_size, "init did not finish within %lld ms; worker killed",
                 (long long)init_timeout_ms);
    else
        snprintf(err, err_size, "worker failed during init: %s (%s; last line: \"%s\")",
                 got == 1 ? "malformed reply" : why, how, w->last_line);
    worker_free(w);
    return refused ? rc : PA_ERR_GENERIC;
}

int worker_send_poll(worker_proc *w)
{
    unsigned char buf[32];
    ipc_msg m;
    ipc_begin(&m, buf, sizeof buf, IPC_POLL);
    ipc_put_int(&m, clock_is_virtual() ? clock_wall_ms() : -1);
    return ipc_send(w->channel, &m);
}

/* A launched worker's HELLO or LOAD_FAILED, then its INIT_DONE (worker_launch). */
static worker_event take_start_reply(worker_proc *w, ipc_msg *m, worker_poll_result *res)
{
    int type = ipc_type_of(m);
    if (w->stage == WORKER_AWAITING_HELLO && type == IPC_HELLO) {
        w->stage = WORKER_AWAITING_INIT;
        return take_hello(m, NULL) ? WORKER_NOTHING : WORKER_GONE;
    }
    if (w->stage == WORKER_AWAITING_HELLO && type == IPC_LOAD_FAILED) {
        res->rc = PA_ERR_INVALID;
        snprintf(res->message, sizeof res->message, "%s", ipc_get_str(m));
        return m->bad ? WORKER_GONE : WORKER_START_FAILED;
    }
    if (w->stage != WORKER_AWAITING_INIT || type != IPC_INIT_DONE)
        return WORKER_GONE;
    res->rc = (int)ipc_get_int(m);
    snprintf(res->message, sizeof res->message, "%s", ipc_get_str(m));
    take_stats(w, m);
    if (m->bad)
        return WORKER_GONE;
    if (res->rc != PA_OK)
        return WORKER_START_FAILED;
    w->stage = WORKER_READY;
    return WORKER_STARTED;
}

worker_event worker_read(worker_proc *w, worker_poll_result *res)
{
    ipc_msg m;
    ipc_reader(&m, w->buf, sizeof w->buf);
    for (;;) {
        int got = ipc_recv(w->channel, &m, true);
        if (got < 0 && errno == EAGAIN)
            return WORKER_NOTHING;
        if (got != 1)
            return WORKER_GONE;
        int type = ipc_type_of(&m);
        if (type == IPC_LOG) {
            if (!take_log(w, &m))
                return WORKER_GONE;
            continue;
        }
        if (w->stage != WORKER_READY) {
            worker_event ev = take_start_reply(w, &m, res);
            if (ev == WORKER_NOTHING)
                continue; /* HELLO: INIT_DONE comes next */
            return ev;
        }
        if (type != IPC_POLL_DONE)
            return WORKER_GONE;
        res->rc = (int)ipc_get_int(&m);
        snprintf(res->message, sizeof res->message, "%s", ipc_get_str(&m));
        res->not_before_ms = ipc_get_int(&m);
        res->items = (uint64_t)ipc_get_int(&m);
        res->http_requests = (uint64_t)ipc_get_int(&m);
        take_stats(w, &m);
        return m.bad ? WORKER_GONE : WORKER_POLL_DONE;
    }
}

int64_t worker_resident_bytes(const worker_proc *w)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/statm", (long)w->pid);
    FILE *f = w->pid > 0 ? fopen(path, "r") : NULL;
    long long size = 0, resident = -1;
    if (f) {
        if (fscanf(f, "%lld %lld", &size, &resident) != 2)
            resident = -1;
        fclose(f);
    }
    return resident < 0 ? -1 : resident * sysconf(_SC_PAGESIZE);
}

void worker_stop_begin(worker_proc *w)
{
    unsigned char buf[8];
    ipc_msg m;
    ipc_begin(&m, buf, sizeof buf, IPC_SHUTDOWN);
    if (w->channel >= 0)
        ipc_send(w->channel, &m);
}

void worker_stop_finish(worker_proc *w, int64_t deadline_ns)
{
    if (!w)
        return;
    ipc_msg m;
    const char *why = "";
    int got = w->channel >= 0 ? await(w, IPC_BYE, deadline_ns, false, &m, &why) : 0;
    if (got == 1)
        take_stats(w, &m);
    int status = 0;
    bool reaped = false;
    /* BYE or end of file: it is exiting; give it until the deadline to be gone. */
    while (got >= 0 && !reaped && w->pid > 0) {
        reaped = waitpid(w->pid, &status, WNOHANG) == w->pid;
        if (!reaped && clock_mono_ns() >= deadline_ns)
            break;
        if (!reaped)
            usleep(1000);
    }
    if (reaped) {
        w->pid = -1;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            char how[128];
            describe_status(status, how, sizeof how);
            log_msg(PA_LOG_WARN, w->source, "worker %s during shutdown", how);
        }
    } else if (w->pid > 0) {
        pid_t pid = w->pid;
        char how[128];
        worker_kill(w, how, sizeof how);
        log_msg(PA_LOG_WARN, w->source,
                "worker (pid %ld) was still shutting down at the deadline; %s", (long)pid, how);
    }
}
