/*
 * Leases on PostgreSQL keep their meaning (docs/ABI.md, docs/OPERATIONS.md),
 * against a real server (the pg_server fixture): the pool on its own, then
 * host_stub whole. What the server does to a connection (terminate, restart,
 * refuse, time out, read-only) is done to it for real, from an admin
 * connection of the test's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <arpa/inet.h>
#include <libgen.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "clock.h"
#include "log.h"
#include "pg_env.h"
#include "pool.h"
#include "run_host.h"

#define MAX_LINES 64

typedef struct fixture {
    char url[256];
    char name[64];
    char app[96]; /* the pool's application_name, to find its connections */
    pool *pool;
    pool_owner owner;
    char *lines[MAX_LINES];
    int line_count;
} fixture;

static void capture(void *userdata, pa_log_level level, const char *line)
{
    (void)level;
    fixture *f = userdata;
    if (f->line_count < MAX_LINES)
        f->lines[f->line_count++] = strdup(line);
}

static bool logged(const fixture *f, const char *needle)
{
    for (int i = 0; i < f->line_count; i++) {
        if (strstr(f->lines[i], needle))
            return true;
    }
    return false;
}

static void open_pool(fixture *f, int size, int statement_timeout_ms)
{
    pool_config cfg = {.kind = DB_POSTGRES,
                       .path = f->url,
                       .application_name = f->app,
                       .size = size,
                       .lease_timeout_ms = 2000,
                       .connect_timeout_s = 5,
                       .statement_timeout_ms = statement_timeout_ms};
    char err[512];
    if (pool_open(&cfg, &f->pool, err, sizeof err) != PA_OK)
        fail_msg("pool_open: %s", err);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    pg_db_create(f->url, sizeof f->url, f->name, sizeof f->name);
    snprintf(f->app, sizeof f->app, "pa_test/%s", f->name);
    f->owner = (pool_owner){.plugin = "tester", .instance = "one"};
    pg_exec(f->url, "CREATE TABLE t (v INTEGER UNIQUE)");
    log_set_sink(capture, f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    log_set_sink(NULL, NULL);
    pool_close(f->pool);
    pg_db_drop(f->name);
    for (int i = 0; i < f->line_count; i++)
        free(f->lines[i]);
    free(f);
    return 0;
}

static pa_lease lease(fixture *f, pa_lease_mode mode)
{
    pa_lease l;
    char err[1024];
    if (pool_lease(f->pool, &f->owner, mode, -1, POOL_HERE, &l, err, sizeof err) != PA_OK)
        fail_msg("lease: %s", err);
    return l;
}

static int release(fixture *f, pa_lease l, pa_release_action action)
{
    char err[1024];
    return pool_release(f->pool, &f->owner, l, action, POOL_HERE, err, sizeof err);
}

/* Runs sql with ?1 = v (when v >= 0) to its end; the status, the engine's code in code. */
static int run(fixture *f, pa_lease l, const char *sql, long v, char *code)
{
    int status;
    char err[1024];
    db_stmt *st = pool_prepare(f->pool, &f->owner, l, 0, sql, &status, err, sizeof err);
    if (!st)
        return status;
    int rc = v >= 0 ? db_bind_int64(st, 1, v) : PA_OK;
    bool row = true;
    while (rc == PA_OK && row)
        rc = db_step(st, &row, err, sizeof err);
    if (code)
        snprintf(code, 16, "%s", db_error_code(db_stmt_conn(st)));
    return rc;
}

static long count_rows(fixture *f)
{
    return pg_scalar(f->url, "SELECT count(*) FROM t");
}

/* Connections of this pool's in pg_stat_activity, in state (NULL: any). */
static long connections(fixture *f, const char *state)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM pg_stat_activity WHERE application_name = '%s'%s%s%s", f->app,
             state ? " AND state = '" : "", state ? state : "", state ? "'" : "");
    return pg_scalar(pg_admin_url(), sql);
}

static void terminate_connections(const char *application_like)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
             "WHERE application_name LIKE '%s'",
             application_like);
    pg_scalar(pg_admin_url(), sql);
}

