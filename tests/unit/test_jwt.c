/*
 * Access tokens: sign and decode round trips for both algorithms, the
 * exact header and claim order, JSON escaping of hostile claim values, and
 * a decoder that refuses every malformed, tampered, mistyped, over-long or
 * wrongly typed token. Hand-made tokens are signed with the real key, so a
 * refusal is the decoder's check and not a bad signature.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "token/jwt.h"

#define VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define HEADER "{\"alg\":\"ES256\",\"kid\":\"k1\",\"typ\":\"at+jwt\"}"
#define PAYLOAD                                                                \
    "{\"iss\":\"https://issuer\",\"sub\":\"s\",\"aud\":\"api\","               \
    "\"exp\":1700000600,\"iat\":1700000000,\"jti\":\"j\","                     \
    "\"client_id\":\"c\"}"

#define SET(field, value) snprintf(field, sizeof(field), "%s", value)

struct fixture {
    struct signing_key *es256;
    struct signing_key *eddsa;
    char token[JWT_MAX_LENGTH + 64];
};

static int
setup(void **state)
{
    static struct fixture fixture;
    unsigned char bytes[256];
    size_t length;
    struct signing_key *generated;

    /* A fixed key ID, so that hand-made headers can name it. */
    assert_int_equal(signing_key_generate(SIGNING_ES256, &generated), 0);
    assert_int_equal(
        signing_key_export(generated, bytes, sizeof(bytes), &length), 0);
    assert_int_equal(
        signing_key_import(SIGNING_ES256, "k1", bytes, length, &fixture.es256),
        0);
    signing_key_free(generated);
    assert_int_equal(signing_key_generate(SIGNING_EDDSA, &fixture.eddsa), 0);
    *state = &fixture;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *fixture = *state;

    signing_key_free(fixture->es256);
    signing_key_free(fixture->eddsa);
    return 0;
}

static void
claims_init(struct access_token_claims *claims)
{
    memset(claims, 0, sizeof(*claims));
    SET(claims->issuer, "https://auth.example.com");
    SET(claims->subject, "member-42");
    SET(claims->audience, "https://api.example.com");
    SET(claims->client_id, "0123456789abcdef0123456789abcdef");
    SET(claims->scope, "read write");
    jwt_new_token_id(claims->token_id);
    claims->issued_at = 1700000000;
    claims->expires_at = 1700000900;
}

static void
assert_claims_equal(const struct access_token_claims *a,
                    const struct access_token_claims *b)
{
    assert_string_equal(a->issuer, b->issuer);
    assert_string_equal(a->subject, b->subject);
    assert_string_equal(a->audience, b->audience);
    assert_string_equal(a->client_id, b->client_id);
    assert_string_equal(a->scope, b->scope);
    assert_string_equal(a->token_id, b->token_id);
    assert_int_equal(a->issued_at, b->issued_at);
    assert_int_equal(a->expires_at, b->expires_at);
}

/* Signs and decodes; returns the token's length. */
static size_t
sign_and_decode(const struct signing_key *key,
                const struct access_token_claims *claims, char *token,
                size_t size, struct jwt_decoded *decoded)
{
    int length = jwt_sign(key, claims, token, size);

    assert_true(length > 0);
    assert_int_equal(strlen(token), length);
    assert_int_equal(jwt_decode(token, (size_t)length, decoded), 0);
    assert_int_equal(jwt_verify_signature(decoded, key), 0);
    return (size_t)length;
}

/* A token made by hand from JSON texts, signed by key. */
static size_t
craft(const struct signing_key *key, const char *header, const char *payload,
      char *out, size_t size)
{
    unsigned char signature[SIGNATURE_SIZE];
    size_t length;

    sodium_bin2base64(out, size, (const unsigned char *)header, strlen(header),
                      VARIANT);
    length = strlen(out);
    out[length++] = '.';
    sodium_bin2base64(out + length, size - length,
                      (const unsigned char *)payload, strlen(payload), VARIANT);
    length += strlen(out + length);
    assert_int_equal(signing_key_sign(key, out, length, signature), 0);
    out[length++] = '.';
    sodium_bin2base64(out + length, size - length, signature, sizeof(signature),
                      VARIANT);
    return strlen(out);
}

