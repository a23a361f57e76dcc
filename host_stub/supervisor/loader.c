#include "loader.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "group_record.h"
#include "log.h"
#include "object_format.h"
#include "port.h"
#include "regular_file.h"

struct loader {
    char *dir;
    char *runtime_dir;
    unsigned long generation; /* makes every private copy's path unique */
    loader_describe_fn describe;
    void *describe_userdata;
};

/* A plugin or its directory must not be replaceable by anyone but us or root. */
static const char *unsafe_ownership(const struct stat *st)
{
    if (st->st_uid != geteuid() && st->st_uid != 0)
        return "owned by another user";
    if (st->st_mode & (S_IWGRP | S_IWOTH))
        return "writable by group or others";
    return NULL;
}

/*
 * Why the directory st describes could let someone else rename what is in
 * it: owned by another user (not root), or writable by everyone and not
 * sticky (in a sticky one, as /tmp, only an entry's owner may rename it).
 * NULL when it is safe.
 */
static const char *unsafe_parent(const struct stat *st)
{
    if (st->st_uid != geteuid() && st->st_uid != 0)
        return "owned by another user";
    if ((st->st_mode & S_IWOTH) && !(st->st_mode & S_ISVTX))
        return "writable by everyone and not sticky";
    return NULL;
}

/*
 * Every directory above the plugins directory, symlinks resolved, as sshd's
 * StrictModes checks them: anyone who could rename a parent could put their
 * own plugins in its place. Group-writable parents pass (a shared checkout
 * under umask 002 is common); the directory itself may not be (check_dir).
 */
static int check_parents(const char *dir, char *err, size_t err_size)
{
    char *real = realpath(dir, NULL);
    if (!real) {
        snprintf(err, err_size, "plugins directory '%s': %s", dir, strerror(errno));
        return PA_ERR_CONFIG;
    }
    int rc = PA_OK;
    for (char *slash = strrchr(real, '/'); slash && rc == PA_OK; slash = strrchr(real, '/')) {
        *slash = '\0'; /* real is now the parent */
        const char *parent = real[0] ? real : "/";
        struct stat st = {0};
        const char *why = stat(parent, &st) != 0 ? strerror(errno) : unsafe_parent(&st);
        if (why) {
            snprintf(err, err_size,
                     "refusing plugins directory '%s': its parent '%s' is %s (mode %04o); anyone "
                     "who can rename it can replace the plugins",
                     dir, parent, why, (unsigned)(st.st_mode & 07777));
            rc = PA_ERR_CONFIG;
        }
        if (!real[0])
            break;
    }
    free(real);
    return rc;
}

static int check_dir(const char *dir, char *err, size_t err_size)
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
    return check_parents(dir, err, err_size);
}

/* Removes path's files, then path itself; quietly, best effort. */
static void remove_dir_files(const char *path)
{
    DIR *d = opendir(path);
    for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            unlinkat(dirfd(d), e->d_name, 0);
    }
    if (d)
        closedir(d);
    rmdir(path);
}

/*
 * Runtime folders of hosts that died without cleaning up (kill -9, a crash):
 * host_stub-PID-XXXXXX under base whose PID no longer runs and whose owner
 * is this user. What their workers' plugins started and left running is
 * ended first (group_record.h).
 */
static void remove_stale_runtime_dirs(const char *base)
{
    DIR *d = opendir(base);
    for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
        long pid = 0;
        char tail[16];
        if (sscanf(e->d_name, "host_stub-%ld-%15s", &pid, tail) != 2 || pid <= 0 ||
            strlen(tail) != 6 || (kill((pid_t)pid, 0) == 0 || errno != ESRCH))
            continue;
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", base, e->d_name);
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == getuid()) {
            size_t groups = group_record_end_left(path);
            if (groups)
                log_msg(PA_LOG_WARN, "loader",
                        "killed what was left of %zu worker process group(s) of host_stub pid "
                        "%ld, which ended without a stop (processes its plugins started)",
                        groups, pid);
            remove_dir_files(path);
            log_msg(PA_LOG_INFO, "loader", "removed %s, left by host_stub pid %ld", path, pid);
        }
    }
    if (d)
        closedir(d);
}

