/*
 * Fuzz target: host.json (config_parse) and a Granola instance object
 * (granola_config_parse), the two configuration parsers. Both are total: any
 * bytes give a configuration or an error naming the problem, and nothing
 * leaks either way.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"
#include "granola_config.h"
#include "pa_plugin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    host_config cfg;
    char err[512] = "";
    if (config_parse(text, size, "fuzz.json", &cfg, err, sizeof err) == PA_OK) {
        FUZZ_CHECK(cfg.pool_size >= 1 && cfg.poll_interval_seconds >= 1);
        for (size_t i = 0; i < cfg.plugin_count; i++)
            for (size_t j = 0; j < cfg.plugins[i].instance_count; j++)
                FUZZ_CHECK(cfg.plugins[i].instances[j].id && cfg.plugins[i].instances[j].json);
        config_free(&cfg);
    } else {
        FUZZ_CHECK(strncmp(err, "fuzz.json", 9) == 0); /* every error names its file */
    }
    granola_config g;
    if (granola_config_parse(text, &g, err, sizeof err) == PA_OK) {
        FUZZ_CHECK(g.lookback_days >= 1 && g.timeout_seconds >= 1 && g.server_url);
        granola_config_free(&g);
    }
    free(text);
    return 0;
}
