/*
 * granola.so: turns new Granola meeting notes into document_review items.
 *
 * One instance per workspace; all state lives in the instance. A poll:
 * list_meetings over the lookback window, keep meetings in the window and
 * workspace, ask the database which are new (one statement), fetch those with
 * get_meetings (at most 10 ids a call), and record + emit each in its own
 * WRITE lease. No lease is held across a request.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "crash_point.h"
#include "date_parser.h"
#include "granola_config.h"
#include "http_client.h"
#include "mcp_client.h"
#include "meeting_item.h"
#include "meeting_parser.h"
#include "note_store.h"
#include "oauth.h"
#include "pa_plugin.h"
#include "token_file.h"

#define GET_MEETINGS_BATCH 10
#define DAY_MS             (24LL * 3600 * 1000)

static const pa_plugin_info INFO = {PA_ABI_VERSION, sizeof(pa_plugin_info), "granola", "1.0.0",
                                    "Granola meeting notes as document_review items"};

typedef struct granola {
    const pa_host_api *api;
    pa_host_ctx *ctx;
    granola_config cfg;
    http_client *http; /* one HTTP layer (connections) for MCP and token renewal */
    mcp_client *mcp;
    note_store store;
    bool schema_ready;
    int64_t not_before_ms; /* from a 429's Retry-After, when the host cannot defer polls */
    granola_token token;   /* loaded at the start of each poll, freed at its end */
    bool refreshed;        /* this poll already renewed the token */
} granola;

/* What one poll saw, for its summary log line. */
typedef struct poll_counts {
    size_t listed, in_window, undated, other_workspace, new_ids, fetched, emitted, no_notes,
        already_done, missing;
} poll_counts;

const pa_plugin_info *pa_plugin_describe(void)
{
    return &INFO;
}

static bool can_refresh(const granola *g);
static void format_day(int64_t ms, char *buf, size_t size);

/*
 * --check-config (PA_RUN_CHECK): what the first poll will need, checked now
 * and changing nothing. The token file must exist, be this user's alone
 * (0600), parse, and name its expiry; an expired token needs a refresh token
 * to be renewed with. The first problem goes into errbuf (each stops the
 * next from being looked at).
 */
static int check_credentials(granola *g, char *errbuf, size_t errbuf_size)
{
    char err[1024];
    int rc = granola_token_read(g->cfg.token_path, &g->token, err, sizeof err);
    if (rc != PA_OK) {
        snprintf(errbuf, errbuf_size, "%s", err);
        return rc;
    }
    int64_t now = g->api->now_ms(g->ctx), expires = g->token.expires_at_ms;
    bool renewable = can_refresh(g);
    granola_token_free(&g->token);
    char when[40] = "";
    format_day(expires, when, sizeof when);
    if (!expires) {
        snprintf(errbuf, errbuf_size,
                 "token file %s names no expires_at: it cannot be renewed before it lapses; log "
                 "in again (granola_login)",
                 g->cfg.token_path);
        return PA_ERR_AUTH;
    }
    if (expires <= now && !renewable) {
        snprintf(errbuf, errbuf_size,
                 "token file %s: the token expired on %s and there is no refresh_token to renew "
                 "it with; log in again (granola_login)",
                 g->cfg.token_path, when);
        return PA_ERR_AUTH;
    }
    g->api->log(g->ctx, PA_LOG_INFO, "token file %s: ok, expires %s%s", g->cfg.token_path, when,
                expires <= now ? " (expired: the first poll renews it)" : "");
    return PA_OK;
}

