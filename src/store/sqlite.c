/*
 * The SQLite backend of the store: one database file in WAL mode, with one
 * write connection and one read connection, each behind its own mutex, so
 * that reads never wait for a commit's fsync. Refresh token rotations go
 * through a group commit: one transaction and one fsync per batch.
 * Opened by store.c for "sqlite:PATH" and plain paths.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log/log.h"
#include "store/group_commit.h"
#include "store/sqlite_schema.h"
#include "store/store_backend.h"
#include "util/text.h"

/* A writer waits this long for another process's write lock (tokenctl
 * next to tokend) before the call fails with -EAGAIN. */
#define BUSY_TIMEOUT_MILLISECONDS 5000
/* Rows read per lock hold when walking a table; callbacks run unlocked. */
#define PAGE_ROWS 64

enum statement {
    STATEMENT_BEGIN,
    STATEMENT_COMMIT,
    STATEMENT_ROLLBACK,
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
    "rowid, id, name, scope, subject, permissions, secret_hash, disabled, "    \
    "created_at, tokens_not_before"
#define KEY_COLUMNS                                                            \
    "rowid, id, algorithm, sealed_private_key, created_at, retired_at"
#define FAMILY_COLUMNS "rowid, id, client_id, generation, revoked, expires_at"

/* Every statement, by the operation name that its errors are logged under.
 * Page statements take the last rowid seen (?1) and a row count (?2), and
 * return the rowid first so the next page starts after it. */
static const struct {
    const char *operation;
    const char *sql;
} statements[STATEMENT_COUNT] = {
    [STATEMENT_BEGIN] = {"begin", "BEGIN IMMEDIATE"},
    [STATEMENT_COMMIT] = {"commit", "COMMIT"},
    [STATEMENT_ROLLBACK] = {"rollback", "ROLLBACK"},
    [STATEMENT_SECRET_GET] = {"secret_get", "SELECT rowid, value FROM "
                                            "server_secrets WHERE name = ?1"},
    [STATEMENT_SECRET_INSERT] = {"secret_insert",
                                 "INSERT INTO server_secrets (name, value) "
                                 "VALUES (?1, ?2)"},
    [STATEMENT_KEY_INSERT] = {"signing_key_insert",
                              "INSERT INTO signing_keys (id, algorithm, "
                              "sealed_private_key, created_at, retired_at) "
                              "VALUES (?1, ?2, ?3, ?4, ?5)"},
    [STATEMENT_KEY_PAGE] = {"signing_key_list",
                            "SELECT " KEY_COLUMNS " FROM signing_keys "
                            "WHERE rowid > ?1 ORDER BY rowid LIMIT ?2"},
    [STATEMENT_KEY_RETIRE_ALL] = {"signing_key_retire_all",
                                  "UPDATE signing_keys SET retired_at = ?1 "
                                  "WHERE retired_at = 0"},
    [STATEMENT_KEY_DELETE] = {"signing_key_delete",
                              "DELETE FROM signing_keys WHERE id = ?1"},
    [STATEMENT_CLIENT_INSERT] = {"client_insert",
                                 "INSERT INTO clients (id, name, scope, "
                                 "subject, permissions, secret_hash, "
                                 "disabled, created_at, tokens_not_before) "
                                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"},
    [STATEMENT_CLIENT_FIND] = {"client_find", "SELECT " CLIENT_COLUMNS
                                              " FROM clients WHERE id = ?1"},
    [STATEMENT_CLIENT_PAGE] = {"client_list",
                               "SELECT " CLIENT_COLUMNS " FROM clients "
                               "WHERE rowid > ?1 ORDER BY rowid LIMIT ?2"},
    [STATEMENT_CLIENT_SET_DISABLED] = {"client_set_disabled",
                                       "UPDATE clients SET disabled = ?2 "
                                       "WHERE id = ?1"},
    [STATEMENT_CLIENT_SET_SECRET_HASH] = {"client_set_secret_hash",
                                          "UPDATE clients SET secret_hash = "
                                          "?2 WHERE id = ?1"},
    [STATEMENT_CLIENT_REVOKE_TOKENS] = {"client_revoke_tokens",
                                        "UPDATE clients SET "
                                        "tokens_not_before = ?2 "
                                        "WHERE id = ?1"},
    [STATEMENT_CLIENT_DELETE] = {"client_delete",
                                 "DELETE FROM clients WHERE id = ?1"},
    [STATEMENT_FAMILY_FIND] = {"family_find",
                               "SELECT " FAMILY_COLUMNS
                               " FROM refresh_families WHERE id = ?1"},
    [STATEMENT_FAMILY_ROTATE] = {"family_rotate",
                                 "INSERT INTO refresh_families (id, "
                                 "client_id, generation, revoked, "
                                 "expires_at) VALUES (?1, ?2, ?3, 0, ?4) "
                                 "ON CONFLICT (id) DO UPDATE SET "
                                 "generation = excluded.generation, "
                                 "expires_at = MAX(expires_at, "
                                 "excluded.expires_at)"},
    [STATEMENT_FAMILY_REVOKE] = {"family_revoke",
                                 "INSERT INTO refresh_families (id, "
                                 "client_id, generation, revoked, "
                                 "expires_at) VALUES (?1, ?2, 0, 1, ?3) "
                                 "ON CONFLICT (id) DO UPDATE SET "
                                 "revoked = 1, expires_at = "
                                 "MAX(expires_at, excluded.expires_at)"},
    [STATEMENT_REVOCATION_INSERT] = {"revocation_insert",
                                     "INSERT INTO revocations (token_id, "
                                     "expires_at) VALUES (?1, ?2) "
                                     "ON CONFLICT (token_id) DO UPDATE SET "
                                     "expires_at = MAX(expires_at, "
                                     "excluded.expires_at)"},
    [STATEMENT_REVOCATION_PAGE] = {"revocation_list",
                                   "SELECT rowid, token_id, expires_at "
                                   "FROM revocations WHERE rowid > ?1 "
                                   "AND expires_at > ?3 "
                                   "ORDER BY rowid LIMIT ?2"},
    [STATEMENT_CHANGE_COUNTER] = {"change_counter",
                                  "SELECT rowid, value FROM change_counter"},
    [STATEMENT_CLEANUP_FAMILIES] = {"cleanup",
                                    "DELETE FROM refresh_families WHERE "
                                    "rowid IN (SELECT rowid FROM "
                                    "refresh_families WHERE expires_at <= ?1 "
                                    "LIMIT ?2)"},
    [STATEMENT_CLEANUP_REVOCATIONS] = {"cleanup",
                                       "DELETE FROM revocations WHERE rowid "
                                       "IN (SELECT rowid FROM revocations "
                                       "WHERE expires_at <= ?1 LIMIT ?2)"},
};

/* A connection and its statements, prepared on first use and kept for the
 * connection's life. Everything in it is guarded by lock. */
struct sqlite_connection {
    pthread_mutex_t lock;
    sqlite3 *database;
    sqlite3_stmt *statements[STATEMENT_COUNT];
};

struct sqlite_store {
    struct store base; /* first: store.c dispatches through it */
    char *path;
    struct sqlite_connection writer;
    struct sqlite_connection reader;
    struct group_commit rotations;
};

/* A family rotation waiting for its batch. */
struct rotation_request {
    struct group_commit_request queued; /* first: the batch links these */
    const unsigned char *family_id;
    const char *client_id;
    uint32_t presented;
    int64_t expires_at;
    enum store_rotation result;
    int status;
};

/* Fills one row from a statement whose first column is the rowid. */
typedef int (*row_decode)(sqlite3_stmt *statement, void *row);

static const struct store_operations sqlite_operations;

static struct sqlite_store *
sqlite_store_get(struct store *base)
{
    return (struct sqlite_store *)base;
}

/* Maps a failed step or prepare to the store's errors. A duplicate key is
 * the caller's -EEXIST and a family whose client is gone -ENOENT; neither
 * is the store failing, so neither is logged. */
static int
connection_error(struct sqlite_connection *connection, enum statement id,
                 int code)
{
    char quoted[256];

    if (code == SQLITE_CONSTRAINT_PRIMARYKEY ||
        code == SQLITE_CONSTRAINT_UNIQUE)
        return -EEXIST;
    if (code == SQLITE_CONSTRAINT_FOREIGNKEY)
        return -ENOENT;

    log_write(LOG_ERROR, "store failed", "operation=%s error=%s",
              statements[id].operation,
              log_quote(sqlite3_errmsg(connection->database), quoted,
                        sizeof(quoted)));
    if ((code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED)
        return -EAGAIN;
    return -EIO;
}

/* Binds ?1, ?2, ... from arguments as types says: 't' a string, 'b' a
 * blob (pointer, then size_t length), 'i' an int64_t. The values are
 * borrowed until the statement is reset. */
static int
statement_bind(sqlite3_stmt *statement, const char *types, va_list *arguments)
{
    const void *blob;
    size_t length;
    int code = SQLITE_OK;

    for (int index = 1; types[index - 1] != '\0' && code == SQLITE_OK;
         index++) {
        switch (types[index - 1]) {
        case 't':
            code = sqlite3_bind_text(statement, index,
                                     va_arg(*arguments, const char *), -1,
                                     SQLITE_STATIC);
            break;
        case 'b':
            blob = va_arg(*arguments, const void *);
            length = va_arg(*arguments, size_t);
            code = sqlite3_bind_blob(statement, index, blob, (int)length,
                                     SQLITE_STATIC);
            break;
        case 'i':
            code = sqlite3_bind_int64(statement, index,
                                      va_arg(*arguments, int64_t));
            break;
        default:
            code = SQLITE_MISUSE;
        }
    }
    return code;
}

/* Gets statement id ready on connection (lock held), bound to arguments. */
static int
statement_start(struct sqlite_connection *connection, enum statement id,
                const char *types, va_list *arguments, sqlite3_stmt **out)
{
    sqlite3_stmt **statement = &connection->statements[id];
    int code = SQLITE_OK;

    if (*statement == NULL)
        code = sqlite3_prepare_v3(connection->database, statements[id].sql, -1,
                                  SQLITE_PREPARE_PERSISTENT, statement, NULL);
    if (code == SQLITE_OK)
        code = statement_bind(*statement, types, arguments);
    if (code != SQLITE_OK) {
        if (*statement != NULL)
            sqlite3_clear_bindings(*statement);
        return connection_error(connection, id, code);
    }

    *out = *statement;
    return 0;
}

/* Resetting at once ends the statement's read transaction, which would
 * otherwise keep the WAL from being checkpointed. */
static void
statement_finish(sqlite3_stmt *statement)
{
    sqlite3_reset(statement);
    sqlite3_clear_bindings(statement);
}

/* Runs a statement that returns no rows on connection (lock held); returns
 * how many rows it changed, or a negative errno. */
static int
connection_run(struct sqlite_connection *connection, enum statement id,
               const char *types, va_list *arguments)
{
    sqlite3_stmt *statement;
    int error;
    int code;

    error = statement_start(connection, id, types, arguments, &statement);
    if (error != 0)
        return error;

    code = sqlite3_step(statement);
    if (code == SQLITE_DONE)
        error = sqlite3_changes(connection->database);
    else
        error = connection_error(connection, id, code);

    statement_finish(statement);
    return error;
}

/* Reads the first row of a query on connection (lock held) into row;
 * -ENOENT without one. */
static int
connection_row(struct sqlite_connection *connection, enum statement id,
               row_decode decode, void *row, const char *types,
               va_list *arguments)
{
    sqlite3_stmt *statement;
    int error;
    int code;

    error = statement_start(connection, id, types, arguments, &statement);
    if (error != 0)
        return error;

    code = sqlite3_step(statement);
    if (code == SQLITE_ROW)
        error = decode(statement, row);
    else if (code == SQLITE_DONE)
        error = -ENOENT;
    else
        error = connection_error(connection, id, code);

    statement_finish(statement);
    return error;
}

/* One write on the write connection: its own transaction, or a statement
 * of the batch that holds the (recursive) lock around its transaction. */
static int
write_run(struct sqlite_store *store, enum statement id, const char *types, ...)
{
    va_list arguments;
    int changed;

    va_start(arguments, types);
    pthread_mutex_lock(&store->writer.lock);
    changed = connection_run(&store->writer, id, types, &arguments);
    pthread_mutex_unlock(&store->writer.lock);
    va_end(arguments);
    return changed;
}

/* Reads one row on connection: the reader, or the writer inside a batch. */
static int
read_row(struct sqlite_connection *connection, enum statement id,
         row_decode decode, void *row, const char *types, ...)
{
    va_list arguments;
    int error;

    va_start(arguments, types);
    pthread_mutex_lock(&connection->lock);
    error = connection_row(connection, id, decode, row, types, &arguments);
    pthread_mutex_unlock(&connection->lock);
    va_end(arguments);
    return error;
}

/* For writes aimed at one row: none changed means no such row. */
static int
changed_one(int changed)
{
    if (changed < 0)
        return changed;
    return changed == 0 ? -ENOENT : 0;
}

/* For writes that may change any number of rows. */
static int
changed_any(int changed)
{
    return changed < 0 ? changed : 0;
}

/*
 * Column readers for the decoders: each does nothing once *error is set,
 * so a decoder reads its columns in a row and checks once. A value too
 * long for its structure was not written by tokend, so it is reported as
 * a failing store.
 */
static void
column_too_long(sqlite3_stmt *statement, int column, int *error)
{
    log_write(LOG_ERROR, "store failed",
              "operation=read column=%s error=\"bad length\"",
              sqlite3_column_name(statement, column));
    *error = -EIO;
}

static void
column_text(sqlite3_stmt *statement, int column, char *out, size_t size,
            int *error)
{
    const unsigned char *text = sqlite3_column_text(statement, column);

    if (*error != 0)
        return;
    if (text_copy(out, size, text != NULL ? (const char *)text : "") != 0)
        column_too_long(statement, column, error);
}

static void
column_blob(sqlite3_stmt *statement, int column, unsigned char *out,
            size_t size, size_t *length, int *error)
{
    const void *blob = sqlite3_column_blob(statement, column);
    size_t blob_length = (size_t)sqlite3_column_bytes(statement, column);

    if (*error != 0)
        return;
    if (blob_length > size) {
        column_too_long(statement, column, error);
        return;
    }

    if (blob_length > 0)
        memcpy(out, blob, blob_length);
    *length = blob_length;
}

/* A fixed-size blob (a hash, a family ID) must have exactly its size. */
static void
column_blob_exact(sqlite3_stmt *statement, int column, unsigned char *out,
                  size_t size, int *error)
{
    size_t length = 0;

    column_blob(statement, column, out, size, &length, error);
    if (*error == 0 && length != size)
        column_too_long(statement, column, error);
}

static int
decode_client(sqlite3_stmt *statement, void *row)
{
    struct store_client *client = row;
    int error = 0;

    memset(client, 0, sizeof(*client));
    column_text(statement, 1, client->id, sizeof(client->id), &error);
    column_text(statement, 2, client->name, sizeof(client->name), &error);
    column_text(statement, 3, client->scope, sizeof(client->scope), &error);
    column_text(statement, 4, client->subject, sizeof(client->subject), &error);
    column_text(statement, 5, client->permissions, sizeof(client->permissions),
                &error);
    column_blob_exact(statement, 6, client->secret_hash,
                      sizeof(client->secret_hash), &error);

    client->disabled = sqlite3_column_int(statement, 7) != 0;
    client->created_at = sqlite3_column_int64(statement, 8);
    client->tokens_not_before = sqlite3_column_int64(statement, 9);
    return error;
}

static int
decode_signing_key(sqlite3_stmt *statement, void *row)
{
    struct store_signing_key *key = row;
    int error = 0;

    memset(key, 0, sizeof(*key));
    column_text(statement, 1, key->id, sizeof(key->id), &error);
    column_text(statement, 2, key->algorithm, sizeof(key->algorithm), &error);
    column_blob(statement, 3, key->sealed_private_key,
                sizeof(key->sealed_private_key), &key->sealed_length, &error);

    key->created_at = sqlite3_column_int64(statement, 4);
    key->retired_at = sqlite3_column_int64(statement, 5);
    return error;
}

static int
decode_family(sqlite3_stmt *statement, void *row)
{
    struct store_family *family = row;
    int error = 0;

    memset(family, 0, sizeof(*family));
    column_blob_exact(statement, 1, family->id, sizeof(family->id), &error);
    column_text(statement, 2, family->client_id, sizeof(family->client_id),
                &error);

    family->generation = (uint32_t)sqlite3_column_int64(statement, 3);
    family->revoked = sqlite3_column_int(statement, 4) != 0;
    family->expires_at = sqlite3_column_int64(statement, 5);
    return error;
}

struct revocation_row {
    char token_id[STORE_TOKEN_ID_SIZE];
    int64_t expires_at;
};

static int
decode_revocation(sqlite3_stmt *statement, void *row)
{
    struct revocation_row *revocation = row;

    int error = 0;

    revocation->expires_at = sqlite3_column_int64(statement, 2);
    column_text(statement, 1, revocation->token_id,
                sizeof(revocation->token_id), &error);
    return error;
}

static int
decode_counter(sqlite3_stmt *statement, void *row)
{
    *(int64_t *)row = sqlite3_column_int64(statement, 1);
    return 0;
}

/* A secret's caller-sized buffer; too small is the caller's -ENOSPC. */
struct secret_row {
    unsigned char *value;
    size_t size;
    size_t *length;
};

static int
decode_secret(sqlite3_stmt *statement, void *row)
{
    struct secret_row *secret = row;
    int error = 0;

    if ((size_t)sqlite3_column_bytes(statement, 1) > secret->size)
        return -ENOSPC;
    column_blob(statement, 1, secret->value, secret->size, secret->length,
                &error);
    return error;
}

/*
 * Walking a table: rows are copied a page at a time under the reader's
 * lock and handed to the callback with no lock held, so a slow callback
 * delays no request and a callback may call the store itself. Pages follow
 * rowid, which is creation order.
 */
struct page_walk {
    enum statement id;
    size_t row_size;
    row_decode decode;
    /* Hands a decoded row to the caller's callback in each. */
    int (*call)(const void *row, const struct page_walk *walk);
    union {
        store_client_each client;
        store_signing_key_each signing_key;
        store_revocation_each revocation;
    } each;
    void *argument;
    int64_t now; /* ?3, for statements that take it */
};

static int
call_client(const void *row, const struct page_walk *walk)
{
    return walk->each.client(row, walk->argument);
}

static int
call_signing_key(const void *row, const struct page_walk *walk)
{
    return walk->each.signing_key(row, walk->argument);
}

static int
call_revocation(const void *row, const struct page_walk *walk)
{
    const struct revocation_row *revocation = row;

    return walk->each.revocation(revocation->token_id, revocation->expires_at,
                                 walk->argument);
}

/* Binds the page's bounds; only the revocation walk takes now. */
static int
page_bind(sqlite3_stmt *statement, const struct page_walk *walk, int64_t after)
{
    int code;

    code = sqlite3_bind_int64(statement, 1, after);
    if (code == SQLITE_OK)
        code = sqlite3_bind_int(statement, 2, PAGE_ROWS);
    if (code == SQLITE_OK && sqlite3_bind_parameter_count(statement) >= 3)
        code = sqlite3_bind_int64(statement, 3, walk->now);
    return code;
}

/* Reads the page after rowid *after into rows; *count says how many. */
static int
page_read(struct sqlite_connection *connection, const struct page_walk *walk,
          unsigned char *rows, int64_t *after, int *count)
{
    sqlite3_stmt *statement;
    int error;
    int code;

    error = statement_start(connection, walk->id, "", NULL, &statement);
    if (error != 0)
        return error;

    *count = 0;
    code = page_bind(statement, walk, *after);
    while (code == SQLITE_OK || code == SQLITE_ROW) {
        code = sqlite3_step(statement);
        if (code != SQLITE_ROW)
            break;
        error = walk->decode(statement, rows + walk->row_size * (size_t)*count);
        if (error != 0)
            break;
        *after = sqlite3_column_int64(statement, 0);
        (*count)++;
    }

    if (error == 0 && code != SQLITE_DONE)
        error = connection_error(connection, walk->id, code);
    statement_finish(statement);
    return error;
}

static int
page_walk_run(struct sqlite_store *store, const struct page_walk *walk)
{
    unsigned char *rows;
    int64_t after = 0;
    int count = PAGE_ROWS;
    int error = 0;

    rows = calloc(PAGE_ROWS, walk->row_size);
    if (rows == NULL)
        return -ENOMEM;

    while (error == 0 && count == PAGE_ROWS) {
        pthread_mutex_lock(&store->reader.lock);
        error = page_read(&store->reader, walk, rows, &after, &count);
        pthread_mutex_unlock(&store->reader.lock);

        for (int index = 0; error == 0 && index < count; index++)
            error = walk->call(rows + walk->row_size * (size_t)index, walk);
    }

    /* Client rows carry secret hashes. */
    explicit_bzero(rows, PAGE_ROWS * walk->row_size);
    free(rows);
    return error;
}

static int
sqlite_secret_get(struct store *base, const char *name, unsigned char *value,
                  size_t size, size_t *length)
{
    struct secret_row secret = {value, size, length};

    return read_row(&sqlite_store_get(base)->reader, STATEMENT_SECRET_GET,
                    decode_secret, &secret, "t", name);
}

static int
sqlite_secret_insert(struct store *base, const char *name,
                     const unsigned char *value, size_t length)
{
    return changed_any(write_run(sqlite_store_get(base),
                                 STATEMENT_SECRET_INSERT, "tb", name, value,
                                 length));
}

static int
sqlite_signing_key_insert(struct store *base,
                          const struct store_signing_key *key)
{
    if (key->sealed_length > sizeof(key->sealed_private_key))
        return -EINVAL;

    return changed_any(write_run(sqlite_store_get(base), STATEMENT_KEY_INSERT,
                                 "ttbii", key->id, key->algorithm,
                                 key->sealed_private_key, key->sealed_length,
                                 key->created_at, key->retired_at));
}

static int
sqlite_signing_key_list(struct store *base, store_signing_key_each each,
                        void *argument)
{
    struct page_walk walk = {
        .id = STATEMENT_KEY_PAGE,
        .row_size = sizeof(struct store_signing_key),
        .decode = decode_signing_key,
        .call = call_signing_key,
        .each.signing_key = each,
        .argument = argument,
    };

    return page_walk_run(sqlite_store_get(base), &walk);
}

static int
sqlite_signing_key_retire_all(struct store *base, int64_t retired_at)
{
    return changed_any(write_run(sqlite_store_get(base),
                                 STATEMENT_KEY_RETIRE_ALL, "i", retired_at));
}

static int
sqlite_signing_key_delete(struct store *base, const char *key_id)
{
    return changed_one(
        write_run(sqlite_store_get(base), STATEMENT_KEY_DELETE, "t", key_id));
}

static int
sqlite_client_insert(struct store *base, const struct store_client *client)
{
    return changed_any(
        write_run(sqlite_store_get(base), STATEMENT_CLIENT_INSERT, "tttttbiii",
                  client->id, client->name, client->scope, client->subject,
                  client->permissions, client->secret_hash,
                  sizeof(client->secret_hash), (int64_t)client->disabled,
                  client->created_at, client->tokens_not_before));
}

static int
sqlite_client_find(struct store *base, const char *client_id,
                   struct store_client *out)
{
    return read_row(&sqlite_store_get(base)->reader, STATEMENT_CLIENT_FIND,
                    decode_client, out, "t", client_id);
}

static int
sqlite_client_list(struct store *base, store_client_each each, void *argument)
{
    struct page_walk walk = {
        .id = STATEMENT_CLIENT_PAGE,
        .row_size = sizeof(struct store_client),
        .decode = decode_client,
        .call = call_client,
        .each.client = each,
        .argument = argument,
    };

    return page_walk_run(sqlite_store_get(base), &walk);
}

static int
sqlite_client_set_disabled(struct store *base, const char *client_id,
                           bool disabled)
{
    return changed_one(write_run(sqlite_store_get(base),
                                 STATEMENT_CLIENT_SET_DISABLED, "ti", client_id,
                                 (int64_t)disabled));
}

static int
sqlite_client_set_secret_hash(struct store *base, const char *client_id,
                              const unsigned char *secret_hash)
{
    return changed_one(write_run(
        sqlite_store_get(base), STATEMENT_CLIENT_SET_SECRET_HASH, "tb",
        client_id, secret_hash, (size_t)STORE_SECRET_HASH_SIZE));
}

static int
sqlite_client_revoke_tokens(struct store *base, const char *client_id,
                            int64_t not_before)
{
    return changed_one(write_run(sqlite_store_get(base),
                                 STATEMENT_CLIENT_REVOKE_TOKENS, "ti",
                                 client_id, not_before));
}

/* The client's families go with it through ON DELETE CASCADE. */
static int
sqlite_client_delete(struct store *base, const char *client_id)
{
    return changed_one(write_run(sqlite_store_get(base),
                                 STATEMENT_CLIENT_DELETE, "t", client_id));
}

/* Decides one rotation inside the batch's transaction, as store.h says.
 * The read and the write see the same state because the batch holds the
 * database's write lock from BEGIN IMMEDIATE on. */
static int
rotation_apply(struct sqlite_store *store, struct rotation_request *request)
{
    struct store_family family = {.generation = 0, .revoked = false};
    int changed;
    int error;

    error =
        read_row(&store->writer, STATEMENT_FAMILY_FIND, decode_family, &family,
                 "b", request->family_id, (size_t)STORE_FAMILY_ID_SIZE);
    if (error != 0 && error != -ENOENT)
        return error;

    if (family.revoked) {
        request->result = STORE_FAMILY_REVOKED;
        return 0;
    }

    if (request->presented < family.generation) {
        request->result = STORE_REUSED;
        changed = write_run(store, STATEMENT_FAMILY_REVOKE, "bti",
                            request->family_id, (size_t)STORE_FAMILY_ID_SIZE,
                            request->client_id, request->expires_at);
    } else {
        request->result = STORE_ROTATED;
        changed = write_run(store, STATEMENT_FAMILY_ROTATE, "btii",
                            request->family_id, (size_t)STORE_FAMILY_ID_SIZE,
                            request->client_id, (int64_t)request->presented + 1,
                            request->expires_at);
    }
    return changed_any(changed);
}

/*
 * The group commit's batch: every rotation in one transaction, then one
 * COMMIT, whose fsync (synchronous=FULL) makes them all durable before any
 * caller sees its result. A missing client (-ENOENT) fails only its own
 * statement; any other failure rolls the whole batch back and fails every
 * request in it, so no caller hands out a token the store forgot.
 */
static void
rotation_run_batch(struct group_commit_request *batch, void *argument)
{
    struct sqlite_store *store = argument;
    struct rotation_request *request;
    int error;

    pthread_mutex_lock(&store->writer.lock);
    error = write_run(store, STATEMENT_BEGIN, "");
    for (struct group_commit_request *queued = batch;
         queued != NULL && error >= 0; queued = queued->next) {
        request = (struct rotation_request *)queued;
        request->status = rotation_apply(store, request);
        if (request->status != 0 && request->status != -ENOENT)
            error = request->status;
    }
    if (error >= 0)
        error = write_run(store, STATEMENT_COMMIT, "");

    if (error < 0) {
        if (!sqlite3_get_autocommit(store->writer.database))
            write_run(store, STATEMENT_ROLLBACK, "");
        for (struct group_commit_request *queued = batch; queued != NULL;
             queued = queued->next)
            ((struct rotation_request *)queued)->status = error;
    }
    pthread_mutex_unlock(&store->writer.lock);
}

static int
sqlite_family_rotate(struct store *base, const unsigned char *family_id,
                     const char *client_id, uint32_t presented,
                     int64_t expires_at, enum store_rotation *result)
{
    struct sqlite_store *store = sqlite_store_get(base);
    struct rotation_request request = {
        .family_id = family_id,
        .client_id = client_id,
        .presented = presented,
        .expires_at = expires_at,
    };

    /* The next generation must still fit in a token's 32 bits. */
    if (presented == UINT32_MAX)
        return -EINVAL;

    group_commit_submit(&store->rotations, &request.queued);
    if (request.status == 0)
        *result = request.result;
    return request.status;
}

static int
sqlite_family_find(struct store *base, const unsigned char *family_id,
                   struct store_family *out)
{
    return read_row(&sqlite_store_get(base)->reader, STATEMENT_FAMILY_FIND,
                    decode_family, out, "b", family_id,
                    (size_t)STORE_FAMILY_ID_SIZE);
}

static int
sqlite_family_revoke(struct store *base, const unsigned char *family_id,
                     const char *client_id, int64_t expires_at)
{
    return changed_any(write_run(
        sqlite_store_get(base), STATEMENT_FAMILY_REVOKE, "bti", family_id,
        (size_t)STORE_FAMILY_ID_SIZE, client_id, expires_at));
}

static int
sqlite_revocation_insert(struct store *base, const char *token_id,
                         int64_t expires_at)
{
    if (strlen(token_id) >= STORE_TOKEN_ID_SIZE)
        return -EINVAL;

    return changed_any(write_run(sqlite_store_get(base),
                                 STATEMENT_REVOCATION_INSERT, "ti", token_id,
                                 expires_at));
}

static int
sqlite_revocation_list(struct store *base, int64_t now,
                       store_revocation_each each, void *argument)
{
    struct page_walk walk = {
        .id = STATEMENT_REVOCATION_PAGE,
        .row_size = sizeof(struct revocation_row),
        .decode = decode_revocation,
        .call = call_revocation,
        .each.revocation = each,
        .argument = argument,
        .now = now,
    };

    return page_walk_run(sqlite_store_get(base), &walk);
}

static int
sqlite_change_counter(struct store *base, int64_t *out)
{
    return read_row(&sqlite_store_get(base)->reader, STATEMENT_CHANGE_COUNTER,
                    decode_counter, out, "");
}

/* Each DELETE is bounded (batch rows per table), so cleanup holds the
 * write lock only briefly and rotations queued behind it wait a few
 * milliseconds at most; the caller calls again while rows go. */
static int
sqlite_cleanup(struct store *base, int64_t now, int batch, int *deleted)
{
    struct sqlite_store *store = sqlite_store_get(base);
    int families;
    int revocations;

    *deleted = 0;
    if (batch <= 0)
        return batch == 0 ? 0 : -EINVAL;

    families =
        write_run(store, STATEMENT_CLEANUP_FAMILIES, "ii", now, (int64_t)batch);
    if (families < 0)
        return families;

    revocations = write_run(store, STATEMENT_CLEANUP_REVOCATIONS, "ii", now,
                            (int64_t)batch);
    if (revocations < 0)
        return revocations;

    *deleted = families + revocations;
    return 0;
}

/* Creates the file before SQLite does, so that it is born 0600 whatever
 * the umask: it holds the sealed keys and the secret hashes. SQLite gives
 * the -wal and -shm files the database file's mode. */
static int
file_prepare(const char *path)
{
    struct stat status;
    int descriptor;
    int error;

    descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (descriptor < 0) {
        error = -errno;
        log_write(LOG_ERROR, "store failed", "operation=open error=\"%s\"",
                  strerror(-error));
        return error;
    }

    if (fstat(descriptor, &status) == 0 && (status.st_mode & 077) != 0)
        log_write(LOG_WARN, "store file readable by others", "mode=%04o",
                  (unsigned)(status.st_mode & 07777));
    close(descriptor);
    return 0;
}

/* settings: the connection's pragmas, run once after opening. */
static int
connection_open(struct sqlite_connection *connection, const char *path,
                const char *settings)
{
    char quoted[256];
    int code;

    code = sqlite3_open_v2(path, &connection->database,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (code == SQLITE_OK)
        code = sqlite3_extended_result_codes(connection->database, 1);
    if (code == SQLITE_OK)
        code = sqlite3_busy_timeout(connection->database,
                                    BUSY_TIMEOUT_MILLISECONDS);
    if (code == SQLITE_OK)
        code = sqlite3_exec(connection->database, settings, NULL, NULL, NULL);
    if (code == SQLITE_OK)
        return 0;

    log_write(LOG_ERROR, "store failed", "operation=open error=%s",
              log_quote(connection->database != NULL
                            ? sqlite3_errmsg(connection->database)
                            : sqlite3_errstr(code),
                        quoted, sizeof(quoted)));
    return -EIO;
}

/* WAL lets the reader run during a commit; the pragma answers the mode in
 * force, which is not WAL on file systems without shared memory. */
static int
journal_set_wal(struct sqlite_connection *connection)
{
    sqlite3_stmt *statement = NULL;
    const unsigned char *mode = NULL;
    int error = -EIO;

    if (sqlite3_prepare_v2(connection->database, "PRAGMA journal_mode = WAL",
                           -1, &statement, NULL) == SQLITE_OK &&
        sqlite3_step(statement) == SQLITE_ROW)
        mode = sqlite3_column_text(statement, 0);
    if (mode != NULL && strcmp((const char *)mode, "wal") == 0)
        error = 0;
    sqlite3_finalize(statement);

    if (error != 0)
        log_write(LOG_ERROR, "store failed",
                  "operation=open error=\"cannot use WAL mode\"");
    return error;
}

static void
connection_close(struct sqlite_connection *connection)
{
    for (int id = 0; id < STATEMENT_COUNT; id++)
        sqlite3_finalize(connection->statements[id]);
    sqlite3_close(connection->database);
    pthread_mutex_destroy(&connection->lock);
}

static void
sqlite_close(struct store *base)
{
    struct sqlite_store *store = sqlite_store_get(base);

    connection_close(&store->reader);
    connection_close(&store->writer);
    group_commit_destroy(&store->rotations);
    free(store->path);
    free(store);
}

static const char *
sqlite_file_path(const struct store *base)
{
    return ((const struct sqlite_store *)base)->path;
}

/* Recursive, so that a rotation batch can hold the writer's lock around
 * its transaction and still run each statement through write_run. */
static int
connection_lock_init(struct sqlite_connection *connection)
{
    pthread_mutexattr_t attributes;
    int error;

    error = pthread_mutexattr_init(&attributes);
    if (error != 0)
        return -error;
    error = pthread_mutexattr_settype(&attributes, PTHREAD_MUTEX_RECURSIVE);
    if (error == 0)
        error = pthread_mutex_init(&connection->lock, &attributes);
    pthread_mutexattr_destroy(&attributes);
    return -error;
}

/* Everything sqlite_close releases is set up here, so that it can close a
 * store whose connections never opened. */
static int
sqlite_store_new(const char *path, struct sqlite_store **out)
{
    struct sqlite_store *store;

    store = calloc(1, sizeof(*store));
    if (store == NULL)
        return -ENOMEM;
    store->base.operations = &sqlite_operations;

    store->path = strdup(path);
    if (store->path == NULL)
        goto fail;
    if (connection_lock_init(&store->writer) != 0)
        goto fail;
    if (connection_lock_init(&store->reader) != 0) {
        pthread_mutex_destroy(&store->writer.lock);
        goto fail;
    }
    if (group_commit_init(&store->rotations, rotation_run_batch, store) != 0) {
        pthread_mutex_destroy(&store->reader.lock);
        pthread_mutex_destroy(&store->writer.lock);
        goto fail;
    }

    *out = store;
    return 0;

fail:
    free(store->path);
    free(store);
    return -ENOMEM;
}

/*
 * synchronous=FULL: a commit returns only after its WAL frames are on disk,
 * which is what lets a rotated refresh token go out. The writer migrates
 * the schema before the reader opens, so the reader never sees an old one.
 */
int
store_sqlite_open(const char *path, struct store **out)
{
    struct sqlite_store *store;
    int error;

    error = sqlite_store_new(path, &store);
    if (error != 0)
        return error;

    error = file_prepare(path);
    if (error == 0)
        error = connection_open(&store->writer, path,
                                "PRAGMA synchronous = FULL;"
                                "PRAGMA foreign_keys = ON");
    if (error == 0)
        error = journal_set_wal(&store->writer);
    if (error == 0)
        error = store_sqlite_schema_migrate(store->writer.database);
    if (error == 0)
        error = connection_open(&store->reader, path, "PRAGMA query_only = ON");
    if (error != 0)
        goto fail;

    *out = &store->base;
    return 0;

fail:
    sqlite_close(&store->base);
    return error;
}

static const struct store_operations sqlite_operations = {
    .kind = "sqlite",
    .close = sqlite_close,
    .file_path = sqlite_file_path,
    .secret_get = sqlite_secret_get,
    .secret_insert = sqlite_secret_insert,
    .signing_key_insert = sqlite_signing_key_insert,
    .signing_key_list = sqlite_signing_key_list,
    .signing_key_retire_all = sqlite_signing_key_retire_all,
    .signing_key_delete = sqlite_signing_key_delete,
    .client_insert = sqlite_client_insert,
    .client_find = sqlite_client_find,
    .client_list = sqlite_client_list,
    .client_set_disabled = sqlite_client_set_disabled,
    .client_set_secret_hash = sqlite_client_set_secret_hash,
    .client_revoke_tokens = sqlite_client_revoke_tokens,
    .client_delete = sqlite_client_delete,
    .family_rotate = sqlite_family_rotate,
    .family_find = sqlite_family_find,
    .family_revoke = sqlite_family_revoke,
    .revocation_insert = sqlite_revocation_insert,
    .revocation_list = sqlite_revocation_list,
    .change_counter = sqlite_change_counter,
    .cleanup = sqlite_cleanup,
};
