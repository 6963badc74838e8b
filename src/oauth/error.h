/*
 * The OAuth errors tokend answers with, in one table: each maps to its
 * HTTP status and RFC code. Every error body carries both envelopes, the
 * RFC 6749 §5.2 one (error, error_description) and the platform's (code,
 * message, requestId), so both kinds of client read it.
 */
#ifndef TOKEND_OAUTH_ERROR_H
#define TOKEND_OAUTH_ERROR_H

#include "http/request.h"

enum oauth_error {
    OAUTH_INVALID_REQUEST,
    OAUTH_INVALID_CLIENT,
    OAUTH_INVALID_GRANT,
    OAUTH_UNAUTHORIZED_CLIENT,
    OAUTH_UNSUPPORTED_GRANT_TYPE,
    OAUTH_UNSUPPORTED_TOKEN_TYPE,
    OAUTH_INVALID_SCOPE,
    OAUTH_INVALID_TOKEN,
    OAUTH_INSUFFICIENT_SCOPE,
    OAUTH_TOO_MANY_REQUESTS,
    OAUTH_SERVER_ERROR,
    OAUTH_TEMPORARILY_UNAVAILABLE,
};

/* The RFC code, e.g. "invalid_grant". */
const char *oauth_error_code(enum oauth_error error);

/*
 * Writes the error answer: status from the table, the JSON body, and
 * Cache-Control: no-store with Pragma: no-cache. invalid_client also gets
 * WWW-Authenticate: Basic (RFC 6749 §5.2); the bearer errors get
 * WWW-Authenticate: Bearer with error and error_description (RFC 6750 §3).
 * description must not hold a secret: it is sent and logged.
 */
void oauth_error_respond(struct http_request *request,
                         struct http_response *response,
                         enum oauth_error error, const char *description);

/* Writes an error with any status and code: the server's own 404, 405
 * and 413 answers, in the same body shape. */
void oauth_error_respond_status(struct http_request *request,
                                struct http_response *response,
                                unsigned int status, const char *code,
                                const char *description);

/* 503 temporarily_unavailable with Retry-After: the store cannot be
 * reached or refused a write; the client should try again shortly. */
void oauth_error_respond_unavailable(struct http_request *request,
                                     struct http_response *response,
                                     const char *description);

/* Adds the headers every token endpoint answer carries (RFC 6749 §5.1). */
void oauth_add_no_store_headers(struct http_response *response);

/* The realm named in WWW-Authenticate; set once at start-up. */
void oauth_error_set_realm(const char *realm);

#endif
