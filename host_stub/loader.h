/*
 * Plugin loader: safety checks, a private copy, dlopen, ABI check, entry
 * points. A refused file is reported in one line and never affects other
 * plugins.
 *
 * Every version of a plugin is loaded from its own copy in a per-process
 * runtime directory (mode 0700, removed by loader_free): dlopen deduplicates
 * by path and inode, so loading the plugins directory's file in place could
 * hand back a stale image after a rebuild, and the checks apply to exactly
 * the bytes that get loaded.
 */
#ifndef HOST_LOADER_H
#define HOST_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <time.h>

#include "pa_plugin.h"

/* Which file a plugin was loaded from, to tell a real change from a touch. */
typedef struct plugin_identity {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} plugin_identity;

typedef struct loaded_plugin {
    char *name;         /* file name without ".so"; the key in host.json */
    char *path;         /* the file in the plugins directory */
    char *private_path; /* the copy that was dlopen'ed */
    void *handle;
    const pa_plugin_info *info;
    pa_plugin_init_fn init;
    pa_plugin_poll_fn poll;
    pa_plugin_shutdown_fn shutdown;
    plugin_identity source;
} loaded_plugin;

typedef struct loader loader;

/* Checks dir (ours or root's, not group/other-writable) and creates the runtime dir. */
int loader_new(const char *dir, loader **out, char *err, size_t err_size);
/* Removes the runtime directory. Close every plugin first. */
void loader_free(loader *l);
const char *loader_dir(const loader *l);

/* Loads dir/file_name (which ends in ".so"); err says why it was refused. */
int loader_open(loader *l, const char *file_name, loaded_plugin **out, char *err, size_t err_size);
/* dlclose, remove the private copy, free. NULL is fine. */
void loader_close(loaded_plugin *plugin);

/* Loads every regular *.so in the directory, in name order; refusals are logged. */
int loader_scan(loader *l, loaded_plugin ***out, size_t *count, char *err, size_t err_size);

/* Whether st describes the same file contents the plugin was loaded from. */
bool loader_same_source(const loaded_plugin *plugin, const struct stat *st);
/* True for a name the loader would consider: "*.so", not hidden. */
bool loader_is_plugin_name(const char *file_name);

#endif
