/*
 * bench_pg: leases on PostgreSQL, each figure beside its anchor in the same
 * run, on the same server (docs/PERFORMANCE.md, "PostgreSQL"):
 *
 *   floor_round_trip_us        one libpq round trip on an open connection:
 *                              a prepared SELECT 1, PQexecPrepared
 *   read_lease_select1_us      pool_lease(READ) + a cached SELECT 1 + release
 *   write_lease_select1_us     pool_lease(WRITE) + SELECT 1 + release (BEGIN, COMMIT)
 *   ratio_read_lease_over_floor
 *   connections_max            host connections seen in pg_stat_activity while
 *                              host_stub runs POLLS polls of example.so
 *   poll_cpu_us_{sqlite,postgresql}  host_stub's CPU (itself and its
 *                              workers) per poll of example.so, per engine
 *
 *   bench_pg URL HOST_STUB TEST_PLUGIN_DIR [POLLS]
 *
 * Latencies are medians of per-batch averages.
 */
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define BENCH_NAME "bench_pg"
#include "bench_common.h"
#include "clock.h"
#include "log.h"
#include "pool.h"

#define BATCH   200
#define SAMPLES 51

static void die(const char *what, const char *err)
{
    fprintf(stderr, "bench_pg: %s: %s\n", what, err);
    exit(1);
}

static PGconn *connect_db(const char *url)
{
    const char *keys[] = {"gssencmode", "dbname", NULL};
    const char *values[] = {"disable", url, NULL};
    PGconn *c = PQconnectdbParams(keys, values, 1);
    if (PQstatus(c) != CONNECTION_OK)
        die("connect", PQerrorMessage(c));
    return c;
}

/* Microseconds per call of op, median over SAMPLES batches of BATCH. */
static double time_us(void (*op)(void *), void *arg)
{
    for (int i = 0; i < BATCH; i++)
        op(arg); /* warm: connections open, statements prepared */
    double samples[SAMPLES];
    for (int s = 0; s < SAMPLES; s++) {
        int64_t start = clock_mono_ns();
        for (int i = 0; i < BATCH; i++)
            op(arg);
        samples[s] = (double)(clock_mono_ns() - start) / BATCH / 1000.0;
    }
    return bench_median(samples, SAMPLES);
}

