/*
 * host_stub as supervisor (docs/ARCHITECTURE.md): set-up, the run, and
 * tear-down. Loads plugins (each described by a worker), lends the database
 * to workers that run them, schedules polls with backoff, turns the outbox
 * into tasks. The loop itself is run_loop.c.
 */
#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_config.h"
#include "clock.h"
#include "db_health.h"
#include "host.h"
#include "log.h"
#include "control_commands.h"
#include "port.h"
#include "secret.h"
#include "service_notify.h"
#include "signal_source.h"
#include "task_store.h"

/* A plugin file written in place must keep its size this long before it is loaded. */
#define RELOAD_SETTLE_MS 100

slot_policy host_policy(const host *h)
{
    int64_t interval_s =
        h->opt.interval_seconds ? h->opt.interval_seconds : h->cfg.poll_interval_seconds;
    return (slot_policy){.workers = &h->workers,
                         .interval_ms = interval_s * 1000,
                         .interval_forced = h->opt.interval_seconds != 0,
                         .backoff_cap_ms = h->cfg.backoff_cap_seconds * 1000,
                         .poll_timeout_ms = h->cfg.poll_timeout_seconds * 1000,
                         .write_lease_timeout_ms = h->cfg.write_lease_timeout_seconds * 1000,
                         .memory_limit_mb = h->cfg.worker_memory_limit_mb,
                         .shutdown_grace_seconds = h->cfg.shutdown_grace_seconds};
}

int host_choose_database(host *h, char *err, size_t err_size)
{
    agent_database agent = {h->cfg.agent_database_url, h->cfg.agent_dir};
    if (db_url_choose(h->opt.db_arg, h->cfg.database, &agent, &h->db, err, err_size) != 0)
        return EXIT_CONFIG;
    return 0;
}

/*
 * Every configured plugin must have a file, checked before anything is
 * loaded; with --watch it may arrive later, and its instances start then.
 */
int host_check_plugins_exist(host *h)
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
                    h->opt.config_name, pc->name, pc->name, h->opt.plugins_dir);
            return EXIT_CONFIG;
        }
        log_msg(PA_LOG_WARN, "host",
                "%s: plugins.%s: no %s.so in plugins directory '%s' yet; "
                "its instances start when it appears",
                h->opt.config_name, pc->name, pc->name, h->opt.plugins_dir);
    }
    return 0;
}

/* A dry run's item (a worker's emit, rolled back) onto the task stream, where its task would go. */
static void echo_dry_item(void *arg, const char *json, size_t len)
{
    host *h = arg;
    if (h->output)
        task_output_line(h->output, json, len);
}

int host_setup_workers(host *h, db_kind kind, const char *db_path, worker_entry_fn in_process)
{
    h->exe[0] = '\0';
    if (h->cfg.isolated && port_executable_path(h->exe, sizeof h->exe) != 0) {
        log_msg(PA_LOG_ERROR, "host", "cannot find this program's path for its workers: %s",
                strerror(errno));
        return EXIT_RUNTIME;
    }
    h->workers = (worker_settings){.exe = h->exe,
                                   .db_kind = kind,
                                   .db_path = db_path,
                                   .connect_timeout_s = h->cfg.connect_timeout_seconds,
                                   .statement_timeout_ms = h->cfg.statement_timeout_ms,
                                   .pool_idle_ms = h->cfg.pool_idle_seconds * 1000,
                                   .pool_size = h->cfg.pool_size,
                                   .lease_timeout_ms = h->cfg.lease_timeout_ms,
                                   .busy_timeout_ms = h->cfg.busy_timeout_ms,
                                   .max_lifetime_ms = h->cfg.max_lifetime_seconds * 1000,
                                   .start_timeout_ms = h->cfg.poll_timeout_seconds * 1000,
                                   .in_process = h->cfg.isolated ? NULL : in_process,
                                   .run_mode = h->opt.check_config ? PA_RUN_CHECK
                                               : h->opt.dry_run    ? PA_RUN_DRY
                                                                   : PA_RUN_SERVE,
                                   .echo_item = h->opt.dry_run ? echo_dry_item : NULL,
                                   .echo_item_arg = h};
    return 0;
}

