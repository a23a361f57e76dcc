/*
 * bench_isolation: what running plugins in worker processes costs, through
 * the real host_stub and test plugins (docs/PERFORMANCE.md).
 *
 *   bench_isolation HOST_STUB TEST_PLUGIN_DIR GRANOLA_SO
 *
 * - poll cost: wall time per poll of one "example" instance (one item per
 *   poll) over 2000 polls on the virtual clock, "isolation": "none" (the
 *   baseline, same run) against "process"; the difference is the channel
 *   and the loop;
 * - resident memory of the supervisor and of one granola worker, after its
 *   first poll (which fails fast: nothing listens on the server port);
 * - SIGTERM to exit with a plugin whose poll never returns, against
 *   shutdown_grace_seconds (1 s here).
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BENCH_NAME "bench_isolation"
#include "bench_common.h"

static char g_dir[64], g_plugins[128], g_config[128], g_db[160];
static const char *g_host;

static void write_config(const char *json)
{
    FILE *f = fopen(g_config, "w");
    if (!f || fputs(json, f) < 0 || fclose(f) != 0)
        bench_die("cannot write host.json");
}

static void copy_plugin(const char *from, const char *name)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "install -m 0755 '%s' '%s/%s.so'", from, g_plugins, name);
    if (system(cmd) != 0)
        bench_die("cannot copy a plugin");
}

/* Starts host_stub with extra arguments; its stdout and stderr go to /dev/null. */
static pid_t start_host(const char *const *extra)
{
    const char *argv[16] = {g_host, "--plugins", g_plugins, "--config", g_config, "--db", g_db};
    int n = 7;
    for (int i = 0; extra[i] && n < 15; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    fflush(NULL); /* or the child's freopen would print our buffered lines again */
    pid_t pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stdout);
        freopen("/dev/null", "w", stderr);
        execv(g_host, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static double run_polls(const char *isolation, const char *polls)
{
    char json[256];
    snprintf(json, sizeof json,
             "{\"isolation\": \"%s\", \"pool\": {\"max_lifetime_seconds\": 0}, "
             "\"plugins\": {\"example\": {\"instances\": [{\"id\": \"a\"}]}}}",
             isolation);
    write_config(json);
    unlink(g_db);
    double t0 = bench_now_ms();
    int status;
    pid_t pid = start_host((const char *[]){"--polls", polls, "--fake-clock", "1767225600", NULL});
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        bench_die("host_stub failed");
    return bench_now_ms() - t0;
}

/* Per poll, in microseconds: (2001 polls - 1 poll) / 2000, the best of three. */
static double per_poll_us(const char *isolation)
{
    double best = 1e300;
    for (int i = 0; i < 3; i++) {
        double one = run_polls(isolation, "1"), many = run_polls(isolation, "2001");
        double us = (many - one) * 1000.0 / 2000.0;
        best = us < best ? us : best;
    }
    return best;
}

static long rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

static pid_t first_child(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/task/%ld/children", (long)pid, (long)pid);
    FILE *f = fopen(path, "r");
    long child = -1;
    if (f) {
        if (fscanf(f, "%ld", &child) != 1)
            child = -1;
        fclose(f);
    }
    return (pid_t)child;
}

static void measure_rss(const char *granola_so)
{
    copy_plugin(granola_so, "granola");
    write_config("{\"plugins\": {\"granola\": {\"instances\": [{\"id\": \"work\", "
                 "\"token_path\": \"/nonexistent/token.json\", "
                 "\"server_url\": \"http://127.0.0.1:9/mcp\"}]}}}");
    unlink(g_db);
    pid_t pid = start_host((const char *[]){"--interval", "3600", NULL});
    usleep(1500 * 1000);
    pid_t worker = first_child(pid);
    long sup = rss_kib(pid), wrk = worker > 0 ? rss_kib(worker) : -1;
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    char path[200];
    snprintf(path, sizeof path, "%s/granola.so", g_plugins);
    unlink(path);
    printf("rss_supervisor_kib                 %8ld\n", sup);
    printf("rss_granola_worker_kib             %8ld\n", wrk);
    printf("rss_total_kib                      %8ld\n", sup + wrk);
}

static void measure_sigterm(void)
{
    write_config("{\"shutdown_grace_seconds\": 1, \"plugins\": {\"misbehave\": {\"instances\": "
                 "[{\"id\": \"hung\", \"does\": \"hang\", \"from_poll\": 1}]}}}");
    double worst = 0, sum = 0;
    for (int i = 0; i < 5; i++) {
        unlink(g_db);
        pid_t pid = start_host((const char *[]){"--interval", "3600", NULL});
        usleep(700 * 1000); /* started, and its first poll hangs */
        double t0 = bench_now_ms();
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        double ms = bench_now_ms() - t0;
        sum += ms;
        worst = ms > worst ? ms : worst;
    }
    printf("sigterm_to_exit_ms_mean            %8.1f   (shutdown_grace_seconds 1, poll hung)\n",
           sum / 5);
    printf("sigterm_to_exit_ms_max             %8.1f\n", worst);
    printf("sigterm_over_grace_ms_max          %8.1f\n", worst - 1000.0);
}

int main(int argc, char **argv)
{
    if (argc != 4)
        bench_die("usage: bench_isolation HOST_STUB TEST_PLUGIN_DIR GRANOLA_SO");
    g_host = argv[1];
    snprintf(g_dir, sizeof g_dir, "/tmp/pa-bench-iso.XXXXXX");
    if (!mkdtemp(g_dir))
        bench_die("mkdtemp");
    chmod(g_dir, 0755);
    snprintf(g_plugins, sizeof g_plugins, "%s/plugins", g_dir);
    snprintf(g_config, sizeof g_config, "%s/host.json", g_dir);
    snprintf(g_db, sizeof g_db, "%s/agent.db", g_dir);
    if (mkdir(g_plugins, 0755) != 0)
        bench_die("mkdir");
    char path[512];
    snprintf(path, sizeof path, "%s/example.so", argv[2]);
    copy_plugin(path, "example");
    double in_process = per_poll_us("none"), isolated = per_poll_us("process");
    printf("bench_isolation: one example instance, one item per poll, 2000 polls\n");
    printf("poll_us_in_process                 %8.1f   (baseline, same run)\n", in_process);
    printf("poll_us_isolated                   %8.1f\n", isolated);
    printf("ipc_cost_per_poll_us               %8.1f\n", isolated - in_process);
    printf("ratio_isolated_over_in_process     %8.2f\n", isolated / in_process);
    snprintf(path, sizeof path, "%s/example.so", g_plugins);
    unlink(path);
    measure_rss(argv[3]);
    snprintf(path, sizeof path, "%s/misbehave.so", argv[2]);
    copy_plugin(path, "misbehave");
    measure_sigterm();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : 1;
}
