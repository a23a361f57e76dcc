#include "mcp_client.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "sse_reader.h"
#include "text_clean.h"

#define CLIENT_NAME    "pa-granola-plugin"
#define CLIENT_VERSION "1.0.0"
#define META_VERSION   "io.modelcontextprotocol/protocolVersion"
#define META_CAPS      "io.modelcontextprotocol/clientCapabilities"
#define META_INFO      "io.modelcontextprotocol/clientInfo"

#define HEADER_MISMATCH     (-32020)
#define MISSING_CAPABILITY  (-32021)
#define UNSUPPORTED_VERSION (-32022)
#define METHOD_NOT_FOUND    (-32601)

/* rpc()'s verdicts besides a pa_status: the caller changes course and retries. */
#define SESSION_EXPIRED (-1) /* legacy: 404 on our session */
#define LEGACY_SERVER   (-2) /* a modern request met a server that is not modern */
#define VERSION_CHANGED (-3) /* UnsupportedProtocolVersionError: c->version now holds the next */

/* Newest first: the order of preference. */
static const char *const VERSIONS[] = {MCP_MODERN_VERSION, "2025-11-25", "2025-06-18",
                                       "2025-03-26"};
#define N_VERSIONS (sizeof VERSIONS / sizeof VERSIONS[0])

typedef enum era { ERA_UNKNOWN, ERA_MODERN, ERA_LEGACY } era;

struct mcp_client {
    http_client *http;
    char *url;
    size_t max_event_bytes;
    const pa_host_api *api;
    pa_host_ctx *ctx;
    const char *token;
    era era;
    char version[16];        /* the revision requests are sent in */
    bool initialized;        /* legacy: the handshake is done */
    char *session_id;        /* legacy */
    cJSON *meta;             /* modern: the params._meta envelope */
    char logged_version[16]; /* the agreement last logged */
    int64_t next_id;
    int64_t retry_after_ms;
};

/* One request's reply as it is read: the response matching want_id. */
typedef struct reply {
    int64_t want_id;
    cJSON *response;
    char mismatch[96];
    sse_reader sse;
    bool sse_started, sse_failed;
    size_t max_event_bytes;
} reply;

static bool is_modern(const char *version)
{
    return strcmp(version, MCP_MODERN_VERSION) >= 0;
}

static int set_version(mcp_client *c, const char *version)
{
    snprintf(c->version, sizeof c->version, "%s", version);
    cJSON_Delete(c->meta);
    c->meta = NULL;
    if (!is_modern(version))
        return PA_OK;
    cJSON *meta = cJSON_CreateObject(), *info;
    if (!meta || !cJSON_AddStringToObject(meta, META_VERSION, version) ||
        !cJSON_AddObjectToObject(meta, META_CAPS) ||
        !(info = cJSON_AddObjectToObject(meta, META_INFO)) ||
        !cJSON_AddStringToObject(info, "name", CLIENT_NAME) ||
        !cJSON_AddStringToObject(info, "version", CLIENT_VERSION)) {
        cJSON_Delete(meta);
        return PA_ERR_NOMEM;
    }
    c->meta = meta;
    return PA_OK;
}

int mcp_client_new(const mcp_options *o, mcp_client **out, char *err, size_t err_size)
{
    *out = NULL;
    mcp_client *c = calloc(1, sizeof *c);
    if (!c || !(c->url = strdup(o->url)) || set_version(c, MCP_MODERN_VERSION) != PA_OK) {
        if (c)
            free(c->url);
        free(c);
        snprintf(err, err_size, "cannot create the MCP client: out of memory");
        return PA_ERR_NOMEM;
    }
    c->http = o->http;
    c->max_event_bytes = o->max_response_bytes;
    c->api = o->api;
    c->ctx = o->ctx;
    c->next_id = 1;
    *out = c;
    return PA_OK;
}

void mcp_client_free(mcp_client *c)
{
    if (!c)
        return;
    free(c->session_id);
    cJSON_Delete(c->meta);
    free(c->url);
    free(c);
}

