/*
 * The OAuth side of fake_granola: protected-resource metadata (RFC 9728),
 * authorization-server metadata (RFC 8414), dynamic registration (RFC 7591),
 * an authorize endpoint that approves at once and redirects with a code, and
 * a token endpoint that checks PKCE S256 and the resource indicator, issues
 * short-lived access tokens and rotates refresh tokens. Each step can be told
 * to fail. All calls happen under fake_granola's lock.
 */
#include "fake_oauth.h"

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define MAX_ITEMS 256

typedef struct grant {
    char code[48];
    char client_id[48];
    char redirect_uri[256];
    char challenge[64];
    char resource[256];
    bool used;
} grant;

typedef struct refresh {
    char token[48];
    char client_id[48];
    bool spent;
} refresh;

static struct oauth_state {
    int port;
    char resource[128];
    char issuer[64];
    char clients[MAX_ITEMS][48];
    int client_count;
    grant grants[MAX_ITEMS];
    int grant_count;
    char access[MAX_ITEMS][48];
    bool revoked[MAX_ITEMS];
    int access_count;
    refresh refreshes[MAX_ITEMS];
    int refresh_count;
    long access_ttl;
    char fail_step[32];
    long fail_status;
    bool corrupt_challenge;
    long registrations, authorizations, code_grants, refresh_grants, rejected;
} O;

void fake_oauth_init(int port)
{
    memset(&O, 0, sizeof O);
    O.port = port;
    O.access_ttl = 3600;
    snprintf(O.resource, sizeof O.resource, "http://127.0.0.1:%d/mcp", port);
    snprintf(O.issuer, sizeof O.issuer, "http://127.0.0.1:%d", port);
}

static void random_id(char *out, size_t size, const char *prefix)
{
    unsigned char bytes[12];
    if (getrandom(bytes, sizeof bytes, 0) != (ssize_t)sizeof bytes)
        memset(bytes, 7, sizeof bytes);
    int n = snprintf(out, size, "%s", prefix);
    for (size_t i = 0; i < sizeof bytes && (size_t)n + 2 < size; i++)
        n += snprintf(out + n, size - (size_t)n, "%02x", bytes[i]);
}

static void s256(const char *verifier, char *out, size_t size)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(verifier, strlen(verifier), d, &len, EVP_sha256(), NULL);
    size_t n = 0;
    for (unsigned i = 0; i < len && n + 5 < size; i += 3) {
        unsigned v = (unsigned)d[i] << 16 | (i + 1 < len ? (unsigned)d[i + 1] << 8 : 0) |
                     (i + 2 < len ? d[i + 2] : 0);
        out[n++] = alphabet[(v >> 18) & 63];
        out[n++] = alphabet[(v >> 12) & 63];
        if (i + 1 < len)
            out[n++] = alphabet[(v >> 6) & 63];
        if (i + 2 < len)
            out[n++] = alphabet[v & 63];
    }
    out[n] = '\0';
}

static enum MHD_Result json_reply(struct MHD_Connection *c, unsigned status, cJSON *o)
{
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result oauth_error(struct MHD_Connection *c, unsigned status, const char *code,
                                   const char *description)
{
    O.rejected++;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", code);
    cJSON_AddStringToObject(o, "error_description", description);
    return json_reply(c, status, o);
}

static bool failing(const char *step)
{
    return O.fail_step[0] && strcmp(O.fail_step, step) == 0;
}

static int hex(int ch)
{
    return ch >= '0' && ch <= '9'   ? ch - '0'
           : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
           : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                    : -1;
}

/* Value of name in an application/x-www-form-urlencoded body, decoded into out. */
static bool form_value(const char *body, size_t len, const char *name, char *out, size_t size)
{
    size_t n = strlen(name);
    const char *p = body, *end = body + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        if ((size_t)(stop - p) > n && strncmp(p, name, n) == 0 && p[n] == '=') {
            size_t o = 0;
            for (const char *q = p + n + 1; q < stop && o + 1 < size; q++) {
                if (*q == '+') {
                    out[o++] = ' ';
                } else if (*q == '%' && q + 2 < stop && hex(q[1]) >= 0 && hex(q[2]) >= 0) {
                    out[o++] = (char)(hex(q[1]) * 16 + hex(q[2]));
                    q += 2;
                } else {
                    out[o++] = *q;
                }
            }
            out[o] = '\0';
            return true;
        }
        p = stop + 1;
    }
    out[0] = '\0';
    return false;
}