int pa_plugin_init(const pa_host_api *api, pa_host_ctx *ctx, const char *config_json,
                   void **instance_out, char *errbuf, size_t errbuf_size)
{
    *instance_out = NULL;
    if (!api || PA_ABI_MAJOR(api->abi_version) != PA_ABI_VERSION_MAJOR ||
        !PA_HOST_HAS(api, last_error)) {
        snprintf(errbuf, errbuf_size, "granola: host API table is missing or too old");
        return PA_ERR_INVALID;
    }
    granola *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(errbuf, errbuf_size, "granola: out of memory");
        return PA_ERR_NOMEM;
    }
    g->api = api;
    g->ctx = ctx;
    g->store = (note_store){api, ctx};
    int rc = granola_config_parse(config_json, &g->cfg, errbuf, errbuf_size);
    if (rc != PA_OK) {
        free(g);
        return rc;
    }
    /* Reference-counted and thread-safe in the libcurl versions we build against. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(errbuf, errbuf_size, "granola: libcurl initialisation failed");
        granola_config_free(&g->cfg);
        free(g);
        return PA_ERR_GENERIC;
    }
    http_client_options ho = {.timeout_seconds = g->cfg.timeout_seconds,
                              .max_response_bytes = g->cfg.max_response_bytes,
                              .api = api,
                              .ctx = ctx};
    mcp_options mo = {.url = g->cfg.server_url,
                      .max_response_bytes = g->cfg.max_response_bytes,
                      .api = api,
                      .ctx = ctx};
    rc = http_client_new(&ho, &g->http, errbuf, errbuf_size);
    mo.http = g->http;
    if (rc == PA_OK)
        rc = mcp_client_new(&mo, &g->mcp, errbuf, errbuf_size);
    if (rc != PA_OK) {
        http_client_free(g->http);
        curl_global_cleanup();
        granola_config_free(&g->cfg);
        free(g);
        return rc;
    }
    if (!g->cfg.enabled)
        api->log(ctx, PA_LOG_INFO, "workspace '%s' is disabled; polls will do nothing",
                 g->cfg.workspace_id);
    if (g->cfg.enabled && PA_HOST_HAS(api, run_mode) && api->run_mode(ctx) == PA_RUN_CHECK &&
        (rc = check_credentials(g, errbuf, errbuf_size)) != PA_OK) {
        pa_plugin_shutdown(g);
        return rc;
    }
    *instance_out = g;
    return PA_OK;
}

void pa_plugin_shutdown(void *instance)
{
    granola *g = instance;
    if (!g)
        return;
    mcp_client_free(g->mcp);
    http_client_free(g->http);
    granola_token_free(&g->token);
    curl_global_cleanup();
    granola_config_free(&g->cfg);
    free(g);
}

static void format_day(int64_t ms, char *buf, size_t size)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(buf, size, "%Y-%m-%d", &tm);
}

/*
 * Renews the access token with the refresh token, saves the rotated pair
 * before using it, and hands the new access token to the MCP client. On
 * failure the token file is left as it was.
 */
/*
 * A token file written by the existing agent names no token endpoint (the
 * agent discovers it at each renewal): discover it the same way (RFC 9728,
 * RFC 8414) and keep it in the token, so the saved file has it next time.
 */
static int discover_token_endpoint(granola *g, char *reason, size_t reason_size)
{
    if (g->token.token_endpoint)
        return PA_OK;
    oauth_server server;
    int rc = oauth_discover(g->http, g->cfg.server_url, &server, reason, reason_size);
    if (rc != PA_OK)
        return rc;
    g->token.token_endpoint = server.token_endpoint;
    server.token_endpoint = NULL;
    if (!g->token.resource) {
        g->token.resource = server.resource;
        server.resource = NULL;
    }
    if (!g->token.issuer) {
        g->token.issuer = server.issuer;
        server.issuer = NULL;
    }
    oauth_server_free(&server);
    g->api->log(g->ctx, PA_LOG_INFO, "discovered the token endpoint for renewal: %s",
                g->token.token_endpoint);
    return PA_OK;
}

