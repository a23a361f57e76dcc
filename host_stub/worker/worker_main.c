/*
 * The worker side of isolation (docs/ARCHITECTURE.md): one plugin instance
 * in its own process. The supervisor starts it as
 *
 *   host_stub --worker PRIVATE_COPY PLUGIN_PATH NAME LOG_LEVEL
 *
 * with the channel on descriptor 3 and the borrow-site table on 4, its
 * stdout and stderr on a pipe the supervisor reads (never the task stream).
 *
 * It loads the plugin, says HELLO (or LOAD_FAILED), then serves INIT, POLL
 * and SHUTDOWN one at a time with the unchanged pa_host_api: its own lease
 * pool on the shared database, emit writing the outbox row in the plugin's
 * transaction. Its log lines travel as LOG messages. It ends after
 * SHUTDOWN, or when the supervisor goes away (end of file on the channel,
 * or SIGKILL through PR_SET_PDEATHSIG, set before exec).
 */
#include "worker_main.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "instance.h"
#include "ipc.h"
#include "loader.h"
#include "log.h"
#include "pool.h"

#define CHANNEL_FD 3
#define HELD_FD    4

typedef struct worker {
    loaded_plugin *plugin;
    pool *pool;
    instance_config config;
    host_instance in;
    unsigned char buf[IPC_MAX_MESSAGE];
} worker;

static void forward_log(pa_log_level level, const char *source, const char *message)
{
    unsigned char buf[4096];
    ipc_msg m;
    ipc_begin(&m, buf, sizeof buf, IPC_LOG);
    ipc_put_int(&m, level);
    ipc_put_str(&m, source);
    ipc_put_str(&m, message);
    if (m.bad) { /* too long for one message: the start of it is better than nothing */
        char cut[3000];
        snprintf(cut, sizeof cut, "%.2900s...", message);
        ipc_begin(&m, buf, sizeof buf, IPC_LOG);
        ipc_put_int(&m, level);
        ipc_put_str(&m, "worker");
        ipc_put_str(&m, cut);
    }
    ipc_send(CHANNEL_FD, &m);
}

static void follow_clock(int64_t virtual_ms)
{
    if (virtual_ms >= 0)
        clock_use_virtual(virtual_ms);
}

static int send_hello(const loaded_plugin *pl)
{
    unsigned char buf[1024];
    ipc_msg m;
    ipc_begin(&m, buf, sizeof buf, IPC_HELLO);
    ipc_put_int(&m, pl->info->abi_version);
    ipc_put_str(&m, pl->info->name);
    ipc_put_str(&m, pl->info->version);
    ipc_put_str(&m, pl->info->struct_size >= sizeof(pa_plugin_info) && pl->info->description
                        ? pl->info->description
                        : "");
    return ipc_send(CHANNEL_FD, &m);
}

/* The pool's counters as pool_print_stats writes them: the supervisor prints them for us. */
static void put_pool_stats(ipc_msg *m, pool *p)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = p ? open_memstream(&text, &len) : NULL;
    if (mem) {
        pool_print_stats(p, mem);
        fclose(mem);
    }
    ipc_put_str(m, text && len < WORKER_STATS_MAX ? text : "");
    free(text);
}

static void reply(worker *w, ipc_type type, int rc, const char *message)
{
    unsigned char buf[4096];
    ipc_msg m;
    ipc_begin(&m, buf, sizeof buf, type);
    ipc_put_int(&m, rc);
    ipc_put_str(&m, message);
    put_pool_stats(&m, w->pool);
    ipc_send(CHANNEL_FD, &m);
}

