/*
 * Operating a running host through the real binary (docs/OPERATIONS.md):
 * the control socket (host_stub status, ctl poll, ctl reload), clients that
 * stall or crowd it, the service manager's notifications, the signals meant
 * for the supervisor sent to its workers, and exit codes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "run_host.h"

static const char *const TWO_INSTANCES =
    "{\"plugins\": {\"example\": {\"instances\": [{\"id\": \"s\"}]},"
    " \"poll_fail\": {\"instances\": [{\"id\": \"f\"}]}}}";

/* Waits until the file at path holds needle; fails the test (with the file) after seconds. */
static void wait_for_text(const char *path, const char *needle, int seconds)
{
    for (int i = 0; i < seconds * 50; i++) {
        char *text = read_file(path);
        bool found = strstr(text, needle) != NULL;
        free(text);
        if (found)
            return;
        usleep(20000);
    }
    char *text = read_file(path);
    fail_msg("timed out after %d s waiting for\n  %s\nin %s:\n%s", seconds, needle, path, text);
}

/* A host serving TWO_INSTANCES (one poll each, then hourly), its control socket answering. */
static pid_t start_two(test_env *env)
{
    env_add_plugin(env, "example");
    env_add_plugin(env, "poll_fail");
    env_write_config(env, TWO_INSTANCES);
    const char *args[] = {"--interval", "3600", NULL};
    pid_t pid = host_start(env, args);
    wait_for_text(env->err_path, "poll failed (1 in a row)", 60);
    wait_for_text(env->err_path, "control: answering on", 60);
    /* Both first polls over: under valgrind example/s may still be polling after poll_fail's. */
    wait_for_text(env->out_path, "\"source_reference\":\"s-1-1\"", 60);
    return pid;
}

static void stop_host(test_env *env, pid_t pid, host_result *r)
{
    kill(pid, SIGTERM);
    host_wait(env, pid, r);
    assert_int_equal(r->exit_code, 0);
}

/* `host_stub status --json`, parsed; the exit code into *rc. */
static cJSON *status_json(test_env *env, int *rc)
{
    host_result r;
    const char *args[] = {"status", "--json", NULL};
    host_command(env, &r, args);
    *rc = r.exit_code;
    cJSON *o = cJSON_Parse(r.out);
    if (!o)
        fail_msg("status --json printed no JSON:\n%s\n%s", r.out, r.err);
    host_result_free(&r);
    return o;
}

static const cJSON *instance_of(const cJSON *status, const char *plugin)
{
    const cJSON *in;
    cJSON_ArrayForEach(in, cJSON_GetObjectItem(status, "instances"))
    {
        if (strcmp(json_str(in, "plugin"), plugin) == 0)
            return in;
    }
    fail_msg("no instance of %s in the status", plugin);
    return NULL;
}

static double number(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);
    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

