/*
 * The tests' PostgreSQL: the server the ctest fixture "pg_server" starts
 * (scripts/pg_cluster.sh, its URL in PA_TEST_PG_URL_FILE), or the one
 * PA_TEST_PG_URL names. Each test gets a database of its own, dropped after.
 * No server is a test failure with a message, never a skip.
 */
#ifndef PG_ENV_H
#define PG_ENV_H

#include <stdbool.h>
#include <stddef.h>

/* The admin URL (the cluster's "postgres" database); fails the test when there is none. */
const char *pg_admin_url(void);
/* Creates a new empty database; its URL into url, its name into name. */
void pg_db_create(char *url, size_t url_size, char *name, size_t name_size);
/* Drops it, ending its connections first. */
void pg_db_drop(const char *name);
/* The first column of the first row of sql on url, as an integer; fails the test on error. */
long pg_scalar(const char *url, const char *sql);
/* Runs sql on url; fails the test on error. */
void pg_exec(const char *url, const char *sql);
/* True when the tests run the host on PostgreSQL (PA_TEST_BACKEND=postgresql). */
bool pg_backend_selected(void);

#endif
