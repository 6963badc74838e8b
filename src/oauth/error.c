/*
 * The error table and the error body. Bodies are built with the bounded
 * text buffer: their shape is fixed, and jansson would cost more than the
 * rest of a refused request.
 */
#include "oauth/error.h"

#include <stdio.h>
#include <string.h>

#include "util/text.h"

struct error_entry {
    unsigned int status;
    const char *code;
};

static const struct error_entry error_table[] = {
    [OAUTH_INVALID_REQUEST] = {400, "invalid_request"},
    [OAUTH_INVALID_CLIENT] = {401, "invalid_client"},
    [OAUTH_INVALID_GRANT] = {400, "invalid_grant"},
    [OAUTH_UNAUTHORIZED_CLIENT] = {400, "unauthorized_client"},
    [OAUTH_UNSUPPORTED_GRANT_TYPE] = {400, "unsupported_grant_type"},
    [OAUTH_UNSUPPORTED_TOKEN_TYPE] = {400, "unsupported_token_type"},
    [OAUTH_INVALID_SCOPE] = {400, "invalid_scope"},
    [OAUTH_INVALID_TOKEN] = {401, "invalid_token"},
    [OAUTH_INSUFFICIENT_SCOPE] = {403, "insufficient_scope"},
    [OAUTH_TOO_MANY_REQUESTS] = {429, "too_many_requests"},
    [OAUTH_SERVER_ERROR] = {500, "server_error"},
    [OAUTH_TEMPORARILY_UNAVAILABLE] = {503, "temporarily_unavailable"},
};

static char realm[128] = "tokend";

void
oauth_error_set_realm(const char *name)
{
    snprintf(realm, sizeof(realm), "%s", name);
}

const char *
oauth_error_code(enum oauth_error error)
{
    return error_table[error].code;
}

void
oauth_add_no_store_headers(struct http_response *response)
{
    http_response_add_header(response, "Cache-Control", "no-store");
    http_response_add_header(response, "Pragma", "no-cache");
}

void
oauth_error_respond_status(struct http_request *request,
                           struct http_response *response,
                           unsigned int status, const char *code,
                           const char *description)
{
    struct text_buffer body;

    text_init(&body, response->body, sizeof(response->body));
    text_append(&body, "{\"error\":\"%s\",\"error_description\":", code);
    text_append_json_string(&body, description);
    text_append(&body, ",\"code\":\"%s\",\"message\":", code);
    text_append_json_string(&body, description);
    text_append(&body, ",\"requestId\":\"%s\"}", request->request_id);

    response->status = status;
    response->content_type = "application/json";
    response->body_length = body.length;
    oauth_add_no_store_headers(response);
    if (request->log_reason == NULL)
        request->log_reason = code;
}

void
oauth_error_respond(struct http_request *request,
                    struct http_response *response, enum oauth_error error,
                    const char *description)
{
    const struct error_entry *entry = &error_table[error];

    oauth_error_respond_status(request, response, entry->status, entry->code,
                               description);

    if (error == OAUTH_INVALID_CLIENT)
        http_response_add_header(response, "WWW-Authenticate",
                                 "Basic realm=\"%s\"", realm);
    if (error == OAUTH_INVALID_TOKEN || error == OAUTH_INSUFFICIENT_SCOPE)
        http_response_add_header(
            response, "WWW-Authenticate",
            "Bearer realm=\"%s\", error=\"%s\", error_description=\"%s\"",
            realm, entry->code, description);
}

void
oauth_error_respond_unavailable(struct http_request *request,
                                struct http_response *response,
                                const char *description)
{
    oauth_error_respond(request, response, OAUTH_TEMPORARILY_UNAVAILABLE,
                        description);
    http_response_add_header(response, "Retry-After", "1");
}
