/*
 * host_stub --agent-config: the agent's config.yaml read as the agent reads
 * it (its own example file first, tests/agent_pinned/), merged with host.json;
 * and the YAML reader under it, total on hostile input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_config.h"
#include "pa_plugin.h"
#include "yaml_json.h"

typedef struct files {
    char dir[64];
    char yaml[128];
    char json[128];
} files;

static int setup(void **state)
{
    files *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/pa-agent-config.XXXXXX");
    if (!f || !mkdtemp(f->dir))
        return -1;
    snprintf(f->yaml, sizeof f->yaml, "%s/config.yaml", f->dir);
    snprintf(f->json, sizeof f->json, "%s/host.json", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    files *f = *state;
    unlink(f->yaml);
    unlink(f->json);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void write_file(const char *path, const char *text)
{
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    fputs(text, out);
    assert_int_equal(fclose(out), 0);
}

/* Loads yaml (and host.json when json is not NULL) into *cfg; asserts it loads. */
static void loads(files *f, const char *yaml, const char *json, host_config *cfg)
{
    write_file(f->yaml, yaml);
    if (json)
        write_file(f->json, json);
    char err[1200] = "";
    if (config_load_sources(json ? f->json : NULL, f->yaml, cfg, NULL, err, sizeof err) != PA_OK)
        fail_msg("%s", err);
}

static void refuses(files *f, const char *yaml, const char *json, const char *message)
{
    write_file(f->yaml, yaml);
    if (json)
        write_file(f->json, json);
    host_config cfg;
    char err[1200] = "";
    assert_int_equal(
        config_load_sources(json ? f->json : NULL, f->yaml, &cfg, NULL, err, sizeof err),
        PA_ERR_CONFIG);
    if (!strstr(err, message))
        fail_msg("expected \"%s\" in \"%s\"", message, err);
    assert_int_equal(cfg.plugin_count, 0);
    assert_null(cfg.agent_dir);
}

/* The instance object the granola plugin gets, parsed back. */
static cJSON *instance_json(const host_config *cfg, size_t i)
{
    assert_int_equal(cfg->plugin_count, 1);
    assert_string_equal(cfg->plugins[0].name, "granola");
    assert_true(i < cfg->plugins[0].instance_count);
    cJSON *o = cJSON_Parse(cfg->plugins[0].instances[i].json);
    assert_non_null(o);
    return o;
}

static const char *string_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The agent's own config.example.yaml, as fetched (tests/agent_pinned/PINNED). */
static void test_the_agents_example_file_is_read_as_it_is(void **state)
{
    (void)state;
    const char *path = PA_SOURCE_DIR "/tests/agent_pinned/config.example.yaml";
    host_config cfg;
    char err[1200] = "";
    if (config_load_sources(NULL, path, &cfg, NULL, err, sizeof err) != PA_OK)
        fail_msg("%s", err);
    cJSON *o = instance_json(&cfg, 0);
    assert_int_equal(cfg.plugins[0].instance_count, 1);
    assert_string_equal(cfg.plugins[0].instances[0].id, "all");
    assert_true(cfg.plugins[0].instances[0].enabled);
    /* polling_interval_minutes: 15 is the instance's own interval, a host key. */
    assert_int_equal(cfg.plugins[0].instances[0].poll_interval_seconds, 900);
    assert_null(cJSON_GetObjectItemCaseSensitive(o, "poll_interval_seconds"));
    assert_string_equal(string_of(o, "workspace_id"), "all");
    assert_string_equal(string_of(o, "display_name"), "All Workspaces");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(o, "lookback_days")->valueint, 7);
    assert_null(cJSON_GetObjectItemCaseSensitive(o, "token_path")); /* the agent's default */
    cJSON_Delete(o);
    assert_string_equal(cfg.agent_database_url, "sqlite:///personal_assistant.db");
    char dir[PATH_MAX];
    assert_non_null(realpath(PA_SOURCE_DIR "/tests/agent_pinned", dir));
    assert_string_equal(cfg.agent_dir, dir);
    config_free(&cfg);
}

