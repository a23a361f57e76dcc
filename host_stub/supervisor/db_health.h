/*
 * The database file's health: SQLite's quick_check at start (and, when
 * configured, periodically), so a damaged file is refused with a message
 * saying what to do instead of being used without a word.
 */
#ifndef HOST_DB_HEALTH_H
#define HOST_DB_HEALTH_H

#include <stddef.h>

#include "pool.h"

/*
 * Runs PRAGMA quick_check on a READ lease. PA_OK when SQLite says "ok";
 * otherwise PA_ERR_DB with one line naming the file, SQLite's first findings
 * and how to recover (sqlite3 FILE .recover).
 */
int db_quick_check(pool *p, pool_owner *host, const char *path, char *err, size_t err_size);

#endif
