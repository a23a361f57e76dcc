/*
 * granola_login: log a Granola instance in once, OAuth 2.1 with PKCE.
 *
 *   granola_login --instance ID [--config FILE] [--port N] [--client-id ID]
 *                 [--timeout SECONDS] [--no-browser]
 *
 * Reads the instance from host.json (server_url, token_path, client_id),
 * discovers the authorization server from the MCP server's 401, registers a
 * client unless a client id is configured or given with --client-id, opens the authorization URL
 * (xdg-open when present; the URL is always printed), receives the code on
 * http://127.0.0.1:PORT/callback, exchanges it and writes the token file
 * (atomically, mode 0600). Exit codes: 0 logged in, 1 login failed, 2 usage
 * or configuration error. No token is ever printed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "config.h"
#include "granola_config.h"
#include "http_client.h"
#include "oauth.h"
#include "pa_plugin.h"

#define EXIT_LOGIN_FAILED 1
#define EXIT_USAGE        2

extern char **environ;

typedef struct login_options {
    const char *instance;
    const char *config_path;
    long port;
    const char *client_id;
    long timeout_seconds;
    bool open_browser;
} login_options;

static void usage(FILE *out)
{
    fputs("usage: granola_login --instance ID [--config FILE] [--port N] [--client-id ID]\n"
          "                     [--timeout SECONDS] [--no-browser]\n"
          "defaults: --config ./host.json --port 8765 --timeout 300\n",
          out);
}

static int parse_options(int argc, char **argv, login_options *o)
{
    static const struct option longopts[] = {
        {"instance", required_argument, NULL, 'i'}, {"config", required_argument, NULL, 'c'},
        {"port", required_argument, NULL, 'p'},     {"client-id", required_argument, NULL, 'C'},
        {"timeout", required_argument, NULL, 't'},  {"no-browser", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    *o = (login_options){
        .config_path = "./host.json", .port = 8765, .timeout_seconds = 300, .open_browser = true};
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'i':
            o->instance = optarg;
            break;
        case 'c':
            o->config_path = optarg;
            break;
        case 'p':
            o->port = strtol(optarg, &end, 10);
            if (*end || o->port < 0 || o->port > 65535) {
                fprintf(stderr, "granola_login: --port: expected 0 to 65535, got '%s'\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'C':
            o->client_id = optarg;
            break;
        case 't':
            o->timeout_seconds = strtol(optarg, &end, 10);
            if (*end || o->timeout_seconds < 1 || o->timeout_seconds > 86400) {
                fprintf(stderr, "granola_login: --timeout: expected 1 to 86400 seconds, got '%s'\n",
                        optarg);
                return EXIT_USAGE;
            }
            break;
        case 'n':
            o->open_browser = false;
            break;
        case 'h':
            usage(stdout);
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
    host_config cfg;
    if (config_load(o->config_path, &cfg, err, err_size) != PA_OK)
        return EXIT_USAGE;
    const plugin_config *pc = config_find_plugin(&cfg, "granola");
    const char *json = NULL;
    for (size_t i = 0; pc && i < pc->instance_count; i++) {
        if (strcmp(pc->instances[i].id, o->instance) == 0)
            json = pc->instances[i].json;
    }
    int rc = 0;
    if (!json) {
        snprintf(err, err_size, "%s: no granola instance with id '%s'", o->config_path,
                 o->instance);
        rc = EXIT_USAGE;
    } else if (granola_config_parse(json, out, err, err_size) != PA_OK) {
        rc = EXIT_USAGE;
    }
    config_free(&cfg);
    return rc;
}

static int listen_loopback(long port, long *bound_port, char *err, size_t err_size)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 8) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
        snprintf(err, err_size,
                 "cannot listen on 127.0.0.1:%ld for the login callback: %s "
                 "(choose another with --port)",
                 port, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *bound_port = ntohs(addr.sin_port);
    return fd;
}

static void respond(int fd, int status, const char *text)
{
    char buf[1024];
    int n = snprintf(buf, sizeof buf,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/html; charset=utf-8\r\n"
                     "Connection: close\r\nCache-Control: no-store\r\n\r\n"
                     "<!doctype html><title>Granola login</title><p>%s</p>\n",
                     status,
                     status == 200   ? "OK"
                     : status == 404 ? "Not Found"
                                     : "Bad Request",
                     text);
    if (n > 0 && write(fd, buf, (size_t)n) < 0)
        return; /* the browser went away; the outcome stands */
}

/* Reads one HTTP request head (bounded) and returns the request target, or NULL. */
static char *read_target(int fd)
{
    char buf[8192] = "";
    size_t len = 0;
    while (len < sizeof buf - 1 && !strstr(buf, "\r\n\r\n")) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 5000) <= 0)
            return NULL;
        ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
        if (n <= 0)
            return NULL;
        len += (size_t)n;
        buf[len] = '\0';
    }
    buf[len] = '\0';
    if (strncmp(buf, "GET ", 4) != 0)
        return NULL;
    size_t n = strcspn(buf + 4, " \r\n");
    return strndup(buf + 4, n);
}

typedef struct callback {
    char *code;
    char *error;
} callback;

/*
 * Serves the loopback callback until it brings a code or an error for this
 * state, or the time runs out. Other paths (a browser's favicon) get a 404.
 */
