/*
 * Unit tests of the work pool: every submitted item runs exactly once,
 * from several submitting threads, and stopping runs what is queued.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "util/work_pool.h"

#define ITEMS_PER_THREAD 2000
#define SUBMITTERS 4

struct counted_item {
    struct work_item item;
    atomic_int *runs;
    atomic_int times_run;
};

static void
count_run(struct work_item *item)
{
    struct counted_item *counted = (struct counted_item *)item;

    atomic_fetch_add(&counted->times_run, 1);
    atomic_fetch_add(counted->runs, 1);
}

struct submitter {
    struct work_pool *pool;
    struct counted_item *items;
};

static void *
submit_all(void *argument)
{
    struct submitter *submitter = argument;

    for (int i = 0; i < ITEMS_PER_THREAD; i++)
        work_pool_submit(submitter->pool, &submitter->items[i].item);
    return NULL;
}

static void
runs_every_item_once(void **state)
{
    static struct counted_item items[SUBMITTERS][ITEMS_PER_THREAD];
    struct submitter submitters[SUBMITTERS];
    pthread_t threads[SUBMITTERS];
    struct work_pool *pool;
    atomic_int runs = 0;

    (void)state;
    assert_int_equal(work_pool_start(8, &pool), 0);
    for (int t = 0; t < SUBMITTERS; t++) {
        for (int i = 0; i < ITEMS_PER_THREAD; i++) {
            items[t][i].item.run = count_run;
            items[t][i].runs = &runs;
            atomic_store(&items[t][i].times_run, 0);
        }
        submitters[t] = (struct submitter){pool, items[t]};
        assert_int_equal(pthread_create(&threads[t], NULL, submit_all,
                                        &submitters[t]),
                         0);
    }
    for (int t = 0; t < SUBMITTERS; t++)
        pthread_join(threads[t], NULL);

    /* Stopping drains the queue before the threads leave. */
    work_pool_stop(pool);
    assert_int_equal(atomic_load(&runs), SUBMITTERS * ITEMS_PER_THREAD);
    for (int t = 0; t < SUBMITTERS; t++)
        for (int i = 0; i < ITEMS_PER_THREAD; i++)
            assert_int_equal(atomic_load(&items[t][i].times_run), 1);
}

static void
is_off_with_no_threads(void **state)
{
    struct work_pool *pool = (struct work_pool *)1;

    (void)state;
    assert_int_equal(work_pool_start(0, &pool), 0);
    assert_null(pool);
    work_pool_stop(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(runs_every_item_once),
        cmocka_unit_test(is_off_with_no_threads),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
