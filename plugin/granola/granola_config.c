#include "granola_config.h"

#include <ctype.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_rules.h"
#include "json_whole.h"
#include "pa_plugin.h"

/* Messages name the instance object and the key, as config_check's do. */
#define WHERE "instance config"

static int bad(char *err, size_t err_size, const char *key, const char *what)
{
    snprintf(err, err_size, "%s: %s: %s", WHERE, key, what);
    return PA_ERR_CONFIG;
}

static bool is_loopback_host(const char *host)
{
    if (strcasecmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0 ||
        strcmp(host, "::1") == 0)
        return true;
    unsigned a, b, c, d;
    char tail;
    return sscanf(host, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4 && a == 127 && b < 256 &&
           c < 256 && d < 256;
}

bool granola_url_allowed(const char *url, char *why, size_t why_size)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    bool ok = u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK;
    if (!ok) {
        snprintf(why, why_size, "not a valid URL");
    } else if (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0) {
        snprintf(why, why_size, "scheme must be https");
        ok = false;
    } else if (strcmp(scheme, "http") == 0 && !is_loopback_host(host)) {
        snprintf(why, why_size, "plain http is only allowed to a loopback host; use https");
        ok = false;
    }
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return ok;
}

static char *expand_home(const char *path)
{
    if (!path)
        return NULL;
    if (path[0] != '~' || (path[1] != '/' && path[1] != '\0'))
        return strdup(path);
    const char *home = getenv("HOME");
    if (!home || !*home)
        return NULL;
    size_t n = strlen(home) + strlen(path);
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%s%s", home, path + 1);
    return out;
}

/* The instance object's keys: checked, and their defaults, in one place. */
static const config_rule RULES[] = {
    CONFIG_REQUIRED_STRING_RULE("id"),
    CONFIG_STRING_RULE("workspace_id", "default"),
    CONFIG_INT_RULE("lookback_days", 1, 3650, 7),
    CONFIG_STRING_RULE("token_path", GRANOLA_DEFAULT_TOKEN_PATH),
    CONFIG_STRING_RULE("server_url", GRANOLA_DEFAULT_URL),
    CONFIG_INT_RULE("timeout_seconds", 1, 3600, 30),
    CONFIG_INT_RULE("max_response_bytes", 1024, 1024LL * 1024 * 1024, 16LL * 1024 * 1024),
    CONFIG_BOOL_RULE("enabled", true),
    CONFIG_INT_RULE("refresh_skew_seconds", 0, 86400, 300),
    CONFIG_STRING_RULE("client_id", NULL),
    CONFIG_STRING_RULE("display_name", ""),
    CONFIG_END,
};

/*
 * The agent's rule for a workspace id (its GranolaWorkspaceConfig
 * validator): "all", or letters, digits, '-' and '_', kept lowercased, so
 * the account id, and with it processed_granola_notes, matches the agent's.
 */
static bool normalise_workspace_id(char *id)
{
    if (strcmp(id, "all") == 0)
        return true;
    if (!*id)
        return false;
    for (char *c = id; *c; c++) {
        if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_')
            return false;
        *c = (char)tolower((unsigned char)*c);
    }
    return true;
}

static bool copy_string(const cJSON *root, const char *key, char **out)
{
    const char *v = config_string(root, RULES, key);
    return !v || (*out = strdup(v)) != NULL;
}

int granola_config_parse(const char *json, granola_config *cfg, char *err, size_t err_size)
{
    memset(cfg, 0, sizeof *cfg);
    cJSON *root = cJSON_Parse(json);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        snprintf(err, err_size, "%s: not a JSON object", WHERE);
        return PA_ERR_CONFIG;
    }
    int rc = config_check(root, RULES, false, WHERE, "", err, err_size);
    char *token_path = NULL, why[128];
    if (rc == PA_OK && (!copy_string(root, "id", &cfg->id) ||
                        !copy_string(root, "workspace_id", &cfg->workspace_id) ||
                        !copy_string(root, "server_url", &cfg->server_url) ||
                        !copy_string(root, "client_id", &cfg->client_id) ||
                        !copy_string(root, "token_path", &token_path))) {
        snprintf(err, err_size, "out of memory");
        rc = PA_ERR_NOMEM;
    }
    if (rc == PA_OK && !normalise_workspace_id(cfg->workspace_id))
        rc = bad(err, err_size, "workspace_id",
                 "expected \"all\" or letters, digits, '-' and '_' (the agent's rule)");
    if (rc == PA_OK && !(cfg->token_path = expand_home(token_path)))
        rc = bad(err, err_size, "token_path", "cannot expand ~ (HOME is not set)");
    free(token_path);
    if (rc == PA_OK && !granola_url_allowed(cfg->server_url, why, sizeof why))
        rc = bad(err, err_size, "server_url", why);
    if (rc == PA_OK) {
        cfg->lookback_days = (int)config_int(root, RULES, "lookback_days");
        cfg->timeout_seconds = (long)config_int(root, RULES, "timeout_seconds");
        cfg->max_response_bytes = (size_t)config_int(root, RULES, "max_response_bytes");
        cfg->refresh_skew_ms = config_int(root, RULES, "refresh_skew_seconds") * 1000;
        cfg->enabled = config_bool(root, RULES, "enabled");
        const cJSON *ws = cJSON_GetObjectItemCaseSensitive(root, "workspace_id");
        cfg->filter_workspace = ws && strcmp(cfg->workspace_id, "all") != 0;
    }
    cJSON_Delete(root);
    if (rc != PA_OK)
        granola_config_free(cfg);
    return rc;
}

void granola_config_free(granola_config *cfg)
{
    free(cfg->id);
    free(cfg->workspace_id);
    free(cfg->token_path);
    free(cfg->server_url);
    free(cfg->client_id);
    memset(cfg, 0, sizeof *cfg);
}

int granola_config_from_host_file(const char *path, const char *id, granola_config *out, char *err,
                                  size_t err_size)
{
    memset(out, 0, sizeof *out);
    char why[160];
    cJSON *root = json_load_file(path, why, sizeof why);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "plugins"),
                                         "granola"),
        "instances");
    const cJSON *found = NULL, *item;
    cJSON_ArrayForEach(item, list)
    {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(item, "id");
        if (!found && cJSON_IsString(v) && strcmp(v->valuestring, id) == 0)
            found = item;
    }
    char *json = found ? cJSON_PrintUnformatted(found) : NULL;
    int rc = PA_OK;
    if (!root)
        snprintf(err, err_size, "%s: %s", path, why), rc = PA_ERR_CONFIG;
    else if (!found)
        snprintf(err, err_size, "%s: no granola instance with id '%s'", path, id),
            rc = PA_ERR_CONFIG;
    else if (!json)
        snprintf(err, err_size, "out of memory"), rc = PA_ERR_NOMEM;
    else
        rc = granola_config_parse(json, out, err, err_size);
    cJSON_free(json);
    cJSON_Delete(root);
    return rc;
}