static void test_workspace_keys_and_defaults_are_the_agents(void **state)
{
    files *f = *state;
    host_config cfg;
    loads(f,
          "llm: {model: gpt-4}\n"
          "granola:\n"
          "  enabled: yes\n"
          "  workspaces:\n"
          "    - workspace_id: Work\n"
          "      polling_interval_minutes: \"10\"\n"
          "      token_path: ~/tokens/work.json\n"
          "      some_future_key: 1\n"
          "    - {workspace_id: home-2, enabled: false, lookback_days: 90}\n",
          NULL, &cfg);
    assert_int_equal(cfg.plugins[0].instance_count, 2);
    cJSON *work = instance_json(&cfg, 0), *home = instance_json(&cfg, 1);
    /* Lowercased as the agent's validator returns it: the account id matches the agent's. */
    assert_string_equal(cfg.plugins[0].instances[0].id, "work");
    assert_string_equal(string_of(work, "workspace_id"), "work");
    assert_int_equal(cfg.plugins[0].instances[0].poll_interval_seconds, 600);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(work, "lookback_days")->valueint, 7);
    assert_string_equal(string_of(work, "token_path"), "~/tokens/work.json");
    assert_null(cJSON_GetObjectItemCaseSensitive(work, "some_future_key")); /* ignored */
    assert_null(cJSON_GetObjectItemCaseSensitive(work, "display_name"));    /* "" by default */
    assert_false(cfg.plugins[0].instances[1].enabled);
    assert_int_equal(cfg.plugins[0].instances[1].poll_interval_seconds, 900);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(home, "lookback_days")->valueint, 90);
    cJSON_Delete(work);
    cJSON_Delete(home);
    assert_null(cfg.agent_database_url);
    config_free(&cfg);
}

static void test_what_the_agent_refuses_is_refused(void **state)
{
    files *f = *state;
    refuses(f, "granola: {enabled: true, workspaces: [{workspace_id: Work}, {workspace_id: work}]}",
            NULL, "granola.workspaces[1]: workspace_id 'work' twice; the agent requires unique");
    refuses(f, "granola: {enabled: true, workspaces: [{workspace_id: 'a b'}]}", NULL,
            "granola.workspaces[0].workspace_id: expected \"all\" or letters");
    refuses(f, "granola: {enabled: true, workspaces: [{display_name: x}]}", NULL,
            "granola.workspaces[0].workspace_id: missing");
    refuses(f, "granola: {enabled: true, workspaces: [{workspace_id: w, lookback_days: 91}]}", NULL,
            "granola.workspaces[0].lookback_days: expected a whole number from 1 to 90");
    refuses(f,
            "granola: {enabled: true, workspaces: [{workspace_id: w, "
            "polling_interval_minutes: 0}]}",
            NULL, "polling_interval_minutes: expected a whole number from 1 to 1440");
    refuses(f, "granola: {enabled: maybe}", NULL, "granola.enabled: expected true or false");
    refuses(f, "granola: {workspaces: {workspace_id: w}}", NULL,
            "granola.workspaces: expected a list");
    refuses(f, "database: {url: 5}", NULL, "database.url: expected a string");
    refuses(f, "- just\n- a list\n", NULL, "(top level): expected a mapping");
    /* Checked even when the integration is off, as the agent checks it. */
    refuses(f, "granola: {enabled: false, workspaces: [{workspace_id: w}, {workspace_id: W}]}",
            NULL, "twice");
}

static void test_granola_off_gives_no_instances(void **state)
{
    files *f = *state;
    host_config cfg;
    loads(f, "granola: {enabled: false, workspaces: [{workspace_id: w}]}\n", NULL, &cfg);
    assert_int_equal(cfg.plugin_count, 0);
    config_free(&cfg);
    loads(f, "", NULL, &cfg); /* an empty file: the agent's defaults */
    assert_int_equal(cfg.plugin_count, 0);
    assert_non_null(cfg.agent_dir);
    config_free(&cfg);
}

/* host.json adds the host's settings and, by id, keys of the agent's instances. */
static void test_host_json_merges_over_it(void **state)
{
    files *f = *state;
    host_config cfg;
    loads(f, "granola: {enabled: true, workspaces: [{workspace_id: work}]}\n",
          "{\"pool\": {\"size\": 2}, \"poll_timeout_seconds\": 60,"
          " \"plugins\": {\"granola\": {\"instances\": [{\"id\": \"work\","
          " \"server_url\": \"http://127.0.0.1:9/mcp\", \"lookback_days\": 3,"
          " \"poll_timeout_seconds\": 20}]}}}",
          &cfg);
    assert_int_equal(cfg.pool_size, 2);
    assert_int_equal(cfg.poll_timeout_seconds, 60);
    cJSON *o = instance_json(&cfg, 0);
    assert_string_equal(string_of(o, "server_url"), "http://127.0.0.1:9/mcp");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(o, "lookback_days")->valueint, 3);
    assert_int_equal(cfg.plugins[0].instances[0].poll_timeout_seconds, 20);
    cJSON_Delete(o);
    config_free(&cfg);
    refuses(f, "granola: {enabled: true, workspaces: [{workspace_id: work}]}\n",
            "{\"plugins\": {\"granola\": {\"instances\": [{\"id\": \"home\"}]}}}",
            "plugins.granola.instances[0]: no workspace 'home' in the agent's granola.workspaces");
    refuses(f, "granola: {enabled: true}\n", "{\"plugins\": 3}", "plugins: expected an object");
    refuses(f, "granola: {}\n", "[]", "(top level): expected a JSON object");
}

