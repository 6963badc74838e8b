/*
 * Unit tests of the string table the caches are built on, and of the
 * failed-authentication throttle: the pair is the key, so one client's
 * failures never slow another client on the same address.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "oauth/throttle.h"
#include "util/string_table.h"

static void
stores_and_finds_many_keys(void **state)
{
    struct string_table *table = string_table_new(4);
    static int values[5000];
    static char keys[5000][16];
    char key[32];

    (void)state;
    assert_non_null(table);
    for (int i = 0; i < 5000; i++) {
        snprintf(keys[i], sizeof(keys[i]), "client-%d", i);
        assert_int_equal(string_table_put(table, keys[i], &values[i]), 0);
    }
    assert_int_equal(string_table_count(table), 5000);
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "client-%d", i);
        assert_ptr_equal(string_table_get(table, key), &values[i]);
    }
    assert_null(string_table_get(table, "client-5000"));
    assert_null(string_table_get(table, ""));

    assert_int_equal(string_table_put(table, "client-7", &values[0]), 0);
    assert_int_equal(string_table_count(table), 5000);
    assert_ptr_equal(string_table_get(table, "client-7"), &values[0]);
    string_table_free(table);
}

static void
blocks_a_pair_after_the_limit(void **state)
{
    struct throttle *throttle;
    int retry_after = 0;

    (void)state;
    assert_int_equal(throttle_new(3, 60, &throttle), 0);
    assert_non_null(throttle);

    for (int i = 0; i < 3; i++) {
        assert_false(throttle_is_blocked(throttle, "victim", "10.0.0.1",
                                         &retry_after));
        throttle_record_failure(throttle, "victim", "10.0.0.1");
    }
    assert_true(throttle_is_blocked(throttle, "victim", "10.0.0.1",
                                    &retry_after));
    assert_true(retry_after > 0 && retry_after <= 60);

    /* Another client from the same address, and the same client from
     * another address, are untouched. */
    assert_false(throttle_is_blocked(throttle, "other", "10.0.0.1",
                                     &retry_after));
    assert_false(throttle_is_blocked(throttle, "victim", "10.0.0.2",
                                     &retry_after));
    /* The parts are kept apart: ("victim1", "0.0.0.1") is another pair. */
    assert_false(throttle_is_blocked(throttle, "victim1", "0.0.0.1",
                                     &retry_after));
    throttle_free(throttle);
}

static void
turns_off_with_a_zero_limit(void **state)
{
    struct throttle *throttle = (struct throttle *)1;
    int retry_after = 0;

    (void)state;
    assert_int_equal(throttle_new(0, 60, &throttle), 0);
    assert_null(throttle);
    throttle_record_failure(NULL, "a", "b");
    assert_false(throttle_is_blocked(NULL, "a", "b", &retry_after));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stores_and_finds_many_keys),
        cmocka_unit_test(blocks_a_pair_after_the_limit),
        cmocka_unit_test(turns_off_with_a_zero_limit),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
