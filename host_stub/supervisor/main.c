/*
 * host_stub: the reference host, as supervisor (docs/ARCHITECTURE.md) or, with
 * --worker, as one instance's worker. Loads plugins, lends database handles,
 * schedules polls with backoff, turns the outbox into tasks.
 *
 * Exit codes: 0 normal end, 1 runtime failure (database; also when the last
 * round could not turn emitted items into tasks), 2 usage or configuration
 * error.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
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
#include "db_health.h"
#include "instance.h"
#include "loader.h"
#include "log.h"
#include "outbox.h"
#include "pool.h"
#include "registry.h"
#include "watcher.h"
#include "worker_main.h"
#include "worker_proc.h"

#define EXIT_RUNTIME 1
#define EXIT_CONFIG  2

/* Isolation: how often a polling worker's resident memory is compared with its limit. */
#define MEMORY_CHECK_MS 100

/* Isolation: the longest a finished poll's items wait for a slower poll before becoming tasks. */
#define OUTBOX_MAX_DELAY_MS 1000

/* A plugin file written in place must keep its size this long before it is loaded. */
#define RELOAD_SETTLE_MS 100

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
    bool allow_shared_db;
    bool journald;
    bool check_config;
} options;

typedef struct host {
    options opt;
    host_config cfg;
    loader *loader;
    watcher *watcher;
    registry reg;
    pool *pool;
    pool_owner self;
    int signal_fd;
    bool stop;
    bool undelivered;   /* the last outbox round failed: items may sit in pa_outbox */
    bool stdout_closed; /* a reader closed stdout: tasks stay in pa_tasks, unprinted */
    bool reload_config; /* SIGHUP: apply host.json anew at the next poll boundary */
    int db_lock_fd;     /* the one-host-per-database lock, or -1 */
    bool damaged;       /* a periodic quick_check found the database damaged */
    char exe[4096];     /* this binary, started again as each worker */
    worker_settings workers;
    int64_t memory_check_ns; /* isolation: when busy workers' memory is next checked */
    int64_t polls_ended_ns;  /* isolation: when the first poll since the last outbox round ended */
} host;

static void usage(FILE *out)
{
    fputs("usage: host_stub [--plugins DIR] [--config FILE] [--db FILE] [--polls N]\n"
          "                 [--interval SECONDS] [--watch] [--stats] [--verbose|--quiet]\n"
          "                 [--log-format text|journald] [--allow-shared-db]\n"
          "                 [--fake-clock EPOCH_SECONDS] [--check-config] [-h|--help] [--version]\n"
          "defaults: --plugins " PA_DEFAULT_PLUGIN_DIR " --config ./host.json --db ./agent.db\n"
          "Runs until SIGINT/SIGTERM unless --polls N is given; SIGUSR1 prints pool statistics.\n"
          "--watch reloads a plugin whose .so changes, loads new ones, drops removed ones.\n"
          "--allow-shared-db lets several hosts use one database (default: one, by lock file).\n"
          "--check-config checks host.json and every enabled instance by its plugin's rules,\n"
          "  without the database or the network; exits 0 or 2.\n"
          "--fake-clock starts a virtual clock that jumps instead of sleeping (for tests).\n",
          out);
}

static void version(void)
{
    printf("host_stub %s\nplugin ABI %u.%u\nSQLite %s (built with %s)\n", PA_VERSION,
           PA_ABI_VERSION_MAJOR, PA_ABI_VERSION_MINOR, sqlite3_libversion(), SQLITE_VERSION);
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
    static const struct option longopts[] = {{"plugins", required_argument, NULL, 'p'},
                                             {"config", required_argument, NULL, 'c'},
                                             {"db", required_argument, NULL, 'd'},
                                             {"polls", required_argument, NULL, 'n'},
                                             {"interval", required_argument, NULL, 'i'},
                                             {"watch", no_argument, NULL, 'w'},
                                             {"stats", no_argument, NULL, 's'},
                                             {"verbose", no_argument, NULL, 'v'},
                                             {"quiet", no_argument, NULL, 'q'},
                                             {"fake-clock", required_argument, NULL, 'f'},
                                             {"help", no_argument, NULL, 'h'},
                                             {"version", no_argument, NULL, 'V'},
                                             {"log-format", required_argument, NULL, 'L'},
                                             {"allow-shared-db", no_argument, NULL, 'S'},
                                             {"check-config", no_argument, NULL, 'C'},
                                             {NULL, 0, NULL, 0}};
    *opt = (options){.plugins_dir = PA_DEFAULT_PLUGIN_DIR,
                     .config_path = "./host.json",
                     .db_path = "./agent.db",
                     .log_level = PA_LOG_INFO};
    int c;
    long v;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
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
        case 'V':
            version();
            exit(0);
        case 'S':
            opt->allow_shared_db = true;
            break;
        case 'C':
            opt->check_config = true;
            break;
        case 'L':
            if (strcmp(optarg, "text") != 0 && strcmp(optarg, "journald") != 0) {
                fprintf(stderr, "host_stub: --log-format: expected text or journald, got '%s'\n",
                        optarg);
                return EXIT_CONFIG;
            }
            opt->journald = strcmp(optarg, "journald") == 0;
            break;
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
    return 0;
}

/*
 * Every configured plugin must have a file, checked before anything is
 * loaded; with --watch it may arrive later, and its instances start then.
 */