static int await_callback(int listen_fd, const char *state, long timeout_seconds, callback *out,
                          char *err, size_t err_size)
{
    memset(out, 0, sizeof *out);
    time_t deadline = time(NULL) + timeout_seconds;
    for (;;) {
        long left = (long)(deadline - time(NULL));
        struct pollfd p = {.fd = listen_fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)(left * 1000)) <= 0) {
            snprintf(err, err_size,
                     "timed out after %ld s waiting for the browser to come back "
                     "to the callback; run granola_login again",
                     timeout_seconds);
            return EXIT_LOGIN_FAILED;
        }
        int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        char *target = read_target(fd);
        const char *query = target ? strchr(target, '?') : NULL;
        size_t path_len = target ? (query ? (size_t)(query - target) : strlen(target)) : 0;
        if (!target || path_len != 9 || strncmp(target, "/callback", 9) != 0) {
            respond(fd, 404, "Not found.");
            close(fd);
            free(target);
            continue;
        }
        char *got_state = query ? oauth_query_param(query + 1, "state") : NULL;
        char *code = query ? oauth_query_param(query + 1, "code") : NULL;
        char *error = query ? oauth_query_param(query + 1, "error") : NULL;
        int rc = 0;
        if (!got_state || strcmp(got_state, state) != 0) {
            respond(fd, 400, "Login failed: this response does not belong to this login.");
            snprintf(err, err_size,
                     "the callback's state does not match this login (a forged "
                     "or stale redirect); nothing was saved");
            rc = EXIT_LOGIN_FAILED;
        } else if (error || !code) {
            respond(fd, 400, "Login failed. You can close this tab.");
            snprintf(err, err_size, "the authorization server refused the login: %.200s",
                     error ? error : "no code in the callback");
            rc = EXIT_LOGIN_FAILED;
        } else {
            respond(fd, 200, "Logged in to Granola. You can close this tab.");
            out->code = code;
            code = NULL;
        }
        close(fd);
        free(target), free(got_state), free(code), free(error);
        return rc;
    }
}

/* Starts xdg-open on url if it is on PATH; returns its pid or 0. */
static pid_t open_browser(const char *url)
{
    const char *path = getenv("PATH");
    bool found = false;
    for (const char *p = path; p && *p && !found;) {
        size_t n = strcspn(p, ":");
        char candidate[4096];
        snprintf(candidate, sizeof candidate, "%.*s/xdg-open", (int)n, p);
        found = access(candidate, X_OK) == 0;
        p += n + (p[n] == ':');
    }
    if (!found)
        return 0;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid = 0;
    char *argv[] = {"xdg-open", (char *)url, NULL};
    if (posix_spawnp(&pid, "xdg-open", &actions, NULL, argv, environ) != 0)
        pid = 0;
    posix_spawn_file_actions_destroy(&actions);
    return pid;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int login(const login_options *o, const granola_config *cfg, http_client *http, char *err,
                 size_t err_size)
{
    oauth_server server;
    if (oauth_discover(http, cfg->server_url, &server, err, err_size) != PA_OK)
        return EXIT_LOGIN_FAILED;
    long port = 0;
    int listen_fd = listen_loopback(o->port, &port, err, err_size);
    char redirect_uri[64];
    snprintf(redirect_uri, sizeof redirect_uri, "http://127.0.0.1:%ld/callback", port);
    const char *configured = o->client_id ? o->client_id : cfg->client_id;
    char *client_id = configured ? strdup(configured) : NULL, *client_secret = NULL;
    char *verifier = oauth_random_token(48), *state = oauth_random_token(24);
    char *challenge = verifier ? oauth_s256_challenge(verifier) : NULL;
    char *url = NULL;
    int rc = EXIT_LOGIN_FAILED;
    if (listen_fd < 0)
        goto done;
    if (!verifier || !state || !challenge) {
        snprintf(err, err_size, "cannot generate the PKCE verifier");
        goto done;
    }
    if (!client_id && oauth_register(http, &server, redirect_uri, &client_id, &client_secret, err,
                                     err_size) != PA_OK)
        goto done;
    url = oauth_authorize_url(&server, client_id, redirect_uri, challenge, state);
    if (!url) {
        snprintf(err, err_size, "cannot build the authorization URL");
        goto done;
    }
    printf("Open this URL in a browser to log in to Granola:\n%s\n", url);
    printf("Waiting for the browser on %s (up to %ld s)...\n", redirect_uri, o->timeout_seconds);
    fflush(stdout);
    pid_t browser = o->open_browser ? open_browser(url) : 0;
    callback cb;
    rc = await_callback(listen_fd, state, o->timeout_seconds, &cb, err, err_size);
    if (browser > 0)
        waitpid(browser, NULL, WNOHANG);
    if (rc != 0)
        goto done;
    granola_token token;
    rc = oauth_exchange_code(http, &server, client_id, client_secret, cb.code, redirect_uri,
                             verifier, now_ms(), &token, err, err_size) == PA_OK
             ? 0
             : EXIT_LOGIN_FAILED;
    free(cb.code);
    if (rc == 0) {
        rc = granola_token_save(cfg->token_path, &token, err, err_size) == PA_OK
                 ? 0
                 : EXIT_LOGIN_FAILED;
        if (rc == 0)
            printf("Logged in to Granola for instance '%s'; token saved to %s (mode 0600)%s\n",
                   o->instance, cfg->token_path, token.refresh_token ? "; it renews itself" : "");
        granola_token_free(&token);
    }
done:
    if (listen_fd >= 0)
        close(listen_fd);
    free(url), free(challenge), free(state), free(client_id), free(client_secret);
    if (verifier) {
        explicit_bzero(verifier, strlen(verifier));
        free(verifier);
    }
    oauth_server_free(&server);
    return rc;
}

int main(int argc, char **argv)
{
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
