/*
 * The PostgreSQL backend of the store, for several tokend instances that
 * share one database. Every operation of store_backend.h is one prepared
 * statement run on a connection of the pool (postgres_pool.c), so each is
 * its own transaction; the schema and its rotation function live in
 * postgres_schema.c. Opened by store.c for "postgres://" and
 * "postgresql://" URLs.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"
#include "store/postgres_pool.h"
#include "store/postgres_schema.h"
#include "store/store_backend.h"

/* Rows fetched per round trip when walking a table; callbacks run with no
 * connection held. */
#define PAGE_ROWS 500

enum statement {
    STATEMENT_SECRET_GET,
    STATEMENT_SECRET_INSERT,
    STATEMENT_KEY_INSERT,
    STATEMENT_KEY_PAGE,
    STATEMENT_KEY_RETIRE_ALL,
    STATEMENT_KEY_DELETE,
    STATEMENT_CLIENT_INSERT,
    STATEMENT_CLIENT_FIND,
    STATEMENT_CLIENT_PAGE,
    STATEMENT_CLIENT_SET_DISABLED,
    STATEMENT_CLIENT_SET_SECRET_HASH,
    STATEMENT_CLIENT_REVOKE_TOKENS,
    STATEMENT_CLIENT_DELETE,
    STATEMENT_FAMILY_FIND,
    STATEMENT_FAMILY_ROTATE,
    STATEMENT_FAMILY_REVOKE,
    STATEMENT_REVOCATION_INSERT,
    STATEMENT_REVOCATION_PAGE,
    STATEMENT_CHANGE_COUNTER,
    STATEMENT_CLEANUP_FAMILIES,
    STATEMENT_CLEANUP_REVOCATIONS,
    STATEMENT_COUNT
};

#define CLIENT_COLUMNS                                                         \
    "seq, id, name, scope, subject, permissions, secret_hash, disabled, "      \
    "created_at, tokens_not_before"
#define KEY_COLUMNS                                                            \
    "seq, id, algorithm, sealed_private_key, created_at, retired_at"
#define FAMILY_COLUMNS "id, client_id, generation, revoked, expires_at"

/*
 * Every statement, with the operation its errors are logged under, its
 * parameter types, and whether a connection lost while it ran may run it
 * again: reads, and writes that leave the same rows and return the same
 * answer when repeated. Inserts would turn into -EEXIST, deletes into
 * -ENOENT, and a repeated rotation into reuse. Page statements take the
 * last seq seen ($1) and a row count ($2) and return seq first.
 */
