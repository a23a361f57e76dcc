/*
 * The platform's half of watcher.h: which plugin files in one folder
 * changed. One file per platform, chosen by CMake:
 *   watcher_inotify.c  inotify(7) (Linux)
 *   watcher_kqueue.c   kqueue EVFILT_VNODE on the folder and on each plugin
 *                      file in it (macOS, the BSDs)
 * Only names loader_is_plugin_name accepts are reported.
 */
#ifndef SUPERVISOR_WATCH_BACKEND_H
#define SUPERVISOR_WATCH_BACKEND_H

#include <stdbool.h>

typedef struct watch_backend watch_backend;

/* Starts watching dir. 0, or an errno value. */
int watch_backend_open(const char *dir, watch_backend **out);
void watch_backend_close(watch_backend *b);
/* A descriptor that poll(2) finds readable when something may have changed. */
int watch_backend_fd(const watch_backend *b);
/*
 * Reads what is queued, without blocking, and calls changed(arg, name,
 * complete) for each plugin file seen changing; complete when the change is
 * whole as seen (a rename into place, a removal), not when it is a write
 * that may go on.
 */
void watch_backend_drain(watch_backend *b,
                         void (*changed)(void *arg, const char *name, bool complete), void *arg);

#endif
