/*
 * Helpers for tests that run the real host_stub binary: a scratch directory
 * with a plugins dir, config and database, and a runner that captures exit
 * code, stdout and stderr. PA_TEST_WRAPPER (e.g. "valgrind --error-exitcode=99")
 * prefixes every host_stub command line.
 */
#ifndef RUN_HOST_H
#define RUN_HOST_H

#include <stdbool.h>
#include <sys/types.h>

typedef struct test_env {
    char dir[64];
    char plugins[128];
    char config[128];
    char db[128];     /* the --db: a SQLite file, or a PostgreSQL URL (PA_TEST_BACKEND) */
    char pg_name[64]; /* the PostgreSQL database made for this test, or "" */
    char out_path[128];
    char err_path[128];
    char control[128]; /* the control socket its hosts answer on (PA_CONTROL_SOCKET) */
    pid_t pid;         /* a host_stub started and not yet waited for: killed by env_destroy */
    bool bounded;      /* the last host_start was given --polls */
} test_env;

typedef struct host_result {
    int exit_code; /* -signal when killed by a signal */
    bool bounded;  /* a --polls run */
    char *out;
    char *err;
} host_result;

void env_create(test_env *env);
/* cmocka fixtures: *state is a new test_env, destroyed (and its host killed) afterwards. */
int env_setup(void **state);
int env_teardown(void **state);
void env_destroy(test_env *env);
/* Copies the built test plugin NAME.so into the env's plugins dir (mode 0755). */
void env_add_plugin(test_env *env, const char *name);
/* Copies the .so at path into the env's plugins dir under its own name. */
void env_install_plugin(test_env *env, const char *path);
void env_write_config(test_env *env, const char *json);

/*
 * Starts command (NULL-terminated argv; argv[0] a path) behind PA_TEST_WRAPPER,
 * with stdout and stderr into the given files.
 */
pid_t spawn_wrapped(const char *const *command, const char *out_path, const char *err_path);

/* Runs host_stub --plugins --config --db plus args (NULL-terminated) to completion. */
void host_run(test_env *env, host_result *result, const char *const *args);
/* Starts host_stub in the background; collect with host_wait. */
pid_t host_start(test_env *env, const char *const *args);
void host_wait(test_env *env, pid_t pid, host_result *result);
/*
 * Runs host_stub with args only (no --plugins, --config, --db: "status",
 * "ctl poll x", ...) to completion, its output in files of its own.
 */
void host_command(test_env *env, host_result *result, const char *const *args);
void host_result_free(host_result *result);
/*
 * What a run must exit with, judged by its log: a bounded one (--polls) 3
 * when a poll failed or an instance did not start, else 0; one stopped by a
 * signal 0 (docs/OPERATIONS.md).
 */
int expected_exit(const host_result *result);

char *read_file(const char *path);
/* Runs a query returning one integer on the env's database (either engine). */
long db_scalar(test_env *env, const char *sql);
/* Number of lines in text containing needle. */
/* Runs sql (no result) on the test's database, whichever the engine; fails the test on error. */
void db_exec_sql(test_env *env, const char *sql);
int count_lines_with(const char *text, const char *needle);
int count_lines(const char *text);

/* Fail the test, printing text, unless it contains (or lacks) needle. */
void assert_contains(const char *text, const char *needle);
void assert_lacks(const char *text, const char *needle);

struct cJSON;
/* The string member key of a JSON object; fails the test when it is not a string. */
const char *json_str(const struct cJSON *object, const char *key);

#endif
