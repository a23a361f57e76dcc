#include "db_health.h"

#include <stdio.h>

int db_quick_check(pool *p, pool_owner *host, const char *path, char *err, size_t err_size)
{
    pa_lease lease;
    int rc = pool_lease(p, host, PA_LEASE_READ, -1, POOL_HERE, &lease, err, err_size);
    if (rc != PA_OK)
        return rc;
    db_conn *c = pool_conn(p, host, lease);
    char why[1024] = "";
    rc = c ? db_check(c, why, sizeof why) : PA_ERR_STALE_LEASE;
    char release_err[256];
    pool_release(p, host, lease, PA_RELEASE_COMMIT, POOL_HERE, release_err, sizeof release_err);
    if (rc != PA_OK)
        snprintf(err, err_size, "%s", why[0] ? why : path);
    return rc;
}
