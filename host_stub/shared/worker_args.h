/*
 * What a worker starts with, as both sides agree on it. The supervisor
 * starts a worker either as a process ("host_stub --worker", the channel on
 * descriptor 3 and the held-sites table on 4) or, with "isolation": "none",
 * on a thread of its own process through a worker_entry_fn that host_stub's
 * main hands it. Either way the worker serves the same channel
 * (channel.h); only how it is killed differs (supervisor/worker_proc.c).
 */
#ifndef SHARED_WORKER_ARGS_H
#define SHARED_WORKER_ARGS_H

#include <stdbool.h>

#include "pa_plugin.h"

typedef struct worker_args {
    int channel_fd;           /* the worker's end of the channel; the worker closes it */
    int held_fd;              /* the held-sites table (held_sites.h); the worker closes it */
    const char *private_path; /* the supervisor's checked copy of the plugin */
    const char *path;         /* the plugins-directory file, for messages */
    const char *name;         /* the plugin's key in host.json */
    pa_log_level log_level;
    /*
     * On a thread of the supervisor: the log, the clock and the signal mask
     * are the supervisor's and stay untouched.
     */
    bool in_process;
} worker_args;

/*
 * The LOG source under which a worker in a dry run (PA_RUN_DRY) sends each
 * item it would have emitted, as its JSON: the supervisor prints it on the
 * task stream instead of logging it.
 */
#define DRY_RUN_ITEM_SOURCE "dry-run item"

/* Serves one worker's life on the channel; returns when it is over. */
typedef int (*worker_entry_fn)(const worker_args *args);

#endif
