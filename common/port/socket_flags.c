/* port_socket and port_accept (port.h): close-on-exec, and non-blocking when asked. */
#include "port.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

/* FD_CLOEXEC, and O_NONBLOCK when asked, on fd; fd, or -1 (closed) with errno. */
static int set_flags(int fd, bool nonblocking)
{
    if (fd < 0)
        return -1;
    int fl = fcntl(fd, F_GETFL);
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 || fl < 0 ||
        (nonblocking && fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0)) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int port_socket_with_fcntl(int domain, int type, bool nonblocking)
{
    return set_flags(socket(domain, type, 0), nonblocking);
}

int port_accept_with_fcntl(int listen_fd, bool nonblocking)
{
    return set_flags(accept(listen_fd, NULL, NULL), nonblocking);
}

int port_socket(int domain, int type, bool nonblocking)
{
#if defined(PA_HAVE_SOCK_CLOEXEC)
    return socket(domain, type | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
#else
    return port_socket_with_fcntl(domain, type, nonblocking);
#endif
}

int port_accept(int listen_fd, bool nonblocking)
{
#if defined(PA_HAVE_ACCEPT4)
    return accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0));
#else
    return port_accept_with_fcntl(listen_fd, nonblocking);
#endif
}