/*
 * One host per database: an advisory lock on DB.lock, held for the life of
 * the process (the kernel drops it on any exit, kill -9 included). A host
 * alone takes a write lock; a host with --allow-shared-db a read lock, which
 * others with it share. Either conflicts with the other kind, so a host
 * without the flag never runs beside one with it, whichever started first:
 * the second names the holder and exits 2.
 */
static int lock_database(host *h)
{
    char path[4200];
    bool shared = h->opt.allow_shared_db;
    snprintf(path, sizeof path, "%s.lock", h->db.path);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        log_msg(PA_LOG_ERROR, "host", "cannot open the database lock %s: %s", path,
                strerror(errno));
        return EXIT_RUNTIME;
    }
    struct flock lock = {.l_type = shared ? F_RDLCK : F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_SETLK, &lock) != 0) {
        struct flock holder = lock;
        long pid = fcntl(fd, F_GETLK, &holder) == 0 ? (long)holder.l_pid : 0;
        log_msg(PA_LOG_ERROR, "host",
                "another host_stub (pid %ld) is using the database %s (lock %s) %s; run one host "
                "per database, or pass --allow-shared-db to every host",
                pid, h->db.path, path,
                shared ? "alone, without --allow-shared-db" : "with --allow-shared-db");
        close(fd);
        return EXIT_CONFIG;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (!shared && (ftruncate(fd, 0) != 0 || write(fd, pid, (size_t)n) != n))
        log_msg(PA_LOG_WARN, "host", "cannot write the pid into %s: %s", path, strerror(errno));
    h->db_lock_fd = fd;
    return 0;
}

static int setup_signals(host *h)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGCHLD); /* a worker's end, seen at once (slot_check_ended) */
    /* A reader closing stdout is an error on write, logged once, not a fatal signal. */
    signal(SIGPIPE, SIG_IGN);
    /* Blocked before any worker thread starts, so threads plugins start inherit it. */
    h->signal_fd = signal_source_open(&set);
    return h->signal_fd < 0 ? -1 : 0;
}

/* Task lines waiting for a slow stdout reader, at most; past it, lines are dropped (counted). */
#define TASK_OUTPUT_QUEUE_BYTES ((size_t)1 << 20)

/* The last workers' leftovers: each orphan killed may leave orphans of its own, found next. */
static void reap_last_orphans(const host *h)
{
    for (int sweep = 0; h->cfg.isolated && sweep < 20 && worker_reap_orphans() > 0; sweep++)
        usleep(10000);
}

static void teardown(host *h)
{
    commands_finish(h);
    control_close(h->control);
    h->control = NULL;
    registry_stop_all(&h->reg);
    reap_last_orphans(h);
    host_record_status(h, 1000); /* "not running" is a status a consumer reports */
    task_output_finish(h->output,
                       h->reg.shutdown_deadline_ns
                           ? h->reg.shutdown_deadline_ns
                           : clock_mono_ns() + h->cfg.shutdown_grace_seconds * 1000000000);
    h->output = NULL;
    if (h->pool && h->opt.stats)
        print_stats(h);
    registry_free(&h->reg);
    watcher_close(h->watcher);
    loader_free(h->loader);
    pool_close(h->pool);
    db_watch_close(&h->watch);
    config_free(&h->cfg);
    signal_source_close(h->signal_fd);
    if (h->db_lock_fd >= 0)
        close(h->db_lock_fd);
}