static int
decode_crafted(struct fixture *fixture, const char *header, const char *payload)
{
    struct jwt_decoded decoded;
    size_t length;

    length = craft(fixture->es256, header, payload, fixture->token,
                   sizeof(fixture->token));
    return jwt_decode(fixture->token, length, &decoded);
}

/* Decodes one base64url part of token into out as text. */
static void
part_text(const char *token, int part, char *out, size_t size)
{
    const char *start = token, *end;
    size_t length;

    for (int i = 0; i < part; i++)
        start = strchr(start, '.') + 1;
    end = strchr(start, '.');
    if (end == NULL)
        end = start + strlen(start);
    assert_int_equal(sodium_base642bin((unsigned char *)out, size - 1, start,
                                       (size_t)(end - start), NULL, &length,
                                       NULL, VARIANT),
                     0);
    out[length] = '\0';
}

static void
test_token_ids(void **state)
{
    char first[JWT_TOKEN_ID_SIZE], second[JWT_TOKEN_ID_SIZE];

    (void)state;
    jwt_new_token_id(first);
    jwt_new_token_id(second);
    assert_int_equal(strlen(first), JWT_TOKEN_ID_SIZE - 1);
    assert_int_equal(strspn(first, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
                                   "opqrstuvwxyz0123456789-_"),
                     JWT_TOKEN_ID_SIZE - 1);
    assert_string_not_equal(first, second);
}

static void
test_round_trip(void **state)
{
    struct fixture *fixture = *state;
    const struct signing_key *keys[] = {fixture->es256, fixture->eddsa};
    struct access_token_claims claims;
    struct jwt_decoded decoded;
    size_t length;

    claims_init(&claims);
    for (size_t i = 0; i < 2; i++) {
        length = sign_and_decode(keys[i], &claims, fixture->token,
                                 sizeof(fixture->token), &decoded);
        assert_claims_equal(&decoded.claims, &claims);
        assert_string_equal(decoded.key_id, signing_key_id(keys[i]));
        assert_int_equal(decoded.algorithm, signing_key_algorithm(keys[i]));
        assert_ptr_equal(decoded.signing_input, fixture->token);
        assert_int_equal(decoded.signing_input_length,
                         strrchr(fixture->token, '.') - fixture->token);
        assert_int_equal(decoded.signature_length, SIGNATURE_SIZE);
        assert_true(length < JWT_MAX_LENGTH);
    }
}

/* The header and the claims, byte for byte as RFC 9068 orders them. */
static void
test_exact_json(void **state)
{
    struct fixture *fixture = *state;
    struct access_token_claims claims;
    struct jwt_decoded decoded;
    char text[JWT_MAX_LENGTH], expected[JWT_MAX_LENGTH];

    claims_init(&claims);
    sign_and_decode(fixture->es256, &claims, fixture->token,
                    sizeof(fixture->token), &decoded);
    part_text(fixture->token, 0, text, sizeof(text));
    assert_string_equal(text, HEADER);

    part_text(fixture->token, 1, text, sizeof(text));
    snprintf(expected, sizeof(expected),
             "{\"iss\":\"https://auth.example.com\",\"sub\":\"member-42\","
             "\"aud\":\"https://api.example.com\",\"exp\":1700000900,"
             "\"iat\":1700000000,\"jti\":\"%s\","
             "\"client_id\":\"0123456789abcdef0123456789abcdef\","
             "\"scope\":\"read write\"}",
             claims.token_id);
    assert_string_equal(text, expected);

    /* No scope claim at all when the scope is empty. */
    claims.scope[0] = '\0';
    sign_and_decode(fixture->eddsa, &claims, fixture->token,
                    sizeof(fixture->token), &decoded);
    part_text(fixture->token, 1, text, sizeof(text));
    assert_null(strstr(text, "scope"));
    assert_string_equal(decoded.claims.scope, "");
    part_text(fixture->token, 0, text, sizeof(text));
    snprintf(expected, sizeof(expected),
             "{\"alg\":\"EdDSA\",\"kid\":\"%s\",\"typ\":\"at+jwt\"}",
             signing_key_id(fixture->eddsa));
    assert_string_equal(text, expected);
}

