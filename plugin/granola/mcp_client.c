#include "mcp_client.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sse_reader.h"

#define MCP_CLIENT_NAME    "pa-granola-plugin"
#define MCP_CLIENT_VERSION "1.0.0"

/* post()'s internal result for a 404 on a session: the caller starts a new one. */
#define SESSION_EXPIRED (-1)

static const char *const SUPPORTED_VERSIONS[] = {"2025-11-25", "2025-06-18", "2025-03-26"};

struct mcp_client {
    CURL *curl;
    char *url;
    long timeout_seconds;
    size_t max_response_bytes;
    const pa_host_api *api;
    pa_host_ctx *ctx;
    char *token;
    char *session_id;
    char protocol_version[32]; /* "" until initialized */
    int64_t next_id;
    int64_t retry_after_ms;
    long connections;
    char curl_error[CURL_ERROR_SIZE];
};

/* One HTTP exchange: what the header and body callbacks collect. */
typedef struct exchange {
    mcp_client *c;
    int64_t want_id; /* 0 for a notification */
    long status;
    bool is_sse;
    char *session_id;
    char *retry_after;
    char *body;
    size_t body_len, body_cap, total;
    bool too_large;
    sse_reader sse;
    bool sse_started;
    bool sse_failed;
    cJSON *response; /* the JSON-RPC response matching want_id */
    char *mismatch;  /* description of a response with another id */
} exchange;

/* libcurl callbacks, installed once per client; their userdata is the exchange. */
static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata);
static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata);

int mcp_client_new(const mcp_options *o, mcp_client **out, char *err, size_t err_size)
{
    *out = NULL;
    mcp_client *c = calloc(1, sizeof *c);
    if (!c || !(c->url = strdup(o->url)) || !(c->curl = curl_easy_init())) {
        if (c)
            free(c->url);
        free(c);
        snprintf(err, err_size, "cannot create HTTP client");
        return PA_ERR_NOMEM;
    }
    c->timeout_seconds = o->timeout_seconds;
    c->max_response_bytes = o->max_response_bytes;
    c->api = o->api;
    c->ctx = o->ctx;
    c->next_id = 1;
    CURL *h = c->curl;
    curl_easy_setopt(h, CURLOPT_URL, c->url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->curl_error);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, c->timeout_seconds);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, c->timeout_seconds < 10 ? c->timeout_seconds : 10L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, MCP_CLIENT_NAME "/" MCP_CLIENT_VERSION);
    *out = c;
    return PA_OK;
}

void mcp_client_free(mcp_client *c)
{
    if (!c)
        return;
    curl_easy_cleanup(c->curl);
    if (c->token) {
        memset(c->token, 0, strlen(c->token));
        free(c->token);
    }
    free(c->session_id);
    free(c->url);
    free(c);
}

int mcp_client_set_token(mcp_client *c, const char *token)
{
    if (c->token) {
        memset(c->token, 0, strlen(c->token));
        free(c->token);
        c->token = NULL;
    }
    if (token && !(c->token = strdup(token)))
        return PA_ERR_NOMEM;
    return PA_OK;
}

int64_t mcp_client_retry_after_ms(const mcp_client *c)
{
    return c->retry_after_ms;
}

long mcp_client_connections(const mcp_client *c)
{
    return c->connections;
}

const char *mcp_client_protocol_version(const mcp_client *c)
{
    return c->protocol_version[0] ? c->protocol_version : NULL;
}

/* Case-insensitive "Name:" match at the start of a header line; returns the value. */
static char *header_value(const char *line, size_t len, const char *name)
{
    size_t n = strlen(name);
    if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
        return NULL;
    const char *v = line + n + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && isspace((unsigned char)end[-1]))
        end--;
    return strndup(v, (size_t)(end - v));
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
    exchange *x = userdata;
    size_t len = size * nmemb;
    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) { /* a new response: reset */
        const char *sp = memchr(data, ' ', len);
        x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        x->is_sse = false;
        free(x->session_id), free(x->retry_after);
        x->session_id = x->retry_after = NULL;
        return len;
    }
    char *v;
    if ((v = header_value(data, len, "content-type")) != NULL) {
        x->is_sse = strncasecmp(v, "text/event-stream", 17) == 0;
        free(v);
    } else if ((v = header_value(data, len, "mcp-session-id")) != NULL) {
        free(x->session_id);
        x->session_id = v;
    } else if ((v = header_value(data, len, "retry-after")) != NULL) {
        free(x->retry_after);
        x->retry_after = v;
    }
    return len;
}

