/*
 * The supervisor's signals as a descriptor its poll(2) loop waits on, with
 * nothing done inside a handler. Two implementations, chosen by CMake:
 *   signal_source_signalfd.c  signalfd(2) (Linux)
 *   signal_source_sigwait.c   a thread in sigwait(3) that marks the signal
 *                             and writes a byte to a pipe (everywhere else,
 *                             and with -DPA_PORTABLE=ON)
 * Either way the signals of the set are blocked in the calling thread before
 * any other starts, so every thread the supervisor or a plugin starts
 * inherits the mask, and none of them is ever interrupted.
 * Called from the supervisor's thread only.
 */
#ifndef SUPERVISOR_SIGNAL_SOURCE_H
#define SUPERVISOR_SIGNAL_SOURCE_H

#include <signal.h>
#include <stdbool.h>

/* Blocks set and opens the source: its descriptor for poll(2) (POLLIN), or -1 with errno. */
int signal_source_open(const sigset_t *set);
/* The next signal that came, without blocking; 0 when none waits. Each is told once. */
int signal_source_next(int fd);
/*
 * Whether SIGTERM or SIGINT came and signal_source_next has not told it yet:
 * the host is stopping (a start's wait gives up).
 */
bool signal_source_stop_pending(void);
void signal_source_close(int fd);

#endif