void mcp_client_set_token(mcp_client *c, const char *token)
{
    c->token = token;
}

int64_t mcp_client_retry_after_ms(const mcp_client *c)
{
    return c->retry_after_ms;
}

const char *mcp_client_protocol_version(const mcp_client *c)
{
    return c->era == ERA_UNKNOWN || (c->era == ERA_LEGACY && !c->initialized) ? NULL : c->version;
}

/* ---- reading replies ---------------------------------------------------- */

/* Keeps msg (owned) if it answers want_id exactly; returns false once found. */
static bool consider(reply *r, cJSON *msg)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");
    bool is_response = cJSON_GetObjectItemCaseSensitive(msg, "result") ||
                       cJSON_GetObjectItemCaseSensitive(msg, "error");
    if (!cJSON_IsObject(msg) || !is_response || !id) { /* notification or server request */
        cJSON_Delete(msg);
        return true;
    }
    /* Exact: 2.0000000001 is not 2. Ids this client sends are small integers. */
    if (cJSON_IsNumber(id) && id->valuedouble == (double)r->want_id && !r->response) {
        r->response = msg;
        return false;
    }
    if (!r->mismatch[0]) {
        if (cJSON_IsNumber(id))
            snprintf(r->mismatch, sizeof r->mismatch,
                     "response id %.17g does not match request id %lld", id->valuedouble,
                     (long long)r->want_id);
        else
            snprintf(r->mismatch, sizeof r->mismatch, "response id is not the number %lld",
                     (long long)r->want_id);
    }
    cJSON_Delete(msg);
    return true;
}

static bool on_sse_event(void *userdata, const char *data, size_t len)
{
    return consider(userdata, cJSON_ParseWithLength(data, len));
}

static int on_event_stream(void *userdata, const char *data, size_t len)
{
    reply *r = userdata;
    if (!r->sse_started) {
        sse_reader_init(&r->sse, r->max_event_bytes, on_sse_event, r);
        r->sse_started = true;
    }
    int rc = sse_reader_feed(&r->sse, data, len);
    r->sse_failed = rc < 0;
    return rc == 1 ? HTTP_BODY_DONE : rc < 0 ? HTTP_BODY_FAIL : HTTP_BODY_MORE;
}

/* The response in a 2xx reply, or PA_ERR_REMOTE with why there is none. */
static int take_response(reply *r, const http_response *resp, const char *type, char *err,
                         size_t err_size)
{
    if (r->sse_started && !r->response && !resp->stream_done && sse_reader_finish(&r->sse) < 0)
        r->sse_failed = true;
    if (!resp->is_event_stream && resp->body_len) {
        const char *end = NULL;
        cJSON *msg = cJSON_ParseWithLengthOpts(resp->body, resp->body_len, &end, 0);
        if (!msg) {
            snprintf(err, err_size, "%s: malformed JSON in response near byte %zu", type,
                     end ? (size_t)(end - resp->body) : 0);
            return PA_ERR_REMOTE;
        }
        consider(r, msg);
    }
    if (r->response)
        return PA_OK;
    snprintf(err, err_size, "%s: %s", type,
             r->sse_failed    ? "malformed event stream (an event too large, or out of memory)"
             : r->mismatch[0] ? r->mismatch
             : resp->is_event_stream ? "event stream ended without a response"
                                     : "empty response");
    return PA_ERR_REMOTE;
}

static void reply_free(reply *r)
{
    if (r->sse_started)
        sse_reader_free(&r->sse);
    cJSON_Delete(r->response);
}

int mcp_parse_reply(const char *body, size_t len, bool event_stream, int64_t want_id,
                    size_t max_event_bytes, cJSON **response, char *err, size_t err_size)
{
    *response = NULL;
    reply r = {.want_id = want_id, .max_event_bytes = max_event_bytes};
    http_response resp = {.status = 200, .is_event_stream = event_stream};
    if (event_stream)
        resp.stream_done = on_event_stream(&r, body, len) == HTTP_BODY_DONE;
    else
        resp.body = (char *)body, resp.body_len = len; /* read only */
    int rc = take_response(&r, &resp, "reply", err, err_size);
    if (rc == PA_OK) {
        *response = r.response;
        r.response = NULL;
    }
    reply_free(&r);
    return rc;
}

