/*
 * fake_granola: a Granola-compatible MCP server for tests and the demo.
 *
 *   fake_granola --fixture FILE [--port N] [--sse] [--sessionless] [--token T] [--oauth]
 *                [--era legacy|modern|dual] [--sse-linger MS]
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
 * Eras (MCP revisions), as the official TypeScript SDKs serve them:
 *   legacy  2025-11-25 and older, as the 1.x SDK: initialize, sessions
 *           (unless --sessionless); a request in an unknown revision gets
 *           HTTP 400 and a plain -32000 "Bad Request: ..." without
 *           data.supported.
 *   modern  2026-07-28 only: no initialize, no session; every request needs
 *           params._meta (protocolVersion, clientCapabilities) and the
 *           headers MCP-Protocol-Version, Mcp-Method and (tools/call)
 *           Mcp-Name agreeing with the body (-32602 / -32020 otherwise);
 *           server/discover; results carry resultType; a request in another
 *           revision, initialize included, gets HTTP 400 and -32022 with
 *           data.supported.
 *   dual    both: a request with modern _meta is served as modern, the rest
 *           as legacy (the 2.x SDK's default).
 * --sse-linger keeps each event stream open MS ms after the response, then
 * ends it (replies are then chunked, as real servers send them).
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

/* Sessions whose end is remembered; later ones stay valid. */
#define MAX_SESSIONS 4096

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
    char *kind;   /* status delay truncate malformed oversize wrong_id fractional_id rpc_error
                     tool_error input_required */
    char *retry_after_text; /* a Retry-After value as is (huge numbers, HTTP dates) */
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

typedef enum era { ERA_LEGACY, ERA_MODERN, ERA_DUAL } era;

#define MODERN_VERSION "2026-07-28"
static const char *const LEGACY_VERSIONS[] = {"2025-11-25", "2025-06-18", "2025-03-26"};
#define MAX_TRACKED_CONNECTIONS 256

static struct server {
    pthread_mutex_t mu;
    era era;
    long sse_linger_ms;
    cJSON *supported;     /* overrides the era's list of revisions when set */
    long era_requests[2]; /* [0] legacy, [1] modern: requests that reached the era gate */
    long connection_requests[MAX_TRACKED_CONNECTIONS];
    char initialize_version[16]; /* what the last initialize agreed */
    cJSON *fixture;              /* {"meetings": [...]} */
    int port;
    bool sse, crlf, sessionful;
    long chunk_bytes; /* >0: write replies in pieces of this size */
    bool expire_session;
    long expire_after; /* >0: the session ends after this many more session requests */
    long session_serial;
    char session_id[64];
    bool session_dead[MAX_SESSIONS]; /* ended by expire_session; by serial */
    char *require_token;
    bool oauth; /* MCP requires an access token from the OAuth token endpoint */
    fault fault;
    method_count counts[32];
    long connections; /* TCP connections that carried at least one MCP request */
    char *last_list_arguments;
    long max_get_ids;
} S = {.mu = PTHREAD_MUTEX_INITIALIZER, .sessionful = true, .initialize_version = "2025-11-25"};

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
        cJSON_AddStringToObject(r, "protocolVersion", S.initialize_version);
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
    long linger_ms; /* the stream stays open this long after its last byte */
} reply_stream;

