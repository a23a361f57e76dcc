/*
 * --check-config: host.json by the host's rules (already applied by
 * config_load), then every enabled instance by its own plugin's rules: init
 * and shutdown in a worker against a throwaway in-memory database, so
 * neither the real database nor the network is touched. Every problem gets
 * a line naming the file and the instance; exits 0 or 2.
 */
#include <stdio.h>

#include "host.h"
#include "log.h"

int check_config(host *h, worker_entry_fn in_process)
{
    char err[1200] = "";
    int rc = host_check_plugins_exist(h);
    bool loaded = rc == 0 && host_setup_workers(h, DB_SQLITE, ":memory:", in_process) == 0;
    /* Every connection to :memory: is a database of its own: one per worker. */
    h->workers.pool_size = 1;
    slot_policy policy = host_policy(h);
    loaded = loaded &&
             loader_new(h->opt.plugins_dir, worker_describe, &h->workers, &h->loader, err,
                        sizeof err) == PA_OK &&
             registry_init(&h->reg, h->loader, &h->cfg, &policy, err, sizeof err) == PA_OK;
    if (!loaded) {
        if (err[0])
            printf("%s: %s\n", h->opt.config_name, err);
        printf("%s: cannot check the plugins' configuration\n", h->opt.config_name);
        return EXIT_CONFIG;
    }
    h->reg.grace_ms = h->cfg.shutdown_grace_seconds * 1000;
    registry_start_all(&h->reg);
    size_t problems = 0;
    if (host_choose_database(h, err, sizeof err) != 0) {
        printf("%s: %s\n", h->opt.config_name, err);
        problems++;
    }
    for (size_t i = 0; i < h->reg.slot_count; i++) {
        const instance_slot *s = h->reg.slots[i];
        if (s->running)
            continue;
        problems++;
        printf("%s: plugins.%s instance '%s': %s\n", h->opt.config_name, s->plugin->name,
               s->config->id, s->last_error[0] ? s->last_error : "no plugin file loaded for it");
    }
    printf("%s: %zu instance(s) checked, %zu problem(s)\n", h->opt.config_name, h->reg.slot_count,
           problems);
    registry_stop_all(&h->reg);
    return problems ? EXIT_CONFIG : 0;
}
