/*
 * The verified-token cache. An entry is found by a keyed BLAKE2b digest of
 * the token text: without the random key nobody can make another token
 * with the same digest, so a hit is as good as the signature it stands
 * for. Entries sit in a fixed table of sets of WAYS entries (memory stays
 * bounded whatever arrives; a direct-mapped table lost a quarter of 1,000
 * hot tokens to collisions, measured in bench/), each set replacing its
 * oldest entry first, guarded by striped locks so that no lock is shared
 * by all threads.
 */
#include "cache/verified_tokens.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define DIGEST_SIZE 32
#define STRIPE_COUNT 64
#define WAYS 4

struct entry {
    unsigned char digest[DIGEST_SIZE];
    bool used;
    bool forged;
    struct access_token_claims claims; /* unset when forged */
};

struct verified_tokens {
    size_t set_count;
    unsigned char *next_victim; /* per set: the way to replace next */
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
    cache->set_count = (capacity + WAYS - 1) / WAYS;
    /* calloc'd pages cost no memory until an entry lands on them. */
    cache->entries = calloc(cache->set_count * WAYS, sizeof(*cache->entries));
    cache->next_victim = calloc(cache->set_count, 1);
    if (cache->entries == NULL || cache->next_victim == NULL) {
        free(cache->entries);
        free(cache->next_victim);
        free(cache);
        return -ENOMEM;
    }
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
    free(cache->next_victim);
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
    return index % cache->set_count;
}

/* The way of the set holding digest, or -1. */
static int
find_way(const struct entry *set, const unsigned char *digest)
{
    for (int way = 0; way < WAYS; way++) {
        if (set[way].used &&
            sodium_memcmp(set[way].digest, digest, DIGEST_SIZE) == 0)
            return way;
    }
    return -1;
}

/* The set a token belongs to, found and locked. */
struct locked_set {
    unsigned char digest[DIGEST_SIZE];
    struct entry *entries;
    pthread_mutex_t *stripe;
    size_t index;
};

static void
lock_set(struct verified_tokens *cache, const char *token, size_t length,
         struct locked_set *set)
{
    set->index = digest_token(cache, token, length, set->digest);
    set->entries = &cache->entries[set->index * WAYS];
    set->stripe = &cache->stripes[set->index % STRIPE_COUNT];
    pthread_mutex_lock(set->stripe);
}

enum verified_verdict
verified_tokens_find(struct verified_tokens *cache, const char *token,
                     size_t length, struct access_token_claims *claims)
{
    enum verified_verdict verdict = VERIFIED_UNKNOWN;
    struct locked_set set;
    int way;

    if (cache == NULL)
        return VERIFIED_UNKNOWN;

    lock_set(cache, token, length, &set);
    way = find_way(set.entries, set.digest);
    if (way >= 0 && set.entries[way].forged) {
        verdict = VERIFIED_FORGED;
    } else if (way >= 0) {
        *claims = set.entries[way].claims;
        verdict = VERIFIED_VALID;
    }
    pthread_mutex_unlock(set.stripe);
    return verdict;
}

static void
remember(struct verified_tokens *cache, const char *token, size_t length,
         const struct access_token_claims *claims)
{
    struct locked_set set;
    struct entry *entry;
    int way;

    lock_set(cache, token, length, &set);
    way = find_way(set.entries, set.digest);
    if (way < 0) {
        way = cache->next_victim[set.index];
        cache->next_victim[set.index] = (unsigned char)((way + 1) % WAYS);
    }
    entry = &set.entries[way];
    memcpy(entry->digest, set.digest, DIGEST_SIZE);
    entry->forged = claims == NULL;
    if (claims != NULL)
        entry->claims = *claims;
    entry->used = true;
    pthread_mutex_unlock(set.stripe);
}

void
verified_tokens_add(struct verified_tokens *cache, const char *token,
                    size_t length, const struct access_token_claims *claims)
{
    if (cache != NULL)
        remember(cache, token, length, claims);
}

void
verified_tokens_add_forged(struct verified_tokens *cache, const char *token,
                           size_t length)
{
    if (cache != NULL)
        remember(cache, token, length, NULL);
}
