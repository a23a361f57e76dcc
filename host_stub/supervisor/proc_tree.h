/*
 * The memory of a process and every process it started (docs/ARCHITECTURE.md,
 * "Containment"): a plugin's child, or a child that left its worker's process
 * group with setsid, still counts against its instance's memory limit.
 *
 * The tree is followed by parent links as the kernel keeps them. A child
 * whose parent exited is adopted by the supervisor, a subreaper, and killed
 * as an orphan (worker_reap_orphans); it is not counted here. Called from the
 * supervisor's one thread.
 *
 * The three primitives below are the platform's, one file each:
 * proc_tree_linux.c (/proc) and proc_tree_darwin.c (libproc), chosen by
 * CMake; proc_tree.c walks the tree over them.
 */
#ifndef SUPERVISOR_PROC_TREE_H
#define SUPERVISOR_PROC_TREE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Most processes one tree is followed through: a fork bomb costs the check no more. */
#define PROC_TREE_MAX 4096

typedef struct proc_tree_usage {
    int64_t resident_bytes; /* of root and every descendant found */
    size_t processes;       /* how many were found, root included; at most PROC_TREE_MAX */
} proc_tree_usage;

/*
 * Sums the resident memory of root and its descendants into *out. 0, or -1
 * when root's own memory cannot be read (it has ended, or is not a process
 * of this machine). A descendant that ends during the walk is left out.
 */
int proc_tree_usage_of(pid_t root, proc_tree_usage *out);

/* pid's resident memory in bytes, or -1 when it cannot be read (it has ended). */
int64_t proc_resident_bytes(pid_t pid);

/* Appends the pids of parent's children to out[*count..max), advancing *count. */
void proc_children(pid_t parent, pid_t *out, size_t *count, size_t max);

/*
 * When pid started, in a unit of the platform's (Linux: clock ticks since
 * boot; macOS: microseconds since the epoch): with the pid, it names one
 * process for good. -1 when there is no such process.
 */
int64_t proc_start_time(pid_t pid);

#endif
