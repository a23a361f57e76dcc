/* Unit tests for the lease pool, on a real SQLite file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "pool.h"
#include "db_driver.h"

#define MAX_LINES 64

typedef struct fixture {
    char dir[64];
    char path[128];
    pool *pool;
    pool_owner owner;
    char *lines[MAX_LINES];
    int line_count;
} fixture;

static int64_t g_fake_now_ms;

static int64_t fake_now(void)
{
    return g_fake_now_ms;
}

static void capture(void *userdata, pa_log_level level, const char *line)
{
    (void)level;
    fixture *f = userdata;
    if (f->line_count < MAX_LINES)
        f->lines[f->line_count++] = strdup(line);
}

/* The message part of a captured line: everything after the timestamp. */
static const char *find_line(const fixture *f, const char *needle)
{
    for (int i = 0; i < f->line_count; i++) {
        if (strstr(f->lines[i], needle))
            return strchr(f->lines[i], ' ') + 1;
    }
    return NULL;
}

static pool_config default_config(fixture *f)
{
    return (pool_config){.path = f->path,
                         .size = 2,
                         .lease_timeout_ms = 1000,
                         .busy_timeout_ms = 1000,
                         .max_lifetime_ms = 0,
                         .now_ms = NULL};
}

static void open_pool(fixture *f, pool_config cfg)
{
    char err[512];
    assert_int_equal(pool_open(&cfg, &f->pool, err, sizeof err), PA_OK);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/pa_pool_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/test.db", f->dir);
    f->owner = (pool_owner){.plugin = "tester", .instance = "one"};
    log_set_sink(capture, f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    pool_close(f->pool);
    log_set_sink(NULL, NULL);
    for (int i = 0; i < f->line_count; i++)
        free(f->lines[i]);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static pa_lease must_lease(fixture *f, pa_lease_mode mode)
{
    pa_lease lease;
    char err[1024];
    int rc = pool_lease(f->pool, &f->owner, mode, -1, POOL_HERE, &lease, err, sizeof err);
    if (rc != PA_OK)
        fail_msg("lease failed: %s", err);
    assert_int_not_equal(lease.id, 0);
    return lease;
}

static void must_release(fixture *f, pa_lease lease, pa_release_action action)
{
    char err[1024] = "";
    int rc = pool_release(f->pool, &f->owner, lease, action, POOL_HERE, err, sizeof err);
    if (rc != PA_OK)
        fail_msg("release failed: %s", err);
}

static void exec_ok(fixture *f, pa_lease lease, const char *sql)
{
    sqlite3 *db = pool_lease_db(f->pool, &f->owner, lease, POOL_HERE);
    assert_non_null(db);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
}

static int count_rows(fixture *f, const char *table)
{
    pa_lease lease = must_lease(f, PA_LEASE_READ);
    sqlite3 *db = pool_lease_db(f->pool, &f->owner, lease, POOL_HERE);
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    sqlite3_stmt *stmt;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    int n = sqlite3_column_int(stmt, 0);
    sqlite3_finalize(stmt);
    must_release(f, lease, PA_RELEASE_COMMIT);
    return n;
}

static void create_table(fixture *f)
{
    pa_lease lease = must_lease(f, PA_LEASE_WRITE);
    exec_ok(f, lease, "CREATE TABLE IF NOT EXISTS t(v INTEGER)");
    must_release(f, lease, PA_RELEASE_COMMIT);
}

static void test_connections_open_lazily_and_are_reused(void **state)
{
    fixture *f = *state;
    pool_config cfg = default_config(f);
    cfg.size = 4;
    open_pool(f, cfg);
    pool_stats st;
    pool_get_stats(f->pool, &st);
    assert_int_equal(st.open_connections, 0);
    for (int i = 0; i < 5; i++)
        must_release(f, must_lease(f, PA_LEASE_READ), PA_RELEASE_COMMIT);
    pool_get_stats(f->pool, &st);
    assert_int_equal(st.open_connections, 1);
    assert_int_equal(st.connections_opened, 1);
    assert_int_equal(st.leases_read, 5);
    assert_int_equal(st.in_use, 0);
}

static void test_connection_is_wal_with_foreign_keys(void **state)
{
    fixture *f = *state;
    open_pool(f, default_config(f));
    pa_lease lease = must_lease(f, PA_LEASE_READ);
    sqlite3 *db = pool_lease_db(f->pool, &f->owner, lease, POOL_HERE);
    sqlite3_stmt *stmt;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(stmt, 0), "wal");
    sqlite3_finalize(stmt);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA foreign_keys", -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(stmt, 0), 1);
    sqlite3_finalize(stmt);
    must_release(f, lease, PA_RELEASE_COMMIT);
}

static void test_write_lease_starts_immediate_transaction_and_commits(void **state)
{
    fixture *f = *state;
    open_pool(f, default_config(f));
    create_table(f);
    pa_lease lease = must_lease(f, PA_LEASE_WRITE);
    sqlite3 *db = pool_lease_db(f->pool, &f->owner, lease, POOL_HERE);
    assert_int_equal(sqlite3_get_autocommit(db), 0);
    /* Another connection cannot take the write lock while we hold it. */
    sqlite3 *other;
    assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_BUSY);
    sqlite3_close(other);
    exec_ok(f, lease, "INSERT INTO t VALUES (1)");
    must_release(f, lease, PA_RELEASE_COMMIT);
    assert_int_equal(count_rows(f, "t"), 1);
}