/* status, ctl poll and ctl reload against a running host; every exit code says how it went. */
static void test_status_poll_and_reload_on_the_control_socket(void **state)
{
    test_env *env = *state;
    pid_t pid = start_two(env);
    int rc;
    cJSON *st = status_json(env, &rc);
    assert_int_equal(rc, 1); /* poll_fail/f is failing: not all healthy */
    const cJSON *ok = instance_of(st, "example"), *bad = instance_of(st, "poll_fail");
    assert_string_equal(json_str(ok, "state"), "idle");
    assert_string_equal(json_str(ok, "version"), "1.0.0");
    assert_true(number(ok, "worker_pid") > 0);
    assert_true(number(ok, "items") == 1);
    assert_true(cJSON_IsString(cJSON_GetObjectItem(ok, "next_poll")));
    assert_string_equal(json_str(bad, "state"), "backing off");
    assert_true(number(bad, "failures_in_a_row") == 1);
    assert_string_equal(json_str(bad, "last_error"), "simulated failure 1 (PA_ERR_REMOTE)");
    assert_true(number(cJSON_GetObjectItem(st, "host"), "pid") == pid);
    cJSON_Delete(st);

    host_result r;
    const char *human[] = {"status", NULL};
    host_command(env, &r, human);
    assert_int_equal(r.exit_code, 1);
    assert_contains(r.out, "example/s: idle, version 1.0.0, worker pid ");
    assert_contains(r.out, "last error: simulated failure 1 (PA_ERR_REMOTE)");
    assert_contains(r.out, "2 instance(s); not all healthy");
    host_result_free(&r);

    /* A poll now, whatever the hourly schedule: answered with its result. */
    const char *poll_ok[] = {"ctl", "poll", "example/s", NULL};
    host_command(env, &r, poll_ok);
    assert_int_equal(r.exit_code, 0);
    assert_contains(r.out, "example/s: poll ok, 1 item(s) in ");
    host_result_free(&r);
    wait_for_text(env->out_path, "\"source_reference\":\"s-2-1\"", 60);
    /* The failing one polls now despite its 2 h backoff, and says it failed. */
    const char *poll_bad[] = {"ctl", "poll", "poll_fail", NULL};
    host_command(env, &r, poll_bad);
    assert_int_equal(r.exit_code, 1);
    assert_contains(r.out, "poll_fail/f: poll failed: simulated failure 2 (PA_ERR_REMOTE)");
    host_result_free(&r);
    const char *poll_none[] = {"ctl", "poll", "example/nope", NULL};
    host_command(env, &r, poll_none);
    assert_int_equal(r.exit_code, 1);
    assert_contains(r.err, "no running instance is named 'example/nope'");
    host_result_free(&r);
    const char *reload[] = {"ctl", "reload", NULL};
    host_command(env, &r, reload);
    assert_int_equal(r.exit_code, 0);
    assert_contains(r.out, "configuration applied: 2 instance(s) unchanged, 0 restarted, 0 "
                           "started, 0 stopped; 1 failing instance(s) poll now");
    host_result_free(&r);
    wait_for_text(env->err_path, "simulated failure 3", 60);
    const char *quiet[] = {"status", "--quiet", NULL};
    host_command(env, &r, quiet);
    assert_int_equal(r.exit_code, 1);
    assert_string_equal(r.out, "");
    host_result_free(&r);

    stop_host(env, pid, &r);
    host_result_free(&r);
    host_command(env, &r, quiet);
    assert_int_equal(r.exit_code, 3); /* no host answers */
    host_result_free(&r);
    const char *usage[] = {"ctl", "frobnicate", NULL};
    host_command(env, &r, usage);
    assert_int_equal(r.exit_code, 2);
    host_result_free(&r);
}

static int connect_raw(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    assert_true(len < sizeof addr.sun_path);
    memcpy(addr.sun_path, path, len + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    return fd;
}

/* Whatever fd receives within seconds, up to end of stream. */
static void read_all(int fd, char *buf, size_t size, int seconds)
{
    size_t len = 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, seconds * 1000) <= 0)
            break;
        ssize_t n = read(fd, buf + len, size - len - 1);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/*
 * Clients that never ask, one that sends garbage without end, and one too
 * many: the host answers the crowd "busy", the flood an error, drops the
 * silent after their deadline, and keeps polling meanwhile.
 */
