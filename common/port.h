/*
 * port: the libc calls not every platform has, each behind one function in
 * a file of its own under port/ (PostgreSQL's src/port, libuv's one file per
 * concern). CMake's feature checks choose the platform's call
 * (PA_HAVE_GETRANDOM, PA_HAVE_ARC4RANDOM_BUF, PA_HAVE_ACCEPT4,
 * PA_HAVE_SOCK_CLOEXEC, PA_HAVE_SO_PEERCRED, PA_HAVE_GETPEEREID); where it is
 * missing, or with -DPA_PORTABLE=ON, the portable fallback runs instead.
 * Every fallback is compiled everywhere under its own name, so the tests
 * run it on Linux too. All are thread-safe and async-signal-unsafe.
 */
#ifndef PA_PORT_H
#define PA_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * n bytes from the kernel's random source into buf: getrandom(2), else
 * arc4random_buf(3), else /dev/urandom. 0, or -1 with errno set (the
 * source cannot be read); never fewer bytes.
 */
int port_random_bytes(void *buf, size_t n);
int port_random_bytes_from_urandom(void *buf, size_t n);

/*
 * socket(2) with FD_CLOEXEC always and O_NONBLOCK when nonblocking: in one
 * call where SOCK_CLOEXEC exists, else with fcntl(2) right after (the
 * window between them is the platform's; this process starts no child
 * from another thread meanwhile). -1 with errno set on failure.
 */
int port_socket(int domain, int type, bool nonblocking);
int port_socket_with_fcntl(int domain, int type, bool nonblocking);
/* accept(2) the same way: accept4 where it exists, else accept and fcntl. */
int port_accept(int listen_fd, bool nonblocking);
int port_accept_with_fcntl(int listen_fd, bool nonblocking);

/*
 * The user id of the process at the other end of the connected unix socket
 * fd: SO_PEERCRED (Linux), else getpeereid (macOS, the BSDs). 0, or -1 with
 * errno set (ENOTSUP where the platform has neither).
 */
int port_peer_uid(int fd, uid_t *uid);

#endif
