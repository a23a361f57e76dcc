/*
 * common/port.h: each call and, under its own name, each portable fallback
 * (the code macOS and the BSDs run), so both are tested on Linux.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "port.h"
#include "secret.h"

typedef int (*random_fn)(void *buf, size_t n);

/* 4096 bytes twice: not all one value, and not the same twice. */
static void check_random(random_fn fn)
{
    static unsigned char a[4096], b[4096];
    assert_int_equal(fn(a, sizeof a), 0);
    assert_int_equal(fn(b, sizeof b), 0);
    assert_memory_not_equal(a, b, sizeof a);
    size_t same = 0;
    for (size_t i = 1; i < sizeof a; i++)
        same += a[i] == a[0];
    assert_true(same < sizeof a / 16);
    assert_int_equal(fn(a, 0), 0);
}

static void test_random_bytes(void **state)
{
    (void)state;
    check_random(port_random_bytes);
    check_random(port_random_bytes_from_urandom);
}

static void assert_flags(int fd, bool nonblocking)
{
    assert_true(fd >= 0);
    assert_int_equal(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    assert_int_equal((fcntl(fd, F_GETFL) & O_NONBLOCK) != 0, nonblocking);
}

typedef int (*socket_fn)(int domain, int type, bool nonblocking);
typedef int (*accept_fn)(int listen_fd, bool nonblocking);

/* A listener at a fresh path, a client connected to it, and fn's accepted end. */
static void check_accept(socket_fn make, accept_fn take, bool nonblocking)
{
    char dir[] = "/tmp/pa_port_XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s/s", dir);
    int listener = make(AF_UNIX, SOCK_STREAM, false);
    assert_flags(listener, false);
    assert_int_equal(bind(listener, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(listen(listener, 1), 0);
    int client = make(AF_UNIX, SOCK_STREAM, true);
    assert_flags(client, true);
    assert_int_equal(connect(client, (struct sockaddr *)&addr, sizeof addr), 0);
    int accepted = take(listener, nonblocking);
    assert_flags(accepted, nonblocking);
    uid_t uid = (uid_t)-1;
    assert_int_equal(port_peer_uid(accepted, &uid), 0);
    assert_int_equal(uid, geteuid());
    close(accepted);
    close(client);
    close(listener);
    unlink(addr.sun_path);
    rmdir(dir);
}

static void test_sockets_and_accept_with_their_flags(void **state)
{
    (void)state;
    for (int nb = 0; nb < 2; nb++) {
        check_accept(port_socket, port_accept, nb);
        check_accept(port_socket_with_fcntl, port_accept_with_fcntl, nb);
    }
    /* A failure says so, and leaks nothing. */
    assert_int_equal(port_socket_with_fcntl(-1, SOCK_STREAM, true), -1);
    assert_int_equal(port_accept_with_fcntl(-1, false), -1);
    uid_t uid;
    assert_int_equal(port_peer_uid(-1, &uid), -1);
}

static void test_wipes_zero_the_memory(void **state)
{
    (void)state;
    char a[64], b[64];
    memset(a, 'x', sizeof a);
    memset(b, 'x', sizeof b);
    secret_wipe(a, sizeof a);
    secret_wipe_volatile(b, sizeof b);
    for (size_t i = 0; i < sizeof a; i++) {
        assert_int_equal(a[i], 0);
        assert_int_equal(b[i], 0);
    }
    secret_wipe(NULL, 0);
    secret_wipe_volatile(NULL, 0);
}

typedef int (*pair_fn)(int fds[2]);

static int seqpacket_pair(int fds[2])
{
    return port_socketpair(SOCK_SEQPACKET, fds);
}

static int stream_pair_with_fcntl(int fds[2])
{
    return port_socketpair_with_fcntl(SOCK_STREAM, fds);
}

/* Both ends close-on-exec and blocking, and a byte written at one end is read at the other. */
static void check_pair(pair_fn make)
{
    int fds[2] = {-1, -1};
    assert_int_equal(make(fds), 0);
    assert_flags(fds[0], false);
    assert_flags(fds[1], false);
    assert_int_equal(write(fds[1], "p", 1), 1);
    char c = 0;
    assert_int_equal(read(fds[0], &c, 1), 1);
    assert_int_equal(c, 'p');
    close(fds[0]);
    close(fds[1]);
}

static void test_pairs_are_close_on_exec(void **state)
{
    (void)state;
    check_pair(port_pipe);
    check_pair(port_pipe_with_fcntl);
    check_pair(seqpacket_pair);
    check_pair(stream_pair_with_fcntl);
    int fds[2];
    assert_int_equal(port_socketpair_with_fcntl(-1, fds), -1);
}

typedef int (*memory_fn)(void);

/* A page written through one mapping is read through a second mapping of the same descriptor. */
static void check_shared_memory(memory_fn make)
{
    int fd = make();
    assert_flags(fd, false);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(st.st_size, 0);
    assert_int_equal(st.st_nlink, 0); /* nothing left behind in any folder */
    long page = sysconf(_SC_PAGESIZE);
    assert_int_equal(ftruncate(fd, page), 0);
    char *a = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    char *b = mmap(NULL, (size_t)page, PROT_READ, MAP_SHARED, fd, 0);
    assert_true(a != MAP_FAILED && b != MAP_FAILED);
    strcpy(a, "held");
    assert_string_equal(b, "held");
    munmap(a, (size_t)page);
    munmap(b, (size_t)page);
    close(fd);
}

static void test_shared_memory(void **state)
{
    (void)state;
    check_shared_memory(port_shared_memory);
    check_shared_memory(port_shared_memory_from_file);
}

typedef void (*close_from_fn)(int first);

/*
 * In a child (the call closes every descriptor from first up, cmocka's
 * too): three descriptors above a gap are closed, the one below stays.
 */
static void check_close_from(close_from_fn close_from)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int kept = dup(STDERR_FILENO);
        int first = dup2(kept, 200);
        int high = dup2(kept, 900);
        close_from(first);
        _exit(fcntl(kept, F_GETFD) >= 0 && fcntl(first, F_GETFD) < 0 && fcntl(high, F_GETFD) < 0
                  ? 0
                  : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_close_from(void **state)
{
    (void)state;
    check_close_from(port_close_from);
    check_close_from(port_close_from_each);
}

/* A deadline read from the clock the call names is met by a timed wait on that clock. */
static void test_condition_clock(void **state)
{
    (void)state;
    pthread_condattr_t attr;
    assert_int_equal(pthread_condattr_init(&attr), 0);
    clockid_t clock = port_condattr_monotonic(&attr);
    assert_true(clock == CLOCK_MONOTONIC || clock == CLOCK_REALTIME);
    pthread_cond_t cond;
    pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
    assert_int_equal(pthread_cond_init(&cond, &attr), 0);
    struct timespec start, deadline, end;
    clock_gettime(clock, &start);
    deadline = start;
    deadline.tv_nsec += 20 * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&mutex);
    int rc;
    while ((rc = pthread_cond_timedwait(&cond, &mutex, &deadline)) == 0)
        ;
    pthread_mutex_unlock(&mutex);
    assert_int_equal(rc, ETIMEDOUT);
    clock_gettime(clock, &end);
    assert_true(end.tv_sec > deadline.tv_sec ||
                (end.tv_sec == deadline.tv_sec && end.tv_nsec >= deadline.tv_nsec));
    pthread_cond_destroy(&cond);
    pthread_condattr_destroy(&attr);
    struct timespec coarse;
    assert_int_equal(clock_gettime(PORT_CLOCK_COARSE, &coarse), 0);
}

static void test_executable_path(void **state)
{
    (void)state;
    char path[4096], tiny[4];
    assert_int_equal(port_executable_path(path, sizeof path), 0);
    assert_int_equal(path[0], '/');
    const char *base = strrchr(path, '/') + 1;
    assert_string_equal(base, "test_port");
    struct stat named;
    assert_int_equal(stat(path, &named), 0);
    assert_true(S_ISREG(named.st_mode) && access(path, X_OK) == 0);
    errno = 0;
    assert_int_equal(port_executable_path(tiny, sizeof tiny), -1);
    assert_int_equal(errno, ENAMETOOLONG);
}

/*
 * Whether malloc is the C library's: AddressSanitizer (the compiler's own
 * macro says so) and valgrind (the test's wrapper, PA_TEST_WRAPPER) bring
 * their own, whose books mallinfo2 does not see.
 */
static bool malloc_is_the_c_librarys(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return false;
#else
    return getenv("PA_TEST_WRAPPER") == NULL;
#endif
}

/* The heap in use grows by what is held, large blocks (mmapped by malloc) included. */
static void test_heap_in_use(void **state)
{
    (void)state;
    long long before = port_heap_in_use();
    assert_true(before >= -1);
    if (before < 0)
        return; /* unknown on this platform: said, not guessed */
    char *held = malloc(1 << 20);
    assert_non_null(held);
    memset(held, 1, 1 << 20);
    long long during = port_heap_in_use();
    free(held);
    assert_true(during >= 0);
    if (malloc_is_the_c_librarys())
        assert_true(during - before >= 1 << 20);
}

/* Each process control answers 0, or -1 with ENOSYS where the platform (or PA_PORTABLE) has none.
 */
static void test_process_controls(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int ok = 1;
        int (*controls[])(void) = {port_die_with_parent, port_become_subreaper, port_forbid_dumps};
        for (size_t i = 0; i < sizeof controls / sizeof *controls; i++) {
            errno = 0;
            int rc = controls[i]();
            ok &= rc == 0 || (rc == -1 && errno == ENOSYS);
        }
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_sockets_and_accept_with_their_flags),
        cmocka_unit_test(test_wipes_zero_the_memory),
        cmocka_unit_test(test_pairs_are_close_on_exec),
        cmocka_unit_test(test_shared_memory),
        cmocka_unit_test(test_close_from),
        cmocka_unit_test(test_condition_clock),
        cmocka_unit_test(test_executable_path),
        cmocka_unit_test(test_heap_in_use),
        cmocka_unit_test(test_process_controls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
