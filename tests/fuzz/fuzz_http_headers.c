/*
 * Fuzz target: the response headers the plugin interprets itself:
 * WWW-Authenticate's resource_metadata (RFC 9728 5.1) and the clamp applied to
 * Retry-After (libcurl parses the value; the seconds it reports are derived
 * here from the input's first eight bytes, so any number, including negative
 * and huge, reaches the clamp). Total; the clamp stays in 1 s .. 30 days.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "http_client.h"
#include "oauth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int64_t curl_seconds = 0;
    if (size >= 8)
        memcpy(&curl_seconds, data, 8);
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    int64_t s = http_retry_after_clamp(text, curl_seconds);
    FUZZ_CHECK(s >= 1 && s <= HTTP_RETRY_AFTER_MAX_SECONDS);
    char *url = oauth_resource_metadata_url(text);
    if (url)
        FUZZ_CHECK(strlen(url) <= size);
    free(url);
    free(text);
    return 0;
}