/*
 * Keeps msg (owned) if it is the response to want_id; notes a response with
 * another id. Returns false once the response is found (stop reading).
 */
static bool consider_parsed(exchange *x, cJSON *msg)
{
    if (!cJSON_IsObject(msg)) {
        cJSON_Delete(msg);
        return true; /* not JSON-RPC: ignore, keep reading */
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");
    bool is_response = cJSON_GetObjectItemCaseSensitive(msg, "result") ||
                       cJSON_GetObjectItemCaseSensitive(msg, "error");
    if (!is_response || !id) { /* a notification or a server request */
        cJSON_Delete(msg);
        return true;
    }
    if (cJSON_IsNumber(id) && (int64_t)id->valuedouble == x->want_id && !x->response) {
        x->response = msg;
        return false; /* found: stop reading the stream */
    }
    if (!x->mismatch) {
        char buf[96];
        if (cJSON_IsNumber(id))
            snprintf(buf, sizeof buf, "response id %.0f does not match request id %lld",
                     id->valuedouble, (long long)x->want_id);
        else
            snprintf(buf, sizeof buf, "response id is not the number %lld", (long long)x->want_id);
        x->mismatch = strdup(buf);
    }
    cJSON_Delete(msg);
    return true;
}

static bool on_sse_event(void *userdata, const char *data, size_t len)
{
    return consider_parsed(userdata, cJSON_ParseWithLength(data, len));
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    exchange *x = userdata;
    size_t len = size * nmemb;
    x->total += len;
    if (x->total > x->c->max_response_bytes) {
        x->too_large = true;
        return 0; /* aborts the transfer */
    }
    if (x->status < 200 || x->status >= 300)
        return len; /* error bodies are not needed */
    if (x->is_sse) {
        if (!x->sse_started) {
            sse_reader_init(&x->sse, x->c->max_response_bytes, on_sse_event, x);
            x->sse_started = true;
        }
        int rc = sse_reader_feed(&x->sse, data, len);
        if (rc == 1)
            return 0; /* response found: stop, the stream may stay open */
        if (rc < 0) {
            x->sse_failed = true;
            return 0;
        }
        return len;
    }
    if (x->body_len + len + 1 > x->body_cap) {
        size_t cap = x->body_cap ? x->body_cap : 4096;
        while (cap < x->body_len + len + 1)
            cap *= 2;
        char *grown = realloc(x->body, cap);
        if (!grown)
            return 0;
        x->body = grown;
        x->body_cap = cap;
    }
    memcpy(x->body + x->body_len, data, len);
    x->body_len += len;
    x->body[x->body_len] = '\0';
    return len;
}

static void exchange_free(exchange *x)
{
    free(x->session_id);
    free(x->retry_after);
    free(x->body);
    free(x->mismatch);
    if (x->sse_started)
        sse_reader_free(&x->sse);
    cJSON_Delete(x->response);
}

/* Seconds or an HTTP-date; returns seconds from now (at least 1). */
static long parse_retry_after(const char *value)
{
    char *end;
    long secs = strtol(value, &end, 10);
    if (end != value && *end == '\0')
        return secs > 0 ? secs : 1;
    time_t when = curl_getdate(value, NULL);
    long delta = when > 0 ? (long)(when - time(NULL)) : 60;
    return delta > 0 ? delta : 1;
}

static void report(mcp_client *c, const char *type, long status, double seconds)
{
    if (!c->api || !c->api->report_http)
        return;
    pa_http_report r = {.abi_version = PA_ABI_VERSION,
                        .struct_size = sizeof r,
                        .method = "POST",
                        .url = c->url,
                        .status = status,
                        .seconds = seconds,
                        .request_type = type};
    c->api->report_http(c->ctx, &r);
}

static struct curl_slist *build_headers(mcp_client *c)
{
    struct curl_slist *h = NULL, *t;
    char line[1024];
    const char *fixed[] = {"Content-Type: application/json",
                           "Accept: application/json, text/event-stream", "Expect:"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        if (!(t = curl_slist_append(h, fixed[i])))
            goto fail;
        h = t;
    }
    if (c->protocol_version[0]) {
        snprintf(line, sizeof line, "MCP-Protocol-Version: %s", c->protocol_version);
        if (!(t = curl_slist_append(h, line)))
            goto fail;
        h = t;
    }
    if (c->session_id) {
        snprintf(line, sizeof line, "Mcp-Session-Id: %s", c->session_id);
        if (!(t = curl_slist_append(h, line)))
            goto fail;
        h = t;
    }
    if (c->token) {
        size_t n = strlen(c->token) + 32;
        char *auth = malloc(n);
        if (!auth)
            goto fail;
        snprintf(auth, n, "Authorization: Bearer %s", c->token);
        t = curl_slist_append(h, auth);
        memset(auth, 0, n);
        free(auth);
        if (!t)
            goto fail;
        h = t;
    }
    return h;
fail:
    curl_slist_free_all(h);
    return NULL;
}

/*
 * POSTs one JSON-RPC message. For a request (want_id > 0) *response receives
 * the matching response object. Returns a PA status; err names type.
 */
static int post(mcp_client *c, const char *type, const char *body, int64_t want_id,
                cJSON **response, char *err, size_t err_size)
{
    exchange x = {.c = c, .want_id = want_id};
    struct curl_slist *headers = build_headers(c);
    if (!headers) {
        snprintf(err, err_size, "%s: out of memory", type);
        return PA_ERR_NOMEM;
    }
    CURL *h = c->curl;
    c->curl_error[0] = '\0';
    /* The rest of the options were set once, in mcp_client_new. */
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CURLcode cc = curl_easy_perform(h);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &x.status);
    long new_connections = 0;
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &new_connections);
    c->connections += new_connections;
    curl_slist_free_all(headers);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    report(c, type, x.status, seconds);

    int rc = PA_OK;
    bool stopped_on_response = cc == CURLE_WRITE_ERROR && x.response;
    if (x.too_large) {
        snprintf(err, err_size, "%s: response larger than max_response_bytes (%zu)", type,
                 c->max_response_bytes);
        rc = PA_ERR_REMOTE;
    } else if (x.sse_failed) {
        snprintf(err, err_size,
                 "%s: malformed event stream (event larger than %zu bytes or out "
                 "of memory)",
                 type, c->max_response_bytes);
        rc = PA_ERR_REMOTE;
    } else if (cc != CURLE_OK && !stopped_on_response) {
        const char *what = cc == CURLE_OPERATION_TIMEDOUT ? "timed out"
                           : cc == CURLE_PARTIAL_FILE     ? "response truncated"
                                                          : "request failed";
        snprintf(err, err_size, "%s: %s after %.1f s: %s", type, what, seconds,
                 c->curl_error[0] ? c->curl_error : curl_easy_strerror(cc));
        rc = PA_ERR_NETWORK;
    } else if (x.status == 401 || x.status == 403) {
        snprintf(err, err_size, "%s: Granola refused the credentials (HTTP %ld); log in again",
                 type, x.status);
        rc = PA_ERR_AUTH;
    } else if (x.status == 429) {
        long secs = x.retry_after ? parse_retry_after(x.retry_after) : 60;
        c->retry_after_ms = c->api->now_ms(c->ctx) + (int64_t)secs * 1000;
        snprintf(err, err_size, "%s: rate limited by Granola (HTTP 429); retry after %ld s", type,
                 secs);
        rc = PA_ERR_REMOTE;
    } else if (x.status == 404 && c->session_id) {
        snprintf(err, err_size, "%s: session expired (HTTP 404)", type);
        rc = SESSION_EXPIRED;
    } else if (x.status < 200 || x.status >= 300) {
        snprintf(err, err_size, "%s: %s (HTTP %ld)", type,
                 x.status >= 500 ? "Granola server error" : "unexpected HTTP status", x.status);
        rc = PA_ERR_REMOTE;
    } else if (want_id > 0) {
        if (x.is_sse) {
            if (!x.response && x.sse_started && sse_reader_finish(&x.sse) < 0)
                x.sse_failed = true;
        } else if (x.body_len) {
            const char *end = NULL;
            cJSON *msg = cJSON_ParseWithLengthOpts(x.body, x.body_len, &end, 0);
            if (!msg) {
                snprintf(err, err_size, "%s: malformed JSON in response near byte %zu", type,
                         end ? (size_t)(end - x.body) : 0);
                rc = PA_ERR_REMOTE;
            } else {
                consider_parsed(&x, msg);
            }
        }
        if (rc == PA_OK && !x.response) {
            snprintf(err, err_size, "%s: %s", type,
                     x.mismatch ? x.mismatch
                     : x.is_sse ? "event stream ended without a response"
                                : "empty response");
            rc = PA_ERR_REMOTE;
        }
    }
    if (rc == PA_OK && x.session_id) {
        free(c->session_id);
        c->session_id = x.session_id;
        x.session_id = NULL;
    }
    if (rc == PA_OK && response) {
        *response = x.response;
        x.response = NULL;
    }
    exchange_free(&x);
    return rc;
}

