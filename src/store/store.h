/*
 * The storage interface: clients, server secrets, signing keys, refresh
 * token families and access token revocations. tokend and tokenctl call
 * only these functions; sqlite.c and postgres.c implement them behind
 * store_backend.h, chosen by the URL given to store_open().
 *
 * Every function returns 0 or a negative errno value. -ENOENT: no such
 * row. -EEXIST: a row with that key exists. -EIO: the backend failed (the
 * backend has logged why). -EAGAIN: the database is unreachable now. The
 * store is safe to call from many threads at once.
 */
#ifndef TOKEND_STORE_STORE_H
#define TOKEND_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_CLIENT_ID_SIZE 65
#define STORE_NAME_SIZE 129
#define STORE_SCOPE_SIZE 256
#define STORE_SUBJECT_SIZE 129
#define STORE_PERMISSIONS_SIZE 64
#define STORE_SECRET_HASH_SIZE 32
#define STORE_FAMILY_ID_SIZE 16
#define STORE_KEY_ID_SIZE 64
#define STORE_ALGORITHM_SIZE 16
#define STORE_SEALED_KEY_SIZE 512
#define STORE_TOKEN_ID_SIZE 64

struct store;

struct store_client {
    char id[STORE_CLIENT_ID_SIZE];
    char name[STORE_NAME_SIZE];
    /* Space-separated scopes the client may ask for; may be empty. */
    char scope[STORE_SCOPE_SIZE];
    /* The member whose permissions the credentials carry; empty means
     * the client ID is the token's subject. */
    char subject[STORE_SUBJECT_SIZE];
    /* Space-separated extra rights, e.g. "introspect". */
    char permissions[STORE_PERMISSIONS_SIZE];
    unsigned char secret_hash[STORE_SECRET_HASH_SIZE];
    bool disabled;
    int64_t created_at;
    /* Tokens of this client issued before this time are revoked. */
    int64_t tokens_not_before;
};

struct store_signing_key {
    char id[STORE_KEY_ID_SIZE];
    char algorithm[STORE_ALGORITHM_SIZE];
    /* The private key, sealed with the master key (see master_key.h). */
    unsigned char sealed_private_key[STORE_SEALED_KEY_SIZE];
    size_t sealed_length;
    int64_t created_at;
    /* 0 while the key signs; else when it stopped signing. */
    int64_t retired_at;
};

/* The rotation state of one refresh token family: every refresh token
 * descended from one client_credentials grant. A family without a row
 * is at generation 0 and not revoked. */
struct store_family {
    unsigned char id[STORE_FAMILY_ID_SIZE];
    char client_id[STORE_CLIENT_ID_SIZE];
    uint32_t generation;
    bool revoked;
    int64_t expires_at;
};

enum store_rotation {
    STORE_ROTATED,        /* the presented generation was current */
    STORE_REUSED,         /* an older generation: the family is now revoked */
    STORE_FAMILY_REVOKED, /* the family was revoked before */
};

typedef int (*store_client_each)(const struct store_client *client,
                                 void *argument);
typedef int (*store_signing_key_each)(const struct store_signing_key *key,
                                      void *argument);
typedef int (*store_revocation_each)(const char *token_id, int64_t expires_at,
                                     void *argument);

/* Opens the store named by url ("PATH", "sqlite:PATH", "postgres://...",
 * "postgresql://...") and brings its schema up to date. On success *out is
 * the caller's, released with store_close(). -EINVAL: an unknown URL. */
int store_open(const char *url, struct store **out);
void store_close(struct store *store);

/* "sqlite" or "postgres". */
const char *store_kind(const struct store *store);

/* For an SQLite store, the path of the database file; NULL otherwise. The
 * string is borrowed from the store. */
const char *store_file_path(const struct store *store);

/* Named server secrets, stored as opaque (already sealed) bytes.
 * store_secret_insert: -EEXIST when another process stored it first. */
int store_secret_get(struct store *store, const char *name,
                     unsigned char *value, size_t size, size_t *length);
int store_secret_insert(struct store *store, const char *name,
                        const unsigned char *value, size_t length);

int store_signing_key_insert(struct store *store,
                             const struct store_signing_key *key);
/* Calls each for every key, oldest first; a non-zero return stops the walk
 * and is returned. */
int store_signing_key_list(struct store *store, store_signing_key_each each,
                           void *argument);
/* Marks every key that still signs as retired at retired_at. */
int store_signing_key_retire_all(struct store *store, int64_t retired_at);
int store_signing_key_delete(struct store *store, const char *key_id);

int store_client_insert(struct store *store,
                        const struct store_client *client);
int store_client_find(struct store *store, const char *client_id,
                      struct store_client *out);
/* Calls each for every client, in creation order. */
int store_client_list(struct store *store, store_client_each each,
                      void *argument);
int store_client_set_disabled(struct store *store, const char *client_id,
                              bool disabled);
int store_client_set_secret_hash(
    struct store *store, const char *client_id,
    const unsigned char secret_hash[STORE_SECRET_HASH_SIZE]);
int store_client_revoke_tokens(struct store *store, const char *client_id,
                               int64_t not_before);
/* Deletes the client and every refresh token family of it. */
int store_client_delete(struct store *store, const char *client_id);

/*
 * Rotates a family in one atomic, durable step. With current the family's
 * generation (0 without a row): presented >= current sets the generation to
 * presented + 1 and expires_at, STORE_ROTATED; presented < current marks the
 * family revoked, STORE_REUSED; a revoked family gives STORE_FAMILY_REVOKED.
 * Accepting presented > current keeps a token valid if a power loss rolled
 * back the rotation that issued it: the token's HMAC proves we minted it.
 */
int store_family_rotate(struct store *store,
                        const unsigned char family_id[STORE_FAMILY_ID_SIZE],
                        const char *client_id, uint32_t presented,
                        int64_t expires_at, enum store_rotation *result);
/* -ENOENT when the family has no row (generation 0, not revoked). */
int store_family_find(struct store *store,
                      const unsigned char family_id[STORE_FAMILY_ID_SIZE],
                      struct store_family *out);
/* Revokes the family, creating its row if needed. */
int store_family_revoke(struct store *store,
                        const unsigned char family_id[STORE_FAMILY_ID_SIZE],
                        const char *client_id, int64_t expires_at);

/* Revoked access tokens, by token ID (jti), kept until they expire. */
int store_revocation_insert(struct store *store, const char *token_id,
                            int64_t expires_at);
/* Calls each for every revocation that has not expired at now. */
int store_revocation_list(struct store *store, int64_t now,
                          store_revocation_each each, void *argument);

/* A number that grows with every change to clients, signing keys or
 * revocations, so that caches know when to reload. */
int store_change_counter(struct store *store, int64_t *out);

/* Deletes at most batch expired families and revocations (expired at now);
 * *deleted says how many went. */
int store_cleanup(struct store *store, int64_t now, int batch, int *deleted);

#endif
