/*
 * The token answer. Its shape is fixed, so it is written with snprintf:
 * building it with jansson would cost about as much as the rest of the
 * request except the signature (docs/performance.md).
 */
#include "oauth/token_response.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "log/log.h"
#include "oauth/error.h"
#include "token/jwt.h"
#include "util/text.h"

int64_t
token_issued_at(const struct view_client *client, int64_t now)
{
    if (client->tokens_not_before > 0 && now <= client->tokens_not_before)
        return client->tokens_not_before + 1;
    return now;
}

bool
token_is_revoked_by_client(const struct view_client *client,
                           int64_t issued_at)
{
    return client->tokens_not_before > 0 &&
           issued_at <= client->tokens_not_before;
}

static void
fill_claims(const struct settings *settings,
            const struct token_grant *grant, int64_t issued_at,
            struct access_token_claims *claims)
{
    const struct view_client *client = grant->client;

    memset(claims, 0, sizeof(*claims));
    snprintf(claims->issuer, sizeof(claims->issuer), "%s", settings->issuer);
    snprintf(claims->subject, sizeof(claims->subject), "%s",
             client->subject[0] ? client->subject : client->id);
    snprintf(claims->audience, sizeof(claims->audience), "%s",
             settings->audience);
    snprintf(claims->client_id, sizeof(claims->client_id), "%s", client->id);
    snprintf(claims->scope, sizeof(claims->scope), "%s", grant->scope);
    jwt_new_token_id(claims->token_id);
    claims->issued_at = issued_at;
    claims->expires_at = issued_at + settings->access_token_ttl;
}

static void
fill_refresh_token(const struct settings *settings,
                   const struct token_grant *grant, int64_t issued_at,
                   struct refresh_token *token)
{
    memset(token, 0, sizeof(*token));
    memcpy(token->family_id, grant->family_id, REFRESH_FAMILY_ID_SIZE);
    token->generation = grant->generation;
    token->issued_at = issued_at;
    token->expires_at = issued_at + settings->refresh_token_ttl;
    snprintf(token->client_id, sizeof(token->client_id), "%s",
             grant->client->id);
    snprintf(token->scope, sizeof(token->scope), "%s", grant->scope);
}

static void
write_answer(struct http_response *response, const char *access_token,
             const char *refresh_token, int64_t expires_in,
             const struct token_grant *grant)
{
    struct text_buffer body;

    text_init(&body, response->body, sizeof(response->body));
    text_append(&body,
                "{\"access_token\":\"%s\",\"token_type\":\"bearer\","
                "\"expires_in\":%" PRId64 ",\"refresh_token\":\"%s\"",
                access_token, expires_in, refresh_token);
    if (grant->scope_requested) {
        text_append(&body, ",\"scope\":");
        text_append_json_string(&body, grant->scope);
    }
    text_append(&body, "}");

    response->status = body.overflow ? 500 : 200;
    response->content_type = "application/json";
    response->body_length = body.overflow ? 0 : body.length;
    oauth_add_no_store_headers(response);
}

void
token_response_issue(struct oauth_context *context,
                     const struct view_snapshot *snapshot,
                     struct http_request *request,
                     struct http_response *response,
                     const struct token_grant *grant)
{
    const struct settings *settings = context->settings;
    const struct keyring *keyring = view_keyring(snapshot);
    struct access_token_claims claims;
    struct refresh_token refresh;
    char access_token[JWT_MAX_LENGTH];
    char refresh_text[REFRESH_TOKEN_MAX_LENGTH];
    int64_t issued_at = token_issued_at(grant->client, (int64_t)time(NULL));
    int access_length;
    int refresh_length;

    fill_claims(settings, grant, issued_at, &claims);
    fill_refresh_token(settings, grant, issued_at, &refresh);

    access_length = jwt_sign(keyring_signing_key(keyring), &claims,
                             access_token, sizeof(access_token));
    refresh_length = refresh_token_format(keyring_refresh_token_key(keyring),
                                          &refresh, refresh_text,
                                          sizeof(refresh_text));
    if (access_length < 0 || refresh_length < 0) {
        log_write(LOG_ERROR, "token signing failed",
                  "request_id=%s access=%d refresh=%d", request->request_id,
                  access_length, refresh_length);
        oauth_error_respond(request, response, OAUTH_SERVER_ERROR,
                            "the token could not be made");
        return;
    }

    write_answer(response, access_token, refresh_text,
                 settings->access_token_ttl, grant);
    sodium_memzero(access_token, sizeof(access_token));
    sodium_memzero(refresh_text, sizeof(refresh_text));

    request->log_event =
        grant->generation == 0 ? "token_issued" : "token_refreshed";
    text_copy(request->log_token_id, sizeof(request->log_token_id),
              claims.token_id);
}