static void test_write_commits_rollback_and_reclaim_discard(void **state)
{
    fixture *f = *state;
    open_pool(f, 2, 5000);
    pa_lease l = lease(f, PA_LEASE_WRITE);
    assert_int_equal(run(f, l, "INSERT INTO t VALUES (?1)", 1, NULL), PA_OK);
    assert_int_equal(count_rows(f), 0); /* not committed yet: another session sees nothing */
    assert_int_equal(release(f, l, PA_RELEASE_COMMIT), PA_OK);
    assert_int_equal(count_rows(f), 1);

    l = lease(f, PA_LEASE_WRITE);
    assert_int_equal(run(f, l, "INSERT INTO t VALUES (?1)", 2, NULL), PA_OK);
    assert_int_equal(release(f, l, PA_RELEASE_ROLLBACK), PA_OK);
    assert_int_equal(count_rows(f), 1);

    l = lease(f, PA_LEASE_WRITE);
    assert_int_equal(run(f, l, "INSERT INTO t VALUES (?1)", 3, NULL), PA_OK);
    assert_int_equal(pool_reclaim(f->pool, &f->owner, "poll"), 1);
    assert_int_equal(count_rows(f), 1);
    assert_true(logged(f, "reclaimed unreleased WRITE lease from plugin 'tester' instance 'one', "
                          "borrowed at tests/integration/test_postgres.c:"));
    assert_int_equal(release(f, l, PA_RELEASE_COMMIT), PA_ERR_STALE_LEASE);
}

/* Between leases no connection of the pool is left in a transaction; during one, it is. */
static void test_no_connection_is_idle_in_transaction_between_leases(void **state)
{
    fixture *f = *state;
    open_pool(f, 2, 5000);
    pa_lease w = lease(f, PA_LEASE_WRITE);
    assert_int_equal(run(f, w, "INSERT INTO t VALUES (?1)", 1, NULL), PA_OK);
    assert_int_equal(connections(f, "idle in transaction"), 1); /* the measure can see one */
    assert_int_equal(release(f, w, PA_RELEASE_COMMIT), PA_OK);
    pa_lease r = lease(f, PA_LEASE_READ);
    assert_int_equal(run(f, r, "SELECT v FROM t", -1, NULL), PA_OK);
    assert_int_equal(connections(f, "idle in transaction"), 0); /* READ: autocommit */
    assert_int_equal(release(f, r, PA_RELEASE_COMMIT), PA_OK);
    assert_int_equal(connections(f, "idle in transaction"), 0);
    assert_int_equal(connections(f, NULL), 1); /* opened lazily, reused: one */
}

static void test_a_read_lease_cannot_write(void **state)
{
    fixture *f = *state;
    open_pool(f, 1, 5000);
    pa_lease r = lease(f, PA_LEASE_READ);
    char code[16];
    assert_int_equal(run(f, r, "INSERT INTO t VALUES (?1)", 1, code), PA_ERR_DB);
    assert_string_equal(code, "25006"); /* read_only_sql_transaction */
    assert_int_equal(release(f, r, PA_RELEASE_COMMIT), PA_OK);
    assert_int_equal(count_rows(f), 0);
}

static void test_a_constraint_is_pa_err_constraint(void **state)
{
    fixture *f = *state;
    open_pool(f, 1, 5000);
    pa_lease w = lease(f, PA_LEASE_WRITE);
    char code[16];
    assert_int_equal(run(f, w, "INSERT INTO t VALUES (?1)", 7, NULL), PA_OK);
    assert_int_equal(run(f, w, "INSERT INTO t VALUES (?1)", 7, code), PA_ERR_CONSTRAINT);
    assert_string_equal(code, "23505");
    /* The transaction failed: COMMIT is refused and rolled back, as docs/ABI.md says. */
    assert_int_equal(release(f, w, PA_RELEASE_COMMIT), PA_ERR_DB);
    assert_int_equal(count_rows(f), 0);
}

