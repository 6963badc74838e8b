/*
 * Snapshots of the store and the thread that keeps them fresh. A reload
 * builds a whole new snapshot outside the lock and swaps the pointer under
 * the write lock, so readers never see half a reload and wait at most for
 * a pointer swap.
 */
#include "cache/view.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "log/log.h"
#include "util/string_table.h"

struct revoked_token {
    char token_id[STORE_TOKEN_ID_SIZE];
    int64_t expires_at;
};

struct view_snapshot {
    struct string_table *clients; /* values point into client_array */
    struct view_client *client_array;
    char *client_strings; /* every string of client_array */
    size_t client_strings_size;
    size_t client_count;
    struct string_table *revocations;
    struct revoked_token *revocation_array;
    size_t revocation_count;
    struct keyring *keyring; /* owned */
    int64_t change_counter;
};

struct view {
    struct view_options options;
    unsigned char master_key[MASTER_KEY_SIZE];
    pthread_rwlock_t lock;
    struct view_snapshot *current;

    pthread_t thread;
    pthread_mutex_t wake_lock;
    pthread_cond_t wake;
    bool stopping;
    bool refresh_requested;
    /* Forced reloads asked for, and the last one finished: a waiter knows
     * its reload is done when finished reaches the number it was given. */
    uint64_t refresh_asked;
    uint64_t refresh_finished;
    pthread_cond_t refreshed;
    bool store_failing;
};

/* A growable array filled by the store's list callbacks. */
struct collector {
    void *items;
    size_t count;
    size_t capacity;
    size_t item_size;
};

/* Appends count items, growing the array by doubling. */
static int
collect_many(struct collector *collector, const void *items, size_t count)
{
    if (collector->count + count > collector->capacity) {
        size_t capacity = collector->capacity ? collector->capacity : 64;
        void *grown;

        while (capacity < collector->count + count)
            capacity *= 2;
        grown = realloc(collector->items, capacity * collector->item_size);
        if (grown == NULL)
            return -ENOMEM;
        collector->items = grown;
        collector->capacity = capacity;
    }
    memcpy((char *)collector->items + collector->count * collector->item_size,
           items, count * collector->item_size);
    collector->count += count;
    return 0;
}

static int
collect(struct collector *collector, const void *item)
{
    return collect_many(collector, item, 1);
}

/* Where each string of a client starts in the arena, kept apart from the
 * pointers until the arena has stopped moving. */
struct client_offsets {
    size_t id;
    size_t name;
    size_t scope;
    size_t subject;
    size_t permissions;
};

struct client_loader {
    struct collector clients;
    struct collector offsets;
    struct collector strings; /* item_size 1: the arena */
};

static int
append_string(struct collector *strings, const char *text, size_t *offset)
{
    *offset = strings->count;
    return collect_many(strings, text, strlen(text) + 1);
}

static int
collect_client(const struct store_client *client, void *argument)
{
    struct client_loader *loader = argument;
    struct client_offsets offsets;
    struct view_client compact = {0};

    if (append_string(&loader->strings, client->id, &offsets.id) < 0 ||
        append_string(&loader->strings, client->name, &offsets.name) < 0 ||
        append_string(&loader->strings, client->scope, &offsets.scope) < 0 ||
        append_string(&loader->strings, client->subject,
                      &offsets.subject) < 0 ||
        append_string(&loader->strings, client->permissions,
                      &offsets.permissions) < 0)
        return -ENOMEM;

    memcpy(compact.secret_hash, client->secret_hash,
           sizeof(compact.secret_hash));
    compact.disabled = client->disabled;
    compact.tokens_not_before = client->tokens_not_before;
    if (collect(&loader->clients, &compact) < 0 ||
        collect(&loader->offsets, &offsets) < 0)
        return -ENOMEM;
    return 0;
}

static int
collect_revocation(const char *token_id, int64_t expires_at, void *argument)
{
    struct revoked_token token;

    memset(&token, 0, sizeof(token));
    snprintf(token.token_id, sizeof(token.token_id), "%s", token_id);
    token.expires_at = expires_at;
    return collect(argument, &token);
}

static void
snapshot_free(struct view_snapshot *snapshot)
{
    if (snapshot == NULL)
        return;
    string_table_free(snapshot->clients);
    if (snapshot->client_array != NULL)
        sodium_memzero(snapshot->client_array,
                       snapshot->client_count * sizeof(struct view_client));
    free(snapshot->client_array);
    free(snapshot->client_strings);
    string_table_free(snapshot->revocations);
    free(snapshot->revocation_array);
    keyring_free(snapshot->keyring);
    free(snapshot);
}

/* Turns the arena offsets into pointers, now that the arena is final. */
static void
point_into_arena(struct view_snapshot *snapshot,
                 const struct client_offsets *offsets)
{
    const char *arena = snapshot->client_strings;

    for (size_t i = 0; i < snapshot->client_count; i++) {
        struct view_client *client = &snapshot->client_array[i];

        client->id = arena + offsets[i].id;
        client->name = arena + offsets[i].name;
        client->scope = arena + offsets[i].scope;
        client->subject = arena + offsets[i].subject;
        client->permissions = arena + offsets[i].permissions;
    }
}

