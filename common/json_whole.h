/*
 * json_parse_whole: a JSON document that is the whole text, nothing else.
 * cJSON on its own stops after the first value and reads a C string, so
 * "{} xxx" and "{}\0anything" would pass as "{}". Files this project reads
 * (host.json, the token file) must be one JSON value, valid UTF-8, with at
 * most white space after it.
 */
#ifndef PA_JSON_WHOLE_H
#define PA_JSON_WHOLE_H

#include <cjson/cJSON.h>
#include <stddef.h>

/*
 * The parsed value, or NULL with why set to one of: "a NUL byte at byte N",
 * "invalid UTF-8 at byte N", "an escaped NUL (\u0000) at byte N" (cJSON would
 * cut the string there), "malformed JSON near byte N", "content after the
 * JSON value at byte N". Free the value with cJSON_Delete.
 */
cJSON *json_parse_whole(const char *text, size_t len, char *why, size_t why_size);

/* Configuration files this project reads are at most this large. */
#define JSON_FILE_MAX (1u << 20)

/*
 * The file at path, read whole (at most JSON_FILE_MAX bytes) and parsed by
 * json_parse_whole. NULL with why set ("cannot open: REASON", "larger than
 * 1 MiB", or json_parse_whole's reasons).
 */
cJSON *json_load_file(const char *path, char *why, size_t why_size);

#endif
