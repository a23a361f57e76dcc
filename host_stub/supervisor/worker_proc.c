#include "worker_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "channel.h"
#include "group_record.h"
#include "clock.h"
#include "log.h"
#include "port.h"
#include "proc_tree.h"
#include "service_notify.h"
#include "signal_source.h"

/* Why a start was given up when SIGTERM or SIGINT came during it. */
#define STOPPING "the host is stopping (a SIGTERM or SIGINT came)"

/* Descriptors above the ones a worker is given, so the moves in the child cannot collide. */
#define HIGH_FD 10

/* How long a killed worker's last output is read, at most. */
#define DRAIN_MS 100

/* How long a worker that said BYE may take to exit, even when the stop's deadline has passed. */
#define EXIT_AFTER_BYE_MS 200

/* How long a thread told to end (its channel closed) is waited for before it is left alone. */
#define THREAD_END_WAIT_MS 100

/*
 * The worker processes alive (spawned, not yet reaped). Any other child of
 * the supervisor is an orphan it adopted as subreaper: a plugin's process
 * whose parent ended (worker_reap_orphans). The supervisor's one thread
 * alone spawns and reaps, so no lock.
 */
static pid_t *tracked;
static size_t tracked_count, tracked_cap;

/* Room for one more tracked pid, made before a fork: an untracked worker would be swept. */
static bool tracking_reserve(void)
{
    if (tracked_count < tracked_cap)
        return true;
    size_t cap = tracked_cap ? 2 * tracked_cap : 16;
    pid_t *more = realloc(tracked, cap * sizeof *more);
    if (!more)
        return false;
    tracked = more;
    tracked_cap = cap;
    return true;
}

static bool is_tracked(pid_t pid)
{
    for (size_t i = 0; i < tracked_count; i++)
        if (tracked[i] == pid)
            return true;
    return false;
}

static void untrack(pid_t pid)
{
    for (size_t i = 0; i < tracked_count; i++)
        if (tracked[i] == pid) {
            tracked[i] = tracked[--tracked_count];
            break;
        }
    if (tracked_count == 0) {
        free(tracked);
        tracked = NULL;
        tracked_cap = 0;
    }
}

/*
 * Reaps w's process, which has ended or been sent SIGKILL, after killing
 * what is left of its process group: processes the plugin started die with
 * their worker, on every stop. The group is killed before the reap, while
 * the leader's pid cannot yet be reused.
 */
static void reap_process(worker_proc *w, int *status)
{
    kill(-w->pid, SIGKILL);
    while (waitpid(w->pid, status, 0) < 0 && errno == EINTR)
        ;
    untrack(w->pid);
    group_record_remove(w->pid);
    w->pid = -1;
}

bool worker_ended(const worker_proc *w)
{
    siginfo_t info = {0};
    return w->pid > 0 && waitid(P_PID, (id_t)w->pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
           info.si_pid == w->pid;
}

size_t worker_reap_orphans(void)
{
    /* Every child of this process (proc_tree.h), each killed and reaped unless a worker. */
    pid_t children[PROC_TREE_MAX];
    size_t count = 0, found = 0;
    proc_children(getpid(), children, &count, PROC_TREE_MAX);
    for (size_t i = 0; i < count; i++) {
        pid_t pid = children[i];
        if (is_tracked(pid))
            continue;
        kill(-pid, SIGKILL); /* its group, when it made one (setsid) */
        kill(pid, SIGKILL);
        int status; /* a zombie is listed until reaped: reaped now, or at the next sweep */
        waitpid(pid, &status, WNOHANG);
        found++;
    }
    return found;
}

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
    /*
     * Die with the supervisor, even on kill -9; set before exec, so no window
     * is left open. Where the platform cannot (ENOSYS), the worker watches
     * its channel for the supervisor's end instead (worker_main.c).
     */
    if ((port_die_with_parent() != 0 && errno != ENOSYS) || getppid() != supervisor)
        _exit(127);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL); /* the supervisor's signal mask stays its own */
    setpgid(0, 0);                         /* a terminal's ^C reaches the supervisor only */
    if (dup2(null_fd, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0 || dup2(channel, 3) < 0 ||
        dup2(held, 4) < 0)
        _exit(127);
    port_close_from(5); /* whatever the launcher left open is not the plugin's */
    execv(ws->exe, (char *const *)argv);
    _exit(127);
}

