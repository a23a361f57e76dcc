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

#include "date_parser.h"
#include "pa_plugin.h"

#define TOKEN_FILE_MAX 65536

static void wipe_free(char *s)
{
    if (s) {
        memset(s, 0, strlen(s));
        free(s);
    }
}

void granola_token_free(granola_token *t)
{
    wipe_free(t->access_token);
    wipe_free(t->refresh_token);
    wipe_free(t->client_secret);
    free(t->client_id);
    free(t->token_endpoint);
    free(t->resource);
    free(t->issuer);
    memset(t, 0, sizeof *t);
}

static int dup_field(const char *from, char **to)
{
    *to = NULL;
    return !from || (*to = strdup(from)) ? 0 : -1;
}

int granola_token_copy(const granola_token *from, granola_token *to)
{
    memset(to, 0, sizeof *to);
    to->expires_at_ms = from->expires_at_ms;
    if (dup_field(from->access_token, &to->access_token) ||
        dup_field(from->refresh_token, &to->refresh_token) ||
        dup_field(from->client_id, &to->client_id) ||
        dup_field(from->client_secret, &to->client_secret) ||
        dup_field(from->token_endpoint, &to->token_endpoint) ||
        dup_field(from->resource, &to->resource) || dup_field(from->issuer, &to->issuer)) {
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

int granola_token_load(const char *path, granola_token *out, char *err, size_t err_size)
{
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(err, err_size,
                 "no Granola token: cannot read %s (%s); log in to Granola to create it "
                 "(docs/GRANOLA_PLUGIN.md, \"Logging in\")",
                 path, strerror(errno));
        if (fd >= 0)
            close(fd);
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
        snprintf(err, err_size,
                 "token file %s is larger than %d bytes or unreadable; log in "
                 "again",
                 path, TOKEN_FILE_MAX);
        return PA_ERR_AUTH;
    }
    cJSON *root = cJSON_ParseWithLength(buf, (size_t)len);
    memset(buf, 0, (size_t)len);
    free(buf);
    int rc = PA_OK;
    if (!cJSON_IsObject(root)) {
        snprintf(err, err_size, "token file %s is not a JSON object; log in again", path);
        rc = PA_ERR_AUTH;
    } else {
        take_string(root, "access_token", &out->access_token);
        take_string(root, "refresh_token", &out->refresh_token);
        take_string(root, "client_secret", &out->client_secret);
        const char *keys[] = {"client_id", "token_endpoint", "resource", "issuer"};
        char **fields[] = {&out->client_id, &out->token_endpoint, &out->resource, &out->issuer};
        for (size_t i = 0; i < 4; i++)
            take_string(root, keys[i], fields[i]);
        const cJSON *exp = cJSON_GetObjectItemCaseSensitive(root, "expires_at");
        if (cJSON_IsString(exp) &&
            !gr_parse_date(exp->valuestring, strlen(exp->valuestring), &out->expires_at_ms)) {
            snprintf(err, err_size, "token file %s has an unreadable expires_at; log in again",
                     path);
            rc = PA_ERR_AUTH;
        } else if (!out->access_token || strpbrk(out->access_token, "\r\n")) {
            snprintf(err, err_size, "token file %s has no usable access_token; log in again", path);
            rc = PA_ERR_AUTH;
        }
    }
    cJSON_Delete(root);
    if (rc != PA_OK)
        granola_token_free(out);
    return rc;
}

static cJSON *token_json(const granola_token *t)
{
    cJSON *o = cJSON_CreateObject();
    const char *keys[] = {"access_token",   "refresh_token", "client_id", "client_secret",
                          "token_endpoint", "resource",      "issuer"};
    const char *values[] = {t->access_token,   t->refresh_token, t->client_id, t->client_secret,
                            t->token_endpoint, t->resource,      t->issuer};
    for (size_t i = 0; o && i < sizeof keys / sizeof keys[0]; i++) {
        if (values[i] && !cJSON_AddStringToObject(o, keys[i], values[i])) {
            cJSON_Delete(o);
            return NULL;
        }
    }
    if (o && t->expires_at_ms) {
        char stamp[32];
        time_t secs = (time_t)(t->expires_at_ms / 1000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
        if (!cJSON_AddStringToObject(o, "expires_at", stamp)) {
            cJSON_Delete(o);
            return NULL;
        }
    }
    return o;
}

int granola_token_save(const char *path, const granola_token *t, char *err, size_t err_size)
{
    cJSON *o = token_json(t);
    char *text = o ? cJSON_Print(o) : NULL;
    cJSON_Delete(o);
    char tmp[4096], dir_buf[4096];
    if (!text ||
        (size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= sizeof tmp) {
        cJSON_free(text);
        snprintf(err, err_size, "cannot save the token: out of memory or path too long");
        return PA_ERR_NOMEM;
    }
    size_t len = strlen(text);
    const char *what = NULL;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        what = "create";
    else if (write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1)
        what = "write";
    else if (fsync(fd) != 0)
        what = "fsync";
    int saved_errno = errno;
    if (fd >= 0 && close(fd) != 0 && !what) {
        what = "close";
        saved_errno = errno;
    }
    memset(text, 0, len);
    cJSON_free(text);
    if (!what && rename(tmp, path) != 0) {
        what = "rename";
        saved_errno = errno;
    }
    if (what) {
        if (fd >= 0)
            unlink(tmp);
        snprintf(err, err_size,
                 "cannot save the token to %s (%s: %s); the previous file is "
                 "unchanged",
                 path, what, strerror(saved_errno));
        return PA_ERR_AUTH;
    }
    /* Make the rename itself durable. */
    snprintf(dir_buf, sizeof dir_buf, "%s", path);
    int dfd = open(dirname(dir_buf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return PA_OK;
}
