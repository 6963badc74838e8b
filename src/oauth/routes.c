/*
 * Every path tokend serves, in one table. The token endpoint's path is the
 * platform's (/v2/auth/token); the others sit beside it.
 */
#include "oauth/endpoints.h"

#include "oauth/error.h"

static const struct http_route routes[] = {
    {"/v2/auth/token", "POST", endpoint_token},
    {"/v2/auth/revoke", "POST", endpoint_revoke},
    {"/v2/auth/introspect", "POST", endpoint_introspect},
    {"/v2/auth/check", "GET", endpoint_check},
    {"/v2/whoami", "GET", endpoint_whoami},
    {"/.well-known/oauth-authorization-server", "GET", endpoint_metadata},
    {"/.well-known/jwks.json", "GET", endpoint_jwks},
    {"/health", "GET", endpoint_health},
};

const struct http_route *
endpoint_routes(size_t *count)
{
    *count = sizeof(routes) / sizeof(routes[0]);
    return routes;
}

void
endpoint_write_error(struct http_request *request,
                     struct http_response *response, unsigned int status,
                     const char *error, const char *description)
{
    oauth_error_respond_status(request, response, status, error,
                               description);
}
