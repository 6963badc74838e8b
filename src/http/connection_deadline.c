/*
 * The watchdog of connection_deadline.h. Watches sit in one list under a
 * mutex, taken when a connection opens or closes and by the watchdog's
 * scan, never per request: a request only stores its state in atomics.
 * Holding the mutex while shutting a socket down is what makes that safe,
 * since libmicrohttpd closes a socket only after its close notification,
 * which waits for the mutex to remove the watch.
 */
#include "http/connection_deadline.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "log/log.h"

/* How often the watchdog looks: a slow connection is cut at most this
 * long after its deadline. */
#define SCAN_INTERVAL_NS 250000000
#define REMOTE_SIZE 48

struct connection_watch {
    struct connection_watch *previous, *next;
    int fd;
    bool cut; /* under the mutex */
    atomic_int_fast64_t since_ns;
    atomic_bool answering;
    char remote[REMOTE_SIZE];
};

struct connection_deadlines {
    int64_t timeout_ns;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;
    struct connection_watch *watches;
};

static int64_t
monotonic_ns(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

/* Shuts down the socket of every connection past its deadline; the
 * event loop then sees the close and releases the connection. Called with
 * the mutex held. */
static void
cut_late_connections(struct connection_deadlines *deadlines, int64_t now)
{
    for (struct connection_watch *watch = deadlines->watches; watch != NULL;
         watch = watch->next) {
        if (watch->cut || atomic_load(&watch->answering) ||
            now - atomic_load(&watch->since_ns) < deadlines->timeout_ns)
            continue;
        shutdown(watch->fd, SHUT_RDWR);
        watch->cut = true;
        log_write(LOG_INFO, "request not received in time, connection cut",
                  "remote=%s timeout=%lld", watch->remote,
                  (long long)(deadlines->timeout_ns / 1000000000));
    }
}

static void *
run_watchdog(void *argument)
{
    struct connection_deadlines *deadlines = argument;
    struct timespec next;

    pthread_mutex_lock(&deadlines->lock);
    while (!deadlines->stopping) {
        cut_late_connections(deadlines, monotonic_ns());

        clock_gettime(CLOCK_MONOTONIC, &next);
        next.tv_nsec += SCAN_INTERVAL_NS;
        if (next.tv_nsec >= 1000000000) {
            next.tv_sec++;
            next.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&deadlines->wake, &deadlines->lock, &next);
    }
    pthread_mutex_unlock(&deadlines->lock);
    return NULL;
}

int
connection_deadlines_new(unsigned int timeout,
                         struct connection_deadlines **out)
{
    struct connection_deadlines *deadlines;
    pthread_condattr_t clock;
    int error;

    deadlines = calloc(1, sizeof(*deadlines));
    if (deadlines == NULL)
        return -ENOMEM;
    deadlines->timeout_ns = (int64_t)timeout * 1000000000;
    pthread_mutex_init(&deadlines->lock, NULL);
    pthread_condattr_init(&clock);
    pthread_condattr_setclock(&clock, CLOCK_MONOTONIC);
    pthread_cond_init(&deadlines->wake, &clock);
    pthread_condattr_destroy(&clock);

    error = pthread_create(&deadlines->thread, NULL, run_watchdog, deadlines);
    if (error != 0) {
        pthread_cond_destroy(&deadlines->wake);
        pthread_mutex_destroy(&deadlines->lock);
        free(deadlines);
        return -error;
    }
    *out = deadlines;
    return 0;
}

void
connection_deadlines_free(struct connection_deadlines *deadlines)
{
    if (deadlines == NULL)
        return;
    pthread_mutex_lock(&deadlines->lock);
    deadlines->stopping = true;
    pthread_cond_signal(&deadlines->wake);
    pthread_mutex_unlock(&deadlines->lock);
    pthread_join(deadlines->thread, NULL);
    pthread_cond_destroy(&deadlines->wake);
    pthread_mutex_destroy(&deadlines->lock);
    free(deadlines);
}

struct connection_watch *
connection_deadlines_open(struct connection_deadlines *deadlines, int fd,
                          const char *remote)
{
    struct connection_watch *watch = calloc(1, sizeof(*watch));

    if (watch == NULL)
        return NULL;
    watch->fd = fd;
    atomic_init(&watch->since_ns, monotonic_ns());
    atomic_init(&watch->answering, false);
    strncpy(watch->remote, remote, sizeof(watch->remote) - 1);

    pthread_mutex_lock(&deadlines->lock);
    watch->next = deadlines->watches;
    if (watch->next != NULL)
        watch->next->previous = watch;
    deadlines->watches = watch;
    pthread_mutex_unlock(&deadlines->lock);
    return watch;
}

void
connection_deadlines_close(struct connection_deadlines *deadlines,
                           struct connection_watch *watch)
{
    if (watch == NULL)
        return;
    pthread_mutex_lock(&deadlines->lock);
    if (watch->previous != NULL)
        watch->previous->next = watch->next;
    else
        deadlines->watches = watch->next;
    if (watch->next != NULL)
        watch->next->previous = watch->previous;
    pthread_mutex_unlock(&deadlines->lock);
    free(watch);
}

void
connection_watch_answering(struct connection_watch *watch)
{
    if (watch != NULL)
        atomic_store(&watch->answering, true);
}

void
connection_watch_idle(struct connection_watch *watch)
{
    if (watch == NULL)
        return;
    atomic_store(&watch->since_ns, monotonic_ns());
    atomic_store(&watch->answering, false);
}
