/*
 * The successful token answer (RFC 6749 §5.1), shared by every grant: signs
 * the access token, makes the refresh token of the family, and writes the
 * fixed-shape JSON with snprintf. Called by the grants.
 */
#ifndef TOKEND_OAUTH_TOKEN_RESPONSE_H
#define TOKEND_OAUTH_TOKEN_RESPONSE_H

#include <stdbool.h>
#include <stdint.h>

#include "cache/view.h"
#include "http/request.h"
#include "oauth/context.h"
#include "token/refresh_token.h"

struct token_grant {
    const struct view_client *client;
    const char *scope;    /* granted; may be empty */
    bool scope_requested; /* echo scope in the answer */
    const unsigned char *family_id;
    uint32_t generation; /* of the refresh token to issue */
};

/* Writes the 200 answer, or a 500 when signing fails. */
void token_response_issue(struct oauth_context *context,
                          const struct view_snapshot *snapshot,
                          struct http_request *request,
                          struct http_response *response,
                          const struct token_grant *grant);

/*
 * The iat of a token issued now to client. A client whose tokens were
 * revoked in this same second gets the next second, because revocation
 * refuses every token with iat <= tokens_not_before.
 */
int64_t token_issued_at(const struct view_client *client, int64_t now);

/* Whether a token of client issued at issued_at was revoked with all the
 * client's tokens (tokenctl client revoke-tokens). */
bool token_is_revoked_by_client(const struct view_client *client,
                                int64_t issued_at);

#endif
