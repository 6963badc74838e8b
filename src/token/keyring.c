/*
 * The keyring of keyring.h: server secrets and signing keys, read from the
 * store and opened with the master key, or made and stored on first start.
 * Instances that start at the same time converge on the same keys: a
 * secret written second loses to the one written first, and every instance
 * re-reads the signing keys after adding one and picks the newest by the
 * same rule. One that re-read before another's key landed signs with its
 * own until its next load, which that insert triggers through the store's
 * change counter.
 */
#include "token/keyring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "log/log.h"
#include "token/refresh_token.h"
#include "token/secret.h"
#include "util/text.h"

#define SECRET_HASH_KEY_NAME "secret_hash_key"
#define REFRESH_TOKEN_KEY_NAME "refresh_token_key"
#define SERVER_SECRET_SIZE 32
#define PRIVATE_KEY_MAX (STORE_SEALED_KEY_SIZE - MASTER_KEY_SEAL_OVERHEAD)

_Static_assert(SECRET_KEY_SIZE == SERVER_SECRET_SIZE &&
                   REFRESH_TOKEN_KEY_SIZE == SERVER_SECRET_SIZE,
               "both server secrets are 32 random bytes");

struct keyring {
    unsigned char secret_hash_key[SECRET_KEY_SIZE];
    unsigned char refresh_token_key[REFRESH_TOKEN_KEY_SIZE];
    struct signing_key **keys; /* oldest first, as the store lists them */
    size_t count;
    size_t capacity;
    /* The newest key that is not retired, and when it was made. */
    const struct signing_key *signing;
    int64_t signing_created_at;
};

struct key_walk {
    struct keyring *keyring;
    const unsigned char *master_key;
    int64_t oldest_retired; /* keys retired before this are skipped */
};

static int
server_secret_read(struct store *store, const unsigned char *master_key,
                   const char *name, unsigned char out[SERVER_SECRET_SIZE])
{
    unsigned char sealed[STORE_SEALED_KEY_SIZE];
    size_t sealed_length, length;
    int error;

    error =
        store_secret_get(store, name, sealed, sizeof(sealed), &sealed_length);
    if (error != 0)
        return error;

    error = master_key_open(master_key, sealed, sealed_length, out,
                            SERVER_SECRET_SIZE, &length);
    if (error == -ENOSPC || (error == 0 && length != SERVER_SECRET_SIZE))
        error = -EINVAL;
    return error;
}

static int
server_secret_create(struct store *store, const unsigned char *master_key,
                     const char *name, unsigned char out[SERVER_SECRET_SIZE])
{
    unsigned char sealed[SERVER_SECRET_SIZE + MASTER_KEY_SEAL_OVERHEAD];
    size_t sealed_length;
    int error;

    randombytes_buf(out, SERVER_SECRET_SIZE);
    error = master_key_seal(master_key, out, SERVER_SECRET_SIZE, sealed,
                            sizeof(sealed), &sealed_length);
    if (error != 0)
        return error;
    return store_secret_insert(store, name, sealed, sealed_length);
}

static int
server_secret_load(struct store *store, const unsigned char *master_key,
                   const char *name, unsigned char out[SERVER_SECRET_SIZE])
{
    int error;

    error = server_secret_read(store, master_key, name, out);
    if (error != -ENOENT)
        return error;

    error = server_secret_create(store, master_key, name, out);

    /* Another instance stored its secret first: everyone uses that one,
     * or secret hashes and refresh tokens would differ between them. */
    if (error == -EEXIST)
        error = server_secret_read(store, master_key, name, out);
    if (error != 0)
        sodium_memzero(out, SERVER_SECRET_SIZE);
    return error;
}

