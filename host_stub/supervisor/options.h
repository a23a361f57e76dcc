/* host_stub's command line. */
#ifndef SUPERVISOR_OPTIONS_H
#define SUPERVISOR_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "pa_plugin.h"

/* Exit codes (docs/OPERATIONS.md). */
#define EXIT_RUNTIME 1 /* database, or the last round left items undelivered */
#define EXIT_CONFIG  2 /* usage or configuration */
#define EXIT_POLLS                                                                                 \
    3 /* a bounded run (--polls) in which a poll failed or an instance did not start */

typedef struct options {
    const char *plugins_dir;
    const char *config_path;       /* host.json; NULL with --agent-config and no --config */
    const char *agent_config_path; /* --agent-config: the agent's config.yaml; NULL: none */
    const char *config_name;       /* what messages call the configuration */
    const char *db_arg;            /* --db as given; NULL: not given (db_url.h decides) */
    long polls;                    /* 0: until signalled */
    long interval_seconds;         /* 0: from config */
    bool watch;
    bool stats;
    pa_log_level log_level; /* from --verbose or --quiet */
    bool verbose, quiet;
    bool virtual_clock;
    int64_t virtual_start_ms;
    bool allow_shared_db;
    bool journald;
    bool check_config;
    const char *control_path; /* --control: the control socket; NULL: the default */
    bool dry_run;             /* --dry-run (--test): one poll each, every write rolled back */
} options;

/*
 * Parses argv into *opt. 0: run; -1: done (--help or --version printed),
 * exit 0; EXIT_CONFIG: a usage error, said on stderr.
 */
int options_parse(int argc, char **argv, options *opt);

#endif
