/*
 * The store's front: store_open picks a backend by URL, and every other
 * function forwards through the backend's operations table. Called by
 * tokend and tokenctl; backends live in sqlite.c and postgres.c.
 */
#include "store/store.h"

#include <errno.h>
#include <string.h>

#include "store/store_backend.h"

static bool
has_prefix(const char *text, const char *prefix)
{
    return strncmp(text, prefix, strlen(prefix)) == 0;
}

/* Anything with a scheme other than ours is refused rather than taken for
 * a file name, so a typo such as "postgress://" does not create a file. */
int
store_open(const char *url, struct store **out)
{
    if (url == NULL || url[0] == '\0')
        return -EINVAL;

    if (has_prefix(url, "postgres://") || has_prefix(url, "postgresql://"))
        return store_postgres_open(url, out);
    if (has_prefix(url, "sqlite:"))
        url += strlen("sqlite:");
    else if (strstr(url, "://") != NULL)
        return -EINVAL;

    if (url[0] == '\0')
        return -EINVAL;
    return store_sqlite_open(url, out);
}

void
store_close(struct store *store)
{
    if (store != NULL)
        store->operations->close(store);
}

const char *
store_kind(const struct store *store)
{
    return store->operations->kind;
}

const char *
store_file_path(const struct store *store)
{
    if (store->operations->file_path == NULL)
        return NULL;
    return store->operations->file_path(store);
}

int
store_secret_get(struct store *store, const char *name, unsigned char *value,
                 size_t size, size_t *length)
{
    return store->operations->secret_get(store, name, value, size, length);
}

int
store_secret_insert(struct store *store, const char *name,
                    const unsigned char *value, size_t length)
{
    return store->operations->secret_insert(store, name, value, length);
}

int
store_signing_key_insert(struct store *store,
                         const struct store_signing_key *key)
{
    return store->operations->signing_key_insert(store, key);
}

int
store_signing_key_list(struct store *store, store_signing_key_each each,
                       void *argument)
{
    return store->operations->signing_key_list(store, each, argument);
}

int
store_signing_key_retire_all(struct store *store, int64_t retired_at)
{
    return store->operations->signing_key_retire_all(store, retired_at);
}

int
store_signing_key_delete(struct store *store, const char *key_id)
{
    return store->operations->signing_key_delete(store, key_id);
}

int
store_client_insert(struct store *store, const struct store_client *client)
{
    return store->operations->client_insert(store, client);
}

int
store_client_find(struct store *store, const char *client_id,
                  struct store_client *out)
{
    return store->operations->client_find(store, client_id, out);
}

int
store_client_list(struct store *store, store_client_each each, void *argument)
{
    return store->operations->client_list(store, each, argument);
}

int
store_client_set_disabled(struct store *store, const char *client_id,
                          bool disabled)
{
    return store->operations->client_set_disabled(store, client_id, disabled);
}

int
store_client_set_secret_hash(
    struct store *store, const char *client_id,
    const unsigned char secret_hash[STORE_SECRET_HASH_SIZE])
{
    return store->operations->client_set_secret_hash(store, client_id,
                                                     secret_hash);
}

int
store_client_revoke_tokens(struct store *store, const char *client_id,
                           int64_t not_before)
{
    return store->operations->client_revoke_tokens(store, client_id,
                                                   not_before);
}

int
store_client_delete(struct store *store, const char *client_id)
{
    return store->operations->client_delete(store, client_id);
}

int
store_family_rotate(struct store *store,
                    const unsigned char family_id[STORE_FAMILY_ID_SIZE],
                    const char *client_id, uint32_t presented,
                    int64_t expires_at, enum store_rotation *result)
{
    return store->operations->family_rotate(store, family_id, client_id,
                                            presented, expires_at, result);
}

int
store_family_find(struct store *store,
                  const unsigned char family_id[STORE_FAMILY_ID_SIZE],
                  struct store_family *out)
{
    return store->operations->family_find(store, family_id, out);
}

int
store_family_revoke(struct store *store,
                    const unsigned char family_id[STORE_FAMILY_ID_SIZE],
                    const char *client_id, int64_t expires_at)
{
    return store->operations->family_revoke(store, family_id, client_id,
                                            expires_at);
}

int
store_revocation_insert(struct store *store, const char *token_id,
                        int64_t expires_at)
{
    return store->operations->revocation_insert(store, token_id, expires_at);
}

int
store_revocation_list(struct store *store, int64_t now,
                      store_revocation_each each, void *argument)
{
    return store->operations->revocation_list(store, now, each, argument);
}

int
store_change_counter(struct store *store, int64_t *out)
{
    return store->operations->change_counter(store, out);
}

int
store_cleanup(struct store *store, int64_t now, int batch, int *deleted)
{
    return store->operations->cleanup(store, now, batch, deleted);
}
