#include "ctl_client.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "control.h"
#include "port.h"

#define CTL_USAGE        2
#define CTL_UNHEALTHY    1
#define CTL_NO_HOST      3
#define CTL_ANSWER_LIMIT ((size_t)8 << 20)

typedef struct ctl_args {
    char request[CONTROL_REQUEST_MAX];
    const char *control;
    bool json, quiet;
    long timeout_s; /* 0: wait as long as the host takes */
} ctl_args;

static int usage(const char *why)
{
    fprintf(stderr,
            "host_stub: %s\n"
            "usage: host_stub status [--json] [--quiet] [--control PATH] [--timeout SECONDS]\n"
            "       host_stub ctl status|reload|poll PLUGIN[/INSTANCE] [--json] [--control PATH]"
            " [--timeout SECONDS]\n",
            why);
    return CTL_USAGE;
}

/* The flags after the command; 0, or CTL_USAGE (said). */
static int parse_flags(int argc, char **argv, int from, ctl_args *a)
{
    for (int i = from; i < argc; i++) {
        char *end = NULL;
        if (strcmp(argv[i], "--json") == 0) {
            a->json = true;
        } else if (strcmp(argv[i], "--quiet") == 0) {
            a->quiet = true;
        } else if (strcmp(argv[i], "--control") == 0 && i + 1 < argc) {
            a->control = argv[++i];
        } else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            a->timeout_s = strtol(argv[++i], &end, 10);
            if (!*argv[i] || *end || a->timeout_s < 0 || a->timeout_s > 86400)
                return usage("--timeout: expected seconds from 0 to 86400");
        } else {
            char why[300];
            snprintf(why, sizeof why, "unexpected argument '%.200s'", argv[i]);
            return usage(why);
        }
    }
    if (a->json && a->quiet)
        return usage("--json and --quiet cannot go together");
    return 0;
}

/* The request line and flags; 0, or CTL_USAGE (said). */
static int parse_args(int argc, char **argv, ctl_args *a)
{
    *a = (ctl_args){.timeout_s = 10};
    int next = 2;
    if (strcmp(argv[1], "status") == 0) {
        snprintf(a->request, sizeof a->request, "status");
    } else if (argc < 3) {
        return usage("ctl needs a command: status, reload or poll PLUGIN[/INSTANCE]");
    } else if (strcmp(argv[2], "status") == 0 || strcmp(argv[2], "reload") == 0) {
        snprintf(a->request, sizeof a->request, "%s", argv[2]);
        next = 3;
    } else if (strcmp(argv[2], "poll") == 0 && argc > 3 && argv[3][0] != '-' &&
               strlen(argv[3]) < sizeof a->request - 6 && !strchr(argv[3], '\n')) {
        snprintf(a->request, sizeof a->request, "poll %s", argv[3]);
        next = 4;
    } else {
        return usage("ctl: expected status, reload or poll PLUGIN[/INSTANCE]");
    }
    if (strncmp(a->request, "status", 6) != 0)
        a->timeout_s = 0; /* a poll or a reload takes what the host's deadlines allow */
    return parse_flags(argc, argv, next, a);
}

static int connect_to(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
    int fd = port_socket(AF_UNIX, SOCK_STREAM, false);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The host's answer, up to end of stream, into a new string; NULL on timeout or error (said). */
static char *read_answer(int fd, long timeout_s, const char *path)
{
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    int64_t deadline = timeout_s ? now_ms() + timeout_s * 1000 : 0;
    while (buf) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int64_t left = deadline ? deadline - now_ms() : -1;
        if (deadline && left <= 0) {
            fprintf(stderr, "host_stub: no answer on %s within %ld s\n", path, timeout_s);
            break;
        }
        if (poll(&p, 1, left < 0 ? -1 : (int)left) < 0 && errno != EINTR)
            break;
        if (len + 1 == cap) {
            char *grown = cap < CTL_ANSWER_LIMIT ? realloc(buf, cap * 2) : NULL;
            if (!grown)
                break;
            buf = grown;
            cap *= 2;
        }
        ssize_t n = p.revents ? read(fd, buf + len, cap - len - 1) : 0;
        if (n == 0 && p.revents) {
            buf[len] = '\0';
            return buf;
        }
        if (n < 0 && errno != EINTR && errno != EAGAIN)
            break;
        len += n > 0 ? (size_t)n : 0;
    }
    free(buf);
    return NULL;
}

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "-";
}

static double num_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* Healthy: running, not failing (idle or polling, no failures in a row). */
static bool healthy(const cJSON *inst)
{
    const char *state = str_of(inst, "state");
    return (strcmp(state, "idle") == 0 || strcmp(state, "polling") == 0) &&
           num_of(inst, "failures_in_a_row") == 0;
}