static int
load_clients(struct view *view, struct view_snapshot *snapshot)
{
    struct client_loader loader = {
        .clients = {.item_size = sizeof(struct view_client)},
        .offsets = {.item_size = sizeof(struct client_offsets)},
        .strings = {.item_size = 1},
    };
    int error;

    error = store_client_list(view->options.store, collect_client, &loader);
    snapshot->client_array = loader.clients.items;
    snapshot->client_count = loader.clients.count;
    snapshot->client_strings = loader.strings.items;
    snapshot->client_strings_size = loader.strings.count;
    if (error == 0)
        point_into_arena(snapshot, loader.offsets.items);
    free(loader.offsets.items);
    if (error < 0)
        return error;

    snapshot->clients = string_table_new(loader.clients.count);
    if (snapshot->clients == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < loader.clients.count; i++) {
        struct view_client *client = &snapshot->client_array[i];

        if (string_table_put(snapshot->clients, client->id, client) < 0)
            return -ENOMEM;
    }
    return 0;
}

static int
load_revocations(struct view *view, struct view_snapshot *snapshot,
                 int64_t now)
{
    struct collector tokens = {.item_size = sizeof(struct revoked_token)};
    int error;

    error = store_revocation_list(view->options.store, now,
                                  collect_revocation, &tokens);
    snapshot->revocation_array = tokens.items;
    snapshot->revocation_count = tokens.count;
    if (error < 0)
        return error;

    snapshot->revocations = string_table_new(tokens.count);
    if (snapshot->revocations == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < tokens.count; i++) {
        struct revoked_token *token = &snapshot->revocation_array[i];

        if (string_table_put(snapshot->revocations, token->token_id,
                             token) < 0)
            return -ENOMEM;
    }
    return 0;
}

/* Reads the counter before the rows: a change that lands while we read
 * moves the counter past what we record, so the next poll reloads. */
static int
snapshot_load(struct view *view, struct view_snapshot **out)
{
    struct view_snapshot *snapshot = calloc(1, sizeof(*snapshot));
    int64_t now = (int64_t)time(NULL);
    int error;

    if (snapshot == NULL)
        return -ENOMEM;

    error = store_change_counter(view->options.store,
                                 &snapshot->change_counter);
    if (error == 0)
        error = load_clients(view, snapshot);
    if (error == 0)
        error = load_revocations(view, snapshot, now);
    if (error == 0)
        error = keyring_load(view->options.store, view->master_key,
                             view->options.algorithm, now,
                             view->options.keep_retired_keys,
                             &snapshot->keyring);
    if (error < 0) {
        snapshot_free(snapshot);
        return error;
    }
    *out = snapshot;
    return 0;
}

static void
swap_in(struct view *view, struct view_snapshot *snapshot)
{
    struct view_snapshot *old;

    pthread_rwlock_wrlock(&view->lock);
    old = view->current;
    view->current = snapshot;
    pthread_rwlock_unlock(&view->lock);

    snapshot_free(old);
}

static void
note_store_state(struct view *view, int error)
{
    if (error < 0 && !view->store_failing)
        log_write(LOG_WARN, "store unreachable, serving from memory",
                  "error=%d", -error);
    if (error == 0 && view->store_failing)
        log_write(LOG_NOTICE, "store reachable again", "%s", "");
    view->store_failing = error < 0;
}

static void
refresh(struct view *view, bool forced)
{
    struct view_snapshot *snapshot;
    int64_t counter;
    int error;

    error = store_change_counter(view->options.store, &counter);
    note_store_state(view, error);
    if (error < 0)
        return;
    if (!forced && counter == view->current->change_counter)
        return;

    error = snapshot_load(view, &snapshot);
    note_store_state(view, error);
    if (error < 0)
        return;
    swap_in(view, snapshot);
    log_write(LOG_DEBUG, "view reloaded",
              "clients=%zu revocations=%zu change_counter=%lld",
              snapshot->client_count, snapshot->revocation_count,
              (long long)snapshot->change_counter);
}

static void *
run_refresh_thread(void *argument)
{
    struct view *view = argument;

    pthread_mutex_lock(&view->wake_lock);
    while (!view->stopping) {
        struct timespec deadline;
        uint64_t asked;
        bool forced;

        if (!view->refresh_requested) {
            clock_gettime(CLOCK_REALTIME, &deadline);
            deadline.tv_nsec +=
                (long)view->options.refresh_interval_ms * 1000000;
            deadline.tv_sec += deadline.tv_nsec / 1000000000;
            deadline.tv_nsec %= 1000000000;
            pthread_cond_timedwait(&view->wake, &view->wake_lock, &deadline);
        }
        if (view->stopping)
            break;
        forced = view->refresh_requested;
        view->refresh_requested = false;
        asked = view->refresh_asked;

        pthread_mutex_unlock(&view->wake_lock);
        refresh(view, forced);
        pthread_mutex_lock(&view->wake_lock);

        if (forced) {
            view->refresh_finished = asked;
            pthread_cond_broadcast(&view->refreshed);
        }
    }
    pthread_mutex_unlock(&view->wake_lock);
    return NULL;
}

