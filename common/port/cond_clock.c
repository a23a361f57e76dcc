/* port_condattr_monotonic (port.h): the clock a condition variable's deadline is read from. */
#include "port.h"

clockid_t port_condattr_monotonic(pthread_condattr_t *attr)
{
#if defined(PA_HAVE_PTHREAD_CONDATTR_SETCLOCK)
    if (pthread_condattr_setclock(attr, CLOCK_MONOTONIC) == 0)
        return CLOCK_MONOTONIC;
#else
    (void)attr;
#endif
    return CLOCK_REALTIME;
}
