#include "token_file.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crash_point.h"
#include "date_parser.h"
#include "json_whole.h"
#include "pa_plugin.h"
#include "regular_file.h"
#include "secret.h"

#define TOKEN_FILE_MAX 65536

void granola_token_free(granola_token *t)
{
    secret_free(t->access_token);
    secret_free(t->refresh_token);
    secret_free(t->client_secret);
    free(t->client_id);
    free(t->token_endpoint);
    free(t->resource);
    free(t->issuer);
    cJSON_Delete(t->extra);
    memset(t, 0, sizeof *t);
}

static int dup_field(const char *from, char **to)
{
    *to = NULL;
    return !from || (*to = strdup(from)) ? 0 : -1;
}

int granola_token_copy_for_renewal(const granola_token *from, granola_token *to)
{
    memset(to, 0, sizeof *to);
    to->expires_at_ms = from->expires_at_ms;
    if (dup_field(from->refresh_token, &to->refresh_token) ||
        dup_field(from->client_id, &to->client_id) ||
        dup_field(from->client_secret, &to->client_secret) ||
        dup_field(from->token_endpoint, &to->token_endpoint) ||
        dup_field(from->resource, &to->resource) || dup_field(from->issuer, &to->issuer) ||
        (from->extra && !(to->extra = cJSON_Duplicate(from->extra, 1)))) {
        granola_token_free(to);
        return PA_ERR_NOMEM;
    }
    return PA_OK;
}

static int take_string(cJSON *root, const char *key, char **out)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    *out = NULL;
    if (!cJSON_IsString(v) || v->valuestring[0] == '\0')
        return 0;
    /* Detach the string rather than copy it, so no second copy of a secret lingers. */
    *out = v->valuestring;
    v->valuestring = NULL;
    v->type = cJSON_NULL;
    return 0;
}

/* The fields this module manages; every other field of the file is kept in extra. */
static const char *const MANAGED[] = {"access_token", "refresh_token",  "client_secret",
                                      "client_id",    "token_endpoint", "resource",
                                      "issuer",       "expires_at"};
#define N_MANAGED (sizeof MANAGED / sizeof MANAGED[0])

static int parse_token_json(const char *text, size_t len, const char *path, cJSON **root, char *err,
                            size_t err_size)
{
    char why[128] = "not an object";
    *root = json_parse_whole(text, len, why, sizeof why);
    if (cJSON_IsObject(*root))
        return PA_OK;
    cJSON_Delete(*root);
    *root = NULL;
    snprintf(err, err_size, "token file %s is not a JSON object (%s); log in again", path, why);
    return PA_ERR_AUTH;
}

/* The file's bytes as JSON, refusing loose permissions; errno-style message on failure. */
static int read_token_json(const char *path, cJSON **root, char *err, size_t err_size)
{
    *root = NULL;
    struct stat st;
    const char *why = NULL;
    int fd = regular_file_open(path, O_NOFOLLOW, &st, &why);
    if (fd < 0) {
        snprintf(err, err_size,
                 "no Granola token: cannot read %s (%s); log in to Granola to create it "
                 "(docs/GRANOLA_PLUGIN.md, \"Logging in\")",
                 path, why);
        return PA_ERR_AUTH;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        snprintf(err, err_size,
                 "refusing token file %s: readable or writable by group or others (mode %04o); "
                 "run: chmod 600 %s",
                 path, (unsigned)(st.st_mode & 07777), path);
        close(fd);
        return PA_ERR_AUTH;
    }
    char *buf = st.st_size <= TOKEN_FILE_MAX ? malloc((size_t)st.st_size + 1) : NULL;
    ssize_t len = buf ? read(fd, buf, (size_t)st.st_size) : -1;
    close(fd);
    if (!buf || len < 0) {
        free(buf);
        snprintf(err, err_size, "token file %s is larger than %d bytes or unreadable; log in again",
                 path, TOKEN_FILE_MAX);
        return PA_ERR_AUTH;
    }
    int rc = parse_token_json(buf, (size_t)len, path, root, err, err_size);
    secret_wipe(buf, (size_t)len);
    free(buf);
    return rc;
}

