/*
 * Unit tests of the small text helpers: JSON escaping (every answer is
 * built with it, so a miss is an injection), the bounded buffer, and the
 * RFC 6749 §3.3 scope rules.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "oauth/scope.h"
#include "util/text.h"

static void
escapes_json_strings(void **state)
{
    char data[128];
    struct text_buffer text;

    (void)state;
    text_init(&text, data, sizeof(data));
    text_append_json_string(&text, "a\"b\\c\n\x01/é");
    assert_false(text.overflow);
    assert_string_equal(data, "\"a\\\"b\\\\c\\u000a\\u0001/é\"");
}

static void
marks_overflow_instead_of_writing_past_the_end(void **state)
{
    char data[8];
    struct text_buffer text;

    (void)state;
    text_init(&text, data, sizeof(data));
    text_append(&text, "%s", "1234");
    assert_false(text.overflow);
    text_append(&text, "%s", "56789");
    assert_true(text.overflow);
    assert_string_equal(data, "1234");
    text_append_json_string(&text, "x");
    assert_int_equal(text.length, 4);
}

static void
copies_only_what_fits(void **state)
{
    char out[4];

    (void)state;
    assert_int_equal(text_copy(out, sizeof(out), "abc"), 0);
    assert_string_equal(out, "abc");
    assert_true(text_copy(out, sizeof(out), "abcd") < 0);
}

static void
validates_scope_syntax(void **state)
{
    (void)state;
    assert_true(scope_is_valid(""));
    assert_true(scope_is_valid("read"));
    assert_true(scope_is_valid("read write admin:all"));
    assert_false(scope_is_valid(" read"));
    assert_false(scope_is_valid("read "));
    assert_false(scope_is_valid("read  write"));
    assert_false(scope_is_valid("re\"ad"));
    assert_false(scope_is_valid("re\\ad"));
    assert_false(scope_is_valid("r\tw"));
    assert_false(scope_is_valid("caf\xc3\xa9"));
}

static void
checks_subsets(void **state)
{
    (void)state;
    assert_true(scope_is_subset("", "read"));
    assert_true(scope_is_subset("read", "read write"));
    assert_true(scope_is_subset("write read", "read write"));
    assert_false(scope_is_subset("admin", "read write"));
    assert_false(scope_is_subset("rea", "read"));
    assert_false(scope_is_subset("read", ""));
    assert_true(scope_contains("a b c", "b"));
    assert_false(scope_contains("a bb c", "b"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(escapes_json_strings),
        cmocka_unit_test(marks_overflow_instead_of_writing_past_the_end),
        cmocka_unit_test(copies_only_what_fits),
        cmocka_unit_test(validates_scope_syntax),
        cmocka_unit_test(checks_subsets),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
