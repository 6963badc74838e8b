/*
 * What every endpoint reads: the settings, the store, the in-memory view
 * of it and the authentication throttle. tokend.c builds it once at
 * start-up; endpoints only read it (the subsystems guard their own state).
 */
#ifndef TOKEND_OAUTH_CONTEXT_H
#define TOKEND_OAUTH_CONTEXT_H

#include "cache/view.h"
#include "config/settings.h"
#include "store/store.h"

struct throttle;
struct verified_tokens;
struct work_pool;

struct oauth_context {
    const struct settings *settings;
    struct store *store;
    struct view *view;
    struct throttle *throttle; /* NULL when throttling is off */
    struct verified_tokens *verified_tokens; /* NULL: no cache */
    struct work_pool *work_pool; /* runs refreshes; NULL: HTTP threads do */
};

#endif
