/*
 * watch_backend.h with kqueue(2): EVFILT_VNODE says that something in the
 * folder changed (an entry added, removed or renamed), or that a watched
 * file was written, not which file. So every event leads to a rescan of the
 * folder, compared with the last one file by file (inode, size, mtime), and
 * each plugin file gets a watch of its own, for writes in place.
 */
#include "watch_backend.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/event.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader.h"
#include "log.h"

/* Plugin files watched one by one; past it, only the folder's events are seen. */
#define FILES_MAX 256

#ifdef O_EVTONLY
#define WATCH_OPEN_FLAGS (O_EVTONLY | O_CLOEXEC) /* macOS: a watch, not a reader */
#else
#define WATCH_OPEN_FLAGS (O_RDONLY | O_CLOEXEC)
#endif

#define VNODE_NOTES (NOTE_WRITE | NOTE_EXTEND | NOTE_ATTRIB | NOTE_DELETE | NOTE_RENAME | NOTE_LINK)

typedef struct known_file {
    char *name;
    int fd; /* -1 when not watched one by one */
    struct stat st;
    bool seen; /* in the rescan under way */
} known_file;

struct watch_backend {
    int kq, dir_fd;
    char *dir;
    known_file files[FILES_MAX];
    size_t count;
};

static int add_watch(int kq, int fd)
{
    struct kevent ev;
    EV_SET(&ev, (uintptr_t)fd, EVFILT_VNODE, EV_ADD | EV_CLEAR, VNODE_NOTES, 0, NULL);
    return kevent(kq, &ev, 1, NULL, 0, NULL);
}

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_size == b->st_size && a->st_mtime == b->st_mtime;
}

static void forget(watch_backend *b, size_t i)
{
    if (b->files[i].fd >= 0)
        close(b->files[i].fd); /* closing also removes its kevent */
    free(b->files[i].name);
    b->files[i] = b->files[--b->count];
}

/* Watches the file at path from now on: its fd, or -1 (it still counts as known). */
static int watch_file(watch_backend *b, const char *path)
{
    int fd = open(path, WATCH_OPEN_FLAGS);
    if (fd >= 0 && add_watch(b->kq, fd) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* One entry of a rescan: new, or changed since the last, is reported (report: false at open). */
static void look_at(watch_backend *b, const char *name, bool report,
                    void (*changed)(void *, const char *, bool), void *arg)
{
    char path[4096];
    struct stat st;
    if (!loader_is_plugin_name(name) ||
        (size_t)snprintf(path, sizeof path, "%s/%s", b->dir, name) >= sizeof path ||
        lstat(path, &st) != 0)
        return;
    for (size_t i = 0; i < b->count; i++) {
        known_file *f = &b->files[i];
        if (strcmp(f->name, name) != 0)
            continue;
        f->seen = true;
        if (!same_file(&f->st, &st)) {
            if (f->st.st_ino != st.st_ino && f->fd >= 0) { /* replaced: watch the new one */
                close(f->fd);
                f->fd = watch_file(b, path);
            }
            f->st = st;
            if (report)
                changed(arg, name, false);
        }
        return;
    }
    char *copy = b->count < FILES_MAX ? strdup(name) : NULL;
    if (!copy) {
        log_msg(PA_LOG_WARN, "watch", "too many plugin files to watch; %s is seen only when "
                                      "the folder changes", name);
    } else {
        b->files[b->count++] = (known_file){copy, watch_file(b, path), st, true};
    }
    if (report)
        changed(arg, name, false);
}

static void rescan(watch_backend *b, bool report, void (*changed)(void *, const char *, bool),
                   void *arg)
{
    DIR *d = opendir(b->dir);
    if (!d)
        return;
    for (size_t i = 0; i < b->count; i++)
        b->files[i].seen = false;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        look_at(b, e->d_name, report, changed, arg);
    closedir(d);
    for (size_t i = b->count; i-- > 0;) {
        if (b->files[i].seen)
            continue;
        if (report)
            changed(arg, b->files[i].name, true); /* gone: a removal is whole when seen */
        forget(b, i);
    }
}

static void ignore_change(void *arg, const char *name, bool complete)
{
    (void)arg, (void)name, (void)complete;
}

int watch_backend_open(const char *dir, watch_backend **out)
{
    watch_backend *b = calloc(1, sizeof *b);
    if (!b || !(b->dir = strdup(dir))) {
        free(b);
        return ENOMEM;
    }
    b->kq = kqueue();
    b->dir_fd = b->kq >= 0 ? open(dir, WATCH_OPEN_FLAGS | O_DIRECTORY) : -1;
    if (b->kq < 0 || b->dir_fd < 0 || fcntl(b->kq, F_SETFD, FD_CLOEXEC) != 0 ||
        add_watch(b->kq, b->dir_fd) != 0) {
        int rc = errno;
        watch_backend_close(b);
        return rc;
    }
    rescan(b, false, ignore_change, NULL);
    *out = b;
    return 0;
}

void watch_backend_close(watch_backend *b)
{
    if (!b)
        return;
    while (b->count > 0)
        forget(b, b->count - 1);
    if (b->dir_fd >= 0)
        close(b->dir_fd);
    if (b->kq >= 0)
        close(b->kq);
    free(b->dir);
    free(b);
}

int watch_backend_fd(const watch_backend *b)
{
    return b->kq;
}

void watch_backend_drain(watch_backend *b,
                         void (*changed)(void *arg, const char *name, bool complete), void *arg)
{
    struct kevent evs[64];
    const struct timespec now = {0, 0};
    int got, total = 0;
    while ((got = kevent(b->kq, NULL, 0, evs, 64, &now)) > 0)
        total += got;
    if (total > 0)
        rescan(b, true, changed, arg);
}
