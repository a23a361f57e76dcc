/*
 * Per-instance poll schedule with exponential backoff (as collectd does): a
 * failure doubles the delay up to a cap; the first success resets it.
 */
#ifndef HOST_SCHEDULER_H
#define HOST_SCHEDULER_H

#include <stdint.h>

typedef struct sched_entry {
    int64_t next_due_ms;
    int64_t interval_ms;
    int64_t delay_ms;  /* current delay: interval, or the backed-off value */
    unsigned failures; /* consecutive */
} sched_entry;

/* The first poll is due immediately. */
void sched_start(sched_entry *e, int64_t now_ms, int64_t interval_ms);
/* Returns the number of consecutive failures the success ended (0 if none). */
unsigned sched_on_success(sched_entry *e, int64_t now_ms);
/* Returns the new delay until the next poll. */
int64_t sched_on_failure(sched_entry *e, int64_t now_ms, int64_t cap_ms);
/* Earliest time at or after which not_before allows the next poll. */
void sched_not_before(sched_entry *e, int64_t earliest_ms);

#endif
