/*
 * config_rules: configuration checked from a table, once, the same way for
 * host.json (host_stub/supervisor/config.c) and for a plugin's instance object
 * (plugin/granola/granola_config.c).
 *
 * A table lists each key with its kind, range and default. config_check
 * refuses, with one message format "WHERE: KEY: PROBLEM", an unknown key
 * (unless the table allows others), a duplicate key, a missing required key,
 * a wrong kind and an integer out of range. The getters then read a checked
 * object, falling back to the table's defaults.
 */
#ifndef PA_CONFIG_RULES_H
#define PA_CONFIG_RULES_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum config_kind {
    CONFIG_INT,    /* a whole number within min..max */
    CONFIG_STRING, /* a non-empty string */
    CONFIG_BOOL,   /* true or false */
    CONFIG_OBJECT,
    CONFIG_ARRAY
} config_kind;

typedef struct config_rule {
    const char *key; /* NULL ends the table */
    config_kind kind;
    int64_t min, max; /* CONFIG_INT */
    int64_t int_default;
    const char *string_default; /* CONFIG_STRING; NULL: none */
    bool bool_default;
    bool required;
} config_rule;

/* Table rows, for readability. */
#define CONFIG_INT_RULE(k, lo, hi, def)                                                            \
    {                                                                                              \
        .key = (k), .kind = CONFIG_INT, .min = (lo), .max = (hi), .int_default = (def)             \
    }
#define CONFIG_STRING_RULE(k, def)                                                                 \
    {                                                                                              \
        .key = (k), .kind = CONFIG_STRING, .string_default = (def)                                 \
    }
#define CONFIG_REQUIRED_STRING_RULE(k)                                                             \
    {                                                                                              \
        .key = (k), .kind = CONFIG_STRING, .required = true                                        \
    }
#define CONFIG_BOOL_RULE(k, def)                                                                   \
    {                                                                                              \
        .key = (k), .kind = CONFIG_BOOL, .bool_default = (def)                                     \
    }
#define CONFIG_OBJECT_RULE(k)                                                                      \
    {                                                                                              \
        .key = (k), .kind = CONFIG_OBJECT                                                          \
    }
#define CONFIG_ARRAY_RULE(k)                                                                       \
    {                                                                                              \
        .key = (k), .kind = CONFIG_ARRAY                                                           \
    }
#define CONFIG_END                                                                                 \
    {                                                                                              \
        .key = NULL                                                                                \
    }

/*
 * Checks obj (which must be an object) against rules. where names it in
 * messages ("host.json", "host.json: pool" ...); prefix is put before each
 * key ("pool."). allow_unknown lets keys the table does not name through
 * (checked by someone else). PA_OK, or PA_ERR_CONFIG with err set.
 */
int config_check(const cJSON *obj, const config_rule *rules, bool allow_unknown, const char *where,
                 const char *prefix, char *err, size_t err_size);

/* Told each problem config_check_each finds, as one "WHERE: KEY: PROBLEM" line. */
typedef void (*config_problem_fn)(void *arg, const char *message);
/*
 * As config_check, but every problem of obj is told to report (a key with
 * several, its first); returns how many.
 */
size_t config_check_each(const cJSON *obj, const config_rule *rules, bool allow_unknown,
                         const char *where, const char *prefix, config_problem_fn report,
                         void *arg);
/* A checked object's value for key, or the table's default. */
int64_t config_int(const cJSON *obj, const config_rule *rules, const char *key);
const char *config_string(const cJSON *obj, const config_rule *rules, const char *key);
bool config_bool(const cJSON *obj, const config_rule *rules, const char *key);

#endif
