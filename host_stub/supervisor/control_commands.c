#include "control_commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "clock.h"
#include "control.h"
#include "host.h"
#include "log.h"

/* One instance a poll request waits for: by name (a reload may replace its slot). */
typedef struct poll_target {
    char *plugin, *id;
    uint64_t until; /* done once the slot's polls_ended reaches it */
} poll_target;

/* A request answered later: a poll's, or a reload's (targets NULL). */
typedef struct pending {
    unsigned client;
    bool reload;
    size_t n;
    poll_target *targets;
} pending;

struct commands {
    pending items[CONTROL_CLIENTS];
    size_t count;
};

/* Answers client with cJSON object o, which is freed. */
static void answer_json(host *h, unsigned client, cJSON *o)
{
    char *text = o ? cJSON_PrintUnformatted(o) : NULL;
    control_answer(h->control, client,
                   text ? text : "{\"ok\":false,\"error\":\"out of memory in the host\"}");
    free(text);
    cJSON_Delete(o);
}

static void answer_error(host *h, unsigned client, const char *error)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "ok", 0);
    cJSON_AddStringToObject(o, "error", error);
    answer_json(h, client, o);
}

/* A time on the host's clock as ISO 8601, or null for never. */
static void add_time(cJSON *o, const char *key, int64_t ms)
{
    char text[40];
    if (ms <= 0) {
        cJSON_AddNullToObject(o, key);
        return;
    }
    clock_format_iso8601(ms, text, sizeof text);
    cJSON_AddStringToObject(o, key, text);
}

static const char *slot_state(const instance_slot *s)
{
    if (!s->running)
        return s->version ? "not started" : "no plugin";
    if (s->busy)
        return "polling";
    return s->sched.failures > 0 ? "backing off" : "idle";
}

/* The worker's "peak_in_use=N" from its pool figures, or 0. */
static double lease_peak(const instance_slot *s)
{
    const char *at = strstr(s->pool_stats, "peak_in_use=");
    return at ? strtod(at + strlen("peak_in_use="), NULL) : 0;
}

static cJSON *instance_json(const instance_slot *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "plugin", s->plugin->name);
    cJSON_AddStringToObject(o, "instance", s->config->id);
    cJSON_AddStringToObject(o, "state", slot_state(s));
    cJSON_AddStringToObject(o, "version", s->version ? s->version->description.version : "");
    cJSON_AddNumberToObject(o, "worker_pid", s->worker && s->worker->pid > 0 ? s->worker->pid : 0);
    add_time(o, "last_poll", s->last_poll_ms);
    cJSON_AddBoolToObject(o, "last_poll_ok", s->last_poll_ms && s->last_poll_rc == PA_OK);
    add_time(o, "last_success", s->last_success_ms);
    add_time(o, "last_failure", s->last_failure_ms);
    add_time(o, "next_poll", s->running && !s->busy ? s->sched.next_due_ms : 0);
    cJSON_AddNumberToObject(o, "failures_in_a_row", s->sched.failures);
    cJSON_AddStringToObject(o, "last_error", s->last_error);
    cJSON_AddNumberToObject(o, "polls", (double)s->polls);
    cJSON_AddNumberToObject(o, "failures", (double)s->poll_failures);
    cJSON_AddNumberToObject(o, "items", (double)s->items_emitted);
    cJSON_AddNumberToObject(o, "http_requests", (double)s->http_requests);
    cJSON_AddNumberToObject(o, "leases_held", slot_leases_held(s));
    cJSON_AddNumberToObject(o, "lease_peak", lease_peak(s));
    cJSON_AddNumberToObject(o, "longest_lease_ms", (double)s->longest_hold_ns / 1e6);
    cJSON_AddNumberToObject(o, "dead_lettered", (double)s->dead_lettered);
    return o;
}

