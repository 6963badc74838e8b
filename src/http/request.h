/*
 * One HTTP exchange as the endpoints see it: the request (method, path,
 * headers, body) and the answer they fill in. server.c owns both and frees
 * them when the connection is done with the exchange. Endpoints never
 * touch libmicrohttpd directly.
 */
#ifndef TOKEND_HTTP_REQUEST_H
#define TOKEND_HTTP_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_REQUEST_ID_SIZE 24
#define HTTP_ADDRESS_SIZE 48
#define HTTP_LOG_CLIENT_SIZE 65
#define HTTP_RESPONSE_BODY_SIZE 16384
#define HTTP_HEADER_VALUE_SIZE 512
#define HTTP_MAX_HEADERS 8
#define HTTP_TOKEN_ID_SIZE 40

struct http_request {
    void *connection; /* the MHD connection; borrowed */
    const char *method;
    const char *path;
    char *body; /* NUL-terminated; owned by server.c */
    size_t body_length;
    char request_id[HTTP_REQUEST_ID_SIZE];
    char remote_address[HTTP_ADDRESS_SIZE];
    int64_t started_ns;

    /* Filled by endpoints for the access log line. */
    char log_client_id[HTTP_LOG_CLIENT_SIZE];
    const char *log_grant;  /* a static string or NULL */
    const char *log_reason; /* why a request failed; a static string */
    /* The audit event of this request (e.g. "token_issued") and the token
     * or family ID it concerns, written as fields of the request's own log
     * line: one line per request even when it issues a token. */
    const char *log_event;
    char log_token_id[HTTP_TOKEN_ID_SIZE];
};

struct http_header {
    const char *name; /* a static string */
    char value[HTTP_HEADER_VALUE_SIZE];
};

struct http_response {
    unsigned int status;
    const char *content_type; /* a static string, or NULL for no body */
    char body[HTTP_RESPONSE_BODY_SIZE];
    size_t body_length;
    struct http_header headers[HTTP_MAX_HEADERS];
    int header_count;
};

/* A request header's value, or NULL; borrowed from the connection. */
const char *http_request_header(const struct http_request *request,
                                const char *name);

/* A query parameter's value, or NULL; borrowed from the connection. */
const char *http_request_query(const struct http_request *request,
                               const char *name);

/* Adds a header to the answer; a header that does not fit is dropped
 * and logged, since it is a bug, not a client's doing. */
__attribute__((format(printf, 3, 4))) void
http_response_add_header(struct http_response *response, const char *name,
                         const char *format, ...);

/*
 * For a handler whose answer needs to wait (a durable commit): the handler
 * returns without answering, the connection waits, and the HTTP thread
 * serves others meanwhile. The request and the response given to the
 * handler stay valid until http_request_resume, which any thread may call
 * once the response is filled in; it must be called exactly once.
 */
void http_request_defer(struct http_request *request);
void http_request_resume(struct http_request *request);

/* Sets the body; a body too large for the buffer becomes a 500. */
void http_response_set_body(struct http_response *response,
                            unsigned int status, const char *content_type,
                            const char *body, size_t length);

#endif