static const struct postgres_statement statements[STATEMENT_COUNT] = {
    [STATEMENT_SECRET_GET] = {"secret_get",
                              "SELECT value FROM server_secrets "
                              "WHERE name = $1",
                              "t", true},
    [STATEMENT_SECRET_INSERT] = {"secret_insert",
                                 "INSERT INTO server_secrets (name, value) "
                                 "VALUES ($1, $2)",
                                 "tb", false},
    [STATEMENT_KEY_INSERT] = {"signing_key_insert",
                              "INSERT INTO signing_keys (id, algorithm, "
                              "sealed_private_key, created_at, retired_at) "
                              "VALUES ($1, $2, $3, $4, $5)",
                              "ttbii", false},
    [STATEMENT_KEY_PAGE] = {"signing_key_list",
                            "SELECT " KEY_COLUMNS " FROM signing_keys "
                            "WHERE seq > $1 ORDER BY seq LIMIT $2",
                            "ii", true},
    [STATEMENT_KEY_RETIRE_ALL] = {"signing_key_retire_all",
                                  "UPDATE signing_keys SET retired_at = $1 "
                                  "WHERE retired_at = 0",
                                  "i", true},
    [STATEMENT_KEY_DELETE] = {"signing_key_delete",
                              "DELETE FROM signing_keys WHERE id = $1", "t",
                              false},
    [STATEMENT_CLIENT_INSERT] = {"client_insert",
                                 "INSERT INTO clients (id, name, scope, "
                                 "subject, permissions, secret_hash, "
                                 "disabled, created_at, tokens_not_before) "
                                 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                                 "tttttboii", false},
    [STATEMENT_CLIENT_FIND] = {"client_find",
                               "SELECT " CLIENT_COLUMNS " FROM clients "
                               "WHERE id = $1",
                               "t", true},
    [STATEMENT_CLIENT_PAGE] = {"client_list",
                               "SELECT " CLIENT_COLUMNS " FROM clients "
                               "WHERE seq > $1 ORDER BY seq LIMIT $2",
                               "ii", true},
    [STATEMENT_CLIENT_SET_DISABLED] = {"client_set_disabled",
                                       "UPDATE clients SET disabled = $2 "
                                       "WHERE id = $1",
                                       "to", true},
    [STATEMENT_CLIENT_SET_SECRET_HASH] = {"client_set_secret_hash",
                                          "UPDATE clients SET secret_hash = "
                                          "$2 WHERE id = $1",
                                          "tb", true},
    [STATEMENT_CLIENT_REVOKE_TOKENS] = {"client_revoke_tokens",
                                        "UPDATE clients SET "
                                        "tokens_not_before = $2 "
                                        "WHERE id = $1",
                                        "ti", true},
    [STATEMENT_CLIENT_DELETE] = {"client_delete",
                                 "DELETE FROM clients WHERE id = $1", "t",
                                 false},
    [STATEMENT_FAMILY_FIND] = {"family_find",
                               "SELECT " FAMILY_COLUMNS
                               " FROM refresh_families WHERE id = $1",
                               "b", true},
    [STATEMENT_FAMILY_ROTATE] = {"family_rotate",
                                 "SELECT tokend_family_rotate($1, $2, $3, $4)",
                                 "btii", false},
    [STATEMENT_FAMILY_REVOKE] = {"family_revoke",
                                 "INSERT INTO refresh_families (id, "
                                 "client_id, generation, revoked, "
                                 "expires_at) VALUES ($1, $2, 0, true, $3) "
                                 "ON CONFLICT (id) DO UPDATE SET "
                                 "revoked = true, expires_at = "
                                 "greatest(refresh_families.expires_at, "
                                 "excluded.expires_at)",
                                 "bti", true},
    /* A repeated revocation changes no row, so caches do not reload. */
    [STATEMENT_REVOCATION_INSERT] = {"revocation_insert",
                                     "INSERT INTO revocations (token_id, "
                                     "expires_at) VALUES ($1, $2) "
                                     "ON CONFLICT (token_id) DO UPDATE SET "
                                     "expires_at = excluded.expires_at "
                                     "WHERE revocations.expires_at < "
                                     "excluded.expires_at",
                                     "ti", true},
    [STATEMENT_REVOCATION_PAGE] = {"revocation_list",
                                   "SELECT seq, token_id, expires_at "
                                   "FROM revocations WHERE seq > $1 "
                                   "AND expires_at > $3 "
                                   "ORDER BY seq LIMIT $2",
                                   "iii", true},
    [STATEMENT_CHANGE_COUNTER] = {"change_counter",
                                  "SELECT value FROM change_counter "
                                  "WHERE id = 1",
                                  "", true},
    /* SKIP LOCKED: instances cleaning at once take different rows, and
     * none waits behind a rotation that holds its family's row. */
    [STATEMENT_CLEANUP_FAMILIES] = {"cleanup",
                                    "DELETE FROM refresh_families WHERE id "
                                    "IN (SELECT id FROM refresh_families "
                                    "WHERE expires_at <= $1 LIMIT $2 "
                                    "FOR UPDATE SKIP LOCKED)",
                                    "ii", true},
    [STATEMENT_CLEANUP_REVOCATIONS] = {"cleanup",
                                       "DELETE FROM revocations WHERE "
                                       "token_id IN (SELECT token_id FROM "
                                       "revocations WHERE expires_at <= $1 "
                                       "LIMIT $2 FOR UPDATE SKIP LOCKED)",
                                       "ii", true},
};

struct postgres_store {
    struct store base; /* first: store.c dispatches through it */
    struct postgres_pool *pool;
};

