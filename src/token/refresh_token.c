/*
 * Self-contained refresh tokens (refresh_token.h). The token is a small
 * binary record and its HMAC-SHA256 tag, in base64url (only URL-safe
 * characters, so it needs no escaping in a form, a URL or JSON):
 *
 *   offset  size  field
 *        0     1  version (1)
 *        1    16  family ID
 *       17     4  generation, big-endian
 *       21     5  issued_at, seconds since the epoch, unsigned big-endian
 *       26     5  expires_at, the same
 *       31   1+n  client ID: its length, then n bytes (n <= 64)
 *          1+m  scope: its length, then m bytes (m <= 255)
 *           32  HMAC-SHA256 under the refresh token key of all bytes above
 *
 * At most 384 bytes, so at most 512 characters. Times take 40 bits
 * (enough until the year 36812) so that the longest client ID and scope
 * still fit in REFRESH_TOKEN_MAX_LENGTH with the full 256-bit tag.
 */
#include "token/refresh_token.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <sodium.h>

#include "token/base64url.h"

_Static_assert(REFRESH_TOKEN_KEY_SIZE == crypto_auth_hmacsha256_KEYBYTES,
               "the refresh token key is an HMAC-SHA256 key");

#define FORMAT_VERSION 1
#define TAG_SIZE crypto_auth_hmacsha256_BYTES
#define GENERATION_SIZE 4
#define TIME_SIZE 5
#define TIME_LIMIT ((int64_t)1 << (TIME_SIZE * 8))
#define FAMILY_OFFSET 1
#define GENERATION_OFFSET (FAMILY_OFFSET + REFRESH_FAMILY_ID_SIZE)
#define ISSUED_OFFSET (GENERATION_OFFSET + GENERATION_SIZE)
#define EXPIRES_OFFSET (ISSUED_OFFSET + TIME_SIZE)
#define FIXED_SIZE (EXPIRES_OFFSET + TIME_SIZE)
#define RECORD_MIN (FIXED_SIZE + 2 + TAG_SIZE)
#define RECORD_MAX                                                             \
    (FIXED_SIZE + REFRESH_CLIENT_ID_SIZE + REFRESH_SCOPE_SIZE + TAG_SIZE)

_Static_assert(BASE64URL_LENGTH(RECORD_MAX) <= REFRESH_TOKEN_MAX_LENGTH,
               "the longest token fits in REFRESH_TOKEN_MAX_LENGTH");
_Static_assert(REFRESH_CLIENT_ID_SIZE <= 256 && REFRESH_SCOPE_SIZE <= 256,
               "a length fits in one byte");

void
refresh_token_new_family(unsigned char family_id[REFRESH_FAMILY_ID_SIZE])
{
    randombytes_buf(family_id, REFRESH_FAMILY_ID_SIZE);
}

static void
uint_put(unsigned char *out, uint64_t value, size_t size)
{
    for (size_t i = size; i > 0; i--, value >>= 8)
        out[i - 1] = (unsigned char)value;
}

static uint64_t
uint_get(const unsigned char *bytes, size_t size)
{
    uint64_t value = 0;

    for (size_t i = 0; i < size; i++)
        value = value << 8 | bytes[i];
    return value;
}

/* Appends a string as its length byte and its bytes; returns the new
 * record length. The caller has checked that it fits. */
static size_t
string_put(unsigned char *record, size_t length, const char *text,
           size_t text_length)
{
    record[length] = (unsigned char)text_length;
    memcpy(record + length + 1, text, text_length);
    return length + 1 + text_length;
}

static bool
time_fits(int64_t value)
{
    return value >= 0 && value < TIME_LIMIT;
}

