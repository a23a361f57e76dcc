#define __STDC_WANT_LIB_EXT1__ 1 /* memset_s, where the C library has Annex K */
#include "secret.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "port.h"

/*
 * memset through a volatile pointer: the compiler cannot prove the call does
 * nothing observable, so it cannot drop it as a dead store (the fallback
 * where neither explicit_bzero nor memset_s exists).
 */
static void *(*const volatile wipe_memset)(void *, int, size_t) = memset;

void secret_wipe_volatile(void *p, size_t n)
{
    if (p && n)
        wipe_memset(p, 0, n);
}

void secret_wipe(void *p, size_t n)
{
    if (!p || !n)
        return;
#if defined(PA_HAVE_EXPLICIT_BZERO)
    explicit_bzero(p, n);
#elif defined(PA_HAVE_MEMSET_S)
    memset_s(p, n, 0, n);
#else
    secret_wipe_volatile(p, n);
#endif
}

void secret_free(char *s)
{
    if (!s)
        return;
    secret_wipe(s, strlen(s));
    free(s);
}

int secret_protect_process(void)
{
    const char *allow = getenv("PA_ALLOW_CORE_DUMPS");
    if (allow && strcmp(allow, "1") == 0)
        return 0;
    struct rlimit none = {0, 0};
    int rc = setrlimit(RLIMIT_CORE, &none);
    if (port_forbid_dumps() != 0)
        rc = -1;
    return rc;
}
