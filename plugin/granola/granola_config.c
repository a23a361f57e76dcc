#include "granola_config.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json_whole.h"
#include "pa_plugin.h"

/* host.json is at most this large (as host_stub reads it). */
#define HOST_FILE_MAX (1u << 20)

static int bad(char *err, size_t err_size, const char *key, const char *what)
{
    snprintf(err, err_size, "config key '%s': %s", key, what);
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

static int get_string(const cJSON *root, const char *key, const char *fallback, char **out,
                      char *err, size_t err_size)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (v && (!cJSON_IsString(v) || v->valuestring[0] == '\0'))
        return bad(err, err_size, key, "expected a non-empty string");
    const char *s = v ? v->valuestring : fallback;
    if (s && !(*out = strdup(s))) {
        snprintf(err, err_size, "out of memory");
        return PA_ERR_NOMEM;
    }
    return PA_OK;
}

static int get_number(const cJSON *root, const char *key, double min, double max, double *out,
                      char *err, size_t err_size)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v)
        return PA_OK;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < min ||
        v->valuedouble > max) {
        char what[96];
        snprintf(what, sizeof what, "expected an integer from %.0f to %.0f", min, max);
        return bad(err, err_size, key, what);
    }
    *out = v->valuedouble;
    return PA_OK;
}

int granola_config_parse(const char *json, granola_config *cfg, char *err, size_t err_size)
{
    static const char *const known[] = {"id",
                                        "workspace_id",
                                        "lookback_days",
                                        "token_path",
                                        "server_url",
                                        "timeout_seconds",
                                        "max_response_bytes",
                                        "enabled",
                                        "refresh_skew_seconds",
                                        "client_id",
                                        NULL};
    memset(cfg, 0, sizeof *cfg);
    cJSON *root = cJSON_Parse(json);
    int rc = PA_OK;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        snprintf(err, err_size, "instance configuration is not a JSON object");
        return PA_ERR_CONFIG;
    }
    for (const cJSON *m = root->child; m && rc == PA_OK; m = m->next) {
        bool found = false;
        for (size_t i = 0; known[i] && !found; i++)
            found = strcmp(m->string, known[i]) == 0;
        if (!found)
            rc = bad(err, err_size, m->string, "unknown key");
    }
    double lookback = 7, timeout = 30, max_bytes = 16.0 * 1024 * 1024, skew = 300;
    if (rc == PA_OK)
        rc = get_string(root, "id", NULL, &cfg->id, err, err_size);
    if (rc == PA_OK && !cfg->id)
        rc = bad(err, err_size, "id", "required");
    if (rc == PA_OK)
        rc = get_string(root, "workspace_id", "default", &cfg->workspace_id, err, err_size);
    if (rc == PA_OK)
        rc = get_string(root, "server_url", GRANOLA_DEFAULT_URL, &cfg->server_url, err, err_size);
    if (rc == PA_OK)
        rc = get_string(root, "client_id", NULL, &cfg->client_id, err, err_size);
    char *token_path = NULL;
    if (rc == PA_OK)
        rc = get_string(root, "token_path", GRANOLA_DEFAULT_TOKEN_PATH, &token_path, err, err_size);
    if (rc == PA_OK && !(cfg->token_path = expand_home(token_path)))
        rc = bad(err, err_size, "token_path", "cannot expand ~ (HOME is not set)");
    free(token_path);
    if (rc == PA_OK)
        rc = get_number(root, "lookback_days", 1, 3650, &lookback, err, err_size);
    if (rc == PA_OK)
        rc = get_number(root, "timeout_seconds", 1, 3600, &timeout, err, err_size);
    if (rc == PA_OK)
        rc = get_number(root, "max_response_bytes", 1024, 1024.0 * 1024 * 1024, &max_bytes, err,
                        err_size);
    if (rc == PA_OK)
        rc = get_number(root, "refresh_skew_seconds", 0, 86400, &skew, err, err_size);
    const cJSON *enabled = cJSON_GetObjectItemCaseSensitive(root, "enabled");
    if (rc == PA_OK && enabled && !cJSON_IsBool(enabled))
        rc = bad(err, err_size, "enabled", "expected true or false");
    char why[128];
    if (rc == PA_OK && !granola_url_allowed(cfg->server_url, why, sizeof why))
        rc = bad(err, err_size, "server_url", why);
    if (rc == PA_OK) {
        cfg->lookback_days = (int)lookback;
        cfg->timeout_seconds = (long)timeout;
        cfg->max_response_bytes = (size_t)max_bytes;
        cfg->refresh_skew_ms = (int64_t)skew * 1000;
        cfg->enabled = !enabled || cJSON_IsTrue(enabled);
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
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_size, "%s: cannot open: %s", path, strerror(errno));
        return PA_ERR_CONFIG;
    }
    char *text = malloc(HOST_FILE_MAX + 1);
    size_t len = text ? fread(text, 1, HOST_FILE_MAX + 1, f) : 0;
    fclose(f);
    char why[128] = "larger than 1 MiB";
    cJSON *root =
        text && len <= HOST_FILE_MAX ? json_parse_whole(text, len, why, sizeof why) : NULL;
    free(text);
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
