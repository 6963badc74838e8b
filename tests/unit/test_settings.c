/*
 * Unit tests of the settings table: defaults, environment variables, flags
 * winning over them, bounds, and the issuer derived from --listen.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/settings.h"

static int
load(struct settings *settings, int argc, char **argv)
{
    FILE *sink = fopen("/dev/null", "w");
    int result;

    assert_non_null(sink);
    result = settings_load(settings, argc, argv, sink, sink);
    fclose(sink);
    return result;
}

static void
uses_defaults(void **state)
{
    char *argv[] = {"tokend"};
    struct settings settings;

    (void)state;
    unsetenv("TOKEND_ACCESS_TOKEN_TTL");
    assert_int_equal(load(&settings, 1, argv), 0);
    assert_string_equal(settings.listen, "127.0.0.1:8080");
    assert_string_equal(settings.issuer, "http://127.0.0.1:8080");
    assert_string_equal(settings.audience, settings.issuer);
    assert_int_equal(settings.access_token_ttl, 3600);
    assert_int_equal(settings.refresh_token_ttl, 2592000);
}

static void
lets_flags_win_over_the_environment(void **state)
{
    char *argv[] = {"tokend", "--access-token-ttl", "600",
                    "--issuer=https://auth.example"};
    struct settings settings;

    (void)state;
    setenv("TOKEND_ACCESS_TOKEN_TTL", "900", 1);
    setenv("TOKEND_REFRESH_TOKEN_TTL", "1200", 1);
    assert_int_equal(load(&settings, 4, argv), 0);
    assert_int_equal(settings.access_token_ttl, 600);
    assert_int_equal(settings.refresh_token_ttl, 1200);
    assert_string_equal(settings.issuer, "https://auth.example");
    assert_string_equal(settings.audience, "https://auth.example");
    unsetenv("TOKEND_ACCESS_TOKEN_TTL");
    unsetenv("TOKEND_REFRESH_TOKEN_TTL");
}

static void
refuses_values_out_of_bounds(void **state)
{
    char *too_short[] = {"tokend", "--access-token-ttl", "1"};
    char *not_a_number[] = {"tokend", "--threads", "4x"};
    char *unknown[] = {"tokend", "--colour", "blue"};
    char *no_value[] = {"tokend", "--db"};
    struct settings settings;

    (void)state;
    assert_true(load(&settings, 3, too_short) < 0);
    assert_true(load(&settings, 3, not_a_number) < 0);
    assert_true(load(&settings, 3, unknown) < 0);
    assert_true(load(&settings, 2, no_value) < 0);
    setenv("TOKEND_THREADS", "-1", 1);
    assert_true(load(&settings, 1, (char *[]){"tokend"}) < 0);
    unsetenv("TOKEND_THREADS");
}

static void
puts_the_bound_port_into_a_derived_issuer(void **state)
{
    char *argv[] = {"tokend", "--listen", "[::1]:0"};
    char *given[] = {"tokend", "--listen", "127.0.0.1:0", "--issuer",
                     "https://auth.example"};
    struct settings settings;

    (void)state;
    assert_int_equal(load(&settings, 3, argv), 0);
    settings_apply_bound_port(&settings, 43210);
    assert_string_equal(settings.issuer, "http://[::1]:43210");
    assert_string_equal(settings.audience, "http://[::1]:43210");

    assert_int_equal(load(&settings, 5, given), 0);
    settings_apply_bound_port(&settings, 43210);
    assert_string_equal(settings.issuer, "https://auth.example");
}

static void
answers_help(void **state)
{
    char *argv[] = {"tokend", "--help"};
    struct settings settings;

    (void)state;
    assert_int_equal(load(&settings, 2, argv), 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(uses_defaults),
        cmocka_unit_test(lets_flags_win_over_the_environment),
        cmocka_unit_test(refuses_values_out_of_bounds),
        cmocka_unit_test(puts_the_bound_port_into_a_derived_issuer),
        cmocka_unit_test(answers_help),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
