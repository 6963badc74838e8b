/*
 * Client IDs, client secrets and the secret hash: their shape, that they
 * differ from call to call, that the hash is HMAC-SHA256 (RFC 4231 test
 * case 2), and that comparing hashes tells equal from unequal.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "token/secret.h"

static void
assert_lower_hex(const char *text, size_t length)
{
    assert_int_equal(strlen(text), length);
    assert_int_equal(strspn(text, "0123456789abcdef"), length);
}

static void
test_client_id_shape(void **state)
{
    char first[CLIENT_ID_LENGTH + 1], second[CLIENT_ID_LENGTH + 1];

    (void)state;
    secret_generate_client_id(first);
    secret_generate_client_id(second);
    assert_lower_hex(first, CLIENT_ID_LENGTH);
    assert_lower_hex(second, CLIENT_ID_LENGTH);
    assert_string_not_equal(first, second);
}

static void
test_client_secret_shape(void **state)
{
    char first[CLIENT_SECRET_LENGTH + 1], second[CLIENT_SECRET_LENGTH + 1];

    (void)state;
    secret_generate_client_secret(first);
    secret_generate_client_secret(second);
    assert_lower_hex(first, CLIENT_SECRET_LENGTH);
    assert_lower_hex(second, CLIENT_SECRET_LENGTH);
    assert_string_not_equal(first, second);
}

/* Every one of the 16 hex digits turns up over a few thousand secrets;
 * a generator stuck on part of the alphabet would not pass. */
static void
test_client_secret_uses_every_digit(void **state)
{
    char secret[CLIENT_SECRET_LENGTH + 1];
    int seen[16] = {0};

    (void)state;
    for (int round = 0; round < 100; round++) {
        secret_generate_client_secret(secret);
        for (size_t i = 0; i < CLIENT_SECRET_LENGTH; i++)
            seen[secret[i] <= '9' ? secret[i] - '0' : secret[i] - 'a' + 10]++;
    }
    for (int digit = 0; digit < 16; digit++)
        assert_true(seen[digit] > 0);
}

/* RFC 4231 §4.3. HMAC pads a short key with zeros to the block size, so
 * "Jefe" followed by 28 zero bytes is the same key as "Jefe". */
static void
test_hash_is_hmac_sha256(void **state)
{
    static const char message[] = "what do ya want for nothing?";
    static const unsigned char expected[SECRET_HASH_SIZE] = {
        0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24,
        0x26, 0x08, 0x95, 0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27,
        0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43,
    };
    unsigned char key[SECRET_KEY_SIZE] = "Jefe";
    unsigned char got[SECRET_HASH_SIZE];

    (void)state;
    secret_hash(key, message, strlen(message), got);
    assert_memory_equal(got, expected, SECRET_HASH_SIZE);
}

static void
test_hash_depends_on_key_and_secret(void **state)
{
    unsigned char key[SECRET_KEY_SIZE], other_key[SECRET_KEY_SIZE];
    unsigned char hash[SECRET_HASH_SIZE], again[SECRET_HASH_SIZE];
    unsigned char other[SECRET_HASH_SIZE];
    char secret[CLIENT_SECRET_LENGTH + 1];

    (void)state;
    randombytes_buf(key, sizeof(key));
    randombytes_buf(other_key, sizeof(other_key));
    secret_generate_client_secret(secret);

    secret_hash(key, secret, CLIENT_SECRET_LENGTH, hash);
    secret_hash(key, secret, CLIENT_SECRET_LENGTH, again);
    assert_true(secret_hash_equal(hash, again));

    secret_hash(other_key, secret, CLIENT_SECRET_LENGTH, other);
    assert_false(secret_hash_equal(hash, other));

    /* Only the given length counts: a secret one character short is
     * another secret. */
    secret_hash(key, secret, CLIENT_SECRET_LENGTH - 1, other);
    assert_false(secret_hash_equal(hash, other));
}

static void
test_hash_equal_sees_every_byte(void **state)
{
    unsigned char a[SECRET_HASH_SIZE], b[SECRET_HASH_SIZE];

    (void)state;
    randombytes_buf(a, sizeof(a));
    for (size_t i = 0; i < SECRET_HASH_SIZE; i++) {
        memcpy(b, a, sizeof(b));
        assert_true(secret_hash_equal(a, b));
        b[i] ^= 0x01;
        assert_false(secret_hash_equal(a, b));
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_id_shape),
        cmocka_unit_test(test_client_secret_shape),
        cmocka_unit_test(test_client_secret_uses_every_digit),
        cmocka_unit_test(test_hash_is_hmac_sha256),
        cmocka_unit_test(test_hash_depends_on_key_and_secret),
        cmocka_unit_test(test_hash_equal_sees_every_byte),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
