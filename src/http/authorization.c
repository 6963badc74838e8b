/*
 * Parsers for the two Authorization schemes tokend reads. Both refuse
 * anything outside the grammar instead of trimming it, and neither copies
 * credentials anywhere but the caller's buffers, which the caller wipes.
 */
#include "http/authorization.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "http/form.h"

/* Returns the text after "<scheme> " (any case, any number of spaces), or
 * NULL when the header uses another scheme. */
static const char *
skip_scheme(const char *header, const char *scheme)
{
    size_t length = strlen(scheme);

    if (strncasecmp(header, scheme, length) != 0 || header[length] != ' ')
        return NULL;
    header += length;
    while (*header == ' ')
        header++;
    return header;
}

static int
decode_part(const char *text, size_t length, char *out, size_t size)
{
    if (length >= size)
        return -ENOSPC;
    memcpy(out, text, length);
    return form_decode(out, length, NULL);
}

int
authorization_parse_basic(const char *header, char *user, size_t user_size,
                          char *password, size_t password_size)
{
    unsigned char decoded[AUTHORIZATION_MAX_LENGTH];
    const char *encoded = skip_scheme(header, "Basic");
    const char *end;
    const char *colon;
    size_t decoded_length;
    int error = -EINVAL;

    if (encoded == NULL)
        return -ENOENT;
    if (strlen(encoded) >= sizeof(decoded))
        return -EINVAL;

    if (sodium_base642bin(decoded, sizeof(decoded) - 1, encoded,
                          strlen(encoded), NULL, &decoded_length, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        *end != '\0')
        goto done;
    decoded[decoded_length] = '\0';

    colon = memchr(decoded, ':', decoded_length);
    if (colon == NULL)
        goto done;

    error = decode_part((const char *)decoded,
                        (size_t)(colon - (const char *)decoded), user,
                        user_size);
    if (error == 0)
        error = decode_part(colon + 1,
                            decoded_length -
                                (size_t)(colon + 1 - (const char *)decoded),
                            password, password_size);

done:
    sodium_memzero(decoded, sizeof(decoded));
    return error;
}

static int
is_b64token_character(char character)
{
    return isalnum((unsigned char)character) || character == '-' ||
           character == '.' || character == '_' || character == '~' ||
           character == '+' || character == '/';
}

int
authorization_parse_bearer(const char *header, const char **token,
                           size_t *length)
{
    const char *start = skip_scheme(header, "Bearer");
    size_t count = 0;

    if (start == NULL)
        return -ENOENT;

    while (is_b64token_character(start[count]))
        count++;
    if (count == 0)
        return -EINVAL;
    while (start[count] == '=')
        count++;
    if (start[count] != '\0' || count > AUTHORIZATION_MAX_LENGTH)
        return -EINVAL;

    *token = start;
    *length = count;
    return 0;
}