static void test_write_rollback_discards(void **state)
{
    fixture *f = *state;
    open_pool(f, default_config(f));
    create_table(f);
    pa_lease lease = must_lease(f, PA_LEASE_WRITE);
    exec_ok(f, lease, "INSERT INTO t VALUES (1)");
    must_release(f, lease, PA_RELEASE_ROLLBACK);
    assert_int_equal(count_rows(f, "t"), 0);
}

static void test_open_transaction_on_read_lease_is_rolled_back(void **state)
{
    fixture *f = *state;
    open_pool(f, default_config(f));
    create_table(f);
    pa_lease lease = must_lease(f, PA_LEASE_READ);
    exec_ok(f, lease, "BEGIN; INSERT INTO t VALUES (7)");
    must_release(f, lease, PA_RELEASE_COMMIT);
    assert_int_equal(count_rows(f, "t"), 0);
    pool_stats st;
    pool_get_stats(f->pool, &st);
    assert_int_equal(st.rollbacks_on_release, 1);
    assert_non_null(find_line(f, "released a READ lease"));
    assert_non_null(find_line(f, "with a transaction open"));
}

static void test_statements_left_behind_are_reset_and_finalized(void **state)
{
    fixture *f = *state;
    open_pool(f, default_config(f));
    pa_lease lease = must_lease(f, PA_LEASE_READ);
    sqlite3 *db = pool_lease_db(f->pool, &f->owner, lease, POOL_HERE);
    sqlite3_stmt *active, *idle;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT 1 UNION ALL SELECT 2", -1, &active, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(active), SQLITE_ROW);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT 3", -1, &idle, NULL), SQLITE_OK);
    must_release(f, lease, PA_RELEASE_COMMIT);
    pool_stats st;
    pool_get_stats(f->pool, &st);
    assert_int_equal(st.statements_reset, 1);
    assert_int_equal(st.statements_finalized, 2);
    assert_non_null(find_line(f, "1 active statement(s) reset and 2 unfinalized statement(s)"));
    /* The connection is clean for the next borrower. */
    lease = must_lease(f, PA_LEASE_READ);
    db = pool_lease_db(f->pool, &f->owner, lease, POOL_HERE);
    assert_int_equal(sqlite3_get_autocommit(db), 1);
    must_release(f, lease, PA_RELEASE_COMMIT);
}

