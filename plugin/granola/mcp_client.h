/*
 * A minimal MCP client (Streamable HTTP transport, JSON-RPC 2.0, protocol
 * 2025-11-25 and the two before it) on one reused libcurl handle: one TCP
 * connection across requests and polls, one session across polls.
 */
#ifndef GRANOLA_MCP_CLIENT_H
#define GRANOLA_MCP_CLIENT_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "pa_plugin.h"

typedef struct mcp_client mcp_client;

typedef struct mcp_options {
    const char *url;
    long timeout_seconds;
    size_t max_response_bytes;
    const pa_host_api *api; /* for report_http and now_ms */
    pa_host_ctx *ctx;
} mcp_options;

int mcp_client_new(const mcp_options *options, mcp_client **out, char *err, size_t err_size);
void mcp_client_free(mcp_client *c);

/* The bearer token for later requests (copied; never logged). NULL clears it. */
int mcp_client_set_token(mcp_client *c, const char *token);

/*
 * Calls tool name with arguments (borrowed) and returns the concatenated text
 * of its result's text content in *text (free with cJSON_free). Starts or restarts
 * the session as needed. Errors: PA_ERR_NETWORK, PA_ERR_AUTH, PA_ERR_REMOTE,
 * PA_ERR_NOMEM, each with a one-line message naming the tool and status.
 */
int mcp_call_tool(mcp_client *c, const char *name, const cJSON *arguments, char **text, char *err,
                  size_t err_size);

/* Earliest time (ms, host clock) the server allowed after a 429; 0 if none. */
int64_t mcp_client_retry_after_ms(const mcp_client *c);
/* New TCP connections opened so far (libcurl's count). */
long mcp_client_connections(const mcp_client *c);
/* The negotiated protocol version, or NULL before initialize. */
const char *mcp_client_protocol_version(const mcp_client *c);

#endif
