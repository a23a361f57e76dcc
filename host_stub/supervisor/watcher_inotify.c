/* watch_backend.h with inotify(7): the kernel names each file that changed. */
#include "watch_backend.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "loader.h"
#include "log.h"

struct watch_backend {
    int fd;
};

int watch_backend_open(const char *dir, watch_backend **out)
{
    watch_backend *b = malloc(sizeof *b);
    if (!b)
        return ENOMEM;
    b->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (b->fd < 0 || inotify_add_watch(b->fd, dir,
                                       IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
                                           IN_DELETE | IN_MODIFY | IN_ATTRIB | IN_ONLYDIR) < 0) {
        int rc = errno;
        if (b->fd >= 0)
            close(b->fd);
        free(b);
        return rc;
    }
    *out = b;
    return 0;
}

void watch_backend_close(watch_backend *b)
{
    if (!b)
        return;
    close(b->fd);
    free(b);
}

int watch_backend_fd(const watch_backend *b)
{
    return b->fd;
}

void watch_backend_drain(watch_backend *b,
                         void (*changed)(void *arg, const char *name, bool complete), void *arg)
{
    _Alignas(struct inotify_event) char buf[16384];
    for (;;) {
        ssize_t n = read(b->fd, buf, sizeof buf);
        if (n <= 0)
            return;
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)(void *)p;
            p += sizeof *ev + ev->len;
            if (ev->mask & IN_Q_OVERFLOW) {
                log_msg(PA_LOG_WARN, "watch",
                        "inotify queue overflowed; some changes may be "
                        "missed until the files change again");
                continue;
            }
            if (ev->len && loader_is_plugin_name(ev->name))
                changed(arg, ev->name, ev->mask & (IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE));
        }
    }
}