/* A connection the server ended while idle is replaced at the next lease; nothing fails. */
static void test_a_terminated_idle_connection_is_replaced(void **state)
{
    fixture *f = *state;
    open_pool(f, 1, 5000);
    pa_lease r = lease(f, PA_LEASE_READ);
    assert_int_equal(run(f, r, "SELECT 1", -1, NULL), PA_OK);
    assert_int_equal(release(f, r, PA_RELEASE_COMMIT), PA_OK);
    terminate_connections(f->app);
    r = lease(f, PA_LEASE_READ); /* READ: found broken at its first statement */
    assert_int_equal(run(f, r, "SELECT count(*) FROM t", -1, NULL), PA_OK);
    assert_int_equal(release(f, r, PA_RELEASE_COMMIT), PA_OK);
    terminate_connections(f->app);
    pa_lease w = lease(f, PA_LEASE_WRITE); /* WRITE: found broken at BEGIN */
    assert_int_equal(run(f, w, "INSERT INTO t VALUES (?1)", 1, NULL), PA_OK);
    assert_int_equal(release(f, w, PA_RELEASE_COMMIT), PA_OK);
    assert_int_equal(count_rows(f), 1);
    assert_true(logged(f, "a broken PostgreSQL connection was replaced before use"));
}

/* A lease that already did work is never replayed: it fails, and the next lease works. */
static void test_a_connection_lost_after_work_fails_cleanly(void **state)
{
    fixture *f = *state;
    open_pool(f, 1, 5000);
    pa_lease w = lease(f, PA_LEASE_WRITE);
    assert_int_equal(run(f, w, "INSERT INTO t VALUES (?1)", 1, NULL), PA_OK);
    terminate_connections(f->app);
    char code[16];
    assert_int_equal(run(f, w, "INSERT INTO t VALUES (?1)", 2, code), PA_ERR_DB);
    assert_true(strncmp(code, "57P01", 5) == 0 || strncmp(code, "08", 2) == 0);
    assert_int_equal(release(f, w, PA_RELEASE_COMMIT), PA_ERR_DB);
    assert_int_equal(count_rows(f), 0); /* neither insert happened, none twice */
    pool_stats st;
    pool_get_stats(f->pool, &st);
    assert_int_equal(st.retired_fatal, 1);
    w = lease(f, PA_LEASE_WRITE);
    assert_int_equal(run(f, w, "INSERT INTO t VALUES (?1)", 3, NULL), PA_OK);
    assert_int_equal(release(f, w, PA_RELEASE_COMMIT), PA_OK);
    assert_int_equal(count_rows(f), 1);
}

static void test_a_statement_timeout_is_pa_err_timeout(void **state)
{
    fixture *f = *state;
    open_pool(f, 1, 200);
    pa_lease r = lease(f, PA_LEASE_READ);
    char code[16];
    assert_int_equal(run(f, r, "SELECT pg_sleep(5)", -1, code), PA_ERR_TIMEOUT);
    assert_string_equal(code, "57014");                       /* query_canceled */
    assert_int_equal(run(f, r, "SELECT 1", -1, NULL), PA_OK); /* the connection lives on */
    assert_int_equal(release(f, r, PA_RELEASE_COMMIT), PA_OK);
}

/*
 * The server refusing a connection (a limit reached: 53300, as for "too many
 * clients") fails that lease only, clearly. Limits do not bind superusers,
 * so the pool connects as a role of its own.
 */
static void test_too_many_clients_fails_the_lease_clearly(void **state)
{
    fixture *f = *state;
    pg_exec(pg_admin_url(), "DROP ROLE IF EXISTS pa_limited");
    pg_exec(pg_admin_url(), "CREATE ROLE pa_limited LOGIN CONNECTION LIMIT 1");
    char *at = strstr(f->url, "://pa@");
    assert_non_null(at);
    char url[256];
    snprintf(url, sizeof url, "%.*s://pa_limited@%s", (int)(at - f->url), f->url, at + 6);
    snprintf(f->url, sizeof f->url, "%s", url);
    open_pool(f, 2, 5000);
    pa_lease first = lease(f, PA_LEASE_READ);
    assert_int_equal(run(f, first, "SELECT 1", -1, NULL), PA_OK);
    pa_lease second;
    char err[1024];
    assert_int_equal(
        pool_lease(f->pool, &f->owner, PA_LEASE_READ, -1, POOL_HERE, &second, err, sizeof err),
        PA_ERR_DB);
    assert_non_null(strstr(err, "cannot connect to PostgreSQL: "));
    assert_non_null(strstr(err, "too many connections"));
    assert_int_equal(release(f, first, PA_RELEASE_COMMIT), PA_OK);
    pa_lease again = lease(f, PA_LEASE_READ); /* the open connection serves on */
    assert_int_equal(run(f, again, "SELECT 1", -1, NULL), PA_OK);
    assert_int_equal(release(f, again, PA_RELEASE_COMMIT), PA_OK);
    pool_close(f->pool);
    f->pool = NULL;
    pg_exec(pg_admin_url(), "DROP ROLE pa_limited");
}

