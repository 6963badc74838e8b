/*
 * Unit tests of the Authorization header parsers: Basic with RFC 6749
 * §2.3.1 form-encoding inside, and the RFC 6750 b64token of Bearer.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "http/authorization.h"

static void
parses_basic_credentials(void **state)
{
    char user[64];
    char password[64];

    (void)state;
    /* "client:secret" */
    assert_int_equal(authorization_parse_basic("Basic Y2xpZW50OnNlY3JldA==",
                                               user, sizeof(user), password,
                                               sizeof(password)),
                     0);
    assert_string_equal(user, "client");
    assert_string_equal(password, "secret");

    /* "a%3Ab:p%2Bq+r" decodes to "a:b" and "p+q r"; the scheme is any
     * case. */
    assert_int_equal(authorization_parse_basic("basic YSUzQWI6cCUyQnErcg==",
                                               user, sizeof(user), password,
                                               sizeof(password)),
                     0);
    assert_string_equal(user, "a:b");
    assert_string_equal(password, "p+q r");
}

static void
refuses_malformed_basic(void **state)
{
    static const char *const bad[] = {
        "Basic !!!!",            /* not base64 */
        "Basic Y2xpZW50",        /* "client": no colon */
        "Basic Y2xpZW50OnNlY3JldA== x",
        "Basic YTolNHo=",        /* "a:%4z": bad escape */
        "Basic YTolMDA=",        /* "a:%00": a NUL */
    };
    char user[64];
    char password[64];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(authorization_parse_basic(bad[i], user, sizeof(user),
                                                   password,
                                                   sizeof(password)),
                         -EINVAL);
    assert_int_equal(authorization_parse_basic("Bearer abc", user,
                                               sizeof(user), password,
                                               sizeof(password)),
                     -ENOENT);
}

static void
refuses_basic_parts_too_long(void **state)
{
    char user[4];
    char password[64];

    (void)state;
    assert_int_equal(authorization_parse_basic("Basic Y2xpZW50OnNlY3JldA==",
                                               user, sizeof(user), password,
                                               sizeof(password)),
                     -ENOSPC);
}

static void
parses_bearer_tokens(void **state)
{
    const char *token;
    size_t length;

    (void)state;
    assert_int_equal(authorization_parse_bearer("Bearer abc.DEF-_~+/==",
                                                &token, &length),
                     0);
    assert_int_equal(length, strlen("abc.DEF-_~+/=="));
    assert_memory_equal(token, "abc.DEF-_~+/==", length);

    assert_int_equal(authorization_parse_bearer("bearer   x", &token,
                                                &length),
                     0);
    assert_int_equal(length, 1);
}

static void
refuses_malformed_bearer(void **state)
{
    const char *token;
    size_t length;

    (void)state;
    assert_int_equal(authorization_parse_bearer("Bearer ", &token, &length),
                     -EINVAL);
    assert_int_equal(authorization_parse_bearer("Bearer a b", &token,
                                                &length),
                     -EINVAL);
    assert_int_equal(authorization_parse_bearer("Bearer a=b", &token,
                                                &length),
                     -EINVAL);
    assert_int_equal(authorization_parse_bearer("Bearer a\"", &token,
                                                &length),
                     -EINVAL);
    assert_int_equal(authorization_parse_bearer("Basic abc", &token,
                                                &length),
                     -ENOENT);
    assert_int_equal(authorization_parse_bearer("Bearerabc", &token,
                                                &length),
                     -ENOENT);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_basic_credentials),
        cmocka_unit_test(refuses_malformed_basic),
        cmocka_unit_test(refuses_basic_parts_too_long),
        cmocka_unit_test(parses_bearer_tokens),
        cmocka_unit_test(refuses_malformed_bearer),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
