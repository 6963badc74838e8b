/*
 * POST /v2/auth/revoke (RFC 7009). A refresh token takes its whole family
 * with it; an access token joins the revocation set until it would have
 * expired. Unknown tokens, and tokens of other clients, get the same 200
 * as a success (§2.2): the answer must not tell a client whether a token
 * it does not own exists.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "log/log.h"
#include "oauth/client_authentication.h"
#include "oauth/endpoints.h"
#include "oauth/error.h"
#include "token/token_identify.h"

static enum token_kind
parse_hint(const char *hint)
{
    if (hint != NULL && strcmp(hint, "access_token") == 0)
        return TOKEN_ACCESS;
    if (hint != NULL && strcmp(hint, "refresh_token") == 0)
        return TOKEN_REFRESH;
    return TOKEN_UNKNOWN;
}

static int
revoke_refresh(struct oauth_context *context, struct http_request *request,
               const struct refresh_token *token)
{
    char family[REFRESH_FAMILY_ID_SIZE * 2 + 1];
    int error;

    error = store_family_revoke(context->store, token->family_id,
                                token->client_id, token->expires_at);
    if (error < 0)
        return error;

    sodium_bin2hex(family, sizeof(family), token->family_id,
                   sizeof(token->family_id));
    log_write(LOG_NOTICE, "refresh token revoked",
              "request_id=%s client_id=%s family=%s", request->request_id,
              token->client_id, family);
    return 0;
}

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

    /* Reload now rather than at the next poll, so this instance refuses
     * the token within milliseconds. */
    view_request_refresh(context->view);
    log_write(LOG_NOTICE, "access token revoked",
              "request_id=%s client_id=%s token_id=%s expires_at=%" PRId64,
              request->request_id, claims->client_id, claims->token_id,
              claims->expires_at);
    return 0;
}

static int
revoke_identified(struct oauth_context *context,
                  struct http_request *request,
                  const struct store_client *client,
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
    struct store_client client;
    const char *text;
    struct form form;

    if (oauth_read_form(request, response, &form) < 0)
        return;
    request->log_grant = "revoke";

    snapshot = view_acquire(context->view);
    if (client_authenticate(context, snapshot, request, &form, &client,
                            response) < 0)
        goto done;

    text = form_get(&form, "token");
    if (text == NULL) {
        oauth_error_respond(request, response, OAUTH_INVALID_REQUEST,
                            "token is missing");
        goto done;
    }

    token_identify(view_keyring(snapshot), text, strlen(text),
                   parse_hint(form_get(&form, "token_type_hint")), &token);
    if (revoke_identified(context, request, &client, &token) < 0) {
        oauth_error_respond(request, response,
                            OAUTH_TEMPORARILY_UNAVAILABLE,
                            "the revocation could not be recorded; retry");
        http_response_add_header(response, "Retry-After", "1");
        goto done;
    }

    response->status = 200;
    response->body_length = 0;
    oauth_add_no_store_headers(response);

done:
    view_release(context->view);
    sodium_memzero(&client, sizeof(client));
}
