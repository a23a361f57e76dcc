/*
 * The worker library's two entries, and all that the rest of host_stub sees
 * of it: a worker as its own process (host_stub --worker), or on a thread of
 * the supervisor ("isolation": "none").
 */
#ifndef WORKER_MAIN_H
#define WORKER_MAIN_H

#include "worker_args.h"

/*
 * host_stub --worker PRIVATE_COPY PLUGIN_PATH NAME LOG_LEVEL, with the
 * channel on descriptor 3 and the held-sites table on 4. Returns the exit
 * status.
 */
int worker_main(int argc, char **argv);

/* One worker's whole life on args->channel_fd (a worker_entry_fn). Thread-safe. */
int worker_serve(const worker_args *args);

#endif
