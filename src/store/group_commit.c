/*
 * The leader-based group commit of group_commit.h. A thread whose request
 * is queued while no batch runs becomes the leader: it takes the whole
 * queue, runs it without the lock, then wakes everyone. Requests that
 * arrive meanwhile wait and form the next batch, so batches grow by
 * themselves as load rises and cost no added latency when it is low.
 */
#include "store/group_commit.h"

#include <errno.h>
#include <stddef.h>

int
group_commit_init(struct group_commit *group, group_commit_run run,
                  void *argument)
{
    int error;

    error = pthread_mutex_init(&group->lock, NULL);
    if (error != 0)
        return -error;

    error = pthread_cond_init(&group->finished, NULL);
    if (error != 0) {
        pthread_mutex_destroy(&group->lock);
        return -error;
    }

    group->head = NULL;
    group->tail = &group->head;
    group->leading = false;
    group->run = run;
    group->argument = argument;
    return 0;
}

void
group_commit_destroy(struct group_commit *group)
{
    pthread_cond_destroy(&group->finished);
    pthread_mutex_destroy(&group->lock);
}

/* Called with the lock held, returns with it held. A request is marked
 * done only under the lock, and its next is read before, because its
 * owner may return and release it as soon as it sees done. */
static void
lead(struct group_commit *group)
{
    struct group_commit_request *batch = group->head;
    struct group_commit_request *next;

    group->head = NULL;
    group->tail = &group->head;
    group->leading = true;
    pthread_mutex_unlock(&group->lock);

    group->run(batch, group->argument);

    pthread_mutex_lock(&group->lock);
    for (struct group_commit_request *request = batch; request != NULL;
         request = next) {
        next = request->next;
        request->done = true;
    }
    group->leading = false;
    pthread_cond_broadcast(&group->finished);
}

void
group_commit_submit(struct group_commit *group,
                    struct group_commit_request *request)
{
    request->next = NULL;
    request->done = false;

    pthread_mutex_lock(&group->lock);
    *group->tail = request;
    group->tail = &request->next;

    while (!request->done) {
        if (group->leading)
            pthread_cond_wait(&group->finished, &group->lock);
        else
            lead(group);
    }
    pthread_mutex_unlock(&group->lock);
}