static int refresh_token(granola *g, const char *why, char *err, size_t err_size)
{
    granola_token fresh;
    char reason[512];
    g->refreshed = true;
    int rc = discover_token_endpoint(g, reason, sizeof reason);
    if (rc != PA_OK) {
        snprintf(err, err_size, "renewing the Granola token (%s) failed: %s", why, reason);
        return rc == PA_ERR_NETWORK ? rc : PA_ERR_AUTH;
    }
    crash_point("renewal:before_request");
    rc = oauth_refresh(g->http, &g->token, g->api->now_ms(g->ctx), &fresh, reason, sizeof reason);
    if (rc != PA_OK) {
        snprintf(err, err_size,
                 "renewing the Granola token (%s) failed: %s; log in again "
                 "(granola_login --instance %s)",
                 why, reason, g->cfg.id);
        return rc == PA_ERR_NETWORK ? rc : PA_ERR_AUTH;
    }
    /* Save first: with rotation the old refresh token is already spent. */
    rc = granola_token_save(g->cfg.token_path, &fresh, reason, sizeof reason);
    if (rc != PA_OK) {
        snprintf(err, err_size, "renewed the Granola token but %s; log in again", reason);
        granola_token_free(&fresh);
        return PA_ERR_AUTH;
    }
    mcp_client_set_token(g->mcp, NULL);
    granola_token_free(&g->token);
    g->token = fresh;
    mcp_client_set_token(g->mcp, g->token.access_token);
    g->api->log(g->ctx, PA_LOG_INFO, "renewed the Granola token (%s)", why);
    return PA_OK;
}

/* A refresh token is all a renewal needs: the endpoint is discovered when missing. */
static bool can_refresh(const granola *g)
{
    return g->token.refresh_token != NULL;
}

/*
 * Honours a 429's Retry-After. A host that can defer polls does (and caps the
 * wait at its backoff cap); an ABI 1.0 host cannot, so the plugin then refuses
 * to send requests before the time itself, capped at one day.
 */
static void defer_after_rate_limit(granola *g)
{
    int64_t retry = mcp_client_retry_after_ms(g->mcp);
    if (PA_HOST_HAS(g->api, defer_next_poll)) {
        if (retry > 0)
            g->api->defer_next_poll(g->ctx, retry);
        return;
    }
    int64_t cap = g->api->now_ms(g->ctx) + DAY_MS;
    g->not_before_ms = retry < cap ? retry : cap;
}

static int call_tool(granola *g, const char *tool, cJSON *args, unsigned parse_flags,
                     gr_meeting_list *out, char *err, size_t err_size)
{
    if (!args) {
        snprintf(err, err_size, "%s: out of memory", tool);
        return PA_ERR_NOMEM;
    }
    char *text = NULL;
    int rc = mcp_call_tool(g->mcp, tool, args, &text, err, err_size);
    if (rc == PA_ERR_AUTH && !g->refreshed && can_refresh(g)) {
        /* Refused although not expired by our clock: renew once and retry once. */
        rc = refresh_token(g, "the server refused it", err, err_size);
        if (rc == PA_OK)
            rc = mcp_call_tool(g->mcp, tool, args, &text, err, err_size);
    }
    cJSON_Delete(args);
    if (rc != PA_OK) {
        defer_after_rate_limit(g);
        return rc;
    }
    rc = gr_parse_meetings(text, strlen(text), parse_flags, out, err, err_size) == 0 ? PA_OK
                                                                                     : PA_ERR_NOMEM;
    cJSON_free(text);
    if (rc == PA_OK && out->skipped_without_id)
        g->api->log(g->ctx, PA_LOG_WARN, "%s: skipped %zu meeting(s) without an id", tool,
                    out->skipped_without_id);
    return rc;
}

static int list_meetings(granola *g, int64_t now, gr_meeting_list *out, char *err, size_t err_size)
{
    char start[16], end[16];
    format_day(now - g->cfg.lookback_days * DAY_MS, start, sizeof start);
    format_day(now + DAY_MS, end, sizeof end); /* the window includes today */
    cJSON *args = cJSON_CreateObject();
    if (args && (!cJSON_AddStringToObject(args, "time_range", "custom") ||
                 !cJSON_AddStringToObject(args, "custom_start", start) ||
                 !cJSON_AddStringToObject(args, "custom_end", end))) {
        cJSON_Delete(args);
        args = NULL;
    }
    return call_tool(g, "list_meetings", args, GR_PARSE_SKIP_PARTICIPANTS, out, err, err_size);
}

