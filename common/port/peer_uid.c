/* port_peer_uid (port.h): who is at the other end of a unix socket. */
#include "port.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

int port_peer_uid(int fd, uid_t *uid)
{
#if defined(PA_HAVE_SO_PEERCRED)
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
        return -1;
    *uid = cred.uid;
    return 0;
#elif defined(PA_HAVE_GETPEEREID)
    gid_t gid;
    return getpeereid(fd, uid, &gid);
#else
    (void)fd, (void)uid;
    errno = ENOTSUP;
    return -1;
#endif
}