static void
test_hostile_claims(void **state)
{
    struct fixture *fixture = *state;
    struct access_token_claims claims;
    struct jwt_decoded decoded;
    char text[JWT_MAX_LENGTH];
    json_t *payload;

    claims_init(&claims);
    SET(claims.issuer, "\",\"iss\":\"https://evil\"");
    SET(claims.subject, "back\\slash\\\"quote");
    SET(claims.audience, "line\nfeed\ttab\r\x01\x1f\x7f end");
    SET(claims.client_id, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91");
    SET(claims.scope, "</script><script>alert(1)</script> \\u0000");
    sign_and_decode(fixture->es256, &claims, fixture->token,
                    sizeof(fixture->token), &decoded);
    assert_claims_equal(&decoded.claims, &claims);

    /* Another parser reads the same claims, and no injected one. */
    part_text(fixture->token, 1, text, sizeof(text));
    payload = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(payload);
    assert_string_equal(json_string_value(json_object_get(payload, "iss")),
                        claims.issuer);
    assert_string_equal(json_string_value(json_object_get(payload, "aud")),
                        claims.audience);
    assert_int_equal(json_object_size(payload), 8);
    json_decref(payload);
}

static void
test_sign_refuses(void **state)
{
    struct fixture *fixture = *state;
    struct access_token_claims claims;
    char small[64];

    claims_init(&claims);
    assert_int_equal(jwt_sign(fixture->es256, &claims, small, sizeof(small)),
                     -ENOSPC);

    /* Not UTF-8: a stray continuation byte, a cut sequence, an overlong
     * slash, a surrogate. JSON must be UTF-8, and we would refuse it. */
    SET(claims.subject, "a\x80");
    assert_int_equal(jwt_sign(fixture->es256, &claims, fixture->token,
                              sizeof(fixture->token)),
                     -EINVAL);
    SET(claims.subject, "a\xe2\x82");
    assert_int_equal(jwt_sign(fixture->es256, &claims, fixture->token,
                              sizeof(fixture->token)),
                     -EINVAL);
    SET(claims.subject, "\xc0\xaf");
    assert_int_equal(jwt_sign(fixture->es256, &claims, fixture->token,
                              sizeof(fixture->token)),
                     -EINVAL);
    SET(claims.subject, "\xed\xa0\x80");
    assert_int_equal(jwt_sign(fixture->es256, &claims, fixture->token,
                              sizeof(fixture->token)),
                     -EINVAL);

    /* A claim that fills its array without a NUL. */
    claims_init(&claims);
    memset(claims.subject, 'a', sizeof(claims.subject));
    assert_int_equal(jwt_sign(fixture->es256, &claims, fixture->token,
                              sizeof(fixture->token)),
                     -EINVAL);

    /* Claims that escape to more than a token may hold. */
    memset(claims.subject, '\x01', sizeof(claims.subject) - 1);
    memset(claims.issuer, '\x01', sizeof(claims.issuer) - 1);
    memset(claims.audience, '\x01', sizeof(claims.audience) - 1);
    assert_int_equal(jwt_sign(fixture->es256, &claims, fixture->token,
                              sizeof(fixture->token)),
                     -EINVAL);
}

/* Every character of a token changed to another base64url character:
 * the token no longer decodes, or no longer verifies. */
static void
test_tampering(void **state)
{
    struct fixture *fixture = *state;
    const struct signing_key *keys[] = {fixture->es256, fixture->eddsa};
    struct access_token_claims claims;
    struct jwt_decoded decoded;
    size_t length;

    claims_init(&claims);
    for (size_t k = 0; k < 2; k++) {
        length = sign_and_decode(keys[k], &claims, fixture->token,
                                 sizeof(fixture->token), &decoded);
        for (size_t i = 0; i < length; i++) {
            char original = fixture->token[i];

            if (original == '.')
                continue;
            fixture->token[i] = original == 'A' ? 'B' : 'A';
            if (jwt_decode(fixture->token, length, &decoded) == 0)
                assert_int_equal(jwt_verify_signature(&decoded, keys[k]),
                                 -EBADMSG);
            fixture->token[i] = original;
        }
    }
}

static void
test_wrong_key(void **state)
{
    struct fixture *fixture = *state;
    struct access_token_claims claims;
    struct jwt_decoded decoded;
    struct signing_key *other;

    claims_init(&claims);
    sign_and_decode(fixture->es256, &claims, fixture->token,
                    sizeof(fixture->token), &decoded);

    assert_int_equal(signing_key_generate(SIGNING_ES256, &other), 0);
    assert_int_equal(jwt_verify_signature(&decoded, other), -EBADMSG);
    signing_key_free(other);

    /* A key of another algorithm is never tried (RFC 8725 §3.1). */
    assert_int_equal(jwt_verify_signature(&decoded, fixture->eddsa), -EBADMSG);
    decoded.algorithm = SIGNING_EDDSA;
    assert_int_equal(jwt_verify_signature(&decoded, fixture->es256), -EBADMSG);
}

static void
test_crafted_baseline(void **state)
{
    struct fixture *fixture = *state;
    struct jwt_decoded decoded;
    size_t length;

    /* The hand-made token itself is fine, so each refusal below is due to
     * the one thing changed. */
    length = craft(fixture->es256, HEADER, PAYLOAD, fixture->token,
                   sizeof(fixture->token));
    assert_int_equal(jwt_decode(fixture->token, length, &decoded), 0);
    assert_int_equal(jwt_verify_signature(&decoded, fixture->es256), 0);
    assert_string_equal(decoded.claims.issuer, "https://issuer");
    assert_string_equal(decoded.claims.scope, "");
    assert_int_equal(decoded.claims.expires_at, 1700000600);
}

static void
test_header_refused(void **state)
{
    static const char *const headers[] = {
        "{\"alg\":\"none\",\"kid\":\"k1\",\"typ\":\"at+jwt\"}",
        "{\"alg\":\"HS256\",\"kid\":\"k1\",\"typ\":\"at+jwt\"}",
        "{\"alg\":\"RS256\",\"kid\":\"k1\",\"typ\":\"at+jwt\"}",
        "{\"alg\":\"es256\",\"kid\":\"k1\",\"typ\":\"at+jwt\"}",
        "{\"kid\":\"k1\",\"typ\":\"at+jwt\"}",
        "{\"alg\":5,\"kid\":\"k1\",\"typ\":\"at+jwt\"}",
        "{\"alg\":\"ES256\",\"kid\":\"k1\",\"typ\":\"JWT\"}",
        "{\"alg\":\"ES256\",\"kid\":\"k1\",\"typ\":\"at+jwt2\"}",
        "{\"alg\":\"ES256\",\"kid\":\"k1\",\"typ\":\"application/jwt\"}",
        "{\"alg\":\"ES256\",\"kid\":\"k1\"}",
        "{\"alg\":\"ES256\",\"kid\":\"k1\",\"typ\":null}",
        "{\"alg\":\"ES256\",\"typ\":\"at+jwt\"}",
        "{\"alg\":\"ES256\",\"kid\":\"\",\"typ\":\"at+jwt\"}",
        "{\"alg\":\"ES256\",\"kid\":7,\"typ\":\"at+jwt\"}",
        "{\"alg\":\"ES256\",\"kid\":\"0123456789012345678901234567890123456"
        "789012345678901234567890123\",\"typ\":\"at+jwt\"}",
        "{\"alg\":\"ES256\",\"kid\":\"k1\",\"typ\":\"at+jwt\","
        "\"crit\":[\"exp\"]}",
        "{\"alg\":\"ES256\",\"alg\":\"none\",\"kid\":\"k1\","
        "\"typ\":\"at+jwt\"}",
        "{\"alg\":\"ES256\",\"kid\":\"k1\",\"typ\":\"at+jwt\"} x",
        "{\"alg\":\"ES256\",\"kid\":\"k\\u0000\",\"typ\":\"at+jwt\"}",
        "[\"ES256\"]",
        "\"at+jwt\"",
        "",
    };
    struct fixture *fixture = *state;

    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++)
        assert_int_equal(decode_crafted(fixture, headers[i], PAYLOAD), -EINVAL);
}

