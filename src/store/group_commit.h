/*
 * Group commit: many threads hand in requests and one of them, the leader,
 * runs every request queued at that moment in one transaction, so a single
 * fsync makes the whole batch durable. The SQLite backend uses it for
 * refresh token rotations, the store's hot write path.
 */
#ifndef TOKEND_STORE_GROUP_COMMIT_H
#define TOKEND_STORE_GROUP_COMMIT_H

#include <pthread.h>
#include <stdbool.h>

/* Embedded first in the caller's request, which carries the arguments and
 * receives the outcome. The queue owns next and done. */
struct group_commit_request {
    struct group_commit_request *next;
    bool done;
};

/* Runs a batch: the requests linked by next, oldest first. It is called
 * with no lock of the group held and records each request's outcome in the
 * caller's structure around it. */
typedef void (*group_commit_run)(struct group_commit_request *batch,
                                 void *argument);

struct group_commit {
    pthread_mutex_t lock;
    pthread_cond_t finished;
    struct group_commit_request *head;
    struct group_commit_request **tail;
    bool leading;
    group_commit_run run;
    void *argument;
};

/* Initializes the caller's group; -ENOMEM or another pthread error. */
int group_commit_init(struct group_commit *group, group_commit_run run,
                      void *argument);
void group_commit_destroy(struct group_commit *group);

/* Queues request and returns once a batch holding it has run; the caller
 * may be the thread that ran it. request is borrowed until then. */
void group_commit_submit(struct group_commit *group,
                         struct group_commit_request *request);

#endif
