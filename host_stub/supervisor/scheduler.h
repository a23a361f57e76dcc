/*
 * Per-instance poll schedule with exponential backoff (as collectd does): a
 * failure doubles the delay up to a cap; the first success resets it; a
 * plugin's defer_next_poll can delay the next poll, up to the same cap.
 */
#ifndef HOST_SCHEDULER_H
#define HOST_SCHEDULER_H

#include <stdbool.h>
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
/*
 * An operator's "now" (a reload, ctl poll): the next poll is due at now_ms
 * and the backoff delay is back to the interval. The failures in a row are
 * kept: they are a fact, and the next success ends them.
 */
void sched_poll_now(sched_entry *e, int64_t now_ms);
/* Earliest time at or after which not_before allows the next poll. */
void sched_not_before(sched_entry *e, int64_t earliest_ms);

/*
 * The poll policy, in one place: after a poll that ended at now_ms (ok or
 * not), with the plugin's deferral deferred_until_ms (defer_next_poll; 0 for
 * none), sets the next due time and returns the delay until it. A failure
 * backs off (sched_on_failure), a success resets (sched_on_success; the
 * failures it ended go to *ended, if given). The deferral is honoured up to
 * cap_ms from now and no further, so a server's Retry-After can never push a
 * poll past the backoff cap; the later of the two times wins.
 */
int64_t sched_after_poll(sched_entry *e, bool ok, int64_t now_ms, int64_t cap_ms,
                         int64_t deferred_until_ms, unsigned *ended);

#endif
