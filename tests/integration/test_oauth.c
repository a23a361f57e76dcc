/*
 * Granola login and token lifecycle through the real commands: granola_login
 * with a scripted browser (an HTTP client that follows the authorize
 * redirect), then host_stub + granola.so renewing tokens, all against
 * fake_granola --oauth on 127.0.0.1.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fake_server.h"
#include "run_host.h"

typedef struct ctx {
    test_env env;
    fake_server server;
    char fixture[160];
    char token_path[160];
    char login_out[160];
    char login_err[160];
    char *outputs; /* everything every command printed, checked for secrets at the end */
    size_t outputs_len;
} ctx;

static void remember_output(ctx *c, const char *text)
{
    size_t n = strlen(text);
    c->outputs = realloc(c->outputs, c->outputs_len + n + 2);
    memcpy(c->outputs + c->outputs_len, text, n);
    c->outputs_len += n;
    c->outputs[c->outputs_len++] = '\n';
    c->outputs[c->outputs_len] = '\0';
}

static int setup(void **state)
{
    ctx *c = calloc(1, sizeof *c);
    env_create(&c->env);
    env_install_plugin(&c->env, PA_GRANOLA_SO);
    snprintf(c->fixture, sizeof c->fixture, "%s/fixture.json", c->env.dir);
    snprintf(c->token_path, sizeof c->token_path, "%s/token.granola.json", c->env.dir);
    snprintf(c->login_out, sizeof c->login_out, "%s/login.out", c->env.dir);
    snprintf(c->login_err, sizeof c->login_err, "%s/login.err", c->env.dir);
    FILE *f = fopen(c->fixture, "w");
    assert_non_null(f);
    fputs("{\"meetings\": [{\"id\": \"m-1\", \"title\": \"Planning\", \"days_ago\": 1, "
          "\"summary\": \"Decide the plan.\"}]}",
          f);
    fclose(f);
    const char *args[] = {"--oauth", NULL};
    fake_start(&c->server, c->fixture, args);
    char config[1024];
    snprintf(config, sizeof config,
             "{\"plugins\": {\"granola\": {\"instances\": [{\"id\": \"work\", \"workspace_id\": "
             "\"work\", \"token_path\": \"%s\", \"server_url\": \"%s\"}]}}}",
             c->token_path, c->server.url);
    env_write_config(&c->env, config);
    *state = c;
    return 0;
}

/* No token or refresh token the server ever issued may appear in any output. */
static void assert_no_secret_leaked(ctx *c)
{
    cJSON *stats = fake_stats(&c->server);
    const cJSON *issued = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(stats, "oauth"), "issued");
    const cJSON *t;
    cJSON_ArrayForEach(t, issued)
    {
        if (c->outputs && strstr(c->outputs, t->valuestring))
            fail_msg("an issued token appeared in the output of a command");
    }
    cJSON_Delete(stats);
}

static int teardown(void **state)
{
    ctx *c = *state;
    assert_no_secret_leaked(c);
    fake_stop(&c->server);
    env_destroy(&c->env);
    free(c->outputs);
    free(c);
    return 0;
}

static long oauth_stat(ctx *c, const char *key)
{
    cJSON *stats = fake_stats(&c->server);
    const cJSON *v =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(stats, "oauth"), key);
    long n = cJSON_IsNumber(v) ? (long)v->valuedouble : -1;
    cJSON_Delete(stats);
    return n;
}

static pid_t start_login(ctx *c, const char *const *extra)
{
    const char *argv[32] = {PA_GRANOLA_LOGIN, "--instance", "work", "--config",
                            c->env.config,    "--port",     "0",    "--no-browser",
                            "--timeout",      "30"};
    int argc = 10;
    for (int i = 0; extra && extra[i] && argc < 31; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;
    /* Gone before the child starts, so wait_for_url never reads an earlier run's URL. */
    unlink(c->login_out);
    unlink(c->login_err);
    return spawn_wrapped(argv, c->login_out, c->login_err);
}

/* The authorization URL granola_login printed (caller frees). */
static char *wait_for_url(ctx *c)
{
    for (int i = 0; i < 60 * 100; i++) {
        char *text = read_file(c->login_out);
        char *url = strstr(text, "http://127.0.0.1:");
        char *eol = url ? strchr(url, '\n') : NULL;
        if (eol) {
            char *copy = strndup(url, (size_t)(eol - url));
            free(text);
            return copy;
        }
        free(text);
        text = read_file(c->login_err);
        if (text[0]) /* it gave up before printing a URL: no need to wait out the clock */
            fail_msg("granola_login printed no URL:\n%s", text);
        free(text);
        usleep(10000);
    }
    fail_msg("granola_login printed no URL:\n%s", read_file(c->login_err));
    return NULL;
}

static size_t ignore_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    (void)data, (void)userdata;
    return size * nmemb;
}

