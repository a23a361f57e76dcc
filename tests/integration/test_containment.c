/*
 * Containment (docs/ARCHITECTURE.md): a plugin that crashes, exits, hangs,
 * writes to stdout or leaks memory takes down only its own worker. For each
 * misbehaviour of tests/plugins/misbehave_plugin.c, beside a well-behaved
 * "example" instance:
 *   - the host survives and exits 0 (nothing emitted was left undelivered);
 *   - the good instance makes every one of its polls;
 *   - the event is logged with its cause;
 *   - exactly-once holds: every committed item is one task, none twice.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "pg_env.h"
#include "run_host.h"

#define FAKE_CLOCK "1767225600" /* 2026-01-01T00:00:00Z */
#define POLLS      4

/*
 * Installs both plugins and writes host.json: host settings first, then the
 * bad instance's extra keys (JSON members, may be "").
 */
static void write_config(test_env *env, const char *host_keys, const char *bad_keys)
{
    env_add_plugin(env, "example");
    env_add_plugin(env, "misbehave");
    char config[1024];
    snprintf(config, sizeof config,
             "{%s\"plugins\": {\"example\": {\"instances\": [{\"id\": \"good\"}]}, "
             "\"misbehave\": {\"instances\": [{\"id\": \"bad\", %s}]}}}",
             host_keys, bad_keys);
    env_write_config(env, config);
}

/* Every committed item became exactly one task, and nothing waits in the outbox. */
static void assert_exactly_once(test_env *env)
{
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM pa_tasks WHERE source = 'misbehave'"),
                     db_scalar(env, "SELECT count(*) FROM misbehave_done"));
    assert_int_equal(db_scalar(env, "SELECT count(*) - count(DISTINCT source || '/' || "
                                    "account_id || '/' || source_reference) FROM pa_tasks"),
                     0);
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM pa_outbox WHERE consumed_at IS NULL"), 0);
}

/*
 * The bad instance's poll_timeout_seconds in the hang cases. Its init has the
 * same deadline, and under valgrind a worker's init takes seconds.
 */
static int hang_timeout_seconds(void)
{
    return getenv("PA_TEST_WRAPPER") ? 5 : 1;
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/*
 * How much later than the grace a stop may end: 0.5 s (issue #19), and more
 * under valgrind, where every step of a worker is ten to fifty times slower.
 */
static double stop_allowance(void)
{
    return getenv("PA_TEST_WRAPPER") ? 20.0 : 0.5;
}

/*
 * Waits until the host's log holds `needle`, and fails the test with the log
 * if it does not within `seconds`: a case must never go on from a state it
 * did not reach (under valgrind everything is slower; the wait ends as soon
 * as the line is there).
 */
static void wait_for_log(test_env *env, const char *needle, double seconds)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        char *err = read_file(env->err_path);
        bool found = err && strstr(err, needle);
        if (!found && seconds_since(&t0) > seconds)
            fail_msg("no \"%s\" in the log after %.0f s\n%.3000s", needle, seconds,
                     err ? err : "(no log)");
        free(err);
        if (found)
            return;
        usleep(20000);
    }
}

/* Waits until the host's log says the bad instance started and its first poll is under way. */
static void wait_for_bad_poll(test_env *env)
{
    wait_for_log(env, "plugin misbehave/bad: started", 60);
    usleep(300000); /* its first poll is under way, and hangs */
}

/*
 * The example plugin alone, one instance emitting items per poll; a grace of
 * 1 s. Its WRITE lease may last 10 min: a big batch under valgrind takes
 * longer than the default 10 s, and these cases are not about that deadline.
 */
static void write_example_only(test_env *env, const char *id, int items)
{
    char config[300];
    snprintf(config, sizeof config,
             "{\"shutdown_grace_seconds\": 1, \"plugins\": {\"example\": {\"instances\": "
             "[{\"id\": \"%s\", \"items_per_poll\": %d, \"write_lease_timeout_seconds\": 600}]}}}",
             id, items);
    env_add_plugin(env, "example");
    env_write_config(env, config);
}

/* Runs `rounds` rounds on the virtual clock with the bad instance's keys. */
static void run_rounds(test_env *env, const char *host_keys, const char *bad_keys, int rounds,
                       host_result *r)
{
    write_config(env, host_keys, bad_keys);
    char polls[16];
    snprintf(polls, sizeof polls, "%d", rounds);
    const char *args[] = {"--polls", polls, "--fake-clock", FAKE_CLOCK, NULL};
    host_run(env, r, args);
}

/* Runs POLLS rounds with the bad instance doing `does`. */
static void run_misbehaving(test_env *env, const char *does, host_result *r)
{
    char bad[160];
    snprintf(bad, sizeof bad, "\"does\": \"%s\"", does);
    run_rounds(env, "", bad, POLLS, r);
}

/* good_polls: how many polls the good instance must have made. */
static void assert_survived(test_env *env, const host_result *r, int good_polls)
{
    if (r->exit_code != expected_exit(r))
        fail_msg("host exited %d\n%s", r->exit_code, r->err);
    if (count_lines_with(r->out, "\"source\":\"example\"") < good_polls)
        fail_msg("the good instance made fewer than %d polls\n%s", good_polls, r->err);
    assert_exactly_once(env);
}

