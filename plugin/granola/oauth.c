#include "oauth.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "secret.h"
#include "port.h"
#include "pa_plugin.h"

/* One request on the shared HTTP layer; body NULL means GET. */
static int http(http_client *hc, const char *step, const char *url, const char *content_type,
                const char *body, http_response *r, char *err, size_t err_size)
{
    http_request req = {.type = step,
                        .url = url,
                        .body = body,
                        .content_type = content_type,
                        .accept = "application/json"};
    return http_perform(hc, &req, r, err, err_size);
}

/* "HTTP 400: invalid_grant: description" from an OAuth error reply. */
static void describe_failure(const char *step, const http_response *r, char *err, size_t err_size)
{
    cJSON *o = r->body ? cJSON_ParseWithLength(r->body, r->body_len) : NULL;
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(o, "error");
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(o, "error_description");
    snprintf(err, err_size, "%s failed (HTTP %ld)%s%.100s%s%.200s", step, r->status,
             cJSON_IsString(code) ? ": " : "", cJSON_IsString(code) ? code->valuestring : "",
             cJSON_IsString(text) ? ": " : "", cJSON_IsString(text) ? text->valuestring : "");
    cJSON_Delete(o);
}

static char *json_string(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && v->valuestring[0] ? strdup(v->valuestring) : NULL;
}

void oauth_server_free(oauth_server *s)
{
    free(s->resource);
    free(s->issuer);
    free(s->authorization_endpoint);
    free(s->token_endpoint);
    free(s->registration_endpoint);
    memset(s, 0, sizeof *s);
}

char *oauth_resource_metadata_url(const char *challenge)
{
    const char *p = challenge ? strstr(challenge, "resource_metadata=") : NULL;
    if (!p)
        return NULL;
    p += strlen("resource_metadata=");
    bool quoted = *p == '"';
    p += quoted;
    size_t n = strcspn(p, quoted ? "\"" : ", ");
    return strndup(p, n);
}

/* scheme://host[:port] and the path of url, for well-known URLs. */
static int split_url(const char *url, char **origin, char **path)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *p = NULL;
    int rc = u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
                     curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
                     curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
                     curl_url_get(u, CURLUPART_PATH, &p, 0) == CURLUE_OK
                 ? 0
                 : -1;
    if (rc == 0) {
        curl_url_get(u, CURLUPART_PORT, &port, 0);
        size_t n = strlen(scheme) + strlen(host) + (port ? strlen(port) : 0) + 8;
        *origin = malloc(n);
        if (*origin)
            snprintf(*origin, n, "%s://%s%s%s", scheme, host, port ? ":" : "", port ? port : "");
        *path = strcmp(p, "/") == 0 ? strdup("") : strdup(p);
        if (!*origin || !*path) {
            free(*origin);
            free(*path);
            rc = -1;
        }
    }
    curl_free(scheme), curl_free(host), curl_free(port), curl_free(p);
    curl_url_cleanup(u);
    return rc;
}

/* GETs the first of urls that answers 200; *r holds its reply (free it), else err says why. */
static bool get_first(http_client *hc, const char *step, char *const *urls, size_t count,
                      http_response *r, char *err, size_t err_size)
{
    for (size_t i = 0; i < count; i++) {
        if (!urls[i] || http(hc, step, urls[i], NULL, NULL, r, err, err_size) != PA_OK)
            continue;
        if (r->status == 200)
            return true;
        snprintf(err, err_size, "%s: %.200s answered HTTP %ld", step, urls[i], r->status);
        http_response_free(r);
    }
    return false;
}

static cJSON *parse_object(const char *step, const char *body, size_t len, char *err,
                           size_t err_size)
{
    cJSON *o = body ? cJSON_ParseWithLength(body, len) : NULL;
    if (cJSON_IsObject(o))
        return o;
    cJSON_Delete(o);
    snprintf(err, err_size, "%s: the reply is not a JSON object", step);
    return NULL;
}

