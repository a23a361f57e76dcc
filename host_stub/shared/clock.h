/*
 * The host's clocks. Wall time can be replaced by a virtual clock (tests,
 * --fake-clock): then the scheduler advances it instead of sleeping, so tests
 * of backoff and lifetimes run instantly and deterministically.
 */
#ifndef SHARED_CLOCK_H
#define SHARED_CLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Milliseconds since the Unix epoch: real or virtual. */
int64_t clock_wall_ms(void);
/* Real monotonic nanoseconds, for measuring durations. */
int64_t clock_mono_ns(void);

void clock_use_virtual(int64_t start_ms);
bool clock_is_virtual(void);
void clock_advance_ms(int64_t delta_ms);

/* ms since the epoch as ISO 8601 UTC to the second ("2026-02-12T20:30:00Z"). */
void clock_format_iso8601(int64_t ms, char *buf, size_t size);

#endif
