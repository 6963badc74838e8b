/*
 * libFuzzer harness for access token decoding and verification (jwt.h),
 * the parser behind every bearer check. The first byte of the input picks
 * one of four modes; the rest is that mode's data:
 *
 *   0  the bytes are a token: decode it, verify it under both keys;
 *   1  the bytes edit a valid token (each three bytes: a position in two,
 *      a new byte; a last byte or two cut it short): whatever verifies
 *      must sign the original header and claims, so no edit can change
 *      what a token says;
 *   2  the bytes are header JSON and payload JSON, split at the first
 *      newline, signed with the real key: this reaches the claim decoder,
 *      which base64 and the signature would otherwise hide;
 *   3  the bytes are claim values for jwt_sign: whatever it signs,
 *      jwt_decode must read back the same.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fuzz_input.h"
#include "token/base64url.h"
#include "token/jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TOKEN_SIZE (JWT_MAX_LENGTH + 64)

static struct signing_key *es256_key;
static struct signing_key *eddsa_key;
static char original[TOKEN_SIZE];
static size_t original_length;
static size_t original_signed_length;

static struct signing_key *
fixed_key(enum signing_algorithm algorithm, const char *key_id)
{
    struct signing_key *generated, *key;
    unsigned char bytes[256];
    size_t length;

    if (signing_key_generate(algorithm, &generated) != 0 ||
        signing_key_export(generated, bytes, sizeof(bytes), &length) != 0 ||
        signing_key_import(algorithm, key_id, bytes, length, &key) != 0)
        abort();
    signing_key_free(generated);
    return key;
}

#define SET(field, value) snprintf(field, sizeof(field), "%s", value)

static void
claims_init(struct access_token_claims *claims)
{
    memset(claims, 0, sizeof(*claims));
    SET(claims->issuer, "http://127.0.0.1:8080");
    SET(claims->subject, "member-42");
    SET(claims->audience, "http://127.0.0.1:8080");
    SET(claims->client_id, "0123456789abcdef0123456789abcdef");
    SET(claims->scope, "read write");
    SET(claims->token_id, "AAAAAAAAAAAAAAAAAAAAAA");
    claims->issued_at = 1700000000;
    claims->expires_at = 1700003600;
}

static void
set_up(void)
{
    struct access_token_claims claims;
    int length;

    if (es256_key != NULL)
        return;
    if (sodium_init() < 0)
        abort();
    es256_key = fixed_key(SIGNING_ES256, "k1");
    eddsa_key = fixed_key(SIGNING_EDDSA, "k2");

    claims_init(&claims);
    length = jwt_sign(es256_key, &claims, original, sizeof(original));
    if (length <= 0)
        abort();
    original_length = (size_t)length;
    original_signed_length = (size_t)(strrchr(original, '.') - original);
}

static bool
claims_are_terminated(const struct access_token_claims *claims)
{
    return memchr(claims->issuer, '\0', sizeof(claims->issuer)) &&
           memchr(claims->subject, '\0', sizeof(claims->subject)) &&
           memchr(claims->audience, '\0', sizeof(claims->audience)) &&
           memchr(claims->client_id, '\0', sizeof(claims->client_id)) &&
           memchr(claims->scope, '\0', sizeof(claims->scope)) &&
           memchr(claims->token_id, '\0', sizeof(claims->token_id));
}

/* Decodes and verifies a token held in a buffer of exactly its length.
 * Returns whether it verified under either key. */
static bool
decode_and_verify(const char *text, size_t length, struct jwt_decoded *out)
{
    char *token = malloc(length ? length : 1);
    bool verified = false;

    if (token == NULL)
        return false;
    memcpy(token, text, length);
    if (jwt_decode(token, length, out) == 0) {
        if (!claims_are_terminated(&out->claims) ||
            memchr(out->key_id, '\0', sizeof(out->key_id)) == NULL ||
            out->signing_input != token || out->signing_input_length >= length)
            abort();
        verified = jwt_verify_signature(out, es256_key) == 0 ||
                   jwt_verify_signature(out, eddsa_key) == 0;
    }
    free(token);
    return verified;
}

static void
fuzz_token(const uint8_t *data, size_t size)
{
    struct jwt_decoded decoded;

    (void)decode_and_verify((const char *)data, size, &decoded);
}