/* An operator's read-only database stays read-only: WRITE leases are refused, READ work. */
static void test_a_read_only_database_refuses_write_leases(void **state)
{
    fixture *f = *state;
    char sql[160];
    snprintf(sql, sizeof sql, "ALTER DATABASE %s SET default_transaction_read_only = on", f->name);
    pg_exec(pg_admin_url(), sql);
    open_pool(f, 1, 5000);
    pa_lease w;
    char err[1024];
    assert_int_equal(
        pool_lease(f->pool, &f->owner, PA_LEASE_WRITE, -1, POOL_HERE, &w, err, sizeof err),
        PA_ERR_DB);
    assert_non_null(strstr(err, "the database is read-only (default_transaction_read_only is on"));
    pa_lease r = lease(f, PA_LEASE_READ);
    assert_int_equal(run(f, r, "SELECT count(*) FROM t", -1, NULL), PA_OK);
    assert_int_equal(release(f, r, PA_RELEASE_COMMIT), PA_OK);
}

/* Connections unused for pool.idle_seconds are closed; the next lease opens one again. */
static void test_idle_connections_are_closed(void **state)
{
    fixture *f = *state;
    open_pool(f, 2, 5000);
    pa_lease a = lease(f, PA_LEASE_READ), b = lease(f, PA_LEASE_READ);
    assert_int_equal(run(f, a, "SELECT 1", -1, NULL), PA_OK);
    assert_int_equal(run(f, b, "SELECT 1", -1, NULL), PA_OK);
    assert_int_equal(release(f, a, PA_RELEASE_COMMIT), PA_OK);
    assert_int_equal(release(f, b, PA_RELEASE_COMMIT), PA_OK);
    assert_int_equal(connections(f, NULL), 2);
    assert_int_equal(pool_close_idle(f->pool, 60000), 0); /* not idle that long yet */
    usleep(30000);
    assert_int_equal(pool_close_idle(f->pool, 20), 2);
    assert_int_equal(connections(f, NULL), 0);
    pa_lease again = lease(f, PA_LEASE_WRITE);
    assert_int_equal(run(f, again, "INSERT INTO t VALUES (?1)", 1, NULL), PA_OK);
    assert_int_equal(release(f, again, PA_RELEASE_COMMIT), PA_OK);
    pool_stats st;
    pool_get_stats(f->pool, &st);
    assert_int_equal(st.retired_idle, 2);
    assert_int_equal(st.open_connections, 1);
}

/*
 * A TCP relay to the server that can go silent: it stops passing bytes but
 * keeps both sockets open, as a server that hangs or a network that drops
 * everything without a reset would. The kernel still acknowledges what the
 * client sends, so neither keepalives nor TCP timeouts notice.
 */
typedef struct relay {
    int listener;
    int port;
    int server_port;
    atomic_bool silent;
    atomic_bool stop;
    pthread_t thread;
} relay;