static ssize_t read_reply(void *cls, uint64_t pos, char *out, size_t max)
{
    reply_stream *r = cls;
    (void)pos;
    if (r->sent >= r->stop_at && r->linger_ms > 0 && r->stop_at == r->len) {
        usleep((useconds_t)r->linger_ms * 1000);
        r->linger_ms = 0;
    }
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
    bool linger = S.sse_linger_ms > 0 && type && strcmp(type, "text/event-stream") == 0;
    if (stop_at < len || chunk || linger) {
        reply_stream *r = calloc(1, sizeof *r);
        *r = (reply_stream){body, len, 0, stop_at, chunk, linger ? S.sse_linger_ms : 0};
        resp = MHD_create_response_from_callback(chunk || linger ? MHD_SIZE_UNKNOWN : len, 4096,
                                                 read_reply, r, free_reply);
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

/* Per TCP connection: its index in S.connection_requests, once it carried an MCP request. */
typedef struct connection_state {
    long index; /* -1 until counted */
} connection_state;

static void count_connection(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    connection_state *cs = ci ? ci->socket_context : NULL;
    if (cs && cs->index < 0)
        cs->index = S.connections++;
    if (cs && cs->index >= 0 && cs->index < MAX_TRACKED_CONNECTIONS)
        S.connection_requests[cs->index]++;
}

/* A JSON-RPC error reply with an HTTP status, as the SDKs send them. */
static enum MHD_Result send_rpc_error(struct MHD_Connection *conn, unsigned status, const cJSON *id,
                                      int code, const char *message, cJSON *data)
{
    cJSON *reply = cJSON_CreateObject();
    cJSON_AddStringToObject(reply, "jsonrpc", "2.0");
    cJSON_AddItemToObject(reply, "id", id ? cJSON_Duplicate(id, 1) : cJSON_CreateNull());
    cJSON *e = rpc_error(code, message);
    if (data)
        cJSON_AddItemToObject(e, "data", data);
    cJSON_AddItemToObject(reply, "error", e);
    char *json = cJSON_PrintUnformatted(reply);
    cJSON_Delete(reply);
    count_method("refused");
    return send_body(conn, status, "application/json", json, strlen(json), strlen(json), 0, NULL);
}

static cJSON *supported_versions(void)
{
    if (S.supported)
        return cJSON_Duplicate(S.supported, 1);
    cJSON *list = cJSON_CreateArray();
    if (S.era != ERA_LEGACY)
        cJSON_AddItemToArray(list, cJSON_CreateString(MODERN_VERSION));
    for (size_t i = 0; S.era != ERA_MODERN && i < 3; i++)
        cJSON_AddItemToArray(list, cJSON_CreateString(LEGACY_VERSIONS[i]));
    return list;
}

static bool is_supported(const char *version)
{
    cJSON *list = supported_versions();
    bool found = false;
    const cJSON *v;
    cJSON_ArrayForEach(v, list) found = found || (version && strcmp(v->valuestring, version) == 0);
    cJSON_Delete(list);
    return found;
}

/* UnsupportedProtocolVersionError, the TypeScript SDK 2.x way. */
static enum MHD_Result send_unsupported(struct MHD_Connection *conn, const cJSON *id,
                                        const char *requested)
{
    char message[128];
    snprintf(message, sizeof message, "Unsupported protocol version: %s",
             requested ? requested : "(none)");
    cJSON *data = cJSON_CreateObject();
    cJSON_AddItemToObject(data, "supported", supported_versions());
    cJSON_AddStringToObject(data, "requested", requested ? requested : "");
    return send_rpc_error(conn, 400, id, -32022, message, data);
}

static const char *meta_string(const cJSON *params, const char *key)
{
    return jstr(cJSON_GetObjectItemCaseSensitive(params, "_meta"), key);
}

/* Mcp-Name as sent: plain, or "=?base64?...?=". Returns a malloc'd decoded copy. */
static char *decode_header_name(const char *v)
{
    size_t n = v ? strlen(v) : 0;
    if (n < 11 || strncmp(v, "=?base64?", 9) != 0 || strcmp(v + n - 2, "?=") != 0)
        return v ? strdup(v) : NULL;
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = calloc(1, n);
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (const char *p = v + 9; p < v + n - 2 && *p != '='; p++) {
        const char *at = strchr(alphabet, *p);
        if (!at) {
            free(out);
            return NULL;
        }
        acc = acc << 6 | (unsigned)(at - alphabet);
        if ((bits += 6) >= 8)
            out[o++] = (char)((acc >> (bits -= 8)) & 0xFF);
    }
    return out;
}

/* Modern rules: envelope, revision, and headers that agree with the body. */
static bool modern_gate(struct MHD_Connection *conn, const cJSON *id, const char *method,
                        const cJSON *params, enum MHD_Result *ret)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(params, "_meta");
    const char *version = jstr(meta, "io.modelcontextprotocol/protocolVersion");
    if (!version || !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(
                        meta, "io.modelcontextprotocol/clientCapabilities"))) {
        *ret = send_rpc_error(conn, 400, id, -32602, "Invalid _meta envelope", NULL);
        return false;
    }
    const char *h_version =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "MCP-Protocol-Version");
    const char *h_method = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Mcp-Method");
    char *h_name =
        decode_header_name(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Mcp-Name"));
    bool needs_name = strcmp(method, "tools/call") == 0;
    bool agree = h_version && strcmp(h_version, version) == 0 && h_method &&
                 strcmp(h_method, method) == 0 &&
                 (!needs_name ||
                  (h_name && jstr(params, "name") && strcmp(h_name, jstr(params, "name")) == 0));
    free(h_name);
    if (!agree) {
        *ret = send_rpc_error(conn, 400, id, -32020,
                              "Bad Request: the request headers and body disagree", NULL);
        return false;
    }
    if (!is_supported(version) || strcmp(version, MODERN_VERSION) != 0) {
        *ret = send_unsupported(conn, id, version);
        return false;
    }
    return true;
}

