/*
 * The verified-token cache. An entry is found by a keyed BLAKE2b digest of
 * the token text: without the random key nobody can make another token
 * with the same digest, so a hit is as good as the signature it stands
 * for. Entries sit in a fixed, direct-mapped table (memory stays bounded
 * whatever arrives), guarded by striped locks so that no lock is shared by
 * all threads.
 */
#include "cache/verified_tokens.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define DIGEST_SIZE 32
#define STRIPE_COUNT 64

struct entry {
    unsigned char digest[DIGEST_SIZE];
    bool used;
    struct access_token_claims claims;
};

struct verified_tokens {
    size_t capacity;
    unsigned char key[crypto_generichash_KEYBYTES];
    pthread_mutex_t stripes[STRIPE_COUNT];
    struct entry *entries;
};

int
verified_tokens_new(size_t capacity, struct verified_tokens **out)
{
    struct verified_tokens *cache;

    *out = NULL;
    if (capacity == 0)
        return 0;

    cache = calloc(1, sizeof(*cache));
    if (cache == NULL)
        return -ENOMEM;
    /* calloc'd pages cost no memory until an entry lands on them. */
    cache->entries = calloc(capacity, sizeof(*cache->entries));
    if (cache->entries == NULL) {
        free(cache);
        return -ENOMEM;
    }
    cache->capacity = capacity;
    crypto_generichash_keygen(cache->key);
    for (int i = 0; i < STRIPE_COUNT; i++)
        pthread_mutex_init(&cache->stripes[i], NULL);
    *out = cache;
    return 0;
}

void
verified_tokens_free(struct verified_tokens *cache)
{
    if (cache == NULL)
        return;
    for (int i = 0; i < STRIPE_COUNT; i++)
        pthread_mutex_destroy(&cache->stripes[i]);
    free(cache->entries);
    sodium_memzero(cache->key, sizeof(cache->key));
    free(cache);
}

static size_t
digest_token(const struct verified_tokens *cache, const char *token,
             size_t length, unsigned char digest[DIGEST_SIZE])
{
    size_t index;

    crypto_generichash(digest, DIGEST_SIZE, (const unsigned char *)token,
                       length, cache->key, sizeof(cache->key));
    memcpy(&index, digest, sizeof(index));
    return index % cache->capacity;
}

bool
verified_tokens_find(struct verified_tokens *cache, const char *token,
                     size_t length, struct access_token_claims *claims)
{
    unsigned char digest[DIGEST_SIZE];
    struct entry *entry;
    pthread_mutex_t *stripe;
    size_t index;
    bool found;

    if (cache == NULL)
        return false;

    index = digest_token(cache, token, length, digest);
    entry = &cache->entries[index];
    stripe = &cache->stripes[index % STRIPE_COUNT];

    pthread_mutex_lock(stripe);
    found = entry->used &&
            sodium_memcmp(entry->digest, digest, DIGEST_SIZE) == 0;
    if (found)
        *claims = entry->claims;
    pthread_mutex_unlock(stripe);
    return found;
}

void
verified_tokens_add(struct verified_tokens *cache, const char *token,
                    size_t length, const struct access_token_claims *claims)
{
    unsigned char digest[DIGEST_SIZE];
    struct entry *entry;
    pthread_mutex_t *stripe;
    size_t index;

    if (cache == NULL)
        return;

    index = digest_token(cache, token, length, digest);
    entry = &cache->entries[index];
    stripe = &cache->stripes[index % STRIPE_COUNT];

    pthread_mutex_lock(stripe);
    memcpy(entry->digest, digest, DIGEST_SIZE);
    entry->claims = *claims;
    entry->used = true;
    pthread_mutex_unlock(stripe);
}
