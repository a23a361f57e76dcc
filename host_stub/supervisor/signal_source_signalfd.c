/* signal_source.h with signalfd(2): the kernel queues the blocked signals on a descriptor. */
#include "signal_source.h"

#include <sys/signalfd.h>
#include <unistd.h>

int signal_source_open(const sigset_t *set)
{
    if (sigprocmask(SIG_BLOCK, set, NULL) != 0)
        return -1;
    return signalfd(-1, set, SFD_NONBLOCK | SFD_CLOEXEC);
}

int signal_source_next(int fd)
{
    struct signalfd_siginfo si;
    return read(fd, &si, sizeof si) == (ssize_t)sizeof si ? (int)si.ssi_signo : 0;
}

bool signal_source_stop_pending(void)
{
    /* Still blocked and pending until read from the descriptor. */
    sigset_t pending;
    return sigpending(&pending) == 0 &&
           (sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGINT) == 1);
}

void signal_source_close(int fd)
{
    if (fd >= 0)
        close(fd);
}