/* ---- errors from the server --------------------------------------------- */

typedef struct rpc_error {
    bool present;
    int code;
    const char *message;
    const cJSON *supported; /* error.data.supported: the UnsupportedProtocolVersionError mark */
    cJSON *root;            /* owns the above when parsed from a body */
} rpc_error;

static void read_error(const cJSON *error, rpc_error *e)
{
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(error, "code");
    const cJSON *message = cJSON_GetObjectItemCaseSensitive(error, "message");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(error, "data");
    const cJSON *supported = cJSON_GetObjectItemCaseSensitive(data, "supported");
    e->present = cJSON_IsObject(error);
    e->code = cJSON_IsNumber(code) ? code->valueint : 0;
    e->message = cJSON_IsString(message) ? message->valuestring : "(no message)";
    e->supported = cJSON_IsArray(supported) ? supported : NULL;
}

/* The JSON-RPC error in a non-2xx body, if there is one. */
static void parse_error_body(const http_response *resp, rpc_error *e)
{
    memset(e, 0, sizeof *e);
    if (!resp->body)
        return;
    e->root = cJSON_ParseWithLength(resp->body, resp->body_len);
    read_error(cJSON_GetObjectItemCaseSensitive(e->root, "error"), e);
}

/* "TYPE: what (HTTP n)" and whatever the server said: its JSON-RPC error or its text. */
static void describe_status(const char *type, const http_response *resp, const rpc_error *e,
                            char *err, size_t err_size)
{
    const char *what = resp->status >= 500 ? "Granola server error" : "unexpected HTTP status";
    if (e->present)
        snprintf(err, err_size, "%s: %s (HTTP %ld): JSON-RPC error %d: %.300s", type, what,
                 resp->status, e->code, e->message);
    else if (resp->body && resp->body_len)
        snprintf(err, err_size, "%s: %s (HTTP %ld): %.200s", type, what, resp->status, resp->body);
    else
        snprintf(err, err_size, "%s: %s (HTTP %ld)", type, what, resp->status);
}

static const char *choose_version(const cJSON *supported, const char *refused)
{
    for (size_t i = 0; i < N_VERSIONS; i++) {
        const cJSON *v;
        if (strcmp(VERSIONS[i], refused) == 0)
            continue;
        cJSON_ArrayForEach(v, supported)
        {
            if (cJSON_IsString(v) && strcmp(v->valuestring, VERSIONS[i]) == 0)
                return VERSIONS[i];
        }
    }
    return NULL;
}

/* UnsupportedProtocolVersionError: move to the best revision both sides support. */
static int switch_version(mcp_client *c, const char *type, const rpc_error *e, char *err,
                          size_t err_size)
{
    char *theirs = cJSON_PrintUnformatted(e->supported);
    const char *next = choose_version(e->supported, c->version);
    if (!next) {
        snprintf(err, err_size,
                 "%s: no MCP protocol revision in common: the server supports %.200s, this "
                 "client %s, %s, %s and %s (JSON-RPC error %d: %.200s)",
                 type, theirs ? theirs : "?", VERSIONS[0], VERSIONS[1], VERSIONS[2], VERSIONS[3],
                 e->code, e->message);
        cJSON_free(theirs);
        return PA_ERR_REMOTE;
    }
    c->api->log(c->ctx, PA_LOG_INFO,
                "MCP: the server does not serve revision %s (it supports %.200s); using %s",
                c->version, theirs ? theirs : "?", next);
    cJSON_free(theirs);
    if (set_version(c, next) != PA_OK) {
        snprintf(err, err_size, "%s: out of memory", type);
        return PA_ERR_NOMEM;
    }
    c->era = is_modern(next) ? ERA_MODERN : ERA_LEGACY;
    c->initialized = false;
    free(c->session_id);
    c->session_id = NULL;
    snprintf(err, err_size, "%s: switched to protocol revision %s", type, next);
    return VERSION_CHANGED;
}