static void check_crash(void **state, const char *does, const char *cause)
{
    test_env *env = *state;
    host_result r;
    run_misbehaving(env, does, &r);
    assert_survived(env, &r, POLLS); /* rounds at 0, 900, 1800, 2700 s */
    assert_contains(r.err, cause);
    /* The first poll succeeded; the crash is a failed poll, retried with backoff. */
    assert_contains(r.err, "error plugin misbehave/bad: poll failed (1 in a row): worker (pid ");
    assert_contains(r.err, "info plugin misbehave/bad: worker restarted (plugin version 1.0.0");
    assert_contains(r.out, "\"source_reference\":\"bad-1\"");
    host_result_free(&r);
}

static void test_segfault(void **state)
{
    check_crash(state, "segfault", "killed by signal 11 (Segmentation fault) during the poll");
}

static void test_abort(void **state)
{
    check_crash(state, "abort", "killed by signal 6 (Aborted) during the poll");
}

static void test_exit(void **state)
{
    check_crash(state, "exit", "exited with status 3 during the poll");
}

/* A crash inside the WRITE lease: the item of that poll rolls back with the process. */
static void test_crash_inside_the_lease_rolls_back(void **state)
{
    test_env *env = *state;
    host_result r;
    run_rounds(env, "", "\"does\": \"exit\", \"inside_lease\": true", POLLS, &r);
    assert_survived(env, &r, POLLS); /* rounds at 0, 900, 1800, 2700 s */
    /* bad-1 was committed; every later poll died before COMMIT. */
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM misbehave_done"), 1);
    assert_int_equal(count_lines_with(r.out, "\"source\":\"misbehave\""), 1);
    host_result_free(&r);
}

/*
 * A poll that never returns, on the real clock: killed at its
 * poll_timeout_seconds, logged with the leases it held; meanwhile the good
 * instance polls every second.
 */
static void check_hang(void **state, const char *does, const char *isolation, const char *worker,
                       const char *held)
{
    test_env *env = *state;
    char bad[160], host[160];
    snprintf(bad, sizeof bad, "\"does\": \"%s\", \"poll_timeout_seconds\": %d", does,
             hang_timeout_seconds());
    snprintf(host, sizeof host,
             "\"isolation\": \"%s\", \"backoff_cap_seconds\": 1, \"shutdown_grace_seconds\": 1, ",
             isolation);
    write_config(env, host, bad);
    /*
     * Real clock, for a fixed time rather than a number of rounds (which
     * instance a round holds depends on timing). The bad instance hangs from
     * its second poll at t=1 s, is killed at 2 s, restarts at 3 s and hangs
     * again; the good one polls every second meanwhile: at 0, 1, 3 s at the
     * least, even when the bad one's WRITE lease makes it wait for the
     * database.
     * valgrind makes every start take seconds (about 5 s before the first
     * poll, 2 s per restart, which the supervisor waits out): it gets 20 s.
     */
    pid_t pid = host_start(env, (const char *[]){"--interval", "1", NULL});
    usleep(getenv("PA_TEST_WRAPPER") ? 20000000 : 5000000);
    kill(pid, SIGTERM);
    host_result r;
    host_wait(env, pid, &r);
    assert_survived(env, &r, 3);
    char cause[96];
    snprintf(cause, sizeof cause, "(poll_timeout_seconds is %d); worker (%s",
             hang_timeout_seconds(), worker);
    assert_contains(r.err, cause);
    assert_contains(r.err, held);
    host_result_free(&r);
}

static void test_hang(void **state)
{
    check_hang(state, "hang", "process", "pid ", "killed by signal 9 (Killed); it held no lease");
}

static void test_hang_holding_a_write_lease(void **state)
{
    check_hang(state, "hang_write", "process", "pid ",
               "it held WRITE lease from tests/plugins/misbehave_plugin.c:");
}

/*
 * A writer hung inside its WRITE lease, with a poll deadline of a minute: it is
 * killed at its WRITE-lease deadline instead (write_lease_timeout_seconds), so
 * the good instance, which needs the same lock, writes again within it.
 */
static void test_a_hung_writer_is_stopped_at_the_write_lease_deadline(void **state)
{
    test_env *env = *state;
    char bad[200];
    snprintf(bad, sizeof bad,
             "\"does\": \"hang_write\", \"poll_timeout_seconds\": 60, "
             "\"write_lease_timeout_seconds\": %d",
             hang_timeout_seconds());
    write_config(env,
                 "\"backoff_cap_seconds\": 1, \"shutdown_grace_seconds\": 1, "
                 "\"pool\": {\"busy_timeout_ms\": 60000}, ",
                 bad);
    pid_t pid = host_start(env, (const char *[]){"--interval", "1", NULL});
    usleep(getenv("PA_TEST_WRAPPER") ? 20000000 : 5000000);
    kill(pid, SIGTERM);
    host_result r;
    host_wait(env, pid, &r);
    /* The good instance waits for the lock at most the WRITE deadline, not 60 s. */
    assert_survived(env, &r, 3);
    char cause[160];
    snprintf(cause, sizeof cause,
             "(a WRITE lease held past write_lease_timeout_seconds, %d; no other instance can "
             "write meanwhile); worker (pid ",
             hang_timeout_seconds());
    assert_contains(r.err, cause);
    assert_contains(r.err, "it held WRITE lease from tests/plugins/misbehave_plugin.c:");
    assert_lacks(r.err, "poll_timeout_seconds is 60");
    host_result_free(&r);
}