static const struct store_operations postgres_operations;

static struct postgres_store *
postgres_store_get(struct store *base)
{
    return (struct postgres_store *)base;
}

/* Runs statement id with the arguments its types name; *out is the
 * caller's to PQclear. */
static int
statement_query(struct postgres_store *store, enum statement id, PGresult **out,
                ...)
{
    struct postgres_parameters parameters;
    va_list arguments;
    int error;

    va_start(arguments, out);
    error =
        postgres_parameters_set(&parameters, statements[id].types, &arguments);
    va_end(arguments);
    if (error != 0)
        return error;

    return postgres_pool_execute(store->pool, id, &parameters, out);
}

/* The number of rows a write changed, from its command tag. */
static int
result_changed(PGresult *result)
{
    const char *tag = PQcmdTuples(result);
    long changed = strtol(tag, NULL, 10);

    PQclear(result);
    return changed > 0 && changed < 1000000000 ? (int)changed : 0;
}

/* For writes aimed at one row: none changed means no such row. */
static int
changed_one(int error, PGresult *result)
{
    if (error != 0)
        return error;
    return result_changed(result) == 0 ? -ENOENT : 0;
}

/* For writes that may change any number of rows. */
static int
changed_any(int error, PGresult *result)
{
    if (error != 0)
        return error;
    PQclear(result);
    return 0;
}

/*
 * Column readers for binary results: each checks the value's length
 * against its type and the caller's buffer, and does nothing once *error
 * is set, so a decoder reads every column and checks once.
 */
static void
column_bad(const PGresult *result, int column, int *error)
{
    log_write(LOG_ERROR, "store failed",
              "operation=read column=%s error=\"bad length\"",
              PQfname(result, column));
    *error = -EIO;
}

static const unsigned char *
column_value(const PGresult *result, int row, int column, size_t *length,
             int *error)
{
    if (*error != 0)
        return NULL;
    if (PQgetisnull(result, row, column)) {
        column_bad(result, column, error);
        return NULL;
    }
    *length = (size_t)PQgetlength(result, row, column);
    return (const unsigned char *)PQgetvalue(result, row, column);
}

static void
column_text(const PGresult *result, int row, int column, char *out, size_t size,
            int *error)
{
    size_t length = 0;
    const unsigned char *value =
        column_value(result, row, column, &length, error);

    if (value == NULL)
        return;
    if (length >= size) {
        column_bad(result, column, error);
        return;
    }
    memcpy(out, value, length);
    out[length] = '\0';
}

static void
column_blob(const PGresult *result, int row, int column, unsigned char *out,
            size_t size, size_t *length, int *error)
{
    const unsigned char *value =
        column_value(result, row, column, length, error);

    if (value == NULL)
        return;
    if (*length > size) {
        column_bad(result, column, error);
        return;
    }
    memcpy(out, value, *length);
}

/* A fixed-size blob (a hash, a family ID) must have exactly its size. */
static void
column_blob_exact(const PGresult *result, int row, int column,
                  unsigned char *out, size_t size, int *error)
{
    size_t length = 0;

    column_blob(result, row, column, out, size, &length, error);
    if (*error == 0 && length != size)
        column_bad(result, column, error);
}

/* bigint and integer arrive in network byte order. */
static int64_t
column_number(const PGresult *result, int row, int column, size_t width,
              int *error)
{
    size_t length = 0;
    const unsigned char *value =
        column_value(result, row, column, &length, error);
    uint64_t number = 0;

    if (value == NULL)
        return 0;
    if (length != width) {
        column_bad(result, column, error);
        return 0;
    }
    for (size_t index = 0; index < width; index++)
        number = number << 8 | value[index];
    if (width == 4)
        return (int32_t)(uint32_t)number;
    return (int64_t)number;
}

static int64_t
column_bigint(const PGresult *result, int row, int column, int *error)
{
    return column_number(result, row, column, 8, error);
}

static bool
column_boolean(const PGresult *result, int row, int column, int *error)
{
    size_t length = 0;
    const unsigned char *value =
        column_value(result, row, column, &length, error);

    if (value == NULL)
        return false;
    if (length != 1) {
        column_bad(result, column, error);
        return false;
    }
    return value[0] != 0;
}