static cJSON *issue_tokens(const char *client_id)
{
    if (O.access_count >= MAX_ITEMS || O.refresh_count >= MAX_ITEMS)
        return NULL;
    char *access = O.access[O.access_count++];
    random_id(access, 48, "at-");
    refresh *r = &O.refreshes[O.refresh_count++];
    random_id(r->token, sizeof r->token, "rt-");
    snprintf(r->client_id, sizeof r->client_id, "%s", client_id);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "access_token", access);
    cJSON_AddStringToObject(o, "token_type", "Bearer");
    cJSON_AddNumberToObject(o, "expires_in", (double)O.access_ttl);
    cJSON_AddStringToObject(o, "refresh_token", r->token);
    cJSON_AddStringToObject(o, "scope", "mcp offline_access");
    return o;
}

static bool client_known(const char *id)
{
    for (int i = 0; i < O.client_count; i++) {
        if (strcmp(O.clients[i], id) == 0)
            return true;
    }
    return false;
}

static enum MHD_Result token_endpoint(struct MHD_Connection *c, const char *body, size_t len)
{
    char grant_type[64], client_id[64], resource[256];
    form_value(body, len, "grant_type", grant_type, sizeof grant_type);
    form_value(body, len, "client_id", client_id, sizeof client_id);
    form_value(body, len, "resource", resource, sizeof resource);
    if (strcmp(resource, O.resource) != 0)
        return oauth_error(c, 400, "invalid_target", "resource must name the MCP server");
    if (strcmp(grant_type, "authorization_code") == 0) {
        if (failing("token"))
            return oauth_error(c, (unsigned)O.fail_status, "server_error", "token step failed");
        char code[64], verifier[160], redirect_uri[256], challenge[64];
        form_value(body, len, "code", code, sizeof code);
        form_value(body, len, "code_verifier", verifier, sizeof verifier);
        form_value(body, len, "redirect_uri", redirect_uri, sizeof redirect_uri);
        grant *g = NULL;
        for (int i = 0; i < O.grant_count && !g; i++)
            g = strcmp(O.grants[i].code, code) == 0 ? &O.grants[i] : NULL;
        if (!g || g->used || strcmp(g->client_id, client_id) != 0 ||
            strcmp(g->redirect_uri, redirect_uri) != 0)
            return oauth_error(c, 400, "invalid_grant", "unknown, used or mismatched code");
        g->used = true;
        s256(verifier, challenge, sizeof challenge);
        if (!verifier[0] || strcmp(challenge, g->challenge) != 0)
            return oauth_error(c, 400, "invalid_grant", "PKCE verification failed");
        O.code_grants++;
        cJSON *o = issue_tokens(client_id);
        return o ? json_reply(c, 200, o) : oauth_error(c, 500, "server_error", "full");
    }
    if (strcmp(grant_type, "refresh_token") == 0) {
        if (failing("refresh"))
            return oauth_error(c, (unsigned)O.fail_status, "invalid_grant", "refresh refused");
        char token[64];
        form_value(body, len, "refresh_token", token, sizeof token);
        refresh *r = NULL;
        for (int i = 0; i < O.refresh_count && !r; i++)
            r = strcmp(O.refreshes[i].token, token) == 0 ? &O.refreshes[i] : NULL;
        if (!r || r->spent || strcmp(r->client_id, client_id) != 0)
            return oauth_error(c, 400, "invalid_grant", "unknown or already used refresh token");
        r->spent = true; /* rotation: each refresh token works once */
        O.refresh_grants++;
        cJSON *o = issue_tokens(client_id);
        return o ? json_reply(c, 200, o) : oauth_error(c, 500, "server_error", "full");
    }
    return oauth_error(c, 400, "unsupported_grant_type", "unsupported grant_type");
}

