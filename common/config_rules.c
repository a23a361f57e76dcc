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

int config_check(const cJSON *obj, const config_rule *rules, bool allow_unknown, const char *where,
                 const char *prefix, char *err, size_t err_size)
{
    char buf[96];
    for (const cJSON *m = obj ? obj->child : NULL; m; m = m->next) {
        const config_rule *r = find_rule(rules, m->string);
        for (const cJSON *o = m->next; o; o = o->next) {
            if (strcmp(o->string, m->string) == 0)
                return problem(err, err_size, where, prefix, m->string, "duplicate key");
        }
        if (!r && !allow_unknown)
            return problem(err, err_size, where, prefix, m->string, "unknown key");
        const char *wrong = r ? kind_problem(r, m, buf, sizeof buf) : NULL;
        if (wrong)
            return problem(err, err_size, where, prefix, m->string, wrong);
    }
    for (const config_rule *r = rules; r->key; r++) {
        if (r->required && !cJSON_GetObjectItemCaseSensitive(obj, r->key))
            return problem(err, err_size, where, prefix, r->key, "required");
    }
    return PA_OK;
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
