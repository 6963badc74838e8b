/*
 * A pool of threads that run work which waits, so that the HTTP threads
 * (one per core) never do: a refresh waits for its rotation to be
 * committed, and many waiting together share one commit. Items are the
 * caller's memory (embed a work_item), so submitting never allocates.
 */
#ifndef TOKEND_UTIL_WORK_POOL_H
#define TOKEND_UTIL_WORK_POOL_H

struct work_item;

typedef void (*work_function)(struct work_item *item);

struct work_item {
    struct work_item *next; /* the pool's */
    work_function run;
};

struct work_pool;

/* Starts threads threads. *out is the caller's; NULL when threads is 0. */
int work_pool_start(unsigned int threads, struct work_pool **out);

/* Queues item; one of the threads calls item->run(item) soon. The item
 * must stay valid until run is called; run may free it. */
void work_pool_submit(struct work_pool *pool, struct work_item *item);

/* Runs what is queued, then stops the threads and frees the pool. */
void work_pool_stop(struct work_pool *pool);

#endif
