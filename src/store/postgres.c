/*
 * The PostgreSQL backend's opener. Until the backend is written, a
 * postgres:// URL is refused with a clear error rather than mistaken for a
 * file name. Called by store.c.
 */
#include <errno.h>
#include <stddef.h>

#include "log/log.h"
#include "store/store_backend.h"

int
store_postgres_open(const char *url, struct store **out)
{
    (void)url;
    *out = NULL;
    log_write(LOG_ERROR, "store failed",
              "operation=open error=\"PostgreSQL is not supported yet\"");
    return -EPROTONOSUPPORT;
}