/* Legacy rules (the 1.x SDK): sessions, then the MCP-Protocol-Version header. */
static bool legacy_gate(struct MHD_Connection *conn, const cJSON *id, const char *method,
                        const cJSON *params, enum MHD_Result *ret)
{
    bool is_initialize = strcmp(method, "initialize") == 0;
    const char *header = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "MCP-Protocol-Version");
    if (S.era == ERA_MODERN) { /* a modern-only server names what it serves */
        *ret = send_unsupported(conn, id, is_initialize ? jstr(params, "protocolVersion") : header);
        return false;
    }
    const char *session = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Mcp-Session-Id");
    if (S.sessionful && is_initialize) {
        snprintf(S.session_id, sizeof S.session_id, "session-%ld", ++S.session_serial);
    } else if (S.sessionful) {
        if (!session) {
            *ret = send_rpc_error(conn, 400, NULL, -32000,
                                  "Bad Request: Mcp-Session-Id header is required", NULL);
            return false;
        }
        if (S.expire_after > 0 && --S.expire_after == 0)
            S.expire_session = true;
        /* Many clients hold sessions side by side, as the SDK's session map allows. */
        long n = 0;
        char tail;
        bool known = sscanf(session, "session-%ld%c", &n, &tail) == 1 && n >= 1 &&
                     n <= S.session_serial && (n >= MAX_SESSIONS || !S.session_dead[n]);
        if (S.expire_session || !known) {
            S.expire_session = false;
            if (known && n < MAX_SESSIONS)
                S.session_dead[n] = true;
            *ret = send_rpc_error(conn, 404, NULL, -32001, "Session not found", NULL);
            return false;
        }
    }
    if (!is_initialize &&
        (!header || !is_supported(header) || strcmp(header, MODERN_VERSION) == 0)) {
        char message[200];
        snprintf(message, sizeof message,
                 "Bad Request: Unsupported protocol version: %s (supported versions: %s, %s, %s)",
                 header ? header : "(none)", LEGACY_VERSIONS[0], LEGACY_VERSIONS[1],
                 LEGACY_VERSIONS[2]);
        *ret = send_rpc_error(conn, 400, NULL, -32000, message, NULL);
        return false;
    }
    return true;
}

/* A request is modern when it carries modern _meta or a non-legacy header revision. */
static bool looks_modern(struct MHD_Connection *conn, const cJSON *params)
{
    if (meta_string(params, "io.modelcontextprotocol/protocolVersion"))
        return true;
    const char *header = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "MCP-Protocol-Version");
    if (!header)
        return false;
    for (size_t i = 0; i < 3; i++) {
        if (strcmp(header, LEGACY_VERSIONS[i]) == 0)
            return false;
    }
    return true;
}

