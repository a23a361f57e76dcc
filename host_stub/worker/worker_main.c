/*
 * The worker side of isolation (docs/ARCHITECTURE.md): one plugin instance,
 * in its own process or on a thread of the supervisor. The supervisor starts
 * a process as
 *
 *   host_stub --worker PRIVATE_COPY PLUGIN_PATH NAME LOG_LEVEL
 *
 * with the channel on descriptor 3 and the borrow-site table on 4, its
 * stdout and stderr on a pipe the supervisor reads (never the task stream).
 *
 * It loads the plugin, says HELLO (or LOAD_FAILED), then serves INIT, POLL
 * and SHUTDOWN one at a time (channel.h) with the unchanged pa_host_api: its
 * own lease pool on the shared database, emit writing the outbox row in the
 * plugin's transaction. A process's log lines travel as LOG messages. It
 * ends after SHUTDOWN, or when the supervisor goes away (end of file on the
 * channel, or SIGKILL through PR_SET_PDEATHSIG, set before exec, or by
 * parent_watch.h's thread where the platform has no PR_SET_PDEATHSIG).
 *
 * Signals are the supervisor's business: SIGHUP, SIGUSR1 and SIGINT are
 * ignored (a "systemctl kill -s HUP" of the whole unit reloads once and kills
 * no worker), and SIGTERM ends a worker only when its own supervisor sent it.
 */
#include "worker_main.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "channel.h"
#include "clock.h"
#include "instance.h"
#include "log.h"
#include "parent_watch.h"
#include "port.h"
#include "secret.h"
#include "plugin_image.h"
#include "pool.h"

#define CHANNEL_FD 3
#define HELD_FD    4

typedef struct worker {
    const worker_args *args;
    plugin_image *plugin;
    pool *pool;
    char *id, *json;
    host_instance in;
    int64_t pool_idle_ms; /* pool.idle_seconds, in ms; 0: connections kept */
    unsigned char buf[IPC_MAX_MESSAGE];
} worker;

/*
 * A worker process's log lines go to the supervisor, which logs them under
 * their source. log.c hands over at most 2047 bytes, which always fit.
 */
static void forward_log(pa_log_level level, const char *source, const char *message)
{
    channel_msg m = {.type = IPC_LOG, .u.log = {level, source, message}};
    channel_send(CHANNEL_FD, &m);
}

/* A process follows the supervisor's virtual clock; a thread shares it. */
static void follow_clock(const worker *w, int64_t virtual_ms)
{
    if (virtual_ms >= 0 && !w->args->in_process)
        clock_use_virtual(virtual_ms);
}

static int send_hello(const worker *w)
{
    const pa_plugin_info *info = w->plugin->info;
    bool has_description = info->struct_size >= sizeof(pa_plugin_info) && info->description;
    channel_msg m = {.type = IPC_HELLO,
                     .u.hello = {info->abi_version, info->name, info->version,
                                 has_description ? info->description : ""}};
    return channel_send(w->args->channel_fd, &m);
}

/* The pool's counters as pool_print_stats writes them (malloc'ed; NULL when there are none). */
static char *pool_stats_text(pool *p)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = p ? open_memstream(&text, &len) : NULL;
    if (mem) {
        pool_print_stats(p, mem);
        fclose(mem);
    }
    if (text && len >= WORKER_STATS_MAX)
        text[0] = '\0';
    return text;
}

static int64_t longest_hold_ns(const worker *w)
{
    return w->pool ? pool_owner_longest_hold_ns(w->pool, &w->in.owner) : 0;
}

static void reply_init(worker *w, int rc, const char *message)
{
    char *stats = pool_stats_text(w->pool);
    channel_msg m = {.type = IPC_INIT_DONE,
                     .u.init_done = {rc, message, longest_hold_ns(w), stats}};
    channel_send(w->args->channel_fd, &m);
    free(stats);
}

static int serve_init(worker *w, const msg_init *init)
{
    w->id = strdup(init->instance_id);
    w->json = strdup(init->instance_json);
    if (!w->id || !w->json) {
        reply_init(w, PA_ERR_NOMEM, "out of memory");
        return -1;
    }
    follow_clock(w, init->virtual_ms);
    char application[512];
    snprintf(application, sizeof application, "host_stub/%s/%s", init->plugin, init->instance_id);
    w->pool_idle_ms = init->pool_idle_ms > INT32_MAX ? INT32_MAX : init->pool_idle_ms;
    pool_config pc = {.kind = (db_kind)init->db_kind,
                      .path = init->db_path,
                      .application_name = application,
                      .connect_timeout_s = (int)init->connect_timeout_s,
                      .statement_timeout_ms = (int)init->statement_timeout_ms,
                      .lent_to_plugins = true,
                      .rollback_writes = init->run_mode == PA_RUN_DRY,
                      .size = (int)init->pool_size,
                      .lease_timeout_ms = (int)init->lease_timeout_ms,
                      .busy_timeout_ms = (int)init->busy_timeout_ms,
                      .max_lifetime_ms = init->max_lifetime_ms,
                      .now_ms = clock_is_virtual() ? clock_wall_ms : NULL};
    char err[1200];
    w->in.run_mode = init->run_mode == PA_RUN_CHECK || init->run_mode == PA_RUN_DRY
                         ? (pa_run_mode)init->run_mode
                         : PA_RUN_SERVE;
    int rc = pool_open(&pc, &w->pool, err, sizeof err);
    if (rc == PA_OK)
        rc = instance_start(&w->in, w->pool, w->plugin, w->id, w->json, err, sizeof err);
    reply_init(w, rc, rc == PA_OK ? "" : err);
    return rc == PA_OK ? 0 : -1;
}

