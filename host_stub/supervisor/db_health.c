#include "db_health.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int damaged(const char *path, const char *findings, char *err, size_t err_size)
{
    snprintf(err, err_size,
             "database %s is damaged (SQLITE_CORRUPT; quick_check: %.300s); host_stub will not "
             "use it. Stop everything that uses it and recover it: sqlite3 %s .recover | sqlite3 "
             "%s.recovered, then start with --db %s.recovered",
             path, findings, path, path, path);
    return PA_ERR_DB;
}

int db_quick_check(pool *p, pool_owner *host, const char *path, char *err, size_t err_size)
{
    pa_lease lease;
    int rc = pool_lease(p, host, PA_LEASE_READ, -1, POOL_HERE, &lease, err, err_size);
    if (rc != PA_OK)
        return rc;
    sqlite3 *db = pool_lease_db(p, host, lease, POOL_HERE);
    sqlite3_stmt *stmt = NULL;
    char findings[512] = "";
    bool ok = false;
    /* At most three findings: enough to name the damage, quick to stop. */
    int sr = sqlite3_prepare_v2(db, "PRAGMA quick_check(3)", -1, &stmt, NULL);
    while (sr == SQLITE_OK && (sr = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *line = (const char *)sqlite3_column_text(stmt, 0);
        ok = ok || (line && strcmp(line, "ok") == 0);
        size_t used = strlen(findings);
        snprintf(findings + used, sizeof findings - used, "%s%s", used ? "; " : "",
                 line ? line : "?");
        sr = SQLITE_OK;
    }
    int code = sqlite3_errcode(db);
    sqlite3_finalize(stmt);
    char release_err[256];
    pool_release(p, host, lease, PA_RELEASE_COMMIT, POOL_HERE, release_err, sizeof release_err);
    if (ok && sr == SQLITE_DONE)
        return PA_OK;
    if (sr == SQLITE_DONE || (code & 0xff) == SQLITE_CORRUPT || (code & 0xff) == SQLITE_NOTADB)
        return damaged(path, findings[0] ? findings : sqlite3_errstr(code), err, err_size);
    snprintf(err, err_size, "cannot check database %s: %s", path, sqlite3_errstr(code));
    return PA_ERR_DB;
}
