/*
 * Wiping secrets (access and refresh tokens, client secrets, PKCE verifiers,
 * authorization codes) before their memory is freed or reused. One helper,
 * so every site wipes the same way: explicit_bzero, which the compiler may
 * not remove as a dead store the way it removes a memset before free()
 * (tests/check_wipes.sh reads the optimised binaries to prove the calls are
 * there).
 */
#ifndef PA_SECRET_H
#define PA_SECRET_H

#include <stddef.h>

/* Zeroes n bytes at p; p may be NULL when n is 0. */
void secret_wipe(void *p, size_t n);
/* Wipes the NUL-terminated s and frees it; NULL is fine. */
void secret_free(char *s);

#endif
