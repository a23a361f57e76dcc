#include "run_host.h"
#include "pg_env.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

void env_create(test_env *env)
{
    memset(env, 0, sizeof *env);
    snprintf(env->dir, sizeof env->dir, "/tmp/pa_host_XXXXXX");
    assert_non_null(mkdtemp(env->dir));
    assert_int_equal(chmod(env->dir, 0755), 0);
    snprintf(env->plugins, sizeof env->plugins, "%s/plugins", env->dir);
    snprintf(env->config, sizeof env->config, "%s/host.json", env->dir);
    if (pg_backend_selected())
        pg_db_create(env->db, sizeof env->db, env->pg_name, sizeof env->pg_name);
    else
        snprintf(env->db, sizeof env->db, "%s/agent.db", env->dir);
    snprintf(env->out_path, sizeof env->out_path, "%s/stdout", env->dir);
    snprintf(env->err_path, sizeof env->err_path, "%s/stderr", env->dir);
    snprintf(env->control, sizeof env->control, "%s/control.sock", env->dir);
    /* Each test's hosts their own socket, never the user's default one. */
    assert_int_equal(setenv("PA_CONTROL_SOCKET", env->control, 1), 0);
    assert_int_equal(mkdir(env->plugins, 0755), 0);
}

int env_setup(void **state)
{
    test_env *env = malloc(sizeof *env);
    assert_non_null(env);
    env_create(env);
    *state = env;
    return 0;
}

int env_teardown(void **state)
{
    env_destroy(*state);
    free(*state);
    return 0;
}

void env_destroy(test_env *env)
{
    if (env->pid > 0) { /* a failed test left its host running */
        kill(env->pid, SIGKILL);
        waitpid(env->pid, NULL, 0);
        env->pid = 0;
    }
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", env->dir);
    assert_int_equal(system(cmd), 0);
    if (env->pg_name[0])
        pg_db_drop(env->pg_name);
}

void env_add_plugin(test_env *env, const char *name)
{
    char from[512];
    snprintf(from, sizeof from, "%s/%s.so", PA_TEST_PLUGIN_DIR, name);
    env_install_plugin(env, from);
}

void env_install_plugin(test_env *env, const char *from)
{
    char to[512];
    const char *base = strrchr(from, '/');
    snprintf(to, sizeof to, "%s/%s", env->plugins, base ? base + 1 : from);
    char *data = NULL;
    FILE *in = fopen(from, "rb");
    assert_non_null(in);
    assert_int_equal(fseek(in, 0, SEEK_END), 0);
    long size = ftell(in);
    rewind(in);
    data = malloc((size_t)size);
    assert_int_equal(fread(data, 1, (size_t)size, in), (size_t)size);
    fclose(in);
    int fd = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, (size_t)size), size);
    close(fd);
    free(data);
    assert_int_equal(chmod(to, 0755), 0);
}

void env_write_config(test_env *env, const char *json)
{
    FILE *f = fopen(env->config, "w");
    assert_non_null(f);
    fputs(json, f);
    fclose(f);
}

char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return strdup("");
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

pid_t spawn_wrapped(const char *const *command, const char *out_path, const char *err_path)
{
    const char *argv[96];
    int argc = 0;
    char wrapper[512] = "";
    const char *w = getenv("PA_TEST_WRAPPER");
    if (w && *w) {
        snprintf(wrapper, sizeof wrapper, "%s", w);
        for (char *tok = strtok(wrapper, " "); tok && argc < 32; tok = strtok(NULL, " "))
            argv[argc++] = tok;
    }
    for (int i = 0; command[i] && argc < 95; i++)
        argv[argc++] = command[i];
    argv[argc] = NULL;
    /*
     * Emptied here, before the fork: a test that waits for a line must never
     * find it in what an earlier process left in the same file.
     */
    for (int i = 0; i < 2; i++) {
        int fd = open(i ? err_path : out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        assert_true(fd >= 0);
        close(fd);
    }
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (out < 0 || err < 0)
            _exit(127);
        dup2(out, 1);
        dup2(err, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

pid_t host_start(test_env *env, const char *const *args)
{
    const char *argv[64] = {PA_HOST_STUB, "--plugins", env->plugins, "--config",
                            env->config,  "--db",      env->db};
    int argc = 7;
    env->bounded = false;
    for (int i = 0; args && args[i] && argc < 63; i++) {
        env->bounded = env->bounded || strcmp(args[i], "--polls") == 0;
        argv[argc++] = args[i];
    }
    argv[argc] = NULL;
    env->pid = spawn_wrapped(argv, env->out_path, env->err_path);
    return env->pid;
}

void host_command(test_env *env, host_result *result, const char *const *args)
{
    const char *argv[64] = {PA_HOST_STUB};
    int argc = 1;
    for (int i = 0; args[i] && argc < 63; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;
    char out[160], err[160];
    snprintf(out, sizeof out, "%s/command.out", env->dir);
    snprintf(err, sizeof err, "%s/command.err", env->dir);
    pid_t pid = spawn_wrapped(argv, out, err);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    result->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    result->bounded = false;
    result->out = read_file(out);
    result->err = read_file(err);
    if (result->exit_code == 99)
        fail_msg("valgrind reported errors:\n%s", result->err);
}

int expected_exit(const host_result *result)
{
    return result->bounded && (strstr(result->err, ": poll failed (") ||
                               strstr(result->err, "instance not started") ||
                               strstr(result->err, " will not run"))
               ? 3
               : 0;
}

void host_wait(test_env *env, pid_t pid, host_result *result)
{
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (env->pid == pid)
        env->pid = 0;
    result->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    result->bounded = env->bounded;
    result->out = read_file(env->out_path);
    result->err = read_file(env->err_path);
    /* 99 is valgrind's error status, for the host or (logged by it) for a worker. */
    if (result->exit_code == 99 || strstr(result->err, "exited with status 99"))
        fail_msg("valgrind reported errors:\n%s", result->err);
}

void host_run(test_env *env, host_result *result, const char *const *args)
{
    host_wait(env, host_start(env, args), result);
}

void host_result_free(host_result *result)
{
    free(result->out);
    free(result->err);
    result->out = result->err = NULL;
}

long db_scalar(test_env *env, const char *sql)
{
    if (env->pg_name[0])
        return pg_scalar(env->db, sql);
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(env->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *stmt;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    long v = (long)sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return v;
}

void db_exec_sql(test_env *env, const char *sql)
{
    if (env->pg_name[0]) {
        pg_exec(env->db, sql);
        return;
    }
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(env->db, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("%s: %s", sql, err ? err : "?");
    sqlite3_free(err);
    sqlite3_close(db);
}

int count_lines_with(const char *text, const char *needle)
{
    int n = 0;
    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        const char *hit = strstr(line, needle);
        if (hit && hit + strlen(needle) <= line + len)
            n++;
        line = end ? end + 1 : NULL;
    }
    return n;
}

int count_lines(const char *text)
{
    return count_lines_with(text, "");
}

void assert_contains(const char *text, const char *needle)
{
    if (!strstr(text, needle))
        fail_msg("expected to find\n  %s\nin\n%s", needle, text);
}

void assert_lacks(const char *text, const char *needle)
{
    if (strstr(text, needle))
        fail_msg("did not expect\n  %s\nin\n%s", needle, text);
}

const char *json_str(const cJSON *object, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(object, key);
    if (!cJSON_IsString(v))
        fail_msg("field %s is not a string", key);
    return v->valuestring;
}
