/*
 * The SQLite store against real files in a temporary folder: every
 * function of store.h, the rotation rules and their group commit under
 * concurrent callers, the change counter, bounded cleanup, the file's
 * mode, and reopening an existing file.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store/sqlite_schema.h"
#include "store/store.h"

#define NOW 1700000000

struct fixture {
    char folder[64];
    char path[128];
    struct store *store;
};

static void
remove_database(const char *path)
{
    char name[160];

    unlink(path);
    snprintf(name, sizeof(name), "%s-wal", path);
    unlink(name);
    snprintf(name, sizeof(name), "%s-shm", path);
    unlink(name);
}

static int
setup(void **state)
{
    struct fixture *fixture = calloc(1, sizeof(*fixture));

    assert_non_null(fixture);
    snprintf(fixture->folder, sizeof(fixture->folder),
             "/tmp/tokend-store-XXXXXX");
    assert_non_null(mkdtemp(fixture->folder));
    snprintf(fixture->path, sizeof(fixture->path), "%s/tokend.db",
             fixture->folder);
    assert_int_equal(store_open(fixture->path, &fixture->store), 0);
    *state = fixture;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *fixture = *state;

    store_close(fixture->store);
    remove_database(fixture->path);
    rmdir(fixture->folder);
    free(fixture);
    return 0;
}

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

static void
test_open_by_url(void **state)
{
    struct fixture *fixture = *state;
    struct store *store = NULL;
    char url[160];

    assert_string_equal(store_kind(fixture->store), "sqlite");
    assert_string_equal(store_file_path(fixture->store), fixture->path);

    snprintf(url, sizeof(url), "sqlite:%s", fixture->path);
    assert_int_equal(store_open(url, &store), 0);
    assert_string_equal(store_file_path(store), fixture->path);
    store_close(store);

    /* Both schemes reach the PostgreSQL backend, never a file: nothing
     * listens on port 1, so it answers "unreachable". */
    assert_int_equal(store_open("postgres://127.0.0.1:1/tokend", &store),
                     -EAGAIN);
    assert_int_equal(store_open("postgresql://127.0.0.1:1/tokend", &store),
                     -EAGAIN);
    assert_int_equal(store_open("mysql://localhost/tokend", &store), -EINVAL);
    assert_int_equal(store_open("sqlite:", &store), -EINVAL);
    assert_int_equal(store_open("", &store), -EINVAL);
}

static void
assert_mode_0600(const char *path)
{
    struct stat status;

    assert_int_equal(stat(path, &status), 0);
    assert_int_equal(status.st_mode & 0777, 0600);
}

/* With a umask of 0 the files would be world-readable unless the store
 * creates them 0600 itself. */
static void
test_file_mode(void **state)
{
    struct fixture *fixture = *state;
    struct store *store = NULL;
    char path[160];
    mode_t saved = umask(0);

    snprintf(path, sizeof(path), "%s/open.db", fixture->folder);
    assert_int_equal(store_open(path, &store), 0);
    umask(saved);
    client_add(store, "client-a");

    assert_mode_0600(path);
    snprintf(path, sizeof(path), "%s/open.db-wal", fixture->folder);
    assert_mode_0600(path);
    snprintf(path, sizeof(path), "%s/open.db-shm", fixture->folder);
    assert_mode_0600(path);

    store_close(store);
    snprintf(path, sizeof(path), "%s/open.db", fixture->folder);
    remove_database(path);
}