/* 401 with the RFC 9728 pointer, unless the bearer token is one we accept. */
static bool authorized(struct MHD_Connection *conn, enum MHD_Result *ret)
{
    if (!S.require_token && !S.oauth)
        return true;
    const char *auth =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *bearer = auth && strncmp(auth, "Bearer ", 7) == 0 ? auth + 7 : NULL;
    if (bearer && ((S.require_token && strcmp(bearer, S.require_token) == 0) ||
                   (S.oauth && fake_oauth_access_valid(bearer))))
        return true;
    count_method("unauthorized");
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(12, (void *)"unauthorized", MHD_RESPMEM_PERSISTENT);
    char challenge[256];
    snprintf(challenge, sizeof challenge,
             "Bearer resource_metadata=\"http://127.0.0.1:%d/.well-known/"
             "oauth-protected-resource\"",
             S.port);
    MHD_add_response_header(resp, "WWW-Authenticate", challenge);
    *ret = MHD_queue_response(conn, 401, resp);
    MHD_destroy_response(resp);
    return false;
}

static enum MHD_Result send_status_fault(struct MHD_Connection *conn, long status, long retry_after)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(5, (void *)"fault", MHD_RESPMEM_PERSISTENT);
    char value[64];
    if (S.fault.retry_after_text)
        MHD_add_response_header(resp, "Retry-After", S.fault.retry_after_text);
    else if (retry_after > 0 && snprintf(value, sizeof value, "%ld", retry_after) > 0)
        MHD_add_response_header(resp, "Retry-After", value);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* The reply's bytes as the fault (if any) shapes them. */
static char *reply_text(cJSON *reply, const char *kind, double id_value, long oversize_bytes,
                        size_t *len)
{
    char *json = S.sse ? cJSON_Print(reply) : cJSON_PrintUnformatted(reply);
    *len = strlen(json);
    if (strcmp(kind, "malformed") == 0) {
        json[*len / 2] = '\0'; /* cut mid-document: invalid JSON, honest length */
        *len /= 2;
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
        *len = b.len;
    }
    if (!S.sse)
        return json;
    char *stream = sse_body(json, len);
    free(json);
    return stream;
}

static cJSON *discover_result(void)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddItemToObject(r, "supportedVersions", supported_versions());
    cJSON_AddObjectToObject(cJSON_AddObjectToObject(r, "capabilities"), "tools");
    cJSON_AddNumberToObject(r, "ttlMs", 0);
    cJSON_AddStringToObject(r, "cacheScope", "private");
    cJSON *info = cJSON_AddObjectToObject(cJSON_AddObjectToObject(r, "_meta"),
                                          "io.modelcontextprotocol/serverInfo");
    cJSON_AddStringToObject(info, "name", "fake-granola");
    cJSON_AddStringToObject(info, "version", "1.0");
    return r;
}

/* The JSON-RPC answer to a request that passed its era's gate. */
static cJSON *answer(const char *kind, bool modern, const char *method, const cJSON *params,
                     const cJSON *id)
{
    cJSON *reply = cJSON_CreateObject();
    cJSON_AddStringToObject(reply, "jsonrpc", "2.0");
    double id_value = cJSON_IsNumber(id) ? id->valuedouble : 0;
    if (strcmp(kind, "wrong_id") == 0)
        id_value += 1000;
    else if (strcmp(kind, "fractional_id") == 0)
        id_value += 0.0000000001;
    cJSON_AddNumberToObject(reply, "id", id_value);
    cJSON *error = NULL, *result = NULL;
    if (strcmp(kind, "rpc_error") == 0)
        error = rpc_error(-32000, "simulated server failure");
    else if (strcmp(kind, "tool_error") == 0)
        result = tool_result(strdup("Granola could not load meetings right now"), true);
    else if (modern && strcmp(method, "server/discover") == 0)
        result = discover_result();
    else
        result = dispatch(method, params, &error);
    if (result && modern)
        cJSON_AddStringToObject(result, "resultType",
                                strcmp(kind, "input_required") == 0 ? "input_required"
                                                                    : "complete");
    if (error)
        cJSON_AddItemToObject(reply, "error", error);
    else
        cJSON_AddItemToObject(reply, "result", result);
    return reply;
}

