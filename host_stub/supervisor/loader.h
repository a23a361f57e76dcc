/*
 * The supervisor's half of loading a plugin: safety checks, a private copy,
 * and a description of it obtained from a worker (which does the dlopen,
 * worker/plugin_image.c). Plugin code never runs here. A refused file is
 * reported in one line and never affects other plugins.
 *
 * Every version of a plugin is loaded from its own copy in a per-process
 * runtime directory (mode 0700, removed by loader_free): dlopen deduplicates
 * by path and inode, so loading the plugins directory's file in place could
 * hand back a stale image after a rebuild, and the checks apply to exactly
 * the bytes that get loaded.
 */
#ifndef SUPERVISOR_LOADER_H
#define SUPERVISOR_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

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

/* One checked, copied and described version of a plugin. */
typedef struct loaded_plugin {
    char *name;         /* file name without ".so"; the key in host.json */
    char *path;         /* the file in the plugins directory */
    char *private_path; /* the checked copy workers dlopen; removed by loader_close */
    plugin_identity source;
    plugin_description description; /* what its describing worker said */
} loaded_plugin;

typedef struct loader loader;

/*
 * How a checked copy is described: a worker loads it and says HELLO (or
 * refuses it); fn fills *out or returns an error with err set.
 */
typedef int (*loader_describe_fn)(void *userdata, const char *private_path, const char *path,
                                  const char *name, plugin_description *out, char *err,
                                  size_t err_size);

/*
 * Checks dir (ours or root's, not group/other-writable) and creates the
 * runtime dir; describe (with userdata) is called for every copy.
 */
int loader_new(const char *dir, loader_describe_fn describe, void *userdata, loader **out,
               char *err, size_t err_size);
/* Removes the runtime directory. Close every plugin first. */
void loader_free(loader *l);
const char *loader_dir(const loader *l);

/* Loads dir/file_name (which ends in ".so"); err says why it was refused. */
int loader_open(loader *l, const char *file_name, loaded_plugin **out, char *err, size_t err_size);
/* Removes the private copy and frees. NULL is fine. */
void loader_close(loaded_plugin *plugin);

/* Loads every regular *.so in the directory, in name order; refusals are logged. */
int loader_scan(loader *l, loaded_plugin ***out, size_t *count, char *err, size_t err_size);

/* Whether st describes the same file contents the plugin was loaded from. */
bool loader_same_source(const loaded_plugin *plugin, const struct stat *st);
/* True for a name the loader would consider: "*.so", not hidden. */
bool loader_is_plugin_name(const char *file_name);

#endif
