/*
 * Watches the plugins directory (watch_backend.h) and reports which plugin files
 * changed, once each change has settled: a file moved into place is ready at
 * once (rename(2) is atomic); a file written in place is ready only after its
 * size has stayed the same for the settle time, so a half-written file is not
 * picked up while the writer is still going.
 */
#ifndef HOST_WATCHER_H
#define HOST_WATCHER_H

#include <stddef.h>
#include <stdint.h>

typedef struct watcher watcher;

int watcher_open(const char *dir, int64_t settle_ms, watcher **out, char *err, size_t err_size);
void watcher_close(watcher *w);
/* The inotify descriptor, for poll(2). */
int watcher_fd(const watcher *w);
/* Reads whatever events are queued (non-blocking). now_ms: a monotonic clock. */
void watcher_drain(watcher *w, int64_t now_ms);
/* The earliest time a pending change may become ready, or INT64_MAX. */
int64_t watcher_next_deadline(const watcher *w);
/*
 * Takes up to max settled changes (plugin file names, "x.so") into names
 * (each malloc'ed; caller frees). Returns how many.
 */
size_t watcher_take_ready(watcher *w, int64_t now_ms, char **names, size_t max);

#endif
