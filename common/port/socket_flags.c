/* port_socket, port_accept, port_socketpair and port_pipe (port.h): close-on-exec descriptors. */
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

/* FD_CLOEXEC on both of a new pair; 0, or -1 (both closed) with errno. */
static int set_pair_flags(int fds[2])
{
    if (set_flags(fds[0], false) < 0) {
        close(fds[1]);
        return -1;
    }
    if (set_flags(fds[1], false) < 0) {
        close(fds[0]);
        return -1;
    }
    return 0;
}

int port_socketpair_with_fcntl(int type, int sv[2])
{
    return socketpair(AF_UNIX, type, 0, sv) == 0 ? set_pair_flags(sv) : -1;
}

int port_socketpair(int type, int sv[2])
{
#if defined(PA_HAVE_SOCK_CLOEXEC)
    return socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv);
#else
    return port_socketpair_with_fcntl(type, sv);
#endif
}

int port_pipe_with_fcntl(int fds[2])
{
    return pipe(fds) == 0 ? set_pair_flags(fds) : -1;
}

int port_pipe(int fds[2])
{
#if defined(PA_HAVE_PIPE2)
    return pipe2(fds, O_CLOEXEC);
#else
    return port_pipe_with_fcntl(fds);
#endif
}
