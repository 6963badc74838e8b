/*
 * The work pool: one queue under one mutex. The queue is touched once per
 * refresh, next to a durable commit that costs a thousand times more, so
 * a plain mutex is the right tool.
 */
#include "util/work_pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

struct work_pool {
    pthread_mutex_t lock;
    pthread_cond_t available;
    struct work_item *head;
    struct work_item **tail;
    bool stopping;
    unsigned int thread_count;
    pthread_t threads[];
};

static struct work_item *
take(struct work_pool *pool)
{
    struct work_item *item;

    pthread_mutex_lock(&pool->lock);
    while (pool->head == NULL && !pool->stopping)
        pthread_cond_wait(&pool->available, &pool->lock);

    item = pool->head;
    if (item != NULL) {
        pool->head = item->next;
        if (pool->head == NULL)
            pool->tail = &pool->head;
    }
    pthread_mutex_unlock(&pool->lock);
    return item;
}

static void *
run_worker(void *argument)
{
    struct work_pool *pool = argument;
    struct work_item *item;

    /* Stopping still drains the queue: every item queued is run. */
    while ((item = take(pool)) != NULL)
        item->run(item);
    return NULL;
}

int
work_pool_start(unsigned int threads, struct work_pool **out)
{
    struct work_pool *pool;

    *out = NULL;
    if (threads == 0)
        return 0;

    pool = calloc(1, sizeof(*pool) + threads * sizeof(pthread_t));
    if (pool == NULL)
        return -ENOMEM;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->available, NULL);
    pool->tail = &pool->head;

    for (; pool->thread_count < threads; pool->thread_count++) {
        if (pthread_create(&pool->threads[pool->thread_count], NULL,
                           run_worker, pool) != 0) {
            work_pool_stop(pool);
            return -EAGAIN;
        }
    }
    *out = pool;
    return 0;
}

void
work_pool_submit(struct work_pool *pool, struct work_item *item)
{
    item->next = NULL;

    pthread_mutex_lock(&pool->lock);
    *pool->tail = item;
    pool->tail = &item->next;
    pthread_cond_signal(&pool->available);
    pthread_mutex_unlock(&pool->lock);
}

void
work_pool_stop(struct work_pool *pool)
{
    if (pool == NULL)
        return;

    pthread_mutex_lock(&pool->lock);
    pool->stopping = true;
    pthread_cond_broadcast(&pool->available);
    pthread_mutex_unlock(&pool->lock);

    for (unsigned int i = 0; i < pool->thread_count; i++)
        pthread_join(pool->threads[i], NULL);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->available);
    free(pool);
}