static int connect_local(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* Passes what is readable on from to to; false when from is done. */
static bool pass(int from, int to)
{
    char buf[16384];
    ssize_t n = read(from, buf, sizeof buf);
    return n > 0 && write(to, buf, (size_t)n) == n;
}

static void *relay_main(void *arg)
{
    relay *r = arg;
    while (!atomic_load(&r->stop)) {
        struct pollfd lp = {.fd = r->listener, .events = POLLIN};
        if (poll(&lp, 1, 100) <= 0)
            continue;
        int client = accept(r->listener, NULL, NULL);
        int server = client >= 0 ? connect_local(r->server_port) : -1;
        while (client >= 0 && server >= 0 && !atomic_load(&r->stop)) {
            struct pollfd p[2] = {{.fd = client, .events = POLLIN},
                                  {.fd = server, .events = POLLIN}};
            if (atomic_load(&r->silent)) {
                usleep(20000); /* holds both ends, passes nothing */
                continue;
            }
            if (poll(p, 2, 50) <= 0)
                continue;
            if ((p[0].revents && !pass(client, server)) || (p[1].revents && !pass(server, client)))
                break;
        }
        if (client >= 0)
            close(client);
        if (server >= 0)
            close(server);
    }
    return NULL;
}

static void relay_start(relay *r, int server_port)
{
    r->server_port = server_port;
    r->listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    assert_int_equal(bind(r->listener, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(r->listener, 4), 0);
    assert_int_equal(getsockname(r->listener, (struct sockaddr *)&a, &len), 0);
    r->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&r->thread, NULL, relay_main, r), 0);
}

static void relay_stop(relay *r)
{
    atomic_store(&r->stop, true);
    pthread_join(r->thread, NULL);
    close(r->listener);
}

/*
 * A server that stops answering costs a call statement_timeout + 2 s at most,
 * never for ever: the call fails with PA_ERR_TIMEOUT, the lease's COMMIT is
 * refused, the connection is retired, and nothing waits on it again.
 */
static void test_a_silent_server_costs_a_bounded_wait(void **state)
{
    fixture *f = *state;
    const char *colon = strrchr(f->url, ':');
    assert_non_null(colon);
    relay r = {0};
    relay_start(&r, atoi(colon + 1));
    char url[256];
    snprintf(url, sizeof url, "%.*s:%d%s", (int)(colon - f->url), f->url, r.port,
             strchr(colon, '/'));
    snprintf(f->url, sizeof f->url, "%s", url);
    open_pool(f, 1, 300);
    pa_lease w = lease(f, PA_LEASE_WRITE);
    assert_int_equal(run(f, w, "INSERT INTO t VALUES (?1)", 1, NULL), PA_OK);
    atomic_store(&r.silent, true);
    int64_t start = clock_mono_ns();
    assert_int_equal(run(f, w, "INSERT INTO t VALUES (?1)", 2, NULL), PA_ERR_TIMEOUT);
    int64_t waited_ms = (clock_mono_ns() - start) / 1000000;
    assert_int_equal(release(f, w, PA_RELEASE_COMMIT), PA_ERR_DB);
    pool_stats st;
    pool_get_stats(f->pool, &st);
    assert_int_equal(st.retired_fatal, 1);
    assert_true(logged(f, "retiring connection #1 after PostgreSQL did not answer in time"));
    if (waited_ms < 2000 || waited_ms > 6000)
        fail_msg("the silent call took %lld ms, expected 2300 (300 + 2000)", (long long)waited_ms);
    pool_close(f->pool);
    f->pool = NULL;
    relay_stop(&r);
}

/* The cluster's folder, from the URL file's path (build/pg/url). */
static const char *cluster_dir(void)
{
    static char dir[512];
    snprintf(dir, sizeof dir, "%s", PA_TEST_PG_URL_FILE);
    return dirname(dir);
}

static void restart_server(void)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "bash '%s/scripts/pg_cluster.sh' restart '%s'", PA_SOURCE_DIR,
             cluster_dir());
    assert_int_equal(system(cmd), 0);
}

static void test_a_server_restart_costs_no_lease(void **state)
{
    fixture *f = *state;
    open_pool(f, 1, 5000);
    pa_lease r = lease(f, PA_LEASE_READ);
    assert_int_equal(run(f, r, "SELECT 1", -1, NULL), PA_OK);
    assert_int_equal(release(f, r, PA_RELEASE_COMMIT), PA_OK);
    restart_server();
    pa_lease w = lease(f, PA_LEASE_WRITE);
    assert_int_equal(run(f, w, "INSERT INTO t VALUES (?1)", 1, NULL), PA_OK);
    assert_int_equal(release(f, w, PA_RELEASE_COMMIT), PA_OK);
    assert_int_equal(count_rows(f), 1);
}

