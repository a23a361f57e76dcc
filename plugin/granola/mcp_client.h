/*
 * mcp_client: a dual-era MCP client (JSON-RPC 2.0 over Streamable HTTP).
 *
 *   modern  2026-07-28: no handshake and no session. Every request carries
 *           params._meta (protocol version, client capabilities, client
 *           info) and the headers MCP-Protocol-Version, Mcp-Method and, for
 *           tools/call, Mcp-Name. Results carry resultType.
 *   legacy  2025-11-25, 2025-06-18, 2025-03-26: initialize, then
 *           notifications/initialized, then requests with
 *           MCP-Protocol-Version and the server's Mcp-Session-Id; a 404 on
 *           a session means it ended: initialize again and retry once.
 *
 * Negotiation, once per client (docs/GRANOLA_PLUGIN.md, "MCP protocol
 * revisions"): the first request is modern. Only an HTTP 400, 404 or 405
 * whose body is not a recognised modern error (codes -32020, -32021,
 * -32022, or -32601 with a 404) marks the server legacy; then the client
 * initializes and stays legacy. An UnsupportedProtocolVersionError
 * (error.data.supported) moves to the newest revision both sides support.
 * 401, 403, 429, 5xx, timeouts and TLS errors never change the era.
 *
 * HTTP goes through http_client; this module speaks JSON-RPC only.
 */
#ifndef GRANOLA_MCP_CLIENT_H
#define GRANOLA_MCP_CLIENT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "http_client.h"
#include "pa_plugin.h"

#define MCP_MODERN_VERSION "2026-07-28"

typedef struct mcp_client mcp_client;

typedef struct mcp_options {
    const char *url;
    size_t max_response_bytes; /* cap on one SSE event */
    http_client *http;         /* borrowed; outlives the client */
    const pa_host_api *api;    /* for log and now_ms */
    pa_host_ctx *ctx;
} mcp_options;

int mcp_client_new(const mcp_options *options, mcp_client **out, char *err, size_t err_size);
void mcp_client_free(mcp_client *c);

/*
 * The bearer token for later requests, borrowed: it must stay valid until
 * the next mcp_client_set_token (set NULL before freeing it). Never logged.
 */
void mcp_client_set_token(mcp_client *c, const char *token);

/*
 * Calls tool name with arguments (borrowed) and returns the concatenated
 * text of its result's text content in *text (free with cJSON_free), with
 * invalid UTF-8 replaced by U+FFFD. Errors: PA_ERR_NETWORK, PA_ERR_AUTH,
 * PA_ERR_REMOTE, PA_ERR_NOMEM, each with a one-line message naming the
 * tool and carrying the server's own error code and message when it sent
 * one.
 */
int mcp_call_tool(mcp_client *c, const char *name, const cJSON *arguments, char **text, char *err,
                  size_t err_size);

/*
 * The JSON-RPC response to request want_id in a whole 2xx reply body, read as
 * the client reads a streamed one: application/json (one message) or, when
 * event_stream, text/event-stream (notifications and requests before the
 * response are skipped; ids must match exactly). PA_OK with *response (the
 * whole message; caller deletes) or PA_ERR_REMOTE with err. For tests and
 * fuzzing.
 */
int mcp_parse_reply(const char *body, size_t len, bool event_stream, int64_t want_id,
                    size_t max_event_bytes, cJSON **response, char *err, size_t err_size);

/* Earliest time (ms, host clock) the server allowed, when the last call got a 429; else 0. */
int64_t mcp_client_retry_after_ms(const mcp_client *c);
/* The protocol revision in use, or NULL before the first answer. */
const char *mcp_client_protocol_version(const mcp_client *c);

#endif