/* The scripted browser: GET the URL and follow redirects to the callback. */
static long browse(const char *url)
{
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 3L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, ignore_body);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    long status = 0;
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    return status;
}

typedef struct login_result {
    int exit_code;
    char *out, *err;
} login_result;

static void finish_login(ctx *c, pid_t pid, login_result *r)
{
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    r->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r->out = read_file(c->login_out);
    r->err = read_file(c->login_err);
    remember_output(c, r->out);
    remember_output(c, r->err);
    if (r->exit_code == 99)
        fail_msg("valgrind reported errors:\n%s", r->err);
}

static void login_result_free(login_result *r)
{
    free(r->out);
    free(r->err);
}

/* A whole successful login; returns nothing, fails the test otherwise. */
static void log_in(ctx *c)
{
    pid_t pid = start_login(c, NULL);
    char *url = wait_for_url(c);
    assert_int_equal(browse(url), 200);
    free(url);
    login_result r;
    finish_login(c, pid, &r);
    if (r.exit_code != 0)
        fail_msg("login failed:\n%s", r.err);
    login_result_free(&r);
}

static void run_host_polls(ctx *c, const char *fake_clock, host_result *r)
{
    const char *args[] = {"--polls",  "1", "--verbose", fake_clock ? "--fake-clock" : NULL,
                          fake_clock, NULL};
    host_run(&c->env, r, args);
    remember_output(c, r->out);
    remember_output(c, r->err);
    if (r->exit_code != expected_exit(r))
        fail_msg("host_stub exited %d:\n%s", r->exit_code, r->err);
}

/* A --fake-clock value near the token's expiry: tokens last 3600 s, and 3400 s later is
 * inside the 300 s refresh skew, so the next poll renews. */
static void near_expiry_clock(char out[32])
{
    snprintf(out, 32, "%lld", (long long)time(NULL) + 3400);
}

static cJSON *read_token_file(ctx *c)
{
    char *text = read_file(c->token_path);
    cJSON *o = cJSON_Parse(text);
    free(text);
    assert_non_null(o);
    return o;
}