/* A non-2xx answer: a final status, or a verdict that changes the client's course. */
static int classify(mcp_client *c, const char *type, const http_response *resp, const rpc_error *e,
                    char *err, size_t err_size)
{
    long s = resp->status;
    if (s == 401 || s == 403) {
        snprintf(err, err_size, "%s: Granola refused the credentials (HTTP %ld); log in again",
                 type, s);
        return PA_ERR_AUTH;
    }
    if (s == 429) {
        int64_t secs = resp->retry_after_seconds >= 0 ? resp->retry_after_seconds : 60;
        c->retry_after_ms = c->api->now_ms(c->ctx) + secs * 1000;
        snprintf(err, err_size, "%s: rate limited by Granola (HTTP 429); retry after %lld s", type,
                 (long long)secs);
        return PA_ERR_REMOTE;
    }
    if (e->supported)
        return switch_version(c, type, e, err, err_size);
    describe_status(type, resp, e, err, err_size);
    if (s == 404 && c->era == ERA_LEGACY && c->session_id)
        return SESSION_EXPIRED;
    bool modern_error =
        e->present && ((e->code <= HEADER_MISMATCH && e->code >= UNSUPPORTED_VERSION) ||
                       (s == 404 && e->code == METHOD_NOT_FOUND));
    if (c->era != ERA_LEGACY && (s == 400 || s == 404 || s == 405) && !modern_error)
        return LEGACY_SERVER;
    return PA_ERR_REMOTE;
}

/* ---- sending ------------------------------------------------------------- */

/* Header values are visible ASCII, space and tab, not padded, not the sentinel form. */
static bool header_safe(const char *v)
{
    size_t n = strlen(v);
    if (!n || v[0] == ' ' || v[0] == '\t' || v[n - 1] == ' ' || v[n - 1] == '\t')
        return false;
    if (n >= 11 && strncmp(v, "=?base64?", 9) == 0 && strcmp(v + n - 2, "?=") == 0)
        return false;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p != '\t' && (*p < 0x20 || *p > 0x7E))
            return false;
    }
    return true;
}

/* Session ids are visible ASCII (0x21 to 0x7E); anything else is not sent back. */
static void remember_session(mcp_client *c)
{
    const char *sid = http_header(c->http, "Mcp-Session-Id");
    if (!sid || !*sid || strlen(sid) > 255)
        return;
    for (const char *p = sid; *p; p++) {
        if (*p < 0x21 || *p > 0x7E)
            return;
    }
    char *copy = strdup(sid);
    if (copy) {
        free(c->session_id);
        c->session_id = copy;
    }
}

#define MAX_HEADERS 4
typedef struct header_lines {
    char line[MAX_HEADERS][512];
    const char *list[MAX_HEADERS + 1];
    size_t n;
} header_lines;

static void add_line(header_lines *h, const char *name, const char *value)
{
    snprintf(h->line[h->n], sizeof h->line[h->n], "%s: %s", name, value);
    h->list[h->n] = h->line[h->n];
    h->list[++h->n] = NULL;
}

/* The era's headers for one request; false when memory runs out. */
static bool era_headers(const mcp_client *c, const char *method, const char *name, header_lines *h)
{
    h->n = 0;
    h->list[0] = NULL;
    if (c->era == ERA_LEGACY) {
        if (strcmp(method, "initialize") != 0)
            add_line(h, "MCP-Protocol-Version", c->version);
        if (c->session_id)
            add_line(h, "Mcp-Session-Id", c->session_id);
        return true;
    }
    add_line(h, "MCP-Protocol-Version", c->version);
    add_line(h, "Mcp-Method", method);
    if (!name)
        return true;
    if (header_safe(name)) {
        add_line(h, "Mcp-Name", name);
        return true;
    }
    char *b64 = base64_encode((const unsigned char *)name, strlen(name), false);
    if (!b64)
        return false;
    char value[480];
    snprintf(value, sizeof value, "=?base64?%s?=", b64);
    free(b64);
    add_line(h, "Mcp-Name", value);
    return true;
}

