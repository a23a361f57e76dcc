/*
 * fake_granola: a Granola-compatible MCP server for tests and the demo.
 *
 *   fake_granola --fixture FILE [--port N] [--sse] [--sessionless] [--token T] [--oauth]
 *
 * Binds 127.0.0.1 (port 0 picks one) and prints "fake_granola listening on
 * 127.0.0.1:PORT" on stdout. Serves meetings from a JSON fixture in Granola's
 * XML-like text with its quirks (preamble, access notice, entities in
 * attributes, raw '<' in summaries, both email forms).
 *
 *   POST /mcp        MCP Streamable HTTP: initialize, notifications, tools/list,
 *                    tools/call list_meetings | get_meetings
 *   POST /_control   change behaviour at run time (JSON, see apply_control)
 *   GET  /_stats     requests per method, TCP connections, last arguments
 *   OAuth 2.1        /.well-known/..., /oauth2/{register,authorize,token}
 *                    (fake_oauth.c); --oauth makes /mcp require its tokens
 *
 * Fixture: {"meetings": [{"id", "title", "date" | "days_ago", "date_format":
 * "iso"|"human", "workspace_id", "participants": [{"name", "email", "company",
 * "creator", "email_form": "angle"|"entity"}], "summary" | "notes",
 * "private_notes"}]}
 */
#include <cjson/cJSON.h>
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fake_oauth.h"

#define MAX_BODY (4u << 20)

typedef struct buf {
    char *data;
    size_t len, cap;
} buf;

static void buf_reserve(buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *grown = realloc(b->data, cap);
    if (!grown) {
        fprintf(stderr, "fake_granola: out of memory\n");
        abort();
    }
    b->data = grown;
    b->cap = cap;
}

static void buf_add(buf *b, const char *s, size_t n)
{
    buf_reserve(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void buf_str(buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

static void buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Attribute text as Granola writes it: entities for & " < > '. */
static void buf_attr(buf *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&':
            buf_str(b, "&amp;");
            break;
        case '"':
            buf_str(b, "&quot;");
            break;
        case '<':
            buf_str(b, "&lt;");
            break;
        case '>':
            buf_str(b, "&gt;");
            break;
        case '\'':
            buf_str(b, "&#39;");
            break;
        default:
            buf_add(b, s, 1);
        }
    }
}

typedef struct fault {
    char *method; /* "list_meetings", "get_meetings", "initialize", "*" */
    char *kind;   /* status delay truncate malformed oversize wrong_id rpc_error tool_error */
    long status;
    long count; /* how many matching requests it hits; -1 = all */
    long skip;  /* matching requests let through before it starts */
    long delay_ms;
    long retry_after;
    long oversize_bytes;
} fault;

typedef struct method_count {
    char name[96];
    long count;
} method_count;

static struct server {
    pthread_mutex_t mu;
    cJSON *fixture; /* {"meetings": [...]} */
    int port;
    bool sse, crlf, sessionful;
    long chunk_bytes; /* >0: write replies in pieces of this size */
    bool expire_session;
    long expire_after; /* >0: the session ends after this many more session requests */
    long session_serial;
    char session_id[64];
    char *require_token;
    bool oauth; /* MCP requires an access token from the OAuth token endpoint */
    fault fault;
    method_count counts[32];
    long connections; /* TCP connections that carried at least one MCP request */
    char *last_list_arguments;
    long max_get_ids;
} S = {.mu = PTHREAD_MUTEX_INITIALIZER, .sessionful = true};

static void count_method(const char *name)
{
    for (size_t i = 0; i < sizeof S.counts / sizeof S.counts[0]; i++) {
        if (S.counts[i].name[0] == '\0')
            snprintf(S.counts[i].name, sizeof S.counts[i].name, "%s", name);
        if (strcmp(S.counts[i].name, name) == 0) {
            S.counts[i].count++;
            return;
        }
    }
}

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void render_date(const cJSON *m, buf *b)
{
    const char *literal = jstr(m, "date");
    if (literal) {
        buf_attr(b, literal);
        return;
    }
    const cJSON *days = cJSON_GetObjectItemCaseSensitive(m, "days_ago");
    time_t when = time(NULL) - (time_t)((cJSON_IsNumber(days) ? days->valuedouble : 0) * 86400);
    struct tm tm;
    gmtime_r(&when, &tm);
    char text[64];
    const char *format = jstr(m, "date_format");
    if (format && strcmp(format, "human") == 0)
        strftime(text, sizeof text, "%b %d, %Y %I:%M %p UTC", &tm);
    else
        strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
    buf_str(b, text);
}

static void render_participants(const cJSON *m, buf *b)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(m, "participants");
    if (!cJSON_IsArray(list))
        return;
    buf_str(b, "\n<known_participants>\n");
    const cJSON *p;
    bool first = true;
    cJSON_ArrayForEach(p, list)
    {
        buf_str(b, first ? "" : ", ");
        first = false;
        buf_str(b, jstr(p, "name") ? jstr(p, "name") : "Someone");
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "creator")))
            buf_str(b, " (note creator)");
        if (jstr(p, "company"))
            buf_printf(b, " from %s", jstr(p, "company"));
        if (jstr(p, "email")) {
            const char *form = jstr(p, "email_form");
            bool entity = form && strcmp(form, "entity") == 0;
            buf_printf(b, entity ? " &lt;%s&gt;" : " <%s>", jstr(p, "email"));
        }
    }
    buf_str(b, "\n</known_participants>");
}

