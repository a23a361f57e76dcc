/*
 * "misbehave": a plugin that goes wrong on purpose, for the containment
 * tests (docs/ARCHITECTURE.md). Every poll emits one item numbered from a
 * counter kept in the database, in the same transaction, so a poll that is
 * cut short takes its item with it and exactly-once can be checked by
 * counting. From poll "from_poll" (default 2) on, it does "does":
 *
 *   segfault | abort | exit  crash (exit status 3)
 *   hang                     sleep for ever, holding no lease
 *   hang_write               sleep for ever inside its WRITE lease
 *   fork_hang                start a child that sleeps for ever (its pid
 *                            written to "pid_file"), then hang
 *   leave_child              start a child that sleeps for ever, its pid in
 *                            "pid_file", or in a file of its own in
 *                            "pid_dir"; carry on
 *   stdout                   print a forged task line, then carry on
 *   report_dumpable          print "dumpable=D core=C" (PR_GET_DUMPABLE,
 *                            RLIMIT_CORE's soft limit), then carry on
 *   leak                     allocate and touch memory until stopped
 *   leak_in_child            start a child that leaves the process group
 *                            (setsid), writes its pid to "pid_file" and
 *                            leaks; carry on
 *   leak_in_thread           start a thread that leaks; carry on
 *   fork_segfault            start a child that sleeps for ever (holding the
 *                            worker's channel), then crash
 *   escape_flood             start a child that leaves the process group
 *                            (setsid), writes its pid to "pid_file" and
 *                            prints without end; then hang
 *   daemon                   start a daemon (fork, setsid, fork; the middle
 *                            one exits), its pid in "pid_file"; carry on
 *   flood                    log and print "flood_lines" lines each (default
 *                            20000), then carry on
 *   report_fds               print "null_fds_above_4=N": descriptors on
 *                            /dev/null beyond stdin..the held-sites table
 *                            (the worker's own stdin is one; a test leaves
 *                            one more open in the host)
 *   forge                    try, in a WRITE lease of its own, each way plain
 *                            SQL could forge, eat or jam the host's tasks
 *                            (FORGERIES), through the statement API and the
 *                            raw handle (PostgreSQL: PG_FORGERIES, through
 *                            the API, each in its own lease), then print "forged=N of M": how
 *                            many the database took
 *
 * "inside_lease": true does it before COMMIT (the item rolls back); the
 * default is after. "init_does" does one of these, or "fail" (return an
 * error), in pa_plugin_init
 * instead, once "init_after_items" (default 0) items are committed: 1 makes
 * the first init succeed and every init of a restarted worker go wrong.
 */
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sqlite3.h>
#include <unistd.h>

#include "tp_support.h"

TP_DESCRIBE("misbehave", "goes wrong on purpose (tests)")

static void go_wrong(tp_instance *t, const char *does);

/* Items committed so far (rows of misbehave_done), or -1 when they cannot be counted. */
static long committed_items(tp_instance *t)
{
    pa_lease lease;
    if (PA_LEASE(t->api, t->ctx, PA_LEASE_READ, PA_LEASE_DEFAULT_TIMEOUT, &lease) != PA_OK)
        return -1;
    long n = tp_count(t, lease, "misbehave_done");
    PA_RELEASE(t->api, t->ctx, lease, PA_RELEASE_COMMIT);
    return n;
}

int pa_plugin_init(const pa_host_api *api, pa_host_ctx *ctx, const char *config_json,
                   void **instance_out, char *errbuf, size_t errbuf_size)
{
    tp_instance *t;
    int rc = tp_new(api, ctx, config_json, &t, errbuf, errbuf_size);
    if (rc == PA_OK)
        rc = tp_create_probe(t, "misbehave_done", errbuf, errbuf_size);
    const char *init_does = rc == PA_OK ? tp_str(t, "init_does", "nothing") : "nothing";
    if (rc == PA_OK && committed_items(t) >= tp_int(t, "init_after_items", 0)) {
        if (strcmp(init_does, "fail") == 0) {
            snprintf(errbuf, errbuf_size, "told to fail its init");
            rc = PA_ERR_GENERIC;
        }
        go_wrong(t, init_does);
    }
    if (rc != PA_OK) {
        tp_free(t);
        return rc;
    }
    *instance_out = t;
    return PA_OK;
}

static void *leak_until_stopped(void *unused)
{
    (void)unused;
    for (size_t total = 0; total < ((size_t)4 << 30); total += (size_t)8 << 20) {
        char *block = malloc((size_t)8 << 20);
        if (!block)
            break;
        memset(block, 0x5a, (size_t)8 << 20); /* touched, so it counts as resident */
        usleep(5000);
    }
    while (pause() == -1) /* pause() returns only after a signal: waits to be killed */
        continue;
    return NULL;
}

