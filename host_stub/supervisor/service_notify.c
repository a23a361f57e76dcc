#include "service_notify.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "port.h"

static struct {
    bool on;
    struct sockaddr_un addr;
    socklen_t addr_len;
    int64_t watchdog_ms; /* half of WatchdogSec, as sd_watchdog_enabled(3) advises; 0: none */
    int64_t watchdog_due_ns;
} notify;

void service_notify_init(void)
{
    const char *path = getenv("NOTIFY_SOCKET");
    const char *usec = getenv("WATCHDOG_USEC"), *wpid = getenv("WATCHDOG_PID");
    size_t len = path ? strlen(path) : 0;
    /* "/path" or "@abstract"; anything else (vsock, too long) is not spoken here. */
    if (len > 1 && len < sizeof notify.addr.sun_path && (path[0] == '/' || path[0] == '@')) {
        notify.on = true;
        notify.addr.sun_family = AF_UNIX;
        memcpy(notify.addr.sun_path, path, len);
        if (path[0] == '@')
            notify.addr.sun_path[0] = '\0';
        notify.addr_len =
            (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (path[0] == '/'));
    }
    long long us = usec ? atoll(usec) : 0;
    if (notify.on && us > 0 && (!wpid || atol(wpid) == (long)getpid()))
        notify.watchdog_ms = us / 2000 > 0 ? us / 2000 : 1;
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
}

bool service_notify_active(void)
{
    return notify.on;
}

void service_notify(const char *text)
{
    if (!notify.on)
        return;
    int fd = port_socket(AF_UNIX, SOCK_DGRAM, true);
    if (fd < 0)
        return;
    /* Lost if the manager's queue is full: a status line is not worth a stall. */
    ssize_t sent = sendto(fd, text, strlen(text), MSG_NOSIGNAL | MSG_DONTWAIT,
                          (const struct sockaddr *)&notify.addr, notify.addr_len);
    (void)sent;
    close(fd);
}

void service_status(const char *fmt, ...)
{
    if (!notify.on)
        return;
    char text[512] = "STATUS=";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text + 7, sizeof text - 7, fmt, ap);
    va_end(ap);
    service_notify(text);
}

int64_t service_watchdog(void)
{
    if (!notify.watchdog_ms)
        return -1;
    int64_t now = clock_mono_ns();
    if (now >= notify.watchdog_due_ns) {
        service_notify("WATCHDOG=1");
        notify.watchdog_due_ns = now + notify.watchdog_ms * 1000000;
    }
    return (notify.watchdog_due_ns - now) / 1000000 + 1;
}