/* Sends a request and unwraps its result; a JSON-RPC error becomes PA_ERR_REMOTE. */
static int request(mcp_client *c, const char *type, const char *method, cJSON *params,
                   cJSON **result, char *err, size_t err_size)
{
    int64_t id = c->next_id++;
    cJSON *msg = cJSON_CreateObject();
    cJSON_AddStringToObject(msg, "jsonrpc", "2.0");
    cJSON_AddNumberToObject(msg, "id", (double)id);
    cJSON_AddStringToObject(msg, "method", method);
    if (params)
        cJSON_AddItemReferenceToObject(msg, "params", params);
    char *body = cJSON_PrintUnformatted(msg);
    cJSON_Delete(msg);
    if (!body) {
        snprintf(err, err_size, "%s: out of memory", type);
        return PA_ERR_NOMEM;
    }
    cJSON *response = NULL;
    int rc = post(c, type, body, id, &response, err, err_size);
    cJSON_free(body);
    if (rc != PA_OK)
        return rc;
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(response, "error");
    if (error) {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(error, "code");
        const cJSON *message = cJSON_GetObjectItemCaseSensitive(error, "message");
        snprintf(err, err_size, "%s: JSON-RPC error %d: %s", type,
                 cJSON_IsNumber(code) ? code->valueint : 0,
                 cJSON_IsString(message) ? message->valuestring : "(no message)");
        cJSON_Delete(response);
        return PA_ERR_REMOTE;
    }
    *result = cJSON_DetachItemFromObjectCaseSensitive(response, "result");
    cJSON_Delete(response);
    return PA_OK;
}

