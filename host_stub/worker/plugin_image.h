/*
 * A plugin version mapped into this process: dlopen of the supervisor's
 * checked private copy, the ABI check and the four entry points. The file
 * checks and the copy are the supervisor's (supervisor/loader.c); this is
 * the half that runs plugin code, so it lives where plugins run.
 */
#ifndef WORKER_PLUGIN_IMAGE_H
#define WORKER_PLUGIN_IMAGE_H

#include <stddef.h>

#include "pa_plugin.h"

typedef struct plugin_image {
    char *name; /* the plugin's key in host.json: its file name without ".so" */
    char *path; /* the file in the plugins directory, for messages */
    void *handle;
    const pa_plugin_info *info; /* the plugin's own, valid while mapped */
    pa_plugin_init_fn init;
    pa_plugin_poll_fn poll;
    pa_plugin_shutdown_fn shutdown;
} plugin_image;

/*
 * dlopen(private_path) with RTLD_NOW | RTLD_LOCAL, then checks ABI major and
 * entry points. path and name appear in messages: err reads "refusing plugin
 * 'PATH': WHY", as the supervisor's own refusals do. dlopen shares one
 * mapping among images of the same private_path in a process.
 */
int plugin_image_open(const char *private_path, const char *path, const char *name,
                      plugin_image **out, char *err, size_t err_size);
/* dlclose and free; NULL is fine. The private copy stays: it is the supervisor's. */
void plugin_image_close(plugin_image *image);

#endif
