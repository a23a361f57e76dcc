/*
 * bench_poll: CPU time of one Granola poll (1000 meetings listed, 100 new)
 * against the fake server on loopback, plus requests and new TCP connections
 * per poll, for each MCP era and transport the fake serves (legacy, modern,
 * dual; JSON and SSE, SSE streams lingering 20 ms after the response). The real granola.so runs
 * inside the real host core (pool, host API, outbox); the fake server is a separate process, so its
 * CPU is not counted. Baseline in the same process: a poll with nothing new (list + one dedup
 * query).
 *
 *   bench_poll GRANOLA_SO FAKE_GRANOLA_BIN
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BENCH_NAME "bench_poll"
#include "bench_common.h"

#include "clock.h"
#include "instance.h"
#include "plugin_image.h"
#include "log.h"
#include "task_store.h"
#include "pool.h"

#define LISTED 1000
#define NEW    100
#define RUNS   21

static size_t collect(char *data, size_t size, size_t nmemb, void *userdata)
{
    char **buf = userdata;
    size_t old = *buf ? strlen(*buf) : 0, n = size * nmemb;
    char *grown = realloc(*buf, old + n + 1);
    if (!grown)
        return 0;
    memcpy(grown + old, data, n);
    grown[old + n] = '\0';
    *buf = grown;
    return n;
}

/* list and get requests, every request (initialize, refused probes...), connections. */
static void server_counts(int port, long *list, long *get, long *all, long *connections)
{
    char url[64], *body = NULL;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/_stats", port);
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    if (curl_easy_perform(h) != CURLE_OK)
        bench_die("cannot read fake server stats");
    curl_easy_cleanup(h);
    cJSON *o = cJSON_Parse(body);
    free(body);
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(o, "requests");
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(req, "tools/call:list_meetings");
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(req, "tools/call:get_meetings");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "connections");
    *list = cJSON_IsNumber(l) ? (long)l->valuedouble : 0;
    *get = cJSON_IsNumber(g) ? (long)g->valuedouble : 0;
    *connections = cJSON_IsNumber(c) ? (long)c->valuedouble : 0;
    *all = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, req) *all += cJSON_IsNumber(v) ? (long)v->valuedouble : 0;
    cJSON_Delete(o);
}

static pid_t start_server(const char *bin, const char *fixture, const char *const *extra, int *port)
{
    const char *argv[12] = {bin, "--fixture", fixture};
    for (int i = 0; extra[i] && i < 8; i++)
        argv[3 + i] = extra[i];
    int fds[2];
    if (pipe(fds) != 0)
        bench_die("pipe");
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    FILE *out = fdopen(fds[0], "r");
    char line[128] = "";
    if (!fgets(line, sizeof line, out) ||
        sscanf(line, "fake_granola listening on 127.0.0.1:%d", port) != 1)
        bench_die("fake server did not start");
    fclose(out);
    return pid;
}

static void write_fixture(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        bench_die("cannot write fixture");
    fputs("{\"meetings\": [", f);
    for (int i = 0; i < LISTED; i++)
        fprintf(f,
                "%s{\"id\": \"bench-%04d\", \"title\": \"Sync %d & planning\", \"days_ago\": 1,"
                " \"workspace_id\": \"work\", \"participants\": [{\"name\": \"Ann\", \"email\":"
                " \"ann@acme.com\", \"creator\": true}, {\"name\": \"Bob\", \"email\": "
                "\"bob@beta.io\", \"email_form\": \"entity\"}], \"summary\": \"## Decisions\\n- "
                "ship if p99 < 250 ms & errors < 0.1%%\\n- follow up with <legal>\"}",
                i ? "," : "", i, i);
    fputs("]}", f);
    fclose(f);
}

static void exec_sql(pool *p, pool_owner *owner, const char *sql)
{
    pa_lease lease;
    char err[512];
    if (pool_lease(p, owner, PA_LEASE_WRITE, -1, POOL_HERE, &lease, err, sizeof err) != PA_OK)
        bench_die(err);
    if (sqlite3_exec(pool_lease_db(p, owner, lease, POOL_HERE), sql, NULL, NULL, NULL) != SQLITE_OK)
        bench_die(sql);
    pool_release(p, owner, lease, PA_RELEASE_COMMIT, POOL_HERE, err, sizeof err);
}

typedef struct sample {
    double cpu[RUNS], wall[RUNS];
    long list, get, all, connections;
} sample;

static void measure(host_instance *in, pool *p, pool_owner *self, int port, bool make_new,
                    sample *s)
{
    long l0, g0, a0, c0, l1, g1, a1, c1;
    server_counts(port, &l0, &g0, &a0, &c0);
    for (int r = 0; r < RUNS; r++) {
        if (make_new)
            exec_sql(p, self,
                     "DELETE FROM processed_granola_notes WHERE id IN (SELECT id FROM "
                     "processed_granola_notes ORDER BY random() LIMIT 100);"
                     "DELETE FROM pa_outbox;");
        char err[1024];
        double c = bench_cpu_ms();
        int64_t w = clock_mono_ns();
        if (instance_poll(in, err, sizeof err) != PA_OK)
            bench_die(err);
        s->wall[r] = (double)(clock_mono_ns() - w) / 1e6;
        s->cpu[r] = bench_cpu_ms() - c;
    }
    server_counts(port, &l1, &g1, &a1, &c1);
    s->all = a1 - a0;
    s->list = l1 - l0;
    s->get = g1 - g0;
    s->connections = c1 - c0;
    qsort(s->cpu, RUNS, sizeof s->cpu[0], bench_compare_doubles);
    qsort(s->wall, RUNS, sizeof s->wall[0], bench_compare_doubles);
}

