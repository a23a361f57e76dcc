#include "fake_server.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

void fake_start(fake_server *s, const char *fixture_path, const char *const *extra_args)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    const char *argv[16] = {PA_FAKE_GRANOLA, "--fixture", fixture_path};
    int argc = 3;
    for (int i = 0; extra_args && extra_args[i] && argc < 15; i++)
        argv[argc++] = extra_args[i];
    argv[argc] = NULL;
    s->pid = fork();
    assert_true(s->pid >= 0);
    if (s->pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    FILE *out = fdopen(fds[0], "r");
    char line[256] = "";
    assert_non_null(fgets(line, sizeof line, out));
    fclose(out);
    assert_int_equal(sscanf(line, "fake_granola listening on 127.0.0.1:%d", &s->port), 1);
    snprintf(s->base, sizeof s->base, "http://127.0.0.1:%d", s->port);
    snprintf(s->url, sizeof s->url, "%s/mcp", s->base);
}

void fake_stop(fake_server *s)
{
    if (s->pid <= 0)
        return;
    kill(s->pid, SIGTERM);
    int status;
    waitpid(s->pid, &status, 0);
    s->pid = 0;
}

typedef struct sink {
    char *data;
    size_t len;
} sink;

static size_t collect(char *data, size_t size, size_t nmemb, void *userdata)
{
    sink *k = userdata;
    size_t n = size * nmemb;
    char *grown = realloc(k->data, k->len + n + 1);
    if (!grown)
        return 0;
    k->data = grown;
    memcpy(k->data + k->len, data, n);
    k->len += n;
    k->data[k->len] = '\0';
    return n;
}

static long http_with_headers(const char *url, const char *post_body,
                              const struct curl_slist *headers, sink *out)
{
    CURL *h = curl_easy_init();
    assert_non_null(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
    if (post_body)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, post_body);
    assert_int_equal(curl_easy_perform(h), CURLE_OK);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    return status;
}

static long http(const char *url, const char *post_body, sink *out)
{
    return http_with_headers(url, post_body, NULL, out);
}

long fake_post_mcp(const fake_server *s, const char *const *headers, const char *body, char **reply)
{
    struct curl_slist *list = NULL;
    for (size_t i = 0; headers && headers[i]; i++)
        list = curl_slist_append(list, headers[i]);
    sink k = {0};
    long status = http_with_headers(s->url, body, list, &k);
    curl_slist_free_all(list);
    *reply = k.data;
    return status;
}

void fake_control(const fake_server *s, const char *json)
{
    char url[96];
    snprintf(url, sizeof url, "%s/_control", s->base);
    sink k = {0};
    long status = http(url, json, &k);
    free(k.data);
    if (status != 200)
        fail_msg("fake_granola refused control %s (HTTP %ld)", json, status);
}

cJSON *fake_stats(const fake_server *s)
{
    char url[96];
    snprintf(url, sizeof url, "%s/_stats", s->base);
    sink k = {0};
    assert_int_equal(http(url, NULL, &k), 200);
    cJSON *o = cJSON_Parse(k.data);
    free(k.data);
    assert_non_null(o);
    return o;
}

long fake_count(const cJSON *stats, const char *key)
{
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(stats, "requests");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, key);
    return cJSON_IsNumber(v) ? (long)v->valuedouble : 0;
}
