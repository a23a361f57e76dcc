#include "plugin_image.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int refuse(char *err, size_t err_size, const char *path, const char *why)
{
    snprintf(err, err_size, "refusing plugin '%s': %s", path, why);
    return PA_ERR_INVALID;
}

static int resolve_entry_points(plugin_image *im, char *err, size_t err_size)
{
    /* POSIX guarantees a data pointer from dlsym converts to a function pointer. */
    void *describe = dlsym(im->handle, PA_SYM_DESCRIBE);
    void *init = dlsym(im->handle, PA_SYM_INIT);
    void *poll = dlsym(im->handle, PA_SYM_POLL);
    void *shutdown = dlsym(im->handle, PA_SYM_SHUTDOWN);
    const char *missing = !describe   ? PA_SYM_DESCRIBE
                          : !init     ? PA_SYM_INIT
                          : !poll     ? PA_SYM_POLL
                          : !shutdown ? PA_SYM_SHUTDOWN
                                      : NULL;
    if (missing) {
        char why[128];
        snprintf(why, sizeof why, "missing entry point %s", missing);
        return refuse(err, err_size, im->path, why);
    }
    pa_plugin_describe_fn describe_fn;
    memcpy(&describe_fn, &describe, sizeof describe_fn);
    memcpy(&im->init, &init, sizeof im->init);
    memcpy(&im->poll, &poll, sizeof im->poll);
    memcpy(&im->shutdown, &shutdown, sizeof im->shutdown);
    const pa_plugin_info *info = describe_fn();
    if (!info || info->struct_size < sizeof(pa_plugin_info) - sizeof(info->description))
        return refuse(err, err_size, im->path,
                      "pa_plugin_describe returned no valid pa_plugin_info");
    if (PA_ABI_MAJOR(info->abi_version) != PA_ABI_VERSION_MAJOR) {
        char why[160];
        snprintf(why, sizeof why, "built for ABI %u.%u, host ABI is %u.%u (major versions differ)",
                 PA_ABI_MAJOR(info->abi_version), PA_ABI_MINOR(info->abi_version),
                 PA_ABI_VERSION_MAJOR, PA_ABI_VERSION_MINOR);
        return refuse(err, err_size, im->path, why);
    }
    if (!info->name || !info->version)
        return refuse(err, err_size, im->path, "pa_plugin_info lacks a name or version");
    im->info = info;
    return PA_OK;
}

int plugin_image_open(const char *private_path, const char *path, const char *name,
                      plugin_image **out, char *err, size_t err_size)
{
    *out = NULL;
    plugin_image *im = calloc(1, sizeof *im);
    if (!im || !(im->name = strdup(name)) || !(im->path = strdup(path))) {
        plugin_image_close(im);
        return refuse(err, err_size, path, "out of memory");
    }
    im->handle = dlopen(private_path, RTLD_NOW | RTLD_LOCAL);
    int rc;
    if (!im->handle) {
        const char *dl = dlerror();
        rc = refuse(err, err_size, path, dl ? dl : "dlopen failed");
    } else {
        rc = resolve_entry_points(im, err, err_size);
    }
    if (rc != PA_OK) {
        plugin_image_close(im);
        return rc;
    }
    *out = im;
    return PA_OK;
}

void plugin_image_close(plugin_image *image)
{
    if (!image)
        return;
    if (image->handle)
        dlclose(image->handle);
    free(image->name);
    free(image->path);
    free(image);
}
