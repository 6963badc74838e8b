/*
 * What a storage backend implements: one table of functions, mirroring
 * store.h. store.c picks the backend by URL and forwards each call. Only
 * backends include this header.
 */
#ifndef TOKEND_STORE_STORE_BACKEND_H
#define TOKEND_STORE_STORE_BACKEND_H

#include "store/store.h"

struct store_operations {
    const char *kind;
    void (*close)(struct store *store);
    const char *(*file_path)(const struct store *store);
    int (*secret_get)(struct store *store, const char *name,
                      unsigned char *value, size_t size, size_t *length);
    int (*secret_insert)(struct store *store, const char *name,
                         const unsigned char *value, size_t length);
    int (*signing_key_insert)(struct store *store,
                              const struct store_signing_key *key);
    int (*signing_key_list)(struct store *store, store_signing_key_each each,
                            void *argument);
    int (*signing_key_retire_all)(struct store *store, int64_t retired_at);
    int (*signing_key_delete)(struct store *store, const char *key_id);
    int (*client_insert)(struct store *store,
                         const struct store_client *client);
    int (*client_find)(struct store *store, const char *client_id,
                       struct store_client *out);
    int (*client_list)(struct store *store, store_client_each each,
                       void *argument);
    int (*client_set_disabled)(struct store *store, const char *client_id,
                               bool disabled);
    int (*client_set_secret_hash)(struct store *store, const char *client_id,
                                  const unsigned char *secret_hash);
    int (*client_revoke_tokens)(struct store *store, const char *client_id,
                                int64_t not_before);
    int (*client_delete)(struct store *store, const char *client_id);
    int (*family_rotate)(struct store *store, const unsigned char *family_id,
                         const char *client_id, uint32_t presented,
                         int64_t expires_at, enum store_rotation *result);
    int (*family_find)(struct store *store, const unsigned char *family_id,
                       struct store_family *out);
    int (*family_revoke)(struct store *store, const unsigned char *family_id,
                         const char *client_id, int64_t expires_at);
    int (*revocation_insert)(struct store *store, const char *token_id,
                             int64_t expires_at);
    int (*revocation_list)(struct store *store, int64_t now,
                           store_revocation_each each, void *argument);
    int (*change_counter)(struct store *store, int64_t *out);
    int (*cleanup)(struct store *store, int64_t now, int batch, int *deleted);
};

/* Every backend's handle starts with this, so store.c can dispatch. */
struct store {
    const struct store_operations *operations;
};

/* Each backend's opener: 0 and *out, or a negative errno. */
int store_sqlite_open(const char *path, struct store **out);
int store_postgres_open(const char *url, struct store **out);

#endif