static void test_silent_flooding_and_crowding_clients_never_block_the_host(void **state)
{
    test_env *env = *state;
    env_add_plugin(env, "example");
    env_write_config(env, "{\"plugins\": {\"example\": {\"instances\": [{\"id\": \"b\"}]}}}");
    const char *args[] = {"--interval", "1", NULL};
    pid_t pid = host_start(env, args);
    wait_for_text(env->err_path, "control: answering on", 60);
    int silent[16];
    for (int i = 0; i < 15; i++)
        silent[i] = connect_raw(env->control);
    /* The flood: more than a request may be, with no newline. */
    int flood = connect_raw(env->control);
    char junk[2048];
    memset(junk, 'x', sizeof junk);
    assert_int_equal(write(flood, junk, sizeof junk), (ssize_t)sizeof junk);
    char answer[4096];
    read_all(flood, answer, sizeof answer, 30);
    assert_contains(answer, "a request is one line of at most 1023 bytes");
    close(flood);
    silent[15] = connect_raw(env->control);
    int extra = connect_raw(env->control);
    read_all(extra, answer, sizeof answer, 30);
    assert_contains(answer, "busy: too many clients");
    close(extra);
    /* Polls go on while 16 clients say nothing. */
    char *before = read_file(env->out_path);
    int tasks = count_lines(before);
    free(before);
    char needle[64];
    snprintf(needle, sizeof needle, "\"source_reference\":\"b-%d-1\"", tasks + 2);
    wait_for_text(env->out_path, needle, 60);
    /* The silent ones are dropped at their deadline: status answers again. */
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 16; i++) {
        read_all(silent[i], answer, sizeof answer, 30);
        close(silent[i]);
    }
    assert_true(seconds_since(&t0) < 30);
    int rc;
    cJSON *st = status_json(env, &rc);
    assert_int_equal(rc, 0);
    cJSON_Delete(st);
    host_result r;
    stop_host(env, pid, &r);
    host_result_free(&r);
}

/* Pids of the host's workers, from its status. */
static size_t worker_pids(test_env *env, pid_t *out, size_t max)
{
    int rc;
    cJSON *st = status_json(env, &rc);
    size_t n = 0;
    const cJSON *in;
    cJSON_ArrayForEach(in, cJSON_GetObjectItem(st, "instances"))
    {
        if (n < max && number(in, "worker_pid") > 0)
            out[n++] = (pid_t)number(in, "worker_pid");
    }
    cJSON_Delete(st);
    return n;
}

/*
 * SIGHUP, SIGUSR1, SIGINT and a stranger's SIGTERM sent to the workers kill
 * none; a HUP to the host and every worker at once (systemctl kill -s HUP)
 * reloads once.
 */
static void test_workers_ignore_the_signals_meant_for_the_supervisor(void **state)
{
    test_env *env = *state;
    pid_t pid = start_two(env);
    pid_t workers[4];
    size_t n = worker_pids(env, workers, 4);
    assert_int_equal(n, 2);
    static const int sigs[] = {SIGHUP, SIGUSR1, SIGINT, SIGTERM};
    for (size_t s = 0; s < 4; s++)
        for (size_t i = 0; i < n; i++)
            assert_int_equal(kill(workers[i], sigs[s]), 0);
    kill(pid, SIGHUP);
    for (size_t i = 0; i < n; i++)
        kill(workers[i], SIGHUP);
    wait_for_text(env->err_path, "configuration applied:", 60);
    host_result r;
    const char *poll_ok[] = {"ctl", "poll", "example/s", NULL};
    host_command(env, &r, poll_ok);
    assert_int_equal(r.exit_code, 0);
    host_result_free(&r);
    pid_t after[4];
    assert_int_equal(worker_pids(env, after, 4), n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(after[i], workers[i]);
    stop_host(env, pid, &r);
    assert_int_equal(count_lines_with(r.err, "SIGHUP received"), 1);
    assert_lacks(r.err, "killed by signal");
    assert_lacks(r.err, "worker restarted");
    host_result_free(&r);
}

/* A datagram socket standing in for systemd's notification socket. */
static int notify_socket(test_env *env, char *path, size_t size)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    assert_true((size_t)snprintf(addr.sun_path, sizeof addr.sun_path, "%s/notify.sock", env->dir) <
                sizeof addr.sun_path);
    snprintf(path, size, "%s", addr.sun_path);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    return fd;
}

/* Appends the datagrams that arrive (one per line) until log holds needle; fails after seconds. */
static void collect_until(int fd, char *log, size_t size, const char *needle, int seconds)
{
    size_t len = strlen(log);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    for (int waited = 0; !strstr(log, needle) && waited < seconds * 10;) {
        if (poll(&p, 1, 100) <= 0) {
            waited++;
            continue;
        }
        ssize_t n = recv(fd, log + len, size - len - 2, 0);
        assert_true(n > 0 && len + (size_t)n + 2 < size);
        len += (size_t)n;
        log[len++] = '\n';
        log[len] = '\0';
    }
    if (!strstr(log, needle))
        fail_msg("no %s from the host within %d s; it sent:\n%s", needle, seconds, log);
}

