#include "yaml_json.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "regular_file.h"

/* One conversion: the document and what bounds it. */
typedef struct converter {
    yaml_document_t *doc;
    size_t nodes;
    char *err;
    size_t err_size;
} converter;

static bool one_of(const char *text, const char *const *words)
{
    for (; *words; words++)
        if (strcmp(text, *words) == 0)
            return true;
    return false;
}

/* Digits (of base 10 or 16) with '_' separators, no separator first: PyYAML's int. */
static bool parse_int(const char *text, double *out)
{
    const char *p = text;
    bool negative = *p == '-';
    if (*p == '-' || *p == '+')
        p++;
    int base = 10;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p += 2;
    } else if (p[0] == '0' && p[1] != '\0') {
        return false; /* YAML 1.1 octal: left a string rather than misread */
    }
    if (!*p || *p == '_')
        return false;
    double v = 0;
    for (; *p; p++) {
        if (*p == '_')
            continue;
        int digit = isdigit((unsigned char)*p) ? *p - '0'
                    : base == 16 && isxdigit((unsigned char)*p)
                        ? tolower((unsigned char)*p) - 'a' + 10
                        : -1;
        if (digit < 0)
            return false;
        v = v * base + digit;
    }
    *out = negative ? -v : v;
    return true;
}

/* [-+]? digits? '.' digits? ([eE][-+]? digits)?, or .inf/.nan: PyYAML's float, minus '_'. */
static bool parse_float(const char *text, double *out)
{
    static const char *const INF[] = {".inf", ".Inf", ".INF", NULL};
    static const char *const NAN_WORDS[] = {".nan", ".NaN", ".NAN", NULL};
    const char *p = text + (*text == '-' || *text == '+');
    if (one_of(p, INF)) {
        *out = *text == '-' ? -INFINITY : INFINITY;
        return true;
    }
    if (one_of(text, NAN_WORDS)) {
        *out = NAN;
        return true;
    }
    if (!strchr(text, '.') || strspn(p, "0123456789.eE+-") != strlen(p) ||
        !(isdigit((unsigned char)*p) || (*p == '.' && isdigit((unsigned char)p[1]))))
        return false;
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || !end || *end)
        return false;
    *out = v;
    return true;
}

/* A plain (unquoted) scalar resolved as YAML 1.1 does. */
static cJSON *plain_scalar(const char *text)
{
    static const char *const NULLS[] = {"", "~", "null", "Null", "NULL", NULL};
    static const char *const TRUES[] = {"true", "True", "TRUE", "yes", "Yes",
                                        "YES",  "on",   "On",   "ON",  NULL};
    static const char *const FALSES[] = {"false", "False", "FALSE", "no",  "No",
                                         "NO",    "off",   "Off",   "OFF", NULL};
    double v;
    if (one_of(text, NULLS))
        return cJSON_CreateNull();
    if (one_of(text, TRUES))
        return cJSON_CreateTrue();
    if (one_of(text, FALSES))
        return cJSON_CreateFalse();
    if (parse_int(text, &v) || parse_float(text, &v))
        return cJSON_CreateNumber(v);
    return cJSON_CreateString(text);
}

static cJSON *fail(converter *c, const yaml_node_t *node, const char *what)
{
    if (node)
        snprintf(c->err, c->err_size, "line %lu: %s", (unsigned long)node->start_mark.line + 1,
                 what);
    else
        snprintf(c->err, c->err_size, "%s", what);
    return NULL;
}

static cJSON *convert(converter *c, yaml_node_t *node, int depth);

static cJSON *scalar(converter *c, yaml_node_t *node)
{
    const char *text = (const char *)node->data.scalar.value;
    if (strlen(text) != node->data.scalar.length)
        return fail(c, node, "a NUL character in a scalar");
    cJSON *v = node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? plain_scalar(text)
                                                                  : cJSON_CreateString(text);
    return v ? v : fail(c, node, "out of memory");
}

static cJSON *sequence(converter *c, yaml_node_t *node, int depth)
{
    cJSON *array = cJSON_CreateArray();
    if (!array)
        return fail(c, node, "out of memory");
    for (yaml_node_item_t *item = node->data.sequence.items.start;
         item < node->data.sequence.items.top; item++) {
        cJSON *v = convert(c, yaml_document_get_node(c->doc, *item), depth + 1);
        if (!v) {
            cJSON_Delete(array);
            return NULL;
        }
        cJSON_AddItemToArray(array, v);
    }
    return array;
}

