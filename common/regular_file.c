#include "regular_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *not_regular(mode_t mode)
{
    if (S_ISFIFO(mode))
        return "not a regular file (a FIFO)";
    if (S_ISDIR(mode))
        return "not a regular file (a directory)";
    if (S_ISSOCK(mode))
        return "not a regular file (a socket)";
    if (S_ISCHR(mode) || S_ISBLK(mode))
        return "not a regular file (a device)";
    return "not a regular file";
}

int regular_file_open(const char *path, int extra_flags, struct stat *st, const char **why)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | extra_flags);
    if (fd < 0) {
        *why =
            errno == ELOOP && (extra_flags & O_NOFOLLOW) ? "is a symbolic link" : strerror(errno);
        return -1;
    }
    int flags;
    if (fstat(fd, st) != 0 || (flags = fcntl(fd, F_GETFL)) < 0 ||
        fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
        int saved = errno;
        *why = strerror(saved);
        close(fd);
        errno = saved;
        return -1;
    }
    if (!S_ISREG(st->st_mode)) {
        *why = not_regular(st->st_mode);
        close(fd);
        errno = EINVAL;
        return -1;
    }
    return fd;
}

#define MIB ((size_t)1024 * 1024)

char *regular_file_read(const char *path, size_t max, size_t *len, char *why, size_t why_size)
{
    struct stat st;
    const char *open_why = NULL;
    int fd = regular_file_open(path, 0, &st, &open_why);
    if (fd < 0) {
        snprintf(why, why_size, "cannot open: %s", open_why);
        return NULL;
    }
    char *text = malloc(max + 1);
    size_t got_total = 0;
    bool failed = !text;
    while (!failed && got_total <= max) {
        ssize_t got = read(fd, text + got_total, max + 1 - got_total);
        if (got == 0)
            break;
        if (got < 0 && errno != EINTR)
            failed = true;
        else if (got > 0)
            got_total += (size_t)got;
    }
    close(fd);
    if (failed || got_total > max) {
        if (failed)
            snprintf(why, why_size, "%s", text ? "cannot read" : "out of memory");
        else if (max % MIB == 0)
            snprintf(why, why_size, "larger than %zu MiB", max / MIB);
        else
            snprintf(why, why_size, "larger than %zu bytes", max);
        free(text);
        return NULL;
    }
    text[got_total] = '\0';
    *len = got_total;
    return text;
}
