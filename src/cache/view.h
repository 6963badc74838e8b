/*
 * The in-memory view of the store that the hot paths read: every client,
 * the revoked access token IDs and the keyring. A thread polls the store's
 * change counter and, when it moves, builds a new snapshot and swaps it
 * in, so client changes and revocations made anywhere reach this process
 * within one poll interval. Readers hold a read lock only while they use a
 * snapshot. Called by tokend.c (open, close) and the endpoints (acquire).
 */
#ifndef TOKEND_CACHE_VIEW_H
#define TOKEND_CACHE_VIEW_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"
#include "token/keyring.h"
#include "token/master_key.h"

struct view;
struct view_snapshot;

/* A client as the hot paths see it: the store's row without its fixed-size
 * buffers. The strings live in the snapshot and are valid while it is
 * held. */
struct view_client {
    const char *id;
    const char *name;
    const char *scope;
    const char *subject; /* "" when the client ID is the subject */
    const char *permissions;
    unsigned char secret_hash[STORE_SECRET_HASH_SIZE];
    bool disabled;
    int64_t tokens_not_before;
};

struct view_options {
    struct store *store; /* borrowed; outlives the view */
    const unsigned char *master_key; /* copied */
    enum signing_algorithm algorithm;
    int64_t keep_retired_keys; /* seconds: the access token lifetime */
    unsigned int refresh_interval_ms;
};

/* Loads the first snapshot (creating keys on a new store) and starts the
 * polling thread. *out is the caller's, released with view_close. */
int view_open(const struct view_options *options, struct view **out);

/* Stops the thread and frees everything. */
void view_close(struct view *view);

/* The current snapshot, valid until view_release. Never NULL. */
const struct view_snapshot *view_acquire(struct view *view);
void view_release(struct view *view);

/* Borrowed from the snapshot; NULL when there is no such client. */
const struct view_client *view_client(const struct view_snapshot *snapshot,
                                      const char *client_id);

bool view_is_revoked(const struct view_snapshot *snapshot,
                     const char *token_id);

const struct keyring *view_keyring(const struct view_snapshot *snapshot);

/* Asks the thread to reload now, without waiting for the next poll (after
 * a revocation on this instance). Returns at once. */
void view_request_refresh(struct view *view);

/* Asks for a reload and waits until one that started after this call has
 * finished, or timeout_ms passed. Call it without holding a snapshot: the
 * reload needs the write lock. */
void view_refresh_and_wait(struct view *view, unsigned int timeout_ms);

/* The number of clients and revocations in the current snapshot. */
void view_counts(struct view *view, size_t *clients, size_t *revocations);

#endif
