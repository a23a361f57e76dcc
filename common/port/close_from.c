/* port_close_from (port.h): every descriptor from one up, between fork and exec. */
#include "port.h"

#include <sys/resource.h>
#include <unistd.h>
#if defined(PA_HAVE_SYS_CLOSE_RANGE)
#include <sys/syscall.h>
#endif

void port_close_from_each(int first)
{
    struct rlimit lim;
    long max = getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY
                   ? (long)lim.rlim_cur
                   : 65536;
    for (long fd = first; fd < max; fd++)
        close((int)fd);
}

void port_close_from(int first)
{
#if defined(PA_HAVE_SYS_CLOSE_RANGE)
    /* close_range(2), Linux 5.9; an older kernel says ENOSYS and the loop does it. */
    if (syscall(SYS_close_range, (unsigned)first, ~0U, 0U) == 0)
        return;
#endif
    port_close_from_each(first);
}
