/*
 * The HTTP front on libmicrohttpd: an internal pool of epoll threads, one
 * per core, each running the endpoints to completion. This file owns the
 * exchange of each request (body buffer, answer) and the access log line;
 * endpoints see only request.h.
 */
#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "http/connection_deadline.h"
#include "log/log.h"

/* A body this many times over the limit is not read to its end: the
 * connection is closed instead, so a client cannot make us drain it. */
#define OVERSIZE_DRAIN_FACTOR 16
/* "connection limit reached" is logged at most this often. */
#define LIMIT_LOG_NS 10000000000LL

#define LISTEN_BACKLOG 1024

/* Seconds stopping waits for deferred requests after the grace is over. */
#define DEFERRED_WAIT_LIMIT 60

struct http_server {
    struct MHD_Daemon *daemon;
    struct connection_deadlines *deadlines;
    struct http_server_options options;
    atomic_int requests_in_flight;
    atomic_int requests_deferred;
    char request_id_prefix[9];
    unsigned int port;
    atomic_uint_fast64_t request_count;
    atomic_uint open_connections;
    atomic_int_fast64_t limit_logged_ns;
};

/* The request comes first, so that a handler's request pointer is also
 * the exchange's (http_request_defer). */
struct exchange {
    struct http_request request;
    struct http_response *response; /* the handler's answer, once called */
    bool deferred;
    struct http_server *server;
    const struct http_route *route;
    size_t body_size; /* bytes received, even past the limit */
    char body[];      /* max_body_size + 1 */
};

static int64_t
monotonic_ns(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

const char *
http_request_header(const struct http_request *request, const char *name)
{
    return MHD_lookup_connection_value(request->connection, MHD_HEADER_KIND,
                                       name);
}

const char *
http_request_query(const struct http_request *request, const char *name)
{
    return MHD_lookup_connection_value(request->connection,
                                       MHD_GET_ARGUMENT_KIND, name);
}

void
http_response_add_header(struct http_response *response, const char *name,
                         const char *format, ...)
{
    struct http_header *header;
    va_list arguments;
    int written;

    if (response->header_count >= HTTP_MAX_HEADERS) {
        log_write(LOG_ERROR, "too many response headers", "header=%s", name);
        return;
    }
    header = &response->headers[response->header_count];
    va_start(arguments, format);
    written = vsnprintf(header->value, sizeof(header->value), format,
                        arguments);
    va_end(arguments);
    if (written < 0 || (size_t)written >= sizeof(header->value)) {
        log_write(LOG_ERROR, "response header too long", "header=%s", name);
        return;
    }
    header->name = name;
    response->header_count++;
}

void
http_response_set_body(struct http_response *response, unsigned int status,
                       const char *content_type, const char *body,
                       size_t length)
{
    if (length > sizeof(response->body)) {
        log_write(LOG_ERROR, "response body too large", "length=%zu",
                  length);
        status = 500;
        body = "";
        length = 0;
    }
    response->status = status;
    response->content_type = content_type;
    memcpy(response->body, body, length);
    response->body_length = length;
}

static void
fill_remote_address(struct MHD_Connection *connection, char *out,
                    size_t size)
{
    const union MHD_ConnectionInfo *info;
    const struct sockaddr *address;

    out[0] = '\0';
    info = MHD_get_connection_info(connection,
                                   MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (info == NULL || info->client_addr == NULL)
        return;

    address = info->client_addr;
    if (address->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)address)->sin_addr,
                  out, (socklen_t)size);
    else if (address->sa_family == AF_INET6)
        inet_ntop(AF_INET6,
                  &((const struct sockaddr_in6 *)address)->sin6_addr, out,
                  (socklen_t)size);
}

static void
log_exchange(const struct http_request *request,
             const struct http_response *response)
{
    char client[HTTP_LOG_CLIENT_SIZE + 2];
    int64_t duration_us = (monotonic_ns() - request->started_ns) / 1000;
    enum log_level level = response->status >= 500 ? LOG_ERROR : LOG_INFO;

    if (!log_enabled(level))
        return;

    log_quote(request->log_client_id[0] ? request->log_client_id : "-",
              client, sizeof(client));
    log_write(level, "request",
              "request_id=%s method=%s path=%s status=%u duration_us=%lld "
              "client_id=%s grant=%s remote=%s%s%s%s%s%s%s",
              request->request_id, request->method, request->path,
              response->status, (long long)duration_us, client,
              request->log_grant ? request->log_grant : "-",
              request->remote_address[0] ? request->remote_address : "-",
              request->log_event ? " event=" : "",
              request->log_event ? request->log_event : "",
              request->log_token_id[0] ? " token_id=" : "",
              request->log_token_id,
              request->log_reason ? " reason=" : "",
              request->log_reason ? request->log_reason : "");
}