static void render_meeting(const cJSON *m, bool detail, buf *b)
{
    buf_str(b, "<meeting id=\"");
    buf_attr(b, jstr(m, "id"));
    buf_str(b, "\"");
    if (jstr(m, "title")) {
        buf_str(b, " title=\"");
        buf_attr(b, jstr(m, "title"));
        buf_str(b, "\"");
    }
    buf_str(b, " date=\"");
    render_date(m, b);
    buf_str(b, "\"");
    if (jstr(m, "workspace_id")) {
        buf_str(b, " workspace_id=\"");
        buf_attr(b, jstr(m, "workspace_id"));
        buf_str(b, "\"");
    }
    buf_str(b, ">");
    render_participants(m, b);
    if (detail) {
        /* Summaries go out raw: markdown with '<', '&' and quotes as they are. */
        if (jstr(m, "summary"))
            buf_printf(b, "\n<summary>\n%s\n</summary>", jstr(m, "summary"));
        if (jstr(m, "notes"))
            buf_printf(b, "\n<notes>\n%s\n</notes>", jstr(m, "notes"));
        if (jstr(m, "private_notes"))
            buf_printf(b, "\n<private_notes>\n%s\n</private_notes>", jstr(m, "private_notes"));
    }
    buf_str(b, "\n</meeting>\n");
}

static const cJSON *find_meeting(const char *id)
{
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(S.fixture, "meetings"))
    {
        if (jstr(m, "id") && strcmp(jstr(m, "id"), id) == 0)
            return m;
    }
    return NULL;
}

/* The tool text for list_meetings (ids == NULL) or get_meetings. */
static char *render_meetings(const cJSON *ids)
{
    buf b = {0};
    buf_str(&b, "Here are the meetings you asked for.\n\n<access_notice>Meetings older than 30 "
                "days need a paid plan.</access_notice>\n\n");
    const cJSON *all = cJSON_GetObjectItemCaseSensitive(S.fixture, "meetings");
    int count = ids ? cJSON_GetArraySize(ids) : cJSON_GetArraySize(all);
    buf_printf(&b, "<meetings_data from=\"2020-01-01\" to=\"2030-01-01\" count=\"%d\">\n", count);
    const cJSON *m;
    if (ids) {
        cJSON_ArrayForEach(m, ids)
        {
            const cJSON *meeting = cJSON_IsString(m) ? find_meeting(m->valuestring) : NULL;
            if (meeting)
                render_meeting(meeting, true, &b);
        }
    } else {
        cJSON_ArrayForEach(m, all) render_meeting(m, false, &b);
    }
    buf_str(&b, "</meetings_data>");
    return b.data;
}

