/*
 * libFuzzer harness for the settings parser (settings.h). The input is the
 * command line: arguments separated by NUL bytes, after "tokend". The
 * TOKEND_* environment is cleared once, so each run sees only the input.
 * What loads must respect the table's bounds and leave every text setting
 * terminated.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/settings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ARGUMENTS 64

extern char **environ;

static FILE *sink;

static void
set_up(void)
{
    if (sink != NULL)
        return;
    sink = fopen("/dev/null", "w");
    if (sink == NULL)
        abort();

    /* Restart the walk after each unsetenv: it shifts environ. */
    for (size_t i = 0; environ[i] != NULL;) {
        if (strncmp(environ[i], "TOKEND_", 7) == 0) {
            char name[256];
            size_t length = strcspn(environ[i], "=");

            if (length >= sizeof(name))
                abort();
            memcpy(name, environ[i], length);
            name[length] = '\0';
            unsetenv(name);
            i = 0;
            continue;
        }
        i++;
    }
}

static int
is_terminated(const char *text)
{
    return memchr(text, '\0', SETTINGS_TEXT_SIZE) != NULL;
}

static void
check(const struct settings *settings)
{
    if (!is_terminated(settings->listen) ||
        !is_terminated(settings->database) ||
        !is_terminated(settings->issuer) ||
        !is_terminated(settings->audience) || !is_terminated(settings->realm) ||
        !is_terminated(settings->signing_algorithm) ||
        !is_terminated(settings->master_key_file) ||
        !is_terminated(settings->log_level))
        abort();

    /* The tightest bounds of the table; a value outside them would reach
     * the server unchecked. */
    if (settings->access_token_ttl < 10 || settings->access_token_ttl > 86400 ||
        settings->refresh_token_ttl < 10 || settings->threads < 0 ||
        settings->threads > 256 || settings->max_connections < 1 ||
        settings->connection_timeout < 1 || settings->max_body_size < 256 ||
        settings->max_body_size > 1048576 || settings->auth_failure_limit < 0 ||
        settings->auth_failure_window < 1 || settings->issuer[0] == '\0' ||
        settings->audience[0] == '\0')
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct settings settings;
    char *arguments[MAX_ARGUMENTS + 1];
    char *text;
    int count = 0;
    size_t start = 0;

    set_up();
    text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    arguments[count++] = "tokend";
    while (start <= size && count < MAX_ARGUMENTS) {
        arguments[count++] = text + start;
        start += strlen(text + start) + 1;
    }
    arguments[count] = NULL;

    if (settings_load(&settings, count, arguments, sink, sink) == 0)
        check(&settings);
    free(text);
    return 0;
}
