/* host.json: parsing and validation. Every error names the file and key. */
#ifndef HOST_CONFIG_H
#define HOST_CONFIG_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct instance_config {
    char *id;
    char *json; /* the instance object handed to the plugin's init (host-only keys removed) */
    bool enabled;
    int64_t poll_timeout_seconds;        /* this instance's; 0: the host-wide one */
    int64_t poll_interval_seconds;       /* this instance's; 0: the host-wide one */
    int64_t write_lease_timeout_seconds; /* this instance's; 0: the host-wide one */
} instance_config;

typedef struct plugin_config {
    char *name;
    bool enabled;
    instance_config *instances;
    size_t instance_count;
} plugin_config;

typedef struct host_config {
    int64_t poll_interval_seconds;
    int64_t backoff_cap_seconds;
    int pool_size;
    int lease_timeout_ms;
    int busy_timeout_ms;
    int64_t max_lifetime_seconds;
    int64_t pool_idle_seconds;            /* a connection unused this long is closed; 0: kept */
    int connect_timeout_seconds;          /* PostgreSQL */
    int statement_timeout_ms;             /* PostgreSQL */
    int64_t quick_check_interval_seconds; /* 0: only at start */
    bool isolated;                        /* "isolation": "process" (default) or "none" */
    int64_t poll_timeout_seconds;         /* a worker's poll past this is killed */
    int64_t write_lease_timeout_seconds;  /* a worker holding a WRITE lease this long is killed */
    int64_t shutdown_grace_seconds;       /* SIGTERM to exit, at most this (plus reaping) */
    int64_t worker_memory_limit_mb;       /* a worker resident past this is killed; 0: no limit */
    char *database;                       /* "database": a URL or path (db_url.h); NULL: not set */
    char *agent_dir;          /* --agent-config: its absolute directory; NULL: no agent config */
    char *agent_database_url; /* --agent-config: its database.url; NULL: not set */
    plugin_config *plugins;
    size_t plugin_count;
} host_config;

/* Defaults as documented in docs/OPERATIONS.md. */
void config_defaults(host_config *cfg);
/* origin names the source in messages (usually the file path). */
int config_parse(const char *text, size_t len, const char *origin, host_config *cfg, char *err,
                 size_t err_size);
int config_load(const char *path, host_config *cfg, char *err, size_t err_size);
/* A parsed host.json tree (not consumed) into *cfg; origin names it in messages. */
int config_from_json(const cJSON *root, const char *origin, host_config *cfg, char *err,
                     size_t err_size);

/* Told each problem a reporting parse finds, one line each; count is kept by the parse. */
typedef struct config_report {
    void (*problem)(void *arg, const char *line);
    void *arg;
    size_t count;
} config_report;
/*
 * config_from_json for --check-config: every problem is told to report, and
 * the parse goes on past each, skipping what it spoils (a bad instance is
 * left out; bad top-level or pool keys leave the defaults). cfg holds what
 * was usable either way, and is the caller's to free.
 */
int config_from_json_reporting(const cJSON *root, const char *origin, host_config *cfg,
                               config_report *report, char *err, size_t err_size);
void config_free(host_config *cfg);
const plugin_config *config_find_plugin(const host_config *cfg, const char *name);

#endif