static void test_reclaim_rolls_back_and_logs_borrow_site(void **state)
{
    fixture *f = *state;
    open_pool(f, default_config(f));
    create_table(f);
    pa_lease lease;
    char err[512];
    pool_site site = {"plugin/granola/poll.c", 42, "granola_poll"};
    assert_int_equal(
        pool_lease(f->pool, &f->owner, PA_LEASE_WRITE, -1, site, &lease, err, sizeof err), PA_OK);
    exec_ok(f, lease, "INSERT INTO t VALUES (1)");
    assert_int_equal(pool_reclaim(f->pool, &f->owner, "poll"), 1);
    assert_string_equal(find_line(f, "reclaimed"),
                        "warn pool: reclaimed unreleased WRITE lease from plugin 'tester' instance "
                        "'one', borrowed at plugin/granola/poll.c:42 in granola_poll(), at end of "
                        "poll; rolled back");
    assert_int_equal(count_rows(f, "t"), 0);
    pool_stats st;
    pool_get_stats(f->pool, &st);
    assert_int_equal(st.reclaims, 1);
    assert_int_equal(st.in_use, 0);
    /* Nothing more to reclaim; the reclaimed lease is now stale. */
    assert_int_equal(pool_reclaim(f->pool, &f->owner, "poll"), 0);
    assert_int_equal(
        pool_release(f->pool, &f->owner, lease, PA_RELEASE_COMMIT, POOL_HERE, err, sizeof err),
        PA_ERR_STALE_LEASE);
}

static void test_reclaim_takes_only_the_owners_leases(void **state)
{
    fixture *f = *state;
    open_pool(f, default_config(f));
    pool_owner other = {.plugin = "other", .instance = "two"};
    pa_lease mine = must_lease(f, PA_LEASE_READ);
    pa_lease theirs;
    char err[512];
    assert_int_equal(
        pool_lease(f->pool, &other, PA_LEASE_READ, -1, POOL_HERE, &theirs, err, sizeof err), PA_OK);
    assert_int_equal(pool_reclaim(f->pool, &other, "poll"), 1);
    assert_non_null(pool_lease_db(f->pool, &f->owner, mine, POOL_HERE));
    must_release(f, mine, PA_RELEASE_COMMIT);
}

static void test_exhausted_pool_times_out_with_state(void **state)
{
    fixture *f = *state;
    pool_config cfg = default_config(f);
    cfg.size = 1;
    open_pool(f, cfg);
    pa_lease held;
    char err[1024];
    pool_site site = {"holder.c", 7, "hold"};
    assert_int_equal(
        pool_lease(f->pool, &f->owner, PA_LEASE_WRITE, -1, site, &held, err, sizeof err), PA_OK);
    pa_lease second;
    int64_t start = clock_mono_ns();
    pool_site waiter_site = {"waiter.c", 9, "wait"};
    assert_int_equal(
        pool_lease(f->pool, &f->owner, PA_LEASE_READ, 50, waiter_site, &second, err, sizeof err),
        PA_ERR_TIMEOUT);
    int64_t waited_ms = (clock_mono_ns() - start) / 1000000;
    assert_true(waited_ms >= 49);
    assert_int_equal(second.id, 0);
    assert_non_null(strstr(err, "pool exhausted: no connection free within 50 ms for a READ lease "
                                "by plugin 'tester' instance 'one' at waiter.c:9; 1 of 1 in use"));
    assert_non_null(strstr(err, "#1 WRITE by tester/one for "));
    assert_non_null(strstr(err, "at holder.c:7"));
    assert_non_null(strstr(err, "0 other waiter(s)"));
    pool_stats st;
    pool_get_stats(f->pool, &st);
    assert_int_equal(st.timeouts, 1);
    assert_int_equal(st.waits, 1);
    assert_int_equal(st.waiters, 0);
    must_release(f, held, PA_RELEASE_ROLLBACK);
}

typedef struct fifo_waiter {
    fixture *f;
    int id;
    int *order;
    int *order_len;
    pthread_mutex_t *mu;
} fifo_waiter;

static void *fifo_thread(void *arg)
{
    fifo_waiter *w = arg;
    pa_lease lease;
    char err[512];
    if (pool_lease(w->f->pool, &w->f->owner, PA_LEASE_READ, 5000, POOL_HERE, &lease, err,
                   sizeof err) != PA_OK)
        return NULL;
    pthread_mutex_lock(w->mu);
    w->order[(*w->order_len)++] = w->id;
    pthread_mutex_unlock(w->mu);
    pool_release(w->f->pool, &w->f->owner, lease, PA_RELEASE_COMMIT, POOL_HERE, err, sizeof err);
    return NULL;
}

static void wait_for_waiters(fixture *f, int n)
{
    for (int i = 0; i < 5000; i++) {
        pool_stats st;
        pool_get_stats(f->pool, &st);
        if (st.waiters == n)
            return;
        usleep(1000);
    }
    fail_msg("never saw %d waiters", n);
}

