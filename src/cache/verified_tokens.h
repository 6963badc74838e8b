/*
 * A cache of access tokens whose signature has been verified, so that the
 * gateway check skips decoding and the signature (the costly steps) for a
 * token it has seen. Only the signature's verdict is cached: expiry,
 * revocation and the client's standing are checked on every request.
 * Called by bearer.c.
 */
#ifndef TOKEND_CACHE_VERIFIED_TOKENS_H
#define TOKEND_CACHE_VERIFIED_TOKENS_H

#include <stdbool.h>
#include <stddef.h>

#include "token/jwt.h"

struct verified_tokens;

/* A cache of about capacity tokens. *out is the caller's; NULL (no cache)
 * when capacity is 0. */
int verified_tokens_new(size_t capacity, struct verified_tokens **out);
void verified_tokens_free(struct verified_tokens *cache);

enum verified_verdict {
    VERIFIED_UNKNOWN, /* not seen: decode and verify it */
    VERIFIED_VALID,   /* its signature verified; claims are filled */
    VERIFIED_FORGED,  /* its signature failed under a published key */
};

/* What the cache knows of token. A NULL cache knows nothing. */
enum verified_verdict verified_tokens_find(struct verified_tokens *cache,
                                           const char *token, size_t length,
                                           struct access_token_claims *claims);

/* Remembers a token whose signature verified, replacing an older entry. */
void verified_tokens_add(struct verified_tokens *cache, const char *token,
                         size_t length,
                         const struct access_token_claims *claims);

/* Remembers a token whose signature failed, so that a gateway replaying a
 * forged token does not pay a signature check each time. */
void verified_tokens_add_forged(struct verified_tokens *cache,
                                const char *token, size_t length);

#endif
