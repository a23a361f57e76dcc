/*
 * host_stub: the reference host. Loads plugins, lends database handles,
 * schedules polls with backoff, turns the outbox into tasks.
 *
 * Exit codes: 0 normal end, 1 runtime failure (database), 2 usage or
 * configuration error.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "instance.h"
#include "loader.h"
#include "log.h"
#include "outbox.h"
#include "pool.h"

#define EXIT_RUNTIME 1
#define EXIT_CONFIG  2

typedef struct options {
    const char *plugins_dir;
    const char *config_path;
    const char *db_path;
    long polls;            /* 0: until signalled */
    long interval_seconds; /* 0: from config */
    bool watch;
    bool stats;
    pa_log_level log_level;
    bool virtual_clock;
    int64_t virtual_start_ms;
} options;

typedef struct host {
    options opt;
    host_config cfg;
    loaded_plugin *plugins;
    size_t plugin_count;
    pool *pool;
    pool_owner self;
    host_instance *instances;
    size_t instance_count;
    int signal_fd;
    bool stop;
} host;

static void usage(FILE *out)
{
    fputs("usage: host_stub [--plugins DIR] [--config FILE] [--db FILE] [--polls N]\n"
          "                 [--interval SECONDS] [--watch] [--stats] [--verbose|--quiet]\n"
          "                 [--fake-clock EPOCH_SECONDS]\n"
          "defaults: --plugins ./plugins --config ./host.json --db ./agent.db\n"
          "Runs until SIGINT/SIGTERM unless --polls N is given; SIGUSR1 prints pool statistics.\n"
          "--fake-clock starts a virtual clock that jumps instead of sleeping (for tests).\n",
          out);
}