/*
 * A worker holds the plugin's tokens: it is not dumpable and makes no core
 * file, unless PA_ALLOW_CORE_DUMPS=1 asks for them (debugging).
 */
static void test_a_worker_leaves_no_core_file(void **state)
{
    test_env *env = *state;
    for (int allow = 0; allow < 2; allow++) {
        if (allow)
            setenv("PA_ALLOW_CORE_DUMPS", "1", 1);
        host_result r;
        run_rounds(env, "", "\"does\": \"report_dumpable\", \"from_poll\": 1", 1, &r);
        unsetenv("PA_ALLOW_CORE_DUMPS");
        assert_int_equal(r.exit_code, expected_exit(&r));
        if (allow)
            assert_contains(r.err, "plugin misbehave/bad: output: dumpable=1");
        else
            assert_contains(r.err, "plugin misbehave/bad: output: dumpable=0 core=0");
        host_result_free(&r);
    }
}

/* The process whose pid pid_file holds is not running within tries * 20 ms (gone or a zombie). */
static void assert_process_gone(const char *pid_file, int tries)
{
    char *text = read_file(pid_file);
    long child = strtol(text, NULL, 10); /* read_file gives "" for a missing file */
    free(text);
    assert_true(child > 0);
    char stat_path[64];
    snprintf(stat_path, sizeof stat_path, "/proc/%ld/stat", child);
    char *stat = NULL;
    for (int i = 0; i < tries; i++) {
        free(stat);
        stat = read_file(stat_path);
        if (!stat[0] || strstr(stat, ") Z "))
            break;
        usleep(20000);
    }
    if (stat[0] && !strstr(stat, ") Z "))
        fail_msg("the plugin's process %ld still runs: %s", child, stat);
    free(stat);
}

/*
 * One round where the bad instance does `does` (starting a child whose pid
 * goes to pid_file, then hanging past its poll deadline); the host must
 * exit 0.
 */
static void run_hang_with_child(test_env *env, const char *does, char *pid_file,
                                size_t pid_file_size, host_result *r)
{
    char bad[600];
    snprintf(pid_file, pid_file_size, "%s/%s.pid", env->dir, does);
    snprintf(bad, sizeof bad,
             "\"does\": \"%s\", \"from_poll\": 1, \"poll_timeout_seconds\": %d, "
             "\"pid_file\": \"%s\"",
             does, hang_timeout_seconds(), pid_file);
    run_rounds(env, "", bad, 1, r);
    if (r->exit_code != expected_exit(r))
        fail_msg("host exited %d\n%.3000s", r->exit_code, r->err);
}

/* A process the plugin started dies with its worker (the worker's process group). */
static void test_a_plugins_child_dies_with_its_worker(void **state)
{
    test_env *env = *state;
    char pid_file[200];
    host_result r;
    run_hang_with_child(env, "fork_hang", pid_file, sizeof pid_file, &r);
    char cause[64];
    snprintf(cause, sizeof cause, "(poll_timeout_seconds is %d); worker (pid ",
             hang_timeout_seconds());
    assert_contains(r.err, cause);
    assert_process_gone(pid_file, 50);
    assert_exactly_once(env);
    host_result_free(&r);
}

/*
 * A crash is seen when the worker ends (SIGCHLD), not when its channel
 * closes: a child it left holds the channel open, and the poll deadline is
 * a minute away.
 */
static void test_a_crash_is_seen_though_a_child_holds_the_channel(void **state)
{
    test_env *env = *state;
    host_result r;
    run_rounds(env, "", "\"does\": \"fork_segfault\", \"poll_timeout_seconds\": 60", POLLS, &r);
    assert_survived(env, &r, POLLS);
    assert_contains(r.err, "killed by signal 11 (Segmentation fault) during the poll");
    assert_lacks(r.err, "poll_timeout_seconds is 60");
    host_result_free(&r);
}

/*
 * A child that leaves its worker's process group (setsid) and floods the
 * output pipe wedges nothing: the hung poll is killed at its deadline, the
 * pipe is read for a bounded time, and the child, adopted by the
 * supervisor, is killed.
 */
static void test_an_escaped_flooding_child_is_killed(void **state)
{
    test_env *env = *state;
    char pid_file[200];
    host_result r;
    run_hang_with_child(env, "escape_flood", pid_file, sizeof pid_file, &r);
    assert_process_gone(pid_file, 50);
    assert_exactly_once(env);
    host_result_free(&r);
}

/* Waits up to 20 s for pid_file to name a process; its pid. */
static long wait_for_pid_file(const char *pid_file)
{
    char *text = NULL;
    for (int i = 0; i < 400 && !(text && text[0]); i++) {
        free(text);
        usleep(50000);
        text = read_file(pid_file);
    }
    long pid = strtol(text, NULL, 10);
    free(text);
    if (pid <= 0)
        fail_msg("no pid in %s after 20 s", pid_file);
    return pid;
}

/*
 * A daemon a plugin starts (its parent exits, it leaves the group) is
 * adopted by the supervisor and killed while the instance runs on: no
 * process of an instance outlives it, and none runs on its own.
 */