int loader_new(const char *dir, loader_describe_fn describe, void *userdata, loader **out,
               char *err, size_t err_size)
{
    *out = NULL;
    int rc = check_dir(dir, err, err_size);
    if (rc != PA_OK)
        return rc;
    loader *l = calloc(1, sizeof *l);
    const char *base = getenv("XDG_RUNTIME_DIR");
    base = base && *base ? base : "/tmp";
    remove_stale_runtime_dirs(base);
    char templ[4096];
    snprintf(templ, sizeof templ, "%s/host_stub-%ld-XXXXXX", base, (long)getpid());
    if (!l || !(l->dir = strdup(dir)) || !mkdtemp(templ) || !(l->runtime_dir = strdup(templ))) {
        snprintf(err, err_size, "cannot create the plugin runtime directory %s: %s", templ,
                 strerror(errno));
        if (l && !l->runtime_dir)
            rmdir(templ);
        if (l)
            free(l->dir);
        free(l);
        return PA_ERR_GENERIC;
    }
    l->describe = describe;
    l->describe_userdata = userdata;
    group_record_into(l->runtime_dir);
    *out = l; /* mkdtemp made it 0700 */
    return PA_OK;
}

void loader_free(loader *l)
{
    if (!l)
        return;
    group_record_into(NULL);
    if (rmdir(l->runtime_dir) != 0)
        log_msg(PA_LOG_WARN, "loader", "cannot remove runtime directory %s: %s", l->runtime_dir,
                strerror(errno));
    free(l->runtime_dir);
    free(l->dir);
    free(l);
}

const char *loader_dir(const loader *l)
{
    return l->dir;
}

static int refuse(char *err, size_t err_size, const char *path, const char *why)
{
    snprintf(err, err_size, "refusing plugin '%s': %s", path, why);
    return PA_ERR_INVALID;
}

/* Copies size bytes of src into a new file at dst (mode 0500). */
static const char *copy_file(int src, off_t size, const char *dst)
{
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
    if (out < 0)
        return "cannot create the private copy";
    char buf[65536];
    off_t done = 0;
    const char *why = NULL;
    while (!why && done < size) {
        size_t want = (size_t)(size - done) < sizeof buf ? (size_t)(size - done) : sizeof buf;
        ssize_t n = pread(src, buf, want, done);
        if (n <= 0)
            why = "file shrank while being copied";
        else if (write(out, buf, (size_t)n) != n)
            why = "cannot write the private copy";
        else
            done += n;
    }
    if (!why && fchmod(out, 0500) != 0)
        why = "cannot set the private copy's mode";
    if (close(out) != 0 && !why)
        why = "cannot write the private copy";
    if (why)
        unlink(dst);
    return why;
}

static int describe(loader *l, loaded_plugin *pl, const char *path, const char *name, char *err,
                    size_t err_size)
{
    if (!pl->private_path)
        return refuse(err, err_size, path, "out of memory");
    return l->describe(l->describe_userdata, pl->private_path, path, name, &pl->description, err,
                       err_size);
}

/* The names every loaded plugin carries, and the warning for a misleading inner name. */
static int finish(loaded_plugin *pl, const char *path, const char *name, char *err, size_t err_size)
{
    pl->name = strdup(name);
    pl->path = strdup(path);
    if (!pl->name || !pl->path || !pl->private_path)
        return refuse(err, err_size, path, "out of memory");
    /*
     * The file name is the plugin's name (host.json, logs); a different inner
     * name misleads. Said once, where the file is checked, not by each worker.
     */
    if (strcmp(pl->name, pl->description.name) != 0)
        log_msg(PA_LOG_WARN, "loader",
                "plugin file %s describes itself as '%.64s'; host.json and the logs call it '%s' "
                "(the file name)",
                path, pl->description.name, pl->name);
    return PA_OK;
}

