/*
 * The database's health at start (and, when configured, periodically):
 * db_check through the pool (db.h), so a damaged SQLite file is refused with a
 * message saying what to do instead of being used without a word, and an
 * unreachable PostgreSQL server is named.
 */
#ifndef HOST_DB_HEALTH_H
#define HOST_DB_HEALTH_H

#include <stddef.h>

#include "pool.h"

/*
 * Runs db_check on a READ lease: PA_OK, or a status with one line in err
 * (SQLite: the file, quick_check's first findings and how to recover;
 * PostgreSQL: the server's answer).
 */
int db_quick_check(pool *p, pool_owner *host, const char *path, char *err, size_t err_size);

#endif