static void
test_secrets(void **state)
{
    struct fixture *fixture = *state;
    const unsigned char value[] = {1, 2, 3, 4, 5};
    unsigned char out[16];
    size_t length = 0;

    assert_int_equal(
        store_secret_get(fixture->store, "hash", out, sizeof(out), &length),
        -ENOENT);
    assert_int_equal(
        store_secret_insert(fixture->store, "hash", value, sizeof(value)), 0);
    assert_int_equal(
        store_secret_insert(fixture->store, "hash", value, sizeof(value)),
        -EEXIST);

    assert_int_equal(
        store_secret_get(fixture->store, "hash", out, sizeof(out), &length), 0);
    assert_int_equal(length, sizeof(value));
    assert_memory_equal(out, value, sizeof(value));
    assert_int_equal(store_secret_get(fixture->store, "hash", out, 2, &length),
                     -ENOSPC);
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
    struct fixture *fixture = *state;
    struct store_signing_key keys[4];

    key_add(fixture->store, "key-1", NOW);
    assert_int_equal(store_signing_key_retire_all(fixture->store, NOW + 10), 0);
    key_add(fixture->store, "key-2", NOW + 10);

    memset(keys, 0, sizeof(keys));
    assert_int_equal(store_signing_key_list(fixture->store, key_collect, keys),
                     0);
    assert_string_equal(keys[0].id, "key-1");
    assert_int_equal(keys[0].retired_at, NOW + 10);
    assert_int_equal(keys[0].sealed_length, 72);
    assert_string_equal(keys[1].id, "key-2");
    assert_int_equal(keys[1].retired_at, 0);
    assert_string_equal(keys[1].algorithm, "ES256");
    assert_string_equal(keys[2].id, "");

    assert_int_equal(store_signing_key_delete(fixture->store, "key-1"), 0);
    assert_int_equal(store_signing_key_delete(fixture->store, "key-1"),
                     -ENOENT);
}

static void
test_clients(void **state)
{
    struct fixture *fixture = *state;
    struct store_client client;
    unsigned char hash[STORE_SECRET_HASH_SIZE];

    client_add(fixture->store, "client-a");
    client_make(&client, "client-a");
    assert_int_equal(store_client_insert(fixture->store, &client), -EEXIST);

    assert_int_equal(store_client_find(fixture->store, "client-a", &client), 0);
    assert_string_equal(client.name, "name of client-a");
    assert_string_equal(client.scope, "read write");
    assert_string_equal(client.subject, "");
    assert_string_equal(client.permissions, "introspect");
    assert_false(client.disabled);
    assert_int_equal(client.created_at, NOW);
    assert_int_equal(store_client_find(fixture->store, "nobody", &client),
                     -ENOENT);

    memset(hash, 0x11, sizeof(hash));
    assert_int_equal(
        store_client_set_disabled(fixture->store, "client-a", true), 0);
    assert_int_equal(
        store_client_set_secret_hash(fixture->store, "client-a", hash), 0);
    assert_int_equal(
        store_client_revoke_tokens(fixture->store, "client-a", NOW + 5), 0);
    assert_int_equal(store_client_find(fixture->store, "client-a", &client), 0);
    assert_true(client.disabled);
    assert_memory_equal(client.secret_hash, hash, sizeof(hash));
    assert_int_equal(client.tokens_not_before, NOW + 5);

    assert_int_equal(store_client_set_disabled(fixture->store, "nobody", true),
                     -ENOENT);
    assert_int_equal(
        store_client_set_secret_hash(fixture->store, "nobody", hash), -ENOENT);
    assert_int_equal(store_client_revoke_tokens(fixture->store, "nobody", NOW),
                     -ENOENT);
    assert_int_equal(store_client_delete(fixture->store, "client-a"), 0);
    assert_int_equal(store_client_delete(fixture->store, "client-a"), -ENOENT);
}

struct client_walk {
    int seen;
    int stop_after;
    int in_order;
};

static int
client_count(const struct store_client *client, void *argument)
{
    struct client_walk *walk = argument;
    char expected[32];

    snprintf(expected, sizeof(expected), "client-%03d", walk->seen);
    if (strcmp(client->id, expected) != 0)
        walk->in_order = 0;
    walk->seen++;
    return walk->seen == walk->stop_after ? 42 : 0;
}

/* More clients than one page, so the walk crosses pages; the callback's
 * non-zero return ends the walk and comes back. */