static void test_a_daemon_a_plugin_starts_is_killed(void **state)
{
    test_env *env = *state;
    char pid_file[200], bad[400];
    snprintf(pid_file, sizeof pid_file, "%s/daemon.pid", env->dir);
    snprintf(bad, sizeof bad, "\"does\": \"daemon\", \"from_poll\": 1, \"pid_file\": \"%s\"",
             pid_file);
    write_config(env, "", bad);
    pid_t pid = host_start(env, (const char *[]){"--interval", "1", NULL});
    wait_for_pid_file(pid_file);
    assert_process_gone(pid_file, 150); /* the sweep runs every second */
    assert_int_equal(kill(pid, 0), 0);  /* while the host runs */
    kill(pid, SIGTERM);
    host_result r;
    host_wait(env, pid, &r);
    assert_int_equal(r.exit_code, 0);
    assert_contains(r.err, "warn host: killed 1 process(es) a plugin left running after their "
                           "parent ended");
    host_result_free(&r);
}

/*
 * A supervisor killed with kill -9 takes its workers along
 * (PR_SET_PDEATHSIG), and the child a plugin left in its worker's group
 * outlives them: the next host to start on this machine ends it, from the
 * dead host's record of its worker groups.
 */
static void test_a_killed_hosts_leftovers_end_at_the_next_start(void **state)
{
    test_env *env = *state;
    char pid_file[200], bad[400];
    snprintf(pid_file, sizeof pid_file, "%s/child.pid", env->dir);
    snprintf(bad, sizeof bad, "\"does\": \"leave_child\", \"from_poll\": 1, \"pid_file\": \"%s\"",
             pid_file);
    write_config(env, "", bad);
    pid_t pid = host_start(env, (const char *[]){"--interval", "3600", NULL});
    long child = wait_for_pid_file(pid_file);
    kill(pid, SIGKILL);
    host_result r;
    host_wait(env, pid, &r);
    host_result_free(&r);
    usleep(300000);
    char stat_path[64];
    snprintf(stat_path, sizeof stat_path, "/proc/%ld/stat", child);
    char *stat = read_file(stat_path);
    bool outlived = stat[0] && !strstr(stat, ") Z ");
    free(stat);
    if (!outlived)
        fail_msg("the plugin's child %ld did not outlive its host: nothing to test", child);
    host_run(env, &r, (const char *[]){"--polls", "1", NULL});
    assert_int_equal(r.exit_code, expected_exit(&r));
    char said[200];
    snprintf(said, sizeof said,
             "worker process group(s) of host_stub pid %ld, which ended without a stop", (long)pid);
    assert_contains(r.err, said);
    host_result_free(&r);
    assert_process_gone(pid_file, 50);
}

/* A worker holds its channel, its pipes and its held-sites table, nothing its launcher left open.
 */
static void test_a_worker_inherits_no_stray_descriptor(void **state)
{
    test_env *env = *state;
    int null_fd = open("/dev/null", O_RDONLY);
    int stray = fcntl(null_fd, F_DUPFD, 20); /* no FD_CLOEXEC: the host inherits it */
    close(null_fd);
    assert_true(stray >= 20);
    host_result r;
    run_rounds(env, "", "\"does\": \"report_fds\", \"from_poll\": 1", 1, &r);
    close(stray);
    assert_int_equal(r.exit_code, expected_exit(&r));
    assert_contains(r.err, "plugin misbehave/bad: output: null_fds_above_4=0");
    host_result_free(&r);
}

/*
 * A reader that stops reading stdout (a full pipe) blocks nothing: task
 * lines wait in a bounded queue, then are dropped, counted and logged; every
 * task is in pa_tasks; SIGTERM ends the host within the grace.
 */
static void test_a_stalled_stdout_reader_blocks_nothing(void **state)
{
    test_env *env = *state;
    write_example_only(env, "good", 4000);
    unlink(env->out_path);
    assert_int_equal(mkfifo(env->out_path, 0600), 0);
    int reader = open(env->out_path, O_RDONLY | O_NONBLOCK); /* opened, never read */
    assert_true(reader >= 0);
    pid_t pid = host_start(env, (const char *[]){"--interval", "1", "--stats", NULL});
    wait_for_log(env, "stdout's reader has stalled", 60);
    usleep(1500000); /* polls go on, their lines dropped */
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    kill(pid, SIGTERM);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    env->pid = 0;
    double took = seconds_since(&t0);
    close(reader);
    char *err = read_file(env->err_path);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || took > 1.0 + stop_allowance())
        fail_msg("status %d after %.2f s\n%.4000s", status, took, err);
    assert_contains(err, "warn outbox: stdout's reader has stalled with ");
    assert_contains(err, "task_lines_dropped=");
    free(err);
    /*
     * As many tasks as the pipe and the queue held as lines (the stall says so), and none
     * lost: what the stop left in the outbox (under valgrind the move is
     * slow) is there for the next start.
     */
    assert_true(db_scalar(env, "SELECT count(*) FROM pa_tasks") >= 3000);
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM pa_tasks") +
                         db_scalar(env, "SELECT count(*) FROM pa_outbox WHERE consumed_at IS NULL"),
                     db_scalar(env, "SELECT count(*) FROM pa_outbox"));
}

/*
 * A plugin that floods its log and its output costs the log 1000 lines per
 * 30 s window and no more; the rest are counted and said.
 */
