/*
 * Bearer token checks. The signature (the costly step) is skipped for a
 * token the verified-token cache has seen; the claims, the revocation set
 * and the client's standing are checked every time, from memory: nothing
 * here touches the store or the disk.
 */
#include "oauth/bearer.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "cache/verified_tokens.h"
#include "http/authorization.h"
#include "oauth/error.h"
#include "oauth/token_response.h"
#include "util/text.h"

static int
check_claims(const struct settings *settings,
             const struct access_token_claims *claims, int64_t now,
             const char **reason)
{
    if (strcmp(claims->issuer, settings->issuer) != 0) {
        *reason = "foreign_issuer";
        return -EINVAL;
    }
    if (strcmp(claims->audience, settings->audience) != 0) {
        *reason = "wrong_audience";
        return -EINVAL;
    }
    if (claims->expires_at <= now) {
        *reason = "expired";
        return -ETIME;
    }
    return 0;
}

static int
check_signature(const struct view_snapshot *snapshot,
                const struct jwt_decoded *decoded, const char **reason)
{
    const struct signing_key *key;

    key = keyring_find(view_keyring(snapshot), decoded->key_id);
    if (key == NULL) {
        *reason = "unknown_key";
        return -EINVAL;
    }
    if (jwt_verify_signature(decoded, key) < 0) {
        *reason = "bad_signature";
        return -EINVAL;
    }
    return 0;
}

static int
check_standing(const struct view_snapshot *snapshot,
               const struct access_token_claims *claims,
               struct bearer_identity *identity, const char **reason)
{
    const struct view_client *client;

    if (view_is_revoked(snapshot, claims->token_id)) {
        *reason = "revoked";
        return -EKEYREVOKED;
    }
    client = view_client(snapshot, claims->client_id);
    if (client == NULL || client->disabled) {
        *reason = client ? "client_disabled" : "client_gone";
        return -EKEYREVOKED;
    }
    if (token_is_revoked_by_client(client, claims->issued_at)) {
        *reason = "client_tokens_revoked";
        return -EKEYREVOKED;
    }
    snprintf(identity->client_name, sizeof(identity->client_name), "%s",
             client->name);
    return 0;
}

/* Decodes and checks the signature, or finds that this very token was
 * checked before. Fills claims either way. */
static int
verify_signed(struct oauth_context *context,
              const struct view_snapshot *snapshot, const char *token,
              size_t length, struct access_token_claims *claims,
              const char **reason)
{
    struct jwt_decoded decoded;
    int error;

    switch (verified_tokens_find(context->verified_tokens, token, length,
                                 claims)) {
    case VERIFIED_VALID:
        return 0;
    case VERIFIED_FORGED:
        *reason = "bad_signature";
        return -EINVAL;
    case VERIFIED_UNKNOWN:
        break;
    }

    if (jwt_decode(token, length, &decoded) < 0) {
        *reason = "malformed";
        return -EINVAL;
    }
    error = check_signature(snapshot, &decoded, reason);
    if (error < 0) {
        /* Only a failed signature under a published key is remembered: an
         * unknown key may yet be published (a rotation on another
         * instance). */
        if (strcmp(*reason, "bad_signature") == 0)
            verified_tokens_add_forged(context->verified_tokens, token,
                                       length);
        return error;
    }

    *claims = decoded.claims;
    verified_tokens_add(context->verified_tokens, token, length, claims);
    return 0;
}

int
bearer_verify(struct oauth_context *context,
              const struct view_snapshot *snapshot, const char *token,
              size_t length, struct bearer_identity *identity,
              const char **reason)
{
    int64_t now = (int64_t)time(NULL);
    int error;

    error = verify_signed(context, snapshot, token, length,
                          &identity->claims, reason);
    if (error == 0)
        error = check_claims(context->settings, &identity->claims, now,
                             reason);
    if (error == 0)
        error = check_standing(snapshot, &identity->claims, identity,
                               reason);
    return error;
}

static void
respond_missing(struct http_request *request, struct http_response *response,
                const char *realm)
{
    oauth_error_respond_status(request, response, 401, "invalid_token",
                               "a bearer token is required");
    http_response_add_header(response, "WWW-Authenticate",
                             "Bearer realm=\"%s\"", realm);
    request->log_reason = "no_token";
}

int
bearer_authenticate_request(struct oauth_context *context,
                            const struct view_snapshot *snapshot,
                            struct http_request *request,
                            struct bearer_identity *identity,
                            struct http_response *response)
{
    const char *header = http_request_header(request, "Authorization");
    const char *reason = NULL;
    const char *token;
    size_t length;
    int error;

    if (header == NULL ||
        (error = authorization_parse_bearer(header, &token, &length)) ==
            -ENOENT) {
        respond_missing(request, response, context->settings->realm);
        return -ENOENT;
    }
    if (error < 0) {
        oauth_error_respond(request, response, OAUTH_INVALID_TOKEN,
                            "malformed bearer token");
        request->log_reason = "malformed_header";
        return error;
    }

    error = bearer_verify(context, snapshot, token, length, identity,
                          &reason);
    if (error < 0) {
        oauth_error_respond(request, response, OAUTH_INVALID_TOKEN,
                            error == -ETIME ? "the token has expired"
                            : error == -EKEYREVOKED
                                ? "the token has been revoked"
                                : "the token is invalid");
        request->log_reason = reason;
        return error;
    }
    text_copy(request->log_client_id, sizeof(request->log_client_id),
              identity->claims.client_id);
    return 0;
}