int oauth_parse_resource_metadata(const char *body, size_t len, const char *mcp_url,
                                  oauth_server *out, char *err, size_t err_size)
{
    cJSON *prm = parse_object("protected-resource metadata", body, len, err, err_size);
    if (!prm)
        return PA_ERR_AUTH;
    const cJSON *first =
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(prm, "authorization_servers"), 0);
    out->resource = json_string(prm, "resource");
    out->issuer =
        cJSON_IsString(first) && first->valuestring[0] ? strdup(first->valuestring) : NULL;
    cJSON_Delete(prm);
    if (!out->resource)
        out->resource = strdup(mcp_url);
    if (!out->issuer || !out->resource) {
        snprintf(err, err_size, "protected-resource metadata names no authorization server");
        return PA_ERR_AUTH;
    }
    return PA_OK;
}

int oauth_parse_server_metadata(const char *body, size_t len, oauth_server *out, char *err,
                                size_t err_size)
{
    cJSON *asm_ = parse_object("authorization-server metadata", body, len, err, err_size);
    if (!asm_)
        return PA_ERR_AUTH;
    out->authorization_endpoint = json_string(asm_, "authorization_endpoint");
    out->token_endpoint = json_string(asm_, "token_endpoint");
    out->registration_endpoint = json_string(asm_, "registration_endpoint");
    bool s256 = false;
    const cJSON *m;
    cJSON_ArrayForEach(m,
                       cJSON_GetObjectItemCaseSensitive(asm_, "code_challenge_methods_supported"))
    {
        s256 = s256 || (cJSON_IsString(m) && strcmp(m->valuestring, "S256") == 0);
    }
    cJSON_Delete(asm_);
    if (out->authorization_endpoint && out->token_endpoint && s256)
        return PA_OK;
    snprintf(err, err_size, "authorization-server metadata lacks %s",
             !out->authorization_endpoint ? "authorization_endpoint"
             : !out->token_endpoint       ? "token_endpoint"
                                          : "PKCE S256 support");
    return PA_ERR_AUTH;
}

static char *join(const char *a, const char *b, const char *c)
{
    size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s%s", a, b, c);
    return s;
}

int oauth_discover(http_client *hc, const char *mcp_url, oauth_server *out, char *err,
                   size_t err_size)
{
    memset(out, 0, sizeof *out);
    /* Ask without a token: the 401 names the protected-resource metadata (RFC 9728). */
    http_response probe;
    int rc = http(hc, "discovery", mcp_url, "application/json",
                  "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":"
                  "{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},\"clientInfo\":"
                  "{\"name\":\"granola_login\",\"version\":\"1.0.0\"}}}",
                  &probe, err, err_size);
    if (rc != PA_OK)
        return rc;
    char *hinted = probe.status == 401
                       ? oauth_resource_metadata_url(http_header(hc, "WWW-Authenticate"))
                       : NULL;
    http_response_free(&probe);
    char *origin = NULL, *path = NULL;
    if (split_url(mcp_url, &origin, &path) != 0) {
        free(hinted);
        snprintf(err, err_size, "discovery: cannot parse %s", mcp_url);
        return PA_ERR_CONFIG;
    }
    char *candidates[3] = {hinted, join(origin, "/.well-known/oauth-protected-resource", path),
                           join(origin, "/.well-known/oauth-protected-resource", "")};
    http_response r;
    bool got = get_first(hc, "protected-resource metadata", candidates, 3, &r, err, err_size);
    for (size_t i = 0; i < 3; i++)
        free(candidates[i]);
    free(origin);
    free(path);
    rc = got ? oauth_parse_resource_metadata(r.body, r.body_len, mcp_url, out, err, err_size)
             : PA_ERR_AUTH;
    if (got)
        http_response_free(&r);
    /* RFC 8414: the well-known segment goes between host and path; then OIDC's form. */
    if (rc == PA_OK && split_url(out->issuer, &origin, &path) != 0) {
        snprintf(err, err_size, "discovery: cannot parse issuer %.200s", out->issuer);
        rc = PA_ERR_AUTH;
    }
    if (rc != PA_OK) {
        oauth_server_free(out);
        return rc;
    }
    char *as_urls[2] = {join(origin, "/.well-known/oauth-authorization-server", path),
                        join(out->issuer, out->issuer[strlen(out->issuer) - 1] == '/' ? "" : "/",
                             ".well-known/openid-configuration")};
    got = get_first(hc, "authorization-server metadata", as_urls, 2, &r, err, err_size);
    free(as_urls[0]), free(as_urls[1]), free(origin), free(path);
    rc = got ? oauth_parse_server_metadata(r.body, r.body_len, out, err, err_size) : PA_ERR_AUTH;
    if (got)
        http_response_free(&r);
    if (rc != PA_OK)
        oauth_server_free(out);
    return rc;
}

