/*
 * The HTTP front: libmicrohttpd with an internal pool of epoll threads. It
 * reads bodies up to a limit, routes by path, answers 404, 405 and 413
 * itself, stamps X-Request-Id on every answer and writes one access log
 * line per request. Called by tokend.c, which hands it the route table.
 */
#ifndef TOKEND_HTTP_SERVER_H
#define TOKEND_HTTP_SERVER_H

#include <stddef.h>

#include "http/request.h"

typedef void (*http_handler)(void *context, struct http_request *request,
                             struct http_response *response);

struct http_route {
    const char *path;
    const char *method; /* "GET" (HEAD is allowed too) or "POST" */
    http_handler handler;
};

/* Writes an error answer for what the server refuses itself (404, 405,
 * 413), so that its body has the same shape as every other error. */
typedef void (*http_error_writer)(struct http_request *request,
                                  struct http_response *response,
                                  unsigned int status, const char *error,
                                  const char *description);

struct http_server_options {
    const char *listen; /* "host:port" or "[v6]:port" */
    unsigned int threads;
    unsigned int max_connections;
    unsigned int connection_timeout;
    size_t max_body_size;
    const struct http_route *routes;
    size_t route_count;
    http_error_writer write_error;
    /* Called once the socket is bound, before any request is served, with
     * the port (useful with port 0); may be NULL. */
    void (*on_bound)(unsigned int port, void *argument);
    void *on_bound_argument;
    void *context; /* handed to every handler */
};

struct http_server;

/* Binds and starts serving. -EINVAL: a bad listen address; -EADDRINUSE or
 * another errno: the socket could not be bound. */
int http_server_start(const struct http_server_options *options,
                      struct http_server **out);

/* The bound port (useful with port 0). */
unsigned int http_server_port(const struct http_server *server);

/* Stops accepting, lets requests in flight finish for up to grace
 * seconds, then stops and frees the server. */
void http_server_stop(struct http_server *server, unsigned int grace);

#endif