static void test_waiters_are_served_in_arrival_order(void **state)
{
    fixture *f = *state;
    pool_config cfg = default_config(f);
    cfg.size = 1;
    open_pool(f, cfg);
    pa_lease held = must_lease(f, PA_LEASE_READ);
    enum { N = 5 };
    pthread_t threads[N];
    fifo_waiter waiters[N];
    int order[N], order_len = 0;
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    for (int i = 0; i < N; i++) {
        waiters[i] = (fifo_waiter){f, i, order, &order_len, &mu};
        assert_int_equal(pthread_create(&threads[i], NULL, fifo_thread, &waiters[i]), 0);
        wait_for_waiters(f, i + 1); /* each queues before the next starts */
    }
    must_release(f, held, PA_RELEASE_COMMIT);
    for (int i = 0; i < N; i++)
        pthread_join(threads[i], NULL);
    assert_int_equal(order_len, N);
    for (int i = 0; i < N; i++)
        assert_int_equal(order[i], i);
}

static void test_double_release_and_use_after_release_are_detected(void **state)
{
    fixture *f = *state;
    open_pool(f, default_config(f));
    pa_lease lease;
    char err[1024];
    pool_site site = {"twice.c", 3, "borrow"};
    assert_int_equal(
        pool_lease(f->pool, &f->owner, PA_LEASE_READ, -1, site, &lease, err, sizeof err), PA_OK);
    sqlite3 *raw = pool_lease_db(f->pool, &f->owner, lease, POOL_HERE);
    must_release(f, lease, PA_RELEASE_COMMIT);
    pool_site again = {"twice.c", 5, "give_back"};
    assert_int_equal(
        pool_release(f->pool, &f->owner, lease, PA_RELEASE_COMMIT, again, err, sizeof err),
        PA_ERR_STALE_LEASE);
    assert_string_equal(err, "release of a stale lease by plugin 'tester' instance 'one' at "
                             "twice.c:5 in give_back(): the lease was already released "
                             "(borrowed at twice.c:3 in borrow())");
    assert_null(pool_lease_db(f->pool, &f->owner, lease, POOL_HERE));
    sqlite3_stmt *stmt = NULL;
    assert_int_equal(sqlite3_prepare_v2(raw, "SELECT 1", -1, &stmt, NULL), SQLITE_AUTH);
    assert_null(stmt);
    assert_non_null(find_line(f, "by other than its lease's holder (a handle kept after release"));
    pool_stats st;
    pool_get_stats(f->pool, &st);
    assert_int_equal(st.stale_uses, 3);
    /* A lease from an earlier generation stays stale after the slot is reused. */
    pa_lease next = must_lease(f, PA_LEASE_READ);
    assert_int_not_equal(next.id, lease.id);
    assert_null(pool_lease_db(f->pool, &f->owner, lease, POOL_HERE));
    must_release(f, next, PA_RELEASE_COMMIT);
}

/* ABI 1.3: a kept handle is refused while another instance holds its connection. */
static void test_kept_handle_refused_to_another_instance_on_the_same_thread(void **state)
{
    fixture *f = *state;
    pool_config cfg = default_config(f);
    cfg.size = 1; /* the next lease gets the same connection */
    open_pool(f, cfg);
    pool_owner other = {.plugin = "other", .instance = "two"};
    const pool_owner *host = pool_run_as(&f->owner);
    pa_lease mine = must_lease(f, PA_LEASE_READ);
    sqlite3 *kept = pool_lease_db(f->pool, &f->owner, mine, POOL_HERE);
    must_release(f, mine, PA_RELEASE_COMMIT);
    pool_run_as(&other);
    pa_lease theirs;
    char err[512];
    assert_int_equal(
        pool_lease(f->pool, &other, PA_LEASE_WRITE, -1, POOL_HERE, &theirs, err, sizeof err),
        PA_OK);
    sqlite3 *db = pool_lease_db(f->pool, &other, theirs, POOL_HERE);
    assert_ptr_equal(db, kept);
    sqlite3_stmt *stmt = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT 1", -1, &stmt, NULL), SQLITE_OK);
    sqlite3_finalize(stmt);
    pool_run_as(&f->owner); /* the first instance's code runs again, with its kept handle */
    assert_int_equal(sqlite3_prepare_v2(kept, "SELECT 1", -1, &stmt, NULL), SQLITE_AUTH);
    assert_null(stmt);
    pool_run_as(&other);
    assert_int_equal(
        pool_release(f->pool, &other, theirs, PA_RELEASE_COMMIT, POOL_HERE, err, sizeof err),
        PA_OK);
    pool_run_as(host);
}