static cJSON *mapping(converter *c, yaml_node_t *node, int depth)
{
    cJSON *object = cJSON_CreateObject();
    if (!object)
        return fail(c, node, "out of memory");
    for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
         pair < node->data.mapping.pairs.top; pair++) {
        yaml_node_t *key = yaml_document_get_node(c->doc, pair->key);
        if (!key || key->type != YAML_SCALAR_NODE) {
            cJSON_Delete(object);
            return fail(c, key ? key : node, "a key that is not a scalar");
        }
        const char *name = (const char *)key->data.scalar.value;
        cJSON *v = convert(c, yaml_document_get_node(c->doc, pair->value), depth + 1);
        if (!v) {
            cJSON_Delete(object);
            return NULL;
        }
        /* A later duplicate wins, as in PyYAML. */
        if (cJSON_GetObjectItemCaseSensitive(object, name))
            cJSON_ReplaceItemInObjectCaseSensitive(object, name, v);
        else
            cJSON_AddItemToObject(object, name, v);
    }
    return object;
}

static cJSON *convert(converter *c, yaml_node_t *node, int depth)
{
    if (!node)
        return fail(c, NULL, "a dangling node");
    if (depth > YAML_JSON_MAX_DEPTH)
        return fail(c, node, "nested too deeply");
    if (++c->nodes > YAML_JSON_MAX_NODES)
        return fail(c, node, "too many nodes (aliases expanded too far?)");
    switch (node->type) {
    case YAML_SCALAR_NODE:
        return scalar(c, node);
    case YAML_SEQUENCE_NODE:
        return sequence(c, node, depth);
    case YAML_MAPPING_NODE:
        return mapping(c, node, depth);
    default:
        return fail(c, node, "an empty node");
    }
}

/* libyaml's own error, with its line. */
static void parser_error(const yaml_parser_t *parser, char *err, size_t err_size)
{
    const yaml_mark_t *mark = parser->problem_mark.line || parser->problem_mark.column
                                  ? &parser->problem_mark
                                  : &parser->context_mark;
    snprintf(err, err_size, "line %lu: %s%s%s", (unsigned long)mark->line + 1,
             parser->problem ? parser->problem : "malformed YAML", parser->context ? " " : "",
             parser->context ? parser->context : "");
}

cJSON *yaml_json_parse(const char *text, size_t len, char *err, size_t err_size)
{
    if (len > YAML_JSON_MAX_BYTES) {
        snprintf(err, err_size, "larger than 1 MiB");
        return NULL;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    cJSON *root = NULL;
    if (!yaml_parser_load(&parser, &doc)) {
        parser_error(&parser, err, err_size);
        yaml_parser_delete(&parser);
        return NULL;
    }
    yaml_node_t *top = yaml_document_get_root_node(&doc);
    converter c = {&doc, 0, err, err_size};
    root = top ? convert(&c, top, 0) : NULL; /* convert sets err when it fails */
    if (!top || cJSON_IsNull(root)) {        /* empty, or "~" alone: nothing configured */
        cJSON_Delete(root);
        if (!(root = cJSON_CreateObject()))
            snprintf(err, err_size, "out of memory");
    }
    yaml_document_delete(&doc);
    /* yaml.safe_load refuses a stream of several documents. */
    if (root && top) {
        yaml_document_t next;
        if (!yaml_parser_load(&parser, &next)) {
            parser_error(&parser, err, err_size);
            cJSON_Delete(root);
            root = NULL;
        } else {
            if (yaml_document_get_root_node(&next)) {
                snprintf(err, err_size, "line %lu: a second document; expected one",
                         (unsigned long)yaml_document_get_root_node(&next)->start_mark.line + 1);
                cJSON_Delete(root);
                root = NULL;
            }
            yaml_document_delete(&next);
        }
    }
    yaml_parser_delete(&parser);
    return root;
}

cJSON *yaml_json_load_file(const char *path, char *err, size_t err_size)
{
    size_t len = 0;
    char *text = regular_file_read(path, YAML_JSON_MAX_BYTES, &len, err, err_size);
    if (!text)
        return NULL;
    cJSON *root = yaml_json_parse(text, len, err, err_size);
    free(text);
    return root;
}