static cJSON *tool_result(char *text, bool is_error)
{
    cJSON *result = cJSON_CreateObject();
    cJSON *content = cJSON_AddArrayToObject(result, "content");
    cJSON *item = cJSON_CreateObject();
    cJSON_AddStringToObject(item, "type", "text");
    cJSON_AddStringToObject(item, "text", text);
    cJSON_AddItemToArray(content, item);
    if (is_error)
        cJSON_AddTrueToObject(result, "isError");
    free(text);
    return result;
}

static cJSON *rpc_error(int code, const char *message)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddNumberToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", message);
    return e;
}

/* Handles one JSON-RPC request; returns the result or sets *error. */
static cJSON *dispatch(const char *method, const cJSON *params, cJSON **error)
{
    if (strcmp(method, "initialize") == 0) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "protocolVersion", "2025-11-25");
        cJSON_AddObjectToObject(cJSON_AddObjectToObject(r, "capabilities"), "tools");
        cJSON *info = cJSON_AddObjectToObject(r, "serverInfo");
        cJSON_AddStringToObject(info, "name", "fake-granola");
        cJSON_AddStringToObject(info, "version", "1.0");
        return r;
    }
    if (strcmp(method, "tools/list") == 0) {
        cJSON *r = cJSON_CreateObject();
        cJSON *tools = cJSON_AddArrayToObject(r, "tools");
        const char *names[] = {"list_meetings", "get_meetings"};
        for (int i = 0; i < 2; i++) {
            cJSON *t = cJSON_CreateObject();
            cJSON_AddStringToObject(t, "name", names[i]);
            cJSON_AddItemToArray(tools, t);
        }
        return r;
    }
    if (strcmp(method, "tools/call") != 0) {
        *error = rpc_error(-32601, "method not found");
        return NULL;
    }
    const char *name = jstr(params, "name");
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(params, "arguments");
    if (name && strcmp(name, "list_meetings") == 0) {
        free(S.last_list_arguments);
        S.last_list_arguments = cJSON_PrintUnformatted(args);
        return tool_result(render_meetings(NULL), false);
    }
    if (name && strcmp(name, "get_meetings") == 0) {
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(args, "meeting_ids");
        int n = cJSON_GetArraySize(ids);
        if (!cJSON_IsArray(ids) || n < 1 || n > 10) {
            *error = rpc_error(-32602, "meeting_ids must hold 1 to 10 ids");
            return NULL;
        }
        if (n > S.max_get_ids)
            S.max_get_ids = n;
        return tool_result(render_meetings(ids), false);
    }
    *error = rpc_error(-32602, "unknown tool");
    return NULL;
}

/* A reply body handed out in pieces (chunked replies, truncation). */
typedef struct reply_stream {
    char *data;
    size_t len, sent, stop_at, chunk;
} reply_stream;

static ssize_t read_reply(void *cls, uint64_t pos, char *out, size_t max)
{
    reply_stream *r = cls;
    (void)pos;
    if (r->sent >= r->stop_at)
        return r->stop_at < r->len ? MHD_CONTENT_READER_END_WITH_ERROR
                                   : MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = r->stop_at - r->sent;
    if (r->chunk && n > r->chunk)
        n = r->chunk;
    if (n > max)
        n = max;
    memcpy(out, r->data + r->sent, n);
    r->sent += n;
    if (r->chunk)
        usleep(200); /* lets each piece reach the client as its own read */
    return (ssize_t)n;
}

static void free_reply(void *cls)
{
    reply_stream *r = cls;
    free(r->data);
    free(r);
}

static enum MHD_Result send_body(struct MHD_Connection *conn, unsigned status, const char *type,
                                 char *body, size_t len, size_t stop_at, size_t chunk,
                                 const char *session)
{
    struct MHD_Response *resp;
    if (stop_at < len || chunk) {
        reply_stream *r = calloc(1, sizeof *r);
        *r = (reply_stream){body, len, 0, stop_at, chunk};
        resp = MHD_create_response_from_callback(chunk ? MHD_SIZE_UNKNOWN : len, 4096, read_reply,
                                                 r, free_reply);
    } else {
        resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    }
    if (type)
        MHD_add_response_header(resp, "Content-Type", type);
    if (session)
        MHD_add_response_header(resp, "Mcp-Session-Id", session);
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result send_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
    char *copy = strdup(text);
    return send_body(conn, status, "text/plain", copy, strlen(copy), strlen(copy), 0, NULL);
}