static cJSON *host_json(const host *h)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "pid", getpid());
    cJSON_AddStringToObject(o, "version", PA_VERSION);
    add_time(o, "started", h->started_ms);
    cJSON_AddStringToObject(o, "database", db_kind_name(h->db.kind));
    cJSON_AddStringToObject(o, "database_shown",
                            h->db.kind == DB_SQLITE ? h->db.path : h->db.shown);
    cJSON_AddBoolToObject(o, "stopping", h->stop);
    cJSON_AddNumberToObject(o, "reloads", (double)h->reg.reloads);
    cJSON_AddNumberToObject(o, "failed_reloads", (double)h->reg.failed_reloads);
    cJSON_AddNumberToObject(o, "outbox_rejected", (double)h->outbox_rejected);
    cJSON_AddNumberToObject(o, "task_lines_dropped", (double)task_output_dropped(h->output));
    return o;
}

static void answer_status(host *h, unsigned client)
{
    cJSON *o = cJSON_CreateObject(), *list = cJSON_CreateArray();
    cJSON_AddBoolToObject(o, "ok", 1);
    cJSON_AddItemToObject(o, "host", host_json(h));
    for (size_t i = 0; i < h->reg.slot_count; i++)
        cJSON_AddItemToArray(list, instance_json(h->reg.slots[i]));
    cJSON_AddItemToObject(o, "instances", list);
    answer_json(h, client, o);
}

static void pending_free(pending *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->targets[i].plugin);
        free(p->targets[i].id);
    }
    free(p->targets);
    *p = (pending){0};
}

/* Room for one more pending request; NULL when out of memory. */
static pending *pending_add(host *h, unsigned client)
{
    if (!h->commands && !(h->commands = calloc(1, sizeof *h->commands)))
        return NULL;
    if (h->commands->count == CONTROL_CLIENTS)
        return NULL; /* cannot happen: one per client */
    pending *p = &h->commands->items[h->commands->count++];
    *p = (pending){.client = client};
    return p;
}

/* Drops pending request i (answered, or its client gone). */
static void remove_pending(host *h, size_t i)
{
    pending_free(&h->commands->items[i]);
    h->commands->items[i] = h->commands->items[--h->commands->count];
}

/* Whether running slot s matches "PLUGIN" or "PLUGIN/ID". */
static bool matches(const instance_slot *s, const char *target)
{
    size_t plen = strlen(s->plugin->name);
    return strncmp(target, s->plugin->name, plen) == 0 &&
           (target[plen] == '\0' ||
            (target[plen] == '/' && strcmp(target + plen + 1, s->config->id) == 0));
}

static void start_polls(host *h, unsigned client, const char *target)
{
    size_t n = 0;
    for (size_t i = 0; i < h->reg.slot_count; i++)
        n += h->reg.slots[i]->running && matches(h->reg.slots[i], target);
    if (n == 0) {
        char why[1300];
        snprintf(why, sizeof why, "no running instance is named '%.1024s' (see status)", target);
        answer_error(h, client, why);
        return;
    }
    pending *p = pending_add(h, client);
    if (!p || !(p->targets = calloc(n, sizeof *p->targets))) {
        answer_error(h, client, "out of memory in the host");
        if (p)
            remove_pending(h, h->commands->count - 1);
        return;
    }
    for (size_t i = 0; i < h->reg.slot_count; i++) {
        instance_slot *s = h->reg.slots[i];
        if (!s->running || !matches(s, target))
            continue;
        poll_target *t = &p->targets[p->n++];
        t->plugin = strdup(s->plugin->name);
        t->id = strdup(s->config->id);
        t->until = s->polls_sent + 1; /* the next one sent, not one already under way */
        if (!t->plugin || !t->id) {
            answer_error(h, client, "out of memory in the host");
            remove_pending(h, h->commands->count - 1);
            return;
        }
        slot_poll_now(s);
        log_msg(PA_LOG_INFO, s->log_source, "poll requested on the control socket");
    }
}

