#include "loader.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/* A plugin or its directory must not be replaceable by anyone but us or root. */
static const char *unsafe_ownership(const struct stat *st)
{
    if (st->st_uid != geteuid() && st->st_uid != 0)
        return "owned by another user";
    if (st->st_mode & (S_IWGRP | S_IWOTH))
        return "writable by group or others";
    return NULL;
}

int loader_check_dir(const char *dir, char *err, size_t err_size)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        snprintf(err, err_size, "plugins directory '%s': %s", dir, strerror(errno));
        return PA_ERR_CONFIG;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, err_size, "plugins directory '%s': not a directory", dir);
        return PA_ERR_CONFIG;
    }
    const char *why = unsafe_ownership(&st);
    if (why) {
        snprintf(err, err_size, "refusing plugins directory '%s': %s (mode %04o)", dir, why,
                 (unsigned)(st.st_mode & 07777));
        return PA_ERR_CONFIG;
    }
    return PA_OK;
}

static int refuse(char *err, size_t err_size, const char *path, const char *why)
{
    snprintf(err, err_size, "refusing plugin '%s': %s", path, why);
    return PA_ERR_INVALID;
}

static int resolve_entry_points(loaded_plugin *pl, const char *path, char *err, size_t err_size)
{
    /* POSIX guarantees a data pointer from dlsym converts to a function pointer. */
    void *describe = dlsym(pl->handle, PA_SYM_DESCRIBE);
    void *init = dlsym(pl->handle, PA_SYM_INIT);
    void *poll = dlsym(pl->handle, PA_SYM_POLL);
    void *shutdown = dlsym(pl->handle, PA_SYM_SHUTDOWN);
    const char *missing = !describe   ? PA_SYM_DESCRIBE
                          : !init     ? PA_SYM_INIT
                          : !poll     ? PA_SYM_POLL
                          : !shutdown ? PA_SYM_SHUTDOWN
                                      : NULL;
    if (missing) {
        char why[128];
        snprintf(why, sizeof why, "missing entry point %s", missing);
        return refuse(err, err_size, path, why);
    }
    pa_plugin_describe_fn describe_fn;
    memcpy(&describe_fn, &describe, sizeof describe_fn);
    memcpy(&pl->init, &init, sizeof pl->init);
    memcpy(&pl->poll, &poll, sizeof pl->poll);
    memcpy(&pl->shutdown, &shutdown, sizeof pl->shutdown);
    const pa_plugin_info *info = describe_fn();
    if (!info || info->struct_size < sizeof(pa_plugin_info) - sizeof(info->description))
        return refuse(err, err_size, path, "pa_plugin_describe returned no valid pa_plugin_info");
    if (PA_ABI_MAJOR(info->abi_version) != PA_ABI_VERSION_MAJOR) {
        char why[160];
        snprintf(why, sizeof why, "built for ABI %u.%u, host ABI is %u.%u (major versions differ)",
                 PA_ABI_MAJOR(info->abi_version), PA_ABI_MINOR(info->abi_version),
                 PA_ABI_VERSION_MAJOR, PA_ABI_VERSION_MINOR);
        return refuse(err, err_size, path, why);
    }
    if (!info->name || !info->version)
        return refuse(err, err_size, path, "pa_plugin_info lacks a name or version");
    pl->info = info;
    return PA_OK;
}

int loader_open(const char *dir, const char *file_name, loaded_plugin *out, char *err,
                size_t err_size)
{
    memset(out, 0, sizeof *out);
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, file_name) >= sizeof path)
        return refuse(err, err_size, file_name, "path too long");
    /* Check the file we will load, not a name that could be swapped afterwards. */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return refuse(err, err_size, path, errno == ELOOP ? "is a symbolic link" : strerror(errno));
    struct stat st;
    const char *why = NULL;
    if (fstat(fd, &st) != 0)
        why = strerror(errno);
    else if (!S_ISREG(st.st_mode))
        why = "not a regular file";
    else
        why = unsafe_ownership(&st);
    if (why) {
        close(fd);
        return refuse(err, err_size, path, why);
    }
    /*
     * dlopen by path: a /proc/self/fd name would be reused for the next plugin
     * and dlopen would hand back the first one. The checks above hold for the
     * file we loaded only if the name still points at the same inode.
     */
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    struct stat now;
    bool same = stat(path, &now) == 0 && now.st_dev == st.st_dev && now.st_ino == st.st_ino;
    close(fd);
    if (!handle) {
        const char *dl = dlerror();
        return refuse(err, err_size, path, dl ? dl : "dlopen failed");
    }
    if (!same) {
        dlclose(handle);
        return refuse(err, err_size, path, "file was replaced while being loaded");
    }
    out->handle = handle;
    int rc = resolve_entry_points(out, path, err, err_size);
    size_t base_len = strlen(file_name) - 3; /* caller guarantees the ".so" suffix */
    out->name = rc == PA_OK ? strndup(file_name, base_len) : NULL;
    out->path = rc == PA_OK ? strdup(path) : NULL;
    if (rc == PA_OK && (!out->name || !out->path))
        rc = refuse(err, err_size, path, "out of memory");
    if (rc != PA_OK)
        loader_close(out);
    return rc;
}

void loader_close(loaded_plugin *plugin)
{
    if (plugin->handle)
        dlclose(plugin->handle);
    free(plugin->name);
    free(plugin->path);
    memset(plugin, 0, sizeof *plugin);
}

static int has_so_suffix(const char *name)
{
    size_t n = strlen(name);
    return n > 3 && strcmp(name + n - 3, ".so") == 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int loader_scan(const char *dir, loaded_plugin **out, size_t *count, char *err, size_t err_size)
{
    *out = NULL;
    *count = 0;
    if (loader_check_dir(dir, err, err_size) != PA_OK)
        return PA_ERR_CONFIG;
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, err_size, "plugins directory '%s': %s", dir, strerror(errno));
        return PA_ERR_CONFIG;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = PA_OK;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.' || !has_so_suffix(e->d_name))
            continue;
        if (n == cap) {
            size_t new_cap = cap ? cap * 2 : 16;
            char **grown = realloc(names, new_cap * sizeof *grown);
            if (!grown) {
                rc = PA_ERR_NOMEM;
                break;
            }
            names = grown;
            cap = new_cap;
        }
        if (!(names[n] = strdup(e->d_name))) {
            rc = PA_ERR_NOMEM;
            break;
        }
        n++;
    }
    closedir(d);
    loaded_plugin *plugins = rc == PA_OK ? calloc(n ? n : 1, sizeof *plugins) : NULL;
    if (!plugins) {
        snprintf(err, err_size, "out of memory scanning '%s'", dir);
        rc = PA_ERR_NOMEM;
    } else {
        qsort(names, n, sizeof *names, compare_names);
        for (size_t i = 0; i < n; i++) {
            char why[1024];
            if (loader_open(dir, names[i], &plugins[*count], why, sizeof why) == PA_OK) {
                loaded_plugin *pl = &plugins[*count];
                log_msg(PA_LOG_INFO, "loader", "loaded plugin '%s' version %s (ABI %u.%u) from %s",
                        pl->name, pl->info->version, PA_ABI_MAJOR(pl->info->abi_version),
                        PA_ABI_MINOR(pl->info->abi_version), pl->path);
                (*count)++;
            } else {
                log_msg(PA_LOG_ERROR, "loader", "%s", why);
            }
        }
        *out = plugins;
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

void loader_close_all(loaded_plugin *plugins, size_t count)
{
    for (size_t i = 0; i < count; i++)
        loader_close(&plugins[i]);
    free(plugins);
}