static int
decode_client(const PGresult *result, int row, struct store_client *client)
{
    int error = 0;

    memset(client, 0, sizeof(*client));
    column_text(result, row, 1, client->id, sizeof(client->id), &error);
    column_text(result, row, 2, client->name, sizeof(client->name), &error);
    column_text(result, row, 3, client->scope, sizeof(client->scope), &error);
    column_text(result, row, 4, client->subject, sizeof(client->subject),
                &error);
    column_text(result, row, 5, client->permissions,
                sizeof(client->permissions), &error);
    column_blob_exact(result, row, 6, client->secret_hash,
                      sizeof(client->secret_hash), &error);
    client->disabled = column_boolean(result, row, 7, &error);
    client->created_at = column_bigint(result, row, 8, &error);
    client->tokens_not_before = column_bigint(result, row, 9, &error);
    return error;
}

static int
decode_signing_key(const PGresult *result, int row,
                   struct store_signing_key *key)
{
    int error = 0;

    memset(key, 0, sizeof(*key));
    column_text(result, row, 1, key->id, sizeof(key->id), &error);
    column_text(result, row, 2, key->algorithm, sizeof(key->algorithm), &error);
    column_blob(result, row, 3, key->sealed_private_key,
                sizeof(key->sealed_private_key), &key->sealed_length, &error);
    key->created_at = column_bigint(result, row, 4, &error);
    key->retired_at = column_bigint(result, row, 5, &error);
    return error;
}

static int
decode_family(const PGresult *result, int row, struct store_family *family)
{
    int64_t generation;
    int error = 0;

    memset(family, 0, sizeof(*family));
    column_blob_exact(result, row, 0, family->id, sizeof(family->id), &error);
    column_text(result, row, 1, family->client_id, sizeof(family->client_id),
                &error);
    generation = column_bigint(result, row, 2, &error);
    family->revoked = column_boolean(result, row, 3, &error);
    family->expires_at = column_bigint(result, row, 4, &error);

    if (error == 0 && (generation < 0 || generation > UINT32_MAX))
        column_bad(result, 2, &error);
    family->generation = (uint32_t)generation;
    return error;
}

/*
 * Walking a table a page at a time: each page is one statement whose
 * connection goes back to the pool before the callback sees a row, so a
 * slow callback holds no connection and a callback may call the store.
 * Pages follow seq, which is creation order.
 */
struct page_walk {
    enum statement id;
    /* Decodes row of result and hands it to the caller's callback. */
    int (*call)(const PGresult *result, int row, const struct page_walk *walk);
    union {
        store_client_each client;
        store_signing_key_each signing_key;
        store_revocation_each revocation;
    } each;
    void *argument;
    int64_t now; /* $3, for the statement that takes it */
};

static int
call_client(const PGresult *result, int row, const struct page_walk *walk)
{
    struct store_client client;
    int error;

    error = decode_client(result, row, &client);
    if (error == 0)
        error = walk->each.client(&client, walk->argument);
    explicit_bzero(&client, sizeof(client));
    return error;
}

static int
call_signing_key(const PGresult *result, int row, const struct page_walk *walk)
{
    struct store_signing_key key;
    int error;

    error = decode_signing_key(result, row, &key);
    if (error == 0)
        error = walk->each.signing_key(&key, walk->argument);
    explicit_bzero(&key, sizeof(key));
    return error;
}

static int
call_revocation(const PGresult *result, int row, const struct page_walk *walk)
{
    char token_id[STORE_TOKEN_ID_SIZE];
    int64_t expires_at;
    int error = 0;

    column_text(result, row, 1, token_id, sizeof(token_id), &error);
    expires_at = column_bigint(result, row, 2, &error);
    if (error != 0)
        return error;
    return walk->each.revocation(token_id, expires_at, walk->argument);
}

/* The walk stops at the first error or non-zero callback return, which
 * it returns. */