static char *escape_component(const char *s)
{
    /* Percent-encode everything but unreserved characters (RFC 3986). */
    char *out = malloc(strlen(s) * 3 + 1), *o = out;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.' || ch == '~')
            *o++ = (char)ch;
        else
            o += sprintf(o, "%%%02X", ch);
    }
    *o = '\0';
    return out;
}

static enum MHD_Result authorize(struct MHD_Connection *c)
{
#define ARG(name) MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name)
    const char *client_id = ARG("client_id"), *redirect_uri = ARG("redirect_uri");
    const char *challenge = ARG("code_challenge"), *method = ARG("code_challenge_method");
    const char *state = ARG("state"), *resource = ARG("resource"), *type = ARG("response_type");
#undef ARG
    if (failing("authorize"))
        return oauth_error(c, (unsigned)O.fail_status, "access_denied", "authorize step failed");
    if (!type || strcmp(type, "code") != 0 || !client_id || !client_known(client_id) ||
        !redirect_uri || strncmp(redirect_uri, "http://127.0.0.1:", 17) != 0 || !state ||
        !challenge || !method || strcmp(method, "S256") != 0 || !resource ||
        strcmp(resource, O.resource) != 0 || O.grant_count >= MAX_ITEMS)
        return oauth_error(c, 400, "invalid_request", "bad authorization request");
    grant *g = &O.grants[O.grant_count++];
    memset(g, 0, sizeof *g);
    random_id(g->code, sizeof g->code, "code-");
    snprintf(g->client_id, sizeof g->client_id, "%s", client_id);
    snprintf(g->redirect_uri, sizeof g->redirect_uri, "%s", redirect_uri);
    snprintf(g->challenge, sizeof g->challenge, "%s", challenge);
    if (O.corrupt_challenge)
        g->challenge[0] = g->challenge[0] == 'A' ? 'B' : 'A';
    O.authorizations++;
    char *escaped_state = escape_component(state);
    char location[1024];
    snprintf(location, sizeof location, "%s?code=%s&state=%s", redirect_uri, g->code,
             escaped_state);
    free(escaped_state);
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Location", location);
    enum MHD_Result ret = MHD_queue_response(c, 302, r);
    MHD_destroy_response(r);
    return ret;
}

