/*
 * Granola's token file: JSON with access_token, refresh_token, expires_at
 * (ISO 8601), client_id, client_secret, and what a refresh needs
 * (token_endpoint, resource, issuer). The existing agent's file is the token
 * endpoint's reply plus expires_at (Python isoformat, "...123456+00:00") and
 * no token_endpoint; every field this module does not manage (token_type,
 * scope, expires_in, ...) is kept as it is when the file is rewritten, and
 * expires_at is written in the agent's form, so both read the same file.
 *
 * Saving survives a crash at any instant: the new content is written and
 * fsynced to PATH.pending, then renamed over PATH. Loading promotes a valid
 * PATH.pending first, so a renewal interrupted after the server rotated the
 * refresh token still yields the new pair, and the spent one is never sent
 * again. Mode 0600 throughout. No token ever appears in a message from here.
 */
#ifndef GRANOLA_TOKEN_FILE_H
#define GRANOLA_TOKEN_FILE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
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
    cJSON *extra;   /* the file's other fields, kept for the rewrite; may be NULL */
    bool recovered; /* load: a pending file from an interrupted save was promoted */
} granola_token;

/*
 * Errors are PA_ERR_AUTH with a message saying how to fix it: a missing or
 * unreadable file, bad JSON, no access_token, or a file readable by group or
 * others (the message gives the chmod to run).
 */
int granola_token_load(const char *path, granola_token *out, char *err, size_t err_size);
/*
 * The same checks and parse as granola_token_load, changing nothing: an
 * interrupted save's PATH.pending is left where it is (--check-config).
 */
int granola_token_read(const char *path, granola_token *out, char *err, size_t err_size);
/* The file's bytes, parsed by the same rules (path only names it in messages). */
int granola_token_parse(const char *text, size_t len, const char *path, granola_token *out,
                        char *err, size_t err_size);
/*
 * Crash-safe replace with mode 0600 (PATH.pending, fsync, rename, fsync of
 * the directory); the old file is untouched on any failure.
 */
int granola_token_save(const char *path, const granola_token *token, char *err, size_t err_size);
/*
 * Creates the missing folders of path's directory with mode 0700 (a fresh
 * machine has no ~/.personal-assistant). *created tells whether any was made.
 * PA_ERR_AUTH with a message naming the folder when one cannot be made.
 */
int granola_token_prepare_dir(const char *path, bool *created, char *err, size_t err_size);
/* Wipes and frees every field. */
void granola_token_free(granola_token *token);
/*
 * Deep copy of everything a renewal keeps, the access token excepted: it has
 * one owner, and the renewal replaces it. PA_OK or PA_ERR_NOMEM.
 */
int granola_token_copy_for_renewal(const granola_token *from, granola_token *to);

#endif