/* Meetings inside the lookback window and this instance's workspace. */
static size_t select_candidates(granola *g, int64_t now, const gr_meeting_list *list,
                                const gr_meeting **out, poll_counts *counts)
{
    int64_t oldest = now - g->cfg.lookback_days * DAY_MS;
    size_t n = 0;
    for (size_t i = 0; i < list->count; i++) {
        const gr_meeting *m = &list->items[i];
        int64_t when;
        if (!m->date || !gr_parse_date(m->date, strlen(m->date), &when)) {
            /* Unparseable dates count as very old: outside any window. */
            g->api->log(g->ctx, PA_LOG_WARN,
                        "meeting %s has an unparseable date '%.64s'; "
                        "treated as outside the lookback window",
                        m->id, m->date ? m->date : "(none)");
            counts->undated++;
            continue;
        }
        if (when < oldest)
            continue;
        if (g->cfg.filter_workspace && m->workspace &&
            strcasecmp(m->workspace, g->cfg.workspace_id) != 0) {
            counts->other_workspace++;
            continue;
        }
        out[n++] = m;
    }
    counts->in_window = n;
    return n;
}

static const gr_meeting *find_meeting(const gr_meeting_list *list, const char *id)
{
    for (size_t i = 0; i < list->count; i++) {
        if (strcmp(list->items[i].id, id) == 0)
            return &list->items[i];
    }
    return NULL;
}

/* Fills gaps in the detailed meeting from the listed one. */
static gr_meeting merged(const gr_meeting *detail, const gr_meeting *listed)
{
    gr_meeting m = *detail;
    if (!m.title)
        m.title = listed->title;
    if (!m.date)
        m.date = listed->date;
    return m;
}

static int store_meeting(granola *g, const gr_meeting *m, poll_counts *counts, char *err,
                         size_t err_size)
{
    if (!gr_meeting_content(m)) {
        counts->no_notes++; /* not marked: picked up once Granola has notes */
        return PA_OK;
    }
    meeting_item mi;
    if (meeting_item_build(m, g->cfg.workspace_id, g->cfg.workspace_id, &mi) != PA_OK) {
        snprintf(err, err_size, "out of memory building the item for meeting %s", m->id);
        return PA_ERR_NOMEM;
    }
    int64_t created_ms = 0; /* candidates all have a parseable date */
    if (m->date)
        gr_parse_date(m->date, strlen(m->date), &created_ms);
    processed_note note = {.note_id = m->id,
                           .workspace_id = g->cfg.workspace_id,
                           .account_id = g->cfg.workspace_id,
                           .title = m->title,
                           .created_at_ms = created_ms};
    bool emitted = false;
    int rc = note_store_record_and_emit(&g->store, &note, &mi.item, &emitted, err, err_size);
    meeting_item_free(&mi);
    if (rc == PA_OK) {
        if (emitted)
            counts->emitted++;
        else
            counts->already_done++; /* another process got there first */
    }
    return rc;
}

static int fetch_and_store(granola *g, const gr_meeting *const *batch, size_t n,
                           poll_counts *counts, char *err, size_t err_size)
{
    cJSON *args = cJSON_CreateObject();
    cJSON *ids = cJSON_AddArrayToObject(args, "meeting_ids");
    for (size_t i = 0; ids && i < n; i++) {
        if (!cJSON_AddItemToArray(ids, cJSON_CreateString(batch[i]->id)))
            ids = NULL;
    }
    if (!ids) {
        cJSON_Delete(args);
        args = NULL;
    }
    gr_meeting_list details;
    int rc = call_tool(g, "get_meetings", args, GR_PARSE_ALL, &details, err, err_size);
    if (rc != PA_OK)
        return rc;
    for (size_t i = 0; i < n && rc == PA_OK; i++) {
        const gr_meeting *detail = find_meeting(&details, batch[i]->id);
        if (!detail) {
            counts->missing++;
            g->api->log(g->ctx, PA_LOG_WARN, "get_meetings did not return meeting %s",
                        batch[i]->id);
            continue;
        }
        counts->fetched++;
        gr_meeting m = merged(detail, batch[i]);
        rc = store_meeting(g, &m, counts, err, err_size);
    }
    gr_meeting_list_free(&details);
    return rc;
}

