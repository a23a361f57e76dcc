#include "http_client.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "granola_config.h"
#include "secret.h"

#define USER_AGENT "pa-granola-plugin/1.0.0"

struct http_client {
    CURL *curl;
    http_client_options o;
    char *checked_url; /* the last URL that passed the rule ... */
    char *log_url;     /* ... and its form for logs */
    long connections;
    char header_value[1024]; /* http_header's answer */
    char curl_error[CURL_ERROR_SIZE];
};

/* One request in flight: what the libcurl callbacks see. */
typedef struct transfer {
    http_client *c;
    const http_request *req;
    http_response *resp;
    bool started; /* status and content type examined */
    bool streaming, draining, too_large, refused, no_memory;
    size_t total, body_cap;
    int64_t drain_deadline_ns;
} transfer;

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata);
static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow);

int http_client_new(const http_client_options *o, http_client **out, char *err, size_t err_size)
{
    *out = NULL;
    http_client *c = calloc(1, sizeof *c);
    if (!c || !(c->curl = curl_easy_init())) {
        free(c);
        snprintf(err, err_size, "cannot create an HTTP client");
        return PA_ERR_NOMEM;
    }
    c->o = *o;
    CURL *h = c->curl;
    long connect = o->timeout_seconds < 10 ? o->timeout_seconds : 10L;
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->curl_error);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, o->timeout_seconds);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, connect);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, USER_AGENT);
    *out = c;
    return PA_OK;
}

void http_client_free(http_client *c)
{
    if (!c)
        return;
    curl_easy_cleanup(c->curl);
    free(c->checked_url);
    free(c->log_url);
    free(c);
}

void http_response_free(http_response *r)
{
    free(r->body);
    memset(r, 0, sizeof *r);
}

long http_connections(const http_client *c)
{
    return c->connections;
}

char *http_url_for_log(const char *url)
{
    CURLU *u = curl_url();
    char *clean = NULL;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_USER, NULL, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_OPTIONS, NULL, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_QUERY, NULL, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0) == CURLUE_OK) {
        char *text = NULL;
        if (curl_url_get(u, CURLUPART_URL, &text, 0) == CURLUE_OK)
            clean = strdup(text);
        curl_free(text);
    } else {
        clean = strdup("(unparseable URL)");
    }
    curl_url_cleanup(u);
    return clean;
}

/* Applies the URL rule once per distinct URL and keeps its log form. */
static int check_url(http_client *c, const http_request *req, char *err, size_t err_size)
{
    if (c->checked_url && strcmp(c->checked_url, req->url) == 0)
        return PA_OK;
    char why[128];
    char *log_url = http_url_for_log(req->url);
    if (!log_url) {
        snprintf(err, err_size, "%s: out of memory", req->type);
        return PA_ERR_NOMEM;
    }
    if (!granola_url_allowed(req->url, why, sizeof why)) {
        snprintf(err, err_size, "%s: refusing URL %.200s: %s", req->type, log_url, why);
        free(log_url);
        return PA_ERR_AUTH;
    }
    char *copy = strdup(req->url);
    if (!copy) {
        free(log_url);
        snprintf(err, err_size, "%s: out of memory", req->type);
        return PA_ERR_NOMEM;
    }
    free(c->checked_url);
    free(c->log_url);
    c->checked_url = copy;
    c->log_url = log_url;
    return PA_OK;
}

static bool content_is_event_stream(CURL *curl)
{
    const char *type = NULL;
    curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
    return type && strncasecmp(type, "text/event-stream", 17) == 0;
}

/* The status and content type are known once the first body byte arrives. */
static void start_body(transfer *t)
{
    t->started = true;
    curl_easy_getinfo(t->c->curl, CURLINFO_RESPONSE_CODE, &t->resp->status);
    t->resp->is_event_stream = content_is_event_stream(t->c->curl);
    bool ok = t->resp->status >= 200 && t->resp->status < 300;
    t->streaming = ok && t->resp->is_event_stream && t->req->on_event_stream;
    t->body_cap = ok ? t->c->o.max_response_bytes : HTTP_ERROR_BODY_MAX;
}

