/*
 * The store contract: what every backend behind store.h must do, as
 * cmocka tests shared by test_store_sqlite.c and test_store_postgres.c, so
 * that both stores are held to one set of expectations. The including
 * test defines contract_store(), which finds the store under test in
 * cmocka's state, and lists STORE_CONTRACT_TESTS in its main.
 */
#ifndef TOKEND_TESTS_UNIT_STORE_CONTRACT_H
#define TOKEND_TESTS_UNIT_STORE_CONTRACT_H

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "store/store.h"

#define NOW 1700000000

static struct store *contract_store(void **state);

static void
client_make(struct store_client *client, const char *id)
{
    memset(client, 0, sizeof(*client));
    snprintf(client->id, sizeof(client->id), "%s", id);
    snprintf(client->name, sizeof(client->name), "name of %s", id);
    snprintf(client->scope, sizeof(client->scope), "read write");
    snprintf(client->permissions, sizeof(client->permissions), "introspect");
    memset(client->secret_hash, 0xab, sizeof(client->secret_hash));
    client->created_at = NOW;
}

static void
client_add(struct store *store, const char *id)
{
    struct store_client client;

    client_make(&client, id);
    assert_int_equal(store_client_insert(store, &client), 0);
}

static void
family_make(unsigned char family_id[STORE_FAMILY_ID_SIZE], unsigned seed)
{
    for (size_t index = 0; index < STORE_FAMILY_ID_SIZE; index++)
        family_id[index] = (unsigned char)(seed * 31 + index);
}

static enum store_rotation
rotate(struct store *store, const unsigned char *family_id, uint32_t presented)
{
    enum store_rotation result = STORE_ROTATED;

    assert_int_equal(store_family_rotate(store, family_id, "client-a",
                                         presented, NOW + 3600, &result),
                     0);
    return result;
}

static int64_t
counter(struct store *store)
{
    int64_t value = -1;

    assert_int_equal(store_change_counter(store, &value), 0);
    return value;
}