static int serve_init(worker *w, ipc_msg *m)
{
    const char *name = ipc_get_str(m);
    (void)name; /* the plugin's key; the worker already has it from argv */
    w->config.id = strdup(ipc_get_str(m));
    w->config.json = strdup(ipc_get_str(m));
    w->config.enabled = true;
    pool_config pc = {.path = ipc_get_str(m)};
    pc.size = (int)ipc_get_int(m);
    pc.lease_timeout_ms = (int)ipc_get_int(m);
    pc.busy_timeout_ms = (int)ipc_get_int(m);
    pc.max_lifetime_ms = ipc_get_int(m);
    follow_clock(ipc_get_int(m));
    pc.now_ms = clock_is_virtual() ? clock_wall_ms : NULL;
    char err[1200];
    if (m->bad || !w->config.id || !w->config.json) {
        reply(w, IPC_INIT_DONE, PA_ERR_INVALID, "malformed INIT message");
        return -1;
    }
    int rc = pool_open(&pc, &w->pool, err, sizeof err);
    if (rc == PA_OK)
        rc = instance_start(&w->in, w->pool, w->plugin, &w->config, err, sizeof err);
    reply(w, IPC_INIT_DONE, rc, rc == PA_OK ? "" : err);
    return rc == PA_OK ? 0 : -1;
}

static void serve_poll(worker *w, ipc_msg *m)
{
    follow_clock(ipc_get_int(m));
    uint64_t items = w->in.items_emitted, http = w->in.http_requests;
    char err[1200] = "";
    int rc = instance_poll(&w->in, err, sizeof err);
    unsigned char buf[4096];
    ipc_msg out;
    ipc_begin(&out, buf, sizeof buf, IPC_POLL_DONE);
    ipc_put_int(&out, rc);
    ipc_put_str(&out, err);
    ipc_put_int(&out, w->in.not_before_ms);
    ipc_put_int(&out, (int64_t)(w->in.items_emitted - items));
    ipc_put_int(&out, (int64_t)(w->in.http_requests - http));
    put_pool_stats(&out, w->pool);
    ipc_send(CHANNEL_FD, &out);
}

/* Serves messages until SHUTDOWN or the supervisor is gone. */
static void serve(worker *w)
{
    ipc_msg m;
    ipc_reader(&m, w->buf, sizeof w->buf);
    bool started = false;
    for (;;) {
        if (ipc_recv(CHANNEL_FD, &m, false) != 1)
            break; /* the supervisor went away: shut down as if asked */
        int type = ipc_type_of(&m);
        if (type == IPC_INIT && !started) {
            if (serve_init(w, &m) != 0)
                return;
            started = true;
        } else if (type == IPC_POLL && started) {
            serve_poll(w, &m);
        } else {
            break; /* SHUTDOWN, or anything out of place */
        }
    }
    instance_stop(&w->in);
}

int worker_main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "host_stub --worker is started by host_stub itself\n");
        return 2;
    }
    /* PR_SET_PDEATHSIG was set before exec (worker_proc.c): it dies with the supervisor. */
    signal(SIGPIPE, SIG_IGN);
    log_set_level((pa_log_level)atoi(argv[5]));
    log_set_forward(forward_log);
    static worker w;
    w.in.held = held_attach(HELD_FD);
    close(HELD_FD);
    char err[1200];
    if (loader_attach(argv[2], argv[3], argv[4], &w.plugin, err, sizeof err) != PA_OK) {
        unsigned char buf[1400];
        ipc_msg m;
        ipc_begin(&m, buf, sizeof buf, IPC_LOAD_FAILED);
        ipc_put_str(&m, err);
        ipc_send(CHANNEL_FD, &m);
        return 0;
    }
    if (send_hello(w.plugin) == 0)
        serve(&w);
    /* BYE carries the pool's final counters; it fails quietly when the supervisor is gone. */
    unsigned char bye[4096];
    ipc_msg m;
    ipc_begin(&m, bye, sizeof bye, IPC_BYE);
    put_pool_stats(&m, w.pool);
    pool_close(w.pool);
    ipc_send(CHANNEL_FD, &m);
    loader_close(w.plugin);
    held_unmap(w.in.held);
    free(w.config.id);
    free(w.config.json);
    return 0;
}