/* Whether the process pid has name in its environment. */
static bool environ_has(pid_t pid, const char *name)
{
    char path[64], buf[65536];
    snprintf(path, sizeof path, "/proc/%ld/environ", (long)pid);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    size_t len = strlen(name);
    for (size_t i = 0; i < n; i += strlen(buf + i) + 1) {
        buf[n] = '\0';
        if (strncmp(buf + i, name, len) == 0 && buf[i + len] == '=')
            return true;
    }
    return false;
}

/*
 * Type=notify: READY=1 once started, STATUS= one-liners, WATCHDOG=1 at half
 * of WatchdogSec, RELOADING=1 then READY=1 at a reload, STOPPING=1; and no
 * worker inherits the socket to speak for the unit.
 */
static void test_the_service_manager_hears_ready_status_and_watchdog(void **state)
{
    test_env *env = *state;
    char path[200];
    int fd = notify_socket(env, path, sizeof path);
    assert_int_equal(setenv("NOTIFY_SOCKET", path, 1), 0);
    assert_int_equal(setenv("WATCHDOG_USEC", "400000", 1), 0);
    env_add_plugin(env, "example");
    env_write_config(env, "{\"plugins\": {\"example\": {\"instances\": [{\"id\": \"n\"}]}}}");
    const char *args[] = {"--interval", "3600", NULL};
    pid_t pid = host_start(env, args);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    static char log[1 << 20];
    log[0] = '\0';
    collect_until(fd, log, sizeof log,
                  "STATUS=1 of 1 instance(s) running, 0 failing; 1 item(s) emitted", 60);
    assert_contains(log, "READY=1");
    pid_t worker;
    assert_int_equal(worker_pids(env, &worker, 1), 1);
    assert_false(environ_has(worker, "NOTIFY_SOCKET"));
    log[0] = '\0';
    collect_until(fd, log, sizeof log, "WATCHDOG=1\nWATCHDOG=1\nWATCHDOG=1", 30);
    kill(pid, SIGHUP);
    collect_until(fd, log, sizeof log, "RELOADING=1\nREADY=1", 60);
    kill(pid, SIGTERM);
    collect_until(fd, log, sizeof log, "STOPPING=1", 60);
    host_result r;
    host_wait(env, pid, &r);
    close(fd);
    assert_int_equal(r.exit_code, 0);
    host_result_free(&r);
}

/* A bounded run tells by its exit code whether every poll succeeded. */
static void test_a_bounded_run_with_a_failed_poll_exits_3(void **state)
{
    test_env *env = *state;
    env_add_plugin(env, "example");
    env_add_plugin(env, "poll_fail");
    env_write_config(env, TWO_INSTANCES);
    host_result r;
    const char *args[] = {"--polls", "1", NULL};
    host_run(env, &r, args);
    assert_int_equal(r.exit_code, 3);
    assert_contains(r.err, "exiting with status 3: 1 poll(s) failed in this run (poll_fail/f)");
    host_result_free(&r);
    env_write_config(env, "{\"plugins\": {\"example\": {\"instances\": [{\"id\": \"s\"}]}}}");
    host_run(env, &r, args);
    assert_int_equal(r.exit_code, 0);
    host_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_status_poll_and_reload_on_the_control_socket,
                                        env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(
            test_silent_flooding_and_crowding_clients_never_block_the_host, env_setup,
            env_teardown),
        cmocka_unit_test_setup_teardown(test_workers_ignore_the_signals_meant_for_the_supervisor,
                                        env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_the_service_manager_hears_ready_status_and_watchdog,
                                        env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_a_bounded_run_with_a_failed_poll_exits_3, env_setup,
                                        env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
