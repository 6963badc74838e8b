/*
 * GET /v2/whoami: the one protected endpoint tokend ships, so that a
 * client can see what its token carries and a deployment can be tested
 * end to end.
 */
#include <inttypes.h>
#include <time.h>

#include "oauth/bearer.h"
#include "oauth/endpoints.h"
#include "util/text.h"

void
endpoint_whoami(void *context_pointer, struct http_request *request,
                struct http_response *response)
{
    struct oauth_context *context = context_pointer;
    const struct view_snapshot *snapshot = view_acquire(context->view);
    const struct access_token_claims *claims;
    struct bearer_identity identity;
    struct text_buffer body;

    if (bearer_authenticate_request(context, snapshot, request, &identity,
                                    response) < 0)
        goto done;

    claims = &identity.claims;
    text_init(&body, response->body, sizeof(response->body));
    text_append(&body, "{\"client_id\":");
    text_append_json_string(&body, claims->client_id);
    text_append(&body, ",\"name\":");
    text_append_json_string(&body, identity.client_name);
    text_append(&body, ",\"sub\":");
    text_append_json_string(&body, claims->subject);
    text_append(&body, ",\"scope\":");
    text_append_json_string(&body, claims->scope);
    text_append(&body, ",\"exp\":%" PRId64 ",\"expires_in\":%" PRId64 "}",
                claims->expires_at, claims->expires_at - (int64_t)time(NULL));

    response->status = 200;
    response->content_type = "application/json";
    response->body_length = body.length;
    http_response_add_header(response, "Cache-Control", "no-store");

done:
    view_release(context->view);
}
