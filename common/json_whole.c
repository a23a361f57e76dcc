#include "json_whole.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regular_file.h"
#include "text_clean.h"

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
