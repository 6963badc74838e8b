/*
 * Client authentication. The secret presented is always hashed and always
 * compared, against the client's hash or a random one, so an unknown
 * client, a disabled one and a wrong secret cost the same and answer the
 * same (RFC 6819 §5.1.4.2.2 on guessing, and no client enumeration).
 */
#include "oauth/client_authentication.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "http/authorization.h"
#include "log/log.h"
#include "oauth/error.h"
#include "oauth/throttle.h"
#include "token/secret.h"
#include "util/text.h"

/* Room for any credential we issue, even with every character
 * percent-encoded; anything longer is an unknown client, not a bad
 * request. */
#define CREDENTIAL_BUFFER_SIZE 256

struct presented_credentials {
    char client_id[CREDENTIAL_BUFFER_SIZE];
    char secret[CREDENTIAL_BUFFER_SIZE];
    bool too_long; /* longer than any we issue: cannot match */
};

int
oauth_read_form(struct http_request *request, struct http_response *response,
                struct form *form)
{
    int error;

    if (!form_is_content_type(http_request_header(request, "Content-Type"))) {
        oauth_error_respond(request, response, OAUTH_INVALID_REQUEST,
                            "the body must be "
                            "application/x-www-form-urlencoded");
        return -EINVAL;
    }

    error = form_parse(request->body, request->body_length, form);
    if (error == -ENOTUNIQ)
        oauth_error_respond(request, response, OAUTH_INVALID_REQUEST,
                            "a parameter is repeated");
    else if (error == -E2BIG)
        oauth_error_respond(request, response, OAUTH_INVALID_REQUEST,
                            "too many parameters");
    else if (error < 0)
        oauth_error_respond(request, response, OAUTH_INVALID_REQUEST,
                            "malformed form body");
    return error;
}

static void
copy_credential(char *out, size_t size, const char *value, bool *too_long)
{
    size_t length = strlen(value);

    if (length >= size) {
        *too_long = true;
        length = 0;
    }
    memcpy(out, value, length);
    out[length] = '\0';
}

/* Gathers the credentials from exactly one method. Returns 0, -ENOENT when
 * none were given, or -EINVAL (answer written) for a request that mixes
 * methods or is malformed. */
static int
gather_credentials(struct http_request *request, const struct form *form,
                   struct presented_credentials *credentials,
                   struct http_response *response)
{
    const char *header = http_request_header(request, "Authorization");
    const char *body_id = form_get(form, "client_id");
    const char *body_secret = form_get(form, "client_secret");
    int error;

    if (header != NULL) {
        if (body_secret != NULL) {
            oauth_error_respond(request, response, OAUTH_INVALID_REQUEST,
                                "use one client authentication method, "
                                "not two");
            return -EINVAL;
        }
        error = authorization_parse_basic(
            header, credentials->client_id, sizeof(credentials->client_id),
            credentials->secret, sizeof(credentials->secret));
        if (error == -ENOENT)
            return -ENOENT;
        if (error == -ENOSPC) {
            credentials->too_long = true;
            return 0;
        }
        if (error < 0) {
            oauth_error_respond(request, response, OAUTH_INVALID_REQUEST,
                                "malformed Basic authorization header");
            return -EINVAL;
        }
        /* A client_id in the body beside Basic must name the same client
         * (RFC 6749 §3.2.1 lets clients send it). */
        if (body_id != NULL && strcmp(body_id, credentials->client_id) != 0) {
            oauth_error_respond(request, response, OAUTH_INVALID_REQUEST,
                                "client_id does not match the "
                                "authorization header");
            return -EINVAL;
        }
        return 0;
    }

    if (body_id == NULL || body_secret == NULL)
        return -ENOENT;
    copy_credential(credentials->client_id, sizeof(credentials->client_id),
                    body_id, &credentials->too_long);
    copy_credential(credentials->secret, sizeof(credentials->secret),
                    body_secret, &credentials->too_long);
    return 0;
}

/* Hashes and compares whatever was presented, found or not. */
static bool
secret_matches(const struct view_snapshot *snapshot,
               const struct view_client *client,
               const struct presented_credentials *credentials)
{
    const unsigned char *key = keyring_secret_hash_key(view_keyring(snapshot));
    unsigned char presented[SECRET_HASH_SIZE];
    unsigned char decoy[SECRET_HASH_SIZE];
    const unsigned char *expected = decoy;
    bool equal;

    randombytes_buf(decoy, sizeof(decoy));
    if (client != NULL)
        expected = client->secret_hash;

    secret_hash(key, credentials->secret, strlen(credentials->secret),
                presented);
    equal = secret_hash_equal(presented, expected);
    sodium_memzero(presented, sizeof(presented));
    return equal && client != NULL && !client->disabled &&
           !credentials->too_long;
}

static int
refuse(struct http_request *request, struct http_response *response,
       const char *reason)
{
    request->log_reason = reason;
    oauth_error_respond(request, response, OAUTH_INVALID_CLIENT,
                        "client authentication failed");
    return -EACCES;
}

static int
refuse_throttled(struct http_request *request, struct http_response *response,
                 int retry_after)
{
    oauth_error_respond(request, response, OAUTH_TOO_MANY_REQUESTS,
                        "too many failed authentications; retry later");
    http_response_add_header(response, "Retry-After", "%d", retry_after);
    request->log_reason = "throttled";
    return -EBUSY;
}

int
client_authenticate(struct oauth_context *context,
                    const struct view_snapshot *snapshot,
                    struct http_request *request, const struct form *form,
                    struct view_client *client,
                    struct http_response *response)
{
    struct presented_credentials credentials;
    const struct view_client *found;
    int retry_after;
    int error;

    memset(&credentials, 0, sizeof(credentials));
    error = gather_credentials(request, form, &credentials, response);
    if (error == -ENOENT)
        error = refuse(request, response, "no_credentials");
    if (error < 0)
        goto done;
    text_copy(request->log_client_id, sizeof(request->log_client_id),
              credentials.client_id);

    if (throttle_is_blocked(context->throttle, credentials.client_id,
                            request->remote_address, &retry_after)) {
        error = refuse_throttled(request, response, retry_after);
        goto done;
    }

    found = view_client(snapshot, credentials.client_id);
    if (!secret_matches(snapshot, found, &credentials)) {
        throttle_record_failure(context->throttle, credentials.client_id,
                                request->remote_address);
        error = refuse(request, response,
                       found == NULL      ? "unknown_client"
                       : found->disabled ? "disabled_client"
                                          : "wrong_secret");
        goto done;
    }

    *client = *found;
    error = 0;

done:
    sodium_memzero(&credentials, sizeof(credentials));
    return error;
}

const char *
client_authenticate_token_request(struct oauth_context *context,
                                  const struct view_snapshot *snapshot,
                                  struct http_request *request,
                                  const struct form *form,
                                  struct view_client *client,
                                  struct http_response *response)
{
    const char *text;

    if (client_authenticate(context, snapshot, request, form, client,
                            response) < 0)
        return NULL;

    text = form_get(form, "token");
    if (text == NULL)
        oauth_error_respond(request, response, OAUTH_INVALID_REQUEST,
                            "token is missing");
    return text;
}
