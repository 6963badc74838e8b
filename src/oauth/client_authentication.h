/*
 * Client authentication for the token, revocation and introspection
 * endpoints: HTTP Basic or client_id and client_secret in the body, never
 * both (RFC 6749 §2.3.1). Every failure gives the same invalid_client
 * answer after the same work, so neither the answer nor its timing says
 * whether the client exists.
 */
#ifndef TOKEND_OAUTH_CLIENT_AUTHENTICATION_H
#define TOKEND_OAUTH_CLIENT_AUTHENTICATION_H

#include "cache/view.h"
#include "http/form.h"
#include "http/request.h"
#include "oauth/context.h"

/*
 * On success copies the authenticated client into client and returns 0.
 * Otherwise writes the error answer (invalid_request, invalid_client, or
 * 429 when throttled) into response and returns a negative errno.
 */
int client_authenticate(struct oauth_context *context,
                        const struct view_snapshot *snapshot,
                        struct http_request *request, const struct form *form,
                        struct view_client *client,
                        struct http_response *response);

/*
 * The opening of the revocation and introspection endpoints (RFC 7009
 * §2.1, RFC 7662 §2.1): authenticates the client and finds the token
 * parameter. Returns the token text (borrowed from the form), or NULL
 * after writing the error answer.
 */
const char *client_authenticate_token_request(
    struct oauth_context *context, const struct view_snapshot *snapshot,
    struct http_request *request, const struct form *form,
    struct view_client *client, struct http_response *response);

/*
 * Reads a form body: checks the Content-Type and parses. On failure
 * writes invalid_request into response and returns a negative errno.
 */
int oauth_read_form(struct http_request *request,
                    struct http_response *response, struct form *form);

#endif
