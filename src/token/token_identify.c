/*
 * Identification of a presented token. Both attempts are cheap to refuse
 * for the wrong kind: a refresh token fails the JWT's three-part shape at
 * once, and a JWT fails the refresh token's HMAC before any parsing.
 */
#include "token/token_identify.h"

#include <string.h>

static int
try_refresh(const struct keyring *keyring, const char *text, size_t length,
            struct identified_token *out)
{
    if (refresh_token_parse(keyring_refresh_token_key(keyring), text, length,
                            &out->refresh) < 0)
        return -1;
    out->kind = TOKEN_REFRESH;
    return 0;
}

static int
try_access(const struct keyring *keyring, const char *text, size_t length,
           struct identified_token *out)
{
    const struct signing_key *key;

    if (jwt_decode(text, length, &out->access) < 0)
        return -1;
    key = keyring_find(keyring, out->access.key_id);
    if (key == NULL || jwt_verify_signature(&out->access, key) < 0)
        return -1;
    out->kind = TOKEN_ACCESS;
    return 0;
}

void
token_identify(const struct keyring *keyring, const char *text,
               size_t length, enum token_kind hint,
               struct identified_token *out)
{
    memset(out, 0, sizeof(*out));
    out->kind = TOKEN_UNKNOWN;

    if (hint == TOKEN_ACCESS) {
        if (try_access(keyring, text, length, out) == 0 ||
            try_refresh(keyring, text, length, out) == 0)
            return;
    } else {
        if (try_refresh(keyring, text, length, out) == 0 ||
            try_access(keyring, text, length, out) == 0)
            return;
    }
    memset(out, 0, sizeof(*out));
    out->kind = TOKEN_UNKNOWN;
}
