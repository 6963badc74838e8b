/*
 * Tells what a presented token is: one of our refresh tokens (its HMAC
 * checks out), one of our access tokens (its signature verifies under a
 * key of the keyring), or neither. Expiry and revocation are the caller's
 * to judge. Called by revocation, introspection and tokenctl revoke.
 */
#ifndef TOKEND_TOKEN_TOKEN_IDENTIFY_H
#define TOKEND_TOKEN_TOKEN_IDENTIFY_H

#include <stddef.h>

#include "token/jwt.h"
#include "token/keyring.h"
#include "token/refresh_token.h"

enum token_kind {
    TOKEN_UNKNOWN,
    TOKEN_REFRESH,
    TOKEN_ACCESS,
};

struct identified_token {
    enum token_kind kind;
    struct refresh_token refresh;  /* when kind is TOKEN_REFRESH */
    struct jwt_decoded access;     /* when kind is TOKEN_ACCESS */
};

/* Fills out; out->kind is TOKEN_UNKNOWN for anything not ours. A hint of
 * TOKEN_ACCESS or TOKEN_REFRESH is tried first (RFC 7009 §2.1); the other
 * kind is tried after, since a hint may be wrong. */
void token_identify(const struct keyring *keyring, const char *text,
                    size_t length, enum token_kind hint,
                    struct identified_token *out);

#endif