static int check_configured_plugins_exist(host *h)
{
    for (size_t i = 0; i < h->cfg.plugin_count; i++) {
        const plugin_config *pc = &h->cfg.plugins[i];
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s.so", h->opt.plugins_dir, pc->name);
        if (lstat(path, &st) == 0)
            continue;
        if (!h->opt.watch) {
            log_msg(PA_LOG_ERROR, "host", "%s: plugins.%s: no %s.so in plugins directory '%s'",
                    h->opt.config_path, pc->name, pc->name, h->opt.plugins_dir);
            return EXIT_CONFIG;
        }
        log_msg(PA_LOG_WARN, "host",
                "%s: plugins.%s: no %s.so in plugins directory '%s' yet; "
                "its instances start when it appears",
                h->opt.config_path, pc->name, pc->name, h->opt.plugins_dir);
    }
    return 0;
}

static long count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    long n = 0;
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the descriptor opendir itself holds */
}

static long count_lines_in(const char *path)
{
    FILE *f = fopen(path, "r");
    long n = 0;
    if (!f)
        return -1;
    for (int c; (c = fgetc(f)) != EOF;)
        n += c == '\n';
    fclose(f);
    return n;
}

#if defined(__SANITIZE_ADDRESS__)
/* From the sanitizer allocator interface; gcc ships the runtime but not the header. */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

/* Bytes handed out by malloc and not yet freed (the sanitizer's count under ASan). */
static size_t heap_in_use(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return __sanitizer_get_current_allocated_bytes();
#else
    return mallinfo2().uordblks;
#endif
}

/* Logs each line of text (a memstream's contents) under "stats", after prefix. */
static void log_lines(const char *prefix, const char *text)
{
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        int n = nl ? (int)(nl - p) : (int)strlen(p);
        log_msg(PA_LOG_INFO, "stats", "%s%.*s", prefix, n, p);
        p = nl ? nl + 1 : NULL;
    }
}

static void format_time(int64_t ms, char *buf, size_t size)
{
    if (ms <= 0)
        snprintf(buf, size, "-");
    else
        format_iso8601(ms, buf, size);
}

/*
 * One line per instance: where it stands, in the same key=value form as the
 * stats. Names come from the configuration: a removed plugin's instance has
 * no loaded plugin to ask.
 */
static void log_status(host *h, const instance_slot *slot)
{
    const host_instance *in = &slot->in;
    char success[32], failure[32], next[32];
    format_time(in->last_success_ms, success, sizeof success);
    format_time(in->last_failure_ms, failure, sizeof failure);
    format_time(in->running ? in->sched.next_due_ms : 0, next, sizeof next);
    log_msg(PA_LOG_INFO, "status",
            "instance %s/%s: running=%d version=%s polls=%llu failures_in_a_row=%u "
            "failures=%llu last_success=%s last_failure=%s next_poll=%s items=%llu "
            "leases_held=%d http_requests=%llu last_failure_reason=\"%s\"",
            slot->plugin->name, slot->config->id, in->running,
            in->running && in->plugin ? in->plugin->info->version : "-",
            (unsigned long long)in->polls, in->sched.failures,
            (unsigned long long)in->poll_failures, success, failure, next,
            (unsigned long long)in->items_emitted, pool_owner_leases(h->pool, &in->owner),
            (unsigned long long)in->http_requests, in->last_poll_error);
}

/* SIGUSR1 and --stats: the pool, each plugin, each instance and the process, as log lines. */
static void print_stats(host *h)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (mem) {
        pool_print_stats(h->pool, mem);
        fclose(mem);
        log_lines("", text);
    }
    free(text);
    const registry *r = &h->reg;
    /* Isolation: each worker's own pool, as of its last reply. */
    for (size_t j = 0; j < r->slot_count; j++) {
        char prefix[300];
        snprintf(prefix, sizeof prefix, "worker %s/%s ", r->slots[j]->plugin->name,
                 r->slots[j]->config->id);
        log_lines(prefix, r->slots[j]->pool_stats);
    }
    for (size_t i = 0; i < r->plugin_count; i++) {
        int64_t longest = 0;
        for (size_t j = 0; j < r->slot_count; j++) {
            int64_t hold = pool_owner_longest_hold_ns(h->pool, &r->slots[j]->in.owner);
            if (strcmp(r->slots[j]->plugin->name, r->plugins[i]->name) == 0 && hold > longest)
                longest = hold;
        }
        log_msg(PA_LOG_INFO, "stats", "pool: longest_hold_ms plugin=%s %.3f", r->plugins[i]->name,
                (double)longest / 1e6);
    }
    for (size_t j = 0; j < r->slot_count; j++)
        log_status(h, r->slots[j]);
    log_msg(PA_LOG_INFO, "stats",
            "host: reloads=%llu failed_reloads=%llu open_fds=%ld maps=%ld heap_bytes=%zu",
            (unsigned long long)r->reloads, (unsigned long long)r->failed_reloads,
            count_entries("/proc/self/fd"), count_lines_in("/proc/self/maps"), heap_in_use());
}

