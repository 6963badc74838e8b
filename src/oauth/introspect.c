/*
 * POST /v2/auth/introspect (RFC 7662). A client may introspect its own
 * tokens; a client created with the "introspect" permission (a resource
 * server, a gateway) may introspect any. Everything else, like anything
 * expired, revoked, malformed or unknown, is {"active":false}: §2.2 says
 * to reveal nothing more about a token the caller may not see.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "oauth/bearer.h"
#include "oauth/client_authentication.h"
#include "oauth/endpoints.h"
#include "oauth/error.h"
#include "oauth/scope.h"
#include "oauth/token_response.h"
#include "util/text.h"

static bool
may_see(const struct view_client *caller, const char *owner)
{
    return strcmp(caller->id, owner) == 0 ||
           scope_contains(caller->permissions, "introspect");
}

static void
write_inactive(struct http_response *response)
{
    http_response_set_body(response, 200, "application/json",
                           "{\"active\":false}", 16);
}

static void
write_active(struct http_response *response,
             const struct access_token_claims *claims,
             const char *token_type)
{
    struct text_buffer body;

    text_init(&body, response->body, sizeof(response->body));
    text_append(&body, "{\"active\":true,\"scope\":");
    text_append_json_string(&body, claims->scope);
    text_append(&body, ",\"client_id\":");
    text_append_json_string(&body, claims->client_id);
    text_append(&body, ",\"sub\":");
    text_append_json_string(&body, claims->subject);
    text_append(&body, ",\"exp\":%" PRId64 ",\"iat\":%" PRId64 ",\"iss\":",
                claims->expires_at, claims->issued_at);
    text_append_json_string(&body, claims->issuer);
    if (claims->audience[0]) {
        text_append(&body, ",\"aud\":");
        text_append_json_string(&body, claims->audience);
    }
    text_append(&body, ",\"token_type\":\"%s\"", token_type);
    if (claims->token_id[0]) {
        text_append(&body, ",\"jti\":");
        text_append_json_string(&body, claims->token_id);
    }
    text_append(&body, "}");

    response->status = body.overflow ? 500 : 200;
    response->content_type = "application/json";
    response->body_length = body.overflow ? 0 : body.length;
}

/* Whether the family still accepts this generation. -EIO and friends
 * when the store cannot say. */
static int
family_accepts(struct oauth_context *context,
               const struct refresh_token *token, bool *accepts)
{
    struct store_family family;
    int error;

    error = store_family_find(context->store, token->family_id, &family);
    if (error == -ENOENT) {
        *accepts = true;
        return 0;
    }
    if (error < 0)
        return error;
    *accepts = !family.revoked && family.generation <= token->generation;
    return 0;
}

static int
introspect_refresh(struct oauth_context *context,
                   const struct view_snapshot *snapshot,
                   const struct view_client *caller,
                   const struct refresh_token *token,
                   struct http_response *response)
{
    const struct view_client *owner = view_client(snapshot, token->client_id);
    struct access_token_claims claims;
    bool accepts = false;
    int error;

    if (owner == NULL || owner->disabled || !may_see(caller, owner->id) ||
        token->expires_at <= (int64_t)time(NULL) ||
        token_is_revoked_by_client(owner, token->issued_at)) {
        write_inactive(response);
        return 0;
    }
    error = family_accepts(context, token, &accepts);
    if (error < 0)
        return error;
    if (!accepts) {
        write_inactive(response);
        return 0;
    }

    memset(&claims, 0, sizeof(claims));
    snprintf(claims.scope, sizeof(claims.scope), "%s", token->scope);
    snprintf(claims.client_id, sizeof(claims.client_id), "%s", owner->id);
    snprintf(claims.subject, sizeof(claims.subject), "%s",
             owner->subject[0] ? owner->subject : owner->id);
    snprintf(claims.issuer, sizeof(claims.issuer), "%s",
             context->settings->issuer);
    claims.expires_at = token->expires_at;
    claims.issued_at = token->issued_at;
    write_active(response, &claims, "refresh_token");
    return 0;
}

static int
introspect(struct oauth_context *context,
           const struct view_snapshot *snapshot,
           const struct view_client *caller, const char *text,
           struct http_response *response)
{
    const struct keyring *keyring = view_keyring(snapshot);
    struct bearer_identity identity;
    struct refresh_token refresh;
    const char *reason;

    if (refresh_token_parse(keyring_refresh_token_key(keyring), text,
                            strlen(text), &refresh) == 0)
        return introspect_refresh(context, snapshot, caller, &refresh,
                                  response);

    if (bearer_verify(context, snapshot, text, strlen(text), &identity,
                      &reason) == 0 &&
        may_see(caller, identity.claims.client_id))
        write_active(response, &identity.claims, "bearer");
    else
        write_inactive(response);
    return 0;
}

void
endpoint_introspect(void *context_pointer, struct http_request *request,
                    struct http_response *response)
{
    struct oauth_context *context = context_pointer;
    const struct view_snapshot *snapshot;
    struct view_client client;
    const char *text;
    struct form form;

    if (oauth_read_form(request, response, &form) < 0)
        return;
    request->log_grant = "introspect";

    snapshot = view_acquire(context->view);
    text = client_authenticate_token_request(context, snapshot, request,
                                             &form, &client, response);
    if (text == NULL)
        goto done;

    if (introspect(context, snapshot, &client, text, response) < 0) {
        oauth_error_respond_unavailable(request, response,
                                        "the token store is unavailable; "
                                        "retry");
        goto done;
    }
    oauth_add_no_store_headers(response);

done:
    view_release(context->view);
    sodium_memzero(&client, sizeof(client));
}