static void print_instance(const cJSON *in)
{
    const cJSON *next = cJSON_GetObjectItemCaseSensitive(in, "next_poll");
    printf("%s/%s: %s, version %s, worker pid %.0f\n", str_of(in, "plugin"), str_of(in, "instance"),
           str_of(in, "state"), str_of(in, "version"), num_of(in, "worker_pid"));
    printf("  last poll %s (%s), last success %s, next poll %s\n", str_of(in, "last_poll"),
           cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(in, "last_poll_ok")) ? "ok" : "failed",
           str_of(in, "last_success"), cJSON_IsString(next) ? next->valuestring : "-");
    printf("  failures in a row %.0f; items %.0f, HTTP requests %.0f; leases held %.0f, peak "
           "%.0f, longest %.1f ms; dead-lettered %.0f\n",
           num_of(in, "failures_in_a_row"), num_of(in, "items"), num_of(in, "http_requests"),
           num_of(in, "leases_held"), num_of(in, "lease_peak"), num_of(in, "longest_lease_ms"),
           num_of(in, "dead_lettered"));
    if (*str_of(in, "last_error") && strcmp(str_of(in, "last_error"), "-") != 0)
        printf("  last error: %s\n", str_of(in, "last_error"));
}

/* The status answer, printed (unless quiet); 0 when every instance is healthy. */
static int show_status(const cJSON *o, bool quiet)
{
    const cJSON *hj = cJSON_GetObjectItemCaseSensitive(o, "host");
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(o, "instances"), *in;
    int rc = 0;
    if (!quiet)
        printf("host_stub %s, pid %.0f, since %s, database %s %s%s\n", str_of(hj, "version"),
               num_of(hj, "pid"), str_of(hj, "started"), str_of(hj, "database"),
               str_of(hj, "database_shown"),
               cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(hj, "stopping")) ? ", stopping" : "");
    cJSON_ArrayForEach(in, list)
    {
        rc = healthy(in) ? rc : CTL_UNHEALTHY;
        if (!quiet)
            print_instance(in);
    }
    if (!quiet)
        printf("%d instance(s)%s\n", cJSON_GetArraySize(list),
               rc ? "; not all healthy" : ", all healthy");
    return rc;
}

static int show_polls(const cJSON *o)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(o, "polls"), *p;
    cJSON_ArrayForEach(p, list)
    {
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "ok")))
            printf("%s: poll ok, %.0f item(s) in %.1f ms\n", str_of(p, "instance"),
                   num_of(p, "items"), num_of(p, "duration_ms"));
        else
            printf("%s: poll failed: %s\n", str_of(p, "instance"), str_of(p, "error"));
    }
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok")) ? 0 : CTL_UNHEALTHY;
}

/* The answer as the user asked for it; the exit code. */
static int show(const ctl_args *a, const char *text)
{
    cJSON *o = cJSON_Parse(text);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        fprintf(stderr, "host_stub: the host's answer is not JSON: %.200s\n", text);
        return CTL_UNHEALTHY;
    }
    bool ok = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok"));
    int rc = ok ? 0 : CTL_UNHEALTHY;
    if (a->json)
        fputs(text, stdout);
    if (cJSON_GetObjectItemCaseSensitive(o, "error")) {
        if (!a->json && !a->quiet)
            fprintf(stderr, "host_stub: %s\n", str_of(o, "error"));
    } else if (strcmp(a->request, "status") == 0)
        rc = show_status(o, a->quiet || a->json);
    else if (strcmp(a->request, "reload") == 0 && !a->json && !a->quiet)
        printf("%s\n", str_of(o, "outcome"));
    else if (!a->json && !a->quiet)
        rc = show_polls(o);
    cJSON_Delete(o);
    return rc;
}

int ctl_main(int argc, char **argv)
{
    ctl_args a;
    char path[200], err[600], line[CONTROL_REQUEST_MAX + 1];
    const char *chosen = NULL;
    int rc = parse_args(argc, argv, &a);
    if (rc != 0)
        return rc;
    if (control_path(a.control, 0, path, sizeof path, &chosen, err, sizeof err) != 0) {
        if (!a.quiet)
            fprintf(stderr, "host_stub: %s\n", err);
        return CTL_NO_HOST;
    }
    if (!chosen)
        return usage("--control none: there is no socket to ask");
    int fd = connect_to(chosen);
    if (fd < 0) {
        if (!a.quiet)
            fprintf(stderr, "host_stub: no host answers on %s: %s\n", chosen, strerror(errno));
        return CTL_NO_HOST;
    }
    int n = snprintf(line, sizeof line, "%s\n", a.request);
    bool sent = send(fd, line, (size_t)n, MSG_NOSIGNAL) == n;
    char *answer = sent ? read_answer(fd, a.timeout_s, chosen) : NULL;
    close(fd);
    if (!answer)
        return CTL_NO_HOST;
    rc = show(&a, answer);
    free(answer);
    return rc;
}