/* The poll's prerequisites: not rate limited, a token (renewed when due), the table. */
static int ready_to_poll(granola *g, int64_t now, char *err, size_t err_size)
{
    if (g->not_before_ms > now) {
        snprintf(err, err_size, "rate limited by Granola: next request allowed in %lld s",
                 (long long)((g->not_before_ms - now + 999) / 1000));
        return PA_ERR_REMOTE;
    }
    granola_token_free(&g->token);
    g->refreshed = false;
    int rc = granola_token_load(g->cfg.token_path, &g->token, err, err_size);
    if (rc != PA_OK)
        return rc;
    if (g->token.recovered)
        g->api->log(g->ctx, PA_LOG_WARN,
                    "the last token renewal was interrupted after the new token was saved "
                    "aside; using it (%s.pending promoted)",
                    g->cfg.token_path);
    if (g->token.expires_at_ms && can_refresh(g) &&
        now + g->cfg.refresh_skew_ms >= g->token.expires_at_ms)
        rc = refresh_token(g, "it expires soon", err, err_size);
    else
        mcp_client_set_token(g->mcp, g->token.access_token);
    if (rc != PA_OK) {
        if (rc == PA_ERR_NOMEM)
            snprintf(err, err_size, "out of memory");
        return rc;
    }
    if (!g->schema_ready) {
        if ((rc = note_store_create_schema(&g->store, err, err_size)) != PA_OK)
            return rc;
        g->schema_ready = true;
    }
    return PA_OK;
}

static int poll_workspace(granola *g, char *err, size_t err_size)
{
    int64_t now = g->api->now_ms(g->ctx);
    int rc = ready_to_poll(g, now, err, err_size);
    if (rc != PA_OK)
        return rc;
    gr_meeting_list listed;
    if ((rc = list_meetings(g, now, &listed, err, err_size)) != PA_OK)
        return rc;
    poll_counts counts = {.listed = listed.count};
    const gr_meeting **candidates = calloc(listed.count ? listed.count : 1, sizeof *candidates);
    const char **ids = calloc(listed.count ? listed.count : 1, sizeof *ids);
    bool *is_new = calloc(listed.count ? listed.count : 1, sizeof *is_new);
    if (!candidates || !ids || !is_new) {
        snprintf(err, err_size, "out of memory");
        rc = PA_ERR_NOMEM;
        goto done;
    }
    size_t n = select_candidates(g, now, &listed, candidates, &counts);
    for (size_t i = 0; i < n; i++)
        ids[i] = candidates[i]->id;
    rc = note_store_find_new(&g->store, g->cfg.workspace_id, ids, n, is_new, err, err_size);
    if (rc != PA_OK)
        goto done;
    size_t fresh = 0;
    for (size_t i = 0; i < n; i++) {
        if (is_new[i])
            candidates[fresh++] = candidates[i];
    }
    counts.new_ids = fresh;
    for (size_t off = 0; off < fresh && rc == PA_OK; off += GET_MEETINGS_BATCH) {
        size_t batch = fresh - off < GET_MEETINGS_BATCH ? fresh - off : GET_MEETINGS_BATCH;
        rc = fetch_and_store(g, candidates + off, batch, &counts, err, err_size);
    }
    g->api->log(g->ctx, rc == PA_OK ? PA_LOG_INFO : PA_LOG_WARN,
                "listed %zu, in window %zu, new %zu, fetched %zu, emitted %zu, without notes "
                "yet %zu, done elsewhere %zu, unparseable dates %zu, other workspaces %zu",
                counts.listed, counts.in_window, counts.new_ids, counts.fetched, counts.emitted,
                counts.no_notes, counts.already_done, counts.undated, counts.other_workspace);
done:
    free(candidates);
    free(ids);
    free(is_new);
    gr_meeting_list_free(&listed);
    return rc;
}

int pa_plugin_poll(void *instance, char *errbuf, size_t errbuf_size)
{
    granola *g = instance;
    if (!g->cfg.enabled)
        return PA_OK;
    errbuf[0] = '\0';
    int rc = poll_workspace(g, errbuf, errbuf_size);
    mcp_client_set_token(g->mcp, NULL);
    granola_token_free(&g->token); /* no secret stays in memory between polls */
    return rc;
}
