#include "parent_watch.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* How often the parent is looked at before the channel's end, and after it. */
#define CALM_CHECK_MS   1000
#define CLOSED_CHECK_MS 20

typedef struct watch {
    int channel_fd;
    pid_t supervisor;
} watch;

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/*
 * The channel closes while the supervisor exits, a moment before the kernel
 * gives its children a new parent: after the end of file, getppid() is
 * asked often until it changes, or until this process ends (a supervisor
 * that closed the channel on purpose is about to stop it).
 */
static void *watch_main(void *arg)
{
    watch w = *(watch *)arg;
    free(arg);
    int closed = 0;
    while (getppid() == w.supervisor) {
        if (closed) {
            sleep_ms(CLOSED_CHECK_MS);
            continue;
        }
        /* No events asked: POLLHUP and POLLERR are reported whatever is unread. */
        struct pollfd p = {.fd = w.channel_fd, .events = 0};
        closed = poll(&p, 1, CALM_CHECK_MS) > 0;
    }
    kill(getpid(), SIGKILL);
    return NULL;
}

int parent_watch_start(int channel_fd, pid_t supervisor)
{
    watch *w = malloc(sizeof *w);
    if (!w)
        return ENOMEM;
    *w = (watch){channel_fd, supervisor};
    pthread_attr_t attr;
    pthread_t tid;
    int rc = pthread_attr_init(&attr);
    if (rc == 0) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        rc = pthread_create(&tid, &attr, watch_main, w);
        pthread_attr_destroy(&attr);
    }
    if (rc != 0)
        free(w);
    return rc;
}
