/*
 * Deadlines for slow clients. libmicrohttpd's connection timeout counts
 * idle time only, so a client that sends one header byte a second
 * (slowloris) would hold its connection for ever. Here every connection
 * must deliver each request whole, headers and body, within the timeout of
 * opening or of its previous answer; a watchdog thread shuts down the
 * socket of one that does not. Called by server.c from libmicrohttpd's
 * connection and request callbacks.
 */
#ifndef TOKEND_HTTP_CONNECTION_DEADLINE_H
#define TOKEND_HTTP_CONNECTION_DEADLINE_H

struct connection_deadlines;
struct connection_watch;

/* Starts the watchdog for connections that get timeout seconds per
 * request. *out is the caller's. -ENOMEM, or the pthread error. */
int connection_deadlines_new(unsigned int timeout,
                             struct connection_deadlines **out);

/* Stops the watchdog and frees it; every watch must be closed first. */
void connection_deadlines_free(struct connection_deadlines *deadlines);

/* Starts watching the connection on socket fd from now. remote (copied)
 * names the peer in the log line. NULL when out of memory: that connection
 * then has only libmicrohttpd's idle timeout. The watch is the caller's
 * until connection_deadlines_close. */
struct connection_watch *
connection_deadlines_open(struct connection_deadlines *deadlines, int fd,
                          const char *remote);

/* Stops watching, before the socket is closed (the watchdog never touches
 * a socket after this returns). watch may be NULL. */
void connection_deadlines_close(struct connection_deadlines *deadlines,
                                struct connection_watch *watch);

/* The request is in and being answered: no deadline until it is done. */
void connection_watch_answering(struct connection_watch *watch);

/* The answer is done: the next request is due within the timeout. */
void connection_watch_idle(struct connection_watch *watch);

#endif