static void test_a_log_flood_is_rate_limited(void **state)
{
    test_env *env = *state;
    host_result r;
    run_rounds(env, "", "\"does\": \"flood\", \"from_poll\": 1, \"flood_lines\": 5000", 1, &r);
    assert_survived(env, &r, 1);
    int flood = count_lines_with(r.err, "flood: ");
    if (flood != 1000)
        fail_msg("%d flood lines logged, not the burst of 1000", flood);
    assert_contains(r.err, "warn plugin misbehave/bad: more than 1000 log and output lines in 30 "
                           "s; the rest of this window's are suppressed and counted");
    assert_contains(r.err, "warn plugin misbehave/bad: suppressed 9000 log and output line(s)");
    host_result_free(&r);
}

/*
 * A big batch is moved in slices: SIGTERM in the middle of moving 20000
 * items ends the host within the grace and 0.5 s, and what was not moved
 * waits in pa_outbox for the next start, which moves it, once.
 */
static void test_sigterm_during_a_big_batch(void **state)
{
    test_env *env = *state;
    write_example_only(env, "big", 20000);
    pid_t pid = host_start(env, (const char *[]){"--interval", "3600", NULL});
    wait_for_log(env, "info outbox: created ", 120);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    kill(pid, SIGTERM);
    host_result r;
    host_wait(env, pid, &r);
    double took = seconds_since(&t0);
    if (r.exit_code != 0 || took > 1.0 + stop_allowance())
        fail_msg("exit %d after %.2f s\n%.3000s", r.exit_code, took, r.err);
    host_result_free(&r);
    /* Whatever the stop left is moved by the next start, and nothing twice. */
    host_run(env, &r, (const char *[]){"--polls", "1", "--interval", "3600", NULL});
    assert_int_equal(r.exit_code, 0);
    host_result_free(&r);
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM pa_outbox WHERE consumed_at IS NULL"), 0);
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM pa_tasks"),
                     db_scalar(env, "SELECT count(*) FROM pa_outbox"));
    assert_true(db_scalar(env, "SELECT count(*) FROM pa_tasks") >= 20000);
}

/* What a plugin prints goes to the log, never into the task stream. */
static void test_stdout_never_reaches_the_task_stream(void **state)
{
    test_env *env = *state;
    host_result r;
    run_misbehaving(env, "stdout", &r);
    assert_survived(env, &r, POLLS); /* rounds at 0, 900, 1800, 2700 s */
    assert_lacks(r.out, "forged");
    assert_contains(r.err, "warn plugin misbehave/bad: output: {\"type\":\"forged\"");
    host_result_free(&r);
}

/*
 * Plain SQL cannot forge, eat or jam anyone's tasks: every statement that
 * would change a pa_* table, or hang a trigger, view or index on one, is
 * refused, through the statement API and the raw handle alike; emit still
 * works, and the good instance's items all arrive. On PostgreSQL, where
 * the API is the one way, every write to a pa_* table is refused by the
 * tables' trigger, a trigger of the plugin's own that would write one too,
 * and a trigger it hangs on pa_tasks is dropped before it can eat.
 */
static void test_plugin_sql_cannot_touch_the_host_tables(void **state)
{
    test_env *env = *state;
    bool pg = pg_backend_selected(); /* SQLite's authorizer, or PostgreSQL's trigger */
    host_result r;
    run_rounds(env, "", "\"does\": \"forge\", \"from_poll\": 1", POLLS, &r);
    assert_survived(env, &r, POLLS);
    if (count_lines_with(r.err, pg ? "output: forged=0 of 9" : "output: forged=0 of 28") != POLLS) {
        const char *said = strstr(r.err, "output: forged=");
        fail_msg("not every forgery was refused in every poll: %.40s", said ? said : "(none said)");
    }
    assert_contains(r.err, pg ? "would change the host's table 'pa_outbox' (PostgreSQL, its "
                                "trigger pa_host_only); refused"
                              : "would change the host's table 'pa_outbox' (SQLite action 18); "
                                "refused");
    assert_contains(r.err, "would change the host's table 'pa_tasks'");
    assert_contains(r.err, "would change the host's table 'pa_instances'");
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM pa_tasks WHERE source NOT IN "
                                    "('example', 'misbehave') OR title = 'forged'"),
                     0);
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM pa_outbox WHERE plugin = 'granola'"), 0);
    if (pg) /* DDL goes through on PostgreSQL: the trigger it made is dropped before it eats */
        assert_contains(r.err, "error outbox: dropped trigger(s) on the host's tables that were "
                               "not the host's: forged_eater on pa_tasks");
    assert_int_equal(db_scalar(env, "SELECT max(version) FROM pa_schema"), 4);
    assert_true(db_scalar(env, "SELECT count(*) FROM pa_instances") >= 2);
    if (!pg)
        assert_int_equal(db_scalar(env, "SELECT count(*) FROM sqlite_master WHERE name LIKE "
                                        "'forged%' OR sql LIKE '%forged_column%'"),
                         0);
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM pa_tasks WHERE source = 'example'"),
                     POLLS);
    host_result_free(&r);
}

/*
 * An outbox row that cannot become a task (written by hand, an older host, a
 * bug) jams no one: it is set aside in pa_outbox_rejected with the engine's
 * error, logged once, and every other item flows.
 */
