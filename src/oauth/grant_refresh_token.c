/*
 * The refresh_token grant. The token itself is authenticated (HMAC) and
 * carries its family and generation; the store holds only each family's
 * rotation state, which store_family_rotate moves atomically and durably
 * before the new tokens go out. Presenting a used generation revokes the
 * whole family (RFC 9700 §4.14.2): either the client or an attacker holds
 * a stolen copy, and we cannot tell which.
 */
#include "oauth/grant.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "log/log.h"
#include "oauth/error.h"
#include "oauth/scope.h"
#include "oauth/token_response.h"
#include "util/text.h"
#include "util/work_pool.h"

static void
respond_store_failure(struct http_request *request,
                      struct http_response *response, int error)
{
    if (error == -EAGAIN) {
        oauth_error_respond_unavailable(request, response,
                                        "the token store is unavailable; "
                                        "retry");
        return;
    }
    oauth_error_respond(request, response, OAUTH_SERVER_ERROR,
                        "the refresh could not be recorded");
}

/* Checks everything that needs no store access. Returns 0, or writes the
 * error answer and returns -EINVAL. */
static int
check_token(const struct view_snapshot *snapshot,
            struct http_request *request, const char *text,
            const struct view_client *client, struct refresh_token *token,
            struct http_response *response)
{
    const struct keyring *keyring = view_keyring(snapshot);
    const char *problem = NULL;

    if (text == NULL) {
        oauth_error_respond(request, response, OAUTH_INVALID_REQUEST,
                            "refresh_token is missing");
        return -EINVAL;
    }

    if (refresh_token_parse(keyring_refresh_token_key(keyring), text,
                            strlen(text), token) < 0)
        problem = "malformed";
    else if (strcmp(token->client_id, client->id) != 0)
        problem = "other_client";
    else if (token->expires_at <= (int64_t)time(NULL))
        problem = "expired";
    else if (token_is_revoked_by_client(client, token->issued_at))
        problem = "client_tokens_revoked";

    if (problem == NULL)
        return 0;
    request->log_reason = problem;
    oauth_error_respond(request, response, OAUTH_INVALID_GRANT,
                        "the refresh token is invalid, expired or revoked");
    return -EINVAL;
}

static int
check_scope(struct http_request *request, const struct form *form,
            const struct refresh_token *token, const char **scope,
            struct http_response *response)
{
    const char *requested = form_get(form, "scope");

    *scope = token->scope;
    if (requested == NULL)
        return 0;

    /* RFC 6749 §6: a refresh may narrow the scope, never widen it. */
    if (!scope_is_valid(requested) ||
        !scope_is_subset(requested, token->scope)) {
        oauth_error_respond(request, response, OAUTH_INVALID_SCOPE,
                            "the scope exceeds the original grant");
        return -EINVAL;
    }
    *scope = requested;
    return 0;
}

static void
log_reuse(const struct http_request *request, const struct refresh_token *token)
{
    char family[REFRESH_FAMILY_ID_SIZE * 2 + 1];

    sodium_bin2hex(family, sizeof(family), token->family_id,
                   sizeof(token->family_id));
    log_write(LOG_NOTICE, "refresh token reused, family revoked",
              "request_id=%s client_id=%s family=%s generation=%" PRIu32,
              request->request_id, token->client_id, family,
              token->generation);
}

/* Moves the family to the next generation. Returns 0, or writes the
 * error answer (reuse, a revoked family, a store failure) and returns a
 * negative errno. */
static int
rotate_family(struct oauth_context *context, struct http_request *request,
              const struct refresh_token *token, int64_t expires_at,
              struct http_response *response)
{
    enum store_rotation rotation;
    int error;

    error = store_family_rotate(context->store, token->family_id,
                                token->client_id, token->generation,
                                expires_at, &rotation);
    if (error == -ENOENT) {
        /* The client was deleted a moment ago; its view entry is stale. */
        request->log_reason = "client_deleted";
    } else if (error < 0) {
        respond_store_failure(request, response, error);
        return error;
    } else if (rotation == STORE_ROTATED) {
        return 0;
    } else if (rotation == STORE_REUSED) {
        log_reuse(request, token);
        request->log_event = "refresh_token_reused";
        request->log_reason = "reused";
    } else {
        request->log_reason = "family_revoked";
    }

    oauth_error_respond(request, response, OAUTH_INVALID_GRANT,
                        "the refresh token is invalid, expired or revoked");
    return -EACCES;
}

/* Everything a refresh needs once its checks have passed, so that the
 * rotation and the answer can be finished on a thread of the work pool. */
struct refresh_job {
    struct work_item item; /* first: the pool hands this back */
    struct oauth_context *context;
    struct http_request *request;
    struct http_response *response;
    struct refresh_token token;
    char scope[REFRESH_SCOPE_SIZE];
    bool scope_requested;
    int64_t expires_at;
};

/* Rotates, then signs under a fresh snapshot: the rotation waits for a
 * durable commit and must not hold the view's read lock meanwhile. */
static void
finish_refresh(struct refresh_job *job)
{
    const struct view_snapshot *snapshot;
    const struct view_client *client;
    struct token_grant grant;

    if (rotate_family(job->context, job->request, &job->token,
                      job->expires_at, job->response) < 0)
        return;

    snapshot = view_acquire(job->context->view);
    client = view_client(snapshot, job->token.client_id);
    if (client == NULL || client->disabled) {
        job->request->log_reason = "client_gone";
        oauth_error_respond(job->request, job->response, OAUTH_INVALID_GRANT,
                            "the refresh token is invalid, expired or "
                            "revoked");
    } else {
        grant = (struct token_grant){
            .client = client,
            .scope = job->scope,
            .scope_requested = job->scope_requested,
            .family_id = job->token.family_id,
            .generation = job->token.generation + 1,
        };
        token_response_issue(job->context, snapshot, job->request,
                             job->response, &grant);
    }
    view_release(job->context->view);
}

static void
run_refresh_job(struct work_item *item)
{
    struct refresh_job *job = (struct refresh_job *)item;
    struct http_request *request = job->request;

    finish_refresh(job);
    sodium_memzero(job, sizeof(*job));
    free(job);
    http_request_resume(request);
}

void
grant_refresh_token(struct oauth_context *context,
                    const struct view_snapshot *snapshot,
                    struct http_request *request, const struct form *form,
                    const struct view_client *client,
                    struct http_response *response)
{
    struct refresh_token token;
    struct refresh_job *job;
    const char *scope;

    if (check_token(snapshot, request, form_get(form, "refresh_token"),
                    client, &token, response) < 0 ||
        check_scope(request, form, &token, &scope, response) < 0)
        return;

    job = calloc(1, sizeof(*job));
    if (job == NULL) {
        oauth_error_respond(request, response, OAUTH_SERVER_ERROR,
                            "out of memory");
        return;
    }
    *job = (struct refresh_job){
        .item.run = run_refresh_job,
        .context = context,
        .request = request,
        .response = response,
        .token = token,
        .scope_requested = form_get(form, "scope") != NULL,
        .expires_at = token_issued_at(client, (int64_t)time(NULL)) +
                      context->settings->refresh_token_ttl,
    };
    text_copy(job->scope, sizeof(job->scope), scope);

    /* Without a pool (a setting), the HTTP thread waits for the commit. */
    if (context->work_pool == NULL) {
        finish_refresh(job);
        free(job);
        return;
    }
    http_request_defer(request);
    work_pool_submit(context->work_pool, &job->item);
}
