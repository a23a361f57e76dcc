#include "pg_env.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *pg_admin_url(void)
{
    static char url[512];
    if (url[0])
        return url;
    const char *given = getenv("PA_TEST_PG_URL");
    if (given && given[0]) {
        snprintf(url, sizeof url, "%s", given);
        return url;
    }
    FILE *f = fopen(PA_TEST_PG_URL_FILE, "r");
    if (!f || !fgets(url, sizeof url, f))
        fail_msg("no PostgreSQL server for the tests: %s is missing. ctest starts one (fixture "
                 "pg_server, scripts/pg_cluster.sh; Debian package postgresql), or set "
                 "PA_TEST_PG_URL",
                 PA_TEST_PG_URL_FILE);
    fclose(f);
    url[strcspn(url, "\r\n")] = '\0';
    return url;
}

static void drop_notice(void *arg, const char *message)
{
    (void)arg, (void)message; /* "database ... does not exist, skipping" */
}

static PGconn *connect_or_fail(const char *url)
{
    /* No GSSAPI: Kerberos keeps per-thread state LeakSanitizer reports at exit. */
    const char *keys[] = {"gssencmode", "dbname", NULL};
    const char *values[] = {"disable", url, NULL};
    PGconn *c = PQconnectdbParams(keys, values, 1);
    if (PQstatus(c) != CONNECTION_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(c));
        PQfinish(c);
        fail_msg("cannot connect to the test PostgreSQL at %s: %s", url, msg);
    }
    PQsetNoticeProcessor(c, drop_notice, NULL);
    return c;
}

void pg_exec(const char *url, const char *sql)
{
    PGconn *c = connect_or_fail(url);
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, msg);
}

long pg_scalar(const char *url, const char *sql)
{
    PGconn *c = connect_or_fail(url);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) < 1) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(r));
        PQclear(r);
        PQfinish(c);
        fail_msg("%s: %s", sql, msg);
    }
    long v = PQgetisnull(r, 0, 0) ? 0 : strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    PQfinish(c);
    return v;
}

/* The admin URL with its database replaced by name. */
static void url_for(const char *name, char *url, size_t url_size)
{
    const char *admin = pg_admin_url();
    const char *slash = strrchr(admin, '/');
    snprintf(url, url_size, "%.*s/%s", (int)(slash - admin), admin, name);
}

void pg_db_create(char *url, size_t url_size, char *name, size_t name_size)
{
    static unsigned counter;
    snprintf(name, name_size, "pa_test_%ld_%u", (long)getpid(), ++counter);
    char sql[160];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    pg_exec(pg_admin_url(), sql);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    pg_exec(pg_admin_url(), sql);
    url_for(name, url, url_size);
}

void pg_db_drop(const char *name)
{
    char sql[160];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    pg_exec(pg_admin_url(), sql);
}

bool pg_backend_selected(void)
{
    const char *b = getenv("PA_TEST_BACKEND");
    return b && strcmp(b, "postgresql") == 0;
}
