/*
 * A fixed table of failure counters, so memory stays bounded whatever an
 * attacker sends. A pair hashes (SipHash, random key) to one slot; a slot
 * whose pair is blocked is kept until its window ends, so a flood of other
 * pairs cannot wipe out a block. Slots are guarded by striped mutexes: a
 * failed authentication is the slow path, and successes never lock.
 */
#include "oauth/throttle.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#define SLOT_COUNT 65536
#define STRIPE_COUNT 64

struct slot {
    uint64_t pair_hash;
    int64_t window_start;
    int64_t failures;
};

struct throttle {
    int64_t limit;
    int64_t window;
    unsigned char hash_key[crypto_shorthash_KEYBYTES];
    pthread_mutex_t stripes[STRIPE_COUNT];
    struct slot slots[SLOT_COUNT];
};

int
throttle_new(int64_t limit, int64_t window, struct throttle **out)
{
    struct throttle *throttle;

    *out = NULL;
    if (limit <= 0)
        return 0;

    throttle = calloc(1, sizeof(*throttle));
    if (throttle == NULL)
        return -ENOMEM;
    throttle->limit = limit;
    throttle->window = window;
    crypto_shorthash_keygen(throttle->hash_key);
    for (int i = 0; i < STRIPE_COUNT; i++)
        pthread_mutex_init(&throttle->stripes[i], NULL);
    *out = throttle;
    return 0;
}

void
throttle_free(struct throttle *throttle)
{
    if (throttle == NULL)
        return;
    for (int i = 0; i < STRIPE_COUNT; i++)
        pthread_mutex_destroy(&throttle->stripes[i]);
    free(throttle);
}

static uint64_t
hash_pair(const struct throttle *throttle, const char *client_id,
          const char *address)
{
    unsigned char digest[crypto_shorthash_BYTES];
    unsigned char input[256];
    size_t id_length = strnlen(client_id, 128);
    size_t address_length = strnlen(address, 64);
    uint64_t hash;

    /* The NUL between the parts keeps ("ab","c") apart from ("a","bc"). */
    memcpy(input, client_id, id_length);
    input[id_length] = '\0';
    memcpy(input + id_length + 1, address, address_length);
    crypto_shorthash(digest, input, id_length + 1 + address_length,
                     throttle->hash_key);
    memcpy(&hash, digest, sizeof(hash));
    return hash | 1; /* 0 marks an empty slot */
}

static int64_t
now_seconds(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec;
}

bool
throttle_is_blocked(struct throttle *throttle, const char *client_id,
                    const char *address, int *retry_after)
{
    uint64_t hash;
    struct slot *slot;
    pthread_mutex_t *stripe;
    int64_t now = now_seconds();
    bool blocked = false;

    if (throttle == NULL)
        return false;

    hash = hash_pair(throttle, client_id, address);
    slot = &throttle->slots[hash % SLOT_COUNT];
    stripe = &throttle->stripes[hash % STRIPE_COUNT];

    pthread_mutex_lock(stripe);
    if (slot->pair_hash == hash && slot->failures >= throttle->limit &&
        now < slot->window_start + throttle->window) {
        blocked = true;
        *retry_after = (int)(slot->window_start + throttle->window - now);
    }
    pthread_mutex_unlock(stripe);
    return blocked;
}

void
throttle_record_failure(struct throttle *throttle, const char *client_id,
                        const char *address)
{
    uint64_t hash;
    struct slot *slot;
    pthread_mutex_t *stripe;
    int64_t now = now_seconds();

    if (throttle == NULL)
        return;

    hash = hash_pair(throttle, client_id, address);
    slot = &throttle->slots[hash % SLOT_COUNT];
    stripe = &throttle->stripes[hash % STRIPE_COUNT];

    pthread_mutex_lock(stripe);
    if (slot->pair_hash != hash ||
        now >= slot->window_start + throttle->window) {
        bool other_pair_blocked =
            slot->pair_hash != hash && slot->failures >= throttle->limit &&
            now < slot->window_start + throttle->window;

        if (!other_pair_blocked) {
            slot->pair_hash = hash;
            slot->window_start = now;
            slot->failures = 0;
        }
    }
    if (slot->pair_hash == hash)
        slot->failures++;
    pthread_mutex_unlock(stripe);
}