/* The plugins directory, its watcher and the database lock. */
static int open_plugins_and_lock(host *h)
{
    char err[1200] = "";
    int rc = host_check_plugins_exist(h);
    if (rc != 0)
        return rc;
    if ((rc = loader_new(h->opt.plugins_dir, worker_describe, &h->workers, &h->loader, err,
                         sizeof err)) != PA_OK) {
        log_msg(PA_LOG_ERROR, "loader", "%s", err);
        return rc == PA_ERR_CONFIG ? EXIT_CONFIG : EXIT_RUNTIME;
    }
    /* Watch before the scan, so a file that lands during it is not missed. */
    if (h->opt.watch &&
        watcher_open(h->opt.plugins_dir, RELOAD_SETTLE_MS, &h->watcher, err, sizeof err) != 0) {
        log_msg(PA_LOG_ERROR, "host", "%s", err);
        return EXIT_RUNTIME;
    }
    /*
     * The lock file keeps a second host off one SQLite file unless every host
     * shares it; hosts sharing a PostgreSQL database need none (the outbox
     * move takes disjoint rows).
     */
    /* A dry run keeps nothing, so it may run beside the host that serves the database. */
    return h->db.kind == DB_POSTGRES || h->opt.dry_run ? 0 : lock_database(h);
}

/* The supervisor's own pool; a damaged file is refused before anything writes to it. */
static int open_database(host *h)
{
    char err[1200] = "";
    log_msg(PA_LOG_INFO, "host", "database: %s %s%s (from %s)", db_kind_name(h->db.kind),
            h->db.kind == DB_SQLITE ? "file " : "",
            h->db.kind == DB_SQLITE ? h->db.path : h->db.shown, h->db.origin);
    pool_config pc = {.kind = h->db.kind,
                      .path = h->db.path,
                      .application_name = "host_stub/supervisor",
                      .connect_timeout_s = h->cfg.connect_timeout_seconds,
                      .statement_timeout_ms = h->cfg.statement_timeout_ms,
                      .size = h->cfg.pool_size,
                      .lease_timeout_ms = h->cfg.lease_timeout_ms,
                      .busy_timeout_ms = h->cfg.busy_timeout_ms,
                      .max_lifetime_ms = h->cfg.max_lifetime_seconds * 1000,
                      .rollback_writes = h->opt.dry_run, /* its tables, outbox and status too */
                      .now_ms = clock_is_virtual() ? clock_wall_ms : NULL};
    if (h->opt.dry_run)
        log_msg(PA_LOG_INFO, "host",
                "dry run: every instance polls once, every write (the plugins' and the host's) "
                "is rolled back, and the items are printed, not delivered");
    if (pool_open(&pc, &h->pool, err, sizeof err) != PA_OK ||
        db_quick_check(h->pool, &h->self, h->db.path, err, sizeof err) != PA_OK ||
        task_store_migrate(h->pool, &h->self, err, sizeof err) != PA_OK) {
        log_msg(PA_LOG_ERROR, "host", "%s", err);
        return EXIT_RUNTIME;
    }
    pool_stats st;
    pool_get_stats(h->pool, &st);
    if (h->db.kind == DB_SQLITE && db_watch_open(&h->watch, h->db.path, st.connections_opened)) {
        log_msg(PA_LOG_ERROR, "host", "cannot watch the database file %s: %s", h->db.path,
                strerror(errno));
        return EXIT_RUNTIME;
    }
    return 0;
}

/* Loads the plugins and starts their instances; a bounded run with none running ends here. */
static int start_instances(host *h)
{
    char err[1200] = "";
    slot_policy policy = host_policy(h);
    if (registry_init(&h->reg, h->loader, &h->cfg, &policy, err, sizeof err) != PA_OK) {
        log_msg(PA_LOG_ERROR, "loader", "%s", err);
        return EXIT_RUNTIME;
    }
    h->reg.grace_ms = h->cfg.shutdown_grace_seconds * 1000;
    size_t running = registry_start_all(&h->reg);
    if (h->reg.slot_count == 0 || running > 0)
        return 0;
    /* Nothing will poll: a bounded run says so with its status, a service keeps going. */
    log_msg(h->opt.polls ? PA_LOG_ERROR : PA_LOG_WARN, "host",
            "none of the %zu configured instance(s) could start (see the lines above)%s",
            h->reg.slot_count,
            h->opt.polls ? "; exiting with status 1" : "; waiting for a new plugin version");
    return h->opt.polls ? EXIT_RUNTIME : 0;
}