/* The JSON-RPC message: params' members by reference, plus _meta in the modern era. */
static char *request_body(const mcp_client *c, int64_t id, const char *method, const cJSON *params)
{
    cJSON *msg = cJSON_CreateObject(), *p = NULL;
    bool ok = msg && cJSON_AddStringToObject(msg, "jsonrpc", "2.0") &&
              (!id || cJSON_AddNumberToObject(msg, "id", (double)id)) &&
              cJSON_AddStringToObject(msg, "method", method);
    bool modern = c->era != ERA_LEGACY;
    if (ok && (params || modern)) {
        const cJSON *item;
        ok = (p = cJSON_AddObjectToObject(msg, "params")) != NULL;
        cJSON_ArrayForEach(item, params)
        {
            ok = ok && cJSON_AddItemReferenceToObject(p, item->string, (cJSON *)item);
        }
        ok = ok && (!modern || cJSON_AddItemReferenceToObject(p, "_meta", c->meta));
    }
    char *body = ok ? cJSON_PrintUnformatted(msg) : NULL;
    cJSON_Delete(msg);
    return body;
}

/* What a 2xx answer holds: the result, a JSON-RPC error, or nothing usable. */
static int interpret(mcp_client *c, const char *type, const http_response *resp, reply *r,
                     cJSON **result, char *err, size_t err_size)
{
    if (resp->status < 200 || resp->status >= 300) {
        rpc_error e;
        parse_error_body(resp, &e);
        int rc = classify(c, type, resp, &e, err, err_size);
        cJSON_Delete(e.root);
        return rc;
    }
    if (c->era == ERA_LEGACY)
        remember_session(c);
    if (!result)
        return PA_OK; /* a notification, accepted */
    int rc = take_response(r, resp, type, err, err_size);
    if (rc != PA_OK)
        return rc;
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(r->response, "error");
    if (error) {
        rpc_error e = {0};
        read_error(error, &e);
        if (e.supported)
            return switch_version(c, type, &e, err, err_size);
        snprintf(err, err_size, "%s: JSON-RPC error %d: %.300s", type, e.code, e.message);
        return PA_ERR_REMOTE;
    }
    *result = cJSON_DetachItemFromObjectCaseSensitive(r->response, "result");
    return PA_OK;
}

/*
 * Sends one JSON-RPC request (result != NULL) or notification. Returns a
 * pa_status, or SESSION_EXPIRED / LEGACY_SERVER / VERSION_CHANGED with err
 * saying why.
 */
static int rpc(mcp_client *c, const char *type, const char *method, const char *name,
               const cJSON *params, cJSON **result, char *err, size_t err_size)
{
    int64_t id = result ? c->next_id++ : 0;
    header_lines headers;
    char *body = request_body(c, id, method, params);
    if (!body || !era_headers(c, method, name, &headers)) {
        cJSON_free(body);
        snprintf(err, err_size, "%s: out of memory", type);
        return PA_ERR_NOMEM;
    }
    reply r = {.want_id = id, .max_event_bytes = c->max_event_bytes};
    http_request req = {.type = type,
                        .url = c->url,
                        .body = body,
                        .content_type = "application/json",
                        .accept = "application/json, text/event-stream",
                        .bearer = c->token,
                        .headers = headers.list,
                        .on_event_stream = result ? on_event_stream : NULL,
                        .userdata = &r};
    http_response resp;
    int rc = http_perform(c->http, &req, &resp, err, err_size);
    cJSON_free(body);
    if (rc == PA_OK)
        rc = interpret(c, type, &resp, &r, result, err, err_size);
    else if (r.sse_failed)
        snprintf(err, err_size,
                 "%s: malformed event stream (an event larger than %zu bytes, or "
                 "out of memory)",
                 type, c->max_event_bytes);
    http_response_free(&resp);
    reply_free(&r);
    return rc;
}

