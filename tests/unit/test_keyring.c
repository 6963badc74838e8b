/*
 * The keyring against a real SQLite store in a temporary folder: first
 * start creates the secrets and a signing key, later starts read the same
 * ones, a wrong master key gives -EBADMSG, rotation keeps the retired key
 * published until keep_retired has passed, the newest key signs (ties to
 * the greatest key ID), the JWKS lists every loaded key, and instances
 * starting together converge on the same keys.
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
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "log/log.h"
#include "store/store.h"
#include "token/jwt.h"
#include "token/keyring.h"
#include "token/refresh_token.h"
#include "token/secret.h"

#define NOW 1700000000
#define KEEP_RETIRED 3600
#define INSTANCES 4
#define JWKS_SIZE 4096

struct fixture {
    char folder[64];
    char path[128];
    struct store *store;
    unsigned char master_key[MASTER_KEY_SIZE];
};

static int
setup(void **state)
{
    struct fixture *fixture = calloc(1, sizeof(*fixture));

    assert_non_null(fixture);
    snprintf(fixture->folder, sizeof(fixture->folder),
             "/tmp/tokend-keyring-XXXXXX");
    assert_non_null(mkdtemp(fixture->folder));
    snprintf(fixture->path, sizeof(fixture->path), "%s/tokend.db",
             fixture->folder);
    assert_int_equal(store_open(fixture->path, &fixture->store), 0);
    randombytes_buf(fixture->master_key, sizeof(fixture->master_key));
    *state = fixture;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *fixture = *state;
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    char name[160];

    store_close(fixture->store);
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        snprintf(name, sizeof(name), "%s%s", fixture->path, suffixes[i]);
        unlink(name);
    }
    rmdir(fixture->folder);
    free(fixture);
    return 0;
}

static struct keyring *
load(struct fixture *fixture, enum signing_algorithm algorithm, int64_t now)
{
    struct keyring *keyring = NULL;

    assert_int_equal(keyring_load(fixture->store, fixture->master_key,
                                  algorithm, now, KEEP_RETIRED, &keyring),
                     0);
    assert_non_null(keyring);
    assert_non_null(keyring_signing_key(keyring));
    return keyring;
}

static int
count_key(const struct store_signing_key *key, void *argument)
{
    (void)key;
    (*(int *)argument)++;
    return 0;
}

static int
stored_key_count(struct store *store)
{
    int count = 0;

    assert_int_equal(store_signing_key_list(store, count_key, &count), 0);
    return count;
}

/* Stores a new key of algorithm as made at created_at; returns its ID in
 * id. */
static void
store_key(struct fixture *fixture, enum signing_algorithm algorithm,
          int64_t created_at, char id[STORE_KEY_ID_SIZE])
{
    struct store_signing_key stored = {.created_at = created_at};
    unsigned char private_key[256];
    struct signing_key *key;
    size_t length;

    assert_int_equal(signing_key_generate(algorithm, &key), 0);
    assert_int_equal(
        signing_key_export(key, private_key, sizeof(private_key), &length), 0);
    assert_int_equal(master_key_seal(fixture->master_key, private_key, length,
                                     stored.sealed_private_key,
                                     sizeof(stored.sealed_private_key),
                                     &stored.sealed_length),
                     0);
    snprintf(stored.id, sizeof(stored.id), "%s", signing_key_id(key));
    snprintf(stored.algorithm, sizeof(stored.algorithm), "%s",
             signing_algorithm_name(algorithm));
    assert_int_equal(store_signing_key_insert(fixture->store, &stored), 0);
    snprintf(id, STORE_KEY_ID_SIZE, "%s", stored.id);
    signing_key_free(key);
}

static void
test_first_start_creates_then_reads(void **state)
{
    struct fixture *fixture = *state;
    struct keyring *first = load(fixture, SIGNING_EDDSA, NOW);
    struct keyring *second = load(fixture, SIGNING_ES256, NOW + 60);
    const struct signing_key *key = keyring_signing_key(first);

    /* The algorithm asked for on first start; later starts keep using the
     * stored key whatever they ask for, until a rotation. */
    assert_int_equal(signing_key_algorithm(key), SIGNING_EDDSA);
    assert_string_equal(signing_key_id(keyring_signing_key(second)),
                        signing_key_id(key));
    assert_int_equal(stored_key_count(fixture->store), 1);

    assert_memory_equal(keyring_secret_hash_key(first),
                        keyring_secret_hash_key(second), SECRET_KEY_SIZE);
    assert_memory_equal(keyring_refresh_token_key(first),
                        keyring_refresh_token_key(second),
                        REFRESH_TOKEN_KEY_SIZE);
    assert_memory_not_equal(keyring_secret_hash_key(first),
                            keyring_refresh_token_key(first), 32);

    assert_ptr_equal(keyring_find(first, signing_key_id(key)), key);
    assert_null(keyring_find(first, "no-such-key"));
    keyring_free(first);
    keyring_free(second);
}