static void test_login_through_the_real_command(void **state)
{
    ctx *c = *state;
    pid_t pid = start_login(c, NULL);
    char *url = wait_for_url(c);
    /* The authorize request carries PKCE S256, state and the resource. */
    assert_contains(url, "/oauth2/authorize?response_type=code&client_id=client-");
    assert_contains(url, "&code_challenge_method=S256&state=");
    assert_contains(url, "&resource=http%3A%2F%2F127.0.0.1%3A");
    assert_int_equal(browse(url), 200);
    free(url);
    login_result r;
    finish_login(c, pid, &r);
    assert_int_equal(r.exit_code, 0);
    assert_contains(r.out, "Logged in to Granola for instance 'work'; token saved to ");
    login_result_free(&r);

    struct stat st;
    assert_int_equal(stat(c->token_path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    cJSON *t = read_token_file(c);
    assert_true(strncmp(json_str(t, "access_token"), "at-", 3) == 0);
    assert_true(strncmp(json_str(t, "refresh_token"), "rt-", 3) == 0);
    assert_true(strncmp(json_str(t, "client_id"), "client-", 7) == 0);
    assert_string_equal(json_str(t, "resource"), c->server.url);
    assert_contains(json_str(t, "token_endpoint"), "/oauth2/token");
    assert_non_null(cJSON_GetObjectItemCaseSensitive(t, "expires_at"));
    cJSON_Delete(t);
    assert_int_equal(oauth_stat(c, "registrations"), 1);
    assert_int_equal(oauth_stat(c, "code_grants"), 1);

    host_result hr;
    run_host_polls(c, NULL, &hr);
    assert_int_equal(count_lines(hr.out), 1);
    assert_lacks(hr.err, "poll failed");
    host_result_free(&hr);
}

/*
 * In a container the callback's port is published to the host's 127.0.0.1,
 * which reaches the container's own address, not its loopback: --listen
 * 0.0.0.0 takes the callback there, and the redirect URI still names
 * 127.0.0.1, where the browser is. An address that is not one is a usage error.
 */
static void test_login_listens_where_asked(void **state)
{
    ctx *c = *state;
    const char *const everywhere[] = {"--listen", "0.0.0.0", NULL};
    pid_t pid = start_login(c, everywhere);
    char *url = wait_for_url(c);
    assert_contains(url, "redirect_uri=http%3A%2F%2F127.0.0.1%3A");
    assert_int_equal(browse(url), 200);
    free(url);
    login_result r;
    finish_login(c, pid, &r);
    assert_int_equal(r.exit_code, 0);
    assert_contains(r.out, "Waiting for the browser on http://127.0.0.1:");
    login_result_free(&r);

    const char *const bad[] = {"--listen", "localhost", NULL};
    finish_login(c, start_login(c, bad), &r);
    assert_int_equal(r.exit_code, 2);
    assert_contains(r.err, "--listen: expected an IPv4 address such as 0.0.0.0, got 'localhost'");
    login_result_free(&r);
}

/* What the scripted browser does with the authorization URL. */
typedef enum browser_mode { NO_BROWSER, BROWSE, BROWSE_WITH_WRONG_STATE } browser_mode;

static void expect_login_failure(ctx *c, const char *const *extra, browser_mode mode,
                                 const char *message)
{
    pid_t pid = start_login(c, extra);
    if (mode != NO_BROWSER) {
        char *url = wait_for_url(c);
        if (mode == BROWSE_WITH_WRONG_STATE) {
            char *s = strstr(url, "&state=") + 7;
            s[0] = s[0] == 'A' ? 'B' : 'A';
        }
        browse(url);
        free(url);
    }
    login_result r;
    finish_login(c, pid, &r);
    assert_int_equal(r.exit_code, 1);
    assert_contains(r.err, message);
    assert_int_equal(access(c->token_path, F_OK), -1); /* nothing saved */
    login_result_free(&r);
}

static void test_wrong_state_is_rejected(void **state)
{
    ctx *c = *state;
    expect_login_failure(c, NULL, BROWSE_WITH_WRONG_STATE,
                         "granola_login: login failed: the callback's state does not match this "
                         "login (a forged or stale redirect); nothing was saved");
}

static void test_pkce_mismatch_is_rejected(void **state)
{
    ctx *c = *state;
    fake_control(&c->server, "{\"corrupt_challenge\": true}");
    expect_login_failure(c, NULL, BROWSE,
                         "login failed: token request failed (HTTP 400): invalid_grant: PKCE "
                         "verification failed");
}

static void test_failed_steps_are_named(void **state)
{
    ctx *c = *state;
    fake_control(&c->server, "{\"oauth_fail\": {\"step\": \"register\", \"status\": 500}}");
    expect_login_failure(c, NULL, NO_BROWSER,
                         "login failed: client registration failed (HTTP 500)");
    fake_control(&c->server, "{\"oauth_fail\": {\"step\": \"metadata\", \"status\": 500}}");
    expect_login_failure(c, NULL, NO_BROWSER,
                         "login failed: protected-resource metadata: "
                         "http://127.0.0.1:");
    fake_control(&c->server, "{\"oauth_fail\": {\"step\": \"token\", \"status\": 503}}");
    expect_login_failure(c, NULL, BROWSE, "login failed: token request failed (HTTP 503)");
}

static void test_configured_client_id_skips_registration(void **state)
{
    ctx *c = *state;
    const char *extra[] = {"--client-id", "client-preregistered", NULL};
    /* The fake server knows no such client: authorize refuses, so nothing comes back. */
    pid_t pid = start_login(c, extra);
    char *url = wait_for_url(c);
    assert_contains(url, "client_id=client-preregistered&");
    free(url);
    kill(pid, SIGTERM);
    login_result r;
    finish_login(c, pid, &r);
    login_result_free(&r);
    assert_int_equal(oauth_stat(c, "registrations"), 0);

    /* The same from the instance's client_id in host.json. */
    char config[1024];
    snprintf(config, sizeof config,
             "{\"plugins\": {\"granola\": {\"instances\": [{\"id\": \"work\", \"workspace_id\": "
             "\"work\", \"token_path\": \"%s\", \"server_url\": \"%s\", \"client_id\": "
             "\"client-from-config\"}]}}}",
             c->token_path, c->server.url);
    env_write_config(&c->env, config);
    pid = start_login(c, NULL);
    url = wait_for_url(c);
    assert_contains(url, "client_id=client-from-config&");
    free(url);
    kill(pid, SIGTERM);
    finish_login(c, pid, &r);
    login_result_free(&r);
    assert_int_equal(oauth_stat(c, "registrations"), 0);
}

static void test_callback_times_out(void **state)
{
    ctx *c = *state;
    const char *extra[] = {"--timeout", "1", NULL};
    expect_login_failure(c, extra, NO_BROWSER,
                         "login failed: timed out after 1 s waiting for the browser to come back "
                         "to the callback");
}

static void test_refresh_before_expiry_is_persisted(void **state)
{
    ctx *c = *state;
    log_in(c);
    cJSON *before = read_token_file(c);
    char *old_refresh = strdup(json_str(before, "refresh_token"));
    cJSON_Delete(before);
    char later[32];
    near_expiry_clock(later);
    host_result r;
    run_host_polls(c, later, &r);
    assert_contains(r.err, "renewed the Granola token (it expires soon)");
    assert_lacks(r.err, "poll failed");
    assert_int_equal(count_lines(r.out), 1);
    host_result_free(&r);
    assert_int_equal(oauth_stat(c, "refresh_grants"), 1);
    cJSON *after = read_token_file(c);
    assert_string_not_equal(json_str(after, "refresh_token"), old_refresh);
    cJSON_Delete(after);
    free(old_refresh);
    struct stat st;
    assert_int_equal(stat(c->token_path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

static void test_refresh_on_401_and_rotation(void **state)
{
    ctx *c = *state;
    log_in(c);
    for (int round = 1; round <= 2; round++) {
        /* Each round needs the refresh token the previous one saved. */
        fake_control(&c->server, "{\"revoke_access\": true}");
        host_result r;
        run_host_polls(c, NULL, &r);
        assert_contains(r.err, "renewed the Granola token (the server refused it)");
        assert_lacks(r.err, "poll failed");
        host_result_free(&r);
        assert_int_equal(oauth_stat(c, "refresh_grants"), round);
    }
    assert_int_equal(oauth_stat(c, "rejected"), 0);
}

/* Rewrites the token file as the existing agent writes it: no token_endpoint, Python's expires_at.
 */
static void write_agent_token_file(ctx *c, const char *custom)
{
    cJSON *t = read_token_file(c);
    time_t expires = time(NULL) + 3600;
    struct tm tm;
    gmtime_r(&expires, &tm);
    char stamp[64], day[32];
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp, sizeof stamp, "%s.123456+00:00", day);
    char text[4096];
    snprintf(text, sizeof text,
             "{\"access_token\": \"%s\", \"token_type\": \"Bearer\", \"expires_in\": 3600, "
             "\"refresh_token\": \"%s\", \"scope\": \"mcp offline_access\", \"client_id\": "
             "\"%s\", \"expires_at\": \"%s\", \"custom\": \"%s\"}",
             json_str(t, "access_token"), json_str(t, "refresh_token"), json_str(t, "client_id"),
             stamp, custom);
    cJSON_Delete(t);
    FILE *f = fopen(c->token_path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(c->token_path, 0600), 0);
}

static bool is_python_isoformat_utc(const char *v)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddddd+00:00";
    if (strlen(v) != sizeof shape - 1)
        return false;
    for (size_t i = 0; shape[i]; i++) {
        if (shape[i] == 'd' ? (v[i] < '0' || v[i] > '9') : v[i] != shape[i])
            return false;
    }
    return true;
}

static void test_agent_token_file_is_renewed_and_keeps_its_fields(void **state)
{
    ctx *c = *state;
    log_in(c);
    write_agent_token_file(c, "kept as is");
    char later[32];
    near_expiry_clock(later);
    host_result r;
    run_host_polls(c, later, &r);
    assert_contains(r.err, "discovered the token endpoint for renewal: http://127.0.0.1:");
    assert_contains(r.err, "renewed the Granola token (it expires soon)");
    assert_int_equal(count_lines(r.out), 1);
    host_result_free(&r);
    cJSON *t = read_token_file(c);
    assert_true(strstr(json_str(t, "token_endpoint"), "/oauth2/token") != NULL);
    assert_string_equal(json_str(t, "custom"), "kept as is");
    assert_string_equal(json_str(t, "token_type"), "Bearer");
    assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(t, "expires_in")));
    if (!is_python_isoformat_utc(json_str(t, "expires_at")))
        fail_msg("expires_at %s is not in the agent's form", json_str(t, "expires_at"));
    cJSON_Delete(t);
    assert_int_equal(oauth_stat(c, "refresh_grants"), 1);
    assert_int_equal(oauth_stat(c, "rejected"), 0);
}

/*
 * Killed at each instant of a renewal (the worker process doing it), the next
 * run still polls with a valid
 * token: no forced login, and no refresh token is ever sent twice.
 */
static void test_renewal_survives_a_kill_at_every_point(void **state)
{
    ctx *c = *state;
    const char *points[] = {"renewal:before_request", "token_save:pending_written",
                            "token_save:renamed"};
    long grants = 0;
    for (size_t i = 0; i < sizeof points / sizeof points[0]; i++) {
        log_in(c);
        char later[32];
        near_expiry_clock(later);
        const char *args[] = {"--polls", "1", "--fake-clock", later, NULL};
        setenv("PA_TEST_CRASH_AT", points[i], 1);
        host_result r;
        host_run(&c->env, &r, args);
        unsetenv("PA_TEST_CRASH_AT");
        remember_output(c, r.err);
        /* The kill takes the instance's worker; the supervisor logs it and carries on. */
        if (r.exit_code != 3 || !strstr(r.err, "killed by signal 9 (Killed) during the poll"))
            fail_msg("%s: expected the worker killed and the host to carry on, exit %d\n%s",
                     points[i], r.exit_code, r.err);
        host_result_free(&r);
        run_host_polls(c, later, &r);
        if (strstr(r.err, "poll failed") || strstr(r.err, "log in again"))
            fail_msg("after a kill at %s:\n%s", points[i], r.err);
        if (i == 1)
            assert_contains(r.err, "the last token renewal was interrupted after the new token "
                                   "was saved aside; using it");
        host_result_free(&r);
        grants++; /* exactly one renewal reached the server per round */
        assert_int_equal(oauth_stat(c, "refresh_grants"), grants);
        assert_int_equal(oauth_stat(c, "rejected"), 0);
        char pending[200];
        snprintf(pending, sizeof pending, "%s.pending", c->token_path);
        assert_int_equal(access(pending, F_OK), -1);
    }
}

/* Points the instance at another token path (rewrites host.json). */
static void set_token_path(ctx *c, const char *path)
{
    snprintf(c->token_path, sizeof c->token_path, "%s", path);
    char config[1024];
    snprintf(config, sizeof config,
             "{\"plugins\": {\"granola\": {\"instances\": [{\"id\": \"work\", \"workspace_id\": "
             "\"work\", \"token_path\": \"%s\", \"server_url\": \"%s\"}]}}}",
             c->token_path, c->server.url);
    env_write_config(&c->env, config);
}

static void test_fresh_machine_login_creates_the_token_folder(void **state)
{
    ctx *c = *state;
    char path[160], folder[120];
    snprintf(folder, sizeof folder, "%.80s/home/.personal-assistant", c->env.dir);
    snprintf(path, sizeof path, "%s/token.granola.json", folder);
    set_token_path(c, path);
    log_in(c);
    struct stat st;
    assert_int_equal(stat(folder, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    host_result r;
    run_host_polls(c, NULL, &r);
    assert_int_equal(count_lines(r.out), 1);
    host_result_free(&r);
}

static void test_browser_hears_the_outcome_only_after_the_save(void **state)
{
    ctx *c = *state;
    /* The token path is a directory: the exchange works, the save cannot. */
    assert_int_equal(mkdir(c->token_path, 0700), 0);
    pid_t pid = start_login(c, NULL);
    char *url = wait_for_url(c);
    assert_int_equal(browse(url), 500); /* not "Logged in": nothing was saved */
    free(url);
    login_result r;
    finish_login(c, pid, &r);
    assert_int_equal(r.exit_code, 1);
    assert_contains(r.err, "cannot save the token to");
    assert_lacks(r.out, "Logged in");
    login_result_free(&r);
    assert_int_equal(oauth_stat(c, "code_grants"), 1);
}

static void test_stored_client_is_reused(void **state)
{
    ctx *c = *state;
    log_in(c);
    pid_t pid = start_login(c, NULL);
    char *url = wait_for_url(c);
    assert_int_equal(browse(url), 200);
    free(url);
    login_result r;
    finish_login(c, pid, &r);
    assert_int_equal(r.exit_code, 0);
    assert_contains(r.out, "Reusing the OAuth client from");
    login_result_free(&r);
    assert_int_equal(oauth_stat(c, "registrations"), 1);
}

static void test_browser_variable_comes_before_xdg_open(void **state)
{
    ctx *c = *state;
    char script[200], seen[200];
    snprintf(script, sizeof script, "%s/browser.sh", c->env.dir);
    snprintf(seen, sizeof seen, "%s/browser.url", c->env.dir);
    char text[1024];
    snprintf(text, sizeof text, "#!/bin/sh\nprintf '%%s\\n' \"$1\" > %s.tmp && mv %s.tmp %s\n",
             seen, seen, seen);
    FILE *f = fopen(script, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(script, 0700), 0);
    char browser[256];
    snprintf(browser, sizeof browser, "%s:no-such-browser", script);
    setenv("BROWSER", browser, 1);
    const char *argv[] = {PA_GRANOLA_LOGIN, "--instance", "work",      "--config", c->env.config,
                          "--port",         "0",          "--timeout", "30",       NULL};
    unlink(c->login_out);
    unlink(c->login_err);
    pid_t pid = spawn_wrapped(argv, c->login_out, c->login_err);
    unsetenv("BROWSER");
    char *url = NULL;
    for (int i = 0; i < 3000 && !url; i++) {
        char *got = read_file(seen);
        if (strstr(got, "http://"))
            url = strndup(got, strcspn(got, "\n"));
        free(got);
        if (!url)
            usleep(10000);
    }
    assert_non_null(url);
    assert_int_equal(browse(url), 200);
    free(url);
    login_result r;
    finish_login(c, pid, &r);
    assert_int_equal(r.exit_code, 0);
    login_result_free(&r);
}

/* The port the login waits on, from its "Waiting for the browser on ..." line. */
static int callback_port(ctx *c)
{
    char *out = read_file(c->login_out);
    const char *at = strstr(out, "Waiting for the browser on http://127.0.0.1:");
    int port = at ? atoi(at + strlen("Waiting for the browser on http://127.0.0.1:")) : 0;
    free(out);
    assert_true(port > 0);
    return port;
}

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    return fd;
}

static void test_idle_connections_do_not_delay_the_callback(void **state)
{
    ctx *c = *state;
    /* Three preconnects that never speak, and a 4 s limit for the whole login. */
    const char *extra[] = {"--timeout", "4", NULL};
    pid_t pid = start_login(c, extra);
    char *url = wait_for_url(c);
    int port = callback_port(c);
    int idle[3];
    for (int i = 0; i < 3; i++)
        idle[i] = connect_to(port);
    assert_int_equal(browse(url), 200);
    free(url);
    login_result r;
    finish_login(c, pid, &r);
    assert_int_equal(r.exit_code, 0);
    login_result_free(&r);
    for (int i = 0; i < 3; i++)
        close(idle[i]);
}

static void test_a_slow_client_does_not_stretch_the_timeout(void **state)
{
    ctx *c = *state;
    const char *extra[] = {"--timeout", "2", NULL};
    pid_t pid = start_login(c, extra);
    free(wait_for_url(c));
    int fd = connect_to(callback_port(c));
    /* One byte every 100 ms, never a whole request; the login must still end on time: within
     * 30 s for --timeout 2, room for valgrind's exit on a loaded machine. The old listener
     * read the slow client for as long as it kept sending: 8191 bytes, 13 minutes. */
    int status = 0;
    pid_t done = 0;
    for (int i = 0; i < 300 && done == 0; i++) {
        if (send(fd, "G", 1, MSG_NOSIGNAL) != 1)
            break;
        usleep(100000);
        done = waitpid(pid, &status, WNOHANG);
    }
    close(fd);
    if (done == 0)
        fail_msg("granola_login --timeout 2 was still running after 30 s of a slow client");
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    char *err = read_file(c->login_err);
    assert_contains(err, "timed out after 2 s waiting for the browser");
    remember_output(c, err);
    free(err);
}

/* granola_login reads its instance itself: a missing id or a bad file is a usage error. */
static void test_login_names_a_missing_instance_or_bad_file(void **state)
{
    ctx *c = *state;
    const char *argv[] = {PA_GRANOLA_LOGIN, "--instance",   "nope", "--config",
                          c->env.config,    "--no-browser", NULL};
    pid_t pid = spawn_wrapped(argv, c->login_out, c->login_err);
    login_result r;
    finish_login(c, pid, &r);
    assert_int_equal(r.exit_code, 2);
    assert_contains(r.err, "no granola instance with id 'nope'");
    login_result_free(&r);
    env_write_config(&c->env, "{\"plugins\": {}} trailing");
    const char *again[] = {PA_GRANOLA_LOGIN, "--instance",   "work", "--config",
                           c->env.config,    "--no-browser", NULL};
    pid = spawn_wrapped(again, c->login_out, c->login_err);
    finish_login(c, pid, &r);
    assert_int_equal(r.exit_code, 2);
    assert_contains(r.err, "content after the JSON value at byte 16");
    login_result_free(&r);
    const char *version[] = {PA_GRANOLA_LOGIN, "--version", NULL};
    pid = spawn_wrapped(version, c->login_out, c->login_err);
    finish_login(c, pid, &r);
    assert_int_equal(r.exit_code, 0);
    assert_contains(r.out, "granola_login 0.1.0\nplugin ABI 1.5\nlibcurl ");
    login_result_free(&r);
}

static void test_failed_refresh_leaves_the_file_untouched(void **state)
{
    ctx *c = *state;
    log_in(c);
    char *before = read_file(c->token_path);
    fake_control(&c->server, "{\"revoke_access\": true, \"oauth_fail\": {\"step\": \"refresh\", "
                             "\"status\": 400}}");
    host_result r;
    run_host_polls(c, NULL, &r);
    assert_contains(r.err, "poll failed (1 in a row): renewing the Granola token (the server "
                           "refused it) failed: token refresh failed (HTTP 400): invalid_grant: "
                           "refresh refused; log in again (granola_login --instance work) "
                           "(PA_ERR_AUTH)");
    host_result_free(&r);
    char *after = read_file(c->token_path);
    assert_string_equal(after, before);
    free(before);
    free(after);
}

static void test_token_file_readable_by_others_is_refused(void **state)
{
    ctx *c = *state;
    log_in(c);
    assert_int_equal(chmod(c->token_path, 0644), 0);
    host_result r;
    run_host_polls(c, NULL, &r);
    char expected[512];
    snprintf(expected, sizeof expected,
             "refusing token file %s: readable or writable by group or others (mode 0644); run: "
             "chmod 600 %s",
             c->token_path, c->token_path);
    assert_contains(r.err, expected);
    host_result_free(&r);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_login_listens_where_asked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login_through_the_real_command, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_state_is_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pkce_mismatch_is_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_steps_are_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_configured_client_id_skips_registration, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_callback_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refresh_before_expiry_is_persisted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refresh_on_401_and_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_token_file_is_renewed_and_keeps_its_fields,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_renewal_survives_a_kill_at_every_point, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fresh_machine_login_creates_the_token_folder, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_browser_hears_the_outcome_only_after_the_save, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stored_client_is_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_browser_variable_comes_before_xdg_open, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_idle_connections_do_not_delay_the_callback, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_slow_client_does_not_stretch_the_timeout, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_login_names_a_missing_instance_or_bad_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_failed_refresh_leaves_the_file_untouched, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_token_file_readable_by_others_is_refused, setup,
                                        teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
