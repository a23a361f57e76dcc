/*
 * bench_lease: cost of one lease + release on the real pool, against the
 * naive baseline of opening a connection per operation, in the same process.
 *
 *   bench_lease [DB_FILE]     (default: a temporary file)
 *
 * Prints medians of per-batch averages (ns per lease+release).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BENCH_NAME "bench_lease"
#include "bench_common.h"
#include "clock.h"
#include "log.h"
#include "held_sites.h"
#include "pool.h"

#define BATCH   1000
#define SAMPLES 201

static void die(const char *what, const char *err)
{
    fprintf(stderr, "bench_lease: %s: %s\n", what, err);
    exit(1);
}

static void lease_release(pool *p, pool_owner *owner, pa_lease_mode mode)
{
    pa_lease lease;
    char err[1024];
    if (pool_lease(p, owner, mode, 10000, POOL_HERE, &lease, err, sizeof err) != PA_OK)
        die("lease", err);
    if (pool_release(p, owner, lease, PA_RELEASE_COMMIT, POOL_HERE, err, sizeof err) != PA_OK)
        die("release", err);
}

/*
 * What the worker's host API adds to a lease and release (isolation): the
 * borrow site recorded in, and cleared from, the shared held-sites table.
 */
static held_table *g_held;

static void lease_release_recorded(pool *p, pool_owner *owner, pa_lease_mode mode)
{
    pa_lease lease;
    char err[1024];
    if (pool_lease(p, owner, mode, 10000, POOL_HERE, &lease, err, sizeof err) != PA_OK)
        die("lease", err);
    held_add(g_held, lease, mode, __FILE__, __LINE__, __func__);
    if (pool_release(p, owner, lease, PA_RELEASE_COMMIT, POOL_HERE, err, sizeof err) != PA_OK)
        die("release", err);
    held_remove(g_held, lease);
}

/* The same shape as the SQLAlchemy "Session(); SELECT 1; close()" operation. */
static void lease_select_release(pool *p, pool_owner *owner, pa_lease_mode mode)
{
    pa_lease lease;
    char err[1024];
    if (pool_lease(p, owner, mode, 10000, POOL_HERE, &lease, err, sizeof err) != PA_OK)
        die("lease", err);
    sqlite3_stmt *stmt;
    sqlite3 *db = pool_lease_db(p, owner, lease, POOL_HERE);
    if (sqlite3_prepare_v2(db, "SELECT 1", -1, &stmt, NULL) != SQLITE_OK ||
        sqlite3_step(stmt) != SQLITE_ROW)
        die("SELECT 1", sqlite3_errmsg(db));
    sqlite3_finalize(stmt);
    if (pool_release(p, owner, lease, PA_RELEASE_COMMIT, POOL_HERE, err, sizeof err) != PA_OK)
        die("release", err);
}

typedef void (*operation_fn)(pool *p, pool_owner *owner, pa_lease_mode mode);

static double bench_uncontended(pool *p, operation_fn op, pa_lease_mode mode, int samples)
{
    pool_owner owner = {.plugin = "bench", .instance = "single"};
    double *ns = malloc((size_t)samples * sizeof *ns);
    for (int i = 0; i < BATCH; i++) /* warm up: open the connection, fill caches */
        op(p, &owner, mode);
    for (int s = 0; s < samples; s++) {
        int64_t t0 = clock_mono_ns();
        for (int i = 0; i < BATCH; i++)
            op(p, &owner, mode);
        ns[s] = (double)(clock_mono_ns() - t0) / BATCH;
    }
    double m = bench_median(ns, (size_t)samples);
    free(ns);
    return m;
}

typedef struct contender {
    pool *pool;
    pool_owner owner;
    double ns[SAMPLES];
} contender;

static void *contend(void *arg)
{
    contender *c = arg;
    for (int s = 0; s < SAMPLES; s++) {
        int64_t t0 = clock_mono_ns();
        for (int i = 0; i < BATCH; i++)
            lease_release(c->pool, &c->owner, PA_LEASE_READ);
        c->ns[s] = (double)(clock_mono_ns() - t0) / BATCH;
    }
    return NULL;
}