static int
page_walk_run(struct postgres_store *store, const struct page_walk *walk)
{
    PGresult *result = NULL;
    int64_t after = 0;
    int count = PAGE_ROWS;
    int error = 0;

    while (error == 0 && count == PAGE_ROWS) {
        error = statement_query(store, walk->id, &result, after,
                                (int64_t)PAGE_ROWS, walk->now);
        if (error != 0)
            break;

        count = PQntuples(result);
        for (int row = 0; error == 0 && row < count; row++) {
            after = column_bigint(result, row, 0, &error);
            if (error == 0)
                error = walk->call(result, row, walk);
        }
        PQclear(result);
    }
    return error;
}

static int
postgres_secret_get(struct store *base, const char *name, unsigned char *value,
                    size_t size, size_t *length)
{
    PGresult *result = NULL;
    int error;

    error = statement_query(postgres_store_get(base), STATEMENT_SECRET_GET,
                            &result, name);
    if (error != 0)
        return error;

    if (PQntuples(result) == 0)
        error = -ENOENT;
    else if ((size_t)PQgetlength(result, 0, 0) > size)
        error = -ENOSPC;
    else
        column_blob(result, 0, 0, value, size, length, &error);
    PQclear(result);
    return error;
}

static int
postgres_secret_insert(struct store *base, const char *name,
                       const unsigned char *value, size_t length)
{
    PGresult *result = NULL;
    int error;

    error = statement_query(postgres_store_get(base), STATEMENT_SECRET_INSERT,
                            &result, name, value, length);
    return changed_any(error, result);
}

static int
postgres_signing_key_insert(struct store *base,
                            const struct store_signing_key *key)
{
    PGresult *result = NULL;
    int error;

    if (key->sealed_length > sizeof(key->sealed_private_key))
        return -EINVAL;

    error =
        statement_query(postgres_store_get(base), STATEMENT_KEY_INSERT, &result,
                        key->id, key->algorithm, key->sealed_private_key,
                        key->sealed_length, key->created_at, key->retired_at);
    return changed_any(error, result);
}

static int
postgres_signing_key_list(struct store *base, store_signing_key_each each,
                          void *argument)
{
    struct page_walk walk = {
        .id = STATEMENT_KEY_PAGE,
        .call = call_signing_key,
        .each.signing_key = each,
        .argument = argument,
    };

    return page_walk_run(postgres_store_get(base), &walk);
}

static int
postgres_signing_key_retire_all(struct store *base, int64_t retired_at)
{
    PGresult *result = NULL;
    int error;

    error = statement_query(postgres_store_get(base), STATEMENT_KEY_RETIRE_ALL,
                            &result, retired_at);
    return changed_any(error, result);
}

static int
postgres_signing_key_delete(struct store *base, const char *key_id)
{
    PGresult *result = NULL;
    int error;

    error = statement_query(postgres_store_get(base), STATEMENT_KEY_DELETE,
                            &result, key_id);
    return changed_one(error, result);
}

static int
postgres_client_insert(struct store *base, const struct store_client *client)
{
    PGresult *result = NULL;
    int error;

    error = statement_query(
        postgres_store_get(base), STATEMENT_CLIENT_INSERT, &result, client->id,
        client->name, client->scope, client->subject, client->permissions,
        client->secret_hash, sizeof(client->secret_hash), (int)client->disabled,
        client->created_at, client->tokens_not_before);
    return changed_any(error, result);
}

static int
postgres_client_find(struct store *base, const char *client_id,
                     struct store_client *out)
{
    PGresult *result = NULL;
    int error;

    error = statement_query(postgres_store_get(base), STATEMENT_CLIENT_FIND,
                            &result, client_id);
    if (error != 0)
        return error;

    error = PQntuples(result) == 0 ? -ENOENT : decode_client(result, 0, out);
    PQclear(result);
    return error;
}

static int
postgres_client_list(struct store *base, store_client_each each, void *argument)
{
    struct page_walk walk = {
        .id = STATEMENT_CLIENT_PAGE,
        .call = call_client,
        .each.client = each,
        .argument = argument,
    };

    return page_walk_run(postgres_store_get(base), &walk);
}