/*
 * host_stub whole: runs POLLS polls interval seconds apart, doing `between`
 * after each poll's task line; pool_keys go into host.json's "pool".
 */
#define HOST_POLLS 3
static void run_host_every(test_env *env, const char *interval, const char *pool_keys,
                           void (*between)(void), host_result *r)
{
    env_add_plugin(env, "example");
    char config[256];
    snprintf(config, sizeof config,
             "{\"pool\": {%s}, \"plugins\": {\"example\": {\"instances\": [{\"id\": \"a\"}]}}}",
             pool_keys);
    env_write_config(env, config);
    char polls[8];
    snprintf(polls, sizeof polls, "%d", HOST_POLLS);
    pid_t pid = host_start(env, (const char *[]){"--interval", interval, "--polls", polls, NULL});
    for (int seen = 0; seen < HOST_POLLS - 1;) {
        char *out = read_file(env->out_path);
        int lines = count_lines(out);
        free(out);
        if (lines > seen) {
            seen = lines;
            usleep(300000); /* the poll and its move are over; the next is 1.7 s away */
            between();
        }
        usleep(20000);
    }
    host_wait(env, pid, r);
}

static void run_host_doing(test_env *env, void (*between)(void), host_result *r)
{
    run_host_every(env, "2", "", between, r);
}

static void kill_host_connections(void)
{
    terminate_connections("host_stub/%");
}

static void assert_every_poll_delivered(test_env *env, const host_result *r)
{
    if (r->exit_code != 0 || count_lines(r->out) != HOST_POLLS)
        fail_msg("host exited %d with %d task line(s)\n%s", r->exit_code, count_lines(r->out),
                 r->err);
    assert_lacks(r->err, "poll failed");
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM pa_tasks"), HOST_POLLS);
    /* Nothing of the host's is left on the server once it has exited. */
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'host_stub/%%' "
             "AND datname = '%s'",
             env->pg_name);
    assert_int_equal(pg_scalar(pg_admin_url(), sql), 0);
}

static int host_setup(void **state)
{
    setenv("PA_TEST_BACKEND", "postgresql", 1);
    return env_setup(state);
}

static void test_host_connections_killed_between_polls_fail_no_poll(void **state)
{
    test_env *env = *state;
    host_result r;
    run_host_doing(env, kill_host_connections, &r);
    assert_every_poll_delivered(env, &r);
    assert_contains(r.err, "a broken PostgreSQL connection was replaced before use");
    host_result_free(&r);
}

static void test_host_survives_a_server_restart(void **state)
{
    test_env *env = *state;
    host_result r;
    run_host_doing(env, restart_server, &r);
    assert_every_poll_delivered(env, &r);
    host_result_free(&r);
}

/* Runs host_stub for one poll of example.so with only PA_DATABASE__URL naming the database. */
static void run_with_url(test_env *env, const char *url, host_result *r)
{
    setenv("PA_DATABASE__URL", url, 1);
    /* host_run passes --db: run without it, as the agent's container would. */
    const char *args[] = {PA_HOST_STUB, "--plugins", env->plugins,   "--config",   env->config,
                          "--polls",    "1",         "--fake-clock", "1767225600", NULL};
    pid_t pid = spawn_wrapped(args, env->out_path, env->err_path);
    host_wait(env, pid, r);
    unsetenv("PA_DATABASE__URL");
}

/*
 * Credentials and services work as in libpq: a role that needs its password
 * connects with PGPASSWORD, or with a PGPASSFILE entry, or through a
 * PGSERVICEFILE service; without one, one error line; the password is never
 * printed.
 */
