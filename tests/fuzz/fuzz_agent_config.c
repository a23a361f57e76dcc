/*
 * Fuzz target: the agent's config.yaml (host_stub --agent-config): libyaml's
 * parse into a tree (yaml_json), then the agent's rules merged into a host
 * configuration (agent_config_merge, config_from_json). Total: any bytes give
 * a configuration or one error line, nothing leaks; an alias bomb or deep
 * nesting stops at the reader's bounds; what is accepted keeps the agent's
 * rules: granola instance ids are lowercase, unique, and their own
 * workspace_id, with the interval in the agent's range.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent_config.h"
#include "config.h"
#include "fuzz.h"
#include "pa_plugin.h"
#include "yaml_json.h"

static void check_instances(const host_config *cfg)
{
    const plugin_config *g = config_find_plugin(cfg, "granola");
    for (size_t i = 0; g && i < g->instance_count; i++) {
        const instance_config *ic = &g->instances[i];
        for (const char *c = ic->id; *c; c++)
            FUZZ_CHECK(!isupper((unsigned char)*c));
        for (size_t j = 0; j < i; j++)
            FUZZ_CHECK(strcmp(g->instances[j].id, ic->id) != 0);
        FUZZ_CHECK(ic->poll_interval_seconds >= 60 && ic->poll_interval_seconds <= 1440 * 60);
        cJSON *o = cJSON_Parse(ic->json);
        FUZZ_CHECK(o != NULL);
        const cJSON *ws = cJSON_GetObjectItemCaseSensitive(o, "workspace_id");
        FUZZ_CHECK(cJSON_IsString(ws) && strcmp(ws->valuestring, ic->id) == 0);
        cJSON_Delete(o);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[1024] = "";
    cJSON *agent = yaml_json_parse((const char *)data, size, err, sizeof err);
    if (!agent) {
        FUZZ_CHECK(err[0] != '\0');
        return 0;
    }
    cJSON *root = cJSON_CreateObject();
    char *url = NULL;
    host_config cfg;
    if (root &&
        agent_config_merge(agent, "config.yaml", root, "host.json", &url, err, sizeof err) ==
            PA_OK &&
        config_from_json(root, "host.json", &cfg, err, sizeof err) == PA_OK) {
        check_instances(&cfg);
        config_free(&cfg);
    } else if (root) {
        FUZZ_CHECK(strncmp(err, "config.yaml: ", 13) == 0 || strncmp(err, "host.json: ", 11) == 0);
    }
    free(url);
    cJSON_Delete(root);
    cJSON_Delete(agent);
    return 0;
}