static void
fuzz_edit(const uint8_t *data, size_t size)
{
    char edited[TOKEN_SIZE];
    size_t length = original_length;
    size_t i;
    struct jwt_decoded decoded;

    memcpy(edited, original, original_length);
    for (i = 0; i + 3 <= size; i += 3)
        edited[(size_t)(data[i] << 8 | data[i + 1]) % original_length] =
            (char)data[i + 2];
    if (i < size)
        length = data[i] * 2u % (original_length + 1);

    /* ECDSA signatures are malleable (s and n - s both verify), so only
     * the signed part must be the original's, not the signature. */
    if (decode_and_verify(edited, length, &decoded) &&
        (decoded.signing_input_length != original_signed_length ||
         memcmp(edited, original, original_signed_length) != 0))
        abort();
}

/* Appends the signature of text[0..length) under key; returns the new
 * length. */
static size_t
append_signature(const struct signing_key *key, char *text, size_t length,
                 size_t size)
{
    unsigned char signature[SIGNATURE_SIZE];
    int written;

    if (signing_key_sign(key, text, length, signature) != 0)
        abort();
    text[length] = '.';
    written = base64url_encode(signature, sizeof(signature), text + length + 1,
                               size - length - 1);
    if (written < 0)
        abort();
    return length + 1 + (size_t)written;
}

static void
fuzz_signed_json(const uint8_t *data, size_t size)
{
    const uint8_t *newline = memchr(data, '\n', size);
    size_t header_length = newline ? (size_t)(newline - data) : size;
    const uint8_t *payload = newline ? newline + 1 : data + size;
    size_t payload_length = size - (size_t)(payload - data);
    const struct signing_key *key;
    char text[2 * TOKEN_SIZE];
    struct jwt_decoded decoded;
    size_t signed_length, length;

    if (size > JWT_MAX_LENGTH)
        return;
    signed_length =
        (size_t)base64url_encode(data, header_length, text, sizeof(text));
    text[signed_length++] = '.';
    signed_length +=
        (size_t)base64url_encode(payload, payload_length, text + signed_length,
                                 sizeof(text) - signed_length);
    length = append_signature(es256_key, text, signed_length, sizeof(text));
    if (length > JWT_MAX_LENGTH || jwt_decode(text, length, &decoded) != 0)
        return;

    /* Signed with the key of the algorithm it names, a token that
     * decodes must verify. */
    key = decoded.algorithm == SIGNING_EDDSA ? eddsa_key : es256_key;
    length = append_signature(key, text, signed_length, sizeof(text));
    if (jwt_decode(text, length, &decoded) != 0 ||
        jwt_verify_signature(&decoded, key) != 0)
        abort();
    (void)decode_and_verify(text, length, &decoded);
}

static bool
claims_are_equal(const struct access_token_claims *a,
                 const struct access_token_claims *b)
{
    return strcmp(a->issuer, b->issuer) == 0 &&
           strcmp(a->subject, b->subject) == 0 &&
           strcmp(a->audience, b->audience) == 0 &&
           strcmp(a->client_id, b->client_id) == 0 &&
           strcmp(a->scope, b->scope) == 0 &&
           strcmp(a->token_id, b->token_id) == 0 &&
           a->issued_at == b->issued_at && a->expires_at == b->expires_at;
}

static void
fuzz_sign_round_trip(const uint8_t *data, size_t size)
{
    const uint8_t *cursor = data, *end = data + size;
    struct access_token_claims claims;
    struct jwt_decoded decoded;
    char text[TOKEN_SIZE];
    int length;

    claims_init(&claims);
    fuzz_take_text(&cursor, end, claims.issuer, sizeof(claims.issuer));
    fuzz_take_text(&cursor, end, claims.subject, sizeof(claims.subject));
    fuzz_take_text(&cursor, end, claims.audience, sizeof(claims.audience));
    fuzz_take_text(&cursor, end, claims.client_id, sizeof(claims.client_id));
    fuzz_take_text(&cursor, end, claims.scope, sizeof(claims.scope));
    fuzz_take_text(&cursor, end, claims.token_id, sizeof(claims.token_id));

    length =
        jwt_sign(size % 2 ? eddsa_key : es256_key, &claims, text, sizeof(text));
    if (length < 0)
        return;
    if (jwt_decode(text, (size_t)length, &decoded) != 0 ||
        !claims_are_equal(&decoded.claims, &claims) ||
        (jwt_verify_signature(&decoded, es256_key) != 0 &&
         jwt_verify_signature(&decoded, eddsa_key) != 0))
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const fuzz_mode modes[] = {fuzz_token, fuzz_edit, fuzz_signed_json,
                                      fuzz_sign_round_trip};

    set_up();
    fuzz_run_mode(modes, sizeof(modes) / sizeof(modes[0]), data, size);
    return 0;
}
