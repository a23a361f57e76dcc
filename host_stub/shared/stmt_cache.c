#include "stmt_cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The entry holding sql, or NULL; *victim gets an empty entry, else the least
 * recently used one not handed out in this lease, else NULL. */
static stmt_cache_entry *lookup(stmt_cache *c, const char *sql, stmt_cache_entry **victim)
{
    *victim = NULL;
    for (int i = 0; i < STMT_CACHE_SIZE; i++) {
        stmt_cache_entry *e = &c->entries[i];
        if (e->sql && strcmp(e->sql, sql) == 0)
            return e;
        if (!e->touched &&
            (!*victim || ((*victim)->sql && (!e->sql || e->last_used < (*victim)->last_used))))
            *victim = e;
    }
    return NULL;
}

sqlite3_stmt *stmt_cache_get(stmt_cache *c, sqlite3 *db, const char *sql, char *err,
                             size_t err_size)
{
    stmt_cache_entry *victim;
    stmt_cache_entry *hit = lookup(c, sql, &victim);
    if (hit) {
        hit->last_used = ++c->tick;
        hit->touched = c->touched = true;
        return hit->stmt;
    }
    if (!victim) {
        snprintf(err, err_size, "prepare_cached: more than %d cached statements in one lease",
                 STMT_CACHE_SIZE);
        return NULL;
    }
    sqlite3_stmt *stmt = NULL;
    char *copy = strdup(sql);
    if (!copy ||
        sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL) != SQLITE_OK) {
        snprintf(err, err_size, "prepare_cached: %s", copy ? sqlite3_errmsg(db) : "out of memory");
        free(copy);
        return NULL;
    }
    sqlite3_finalize(victim->stmt);
    free(victim->sql);
    *victim = (stmt_cache_entry){copy, stmt, ++c->tick, true};
    c->touched = true;
    return stmt;
}

bool stmt_cache_holds(const stmt_cache *c, const sqlite3_stmt *stmt)
{
    for (int i = 0; i < STMT_CACHE_SIZE; i++) {
        if (stmt == c->entries[i].stmt)
            return true;
    }
    return false;
}

void stmt_cache_end_lease(stmt_cache *c)
{
    if (!c->touched)
        return;
    for (int i = 0; i < STMT_CACHE_SIZE; i++) {
        stmt_cache_entry *e = &c->entries[i];
        if (e->touched) {
            sqlite3_reset(e->stmt);
            sqlite3_clear_bindings(e->stmt);
            e->touched = false;
        }
    }
    c->touched = false;
}

void stmt_cache_clear(stmt_cache *c)
{
    for (int i = 0; i < STMT_CACHE_SIZE; i++) {
        sqlite3_finalize(c->entries[i].stmt);
        free(c->entries[i].sql);
    }
    *c = (stmt_cache){0};
}
