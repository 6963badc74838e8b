/*
 * The client_credentials grant. It writes nothing to the store: the
 * refresh token it returns starts a new family at generation 0, which the
 * store knows about only once it is first refreshed (DESIGN.md).
 */
#include "oauth/grant.h"

#include "oauth/error.h"
#include "oauth/scope.h"
#include "oauth/token_response.h"

void
grant_client_credentials(struct oauth_context *context,
                         const struct view_snapshot *snapshot,
                         struct http_request *request,
                         const struct form *form,
                         const struct view_client *client,
                         struct http_response *response)
{
    const char *requested = form_get(form, "scope");
    unsigned char family_id[REFRESH_FAMILY_ID_SIZE];
    struct token_grant grant = {
        .client = client,
        .scope = client->scope,
        .family_id = family_id,
        .generation = 0,
    };

    /* No scope means every scope the client was created with. */
    if (requested != NULL) {
        if (!scope_is_valid(requested) ||
            !scope_is_subset(requested, client->scope)) {
            oauth_error_respond(request, response, OAUTH_INVALID_SCOPE,
                                "the scope is not one this client may "
                                "ask for");
            return;
        }
        grant.scope = requested;
        grant.scope_requested = true;
    }

    refresh_token_new_family(family_id);
    token_response_issue(context, snapshot, request, response, &grant);
}
