#include "token_file.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pa_plugin.h"

#define TOKEN_FILE_MAX 65536

int granola_token_read(const char *path, char **access_token, char *err, size_t err_size)
{
    *access_token = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_size,
                 "no Granola token: cannot read %s (%s); log in to Granola to create it "
                 "(docs/GRANOLA.md, \"Logging in\")",
                 path, strerror(errno));
        return PA_ERR_AUTH;
    }
    char *buf = malloc(TOKEN_FILE_MAX + 1);
    size_t len = buf ? fread(buf, 1, TOKEN_FILE_MAX + 1, f) : 0;
    fclose(f);
    if (!buf || len > TOKEN_FILE_MAX) {
        free(buf);
        snprintf(err, err_size, "token file %s is too large or memory ran out", path);
        return PA_ERR_AUTH;
    }
    cJSON *root = cJSON_ParseWithLength(buf, len);
    memset(buf, 0, len);
    free(buf);
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(root, "access_token");
    int rc = PA_OK;
    if (!cJSON_IsObject(root)) {
        snprintf(err, err_size, "token file %s is not a JSON object; log in again", path);
        rc = PA_ERR_AUTH;
    } else if (!cJSON_IsString(tok) || tok->valuestring[0] == '\0') {
        snprintf(err, err_size, "token file %s has no access_token; log in again", path);
        rc = PA_ERR_AUTH;
    } else if (strpbrk(tok->valuestring, "\r\n")) {
        snprintf(err, err_size, "token file %s holds a malformed access_token; log in again", path);
        rc = PA_ERR_AUTH;
    } else if (!(*access_token = strdup(tok->valuestring))) {
        snprintf(err, err_size, "out of memory reading the token");
        rc = PA_ERR_NOMEM;
    }
    if (cJSON_IsString(tok))
        memset(tok->valuestring, 0, strlen(tok->valuestring));
    cJSON_Delete(root);
    return rc;
}