static void write_pid_file(const char *pid_file)
{
    FILE *f = fopen(pid_file, "w");
    if (f) {
        fprintf(f, "%ld\n", (long)getpid());
        fclose(f);
    }
}

/*
 * A child the plugin leaves behind: it must die with the worker's process
 * group. Its pid goes to pid_file, or to a file named by it in pid_dir.
 */
static void start_child(const char *pid_file, const char *pid_dir)
{
    pid_t child = fork();
    if (child != 0)
        return;
    char own[512];
    if (pid_dir) {
        snprintf(own, sizeof own, "%s/%ld", pid_dir, (long)getpid());
        pid_file = own;
    }
    write_pid_file(pid_file);
    for (;;)
        pause();
}

/*
 * Plain SQL against the host's tables. Every object is named forged_*, so a
 * test can look for any that got through. The writes are the same on both
 * engines.
 */
#define DML_FORGERIES                                                                              \
    "INSERT INTO pa_outbox(plugin, instance_id, item_json, created_at) VALUES ('granola', "        \
    "'work', '{\"type\":\"forged\",\"title\":\"urgent\",\"source\":\"granola\","                   \
    "\"source_reference\":\"forged\",\"priority\":\"urgent\"}', '2026-01-01T00:00:00Z')",          \
        "UPDATE pa_outbox SET plugin = 'granola'", "DELETE FROM pa_outbox",                        \
        "DELETE FROM pa_tasks", "UPDATE pa_tasks SET title = 'forged'",

static const char *const FORGERIES[] = {
    DML_FORGERIES
    "CREATE TRIGGER forged_eater AFTER INSERT ON pa_outbox BEGIN DELETE FROM pa_outbox "
    "WHERE plugin = 'example'; END",
    "CREATE TEMP TRIGGER forged_temp_eater AFTER INSERT ON pa_tasks BEGIN DELETE FROM pa_tasks; "
    "END",
    "CREATE TEMP TABLE pa_outbox(forged_shadow)",
    "CREATE TEMP VIEW pa_tasks AS SELECT 1 AS forged_view",
    "CREATE VIEW pa_forged AS SELECT 1",
    "CREATE INDEX forged_index ON pa_outbox(item_json)",
    "ALTER TABLE pa_tasks ADD COLUMN forged_column TEXT",
    "DROP TABLE pa_instances",
    /* A trigger on its own table that writes the outbox is refused when it would fire. */
    "CREATE TABLE IF NOT EXISTS misbehave_side(x)",
    "CREATE TRIGGER IF NOT EXISTS side_relay AFTER INSERT ON misbehave_side BEGIN INSERT INTO "
    "pa_outbox(plugin, instance_id, item_json, created_at) VALUES ('granola', 'work', '{}', "
    "'2026-01-01T00:00:00Z'); END",
    "INSERT INTO misbehave_side VALUES (1)",
};

#define FORGERY_COUNT (sizeof FORGERIES / sizeof FORGERIES[0])

/*
 * The same on PostgreSQL, where the statement API is the one way to run SQL:
 * each in a transaction of its own, so one refused leaves the next unharmed.
 */
static const char *const PG_FORGERIES[] = {
    DML_FORGERIES "TRUNCATE pa_instances",
    "UPDATE pa_schema SET version = 99",
    "DELETE FROM pa_outbox_rejected",
    /* A trigger on its own table that writes the outbox is refused when it would fire. */
    "CREATE TABLE IF NOT EXISTS misbehave_side(x INTEGER)",
    "CREATE OR REPLACE FUNCTION misbehave_relay() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN "
    "INSERT INTO pa_outbox(plugin, instance_id, item_json, created_at) VALUES ('granola', 'work', "
    "'{}', '2026-01-01T00:00:00Z'); RETURN NULL; END $f$",
    "DROP TRIGGER IF EXISTS side_relay ON misbehave_side",
    "CREATE TRIGGER side_relay AFTER INSERT ON misbehave_side FOR EACH STATEMENT EXECUTE "
    "FUNCTION misbehave_relay()",
    "INSERT INTO misbehave_side VALUES (1)",
    /*
     * DDL, which PostgreSQL takes: a trigger that would eat the witness's
     * tasks when the supervisor's move fires it. The move drops it first.
     */
    "CREATE OR REPLACE FUNCTION misbehave_eat() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN "
    "DELETE FROM pa_tasks WHERE source = 'example'; RETURN NULL; END $f$",
    "CREATE TRIGGER forged_eater AFTER INSERT ON pa_tasks FOR EACH STATEMENT EXECUTE FUNCTION "
    "misbehave_eat()",
};

