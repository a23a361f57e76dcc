/*
 * http_client: the Granola plugin's one HTTP layer, on one libcurl easy
 * handle, so TCP and TLS connections are reused across requests and polls.
 *
 * It owns what every request shares, so callers speak their protocol only:
 *   - the fixed libcurl options, set once at creation (TLS verification is
 *     always on; there is no option to turn it off);
 *   - the URL rule: https, or plain http to a loopback host only
 *     (granola_url_allowed), checked before anything is sent;
 *   - the response size cap and the mapping of transport failures to a
 *     pa_status and a one-line message "TYPE: what happened";
 *   - the report of each request to the host, with the URL stripped of
 *     userinfo, query and fragment (secrets travel there);
 *   - response headers, read with libcurl's header API.
 *
 * Bodies: a 2xx text/event-stream body goes to on_event_stream when the
 * request sets it; every other body is buffered (non-2xx ones up to
 * HTTP_ERROR_BODY_MAX bytes, enough for a JSON-RPC error). A stream reader
 * that has what it needs returns HTTP_BODY_DONE: the rest of the stream is
 * then read and dropped for up to HTTP_DRAIN_MS so the connection can carry
 * the next request, and closed after that.
 *
 * One client serves one thread at a time.
 */
#ifndef GRANOLA_HTTP_CLIENT_H
#define GRANOLA_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pa_plugin.h"

#define HTTP_ERROR_BODY_MAX ((size_t)16 * 1024)
#define HTTP_DRAIN_MS       1000
/* Retry-After values are clamped to 1 s .. 30 days (the largest backoff cap a host accepts). */
#define HTTP_RETRY_AFTER_MAX_SECONDS (30LL * 24 * 3600)

typedef struct http_client http_client;

typedef struct http_client_options {
    long timeout_seconds;      /* whole request, connect included */
    size_t max_response_bytes; /* per response, drained bytes included */
    const pa_host_api *api;    /* for report_http; NULL: no reports */
    pa_host_ctx *ctx;
} http_client_options;

enum { HTTP_BODY_FAIL = -1, HTTP_BODY_MORE = 0, HTTP_BODY_DONE = 1 };

/* Called with each piece of a 2xx event-stream body: HTTP_BODY_MORE, _DONE or _FAIL. */
typedef int (*http_stream_fn)(void *userdata, const char *data, size_t len);

typedef struct http_request {
    const char *type;               /* names the request in messages and the host's log */
    const char *url;                /* must pass granola_url_allowed */
    const char *body;               /* NULL: GET */
    const char *content_type;       /* of body */
    const char *accept;             /* NULL: no Accept header */
    const char *bearer;             /* borrowed access token, or NULL; never logged */
    const char *const *headers;     /* more "Name: value" lines, NULL-terminated, or NULL */
    http_stream_fn on_event_stream; /* NULL: buffer event streams too */
    void *userdata;
} http_request;

typedef struct http_response {
    long status;          /* 0 when no response arrived */
    bool is_event_stream; /* Content-Type: text/event-stream */
    bool stream_done;     /* on_event_stream returned HTTP_BODY_DONE */
    char *body;           /* buffered body, NUL-terminated, or NULL */
    size_t body_len;
    int64_t retry_after_seconds; /* from Retry-After, clamped; -1 when absent */
    double seconds;              /* wall time */
} http_response;

/* PA_OK or PA_ERR_NOMEM. */
int http_client_new(const http_client_options *o, http_client **out, char *err, size_t err_size);
void http_client_free(http_client *c);

/*
 * Sends req and fills *resp (free with http_response_free, also on failure).
 * Returns PA_OK when a response arrived, whatever its status; otherwise
 * PA_ERR_NETWORK (connect, TLS, timeout, truncation), PA_ERR_REMOTE (reply
 * over max_response_bytes, or refused by on_event_stream), PA_ERR_AUTH (a
 * URL the rule refuses) or PA_ERR_NOMEM, with err "TYPE: ...".
 */
int http_perform(http_client *c, const http_request *req, http_response *resp, char *err,
                 size_t err_size);
void http_response_free(http_response *r);

/*
 * The value of header name (case-insensitive) in the last response, or NULL.
 * Owned by the client; valid until its next http_perform.
 */
const char *http_header(http_client *c, const char *name);

/* New TCP connections opened so far. */
long http_connections(const http_client *c);

/*
 * A Retry-After header's value in seconds, clamped to 1 ..
 * HTTP_RETRY_AFTER_MAX_SECONDS: curl_seconds is what libcurl read from it
 * (CURLINFO_RETRY_AFTER, 0 when it could not, also for a number too large
 * for it); value is the header as sent. Total on any text.
 */
int64_t http_retry_after_clamp(const char *value, int64_t curl_seconds);

/* url without userinfo, query and fragment, for logs and messages. Caller frees. */
char *http_url_for_log(const char *url);

#endif
