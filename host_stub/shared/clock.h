/*
 * The host's clocks. Wall time can be replaced by a virtual clock (tests,
 * --fake-clock): then the scheduler advances it instead of sleeping, so tests
 * of backoff and lifetimes run instantly and deterministically.
 */
#ifndef HOST_CLOCK_H
#define HOST_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

/* Milliseconds since the Unix epoch: real or virtual. */
int64_t clock_wall_ms(void);
/* Real monotonic nanoseconds, for measuring durations. */
int64_t clock_mono_ns(void);

void clock_use_virtual(int64_t start_ms);
bool clock_is_virtual(void);
void clock_advance_ms(int64_t delta_ms);

#endif