/* The isolation settings every worker gets, on db_path; the binary is found by its real path. */
static int setup_workers(host *h, const char *db_path)
{
    ssize_t n = readlink("/proc/self/exe", h->exe, sizeof h->exe - 1);
    if (n <= 0 || (size_t)n >= sizeof h->exe - 1) {
        log_msg(PA_LOG_ERROR, "host", "cannot find this program's path for its workers: %s",
                n < 0 ? strerror(errno) : "too long");
        return EXIT_RUNTIME;
    }
    h->exe[n] = '\0';
    h->workers = (worker_settings){.exe = h->exe,
                                   .db_path = db_path,
                                   .pool_size = h->cfg.pool_size,
                                   .lease_timeout_ms = h->cfg.lease_timeout_ms,
                                   .busy_timeout_ms = h->cfg.busy_timeout_ms,
                                   .max_lifetime_ms = h->cfg.max_lifetime_seconds * 1000,
                                   .start_timeout_ms = h->cfg.poll_timeout_seconds * 1000};
    loader_set_describer(h->loader, worker_describe, &h->workers);
    return 0;
}

/*
 * --check-config: host.json by the host's rules (already applied by
 * config_load), then every enabled instance by its own plugin's rules: init
 * and shutdown (in a worker, unless "isolation" is "none") against a
 * throwaway in-memory database, so neither the real database nor the network
 * is touched. Every problem gets a line naming the file and the instance;
 * exits 0 or 2.
 */
static int check_config(host *h)
{
    char err[1200] = "";
    int rc = check_configured_plugins_exist(h);
    pool_config pc = {
        .path = ":memory:", .size = 1, .lease_timeout_ms = 1000, .busy_timeout_ms = 1000};
    registry reg;
    /* With isolation, plugins are loaded and checked in workers too: a crash is a problem found. */
    bool loaded = rc == 0 && loader_new(h->opt.plugins_dir, &h->loader, err, sizeof err) == PA_OK &&
                  (!h->cfg.isolated || setup_workers(h, ":memory:") == 0) &&
                  pool_open(&pc, &h->pool, err, sizeof err) == PA_OK &&
                  registry_init(&reg, h->loader, h->pool, &h->cfg, 1000, err, sizeof err) == PA_OK;
    if (!loaded) {
        if (err[0])
            printf("%s: %s\n", h->opt.config_path, err);
        printf("%s: cannot check the plugins' configuration\n", h->opt.config_path);
        return EXIT_CONFIG;
    }
    /* Every connection to :memory: is a database of its own: one, as in process. */
    h->workers.pool_size = 1;
    reg.workers = h->cfg.isolated ? &h->workers : NULL;
    reg.grace_ms = h->cfg.shutdown_grace_seconds * 1000;
    registry_start_all(&reg);
    size_t problems = 0;
    for (size_t i = 0; i < reg.slot_count; i++) {
        const instance_slot *s = reg.slots[i];
        if (s->in.running)
            continue;
        problems++;
        printf("%s: plugins.%s instance '%s': %s\n", h->opt.config_path, s->plugin->name,
               s->config->id,
               s->in.last_poll_error[0] ? s->in.last_poll_error : "no plugin file loaded for it");
    }
    printf("%s: %zu instance(s) checked, %zu problem(s)\n", h->opt.config_path, reg.slot_count,
           problems);
    registry_stop_all(&reg);
    registry_free(&reg);
    return problems ? EXIT_CONFIG : 0;
}

/*
 * One host per database: an advisory write lock on DB.lock, held for the
 * life of the process (the kernel drops it on any exit, kill -9 included).
 * A second host names the holder and exits 2 unless --allow-shared-db.
 */
static int lock_database(host *h)
{
    char path[4200];
    snprintf(path, sizeof path, "%s.lock", h->opt.db_path);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        log_msg(PA_LOG_ERROR, "host", "cannot open the database lock %s: %s", path,
                strerror(errno));
        return EXIT_RUNTIME;
    }
    struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_SETLK, &lock) != 0) {
        struct flock holder = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        long pid = fcntl(fd, F_GETLK, &holder) == 0 ? (long)holder.l_pid : 0;
        log_msg(PA_LOG_ERROR, "host",
                "another host_stub (pid %ld) is using the database %s (lock %s); run one host "
                "per database, or pass --allow-shared-db to every host",
                pid, h->opt.db_path, path);
        close(fd);
        return EXIT_CONFIG;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || write(fd, pid, (size_t)n) != n)
        log_msg(PA_LOG_WARN, "host", "cannot write the pid into %s: %s", path, strerror(errno));
    h->db_lock_fd = fd;
    return 0;
}

/* Drains pending signals without blocking; SIGINT/SIGTERM request a stop. */
static void handle_signals(host *h)
{
    struct signalfd_siginfo si;
    while (read(h->signal_fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGUSR1) {
            print_stats(h);
        } else if (si.ssi_signo == SIGHUP) {
            log_msg(PA_LOG_INFO, "host", "SIGHUP received: re-reading %s between polls",
                    h->opt.config_path);
            h->reload_config = true;
        } else if (!h->stop) {
            log_msg(PA_LOG_INFO, "host", "signal %u received; finishing and shutting down",
                    si.ssi_signo);
            h->stop = true;
        }
    }
}

/*
 * SIGHUP: host.json again, applied between polls. A configuration that does
 * not load is refused with its error and the running one kept; instances
 * added, removed or changed are started, stopped or restarted, the others
 * keep running. Pool settings need a restart.
 */
