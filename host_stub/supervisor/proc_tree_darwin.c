/*
 * proc_tree.h on macOS, through libproc: PROC_PIDTASKINFO for resident
 * memory, proc_listchildpids for children, PROC_PIDTBSDINFO for the start
 * time. A process of another user is unreadable here as on Linux.
 */
#include "proc_tree.h"

#include <libproc.h>

int64_t proc_resident_bytes(pid_t pid)
{
    struct proc_taskinfo info;
    int got = pid > 0 ? proc_pidinfo(pid, PROC_PIDTASKINFO, 0, &info, sizeof info) : 0;
    return got == (int)sizeof info ? (int64_t)info.pti_resident_size : -1;
}

void proc_children(pid_t parent, pid_t *out, size_t *count, size_t max)
{
    if (*count >= max)
        return;
    size_t room = max - *count;
    /* The call takes a size in bytes and returns how many pids it wrote. */
    int n = proc_listchildpids(parent, out + *count, (int)(room * sizeof *out));
    size_t kept = *count;
    for (int i = 0; i < n && (size_t)i < room; i++)
        if (out[*count + (size_t)i] > 0)
            out[kept++] = out[*count + (size_t)i];
    *count = kept;
}

int64_t proc_start_time(pid_t pid)
{
    struct proc_bsdinfo info;
    int got = pid > 0 ? proc_pidinfo(pid, PROC_PIDTBSDINFO, 0, &info, sizeof info) : 0;
    if (got != (int)sizeof info)
        return -1;
    return (int64_t)info.pbi_start_tvsec * 1000000 + (int64_t)info.pbi_start_tvusec;
}