int oauth_register(http_client *hc, const oauth_server *s, const char *redirect_uri,
                   char **client_id, char **client_secret, char *err, size_t err_size)
{
    *client_id = *client_secret = NULL;
    if (!s->registration_endpoint) {
        snprintf(err, err_size,
                 "the authorization server offers no dynamic registration; pass "
                 "--client-id");
        return PA_ERR_AUTH;
    }
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "client_name", "personal-assistant Granola plugin");
    cJSON_AddItemToObject(req, "redirect_uris", cJSON_CreateStringArray(&redirect_uri, 1));
    const char *grants[] = {"authorization_code", "refresh_token"};
    cJSON_AddItemToObject(req, "grant_types", cJSON_CreateStringArray(grants, 2));
    const char *responses[] = {"code"};
    cJSON_AddItemToObject(req, "response_types", cJSON_CreateStringArray(responses, 1));
    cJSON_AddStringToObject(req, "token_endpoint_auth_method", "none");
    cJSON_AddStringToObject(req, "scope", "mcp offline_access");
    char *body = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    http_response r;
    int rc = body ? http(hc, "client registration", s->registration_endpoint, "application/json",
                         body, &r, err, err_size)
                  : PA_ERR_NOMEM;
    cJSON_free(body);
    if (rc != PA_OK)
        return rc;
    if (r.status != 200 && r.status != 201) {
        describe_failure("client registration", &r, err, err_size);
        http_response_free(&r);
        return PA_ERR_AUTH;
    }
    rc = oauth_parse_registration(r.body, r.body_len, client_id, client_secret, err, err_size);
    http_response_free(&r);
    return rc;
}

int oauth_parse_registration(const char *body, size_t len, char **client_id, char **client_secret,
                             char *err, size_t err_size)
{
    *client_id = *client_secret = NULL;
    cJSON *o = parse_object("client registration", body, len, err, err_size);
    *client_id = o ? json_string(o, "client_id") : NULL;
    *client_secret = o ? json_string(o, "client_secret") : NULL;
    cJSON_Delete(o);
    if (*client_id)
        return PA_OK;
    secret_free(*client_secret);
    *client_secret = NULL;
    if (o)
        snprintf(err, err_size, "client registration: the reply has no client_id");
    return PA_ERR_AUTH;
}

char *oauth_random_token(size_t bytes)
{
    unsigned char buf[64];
    if (bytes > sizeof buf || port_random_bytes(buf, bytes) != 0)
        return NULL;
    char *out = base64_encode(buf, bytes, true);
    secret_wipe(buf, sizeof buf);
    return out;
}

char *oauth_s256_challenge(const char *verifier)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!EVP_Digest(verifier, strlen(verifier), digest, &len, EVP_sha256(), NULL))
        return NULL;
    return base64_encode(digest, len, true);
}

/* Appends &name=escaped(value) (or the first name=value) to a growing form. */
static bool form_add(CURL *h, char **form, const char *name, const char *value)
{
    if (!value)
        return true;
    char *escaped = curl_easy_escape(h, value, 0);
    if (!escaped)
        return false;
    size_t old = *form ? strlen(*form) : 0;
    size_t n = old + strlen(name) + strlen(escaped) + 3;
    char *grown = realloc(*form, n);
    if (grown) {
        snprintf(grown + old, n - old, "%s%s=%s", old ? "&" : "", name, escaped);
        *form = grown;
    }
    curl_free(escaped);
    return grown != NULL;
}

