/*
 * Test-only crash points. Where a renewal could be interrupted, the code
 * names the instant; when the environment variable PA_TEST_CRASH_AT names
 * that instant, the process kills itself there with SIGKILL, as a power cut
 * or `kill -9` would. Unset (always, outside tests) it does nothing.
 */
#ifndef GRANOLA_CRASH_POINT_H
#define GRANOLA_CRASH_POINT_H

#include <signal.h>
#include <stdlib.h>
#include <string.h>

static inline void crash_point(const char *name)
{
    const char *at = getenv("PA_TEST_CRASH_AT");
    if (at && strcmp(at, name) == 0)
        raise(SIGKILL);
}

#endif
