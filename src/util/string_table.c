/*
 * Open addressing with linear probing, kept at most half full. Keys are
 * hashed with SipHash under a random key (libsodium's crypto_shorthash), so
 * that chosen keys cannot pile up in one run of slots.
 */
#include "util/string_table.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

struct slot {
    const char *key; /* NULL: empty */
    void *value;
    uint64_t hash;
};

struct string_table {
    struct slot *slots;
    size_t capacity; /* a power of two */
    size_t count;
    unsigned char hash_key[crypto_shorthash_KEYBYTES];
};

static uint64_t
hash_key(const struct string_table *table, const char *key)
{
    unsigned char digest[crypto_shorthash_BYTES];
    uint64_t hash;

    crypto_shorthash(digest, (const unsigned char *)key, strlen(key),
                     table->hash_key);
    memcpy(&hash, digest, sizeof(hash));
    return hash;
}

static size_t
capacity_for(size_t count)
{
    size_t capacity = 16;

    while (capacity < count * 2)
        capacity *= 2;
    return capacity;
}

struct string_table *
string_table_new(size_t expected)
{
    struct string_table *table = calloc(1, sizeof(*table));

    if (table == NULL)
        return NULL;
    table->capacity = capacity_for(expected);
    table->slots = calloc(table->capacity, sizeof(*table->slots));
    if (table->slots == NULL) {
        free(table);
        return NULL;
    }
    crypto_shorthash_keygen(table->hash_key);
    return table;
}

static struct slot *
find_slot(const struct string_table *table, const char *key, uint64_t hash)
{
    size_t mask = table->capacity - 1;
    size_t index = (size_t)hash & mask;

    for (;;) {
        struct slot *slot = &table->slots[index];

        if (slot->key == NULL ||
            (slot->hash == hash && strcmp(slot->key, key) == 0))
            return slot;
        index = (index + 1) & mask;
    }
}

static int
grow(struct string_table *table)
{
    struct slot *old_slots = table->slots;
    size_t old_capacity = table->capacity;
    struct slot *slots;

    slots = calloc(old_capacity * 2, sizeof(*slots));
    if (slots == NULL)
        return -ENOMEM;
    table->slots = slots;
    table->capacity = old_capacity * 2;

    for (size_t i = 0; i < old_capacity; i++) {
        if (old_slots[i].key != NULL)
            *find_slot(table, old_slots[i].key, old_slots[i].hash) =
                old_slots[i];
    }
    free(old_slots);
    return 0;
}

int
string_table_put(struct string_table *table, const char *key, void *value)
{
    uint64_t hash = hash_key(table, key);
    struct slot *slot;

    if ((table->count + 1) * 2 > table->capacity && grow(table) < 0)
        return -ENOMEM;

    slot = find_slot(table, key, hash);
    if (slot->key == NULL) {
        slot->key = key;
        slot->hash = hash;
        table->count++;
    }
    slot->value = value;
    return 0;
}

void *
string_table_get(const struct string_table *table, const char *key)
{
    struct slot *slot = find_slot(table, key, hash_key(table, key));

    return slot->key ? slot->value : NULL;
}

size_t
string_table_count(const struct string_table *table)
{
    return table->count;
}

void
string_table_each(const struct string_table *table,
                  void (*each)(void *value, void *argument), void *argument)
{
    for (size_t i = 0; i < table->capacity; i++) {
        if (table->slots[i].key != NULL)
            each(table->slots[i].value, argument);
    }
}

void
string_table_free(struct string_table *table)
{
    if (table == NULL)
        return;
    free(table->slots);
    free(table);
}