static int interrupt_always(void *calls)
{
    ++*(int *)calls;
    return 1; /* interrupts whatever runs */
}

static void count_update(void *calls, int op, const char *db, const char *table, sqlite3_int64 row)
{
    (void)op, (void)db, (void)table, (void)row;
    ++*(int *)calls;
}

/* As a busy handler: give up at once. As a commit hook: let the commit go on. */
static int count_and_return_0(void *calls, int tries)
{
    (void)tries;
    ++*(int *)calls;
    return 0;
}

static int count_commit(void *calls)
{
    return count_and_return_0(calls, 0);
}

static void count_rollback(void *calls)
{
    count_and_return_0(calls, 0);
}

static int count_trace(unsigned type, void *calls, void *p, void *x)
{
    (void)type, (void)p, (void)x;
    return count_and_return_0(calls, 0);
}

/*
 * Callbacks set on a leased handle end with the lease: the next holder of the
 * same connection meets none of them, and the pool's busy timeout again.
 */
static void test_callbacks_set_in_a_lease_end_with_it(void **state)
{
    fixture *f = *state;
    pool_config cfg = default_config(f);
    cfg.size = 1; /* the next lease gets the same connection */
    open_pool(f, cfg);
    create_table(f);
    int progress_calls = 0, update_calls = 0, plugin_calls = 0;
    pa_lease mine = must_lease(f, PA_LEASE_WRITE);
    sqlite3 *db = pool_lease_db(f->pool, &f->owner, mine, POOL_HERE);
    sqlite3_update_hook(db, count_update, &update_calls);
    sqlite3_commit_hook(db, count_commit, &plugin_calls);
    sqlite3_rollback_hook(db, count_rollback, &plugin_calls);
    sqlite3_trace_v2(db, SQLITE_TRACE_STMT, count_trace, &plugin_calls);
    sqlite3_busy_handler(db, count_and_return_0, &plugin_calls);
    sqlite3_progress_handler(db, 1, interrupt_always, &progress_calls);
    char *msg = NULL;
    assert_int_equal(sqlite3_exec(db, "INSERT INTO t VALUES (1)", NULL, NULL, &msg),
                     SQLITE_INTERRUPT); /* the holder's own handler works in its own lease */
    sqlite3_free(msg);
    sqlite3_progress_handler(db, 0, NULL, NULL);
    exec_ok(f, mine, "INSERT INTO t VALUES (1)");
    assert_int_equal(update_calls, 1);
    sqlite3_progress_handler(db, 1, interrupt_always, &progress_calls);
    must_release(f, mine, PA_RELEASE_COMMIT);
    int progress_before = progress_calls, plugin_before = plugin_calls;

    pool_owner other = {.plugin = "other", .instance = "two"};
    pa_lease theirs;
    char err[512];
    assert_int_equal(
        pool_lease(f->pool, &other, PA_LEASE_WRITE, -1, POOL_HERE, &theirs, err, sizeof err),
        PA_OK);
    sqlite3 *same = pool_lease_db(f->pool, &other, theirs, POOL_HERE);
    assert_ptr_equal(same, db);
    assert_int_equal(sqlite3_exec(same, "INSERT INTO t VALUES (2)", NULL, NULL, &msg), SQLITE_OK);
    assert_int_equal(
        pool_release(f->pool, &other, theirs, PA_RELEASE_COMMIT, POOL_HERE, err, sizeof err),
        PA_OK);
    assert_int_equal(
        pool_lease(f->pool, &other, PA_LEASE_WRITE, -1, POOL_HERE, &theirs, err, sizeof err),
        PA_OK);
    assert_int_equal(
        pool_release(f->pool, &other, theirs, PA_RELEASE_ROLLBACK, POOL_HERE, err, sizeof err),
        PA_OK);
    assert_int_equal(progress_calls, progress_before);
    assert_int_equal(update_calls, 1);
    assert_int_equal(plugin_calls, plugin_before);
    assert_int_equal(count_rows(f, "t"), 2);

    /* The busy handler is the pool's timeout again: a locked database is waited for. */
    sqlite3 *blocker = NULL;
    assert_int_equal(sqlite3_open(f->path, &blocker), SQLITE_OK);
    assert_int_equal(sqlite3_exec(blocker, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    pa_lease waits = must_lease(f, PA_LEASE_READ);
    sqlite3 *reader = pool_lease_db(f->pool, &f->owner, waits, POOL_HERE);
    assert_int_equal(sqlite3_exec(reader, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_BUSY);
    assert_int_equal(plugin_calls, plugin_before); /* the plugin's handler was not asked */
    must_release(f, waits, PA_RELEASE_ROLLBACK);
    sqlite3_exec(blocker, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(blocker);
}

typedef struct holder_thread {
    fixture *f;
    pool_owner owner;
    atomic_int step; /* 1: leased, 2: main thread done */
} holder_thread;

static void *hold_connection(void *arg)
{
    holder_thread *h = arg;
    pa_lease lease;
    char err[512];
    if (pool_lease(h->f->pool, &h->owner, PA_LEASE_WRITE, -1, POOL_HERE, &lease, err, sizeof err) !=
        PA_OK)
        return NULL;
    atomic_store(&h->step, 1);
    while (atomic_load(&h->step) != 2)
        usleep(1000);
    pool_release(h->f->pool, &h->owner, lease, PA_RELEASE_ROLLBACK, POOL_HERE, err, sizeof err);
    return NULL;
}

/* ABI 1.3: a kept handle is refused to any thread but the one holding the lease. */
static void test_kept_handle_refused_on_another_thread(void **state)
{
    fixture *f = *state;
    pool_config cfg = default_config(f);
    cfg.size = 1;
    open_pool(f, cfg);
    pa_lease mine = must_lease(f, PA_LEASE_READ);
    sqlite3 *kept = pool_lease_db(f->pool, &f->owner, mine, POOL_HERE);
    must_release(f, mine, PA_RELEASE_COMMIT);
    holder_thread h = {.f = f, .owner = {.plugin = "other", .instance = "two"}};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, hold_connection, &h), 0);
    while (atomic_load(&h.step) != 1)
        usleep(1000);
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(kept, "SELECT 1", -1, &stmt, NULL);
    atomic_store(&h.step, 2);
    pthread_join(t, NULL);
    sqlite3_finalize(stmt);
    assert_int_equal(rc, SQLITE_AUTH);
}

static void test_lease_of_another_owner_is_refused(void **state)
{
    fixture *f = *state;
    open_pool(f, default_config(f));
    pool_owner other = {.plugin = "other", .instance = "two"};
    pa_lease lease = must_lease(f, PA_LEASE_READ);
    char err[1024];
    assert_int_equal(
        pool_release(f->pool, &other, lease, PA_RELEASE_COMMIT, POOL_HERE, err, sizeof err),
        PA_ERR_STALE_LEASE);
    assert_non_null(strstr(err, "belongs to another instance"));
    must_release(f, lease, PA_RELEASE_COMMIT);
    pa_lease bogus = {.id = 12345};
    assert_int_equal(
        pool_release(f->pool, &f->owner, bogus, PA_RELEASE_COMMIT, POOL_HERE, err, sizeof err),
        PA_ERR_STALE_LEASE);
    assert_int_equal(
        pool_lease(f->pool, &f->owner, (pa_lease_mode)9, -1, POOL_HERE, &lease, err, sizeof err),
        PA_ERR_INVALID);
}

static void test_connections_retire_after_max_lifetime(void **state)
{
    fixture *f = *state;
    pool_config cfg = default_config(f);
    cfg.max_lifetime_ms = 1000;
    cfg.now_ms = fake_now;
    g_fake_now_ms = 1000000;
    open_pool(f, cfg);
    must_release(f, must_lease(f, PA_LEASE_READ), PA_RELEASE_COMMIT);
    g_fake_now_ms += 850; /* inside the lifetime even with the full 10% jitter */
    must_release(f, must_lease(f, PA_LEASE_READ), PA_RELEASE_COMMIT);
    pool_stats st;
    pool_get_stats(f->pool, &st);
    assert_int_equal(st.connections_opened, 1);
    g_fake_now_ms += 200;
    must_release(f, must_lease(f, PA_LEASE_READ), PA_RELEASE_COMMIT);
    pool_get_stats(f->pool, &st);
    assert_int_equal(st.retired_lifetime, 1);
    assert_int_equal(st.connections_opened, 2);
    assert_int_equal(st.open_connections, 1);
}

static void test_connection_retires_after_fatal_error(void **state)
{
    fixture *f = *state;
    /* Overwrite the root page of table t (page 2) with garbage: reading t is SQLITE_CORRUPT. */
    sqlite3 *raw;
    assert_int_equal(sqlite3_open(f->path, &raw), SQLITE_OK);
    assert_int_equal(sqlite3_exec(raw,
                                  "PRAGMA page_size=4096; CREATE TABLE t(v);"
                                  "INSERT INTO t VALUES (1);",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(raw);
    FILE *file = fopen(f->path, "r+b");
    assert_non_null(file);
    assert_int_equal(fseek(file, 4096, SEEK_SET), 0);
    for (int i = 0; i < 64; i++)
        fputc(0xff, file);
    fclose(file);
    open_pool(f, default_config(f));
    pa_lease lease = must_lease(f, PA_LEASE_READ);
    sqlite3 *db = pool_lease_db(f->pool, &f->owner, lease, POOL_HERE);
    int rc = sqlite3_exec(db, "SELECT * FROM t", NULL, NULL, NULL);
    assert_int_equal(rc & 0xff, SQLITE_CORRUPT);
    must_release(f, lease, PA_RELEASE_COMMIT);
    pool_stats st;
    pool_get_stats(f->pool, &st);
    assert_int_equal(st.retired_fatal, 1);
    assert_int_equal(st.open_connections, 0);
    assert_non_null(find_line(f, "retiring connection #1 after fatal SQLite error 11"));
}

typedef struct writer_arg {
    fixture *f;
    pool_owner owner;
    int failures;
} writer_arg;

static void *writer_thread(void *arg)
{
    writer_arg *w = arg;
    char err[1024];
    for (int i = 0; i < 100; i++) {
        pa_lease lease;
        if (pool_lease(w->f->pool, &w->owner, PA_LEASE_WRITE, 10000, POOL_HERE, &lease, err,
                       sizeof err) != PA_OK) {
            w->failures++;
            continue;
        }
        sqlite3 *db = pool_lease_db(w->f->pool, &w->owner, lease, POOL_HERE);
        if (sqlite3_exec(db, "INSERT INTO t VALUES (1)", NULL, NULL, NULL) != SQLITE_OK)
            w->failures++;
        if (pool_release(w->f->pool, &w->owner, lease, PA_RELEASE_COMMIT, POOL_HERE, err,
                         sizeof err) != PA_OK)
            w->failures++;
    }
    return NULL;
}

static void test_concurrent_writers_on_small_pool(void **state)
{
    fixture *f = *state;
    open_pool(f, default_config(f));
    create_table(f);
    enum { N = 4 };
    pthread_t threads[N];
    writer_arg args[N];
    for (int i = 0; i < N; i++) {
        args[i] = (writer_arg){f, {.plugin = "writer", .instance = "w"}, 0};
        assert_int_equal(pthread_create(&threads[i], NULL, writer_thread, &args[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(args[i].failures, 0);
    }
    assert_int_equal(count_rows(f, "t"), N * 100);
    pool_stats st;
    pool_get_stats(f->pool, &st);
    assert_true(st.peak_in_use <= 2);
    assert_int_equal(st.in_use, 0);
    assert_int_equal(st.timeouts, 0);
}

static void test_cached_statements_survive_leases_and_are_reset(void **state)
{
    fixture *f = *state;
    pool_config cfg = default_config(f);
    cfg.size = 1;
    open_pool(f, cfg);
    create_table(f);
    char err[512];
    pa_lease lease = must_lease(f, PA_LEASE_WRITE);
    sqlite3_stmt *insert =
        pool_cached_stmt(f->pool, &f->owner, lease, "INSERT INTO t VALUES (?1)", err, sizeof err);
    assert_non_null(insert);
    assert_int_equal(sqlite3_bind_int(insert, 1, 5), SQLITE_OK);
    assert_int_equal(sqlite3_step(insert), SQLITE_DONE);
    sqlite3_stmt *select =
        pool_cached_stmt(f->pool, &f->owner, lease, "SELECT v FROM t", err, sizeof err);
    assert_int_equal(sqlite3_step(select), SQLITE_ROW); /* left active on purpose */
    must_release(f, lease, PA_RELEASE_COMMIT);
    pool_stats st;
    pool_get_stats(f->pool, &st);
    assert_int_equal(st.statements_finalized, 0); /* cached ones are the host's */
    assert_int_equal(st.statements_reset, 0);

    /* The next lease gets the same statements back, reset and unbound. */
    lease = must_lease(f, PA_LEASE_WRITE);
    assert_ptr_equal(
        pool_cached_stmt(f->pool, &f->owner, lease, "SELECT v FROM t", err, sizeof err), select);
    assert_false(sqlite3_stmt_busy(select));
    assert_ptr_equal(
        pool_cached_stmt(f->pool, &f->owner, lease, "INSERT INTO t VALUES (?1)", err, sizeof err),
        insert);
    assert_int_equal(sqlite3_step(insert), SQLITE_DONE); /* binding cleared: inserts NULL */
    must_release(f, lease, PA_RELEASE_COMMIT);
    assert_int_equal(count_rows(f, "t WHERE v IS NULL"), 1);

    lease = must_lease(f, PA_LEASE_READ);
    assert_null(pool_cached_stmt(f->pool, &f->owner, lease, "SELECT nonsense FROM nowhere", err,
                                 sizeof err));
    assert_non_null(strstr(err, "prepare_cached: no such table: nowhere"));
    /* More distinct statements than the cache holds within one lease: refused, not evicted. */
    for (int i = 0; i < DB_CACHE_SIZE - 1; i++) { /* the untouched INSERT makes room */
        char sql[64];
        snprintf(sql, sizeof sql, "SELECT %d", i);
        assert_non_null(pool_cached_stmt(f->pool, &f->owner, lease, sql, err, sizeof err));
    }
    assert_non_null(
        pool_cached_stmt(f->pool, &f->owner, lease, "SELECT v FROM t", err, sizeof err));
    assert_null(
        pool_cached_stmt(f->pool, &f->owner, lease, "SELECT 'one too many'", err, sizeof err));
    assert_non_null(strstr(err, "more than 16 cached statements in one lease"));
    must_release(f, lease, PA_RELEASE_COMMIT);
    /* In a new lease the least recently used one makes room. */
    lease = must_lease(f, PA_LEASE_READ);
    assert_non_null(
        pool_cached_stmt(f->pool, &f->owner, lease, "SELECT 'one too many'", err, sizeof err));
    must_release(f, lease, PA_RELEASE_COMMIT);
    pa_lease stale = lease;
    assert_null(pool_cached_stmt(f->pool, &f->owner, stale, "SELECT 1", err, sizeof err));
}

static void test_bad_configuration_is_rejected(void **state)
{
    fixture *f = *state;
    pool_config cfg = default_config(f);
    cfg.size = 0;
    char err[256];
    pool *p = NULL;
    assert_int_equal(pool_open(&cfg, &p, err, sizeof err), PA_ERR_INVALID);
    assert_null(p);
    assert_non_null(strstr(err, "size must be >= 1"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_connections_open_lazily_and_are_reused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_connection_is_wal_with_foreign_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_lease_starts_immediate_transaction_and_commits,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_rollback_discards, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_transaction_on_read_lease_is_rolled_back, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_statements_left_behind_are_reset_and_finalized, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reclaim_rolls_back_and_logs_borrow_site, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reclaim_takes_only_the_owners_leases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exhausted_pool_times_out_with_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_waiters_are_served_in_arrival_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_double_release_and_use_after_release_are_detected,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_callbacks_set_in_a_lease_end_with_it, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_kept_handle_refused_to_another_instance_on_the_same_thread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kept_handle_refused_on_another_thread, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lease_of_another_owner_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connections_retire_after_max_lifetime, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_connection_retires_after_fatal_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_writers_on_small_pool, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cached_statements_survive_leases_and_are_reset, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bad_configuration_is_rejected, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
