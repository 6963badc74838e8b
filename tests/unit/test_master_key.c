/*
 * The master key: parsing hex, the key file (created once, mode 0600, read
 * back), sealing and opening (a wrong key or a flipped bit gives
 * -EBADMSG), and master_key_obtain's order of sources.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "token/master_key.h"

#define KEY_HEX                                                                \
    "000102030405060708090a0b0c0d0e0f"                                         \
    "101112131415161718191a1b1c1d1e1f"

struct fixture {
    char folder[64];
    char path[128];
};

static int
setup(void **state)
{
    struct fixture *fixture = calloc(1, sizeof(*fixture));

    assert_non_null(fixture);
    snprintf(fixture->folder, sizeof(fixture->folder),
             "/tmp/tokend-master-key-XXXXXX");
    assert_non_null(mkdtemp(fixture->folder));
    snprintf(fixture->path, sizeof(fixture->path), "%s/key", fixture->folder);
    *state = fixture;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *fixture = *state;
    char path[160];

    unlink(fixture->path);
    snprintf(path, sizeof(path), "%s.master-key", fixture->path);
    unlink(path);
    rmdir(fixture->folder);
    free(fixture);
    return 0;
}

static void
write_file(const char *path, const char *text)
{
    FILE *file = fopen(path, "w");

    assert_non_null(file);
    assert_int_equal(fputs(text, file) >= 0, 1);
    assert_int_equal(fclose(file), 0);
}

static void
test_parse_hex(void **state)
{
    unsigned char key[MASTER_KEY_SIZE];

    (void)state;
    assert_int_equal(master_key_parse_hex(KEY_HEX, key), 0);
    for (int i = 0; i < MASTER_KEY_SIZE; i++)
        assert_int_equal(key[i], i);

    assert_int_equal(master_key_parse_hex(" \t" KEY_HEX "\r\n", key), 0);
    assert_int_equal(key[31], 31);
}

static void
test_parse_hex_refuses(void **state)
{
    static const char *const bad[] = {
        "",
        KEY_HEX "00",
        "00" KEY_HEX,
        "0" KEY_HEX,
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1",
        "g00102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        "00010203040506070809 a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        KEY_HEX " x",
        "0x" KEY_HEX,
    };
    unsigned char key[MASTER_KEY_SIZE];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(master_key_parse_hex(bad[i], key), -EINVAL);
}

static void
test_create_and_load(void **state)
{
    struct fixture *fixture = *state;
    unsigned char created[MASTER_KEY_SIZE], loaded[MASTER_KEY_SIZE];
    unsigned char again[MASTER_KEY_SIZE];
    struct stat info;

    assert_int_equal(master_key_create(fixture->path, created), 0);
    assert_int_equal(stat(fixture->path, &info), 0);
    assert_int_equal(info.st_mode & 07777, 0600);
    assert_int_equal(info.st_size, 2 * MASTER_KEY_SIZE + 1);

    assert_int_equal(master_key_load(fixture->path, loaded), 0);
    assert_memory_equal(created, loaded, MASTER_KEY_SIZE);

    /* A second create must neither succeed nor replace the key. */
    assert_int_equal(master_key_create(fixture->path, again), -EEXIST);
    assert_int_equal(master_key_load(fixture->path, loaded), 0);
    assert_memory_equal(created, loaded, MASTER_KEY_SIZE);
}

static void
test_create_is_mode_0600_under_open_umask(void **state)
{
    struct fixture *fixture = *state;
    unsigned char key[MASTER_KEY_SIZE];
    struct stat info;
    mode_t old = umask(0);

    assert_int_equal(master_key_create(fixture->path, key), 0);
    umask(old);
    assert_int_equal(stat(fixture->path, &info), 0);
    assert_int_equal(info.st_mode & 07777, 0600);
}

static void
test_load_refuses(void **state)
{
    struct fixture *fixture = *state;
    unsigned char key[MASTER_KEY_SIZE];
    char long_text[600];

    assert_int_equal(master_key_load(fixture->path, key), -ENOENT);

    write_file(fixture->path, "not a key\n");
    assert_int_equal(master_key_load(fixture->path, key), -EINVAL);

    /* A key followed by a lot of white space is still too long a file
     * to be a key file. */
    memset(long_text, ' ', sizeof(long_text));
    memcpy(long_text, KEY_HEX, 64);
    long_text[sizeof(long_text) - 1] = '\0';
    write_file(fixture->path, long_text);
    assert_int_equal(master_key_load(fixture->path, key), -EINVAL);

    write_file(fixture->path, KEY_HEX "\n");
    assert_int_equal(master_key_load(fixture->path, key), 0);
    assert_int_equal(key[17], 17);
}

