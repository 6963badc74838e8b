/*
 * GET /v2/auth/check: the gateway's question "may this request pass?",
 * for nginx auth_request, Envoy ext_authz (HTTP) and Traefik forwardAuth.
 * It reads the original request's Authorization header and answers 200
 * with the caller's identity in headers, 401 with the RFC 6750 challenge
 * the gateway passes on, or 403 when ?scope= names a scope the token
 * lacks. This is the hottest path: it reads memory only.
 */
#include "oauth/bearer.h"
#include "oauth/endpoints.h"
#include "oauth/error.h"
#include "oauth/scope.h"

static void
respond_insufficient_scope(struct oauth_context *context,
                           struct http_request *request,
                           struct http_response *response,
                           const char *required)
{
    oauth_error_respond_status(request, response, 403, "insufficient_scope",
                               "the token lacks the required scope");
    http_response_add_header(response, "WWW-Authenticate",
                             "Bearer realm=\"%s\", "
                             "error=\"insufficient_scope\", scope=\"%s\"",
                             context->settings->realm, required);
}

void
endpoint_check(void *context_pointer, struct http_request *request,
               struct http_response *response)
{
    struct oauth_context *context = context_pointer;
    const struct view_snapshot *snapshot = view_acquire(context->view);
    const char *required = http_request_query(request, "scope");
    struct bearer_identity identity;

    request->log_grant = "check";
    if (required != NULL && !scope_is_valid(required)) {
        oauth_error_respond(request, response, OAUTH_INVALID_REQUEST,
                            "the required scope is malformed");
        goto done;
    }
    if (bearer_authenticate_request(context, snapshot, request, &identity,
                                    response) < 0)
        goto done;

    if (required != NULL &&
        !scope_is_subset(required, identity.claims.scope)) {
        respond_insufficient_scope(context, request, response, required);
        goto done;
    }

    response->status = 200;
    response->body_length = 0;
    http_response_add_header(response, "X-Auth-Client-Id", "%s",
                             identity.claims.client_id);
    http_response_add_header(response, "X-Auth-Subject", "%s",
                             identity.claims.subject);
    http_response_add_header(response, "X-Auth-Scope", "%s",
                             identity.claims.scope);
    http_response_add_header(response, "Cache-Control", "no-store");

done:
    view_release(context->view);
}