static double bench_contended(pool *p, int threads)
{
    contender *cs = calloc((size_t)threads, sizeof *cs);
    pthread_t *ts = calloc((size_t)threads, sizeof *ts);
    for (int i = 0; i < threads; i++) {
        cs[i].pool = p;
        cs[i].owner = (pool_owner){.plugin = "bench", .instance = "contender"};
        pthread_create(&ts[i], NULL, contend, &cs[i]);
    }
    double *all = malloc((size_t)threads * SAMPLES * sizeof *all);
    for (int i = 0; i < threads; i++) {
        pthread_join(ts[i], NULL);
        memcpy(all + (size_t)i * SAMPLES, cs[i].ns, sizeof cs[i].ns);
    }
    double m = bench_median(all, (size_t)threads * SAMPLES);
    free(all), free(cs), free(ts);
    return m;
}

/* What a pool-less "session per operation" costs: open, configure, close. */
static double bench_open_per_operation(const char *path)
{
    enum { OPS = 200, RUNS = 21 };
    double ns[RUNS];
    for (int r = 0; r < RUNS; r++) {
        int64_t t0 = clock_mono_ns();
        for (int i = 0; i < OPS; i++) {
            sqlite3 *db;
            if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
                SQLITE_OK)
                die("open", sqlite3_errmsg(db));
            sqlite3_busy_timeout(db, 5000);
            sqlite3_exec(db, "PRAGMA foreign_keys=ON; SELECT 1", NULL, NULL, NULL);
            sqlite3_close(db);
        }
        ns[r] = (double)(clock_mono_ns() - t0) / OPS;
    }
    return bench_median(ns, RUNS);
}

int main(int argc, char **argv)
{
    char path[256];
    char dir[] = "/tmp/bench_lease_XXXXXX";
    if (argc > 1) {
        snprintf(path, sizeof path, "%s", argv[1]);
    } else {
        if (!mkdtemp(dir))
            die("mkdtemp", "failed");
        snprintf(path, sizeof path, "%s/bench.db", dir);
    }
    log_set_level(PA_LOG_WARN);
    char err[512];
    pool *p;
    pool_config cfg = {.path = path,
                       .size = 1,
                       .lease_timeout_ms = 10000,
                       .busy_timeout_ms = 5000,
                       .max_lifetime_ms = 0,
                       .now_ms = NULL};
    if (pool_open(&cfg, &p, err, sizeof err) != PA_OK)
        die("pool_open", err);
    double read_ns = bench_uncontended(p, lease_release, PA_LEASE_READ, SAMPLES);
    double write_ns = bench_uncontended(p, lease_release, PA_LEASE_WRITE, SAMPLES);
    double select_ns = bench_uncontended(p, lease_select_release, PA_LEASE_READ, SAMPLES);
    int held_fd = -1;
    if (!(g_held = held_create(&held_fd)))
        die("held_create", "no shared memory");
    double recorded_ns = bench_uncontended(p, lease_release_recorded, PA_LEASE_READ, SAMPLES);
    double baseline_ns = bench_uncontended(p, lease_release, PA_LEASE_READ, SAMPLES);
    held_unmap(g_held);
    close(held_fd);
    pool_close(p);

    cfg.size = 2;
    if (pool_open(&cfg, &p, err, sizeof err) != PA_OK)
        die("pool_open", err);
    double contended_ns = bench_contended(p, 4);
    pool_stats st;
    pool_get_stats(p, &st);
    pool_close(p);

    double open_ns = bench_open_per_operation(path);

    printf("bench_lease: batches of %d, median of %d batches, sqlite %s\n", BATCH, SAMPLES,
           sqlite3_libversion());
    printf("read_lease_release_ns          %10.1f\n", read_ns);
    printf("write_lease_release_ns         %10.1f   (BEGIN IMMEDIATE + COMMIT)\n", write_ns);
    printf("read_lease_select1_release_ns  %10.1f\n", select_ns);
    printf("read_lease_release_worker_ns   %10.1f   (with the held-sites record, as in a worker;"
           " %.1f without, same run)\n",
           recorded_ns, baseline_ns);
    printf("read_4_threads_pool_2_ns       %10.1f   (per op per thread; %llu waits)\n",
           contended_ns, (unsigned long long)st.waits);
    printf("baseline_open_per_operation_ns %10.1f\n", open_ns);
    printf("ratio_baseline_over_read_lease %10.1f\n", open_ns / read_ns);
    if (argc <= 1) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "bench_lease: could not remove %s\n", dir);
    }
    return 0;
}
