/*
 * regular_file: open a file this project reads (a plugin, host.json, a token
 * file) so that open() itself can never block. A FIFO opened for reading
 * waits for a writer forever, and a device node may wait too; O_NONBLOCK
 * makes open() return at once, and the fstat() that follows refuses anything
 * that is not a regular file before a single byte is read.
 */
#ifndef PA_REGULAR_FILE_H
#define PA_REGULAR_FILE_H

#include <stddef.h>
#include <sys/stat.h>

/*
 * Opens path read-only, close-on-exec, with extra_flags added (O_NOFOLLOW or
 * 0). Returns a descriptor of a regular file, in blocking mode again, with
 * *st filled in; the caller closes it. On failure returns -1 with *why set to
 * a static string: "is a symbolic link" (ELOOP under O_NOFOLLOW), "not a
 * regular file (a FIFO)" (or a directory, a socket, a device), or
 * strerror(errno). errno is kept from the failing call.
 */
int regular_file_open(const char *path, int extra_flags, struct stat *st, const char **why);

/*
 * The whole regular file at path, at most max bytes, NUL-terminated (the
 * text may hold NULs of its own: *len says how long it is); free() it. NULL
 * with why set: "cannot open: REASON", "cannot read", "out of memory", or
 * "larger than N bytes".
 */
char *regular_file_read(const char *path, size_t max, size_t *len, char *why, size_t why_size);

#endif
