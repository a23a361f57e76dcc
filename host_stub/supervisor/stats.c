/*
 * Statistics and status as log lines (SIGUSR1, --stats; docs/OPERATIONS.md):
 * the supervisor's own pool, each worker's pool as it last reported it, the
 * longest lease per plugin, a status line per instance, and the process.
 * Every instance figure comes from its worker's reports, whatever the
 * isolation: the supervisor's pool serves no plugin.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "host.h"
#include "log.h"
#include "port.h"

static long count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    long n = 0;
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the descriptor opendir itself holds */
}

static long count_lines_in(const char *path)
{
    FILE *f = fopen(path, "r");
    long n = 0;
    if (!f)
        return -1;
    for (int c; (c = fgetc(f)) != EOF;)
        n += c == '\n';
    fclose(f);
    return n;
}

#if defined(__SANITIZE_ADDRESS__)
/* From the sanitizer allocator interface; gcc ships the runtime but not the header. */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

/* Bytes handed out by malloc and not yet freed (the sanitizer's count under ASan), or -1. */
static long long heap_in_use(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return (long long)__sanitizer_get_current_allocated_bytes();
#else
    return port_heap_in_use();
#endif
}

/* Logs each line of text under "stats", after prefix. */
static void log_lines(const char *prefix, const char *text)
{
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        int n = nl ? (int)(nl - p) : (int)strlen(p);
        log_msg(PA_LOG_INFO, "stats", "%s%.*s", prefix, n, p);
        p = nl ? nl + 1 : NULL;
    }
}

static void format_time(int64_t ms, char *buf, size_t size)
{
    if (ms <= 0)
        snprintf(buf, size, "-");
    else
        clock_format_iso8601(ms, buf, size);
}

/*
 * One line per instance: where it stands, in the same key=value form as the
 * stats. Names come from the configuration: a removed plugin's instance has
 * no loaded plugin to ask.
 */
static void log_status(const instance_slot *s)
{
    char success[32], failure[32], next[32];
    format_time(s->last_success_ms, success, sizeof success);
    format_time(s->last_failure_ms, failure, sizeof failure);
    format_time(s->running ? s->sched.next_due_ms : 0, next, sizeof next);
    log_msg(PA_LOG_INFO, "status",
            "instance %s/%s: running=%d version=%s polls=%llu failures_in_a_row=%u "
            "failures=%llu last_success=%s last_failure=%s next_poll=%s items=%llu "
            "leases_held=%d http_requests=%llu dead_lettered=%llu last_failure_reason=\"%s\"",
            s->plugin->name, s->config->id, s->running,
            s->running && s->version ? s->version->description.version : "-",
            (unsigned long long)s->polls, s->sched.failures, (unsigned long long)s->poll_failures,
            success, failure, next, (unsigned long long)s->items_emitted, slot_leases_held(s),
            (unsigned long long)s->http_requests, (unsigned long long)s->dead_lettered,
            s->last_error);
}

/* The longest lease any instance of the plugin named name held, in ns. */
static int64_t longest_hold_of(const registry *r, const char *name)
{
    int64_t longest = 0;
    for (size_t j = 0; j < r->slot_count; j++) {
        const instance_slot *s = r->slots[j];
        if (strcmp(s->plugin->name, name) == 0 && s->longest_hold_ns > longest)
            longest = s->longest_hold_ns;
    }
    return longest;
}

void print_stats(host *h)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (mem) {
        pool_print_stats(h->pool, mem);
        fclose(mem);
        log_lines("", text);
    }
    free(text);
    const registry *r = &h->reg;
    for (size_t j = 0; j < r->slot_count; j++) {
        char prefix[300];
        snprintf(prefix, sizeof prefix, "worker %s/%s ", r->slots[j]->plugin->name,
                 r->slots[j]->config->id);
        log_lines(prefix, r->slots[j]->pool_stats);
    }
    for (size_t i = 0; i < r->plugin_count; i++)
        log_msg(PA_LOG_INFO, "stats", "pool: longest_hold_ms plugin=%s %.3f", r->plugins[i]->name,
                (double)longest_hold_of(r, r->plugins[i]->name) / 1e6);
    for (size_t j = 0; j < r->slot_count; j++)
        log_status(r->slots[j]);
    log_msg(PA_LOG_INFO, "stats",
            "host: reloads=%llu failed_reloads=%llu open_fds=%ld maps=%ld heap_bytes=%lld "
            "outbox_rejected=%llu task_lines_dropped=%llu",
            (unsigned long long)r->reloads, (unsigned long long)r->failed_reloads,
            count_entries("/dev/fd"), count_lines_in("/proc/self/maps"), heap_in_use(),
            (unsigned long long)h->outbox_rejected,
            (unsigned long long)task_output_dropped(h->output));
}
