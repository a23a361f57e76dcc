/*
 * Worker process groups on record, for the next host to end
 * (docs/ARCHITECTURE.md, "Threat model"). A supervisor killed with kill -9
 * takes its workers with it (PR_SET_PDEATHSIG), but not the processes its
 * plugins started in their workers' groups: nothing is left to kill them.
 * So each worker's group is recorded as a file in the host's runtime
 * directory while the worker lives, and a host that finds the runtime
 * directory of a host that no longer runs (loader.c) kills the groups on
 * record there.
 *
 * A group is named by its leader's pid, which the kernel does not give to a
 * new process while any member of the group lives; a leader that is alive
 * but started at another time than the one recorded is someone else's, and
 * is left alone. The supervisor's one thread calls these.
 */
#ifndef SUPERVISOR_GROUP_RECORD_H
#define SUPERVISOR_GROUP_RECORD_H

#include <stddef.h>
#include <sys/types.h>

/* Records from now on go into dir (borrowed: it outlives every record); NULL: none are kept. */
void group_record_into(const char *dir);
/* A worker's group, led by pid, on record; quietly nothing when it cannot be written. */
void group_record_add(pid_t pid);
/* The worker led by pid has been reaped, its group killed: off the record. */
void group_record_remove(pid_t pid);
/*
 * Kills the groups on record in stale_dir, a dead host's runtime directory;
 * how many were there to kill (a group whose last member is a zombie counts).
 */
size_t group_record_end_left(const char *stale_dir);

#endif
