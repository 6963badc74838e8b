/*
 * POST /v2/auth/token (RFC 6749 §3.2): reads the form, authenticates the
 * client, and hands the request to the grant named by grant_type. A new
 * grant is a row in grant_table and a file of its own.
 */
#include <string.h>

#include "oauth/client_authentication.h"
#include "oauth/endpoints.h"
#include "oauth/error.h"
#include "oauth/grant.h"

struct grant_entry {
    const char *name;
    grant_handler handler;
};

static const struct grant_entry grant_table[] = {
    {"client_credentials", grant_client_credentials},
    {"refresh_token", grant_refresh_token},
};

static const struct grant_entry *
find_grant(const char *name)
{
    for (size_t i = 0; i < sizeof(grant_table) / sizeof(grant_table[0]); i++) {
        if (strcmp(grant_table[i].name, name) == 0)
            return &grant_table[i];
    }
    return NULL;
}

void
endpoint_token(void *context_pointer, struct http_request *request,
               struct http_response *response)
{
    struct oauth_context *context = context_pointer;
    const struct view_snapshot *snapshot;
    const struct grant_entry *grant;
    const char *grant_type;
    struct view_client client;
    struct form form;

    if (oauth_read_form(request, response, &form) < 0)
        return;

    grant_type = form_get(&form, "grant_type");
    if (grant_type == NULL) {
        oauth_error_respond(request, response, OAUTH_INVALID_REQUEST,
                            "grant_type is missing");
        return;
    }
    grant = find_grant(grant_type);
    request->log_grant = grant ? grant->name : "unsupported";

    snapshot = view_acquire(context->view);
    if (client_authenticate(context, snapshot, request, &form, &client,
                            response) < 0)
        goto done;

    if (grant == NULL) {
        oauth_error_respond(request, response, OAUTH_UNSUPPORTED_GRANT_TYPE,
                            "this grant_type is not supported");
        goto done;
    }
    grant->handler(context, snapshot, request, &form, &client, response);

done:
    view_release(context->view);
}