static enum MHD_Result handle_mcp(struct MHD_Connection *conn, const char *body, size_t len)
{
    count_connection(conn);
    enum MHD_Result ret;
    if (!authorized(conn, &ret))
        return ret;
    cJSON *msg = cJSON_ParseWithLength(body, len);
    const char *method = jstr(msg, "method");
    if (!cJSON_IsObject(msg) || !method) {
        cJSON_Delete(msg);
        return send_text(conn, 400, "not a JSON-RPC message");
    }
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(msg, "params");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");
    bool modern = looks_modern(conn, params) && S.era != ERA_LEGACY;
    S.era_requests[modern]++;
    bool passed = modern ? modern_gate(conn, id, method, params, &ret)
                         : legacy_gate(conn, id, method, params, &ret);
    if (!passed) {
        cJSON_Delete(msg);
        return ret;
    }
    if (modern && strcmp(method, "initialize") == 0) {
        cJSON_Delete(msg);
        return send_rpc_error(conn, 404, id, -32601, "Method not found", NULL);
    }
    char key[96];
    if (strcmp(method, "tools/call") == 0 && jstr(params, "name"))
        snprintf(key, sizeof key, "tools/call:%s", jstr(params, "name"));
    else
        snprintf(key, sizeof key, "%s", method);
    count_method(key);
    if (!id) { /* notification */
        cJSON_Delete(msg);
        return send_body(conn, 202, NULL, strdup(""), 0, 0, 0, NULL);
    }
    const char *new_session =
        !modern && S.sessionful && strcmp(method, "initialize") == 0 ? S.session_id : NULL;

    /* A copy: a control request may replace the fault while this one sleeps. */
    char kind[32] = "";
    if (fault_applies(key))
        snprintf(kind, sizeof kind, "%s", S.fault.kind);
    long oversize_bytes = S.fault.oversize_bytes;
    if (strcmp(kind, "delay") == 0) {
        long ms = S.fault.delay_ms;
        pthread_mutex_unlock(&S.mu);
        usleep((useconds_t)ms * 1000);
        pthread_mutex_lock(&S.mu);
    } else if (strcmp(kind, "status") == 0) {
        cJSON_Delete(msg);
        return send_status_fault(conn, S.fault.status, S.fault.retry_after);
    }
    if (!modern && strcmp(method, "initialize") == 0) {
        const char *asked = jstr(params, "protocolVersion");
        snprintf(S.initialize_version, sizeof S.initialize_version, "%s",
                 asked && is_supported(asked) && strcmp(asked, MODERN_VERSION) != 0
                     ? asked
                     : LEGACY_VERSIONS[0]);
    }
    cJSON *reply = answer(kind, modern, method, params, id);
    cJSON_Delete(msg);
    size_t body_len;
    char *body_out =
        reply_text(reply, kind, cJSON_GetObjectItemCaseSensitive(reply, "id")->valuedouble,
                   oversize_bytes, &body_len);
    cJSON_Delete(reply);
    size_t stop_at = strcmp(kind, "truncate") == 0 ? body_len / 2 : body_len;
    return send_body(conn, 200, S.sse ? "text/event-stream" : "application/json", body_out,
                     body_len, stop_at, S.chunk_bytes > 0 ? (size_t)S.chunk_bytes : 0, new_session);
}