/* Moves the managed fields out of root into out; root keeps the rest. */
static int take_fields(cJSON *root, const char *path, granola_token *out, char *err,
                       size_t err_size)
{
    char **fields[] = {&out->access_token, &out->refresh_token,  &out->client_secret,
                       &out->client_id,    &out->token_endpoint, &out->resource,
                       &out->issuer};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        take_string(root, MANAGED[i], fields[i]);
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(root, "expires_at");
    if (cJSON_IsString(exp) &&
        !gr_parse_date(exp->valuestring, strlen(exp->valuestring), &out->expires_at_ms)) {
        snprintf(err, err_size, "token file %s has an unreadable expires_at; log in again", path);
        return PA_ERR_AUTH;
    }
    if (!out->access_token || strpbrk(out->access_token, "\r\n")) {
        snprintf(err, err_size, "token file %s has no usable access_token; log in again", path);
        return PA_ERR_AUTH;
    }
    for (size_t i = 0; i < N_MANAGED; i++)
        cJSON_DeleteItemFromObjectCaseSensitive(root, MANAGED[i]);
    return PA_OK;
}

/* Fills out from root (consumed) by the file's rules. */
static int token_from_json(cJSON *root, const char *path, granola_token *out, char *err,
                           size_t err_size);

int granola_token_parse(const char *text, size_t len, const char *path, granola_token *out,
                        char *err, size_t err_size)
{
    memset(out, 0, sizeof *out);
    cJSON *root;
    int rc = parse_token_json(text, len, path, &root, err, err_size);
    return rc == PA_OK ? token_from_json(root, path, out, err, err_size) : rc;
}

static int load_one(const char *path, granola_token *out, char *err, size_t err_size)
{
    memset(out, 0, sizeof *out);
    cJSON *root;
    int rc = read_token_json(path, &root, err, err_size);
    return rc == PA_OK ? token_from_json(root, path, out, err, err_size) : rc;
}

static int token_from_json(cJSON *root, const char *path, granola_token *out, char *err,
                           size_t err_size)
{
    int rc = take_fields(root, path, out, err, err_size);
    if (rc == PA_OK && cJSON_GetArraySize(root) > 0) {
        out->extra = root;
        root = NULL;
    }
    cJSON_Delete(root);
    if (rc != PA_OK)
        granola_token_free(out);
    return rc;
}

static void sync_directory_of(const char *path)
{
    char dir_buf[4096];
    snprintf(dir_buf, sizeof dir_buf, "%s", path);
    int dfd = open(dirname(dir_buf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
}

/*
 * A complete PATH.pending is the newest token (a save was interrupted before
 * its rename): it replaces PATH. An incomplete one was never the token in use.
 */
static bool promote_pending(const char *path, const char *pending)
{
    granola_token t;
    char ignored[512];
    if (access(pending, F_OK) != 0)
        return false;
    bool valid = load_one(pending, &t, ignored, sizeof ignored) == PA_OK;
    granola_token_free(&t);
    if (!valid || rename(pending, path) != 0) {
        unlink(pending);
        return false;
    }
    sync_directory_of(path);
    return true;
}

int granola_token_read(const char *path, granola_token *out, char *err, size_t err_size)
{
    return load_one(path, out, err, err_size);
}

int granola_token_load(const char *path, granola_token *out, char *err, size_t err_size)
{
    char pending[4096];
    bool recovered =
        (size_t)snprintf(pending, sizeof pending, "%s.pending", path) < sizeof pending &&
        promote_pending(path, pending);
    int rc = load_one(path, out, err, err_size);
    out->recovered = rc == PA_OK && recovered;
    return rc;
}

/* expires_at as the agent's Python writes it (isoformat, UTC): "2026-11-29T12:00:00.123000+00:00".
 */
static void format_expires_at(int64_t ms, char out[40])
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char day[24];
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 40, "%s.%06d+00:00", day, (int)(ms % 1000) * 1000);
}