static bool parse_long(const char *text, long min, long max, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static int parse_options(int argc, char **argv, options *opt)
{
    static const struct option longopts[] = {
        {"plugins", required_argument, NULL, 'p'},  {"config", required_argument, NULL, 'c'},
        {"db", required_argument, NULL, 'd'},       {"polls", required_argument, NULL, 'n'},
        {"interval", required_argument, NULL, 'i'}, {"watch", no_argument, NULL, 'w'},
        {"stats", no_argument, NULL, 's'},          {"verbose", no_argument, NULL, 'v'},
        {"quiet", no_argument, NULL, 'q'},          {"fake-clock", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    *opt = (options){.plugins_dir = "./plugins",
                     .config_path = "./host.json",
                     .db_path = "./agent.db",
                     .log_level = PA_LOG_INFO};
    int c;
    long v;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            opt->plugins_dir = optarg;
            break;
        case 'c':
            opt->config_path = optarg;
            break;
        case 'd':
            opt->db_path = optarg;
            break;
        case 'n':
            if (!parse_long(optarg, 1, 1000000000L, &opt->polls)) {
                fprintf(stderr, "host_stub: --polls: expected a positive integer, got '%s'\n",
                        optarg);
                return EXIT_CONFIG;
            }
            break;
        case 'i':
            if (!parse_long(optarg, 1, 30L * 24 * 3600, &opt->interval_seconds)) {
                fprintf(stderr,
                        "host_stub: --interval: expected seconds from 1 to 2592000, "
                        "got '%s'\n",
                        optarg);
                return EXIT_CONFIG;
            }
            break;
        case 'w':
            opt->watch = true;
            break;
        case 's':
            opt->stats = true;
            break;
        case 'v':
            opt->log_level = PA_LOG_DEBUG;
            break;
        case 'q':
            opt->log_level = PA_LOG_WARN;
            break;
        case 'f':
            if (!parse_long(optarg, 0, 253402300799L, &v)) {
                fprintf(stderr,
                        "host_stub: --fake-clock: expected seconds since the epoch, "
                        "got '%s'\n",
                        optarg);
                return EXIT_CONFIG;
            }
            opt->virtual_clock = true;
            opt->virtual_start_ms = (int64_t)v * 1000;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return EXIT_CONFIG;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "host_stub: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return EXIT_CONFIG;
    }
    if (opt->watch) {
        fprintf(stderr, "host_stub: --watch: hot reload is not available in this build yet\n");
        return EXIT_CONFIG;
    }
    return 0;
}

static loaded_plugin *find_loaded(host *h, const char *name)
{
    for (size_t i = 0; i < h->plugin_count; i++) {
        if (strcmp(h->plugins[i].name, name) == 0)
            return &h->plugins[i];
    }
    return NULL;
}

/* Every configured plugin must have a file: checked before anything is loaded. */
static int check_configured_plugins_exist(host *h)
{
    for (size_t i = 0; i < h->cfg.plugin_count; i++) {
        const plugin_config *pc = &h->cfg.plugins[i];
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s.so", h->opt.plugins_dir, pc->name);
        if (lstat(path, &st) != 0) {
            log_msg(PA_LOG_ERROR, "host", "%s: plugins.%s: no %s.so in plugins directory '%s'",
                    h->opt.config_path, pc->name, pc->name, h->opt.plugins_dir);
            return EXIT_CONFIG;
        }
    }
    return 0;
}

/* A configured plugin whose file was refused is not fatal: say what will not run. */
static void report_refused_plugins(host *h)
{
    for (size_t i = 0; i < h->cfg.plugin_count; i++) {
        const plugin_config *pc = &h->cfg.plugins[i];
        if (!find_loaded(h, pc->name))
            log_msg(PA_LOG_ERROR, "host",
                    "plugin '%s' was refused; its %zu instance(s) will not run", pc->name,
                    pc->instance_count);
    }
}

static void start_instances(host *h)
{
    size_t total = 0;
    for (size_t i = 0; i < h->cfg.plugin_count; i++)
        total += h->cfg.plugins[i].instance_count;
    h->instances = calloc(total ? total : 1, sizeof *h->instances);
    if (!h->instances) {
        log_msg(PA_LOG_ERROR, "host", "out of memory allocating %zu instances", total);
        return;
    }
    int64_t interval_ms =
        (h->opt.interval_seconds ? h->opt.interval_seconds : h->cfg.poll_interval_seconds) * 1000;
    for (size_t i = 0; i < h->cfg.plugin_count; i++) {
        const plugin_config *pc = &h->cfg.plugins[i];
        loaded_plugin *pl = find_loaded(h, pc->name);
        for (size_t j = 0; pl && j < pc->instance_count; j++) {
            const instance_config *ic = &pc->instances[j];
            if (!pc->enabled || !ic->enabled) {
                log_msg(PA_LOG_INFO, "host", "instance %s/%s is disabled", pc->name, ic->id);
                continue;
            }
            host_instance *in = &h->instances[h->instance_count];
            char err[1200];
            if (instance_start(in, h->pool, pl, ic, err, sizeof err) != PA_OK) {
                log_msg(PA_LOG_ERROR, in->log_source, "%s; instance not started", err);
                continue;
            }
            sched_start(&in->sched, clock_wall_ms(), interval_ms);
            log_msg(PA_LOG_INFO, in->log_source, "started (plugin version %s)", pl->info->version);
            h->instance_count++;
        }
    }
}

static void print_stats(host *h)
{
    pool_print_stats(h->pool, stderr);
    for (size_t i = 0; i < h->plugin_count; i++) {
        int64_t longest = 0;
        for (size_t j = 0; j < h->instance_count; j++) {
            host_instance *in = &h->instances[j];
            int64_t hold = pool_owner_longest_hold_ns(h->pool, &in->owner);
            if (in->plugin == &h->plugins[i] && hold > longest)
                longest = hold;
        }
        fprintf(stderr, "pool: longest_hold_ms plugin=%s %.3f\n", h->plugins[i].name,
                (double)longest / 1e6);
    }
    for (size_t j = 0; j < h->instance_count; j++) {
        host_instance *in = &h->instances[j];
        fprintf(stderr, "instance %s/%s: polls=%llu failures=%llu items=%llu http_requests=%llu\n",
                in->plugin->name, in->config->id, (unsigned long long)in->polls,
                (unsigned long long)in->poll_failures, (unsigned long long)in->items_emitted,
                (unsigned long long)in->http_requests);
    }
}

/* Drains pending signals without blocking; SIGINT/SIGTERM request a stop. */
static void handle_signals(host *h)
{
    struct signalfd_siginfo si;
    while (read(h->signal_fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGUSR1) {
            print_stats(h);
        } else if (!h->stop) {
            log_msg(PA_LOG_INFO, "host", "signal %u received; finishing and shutting down",
                    si.ssi_signo);
            h->stop = true;
        }
    }
}

static void sleep_until(host *h, int64_t due_ms)
{
    int64_t now = clock_wall_ms();
    if (due_ms <= now)
        return;
    if (clock_is_virtual()) {
        clock_advance_ms(due_ms - now);
        return;
    }
    while (!h->stop && (now = clock_wall_ms()) < due_ms) {
        int64_t wait = due_ms - now;
        struct pollfd pfd = {.fd = h->signal_fd, .events = POLLIN};
        if (poll(&pfd, 1, wait > 60000 ? 60000 : (int)wait) > 0)
            handle_signals(h);
    }
}

static void poll_instance(host *h, host_instance *in)
{
    char err[1200];
    int64_t started = clock_mono_ns();
    int rc = instance_poll(in, err, sizeof err);
    double ms = (double)(clock_mono_ns() - started) / 1e6;
    int64_t now = clock_wall_ms();
    if (rc != PA_OK) {
        int64_t delay = sched_on_failure(&in->sched, now, h->cfg.backoff_cap_seconds * 1000);
        if (in->not_before_ms > in->sched.next_due_ms) {
            sched_not_before(&in->sched, in->not_before_ms);
            delay = in->not_before_ms - now;
        }
        log_msg(PA_LOG_ERROR, in->log_source,
                "poll failed (%u in a row): %s; backing off, next poll in %lld s",
                in->sched.failures, err, (long long)(delay / 1000));
        return;
    }
    unsigned ended = sched_on_success(&in->sched, now);
    sched_not_before(&in->sched, in->not_before_ms);
    if (ended)
        log_msg(PA_LOG_INFO, in->log_source,
                "poll succeeded after %u failure(s); interval reset to %lld s", ended,
                (long long)(in->sched.interval_ms / 1000));
    log_msg(PA_LOG_DEBUG, in->log_source, "poll done in %.3f ms", ms);
}

static void run(host *h)
{
    long rounds = 0;
    int64_t interval_ms =
        (h->opt.interval_seconds ? h->opt.interval_seconds : h->cfg.poll_interval_seconds) * 1000;
    int64_t idle_due = clock_wall_ms();
    while (!h->stop) {
        int64_t now = clock_wall_ms();
        bool polled = false;
        for (size_t i = 0; i < h->instance_count && !h->stop; i++) {
            host_instance *in = &h->instances[i];
            if (in->sched.next_due_ms > now)
                continue;
            poll_instance(h, in);
            polled = true;
            handle_signals(h);
        }
        if (h->instance_count == 0 && now >= idle_due) {
            polled = true; /* with nothing to poll, a round is one interval */
            idle_due = now + interval_ms;
        }
        if (polled) {
            size_t made = 0;
            char err[1024];
            if (outbox_consume(h->pool, &h->self, clock_wall_ms(), stdout, &made, err,
                               sizeof err) != PA_OK)
                log_msg(PA_LOG_ERROR, "outbox", "%s", err);
            else if (made)
                log_msg(PA_LOG_INFO, "outbox", "created %zu task(s)", made);
            rounds++;
        }
        handle_signals(h);
        if (h->stop || (h->opt.polls && rounds >= h->opt.polls))
            break;
        int64_t next = h->instance_count ? INT64_MAX : idle_due;
        for (size_t i = 0; i < h->instance_count; i++) {
            if (h->instances[i].sched.next_due_ms < next)
                next = h->instances[i].sched.next_due_ms;
        }
        sleep_until(h, next);
    }
}

static int setup_signals(host *h)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    /* Blocked before any plugin runs, so threads plugins start inherit it. */
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
        return -1;
    h->signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    return h->signal_fd < 0 ? -1 : 0;
}

static void teardown(host *h)
{
    for (size_t i = h->instance_count; i-- > 0;) {
        instance_stop(&h->instances[i]);
        log_msg(PA_LOG_INFO, h->instances[i].log_source, "shut down");
    }
    if (h->pool && h->opt.stats)
        print_stats(h);
    free(h->instances);
    pool_close(h->pool);
    loader_close_all(h->plugins, h->plugin_count);
    config_free(&h->cfg);
    if (h->signal_fd >= 0)
        close(h->signal_fd);
}

int main(int argc, char **argv)
{
    host h = {.signal_fd = -1, .self = {.plugin = "host", .instance = "outbox"}};
    int rc = parse_options(argc, argv, &h.opt);
    if (rc != 0)
        return rc;
    log_set_level(h.opt.log_level);
    if (h.opt.virtual_clock)
        clock_use_virtual(h.opt.virtual_start_ms);
    if (setup_signals(&h) != 0) {
        log_msg(PA_LOG_ERROR, "host", "cannot set up signal handling: %s", strerror(errno));
        return EXIT_RUNTIME;
    }

    char err[1200] = "";
    if (config_load(h.opt.config_path, &h.cfg, err, sizeof err) != PA_OK) {
        log_msg(PA_LOG_ERROR, "host", "%s", err);
        teardown(&h);
        return EXIT_CONFIG;
    }
    if (loader_check_dir(h.opt.plugins_dir, err, sizeof err) != PA_OK ||
        (rc = check_configured_plugins_exist(&h)) != 0) {
        if (err[0])
            log_msg(PA_LOG_ERROR, "loader", "%s", err);
        teardown(&h);
        return EXIT_CONFIG;
    }
    if (loader_scan(h.opt.plugins_dir, &h.plugins, &h.plugin_count, err, sizeof err) != PA_OK) {
        log_msg(PA_LOG_ERROR, "loader", "%s", err);
        teardown(&h);
        return EXIT_CONFIG;
    }
    report_refused_plugins(&h);
    pool_config pc = {.path = h.opt.db_path,
                      .size = h.cfg.pool_size,
                      .lease_timeout_ms = h.cfg.lease_timeout_ms,
                      .busy_timeout_ms = h.cfg.busy_timeout_ms,
                      .max_lifetime_ms = h.cfg.max_lifetime_seconds * 1000,
                      .now_ms = clock_is_virtual() ? clock_wall_ms : NULL};
    if (pool_open(&pc, &h.pool, err, sizeof err) != PA_OK ||
        outbox_create_schema(h.pool, &h.self, err, sizeof err) != PA_OK) {
        log_msg(PA_LOG_ERROR, "host", "%s", err);
        teardown(&h);
        return EXIT_RUNTIME;
    }
    start_instances(&h);
    run(&h);
    teardown(&h);
    return 0;
}
