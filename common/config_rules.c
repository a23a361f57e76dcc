#include "config_rules.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "pa_plugin.h"

static const config_rule *find_rule(const config_rule *rules, const char *key)
{
    for (const config_rule *r = rules; r->key; r++) {
        if (strcmp(r->key, key) == 0)
            return r;
    }
    return NULL;
}

static int problem(char *err, size_t err_size, const char *where, const char *prefix,
                   const char *key, const char *what)
{
    snprintf(err, err_size, "%s: %s%s: %s", where, prefix, key, what);
    return PA_ERR_CONFIG;
}

/* NULL when v is of the rule's kind (and in range), else what is wrong. */
static const char *kind_problem(const config_rule *r, const cJSON *v, char *buf, size_t size)
{
    switch (r->kind) {
    case CONFIG_INT:
        if (cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) &&
            v->valuedouble >= (double)r->min && v->valuedouble <= (double)r->max)
            return NULL;
        snprintf(buf, size, "expected an integer from %lld to %lld", (long long)r->min,
                 (long long)r->max);
        return buf;
    case CONFIG_STRING:
        return cJSON_IsString(v) && v->valuestring[0] ? NULL : "expected a non-empty string";
    case CONFIG_BOOL:
        return cJSON_IsBool(v) ? NULL : "expected true or false";
    case CONFIG_OBJECT:
        return cJSON_IsObject(v) ? NULL : "expected an object";
    case CONFIG_ARRAY:
        return cJSON_IsArray(v) ? NULL : "expected an array";
    }
    return "unknown kind";
}

/* The problem with member m of obj, or NULL; buf holds a formatted one. */
static const char *member_problem(const cJSON *m, const config_rule *rules, bool allow_unknown,
                                  char *buf, size_t size)
{
    const config_rule *r = find_rule(rules, m->string);
    for (const cJSON *o = m->next; o; o = o->next) {
        if (strcmp(o->string, m->string) == 0)
            return "duplicate key";
    }
    if (!r && !allow_unknown)
        return "unknown key";
    return r ? kind_problem(r, m, buf, size) : NULL;
}

size_t config_check_each(const cJSON *obj, const config_rule *rules, bool allow_unknown,
                         const char *where, const char *prefix, config_problem_fn report, void *arg)
{
    char buf[96], line[1024];
    size_t found = 0;
    for (const cJSON *m = obj ? obj->child : NULL; m; m = m->next) {
        const char *what = member_problem(m, rules, allow_unknown, buf, sizeof buf);
        if (what) {
            problem(line, sizeof line, where, prefix, m->string, what);
            report(arg, line);
            found++;
        }
    }
    for (const config_rule *r = rules; r->key; r++) {
        if (r->required && !cJSON_GetObjectItemCaseSensitive(obj, r->key)) {
            problem(line, sizeof line, where, prefix, r->key, "required");
            report(arg, line);
            found++;
        }
    }
    return found;
}

/* config_check's reporter: keeps the first problem. */
typedef struct first_problem {
    char *err;
    size_t err_size;
    bool kept;
} first_problem;

static void keep_first(void *arg, const char *message)
{
    first_problem *f = arg;
    if (!f->kept)
        snprintf(f->err, f->err_size, "%s", message);
    f->kept = true;
}

int config_check(const cJSON *obj, const config_rule *rules, bool allow_unknown, const char *where,
                 const char *prefix, char *err, size_t err_size)
{
    first_problem first = {err, err_size, false};
    return config_check_each(obj, rules, allow_unknown, where, prefix, keep_first, &first)
               ? PA_ERR_CONFIG
               : PA_OK;
}

int64_t config_int(const cJSON *obj, const config_rule *rules, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    const config_rule *r = find_rule(rules, key);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : r ? r->int_default : 0;
}

const char *config_string(const cJSON *obj, const config_rule *rules, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    const config_rule *r = find_rule(rules, key);
    return cJSON_IsString(v) ? v->valuestring : r ? r->string_default : NULL;
}

bool config_bool(const cJSON *obj, const config_rule *rules, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    const config_rule *r = find_rule(rules, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : r ? r->bool_default : false;
}
