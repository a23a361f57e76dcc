#include "group_record.h"

#include <dirent.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc_tree.h"

#define RECORD_PREFIX "group-"

static const char *records_dir;

void group_record_into(const char *dir)
{
    records_dir = dir;
}

static void record_path(const char *dir, pid_t pid, char *path, size_t size)
{
    snprintf(path, size, "%s/" RECORD_PREFIX "%ld", dir, (long)pid);
}

void group_record_add(pid_t pid)
{
    if (!records_dir || pid <= 0)
        return;
    char path[4200];
    record_path(records_dir, pid, path, sizeof path);
    FILE *f = fopen(path, "w");
    if (f) {
        fprintf(f, "%lld\n", (long long)proc_start_time(pid));
        fclose(f);
    }
}

void group_record_remove(pid_t pid)
{
    if (!records_dir || pid <= 0)
        return;
    char path[4200];
    record_path(records_dir, pid, path, sizeof path);
    unlink(path);
}

/* Ends the group of one record; true when it had members to end. */
static bool end_group(const char *dir, const char *name)
{
    char *end;
    long pid = strtol(name + strlen(RECORD_PREFIX), &end, 10);
    if (pid <= 0 || *end != '\0')
        return false;
    char path[4200];
    record_path(dir, (pid_t)pid, path, sizeof path);
    FILE *f = fopen(path, "r");
    long long started = -1;
    if (f) {
        if (fscanf(f, "%lld", &started) != 1)
            started = -1;
        fclose(f);
    }
    long long leader = proc_start_time((pid_t)pid);
    if (leader >= 0 && leader != started)
        return false; /* that pid leads someone else's group now */
    return kill(-(pid_t)pid, SIGKILL) == 0;
}

size_t group_record_end_left(const char *stale_dir)
{
    DIR *d = opendir(stale_dir);
    size_t ended = 0;
    for (struct dirent *e; d && (e = readdir(d)) != NULL;)
        if (strncmp(e->d_name, RECORD_PREFIX, strlen(RECORD_PREFIX)) == 0)
            ended += end_group(stale_dir, e->d_name);
    if (d)
        closedir(d);
    return ended;
}
