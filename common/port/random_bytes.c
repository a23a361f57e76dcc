/* port_random_bytes (port.h): the kernel's random bytes, on any platform. */
#include "port.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#if defined(PA_HAVE_GETRANDOM)
#include <sys/random.h>
#elif defined(PA_HAVE_ARC4RANDOM_BUF)
#include <stdlib.h>
#endif

int port_random_bytes_from_urandom(void *buf, size_t n)
{
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int saved = r < 0 ? errno : EIO;
            close(fd);
            errno = saved;
            return -1;
        }
        got += (size_t)r;
    }
    close(fd);
    return 0;
}

int port_random_bytes(void *buf, size_t n)
{
#if defined(PA_HAVE_GETRANDOM)
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom((char *)buf + got, n - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
#elif defined(PA_HAVE_ARC4RANDOM_BUF)
    arc4random_buf(buf, n); /* cannot fail */
    return 0;
#else
    return port_random_bytes_from_urandom(buf, n);
#endif
}
