/*
 * The cleanup thread. A round deletes batch after batch until a batch
 * comes back short, pausing between batches so that writers waiting for
 * the store get their turn.
 */
#include "cache/cleanup.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "log/log.h"

#define PAUSE_BETWEEN_BATCHES_NS 5000000

struct cleanup {
    struct store *store;
    int64_t interval;
    int64_t batch;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;
};

static bool
wait_or_stop(struct cleanup *cleanup, int64_t nanoseconds)
{
    struct timespec deadline;
    bool stopping;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += nanoseconds / 1000000000;
    deadline.tv_nsec += nanoseconds % 1000000000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
    }

    pthread_mutex_lock(&cleanup->lock);
    if (!cleanup->stopping)
        pthread_cond_timedwait(&cleanup->wake, &cleanup->lock, &deadline);
    stopping = cleanup->stopping;
    pthread_mutex_unlock(&cleanup->lock);
    return stopping;
}

static void
run_round(struct cleanup *cleanup)
{
    int64_t total = 0;
    int deleted;

    do {
        int error = store_cleanup(cleanup->store, (int64_t)time(NULL),
                                  (int)cleanup->batch, &deleted);
        if (error < 0)
            return;
        total += deleted;
    } while (deleted >= cleanup->batch &&
             !wait_or_stop(cleanup, PAUSE_BETWEEN_BATCHES_NS));

    if (total > 0)
        log_write(LOG_INFO, "expired rows deleted", "rows=%lld",
                  (long long)total);
}

static void *
run_cleanup_thread(void *argument)
{
    struct cleanup *cleanup = argument;

    while (!wait_or_stop(cleanup, cleanup->interval * 1000000000))
        run_round(cleanup);
    return NULL;
}

int
cleanup_start(struct store *store, int64_t interval, int64_t batch,
              struct cleanup **out)
{
    struct cleanup *cleanup = calloc(1, sizeof(*cleanup));
    int error;

    if (cleanup == NULL)
        return -ENOMEM;
    cleanup->store = store;
    cleanup->interval = interval;
    cleanup->batch = batch;
    pthread_mutex_init(&cleanup->lock, NULL);
    pthread_cond_init(&cleanup->wake, NULL);

    error = pthread_create(&cleanup->thread, NULL, run_cleanup_thread,
                           cleanup);
    if (error != 0) {
        free(cleanup);
        return -error;
    }
    *out = cleanup;
    return 0;
}

void
cleanup_stop(struct cleanup *cleanup)
{
    if (cleanup == NULL)
        return;
    pthread_mutex_lock(&cleanup->lock);
    cleanup->stopping = true;
    pthread_cond_signal(&cleanup->wake);
    pthread_mutex_unlock(&cleanup->lock);
    pthread_join(cleanup->thread, NULL);
    pthread_mutex_destroy(&cleanup->lock);
    pthread_cond_destroy(&cleanup->wake);
    free(cleanup);
}
