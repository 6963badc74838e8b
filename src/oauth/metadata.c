/*
 * The public documents: RFC 8414 authorization server metadata, the JWKS
 * that resource servers verify tokens with, and a health answer for load
 * balancers. They may be cached briefly, which is what lets a rotated key
 * reach every verifier before it signs (docs/deployment.md).
 */
#include "oauth/endpoints.h"

#include "oauth/context.h"
#include "util/text.h"

/* Seconds verifiers may cache the JWKS and the metadata. */
#define PUBLIC_DOCUMENT_MAX_AGE 300

static void
append_endpoint(struct text_buffer *body, const char *name,
                const char *issuer, const char *path)
{
    char url[512];

    snprintf(url, sizeof(url), "%s%s", issuer, path);
    text_append(body, ",\"%s\":", name);
    text_append_json_string(body, url);
}

void
endpoint_metadata(void *context_pointer, struct http_request *request,
                  struct http_response *response)
{
    struct oauth_context *context = context_pointer;
    const char *issuer = context->settings->issuer;
    static const char auth_methods[] =
        "[\"client_secret_basic\",\"client_secret_post\"]";
    struct text_buffer body;

    (void)request;
    text_init(&body, response->body, sizeof(response->body));
    text_append(&body, "{\"issuer\":");
    text_append_json_string(&body, issuer);
    append_endpoint(&body, "token_endpoint", issuer, "/v2/auth/token");
    append_endpoint(&body, "jwks_uri", issuer, "/.well-known/jwks.json");
    append_endpoint(&body, "revocation_endpoint", issuer, "/v2/auth/revoke");
    append_endpoint(&body, "introspection_endpoint", issuer,
                    "/v2/auth/introspect");
    text_append(&body,
                ",\"grant_types_supported\":[\"client_credentials\","
                "\"refresh_token\"],\"response_types_supported\":[],"
                "\"token_endpoint_auth_methods_supported\":%s,"
                "\"revocation_endpoint_auth_methods_supported\":%s,"
                "\"introspection_endpoint_auth_methods_supported\":%s}",
                auth_methods, auth_methods, auth_methods);

    response->status = body.overflow ? 500 : 200;
    response->content_type = "application/json";
    response->body_length = body.overflow ? 0 : body.length;
    http_response_add_header(response, "Cache-Control",
                             "public, max-age=%d", PUBLIC_DOCUMENT_MAX_AGE);
}

void
endpoint_jwks(void *context_pointer, struct http_request *request,
              struct http_response *response)
{
    struct oauth_context *context = context_pointer;
    const struct view_snapshot *snapshot = view_acquire(context->view);
    int length;

    (void)request;
    length = keyring_format_jwks(view_keyring(snapshot), response->body,
                                 sizeof(response->body));
    view_release(context->view);

    response->status = length < 0 ? 500 : 200;
    response->content_type = "application/json";
    response->body_length = length < 0 ? 0 : (size_t)length;
    http_response_add_header(response, "Cache-Control",
                             "public, max-age=%d", PUBLIC_DOCUMENT_MAX_AGE);
}

void
endpoint_health(void *context_pointer, struct http_request *request,
                struct http_response *response)
{
    (void)context_pointer;
    (void)request;
    http_response_set_body(response, 200, "application/json",
                           "{\"status\":\"ok\"}", 15);
    http_response_add_header(response, "Cache-Control", "no-store");
}
