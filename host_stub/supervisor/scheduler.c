#include "scheduler.h"

void sched_start(sched_entry *e, int64_t now_ms, int64_t interval_ms)
{
    e->interval_ms = interval_ms;
    e->delay_ms = interval_ms;
    e->failures = 0;
    e->next_due_ms = now_ms;
}

unsigned sched_on_success(sched_entry *e, int64_t now_ms)
{
    unsigned ended = e->failures;
    e->failures = 0;
    e->delay_ms = e->interval_ms;
    e->next_due_ms = now_ms + e->interval_ms;
    return ended;
}

int64_t sched_on_failure(sched_entry *e, int64_t now_ms, int64_t cap_ms)
{
    int64_t cap = cap_ms > e->interval_ms ? cap_ms : e->interval_ms;
    e->failures++;
    e->delay_ms = e->delay_ms > cap / 2 ? cap : e->delay_ms * 2;
    e->next_due_ms = now_ms + e->delay_ms;
    return e->delay_ms;
}

void sched_poll_now(sched_entry *e, int64_t now_ms)
{
    e->delay_ms = e->interval_ms;
    e->next_due_ms = now_ms;
}

void sched_not_before(sched_entry *e, int64_t earliest_ms)
{
    if (e->next_due_ms < earliest_ms)
        e->next_due_ms = earliest_ms;
}

int64_t sched_after_poll(sched_entry *e, bool ok, int64_t now_ms, int64_t cap_ms,
                         int64_t deferred_until_ms, unsigned *ended)
{
    unsigned ended_failures = 0;
    if (ok)
        ended_failures = sched_on_success(e, now_ms);
    else
        sched_on_failure(e, now_ms, cap_ms);
    if (ended)
        *ended = ended_failures;
    if (deferred_until_ms > 0) {
        int64_t limit = now_ms + (cap_ms > e->interval_ms ? cap_ms : e->interval_ms);
        sched_not_before(e, deferred_until_ms < limit ? deferred_until_ms : limit);
    }
    return e->next_due_ms - now_ms;
}