static void
test_wrong_master_key(void **state)
{
    struct fixture *fixture = *state;
    struct keyring *keyring = load(fixture, SIGNING_ES256, NOW);
    struct keyring *other = NULL;

    keyring_free(keyring);
    fixture->master_key[0] ^= 1;
    assert_int_equal(keyring_load(fixture->store, fixture->master_key,
                                  SIGNING_ES256, NOW, KEEP_RETIRED, &other),
                     -EBADMSG);
    assert_null(other);

    /* Nothing new was written under the wrong key. */
    assert_int_equal(stored_key_count(fixture->store), 1);
}

/* The signing key's tokens verify under the key the keyring finds by the
 * token's kid. */
static void
test_signs_and_finds(void **state)
{
    struct fixture *fixture = *state;
    struct keyring *keyring = load(fixture, SIGNING_ES256, NOW);
    struct access_token_claims claims = {
        .issuer = "i",
        .subject = "s",
        .audience = "a",
        .client_id = "c",
        .issued_at = NOW,
        .expires_at = NOW + 600,
    };
    char token[JWT_MAX_LENGTH];
    struct jwt_decoded decoded;
    int length;

    jwt_new_token_id(claims.token_id);
    length =
        jwt_sign(keyring_signing_key(keyring), &claims, token, sizeof(token));
    assert_true(length > 0);
    assert_int_equal(jwt_decode(token, (size_t)length, &decoded), 0);
    assert_int_equal(
        jwt_verify_signature(&decoded, keyring_find(keyring, decoded.key_id)),
        0);
    keyring_free(keyring);
}

static json_t *
jwks_of(const struct keyring *keyring)
{
    char text[JWKS_SIZE];
    json_t *jwks;
    int length;

    length = keyring_format_jwks(keyring, text, sizeof(text));
    assert_true(length > 0);
    assert_int_equal(strlen(text), length);
    jwks = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(jwks);
    assert_int_equal(json_object_size(jwks), 1);
    return jwks;
}

static bool
jwks_has(const json_t *jwks, const char *key_id)
{
    const json_t *keys = json_object_get(jwks, "keys");
    const json_t *key;
    size_t index;

    json_array_foreach(keys, index, key)
    {
        if (strcmp(json_string_value(json_object_get(key, "kid")), key_id) == 0)
            return true;
    }
    return false;
}

static void
test_rotation(void **state)
{
    struct fixture *fixture = *state;
    struct keyring *before = load(fixture, SIGNING_ES256, NOW);
    struct keyring *after, *later;
    char old_id[STORE_KEY_ID_SIZE], new_id[STORE_KEY_ID_SIZE];
    json_t *jwks;

    snprintf(old_id, sizeof(old_id), "%s",
             signing_key_id(keyring_signing_key(before)));
    assert_int_equal(keyring_rotate(fixture->store, fixture->master_key,
                                    SIGNING_EDDSA, NOW + 100),
                     0);

    /* The new key signs; the old one still verifies its tokens and is
     * still published. */
    after = load(fixture, SIGNING_ES256, NOW + 200);
    snprintf(new_id, sizeof(new_id), "%s",
             signing_key_id(keyring_signing_key(after)));
    assert_string_not_equal(new_id, old_id);
    assert_int_equal(signing_key_algorithm(keyring_signing_key(after)),
                     SIGNING_EDDSA);
    assert_non_null(keyring_find(after, old_id));
    jwks = jwks_of(after);
    assert_int_equal(json_array_size(json_object_get(jwks, "keys")), 2);
    assert_true(jwks_has(jwks, old_id));
    assert_true(jwks_has(jwks, new_id));
    json_decref(jwks);

    /* Once keep_retired has passed since the rotation, it is gone. */
    later = load(fixture, SIGNING_ES256, NOW + 100 + KEEP_RETIRED + 1);
    assert_null(keyring_find(later, old_id));
    assert_string_equal(signing_key_id(keyring_signing_key(later)), new_id);
    jwks = jwks_of(later);
    assert_int_equal(json_array_size(json_object_get(jwks, "keys")), 1);
    assert_false(jwks_has(jwks, old_id));
    json_decref(jwks);

    keyring_free(before);
    keyring_free(after);
    keyring_free(later);
}

static void
test_all_retired_makes_a_new_key(void **state)
{
    struct fixture *fixture = *state;
    struct keyring *keyring = load(fixture, SIGNING_ES256, NOW);
    char old_id[STORE_KEY_ID_SIZE];

    snprintf(old_id, sizeof(old_id), "%s",
             signing_key_id(keyring_signing_key(keyring)));
    keyring_free(keyring);
    assert_int_equal(store_signing_key_retire_all(fixture->store, NOW + 1), 0);

    keyring = load(fixture, SIGNING_EDDSA, NOW + 2);
    assert_string_not_equal(signing_key_id(keyring_signing_key(keyring)),
                            old_id);
    assert_int_equal(signing_key_algorithm(keyring_signing_key(keyring)),
                     SIGNING_EDDSA);
    assert_non_null(keyring_find(keyring, old_id));
    assert_int_equal(stored_key_count(fixture->store), 2);
    keyring_free(keyring);
}

