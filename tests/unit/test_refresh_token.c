/*
 * Refresh tokens: round trips at the smallest and largest sizes, URL-safe
 * text within REFRESH_TOKEN_MAX_LENGTH, and refusal (-EINVAL) of another
 * key, every changed character, every truncation, over-long and random
 * input, and records that carry a valid HMAC but a malformed body. Run it
 * under ASan to see that no refusal reads out of bounds.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "token/refresh_token.h"

#define VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define URL_SAFE                                                               \
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
#define TEXT_SIZE (REFRESH_TOKEN_MAX_LENGTH + 64)

static unsigned char key[REFRESH_TOKEN_KEY_SIZE];

static void
token_init(struct refresh_token *token)
{
    memset(token, 0, sizeof(*token));
    refresh_token_new_family(token->family_id);
    token->generation = 7;
    token->issued_at = 1700000000;
    token->expires_at = 1702592000;
    snprintf(token->client_id, sizeof(token->client_id), "%s",
             "0123456789abcdef0123456789abcdef");
    snprintf(token->scope, sizeof(token->scope), "%s", "read write");
}

static void
assert_tokens_equal(const struct refresh_token *a,
                    const struct refresh_token *b)
{
    assert_memory_equal(a->family_id, b->family_id, REFRESH_FAMILY_ID_SIZE);
    assert_int_equal(a->generation, b->generation);
    assert_int_equal(a->issued_at, b->issued_at);
    assert_int_equal(a->expires_at, b->expires_at);
    assert_string_equal(a->client_id, b->client_id);
    assert_string_equal(a->scope, b->scope);
}

static size_t
format(const struct refresh_token *token, char *text)
{
    int length = refresh_token_format(key, token, text, TEXT_SIZE);

    assert_true(length > 0);
    assert_int_equal(strlen(text), length);
    assert_true(length <= REFRESH_TOKEN_MAX_LENGTH);
    assert_int_equal(strspn(text, URL_SAFE), length);
    return (size_t)length;
}

/* Parsing must fail and leave out as it was. */
static void
assert_refused(const unsigned char *with_key, const char *text, size_t length)
{
    struct refresh_token out, before;

    memset(&out, 0x5a, sizeof(out));
    before = out;
    assert_int_equal(refresh_token_parse(with_key, text, length, &out),
                     -EINVAL);
    assert_memory_equal(&out, &before, sizeof(out));
}

static void
test_new_family(void **state)
{
    unsigned char first[REFRESH_FAMILY_ID_SIZE];
    unsigned char second[REFRESH_FAMILY_ID_SIZE];

    (void)state;
    refresh_token_new_family(first);
    refresh_token_new_family(second);
    assert_memory_not_equal(first, second, REFRESH_FAMILY_ID_SIZE);
}

static void
test_round_trip(void **state)
{
    struct refresh_token token, parsed;
    char text[TEXT_SIZE];
    size_t length;

    (void)state;
    token_init(&token);
    length = format(&token, text);
    assert_int_equal(refresh_token_parse(key, text, length, &parsed), 0);
    assert_tokens_equal(&parsed, &token);

    /* The smallest token: no client ID text, no scope, all zeros. */
    memset(&token, 0, sizeof(token));
    length = format(&token, text);
    assert_int_equal(refresh_token_parse(key, text, length, &parsed), 0);
    assert_tokens_equal(&parsed, &token);
}

static void
test_largest_fits(void **state)
{
    struct refresh_token token, parsed;
    char text[TEXT_SIZE];
    size_t length;

    (void)state;
    token_init(&token);
    memset(token.client_id, 'c', REFRESH_CLIENT_ID_SIZE - 1);
    token.client_id[REFRESH_CLIENT_ID_SIZE - 1] = '\0';
    memset(token.scope, 's', REFRESH_SCOPE_SIZE - 1);
    token.scope[REFRESH_SCOPE_SIZE - 1] = '\0';
    token.generation = UINT32_MAX;
    token.issued_at = ((int64_t)1 << 40) - 1;
    token.expires_at = ((int64_t)1 << 40) - 1;

    length = format(&token, text);
    assert_int_equal(length, REFRESH_TOKEN_MAX_LENGTH);
    assert_int_equal(refresh_token_parse(key, text, length, &parsed), 0);
    assert_tokens_equal(&parsed, &token);
}

static void
test_format_refuses(void **state)
{
    struct refresh_token token;
    char text[TEXT_SIZE];

    (void)state;
    token_init(&token);
    assert_int_equal(refresh_token_format(key, &token, text, 40), -ENOSPC);

    token.issued_at = -1;
    assert_int_equal(refresh_token_format(key, &token, text, sizeof(text)),
                     -EINVAL);
    token_init(&token);
    token.expires_at = (int64_t)1 << 40;
    assert_int_equal(refresh_token_format(key, &token, text, sizeof(text)),
                     -EINVAL);

    token_init(&token);
    memset(token.client_id, 'c', sizeof(token.client_id));
    assert_int_equal(refresh_token_format(key, &token, text, sizeof(text)),
                     -EINVAL);
    token_init(&token);
    memset(token.scope, 's', sizeof(token.scope));
    assert_int_equal(refresh_token_format(key, &token, text, sizeof(text)),
                     -EINVAL);
}

static void
test_wrong_key(void **state)
{
    unsigned char other[REFRESH_TOKEN_KEY_SIZE];
    struct refresh_token token;
    char text[TEXT_SIZE];
    size_t length;

    (void)state;
    randombytes_buf(other, sizeof(other));
    token_init(&token);
    length = format(&token, text);
    assert_refused(other, text, length);
}