/* Encodes a JSON-RPC message as an SSE stream with the quirks tests need. */
static char *sse_body(const char *json, size_t *len)
{
    const char *eol = S.crlf ? "\r\n" : "\n";
    buf b = {0};
    buf_printf(&b, ": fake granola stream%s", eol);
    buf_printf(&b, "event: message%sdata:%s%s", eol, eol, eol); /* empty data: skipped */
    buf_printf(&b,
               "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\","
               "\"params\":{\"level\":\"info\",\"data\":\"working\"}}%s%s",
               eol, eol);
    /* The response as several data: lines (one per line of pretty JSON). */
    buf_printf(&b, "id: 1%s", eol);
    const char *p = json;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        buf_str(&b, "data: ");
        buf_add(&b, p, n);
        buf_str(&b, eol);
        p += n + (nl ? 1 : 0);
    }
    buf_str(&b, eol);
    *len = b.len;
    return b.data;
}

static bool fault_applies(const char *key)
{
    if (!S.fault.kind || S.fault.count == 0)
        return false;
    const char *m = S.fault.method;
    bool match = !m || strcmp(m, "*") == 0 || strcmp(m, key) == 0 ||
                 (strncmp(key, "tools/call:", 11) == 0 && strcmp(m, key + 11) == 0);
    if (match && S.fault.skip > 0) {
        S.fault.skip--;
        return false;
    }
    if (match && S.fault.count > 0)
        S.fault.count--;
    return match;
}

/* Per TCP connection: whether it has carried an MCP request yet. */
typedef struct connection_state {
    bool counted;
} connection_state;

