/*
 * Base64url without padding (RFC 4648 §5), the encoding of JWS parts, JWK
 * members, key IDs and refresh tokens. A thin layer over libsodium that
 * speaks in lengths and negative errno values. Used only inside src/token.
 */
#ifndef TOKEND_TOKEN_BASE64URL_H
#define TOKEND_TOKEN_BASE64URL_H

#include <stddef.h>

/* Characters that length bytes encode to, without the NUL. */
#define BASE64URL_LENGTH(length) (((length)*4 + 2) / 3)

/* Writes bytes into out as text with a NUL; returns the text's length, or
 * -ENOSPC when out (size bytes) is too small. */
int base64url_encode(const unsigned char *bytes, size_t length, char *out,
                     size_t size);

/* Decodes exactly length characters of text into out (size bytes) and sets
 * *decoded. -EINVAL: a character outside the alphabet, padding, stray bits
 * in the last character, or more bytes than size. */
int base64url_decode(const char *text, size_t length, unsigned char *out,
                     size_t size, size_t *decoded);

#endif
