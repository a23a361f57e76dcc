/* The OAuth side of fake_granola (see fake_oauth.c). Call under the server lock. */
#ifndef FAKE_OAUTH_H
#define FAKE_OAUTH_H

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

void fake_oauth_init(int port);
/* Serves the OAuth endpoints; false when url is not one of them. */
bool fake_oauth_handle(struct MHD_Connection *c, const char *url, const char *method,
                       const char *body, size_t len, enum MHD_Result *ret);
/* Whether token is an access token the token endpoint issued and nobody revoked. */
bool fake_oauth_access_valid(const char *token);
/*
 * {"access_ttl": S, "revoke_access": true, "corrupt_challenge": bool,
 *  "oauth_fail": {"step": "metadata|register|authorize|token|refresh", "status": N}}
 */
void fake_oauth_control(const cJSON *control);
/* Adds "oauth": {registrations, authorizations, code_grants, refresh_grants, rejected, issued}. */
void fake_oauth_stats(cJSON *stats);

#endif
