/*
 * Plugin loader: safety checks, dlopen, ABI check, entry points. A refused
 * file is reported in one line and never affects other plugins.
 */
#ifndef HOST_LOADER_H
#define HOST_LOADER_H

#include <stddef.h>

#include "pa_plugin.h"

typedef struct loaded_plugin {
    char *name; /* file name without ".so"; the key in host.json */
    char *path;
    void *handle;
    const pa_plugin_info *info;
    pa_plugin_init_fn init;
    pa_plugin_poll_fn poll;
    pa_plugin_shutdown_fn shutdown;
} loaded_plugin;

/* The directory must be a directory owned by us or root, not group/other-writable. */
int loader_check_dir(const char *dir, char *err, size_t err_size);
/* Opens dir/file_name after the file checks; err says why it was refused. */
int loader_open(const char *dir, const char *file_name, loaded_plugin *out, char *err,
                size_t err_size);
void loader_close(loaded_plugin *plugin);
/*
 * Opens every regular *.so in dir, in name order. Refusals are logged.
 * *out is an array of *count plugins (free with loader_close_all).
 */
int loader_scan(const char *dir, loaded_plugin **out, size_t *count, char *err, size_t err_size);
void loader_close_all(loaded_plugin *plugins, size_t count);

#endif