/*
 * The control socket (control.h): a service's, or wherever --control says; a
 * bounded run (--polls) has none unless asked. A path given and unusable is
 * a configuration error; the default one unusable, a warning.
 */
static int open_control(host *h)
{
    char path[200], err[600];
    const char *chosen = NULL;
    bool asked = h->opt.control_path || getenv("PA_CONTROL_SOCKET");
    if (h->opt.polls && !asked)
        return 0;
    int rc = control_path(h->opt.control_path, 1, path, sizeof path, &chosen, err, sizeof err);
    if (rc == PA_OK && chosen)
        rc = control_open(chosen, &h->control, err, sizeof err);
    if (rc == PA_OK)
        return 0;
    log_msg(asked ? PA_LOG_ERROR : PA_LOG_WARN, "control", "%s%s", err,
            asked ? "" : "; running without a control socket");
    return asked ? EXIT_CONFIG : 0;
}

/*
 * A bounded run's verdict on its polls: EXIT_POLLS when one failed or an
 * instance never started (named, the first few), else 0. A service's polls
 * are judged by their status, not its exit.
 */
static int failed_polls_status(const host *h)
{
    uint64_t failed = 0;
    char names[300] = "";
    for (size_t i = 0; h->opt.polls && i < h->reg.slot_count; i++) {
        const instance_slot *s = h->reg.slots[i];
        uint64_t n = s->poll_failures + !s->running; /* refused, or its start failed */
        size_t used = strlen(names);
        if (n && used + 2 < sizeof names)
            snprintf(names + used, sizeof names - used, "%s%s/%s", used ? ", " : "",
                     s->plugin->name, s->config->id);
        failed += n;
    }
    if (!failed)
        return 0;
    log_msg(PA_LOG_ERROR, "host", "exiting with status 3: %llu poll(s) failed in this run (%s)",
            (unsigned long long)failed, names);
    return EXIT_POLLS;
}

static int run(host *h, worker_entry_fn in_process)
{
    char err[1200] = "";
    if (h->opt.check_config)
        return check_config(h, in_process);
    if (config_load_sources(h->opt.config_path, h->opt.agent_config_path, &h->cfg, NULL, err,
                            sizeof err) != PA_OK) {
        log_msg(PA_LOG_ERROR, "host", "%s", err);
        return EXIT_CONFIG;
    }
    if (host_choose_database(h, err, sizeof err) != 0) {
        log_msg(PA_LOG_ERROR, "host", "%s", err);
        return EXIT_CONFIG;
    }
    int rc;
    if ((rc = host_setup_workers(h, h->db.kind, h->db.path, in_process)) != 0 ||
        (rc = open_plugins_and_lock(h)) != 0 || (rc = open_database(h)) != 0 ||
        (rc = start_instances(h)) != 0 || (rc = open_control(h)) != 0)
        return rc;
    service_notify("READY=1");
    /* Orphans of plugins' processes come to the supervisor, which kills them (run_loop.c). */
    if (h->cfg.isolated && port_become_subreaper() != 0)
        log_msg(PA_LOG_WARN, "host",
                "cannot become a subreaper (%s); processes plugins leave behind are not "
                "collected",
                strerror(errno));
    h->output = task_output_new(STDOUT_FILENO, TASK_OUTPUT_QUEUE_BYTES);
    if (!h->output)
        log_msg(PA_LOG_ERROR, "host",
                "out of memory for the task stream; tasks go to pa_tasks "
                "only, unprinted");
    run_loop(h);
    /* An exit code tells the truth: items that never became tasks are a failed run. */
    if (h->undelivered)
        log_msg(PA_LOG_ERROR, "host",
                "exiting with status 1: the last outbox round failed, so emitted items may "
                "still wait in pa_outbox undelivered (see the outbox error above)");
    return h->undelivered || h->damaged ? EXIT_RUNTIME : failed_polls_status(h);
}

