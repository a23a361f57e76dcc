/*
 * The service manager's notification protocol (systemd's sd_notify(3),
 * spoken directly: a datagram of KEY=VALUE lines to $NOTIFY_SOCKET), so a
 * Type=notify unit knows when the host is ready, what it is doing, and that
 * its loop still turns (WATCHDOG=1 when WatchdogSec= is set). Without
 * NOTIFY_SOCKET every call does nothing. Sends never block: a manager that
 * does not read loses a message, never the loop.
 *
 * Supervisor loop only, from its one thread.
 */
#ifndef SUPERVISOR_SERVICE_NOTIFY_H
#define SUPERVISOR_SERVICE_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "pa_plugin.h"

/*
 * Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID, and removes them from
 * the environment, so no worker or plugin can speak for the host. Call once,
 * before any thread starts.
 */
void service_notify_init(void);
/* Whether a service manager listens (NOTIFY_SOCKET was set): else every call does nothing. */
bool service_notify_active(void);
/* Sends text ("READY=1", "STATUS=...", "STOPPING=1"; lines joined by '\n'). */
void service_notify(const char *text);
/* Sends "STATUS=" and the formatted one-liner. */
void service_status(const char *fmt, ...) PA_PRINTF(1, 2);
/* Sends WATCHDOG=1 when it is due; returns ms until the next one is (-1: no watchdog). */
int64_t service_watchdog(void);

#endif
