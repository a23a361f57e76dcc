/* port_shared_memory (port.h): an anonymous file to map shared between processes. */
#include "port.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int port_shared_memory_from_file(void)
{
    const char *dir = getenv("TMPDIR");
    char path[512];
    int n = snprintf(path, sizeof path, "%s/pa-shared.XXXXXX", dir && *dir ? dir : "/tmp");
    if (n < 0 || (size_t)n >= sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    /* Unlinked at once: only the descriptors name it, and it goes with the last of them. */
    int saved = unlink(path) == 0 && fcntl(fd, F_SETFD, FD_CLOEXEC) == 0 ? 0 : errno;
    if (saved) {
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int port_shared_memory(void)
{
#if defined(PA_HAVE_MEMFD_CREATE)
    return memfd_create("pa-shared", MFD_CLOEXEC);
#else
    return port_shared_memory_from_file();
#endif
}