static void reload_config(host *h)
{
    h->reload_config = false;
    host_config fresh;
    char err[1200];
    if (config_load(h->opt.config_path, &fresh, err, sizeof err) != PA_OK) {
        log_msg(PA_LOG_ERROR, "host", "%s; keeping the running configuration", err);
        return;
    }
    if (fresh.pool_size != h->cfg.pool_size || fresh.lease_timeout_ms != h->cfg.lease_timeout_ms ||
        fresh.busy_timeout_ms != h->cfg.busy_timeout_ms ||
        fresh.max_lifetime_seconds != h->cfg.max_lifetime_seconds ||
        fresh.isolated != h->cfg.isolated)
        log_msg(PA_LOG_WARN, "host",
                "%s: the pool or isolation settings changed; they apply at the next start",
                h->opt.config_path);
    fresh.isolated = h->cfg.isolated;
    h->reg.grace_ms = fresh.shutdown_grace_seconds * 1000;
    if (!h->opt.interval_seconds)
        h->reg.interval_ms = fresh.poll_interval_seconds * 1000;
    if (registry_apply_config(&h->reg, &fresh, err, sizeof err) != PA_OK) {
        log_msg(PA_LOG_ERROR, "host", "applying %s failed: %s", h->opt.config_path, err);
        config_free(&fresh);
        return;
    }
    config_free(&h->cfg); /* every slot now points into fresh */
    h->cfg = fresh;
}

/* Applies the plugin changes that have settled. Runs between polls only. */
static void apply_plugin_changes(host *h)
{
    if (!h->watcher)
        return;
    watcher_drain(h->watcher, clock_mono_ns() / 1000000);
    char *ready[16];
    size_t n;
    while ((n = watcher_take_ready(h->watcher, clock_mono_ns() / 1000000, ready, 16)) > 0) {
        for (size_t i = 0; i < n; i++) {
            registry_apply_change(&h->reg, ready[i]);
            free(ready[i]);
        }
    }
}

/*
 * Waits until due_ms (host clock), a signal, or a plugin change that has
 * settled. A virtual clock jumps instead of waiting.
 */
static void wait_until(host *h, int64_t due_ms)
{
    int64_t now = clock_wall_ms();
    if (due_ms <= now)
        return;
    if (clock_is_virtual()) {
        clock_advance_ms(due_ms - now);
        return;
    }
    while (!h->stop && !h->reload_config && (now = clock_wall_ms()) < due_ms) {
        int64_t wait = due_ms - now;
        if (h->watcher) {
            int64_t mono_now = clock_mono_ns() / 1000000;
            int64_t change = watcher_next_deadline(h->watcher);
            if (change <= mono_now)
                return;
            if (change - mono_now < wait)
                wait = change - mono_now;
        }
        struct pollfd pfd[2] = {{.fd = h->signal_fd, .events = POLLIN},
                                {.fd = h->watcher ? watcher_fd(h->watcher) : -1, .events = POLLIN}};
        int ready = poll(pfd, 2, wait > 60000 ? 60000 : (int)wait);
        if (ready > 0 && (pfd[0].revents & POLLIN))
            handle_signals(h);
        if (ready > 0 && (pfd[1].revents & POLLIN))
            watcher_drain(h->watcher, clock_mono_ns() / 1000000);
    }
}

/* The poll policy applied to a finished poll (in process or in a worker), and its log line. */
static void after_poll(host *h, host_instance *in, int rc, const char *err, double ms)
{
    int64_t now = clock_wall_ms();
    unsigned ended = 0;
    int64_t delay = sched_after_poll(&in->sched, rc == PA_OK, now,
                                     h->cfg.backoff_cap_seconds * 1000, in->not_before_ms, &ended);
    if (rc != PA_OK) {
        in->last_failure_ms = now;
        snprintf(in->last_poll_error, sizeof in->last_poll_error, "%.250s", err);
        log_msg(PA_LOG_ERROR, in->log_source,
                "poll failed (%u in a row): %s; backing off, next poll in %lld s",
                in->sched.failures, err, (long long)(delay / 1000));
        return;
    }
    in->last_success_ms = now;
    if (ended)
        log_msg(PA_LOG_INFO, in->log_source,
                "poll succeeded after %u failure(s); interval reset to %lld s", ended,
                (long long)(in->sched.interval_ms / 1000));
    log_msg(PA_LOG_DEBUG, in->log_source, "poll done in %.3f ms", ms);
}

static void poll_instance(host *h, host_instance *in)
{
    char err[1200];
    int64_t started = clock_mono_ns();
    int rc = instance_poll(in, err, sizeof err);
    after_poll(h, in, rc, err, (double)(clock_mono_ns() - started) / 1e6);
}

/* The periodic quick_check (quick_check_interval_seconds); false when the file is damaged. */
static bool check_database_when_due(host *h, int64_t *due_ms)
{
    int64_t every = h->cfg.quick_check_interval_seconds * 1000, now = clock_wall_ms();
    if (every <= 0 || now < *due_ms)
        return true;
    *due_ms = now + every;
    char err[1200];
    if (db_quick_check(h->pool, &h->self, h->opt.db_path, err, sizeof err) == PA_OK) {
        log_msg(PA_LOG_DEBUG, "host", "database %s: quick_check ok", h->opt.db_path);
        return true;
    }
    log_msg(PA_LOG_ERROR, "host", "%s; stopping", err);
    return false;
}