static enum MHD_Result handle_mcp(struct MHD_Connection *conn, const char *body, size_t len)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    connection_state *cs = ci ? ci->socket_context : NULL;
    if (cs && !cs->counted) {
        cs->counted = true;
        S.connections++;
    }
    if (S.require_token || S.oauth) {
        const char *auth =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        const char *bearer = auth && strncmp(auth, "Bearer ", 7) == 0 ? auth + 7 : NULL;
        bool ok = bearer && ((S.require_token && strcmp(bearer, S.require_token) == 0) ||
                             (S.oauth && fake_oauth_access_valid(bearer)));
        if (!ok) {
            count_method("unauthorized");
            struct MHD_Response *resp =
                MHD_create_response_from_buffer(12, (void *)"unauthorized", MHD_RESPMEM_PERSISTENT);
            char challenge[256];
            snprintf(challenge, sizeof challenge,
                     "Bearer resource_metadata=\"http://127.0.0.1:%d/.well-known/"
                     "oauth-protected-resource\"",
                     S.port);
            MHD_add_response_header(resp, "WWW-Authenticate", challenge);
            enum MHD_Result ret = MHD_queue_response(conn, 401, resp);
            MHD_destroy_response(resp);
            return ret;
        }
    }
    cJSON *msg = cJSON_ParseWithLength(body, len);
    const char *method = jstr(msg, "method");
    if (!cJSON_IsObject(msg) || !method) {
        cJSON_Delete(msg);
        return send_text(conn, 400, "not a JSON-RPC message");
    }
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(msg, "params");
    char key[96];
    if (strcmp(method, "tools/call") == 0 && jstr(params, "name"))
        snprintf(key, sizeof key, "tools/call:%s", jstr(params, "name"));
    else
        snprintf(key, sizeof key, "%s", method);
    count_method(key);

    const char *session = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Mcp-Session-Id");
    bool is_initialize = strcmp(method, "initialize") == 0;
    if (S.sessionful && is_initialize) {
        snprintf(S.session_id, sizeof S.session_id, "session-%ld", ++S.session_serial);
    } else if (S.sessionful) {
        if (!session) {
            cJSON_Delete(msg);
            return send_text(conn, 400, "missing Mcp-Session-Id");
        }
        if (S.expire_after > 0 && --S.expire_after == 0)
            S.expire_session = true;
        if (S.expire_session || strcmp(session, S.session_id) != 0) {
            S.expire_session = false;
            S.session_id[0] = '\0';
            cJSON_Delete(msg);
            return send_text(conn, 404, "session not found");
        }
    }
    if (!is_initialize &&
        !MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "MCP-Protocol-Version")) {
        cJSON_Delete(msg);
        return send_text(conn, 400, "missing MCP-Protocol-Version");
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");
    if (!id) { /* notification */
        cJSON_Delete(msg);
        return send_body(conn, 202, NULL, strdup(""), 0, 0, 0, NULL);
    }
    const char *new_session = S.sessionful && is_initialize ? S.session_id : NULL;

    /* A copy: a control request may replace the fault while this one sleeps. */
    char kind[32] = "";
    if (fault_applies(key))
        snprintf(kind, sizeof kind, "%s", S.fault.kind);
    long fault_status = S.fault.status, retry_after = S.fault.retry_after;
    long oversize_bytes = S.fault.oversize_bytes;
    if (strcmp(kind, "delay") == 0) {
        long ms = S.fault.delay_ms;
        pthread_mutex_unlock(&S.mu);
        usleep((useconds_t)ms * 1000);
        pthread_mutex_lock(&S.mu);
    } else if (strcmp(kind, "status") == 0) {
        cJSON_Delete(msg);
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(5, (void *)"fault", MHD_RESPMEM_PERSISTENT);
        if (retry_after > 0) {
            char value[32];
            snprintf(value, sizeof value, "%ld", retry_after);
            MHD_add_response_header(resp, "Retry-After", value);
        }
        enum MHD_Result ret = MHD_queue_response(conn, (unsigned)fault_status, resp);
        MHD_destroy_response(resp);
        return ret;
    }

    cJSON *reply = cJSON_CreateObject();
    cJSON_AddStringToObject(reply, "jsonrpc", "2.0");
    double id_value = cJSON_IsNumber(id) ? id->valuedouble : 0;
    cJSON_AddNumberToObject(reply, "id",
                            strcmp(kind, "wrong_id") == 0 ? id_value + 1000 : id_value);
    cJSON *error = NULL;
    cJSON *result = NULL;
    if (strcmp(kind, "rpc_error") == 0)
        error = rpc_error(-32000, "simulated server failure");
    else if (strcmp(kind, "tool_error") == 0)
        result = tool_result(strdup("Granola could not load meetings right now"), true);
    else
        result = dispatch(method, params, &error);
    if (error)
        cJSON_AddItemToObject(reply, "error", error);
    else
        cJSON_AddItemToObject(reply, "result", result);
    cJSON_Delete(msg);

    char *json = S.sse ? cJSON_Print(reply) : cJSON_PrintUnformatted(reply);
    cJSON_Delete(reply);
    size_t json_len = strlen(json);
    if (strcmp(kind, "malformed") == 0) {
        json[json_len / 2] = '\0'; /* cut mid-document: invalid JSON, honest length */
        json_len /= 2;
    } else if (strcmp(kind, "oversize") == 0) {
        free(json);
        buf b = {0};
        buf_printf(&b,
                   "{\"jsonrpc\":\"2.0\",\"id\":%.0f,\"result\":{\"content\":[{\"type\":"
                   "\"text\",\"text\":\"",
                   id_value);
        for (long i = 0; i < oversize_bytes; i++)
            buf_add(&b, "x", 1);
        buf_str(&b, "\"}]}}");
        json = b.data;
        json_len = b.len;
    }
    char *body_out = json;
    size_t body_len = json_len;
    if (S.sse) {
        body_out = sse_body(json, &body_len);
        free(json);
    }
    size_t stop_at = strcmp(kind, "truncate") == 0 ? body_len / 2 : body_len;
    return send_body(conn, 200, S.sse ? "text/event-stream" : "application/json", body_out,
                     body_len, stop_at, S.chunk_bytes > 0 ? (size_t)S.chunk_bytes : 0, new_session);
}