static void
test_header_type_spellings(void **state)
{
    static const char *const headers[] = {
        "{\"alg\":\"ES256\",\"kid\":\"k1\",\"typ\":\"AT+JWT\"}",
        "{\"alg\":\"ES256\",\"kid\":\"k1\",\"typ\":\"application/at+jwt\"}",
        "{\"typ\":\"Application/At+Jwt\",\"kid\":\"k1\",\"alg\":\"ES256\"}",
    };
    struct fixture *fixture = *state;

    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++)
        assert_int_equal(decode_crafted(fixture, headers[i], PAYLOAD), 0);
}

/* alg "none" with an empty signature: the classic downgrade. */
static void
test_unsigned_token_refused(void **state)
{
    static const char none[] =
        "{\"alg\":\"none\",\"kid\":\"k1\",\"typ\":\"at+jwt\"}";
    char header[128], payload[512], token[1024];
    struct jwt_decoded decoded;

    (void)state;
    sodium_bin2base64(header, sizeof(header), (const unsigned char *)none,
                      strlen(none), VARIANT);
    sodium_bin2base64(payload, sizeof(payload), (const unsigned char *)PAYLOAD,
                      strlen(PAYLOAD), VARIANT);
    snprintf(token, sizeof(token), "%s.%s.", header, payload);
    assert_int_equal(jwt_decode(token, strlen(token), &decoded), -EINVAL);
    snprintf(token, sizeof(token), "%s.%s", header, payload);
    assert_int_equal(jwt_decode(token, strlen(token), &decoded), -EINVAL);
}

