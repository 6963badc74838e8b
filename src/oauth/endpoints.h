/*
 * The HTTP handlers of every endpoint, one file each, and the route table
 * that tokend.c hands to the HTTP server. Each handler takes the
 * oauth_context as its context.
 */
#ifndef TOKEND_OAUTH_ENDPOINTS_H
#define TOKEND_OAUTH_ENDPOINTS_H

#include <stddef.h>

#include "http/server.h"

void endpoint_token(void *context, struct http_request *request,
                    struct http_response *response);
void endpoint_whoami(void *context, struct http_request *request,
                     struct http_response *response);
void endpoint_metadata(void *context, struct http_request *request,
                       struct http_response *response);
void endpoint_jwks(void *context, struct http_request *request,
                   struct http_response *response);
void endpoint_revoke(void *context, struct http_request *request,
                     struct http_response *response);
void endpoint_introspect(void *context, struct http_request *request,
                         struct http_response *response);
void endpoint_check(void *context, struct http_request *request,
                    struct http_response *response);
void endpoint_health(void *context, struct http_request *request,
                     struct http_response *response);

/* The route table; static, never freed. */
const struct http_route *endpoint_routes(size_t *count);

/* The server's error writer: the OAuth error body for 404, 405, 413. */
void endpoint_write_error(struct http_request *request,
                          struct http_response *response, unsigned int status,
                          const char *error, const char *description);

#endif
