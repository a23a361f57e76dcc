/*
 * Process controls where prctl(2) is missing (port.h): macOS and the BSDs
 * have no parent-death signal and no subreaper a process can ask for, so
 * each says ENOSYS and the caller does what the platform allows.
 */
#include "port.h"

#include <errno.h>

int port_die_with_parent(void)
{
    errno = ENOSYS;
    return -1;
}

int port_become_subreaper(void)
{
    errno = ENOSYS;
    return -1;
}

int port_forbid_dumps(void)
{
    return 0; /* RLIMIT_CORE, which the caller sets, is what there is */
}