static void yaml_refuses(const char *text, const char *message)
{
    char err[256] = "";
    cJSON *v = yaml_json_parse(text, strlen(text), err, sizeof err);
    if (v || !strstr(err, message))
        fail_msg("expected \"%s\", got \"%s\"", message, v ? "a value" : err);
}

/* Scalars as PyYAML's safe_load resolves them. */
static void test_yaml_scalars_resolve_as_pyyaml(void **state)
{
    (void)state;
    const char *text = "a: yes\nb: Off\nc: ~\nd:\ne: 0x1F\nf: 1_000\ng: -2.5e1\nh: '12'\n"
                       "i: 007\nj: .inf\nk: 1.2.3\nl: \"true\"\nm: k\nm: last\n";
    char err[256] = "";
    cJSON *v = yaml_json_parse(text, strlen(text), err, sizeof err);
    if (!v)
        fail_msg("%s", err);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(v, "a")));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(v, "b")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(v, "c")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(v, "d")));
    assert_int_equal(cJSON_GetObjectItem(v, "e")->valueint, 31);
    assert_int_equal(cJSON_GetObjectItem(v, "f")->valueint, 1000);
    assert_true(cJSON_GetObjectItem(v, "g")->valuedouble == -25.0);
    assert_string_equal(cJSON_GetObjectItem(v, "h")->valuestring, "12");
    assert_string_equal(cJSON_GetObjectItem(v, "i")->valuestring, "007");
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(v, "j")));
    assert_string_equal(cJSON_GetObjectItem(v, "k")->valuestring, "1.2.3");
    assert_string_equal(cJSON_GetObjectItem(v, "l")->valuestring, "true");
    assert_string_equal(cJSON_GetObjectItem(v, "m")->valuestring, "last");
    assert_int_equal(cJSON_GetArraySize(v), 13);
    cJSON_Delete(v);
}

static void test_yaml_is_total_on_hostile_input(void **state)
{
    (void)state;
    yaml_refuses("a: [1, 2\n", "line ");
    yaml_refuses("a: 1\n---\nb: 2\n", "line 3: a second document");
    yaml_refuses("? [a]\n: 1\n", "a key that is not a scalar");
    yaml_refuses("a: \"x\\0y\"\n", "a NUL character");
    /* Aliases expand into nodes: "billion laughs" stops at the node bound. */
    char bomb[2048];
    int n = snprintf(bomb, sizeof bomb, "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for (int i = 1; i < 9; i++)
        n += snprintf(bomb + n, sizeof bomb - (size_t)n,
                      "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i,
                      i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
    yaml_refuses(bomb, "too many nodes");
    char deep[512] = "";
    for (int i = 0; i < 100; i++)
        strcat(deep, "[");
    yaml_refuses(deep, "line ");
    /* Invalid UTF-8 is libyaml's to refuse. */
    yaml_refuses("a: \xff\xfe\n", "line ");
    char err[64];
    cJSON *v = yaml_json_parse("~", 1, err, sizeof err);
    assert_true(cJSON_IsObject(v) && cJSON_GetArraySize(v) == 0);
    cJSON_Delete(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_agents_example_file_is_read_as_it_is),
        cmocka_unit_test_setup_teardown(test_workspace_keys_and_defaults_are_the_agents, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_what_the_agent_refuses_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_granola_off_gives_no_instances, setup, teardown),
        cmocka_unit_test_setup_teardown(test_host_json_merges_over_it, setup, teardown),
        cmocka_unit_test(test_yaml_scalars_resolve_as_pyyaml),
        cmocka_unit_test(test_yaml_is_total_on_hostile_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
