/*
 * port: the libc calls not every platform has, each behind one function in
 * a file of its own under port/ (PostgreSQL's src/port, libuv's one file per
 * concern). CMake's feature checks choose the platform's call
 * (PA_HAVE_GETRANDOM, PA_HAVE_ARC4RANDOM_BUF, PA_HAVE_ACCEPT4,
 * PA_HAVE_SOCK_CLOEXEC, PA_HAVE_SO_PEERCRED, PA_HAVE_GETPEEREID); where it is
 * missing, or with -DPA_PORTABLE=ON, the portable fallback runs instead.
 * Every fallback that can run on Linux is compiled everywhere under its own
 * name (..._with_fcntl, ..._from_file), so the tests run it there too. All
 * are thread-safe; only port_die_with_parent is async-signal-safe.
 *
 * The supervisor's own platform files sit beside the code they serve, one
 * per platform behind one header: signal_source_*.c, watcher_*.c,
 * proc_tree_*.c, object_format_*.c (docs/ARCHITECTURE.md, "Platforms").
 */
#ifndef PA_PORT_H
#define PA_PORT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

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

/*
 * socketpair(2) of AF_UNIX and type, and pipe(2), both ends close-on-exec:
 * SOCK_CLOEXEC and pipe2 where they exist, else fcntl right after. 0, or -1
 * with errno.
 */
int port_socketpair(int type, int sv[2]);
int port_socketpair_with_fcntl(int type, int sv[2]);
int port_pipe(int fds[2]);
int port_pipe_with_fcntl(int fds[2]);

/*
 * A new descriptor for memory that processes share by mmap(2)ing it
 * (MAP_SHARED), close-on-exec, of size 0 (ftruncate it): memfd_create where
 * it exists, else a file made in $TMPDIR (or /tmp) and unlinked at once.
 * -1 with errno on failure.
 */
int port_shared_memory(void);
int port_shared_memory_from_file(void);

/*
 * The monotonic clock for condition variables made with attr, where
 * pthread_condattr_setclock exists; returns the clock a
 * pthread_cond_timedwait deadline must be read from: CLOCK_MONOTONIC, else
 * CLOCK_REALTIME (where a wall-clock step then moves the deadline).
 */
clockid_t port_condattr_monotonic(pthread_condattr_t *attr);

/* A clock read in a few ns with ms-scale steps, where there is one; else the monotonic clock. */
#if defined(PA_HAVE_CLOCK_MONOTONIC_COARSE)
#define PORT_CLOCK_COARSE CLOCK_MONOTONIC_COARSE
#else
#define PORT_CLOCK_COARSE CLOCK_MONOTONIC
#endif

/*
 * Process controls, prctl(2) on Linux. port_die_with_parent: SIGKILL this
 * process when its parent ends (async-signal-safe, for between fork and
 * exec); -1 with ENOSYS where it cannot be had (and with -DPA_PORTABLE=ON),
 * and then the caller watches for itself. port_become_subreaper: orphans of
 * this process's descendants come to it; -1 with ENOSYS where the platform
 * has no such thing. port_forbid_dumps: no core dump and no ptrace attach by
 * the same user; 0 where only RLIMIT_CORE exists (the caller sets that).
 */
int port_die_with_parent(void);
int port_become_subreaper(void);
int port_forbid_dumps(void);

/*
 * The running program's absolute path into buf: /proc/self/exe, or
 * _NSGetExecutablePath on macOS. 0, or -1 with errno (ENAMETOOLONG when
 * size is too small).
 */
int port_executable_path(char *buf, size_t size);

/*
 * Closes every descriptor from first up: close_range(2) where the kernel has
 * it, else each one below the descriptor limit. Async-signal-safe.
 */
void port_close_from(int first);
void port_close_from_each(int first);

/* A struct stat's modification time as a struct timespec (st_mtim, or macOS's st_mtimespec). */
#if defined(PA_HAVE_STAT_MTIMESPEC)
#define PORT_STAT_MTIME(st) ((st).st_mtimespec)
#else
#define PORT_STAT_MTIME(st) ((st).st_mtim)
#endif

/* Bytes malloc has handed out and not taken back (mallinfo2, mstats), or -1 where unknown. */
long long port_heap_in_use(void);

#endif
