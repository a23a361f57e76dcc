/*
 * The SQLite file under a running host, watched (docs/OPERATIONS.md, "The
 * database"): a database file or -wal deleted or replaced while the host runs
 * would take every task written from then on with it, without an error from
 * SQLite. Checked cheaply (fstat and stat, no I/O on the data) each turn of
 * the supervisor's loop.
 */
#ifndef SUPERVISOR_DB_WATCH_H
#define SUPERVISOR_DB_WATCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct db_watch {
    const char *path;  /* the database file; borrowed */
    int db_fd, wal_fd; /* held open, so a deleted file's link count can be read; -1: none */
    dev_t db_dev, wal_dev;
    ino_t db_ino, wal_ino;
    uint64_t armed_at; /* the supervisor pool's connections_opened when the -wal was taken */
} db_watch;

/*
 * Starts watching path and its -wal, while the supervisor holds a connection
 * (connections_opened: its pool's count now). 0, or -1 with errno when the
 * file cannot be opened. A watch of nothing (path NULL) checks nothing.
 */
int db_watch_open(db_watch *w, const char *path, uint64_t connections_opened);
/*
 * 0 while the file and -wal are the ones watched; -1 with one line in err
 * when either was deleted or replaced. The -wal is taken anew when the
 * supervisor's pool opened a connection since (connections_opened changed):
 * SQLite deletes it when the last connection closes, and only then.
 */
int db_watch_check(db_watch *w, uint64_t connections_opened, char *err, size_t err_size);
void db_watch_close(db_watch *w);

#endif
