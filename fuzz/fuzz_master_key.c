/*
 * libFuzzer harness for the master key (master_key.h): the hex text of a
 * key file or of TOKEND_MASTER_KEY, and the sealed blobs it opens. The
 * input is both: as text up to its first NUL, and as a sealed blob.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "token/master_key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PLAIN_SIZE 512

static const unsigned char fixed_key[MASTER_KEY_SIZE] = {
    0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x69, 0x78, 0x87, 0x96, 0xa5,
    0xb4, 0xc3, 0xd2, 0xe1, 0xf0, 0x01, 0x12, 0x23, 0x34, 0x45, 0x56,
    0x67, 0x78, 0x89, 0x9a, 0xab, 0xbc, 0xcd, 0xde, 0xef, 0xf0,
};

static int
hex_digit_count(const char *text)
{
    int count = 0;

    for (; *text != '\0'; text++) {
        if ((*text >= '0' && *text <= '9') || (*text >= 'a' && *text <= 'f') ||
            (*text >= 'A' && *text <= 'F'))
            count++;
        else if (strchr(" \t\r\n", *text) == NULL)
            return -1;
    }
    return count;
}

static void
fuzz_hex(const uint8_t *data, size_t size)
{
    unsigned char key[MASTER_KEY_SIZE];
    char *text = malloc(size + 1);

    if (text == NULL)
        return;
    memcpy(text, data, size);
    text[size] = '\0';

    /* A key parses only from exactly 64 hex digits and white space. */
    if (master_key_parse_hex(text, key) == 0 &&
        hex_digit_count(text) != 2 * MASTER_KEY_SIZE)
        abort();
    free(text);
}

static void
fuzz_sealed(const uint8_t *data, size_t size)
{
    unsigned char plain[PLAIN_SIZE];
    unsigned char *sealed = malloc(size ? size : 1);
    size_t length = 0;

    if (sealed == NULL)
        return;
    memcpy(sealed, data, size);

    /* Nobody without the key makes a blob that opens. */
    if (master_key_open(fixed_key, sealed, size, plain, sizeof(plain),
                        &length) == 0)
        abort();
    free(sealed);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (sodium_init() < 0)
        abort();
    fuzz_hex(data, size);
    fuzz_sealed(data, size);
    return 0;
}
