/*
 * The migrations of the PostgreSQL store. Entry N of migrations takes a
 * database from version N to N + 1 and records N + 1 in schema_migrations;
 * a later change is a new entry at the end, never an edit of an old one,
 * because databases in the field have already run the old ones.
 */
#include "store/postgres_schema.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"
#include "store/postgres_pool.h"

/* "tokend" in ASCII: the advisory lock that serializes migrations of one
 * database across every instance and tokenctl. */
#define SCHEMA_LOCK_KEY "128021892001380"

static const char *const migrations[] = {
    /*
     * 1: the first schema, the same tables as SQLite's. seq columns give
     * creation order for the paged walks. Families cascade with their
     * client. Row triggers bump the change counter inside the changing
     * transaction, so no writer can forget it and no poller sees the new
     * number before the change itself; expired revocations leave without
     * a bump, as in SQLite.
     *
     * tokend_family_rotate is store_family_rotate as one statement: a
     * single INSERT ... ON CONFLICT DO UPDATE cannot tell REUSED from
     * FAMILY_REVOKED, since RETURNING sees only the new row. The row lock
     * of SELECT ... FOR UPDATE makes concurrent rotations of one family,
     * from any instance, run one after the other, each reading the
     * generation the previous one committed. A family inserted by someone
     * else between the SELECT and the INSERT sends us round again.
     */
    "CREATE TABLE clients ("
    "  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,"
    "  id text PRIMARY KEY,"
    "  name text NOT NULL,"
    "  scope text NOT NULL DEFAULT '',"
    "  subject text NOT NULL DEFAULT '',"
    "  permissions text NOT NULL DEFAULT '',"
    "  secret_hash bytea NOT NULL,"
    "  disabled boolean NOT NULL DEFAULT false,"
    "  created_at bigint NOT NULL,"
    "  tokens_not_before bigint NOT NULL DEFAULT 0);"
    "CREATE TABLE server_secrets ("
    "  name text PRIMARY KEY,"
    "  value bytea NOT NULL);"
    "CREATE TABLE signing_keys ("
    "  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,"
    "  id text PRIMARY KEY,"
    "  algorithm text NOT NULL,"
    "  sealed_private_key bytea NOT NULL,"
    "  created_at bigint NOT NULL,"
    "  retired_at bigint NOT NULL DEFAULT 0);"
    "CREATE TABLE refresh_families ("
    "  id bytea PRIMARY KEY,"
    "  client_id text NOT NULL"
    "    REFERENCES clients (id) ON DELETE CASCADE,"
    "  generation bigint NOT NULL,"
    "  revoked boolean NOT NULL DEFAULT false,"
    "  expires_at bigint NOT NULL);"
    "CREATE INDEX refresh_families_expires_at"
    "  ON refresh_families (expires_at);"
    "CREATE INDEX refresh_families_client_id"
    "  ON refresh_families (client_id);"
    "CREATE TABLE revocations ("
    "  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,"
    "  token_id text PRIMARY KEY,"
    "  expires_at bigint NOT NULL);"
    "CREATE INDEX revocations_expires_at ON revocations (expires_at);"
    "CREATE TABLE change_counter ("
    "  id integer PRIMARY KEY CHECK (id = 1),"
    "  value bigint NOT NULL);"
    "INSERT INTO change_counter (id, value) VALUES (1, 0);"
    "CREATE FUNCTION tokend_change_counter_bump() RETURNS trigger"
    "  LANGUAGE plpgsql AS $$"
    "BEGIN"
    "  UPDATE change_counter SET value = value + 1 WHERE id = 1;"
    "  RETURN NULL;"
    "END $$;"
    "CREATE TRIGGER clients_changed"
    "  AFTER INSERT OR UPDATE OR DELETE ON clients"
    "  FOR EACH ROW EXECUTE FUNCTION tokend_change_counter_bump();"
    "CREATE TRIGGER signing_keys_changed"
    "  AFTER INSERT OR UPDATE OR DELETE ON signing_keys"
    "  FOR EACH ROW EXECUTE FUNCTION tokend_change_counter_bump();"
    "CREATE TRIGGER revocations_changed"
    "  AFTER INSERT OR UPDATE ON revocations"
    "  FOR EACH ROW EXECUTE FUNCTION tokend_change_counter_bump();"
    "CREATE FUNCTION tokend_family_rotate(family bytea, client text,"
    "    presented bigint, expiry bigint) RETURNS integer"
    "  LANGUAGE plpgsql AS $$"
    "DECLARE"
    "  current_generation bigint;"
    "  current_revoked boolean;"
    "BEGIN"
    "  FOR attempt IN 1..3 LOOP"
    "    SELECT generation, revoked"
    "      INTO current_generation, current_revoked"
    "      FROM refresh_families WHERE id = family FOR UPDATE;"
    "    IF NOT FOUND THEN"
    "      INSERT INTO refresh_families"
    "          (id, client_id, generation, revoked, expires_at)"
    "        VALUES (family, client, presented + 1, false, expiry)"
    "        ON CONFLICT (id) DO NOTHING;"
    "      IF FOUND THEN RETURN 0; END IF;"
    "    ELSIF current_revoked THEN"
    "      RETURN 2;"
    "    ELSIF presented < current_generation THEN"
    "      UPDATE refresh_families SET revoked = true,"
    "          expires_at = greatest(expires_at, expiry)"
    "        WHERE id = family;"
    "      RETURN 1;"
    "    ELSE"
    "      UPDATE refresh_families SET generation = presented + 1,"
    "          expires_at = greatest(expires_at, expiry)"
    "        WHERE id = family;"
    "      RETURN 0;"
    "    END IF;"
    "  END LOOP;"
    "  RAISE EXCEPTION 'refresh family kept changing'"
    "    USING ERRCODE = '40001';"
    "END $$;",
};