static void test_libpq_credentials_and_services(void **state)
{
    test_env *env = *state;
    pg_exec(pg_admin_url(), "DROP ROLE IF EXISTS pa_pw");
    pg_exec(pg_admin_url(), "CREATE ROLE pa_pw LOGIN PASSWORD 'pw-s3cret'");
    char sql[160];
    snprintf(sql, sizeof sql, "ALTER DATABASE %s OWNER TO pa_pw", env->pg_name);
    pg_exec(pg_admin_url(), sql);
    /* Only pa_pw needs a password: a line of its own before the trust lines, then a reload. */
    char cluster[512] = "", hba[600], cmd[2048];
    FILE *f = fopen(PA_TEST_PG_CLUSTER_FILE, "r");
    assert_non_null(f);
    assert_non_null(fgets(cluster, sizeof cluster, f));
    fclose(f);
    cluster[strcspn(cluster, "\n")] = '\0';
    snprintf(hba, sizeof hba, "%s/data/pg_hba.conf", cluster);
    snprintf(cmd, sizeof cmd, "sed -i '1i host all pa_pw 127.0.0.1/32 scram-sha-256' '%s'", hba);
    assert_int_equal(system(cmd), 0);
    pg_scalar(pg_admin_url(), "SELECT pg_reload_conf()::int");

    env_add_plugin(env, "example");
    env_write_config(env, "{\"plugins\": {\"example\": {\"instances\": [{\"id\": \"a\"}]}}}");
    const char *admin = pg_admin_url();
    const char *at = strstr(admin, "@"), *slash = strrchr(admin, '/');
    char hostport[128];
    snprintf(hostport, sizeof hostport, "%.*s", (int)(slash - at - 1), at + 1);
    char url[256];
    snprintf(url, sizeof url, "postgresql://pa_pw@%s/%s", hostport, env->pg_name);
    host_result r;

    run_with_url(env, url, &r); /* no password anywhere */
    assert_int_equal(r.exit_code, 1);
    assert_contains(r.err, "error host: cannot connect to PostgreSQL: ");
    host_result_free(&r);

    setenv("PGPASSWORD", "pw-s3cret", 1);
    run_with_url(env, url, &r);
    unsetenv("PGPASSWORD");
    if (r.exit_code != 0 || count_lines(r.out) != 1)
        fail_msg("with PGPASSWORD: exit %d\n%s", r.exit_code, r.err);
    assert_lacks(r.err, "pw-s3cret");
    host_result_free(&r);

    char passfile[256];
    snprintf(passfile, sizeof passfile, "%s/pgpass", env->dir);
    f = fopen(passfile, "w");
    assert_non_null(f);
    fprintf(f, "%s:*:pa_pw:pw-s3cret\n", hostport);
    fclose(f);
    assert_int_equal(chmod(passfile, 0600), 0); /* libpq ignores a pgpass others can read */
    /* host:port:database:user:password; hostport is host:port already. */
    setenv("PGPASSFILE", passfile, 1);
    run_with_url(env, url, &r);
    if (r.exit_code != 0 || count_lines(r.out) != 1)
        fail_msg("with PGPASSFILE: exit %d\n%s", r.exit_code, r.err);
    host_result_free(&r);

    char services[256];
    snprintf(services, sizeof services, "%s/pg_service.conf", env->dir);
    f = fopen(services, "w");
    assert_non_null(f);
    const char *colon = strrchr(hostport, ':');
    fprintf(f, "[pa_agent]\nhost=%.*s\nport=%s\ndbname=%s\nuser=pa_pw\n", (int)(colon - hostport),
            hostport, colon + 1, env->pg_name);
    fclose(f);
    setenv("PGSERVICEFILE", services, 1);
    run_with_url(env, "postgresql:///?service=pa_agent", &r);
    unsetenv("PGSERVICEFILE");
    unsetenv("PGPASSFILE");
    if (r.exit_code != 0 || count_lines(r.out) != 1)
        fail_msg("with a service: exit %d\n%s", r.exit_code, r.err);
    assert_lacks(r.err, "pw-s3cret");
    host_result_free(&r);

    snprintf(cmd, sizeof cmd, "sed -i '/^host all pa_pw /d' '%s'", hba);
    assert_int_equal(system(cmd), 0);
    pg_scalar(pg_admin_url(), "SELECT pg_reload_conf()::int");
    pg_db_drop(env->pg_name);
    env->pg_name[0] = '\0';
    pg_exec(pg_admin_url(), "DROP ROLE pa_pw");
}

