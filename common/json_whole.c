#include "json_whole.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

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
    struct stat st;
    const char *open_why = NULL;
    int fd = regular_file_open(path, 0, &st, &open_why);
    if (fd < 0) {
        snprintf(why, why_size, "cannot open: %s", open_why);
        return NULL;
    }
    char *text = malloc(JSON_FILE_MAX + 1);
    size_t len = 0;
    bool failed = !text;
    while (!failed && len <= JSON_FILE_MAX) {
        ssize_t got = read(fd, text + len, JSON_FILE_MAX + 1 - len);
        if (got == 0)
            break;
        if (got < 0 && errno != EINTR)
            failed = true;
        else if (got > 0)
            len += (size_t)got;
    }
    close(fd);
    cJSON *root = NULL;
    if (failed)
        snprintf(why, why_size, "%s", text ? "cannot read" : "out of memory");
    else if (len > JSON_FILE_MAX)
        snprintf(why, why_size, "larger than 1 MiB");
    else
        root = json_parse_whole(text, len, why, why_size);
    free(text);
    return root;
}