static void take(host *h, unsigned client, const char *line)
{
    if (strcmp(line, "status") == 0) {
        answer_status(h, client);
    } else if (strncmp(line, "poll ", 5) == 0 && line[5]) {
        start_polls(h, client, line + 5);
    } else if (strcmp(line, "reload") == 0) {
        pending *p = pending_add(h, client);
        if (!p) {
            answer_error(h, client, "out of memory in the host");
            return;
        }
        p->reload = true;
        log_msg(PA_LOG_INFO, "host", "reload requested on the control socket");
        h->reload_config = true;
    } else {
        answer_error(h, client,
                     "unknown request; expected status, poll PLUGIN[/INSTANCE] or reload");
    }
}

void commands_serve(host *h)
{
    unsigned client;
    const char *line;
    while (control_take_request(h->control, &client, &line))
        take(h, client, line);
}

/* One finished poll in the answer; false when it failed. */
static bool add_poll_result(cJSON *list, const poll_target *t, const instance_slot *s)
{
    cJSON *o = cJSON_CreateObject();
    char name[600];
    snprintf(name, sizeof name, "%s/%s", t->plugin, t->id);
    bool ok = s && s->last_poll_rc == PA_OK && s->polls_ended >= t->until;
    cJSON_AddStringToObject(o, "instance", name);
    cJSON_AddBoolToObject(o, "ok", ok);
    cJSON_AddNumberToObject(o, "items", s && ok ? (double)s->last_poll_items : 0);
    cJSON_AddNumberToObject(o, "duration_ms", s ? s->last_poll_duration_ms : 0);
    cJSON_AddStringToObject(o, "error",
                            ok            ? ""
                            : !s          ? "the instance was removed"
                            : !s->running ? "the instance stopped"
                                          : s->last_error);
    cJSON_AddItemToArray(list, o);
    return ok;
}

/* Whether t's poll has ended: done, or its instance is gone or stopped. */
static bool target_done(const host *h, const poll_target *t)
{
    const instance_slot *s = registry_slot(&h->reg, t->plugin, t->id);
    return !s || !s->running || s->polls_ended >= t->until;
}

static void answer_polls(host *h, const pending *p)
{
    cJSON *o = cJSON_CreateObject(), *list = cJSON_CreateArray();
    bool all = true;
    for (size_t i = 0; i < p->n; i++)
        all = add_poll_result(list, &p->targets[i],
                              registry_slot(&h->reg, p->targets[i].plugin, p->targets[i].id)) &&
              all;
    cJSON_AddBoolToObject(o, "ok", all);
    cJSON_AddItemToObject(o, "polls", list);
    answer_json(h, p->client, o);
}

void commands_progress(host *h)
{
    for (size_t i = 0; h->commands && i < h->commands->count;) {
        pending *p = &h->commands->items[i];
        bool done = !p->reload && control_waiting(h->control, p->client);
        for (size_t j = 0; done && j < p->n; j++)
            done = target_done(h, &p->targets[j]);
        if (done)
            answer_polls(h, p);
        if (done || !control_waiting(h->control, p->client))
            remove_pending(h, i);
        else
            i++;
    }
}

void commands_reload_done(host *h, bool ok, const char *outcome)
{
    for (size_t i = 0; h->commands && i < h->commands->count;) {
        pending *p = &h->commands->items[i];
        if (!p->reload) {
            i++;
            continue;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddBoolToObject(o, "ok", ok);
        cJSON_AddStringToObject(o, ok ? "outcome" : "error", outcome);
        answer_json(h, p->client, o);
        remove_pending(h, i);
    }
}

void commands_finish(host *h)
{
    for (size_t i = 0; h->commands && i < h->commands->count; i++) {
        answer_error(h, h->commands->items[i].client, "the host is stopping");
        pending_free(&h->commands->items[i]);
    }
    free(h->commands);
    h->commands = NULL;
}