static void
test_client_list(void **state)
{
    struct fixture *fixture = *state;
    struct client_walk walk = {.in_order = 1};
    char id[32];

    for (int index = 0; index < 150; index++) {
        snprintf(id, sizeof(id), "client-%03d", index);
        client_add(fixture->store, id);
    }

    assert_int_equal(store_client_list(fixture->store, client_count, &walk), 0);
    assert_int_equal(walk.seen, 150);
    assert_true(walk.in_order);

    walk = (struct client_walk){.in_order = 1, .stop_after = 70};
    assert_int_equal(store_client_list(fixture->store, client_count, &walk),
                     42);
    assert_int_equal(walk.seen, 70);
}

static void
test_rotation_rules(void **state)
{
    struct fixture *fixture = *state;
    unsigned char family_id[STORE_FAMILY_ID_SIZE];
    struct store_family family;

    client_add(fixture->store, "client-a");
    family_make(family_id, 1);
    assert_int_equal(store_family_find(fixture->store, family_id, &family),
                     -ENOENT);

    assert_int_equal(rotate(fixture->store, family_id, 0), STORE_ROTATED);
    assert_int_equal(store_family_find(fixture->store, family_id, &family), 0);
    assert_int_equal(family.generation, 1);
    assert_false(family.revoked);
    assert_string_equal(family.client_id, "client-a");
    assert_int_equal(family.expires_at, NOW + 3600);

    /* A token newer than the store: its rotation was lost, not forged. */
    assert_int_equal(rotate(fixture->store, family_id, 5), STORE_ROTATED);
    assert_int_equal(store_family_find(fixture->store, family_id, &family), 0);
    assert_int_equal(family.generation, 6);

    assert_int_equal(rotate(fixture->store, family_id, 0), STORE_REUSED);
    assert_int_equal(store_family_find(fixture->store, family_id, &family), 0);
    assert_true(family.revoked);
    assert_int_equal(rotate(fixture->store, family_id, 6),
                     STORE_FAMILY_REVOKED);
    assert_int_equal(rotate(fixture->store, family_id, 0),
                     STORE_FAMILY_REVOKED);
}

static void
test_rotation_errors(void **state)
{
    struct fixture *fixture = *state;
    unsigned char family_id[STORE_FAMILY_ID_SIZE];
    enum store_rotation result;

    family_make(family_id, 2);
    assert_int_equal(store_family_rotate(fixture->store, family_id, "nobody", 0,
                                         NOW, &result),
                     -ENOENT);

    client_add(fixture->store, "client-a");
    assert_int_equal(store_family_rotate(fixture->store, family_id, "client-a",
                                         UINT32_MAX, NOW, &result),
                     -EINVAL);
}

static void
test_family_revoke(void **state)
{
    struct fixture *fixture = *state;
    unsigned char family_id[STORE_FAMILY_ID_SIZE];
    struct store_family family;

    client_add(fixture->store, "client-a");
    family_make(family_id, 3);
    assert_int_equal(
        store_family_revoke(fixture->store, family_id, "client-a", NOW + 60),
        0);
    assert_int_equal(store_family_find(fixture->store, family_id, &family), 0);
    assert_true(family.revoked);
    assert_int_equal(family.generation, 0);
    assert_int_equal(rotate(fixture->store, family_id, 0),
                     STORE_FAMILY_REVOKED);

    /* Revoking again keeps the row revoked and the later expiry. */
    assert_int_equal(
        store_family_revoke(fixture->store, family_id, "client-a", NOW + 10),
        0);
    assert_int_equal(store_family_find(fixture->store, family_id, &family), 0);
    assert_int_equal(family.expires_at, NOW + 60);
}

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

