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
#include <stdint.h>
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

/*
 * What a plugin says of itself (pa_plugin_describe), as text a supervisor can
 * keep without having the plugin's code mapped.
 */
typedef struct plugin_description {
    uint32_t abi_version;
    char name[128];
    char version[64];
    char description[256];
} plugin_description;

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
    bool borrowed_copy;             /* loader_attach: the copy is the supervisor's to remove */
    plugin_description description; /* when described, not loaded: info points here */
    pa_plugin_info described_info;
} loaded_plugin;

typedef struct loader loader;

/* Checks dir (ours or root's, not group/other-writable) and creates the runtime dir. */
int loader_new(const char *dir, loader **out, char *err, size_t err_size);
/* Removes the runtime directory. Close every plugin first. */
void loader_free(loader *l);
const char *loader_dir(const loader *l);

/*
 * Isolation: instead of dlopen'ing a checked copy into this process,
 * loader_open hands its path to fn, which has it described elsewhere (a
 * worker process) and fills *out, or returns an error with err set. The
 * loaded_plugin then has no handle and no entry points; its info comes from
 * the description. Plugin code never runs in this process.
 */
typedef int (*loader_describe_fn)(void *userdata, const char *private_path, const char *path,
                                  const char *name, plugin_description *out, char *err,
                                  size_t err_size);
void loader_set_describer(loader *l, loader_describe_fn fn, void *userdata);

/*
 * A worker's side of isolation: dlopen the supervisor's checked copy at
 * private_path (path names the plugins-directory file in messages), with the
 * same ABI and entry-point checks as loader_open. loader_close leaves the
 * copy in place.
 */
int loader_attach(const char *private_path, const char *path, const char *name, loaded_plugin **out,
                  char *err, size_t err_size);

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
