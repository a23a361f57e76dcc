/*
 * --check-config: everything it finds, one line each on stdout, then a
 * count; exits 0 or 2. First host.json (and config.yaml) by the host's
 * rules, every problem (config_from_json_reporting), then the database
 * choice and each plugin file, then every enabled instance by its own
 * plugin's rules: its init and shutdown in a worker told PA_RUN_CHECK (so a
 * plugin checks what it will need, the Granola plugin its token file),
 * against a throwaway in-memory database. Neither the real database nor the
 * network is touched.
 */
#include <stdio.h>
#include <sys/stat.h>

#include "agent_config.h"
#include "host.h"
#include "log.h"

static void print_problem(void *arg, const char *line)
{
    (void)arg;
    printf("%s\n", line);
}

static bool plugin_file_exists(const host *h, const char *name)
{
    char path[4400];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s.so", h->opt.plugins_dir, name);
    return lstat(path, &st) == 0;
}

/* The configured plugins whose file is missing, one line each; how many. */
static size_t missing_plugin_files(const host *h)
{
    size_t missing = 0;
    for (size_t i = 0; i < h->cfg.plugin_count; i++) {
        const plugin_config *pc = &h->cfg.plugins[i];
        if (!pc->enabled || plugin_file_exists(h, pc->name))
            continue;
        printf("%s: plugins.%s: no %s.so in the plugins directory '%s'\n", h->opt.config_name,
               pc->name, pc->name, h->opt.plugins_dir);
        missing++;
    }
    return missing;
}

/* Each instance by its plugin (init in a worker); the problems found, one line each. */
static size_t check_instances(host *h, worker_entry_fn in_process)
{
    char err[1200] = "";
    bool loaded = host_setup_workers(h, DB_SQLITE, ":memory:", in_process) == 0;
    /* Every connection to :memory: is a database of its own: one per worker. */
    h->workers.pool_size = 1;
    slot_policy policy = host_policy(h);
    loaded = loaded &&
             loader_new(h->opt.plugins_dir, worker_describe, &h->workers, &h->loader, err,
                        sizeof err) == PA_OK &&
             registry_init(&h->reg, h->loader, &h->cfg, &policy, err, sizeof err) == PA_OK;
    if (!loaded) {
        printf("%s: cannot check the plugins' configuration: %s\n", h->opt.config_name,
               err[0] ? err : "cannot start workers (see the log)");
        return 1;
    }
    h->reg.grace_ms = h->cfg.shutdown_grace_seconds * 1000;
    registry_start_all(&h->reg);
    size_t problems = 0;
    for (size_t i = 0; i < h->reg.slot_count; i++) {
        const instance_slot *s = h->reg.slots[i];
        if (s->running || !plugin_file_exists(h, s->plugin->name))
            continue; /* a missing file is said once, above */
        problems++;
        printf("%s: plugins.%s instance '%s': %s\n", h->opt.config_name, s->plugin->name,
               s->config->id,
               s->last_error[0] ? s->last_error
                                : "its plugin file was not loaded (the reason is above)");
    }
    registry_stop_all(&h->reg);
    return problems;
}

int check_config(host *h, worker_entry_fn in_process)
{
    char err[1200] = "";
    config_report report = {print_problem, NULL, 0};
    config_load_sources(h->opt.config_path, h->opt.agent_config_path, &h->cfg, &report, err,
                        sizeof err);
    size_t problems = report.count;
    if (host_choose_database(h, err, sizeof err) != 0) {
        printf("%s: %s\n", h->opt.config_name, err);
        problems++;
    }
    problems += missing_plugin_files(h);
    problems += check_instances(h, in_process);
    printf("%s: %zu instance(s) checked, %zu problem(s)\n", h->opt.config_name, h->reg.slot_count,
           problems);
    return problems ? EXIT_CONFIG : 0;
}
