#include "json_whole.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regular_file.h"
#include "text_clean.h"

/*
 * The offset of the first \u0000 escape in text, or len. cJSON would end the
 * string there ("a\u0000b" reads as "a"): a value silently cut. A run of
 * backslashes escapes itself in pairs, so only an odd run starts an escape.
 */
static size_t escaped_nul(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (text[i] != '\\')
            continue;
        size_t run = 0;
        while (i + run < len && text[i + run] == '\\')
            run++;
        size_t after = i + run;
        if (run % 2 == 1 && len - after >= 5 && (text[after] == 'u' || text[after] == 'U') &&
            memcmp(text + after + 1, "0000", 4) == 0)
            return after - 1;
        i = after - 1;
    }
    return len;
}

cJSON *json_parse_whole(const char *text, size_t len, char *why, size_t why_size)
{
    const char *nul = memchr(text, '\0', len);
    size_t valid = utf8_valid_prefix(text, len);
    if (nul) {
        snprintf(why, why_size, "a NUL byte at byte %zu", (size_t)(nul - text));
        return NULL;
    }
    if (valid != len) {
        snprintf(why, why_size, "invalid UTF-8 at byte %zu", valid);
        return NULL;
    }
    size_t nul_escape = escaped_nul(text, len);
    if (nul_escape != len) {
        snprintf(why, why_size, "an escaped NUL (\\u0000) at byte %zu", nul_escape);
        return NULL;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        snprintf(why, why_size, "malformed JSON near byte %zu",
                 end && end >= text ? (size_t)(end - text) : 0);
        return NULL;
    }
    size_t at = (size_t)(end - text);
    while (at < len && strchr(" \t\r\n", text[at]))
        at++;
    if (at < len) {
        snprintf(why, why_size, "content after the JSON value at byte %zu", at);
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

cJSON *json_load_file(const char *path, char *why, size_t why_size)
{
    size_t len = 0;
    char *text = regular_file_read(path, JSON_FILE_MAX, &len, why, why_size);
    if (!text)
        return NULL;
    cJSON *root = json_parse_whole(text, len, why, why_size);
    free(text);
    return root;
}
