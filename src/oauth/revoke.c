/*
 * POST /v2/auth/revoke (RFC 7009). A refresh token takes its whole family
 * with it; an access token joins the revocation set until it would have
 * expired. Unknown tokens, and tokens of other clients, get the same 200
 * as a success (§2.2): the answer must not tell a client whether a token
 * it does not own exists.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "oauth/client_authentication.h"
#include "oauth/endpoints.h"
#include "oauth/error.h"
#include "token/token_identify.h"
#include "util/text.h"

/* How long a revocation waits for this instance's view to take it in; a
 * store that slow makes the answer wait no longer than this. */
#define REVOCATION_WAIT_MS 1000

static enum token_kind
parse_hint(const char *hint)
{
    if (hint != NULL && strcmp(hint, "access_token") == 0)
        return TOKEN_ACCESS;
    if (hint != NULL && strcmp(hint, "refresh_token") == 0)
        return TOKEN_REFRESH;
    return TOKEN_UNKNOWN;
}

/* Both revocations name their request's log line, with the family or
 * token ID, so the audit event is the access line itself. */
static int
revoke_refresh(struct oauth_context *context, struct http_request *request,
               const struct refresh_token *token)
{
    int error;

    error = store_family_revoke(context->store, token->family_id,
                                token->client_id, token->expires_at);
    if (error < 0)
        return error;

    request->log_event = "refresh_token_revoked";
    sodium_bin2hex(request->log_token_id, sizeof(request->log_token_id),
                   token->family_id, sizeof(token->family_id));
    return 0;
}

/* Returns 1 when the view must take in a new revocation, 0 when there was
 * nothing to do (the token has expired anyway). */
static int
revoke_access(struct oauth_context *context, struct http_request *request,
              const struct access_token_claims *claims)
{
    int error;

    if (claims->expires_at <= (int64_t)time(NULL))
        return 0;

    error = store_revocation_insert(context->store, claims->token_id,
                                    claims->expires_at);
    if (error < 0)
        return error;

    request->log_event = "access_token_revoked";
    text_copy(request->log_token_id, sizeof(request->log_token_id),
              claims->token_id);
    return 1;
}

/* Returns 1 when the view must catch up, 0 when not, negative on error. */
static int
revoke_identified(struct oauth_context *context,
                  struct http_request *request,
                  const struct view_client *client,
                  const struct identified_token *token)
{
    const char *owner = token->kind == TOKEN_REFRESH
                            ? token->refresh.client_id
                            : token->access.claims.client_id;

    if (token->kind == TOKEN_UNKNOWN) {
        request->log_reason = "unknown_token";
        return 0;
    }
    if (strcmp(owner, client->id) != 0) {
        request->log_reason = "other_client_token";
        return 0;
    }
    if (token->kind == TOKEN_REFRESH)
        return revoke_refresh(context, request, &token->refresh);
    return revoke_access(context, request, &token->access.claims);
}

void
endpoint_revoke(void *context_pointer, struct http_request *request,
                struct http_response *response)
{
    struct oauth_context *context = context_pointer;
    const struct view_snapshot *snapshot;
    struct identified_token token;
    struct view_client client;
    const char *text;
    struct form form;
    int revoked = 0;

    if (oauth_read_form(request, response, &form) < 0)
        return;
    request->log_grant = "revoke";

    snapshot = view_acquire(context->view);
    text = client_authenticate_token_request(context, snapshot, request,
                                             &form, &client, response);
    if (text == NULL)
        goto done;

    token_identify(view_keyring(snapshot), text, strlen(text),
                   parse_hint(form_get(&form, "token_type_hint")), &token);
    revoked = revoke_identified(context, request, &client, &token);
    if (revoked < 0) {
        oauth_error_respond_unavailable(request, response,
                                        "the revocation could not be "
                                        "recorded; retry");
        goto done;
    }

    response->status = 200;
    response->body_length = 0;
    oauth_add_no_store_headers(response);

done:
    view_release(context->view);
    sodium_memzero(&client, sizeof(client));

    /* Answer only once this instance refuses the token: a client that
     * revokes and then tests its token must not see it pass. */
    if (revoked > 0)
        view_refresh_and_wait(context->view, REVOCATION_WAIT_MS);
}
