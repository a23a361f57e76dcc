#include "granola_env.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int granola_setup(void **state)
{
    granola_ctx *c = calloc(1, sizeof *c);
    env_create(&c->env);
    env_install_plugin(&c->env, PA_GRANOLA_SO);
    snprintf(c->fixture, sizeof c->fixture, "%s/fixture.json", c->env.dir);
    snprintf(c->token_path, sizeof c->token_path, "%s/token.granola.json", c->env.dir);
    FILE *f = fopen(c->token_path, "w");
    assert_non_null(f);
    fprintf(f,
            "{\"access_token\": \"%s\", \"refresh_token\": \"r\", \"expires_at\": "
            "\"2030-01-01T00:00:00Z\", \"client_id\": \"c\"}",
            TOKEN);
    fclose(f);
    assert_int_equal(chmod(c->token_path, 0600), 0);
    *state = c;
    return 0;
}

int granola_teardown(void **state)
{
    granola_ctx *c = *state;
    fake_stop(&c->server);
    env_destroy(&c->env);
    free(c);
    return 0;
}

void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

cJSON *participant(const char *name, const char *email, const char *company, bool creator,
                   bool entity_email)
{
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "name", name);
    if (email)
        cJSON_AddStringToObject(p, "email", email);
    if (company)
        cJSON_AddStringToObject(p, "company", company);
    if (creator)
        cJSON_AddTrueToObject(p, "creator");
    if (entity_email)
        cJSON_AddStringToObject(p, "email_form", "entity");
    return p;
}

cJSON *meeting(cJSON *list, const char *id, const char *title, const char *date,
               const char *workspace, const char *summary)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", id);
    if (title)
        cJSON_AddStringToObject(m, "title", title);
    cJSON_AddStringToObject(m, "date", date);
    if (workspace)
        cJSON_AddStringToObject(m, "workspace_id", workspace);
    if (summary)
        cJSON_AddStringToObject(m, "summary", summary);
    cJSON_AddItemToArray(list, m);
    return m;
}

static char *long_summary(void)
{
    /* 9000 two-byte characters: the description must stop at 8000 characters. */
    char *s = malloc(9000 * 2 + 1);
    for (int i = 0; i < 9000; i++)
        memcpy(s + 2 * i, "\xC3\xA9", 2);
    s[9000 * 2] = '\0';
    return s;
}

/* The standard fixture: every quirk and every reason to skip a meeting. */
void write_standard_fixture(granola_ctx *c)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(root, "meetings");
    cJSON *m1 = meeting(list, "m-1", "Q1 & \"planning\" <draft>", "2026-02-11T15:00:00Z", "work",
                        "## Decisions\n- ship if p < 0.05 & latency > 3 ms\n- owner: \"Ann\"");
    cJSON *people = cJSON_AddArrayToObject(m1, "participants");
    cJSON_AddItemToArray(people, participant("Ann Lee", "ann@acme.com", "Acme", true, false));
    cJSON_AddItemToArray(people, participant("Bob Stone", "bob@beta.io", "Beta", false, true));
    cJSON_AddItemToArray(people, participant("Carol", NULL, NULL, false, false));
    cJSON_AddItemToArray(people, participant("Dan", "dan@x.io", NULL, false, false));
    cJSON_AddItemToArray(people, participant("Eve", "eve@x.io", NULL, false, true));
    cJSON_AddItemToArray(people, participant("Frank", "frank@x.io", NULL, false, false));
    meeting(list, "m-2", "Standup", "Feb 10, 2026 9:00 AM PST", "work", "Short standup.");
    meeting(list, "m-3", "Pending notes", "2026-02-11T10:00:00Z", "work", "");
    meeting(list, "m-4", "Placeholder", "2026-02-11T11:00:00Z", "work", "  No Summary \n");
    meeting(list, "m-5", "Old", "2026-01-02T10:00:00Z", "work", "old news");
    meeting(list, "m-6", "Home stuff", "2026-02-11T10:00:00Z", "home", "home notes");
    meeting(list, "m-7", "Someday", "someday", "work", "undated");
    cJSON *m8 = meeting(list, "m-8", NULL, "2026-02-09T08:00:00Z", NULL, NULL);
    cJSON_AddStringToObject(m8, "notes", "legacy notes");
    char *text = long_summary();
    meeting(list, "m-9", "Long", "2026-02-08T08:00:00Z", "work", text);
    free(text);
    char *json = cJSON_Print(root);
    write_text(c->fixture, json);
    free(json);
    cJSON_Delete(root);
}

