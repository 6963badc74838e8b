/*
 * The PostgreSQL schema and its migrations, numbered by the rows of the
 * schema_migrations table. Called by postgres.c when it opens a store, and
 * by tests.
 */
#ifndef TOKEND_STORE_POSTGRES_SCHEMA_H
#define TOKEND_STORE_POSTGRES_SCHEMA_H

#include <libpq-fe.h>

/* The schema version of a database migrated by this build. */
int store_postgres_schema_version(void);

/*
 * Brings the database behind connection up to
 * store_postgres_schema_version() in one transaction that holds an
 * advisory lock, so that instances starting together migrate it once and
 * none sees a half-built schema. -EPROTO: the database was migrated by a
 * newer tokend. -EIO or -EAGAIN as in store.h (logged).
 */
int store_postgres_schema_migrate(PGconn *connection);

#endif
