#include "instance.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

/* A plugin's errbuf is untrusted: make sure it ends and is not empty. */
static void settle_message(char *buf, size_t size, int rc)
{
    buf[size - 1] = '\0';
    if (buf[0] == '\0')
        snprintf(buf, size, "no message given (%s)", pa_status_name(rc));
}

static void prepare(host_instance *in, pool *p, const plugin_image *plugin, const char *id,
                    const char *json)
{
    held_table *held = in->held;
    pa_run_mode mode = in->run_mode;
    memset(in, 0, sizeof *in);
    in->held = held;
    in->run_mode = mode;
    in->pool = p;
    in->plugin = plugin;
    in->id = id;
    in->json = json;
    snprintf(in->log_source, sizeof in->log_source, "plugin %s/%s", plugin->name, id);
    in->owner.plugin = plugin->name;
    in->owner.instance = id;
}

int instance_start(host_instance *in, pool *p, const plugin_image *plugin, const char *id,
                   const char *json, char *err, size_t err_size)
{
    prepare(in, p, plugin, id, json);
    char buf[1024] = "";
    void *state = NULL;
    const pool_owner *host = pool_run_as(&in->owner);
    int rc = plugin->init(host_api_table(), in, json, &state, buf, sizeof buf);
    pool_run_as(host);
    pool_reclaim(p, &in->owner, "init");
    held_clear(in->held);
    if (rc != PA_OK) {
        settle_message(buf, sizeof buf, rc);
        snprintf(err, err_size, "init failed (%s): %s", pa_status_name(rc), buf);
        /* A failed init must not leave state behind, but be safe if it did. */
        if (state) {
            host = pool_run_as(&in->owner);
            plugin->shutdown(state);
            pool_run_as(host);
        }
        return rc;
    }
    in->state = state;
    in->running = true;
    return PA_OK;
}

int instance_poll(host_instance *in, char *err, size_t err_size)
{
    char buf[1024] = "";
    in->last_error[0] = '\0';
    in->not_before_ms = 0;
    const pool_owner *host = pool_run_as(&in->owner);
    int rc = in->plugin->poll(in->state, buf, sizeof buf);
    pool_run_as(host);
    pool_reclaim(in->pool, &in->owner, "poll");
    held_clear(in->held);
    if (rc != PA_OK) {
        settle_message(buf, sizeof buf, rc);
        snprintf(err, err_size, "%s (%s)", buf, pa_status_name(rc));
    }
    return rc;
}

void instance_stop(host_instance *in)
{
    if (!in->running)
        return;
    const pool_owner *host = pool_run_as(&in->owner);
    in->plugin->shutdown(in->state);
    pool_run_as(host);
    pool_reclaim(in->pool, &in->owner, "shutdown");
    held_clear(in->held);
    in->state = NULL;
    in->running = false;
}