static enum MHD_Result
send_response(struct MHD_Connection *connection,
              struct http_request *request, struct http_response *response)
{
    struct MHD_Response *answer;
    enum MHD_Result result;

    /* A handler that wrote no answer is a bug; say so rather than hang. */
    if (response->status == 0) {
        log_write(LOG_ERROR, "handler wrote no answer", "request_id=%s",
                  request->request_id);
        response->status = 500;
        response->content_type = NULL;
        response->body_length = 0;
    }

    answer = MHD_create_response_from_buffer(
        response->body_length, response->body, MHD_RESPMEM_MUST_COPY);
    if (answer == NULL)
        return MHD_NO;

    if (response->content_type != NULL)
        MHD_add_response_header(answer, "Content-Type",
                                response->content_type);
    MHD_add_response_header(answer, "X-Request-Id", request->request_id);
    for (int i = 0; i < response->header_count; i++)
        MHD_add_response_header(answer, response->headers[i].name,
                                response->headers[i].value);

    log_exchange(request, response);
    result = MHD_queue_response(connection, response->status, answer);
    MHD_destroy_response(answer);
    return result;
}

static const struct http_route *
find_route(const struct http_server *server, const char *path,
           const char *method, const struct http_route **path_match)
{
    *path_match = NULL;
    for (size_t i = 0; i < server->options.route_count; i++) {
        const struct http_route *route = &server->options.routes[i];

        if (strcmp(route->path, path) != 0)
            continue;
        if (*path_match == NULL)
            *path_match = route;
        if (strcmp(route->method, method) == 0 ||
            (strcmp(route->method, "GET") == 0 &&
             strcmp(method, "HEAD") == 0))
            return route;
    }
    return NULL;
}

static void
write_allow_header(const struct http_server *server, const char *path,
                   struct http_response *response)
{
    char allow[HTTP_HEADER_VALUE_SIZE] = "";
    size_t length = 0;

    for (size_t i = 0; i < server->options.route_count; i++) {
        const struct http_route *route = &server->options.routes[i];
        int written;

        if (strcmp(route->path, path) != 0)
            continue;
        written = snprintf(allow + length, sizeof(allow) - length, "%s%s%s",
                           length ? ", " : "", route->method,
                           strcmp(route->method, "GET") == 0 ? ", HEAD"
                                                             : "");
        if (written < 0 || (size_t)written >= sizeof(allow) - length)
            break;
        length += (size_t)written;
    }
    http_response_add_header(response, "Allow", "%s", allow);
}

/* An empty answer. Its 16 KiB body buffer is not cleared: only
 * body_length bytes of it are ever sent. */
static struct http_response *
response_new(void)
{
    struct http_response *response = malloc(sizeof(*response));

    if (response == NULL)
        return NULL;
    response->status = 0;
    response->content_type = NULL;
    response->body_length = 0;
    response->header_count = 0;
    return response;
}

static struct exchange *
exchange_new(struct http_server *server, struct MHD_Connection *connection,
             const char *url, const char *method)
{
    struct exchange *exchange;
    uint_fast64_t number;

    /* Only the exchange's fields are zeroed: the body buffer behind them
     * is written before it is read, and clearing 8 KiB a request showed
     * in profiles. */
    exchange = malloc(sizeof(*exchange) + server->options.max_body_size + 1);
    if (exchange == NULL)
        return NULL;
    memset(exchange, 0, sizeof(*exchange));
    exchange->body[0] = '\0';

    exchange->server = server;
    exchange->request.connection = connection;
    exchange->request.method = method;
    exchange->request.path = url;
    exchange->request.body = exchange->body;
    exchange->request.started_ns = monotonic_ns();
    number = atomic_fetch_add(&server->request_count, 1);
    snprintf(exchange->request.request_id,
             sizeof(exchange->request.request_id), "%s-%08llx",
             server->request_id_prefix, (unsigned long long)number);
    fill_remote_address(connection, exchange->request.remote_address,
                        sizeof(exchange->request.remote_address));
    atomic_fetch_add(&server->requests_in_flight, 1);
    return exchange;
}

