/*
 * The base64url codec of base64url.h, on top of libsodium's constant-time
 * implementation (key material passes through it, so no table lookups
 * indexed by secret bytes).
 */
#include "token/base64url.h"

#include <errno.h>
#include <limits.h>
#include <sodium.h>

#define VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING

int
base64url_encode(const unsigned char *bytes, size_t length, char *out,
                 size_t size)
{
    size_t text_length = BASE64URL_LENGTH(length);

    if (text_length >= size || text_length > INT_MAX)
        return -ENOSPC;

    sodium_bin2base64(out, size, bytes, length, VARIANT);
    return (int)text_length;
}

int
base64url_decode(const char *text, size_t length, unsigned char *out,
                 size_t size, size_t *decoded)
{
    /* Without an end pointer libsodium fails unless it used every
     * character, which refuses stray bytes, NUL included. It also refuses
     * non-zero bits left over in the last character, so each byte string
     * has exactly one accepted encoding. */
    if (sodium_base642bin(out, size, text, length, NULL, decoded, NULL,
                          VARIANT) != 0)
        return -EINVAL;
    return 0;
}