/* The host's connections name themselves, and there are no more than the pools allow. */
static void watch_connections(void)
{
    long names =
        pg_scalar(pg_admin_url(), "SELECT count(*) FROM pg_stat_activity WHERE application_name IN "
                                  "('host_stub/supervisor', 'host_stub/example/a')");
    long all = pg_scalar(pg_admin_url(), "SELECT count(*) FROM pg_stat_activity WHERE "
                                         "application_name LIKE 'host_stub/%'");
    if (names < 2 || all > 8) /* a pool of 4 each, at most */
        fail_msg("host connections: %ld named as expected, %ld in all", names, all);
}

/* With pool.idle_seconds 1, no host connection is left open between polls 4 s apart. */
static void no_host_connection_after_idling(void)
{
    usleep(1500000); /* the poll ended 0.3 s ago: 1.8 s of idling, the next poll at 4 s */
    long open = pg_scalar(pg_admin_url(), "SELECT count(*) FROM pg_stat_activity WHERE "
                                          "application_name LIKE 'host_stub/%'");
    if (open != 0)
        fail_msg("%ld host connection(s) open between polls", open);
}

static void test_host_closes_idle_connections_between_polls(void **state)
{
    test_env *env = *state;
    host_result r;
    run_host_every(env, "4", "\"idle_seconds\": 1", no_host_connection_after_idling, &r);
    assert_every_poll_delivered(env, &r);
    host_result_free(&r);
}

/* New tasks are announced on channel pa_tasks at commit, the payload their number (docs/TASKS.md).
 */
static void test_host_announces_tasks_with_notify(void **state)
{
    test_env *env = *state;
    const char *keys[] = {"gssencmode", "dbname", NULL};
    const char *values[] = {"disable", env->db, NULL};
    PGconn *listener = PQconnectdbParams(keys, values, 1);
    assert_int_equal(PQstatus(listener), CONNECTION_OK);
    PQclear(PQexec(listener, "LISTEN pa_tasks"));
    env_add_plugin(env, "example");
    env_write_config(env, "{\"plugins\": {\"example\": {\"instances\": [{\"id\": \"a\", "
                          "\"items_per_poll\": 2}]}}}");
    host_result r;
    host_run(env, &r, (const char *[]){"--polls", "2", "--fake-clock", "1767225600", NULL});
    assert_int_equal(r.exit_code, 0);
    assert_int_equal(count_lines(r.out), 4);
    assert_int_equal(PQconsumeInput(listener), 1);
    long announced = 0;
    int notices = 0;
    for (PGnotify *n; (n = PQnotifies(listener)) != NULL; PQfreemem(n)) {
        assert_string_equal(n->relname, "pa_tasks");
        announced += strtol(n->extra, NULL, 10);
        notices++;
    }
    PQfinish(listener);
    assert_true(notices >= 1);
    assert_int_equal(announced, 4);
    host_result_free(&r);
}

static void test_host_connections_carry_their_names(void **state)
{
    test_env *env = *state;
    host_result r;
    run_host_doing(env, watch_connections, &r);
    assert_every_poll_delivered(env, &r);
    host_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_commits_rollback_and_reclaim_discard, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_no_connection_is_idle_in_transaction_between_leases,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_read_lease_cannot_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_constraint_is_pa_err_constraint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_terminated_idle_connection_is_replaced, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_connection_lost_after_work_fails_cleanly, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_statement_timeout_is_pa_err_timeout, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_too_many_clients_fails_the_lease_clearly, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_read_only_database_refuses_write_leases, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_server_restart_costs_no_lease, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_connections_are_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_silent_server_costs_a_bounded_wait, setup, teardown),
        cmocka_unit_test_setup_teardown(test_host_connections_killed_between_polls_fail_no_poll,
                                        host_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_host_survives_a_server_restart, host_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_host_connections_carry_their_names, host_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_host_closes_idle_connections_between_polls, host_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_host_announces_tasks_with_notify, host_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_libpq_credentials_and_services, host_setup,
                                        env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