static char *dup_or_null(const cJSON *v)
{
    return cJSON_IsString(v) ? strdup(v->valuestring) : NULL;
}

static long num_or(const cJSON *o, const char *key, long fallback)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? (long)v->valuedouble : fallback;
}

/*
 * {"sse": bool, "crlf": bool, "chunk_bytes": N, "sessionful": bool,
 *  "expire_session": bool (the next session request gets 404),
 *  "expire_after_requests": N (the Nth session request from now gets 404),
 *  "require_token": "T" | null,
 *  "fault": {"method", "kind", "status", "count", "skip", "delay_ms",
 *            "retry_after", "oversize_bytes"} | null,
 *  "set_summary": {"id", "summary"}, "reset_stats": true}
 */
static bool apply_control(const cJSON *c)
{
    const cJSON *v;
#define BOOL_FIELD(name, field)                                                                    \
    if ((v = cJSON_GetObjectItemCaseSensitive(c, name)) && cJSON_IsBool(v))                        \
    S.field = cJSON_IsTrue(v)
    BOOL_FIELD("sse", sse);
    BOOL_FIELD("crlf", crlf);
    BOOL_FIELD("sessionful", sessionful);
    BOOL_FIELD("expire_session", expire_session);
#undef BOOL_FIELD
    S.chunk_bytes = num_or(c, "chunk_bytes", S.chunk_bytes);
    S.expire_after = num_or(c, "expire_after_requests", S.expire_after);
    if ((v = cJSON_GetObjectItemCaseSensitive(c, "require_token"))) {
        free(S.require_token);
        S.require_token = dup_or_null(v);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(c, "fault"))) {
        free(S.fault.method);
        free(S.fault.kind);
        memset(&S.fault, 0, sizeof S.fault);
        if (cJSON_IsObject(v)) {
            S.fault.method = dup_or_null(cJSON_GetObjectItemCaseSensitive(v, "method"));
            S.fault.kind = dup_or_null(cJSON_GetObjectItemCaseSensitive(v, "kind"));
            S.fault.status = num_or(v, "status", 500);
            S.fault.count = num_or(v, "count", -1);
            S.fault.skip = num_or(v, "skip", 0);
            S.fault.delay_ms = num_or(v, "delay_ms", 0);
            S.fault.retry_after = num_or(v, "retry_after", 0);
            S.fault.oversize_bytes = num_or(v, "oversize_bytes", 1 << 20);
        }
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(c, "set_summary"))) {
        const cJSON *m = jstr(v, "id") ? find_meeting(jstr(v, "id")) : NULL;
        if (!m || !jstr(v, "summary"))
            return false;
        cJSON_ReplaceItemInObjectCaseSensitive((cJSON *)m, "summary",
                                               cJSON_CreateString(jstr(v, "summary")));
        if (!cJSON_GetObjectItemCaseSensitive(m, "summary"))
            cJSON_AddStringToObject((cJSON *)m, "summary", jstr(v, "summary"));
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "reset_stats"))) {
        memset(S.counts, 0, sizeof S.counts);
        S.connections = 0;
        S.max_get_ids = 0;
    }
    return true;
}

static char *stats_json(void)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *req = cJSON_AddObjectToObject(o, "requests");
    for (size_t i = 0; i < sizeof S.counts / sizeof S.counts[0] && S.counts[i].name[0]; i++)
        cJSON_AddNumberToObject(req, S.counts[i].name, (double)S.counts[i].count);
    cJSON_AddNumberToObject(o, "connections", (double)S.connections);
    cJSON_AddNumberToObject(o, "max_get_ids", (double)S.max_get_ids);
    cJSON_AddNumberToObject(o, "sessions", (double)S.session_serial);
    if (S.last_list_arguments)
        cJSON_AddRawToObject(o, "last_list_arguments", S.last_list_arguments);
    fake_oauth_stats(o);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