/* Refuses, on the first call, what needs no body to refuse: unknown paths,
 * wrong methods and a declared Content-Length over the limit. Returns 1
 * when an answer was written. */
static int
refuse_early(struct http_server *server, struct exchange *exchange,
             struct http_response *response)
{
    struct http_request *request = &exchange->request;
    const struct http_route *path_match;
    const char *length_header;

    exchange->route = find_route(server, request->path, request->method,
                                 &path_match);
    if (path_match == NULL) {
        request->log_reason = "no_route";
        server->options.write_error(request, response, 404, "not_found",
                                    "no such endpoint");
        return 1;
    }
    if (exchange->route == NULL) {
        request->log_reason = "method";
        server->options.write_error(request, response, 405,
                                    "method_not_allowed",
                                    "method not allowed here");
        write_allow_header(server, request->path, response);
        return 1;
    }

    length_header = http_request_header(request, "Content-Length");
    if (length_header != NULL &&
        strtoull(length_header, NULL, 10) > server->options.max_body_size) {
        request->log_reason = "body_too_large";
        server->options.write_error(request, response, 413,
                                    "invalid_request",
                                    "request body too large");
        return 1;
    }
    return 0;
}

/* Appends a chunk of the body. Returns MHD_NO to drop the connection when
 * a body without a declared length runs far over the limit. */
static enum MHD_Result
receive_body(struct http_server *server, struct exchange *exchange,
             const char *data, size_t *size)
{
    size_t limit = server->options.max_body_size;

    if (exchange->body_size + *size <= limit) {
        memcpy(exchange->body + exchange->body_size, data, *size);
        exchange->request.body_length = exchange->body_size + *size;
        exchange->body[exchange->request.body_length] = '\0';
    }
    exchange->body_size += *size;
    *size = 0;

    if (exchange->body_size > limit * OVERSIZE_DRAIN_FACTOR) {
        log_write(LOG_INFO, "body far over the limit, connection closed",
                  "request_id=%s remote=%s", exchange->request.request_id,
                  exchange->request.remote_address);
        return MHD_NO;
    }
    return MHD_YES;
}