/* Opens a stored key with the master key. */
static int
key_open(const unsigned char *master_key,
         const struct store_signing_key *stored, struct signing_key **out)
{
    unsigned char private_key[PRIVATE_KEY_MAX];
    enum signing_algorithm algorithm;
    size_t length;
    int error;

    /* An algorithm this build does not know (a newer one wrote it) stops
     * the load: skipping the key could make us sign with an older one. */
    error = signing_algorithm_parse(stored->algorithm, &algorithm);
    if (error != 0 ||
        stored->sealed_length > sizeof(stored->sealed_private_key))
        return -EINVAL;

    error = master_key_open(master_key, stored->sealed_private_key,
                            stored->sealed_length, private_key,
                            sizeof(private_key), &length);
    if (error == 0)
        error =
            signing_key_import(algorithm, stored->id, private_key, length, out);
    sodium_memzero(private_key, sizeof(private_key));
    return error;
}

/* The signing key is the newest that is not retired; on a tie the
 * greatest key ID, so that every instance picks the same one. */
static bool
key_takes_over_signing(const struct keyring *keyring,
                       const struct store_signing_key *stored)
{
    if (stored->retired_at != 0)
        return false;
    if (keyring->signing == NULL ||
        stored->created_at > keyring->signing_created_at)
        return true;
    return stored->created_at == keyring->signing_created_at &&
           strcmp(stored->id, signing_key_id(keyring->signing)) > 0;
}

static int
keyring_add(struct keyring *keyring, struct signing_key *key,
            const struct store_signing_key *stored)
{
    struct signing_key **keys;
    size_t capacity;

    if (keyring->count == keyring->capacity) {
        capacity = keyring->capacity == 0 ? 4 : keyring->capacity * 2;
        keys = reallocarray(keyring->keys, capacity, sizeof(*keys));
        if (keys == NULL)
            return -ENOMEM;
        keyring->keys = keys;
        keyring->capacity = capacity;
    }

    if (key_takes_over_signing(keyring, stored)) {
        keyring->signing = key;
        keyring->signing_created_at = stored->created_at;
    }
    keyring->keys[keyring->count++] = key;
    return 0;
}

static int
key_collect(const struct store_signing_key *stored, void *argument)
{
    struct key_walk *walk = argument;
    struct signing_key *key;
    int error;

    /* Every token such a key signed has expired. */
    if (stored->retired_at != 0 && stored->retired_at < walk->oldest_retired)
        return 0;

    error = key_open(walk->master_key, stored, &key);
    if (error != 0)
        return error;
    error = keyring_add(walk->keyring, key, stored);
    if (error != 0)
        signing_key_free(key);
    return error;
}

static void
keyring_clear_keys(struct keyring *keyring)
{
    for (size_t i = 0; i < keyring->count; i++)
        signing_key_free(keyring->keys[i]);
    keyring->count = 0;
    keyring->signing = NULL;
}

static int
keyring_load_keys(struct keyring *keyring, struct store *store,
                  const unsigned char *master_key, int64_t oldest_retired)
{
    struct key_walk walk = {keyring, master_key, oldest_retired};

    keyring_clear_keys(keyring);
    return store_signing_key_list(store, key_collect, &walk);
}

/* Makes a key of algorithm and stores it, sealed, as created at now. */
static int
key_create(struct store *store, const unsigned char *master_key,
           enum signing_algorithm algorithm, int64_t now)
{
    unsigned char private_key[PRIVATE_KEY_MAX];
    struct store_signing_key stored = {.created_at = now};
    struct signing_key *key;
    size_t length;
    int error;

    error = signing_key_generate(algorithm, &key);
    if (error != 0)
        return error;

    error = signing_key_export(key, private_key, sizeof(private_key), &length);
    if (error != 0)
        goto fail;
    error = master_key_seal(
        master_key, private_key, length, stored.sealed_private_key,
        sizeof(stored.sealed_private_key), &stored.sealed_length);
    if (error != 0)
        goto fail;