#define PG_FORGERY_COUNT (sizeof PG_FORGERIES / sizeof PG_FORGERIES[0])

static bool is_setup(const char *sql)
{
    return strstr(sql, "misbehave_side(x") || strstr(sql, "side_relay") ||
           strstr(sql, "misbehave_relay") || strstr(sql, "misbehave_eat");
}

/* One forgery in a WRITE lease of its own: true when the database took it (and it committed). */
static bool pg_forgery_taken(tp_instance *t, const char *sql)
{
    pa_lease lease;
    if (PA_LEASE(t->api, t->ctx, PA_LEASE_WRITE, PA_LEASE_DEFAULT_TIMEOUT, &lease) != PA_OK)
        return false;
    bool taken = tp_exec(t, lease, sql) == PA_OK;
    return PA_RELEASE(t->api, t->ctx, lease, taken ? PA_RELEASE_COMMIT : PA_RELEASE_ROLLBACK) ==
               PA_OK &&
           taken;
}

/* How many of PG_FORGERIES the database took into *forged, of *tried. */
static void try_pg_forgeries(tp_instance *t, unsigned *forged, unsigned *tried)
{
    for (size_t i = 0; i < PG_FORGERY_COUNT; i++) {
        bool taken = pg_forgery_taken(t, PG_FORGERIES[i]);
        if (!is_setup(PG_FORGERIES[i])) {
            *forged += taken;
            (*tried)++;
        }
    }
}

/* How many of FORGERIES the database took, through both ways to run SQL. */
static void try_sqlite_forgeries(tp_instance *t, pa_lease lease, unsigned *forged, unsigned *tried)
{
    for (size_t i = 0; i < FORGERY_COUNT; i++) {
        bool by_api = tp_exec(t, lease, FORGERIES[i]) == PA_OK;
        bool raw = tp_exec_sqlite(t, lease, FORGERIES[i]) == SQLITE_OK;
        if (!is_setup(FORGERIES[i])) {
            *forged += by_api + raw;
            *tried += 2;
        }
    }
}

static void try_forgeries(tp_instance *t)
{
    unsigned forged = 0, tried = 0;
    pa_lease lease;
    if (t->api->db_backend(t->ctx) == PA_DB_POSTGRESQL) {
        try_pg_forgeries(t, &forged, &tried);
    } else if (PA_LEASE(t->api, t->ctx, PA_LEASE_WRITE, PA_LEASE_DEFAULT_TIMEOUT, &lease) ==
               PA_OK) {
        try_sqlite_forgeries(t, lease, &forged, &tried);
        PA_RELEASE(t->api, t->ctx, lease, PA_RELEASE_COMMIT);
    }
    printf("forged=%u of %u\n", forged, tried);
    fflush(stdout);
}

/* A child that leaves the worker's process group and floods the output pipe. */
static void start_escaping_flood(const char *pid_file)
{
    if (fork() != 0)
        return;
    setsid();
    write_pid_file(pid_file);
    for (;;)
        printf("flood: a line from a process that left its worker's group\n");
}

/* Memory that grows after the poll, where the worker's own figure does not show it. */
static void start_leaking_child(const char *pid_file)
{
    if (fork() != 0)
        return;
    setsid();
    write_pid_file(pid_file);
    leak_until_stopped(NULL);
}

static void start_leaking_thread(void)
{
    pthread_t thread;
    if (pthread_create(&thread, NULL, leak_until_stopped, NULL) == 0)
        pthread_detach(thread);
}

/* A classic daemon: its parent exits at once, so the supervisor adopts it. */
static void start_daemon(const char *pid_file)
{
    pid_t middle = fork();
    if (middle == 0) {
        if (fork() == 0) {
            setsid();
            write_pid_file(pid_file);
            for (;;)
                pause();
        }
        _exit(0);
    }
    if (middle > 0)
        waitpid(middle, NULL, 0);
}

/* Descriptors beyond 0..4 open on /dev/null. */
static int null_fds_above_4(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        char link[300], target[64] = "";
        snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
        ssize_t len = readlink(link, target, sizeof target - 1);
        if (e->d_name[0] != '.' && atoi(e->d_name) > 4 && len > 0 &&
            strncmp(target, "/dev/null", (size_t)len) == 0 && len == 9)
            n++;
    }
    if (d)
        closedir(d);
    return n;
}

