/*
 * Unit tests of the verified-token cache: hits only for the very token
 * that was added, and room for the realistic working set (1,000 tokens in
 * the default 4,096 entries) without collisions evicting most of it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "cache/verified_tokens.h"

static void
finds_only_what_was_added(void **state)
{
    struct verified_tokens *cache;
    struct access_token_claims claims = {0};
    struct access_token_claims found;

    (void)state;
    assert_int_equal(verified_tokens_new(64, &cache), 0);
    snprintf(claims.client_id, sizeof(claims.client_id), "client-a");

    verified_tokens_add(cache, "aaa.bbb.ccc", 11, &claims);
    assert_int_equal(verified_tokens_find(cache, "aaa.bbb.ccc", 11, &found),
                     VERIFIED_VALID);
    assert_string_equal(found.client_id, "client-a");
    assert_int_equal(verified_tokens_find(cache, "aaa.bbb.ccd", 11, &found),
                     VERIFIED_UNKNOWN);
    assert_int_equal(verified_tokens_find(cache, "aaa.bbb.cc", 10, &found),
                     VERIFIED_UNKNOWN);

    /* A forged token is known as forged, and never yields claims. */
    verified_tokens_add_forged(cache, "aaa.bbb.ccd", 11);
    assert_int_equal(verified_tokens_find(cache, "aaa.bbb.ccd", 11, &found),
                     VERIFIED_FORGED);
    assert_int_equal(verified_tokens_find(cache, "aaa.bbb.ccc", 11, &found),
                     VERIFIED_VALID);
    verified_tokens_free(cache);
}

static void
keeps_a_thousand_hot_tokens(void **state)
{
    struct verified_tokens *cache;
    struct access_token_claims claims = {0};
    char token[32];
    int found = 0;

    (void)state;
    assert_int_equal(verified_tokens_new(4096, &cache), 0);
    for (int i = 0; i < 1000; i++) {
        int length = snprintf(token, sizeof(token), "token-%d", i);
        verified_tokens_add(cache, token, (size_t)length, &claims);
    }
    for (int i = 0; i < 1000; i++) {
        int length = snprintf(token, sizeof(token), "token-%d", i);
        found += verified_tokens_find(cache, token, (size_t)length,
                                      &claims) == VERIFIED_VALID;
    }
    /* A direct-mapped table of the same size keeps about 885. */
    assert_true(found >= 980);
    verified_tokens_free(cache);
}

static void
is_off_with_no_capacity(void **state)
{
    struct verified_tokens *cache = (struct verified_tokens *)1;
    struct access_token_claims claims = {0};

    (void)state;
    assert_int_equal(verified_tokens_new(0, &cache), 0);
    assert_null(cache);
    verified_tokens_add(NULL, "a", 1, &claims);
    verified_tokens_add_forged(NULL, "a", 1);
    assert_int_equal(verified_tokens_find(NULL, "a", 1, &claims),
                     VERIFIED_UNKNOWN);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(finds_only_what_was_added),
        cmocka_unit_test(keeps_a_thousand_hot_tokens),
        cmocka_unit_test(is_off_with_no_capacity),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