/* ---- the legacy handshake and the call ----------------------------------- */

static int accept_initialize(mcp_client *c, const cJSON *result, char *err, size_t err_size)
{
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(result, "protocolVersion");
    for (size_t i = 0; cJSON_IsString(version) && i < N_VERSIONS; i++) {
        if (!is_modern(VERSIONS[i]) && strcmp(version->valuestring, VERSIONS[i]) == 0)
            return set_version(c, VERSIONS[i]);
    }
    snprintf(err, err_size,
             "initialize: the server chose protocol revision %.40s, which this client does not "
             "support in the handshake",
             cJSON_IsString(version) ? version->valuestring : "(none)");
    return PA_ERR_REMOTE;
}

static int legacy_initialize(mcp_client *c, char *err, size_t err_size)
{
    free(c->session_id);
    c->session_id = NULL;
    cJSON *params = cJSON_CreateObject(), *info, *result = NULL;
    bool ok = params && cJSON_AddStringToObject(params, "protocolVersion", c->version) &&
              cJSON_AddObjectToObject(params, "capabilities") &&
              (info = cJSON_AddObjectToObject(params, "clientInfo")) &&
              cJSON_AddStringToObject(info, "name", CLIENT_NAME) &&
              cJSON_AddStringToObject(info, "version", CLIENT_VERSION);
    int rc = ok ? rpc(c, "initialize", "initialize", NULL, params, &result, err, err_size)
                : PA_ERR_NOMEM;
    cJSON_Delete(params);
    if (rc == PA_OK)
        rc = accept_initialize(c, result, err, err_size);
    cJSON_Delete(result);
    if (rc == PA_OK)
        rc = rpc(c, "notifications/initialized", "notifications/initialized", NULL, NULL, NULL, err,
                 err_size);
    if (rc == PA_ERR_NOMEM)
        snprintf(err, err_size, "initialize: out of memory");
    c->initialized = rc == PA_OK;
    return rc == SESSION_EXPIRED || rc == LEGACY_SERVER ? PA_ERR_REMOTE : rc;
}

/* After a verdict: what the next attempt does differently. */
static void change_course(mcp_client *c, int verdict, const char *why)
{
    if (verdict == SESSION_EXPIRED) {
        c->initialized = false; /* a new session, then the request again */
    } else if (verdict == LEGACY_SERVER) {
        c->api->log(c->ctx, PA_LOG_INFO,
                    "MCP: the server refused a %s request (%s); it is taken as a legacy server: "
                    "falling back to the initialize handshake",
                    c->version, why);
        set_version(c, VERSIONS[1]); /* the newest legacy revision: no allocation */
        c->era = ERA_LEGACY;
        c->initialized = false;
    } /* VERSION_CHANGED: switch_version has already moved the client */
}

/* Logs the agreed revision when it is first known and whenever it changes. */
static void note_agreement(mcp_client *c)
{
    if (c->era == ERA_UNKNOWN)
        c->era = ERA_MODERN;
    if (strcmp(c->logged_version, c->version) == 0)
        return;
    snprintf(c->logged_version, sizeof c->logged_version, "%s", c->version);
    char *where = http_url_for_log(c->url);
    c->api->log(c->ctx, PA_LOG_INFO, "MCP protocol revision %s (%s era) in use with %s", c->version,
                c->era == ERA_MODERN ? "modern" : "legacy", where ? where : "?");
    free(where);
}

/* Modern results say whether they are complete; input_required needs a user. */
static int check_result_type(const cJSON *result, const char *type, char *err, size_t err_size)
{
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(result, "resultType");
    if (!kind || (cJSON_IsString(kind) && strcmp(kind->valuestring, "complete") == 0))
        return PA_OK;
    if (cJSON_IsString(kind) && strcmp(kind->valuestring, "input_required") == 0)
        snprintf(err, err_size,
                 "%s: the server asked for more input (resultType input_required), which this "
                 "plugin cannot give",
                 type);
    else
        snprintf(err, err_size, "%s: unknown resultType %.40s", type,
                 cJSON_IsString(kind) ? kind->valuestring : "(not a string)");
    return PA_ERR_REMOTE;
}