/* Forks and execs "host_stub --worker ..."; w gets its descriptors and pid. */
static int spawn_process(const worker_settings *ws, const char *private_path, const char *path,
                         const char *name, worker_proc *w, char *err, size_t err_size)
{
    int sv[2] = {-1, -1}, pipefd[2] = {-1, -1}, held_fd = -1;
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    bool made = null_fd >= 0 && ipc_channel_pair(sv) == 0 &&
                port_pipe(pipefd) == 0 && (w->held = held_create(&held_fd)) != NULL;
    if (made) {
        sv[1] = high_dup(sv[1]);
        pipefd[1] = high_dup(pipefd[1]);
        held_fd = high_dup(held_fd);
        null_fd = high_dup(null_fd);
        made = sv[1] >= 0 && pipefd[1] >= 0 && held_fd >= 0 && null_fd >= 0 && tracking_reserve();
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
    tracked[tracked_count++] = w->pid; /* room reserved before the fork */
    group_record_add(w->pid);
    fcntl(w->output, F_SETFL, O_NONBLOCK);
    return PA_OK;
}

/*
 * A worker on a thread. Once the handle is done with it, whichever of the
 * two ends last frees it: the thread when it was left running (a hung
 * plugin), the handle when it joined it.
 */
enum { THREAD_RUNNING, THREAD_DONE, THREAD_LEFT };

struct worker_thread {
    pthread_t tid;
    worker_entry_fn entry;
    worker_args args;
    atomic_int state;
    char *private_path, *path, *name;
};

static void thread_free(worker_thread *t)
{
    free(t->private_path);
    free(t->path);
    free(t->name);
    free(t);
}

static void *thread_main(void *arg)
{
    worker_thread *t = arg;
    t->entry(&t->args); /* closes its channel end and the held-sites descriptor */
    if (atomic_exchange(&t->state, THREAD_DONE) == THREAD_LEFT)
        thread_free(t);
    return NULL;
}

/* Starts the worker on a thread of this process; it inherits the blocked signal mask. */
static int spawn_thread(const worker_settings *ws, const char *private_path, const char *path,
                        const char *name, worker_proc *w, char *err, size_t err_size)
{
    int sv[2] = {-1, -1}, held_fd = -1;
    worker_thread *t = calloc(1, sizeof *t);
    bool made = t && (t->private_path = strdup(private_path)) && (t->path = strdup(path)) &&
                (t->name = strdup(name)) &&
                ipc_channel_pair(sv) == 0 &&
                (w->held = held_create(&held_fd)) != NULL;
    int rc = made ? 0 : errno ? errno : ENOMEM;
    if (made) {
        t->entry = ws->in_process;
        t->args = (worker_args){.channel_fd = sv[1],
                                .held_fd = held_fd,
                                .private_path = t->private_path,
                                .path = t->path,
                                .name = t->name,
                                .log_level = log_get_level(),
                                .in_process = true};
        atomic_init(&t->state, THREAD_RUNNING);
        rc = pthread_create(&t->tid, NULL, thread_main, t);
    }
    w->channel = sv[0];
    if (rc != 0) {
        close_fd(&sv[1]);
        close_fd(&held_fd);
        if (t)
            thread_free(t);
        snprintf(err, err_size, "cannot start a worker thread: %s", strerror(rc));
        return PA_ERR_GENERIC;
    }
    w->thread = t;
    return PA_OK;
}

static int spawn(const worker_settings *ws, const char *private_path, const char *path,
                 const char *name, worker_proc *w, char *err, size_t err_size)
{
    return ws->in_process ? spawn_thread(ws, private_path, path, name, w, err, err_size)
                          : spawn_process(ws, private_path, path, name, w, err, err_size);
}

/*
 * Joins the thread if it ends by deadline_ns; otherwise leaves it to end on
 * its own (and free itself). Either way the handle is done with it.
 */
static bool thread_reap(worker_proc *w, int64_t deadline_ns)
{
    worker_thread *t = w->thread;
    w->thread = NULL;
    while (atomic_load(&t->state) != THREAD_DONE && clock_mono_ns() < deadline_ns)
        usleep(1000);
    if (atomic_load(&t->state) == THREAD_DONE) {
        pthread_join(t->tid, NULL);
        thread_free(t);
        return true;
    }
    pthread_detach(t->tid);
    if (atomic_exchange(&t->state, THREAD_LEFT) == THREAD_DONE)
        thread_free(t); /* it ended in between */
    return false;
}

void worker_where(const worker_proc *w, char *buf, size_t size)
{
    if (w->pid > 0)
        snprintf(buf, size, "pid %ld", (long)w->pid);
    else
        snprintf(buf, size, "in process");
}

static worker_proc *new_handle(const char *source)
{
    worker_proc *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->pid = -1;
    w->channel = w->output = -1;
    w->gone_why = "the worker ended";
    ipc_reader(&w->in, w->buf, sizeof w->buf);
    snprintf(w->source, sizeof w->source, "%s", source);
    return w;
}

/*
 * A worker's log and output lines together, at most LINE_BURST per
 * LINE_WINDOW_MS; the rest are counted and said once the window ends, as
 * journald's RateLimitBurst does. A flooding plugin costs the log that much
 * and no more.
 */
#define LINE_WINDOW_MS 30000
#define LINE_BURST     1000

/* Says how many lines the window that ended suppressed, if any. */
static void say_suppressed(worker_proc *w)
{
    if (w->lines_suppressed)
        log_msg(PA_LOG_WARN, w->source,
                "suppressed %llu log and output line(s): more than %d in %d s",
                (unsigned long long)w->lines_suppressed, LINE_BURST, LINE_WINDOW_MS / 1000);
    w->lines_suppressed = 0;
}

/* Whether one more line of w's may be logged now. */
static bool line_allowed(worker_proc *w)
{
    int64_t now = clock_mono_ns() / 1000000;
    if (now - w->lines_window_ms >= LINE_WINDOW_MS) {
        say_suppressed(w);
        w->lines_window_ms = now;
        w->lines_in_window = 0;
    }
    if (w->lines_in_window < LINE_BURST) {
        w->lines_in_window++;
        return true;
    }
    if (w->lines_suppressed++ == 0)
        log_msg(PA_LOG_WARN, w->source,
                "more than %d log and output lines in %d s; the rest of this window's are "
                "suppressed and counted",
                LINE_BURST, LINE_WINDOW_MS / 1000);
    return false;
}

static void remember(worker_proc *w, const char *line)
{
    snprintf(w->last_line, sizeof w->last_line, "%s", line);
}

/* Logs one line the worker printed (not through the host API: printf, a crash report). */
static void log_output_line(worker_proc *w, const char *line, size_t len)
{
    if (line_allowed(w))
        log_msg(PA_LOG_WARN, w->source, "output: %.*s", (int)len, line);
    snprintf(w->last_line, sizeof w->last_line, "%.*s", (int)len, line);
}

/* What one call reads of a worker's output, at most: a flood waits for the next turn. */
#define OUTPUT_READ_MAX ((size_t)64 * 1024)

void worker_read_output(worker_proc *w)
{
    char chunk[4096];
    ssize_t n;
    size_t taken = 0;
    while (w->output >= 0 && taken < OUTPUT_READ_MAX) {
        n = read(w->output, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0) { /* end of file: every writer is gone */
            close_fd(&w->output);
            break;
        }
        taken += (size_t)n;
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

/*
 * A LOG message: always under the worker's own source (its instance), never
 * one the worker chose, so no worker speaks as the host ("outbox", "host");
 * a part it names (its pool) goes in front of the text.
 */
static void take_log(worker_proc *w, const msg_log *m)
{
    pa_log_level level =
        m->level < PA_LOG_ERROR || m->level > PA_LOG_DEBUG ? PA_LOG_INFO : (pa_log_level)m->level;
    remember(w, m->text);
    if (w->echo_item && strcmp(m->source, DRY_RUN_ITEM_SOURCE) == 0) {
        w->echo_item(w->echo_item_arg, m->text, strlen(m->text));
        return; /* bounded by the task stream's queue, as a real run's tasks are */
    }
    if (level > log_get_level() || !line_allowed(w))
        return; /* lines below the level do not count against the limit */
    if (m->source[0] && strcmp(m->source, w->source) != 0)
        log_msg(level, w->source, "%s: %s", m->source, m->text);
    else
        log_msg(level, w->source, "%s", m->text);
}

/* A report's pool figures: kept for the stats lines. */
static void take_pool_figures(worker_proc *w, int64_t longest_hold_ns, const char *pool_stats)
{
    w->longest_hold_ns = longest_hold_ns;
    snprintf(w->pool_stats, sizeof w->pool_stats, "%s", pool_stats);
}

/* How often a start's wait looks for a pending stop; well inside the 0.5 s a stop may overrun. */
#define STOP_CHECK_MS 50

/*
 * Receives and decodes one message without blocking. 1: *m holds it (a LOG
 * is logged and reported like any other); 0: nothing waits; -1: the worker
 * ended, the channel failed, or the message was malformed (*why says which).
 */
static int receive(worker_proc *w, channel_msg *m, const char **why)
{
    ipc_msg *in = &w->in;
    int got = ipc_recv(w->channel, in, true);
    if (got < 0 && errno == EAGAIN)
        return 0;
    if (got != 1) {
        *why = got == 0 ? "the worker ended" : "the channel failed";
        return -1;
    }
    if (!channel_decode(in, m)) {
        *why = "the worker sent a malformed message";
        return -1;
    }
    if (m->type == IPC_LOG)
        take_log(w, &m->u.log);
    return 1;
}

/*
 * Waits until deadline_ns for a message of type want (log lines and output
 * are handled meanwhile). 1: m holds it; 0: the worker closed or sent
 * something else (*why says which); -1: the deadline passed.
 */
static int await(worker_proc *w, int want, int64_t deadline_ns, channel_msg *m, const char **why)
{
    int slice_ms = 1000;
    m->type = 0;
    for (;;) {
        /* Past the deadline, one look without waiting: an answer sent in time still counts. */
        int64_t left_ms = (deadline_ns - clock_mono_ns()) / 1000000;
        struct pollfd pfd[2] = {{.fd = w->channel, .events = POLLIN},
                                {.fd = w->output, .events = POLLIN}};
        int wait_ms = left_ms <= 0 ? 0 : left_ms > slice_ms ? slice_ms : (int)left_ms;
        if (poll(pfd, 2, wait_ms) < 0 && errno != EINTR)
            return -1;
        if (pfd[1].revents)
            worker_read_output(w);
        if (!pfd[0].revents && left_ms <= 0)
            return -1;
        if (!pfd[0].revents)
            continue;
        int got = receive(w, m, why);
        if (got < 0)
            return 0;
        if (got == 0 || m->type == IPC_LOG)
            continue;
        if ((int)m->type == want)
            return 1;
        *why = "the worker sent a message out of turn";
        return 0;
    }
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
        kill(w->pid, SIGKILL);
        reap_process(w, &status);
        describe_status(status, how, how_size);
    }
    close_fd(&w->channel); /* a thread waiting on it reads end of file and ends */
    if (w->thread) {
        bool ended = thread_reap(w, clock_mono_ns() + THREAD_END_WAIT_MS * 1000000LL);
        snprintf(how, how_size, "%s",
                 ended ? "ended its thread"
                       : "was left running on its thread (a plugin in process cannot be killed)");
    }
    /*
     * Whatever it printed before dying, for DRAIN_MS at most: the pipe ends
     * with its group, but a process that left the group (setsid) may keep
     * it open and keep writing.
     */
    int64_t until = clock_mono_ns() + DRAIN_MS * 1000000LL;
    struct pollfd pfd = {.fd = w->output, .events = POLLIN};
    for (int64_t left_ms = DRAIN_MS; w->output >= 0 && left_ms > 0;
         left_ms = (until - clock_mono_ns()) / 1000000) {
        if (poll(&pfd, 1, (int)left_ms) <= 0)
            break;
        worker_read_output(w);
    }
    close_fd(&w->output);
}

void worker_free(worker_proc *w)
{
    if (!w)
        return;
    if (w->pid > 0 || w->thread) {
        char how[128];
        worker_kill(w, how, sizeof how);
    }
    close_fd(&w->channel);
    close_fd(&w->output);
    say_suppressed(w);
    held_unmap(w->held);
    free(w);
}

static void take_hello(const msg_hello *h, plugin_description *d)
{
    d->abi_version = (uint32_t)h->abi_version;
    snprintf(d->name, sizeof d->name, "%s", h->name);
    snprintf(d->version, sizeof d->version, "%s", h->version);
    snprintf(d->description, sizeof d->description, "%s", h->description);
}

static int send_init(worker_proc *w, const worker_settings *ws, const loaded_plugin *pl,
                     const instance_config *ic)
{
    channel_msg m = {.type = IPC_INIT,
                     .u.init = {.plugin = pl->name,
                                .instance_id = ic->id,
                                .instance_json = ic->json,
                                .db_path = ws->db_path,
                                .pool_size = ws->pool_size,
                                .lease_timeout_ms = ws->lease_timeout_ms,
                                .busy_timeout_ms = ws->busy_timeout_ms,
                                .max_lifetime_ms = ws->max_lifetime_ms,
                                .virtual_ms = clock_is_virtual() ? clock_wall_ms() : -1,
                                .db_kind = ws->db_kind,
                                .connect_timeout_s = ws->connect_timeout_s,
                                .statement_timeout_ms = ws->statement_timeout_ms,
                                .pool_idle_ms = ws->pool_idle_ms,
                                .run_mode = ws->run_mode}};
    return channel_send(w->channel, &m);
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
    w->echo_item = ws->echo_item;
    w->echo_item_arg = ws->echo_item_arg;
    int rc = spawn(ws, pl->private_path, pl->path, pl->name, w, err, err_size);
    if (rc == PA_OK && send_init(w, ws, pl, ic) != 0) {
        snprintf(err, err_size,
                 errno == EMSGSIZE
                     ? "the instance object is too large for a worker (limit %zu bytes)"
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

/* A number a plugin cannot guess for a poll: random bytes, or failing that the clock and the pid.
 */
static int64_t poll_nonce(void)
{
    uint64_t n = 0;
    if (port_random_bytes(&n, sizeof n) != 0)
        n = (uint64_t)clock_mono_ns() * 6364136223846793005ULL ^ (uint64_t)getpid();
    return (int64_t)(n >> 1);
}

int worker_send_poll(worker_proc *w)
{
    w->poll_nonce = poll_nonce();
    channel_msg m = {.type = IPC_POLL,
                     .u.poll = {clock_is_virtual() ? clock_wall_ms() : -1, w->poll_nonce}};
    return channel_send(w->channel, &m);
}

/* A launched worker's HELLO or LOAD_FAILED, then its INIT_DONE (worker_launch). */
static worker_event take_start_reply(worker_proc *w, const channel_msg *m, worker_poll_result *res)
{
    if (w->stage == WORKER_AWAITING_HELLO && m->type == IPC_HELLO) {
        take_hello(&m->u.hello, &w->hello);
        w->stage = WORKER_AWAITING_INIT;
        return WORKER_NOTHING;
    }
    if (w->stage == WORKER_AWAITING_HELLO && m->type == IPC_LOAD_FAILED) {
        res->rc = PA_ERR_INVALID;
        snprintf(res->message, sizeof res->message, "%s", m->u.load_failed.reason);
        return WORKER_START_FAILED;
    }
    if (w->stage != WORKER_AWAITING_INIT || m->type != IPC_INIT_DONE)
        return WORKER_GONE;
    const msg_init_done *done = &m->u.init_done;
    res->rc = (int)done->rc;
    snprintf(res->message, sizeof res->message, "%s", done->message);
    take_pool_figures(w, done->longest_hold_ns, done->pool_stats);
    if (res->rc != PA_OK)
        return WORKER_START_FAILED;
    w->stage = WORKER_READY;
    return WORKER_STARTED;
}

/*
 * A poll's counts, at most: far above what one poll does (emit writes one
 * row per call), far below what would overflow the totals kept from them.
 */
#define PLAUSIBLE_ITEMS         100000000
#define PLAUSIBLE_HTTP_REQUESTS 10000000

/* A count from a worker, kept when plausible; 0 (logged) when not. */
static uint64_t plausible(const worker_proc *w, const char *what, int64_t count, int64_t max)
{
    if (count >= 0 && count <= max)
        return (uint64_t)count;
    log_msg(PA_LOG_WARN, w->source,
            "the worker reported %lld %s for one poll, outside 0..%lld; counted as 0",
            (long long)count, what, (long long)max);
    return 0;
}

static worker_event take_poll_done(worker_proc *w, const msg_poll_done *done,
                                   worker_poll_result *res)
{
    if (done->nonce != w->poll_nonce) {
        w->gone_why = "the worker sent a POLL_DONE for no poll it was sent (not from its own "
                      "loop: the nonce does not match)";
        return WORKER_GONE;
    }
    res->rc = (int)done->rc;
    snprintf(res->message, sizeof res->message, "%s", done->message);
    res->not_before_ms = done->not_before_ms;
    res->items = plausible(w, "items", done->items, PLAUSIBLE_ITEMS);
    res->http_requests =
        plausible(w, "HTTP requests", done->http_requests, PLAUSIBLE_HTTP_REQUESTS);
    take_pool_figures(w, done->longest_hold_ns, done->pool_stats);
    return WORKER_POLL_DONE;
}

/* Messages one worker_read takes at most: a worker flooding LOG leaves the loop its turn. */
#define READ_MESSAGES_MAX 256

worker_event worker_read(worker_proc *w, worker_poll_result *res)
{
    for (int taken = 0; taken < READ_MESSAGES_MAX; taken++) {
        channel_msg m;
        int got = receive(w, &m, &w->gone_why);
        if (got == 0)
            return WORKER_NOTHING;
        if (got < 0)
            return WORKER_GONE;
        if (m.type == IPC_LOG)
            continue;
        worker_event ev = w->stage != WORKER_READY  ? take_start_reply(w, &m, res)
                          : m.type == IPC_POLL_DONE ? take_poll_done(w, &m.u.poll_done, res)
                                                    : WORKER_GONE;
        if (ev == WORKER_NOTHING)
            continue; /* HELLO: INIT_DONE comes next */
        if (ev == WORKER_GONE && (m.type != IPC_POLL_DONE || w->stage != WORKER_READY))
            w->gone_why = "the worker sent a message out of turn"; /* take_poll_done says its own */
        return ev;
    }
    return WORKER_NOTHING; /* more waits: the loop's next turn reads it */
}

/* How a synchronous start that did not finish ended, said as the stage it reached. */
static int start_not_finished(worker_proc *w, const char *path, int64_t timeout_ms, bool stopping,
                              char *err, size_t err_size)
{
    bool hello = w->stage == WORKER_AWAITING_HELLO;
    if (hello && stopping)
        snprintf(err, err_size, "refusing plugin '%s' for now: %s", path, STOPPING);
    else if (hello)
        snprintf(err, err_size, "refusing plugin '%s': its worker did not start within %lld ms",
                 path, (long long)timeout_ms);
    else if (stopping)
        snprintf(err, err_size, "init did not finish: %s; worker killed", STOPPING);
    else
        snprintf(err, err_size, "init did not finish within %lld ms; worker killed",
                 (long long)timeout_ms);
    return hello ? PA_ERR_INVALID : PA_ERR_GENERIC;
}

/* A synchronous start's worker that ended or broke, said as the stage it reached. */
static int start_broke(worker_proc *w, const char *path, char *err, size_t err_size)
{
    char how[128];
    bool hello = w->stage == WORKER_AWAITING_HELLO;
    worker_kill(w, how, sizeof how);
    if (hello)
        snprintf(err, err_size, "refusing plugin '%s': %s (%s; last line: \"%s\")", path,
                 w->gone_why, how, w->last_line);
    else
        snprintf(err, err_size, "worker failed during init: %s (%s; last line: \"%s\")",
                 w->gone_why, how, w->last_line);
    return hello ? PA_ERR_INVALID : PA_ERR_GENERIC;
}

/*
 * The launched start's own state machine (worker_read), driven here until
 * it reaches until (WORKER_READY for a start; WORKER_AWAITING_INIT, HELLO
 * received, for a describe): HELLO within start_timeout_ms, then INIT_DONE
 * within init's deadline; a pending SIGTERM or SIGINT cuts either wait
 * short. PA_OK, or an error with err said as the stage the start reached.
 */
static int finish_start(const worker_settings *ws, const char *path, int64_t init_timeout_ms,
                        worker_stage until, worker_proc *w, char *err, size_t err_size)
{
    int64_t timeout_ms = ws->start_timeout_ms;
    int64_t deadline_ns = clock_mono_ns() + timeout_ms * 1000000;
    for (;;) {
        /* A wait with a deadline, not a stuck loop: the service manager hears the host is alive. */
        service_watchdog();
        bool stopping = signal_source_stop_pending();
        int64_t left_ms = (deadline_ns - clock_mono_ns()) / 1000000;
        if (stopping || left_ms <= 0) {
            int rc = start_not_finished(w, path, timeout_ms, stopping, err, err_size);
            char how[128];
            worker_kill(w, how, sizeof how);
            return rc;
        }
        struct pollfd pfd[2] = {{.fd = w->channel, .events = POLLIN},
                                {.fd = w->output, .events = POLLIN}};
        if (poll(pfd, 2, left_ms > STOP_CHECK_MS ? STOP_CHECK_MS : (int)left_ms) < 0 &&
            errno != EINTR)
            continue;
        if (pfd[1].revents)
            worker_read_output(w);
        if (!pfd[0].revents)
            continue;
        worker_stage before = w->stage;
        worker_poll_result res;
        worker_event ev = worker_read(w, &res);
        if (before == WORKER_AWAITING_HELLO && w->stage == WORKER_AWAITING_INIT) {
            timeout_ms = init_timeout_ms; /* init has the instance's poll deadline */
            deadline_ns = clock_mono_ns() + timeout_ms * 1000000;
        }
        if (ev == WORKER_STARTED || (until == WORKER_AWAITING_INIT && w->stage == until))
            return PA_OK;
        if (ev == WORKER_START_FAILED) { /* the loader's refusal, or the plugin's "init failed" */
            snprintf(err, err_size, "%s", res.message);
            char how[128];
            worker_kill(w, how, sizeof how);
            return res.rc;
        }
        if (ev == WORKER_GONE)
            return start_broke(w, path, err, err_size);
    }
}

int worker_start(const worker_settings *ws, const loaded_plugin *pl, const instance_config *ic,
                 const char *source, worker_proc **out, char *err, size_t err_size)
{
    *out = NULL;
    worker_proc *w = NULL;
    int rc = worker_launch(ws, pl, ic, source, &w, err, err_size);
    int64_t init_timeout_ms =
        ic->poll_timeout_seconds ? ic->poll_timeout_seconds * 1000 : ws->start_timeout_ms;
    if (rc == PA_OK)
        rc = finish_start(ws, pl->path, init_timeout_ms, WORKER_READY, w, err, err_size);
    if (rc != PA_OK) {
        worker_free(w);
        return rc;
    }
    *out = w;
    return PA_OK;
}

/*
 * A process that said BYE (or whose channel closed) is given until deadline_ns
 * to exit: its exit runs the plugin's destructors, which may hang like any
 * plugin code. false: still there at the deadline.
 */
static bool reap_process_by(worker_proc *w, int64_t deadline_ns, const char *phase)
{
    int status = 0;
    while (w->pid > 0 && !worker_ended(w)) {
        if (clock_mono_ns() >= deadline_ns)
            return false;
        usleep(1000);
    }
    if (w->pid > 0)
        reap_process(w, &status);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char how[128];
        describe_status(status, how, sizeof how);
        log_msg(PA_LOG_WARN, w->source, "worker %s %s", how, phase);
    }
    return true;
}

int worker_describe(void *settings, const char *private_path, const char *path, const char *name,
                    plugin_description *out, char *err, size_t err_size)
{
    const worker_settings *ws = settings;
    worker_proc *w = new_handle("loader");
    if (!w) {
        snprintf(err, err_size, "refusing plugin '%s': out of memory", path);
        return PA_ERR_NOMEM;
    }
    int rc = spawn(ws, private_path, path, name, w, err, err_size);
    if (rc == PA_OK)
        rc = finish_start(ws, path, 0, WORKER_AWAITING_INIT, w, err, err_size);
    if (rc == PA_OK)
        *out = w->hello;
    /* Closing the channel before it got INIT ends the worker; reap it. */
    close_fd(&w->channel);
    int64_t deadline_ns = clock_mono_ns() + ws->start_timeout_ms * 1000000LL;
    if (rc == PA_OK && w->pid > 0 && !reap_process_by(w, deadline_ns, "after describing itself")) {
        char how[128];
        worker_kill(w, how, sizeof how);
        log_msg(PA_LOG_WARN, w->source,
                "worker for '%s' was still exiting %lld ms after describing itself; %s", path,
                (long long)ws->start_timeout_ms, how);
    }
    if (rc == PA_OK && w->thread)
        thread_reap(w, deadline_ns);
    worker_free(w);
    return rc;
}

int worker_memory(const worker_proc *w, proc_tree_usage *out)
{
    return w->pid > 0 ? proc_tree_usage_of(w->pid, out) : -1;
}

void worker_stop_begin(worker_proc *w)
{
    channel_msg m = {.type = IPC_SHUTDOWN};
    if (w->channel >= 0 && !w->shutdown_sent)
        channel_send(w->channel, &m);
    w->shutdown_sent = true;
}

void worker_stop_finish(worker_proc *w, int64_t deadline_ns)
{
    if (!w)
        return;
    channel_msg m;
    const char *why = "";
    int got = w->channel >= 0 ? await(w, IPC_BYE, deadline_ns, &m, &why) : 0;
    if (got == 1)
        take_pool_figures(w, m.u.bye.longest_hold_ns, m.u.bye.pool_stats);
    /* BYE or end of file: it is exiting; give it until the deadline to be gone. */
    if (w->thread) {
        close_fd(&w->channel);
        int64_t until = got >= 0 ? deadline_ns : clock_mono_ns() + THREAD_END_WAIT_MS * 1000000LL;
        if (!thread_reap(w, until))
            log_msg(PA_LOG_WARN, w->source,
                    "worker (in process) was still shutting down at the deadline; it was left "
                    "running on its thread (a plugin in process cannot be killed)");
        return;
    }
    /* A worker that said BYE in time gets a moment to exit, even at the deadline. */
    int64_t floor_ns = clock_mono_ns() + EXIT_AFTER_BYE_MS * 1000000LL;
    int64_t reap_by = got == 1 && deadline_ns < floor_ns ? floor_ns : deadline_ns;
    if (got >= 0 && w->pid > 0 && reap_process_by(w, reap_by, "during shutdown"))
        return;
    if (w->pid <= 0)
        return;
    char where[64], how[128];
    worker_where(w, where, sizeof where);
    worker_kill(w, how, sizeof how);
    log_msg(PA_LOG_WARN, w->source, "worker (%s) was still shutting down at the deadline; %s",
            where, how);
}
