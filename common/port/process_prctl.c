/* Process controls through prctl(2), Linux's (port.h). */
#include "port.h"

#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>

int port_die_with_parent(void)
{
#if defined(PA_PORTABLE)
    errno = ENOSYS; /* the worker watches its channel instead, as where prctl is missing */
    return -1;
#else
    /* prctl reads five arguments whatever the option: each one is passed. */
    return prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
#endif
}

int port_become_subreaper(void)
{
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}

int port_forbid_dumps(void)
{
    return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}