int loader_open(loader *l, const char *file_name, loaded_plugin **out, char *err, size_t err_size)
{
    *out = NULL;
    char path[4096], private_path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", l->dir, file_name) >= sizeof path)
        return refuse(err, err_size, file_name, "path too long");
    /* Check and copy through one descriptor: no name can be swapped in between. */
    struct stat st;
    const char *why = NULL;
    int fd = regular_file_open(path, O_NOFOLLOW, &st, &why);
    if (fd < 0)
        return refuse(err, err_size, path, why);
    if (!(why = unsafe_ownership(&st)))
        why = object_file_incomplete(fd, st.st_size);
    size_t base_len = strlen(file_name) - 3; /* caller guarantees the ".so" suffix */
    if (!why) {
        snprintf(private_path, sizeof private_path, "%s/%.*s.%lu.so", l->runtime_dir, (int)base_len,
                 file_name, ++l->generation);
        why = copy_file(fd, st.st_size, private_path);
    }
    close(fd);
    if (why)
        return refuse(err, err_size, path, why);

    loaded_plugin *pl = calloc(1, sizeof *pl);
    if (!pl) {
        unlink(private_path);
        return refuse(err, err_size, path, "out of memory");
    }
    pl->private_path = strdup(private_path);
    char name[256];
    snprintf(name, sizeof name, "%.*s", (int)base_len, file_name);
    int rc = describe(l, pl, path, name, err, err_size);
    if (rc == PA_OK)
        rc = finish(pl, path, name, err, err_size);
    if (rc != PA_OK) {
        if (!pl->private_path)
            unlink(private_path);
        loader_close(pl);
        return rc;
    }
    pl->source = (plugin_identity){st.st_dev, st.st_ino, st.st_size, PORT_STAT_MTIME(st)};
    *out = pl;
    return PA_OK;
}

void loader_close(loaded_plugin *plugin)
{
    if (!plugin)
        return;
    if (plugin->private_path)
        unlink(plugin->private_path);
    free(plugin->private_path);
    free(plugin->name);
    free(plugin->path);
    free(plugin);
}

bool loader_same_source(const loaded_plugin *plugin, const struct stat *st)
{
    const plugin_identity *id = &plugin->source;
    return id->dev == st->st_dev && id->ino == st->st_ino && id->size == st->st_size &&
           id->mtime.tv_sec == PORT_STAT_MTIME(*st).tv_sec &&
           id->mtime.tv_nsec == PORT_STAT_MTIME(*st).tv_nsec;
}

bool loader_is_plugin_name(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && n > 3 && strcmp(name + n - 3, ".so") == 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int loader_scan(loader *l, loaded_plugin ***out, size_t *count, char *err, size_t err_size)
{
    *out = NULL;
    *count = 0;
    DIR *d = opendir(l->dir);
    if (!d) {
        snprintf(err, err_size, "plugins directory '%s': %s", l->dir, strerror(errno));
        return PA_ERR_CONFIG;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = PA_OK;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (!loader_is_plugin_name(e->d_name))
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
    loaded_plugin **plugins = rc == PA_OK ? calloc(n ? n : 1, sizeof *plugins) : NULL;
    if (!plugins) {
        snprintf(err, err_size, "out of memory scanning '%s'", l->dir);
        rc = PA_ERR_NOMEM;
    } else {
        if (n) /* qsort may not be passed NULL, even for no elements */
            qsort(names, n, sizeof *names, compare_names);
        for (size_t i = 0; i < n; i++) {
            char why[1024];
            loaded_plugin *pl;
            if (loader_open(l, names[i], &pl, why, sizeof why) == PA_OK) {
                log_msg(PA_LOG_INFO, "loader", "loaded plugin '%s' version %s (ABI %u.%u) from %s",
                        pl->name, pl->description.version,
                        PA_ABI_MAJOR(pl->description.abi_version),
                        PA_ABI_MINOR(pl->description.abi_version), pl->path);
                plugins[(*count)++] = pl;
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