static int
postgres_client_set_disabled(struct store *base, const char *client_id,
                             bool disabled)
{
    PGresult *result = NULL;
    int error;

    error =
        statement_query(postgres_store_get(base), STATEMENT_CLIENT_SET_DISABLED,
                        &result, client_id, (int)disabled);
    return changed_one(error, result);
}

static int
postgres_client_set_secret_hash(struct store *base, const char *client_id,
                                const unsigned char *secret_hash)
{
    PGresult *result = NULL;
    int error;

    error = statement_query(
        postgres_store_get(base), STATEMENT_CLIENT_SET_SECRET_HASH, &result,
        client_id, secret_hash, (size_t)STORE_SECRET_HASH_SIZE);
    return changed_one(error, result);
}

static int
postgres_client_revoke_tokens(struct store *base, const char *client_id,
                              int64_t not_before)
{
    PGresult *result = NULL;
    int error;

    error = statement_query(postgres_store_get(base),
                            STATEMENT_CLIENT_REVOKE_TOKENS, &result, client_id,
                            not_before);
    return changed_one(error, result);
}

/* The client's families go with it through ON DELETE CASCADE. */
static int
postgres_client_delete(struct store *base, const char *client_id)
{
    PGresult *result = NULL;
    int error;

    error = statement_query(postgres_store_get(base), STATEMENT_CLIENT_DELETE,
                            &result, client_id);
    return changed_one(error, result);
}

/* tokend_family_rotate (postgres_schema.c) decides and writes in one
 * statement, which is its own transaction: its COMMIT has reached the
 * disk (synchronous_commit is on) before the result arrives here. */
static int
postgres_family_rotate(struct store *base, const unsigned char *family_id,
                       const char *client_id, uint32_t presented,
                       int64_t expires_at, enum store_rotation *out)
{
    PGresult *result = NULL;
    int64_t outcome;
    int error;

    /* The next generation must still fit in a token's 32 bits. */
    if (presented == UINT32_MAX)
        return -EINVAL;

    error = statement_query(postgres_store_get(base), STATEMENT_FAMILY_ROTATE,
                            &result, family_id, (size_t)STORE_FAMILY_ID_SIZE,
                            client_id, (int64_t)presented, expires_at);
    if (error != 0)
        return error;

    outcome =
        PQntuples(result) == 1 ? column_number(result, 0, 0, 4, &error) : -1;
    PQclear(result);
    if (error != 0)
        return error;

    switch (outcome) {
    case 0:
        *out = STORE_ROTATED;
        return 0;
    case 1:
        *out = STORE_REUSED;
        return 0;
    case 2:
        *out = STORE_FAMILY_REVOKED;
        return 0;
    default:
        log_write(LOG_ERROR, "store failed",
                  "operation=family_rotate error=\"bad outcome\"");
        return -EIO;
    }
}

static int
postgres_family_find(struct store *base, const unsigned char *family_id,
                     struct store_family *out)
{
    PGresult *result = NULL;
    int error;

    error = statement_query(postgres_store_get(base), STATEMENT_FAMILY_FIND,
                            &result, family_id, (size_t)STORE_FAMILY_ID_SIZE);
    if (error != 0)
        return error;

    error = PQntuples(result) == 0 ? -ENOENT : decode_family(result, 0, out);
    PQclear(result);
    return error;
}

static int
postgres_family_revoke(struct store *base, const unsigned char *family_id,
                       const char *client_id, int64_t expires_at)
{
    PGresult *result = NULL;
    int error;

    error = statement_query(postgres_store_get(base), STATEMENT_FAMILY_REVOKE,
                            &result, family_id, (size_t)STORE_FAMILY_ID_SIZE,
                            client_id, expires_at);
    return changed_any(error, result);
}

static int
postgres_revocation_insert(struct store *base, const char *token_id,
                           int64_t expires_at)
{
    PGresult *result = NULL;
    int error;

    if (strlen(token_id) >= STORE_TOKEN_ID_SIZE)
        return -EINVAL;

    error =
        statement_query(postgres_store_get(base), STATEMENT_REVOCATION_INSERT,
                        &result, token_id, expires_at);
    return changed_any(error, result);
}