/* The file's JSON: t's extra fields, then the managed ones; valid while t is unchanged. */
static cJSON *token_json(const granola_token *t)
{
    cJSON *o = t->extra ? cJSON_Duplicate(t->extra, 1) : cJSON_CreateObject();
    const char *values[] = {t->access_token,   t->refresh_token, t->client_secret, t->client_id,
                            t->token_endpoint, t->resource,      t->issuer};
    for (size_t i = 0; o && i < N_MANAGED; i++)
        cJSON_DeleteItemFromObjectCaseSensitive(o, MANAGED[i]);
    /* References, not copies: the tree never holds a second copy of a secret to wipe. */
    for (size_t i = 0; o && i < sizeof values / sizeof values[0]; i++) {
        cJSON *ref = values[i] ? cJSON_CreateStringReference(values[i]) : NULL;
        if (values[i] && (!ref || !cJSON_AddItemToObject(o, MANAGED[i], ref))) {
            cJSON_Delete(ref);
            cJSON_Delete(o);
            return NULL;
        }
    }
    char stamp[40];
    if (o && t->expires_at_ms) {
        format_expires_at(t->expires_at_ms, stamp);
        if (!cJSON_AddStringToObject(o, "expires_at", stamp)) {
            cJSON_Delete(o);
            return NULL;
        }
    }
    return o;
}

int granola_token_prepare_dir(const char *path, bool *created, char *err, size_t err_size)
{
    char dir[4096];
    *created = false;
    if ((size_t)snprintf(dir, sizeof dir, "%s", path) >= sizeof dir) {
        snprintf(err, err_size, "token path too long: %.200s", path);
        return PA_ERR_AUTH;
    }
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return PA_OK; /* the current directory, or the root */
    *slash = '\0';
    for (char *p = dir + 1;; p++) {
        bool last = *p == '\0';
        if (*p != '/' && !last)
            continue;
        *p = '\0';
        struct stat st;
        if (mkdir(dir, 0700) == 0) {
            *created = true;
        } else if (errno != EEXIST || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            snprintf(err, err_size, "cannot create the token's folder %s: %s", dir,
                     errno == EEXIST ? "it is not a directory" : strerror(errno));
            return PA_ERR_AUTH;
        }
        if (last)
            return PA_OK;
        *p = '/';
    }
}

/* Writes text to path (created 0600, or truncated), fsynced; the failing step or NULL. */
static const char *write_synced(const char *path, const char *text, int *saved_errno)
{
    size_t len = strlen(text);
    const char *what = NULL;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        what = "create";
    else if (fchmod(fd, 0600) != 0)
        what = "chmod";
    else if (write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1)
        what = "write";
    else if (fsync(fd) != 0)
        what = "fsync";
    *saved_errno = errno;
    if (fd >= 0 && close(fd) != 0 && !what) {
        what = "close";
        *saved_errno = errno;
    }
    return what;
}

int granola_token_save(const char *path, const granola_token *t, char *err, size_t err_size)
{
    cJSON *o = token_json(t);
    char *text = o ? cJSON_Print(o) : NULL;
    cJSON_Delete(o);
    char pending[4096];
    if (!text || (size_t)snprintf(pending, sizeof pending, "%s.pending", path) >= sizeof pending) {
        cJSON_free(text);
        snprintf(err, err_size, "cannot save the token: out of memory or path too long");
        return PA_ERR_NOMEM;
    }
    int saved_errno = 0;
    const char *what = write_synced(pending, text, &saved_errno);
    secret_wipe(text, strlen(text));
    cJSON_free(text);
    if (!what) {
        sync_directory_of(pending); /* from here on the next load finds the new token */
        crash_point("token_save:pending_written");
        if (rename(pending, path) != 0) {
            what = "rename";
            saved_errno = errno;
        }
    }
    if (what) {
        unlink(pending);
        snprintf(err, err_size,
                 "cannot save the token to %s (%s: %s); the previous file is unchanged", path, what,
                 strerror(saved_errno));
        return PA_ERR_AUTH;
    }
    crash_point("token_save:renamed");
    sync_directory_of(path);
    return PA_OK;
}