typedef struct era_case {
    const char *label;
    const char *args[8];
} era_case;

static const era_case ERAS[] = {
    {"legacy json", {"--era", "legacy", NULL}},
    {"legacy sse", {"--era", "legacy", "--sse", "--sse-linger", "20", NULL}},
    {"modern json", {"--era", "modern", NULL}},
    {"modern sse", {"--era", "modern", "--sse", "--sse-linger", "20", NULL}},
    {"dual json", {"--era", "dual", NULL}},
};

/* One server of the era, a fresh instance (a fresh MCP client) and an empty store. */
static void bench_era(const era_case *era, const char *server_bin, const char *fixture,
                      const char *token, const plugin_image *plugin, pool *p, pool_owner *self)
{
    int port;
    pid_t server = start_server(server_bin, fixture, era->args, &port);
    exec_sql(p, self, "DROP TABLE IF EXISTS processed_granola_notes; DELETE FROM pa_outbox;");
    char json[1024], err[1024];
    snprintf(json, sizeof json,
             "{\"id\": \"work\", \"workspace_id\": \"work\", \"token_path\": \"%s\", "
             "\"server_url\": \"http://127.0.0.1:%d/mcp\"}",
             token, port);
    host_instance in = {0};
    if (instance_start(&in, p, plugin, "work", json, err, sizeof err) != PA_OK)
        bench_die(err);
    long l0, g0, a0, c0;
    double cpu0 = bench_cpu_ms();
    if (instance_poll(&in, err, sizeof err) != PA_OK) /* first poll: all 1000 are new */
        bench_die(err);
    double first_cpu = bench_cpu_ms() - cpu0;
    server_counts(port, &l0, &g0, &a0, &c0);
    sample none, fresh;
    measure(&in, p, self, port, false, &none);
    measure(&in, p, self, port, true, &fresh);
    printf("== %s ==\n", era->label);
    printf("first_poll_1000_new_cpu_ms       %8.2f   (requests %ld, connections %ld)\n", first_cpu,
           a0, c0);
    printf("poll_100_new_cpu_ms              %8.2f   (wall %.2f ms)\n", fresh.cpu[RUNS / 2],
           fresh.wall[RUNS / 2]);
    printf("baseline_poll_0_new_cpu_ms       %8.2f   (wall %.2f ms)\n", none.cpu[RUNS / 2],
           none.wall[RUNS / 2]);
    printf("ratio_100_new_over_0_new         %8.2f\n", fresh.cpu[RUNS / 2] / none.cpu[RUNS / 2]);
    printf("requests_per_poll_100_new        %8.2f   (list %.2f + get %.2f)\n",
           (double)fresh.all / RUNS, (double)fresh.list / RUNS, (double)fresh.get / RUNS);
    printf("requests_per_poll_0_new          %8.2f\n", (double)none.all / RUNS);
    printf("new_tcp_connections_after_first  %8ld\n", none.connections + fresh.connections);
    instance_stop(&in);
    kill(server, SIGTERM);
    waitpid(server, NULL, 0);
}

int main(int argc, char **argv)
{
    if (argc != 3)
        bench_die("usage: bench_poll GRANOLA_SO FAKE_GRANOLA_BIN");
    char dir[] = "/tmp/bench_poll_XXXXXX";
    if (!mkdtemp(dir))
        bench_die("mkdtemp");
    char fixture[128], token[128], db[128];
    snprintf(fixture, sizeof fixture, "%s/fixture.json", dir);
    snprintf(token, sizeof token, "%s/token.json", dir);
    snprintf(db, sizeof db, "%s/agent.db", dir);
    write_fixture(fixture);
    FILE *t = fopen(token, "w");
    fputs("{\"access_token\": \"bench-token\"}", t);
    fclose(t);
    chmod(token, 0600);
    log_set_level(PA_LOG_WARN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char err[1024];
    plugin_image *plugin = NULL;
    if (plugin_image_open(argv[1], argv[1], "granola", &plugin, err, sizeof err) != PA_OK)
        bench_die(err);
    pool *p;
    pool_config pc = {.path = db, .size = 4, .lease_timeout_ms = 5000, .busy_timeout_ms = 5000};
    pool_owner self = {.plugin = "bench", .instance = "setup"};
    if (pool_open(&pc, &p, err, sizeof err) != PA_OK ||
        task_store_migrate(p, &self, err, sizeof err) != PA_OK)
        bench_die(err);
    printf("bench_poll: %d meetings listed per poll, median of %d polls, loopback\n", LISTED, RUNS);
    for (size_t e = 0; e < sizeof ERAS / sizeof ERAS[0]; e++)
        bench_era(&ERAS[e], argv[2], fixture, token, plugin, p, &self);
    pool_close(p);
    plugin_image_close(plugin);
    curl_global_cleanup();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