typedef struct upload {
    buf body;
    bool too_large;
} upload;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    (void)cls, (void)version;
    upload *up = *con_cls;
    if (!up) {
        *con_cls = calloc(1, sizeof(upload));
        return MHD_YES;
    }
    if (*upload_size) {
        if (up->body.len + *upload_size > MAX_BODY)
            up->too_large = true;
        else
            buf_add(&up->body, upload_data, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (up->too_large)
        return send_text(conn, 413, "request too large");
    const char *body = up->body.data ? up->body.data : "";
    pthread_mutex_lock(&S.mu);
    enum MHD_Result ret;
    if (fake_oauth_handle(conn, url, method, body, up->body.len, &ret)) {
        /* served */
    } else if (strcmp(url, "/mcp") == 0 && strcmp(method, "POST") == 0) {
        ret = handle_mcp(conn, body, up->body.len);
    } else if (strcmp(url, "/mcp") == 0 && strcmp(method, "GET") == 0) {
        ret = send_text(conn, 405, "no server-initiated stream");
    } else if (strcmp(url, "/_control") == 0 && strcmp(method, "POST") == 0) {
        cJSON *c = cJSON_ParseWithLength(body, up->body.len);
        bool ok = cJSON_IsObject(c) && apply_control(c);
        if (ok)
            fake_oauth_control(c);
        cJSON_Delete(c);
        ret = send_text(conn, ok ? 200 : 400, ok ? "ok" : "bad control request");
    } else if (strcmp(url, "/_stats") == 0) {
        char *text = stats_json();
        ret = send_body(conn, 200, "application/json", text, strlen(text), strlen(text), 0, NULL);
    } else {
        ret = send_text(conn, 404, "not found");
    }
    pthread_mutex_unlock(&S.mu);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    (void)cls, (void)conn, (void)code;
    upload *up = *con_cls;
    if (up) {
        free(up->body.data);
        free(up);
        *con_cls = NULL;
    }
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    (void)cls, (void)conn;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        *socket_context = calloc(1, sizeof(connection_state));
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        free(*socket_context);
        *socket_context = NULL;
    }
}

static cJSON *load_fixture(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    buf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_add(&b, chunk, n);
    fclose(f);
    cJSON *root = b.data ? cJSON_ParseWithLength(b.data, b.len) : NULL;
    free(b.data);
    if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(root, "meetings"))) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

int main(int argc, char **argv)
{
    const char *fixture = NULL;
    int port = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--fixture") == 0 && i + 1 < argc)
            fixture = argv[++i];
        else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
            port = atoi(argv[++i]);
        else if (strcmp(argv[i], "--sse") == 0)
            S.sse = true;
        else if (strcmp(argv[i], "--sessionless") == 0)
            S.sessionful = false;
        else if (strcmp(argv[i], "--token") == 0 && i + 1 < argc)
            S.require_token = strdup(argv[++i]);
        else if (strcmp(argv[i], "--oauth") == 0)
            S.oauth = true;
        else {
            fprintf(stderr, "usage: fake_granola --fixture FILE [--port N] [--sse] "
                            "[--sessionless] [--token TOKEN] [--oauth]\n");
            return 2;
        }
    }
    if (!fixture || !(S.fixture = load_fixture(fixture))) {
        fprintf(stderr, "fake_granola: cannot load fixture %s (need {\"meetings\": [...]})\n",
                fixture ? fixture : "(none)");
        return 2;
    }
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG, 0,
        NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, NULL, MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
        MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "fake_granola: cannot listen on 127.0.0.1:%d\n", port);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    S.port = info ? info->port : port;
    fake_oauth_init(S.port);
    printf("fake_granola listening on 127.0.0.1:%d\n", S.port);
    fflush(stdout);
    int sig;
    sigwait(&stop, &sig);
    MHD_stop_daemon(d);
    cJSON_Delete(S.fixture);
    free(S.require_token);
    free(S.fault.method);
    free(S.fault.kind);
    free(S.last_list_arguments);
    return 0;
}