/* Newest first; among keys made in the same second, the greatest ID. */
static void
test_which_key_signs(void **state)
{
    struct fixture *fixture = *state;
    char older[STORE_KEY_ID_SIZE], a[STORE_KEY_ID_SIZE], b[STORE_KEY_ID_SIZE];
    struct keyring *keyring;
    const char *greatest;

    store_key(fixture, SIGNING_ES256, NOW + 10, a);
    store_key(fixture, SIGNING_EDDSA, NOW + 10, b);
    store_key(fixture, SIGNING_ES256, NOW, older);
    greatest = strcmp(a, b) > 0 ? a : b;

    keyring = load(fixture, SIGNING_ES256, NOW + 20);
    assert_string_equal(signing_key_id(keyring_signing_key(keyring)), greatest);
    assert_non_null(keyring_find(keyring, older));
    assert_int_equal(stored_key_count(fixture->store), 3);
    keyring_free(keyring);
}

static void
test_unknown_algorithm_refused(void **state)
{
    struct fixture *fixture = *state;
    struct store_signing_key stored = {
        .id = "future",
        .algorithm = "ES384",
        .created_at = NOW,
        .sealed_length = 64,
    };
    struct keyring *keyring = NULL;

    assert_int_equal(store_signing_key_insert(fixture->store, &stored), 0);
    assert_int_equal(keyring_load(fixture->store, fixture->master_key,
                                  SIGNING_ES256, NOW, KEEP_RETIRED, &keyring),
                     -EINVAL);
    assert_null(keyring);
}

static void
test_jwks_too_small(void **state)
{
    struct fixture *fixture = *state;
    struct keyring *keyring = load(fixture, SIGNING_ES256, NOW);
    char text[64];

    assert_int_equal(keyring_format_jwks(keyring, text, sizeof(text)), -ENOSPC);
    keyring_free(keyring);
}

struct instance {
    const unsigned char *master_key;
    pthread_barrier_t *barrier;
    struct store *store;
    struct keyring *keyring;
    int error;
};

static void *
instance_start(void *argument)
{
    struct instance *instance = argument;

    pthread_barrier_wait(instance->barrier);
    instance->error =
        keyring_load(instance->store, instance->master_key, SIGNING_ES256, NOW,
                     KEEP_RETIRED, &instance->keyring);
    return NULL;
}

/* Several instances start at once on an empty store, each with its own
 * connection. They agree on the secrets at once (the store takes only the
 * first of each). An instance that re-read the keys before another added
 * its own may sign with its own key until its next load, which the insert
 * triggers through the change counter; from then on all agree. */
static void
test_instances_converge(void **state)
{
    struct fixture *fixture = *state;
    struct instance instances[INSTANCES];
    pthread_t threads[INSTANCES];
    pthread_barrier_t barrier;
    struct keyring *reloaded[INSTANCES];

    assert_int_equal(pthread_barrier_init(&barrier, NULL, INSTANCES), 0);
    for (int i = 0; i < INSTANCES; i++) {
        instances[i] =
            (struct instance){fixture->master_key, &barrier, NULL, NULL, 0};
        assert_int_equal(store_open(fixture->path, &instances[i].store), 0);
    }
    for (int i = 0; i < INSTANCES; i++)
        assert_int_equal(
            pthread_create(&threads[i], NULL, instance_start, &instances[i]),
            0);
    for (int i = 0; i < INSTANCES; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);

    for (int i = 0; i < INSTANCES; i++) {
        assert_int_equal(instances[i].error, 0);
        assert_memory_equal(keyring_secret_hash_key(instances[i].keyring),
                            keyring_secret_hash_key(instances[0].keyring),
                            SECRET_KEY_SIZE);
        assert_memory_equal(keyring_refresh_token_key(instances[i].keyring),
                            keyring_refresh_token_key(instances[0].keyring),
                            REFRESH_TOKEN_KEY_SIZE);
        assert_int_equal(keyring_load(instances[i].store, fixture->master_key,
                                      SIGNING_ES256, NOW + 1, KEEP_RETIRED,
                                      &reloaded[i]),
                         0);
    }

    /* Every key made is known to all, and one of them signs for all. */
    for (int i = 0; i < INSTANCES; i++) {
        const struct signing_key *own =
            keyring_signing_key(instances[i].keyring);

        assert_string_equal(signing_key_id(keyring_signing_key(reloaded[i])),
                            signing_key_id(keyring_signing_key(reloaded[0])));
        assert_non_null(keyring_find(reloaded[0], signing_key_id(own)));
    }
    assert_true(stored_key_count(fixture->store) <= INSTANCES);

    for (int i = 0; i < INSTANCES; i++) {
        keyring_free(reloaded[i]);
        keyring_free(instances[i].keyring);
        store_close(instances[i].store);
    }
    pthread_barrier_destroy(&barrier);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_first_start_creates_then_reads,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_master_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signs_and_finds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_all_retired_makes_a_new_key, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_which_key_signs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_algorithm_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_jwks_too_small, setup, teardown),
        cmocka_unit_test_setup_teardown(test_instances_converge, setup,
                                        teardown),
    };

    if (sodium_init() < 0)
        return 1;
    log_set_level(LOG_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
