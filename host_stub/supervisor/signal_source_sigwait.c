/*
 * signal_source.h without signalfd: one thread takes the blocked signals
 * with sigwait(3), marks each in `came`, and writes a byte to a pipe to wake
 * the loop. The marks, not the bytes, say which signals came: a full pipe
 * loses a wake-up byte, never a signal (the bytes left wake the loop anyway).
 */
#include "signal_source.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "port.h"

/* Signal numbers below this are watched; the supervisor's are all small. */
#define SIGNALS_WATCHED 32

static atomic_int came[SIGNALS_WATCHED];
static atomic_bool closing;
static sigset_t watched;
static pthread_t waiter;
static int wake_fd = -1, read_fd = -1;

static void *wait_for_signals(void *arg)
{
    (void)arg;
    for (;;) {
        int sig = 0;
        if (sigwait(&watched, &sig) != 0 || sig <= 0 || sig >= SIGNALS_WATCHED)
            continue;
        if (atomic_load(&closing))
            return NULL;
        atomic_store(&came[sig], 1);
        char byte = (char)sig;
        (void)!write(wake_fd, &byte, 1); /* non-blocking: a full pipe already wakes the loop */
    }
    return NULL;
}

/*
 * A default action of "ignore" (SIGCHLD's) lets BSD kernels drop the signal
 * even while it is blocked, so sigwait would never see it: every watched
 * signal gets a handler, which never runs, since no thread unblocks them.
 */
static void never_called(int sig)
{
    (void)sig;
}

int signal_source_open(const sigset_t *set)
{
    struct sigaction sa = {.sa_handler = never_called};
    sigemptyset(&sa.sa_mask);
    for (int sig = 1; sig < SIGNALS_WATCHED; sig++)
        if (sigismember(set, sig) == 1 && sigaction(sig, &sa, NULL) != 0)
            return -1;
    watched = *set;
    int fds[2];
    if (sigprocmask(SIG_BLOCK, set, NULL) != 0 || port_pipe(fds) != 0)
        return -1;
    read_fd = fds[0];
    wake_fd = fds[1];
    int rc = fcntl(read_fd, F_SETFL, O_NONBLOCK) == 0 && fcntl(wake_fd, F_SETFL, O_NONBLOCK) == 0
                 ? pthread_create(&waiter, NULL, wait_for_signals, NULL)
                 : errno;
    if (rc != 0) {
        close(read_fd);
        close(wake_fd);
        read_fd = wake_fd = -1;
        errno = rc;
        return -1;
    }
    return read_fd;
}

int signal_source_next(int fd)
{
    char bytes[64];
    while (read(fd, bytes, sizeof bytes) > 0)
        continue;
    /* After the drain: a signal marked later wrote a byte the next turn finds. */
    for (int sig = 1; sig < SIGNALS_WATCHED; sig++)
        if (atomic_exchange(&came[sig], 0))
            return sig;
    return 0;
}

bool signal_source_stop_pending(void)
{
    return atomic_load(&came[SIGTERM]) || atomic_load(&came[SIGINT]);
}

void signal_source_close(int fd)
{
    if (fd < 0 || fd != read_fd)
        return;
    /*
     * Woken by one of its own signals, sent to it alone; not pthread_cancel,
     * whose unwinding dlopens libgcc_s at the last moment.
     */
    atomic_store(&closing, true);
    int sig = 1;
    while (sig < SIGNALS_WATCHED && sigismember(&watched, sig) != 1)
        sig++;
    if (sig < SIGNALS_WATCHED && pthread_kill(waiter, sig) == 0)
        pthread_join(waiter, NULL);
    atomic_store(&closing, false);
    close(read_fd);
    close(wake_fd);
    read_fd = wake_fd = -1;
}
