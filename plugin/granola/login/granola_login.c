/*
 * granola_login: log a Granola instance in once, OAuth 2.1 with PKCE.
 *
 *   granola_login --instance ID [--config FILE] [--port N] [--listen ADDR]
 *                 [--client-id ID] [--timeout SECONDS] [--no-browser]
 *
 * Reads the instance from host.json (server_url, token_path, client_id),
 * discovers the authorization server from the MCP server's 401, registers a
 * client unless a client id is configured, given with --client-id or stored
 * in the token file by the last login, opens the authorization URL ($BROWSER,
 * else xdg-open; the URL is always printed), receives the code on
 * http://127.0.0.1:PORT/callback (login_callback.c; the listener is on
 * 127.0.0.1 unless --listen names another address, as in a container whose
 * PORT is published to the host's 127.0.0.1), exchanges it and writes
 * the token file (mode 0600, its folder created 0700 when missing); only then
 * does the browser's page say whether it worked. Exit codes: 0 logged in,
 * 1 login failed, 2 usage or configuration error. No token is ever printed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "granola_config.h"
#include "http_client.h"
#include "login_callback.h"
#include "oauth.h"
#include "token_file.h"
#include "pa_plugin.h"
#include "secret.h"

#define EXIT_LOGIN_FAILED 1
#define EXIT_USAGE        2

extern char **environ;

typedef struct login_options {
    const char *instance;
    const char *config_path;
    long port;
    const char *listen_address;
    const char *client_id;
    long timeout_seconds;
    bool open_browser;
} login_options;

static void usage(FILE *out)
{
    fputs("usage: granola_login --instance ID [--config FILE] [--port N] [--listen ADDR]\n"
          "                     [--client-id ID] [--timeout SECONDS] [--no-browser]\n"
          "                     [-h|--help] [--version]\n"
          "defaults: --config ./host.json --port 8765 --listen 127.0.0.1 --timeout 300\n",
          out);
}

/* optarg as a whole number from min to max into *out; false, said on stderr, otherwise. */
static bool number_option(const char *name, long min, long max, const char *unit, long *out)
{
    char *end;
    errno = 0;
    long n = strtol(optarg, &end, 10);
    if (errno || end == optarg || *end || n < min || n > max) {
        fprintf(stderr, "granola_login: --%s: expected %ld to %ld%s, got '%s'\n", name, min, max,
                unit, optarg);
        return false;
    }
    *out = n;
    return true;
}

/* optarg as a dotted IPv4 address; false, said on stderr, otherwise. */
static bool address_option(const char **out)
{
    struct in_addr ignored;
    if (inet_pton(AF_INET, optarg, &ignored) != 1) {
        fprintf(stderr,
                "granola_login: --listen: expected an IPv4 address such as 0.0.0.0, got '%s'\n",
                optarg);
        return false;
    }
    *out = optarg;
    return true;
}

