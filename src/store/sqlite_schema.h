/*
 * The SQLite schema and its migrations, numbered by PRAGMA user_version.
 * Called by sqlite.c when it opens a database, and by tests.
 */
#ifndef TOKEND_STORE_SQLITE_SCHEMA_H
#define TOKEND_STORE_SQLITE_SCHEMA_H

#include <sqlite3.h>

/* The user_version of a database migrated by this build. */
int store_sqlite_schema_version(void);

/*
 * Brings database up to store_sqlite_schema_version(), one transaction per
 * migration, so that two processes opening a new file at once migrate it
 * once. -EPROTO: the file was written by a newer tokend. -EIO or -EAGAIN
 * as in store.h (logged).
 */
int store_sqlite_schema_migrate(sqlite3 *database);

#endif
