/*
 * The background deletion of expired refresh token families and expired
 * revocations, in small batches with pauses between them, so that the
 * store stays bounded under sustained issuance without ever holding the
 * write lock long enough to stall a request. Called by tokend.c.
 */
#ifndef TOKEND_CACHE_CLEANUP_H
#define TOKEND_CACHE_CLEANUP_H

#include <stdint.h>

#include "store/store.h"

struct cleanup;

/* Starts the thread: every interval seconds, batches of batch rows. */
int cleanup_start(struct store *store, int64_t interval, int64_t batch,
                  struct cleanup **out);

/* Stops the thread (at most one batch later) and frees it. */
void cleanup_stop(struct cleanup *cleanup);

#endif
