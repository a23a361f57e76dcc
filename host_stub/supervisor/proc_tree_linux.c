/*
 * proc_tree.h on Linux: /proc/PID/statm for resident pages,
 * /proc/PID/task/TID/children for the children each thread started (every
 * thread's, since a child's parent is the thread that forked it), and
 * /proc/PID/stat for the start time.
 */
#include "proc_tree.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int64_t proc_resident_bytes(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/statm", (long)pid);
    FILE *f = fopen(path, "r");
    long long size = 0, resident = -1;
    if (f) {
        if (fscanf(f, "%lld %lld", &size, &resident) != 2)
            resident = -1;
        fclose(f);
    }
    return resident < 0 ? -1 : resident * sysconf(_SC_PAGESIZE);
}

/* Appends the children listed in one children file to out, while there is room. */
static void append_children(const char *path, pid_t *out, size_t *count, size_t max)
{
    FILE *f = fopen(path, "r");
    long pid;
    while (f && *count < max && fscanf(f, "%ld", &pid) == 1)
        if (pid > 0)
            out[(*count)++] = (pid_t)pid;
    if (f)
        fclose(f);
}

void proc_children(pid_t parent, pid_t *out, size_t *count, size_t max)
{
    char path[96];
    snprintf(path, sizeof path, "/proc/%ld/task", (long)parent);
    DIR *tasks = opendir(path);
    struct dirent *e;
    while (tasks && *count < max && (e = readdir(tasks)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/%ld/task/%.20s/children", (long)parent, e->d_name);
        append_children(path, out, count, max);
    }
    if (tasks)
        closedir(tasks);
}

int64_t proc_start_time(pid_t pid)
{
    char path[64], stat[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = pid > 0 ? fopen(path, "r") : NULL;
    size_t got = f ? fread(stat, 1, sizeof stat - 1, f) : 0;
    if (f)
        fclose(f);
    stat[got] = '\0';
    /* The command name, in parentheses, may hold anything: fields are counted after its end. */
    const char *p = strrchr(stat, ')');
    for (int field = 2; p && field < 22; field++)
        p = strchr(p + 1, ' ');
    long long started = -1;
    if (!p || sscanf(p + 1, "%lld", &started) != 1)
        return -1;
    return started;
}