/* Eight holders of one token rotate at once: exactly one may win. */
static void
test_rotation_race(void **state)
{
    struct fixture *fixture = *state;
    unsigned char family_id[STORE_FAMILY_ID_SIZE];
    pthread_barrier_t start;
    pthread_t threads[8];
    struct race races[8];

    client_add(fixture->store, "client-a");
    for (unsigned round = 0; round < 20; round++) {
        int rotated = 0;

        family_make(family_id, 100 + round);
        pthread_barrier_init(&start, NULL, 8);
        for (int index = 0; index < 8; index++) {
            races[index] = (struct race){fixture->store, family_id, &start,
                                         STORE_ROTATED, -1};
            pthread_create(&threads[index], NULL, race_rotate, &races[index]);
        }
        for (int index = 0; index < 8; index++) {
            pthread_join(threads[index], NULL);
            assert_int_equal(races[index].error, 0);
            rotated += races[index].result == STORE_ROTATED;
        }
        pthread_barrier_destroy(&start);
        assert_int_equal(rotated, 1);
    }
}

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
    for (uint32_t generation = 0; generation < 40; generation++) {
        if (store_family_rotate(chain->store, family_id, "client-a", generation,
                                NOW + 3600, &result) != 0 ||
            result != STORE_ROTATED)
            chain->failures++;
    }
    return NULL;
}