/* Turns the items the outbox holds into tasks, printed on stdout while it is open. */
static void outbox_round(host *h)
{
    size_t made = 0;
    char err[1024];
    h->undelivered =
        outbox_consume(h->pool, &h->self, clock_wall_ms(), h->stdout_closed ? NULL : stdout, &made,
                       err, sizeof err) != PA_OK;
    if (!h->stdout_closed && ferror(stdout)) {
        h->stdout_closed = true;
        log_msg(PA_LOG_WARN, "outbox",
                "stdout is closed (%s); tasks are no longer printed but stay in pa_tasks "
                "(docs/TASKS.md)",
                strerror(errno));
    }
    if (h->undelivered)
        log_msg(PA_LOG_ERROR, "outbox", "%s", err);
    else if (made)
        log_msg(PA_LOG_INFO, "outbox", "created %zu task(s)", made);
}

/* In process ("isolation": "none"): each due poll runs here, one after another. */
static void run(host *h)
{
    long rounds = 0;
    int64_t check_due = clock_wall_ms() + h->cfg.quick_check_interval_seconds * 1000;
    registry *r = &h->reg;
    int64_t idle_due = clock_wall_ms();
    while (!h->stop) {
        int64_t now = clock_wall_ms();
        bool polled = false, any_running = false;
        for (size_t i = 0; i < r->slot_count && !h->stop; i++) {
            host_instance *in = &r->slots[i]->in;
            any_running = any_running || in->running;
            if (!in->running || in->sched.next_due_ms > now)
                continue;
            poll_instance(h, in);
            polled = true;
            handle_signals(h);
        }
        if (!any_running && now >= idle_due) {
            polled = true; /* with nothing to poll, a round is one interval */
            idle_due = now + r->interval_ms;
        }
        if (polled) {
            outbox_round(h);
            rounds++;
        }
        handle_signals(h);
        if (!h->stop && !check_database_when_due(h, &check_due))
            h->stop = h->damaged = true;
        if (h->stop || (h->opt.polls && rounds >= h->opt.polls))
            break;
        if (h->reload_config)
            reload_config(h);
        apply_plugin_changes(h);
        int64_t next = INT64_MAX;
        for (size_t i = 0; i < r->slot_count; i++) {
            const host_instance *in = &r->slots[i]->in;
            if (in->running && in->sched.next_due_ms < next)
                next = in->sched.next_due_ms;
        }
        wait_until(h, next == INT64_MAX ? idle_due : next);
    }
}

/*
 * Isolation ("isolation": "process", the default; docs/ARCHITECTURE.md).
 * Each instance's plugin runs in its worker; this loop only schedules, waits
 * and keeps the books. Polls of different instances overlap, so a slow, hung
 * or crashed one costs the others nothing. Every wait has a deadline: a
 * poll's poll_timeout_seconds, and at a stop shutdown_grace_seconds.
 */

static int64_t poll_timeout_ms(const host *h, const instance_slot *s)
{
    int64_t seconds = s->config->poll_timeout_seconds ? s->config->poll_timeout_seconds
                                                      : h->cfg.poll_timeout_seconds;
    return seconds * 1000;
}

static bool any_busy(const registry *r)
{
    for (size_t i = 0; i < r->slot_count; i++)
        if (r->slots[i]->busy)
            return true;
    return false;
}

static void note_poll_ended(host *h)
{
    if (!h->polls_ended_ns)
        h->polls_ended_ns = clock_mono_ns();
}

/* A poll that ended without the plugin's answer (crash, kill): a failure, with backoff. */
static void poll_lost(host *h, instance_slot *s, const char *why)
{
    double ms = (double)(clock_mono_ns() - s->sent_ns) / 1e6;
    s->busy = false;
    s->in.polls++;
    s->in.poll_failures++;
    s->in.not_before_ms = 0;
    after_poll(h, &s->in, PA_ERR_GENERIC, why, ms);
    note_poll_ended(h);
}

/* The worker's channel ended or broke: it is killed (if need be), reaped and described. */
static void worker_gone(host *h, instance_slot *s)
{
    char how[128], why[1200];
    long pid = (long)s->worker->pid;
    worker_kill(s->worker, how, sizeof how);
    const char *when = s->worker->stage != WORKER_READY ? "during its start"
                       : s->busy                        ? "during the poll"
                                                        : "between polls";
    snprintf(why, sizeof why, "worker (pid %ld) %s %s; its last line: \"%.400s\"", pid, how, when,
             s->worker->last_line);
    worker_free(s->worker);
    s->worker = NULL;
    if (s->busy) {
        poll_lost(h, s, why);
        return;
    }
    /* Between polls: the next poll starts a new worker, after a backoff. */
    s->in.poll_failures++;
    after_poll(h, &s->in, PA_ERR_GENERIC, why, 0);
}

/* A poll past its deadline (or still running at the shutdown deadline): kill, say what it held. */
static void kill_overdue(host *h, instance_slot *s, const char *deadline)
{
    char held[1024], how[128], why[1600];
    held_describe(s->worker->held, clock_mono_ns() / 1000000, held, sizeof held);
    long pid = (long)s->worker->pid;
    worker_kill(s->worker, how, sizeof how);
    snprintf(why, sizeof why, "poll stopped after %.1f s (%s); worker (pid %ld) %s; it held %s",
             (double)(clock_mono_ns() - s->sent_ns) / 1e9, deadline, pid, how, held);
    worker_free(s->worker);
    s->worker = NULL;
    poll_lost(h, s, why);
}

