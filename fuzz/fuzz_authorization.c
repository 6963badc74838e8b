/*
 * libFuzzer harness for the Authorization header parsers (authorization.h):
 * Basic client credentials and Bearer tokens. The header is the input up
 * to its first NUL, as libmicrohttpd would hand it over. The first byte
 * picks the output buffer sizes for Basic, small ones included, and each
 * buffer is allocated to its exact size so that an overflow is reported.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/authorization.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The sizes client authentication uses (client ID and secret), then
 * smaller ones that force the too-long paths. */
static const size_t user_sizes[] = {65, 1, 2, 8, 33, 256};
static const size_t password_sizes[] = {256, 1, 3, 16, 65, 4096};

static void
fuzz_basic(const char *header, uint8_t selector)
{
    size_t user_size = user_sizes[selector % 6];
    size_t password_size = password_sizes[(selector / 6) % 6];
    char *user = malloc(user_size);
    char *password = malloc(password_size);
    int error;

    if (user == NULL || password == NULL)
        goto done;

    error = authorization_parse_basic(header, user, user_size, password,
                                      password_size);
    if (error != 0 && error != -EINVAL && error != -ENOENT && error != -ENOSPC)
        abort();
    if (error == 0 && (strnlen(user, user_size) == user_size ||
                       strnlen(password, password_size) == password_size))
        abort();

done:
    free(user);
    free(password);
}

static int
is_token_character(char character)
{
    return (character >= 'A' && character <= 'Z') ||
           (character >= 'a' && character <= 'z') ||
           (character >= '0' && character <= '9') ||
           strchr("-._~+/=", character) != NULL;
}

static void
fuzz_bearer(const char *header)
{
    const char *token = NULL;
    size_t length = 0;
    int error;

    error = authorization_parse_bearer(header, &token, &length);
    if (error != 0 && error != -EINVAL && error != -ENOENT)
        abort();
    if (error != 0)
        return;

    /* RFC 6750 §2.1: the token is a b64token inside the header, and
     * nothing follows it. */
    if (token < header || token + length != header + strlen(header) ||
        length == 0 || length > AUTHORIZATION_MAX_LENGTH)
        abort();
    for (size_t i = 0; i < length; i++) {
        if (!is_token_character(token[i]))
            abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t selector;
    char *header;

    if (size == 0)
        return 0;
    selector = data[0];
    header = malloc(size);
    if (header == NULL)
        return 0;
    memcpy(header, data + 1, size - 1);
    header[size - 1] = '\0';

    fuzz_basic(header, selector);
    fuzz_bearer(header);
    free(header);
    return 0;
}