static int parse_options(int argc, char **argv, login_options *o)
{
    static const struct option longopts[] = {
        {"instance", required_argument, NULL, 'i'},  {"config", required_argument, NULL, 'c'},
        {"port", required_argument, NULL, 'p'},      {"listen", required_argument, NULL, 'l'},
        {"client-id", required_argument, NULL, 'C'}, {"timeout", required_argument, NULL, 't'},
        {"no-browser", no_argument, NULL, 'n'},      {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},         {NULL, 0, NULL, 0}};
    *o = (login_options){.config_path = "./host.json",
                         .port = 8765,
                         .listen_address = "127.0.0.1",
                         .timeout_seconds = 300,
                         .open_browser = true};
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'i':
            o->instance = optarg;
            break;
        case 'c':
            o->config_path = optarg;
            break;
        case 'p':
            if (!number_option("port", 0, 65535, "", &o->port))
                return EXIT_USAGE;
            break;
        case 'l':
            if (!address_option(&o->listen_address))
                return EXIT_USAGE;
            break;
        case 'C':
            o->client_id = optarg;
            break;
        case 't':
            if (!number_option("timeout", 1, 86400, " seconds", &o->timeout_seconds))
                return EXIT_USAGE;
            break;
        case 'n':
            o->open_browser = false;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        case 'V':
            printf("granola_login %s\nplugin ABI %u.%u\nlibcurl %s\nSQLite %s\n", PA_VERSION,
                   PA_ABI_VERSION_MAJOR, PA_ABI_VERSION_MINOR,
                   curl_version_info(CURLVERSION_NOW)->version, sqlite3_libversion());
            exit(0);
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (!o->instance || optind < argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    return 0;
}

/* The granola instance named id in host.json, validated like the plugin does. */
static int load_instance(const login_options *o, granola_config *out, char *err, size_t err_size)
{
    return granola_config_from_host_file(o->config_path, o->instance, out, err, err_size) == PA_OK
               ? 0
               : EXIT_USAGE;
}

/* Runs command (words split on spaces; "%s" replaced by url, else url appended). */
static pid_t spawn_browser(const char *command, const char *url)
{
    char copy[1024];
    char *argv[33];
    int argc = 0;
    bool substituted = false;
    snprintf(copy, sizeof copy, "%s", command);
    for (char *w = strtok(copy, " "); w && argc < 31; w = strtok(NULL, " ")) {
        substituted = substituted || strcmp(w, "%s") == 0;
        argv[argc++] = strcmp(w, "%s") == 0 ? (char *)url : w;
    }
    if (argc == 0)
        return 0;
    if (!substituted)
        argv[argc++] = (char *)url;
    argv[argc] = NULL;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid = 0;
    if (posix_spawnp(&pid, argv[0], &actions, NULL, argv, environ) != 0)
        pid = 0;
    posix_spawn_file_actions_destroy(&actions);
    return pid;
}

/*
 * Opens url in the user's browser: the first command of $BROWSER (a
 * colon-separated list, the convention xdg-utils and Python's webbrowser
 * follow), else xdg-open. Returns the pid, or 0 when none could start (the
 * URL is printed anyway).
 */
static pid_t open_browser(const char *url)
{
    const char *browser = getenv("BROWSER");
    if (browser && *browser) {
        char first[1024];
        snprintf(first, sizeof first, "%.*s", (int)strcspn(browser, ":"), browser);
        pid_t pid = spawn_browser(first, url);
        if (pid > 0)
            return pid;
    }
    return spawn_browser("xdg-open", url);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The client to log in with: --client-id, the config's, the last login's, or none yet. */
static void choose_client(const login_options *o, const granola_config *cfg, char **client_id,
                          char **client_secret)
{
    *client_id = *client_secret = NULL;
    const char *configured = o->client_id ? o->client_id : cfg->client_id;
    if (configured) {
        *client_id = strdup(configured);
        return;
    }
    granola_token last;
    char ignored[512];
    if (granola_token_load(cfg->token_path, &last, ignored, sizeof ignored) != PA_OK)
        return;
    if (last.client_id) { /* registered at the last login: no new registration */
        printf("Reusing the OAuth client from %s\n", cfg->token_path);
        *client_id = last.client_id;
        *client_secret = last.client_secret;
        last.client_id = last.client_secret = NULL;
    }
    granola_token_free(&last);
}

/* Exchanges the code and saves the token; the browser hears the outcome after both. */
static int finish(const login_options *o, const granola_config *cfg, http_client *http,
                  const oauth_server *server, const char *client_id, const char *client_secret,
                  const char *code, const char *redirect_uri, const char *verifier, int reply_fd,
                  char *err, size_t err_size)
{
    granola_token token;
    int rc = oauth_exchange_code(http, server, client_id, client_secret, code, redirect_uri,
                                 verifier, now_ms(), &token, err, err_size);
    if (rc == PA_OK) {
        rc = granola_token_save(cfg->token_path, &token, err, err_size);
        granola_token_free(&token);
    }
    if (rc != PA_OK) {
        char page[700];
        snprintf(page, sizeof page, "Login failed: %s", err);
        callback_reply(reply_fd, false, page);
        return EXIT_LOGIN_FAILED;
    }
    callback_reply(reply_fd, true, "Logged in to Granola. You can close this tab.");
    printf("Logged in to Granola for instance '%s'; token saved to %s (mode 0600)\n", o->instance,
           cfg->token_path);
    return 0;
}

static int login(const login_options *o, const granola_config *cfg, http_client *http, char *err,
                 size_t err_size)
{
    bool created = false;
    /* Before anything is spent: the token must have somewhere to go. */
    if (granola_token_prepare_dir(cfg->token_path, &created, err, err_size) != PA_OK)
        return EXIT_LOGIN_FAILED;
    if (created)
        printf("Created the folder for %s (mode 0700)\n", cfg->token_path);
    oauth_server server;
    if (oauth_discover(http, cfg->server_url, &server, err, err_size) != PA_OK)
        return EXIT_LOGIN_FAILED;
    long port = 0;
    int listen_fd = callback_listen(o->listen_address, o->port, &port, err, err_size);
    char redirect_uri[64];
    snprintf(redirect_uri, sizeof redirect_uri, "http://127.0.0.1:%ld/callback", port);
    char *client_id, *client_secret, *code = NULL, *url = NULL;
    choose_client(o, cfg, &client_id, &client_secret);
    char *verifier = oauth_random_token(48), *state = oauth_random_token(24);
    char *challenge = verifier ? oauth_s256_challenge(verifier) : NULL;
    int rc = EXIT_LOGIN_FAILED, reply_fd = -1;
    if (listen_fd < 0)
        goto done;
    if (!verifier || !state || !challenge) {
        snprintf(err, err_size, "cannot generate the PKCE verifier");
        goto done;
    }
    if (!client_id && oauth_register(http, &server, redirect_uri, &client_id, &client_secret, err,
                                     err_size) != PA_OK)
        goto done;
    if (!(url = oauth_authorize_url(&server, client_id, redirect_uri, challenge, state))) {
        snprintf(err, err_size, "cannot build the authorization URL");
        goto done;
    }
    printf("Open this URL in a browser to log in to Granola:\n%s\n", url);
    printf("Waiting for the browser on %s (up to %ld s)...\n", redirect_uri, o->timeout_seconds);
    fflush(stdout);
    pid_t browser = o->open_browser ? open_browser(url) : 0;
    if (callback_await(listen_fd, state, o->timeout_seconds, &code, &reply_fd, err, err_size) == 0)
        rc = finish(o, cfg, http, &server, client_id, client_secret, code, redirect_uri, verifier,
                    reply_fd, err, err_size);
    if (browser > 0)
        waitpid(browser, NULL, WNOHANG);
done:
    if (listen_fd >= 0)
        close(listen_fd);
    secret_free(code);
    secret_free(client_secret);
    secret_free(verifier);
    free(url), free(challenge), free(state), free(client_id);
    oauth_server_free(&server);
    return rc;
}

int main(int argc, char **argv)
{
    secret_protect_process(); /* it holds the refresh token and the PKCE verifier */
    login_options o;
    int rc = parse_options(argc, argv, &o);
    if (rc != 0)
        return rc;
    char err[1024] = "";
    granola_config cfg;
    if ((rc = load_instance(&o, &cfg, err, sizeof err)) != 0) {
        fprintf(stderr, "granola_login: %s\n", err);
        return rc;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    http_client *http = NULL;
    http_client_options ho = {.timeout_seconds = cfg.timeout_seconds,
                              .max_response_bytes = cfg.max_response_bytes};
    rc = http_client_new(&ho, &http, err, sizeof err) == PA_OK
             ? login(&o, &cfg, http, err, sizeof err)
             : EXIT_LOGIN_FAILED;
    http_client_free(http);
    if (rc != 0)
        fprintf(stderr, "granola_login: login failed: %s\n", err);
    granola_config_free(&cfg);
    curl_global_cleanup();
    return rc;
}