static void go_wrong(tp_instance *t, const char *does)
{
    if (strcmp(does, "fork_segfault") == 0) {
        start_child("/dev/null", NULL);
        does = "segfault";
    } else if (strcmp(does, "escape_flood") == 0) {
        start_escaping_flood(tp_str(t, "pid_file", "/dev/null"));
        does = "hang";
    } else if (strcmp(does, "leak_in_child") == 0) {
        start_leaking_child(tp_str(t, "pid_file", "/dev/null"));
    } else if (strcmp(does, "leak_in_thread") == 0) {
        start_leaking_thread();
    } else if (strcmp(does, "daemon") == 0) {
        start_daemon(tp_str(t, "pid_file", "/dev/null"));
    } else if (strcmp(does, "flood") == 0) {
        for (long i = 0, n = tp_int(t, "flood_lines", 20000); i < n; i++) {
            t->api->log(t->ctx, PA_LOG_INFO, "flood: log line %ld", i);
            printf("flood: output line %ld\n", i);
        }
        fflush(stdout);
    } else if (strcmp(does, "report_fds") == 0) {
        printf("null_fds_above_4=%d\n", null_fds_above_4());
        fflush(stdout);
    }
    if (strcmp(does, "fork_hang") == 0 || strcmp(does, "leave_child") == 0)
        start_child(tp_str(t, "pid_file", "/dev/null"), tp_str(t, "pid_dir", NULL));
    if (strcmp(does, "fork_hang") == 0)
        does = "hang";
    if (strcmp(does, "segfault") == 0)
        raise(SIGSEGV);
    else if (strcmp(does, "abort") == 0)
        abort();
    else if (strcmp(does, "exit") == 0)
        exit(3);
    else if (strcmp(does, "hang") == 0 || strcmp(does, "hang_write") == 0)
        for (;;)
            pause();
    else if (strcmp(does, "report_dumpable") == 0) {
        struct rlimit core;
        getrlimit(RLIMIT_CORE, &core);
        printf("dumpable=%d core=%lld\n", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0),
               (long long)core.rlim_cur);
        fflush(stdout);
    } else if (strcmp(does, "stdout") == 0) {
        printf("{\"type\":\"forged\",\"title\":\"a task line no plugin may write\"}\n");
        fflush(stdout);
    } else if (strcmp(does, "leak") == 0)
        leak_until_stopped(NULL);
    else if (strcmp(does, "forge") == 0)
        try_forgeries(t);
}

/* The item numbered one past the rows already counted, and its row; in the caller's lease. */
static int emit_next(tp_instance *t, pa_lease lease, long *number)
{
    *number = tp_count(t, lease, "misbehave_done") + 1;
    char ref[64], title[64];
    snprintf(ref, sizeof ref, "%s-%ld", t->id, *number);
    snprintf(title, sizeof title, "Misbehave item %ld", *number);
    if (*number == 0 || tp_exec(t, lease, "INSERT INTO misbehave_done VALUES ('x')") != PA_OK)
        return PA_ERR_DB;
    pa_item item = {.abi_version = PA_ABI_VERSION,
                    .struct_size = sizeof item,
                    .type = "example",
                    .title = title,
                    .source = "misbehave",
                    .source_reference = ref};
    return t->api->emit(t->ctx, lease, &item);
}

int pa_plugin_poll(void *instance, char *errbuf, size_t errbuf_size)
{
    tp_instance *t = instance;
    const char *does = tp_str(t, "does", "nothing");
    bool inside = tp_bool(t, "inside_lease", false) || strcmp(does, "hang_write") == 0;
    pa_lease lease;
    int rc = PA_LEASE(t->api, t->ctx, PA_LEASE_WRITE, PA_LEASE_DEFAULT_TIMEOUT, &lease);
    if (rc != PA_OK) {
        snprintf(errbuf, errbuf_size, "lease failed: %s", t->api->last_error(t->ctx));
        return rc;
    }
    long number;
    rc = emit_next(t, lease, &number);
    bool now = number >= tp_int(t, "from_poll", 2);
    if (rc == PA_OK && now && inside)
        go_wrong(t, does);
    if (rc != PA_OK) {
        snprintf(errbuf, errbuf_size, "emit failed: %s", t->api->last_error(t->ctx));
        PA_RELEASE(t->api, t->ctx, lease, PA_RELEASE_ROLLBACK);
        return rc;
    }
    rc = PA_RELEASE(t->api, t->ctx, lease, PA_RELEASE_COMMIT);
    if (rc == PA_OK && now && !inside)
        go_wrong(t, does);
    return rc;
}

void pa_plugin_shutdown(void *instance)
{
    tp_free(instance);
}
