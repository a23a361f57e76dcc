#include "clock.h"

#include <stdatomic.h>
#include <time.h>

static atomic_bool g_virtual;
static _Atomic int64_t g_virtual_ms;

int64_t clock_wall_ms(void)
{
    if (atomic_load(&g_virtual))
        return atomic_load(&g_virtual_ms);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void clock_use_virtual(int64_t start_ms)
{
    atomic_store(&g_virtual_ms, start_ms);
    atomic_store(&g_virtual, true);
}

bool clock_is_virtual(void)
{
    return atomic_load(&g_virtual);
}

void clock_advance_ms(int64_t delta_ms)
{
    atomic_fetch_add(&g_virtual_ms, delta_ms);
}

void clock_format_iso8601(int64_t ms, char *buf, size_t size)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