/* n meetings in the window, all with notes. */
void write_bulk_fixture(granola_ctx *c, int n)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(root, "meetings");
    for (int i = 0; i < n; i++) {
        char id[32], title[64];
        snprintf(id, sizeof id, "bulk-%04d", i);
        snprintf(title, sizeof title, "Meeting %d", i);
        cJSON *m = meeting(list, id, title, "2026-02-11T09:30:00Z", "work",
                           "Discussed the roadmap.\n- follow up with <legal> & finance");
        cJSON *people = cJSON_AddArrayToObject(m, "participants");
        cJSON_AddItemToArray(people, participant("Ann", "ann@acme.com", "Acme", true, i % 2));
    }
    char *json = cJSON_PrintUnformatted(root);
    write_text(c->fixture, json);
    free(json);
    cJSON_Delete(root);
}

/* host.json with one granola instance; extra is spliced into the instance object. */
void write_config(granola_ctx *c, const char *extra)
{
    char config[2048];
    snprintf(config, sizeof config,
             "{\"poll_interval_seconds\": 60, \"plugins\": {\"granola\": {\"instances\": [{"
             "\"id\": \"work\", \"workspace_id\": \"work\", "
             "\"token_path\": \"%s\", \"server_url\": \"%s\"%s%s}]}}}",
             c->token_path, c->server.url, extra ? ", " : "", extra ? extra : "");
    env_write_config(&c->env, config);
}

void run_polls(granola_ctx *c, int polls, host_result *r)
{
    char n[16];
    snprintf(n, sizeof n, "%d", polls);
    const char *args[] = {"--polls", n, "--fake-clock", NOW, "--verbose", NULL};
    host_run(&c->env, r, args);
    if (r->exit_code != expected_exit(r))
        fail_msg("host_stub exited %d:\n%s", r->exit_code, r->err);
    /* The token must never reach any output, even at debug level. */
    if (strstr(r->out, TOKEN) || strstr(r->err, TOKEN))
        fail_msg("the bearer token appeared in host output");
}

cJSON *task_with_reference(const char *out, const char *ref)
{
    for (const char *line = out; line && *line;) {
        const char *end = strchr(line, '\n');
        char *copy = strndup(line, end ? (size_t)(end - line) : strlen(line));
        cJSON *o = cJSON_Parse(copy);
        free(copy);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "source_reference");
        if (cJSON_IsString(v) && strcmp(v->valuestring, ref) == 0)
            return o;
        cJSON_Delete(o);
        line = end ? end + 1 : NULL;
    }
    fail_msg("no task for %s in\n%s", ref, out);
    return NULL;
}

/* Exactly once (docs/GRANOLA_PLUGIN.md, "A poll"): a processed row never exists without its outbox
 * row, nor the reverse. */
void assert_store_consistent(granola_ctx *c)
{
    assert_int_equal(db_scalar(&c->env,
                               "SELECT count(*) FROM processed_granola_notes p WHERE NOT EXISTS"
                               " (SELECT 1 FROM pa_outbox o WHERE o.plugin = 'granola' AND"
                               " json_extract(o.item_json, '$.source_reference') = p.note_id AND"
                               " json_extract(o.item_json, '$.account_id') = p.account_id)"),
                     0);
    assert_int_equal(db_scalar(&c->env, "SELECT count(*) FROM pa_outbox WHERE plugin = 'granola'"),
                     db_scalar(&c->env, "SELECT count(*) FROM processed_granola_notes"));
}

void check_standard_run(granola_ctx *c)
{
    host_result r;
    run_polls(c, 1, &r);
    assert_int_equal(count_lines(r.out), 4);
    cJSON *t = task_with_reference(r.out, "m-1");
    assert_string_equal(json_str(t, "title"), "Review meeting: Q1 & \"planning\" <draft>");
    cJSON_Delete(t);
    host_result_free(&r);
}

void run_fault_case(granola_ctx *c, const fault_case *fc)
{
    char control[512];
    snprintf(control, sizeof control, "{\"fault\": %s}", fc->fault);
    fake_control(&c->server, control);
    write_config(c, fc->config_extra);
    host_result r;
    run_polls(c, 1, &r);
    if (count_lines_with(r.err, fc->message) != 1)
        fail_msg("fault %s: expected one line with\n  %s\nin\n%s", fc->fault, fc->message, r.err);
    assert_int_equal(count_lines_with(r.err, "poll failed (1 in a row)"), 1);
    host_result_free(&r);
    assert_store_consistent(c);

    fake_control(&c->server, "{\"fault\": null}");
    run_polls(c, 1, &r);
    assert_int_equal(count_lines_with(r.err, "poll failed"), 0);
    host_result_free(&r);
    assert_int_equal(db_scalar(&c->env, "SELECT count(*) FROM pa_tasks"), 4);
    assert_store_consistent(c);
}