static void poll_answered(host *h, instance_slot *s, const worker_poll_result *res)
{
    host_instance *in = &s->in;
    s->busy = false;
    in->polls++;
    in->poll_failures += res->rc != PA_OK;
    in->items_emitted += res->items;
    in->http_requests += res->http_requests;
    in->not_before_ms = res->not_before_ms;
    snprintf(s->pool_stats, sizeof s->pool_stats, "%s", s->worker->pool_stats);
    after_poll(h, in, res->rc, res->message, (double)(clock_mono_ns() - s->sent_ns) / 1e6);
    note_poll_ended(h);
}

/* A relaunched worker refused its plugin or failed its init: the poll it was to run is lost. */
static void start_failed(host *h, instance_slot *s, const worker_poll_result *res)
{
    char how[128], why[1400];
    worker_kill(s->worker, how, sizeof how);
    snprintf(why, sizeof why, "worker restart failed: %s", res->message);
    worker_free(s->worker);
    s->worker = NULL;
    poll_lost(h, s, why);
}

/* Everything a worker's channel holds: log lines, its start, a poll's answer, or its end. */
static void read_worker(host *h, instance_slot *s)
{
    worker_poll_result res;
    worker_event ev;
    while (s->worker && (ev = worker_read(s->worker, &res)) != WORKER_NOTHING) {
        if (ev == WORKER_STARTED)
            log_msg(PA_LOG_INFO, s->in.log_source, "worker restarted (plugin version %s, pid %ld)",
                    s->in.plugin->info->version, (long)s->worker->pid);
        else if (ev == WORKER_START_FAILED && s->busy)
            start_failed(h, s, &res);
        else if (ev == WORKER_POLL_DONE && s->busy)
            poll_answered(h, s, &res);
        else
            worker_gone(h, s); /* ended, broke, or answered a poll nobody asked for */
    }
}

/* Sends the due polls; a running instance without a worker gets a new one first. */
static bool dispatch_due(host *h, int64_t now)
{
    bool any = false;
    for (size_t i = 0; i < h->reg.slot_count; i++) {
        instance_slot *s = h->reg.slots[i];
        if (!s->in.running || s->busy || s->in.sched.next_due_ms > now)
            continue;
        any = true;
        s->sent_ns = clock_mono_ns();
        char err[1200];
        /* A new worker takes this poll after its init; the loop does not wait for either. */
        if (!s->worker && registry_launch_worker(&h->reg, s, err, sizeof err) != PA_OK) {
            poll_lost(h, s, err); /* this round's poll is lost, as a failure */
            continue;
        }
        s->busy = true;
        s->deadline_ns = s->sent_ns + poll_timeout_ms(h, s) * 1000000;
        if (worker_send_poll(s->worker) != 0)
            worker_gone(h, s);
    }
    return any;
}

/* Waits up to wait_ms for a signal, a plugin change or anything from a worker. */
static void wait_events(host *h, int64_t wait_ms)
{
    registry *r = &h->reg;
    size_t n = 2, cap = 2 + 2 * r->slot_count;
    struct pollfd *pfd = calloc(cap, sizeof *pfd);
    if (!pfd) {
        poll(NULL, 0, 10); /* out of memory: try again shortly */
        return;
    }
    pfd[0] = (struct pollfd){.fd = h->signal_fd, .events = POLLIN};
    pfd[1] = (struct pollfd){.fd = h->watcher ? watcher_fd(h->watcher) : -1, .events = POLLIN};
    for (size_t i = 0; i < r->slot_count; i++) {
        const worker_proc *w = r->slots[i]->worker;
        pfd[n++] = (struct pollfd){.fd = w ? w->channel : -1, .events = POLLIN};
        pfd[n++] = (struct pollfd){.fd = w ? w->output : -1, .events = POLLIN};
    }
    int ready = poll(pfd, n, wait_ms < 0 ? 0 : wait_ms > 60000 ? 60000 : (int)wait_ms);
    if (ready > 0 && pfd[0].revents)
        handle_signals(h);
    if (ready > 0 && pfd[1].revents)
        watcher_drain(h->watcher, clock_mono_ns() / 1000000);
    for (size_t i = 0; ready > 0 && i < r->slot_count; i++) {
        instance_slot *s = r->slots[i];
        if (s->worker && pfd[2 + 2 * i + 1].revents)
            worker_read_output(s->worker);
        if (s->worker && pfd[2 + 2 * i].revents)
            read_worker(h, s);
    }
    free(pfd);
}