    if (text_copy(stored.id, sizeof(stored.id), signing_key_id(key)) != 0 ||
        text_copy(stored.algorithm, sizeof(stored.algorithm),
                  signing_algorithm_name(algorithm)) != 0) {
        error = -EINVAL;
        goto fail;
    }
    error = store_signing_key_insert(store, &stored);
    if (error != 0)
        goto fail;
    log_write(LOG_NOTICE, "signing key created", "key_id=%s algorithm=%s",
              stored.id, stored.algorithm);

fail:
    sodium_memzero(private_key, sizeof(private_key));
    signing_key_free(key);
    return error;
}

int
keyring_load(struct store *store,
             const unsigned char master_key[MASTER_KEY_SIZE],
             enum signing_algorithm algorithm, int64_t now,
             int64_t keep_retired, struct keyring **out)
{
    int64_t oldest_retired = now - keep_retired;
    struct keyring *keyring;
    int error;

    if (sodium_init() < 0)
        return -EIO;
    keyring = calloc(1, sizeof(*keyring));
    if (keyring == NULL)
        return -ENOMEM;

    error = server_secret_load(store, master_key, SECRET_HASH_KEY_NAME,
                               keyring->secret_hash_key);
    if (error == 0)
        error = server_secret_load(store, master_key, REFRESH_TOKEN_KEY_NAME,
                                   keyring->refresh_token_key);
    if (error == 0)
        error = keyring_load_keys(keyring, store, master_key, oldest_retired);
    if (error != 0)
        goto fail;

    /* No key signs: a first start, or every key was retired. Add one and
     * read them all again, so that instances doing this at the same time
     * see each other's keys and pick one by the same rule. */
    if (keyring->signing == NULL) {
        error = key_create(store, master_key, algorithm, now);
        if (error == 0)
            error =
                keyring_load_keys(keyring, store, master_key, oldest_retired);
        if (error == 0 && keyring->signing == NULL)
            error = -EIO;
        if (error != 0)
            goto fail;
    }

    *out = keyring;
    return 0;

fail:
    keyring_free(keyring);
    return error;
}

int
keyring_rotate(struct store *store,
               const unsigned char master_key[MASTER_KEY_SIZE],
               enum signing_algorithm algorithm, int64_t now)
{
    int error;

    /* Retired keys stay published, so the tokens they signed still verify
     * until they expire. */
    error = store_signing_key_retire_all(store, now);
    if (error != 0)
        return error;
    return key_create(store, master_key, algorithm, now);
}

const unsigned char *
keyring_secret_hash_key(const struct keyring *keyring)
{
    return keyring->secret_hash_key;
}

const unsigned char *
keyring_refresh_token_key(const struct keyring *keyring)
{
    return keyring->refresh_token_key;
}

const struct signing_key *
keyring_signing_key(const struct keyring *keyring)
{
    return keyring->signing;
}

const struct signing_key *
keyring_find(const struct keyring *keyring, const char *key_id)
{
    for (size_t i = 0; i < keyring->count; i++)
        if (strcmp(signing_key_id(keyring->keys[i]), key_id) == 0)
            return keyring->keys[i];
    return NULL;
}

int
keyring_format_jwks(const struct keyring *keyring, char *out, size_t size)
{
    char jwk[SIGNING_KEY_JWK_SIZE];
    struct text_buffer text;
    int length;

    text_init(&text, out, size);
    text_append(&text, "{\"keys\":[");
    for (size_t i = 0; i < keyring->count; i++) {
        length = signing_key_format_jwk(keyring->keys[i], jwk, sizeof(jwk));
        if (length < 0)
            return length;
        if (i > 0)
            text_append(&text, ",");
        text_append_bytes(&text, jwk, (size_t)length);
    }
    text_append(&text, "]}");
    return text.overflow ? -ENOSPC : (int)text.length;
}

void
keyring_free(struct keyring *keyring)
{
    if (keyring == NULL)
        return;

    keyring_clear_keys(keyring);
    free(keyring->keys);
    sodium_memzero(keyring, sizeof(*keyring));
    free(keyring);
}