static int initialize(mcp_client *c, char *err, size_t err_size)
{
    free(c->session_id);
    c->session_id = NULL;
    c->protocol_version[0] = '\0';
    cJSON *params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "protocolVersion", SUPPORTED_VERSIONS[0]);
    cJSON_AddItemToObject(params, "capabilities", cJSON_CreateObject());
    cJSON *info = cJSON_AddObjectToObject(params, "clientInfo");
    cJSON_AddStringToObject(info, "name", MCP_CLIENT_NAME);
    cJSON_AddStringToObject(info, "version", MCP_CLIENT_VERSION);
    cJSON *result = NULL;
    int rc = request(c, "initialize", "initialize", params, &result, err, err_size);
    cJSON_Delete(params);
    if (rc != PA_OK)
        return rc == SESSION_EXPIRED ? PA_ERR_REMOTE : rc;
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(result, "protocolVersion");
    bool supported = false;
    for (size_t i = 0;
         cJSON_IsString(version) && i < sizeof SUPPORTED_VERSIONS / sizeof SUPPORTED_VERSIONS[0];
         i++)
        supported = supported || strcmp(version->valuestring, SUPPORTED_VERSIONS[i]) == 0;
    if (!supported) {
        snprintf(err, err_size,
                 "initialize: server chose protocol version %s, which this client "
                 "does not support",
                 cJSON_IsString(version) ? version->valuestring : "(none)");
        cJSON_Delete(result);
        free(c->session_id);
        c->session_id = NULL;
        return PA_ERR_REMOTE;
    }
    snprintf(c->protocol_version, sizeof c->protocol_version, "%s", version->valuestring);
    cJSON_Delete(result);
    rc = post(c, "notifications/initialized",
              "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", 0, NULL, err,
              err_size);
    if (rc != PA_OK)
        c->protocol_version[0] = '\0';
    return rc == SESSION_EXPIRED ? PA_ERR_REMOTE : rc;
}