static void
test_every_character_changed(void **state)
{
    struct refresh_token token;
    char text[TEXT_SIZE];
    size_t length;

    (void)state;
    token_init(&token);
    length = format(&token, text);
    for (size_t i = 0; i < length; i++) {
        char original = text[i];

        text[i] = original == 'A' ? 'B' : 'A';
        assert_refused(key, text, length);
        text[i] = '.';
        assert_refused(key, text, length);
        text[i] = original;
    }
}

static void
test_truncated_and_extended(void **state)
{
    struct refresh_token token;
    char text[TEXT_SIZE];
    size_t length;

    (void)state;
    token_init(&token);
    length = format(&token, text);
    for (size_t cut = 0; cut < length; cut++)
        assert_refused(key, text, cut);

    /* The tail alone, and the token with more after it. */
    assert_refused(key, text + 4, length - 4);
    memcpy(text + length, "AAAA", 5);
    assert_refused(key, text, length + 4);
    text[length] = '=';
    assert_refused(key, text, length + 1);
}

static void
test_too_long_and_garbage(void **state)
{
    unsigned char random[REFRESH_TOKEN_MAX_LENGTH + 8];
    char text[2 * REFRESH_TOKEN_MAX_LENGTH];

    (void)state;
    memset(text, 'A', sizeof(text));
    assert_refused(key, text, REFRESH_TOKEN_MAX_LENGTH + 1);
    assert_refused(key, text, sizeof(text));
    assert_refused(key, "", 0);
    assert_refused(key, "not a token", 11);

    for (int round = 0; round < 500; round++) {
        size_t length = randombytes_uniform(sizeof(random));

        randombytes_buf(random, length);
        assert_refused(key, (const char *)random, length);
        length = randombytes_uniform(REFRESH_TOKEN_MAX_LENGTH / 4 * 3);
        randombytes_buf(random, length);
        sodium_bin2base64(text, sizeof(text), random, length, VARIANT);
        assert_refused(key, text, strlen(text));
    }
}

/* A record of our own making, tagged with the right key, so that only
 * its shape can be at fault: version, family, generation 3, issued at 1,
 * expires at 2 (31 bytes), then body. */
static void
tagged(unsigned char version, const void *body, size_t body_length, char *text)
{
    unsigned char record[512] = {0};
    size_t length = 31 + body_length;

    record[0] = version;
    memset(record + 1, 0xab, 16);
    record[20] = 3;
    record[25] = 1;
    record[30] = 2;
    memcpy(record + 31, body, body_length);
    crypto_auth_hmacsha256(record + length, record, length, key);
    sodium_bin2base64(text, TEXT_SIZE, record, length + 32, VARIANT);
}

static void
test_tagged_but_malformed(void **state)
{
    static const unsigned char good[] = {2, 'a', 'b', 1, 'x'};
    static const struct {
        unsigned char body[8];
        size_t length;
    } bad[] = {
        {{200, 'a', 'b', 1, 'x'}, 5},    /* client ID past the end */
        {{2, 'a', 'b', 2, 'x'}, 5},      /* scope past the end */
        {{2, 'a', 'b', 1, 'x', 'y'}, 6}, /* a byte after the scope */
        {{2, 'a', 0, 1, 'x'}, 5},        /* a NUL in the client ID */
        {{2, 'a', 'b'}, 3},              /* no scope length */
        {{0}, 1},                        /* no scope length */
    };
    unsigned char long_client[REFRESH_CLIENT_ID_SIZE + 2];
    struct refresh_token parsed;
    char text[TEXT_SIZE];

    (void)state;
    tagged(1, good, sizeof(good), text);
    assert_int_equal(refresh_token_parse(key, text, strlen(text), &parsed), 0);
    assert_int_equal(parsed.generation, 3);
    assert_int_equal(parsed.issued_at, 1);
    assert_int_equal(parsed.expires_at, 2);
    assert_string_equal(parsed.client_id, "ab");
    assert_string_equal(parsed.scope, "x");

    tagged(2, good, sizeof(good), text);
    assert_refused(key, text, strlen(text));

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tagged(1, bad[i].body, bad[i].length, text);
        assert_refused(key, text, strlen(text));
    }

    /* A client ID longer than the field holds, though in the record. */
    long_client[0] = REFRESH_CLIENT_ID_SIZE;
    memset(long_client + 1, 'c', REFRESH_CLIENT_ID_SIZE);
    long_client[REFRESH_CLIENT_ID_SIZE + 1] = 0;
    tagged(1, long_client, sizeof(long_client), text);
    assert_refused(key, text, strlen(text));
}

/* Records shorter than the fixed fields, tag included. */
static void
test_tagged_but_short(void **state)
{
    unsigned char record[64] = {1};
    char text[TEXT_SIZE];

    (void)state;
    for (size_t length = 0; length < 33; length++) {
        crypto_auth_hmacsha256(record + length, record, length, key);
        sodium_bin2base64(text, sizeof(text), record, length + 32, VARIANT);
        assert_refused(key, text, strlen(text));
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_family),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_largest_fits),
        cmocka_unit_test(test_format_refuses),
        cmocka_unit_test(test_wrong_key),
        cmocka_unit_test(test_every_character_changed),
        cmocka_unit_test(test_truncated_and_extended),
        cmocka_unit_test(test_too_long_and_garbage),
        cmocka_unit_test(test_tagged_but_malformed),
        cmocka_unit_test(test_tagged_but_short),
    };

    if (sodium_init() < 0)
        return 1;
    randombytes_buf(key, sizeof(key));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
