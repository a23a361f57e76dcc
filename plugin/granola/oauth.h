/*
 * OAuth 2.1 for Granola's MCP server: discovery (RFC 9728 protected-resource
 * metadata, RFC 8414 authorization-server metadata), dynamic client
 * registration (RFC 7591), authorization code + PKCE S256 with the resource
 * indicator (RFC 8707), and refresh with rotated refresh tokens.
 *
 * Requests go through the plugin's http_client, which enforces the URL rule
 * (https, or http to a loopback host). Messages name the step and the HTTP
 * status; they never contain a token or secret.
 */
#ifndef GRANOLA_OAUTH_H
#define GRANOLA_OAUTH_H

#include <stddef.h>
#include <stdint.h>

#include "http_client.h"
#include "token_file.h"

typedef struct oauth_server {
    char *resource; /* the protected resource (the MCP URL) */
    char *issuer;
    char *authorization_endpoint;
    char *token_endpoint;
    char *registration_endpoint; /* NULL when the server has none */
} oauth_server;

/* Finds the authorization server for mcp_url: 401 probe, then the well-known fallbacks. */
int oauth_discover(http_client *http, const char *mcp_url, oauth_server *out, char *err,
                   size_t err_size);
void oauth_server_free(oauth_server *s);

/* Registers a public client for redirect_uri; *client_id (and *client_secret, may be NULL). */
int oauth_register(http_client *http, const oauth_server *s, const char *redirect_uri,
                   char **client_id, char **client_secret, char *err, size_t err_size);

/* PKCE: a 64-character verifier, its S256 challenge, and a random state. Caller frees. */
char *oauth_random_token(size_t bytes);
char *oauth_s256_challenge(const char *verifier);

/* The authorization URL to open in a browser. Caller frees. */
char *oauth_authorize_url(const oauth_server *s, const char *client_id, const char *redirect_uri,
                          const char *challenge, const char *state);

/*
 * Exchanges the code; fills token (access, refresh, expires_at from now_ms,
 * client id/secret, token endpoint, resource, issuer).
 */
int oauth_exchange_code(http_client *http, const oauth_server *s, const char *client_id,
                        const char *client_secret, const char *code, const char *redirect_uri,
                        const char *verifier, int64_t now_ms, granola_token *token, char *err,
                        size_t err_size);

/*
 * Uses old->refresh_token at old->token_endpoint. On success fresh holds the
 * new tokens (the new refresh token when the server rotated it, else the old
 * one) and the rest copied from old. Errors are PA_ERR_AUTH.
 */
int oauth_refresh(http_client *http, const granola_token *old, int64_t now_ms, granola_token *fresh,
                  char *err, size_t err_size);

/*
 * The parsers behind the steps above, each total on any bytes (fuzzed by
 * tests/fuzz). Errors are PA_ERR_AUTH with a message naming the step; what
 * they filled is freed by the caller (oauth_server_free, granola_token_free).
 */
/* resource_metadata="URL" from a WWW-Authenticate: Bearer challenge (RFC 9728, 5.1). Caller frees.
 */
char *oauth_resource_metadata_url(const char *challenge);
/* RFC 9728 metadata: out->resource (mcp_url when absent) and out->issuer (the first server). */
int oauth_parse_resource_metadata(const char *body, size_t len, const char *mcp_url,
                                  oauth_server *out, char *err, size_t err_size);
/* RFC 8414 metadata: the endpoints; authorization and token endpoints and S256 required. */
int oauth_parse_server_metadata(const char *body, size_t len, oauth_server *out, char *err,
                                size_t err_size);
/* RFC 7591 registration reply: client_id required, client_secret optional. */
int oauth_parse_registration(const char *body, size_t len, char **client_id, char **client_secret,
                             char *err, size_t err_size);
/*
 * RFC 6749 5.1 token reply into token: the access token, the refresh token
 * when rotated, expires_at from now_ms (expires_in clamped to ten years), the
 * other fields into token->extra.
 */
int oauth_parse_token_reply(const char *step, const char *body, size_t len, int64_t now_ms,
                            granola_token *token, char *err, size_t err_size);

/* Value of a parameter in a "k=v&k2=v2" query string, URL-decoded; NULL if absent. */
char *oauth_query_param(const char *query, const char *name);

#endif
