/* port_executable_path (port.h): the running program's file, for re-executing it. */
#include "port.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(PA_HAVE_NSGETEXECUTABLEPATH)
#include <mach-o/dyld.h>
#endif

int port_executable_path(char *buf, size_t size)
{
#if defined(PA_HAVE_NSGETEXECUTABLEPATH)
    char raw[4096], real[4096];
    uint32_t raw_size = sizeof raw;
    if (_NSGetExecutablePath(raw, &raw_size) != 0 || !realpath(raw, real))
        return -1;
    size_t n = strlen(real);
    if (n >= size) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, real, n + 1);
    return 0;
#else
    ssize_t n = size > 0 ? readlink("/proc/self/exe", buf, size - 1) : -1;
    if (n < 0)
        return -1;
    if ((size_t)n >= size - 1) {
        errno = ENAMETOOLONG;
        return -1;
    }
    buf[n] = '\0';
    return 0;
#endif
}