#define MIGRATION_COUNT ((int)(sizeof(migrations) / sizeof(migrations[0])))

int
store_postgres_schema_version(void)
{
    return MIGRATION_COUNT;
}

static int
schema_run(PGconn *connection, const char *sql, const char *operation)
{
    PGresult *result = PQexec(connection, sql);
    ExecStatusType status = PQresultStatus(result);
    int error = 0;

    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
        error = postgres_result_error(connection, result, operation);
    PQclear(result);
    return error;
}

static int
schema_read_version(PGconn *connection, int *version)
{
    PGresult *result;
    char *end = NULL;
    long value = -1;
    int error = 0;

    result = PQexec(connection,
                    "SELECT coalesce(max(version), 0) FROM schema_migrations");
    if (PQresultStatus(result) != PGRES_TUPLES_OK)
        error = postgres_result_error(connection, result, "schema_version");
    else if (PQntuples(result) == 1)
        value = strtol(PQgetvalue(result, 0, 0), &end, 10);

    if (error == 0 &&
        (end == NULL || *end != '\0' || value < 0 || value > 1000000)) {
        log_write(LOG_ERROR, "store failed",
                  "operation=schema_version error=\"bad version\"");
        error = -EIO;
    }
    PQclear(result);
    *version = (int)value;
    return error;
}

static int
schema_apply(PGconn *connection, int version)
{
    char record[96];
    int error;

    error = schema_run(connection, migrations[version], "schema_migrate");
    if (error != 0)
        return error;

    snprintf(record, sizeof(record),
             "INSERT INTO schema_migrations (version) VALUES (%d)",
             version + 1);
    error = schema_run(connection, record, "schema_migrate");
    if (error == 0)
        log_write(LOG_NOTICE, "store migrated", "schema_version=%d",
                  version + 1);
    return error;
}

/* The lock is a transaction lock: it goes with COMMIT or ROLLBACK, and
 * with the session if the process dies half-way. */
int
store_postgres_schema_migrate(PGconn *connection)
{
    int version = 0;
    int error;

    error = schema_run(connection, "BEGIN", "schema_begin");
    if (error == 0)
        error = schema_run(connection,
                           "SELECT pg_advisory_xact_lock(" SCHEMA_LOCK_KEY ")",
                           "schema_lock");
    if (error == 0)
        error = schema_run(connection,
                           "CREATE TABLE IF NOT EXISTS schema_migrations ("
                           "  version integer PRIMARY KEY,"
                           "  applied_at timestamptz NOT NULL DEFAULT now())",
                           "schema_migrate");
    if (error == 0)
        error = schema_read_version(connection, &version);
    if (error == 0 && version > MIGRATION_COUNT)
        error = -EPROTO;
    while (error == 0 && version < MIGRATION_COUNT)
        error = schema_apply(connection, version++);
    if (error == 0)
        error = schema_run(connection, "COMMIT", "schema_commit");
    if (error == 0)
        return 0;

    if (PQtransactionStatus(connection) != PQTRANS_IDLE)
        PQclear(PQexec(connection, "ROLLBACK"));
    if (error == -EPROTO)
        log_write(LOG_ERROR, "store failed",
                  "operation=schema_migrate schema_version=%d supported=%d "
                  "error=\"written by a newer tokend\"",
                  version, MIGRATION_COUNT);
    return error;
}
