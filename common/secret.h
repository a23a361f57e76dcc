/*
 * Wiping secrets (access and refresh tokens, client secrets, PKCE verifiers,
 * authorization codes) before their memory is freed or reused. One helper,
 * so every site wipes the same way: explicit_bzero, which the compiler may
 * not remove as a dead store the way it removes a memset before free()
 * (tests/check_wipes.sh reads the optimised binaries to prove the calls are
 * there); where the C library lacks it, memset_s (C11 Annex K, macOS), else
 * memset called through a volatile pointer (secret_wipe_volatile).
 */
#ifndef PA_SECRET_H
#define PA_SECRET_H

#include <stddef.h>

/* Zeroes n bytes at p; p may be NULL when n is 0. */
void secret_wipe(void *p, size_t n);
/* The last fallback of secret_wipe, compiled everywhere so the tests run it. */
void secret_wipe_volatile(void *p, size_t n);
/* Wipes the NUL-terminated s and frees it; NULL is fine. */
void secret_free(char *s);

/*
 * Keeps this process's memory (tokens, database passwords) out of core files
 * and away from other processes of the same user: RLIMIT_CORE 0 and, on
 * Linux, PR_SET_DUMPABLE 0 (no core, no ptrace attach but by root, no
 * /proc/PID/mem). Inherited by the processes it starts. With
 * PA_ALLOW_CORE_DUMPS=1 in the environment it leaves both as they are, for
 * debugging a crash (docs/OPERATIONS.md). Call first thing in main. 0, or -1
 * when a call failed (errno says why; the process runs on, less protected).
 */
int secret_protect_process(void);

#endif
