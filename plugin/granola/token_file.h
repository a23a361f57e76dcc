/* Reads the bearer token from Granola's token file (JSON, see docs/GRANOLA.md). */
#ifndef GRANOLA_TOKEN_FILE_H
#define GRANOLA_TOKEN_FILE_H

#include <stddef.h>

/*
 * On success *access_token is a new string the caller frees (and should wipe).
 * Errors are PA_ERR_AUTH with a message that says how to fix it; the message
 * never contains the token.
 */
int granola_token_read(const char *path, char **access_token, char *err, size_t err_size);

#endif
