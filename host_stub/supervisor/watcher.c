/*
 * The settling of changes (watcher.h), over the platform's watch_backend.h:
 * which files changed is the backend's; when a change is ready is this
 * file's.
 */
#include "watcher.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "watch_backend.h"

#define MAX_PENDING 64

typedef struct pending {
    char *name;
    int64_t ready_at_ms; /* when it may be taken, if its size held still */
    off_t size;          /* -1: absent */
} pending;

struct watcher {
    watch_backend *backend;
    char *dir;
    int64_t settle_ms;
    pending items[MAX_PENDING];
    size_t count;
};

int watcher_open(const char *dir, int64_t settle_ms, watcher **out, char *err, size_t err_size)
{
    *out = NULL;
    watcher *w = calloc(1, sizeof *w);
    if (!w || !(w->dir = strdup(dir))) {
        free(w);
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    w->settle_ms = settle_ms;
    int rc = watch_backend_open(dir, &w->backend);
    if (rc != 0) {
        snprintf(err, err_size, "cannot watch plugins directory '%s': %s", dir, strerror(rc));
        free(w->dir);
        free(w);
        return -1;
    }
    *out = w;
    return 0;
}

void watcher_close(watcher *w)
{
    if (!w)
        return;
    watch_backend_close(w->backend);
    for (size_t i = 0; i < w->count; i++)
        free(w->items[i].name);
    free(w->dir);
    free(w);
}

int watcher_fd(const watcher *w)
{
    return watch_backend_fd(w->backend);
}

static off_t current_size(const watcher *w, const char *name)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", w->dir, name);
    return lstat(path, &st) == 0 ? st.st_size : -1;
}

static void note_change(watcher *w, const char *name, int64_t ready_at)
{
    for (size_t i = 0; i < w->count; i++) {
        if (strcmp(w->items[i].name, name) == 0) {
            w->items[i].ready_at_ms = ready_at; /* more activity: wait again */
            w->items[i].size = current_size(w, name);
            return;
        }
    }
    char *copy = w->count < MAX_PENDING ? strdup(name) : NULL;
    if (!copy) {
        log_msg(PA_LOG_WARN, "watch",
                "too many pending changes; ignoring %s until it changes "
                "again",
                name);
        return;
    }
    w->items[w->count++] = (pending){copy, ready_at, current_size(w, name)};
}

typedef struct drain_turn {
    watcher *w;
    int64_t now_ms;
} drain_turn;

/* A rename or removal is complete when seen; writes must settle. */
static void changed(void *arg, const char *name, bool complete)
{
    drain_turn *turn = arg;
    note_change(turn->w, name, complete ? turn->now_ms : turn->now_ms + turn->w->settle_ms);
}

void watcher_drain(watcher *w, int64_t now_ms)
{
    drain_turn turn = {w, now_ms};
    watch_backend_drain(w->backend, changed, &turn);
}

int64_t watcher_next_deadline(const watcher *w)
{
    int64_t next = INT64_MAX;
    for (size_t i = 0; i < w->count; i++) {
        if (w->items[i].ready_at_ms < next)
            next = w->items[i].ready_at_ms;
    }
    return next;
}

size_t watcher_take_ready(watcher *w, int64_t now_ms, char **names, size_t max)
{
    size_t taken = 0;
    for (size_t i = 0; i < w->count && taken < max;) {
        pending *item = &w->items[i];
        if (item->ready_at_ms > now_ms) {
            i++;
            continue;
        }
        off_t size = current_size(w, item->name);
        if (size != item->size) { /* still growing or shrinking: settle again */
            item->size = size;
            item->ready_at_ms = now_ms + w->settle_ms;
            i++;
            continue;
        }
        names[taken++] = item->name;
        w->items[i] = w->items[--w->count];
    }
    return taken;
}
