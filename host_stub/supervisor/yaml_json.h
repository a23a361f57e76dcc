/*
 * A YAML file as the JSON tree PyYAML's yaml.safe_load would give the
 * agent (YAML 1.1 scalars): the parsing is libyaml's; this module only
 * resolves scalars and builds the tree.
 *
 * Plain scalars resolve as PyYAML's resolver does for the forms a
 * configuration uses: null (~, null, empty), booleans (true/false, yes/no,
 * on/off, in their three casings), decimal and 0x integers (with '_'
 * separators), decimal floats, .inf and .nan; anything else is a string, and
 * a quoted scalar is always a string. A later duplicate key replaces an
 * earlier one, as in PyYAML. Sexagesimal and 0o/0b integers are read as
 * strings.
 *
 * Total on any input: a file over YAML_JSON_MAX_BYTES, more than
 * YAML_JSON_MAX_NODES built nodes (aliases count each time they are
 * expanded, so "billion laughs" stops here), nesting deeper than
 * YAML_JSON_MAX_DEPTH, a non-scalar key, or more than one document is an
 * error with a line number where libyaml gives one.
 */
#ifndef SUPERVISOR_YAML_JSON_H
#define SUPERVISOR_YAML_JSON_H

#include <cjson/cJSON.h>
#include <stddef.h>

#define YAML_JSON_MAX_BYTES ((size_t)1024 * 1024)
#define YAML_JSON_MAX_NODES 100000
#define YAML_JSON_MAX_DEPTH 64

/*
 * The document in text[0..len) as a tree the caller frees with cJSON_Delete;
 * an empty document is an empty object, as the agent treats it. NULL with
 * one line in err (no "path:" prefix) on any error.
 */
cJSON *yaml_json_parse(const char *text, size_t len, char *err, size_t err_size);

/* The same for a file; err names what failed (not the path: the caller has it). */
cJSON *yaml_json_load_file(const char *path, char *err, size_t err_size);

#endif