static void
test_claims_refused(void **state)
{
    static const char *const payloads[] = {
        /* Each required claim missing in turn. */
        "{\"sub\":\"s\",\"aud\":\"a\",\"exp\":2,\"iat\":1,\"jti\":\"j\","
        "\"client_id\":\"c\"}",
        "{\"iss\":\"i\",\"aud\":\"a\",\"exp\":2,\"iat\":1,\"jti\":\"j\","
        "\"client_id\":\"c\"}",
        "{\"iss\":\"i\",\"sub\":\"s\",\"exp\":2,\"iat\":1,\"jti\":\"j\","
        "\"client_id\":\"c\"}",
        "{\"iss\":\"i\",\"sub\":\"s\",\"aud\":\"a\",\"iat\":1,\"jti\":\"j\","
        "\"client_id\":\"c\"}",
        "{\"iss\":\"i\",\"sub\":\"s\",\"aud\":\"a\",\"exp\":2,\"jti\":\"j\","
        "\"client_id\":\"c\"}",
        "{\"iss\":\"i\",\"sub\":\"s\",\"aud\":\"a\",\"exp\":2,\"iat\":1,"
        "\"client_id\":\"c\"}",
        "{\"iss\":\"i\",\"sub\":\"s\",\"aud\":\"a\",\"exp\":2,\"iat\":1,"
        "\"jti\":\"j\"}",
        /* Wrong types. */
        "{\"iss\":1,\"sub\":\"s\",\"aud\":\"a\",\"exp\":2,\"iat\":1,"
        "\"jti\":\"j\",\"client_id\":\"c\"}",
        "{\"iss\":\"i\",\"sub\":null,\"aud\":\"a\",\"exp\":2,\"iat\":1,"
        "\"jti\":\"j\",\"client_id\":\"c\"}",
        "{\"iss\":\"i\",\"sub\":\"s\",\"aud\":3,\"exp\":2,\"iat\":1,"
        "\"jti\":\"j\",\"client_id\":\"c\"}",
        "{\"iss\":\"i\",\"sub\":\"s\",\"aud\":[],\"exp\":2,\"iat\":1,"
        "\"jti\":\"j\",\"client_id\":\"c\"}",
        "{\"iss\":\"i\",\"sub\":\"s\",\"aud\":[\"a\",1],\"exp\":2,\"iat\":1,"
        "\"jti\":\"j\",\"client_id\":\"c\"}",
        "{\"iss\":\"i\",\"sub\":\"s\",\"aud\":{\"a\":1},\"exp\":2,\"iat\":1,"
        "\"jti\":\"j\",\"client_id\":\"c\"}",
        "{\"iss\":\"i\",\"sub\":\"s\",\"aud\":\"a\",\"exp\":\"2\",\"iat\":1,"
        "\"jti\":\"j\",\"client_id\":\"c\"}",
        "{\"iss\":\"i\",\"sub\":\"s\",\"aud\":\"a\",\"exp\":2.5,\"iat\":1,"
        "\"jti\":\"j\",\"client_id\":\"c\"}",
        "{\"iss\":\"i\",\"sub\":\"s\",\"aud\":\"a\",\"exp\":2,\"iat\":true,"
        "\"jti\":\"j\",\"client_id\":\"c\"}",
        "{\"iss\":\"i\",\"sub\":\"s\",\"aud\":\"a\",\"exp\":2,\"iat\":1,"
        "\"jti\":[\"j\"],\"client_id\":\"c\"}",
        "{\"iss\":\"i\",\"sub\":\"s\",\"aud\":\"a\",\"exp\":2,\"iat\":1,"
        "\"jti\":\"j\",\"client_id\":false}",
        "{\"iss\":\"i\",\"sub\":\"s\",\"aud\":\"a\",\"exp\":2,\"iat\":1,"
        "\"jti\":\"j\",\"client_id\":\"c\",\"scope\":[\"read\"]}",
        /* A duplicate, a NUL, trailing text, not an object. */
        "{\"iss\":\"i\",\"sub\":\"s\",\"sub\":\"admin\",\"aud\":\"a\","
        "\"exp\":2,\"iat\":1,\"jti\":\"j\",\"client_id\":\"c\"}",
        "{\"iss\":\"i\",\"sub\":\"s\\u0000admin\",\"aud\":\"a\",\"exp\":2,"
        "\"iat\":1,\"jti\":\"j\",\"client_id\":\"c\"}",
        PAYLOAD "{}",
        "[" PAYLOAD "]",
        "",
        /* A token ID one character longer than any we make. */
        "{\"iss\":\"i\",\"sub\":\"s\",\"aud\":\"a\",\"exp\":2,\"iat\":1,"
        "\"jti\":\"abcdefghijklmnopqrstuvw\",\"client_id\":\"c\"}",
    };
    struct fixture *fixture = *state;

    for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++)
        assert_int_equal(decode_crafted(fixture, HEADER, payloads[i]), -EINVAL);
}

