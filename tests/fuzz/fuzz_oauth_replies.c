/*
 * Fuzz target: what OAuth servers send back: protected-resource metadata
 * (RFC 9728), authorization-server metadata (RFC 8414), a registration reply
 * (RFC 7591), a token reply (RFC 6749 5.1). The first byte picks the parser.
 * Total and leak-free; what a parser accepts meets its contract.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "oauth.h"
#include "pa_plugin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char *body = malloc(size - 1 ? size - 1 : 1);
    if (!body)
        return 0;
    memcpy(body, data + 1, size - 1);
    size_t len = size - 1;
    char err[512];
    oauth_server s = {0};
    switch (data[0] % 4) {
    case 0:
        if (oauth_parse_resource_metadata(body, len, "https://mcp.example/mcp", &s, err,
                                          sizeof err) == PA_OK)
            FUZZ_CHECK(s.issuer && s.issuer[0] && s.resource);
        break;
    case 1:
        if (oauth_parse_server_metadata(body, len, &s, err, sizeof err) == PA_OK)
            FUZZ_CHECK(s.authorization_endpoint && s.token_endpoint);
        break;
    case 2: {
        char *id = NULL, *secret = NULL;
        if (oauth_parse_registration(body, len, &id, &secret, err, sizeof err) == PA_OK)
            FUZZ_CHECK(id && id[0]);
        else
            FUZZ_CHECK(!id && !secret);
        free(id);
        free(secret);
        break;
    }
    default: {
        granola_token t = {0};
        if (oauth_parse_token_reply("token", body, len, 1770897600000LL, &t, err, sizeof err) ==
            PA_OK) {
            FUZZ_CHECK(t.access_token && !strpbrk(t.access_token, "\r\n"));
            /* expires_in is clamped: at most ten years from now, never an overflow. */
            FUZZ_CHECK(t.expires_at_ms == 0 ||
                       (t.expires_at_ms >= 1770897600000LL &&
                        t.expires_at_ms <= 1770897600000LL + 315360000000LL));
        }
        granola_token_free(&t);
    }
    }
    oauth_server_free(&s);
    free(body);
    return 0;
}
