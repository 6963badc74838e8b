/*
 * Checks a bearer access token (RFC 6750) for every endpoint that accepts
 * one: the signature under a published key, issuer, audience, expiry, the
 * revocation set, and that its client still exists, is enabled and has not
 * had all its tokens revoked. Reads only memory. Called by whoami, the
 * gateway check and introspection.
 */
#ifndef TOKEND_OAUTH_BEARER_H
#define TOKEND_OAUTH_BEARER_H

#include <stddef.h>
#include <stdint.h>

#include "cache/view.h"
#include "http/request.h"
#include "oauth/context.h"
#include "token/jwt.h"

struct bearer_identity {
    struct access_token_claims claims;
    char client_name[STORE_NAME_SIZE];
};

/*
 * 0 and *identity for a valid token. Otherwise a negative errno with
 * *reason a short static text for the log: -EINVAL (malformed, bad
 * signature, unknown key, wrong issuer or audience), -ETIME (expired),
 * -EKEYREVOKED (revoked, or its client is gone or disabled).
 */
int bearer_verify(struct oauth_context *context,
                  const struct view_snapshot *snapshot, const char *token,
                  size_t length, struct bearer_identity *identity,
                  const char **reason);

/*
 * Reads the Authorization header and verifies its token. On failure writes
 * the RFC 6750 §3 answer: 401 with WWW-Authenticate: Bearer realm=...,
 * plus error="invalid_token" unless the request had no token at all (or
 * error="invalid_request" for a malformed header); returns negative.
 */
int bearer_authenticate_request(struct oauth_context *context,
                                const struct view_snapshot *snapshot,
                                struct http_request *request,
                                struct bearer_identity *identity,
                                struct http_response *response);

#endif
