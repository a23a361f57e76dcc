/*
 * Linux: /proc/PID/statm for resident pages, /proc/PID/task/TID/children for
 * the children each thread started (every thread's, since a child's parent is
 * the thread that forked it).
 */
#include "proc_tree.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int64_t resident_bytes(pid_t pid)
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

/* Appends the children listed in one children file to tree, while there is room. */
static void append_children(const char *path, pid_t *tree, size_t *count)
{
    FILE *f = fopen(path, "r");
    long pid;
    while (f && *count < PROC_TREE_MAX && fscanf(f, "%ld", &pid) == 1)
        if (pid > 0)
            tree[(*count)++] = (pid_t)pid;
    if (f)
        fclose(f);
}

static void append_children_of(pid_t parent, pid_t *tree, size_t *count)
{
    char path[96];
    snprintf(path, sizeof path, "/proc/%ld/task", (long)parent);
    DIR *tasks = opendir(path);
    struct dirent *e;
    while (tasks && *count < PROC_TREE_MAX && (e = readdir(tasks)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/%ld/task/%.20s/children", (long)parent, e->d_name);
        append_children(path, tree, count);
    }
    if (tasks)
        closedir(tasks);
}

int proc_tree_usage_of(pid_t root, proc_tree_usage *out)
{
    out->resident_bytes = 0;
    out->processes = 0;
    int64_t own = root > 0 ? resident_bytes(root) : -1;
    if (own < 0)
        return -1;
    /* Breadth first, in one bounded array: entries before `next` are counted. */
    pid_t tree[PROC_TREE_MAX];
    size_t count = 1;
    tree[0] = root;
    out->resident_bytes = own;
    out->processes = 1;
    append_children_of(root, tree, &count);
    for (size_t next = 1; next < count; next++) {
        int64_t bytes = resident_bytes(tree[next]);
        if (bytes < 0)
            continue; /* ended meanwhile */
        out->resident_bytes += bytes;
        out->processes++;
        append_children_of(tree[next], tree, &count);
    }
    return 0;
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