static void test_a_bad_outbox_row_is_set_aside(void **state)
{
    test_env *env = *state;
    host_result r;
    run_rounds(env, "", "\"does\": \"nothing\"", 1, &r);
    assert_int_equal(r.exit_code, expected_exit(&r));
    host_result_free(&r);
    static const char *const bad_rows[][3] = {{"granola", "forged-0", "{\"type\": \"example\"}"},
                                              {"granola", "forged-1", "not JSON at all"},
                                              {"example", "good", "not JSON either"}};
    for (size_t i = 0; i < 3; i++) {
        char sql[400];
        snprintf(sql, sizeof sql,
                 "INSERT INTO pa_outbox(plugin, instance_id, item_json, created_at) VALUES "
                 "('%s', '%s', '%s', '2026-01-01T00:00:00Z')",
                 bad_rows[i][0], bad_rows[i][1], bad_rows[i][2]);
        db_exec_sql(env, sql);
    }
    write_config(env, "", "\"does\": \"nothing\"");
    char polls[16];
    snprintf(polls, sizeof polls, "%d", POLLS);
    host_run(env, &r,
             (const char *[]){"--polls", polls, "--fake-clock", FAKE_CLOCK, "--stats", NULL});
    if (r.exit_code != expected_exit(&r))
        fail_msg("host exited %d\n%s", r.exit_code, r.err);
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM pa_outbox WHERE consumed_at IS NULL"), 0);
    if (count_lines_with(r.err, " set aside: outbox consumer: ") != 3)
        fail_msg("not three rows set aside\n%s", r.err);
    assert_contains(r.err, "from granola/forged-0 set aside: outbox consumer: ");
    assert_contains(r.err, "from granola/forged-1 set aside: outbox consumer: ");
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM pa_outbox_rejected WHERE plugin = "
                                    "'granola' AND error LIKE 'outbox consumer: %'"),
                     2);
    /* The instance's own, in its books (status, stats); the forged ones name no instance. */
    assert_contains(r.err, "from example/good set aside: outbox consumer: ");
    assert_contains(r.err, "dead_lettered=1 last_failure_reason=\"\"");
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM pa_tasks WHERE source = 'example'"),
                     1 + POLLS);
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM pa_tasks WHERE source = 'misbehave'"),
                     1 + POLLS);
    host_result_free(&r);
}

static void test_fast_leak_is_stopped_at_the_memory_limit(void **state)
{
    test_env *env = *state;
    host_result r;
    run_rounds(env, "\"worker_memory_limit_mb\": 256, ", "\"does\": \"leak\"", POLLS, &r);
    assert_survived(env, &r, POLLS); /* rounds at 0, 900, 1800, 2700 s */
    assert_contains(r.err, "is over worker_memory_limit_mb 256); worker (pid ");
    host_result_free(&r);
}

/*
 * Memory that grows after the poll returned (a thread, or a child that left
 * the worker's process group) is the instance's too: the worker and all it
 * started are killed between polls, within a second or so, and the good
 * instance goes on.
 */
static void check_leak_after_the_poll(test_env *env, const char *does, const char *processes)
{
    char pid_file[200], bad[400];
    snprintf(pid_file, sizeof pid_file, "%s/leak.pid", env->dir);
    snprintf(bad, sizeof bad, "\"does\": \"%s\", \"from_poll\": 1, \"pid_file\": \"%s\"", does,
             pid_file);
    write_config(env, "\"worker_memory_limit_mb\": 256, ", bad);
    pid_t pid = host_start(env, (const char *[]){"--interval", "3600", NULL});
    wait_for_log(env, "between polls: resident memory of the worker and its processes", 120);
    kill(pid, SIGTERM);
    host_result r;
    host_wait(env, pid, &r);
    assert_survived(env, &r, 1);
    assert_contains(r.err, processes);
    assert_contains(r.err, "is over worker_memory_limit_mb 256");
    host_result_free(&r);
}

static void test_a_thread_growing_after_its_poll_is_stopped(void **state)
{
    check_leak_after_the_poll(*state, "leak_in_thread", "the worker and its processes (1) ");
}

static void test_a_child_growing_after_its_poll_is_stopped(void **state)
{
    test_env *env = *state;
    check_leak_after_the_poll(env, "leak_in_child", "the worker and its processes (2) ");
    char pid_file[200];
    snprintf(pid_file, sizeof pid_file, "%s/leak.pid", env->dir);
    assert_process_gone(pid_file, 50);
}

/*
 * SIGTERM with a poll that never returns: the worker is killed at the grace
 * deadline, the host exits within the grace and 0.5 s, and the healthy
 * instance's shutdown() runs within the grace (it is asked at once, not
 * after the hung poll's deadline).
 */
static void test_sigterm_is_bounded_by_the_grace(void **state)
{
    test_env *env = *state;
    write_config(env, "\"shutdown_grace_seconds\": 1, ", "\"does\": \"hang\", \"from_poll\": 1");
    pid_t pid = host_start(env, (const char *[]){"--interval", "1", NULL});
    wait_for_bad_poll(env);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    kill(pid, SIGTERM);
    host_result r;
    host_wait(env, pid, &r);
    double took = seconds_since(&t0);
    if (r.exit_code != 0)
        fail_msg("host exited %d\n%s", r.exit_code, r.err);
    if (took > 1.0 + stop_allowance())
        fail_msg("SIGTERM to exit took %.2f s with shutdown_grace_seconds 1\n%s", took, r.err);
    assert_contains(r.err, "(shutting down; shutdown_grace_seconds is 1); worker (pid ");
    assert_contains(r.err, "info plugin example/good: shutdown() ran");
    assert_contains(r.err, "info plugin example/good: shut down");
    assert_lacks(r.err, "plugin example/good: worker (pid");
    assert_exactly_once(env);
    host_result_free(&r);
}

