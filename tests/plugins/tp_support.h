/*
 * Shared scaffolding for the test plugins: instance allocation, config
 * look-ups and SQL on a lease. Compiled into each plugin (hidden symbols).
 */
#ifndef TP_SUPPORT_H
#define TP_SUPPORT_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "pa_plugin.h"

typedef struct tp_instance {
    const pa_host_api *api;
    pa_host_ctx *ctx;
    cJSON *config;
    const char *id;
    long polls;
} tp_instance;

/* Defines the static pa_plugin_info and pa_plugin_describe of a test plugin. */
#define TP_DESCRIBE(name, description) TP_DESCRIBE_VERSION(name, "1.0.0", description)
#define TP_DESCRIBE_VERSION(name, version, description)                                            \
    static const pa_plugin_info TP_INFO = {PA_ABI_VERSION, sizeof(pa_plugin_info), name, version,  \
                                           description};                                           \
    const pa_plugin_info *pa_plugin_describe(void)                                                 \
    {                                                                                              \
        return &TP_INFO;                                                                           \
    }

/* pa_plugin_init for plugins that need nothing beyond tp_new. */
int tp_init_plain(const pa_host_api *api, pa_host_ctx *ctx, const char *config_json,
                  void **instance_out, char *errbuf, size_t errbuf_size);

/* Parses config_json into a new instance; returns PA_OK or fills errbuf. */
int tp_new(const pa_host_api *api, pa_host_ctx *ctx, const char *config_json, tp_instance **out,
           char *errbuf, size_t errbuf_size);
void tp_free(tp_instance *t);
long tp_int(const tp_instance *t, const char *key, long fallback);
const char *tp_str(const tp_instance *t, const char *key, const char *fallback);
bool tp_bool(const tp_instance *t, const char *key, bool fallback);
/* Runs one statement on the lease through the engine-neutral API (ABI 1.4); a pa_status. */
int tp_exec(const tp_instance *t, pa_lease lease, const char *sql);
/* SELECT count(*) FROM table on the lease, or -1. */
long tp_count(const tp_instance *t, pa_lease lease, const char *table);
/* sqlite3_exec on the raw handle, for the SQLite-only misuse plugins; SQLite's code. */
int tp_exec_sqlite(const tp_instance *t, pa_lease lease, const char *sql);
/* Creates table with one TEXT column in its own committed WRITE lease. */
int tp_create_probe(const tp_instance *t, const char *table, char *errbuf, size_t errbuf_size);

#endif
