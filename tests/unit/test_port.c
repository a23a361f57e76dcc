/*
 * common/port.h: each call and, under its own name, each portable fallback
 * (the code macOS and the BSDs run), so both are tested on Linux.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_sockets_and_accept_with_their_flags),
        cmocka_unit_test(test_wipes_zero_the_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
