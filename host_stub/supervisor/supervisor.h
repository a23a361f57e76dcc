/*
 * The supervisor library's entry, all that host_stub's main sees of it:
 * runs the host as the options say, with workers as processes of this
 * binary or (with "isolation": "none") as threads running in_process; and
 * the control socket's client (ctl_client.h), for "host_stub status" and "ctl".
 */
#ifndef SUPERVISOR_H
#define SUPERVISOR_H

#include "ctl_client.h"
#include "options.h"
#include "worker_args.h"

/* Returns the exit status: 0, EXIT_RUNTIME or EXIT_CONFIG (options.h). */
int supervisor_run(const options *opt, worker_entry_fn in_process);
/*
 * "host_stub describe FILE.so": loads the plugin as a host would (the same
 * file checks, in a worker) and prints name=, version=, abi= and
 * description= lines. 0, or EXIT_CONFIG with the refusal on stderr.
 */
int supervisor_describe(const char *path, worker_entry_fn in_process);

#endif