static bool buffer_body(transfer *t, const char *data, size_t len)
{
    http_response *r = t->resp;
    if (r->body_len + len > t->body_cap)
        len = t->body_cap - r->body_len; /* only error bodies get here: keep their start */
    if (!len)
        return true;
    char *grown = realloc(r->body, r->body_len + len + 1);
    if (!grown)
        return false;
    memcpy(grown + r->body_len, data, len);
    r->body = grown;
    r->body_len += len;
    r->body[r->body_len] = '\0';
    return true;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    transfer *t = userdata;
    size_t len = size * nmemb;
    if (!t->started)
        start_body(t);
    t->total += len;
    if (t->total > t->c->o.max_response_bytes) {
        t->too_large = !t->draining;
        return 0; /* aborts the transfer */
    }
    if (t->draining)
        return len;
    if (!t->streaming) {
        if (buffer_body(t, data, len))
            return len;
        t->no_memory = true;
        return 0;
    }
    int rc = t->req->on_event_stream(t->req->userdata, data, len);
    if (rc == HTTP_BODY_DONE) {
        t->resp->stream_done = t->draining = true;
        t->drain_deadline_ns = mono_ns() + (int64_t)HTTP_DRAIN_MS * 1000000;
    } else if (rc == HTTP_BODY_FAIL) {
        t->refused = true;
        return 0;
    }
    return len;
}

/* Ends a drain that outlasts HTTP_DRAIN_MS: the connection is closed instead. */
static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    const transfer *t = userdata;
    return t && t->draining && mono_ns() > t->drain_deadline_ns;
}

static struct curl_slist *add_header(struct curl_slist *list, const char *line, bool *ok)
{
    struct curl_slist *grown = *ok ? curl_slist_append(list, line) : NULL;
    if (!grown)
        *ok = false;
    return grown ? grown : list;
}

/* Frees a header list, wiping the Authorization line libcurl copied. */
static void free_headers(struct curl_slist *list)
{
    for (struct curl_slist *l = list; l; l = l->next) {
        if (strncasecmp(l->data, "Authorization:", 14) == 0)
            secret_wipe(l->data, strlen(l->data));
    }
    curl_slist_free_all(list);
}

static struct curl_slist *build_headers(const http_request *req)
{
    bool ok = true;
    char line[256];
    struct curl_slist *list = add_header(NULL, "Expect:", &ok);
    if (req->content_type) {
        snprintf(line, sizeof line, "Content-Type: %s", req->content_type);
        list = add_header(list, line, &ok);
    }
    if (req->accept) {
        snprintf(line, sizeof line, "Accept: %s", req->accept);
        list = add_header(list, line, &ok);
    }
    for (size_t i = 0; req->headers && req->headers[i]; i++)
        list = add_header(list, req->headers[i], &ok);
    if (ok && req->bearer) {
        size_t n = strlen(req->bearer) + sizeof "Authorization: Bearer ";
        char *auth = malloc(n);
        if (auth) {
            snprintf(auth, n, "Authorization: Bearer %s", req->bearer);
            list = add_header(list, auth, &ok);
            secret_free(auth);
        } else {
            ok = false;
        }
    }
    if (!ok) {
        free_headers(list);
        return NULL;
    }
    return list;
}