char *oauth_authorize_url(const oauth_server *s, const char *client_id, const char *redirect_uri,
                          const char *challenge, const char *state)
{
    CURL *h = curl_easy_init();
    char *query = NULL;
    bool ok = h && form_add(h, &query, "response_type", "code") &&
              form_add(h, &query, "client_id", client_id) &&
              form_add(h, &query, "redirect_uri", redirect_uri) &&
              form_add(h, &query, "code_challenge", challenge) &&
              form_add(h, &query, "code_challenge_method", "S256") &&
              form_add(h, &query, "state", state) &&
              form_add(h, &query, "scope", "mcp offline_access") &&
              form_add(h, &query, "resource", s->resource);
    curl_easy_cleanup(h);
    char *url = ok ? join(s->authorization_endpoint,
                          strchr(s->authorization_endpoint, '?') ? "&" : "?", query)
                   : NULL;
    free(query);
    return url;
}

/* POSTs form to the token endpoint and fills token from a successful reply. */
static int token_request(http_client *hc, const char *step, const char *endpoint, const char *form,
                         int64_t now_ms, granola_token *token, char *err, size_t err_size)
{
    http_response r;
    int rc = http(hc, step, endpoint, "application/x-www-form-urlencoded", form, &r, err, err_size);
    if (rc != PA_OK)
        return rc;
    if (r.status != 200) {
        describe_failure(step, &r, err, err_size);
        http_response_free(&r);
        return PA_ERR_AUTH;
    }
    rc = oauth_parse_token_reply(step, r.body, r.body_len, now_ms, token, err, err_size);
    secret_wipe(r.body, r.body_len); /* it held the tokens */
    http_response_free(&r);
    return rc;
}

/* Takes the string out of the tree (no second copy of a secret); NULL when absent. */
static char *take_secret(cJSON *o, const char *key)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v))
        return NULL;
    char *s = v->valuestring;
    v->valuestring = NULL;
    v->type = cJSON_NULL;
    return s;
}

/* The reply's other fields (token_type, scope, expires_in, ...) move into token->extra. */
static void keep_other_fields(cJSON *o, granola_token *token)
{
    cJSON_DeleteItemFromObjectCaseSensitive(o, "access_token");
    cJSON_DeleteItemFromObjectCaseSensitive(o, "refresh_token");
    cJSON *extra = token->extra ? token->extra : cJSON_CreateObject();
    cJSON *field;
    while (extra && (field = o->child) != NULL) {
        cJSON_DetachItemViaPointer(o, field);
        cJSON_DeleteItemFromObjectCaseSensitive(extra, field->string);
        if (!cJSON_AddItemToObject(extra, field->string, field))
            cJSON_Delete(field);
    }
    token->extra = extra;
}

int oauth_parse_token_reply(const char *step, const char *body, size_t len, int64_t now_ms,
                            granola_token *token, char *err, size_t err_size)
{
    cJSON *o = parse_object(step, body, len, err, err_size);
    if (!o)
        return PA_ERR_AUTH;
    char *access = take_secret(o, "access_token"), *refresh = take_secret(o, "refresh_token");
    const cJSON *expires = cJSON_GetObjectItemCaseSensitive(o, "expires_in");
    /* A server's number, clamped: from now up to ten years, never an overflow. */
    double expires_in = cJSON_IsNumber(expires) ? expires->valuedouble : -1;
    int64_t ttl_ms = !(expires_in >= 0)         ? -1
                     : expires_in > 315360000.0 ? 315360000000LL
                                                : (int64_t)(expires_in * 1000);
    keep_other_fields(o, token);
    cJSON_Delete(o);
    if (!access || !*access || strpbrk(access, "\r\n")) {
        secret_free(access);
        secret_free(refresh);
        snprintf(err, err_size, "%s: the reply has no usable access_token", step);
        return PA_ERR_AUTH;
    }
    secret_free(token->access_token);
    token->access_token = access;
    if (refresh) { /* rotated: the old refresh token is spent */
        secret_free(token->refresh_token);
        token->refresh_token = refresh;
    }
    token->expires_at_ms = ttl_ms >= 0 ? now_ms + ttl_ms : 0;
    return PA_OK;
}