/*
 * The text items of a tool result, joined (cJSON_malloc'd). The usual single
 * item is taken out of the tree instead of copied: listings run to megabytes.
 */
static char *join_text(cJSON *content, size_t *len)
{
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
    if (items == 1) {
        char *out = only->valuestring;
        only->valuestring = NULL;
        only->type = cJSON_NULL;
        *len = total;
        return out;
    }
    char *out = cJSON_malloc(total + 1);
    size_t n = 0;
    if (!out)
        return NULL;
    cJSON_ArrayForEach(item, content)
    {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(item, "text");
        if (cJSON_IsString(t)) {
            size_t l = strlen(t->valuestring);
            memcpy(out + n, t->valuestring, l);
            n += l;
        }
    }
    out[n] = '\0';
    *len = n;
    return out;
}

static int tool_text(const cJSON *result, const char *type, char **text, char *err, size_t err_size)
{
    int rc = check_result_type(result, type, err, err_size);
    if (rc != PA_OK)
        return rc;
    cJSON *content = cJSON_GetObjectItemCaseSensitive(result, "content");
    size_t len;
    char *out = join_text(content, &len);
    if (out && utf8_valid_prefix(out, len) != len) {
        char *repaired = utf8_repair(out, len, &len); /* U+FFFD before any item sees it */
        cJSON_free(out);
        out = repaired ? cJSON_malloc(len + 1) : NULL;
        if (out)
            memcpy(out, repaired, len + 1);
        free(repaired);
    }
    if (!out) {
        snprintf(err, err_size, "%s: out of memory", type);
        return PA_ERR_NOMEM;
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(result, "isError"))) {
        snprintf(err, err_size, "%s: tool error: %.300s", type, *out ? out : "(no text)");
        rc = PA_ERR_REMOTE;
    } else if (!cJSON_IsArray(content)) {
        snprintf(err, err_size, "%s: tool result has no content array", type);
        rc = PA_ERR_REMOTE;
    }
    if (rc == PA_OK)
        *text = out;
    else
        cJSON_free(out);
    return rc;
}

int mcp_call_tool(mcp_client *c, const char *name, const cJSON *arguments, char **text, char *err,
                  size_t err_size)
{
    *text = NULL;
    c->retry_after_ms = 0; /* a deadline speaks of the call that got it */
    char type[128];
    snprintf(type, sizeof type, "tools/call %s", name);
    cJSON *params = cJSON_CreateObject(), *result = NULL;
    int rc = params && cJSON_AddStringToObject(params, "name", name) &&
                     cJSON_AddItemReferenceToObject(params, "arguments", (cJSON *)arguments)
                 ? PA_OK
                 : PA_ERR_NOMEM;
    if (rc != PA_OK)
        snprintf(err, err_size, "%s: out of memory", type);
    /* Each verdict changes course once: legacy fallback, a new session, another revision. */
    for (int attempt = 0; rc == PA_OK && attempt < 3; attempt++) {
        if (c->era == ERA_LEGACY && !c->initialized)
            rc = legacy_initialize(c, err, err_size);
        if (rc == PA_OK)
            rc = rpc(c, type, "tools/call", name, params, &result, err, err_size);
        if (rc >= PA_OK)
            break;
        change_course(c, rc, err);
        rc = PA_OK;
    }
    if (rc == PA_OK && !result)
        rc = PA_ERR_REMOTE; /* every attempt changed course: err says the last reason */
    cJSON_Delete(params);
    if (rc == PA_OK) {
        note_agreement(c);
        rc = tool_text(result, type, text, err, err_size);
    }
    cJSON_Delete(result);
    return rc;
}