static void floor_op(void *arg)
{
    PGresult *r = PQexecPrepared(arg, "one", 0, NULL, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        die("SELECT 1", PQresultErrorMessage(r));
    PQclear(r);
}

typedef struct lease_arg {
    pool *pool;
    pool_owner owner;
    pa_lease_mode mode;
} lease_arg;

static void lease_op(void *arg)
{
    lease_arg *a = arg;
    pa_lease lease;
    char err[1024];
    if (pool_lease(a->pool, &a->owner, a->mode, 10000, POOL_HERE, &lease, err, sizeof err) != PA_OK)
        die("lease", err);
    int status;
    db_stmt *st = pool_prepare(a->pool, &a->owner, lease, 0, "SELECT 1", &status, err, sizeof err);
    bool row = false;
    if (!st || db_step(st, &row, err, sizeof err) != PA_OK || !row ||
        db_step(st, &row, err, sizeof err) != PA_OK)
        die("SELECT 1", err);
    if (pool_release(a->pool, &a->owner, lease, PA_RELEASE_COMMIT, POOL_HERE, err, sizeof err) !=
        PA_OK)
        die("release", err);
}

static void bench_leases(const char *url)
{
    PGconn *c = connect_db(url);
    PQclear(PQprepare(c, "one", "SELECT 1", 0, NULL));
    double floor_us = time_us(floor_op, c);
    PQfinish(c);

    pool_config cfg = {.kind = DB_POSTGRES,
                       .path = url,
                       .application_name = "bench_pg",
                       .size = 1,
                       .lease_timeout_ms = 10000,
                       .connect_timeout_s = 5,
                       .statement_timeout_ms = 30000};
    lease_arg a = {.owner = {.plugin = "bench", .instance = "pg"}, .mode = PA_LEASE_READ};
    char err[512];
    if (pool_open(&cfg, &a.pool, err, sizeof err) != PA_OK)
        die("pool_open", err);
    double read_us = time_us(lease_op, &a);
    a.mode = PA_LEASE_WRITE;
    double write_us = time_us(lease_op, &a);
    pool_close(a.pool);
    printf("floor_round_trip_us          %10.1f\n", floor_us);
    printf("read_lease_select1_us        %10.1f\n", read_us);
    printf("write_lease_select1_us       %10.1f\n", write_us);
    printf("ratio_read_lease_over_floor  %10.2f\n", read_us / floor_us);
    printf("ratio_write_lease_over_floor %10.2f\n", write_us / floor_us);
}

typedef struct watch {
    const char *url;
    atomic_bool stop;
    long max;
} watch;

static void *watch_connections(void *arg)
{
    watch *w = arg;
    PGconn *c = connect_db(w->url);
    while (!atomic_load(&w->stop)) {
        PGresult *r = PQexec(c, "SELECT count(*) FROM pg_stat_activity WHERE application_name "
                                "LIKE 'host_stub/%'");
        if (PQresultStatus(r) == PGRES_TUPLES_OK) {
            long n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
            if (n > w->max)
                w->max = n;
        }
        PQclear(r);
        usleep(20000);
    }
    PQfinish(c);
    return NULL;
}

/* Runs host_stub for polls polls of example.so on db; its CPU (with its workers) in us. */
static double run_host(const char *host_stub, const char *plugin_dir, const char *db, int polls,
                       const char *work)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s/plugins && cp %s/example.so %s/plugins/ && printf '%%s' "
             "'{\"plugins\": {\"example\": {\"instances\": [{\"id\": \"b\"}]}}}' > %s/host.json",
             work, plugin_dir, work, work);
    if (system(cmd) != 0)
        die("setup", cmd);
    char polls_arg[16], plugins[1024], config[1024];
    snprintf(polls_arg, sizeof polls_arg, "%d", polls);
    snprintf(plugins, sizeof plugins, "%s/plugins", work);
    snprintf(config, sizeof config, "%s/host.json", work);
    struct rusage before, after;
    getrusage(RUSAGE_CHILDREN, &before);
    fflush(stdout); /* or the child's freopen would print what is buffered again */
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
            _exit(126);
        execl(host_stub, host_stub, "--plugins", plugins, "--config", config, "--db", db, "--polls",
              polls_arg, "--fake-clock", "1767225600", "--allow-shared-db", (char *)NULL);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("host_stub", "did not exit 0");
    getrusage(RUSAGE_CHILDREN, &after);
    double us = (double)(after.ru_utime.tv_sec - before.ru_utime.tv_sec) * 1e6 +
                (double)(after.ru_utime.tv_usec - before.ru_utime.tv_usec) +
                (double)(after.ru_stime.tv_sec - before.ru_stime.tv_sec) * 1e6 +
                (double)(after.ru_stime.tv_usec - before.ru_stime.tv_usec);
    return us / polls;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench_pg URL HOST_STUB TEST_PLUGIN_DIR [POLLS]\n");
        return 2;
    }
    const char *url = argv[1];
    int polls = argc > 4 ? atoi(argv[4]) : 10000;
    log_set_level(PA_LOG_WARN);
    bench_leases(url);

    char work[] = "/tmp/pa-bench-pg.XXXXXX";
    if (!mkdtemp(work))
        die("mkdtemp", "failed");
    watch w = {.url = url};
    pthread_t t;
    pthread_create(&t, NULL, watch_connections, &w);
    double pg_cpu = run_host(argv[2], argv[3], url, polls, work);
    atomic_store(&w.stop, true);
    pthread_join(t, NULL);
    char sqlite_db[128];
    snprintf(sqlite_db, sizeof sqlite_db, "%s/bench.db", work);
    double sqlite_cpu = run_host(argv[2], argv[3], sqlite_db, polls, work);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", work);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_pg: could not remove %s\n", work);
    printf("polls                        %10d\n", polls);
    printf("connections_max              %10ld   (bound: 2 pools of 4)\n", w.max);
    printf("poll_cpu_us_sqlite           %10.1f\n", sqlite_cpu);
    printf("poll_cpu_us_postgresql       %10.1f   (host_stub only; the server's is apart)\n",
           pg_cpu);
    return 0;
}