int
refresh_token_format(const unsigned char key[REFRESH_TOKEN_KEY_SIZE],
                     const struct refresh_token *token, char *out, size_t size)
{
    unsigned char record[RECORD_MAX];
    size_t client_length, scope_length, length;
    int written;

    client_length = strnlen(token->client_id, REFRESH_CLIENT_ID_SIZE);
    scope_length = strnlen(token->scope, REFRESH_SCOPE_SIZE);
    if (client_length == REFRESH_CLIENT_ID_SIZE ||
        scope_length == REFRESH_SCOPE_SIZE || !time_fits(token->issued_at) ||
        !time_fits(token->expires_at))
        return -EINVAL;

    record[0] = FORMAT_VERSION;
    memcpy(record + FAMILY_OFFSET, token->family_id, REFRESH_FAMILY_ID_SIZE);
    uint_put(record + GENERATION_OFFSET, token->generation, GENERATION_SIZE);
    uint_put(record + ISSUED_OFFSET, (uint64_t)token->issued_at, TIME_SIZE);
    uint_put(record + EXPIRES_OFFSET, (uint64_t)token->expires_at, TIME_SIZE);
    length = string_put(record, FIXED_SIZE, token->client_id, client_length);
    length = string_put(record, length, token->scope, scope_length);

    crypto_auth_hmacsha256(record + length, record, length, key);
    written = base64url_encode(record, length + TAG_SIZE, out, size);
    sodium_memzero(record, sizeof(record));
    return written;
}

/* Reads a length byte and that many bytes at *offset into out as a
 * string, never past length. */
static int
string_get(const unsigned char *record, size_t length, size_t *offset,
           char *out, size_t size)
{
    size_t text_length;

    if (*offset >= length)
        return -EINVAL;
    text_length = record[*offset];
    if (text_length >= size || text_length > length - *offset - 1)
        return -EINVAL;

    /* The HMAC proves we wrote it, but a NUL inside would still make
     * the string read back as something shorter. */
    if (memchr(record + *offset + 1, '\0', text_length) != NULL)
        return -EINVAL;
    memcpy(out, record + *offset + 1, text_length);
    out[text_length] = '\0';
    *offset += 1 + text_length;
    return 0;
}

/* Parses an authenticated record of length bytes (the tag cut off). */
static int
record_parse(const unsigned char *record, size_t length,
             struct refresh_token *out)
{
    size_t offset = FIXED_SIZE;

    if (record[0] != FORMAT_VERSION)
        return -EINVAL;

    memcpy(out->family_id, record + FAMILY_OFFSET, REFRESH_FAMILY_ID_SIZE);
    out->generation =
        (uint32_t)uint_get(record + GENERATION_OFFSET, GENERATION_SIZE);
    out->issued_at = (int64_t)uint_get(record + ISSUED_OFFSET, TIME_SIZE);
    out->expires_at = (int64_t)uint_get(record + EXPIRES_OFFSET, TIME_SIZE);
    if (string_get(record, length, &offset, out->client_id,
                   sizeof(out->client_id)) != 0)
        return -EINVAL;
    if (string_get(record, length, &offset, out->scope, sizeof(out->scope)))
        return -EINVAL;

    /* Trailing bytes would mean a record of another shape. */
    return offset == length ? 0 : -EINVAL;
}

int
refresh_token_parse(const unsigned char key[REFRESH_TOKEN_KEY_SIZE],
                    const char *text, size_t length, struct refresh_token *out)
{
    unsigned char record[RECORD_MAX];
    struct refresh_token token;
    size_t decoded, body;
    int error = -EINVAL;

    if (length > REFRESH_TOKEN_MAX_LENGTH)
        return -EINVAL;
    if (base64url_decode(text, length, record, sizeof(record), &decoded) ||
        decoded < RECORD_MIN)
        goto fail;

    /* No field is looked at before the tag proves that we wrote it, and
     * the tag is compared in constant time. */
    body = decoded - TAG_SIZE;
    if (crypto_auth_hmacsha256_verify(record + body, record, body, key) != 0)
        goto fail;

    error = record_parse(record, body, &token);
    if (error == 0)
        *out = token;

fail:
    sodium_memzero(record, sizeof(record));
    sodium_memzero(&token, sizeof(token));
    return error;
}