/* Joins the text items of a tool result; isError results become errors. */
static int tool_text(cJSON *result, const char *type, char **text, char *err, size_t err_size)
{
    cJSON *content = cJSON_GetObjectItemCaseSensitive(result, "content");
    size_t total = 0, items = 0;
    cJSON *item, *only = NULL;
    cJSON_ArrayForEach(item, content)
    {
        cJSON *t = cJSON_GetObjectItemCaseSensitive(item, "text");
        if (cJSON_IsString(t)) {
            total += strlen(t->valuestring);
            items++;
            only = t;
        }
    }
    char *out;
    if (items == 1) {
        /* The usual case: take the one string from the tree instead of copying it. */
        out = only->valuestring;
        only->valuestring = NULL;
        only->type = cJSON_NULL;
    } else if ((out = cJSON_malloc(total + 1)) != NULL) {
        size_t n = 0;
        cJSON_ArrayForEach(item, content)
        {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(item, "text");
            if (cJSON_IsString(t)) {
                size_t len = strlen(t->valuestring);
                memcpy(out + n, t->valuestring, len);
                n += len;
            }
        }
        out[n] = '\0';
    }
    if (!out) {
        snprintf(err, err_size, "%s: out of memory", type);
        return PA_ERR_NOMEM;
    }
    int rc = PA_OK;
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(result, "isError"))) {
        snprintf(err, err_size, "%s: tool error: %.300s", type, *out ? out : "(no text)");
        rc = PA_ERR_REMOTE;
    } else if (!cJSON_IsArray(content)) {
        snprintf(err, err_size, "%s: tool result has no content array", type);
        rc = PA_ERR_REMOTE;
    }
    if (rc != PA_OK) {
        cJSON_free(out);
        return rc;
    }
    *text = out;
    return PA_OK;
}

int mcp_call_tool(mcp_client *c, const char *name, const cJSON *arguments, char **text, char *err,
                  size_t err_size)
{
    *text = NULL;
    char type[128];
    snprintf(type, sizeof type, "tools/call %s", name);
    cJSON *params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "name", name);
    cJSON_AddItemReferenceToObject(params, "arguments", (cJSON *)arguments);
    int rc = PA_OK;
    cJSON *result = NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!c->protocol_version[0] && (rc = initialize(c, err, err_size)) != PA_OK)
            break;
        rc = request(c, type, "tools/call", params, &result, err, err_size);
        if (rc != SESSION_EXPIRED)
            break;
        /* 404 on a session: it ended. Start a new one and retry once. */
        c->protocol_version[0] = '\0';
        if (attempt == 1)
            rc = PA_ERR_REMOTE;
    }
    cJSON_Delete(params);
    if (rc == PA_OK) {
        rc = tool_text(result, type, text, err, err_size);
        cJSON_Delete(result);
    }
    return rc;
}
