#include "secret.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

void secret_wipe(void *p, size_t n)
{
    if (p && n)
        explicit_bzero(p, n);
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
#ifdef __linux__
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        rc = -1;
#endif
    return rc;
}
