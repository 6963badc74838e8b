/*
 * The migrations of the SQLite store. Entry N of migrations takes a
 * database from user_version N to N + 1; a later schema change is a new
 * entry at the end, never an edit of an old one, because files in the
 * field have already run the old ones.
 */
#include "store/sqlite_schema.h"

#include <errno.h>
#include <stdio.h>

#include "log/log.h"

static const char *const migrations[] = {
    /*
     * 1: the first schema. Families cascade with their client, so deleting
     * a client kills its refresh tokens. The change counter is bumped by
     * triggers in the changing statement's own transaction, so no writer
     * can forget it. Deleting expired revocations does not bump it: the
     * revocation had stopped mattering when its token expired, and cleanup
     * would otherwise make every cache reload for nothing.
     */
    "CREATE TABLE clients ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  scope TEXT NOT NULL DEFAULT '',"
    "  subject TEXT NOT NULL DEFAULT '',"
    "  permissions TEXT NOT NULL DEFAULT '',"
    "  secret_hash BLOB NOT NULL,"
    "  disabled INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"
    "  tokens_not_before INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE server_secrets ("
    "  name TEXT PRIMARY KEY,"
    "  value BLOB NOT NULL);"
    "CREATE TABLE signing_keys ("
    "  id TEXT PRIMARY KEY,"
    "  algorithm TEXT NOT NULL,"
    "  sealed_private_key BLOB NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  retired_at INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE refresh_families ("
    "  id BLOB PRIMARY KEY,"
    "  client_id TEXT NOT NULL"
    "    REFERENCES clients (id) ON DELETE CASCADE,"
    "  generation INTEGER NOT NULL,"
    "  revoked INTEGER NOT NULL DEFAULT 0,"
    "  expires_at INTEGER NOT NULL);"
    "CREATE INDEX refresh_families_expires_at"
    "  ON refresh_families (expires_at);"
    "CREATE INDEX refresh_families_client_id"
    "  ON refresh_families (client_id);"
    "CREATE TABLE revocations ("
    "  token_id TEXT PRIMARY KEY,"
    "  expires_at INTEGER NOT NULL);"
    "CREATE INDEX revocations_expires_at ON revocations (expires_at);"
    "CREATE TABLE change_counter ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  value INTEGER NOT NULL);"
    "INSERT INTO change_counter (id, value) VALUES (1, 0);"
    "CREATE TRIGGER clients_insert AFTER INSERT ON clients BEGIN"
    "  UPDATE change_counter SET value = value + 1; END;"
    "CREATE TRIGGER clients_update AFTER UPDATE ON clients BEGIN"
    "  UPDATE change_counter SET value = value + 1; END;"
    "CREATE TRIGGER clients_delete AFTER DELETE ON clients BEGIN"
    "  UPDATE change_counter SET value = value + 1; END;"
    "CREATE TRIGGER signing_keys_insert AFTER INSERT ON signing_keys BEGIN"
    "  UPDATE change_counter SET value = value + 1; END;"
    "CREATE TRIGGER signing_keys_update AFTER UPDATE ON signing_keys BEGIN"
    "  UPDATE change_counter SET value = value + 1; END;"
    "CREATE TRIGGER signing_keys_delete AFTER DELETE ON signing_keys BEGIN"
    "  UPDATE change_counter SET value = value + 1; END;"
    "CREATE TRIGGER revocations_insert AFTER INSERT ON revocations BEGIN"
    "  UPDATE change_counter SET value = value + 1; END;"
    "CREATE TRIGGER revocations_update AFTER UPDATE ON revocations BEGIN"
    "  UPDATE change_counter SET value = value + 1; END;",
};

#define MIGRATION_COUNT ((int)(sizeof(migrations) / sizeof(migrations[0])))

int
store_sqlite_schema_version(void)
{
    return MIGRATION_COUNT;
}

static int
schema_fail(sqlite3 *database, const char *operation)
{
    char quoted[256];
    int code = sqlite3_errcode(database);

    log_write(LOG_ERROR, "store failed", "operation=%s error=%s", operation,
              log_quote(sqlite3_errmsg(database), quoted, sizeof(quoted)));
    if (code == SQLITE_BUSY || code == SQLITE_LOCKED)
        return -EAGAIN;
    return -EIO;
}

static int
schema_read_version(sqlite3 *database, int *version)
{
    sqlite3_stmt *statement = NULL;
    int code;

    code = sqlite3_prepare_v2(database, "PRAGMA user_version", -1, &statement,
                              NULL);
    if (code == SQLITE_OK)
        code = sqlite3_step(statement);
    if (code != SQLITE_ROW) {
        sqlite3_finalize(statement);
        return schema_fail(database, "schema_version");
    }

    *version = sqlite3_column_int(statement, 0);
    sqlite3_finalize(statement);
    return 0;
}

/* Runs migration number version inside the caller's transaction. */
static int
schema_apply(sqlite3 *database, int version)
{
    char pragma[64];

    if (sqlite3_exec(database, migrations[version], NULL, NULL, NULL) !=
        SQLITE_OK)
        return schema_fail(database, "schema_migrate");

    snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", version + 1);
    if (sqlite3_exec(database, pragma, NULL, NULL, NULL) != SQLITE_OK)
        return schema_fail(database, "schema_migrate");

    log_write(LOG_NOTICE, "store migrated", "schema_version=%d", version + 1);
    return 0;
}

/* One step: the version is read again inside the write transaction, since
 * another process may have migrated the file since we last looked. Sets
 * *version to the version the file has afterwards. */
static int
schema_step(sqlite3 *database, int *version)
{
    int error;

    if (sqlite3_exec(database, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
        SQLITE_OK)
        return schema_fail(database, "schema_begin");

    error = schema_read_version(database, version);
    if (error == 0 && *version > MIGRATION_COUNT)
        error = -EPROTO;
    if (error == 0 && *version < MIGRATION_COUNT)
        error = schema_apply(database, (*version)++);
    if (error != 0)
        goto fail;

    if (sqlite3_exec(database, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        error = schema_fail(database, "schema_commit");
        goto fail;
    }
    return 0;

fail:
    sqlite3_exec(database, "ROLLBACK", NULL, NULL, NULL);
    return error;
}

int
store_sqlite_schema_migrate(sqlite3 *database)
{
    int version = 0;
    int error;

    /* The common case, an up-to-date file, takes no write lock. */
    error = schema_read_version(database, &version);
    while (error == 0 && version < MIGRATION_COUNT)
        error = schema_step(database, &version);

    if (error == 0 && version > MIGRATION_COUNT)
        error = -EPROTO;
    if (error == -EPROTO)
        log_write(LOG_ERROR, "store failed",
                  "operation=schema_migrate schema_version=%d supported=%d "
                  "error=\"written by a newer tokend\"",
                  version, MIGRATION_COUNT);
    return error;
}
