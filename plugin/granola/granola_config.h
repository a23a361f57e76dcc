/* The Granola instance object from host.json, validated. */
#ifndef GRANOLA_CONFIG_H
#define GRANOLA_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GRANOLA_DEFAULT_URL        "https://mcp.granola.ai/mcp"
#define GRANOLA_DEFAULT_TOKEN_PATH "~/.personal-assistant/token.granola.json"

typedef struct granola_config {
    char *id;
    char *workspace_id;    /* "default" when unset; also the account id */
    bool filter_workspace; /* false for "all" and for the unset default */
    int lookback_days;
    char *token_path; /* with ~ expanded */
    char *server_url;
    char *client_id; /* an OAuth client registered beforehand; NULL: register at login */
    long timeout_seconds;
    size_t max_response_bytes;
    int64_t refresh_skew_ms; /* refresh this long before expires_at */
    bool enabled;
} granola_config;

/* Returns PA_OK or PA_ERR_CONFIG/PA_ERR_NOMEM with a message naming the key. */
int granola_config_parse(const char *json, granola_config *out, char *err, size_t err_size);
void granola_config_free(granola_config *cfg);

/*
 * The granola instance with this id in the host configuration file at path
 * (plugins.granola.instances[], as host_stub reads it), validated by
 * granola_config_parse. For granola_login, which needs no host internals.
 * PA_ERR_CONFIG with a message naming the file, or PA_ERR_NOMEM.
 */
int granola_config_from_host_file(const char *path, const char *id, granola_config *out, char *err,
                                  size_t err_size);

/* True for http(s) URLs; plain http only to 127.0.0.0/8, ::1 or localhost. */
bool granola_url_allowed(const char *url, char *why, size_t why_size);

#endif