static double
seconds_since(const struct timespec *start)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) +
           (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static void
test_secrets(void **state)
{
    struct store *store = contract_store(state);
    const unsigned char value[] = {1, 2, 0, 4, 5};
    unsigned char out[16];
    size_t length = 0;

    assert_int_equal(store_secret_get(store, "hash", out, sizeof(out), &length),
                     -ENOENT);
    assert_int_equal(store_secret_insert(store, "hash", value, sizeof(value)),
                     0);
    assert_int_equal(store_secret_insert(store, "hash", value, sizeof(value)),
                     -EEXIST);

    assert_int_equal(store_secret_get(store, "hash", out, sizeof(out), &length),
                     0);
    assert_int_equal(length, sizeof(value));
    assert_memory_equal(out, value, sizeof(value));
    assert_int_equal(store_secret_get(store, "hash", out, 2, &length), -ENOSPC);
}

static int
key_collect(const struct store_signing_key *key, void *argument)
{
    struct store_signing_key *keys = argument;
    int index = 0;

    while (keys[index].id[0] != '\0')
        index++;
    keys[index] = *key;
    return 0;
}

static void
key_add(struct store *store, const char *id, int64_t created_at)
{
    struct store_signing_key key = {.created_at = created_at};

    snprintf(key.id, sizeof(key.id), "%s", id);
    snprintf(key.algorithm, sizeof(key.algorithm), "ES256");
    memset(key.sealed_private_key, 0x5a, 72);
    key.sealed_length = 72;
    assert_int_equal(store_signing_key_insert(store, &key), 0);
}

static void
test_signing_keys(void **state)
{
    struct store *store = contract_store(state);
    struct store_signing_key keys[4];

    key_add(store, "key-1", NOW);
    assert_int_equal(store_signing_key_retire_all(store, NOW + 10), 0);
    key_add(store, "key-2", NOW + 10);

    memset(keys, 0, sizeof(keys));
    assert_int_equal(store_signing_key_list(store, key_collect, keys), 0);
    assert_string_equal(keys[0].id, "key-1");
    assert_int_equal(keys[0].retired_at, NOW + 10);
    assert_int_equal(keys[0].sealed_length, 72);
    assert_int_equal(keys[0].sealed_private_key[71], 0x5a);
    assert_string_equal(keys[1].id, "key-2");
    assert_int_equal(keys[1].retired_at, 0);
    assert_int_equal(keys[1].created_at, NOW + 10);
    assert_string_equal(keys[1].algorithm, "ES256");
    assert_string_equal(keys[2].id, "");

    assert_int_equal(store_signing_key_delete(store, "key-1"), 0);
    assert_int_equal(store_signing_key_delete(store, "key-1"), -ENOENT);
}

static void
test_clients(void **state)
{
    struct store *store = contract_store(state);
    struct store_client client;
    unsigned char hash[STORE_SECRET_HASH_SIZE];

    client_add(store, "client-a");
    client_make(&client, "client-a");
    assert_int_equal(store_client_insert(store, &client), -EEXIST);

    assert_int_equal(store_client_find(store, "client-a", &client), 0);
    assert_string_equal(client.name, "name of client-a");
    assert_string_equal(client.scope, "read write");
    assert_string_equal(client.subject, "");
    assert_string_equal(client.permissions, "introspect");
    assert_false(client.disabled);
    assert_int_equal(client.created_at, NOW);
    assert_int_equal(client.secret_hash[0], 0xab);
    assert_int_equal(store_client_find(store, "nobody", &client), -ENOENT);

    memset(hash, 0x11, sizeof(hash));
    assert_int_equal(store_client_set_disabled(store, "client-a", true), 0);
    assert_int_equal(store_client_set_secret_hash(store, "client-a", hash), 0);
    assert_int_equal(store_client_revoke_tokens(store, "client-a", NOW + 5), 0);
    assert_int_equal(store_client_find(store, "client-a", &client), 0);
    assert_true(client.disabled);
    assert_memory_equal(client.secret_hash, hash, sizeof(hash));
    assert_int_equal(client.tokens_not_before, NOW + 5);

    assert_int_equal(store_client_set_disabled(store, "nobody", true), -ENOENT);
    assert_int_equal(store_client_set_secret_hash(store, "nobody", hash),
                     -ENOENT);
    assert_int_equal(store_client_revoke_tokens(store, "nobody", NOW), -ENOENT);
    assert_int_equal(store_client_delete(store, "client-a"), 0);
    assert_int_equal(store_client_delete(store, "client-a"), -ENOENT);
}

#define LIST_CLIENTS 1100

struct client_walk {
    int seen;
    int stop_after;
    int in_order;
};

/* The walk must follow creation order, which is not the order of the
 * IDs: client number n is created n-th with the ID of n * 7 % 1100. */
static void
list_client_id(int number, char *out, size_t size)
{
    snprintf(out, size, "client-%04d", number * 7 % LIST_CLIENTS);
}

static int
client_count(const struct store_client *client, void *argument)
{
    struct client_walk *walk = argument;
    char expected[32];

    list_client_id(walk->seen, expected, sizeof(expected));
    if (strcmp(client->id, expected) != 0)
        walk->in_order = 0;
    walk->seen++;
    return walk->seen == walk->stop_after ? 42 : 0;
}

/* More clients than two pages, so the walk crosses pages; the callback's
 * non-zero return ends the walk and comes back. */
static void
test_client_list(void **state)
{
    struct store *store = contract_store(state);
    struct client_walk walk = {.in_order = 1};
    char id[32];

    for (int number = 0; number < LIST_CLIENTS; number++) {
        list_client_id(number, id, sizeof(id));
        client_add(store, id);
    }

    assert_int_equal(store_client_list(store, client_count, &walk), 0);
    assert_int_equal(walk.seen, LIST_CLIENTS);
    assert_true(walk.in_order);

    walk = (struct client_walk){.in_order = 1, .stop_after = 700};
    assert_int_equal(store_client_list(store, client_count, &walk), 42);
    assert_int_equal(walk.seen, 700);
}

static void
test_rotation_rules(void **state)
{
    struct store *store = contract_store(state);
    unsigned char family_id[STORE_FAMILY_ID_SIZE];
    struct store_family family;

    client_add(store, "client-a");
    family_make(family_id, 1);
    assert_int_equal(store_family_find(store, family_id, &family), -ENOENT);

    assert_int_equal(rotate(store, family_id, 0), STORE_ROTATED);
    assert_int_equal(store_family_find(store, family_id, &family), 0);
    assert_memory_equal(family.id, family_id, STORE_FAMILY_ID_SIZE);
    assert_int_equal(family.generation, 1);
    assert_false(family.revoked);
    assert_string_equal(family.client_id, "client-a");
    assert_int_equal(family.expires_at, NOW + 3600);

    /* A token newer than the store: its rotation was lost, not forged. */
    assert_int_equal(rotate(store, family_id, 5), STORE_ROTATED);
    assert_int_equal(store_family_find(store, family_id, &family), 0);
    assert_int_equal(family.generation, 6);

    assert_int_equal(rotate(store, family_id, 0), STORE_REUSED);
    assert_int_equal(store_family_find(store, family_id, &family), 0);
    assert_true(family.revoked);
    assert_int_equal(rotate(store, family_id, 6), STORE_FAMILY_REVOKED);
    assert_int_equal(rotate(store, family_id, 0), STORE_FAMILY_REVOKED);
}

static void
test_rotation_errors(void **state)
{
    struct store *store = contract_store(state);
    unsigned char family_id[STORE_FAMILY_ID_SIZE];
    enum store_rotation result;

    family_make(family_id, 2);
    assert_int_equal(
        store_family_rotate(store, family_id, "nobody", 0, NOW, &result),
        -ENOENT);

    client_add(store, "client-a");
    assert_int_equal(store_family_rotate(store, family_id, "client-a",
                                         UINT32_MAX, NOW, &result),
                     -EINVAL);

    /* The largest generation a token can carry still rotates. */
    assert_int_equal(store_family_rotate(store, family_id, "client-a",
                                         UINT32_MAX - 1, NOW, &result),
                     0);
    assert_int_equal(result, STORE_ROTATED);
}

static void
test_family_revoke(void **state)
{
    struct store *store = contract_store(state);
    unsigned char family_id[STORE_FAMILY_ID_SIZE];
    struct store_family family;

    client_add(store, "client-a");
    family_make(family_id, 3);
    assert_int_equal(
        store_family_revoke(store, family_id, "client-a", NOW + 60), 0);
    assert_int_equal(store_family_find(store, family_id, &family), 0);
    assert_true(family.revoked);
    assert_int_equal(family.generation, 0);
    assert_int_equal(rotate(store, family_id, 0), STORE_FAMILY_REVOKED);

    /* Revoking again keeps the row revoked and the later expiry. */
    assert_int_equal(
        store_family_revoke(store, family_id, "client-a", NOW + 10), 0);
    assert_int_equal(store_family_find(store, family_id, &family), 0);
    assert_int_equal(family.expires_at, NOW + 60);
}

#define RACERS 50

struct race {
    struct store *store;
    const unsigned char *family_id;
    pthread_barrier_t *start;
    enum store_rotation result;
    int error;
};

static void *
race_rotate(void *argument)
{
    struct race *race = argument;

    pthread_barrier_wait(race->start);
    race->error = store_family_rotate(race->store, race->family_id, "client-a",
                                      0, NOW + 3600, &race->result);
    return NULL;
}

/* 50 holders of one token rotate at once through stores[i % count]:
 * exactly one may win, and the family ends revoked by the others. */
static void
race_round(struct store **stores, int count, unsigned seed)
{
    unsigned char family_id[STORE_FAMILY_ID_SIZE];
    pthread_barrier_t start;
    pthread_t threads[RACERS];
    struct race races[RACERS];
    int rotated = 0;
    int reused = 0;

    family_make(family_id, seed);
    pthread_barrier_init(&start, NULL, RACERS);
    for (int index = 0; index < RACERS; index++) {
        races[index] = (struct race){stores[index % count], family_id, &start,
                                     STORE_ROTATED, -1};
        pthread_create(&threads[index], NULL, race_rotate, &races[index]);
    }
    for (int index = 0; index < RACERS; index++) {
        pthread_join(threads[index], NULL);
        assert_int_equal(races[index].error, 0);
        rotated += races[index].result == STORE_ROTATED;
        reused += races[index].result == STORE_REUSED;
    }
    pthread_barrier_destroy(&start);
    assert_int_equal(rotated, 1);
    assert_int_equal(reused, 1);
}

static void
test_rotation_race(void **state)
{
    struct store *store = contract_store(state);

    client_add(store, "client-a");
    for (unsigned round = 0; round < 10; round++)
        race_round(&store, 1, 100 + round);
}

#define CHAINS 32
#define CHAIN_LENGTH 100

struct chain {
    struct store *store;
    unsigned seed;
    int failures;
};

static void *
chain_rotate(void *argument)
{
    struct chain *chain = argument;
    unsigned char family_id[STORE_FAMILY_ID_SIZE];
    enum store_rotation result;

    family_make(family_id, chain->seed);
    for (uint32_t generation = 0; generation < CHAIN_LENGTH; generation++) {
        if (store_family_rotate(chain->store, family_id, "client-a", generation,
                                NOW + 3600, &result) != 0 ||
            result != STORE_ROTATED)
            chain->failures++;
    }
    return NULL;
}

/* 32 callers rotate their own families at once, each generation after
 * generation: every family keeps its own count. Prints the throughput. */
static void
test_rotation_throughput(void **state)
{
    struct store *store = contract_store(state);
    unsigned char family_id[STORE_FAMILY_ID_SIZE];
    struct store_family family;
    pthread_t threads[CHAINS];
    struct chain chains[CHAINS];
    struct timespec start;
    double seconds;

    client_add(store, "client-a");
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (unsigned index = 0; index < CHAINS; index++) {
        chains[index] = (struct chain){store, 1000 + index, 0};
        pthread_create(&threads[index], NULL, chain_rotate, &chains[index]);
    }
    for (unsigned index = 0; index < CHAINS; index++)
        pthread_join(threads[index], NULL);
    seconds = seconds_since(&start);
    print_message("%d rotations from %d callers in %.2f s: %.0f/s\n",
                  CHAINS * CHAIN_LENGTH, CHAINS, seconds,
                  CHAINS * CHAIN_LENGTH / seconds);

    for (unsigned index = 0; index < CHAINS; index++) {
        assert_int_equal(chains[index].failures, 0);
        family_make(family_id, 1000 + index);
        assert_int_equal(store_family_find(store, family_id, &family), 0);
        assert_int_equal(family.generation, CHAIN_LENGTH);
    }
}

static int
revocation_count(const char *token_id, int64_t expires_at, void *argument)
{
    int *count = argument;

    assert_true(strncmp(token_id, "live-", 5) == 0);
    assert_true(expires_at > NOW);
    (*count)++;
    return 0;
}

static void
test_revocations(void **state)
{
    struct store *store = contract_store(state);
    char long_id[STORE_TOKEN_ID_SIZE + 1];
    int count = 0;

    assert_int_equal(store_revocation_insert(store, "live-1", NOW + 60), 0);
    assert_int_equal(store_revocation_insert(store, "live-1", NOW + 60), 0);
    assert_int_equal(store_revocation_insert(store, "live-2", NOW + 1), 0);
    assert_int_equal(store_revocation_insert(store, "gone-1", NOW), 0);

    assert_int_equal(
        store_revocation_list(store, NOW, revocation_count, &count), 0);
    assert_int_equal(count, 2);

    memset(long_id, 'x', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    assert_int_equal(store_revocation_insert(store, long_id, NOW), -EINVAL);
}

/* Caches reload on clients, keys and revocations; rotations, the hot
 * path, must not make them reload. */
static void
test_change_counter(void **state)
{
    struct store *store = contract_store(state);
    unsigned char family_id[STORE_FAMILY_ID_SIZE];
    int64_t before = counter(store);

    client_add(store, "client-a");
    assert_true(counter(store) > before);

    before = counter(store);
    family_make(family_id, 4);
    rotate(store, family_id, 0);
    assert_int_equal(store_family_revoke(store, family_id, "client-a", NOW), 0);
    assert_int_equal(counter(store), before);

    assert_int_equal(store_client_set_disabled(store, "client-a", true), 0);
    assert_true(counter(store) > before);

    before = counter(store);
    key_add(store, "key-1", NOW);
    assert_true(counter(store) > before);

    before = counter(store);
    assert_int_equal(store_signing_key_retire_all(store, NOW), 0);
    assert_true(counter(store) > before);

    before = counter(store);
    assert_int_equal(store_signing_key_delete(store, "key-1"), 0);
    assert_true(counter(store) > before);

    before = counter(store);
    assert_int_equal(store_revocation_insert(store, "jti", NOW), 0);
    assert_true(counter(store) > before);

    before = counter(store);
    assert_int_equal(store_client_delete(store, "client-a"), 0);
    assert_true(counter(store) > before);
}

static void
test_cleanup(void **state)
{
    struct store *store = contract_store(state);
    unsigned char family_id[STORE_FAMILY_ID_SIZE];
    enum store_rotation result;
    struct store_family family;
    char token_id[32];
    int deleted = -1;

    client_add(store, "client-a");
    for (unsigned index = 0; index < 10; index++) {
        family_make(family_id, 200 + index);
        assert_int_equal(store_family_rotate(store, family_id, "client-a", 0,
                                             index < 7 ? NOW - 1 : NOW + 60,
                                             &result),
                         0);
        snprintf(token_id, sizeof(token_id), "jti-%u", index);
        assert_int_equal(store_revocation_insert(store, token_id,
                                                 index < 5 ? NOW : NOW + 60),
                         0);
    }

    assert_int_equal(store_cleanup(store, NOW, 3, &deleted), 0);
    assert_int_equal(deleted, 6);
    assert_int_equal(store_cleanup(store, NOW, 3, &deleted), 0);
    assert_int_equal(deleted, 5);
    assert_int_equal(store_cleanup(store, NOW, 3, &deleted), 0);
    assert_int_equal(deleted, 1);
    assert_int_equal(store_cleanup(store, NOW, 3, &deleted), 0);
    assert_int_equal(deleted, 0);

    for (unsigned index = 0; index < 10; index++) {
        family_make(family_id, 200 + index);
        assert_int_equal(store_family_find(store, family_id, &family),
                         index < 7 ? -ENOENT : 0);
    }
}

static void
test_client_delete_removes_families(void **state)
{
    struct store *store = contract_store(state);
    unsigned char family_id[STORE_FAMILY_ID_SIZE];
    unsigned char other_id[STORE_FAMILY_ID_SIZE];
    enum store_rotation result;
    struct store_family family;

    client_add(store, "client-a");
    client_add(store, "client-b");
    family_make(family_id, 5);
    family_make(other_id, 6);
    rotate(store, family_id, 0);
    assert_int_equal(
        store_family_rotate(store, other_id, "client-b", 0, NOW, &result), 0);

    assert_int_equal(store_client_delete(store, "client-a"), 0);
    assert_int_equal(store_family_find(store, family_id, &family), -ENOENT);
    assert_int_equal(store_family_find(store, other_id, &family), 0);
}

#define STORE_CONTRACT_TESTS(setup, teardown)                                  \
    cmocka_unit_test_setup_teardown(test_secrets, setup, teardown),            \
        cmocka_unit_test_setup_teardown(test_signing_keys, setup, teardown),   \
        cmocka_unit_test_setup_teardown(test_clients, setup, teardown),        \
        cmocka_unit_test_setup_teardown(test_client_list, setup, teardown),    \
        cmocka_unit_test_setup_teardown(test_rotation_rules, setup, teardown), \
        cmocka_unit_test_setup_teardown(test_rotation_errors, setup,           \
                                        teardown),                             \
        cmocka_unit_test_setup_teardown(test_family_revoke, setup, teardown),  \
        cmocka_unit_test_setup_teardown(test_rotation_race, setup, teardown),  \
        cmocka_unit_test_setup_teardown(test_rotation_throughput, setup,       \
                                        teardown),                             \
        cmocka_unit_test_setup_teardown(test_revocations, setup, teardown),    \
        cmocka_unit_test_setup_teardown(test_change_counter, setup, teardown), \
        cmocka_unit_test_setup_teardown(test_cleanup, setup, teardown),        \
        cmocka_unit_test_setup_teardown(test_client_delete_removes_families,   \
                                        setup, teardown)

#endif