static void
test_audience_array(void **state)
{
    struct fixture *fixture = *state;
    struct jwt_decoded decoded;
    size_t length;

    length =
        craft(fixture->es256, HEADER,
              "{\"iss\":\"i\",\"sub\":\"s\",\"aud\":[\"first\",\"second\"],"
              "\"exp\":2,\"iat\":1,\"jti\":\"j\",\"client_id\":\"c\","
              "\"scope\":\"x y\"}",
              fixture->token, sizeof(fixture->token));
    assert_int_equal(jwt_decode(fixture->token, length, &decoded), 0);
    assert_string_equal(decoded.claims.audience, "first");
    assert_string_equal(decoded.claims.scope, "x y");
}

/* Claims one byte longer than their fields hold are refused, and ones
 * that just fit are accepted. */
static void
test_claim_lengths(void **state)
{
    struct fixture *fixture = *state;
    char payload[2048], value[JWT_TEXT_SIZE + 1];

    memset(value, 's', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    snprintf(payload, sizeof(payload),
             "{\"iss\":\"i\",\"sub\":\"%s\",\"aud\":\"a\",\"exp\":2,"
             "\"iat\":1,\"jti\":\"j\",\"client_id\":\"c\"}",
             value);
    assert_int_equal(decode_crafted(fixture, HEADER, payload), -EINVAL);

    value[JWT_TEXT_SIZE - 1] = '\0';
    snprintf(payload, sizeof(payload),
             "{\"iss\":\"i\",\"sub\":\"%s\",\"aud\":\"a\",\"exp\":2,"
             "\"iat\":1,\"jti\":\"j\",\"client_id\":\"c\"}",
             value);
    assert_int_equal(decode_crafted(fixture, HEADER, payload), 0);
}

/* A well-signed token over JWT_MAX_LENGTH is refused for its length. */
static void
test_too_long(void **state)
{
    struct fixture *fixture = *state;
    char payload[JWT_MAX_LENGTH], filler[3000];
    struct jwt_decoded decoded;
    size_t length;

    memset(filler, 'x', 2900);
    filler[2900] = '\0';
    snprintf(payload, sizeof(payload),
             "{\"iss\":\"i\",\"sub\":\"s\",\"aud\":\"a\",\"exp\":2,"
             "\"iat\":1,\"jti\":\"j\",\"client_id\":\"c\",\"pad\":\"%s\"}",
             filler);
    length = craft(fixture->es256, HEADER, payload, fixture->token,
                   sizeof(fixture->token));
    assert_true(length > JWT_MAX_LENGTH);
    assert_int_equal(jwt_decode(fixture->token, length, &decoded), -EINVAL);

    /* Just under the limit, it is fine. */
    filler[2800] = '\0';
    snprintf(payload, sizeof(payload),
             "{\"iss\":\"i\",\"sub\":\"s\",\"aud\":\"a\",\"exp\":2,"
             "\"iat\":1,\"jti\":\"j\",\"client_id\":\"c\",\"pad\":\"%s\"}",
             filler);
    length = craft(fixture->es256, HEADER, payload, fixture->token,
                   sizeof(fixture->token));
    assert_true(length <= JWT_MAX_LENGTH);
    assert_int_equal(jwt_decode(fixture->token, length, &decoded), 0);
}

/* Splices text into the token at position, replacing remove characters,
 * and checks that the result is refused. */
static void
assert_edit_refused(const char *token, size_t position, size_t remove,
                    const char *text)
{
    char edited[JWT_MAX_LENGTH + 128];
    struct jwt_decoded decoded;
    int length;

    length = snprintf(edited, sizeof(edited), "%.*s%s%s", (int)position, token,
                      text, token + position + remove);
    assert_true(length >= 0 && (size_t)length < sizeof(edited));
    assert_int_equal(jwt_decode(edited, (size_t)length, &decoded), -EINVAL);
}

static void
test_structure_refused(void **state)
{
    struct fixture *fixture = *state;
    struct access_token_claims claims;
    struct jwt_decoded decoded;
    size_t length, first, second;
    const char *token = fixture->token;

    claims_init(&claims);
    length = sign_and_decode(fixture->es256, &claims, fixture->token,
                             sizeof(fixture->token), &decoded);
    first = (size_t)(strchr(token, '.') - token);
    second = (size_t)(strrchr(token, '.') - token);

    /* Two parts, four parts, five parts, empty parts. */
    assert_edit_refused(token, second, length - second, "");
    assert_edit_refused(token, length, 0, ".");
    assert_edit_refused(token, length, 0, ".AAAA");
    assert_edit_refused(token, length, 0, ".AAAA.AAAA");
    assert_edit_refused(token, 0, first, "");
    assert_edit_refused(token, first + 1, second - first - 1, "");
    assert_edit_refused(token, 0, length, "..");
    assert_edit_refused(token, 0, length, "");

    /* Characters outside base64url, padding, white space, NUL. */
    assert_edit_refused(token, 3, 1, "+");
    assert_edit_refused(token, first + 3, 1, "/");
    assert_edit_refused(token, second + 3, 1, "=");
    assert_edit_refused(token, length, 0, "=");
    assert_edit_refused(token, first, 0, " ");
    assert_edit_refused(token, length, 0, "\n");

    /* A signature cut short or made longer. */
    assert_edit_refused(token, length - 4, 4, "");
    assert_edit_refused(token, length - 1, 1, "");
    assert_edit_refused(token, length, 0, "AAAA");
    assert_edit_refused(token, second + 1, length - second - 1, "AAAA");

    /* The length given is what counts: a NUL inside, or a length one
     * short, is refused however the bytes look. */
    assert_int_equal(jwt_decode(token, length - 1, &decoded), -EINVAL);
    fixture->token[first + 2] = '\0';
    assert_int_equal(jwt_decode(token, length, &decoded), -EINVAL);
    assert_int_equal(jwt_decode(token, 0, &decoded), -EINVAL);
}

/* The last base64url character of a part may carry bits beyond the
 * data; they must be zero, so that each token has one spelling. */
static void
test_noncanonical_base64_refused(void **state)
{
    struct fixture *fixture = *state;
    struct access_token_claims claims;
    struct jwt_decoded decoded;
    size_t length;
    char *last;

    claims_init(&claims);
    length = sign_and_decode(fixture->es256, &claims, fixture->token,
                             sizeof(fixture->token), &decoded);

    /* 64 signature bytes take 86 characters, the last holding 2 data
     * bits and 4 spare ones, so it is one of A, Q, g, w; the next
     * character (B, R, h, x) decodes to the same bytes with a spare bit
     * set. */
    last = &fixture->token[length - 1];
    assert_non_null(strchr("AQgw", *last));
    (*last)++;
    assert_int_equal(jwt_decode(fixture->token, length, &decoded), -EINVAL);
}

static void
test_garbage(void **state)
{
    static const char *const tokens[] = {
        "garbage",     "a.b.c",    "...",
        "e30.e30.e30", "e30.e30.", "eyJhbGciOiJub25lIn0.e30.",
    };
    unsigned char random[600];
    char text[1024];
    struct jwt_decoded decoded;

    (void)state;
    for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++)
        assert_int_equal(jwt_decode(tokens[i], strlen(tokens[i]), &decoded),
                         -EINVAL);

    /* Random bytes and random base64url in three parts. */
    for (int round = 0; round < 200; round++) {
        size_t length = randombytes_uniform(sizeof(random));

        randombytes_buf(random, length);
        assert_int_equal(jwt_decode((const char *)random, length, &decoded),
                         -EINVAL);
        sodium_bin2base64(text, sizeof(text), random, length, VARIANT);
        if (length > 20) {
            text[5] = '.';
            text[15] = '.';
        }
        assert_int_equal(jwt_decode(text, strlen(text), &decoded), -EINVAL);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_ids),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_exact_json),
        cmocka_unit_test(test_hostile_claims),
        cmocka_unit_test(test_sign_refuses),
        cmocka_unit_test(test_tampering),
        cmocka_unit_test(test_wrong_key),
        cmocka_unit_test(test_crafted_baseline),
        cmocka_unit_test(test_header_refused),
        cmocka_unit_test(test_header_type_spellings),
        cmocka_unit_test(test_unsigned_token_refused),
        cmocka_unit_test(test_claims_refused),
        cmocka_unit_test(test_audience_array),
        cmocka_unit_test(test_claim_lengths),
        cmocka_unit_test(test_too_long),
        cmocka_unit_test(test_structure_refused),
        cmocka_unit_test(test_noncanonical_base64_refused),
        cmocka_unit_test(test_garbage),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, setup, teardown);
}