/* Retry-After as libcurl read it (seconds or HTTP date), clamped; -1 when absent. */
static int64_t retry_after(http_client *c)
{
    struct curl_header *h = NULL;
    if (curl_easy_header(c->curl, "Retry-After", 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
        return -1;
    curl_off_t seconds = 0;
    curl_easy_getinfo(c->curl, CURLINFO_RETRY_AFTER, &seconds);
    return http_retry_after_clamp(h->value, (int64_t)seconds);
}

int64_t http_retry_after_clamp(const char *value, int64_t curl_seconds)
{
    if (curl_seconds > 0)
        return curl_seconds > HTTP_RETRY_AFTER_MAX_SECONDS ? HTTP_RETRY_AFTER_MAX_SECONDS
                                                           : curl_seconds;
    /* libcurl says 0 for a number too large for curl_off_t as well as for "now". */
    const char *v = value ? value + strspn(value, " \t") : "";
    size_t digits = strspn(v, "0123456789");
    return digits > 18 && v[digits + strspn(v + digits, " \t")] == '\0'
               ? HTTP_RETRY_AFTER_MAX_SECONDS
               : 1;
}

static void report(http_client *c, const http_request *req, const http_response *resp)
{
    if (!c->o.api || !c->o.api->report_http)
        return;
    pa_http_report r = {.abi_version = PA_ABI_VERSION,
                        .struct_size = sizeof r,
                        .method = req->body ? "POST" : "GET",
                        .url = c->log_url,
                        .status = resp->status,
                        .seconds = resp->seconds,
                        .request_type = req->type};
    c->o.api->report_http(c->o.ctx, &r);
}

/* The transfer's outcome as a status and message; a finished stream is a success. */
static int outcome(http_client *c, const http_request *req, const transfer *t, CURLcode cc,
                   char *err, size_t err_size)
{
    const http_response *r = t->resp;
    if (r->stream_done)
        return PA_OK;
    if (t->no_memory) {
        snprintf(err, err_size, "%s: out of memory reading the response", req->type);
        return PA_ERR_NOMEM;
    }
    if (t->too_large) {
        snprintf(err, err_size, "%s: response larger than max_response_bytes (%zu)", req->type,
                 c->o.max_response_bytes);
        return PA_ERR_REMOTE;
    }
    if (t->refused) {
        snprintf(err, err_size, "%s: the event stream was refused", req->type);
        return PA_ERR_REMOTE;
    }
    if (cc == CURLE_OK)
        return PA_OK;
    const char *what = cc == CURLE_OPERATION_TIMEDOUT ? "timed out"
                       : cc == CURLE_PARTIAL_FILE     ? "response truncated"
                                                      : "request failed";
    snprintf(err, err_size, "%s: %s after %.1f s: %s", req->type, what, r->seconds,
             c->curl_error[0] ? c->curl_error : curl_easy_strerror(cc));
    return PA_ERR_NETWORK;
}

int http_perform(http_client *c, const http_request *req, http_response *resp, char *err,
                 size_t err_size)
{
    memset(resp, 0, sizeof *resp);
    resp->retry_after_seconds = -1;
    int rc = check_url(c, req, err, err_size);
    if (rc != PA_OK)
        return rc;
    struct curl_slist *headers = build_headers(req);
    if (!headers) {
        snprintf(err, err_size, "%s: out of memory", req->type);
        return PA_ERR_NOMEM;
    }
    transfer t = {.c = c, .req = req, .resp = resp};
    CURL *h = c->curl;
    c->curl_error[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, req->url);
    if (req->body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(req->body));
    } else {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &t);

    int64_t t0 = mono_ns();
    CURLcode cc = curl_easy_perform(h);
    resp->seconds = (double)(mono_ns() - t0) / 1e9;
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, NULL);
    free_headers(headers);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    if (!t.started) /* no body: the content type still matters to callers */
        resp->is_event_stream = content_is_event_stream(h);
    long opened = 0;
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &opened);
    c->connections += opened;
    if (resp->status)
        resp->retry_after_seconds = retry_after(c);
    report(c, req, resp);
    rc = outcome(c, req, &t, cc, err, err_size);
    if (rc != PA_OK)
        http_response_free(resp);
    return rc;
}

const char *http_header(http_client *c, const char *name)
{
    struct curl_header *h = NULL;
    if (curl_easy_header(c->curl, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
        return NULL;
    /* Copied: the next header call may reuse libcurl's storage. */
    snprintf(c->header_value, sizeof c->header_value, "%s", h->value);
    return c->header_value;
}