/* A copy of the file at path into dir/name (a folder of this process's own); 0 or -1. */
static int copy_file(const char *path, const char *dir, const char *name)
{
    char to[4300], buf[65536];
    snprintf(to, sizeof to, "%s/%s", dir, name);
    int in = open(path, O_RDONLY | O_CLOEXEC);
    int out = in < 0 ? -1 : open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
    ssize_t n = 0;
    while (out >= 0 && (n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)n) != n)
            n = -1;
    if (in >= 0)
        close(in);
    if (out >= 0 && close(out) != 0)
        n = -1;
    return out >= 0 && n == 0 ? 0 : -1;
}

int supervisor_describe(const char *path, worker_entry_fn in_process)
{
    char dir[] = "/tmp/host_stub-describe-XXXXXX", err[1200] = "", copy[4300] = "";
    const char *slash = strrchr(path, '/'), *name = slash ? slash + 1 : path;
    /* Described from a private copy: any folder may hold the file, as a build's does. */
    if (!mkdtemp(dir) || copy_file(path, dir, name) != 0) {
        fprintf(stderr, "host_stub: describe: %s: %s\n", path, strerror(errno));
        rmdir(dir);
        return EXIT_CONFIG;
    }
    snprintf(copy, sizeof copy, "%s/%s", dir, name);
    log_set_level(PA_LOG_ERROR); /* the answer is on stdout; only a refusal is news */
    host h = {.signal_fd = -1, .db_lock_fd = -1};
    config_defaults(&h.cfg);
    loaded_plugin *pl = NULL;
    int rc =
        host_setup_workers(&h, DB_SQLITE, ":memory:", in_process) == 0 &&
                loader_new(dir, worker_describe, &h.workers, &h.loader, err, sizeof err) == PA_OK &&
                loader_open(h.loader, name, &pl, err, sizeof err) == PA_OK
            ? 0
            : EXIT_CONFIG;
    if (rc == 0)
        printf("name=%s\nversion=%s\nabi=%u.%u\ndescription=%s\n", pl->description.name,
               pl->description.version, PA_ABI_MAJOR(pl->description.abi_version),
               PA_ABI_MINOR(pl->description.abi_version), pl->description.description);
    else
        fprintf(stderr, "host_stub: describe: %s\n", err[0] ? err : "cannot load it");
    loader_close(pl);
    loader_free(h.loader);
    config_free(&h.cfg);
    unlink(copy);
    rmdir(dir);
    return rc;
}

int supervisor_run(const options *opt, worker_entry_fn in_process)
{
    host h = {.opt = *opt,
              .watch = {.db_fd = -1, .wal_fd = -1},
              .signal_fd = -1,
              .db_lock_fd = -1,
              .self = {.plugin = "host", .instance = "outbox"}};
    /* The database URL (a password) lives here, and in-process plugins' tokens. */
    secret_protect_process();
    service_notify_init();
    log_set_level(h.opt.log_level);
    log_set_format(h.opt.journald ? LOG_FORMAT_JOURNALD : LOG_FORMAT_TEXT);
    if (h.opt.virtual_clock)
        clock_use_virtual(h.opt.virtual_start_ms);
    h.started_ms = clock_wall_ms();
    if (setup_signals(&h) != 0) {
        log_msg(PA_LOG_ERROR, "host", "cannot set up signal handling: %s", strerror(errno));
        return EXIT_RUNTIME;
    }
    int rc = run(&h, in_process);
    teardown(&h);
    return rc;
}