/* An init that never returns is killed at the instance's poll deadline; the other instance runs. */
static void test_init_that_hangs_is_killed_at_its_deadline(void **state)
{
    test_env *env = *state;
    char bad[80];
    snprintf(bad, sizeof bad, "\"init_does\": \"hang\", \"poll_timeout_seconds\": %d",
             hang_timeout_seconds());
    host_result r;
    run_rounds(env, "", bad, 2, &r);
    assert_survived(env, &r, 2);
    char cause[160];
    snprintf(cause, sizeof cause,
             "error plugin misbehave/bad: init did not finish within %d ms; worker killed; "
             "instance not started",
             hang_timeout_seconds() * 1000);
    assert_contains(r.err, cause);
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM pa_tasks WHERE source = 'misbehave'"), 0);
    host_result_free(&r);
}

/* A crash in init: the instance does not start, and the log says how its worker ended. */
static void test_init_that_crashes_is_reported(void **state)
{
    test_env *env = *state;
    host_result r;
    run_rounds(env, "", "\"init_does\": \"segfault\"", 2, &r);
    assert_survived(env, &r, 2);
    assert_contains(r.err,
                    "error plugin misbehave/bad: worker failed during init: the worker ended "
                    "(killed by signal 11 (Segmentation fault)");
    host_result_free(&r);
}

/*
 * A worker restarted after a crash whose init then hangs (poll_timeout_seconds
 * 30): the restart runs beside the other instance's polls, which go on every
 * second. Were the restart waited for in the supervisor's loop, the good
 * instance would stop polling at about 2 s, when the restart begins.
 */
static void test_a_restart_that_hangs_in_init_holds_no_one_up(void **state)
{
    test_env *env = *state;
    write_config(env, "\"backoff_cap_seconds\": 1, \"shutdown_grace_seconds\": 1, ",
                 "\"does\": \"segfault\", \"init_does\": \"hang\", \"init_after_items\": 1, "
                 "\"poll_timeout_seconds\": 30");
    bool valgrind = getenv("PA_TEST_WRAPPER") != NULL;
    pid_t pid = host_start(env, (const char *[]){"--interval", "1", NULL});
    usleep(valgrind ? 30000000 : 6000000);
    kill(pid, SIGTERM);
    host_result r;
    host_wait(env, pid, &r);
    /* About 6 polls in 6 s (valgrind: its starts take 5 s, then one poll a second or two). */
    assert_survived(env, &r, valgrind ? 10 : 5);
    assert_contains(r.err, "killed by signal 11 (Segmentation fault) during the poll");
    assert_contains(r.err, "(shutting down; shutdown_grace_seconds is 1); worker (pid ");
    host_result_free(&r);
}

/* A restart whose init fails is a failed poll, tried again at the next due one. */
static void test_a_restart_whose_init_fails_is_a_failed_poll(void **state)
{
    test_env *env = *state;
    host_result r;
    run_rounds(env, "", "\"does\": \"exit\", \"init_does\": \"fail\", \"init_after_items\": 1",
               POLLS, &r);
    assert_survived(env, &r, POLLS); /* rounds at 0, 900, 1800, 2700 s */
    /* Poll 2 (at 900 s) exits; the next, after a backoff, launches a worker whose init fails. */
    assert_contains(r.err,
                    "error plugin misbehave/bad: poll failed (2 in a row): worker restart "
                    "failed: init failed (PA_ERR_GENERIC): told to fail its init; backing off");
    assert_lacks(r.err, "worker restarted");
    host_result_free(&r);
}

/*
 * SIGTERM while an init hangs (poll_timeout_seconds is 300): the start is
 * given up at once, not waited out, and the host exits within the grace.
 */
static void test_sigterm_during_a_hung_init(void **state)
{
    test_env *env = *state;
    write_config(env, "\"shutdown_grace_seconds\": 1, ", "\"init_does\": \"hang\"");
    pid_t pid = host_start(env, (const char *[]){"--interval", "1", NULL});
    /* Long enough for the worker to be in init, or at least spawned (valgrind: seconds). */
    usleep(getenv("PA_TEST_WRAPPER") ? 4000000 : 500000);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    kill(pid, SIGTERM);
    host_result r;
    host_wait(env, pid, &r);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (r.exit_code != 0)
        fail_msg("host exited %d\n%s", r.exit_code, r.err);
    /* Waiting the init out would take 300 s; the grace is 1 s (plus valgrind's slow exits). */
    if (seconds > 10)
        fail_msg("the host took %.1f s to stop\n%s", seconds, r.err);
    assert_contains(r.err, "the host is stopping (a SIGTERM or SIGINT came)");
    /* The instance never ran a poll (under valgrind, it may not even have made its table). */
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM pa_tasks WHERE source = 'misbehave'"), 0);
    assert_int_equal(db_scalar(env, "SELECT count(*) FROM pa_outbox WHERE consumed_at IS NULL"), 0);
    host_result_free(&r);
}

