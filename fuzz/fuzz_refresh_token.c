/*
 * libFuzzer harness for refresh tokens (refresh_token.h), which arrive in
 * token, revocation and introspection requests. The first byte picks a
 * mode; the rest is its data:
 *
 *   0  the bytes are a token: parse it under a fixed key;
 *   1  the bytes are a record: the harness appends the right HMAC and
 *      encodes it, which reaches the record parser behind the tag; what
 *      parses must format back to the very same text;
 *   2  the bytes fill a token's fields: what formats must parse back to
 *      the same fields.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fuzz_input.h"
#include "token/base64url.h"
#include "token/refresh_token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RECORD_SIZE 512

static const unsigned char key[REFRESH_TOKEN_KEY_SIZE] = {
    0x10, 0x21, 0x32, 0x43, 0x54, 0x65, 0x76, 0x87, 0x98, 0xa9, 0xba,
    0xcb, 0xdc, 0xed, 0xfe, 0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x69,
    0x78, 0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2, 0xe1, 0xf0, 0x01,
};

static int
tokens_are_equal(const struct refresh_token *a, const struct refresh_token *b)
{
    return memcmp(a->family_id, b->family_id, sizeof(a->family_id)) == 0 &&
           a->generation == b->generation && a->issued_at == b->issued_at &&
           a->expires_at == b->expires_at &&
           strcmp(a->client_id, b->client_id) == 0 &&
           strcmp(a->scope, b->scope) == 0;
}

/* Parses text from a buffer of exactly its length. */
static int
parse(const char *text, size_t length, struct refresh_token *out)
{
    char *copy = malloc(length ? length : 1);
    int error;

    if (copy == NULL)
        abort();
    memcpy(copy, text, length);
    error = refresh_token_parse(key, copy, length, out);
    free(copy);
    if (error == 0 &&
        (memchr(out->client_id, '\0', sizeof(out->client_id)) == NULL ||
         memchr(out->scope, '\0', sizeof(out->scope)) == NULL))
        abort();
    return error;
}

static void
fuzz_text(const uint8_t *data, size_t size)
{
    struct refresh_token parsed;

    (void)parse((const char *)data, size, &parsed);
}

static void
fuzz_record(const uint8_t *data, size_t size)
{
    unsigned char record[RECORD_SIZE + crypto_auth_hmacsha256_BYTES];
    char text[2 * RECORD_SIZE], formatted[2 * RECORD_SIZE];
    struct refresh_token parsed;
    int length, again;

    if (size > RECORD_SIZE)
        return;
    memcpy(record, data, size);
    crypto_auth_hmacsha256(record + size, record, size, key);
    length = base64url_encode(record, size + crypto_auth_hmacsha256_BYTES, text,
                              sizeof(text));
    if (length < 0 || parse(text, (size_t)length, &parsed) != 0)
        return;

    /* One token, one encoding: a second text for the same fields would
     * be a second token that passes reuse detection as a new one. */
    again = refresh_token_format(key, &parsed, formatted, sizeof(formatted));
    if (again != length || strcmp(formatted, text) != 0)
        abort();
}

static void
fuzz_fields(const uint8_t *data, size_t size)
{
    const uint8_t *cursor = data, *end = data + size;
    struct refresh_token token, parsed;
    char text[2 * RECORD_SIZE];
    int64_t times[2];
    int length;

    memset(&token, 0, sizeof(token));
    if (size <
        sizeof(token.family_id) + sizeof(token.generation) + sizeof(times))
        return;
    memcpy(token.family_id, cursor, sizeof(token.family_id));
    cursor += sizeof(token.family_id);
    memcpy(&token.generation, cursor, sizeof(token.generation));
    cursor += sizeof(token.generation);
    memcpy(times, cursor, sizeof(times));
    cursor += sizeof(times);
    token.issued_at = times[0];
    token.expires_at = times[1];
    fuzz_take_text(&cursor, end, token.client_id, sizeof(token.client_id));
    fuzz_take_text(&cursor, end, token.scope, sizeof(token.scope));

    length = refresh_token_format(key, &token, text, sizeof(text));
    if (length < 0)
        return;
    if (length > REFRESH_TOKEN_MAX_LENGTH ||
        parse(text, (size_t)length, &parsed) != 0 ||
        !tokens_are_equal(&parsed, &token))
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const fuzz_mode modes[] = {fuzz_text, fuzz_record, fuzz_fields};

    if (sodium_init() < 0)
        abort();
    fuzz_run_mode(modes, sizeof(modes) / sizeof(modes[0]), data, size);
    return 0;
}
