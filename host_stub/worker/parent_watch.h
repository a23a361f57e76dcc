/*
 * A worker's watch on its supervisor where the kernel cannot be asked to
 * kill it when the supervisor ends (no PR_SET_PDEATHSIG: macOS, the BSDs,
 * and -DPA_PORTABLE=ON builds). A thread waits for the channel's end of
 * file; from then on, or every second before it, it compares getppid() with
 * the supervisor's pid, and once the worker has been orphaned it kills its
 * own process with SIGKILL, as PR_SET_PDEATHSIG would. It does not read the
 * channel, so the worker's loop keeps every message.
 */
#ifndef WORKER_PARENT_WATCH_H
#define WORKER_PARENT_WATCH_H

#include <sys/types.h>

/* Starts the watch (a detached thread) for supervisor, through channel_fd. 0, or an errno. */
int parent_watch_start(int channel_fd, pid_t supervisor);

#endif