static void serve_poll(worker *w, const msg_poll *poll)
{
    follow_clock(w, poll->virtual_ms);
    uint64_t items = w->in.items_emitted, http = w->in.http_requests;
    char err[1200] = "";
    int rc = instance_poll(&w->in, err, sizeof err);
    char *stats = pool_stats_text(w->pool);
    channel_msg m = {.type = IPC_POLL_DONE,
                     .u.poll_done = {rc, err, w->in.not_before_ms,
                                     (int64_t)(w->in.items_emitted - items),
                                     (int64_t)(w->in.http_requests - http), longest_hold_ns(w),
                                     stats, poll->nonce}};
    channel_send(w->args->channel_fd, &m);
    free(stats);
}

/*
 * Waits for the next message; every idle_ms without one, closes the pool's
 * connections unused that long (pool.idle_seconds). false: the channel ended.
 */
static bool await_message(worker *w)
{
    int64_t idle_ms = w->pool_idle_ms;
    for (;;) {
        struct pollfd pfd = {.fd = w->args->channel_fd, .events = POLLIN};
        int ready = poll(&pfd, 1, w->pool && idle_ms > 0 ? (int)idle_ms : -1);
        if (ready > 0)
            return true;
        if (ready < 0 && errno != EINTR)
            return false;
        if (ready == 0)
            pool_close_idle(w->pool, idle_ms);
    }
}

/* Serves messages until SHUTDOWN or the supervisor is gone. */
static void serve(worker *w)
{
    ipc_msg in;
    ipc_reader(&in, w->buf, sizeof w->buf);
    bool started = false;
    for (;;) {
        channel_msg m;
        if (!await_message(w) || ipc_recv(w->args->channel_fd, &in, false) != 1 ||
            !channel_decode(&in, &m))
            break; /* the supervisor went away: shut down as if asked */
        if (m.type == IPC_INIT && !started) {
            if (serve_init(w, &m.u.init) != 0)
                return;
            started = true;
        } else if (m.type == IPC_POLL && started) {
            serve_poll(w, &m.u.poll);
        } else {
            break; /* SHUTDOWN, or anything out of place */
        }
    }
    instance_stop(&w->in);
}

/* The pool's final counters, sent once its connections are closed; quiet when nobody listens. */
static void say_bye(worker *w)
{
    char *stats = pool_stats_text(w->pool);
    channel_msg m = {.type = IPC_BYE, .u.bye = {longest_hold_ns(w), stats}};
    pool_close(w->pool);
    w->pool = NULL;
    channel_send(w->args->channel_fd, &m);
    free(stats);
}

int worker_serve(const worker_args *args)
{
    worker *w = calloc(1, sizeof *w);
    if (!w) {
        close(args->channel_fd);
        if (args->held_fd >= 0)
            close(args->held_fd);
        return 1;
    }
    w->args = args;
    w->in.held = args->held_fd >= 0 ? held_attach(args->held_fd) : NULL;
    if (args->held_fd >= 0)
        close(args->held_fd);
    char err[1200];
    if (plugin_image_open(args->private_path, args->path, args->name, &w->plugin, err,
                          sizeof err) != PA_OK) {
        channel_msg m = {.type = IPC_LOAD_FAILED, .u.load_failed = {err}};
        channel_send(args->channel_fd, &m);
    } else if (send_hello(w) == 0) {
        serve(w);
        say_bye(w);
    }
    pool_close(w->pool);
    plugin_image_close(w->plugin);
    held_unmap(w->in.held);
    free(w->id);
    free(w->json);
    close(args->channel_fd);
    free(w);
    return 0;
}

/* SIGTERM: the worker's own supervisor's ends it; anyone else's is ignored. */
static void on_sigterm(int sig, siginfo_t *info, void *context)
{
    (void)context;
    if (info->si_code != SI_USER || info->si_pid != getppid())
        return;
    signal(sig, SIG_DFL); /* dies of it, as the supervisor's books expect */
    kill(getpid(), sig);
}

/*
 * SIG_IGN, not a handler, for the supervisor's signals: nothing is
 * interrupted, and the plugin's children inherit the same deafness.
 */
static void ignore_supervisor_signals(void)
{
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGUSR1, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    struct sigaction sa = {.sa_sigaction = on_sigterm, .sa_flags = SA_SIGINFO | SA_RESTART};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
}

int worker_main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "host_stub --worker is started by host_stub itself\n");
        return 2;
    }
    /*
     * It dies with the supervisor: PR_SET_PDEATHSIG was set before exec
     * (worker_proc.c); where the platform has none, a thread watches.
     */
    int watch_rc = port_die_with_parent() == 0 ? 0 : parent_watch_start(CHANNEL_FD, getppid());
    if (watch_rc != 0) {
        fprintf(stderr, "host_stub --worker: cannot watch the supervisor: %s\n", strerror(watch_rc));
        return 1;
    }
    secret_protect_process(); /* the plugin's tokens live here: no core, no attaching */
    ignore_supervisor_signals();
    worker_args args = {.channel_fd = CHANNEL_FD,
                        .held_fd = HELD_FD,
                        .private_path = argv[2],
                        .path = argv[3],
                        .name = argv[4],
                        .log_level = (pa_log_level)atoi(argv[5])};
    log_set_level(args.log_level);
    log_set_forward(forward_log);
    return worker_serve(&args);
}