/* The deadline watch of a connection (its socket context), or NULL. */
static struct connection_watch *
watch_of(struct MHD_Connection *connection)
{
    const union MHD_ConnectionInfo *info;

    info = MHD_get_connection_info(connection,
                                   MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info != NULL ? info->socket_context : NULL;
}

static enum MHD_Result
handle_access(void *closure, struct MHD_Connection *connection,
              const char *url, const char *method, const char *version,
              const char *upload_data, size_t *upload_data_size,
              void **request_closure)
{
    struct http_server *server = closure;
    struct exchange *exchange = *request_closure;
    struct http_response *response;
    enum MHD_Result result;

    (void)version;

    if (exchange == NULL) {
        exchange = exchange_new(server, connection, url, method);
        if (exchange == NULL)
            return MHD_NO;
        *request_closure = exchange;

        response = response_new();
        if (response == NULL)
            return MHD_NO;
        if (!refuse_early(server, exchange, response)) {
            free(response);
            return MHD_YES;
        }
        connection_watch_answering(watch_of(connection));
        result = send_response(connection, &exchange->request, response);
        free(response);
        return result;
    }

    if (*upload_data_size > 0)
        return receive_body(server, exchange, upload_data, upload_data_size);

    /* Called again after http_request_resume: the answer is ready. */
    if (exchange->deferred)
        return send_response(connection, &exchange->request,
                             exchange->response);

    /* The whole request is in: the slow-client deadline stops here, so
     * a handler that waits (for the store, say) is never cut. */
    connection_watch_answering(watch_of(connection));
    exchange->response = response_new();
    if (exchange->response == NULL)
        return MHD_NO;
    if (exchange->body_size > server->options.max_body_size) {
        exchange->request.log_reason = "body_too_large";
        server->options.write_error(&exchange->request, exchange->response,
                                    413, "invalid_request",
                                    "request body too large");
    } else {
        exchange->route->handler(server->options.context, &exchange->request,
                                 exchange->response);
    }
    if (exchange->deferred)
        return MHD_YES;
    return send_response(connection, &exchange->request, exchange->response);
}

void
http_request_defer(struct http_request *request)
{
    struct exchange *exchange = (struct exchange *)request;

    exchange->deferred = true;
    atomic_fetch_add(&exchange->server->requests_deferred, 1);
    MHD_suspend_connection(request->connection);
}

void
http_request_resume(struct http_request *request)
{
    struct exchange *exchange = (struct exchange *)request;
    struct http_server *server = exchange->server;

    MHD_resume_connection(request->connection);
    atomic_fetch_sub(&server->requests_deferred, 1);
}

static void
handle_completed(void *closure, struct MHD_Connection *connection,
                 void **request_closure,
                 enum MHD_RequestTerminationCode code)
{
    struct http_server *server = closure;
    struct exchange *exchange = *request_closure;

    (void)code;

    connection_watch_idle(watch_of(connection));
    if (exchange == NULL)
        return;
    if (exchange->response != NULL) {
        sodium_memzero(exchange->response->body,
                       exchange->response->body_length);
        free(exchange->response);
    }
    sodium_memzero(exchange->body, exchange->body_size <
                                           server->options.max_body_size
                                       ? exchange->body_size
                                       : server->options.max_body_size);
    free(exchange);
    *request_closure = NULL;
    atomic_fetch_sub(&server->requests_in_flight, 1);
}

/* At the limit, libmicrohttpd stops accepting and new connections wait
 * in the listen queue, silently: say so, at most every LIMIT_LOG_NS. */
static void
note_connection_count(struct http_server *server, unsigned int count)
{
    int64_t now = monotonic_ns();
    int64_t logged = atomic_load(&server->limit_logged_ns);

    if (count < server->options.max_connections ||
        (logged != 0 && now - logged < LIMIT_LOG_NS) ||
        !atomic_compare_exchange_strong(&server->limit_logged_ns, &logged,
                                        now))
        return;
    log_write(LOG_WARN, "connection limit reached",
              "max_connections=%u", server->options.max_connections);
}

static void
handle_connection(void *closure, struct MHD_Connection *connection,
                  void **socket_context,
                  enum MHD_ConnectionNotificationCode code)
{
    struct http_server *server = closure;
    const union MHD_ConnectionInfo *info;
    char remote[HTTP_ADDRESS_SIZE];

    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        connection_deadlines_close(server->deadlines, *socket_context);
        *socket_context = NULL;
        atomic_fetch_sub(&server->open_connections, 1);
        return;
    }
    note_connection_count(server,
                          atomic_fetch_add(&server->open_connections, 1) + 1);
    info = MHD_get_connection_info(connection,
                                   MHD_CONNECTION_INFO_CONNECTION_FD);
    if (info == NULL)
        return;
    fill_remote_address(connection, remote, sizeof(remote));
    *socket_context =
        connection_deadlines_open(server->deadlines, info->connect_fd, remote);
}

/* The format comes from libmicrohttpd; the attribute lets the compiler
 * check the call as a printf, which clang's -Wformat-nonliteral needs. */
__attribute__((format(printf, 2, 0))) static void
log_from_library(void *closure, const char *format, va_list arguments)
{
    char message[512];
    char quoted[600];
    size_t length;

    (void)closure;
    vsnprintf(message, sizeof(message), format, arguments);
    length = strlen(message);
    while (length > 0 && message[length - 1] == '\n')
        message[--length] = '\0';
    log_write(LOG_INFO, "http", "detail=%s",
              log_quote(message, quoted, sizeof(quoted)));
}

/* Splits "host:port", "[v6]:port" or ":port" and resolves it. */
static int
resolve_listen(const char *listen, struct addrinfo **out)
{
    char host[256];
    const char *port;
    struct addrinfo hints;
    size_t host_length;

    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (close == NULL || close[1] != ':')
            return -EINVAL;
        host_length = (size_t)(close - listen - 1);
        listen++;
        port = close + 2;
    } else {
        const char *colon = strrchr(listen, ':');
        if (colon == NULL)
            return -EINVAL;
        host_length = (size_t)(colon - listen);
        port = colon + 1;
    }
    if (host_length >= sizeof(host) || port[0] == '\0')
        return -EINVAL;
    memcpy(host, listen, host_length);
    host[host_length] = '\0';

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    if (getaddrinfo(host_length ? host : NULL, port, &hints, out) != 0)
        return -EINVAL;
    return 0;
}

/* Binds the listening socket ourselves, so that the caller learns the
 * port before the first request can arrive. */
