/*
 * The grants of the token endpoint, one file each. A grant runs after the
 * client has authenticated, with the snapshot the authentication used, and
 * writes the whole answer. Called by token_endpoint.c through its table.
 */
#ifndef TOKEND_OAUTH_GRANT_H
#define TOKEND_OAUTH_GRANT_H

#include "cache/view.h"
#include "http/form.h"
#include "http/request.h"
#include "oauth/context.h"

typedef void (*grant_handler)(struct oauth_context *context,
                              const struct view_snapshot *snapshot,
                              struct http_request *request,
                              const struct form *form,
                              const struct view_client *client,
                              struct http_response *response);

/* RFC 6749 §4.4. */
void grant_client_credentials(struct oauth_context *context,
                              const struct view_snapshot *snapshot,
                              struct http_request *request,
                              const struct form *form,
                              const struct view_client *client,
                              struct http_response *response);

/* RFC 6749 §6 with rotation and reuse detection (RFC 9700 §4.14.2). */
void grant_refresh_token(struct oauth_context *context,
                         const struct view_snapshot *snapshot,
                         struct http_request *request,
                         const struct form *form,
                         const struct view_client *client,
                         struct http_response *response);

#endif