/* --check-config runs each init in a worker too: a crash is one problem reported, not a crash. */
static void test_check_config_survives_a_crashing_init(void **state)
{
    test_env *env = *state;
    write_config(env, "", "\"init_does\": \"segfault\"");
    const char *args[] = {"--check-config", NULL};
    host_result r;
    host_run(env, &r, args);
    if (r.exit_code != 2)
        fail_msg("--check-config exited %d\n%s\n%s", r.exit_code, r.out, r.err);
    assert_contains(r.out, "plugins.misbehave instance 'bad': worker failed during init: the "
                           "worker ended (killed by signal 11 (Segmentation fault)");
    assert_contains(r.out, ": 2 instance(s) checked, 1 problem(s)\n");
    assert_lacks(r.out, "instance 'good'");
    host_result_free(&r);
}

/* "isolation": "none" keeps plugins in the host's process, as before. */
static void test_isolation_none_runs_in_process(void **state)
{
    test_env *env = *state;
    env_add_plugin(env, "example");
    env_write_config(env, "{\"isolation\": \"none\", \"plugins\": {\"example\": "
                          "{\"instances\": [{\"id\": \"a\"}]}}}");
    const char *args[] = {"--polls", "2", "--fake-clock", FAKE_CLOCK, NULL};
    host_result r;
    host_run(env, &r, args);
    assert_int_equal(r.exit_code, expected_exit(&r));
    assert_int_equal(count_lines(r.out), 2);
    assert_contains(r.err, "info plugin example/a: started (plugin version 1.0.0)\n");
    assert_lacks(r.err, "worker pid");
    host_result_free(&r);
}

/*
 * In process, a hung poll cannot be killed: it is given up at its deadline
 * (a failed poll, backoff) and its thread left to itself, while the good
 * instance goes on polling and SIGTERM still ends the host within its grace.
 */
static void test_isolation_none_gives_up_a_hung_poll(void **state)
{
    check_hang(state, "hang", "none", "in process) was left ",
               "running on its thread (a plugin in process cannot be killed); it held no lease");
}

/*
 * A worker's exit runs plugin code (destructors): one that never ends is
 * killed at a deadline, both after describing itself and at shutdown, and the
 * other instance polls on.
 */
static void test_a_worker_that_hangs_at_exit_is_killed(void **state)
{
    test_env *env = *state;
    env_add_plugin(env, "example");
    env_add_plugin(env, "exit_hangs");
    char config[320];
    snprintf(config, sizeof config,
             "{\"poll_timeout_seconds\": %d, \"shutdown_grace_seconds\": 1, \"plugins\": "
             "{\"example\": {\"instances\": [{\"id\": \"good\"}]}, "
             "\"exit_hangs\": {\"instances\": [{\"id\": \"bad\"}]}}}",
             hang_timeout_seconds());
    env_write_config(env, config);
    const char *args[] = {"--polls", "2", "--fake-clock", FAKE_CLOCK, NULL};
    host_result r;
    host_run(env, &r, args);
    if (r.exit_code != expected_exit(&r))
        fail_msg("host exited %d\n%s", r.exit_code, r.err);
    assert_int_equal(count_lines_with(r.out, "\"source\":\"example\""), 2);
    assert_contains(r.err, "exit_hangs.so' was still exiting ");
    assert_contains(r.err, " ms after describing itself; killed by signal 9");
    assert_contains(r.err, "plugin exit_hangs/bad: worker (pid ");
    assert_contains(r.err, ") was still shutting down at the deadline; killed by signal 9");
    host_result_free(&r);
}

int main(void)
{
    /* Let a crash be the signal it is, not a sanitizer's report and exit status. */
    setenv("ASAN_OPTIONS", "handle_segv=0:handle_abort=0", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_segfault, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_abort, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_exit, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_crash_inside_the_lease_rolls_back, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_hang, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_hang_holding_a_write_lease, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_a_hung_writer_is_stopped_at_the_write_lease_deadline,
                                        env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_a_worker_leaves_no_core_file, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_a_plugins_child_dies_with_its_worker, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_a_crash_is_seen_though_a_child_holds_the_channel,
                                        env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_an_escaped_flooding_child_is_killed, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_a_daemon_a_plugin_starts_is_killed, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_a_killed_hosts_leftovers_end_at_the_next_start,
                                        env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_a_worker_inherits_no_stray_descriptor, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_a_stalled_stdout_reader_blocks_nothing, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_a_log_flood_is_rate_limited, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_sigterm_during_a_big_batch, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_stdout_never_reaches_the_task_stream, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_plugin_sql_cannot_touch_the_host_tables, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_a_bad_outbox_row_is_set_aside, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_fast_leak_is_stopped_at_the_memory_limit, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_a_thread_growing_after_its_poll_is_stopped, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_a_child_growing_after_its_poll_is_stopped, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_sigterm_is_bounded_by_the_grace, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_init_that_hangs_is_killed_at_its_deadline, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_init_that_crashes_is_reported, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_a_restart_that_hangs_in_init_holds_no_one_up,
                                        env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_a_restart_whose_init_fails_is_a_failed_poll, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_sigterm_during_a_hung_init, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_check_config_survives_a_crashing_init, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_a_worker_that_hangs_at_exit_is_killed, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_isolation_none_runs_in_process, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_isolation_none_gives_up_a_hung_poll, env_setup,
                                        env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