static int
postgres_revocation_list(struct store *base, int64_t now,
                         store_revocation_each each, void *argument)
{
    struct page_walk walk = {
        .id = STATEMENT_REVOCATION_PAGE,
        .call = call_revocation,
        .each.revocation = each,
        .argument = argument,
        .now = now,
    };

    return page_walk_run(postgres_store_get(base), &walk);
}

static int
postgres_change_counter(struct store *base, int64_t *out)
{
    PGresult *result = NULL;
    int error;

    error = statement_query(postgres_store_get(base), STATEMENT_CHANGE_COUNTER,
                            &result);
    if (error != 0)
        return error;

    if (PQntuples(result) != 1) {
        log_write(LOG_ERROR, "store failed",
                  "operation=change_counter error=\"no counter row\"");
        error = -EIO;
    } else {
        *out = column_bigint(result, 0, 0, &error);
    }
    PQclear(result);
    return error;
}

/* Each DELETE is bounded (batch rows per table), so a cleanup run holds
 * few row locks; the caller calls again while rows go. */
static int
postgres_cleanup(struct store *base, int64_t now, int batch, int *deleted)
{
    struct postgres_store *store = postgres_store_get(base);
    PGresult *result = NULL;
    int families;
    int error;

    *deleted = 0;
    if (batch <= 0)
        return batch == 0 ? 0 : -EINVAL;

    error = statement_query(store, STATEMENT_CLEANUP_FAMILIES, &result, now,
                            (int64_t)batch);
    if (error != 0)
        return error;
    families = result_changed(result);

    error = statement_query(store, STATEMENT_CLEANUP_REVOCATIONS, &result, now,
                            (int64_t)batch);
    if (error != 0)
        return error;

    *deleted = families + result_changed(result);
    return 0;
}

static void
postgres_close(struct store *base)
{
    struct postgres_store *store = postgres_store_get(base);

    postgres_pool_free(store->pool);
    free(store);
}

/* The migration runs on the pool's first connection, which then stays in
 * the pool. A failure to connect is -EAGAIN, as for any other call. */
int
store_postgres_open(const char *url, struct store **out)
{
    struct postgres_store *store;
    PGconn *connection;
    int error;

    store = calloc(1, sizeof(*store));
    if (store == NULL)
        return -ENOMEM;
    store->base.operations = &postgres_operations;

    error = postgres_pool_new(url, statements, STATEMENT_COUNT, &store->pool);
    if (error != 0)
        goto fail;

    error = postgres_pool_borrow(store->pool, &connection);
    if (error != 0)
        goto fail;
    error = store_postgres_schema_migrate(connection);
    postgres_pool_give_back(store->pool, connection, error != 0);
    if (error != 0)
        goto fail;

    *out = &store->base;
    return 0;

fail:
    postgres_close(&store->base);
    return error;
}

static const struct store_operations postgres_operations = {
    .kind = "postgres",
    .close = postgres_close,
    .file_path = NULL,
    .secret_get = postgres_secret_get,
    .secret_insert = postgres_secret_insert,
    .signing_key_insert = postgres_signing_key_insert,
    .signing_key_list = postgres_signing_key_list,
    .signing_key_retire_all = postgres_signing_key_retire_all,
    .signing_key_delete = postgres_signing_key_delete,
    .client_insert = postgres_client_insert,
    .client_find = postgres_client_find,
    .client_list = postgres_client_list,
    .client_set_disabled = postgres_client_set_disabled,
    .client_set_secret_hash = postgres_client_set_secret_hash,
    .client_revoke_tokens = postgres_client_revoke_tokens,
    .client_delete = postgres_client_delete,
    .family_rotate = postgres_family_rotate,
    .family_find = postgres_family_find,
    .family_revoke = postgres_family_revoke,
    .revocation_insert = postgres_revocation_insert,
    .revocation_list = postgres_revocation_list,
    .change_counter = postgres_change_counter,
    .cleanup = postgres_cleanup,
};
