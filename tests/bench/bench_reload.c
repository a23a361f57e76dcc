/*
 * bench_reload: milliseconds from rename(2) of a new plugin version into the
 * plugins directory to the first task served by that version, through the
 * real host_stub --watch at its default settings.
 *
 *   bench_reload HOST_STUB TEST_PLUGIN_DIR [process|none]
 *
 * Alternates example.so and example_v2.so (whose items are titled
 * differently) 41 times and prints the median, 90th percentile and maximum.
 * Baseline in the same run: restarting instead, from exec to the first task.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BENCH_NAME "bench_reload"
#include "bench_common.h"

#define SWAPS 41

static int compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        bench_die(path);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    char *data = malloc(*len);
    if (fread(data, 1, *len, f) != *len)
        bench_die("short read");
    fclose(f);
    return data;
}

static void install(const char *dir, const char *data, size_t len, double *renamed_at)
{
    char tmp[512], dst[512];
    snprintf(tmp, sizeof tmp, "%s/.example.so.tmp", dir);
    snprintf(dst, sizeof dst, "%s/example.so", dir);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    if (fd < 0 || write(fd, data, len) != (ssize_t)len || close(fd) != 0)
        bench_die("cannot write the new version");
    *renamed_at = bench_now_ms();
    if (rename(tmp, dst) != 0)
        bench_die("rename");
}

/* Reads host stdout until a line containing needle arrives. */
static void wait_for(int fd, char *buf, size_t *len, size_t cap, const char *needle)
{
    for (;;) {
        buf[*len] = '\0';
        char *hit = strstr(buf, needle);
        if (hit) {
            char *eol = strchr(hit, '\n');
            if (eol) {
                size_t rest = *len - (size_t)(eol + 1 - buf);
                memmove(buf, eol + 1, rest);
                *len = rest;
                return;
            }
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 10000) <= 0)
            bench_die("no task from the new version within 10 s");
        ssize_t n = read(fd, buf + *len, cap - *len - 1);
        if (n <= 0)
            bench_die("host_stub stopped");
        *len += (size_t)n;
    }
}

int main(int argc, char **argv)
{
    if (argc != 3 && argc != 4)
        bench_die("usage: bench_reload HOST_STUB TEST_PLUGIN_DIR [process|none]");
    const char *isolation = argc == 4 ? argv[3] : "process";
    char dir[] = "/tmp/bench_reload_XXXXXX";
    if (!mkdtemp(dir) || chmod(dir, 0755) != 0)
        bench_die("mkdtemp");
    char plugins[128], config[128], db[128], path[512];
    snprintf(plugins, sizeof plugins, "%s/plugins", dir);
    snprintf(config, sizeof config, "%s/host.json", dir);
    snprintf(db, sizeof db, "%s/agent.db", dir);
    if (mkdir(plugins, 0755) != 0)
        bench_die("mkdir");
    size_t len[2];
    snprintf(path, sizeof path, "%s/example.so", argv[2]);
    char *v1 = slurp(path, &len[0]);
    snprintf(path, sizeof path, "%s/example_v2.so", argv[2]);
    char *v2 = slurp(path, &len[1]);
    double unused;
    install(plugins, v1, len[0], &unused);
    FILE *f = fopen(config, "w");
    fprintf(f,
            "{\"isolation\": \"%s\", \"plugins\": {\"example\": {\"instances\": "
            "[{\"id\": \"a\"}]}}}",
            isolation);
    fclose(f);

    int out[2];
    if (pipe(out) != 0)
        bench_die("pipe");
    double started = bench_now_ms();
    pid_t pid = fork();
    if (pid == 0) {
        dup2(out[1], 1);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 2);
        close(out[0]);
        execl(argv[1], argv[1], "--watch", "--plugins", plugins, "--config", config, "--db", db,
              (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    char buf[65536];
    size_t have = 0;
    wait_for(out[0], buf, &have, sizeof buf, "\"title\":\"Example item 1.1\"");
    /* Baseline: what a restart costs instead, start of the process to its first task. */
    double cold_start_ms = bench_now_ms() - started;
    double ms[SWAPS];
    for (int i = 0; i < SWAPS; i++) {
        bool to_v2 = i % 2 == 0;
        double t0;
        install(plugins, to_v2 ? v2 : v1, to_v2 ? len[1] : len[0], &t0);
        wait_for(out[0], buf, &have, sizeof buf,
                 to_v2 ? "\"title\":\"V2 item 1.1\"" : "\"title\":\"Example item 1.1\"");
        ms[i] = bench_now_ms() - t0;
    }
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    qsort(ms, SWAPS, sizeof ms[0], compare);
    printf("bench_reload: %d swaps via rename(2), host_stub --watch at default settings, "
           "isolation %s\n",
           SWAPS, isolation);
    printf("rename_to_first_task_ms_median  %8.2f\n", ms[SWAPS / 2]);
    printf("rename_to_first_task_ms_p90     %8.2f\n", ms[SWAPS * 9 / 10]);
    printf("rename_to_first_task_ms_max     %8.2f\n", ms[SWAPS - 1]);
    printf("baseline_cold_start_ms          %8.2f   (exec to first task, one run)\n",
           cold_start_ms);
    printf("ratio_cold_start_over_reload    %8.1f\n", cold_start_ms / ms[SWAPS / 2]);
    free(v1);
    free(v2);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