static void
test_seal_and_open(void **state)
{
    static const unsigned char plain[] = "a private key, say";
    unsigned char key[MASTER_KEY_SIZE], sealed[128], opened[128];
    unsigned char again[128];
    size_t sealed_length, again_length, opened_length;

    (void)state;
    randombytes_buf(key, sizeof(key));
    assert_int_equal(master_key_seal(key, plain, sizeof(plain), sealed,
                                     sizeof(sealed), &sealed_length),
                     0);
    assert_int_equal(sealed_length, sizeof(plain) + MASTER_KEY_SEAL_OVERHEAD);

    assert_int_equal(master_key_open(key, sealed, sealed_length, opened,
                                     sizeof(opened), &opened_length),
                     0);
    assert_int_equal(opened_length, sizeof(plain));
    assert_memory_equal(opened, plain, sizeof(plain));

    /* A fresh nonce each time: the same plain text seals differently. */
    assert_int_equal(master_key_seal(key, plain, sizeof(plain), again,
                                     sizeof(again), &again_length),
                     0);
    assert_memory_not_equal(sealed, again, sealed_length);
}

static void
test_open_refuses_wrong_key_and_tampering(void **state)
{
    static const unsigned char plain[32] = {1, 2, 3};
    unsigned char key[MASTER_KEY_SIZE], other[MASTER_KEY_SIZE];
    unsigned char sealed[128], opened[128];
    size_t sealed_length, opened_length;

    (void)state;
    randombytes_buf(key, sizeof(key));
    randombytes_buf(other, sizeof(other));
    assert_int_equal(master_key_seal(key, plain, sizeof(plain), sealed,
                                     sizeof(sealed), &sealed_length),
                     0);

    assert_int_equal(master_key_open(other, sealed, sealed_length, opened,
                                     sizeof(opened), &opened_length),
                     -EBADMSG);

    /* Every byte is covered: nonce, cipher text and tag. */
    for (size_t i = 0; i < sealed_length; i++) {
        sealed[i] ^= 0x80;
        assert_int_equal(master_key_open(key, sealed, sealed_length, opened,
                                         sizeof(opened), &opened_length),
                         -EBADMSG);
        sealed[i] ^= 0x80;
    }

    for (size_t length = 0; length < sealed_length; length++)
        assert_int_equal(master_key_open(key, sealed, length, opened,
                                         sizeof(opened), &opened_length),
                         -EBADMSG);
}

static void
test_seal_and_open_check_sizes(void **state)
{
    unsigned char key[MASTER_KEY_SIZE] = {0}, plain[16] = {0};
    unsigned char sealed[16 + MASTER_KEY_SEAL_OVERHEAD], opened[16];
    size_t length;

    (void)state;
    assert_int_equal(master_key_seal(key, plain, sizeof(plain), sealed,
                                     sizeof(sealed) - 1, &length),
                     -ENOSPC);
    assert_int_equal(master_key_seal(key, plain, sizeof(plain), sealed,
                                     sizeof(sealed), &length),
                     0);
    assert_int_equal(master_key_open(key, sealed, length, opened,
                                     sizeof(opened) - 1, &length),
                     -ENOSPC);
}

static void
test_obtain_order(void **state)
{
    struct fixture *fixture = *state;
    unsigned char key[MASTER_KEY_SIZE], beside[MASTER_KEY_SIZE];
    bool created = true;

    /* The file wins over the value, the value over the store path. */
    write_file(fixture->path, KEY_HEX);
    assert_int_equal(master_key_obtain(fixture->path,
                                       "ffffffffffffffffffffffffffffffff"
                                       "ffffffffffffffffffffffffffffffff",
                                       fixture->path, true, key, &created),
                     0);
    assert_false(created);
    assert_int_equal(key[5], 5);

    assert_int_equal(master_key_obtain(NULL,
                                       "ffffffffffffffffffffffffffffffff"
                                       "ffffffffffffffffffffffffffffffff",
                                       fixture->path, true, key, &created),
                     0);
    assert_int_equal(key[5], 0xff);

    /* PostgreSQL without a file or a value: nothing applies. */
    assert_int_equal(master_key_obtain(NULL, NULL, NULL, true, key, &created),
                     -ENOENT);

    /* SQLite: the file beside the database, made on first use only. */
    assert_int_equal(
        master_key_obtain(NULL, NULL, fixture->path, false, key, &created),
        -ENOENT);
    assert_int_equal(
        master_key_obtain(NULL, NULL, fixture->path, true, key, &created), 0);
    assert_true(created);
    assert_int_equal(
        master_key_obtain(NULL, NULL, fixture->path, true, beside, &created),
        0);
    assert_false(created);
    assert_memory_equal(key, beside, MASTER_KEY_SIZE);
}

static void
test_obtain_missing_file(void **state)
{
    struct fixture *fixture = *state;
    unsigned char key[MASTER_KEY_SIZE];

    /* A named file that is missing is an error, never a new key. */
    assert_int_equal(
        master_key_obtain(fixture->path, NULL, NULL, true, key, NULL), -ENOENT);
    assert_int_equal(access(fixture->path, F_OK), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_hex),
        cmocka_unit_test(test_parse_hex_refuses),
        cmocka_unit_test_setup_teardown(test_create_and_load, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_create_is_mode_0600_under_open_umask, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_refuses, setup, teardown),
        cmocka_unit_test(test_seal_and_open),
        cmocka_unit_test(test_open_refuses_wrong_key_and_tampering),
        cmocka_unit_test(test_seal_and_open_check_sizes),
        cmocka_unit_test_setup_teardown(test_obtain_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_obtain_missing_file, setup,
                                        teardown),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