/* The next moment the loop must act: a due poll, a poll deadline, a settling plugin change. */
static int64_t next_wake_ms(host *h, bool dispatching, int64_t idle_due, int64_t stop_deadline_ns)
{
    const registry *r = &h->reg;
    int64_t now = clock_wall_ms(), mono_ms = clock_mono_ns() / 1000000, wait = 60000;
    bool any_running = false;
    for (size_t i = 0; i < r->slot_count; i++) {
        const instance_slot *s = r->slots[i];
        any_running = any_running || s->in.running;
        if (s->busy && s->deadline_ns / 1000000 - mono_ms < wait)
            wait = s->deadline_ns / 1000000 - mono_ms;
        if (s->busy && h->cfg.worker_memory_limit_mb && wait > MEMORY_CHECK_MS)
            wait = MEMORY_CHECK_MS;
        if (dispatching && s->in.running && !s->busy && s->in.sched.next_due_ms - now < wait)
            wait = s->in.sched.next_due_ms - now;
    }
    if (dispatching && !any_running && idle_due - now < wait)
        wait = idle_due - now;
    if (stop_deadline_ns && stop_deadline_ns / 1000000 - mono_ms < wait)
        wait = stop_deadline_ns / 1000000 - mono_ms;
    if (h->watcher && watcher_next_deadline(h->watcher) - mono_ms < wait)
        wait = watcher_next_deadline(h->watcher) - mono_ms;
    return wait < 0 ? 0 : wait;
}

static bool changes_pending(host *h)
{
    return h->reload_config ||
           (h->watcher && watcher_next_deadline(h->watcher) <= clock_mono_ns() / 1000000);
}

/* Whether a worker's resident memory is past worker_memory_limit_mb; says so into why. */
static bool over_memory_limit(const host *h, const worker_proc *w, char *why, size_t why_size)
{
    int64_t limit = h->cfg.worker_memory_limit_mb << 20, resident;
    if (limit <= 0 || (resident = worker_resident_bytes(w)) <= limit)
        return false;
    snprintf(why, why_size, "worker resident memory %lld MiB is over worker_memory_limit_mb %lld",
             (long long)(resident >> 20), (long long)h->cfg.worker_memory_limit_mb);
    return true;
}

/*
 * Polls past their deadline are killed; at a stop, so are polls past the
 * grace; and, checked every MEMORY_CHECK_MS while they poll, workers past
 * the memory limit.
 */
static void enforce_deadlines(host *h, int64_t stop_deadline_ns)
{
    int64_t now = clock_mono_ns();
    bool check_memory = now >= h->memory_check_ns;
    if (check_memory)
        h->memory_check_ns = now + MEMORY_CHECK_MS * 1000000;
    for (size_t i = 0; i < h->reg.slot_count; i++) {
        instance_slot *s = h->reg.slots[i];
        if (!s->busy || !s->worker)
            continue;
        char deadline[160];
        if (check_memory && over_memory_limit(h, s->worker, deadline, sizeof deadline)) {
            kill_overdue(h, s, deadline);
        } else if (now >= s->deadline_ns) {
            snprintf(deadline, sizeof deadline, "poll_timeout_seconds is %lld",
                     (long long)(poll_timeout_ms(h, s) / 1000));
            kill_overdue(h, s, deadline);
        } else if (stop_deadline_ns && now >= stop_deadline_ns) {
            snprintf(deadline, sizeof deadline, "shutting down; shutdown_grace_seconds is %lld",
                     (long long)h->cfg.shutdown_grace_seconds);
            kill_overdue(h, s, deadline);
        }
    }
}

static void run_isolated(host *h)
{
    registry *r = &h->reg;
    long rounds = 0;
    bool dispatching = true;
    int64_t check_due = clock_wall_ms() + h->cfg.quick_check_interval_seconds * 1000;
    int64_t idle_due = clock_wall_ms(), stop_deadline_ns = 0;
    for (;;) {
        if (h->stop && !stop_deadline_ns)
            r->shutdown_deadline_ns = stop_deadline_ns =
                clock_mono_ns() + h->cfg.shutdown_grace_seconds * 1000000000;
        int64_t now = clock_wall_ms();
        if (!h->stop && dispatching && !changes_pending(h)) {
            bool any_running = false;
            for (size_t i = 0; i < r->slot_count; i++)
                any_running = any_running || r->slots[i]->in.running;
            bool round = dispatch_due(h, now);
            if (!any_running && now >= idle_due) {
                round = true; /* with nothing to poll, a round is one interval */
                note_poll_ended(h);
                idle_due = now + r->interval_ms;
            }
            rounds += round;
            dispatching = !(h->opt.polls && rounds >= h->opt.polls);
        }
        /*
         * One outbox round per batch of polls, as in process; a poll still
         * running delays the others' tasks by at most OUTBOX_MAX_DELAY_MS.
         */
        bool busy = any_busy(r);
        if (h->polls_ended_ns &&
            (!busy || clock_mono_ns() - h->polls_ended_ns >= OUTBOX_MAX_DELAY_MS * 1000000)) {
            h->polls_ended_ns = 0;
            outbox_round(h);
        }
        if (!busy && (h->stop || !dispatching))
            break;
        if (!busy && h->reload_config)
            reload_config(h);
        if (!busy)
            apply_plugin_changes(h);
        if (!h->stop && !check_database_when_due(h, &check_due))
            h->stop = h->damaged = true;
        int64_t wait = next_wake_ms(h, dispatching && !h->stop, idle_due, stop_deadline_ns);
        if (h->polls_ended_ns && wait > OUTBOX_MAX_DELAY_MS)
            wait = OUTBOX_MAX_DELAY_MS;
        if (!busy && clock_is_virtual() && wait > 0 && !changes_pending(h)) {
            clock_advance_ms(wait); /* nothing runs: the virtual clock jumps */
            wait = 0;
        }
        wait_events(h, wait);
        enforce_deadlines(h, stop_deadline_ns);
    }
}

