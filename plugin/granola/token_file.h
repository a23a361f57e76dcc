/*
 * Granola's token file: JSON with access_token, refresh_token, expires_at
 * (ISO 8601), client_id, client_secret, and what a refresh needs
 * (token_endpoint, resource). Read before every poll; written atomically
 * (temporary file in the same directory, fsync, rename) with mode 0600.
 * No token ever appears in a message from here.
 */
#ifndef GRANOLA_TOKEN_FILE_H
#define GRANOLA_TOKEN_FILE_H

#include <stddef.h>
#include <stdint.h>

typedef struct granola_token {
    char *access_token; /* required */
    char *refresh_token;
    int64_t expires_at_ms; /* 0: unknown */
    char *client_id;
    char *client_secret;
    char *token_endpoint;
    char *resource;
    char *issuer;
} granola_token;

/*
 * Errors are PA_ERR_AUTH with a message saying how to fix it: a missing or
 * unreadable file, bad JSON, no access_token, or a file readable by group or
 * others (the message gives the chmod to run).
 */
int granola_token_load(const char *path, granola_token *out, char *err, size_t err_size);
/* Atomic replace with mode 0600; the old file is untouched on any failure. */
int granola_token_save(const char *path, const granola_token *token, char *err, size_t err_size);
/* Wipes and frees every field. */
void granola_token_free(granola_token *token);
/* Deep copy; returns PA_OK or PA_ERR_NOMEM. */
int granola_token_copy(const granola_token *from, granola_token *to);

#endif
