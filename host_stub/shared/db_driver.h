/*
 * What an engine's driver gives db.c (db.h is the interface; this is the
 * plug behind it). One driver per engine, each in its own file: db_sqlite.c,
 * db_pg.c. db.c keeps what every engine shares: the statement cache, the
 * error code, the time format.
 */
#ifndef SHARED_DB_DRIVER_H
#define SHARED_DB_DRIVER_H

#include "db.h"

#define DB_CACHE_SIZE 16

/* A value to bind. */
typedef struct db_value {
    db_type type;
    bool is_time; /* an INTEGER of UTC microseconds, stored as the engine stores a time */
    int64_t i;
    double d;
    const void *p; /* TEXT or BLOB */
    size_t len;
} db_value;

typedef struct db_driver {
    db_kind kind;
    /* "SQLite 3.40.1 (built with 3.40.1)": the library in use and the one built against. */
    void (*version)(char *out, size_t out_size);
    int (*open)(const db_settings *settings, db_conn **out, char *err, size_t err_size);
    void (*close)(db_conn *c); /* after db.c freed the statements */
    /* lock_wait_ms < 0: the connection's own wait for locks */
    int (*lease_begin)(db_conn *c, pa_lease_mode mode, int lock_wait_ms, char *err,
                       size_t err_size);
    int (*lease_end)(db_conn *c, bool commit, db_cleanup *cleanup, char *err, size_t err_size);
    bool (*unusable)(db_conn *c, char *why, size_t why_size);
    int (*exec)(db_conn *c, const char *sql, char *err, size_t err_size);
    int (*check)(db_conn *c, char *err, size_t err_size);
    /* A new statement (db.c caches it); NULL with *status and err set. */
    db_stmt *(*prepare)(db_conn *c, const char *sql, int *status, char *err, size_t err_size);
    void (*reset)(db_stmt *st); /* back to unrun, bindings cleared */
    void (*finalize)(db_stmt *st);
    int (*bind)(db_stmt *st, int index, const db_value *v);
    int (*step)(db_stmt *st, bool *row, char *err, size_t err_size);
    int64_t (*changes)(const db_stmt *st);
    int (*column_count)(const db_stmt *st);
    db_type (*column_type)(const db_stmt *st, int i);
    int64_t (*column_int64)(const db_stmt *st, int i);
    double (*column_double)(const db_stmt *st, int i);
    const char *(*column_text)(const db_stmt *st, int i, size_t *len);
    const void *(*column_blob)(const db_stmt *st, int i, size_t *len);
} db_driver;

/* Every engine's statement starts with this. */
struct db_stmt {
    db_conn *conn;
    char *sql; /* the cache key, owned */
    uint64_t last_used;
    bool touched; /* used in the current lease */
};

/* Every engine's connection starts with this. */
struct db_conn {
    const db_driver *driver;
    db_stmt *cache[DB_CACHE_SIZE];
    uint64_t tick;
    bool exposed;  /* a raw handle went to the holder in this lease */
    bool touched;  /* some cached statement was used in this lease */
    char code[16]; /* the engine's code of the last failure, "" after success */
};

extern const db_driver db_sqlite_driver;
extern const db_driver db_pg_driver;

/* Sets c's error code (NULL or "": none). */
void db_set_code(db_conn *c, const char *code);

#endif