static bool parse_era(const char *name, era *out)
{
    static const char *const names[] = {"legacy", "modern", "dual"};
    for (int i = 0; name && i < 3; i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (era)i;
            return true;
        }
    }
    return false;
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
 *  "require_token": "T" | null, "era": "legacy"|"modern"|"dual", "sse_linger_ms": N,
 *  "supported_versions": ["..."] | null (replaces the era's list),
 *  "fault": {"method", "kind", "status", "count", "skip", "delay_ms",
 *            "retry_after", "retry_after_text", "oversize_bytes"} | null,
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
    S.sse_linger_ms = num_or(c, "sse_linger_ms", S.sse_linger_ms);
    if ((v = cJSON_GetObjectItemCaseSensitive(c, "era")) && !parse_era(jstr(c, "era"), &S.era))
        return false;
    if ((v = cJSON_GetObjectItemCaseSensitive(c, "supported_versions"))) {
        cJSON_Delete(S.supported);
        S.supported = cJSON_IsArray(v) ? cJSON_Duplicate(v, 1) : NULL;
    }
    S.expire_after = num_or(c, "expire_after_requests", S.expire_after);
    if ((v = cJSON_GetObjectItemCaseSensitive(c, "require_token"))) {
        free(S.require_token);
        S.require_token = dup_or_null(v);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(c, "fault"))) {
        free(S.fault.method);
        free(S.fault.kind);
        free(S.fault.retry_after_text);
        memset(&S.fault, 0, sizeof S.fault);
        if (cJSON_IsObject(v)) {
            S.fault.method = dup_or_null(cJSON_GetObjectItemCaseSensitive(v, "method"));
            S.fault.kind = dup_or_null(cJSON_GetObjectItemCaseSensitive(v, "kind"));
            S.fault.status = num_or(v, "status", 500);
            S.fault.count = num_or(v, "count", -1);
            S.fault.skip = num_or(v, "skip", 0);
            S.fault.delay_ms = num_or(v, "delay_ms", 0);
            S.fault.retry_after = num_or(v, "retry_after", 0);
            S.fault.retry_after_text =
                dup_or_null(cJSON_GetObjectItemCaseSensitive(v, "retry_after_text"));
            S.fault.oversize_bytes = num_or(v, "oversize_bytes", 1 << 20);
        }
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(c, "set_summary"))) {
        const cJSON *m = jstr(v, "id") ? find_meeting(jstr(v, "id")) : NULL;
        if (!m || !jstr(v, "summary"))
            return false;
        /* Replace only what is there: a failed replace would leak the new string. */
        if (cJSON_GetObjectItemCaseSensitive(m, "summary"))
            cJSON_ReplaceItemInObjectCaseSensitive((cJSON *)m, "summary",
                                                   cJSON_CreateString(jstr(v, "summary")));
        else
            cJSON_AddStringToObject((cJSON *)m, "summary", jstr(v, "summary"));
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "reset_stats"))) {
        memset(S.counts, 0, sizeof S.counts);
        memset(S.era_requests, 0, sizeof S.era_requests);
        memset(S.connection_requests, 0, sizeof S.connection_requests);
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
    cJSON *eras = cJSON_AddObjectToObject(o, "eras");
    cJSON_AddNumberToObject(eras, "legacy", (double)S.era_requests[0]);
    cJSON_AddNumberToObject(eras, "modern", (double)S.era_requests[1]);
    cJSON *per = cJSON_AddArrayToObject(o, "connection_requests");
    for (long i = 0; i < S.connections && i < MAX_TRACKED_CONNECTIONS; i++)
        cJSON_AddItemToArray(per, cJSON_CreateNumber((double)S.connection_requests[i]));
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
        connection_state *cs = calloc(1, sizeof *cs);
        if (cs)
            cs->index = -1;
        *socket_context = cs;
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
        else if (strcmp(argv[i], "--era") == 0 && i + 1 < argc && parse_era(argv[i + 1], &S.era))
            i++;
        else if (strcmp(argv[i], "--sse-linger") == 0 && i + 1 < argc)
            S.sse_linger_ms = atol(argv[++i]);
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            printf("usage: fake_granola --fixture FILE [--port N] [--sse] [--sessionless] [--token "
                   "TOKEN] [--oauth]\n                    [--era legacy|modern|dual] [--sse-linger "
                   "MS]\nA Granola-compatible MCP and OAuth server on 127.0.0.1, for tests and "
                   "the demo.\n");
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("fake_granola (test server of pa-plugins)\nMCP revisions: 2026-07-28, "
                   "2025-11-25, 2025-06-18, 2025-03-26\n");
            return 0;
        } else {
            fprintf(stderr, "usage: fake_granola --fixture FILE [--port N] [--sse] "
                            "[--sessionless] [--token TOKEN] [--oauth]\n"
                            "                    [--era legacy|modern|dual] [--sse-linger MS]\n");
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
    free(S.fault.retry_after_text);
    free(S.last_list_arguments);
    cJSON_Delete(S.supported);
    return 0;
}