/* Many families rotated at once share batches yet keep their own count. */
static void
test_rotation_batches(void **state)
{
    struct fixture *fixture = *state;
    unsigned char family_id[STORE_FAMILY_ID_SIZE];
    struct store_family family;
    pthread_t threads[32];
    struct chain chains[32];

    client_add(fixture->store, "client-a");
    for (unsigned index = 0; index < 32; index++) {
        chains[index] = (struct chain){fixture->store, 1000 + index, 0};
        pthread_create(&threads[index], NULL, chain_rotate, &chains[index]);
    }
    for (unsigned index = 0; index < 32; index++) {
        pthread_join(threads[index], NULL);
        assert_int_equal(chains[index].failures, 0);
        family_make(family_id, 1000 + index);
        assert_int_equal(store_family_find(fixture->store, family_id, &family),
                         0);
        assert_int_equal(family.generation, 40);
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
    struct fixture *fixture = *state;
    char long_id[STORE_TOKEN_ID_SIZE + 1];
    int count = 0;

    assert_int_equal(
        store_revocation_insert(fixture->store, "live-1", NOW + 60), 0);
    assert_int_equal(
        store_revocation_insert(fixture->store, "live-1", NOW + 60), 0);
    assert_int_equal(store_revocation_insert(fixture->store, "live-2", NOW + 1),
                     0);
    assert_int_equal(store_revocation_insert(fixture->store, "gone-1", NOW), 0);

    assert_int_equal(
        store_revocation_list(fixture->store, NOW, revocation_count, &count),
        0);
    assert_int_equal(count, 2);

    memset(long_id, 'x', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    assert_int_equal(store_revocation_insert(fixture->store, long_id, NOW),
                     -EINVAL);
}

/* Caches reload on clients, keys and revocations; rotations, the hot
 * path, must not make them reload. */
static void
test_change_counter(void **state)
{
    struct fixture *fixture = *state;
    unsigned char family_id[STORE_FAMILY_ID_SIZE];
    int64_t before = counter(fixture->store);

    client_add(fixture->store, "client-a");
    assert_true(counter(fixture->store) > before);

    before = counter(fixture->store);
    family_make(family_id, 4);
    rotate(fixture->store, family_id, 0);
    assert_int_equal(
        store_family_revoke(fixture->store, family_id, "client-a", NOW), 0);
    assert_int_equal(counter(fixture->store), before);

    assert_int_equal(
        store_client_set_disabled(fixture->store, "client-a", true), 0);
    assert_true(counter(fixture->store) > before);

    before = counter(fixture->store);
    key_add(fixture->store, "key-1", NOW);
    assert_true(counter(fixture->store) > before);

    before = counter(fixture->store);
    assert_int_equal(store_signing_key_retire_all(fixture->store, NOW), 0);
    assert_true(counter(fixture->store) > before);

    before = counter(fixture->store);
    assert_int_equal(store_revocation_insert(fixture->store, "jti", NOW), 0);
    assert_true(counter(fixture->store) > before);

    before = counter(fixture->store);
    assert_int_equal(store_client_delete(fixture->store, "client-a"), 0);
    assert_true(counter(fixture->store) > before);
}

static void
test_cleanup(void **state)
{
    struct fixture *fixture = *state;
    unsigned char family_id[STORE_FAMILY_ID_SIZE];
    enum store_rotation result;
    struct store_family family;
    char token_id[32];
    int deleted = -1;

    client_add(fixture->store, "client-a");
    for (unsigned index = 0; index < 10; index++) {
        family_make(family_id, 200 + index);
        assert_int_equal(
            store_family_rotate(fixture->store, family_id, "client-a", 0,
                                index < 7 ? NOW - 1 : NOW + 60, &result),
            0);
        snprintf(token_id, sizeof(token_id), "jti-%u", index);
        assert_int_equal(store_revocation_insert(fixture->store, token_id,
                                                 index < 5 ? NOW : NOW + 60),
                         0);
    }

    assert_int_equal(store_cleanup(fixture->store, NOW, 3, &deleted), 0);
    assert_int_equal(deleted, 6);
    assert_int_equal(store_cleanup(fixture->store, NOW, 3, &deleted), 0);
    assert_int_equal(deleted, 5);
    assert_int_equal(store_cleanup(fixture->store, NOW, 3, &deleted), 0);
    assert_int_equal(deleted, 1);
    assert_int_equal(store_cleanup(fixture->store, NOW, 3, &deleted), 0);
    assert_int_equal(deleted, 0);

    for (unsigned index = 0; index < 10; index++) {
        family_make(family_id, 200 + index);
        assert_int_equal(store_family_find(fixture->store, family_id, &family),
                         index < 7 ? -ENOENT : 0);
    }
}

static void
test_client_delete_removes_families(void **state)
{
    struct fixture *fixture = *state;
    unsigned char family_id[STORE_FAMILY_ID_SIZE];
    unsigned char other_id[STORE_FAMILY_ID_SIZE];
    enum store_rotation result;
    struct store_family family;

    client_add(fixture->store, "client-a");
    client_add(fixture->store, "client-b");
    family_make(family_id, 5);
    family_make(other_id, 6);
    rotate(fixture->store, family_id, 0);
    assert_int_equal(store_family_rotate(fixture->store, other_id, "client-b",
                                         0, NOW, &result),
                     0);

    assert_int_equal(store_client_delete(fixture->store, "client-a"), 0);
    assert_int_equal(store_family_find(fixture->store, family_id, &family),
                     -ENOENT);
    assert_int_equal(store_family_find(fixture->store, other_id, &family), 0);
}

static int
user_version(const char *path)
{
    sqlite3 *database = NULL;
    sqlite3_stmt *statement = NULL;
    int version = -1;

    assert_int_equal(sqlite3_open(path, &database), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(database, "PRAGMA user_version", -1,
                                        &statement, NULL),
                     SQLITE_OK);
    if (sqlite3_step(statement) == SQLITE_ROW)
        version = sqlite3_column_int(statement, 0);
    sqlite3_finalize(statement);
    sqlite3_close(database);
    return version;
}

/* Migration 1 creates its tables without IF NOT EXISTS and seeds the
 * counter, so running it again would fail the open or reset the count. */
static void
test_reopen(void **state)
{
    struct fixture *fixture = *state;
    struct store_client client;
    int64_t before;

    client_add(fixture->store, "client-a");
    before = counter(fixture->store);
    store_close(fixture->store);
    fixture->store = NULL;
    assert_int_equal(user_version(fixture->path),
                     store_sqlite_schema_version());

    assert_int_equal(store_open(fixture->path, &fixture->store), 0);
    assert_int_equal(store_client_find(fixture->store, "client-a", &client), 0);
    assert_int_equal(counter(fixture->store), before);
    assert_int_equal(user_version(fixture->path),
                     store_sqlite_schema_version());
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_by_url, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secrets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signing_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clients, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_family_revoke, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_race, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revocations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_change_counter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cleanup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_delete_removes_families,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