bool fake_oauth_handle(struct MHD_Connection *c, const char *url, const char *method,
                       const char *body, size_t len, enum MHD_Result *ret)
{
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    if (get && (strcmp(url, "/.well-known/oauth-protected-resource") == 0 ||
                strcmp(url, "/.well-known/oauth-protected-resource/mcp") == 0)) {
        if (failing("metadata")) {
            *ret = oauth_error(c, (unsigned)O.fail_status, "server_error", "no metadata");
            return true;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "resource", O.resource);
        const char *servers[] = {O.issuer};
        cJSON_AddItemToObject(o, "authorization_servers", cJSON_CreateStringArray(servers, 1));
        const char *scopes[] = {"mcp", "offline_access"};
        cJSON_AddItemToObject(o, "scopes_supported", cJSON_CreateStringArray(scopes, 2));
        *ret = json_reply(c, 200, o);
    } else if (get && strcmp(url, "/.well-known/oauth-authorization-server") == 0) {
        cJSON *o = cJSON_CreateObject();
        char endpoint[128];
        cJSON_AddStringToObject(o, "issuer", O.issuer);
        snprintf(endpoint, sizeof endpoint, "%s/oauth2/authorize", O.issuer);
        cJSON_AddStringToObject(o, "authorization_endpoint", endpoint);
        snprintf(endpoint, sizeof endpoint, "%s/oauth2/token", O.issuer);
        cJSON_AddStringToObject(o, "token_endpoint", endpoint);
        snprintf(endpoint, sizeof endpoint, "%s/oauth2/register", O.issuer);
        cJSON_AddStringToObject(o, "registration_endpoint", endpoint);
        const char *methods[] = {"S256"}, *types[] = {"code"};
        const char *grants[] = {"authorization_code", "refresh_token"};
        cJSON_AddItemToObject(o, "code_challenge_methods_supported",
                              cJSON_CreateStringArray(methods, 1));
        cJSON_AddItemToObject(o, "response_types_supported", cJSON_CreateStringArray(types, 1));
        cJSON_AddItemToObject(o, "grant_types_supported", cJSON_CreateStringArray(grants, 2));
        *ret = json_reply(c, 200, o);
    } else if (post && strcmp(url, "/oauth2/register") == 0) {
        cJSON *req = cJSON_ParseWithLength(body, len);
        if (failing("register") || !cJSON_IsObject(req) || O.client_count >= MAX_ITEMS) {
            cJSON_Delete(req);
            *ret = oauth_error(c, failing("register") ? (unsigned)O.fail_status : 400,
                               "invalid_client_metadata", "registration refused");
            return true;
        }
        char *id = O.clients[O.client_count++];
        random_id(id, 48, "client-");
        O.registrations++;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "client_id", id);
        cJSON_AddNumberToObject(o, "client_id_issued_at", 1767225600);
        cJSON_AddStringToObject(o, "token_endpoint_auth_method", "none");
        cJSON *uris = cJSON_DetachItemFromObjectCaseSensitive(req, "redirect_uris");
        cJSON_AddItemToObject(o, "redirect_uris", uris ? uris : cJSON_CreateArray());
        cJSON_Delete(req);
        *ret = json_reply(c, 201, o);
    } else if (get && strcmp(url, "/oauth2/authorize") == 0) {
        *ret = authorize(c);
    } else if (post && strcmp(url, "/oauth2/token") == 0) {
        *ret = token_endpoint(c, body, len);
    } else {
        return false;
    }
    return true;
}

bool fake_oauth_access_valid(const char *token)
{
    for (int i = 0; i < O.access_count; i++) {
        if (!O.revoked[i] && strcmp(O.access[i], token) == 0)
            return true;
    }
    return false;
}

void fake_oauth_control(const cJSON *c)
{
    const cJSON *v;
    if ((v = cJSON_GetObjectItemCaseSensitive(c, "access_ttl")) && cJSON_IsNumber(v))
        O.access_ttl = (long)v->valuedouble;
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "revoke_access"))) {
        for (int i = 0; i < O.access_count; i++)
            O.revoked[i] = true;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(c, "corrupt_challenge")) && cJSON_IsBool(v))
        O.corrupt_challenge = cJSON_IsTrue(v);
    if ((v = cJSON_GetObjectItemCaseSensitive(c, "oauth_fail"))) {
        const cJSON *step = cJSON_GetObjectItemCaseSensitive(v, "step");
        const cJSON *status = cJSON_GetObjectItemCaseSensitive(v, "status");
        snprintf(O.fail_step, sizeof O.fail_step, "%s",
                 cJSON_IsString(step) ? step->valuestring : "");
        O.fail_status = cJSON_IsNumber(status) ? (long)status->valuedouble : 400;
    }
}

void fake_oauth_stats(cJSON *o)
{
    cJSON *oauth = cJSON_AddObjectToObject(o, "oauth");
    cJSON_AddNumberToObject(oauth, "registrations", (double)O.registrations);
    cJSON_AddNumberToObject(oauth, "authorizations", (double)O.authorizations);
    cJSON_AddNumberToObject(oauth, "code_grants", (double)O.code_grants);
    cJSON_AddNumberToObject(oauth, "refresh_grants", (double)O.refresh_grants);
    cJSON_AddNumberToObject(oauth, "rejected", (double)O.rejected);
    /* Every secret ever issued, so tests can check none leaked into any output. */
    cJSON *issued = cJSON_AddArrayToObject(oauth, "issued");
    for (int i = 0; i < O.refresh_count; i++)
        cJSON_AddItemToArray(issued, cJSON_CreateString(O.refreshes[i].token));
    for (int i = 0; i < O.access_count; i++)
        cJSON_AddItemToArray(issued, cJSON_CreateString(O.access[i]));
}