int oauth_exchange_code(http_client *hc, const oauth_server *s, const char *client_id,
                        const char *client_secret, const char *code, const char *redirect_uri,
                        const char *verifier, int64_t now_ms, granola_token *token, char *err,
                        size_t err_size)
{
    memset(token, 0, sizeof *token);
    CURL *h = curl_easy_init();
    char *form = NULL;
    bool ok = h && form_add(h, &form, "grant_type", "authorization_code") &&
              form_add(h, &form, "code", code) &&
              form_add(h, &form, "redirect_uri", redirect_uri) &&
              form_add(h, &form, "client_id", client_id) &&
              form_add(h, &form, "client_secret", client_secret) &&
              form_add(h, &form, "code_verifier", verifier) &&
              form_add(h, &form, "resource", s->resource);
    curl_easy_cleanup(h);
    if (!ok) {
        free(form);
        snprintf(err, err_size, "token request: out of memory");
        return PA_ERR_NOMEM;
    }
    int rc =
        token_request(hc, "token request", s->token_endpoint, form, now_ms, token, err, err_size);
    secret_free(form);
    if (rc == PA_OK &&
        ((client_id && !(token->client_id = strdup(client_id))) ||
         (client_secret && !(token->client_secret = strdup(client_secret))) ||
         !(token->token_endpoint = strdup(s->token_endpoint)) ||
         !(token->resource = strdup(s->resource)) || !(token->issuer = strdup(s->issuer)))) {
        snprintf(err, err_size, "token request: out of memory");
        rc = PA_ERR_NOMEM;
    }
    if (rc != PA_OK)
        granola_token_free(token);
    return rc;
}

int oauth_refresh(http_client *hc, const granola_token *old, int64_t now_ms, granola_token *fresh,
                  char *err, size_t err_size)
{
    memset(fresh, 0, sizeof *fresh);
    if (!old->refresh_token || !old->token_endpoint) {
        snprintf(err, err_size, "the token has expired and the token file has no %s to renew it",
                 !old->refresh_token ? "refresh_token" : "token_endpoint");
        return PA_ERR_AUTH;
    }
    if (granola_token_copy_for_renewal(old, fresh) != PA_OK) {
        snprintf(err, err_size, "token refresh: out of memory");
        return PA_ERR_NOMEM;
    }
    CURL *h = curl_easy_init();
    char *form = NULL;
    bool ok = h && form_add(h, &form, "grant_type", "refresh_token") &&
              form_add(h, &form, "refresh_token", old->refresh_token) &&
              form_add(h, &form, "client_id", old->client_id) &&
              form_add(h, &form, "client_secret", old->client_secret) &&
              form_add(h, &form, "resource", old->resource);
    curl_easy_cleanup(h);
    int rc = ok ? token_request(hc, "token refresh", old->token_endpoint, form, now_ms, fresh, err,
                                err_size)
                : PA_ERR_NOMEM;
    secret_free(form);
    if (rc != PA_OK)
        granola_token_free(fresh);
    return rc == PA_ERR_NOMEM || rc == PA_ERR_NETWORK ? rc : (rc == PA_OK ? PA_OK : PA_ERR_AUTH);
}

char *oauth_query_param(const char *query, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = query; p && *p;) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > n && strncmp(p, name, n) == 0 && p[n] == '=') {
            CURL *h = curl_easy_init();
            int out_len = 0;
            char *plus = strndup(p + n + 1, len - n - 1);
            for (char *c = plus; c && *c; c++)
                if (*c == '+')
                    *c = ' ';
            char *decoded = h && plus ? curl_easy_unescape(h, plus, 0, &out_len) : NULL;
            char *copy = decoded ? strndup(decoded, (size_t)out_len) : NULL;
            /* The value may be an authorization code: no copy outlives this call unwiped. */
            secret_wipe(decoded, decoded ? (size_t)out_len : 0);
            curl_free(decoded);
            secret_free(plus);
            curl_easy_cleanup(h);
            return copy;
        }
        p = end ? end + 1 : NULL;
    }
    return NULL;
}