static int setup_signals(host *h)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGHUP);
    /* A reader closing stdout is an error on write, logged once, not a fatal signal. */
    signal(SIGPIPE, SIG_IGN);
    /* Blocked before any plugin runs, so threads plugins start inherit it. */
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
        return -1;
    h->signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    return h->signal_fd < 0 ? -1 : 0;
}

static void teardown(host *h)
{
    registry_stop_all(&h->reg);
    if (h->pool && h->opt.stats)
        print_stats(h);
    registry_free(&h->reg);
    watcher_close(h->watcher);
    loader_free(h->loader);
    pool_close(h->pool);
    config_free(&h->cfg);
    if (h->signal_fd >= 0)
        close(h->signal_fd);
    if (h->db_lock_fd >= 0)
        close(h->db_lock_fd);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--worker") == 0)
        return worker_main(argc, argv);
    host h = {.signal_fd = -1, .db_lock_fd = -1, .self = {.plugin = "host", .instance = "outbox"}};
    int rc = parse_options(argc, argv, &h.opt);
    if (rc != 0)
        return rc;
    log_set_level(h.opt.log_level);
    log_set_format(h.opt.journald ? LOG_FORMAT_JOURNALD : LOG_FORMAT_TEXT);
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
    if (h.opt.check_config) {
        rc = check_config(&h);
        teardown(&h);
        return rc;
    }
    if ((rc = check_configured_plugins_exist(&h)) != 0) {
        teardown(&h);
        return rc;
    }
    if ((rc = loader_new(h.opt.plugins_dir, &h.loader, err, sizeof err)) != PA_OK) {
        log_msg(PA_LOG_ERROR, "loader", "%s", err);
        teardown(&h);
        return rc == PA_ERR_CONFIG ? EXIT_CONFIG : EXIT_RUNTIME;
    }
    /* Watch before the scan, so a file that lands during it is not missed. */
    if (h.opt.watch &&
        watcher_open(h.opt.plugins_dir, RELOAD_SETTLE_MS, &h.watcher, err, sizeof err) != 0) {
        log_msg(PA_LOG_ERROR, "host", "%s", err);
        teardown(&h);
        return EXIT_RUNTIME;
    }
    if (!h.opt.allow_shared_db && (rc = lock_database(&h)) != 0) {
        teardown(&h);
        return rc;
    }
    pool_config pc = {.path = h.opt.db_path,
                      .size = h.cfg.pool_size,
                      .lease_timeout_ms = h.cfg.lease_timeout_ms,
                      .busy_timeout_ms = h.cfg.busy_timeout_ms,
                      .max_lifetime_ms = h.cfg.max_lifetime_seconds * 1000,
                      .now_ms = clock_is_virtual() ? clock_wall_ms : NULL};
    /* A damaged file is refused before anything writes to it. */
    if (pool_open(&pc, &h.pool, err, sizeof err) != PA_OK ||
        db_quick_check(h.pool, &h.self, h.opt.db_path, err, sizeof err) != PA_OK ||
        outbox_create_schema(h.pool, &h.self, err, sizeof err) != PA_OK) {
        log_msg(PA_LOG_ERROR, "host", "%s", err);
        teardown(&h);
        return EXIT_RUNTIME;
    }
    if (h.cfg.isolated && (rc = setup_workers(&h, h.opt.db_path)) != 0) {
        teardown(&h);
        return rc;
    }
    int64_t interval_ms =
        (h.opt.interval_seconds ? h.opt.interval_seconds : h.cfg.poll_interval_seconds) * 1000;
    if (registry_init(&h.reg, h.loader, h.pool, &h.cfg, interval_ms, err, sizeof err) != PA_OK) {
        log_msg(PA_LOG_ERROR, "loader", "%s", err);
        teardown(&h);
        return EXIT_RUNTIME;
    }
    h.reg.workers = h.cfg.isolated ? &h.workers : NULL;
    h.reg.grace_ms = h.cfg.shutdown_grace_seconds * 1000;
    registry_start_all(&h.reg);
    size_t running = 0;
    for (size_t i = 0; i < h.reg.slot_count; i++)
        running += h.reg.slots[i]->in.running;
    if (h.reg.slot_count > 0 && running == 0) {
        /* Nothing will poll: a bounded run says so with its status, a service keeps going. */
        log_msg(h.opt.polls ? PA_LOG_ERROR : PA_LOG_WARN, "host",
                "none of the %zu configured instance(s) could start (see the lines above)%s",
                h.reg.slot_count,
                h.opt.polls ? "; exiting with status 1" : "; waiting for a new plugin version");
        if (h.opt.polls) {
            teardown(&h);
            return EXIT_RUNTIME;
        }
    }
    if (h.cfg.isolated)
        run_isolated(&h);
    else
        run(&h);
    /* An exit code tells the truth: items that never became tasks are a failed run. */
    if (h.undelivered)
        log_msg(PA_LOG_ERROR, "host",
                "exiting with status 1: the last outbox round failed, so emitted items may "
                "still wait in pa_outbox undelivered (see the outbox error above)");
    teardown(&h);
    return h.undelivered || h.damaged ? EXIT_RUNTIME : 0;
}