static int
bind_listener(const struct addrinfo *address, int *out)
{
    int listener;
    int yes = 1;

    listener = socket(address->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener < 0)
        return -errno;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    if (address->ai_family == AF_INET6)
        setsockopt(listener, IPPROTO_IPV6, IPV6_V6ONLY, &yes, sizeof(yes));

    if (bind(listener, address->ai_addr, address->ai_addrlen) < 0 ||
        listen(listener, LISTEN_BACKLOG) < 0) {
        int error = -errno;
        close(listener);
        return error;
    }
    *out = listener;
    return 0;
}

static unsigned int
bound_port(int listener)
{
    struct sockaddr_storage address;
    socklen_t length = sizeof(address);

    if (getsockname(listener, (struct sockaddr *)&address, &length) < 0)
        return 0;
    if (address.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&address)->sin6_port);
    return ntohs(((struct sockaddr_in *)&address)->sin_port);
}

static struct MHD_Daemon *
start_daemon(struct http_server *server, int family, int listener)
{
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                         MHD_USE_TURBO | MHD_USE_ITC | MHD_USE_ERROR_LOG |
                         MHD_ALLOW_SUSPEND_RESUME;
    const struct http_server_options *options = &server->options;

    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;

    return MHD_start_daemon(
        flags, 0, NULL, NULL, handle_access, server,
        MHD_OPTION_EXTERNAL_LOGGER, log_from_library, server,
        MHD_OPTION_LISTEN_SOCKET, listener, MHD_OPTION_THREAD_POOL_SIZE,
        options->threads > 1 ? options->threads : 0,
        MHD_OPTION_CONNECTION_LIMIT, options->max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, options->connection_timeout,
        MHD_OPTION_NOTIFY_COMPLETED, handle_completed, server,
        MHD_OPTION_NOTIFY_CONNECTION, handle_connection, server,
        MHD_OPTION_END);
}

int
http_server_start(const struct http_server_options *options,
                  struct http_server **out)
{
    struct http_server *server;
    struct addrinfo *address = NULL;
    unsigned char prefix[4];
    int listener = -1;
    int error;

    server = calloc(1, sizeof(*server));
    if (server == NULL)
        return -ENOMEM;
    server->options = *options;

    randombytes_buf(prefix, sizeof(prefix));
    sodium_bin2hex(server->request_id_prefix,
                   sizeof(server->request_id_prefix), prefix, sizeof(prefix));

    error = resolve_listen(options->listen, &address);
    if (error == 0)
        error = bind_listener(address, &listener);
    if (error < 0)
        goto fail;

    server->port = bound_port(listener);
    if (options->on_bound != NULL)
        options->on_bound(server->port, options->on_bound_argument);

    error = connection_deadlines_new(options->connection_timeout,
                                     &server->deadlines);
    if (error < 0)
        goto fail;
    server->daemon = start_daemon(server, address->ai_family, listener);
    if (server->daemon == NULL) {
        error = -EIO;
        goto fail;
    }

    freeaddrinfo(address);
    *out = server;
    return 0;

fail:
    connection_deadlines_free(server->deadlines);
    if (listener >= 0)
        close(listener);
    if (address != NULL)
        freeaddrinfo(address);
    free(server);
    return error;
}

unsigned int
http_server_port(const struct http_server *server)
{
    return server->port;
}

static void
pause_briefly(void)
{
    struct timespec pause = {0, 10000000};

    nanosleep(&pause, NULL);
}

void
http_server_stop(struct http_server *server, unsigned int grace)
{
    int64_t deadline = monotonic_ns() + (int64_t)grace * 1000000000;
    MHD_socket listener;

    /* Stop accepting first, then give requests already inside the
     * handler their time; idle keep-alive connections do not count. */
    listener = MHD_quiesce_daemon(server->daemon);
    if (listener != MHD_INVALID_SOCKET)
        close(listener);

    while (atomic_load(&server->requests_in_flight) > 0 &&
           monotonic_ns() < deadline)
        pause_briefly();

    /* A deferred request's connection must outlive its resume, which
     * comes from a store call of bounded duration: wait for it even past
     * the grace, up to a hard limit. */
    deadline = monotonic_ns() + (int64_t)DEFERRED_WAIT_LIMIT * 1000000000;
    while (atomic_load(&server->requests_deferred) > 0 &&
           monotonic_ns() < deadline)
        pause_briefly();

    MHD_stop_daemon(server->daemon);
    connection_deadlines_free(server->deadlines);
    free(server);
}
