#include "db_watch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void close_watched(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Opens path and notes its identity; -1 when it does not exist. */
static int take(const char *path, int *fd, dev_t *dev, ino_t *ino)
{
    struct stat st;
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0 || fstat(*fd, &st) != 0) {
        close_watched(fd);
        return -1;
    }
    *dev = st.st_dev;
    *ino = st.st_ino;
    return 0;
}

static void wal_path(const db_watch *w, char *out, size_t size)
{
    snprintf(out, size, "%s-wal", w->path);
}

int db_watch_open(db_watch *w, const char *path, uint64_t connections_opened)
{
    *w = (db_watch){.path = path, .db_fd = -1, .wal_fd = -1, .armed_at = connections_opened};
    if (!path)
        return 0;
    if (take(path, &w->db_fd, &w->db_dev, &w->db_ino) != 0)
        return -1;
    char wal[4200];
    wal_path(w, wal, sizeof wal);
    take(wal, &w->wal_fd, &w->wal_dev, &w->wal_ino); /* none yet: taken at a later check */
    return 0;
}

/* "deleted" or "replaced" when the file at path is no longer the one fd holds; NULL when it is. */
static const char *what_happened(const char *path, int fd, dev_t dev, ino_t ino)
{
    struct stat held, now;
    if (stat(path, &now) != 0)
        return errno == ENOENT ? "deleted" : NULL;
    if (now.st_dev != dev || now.st_ino != ino)
        return "replaced";
    return fstat(fd, &held) == 0 && held.st_nlink == 0 ? "deleted" : NULL;
}

int db_watch_check(db_watch *w, uint64_t connections_opened, char *err, size_t err_size)
{
    if (w->db_fd < 0)
        return 0;
    const char *happened = what_happened(w->path, w->db_fd, w->db_dev, w->db_ino);
    if (happened) {
        snprintf(err, err_size,
                 "the database file %s was %s while the host ran; tasks written from now on "
                 "would be lost with it",
                 w->path, happened);
        return -1;
    }
    char wal[4200];
    wal_path(w, wal, sizeof wal);
    if (w->wal_fd < 0 || connections_opened != w->armed_at) {
        close_watched(&w->wal_fd);
        w->armed_at = connections_opened;
        take(wal, &w->wal_fd, &w->wal_dev, &w->wal_ino);
        return 0;
    }
    happened = what_happened(wal, w->wal_fd, w->wal_dev, w->wal_ino);
    if (happened) {
        snprintf(err, err_size,
                 "the database's write-ahead log %s was %s while the host ran; the tasks it "
                 "held are lost, and tasks written from now on would be too",
                 wal, happened);
        return -1;
    }
    return 0;
}

void db_watch_close(db_watch *w)
{
    close_watched(&w->db_fd);
    close_watched(&w->wal_fd);
}
