/*
 * Unit tests of the form parser: decoding, the RFC 6749 §3.2 rules on
 * repeated and empty parameters, and every malformed input it refuses.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "http/form.h"

static int
parse(const char *text, struct form *form, char *buffer, size_t size)
{
    size_t length = strlen(text);

    assert_true(length < size);
    memcpy(buffer, text, length + 1);
    return form_parse(buffer, length, form);
}

static void
decodes_names_and_values(void **state)
{
    char buffer[256];
    struct form form;

    (void)state;
    assert_int_equal(parse("grant_type=client_credentials&scope=read+write"
                           "&x=%41%2b%3D",
                           &form, buffer, sizeof(buffer)),
                     0);
    assert_int_equal(form.count, 3);
    assert_string_equal(form_get(&form, "grant_type"), "client_credentials");
    assert_string_equal(form_get(&form, "scope"), "read write");
    assert_string_equal(form_get(&form, "x"), "A+=");
    assert_null(form_get(&form, "missing"));
}

static void
treats_empty_values_as_absent(void **state)
{
    char buffer[256];
    struct form form;

    (void)state;
    assert_int_equal(parse("scope=&flag&&grant_type=x", &form, buffer,
                           sizeof(buffer)),
                     0);
    assert_null(form_get(&form, "scope"));
    assert_null(form_get(&form, "flag"));
    assert_string_equal(form_get(&form, "grant_type"), "x");
}

static void
refuses_repeated_parameters(void **state)
{
    char buffer[256];
    struct form form;

    (void)state;
    assert_int_equal(parse("a=1&b=2&a=3", &form, buffer, sizeof(buffer)),
                     -ENOTUNIQ);
    /* An encoded name is the same parameter as its plain spelling. */
    assert_int_equal(parse("scope=1&%73cope=2", &form, buffer,
                           sizeof(buffer)),
                     -ENOTUNIQ);
}

static void
refuses_malformed_encoding(void **state)
{
    static const char *const bad[] = {
        "a=%zz", "a=%4", "a=%", "a=%00", "%=1", "=value", "a=b&=c",
    };
    char buffer[256];
    struct form form;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(parse(bad[i], &form, buffer, sizeof(buffer)),
                         -EINVAL);
}

static void
refuses_too_many_parameters(void **state)
{
    char text[512] = "";
    char buffer[512];
    size_t length = 0;
    struct form form;

    (void)state;
    for (int i = 0; i <= FORM_MAX_PARAMETERS; i++)
        length += (size_t)snprintf(text + length, sizeof(text) - length,
                                   "%sp%d=1", i ? "&" : "", i);
    assert_int_equal(parse(text, &form, buffer, sizeof(buffer)), -E2BIG);
}

static void
recognises_the_content_type(void **state)
{
    (void)state;
    assert_true(form_is_content_type("application/x-www-form-urlencoded"));
    assert_true(form_is_content_type(
        "application/x-www-form-urlencoded; charset=UTF-8"));
    assert_true(form_is_content_type("Application/X-WWW-Form-Urlencoded"));
    assert_false(form_is_content_type("application/json"));
    assert_false(form_is_content_type("application/x-www-form-urlencodedx"));
    assert_false(form_is_content_type(NULL));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decodes_names_and_values),
        cmocka_unit_test(treats_empty_values_as_absent),
        cmocka_unit_test(refuses_repeated_parameters),
        cmocka_unit_test(refuses_malformed_encoding),
        cmocka_unit_test(refuses_too_many_parameters),
        cmocka_unit_test(recognises_the_content_type),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