/* glibc's default read lock lets a steady stream of readers starve the
 * writer; under load a reload would then never land. */
static void
init_lock(pthread_rwlock_t *lock)
{
    pthread_rwlockattr_t attributes;

    pthread_rwlockattr_init(&attributes);
    pthread_rwlockattr_setkind_np(
        &attributes, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(lock, &attributes);
    pthread_rwlockattr_destroy(&attributes);
}

static void
log_loaded(const struct view_snapshot *snapshot,
           const struct timespec *started)
{
    struct timespec now;
    long long elapsed_us;

    clock_gettime(CLOCK_MONOTONIC, &now);
    elapsed_us = (now.tv_sec - started->tv_sec) * 1000000LL +
                 (now.tv_nsec - started->tv_nsec) / 1000;
    log_write(LOG_NOTICE, "store loaded",
              "clients=%zu revocations=%zu duration_us=%lld",
              snapshot->client_count, snapshot->revocation_count,
              elapsed_us);
}

int
view_open(const struct view_options *options, struct view **out)
{
    struct view *view = calloc(1, sizeof(*view));
    struct timespec started;
    int error;

    if (view == NULL)
        return -ENOMEM;
    view->options = *options;
    memcpy(view->master_key, options->master_key, MASTER_KEY_SIZE);
    view->options.master_key = view->master_key;
    init_lock(&view->lock);
    pthread_mutex_init(&view->wake_lock, NULL);
    pthread_cond_init(&view->wake, NULL);
    pthread_cond_init(&view->refreshed, NULL);

    clock_gettime(CLOCK_MONOTONIC, &started);
    error = snapshot_load(view, &view->current);
    if (error < 0)
        goto fail;
    log_loaded(view->current, &started);

    error = -pthread_create(&view->thread, NULL, run_refresh_thread, view);
    if (error < 0)
        goto fail;

    *out = view;
    return 0;

fail:
    snapshot_free(view->current);
    sodium_memzero(view->master_key, sizeof(view->master_key));
    free(view);
    return error;
}

void
view_close(struct view *view)
{
    if (view == NULL)
        return;

    pthread_mutex_lock(&view->wake_lock);
    view->stopping = true;
    pthread_cond_signal(&view->wake);
    pthread_mutex_unlock(&view->wake_lock);
    pthread_join(view->thread, NULL);

    snapshot_free(view->current);
    pthread_rwlock_destroy(&view->lock);
    pthread_mutex_destroy(&view->wake_lock);
    pthread_cond_destroy(&view->wake);
    pthread_cond_destroy(&view->refreshed);
    sodium_memzero(view->master_key, sizeof(view->master_key));
    free(view);
}

const struct view_snapshot *
view_acquire(struct view *view)
{
    pthread_rwlock_rdlock(&view->lock);
    return view->current;
}

void
view_release(struct view *view)
{
    pthread_rwlock_unlock(&view->lock);
}

const struct view_client *
view_client(const struct view_snapshot *snapshot, const char *client_id)
{
    return string_table_get(snapshot->clients, client_id);
}

bool
view_is_revoked(const struct view_snapshot *snapshot, const char *token_id)
{
    return string_table_get(snapshot->revocations, token_id) != NULL;
}

const struct keyring *
view_keyring(const struct view_snapshot *snapshot)
{
    return snapshot->keyring;
}

void
view_request_refresh(struct view *view)
{
    pthread_mutex_lock(&view->wake_lock);
    view->refresh_requested = true;
    view->refresh_asked++;
    pthread_cond_signal(&view->wake);
    pthread_mutex_unlock(&view->wake_lock);
}

/* The reload that answers this call starts after it, so it sees every
 * write the caller made before calling. */
void
view_refresh_and_wait(struct view *view, unsigned int timeout_ms)
{
    struct timespec deadline;
    uint64_t mine;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
    }

    pthread_mutex_lock(&view->wake_lock);
    view->refresh_requested = true;
    mine = ++view->refresh_asked;
    pthread_cond_signal(&view->wake);
    while (view->refresh_finished < mine && !view->stopping) {
        if (pthread_cond_timedwait(&view->refreshed, &view->wake_lock,
                                   &deadline) != 0)
            break;
    }
    pthread_mutex_unlock(&view->wake_lock);
}

void
view_counts(struct view *view, size_t *clients, size_t *revocations)
{
    pthread_rwlock_rdlock(&view->lock);
    *clients = view->current->client_count;
    *revocations = view->current->revocation_count;
    pthread_rwlock_unlock(&view->lock);
}
