/*
 * The server's keys, loaded from the store at start-up: the secret hash
 * key, the refresh token key, and the signing keys (the newest one signs;
 * retired ones stay published until their last token expires). Created on
 * first start, sealed with the master key. A keyring is immutable once
 * loaded: a reload builds a new one. Called by tokend.c and tokenctl.
 */
#ifndef TOKEND_TOKEN_KEYRING_H
#define TOKEND_TOKEN_KEYRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "token/master_key.h"
#include "token/signing_key.h"

struct keyring;

/*
 * Loads every key. When the store has no server secrets or no signing key
 * yet, creates them (a key of the given algorithm), so the first start of
 * any instance sets the store up. Keys retired before now - keep_retired
 * seconds are not loaded (their tokens have expired). -EBADMSG: the master
 * key does not open the stored keys; -EINVAL: a stored key of an algorithm
 * this build does not know, or a stored value that is not a key; or the
 * store's error. *out is the caller's.
 */
int keyring_load(struct store *store,
                 const unsigned char master_key[MASTER_KEY_SIZE],
                 enum signing_algorithm algorithm, int64_t now,
                 int64_t keep_retired, struct keyring **out);

/* Retires every signing key and adds a new one of the given algorithm,
 * which signs from the next keyring_load on. */
int keyring_rotate(struct store *store,
                   const unsigned char master_key[MASTER_KEY_SIZE],
                   enum signing_algorithm algorithm, int64_t now);

/* Borrowed from the keyring. */
const unsigned char *keyring_secret_hash_key(const struct keyring *keyring);
const unsigned char *keyring_refresh_token_key(const struct keyring *keyring);
const struct signing_key *keyring_signing_key(const struct keyring *keyring);
/* NULL when no loaded key has that ID. */
const struct signing_key *keyring_find(const struct keyring *keyring,
                                       const char *key_id);

/* Writes the JWKS document {"keys":[...]}; returns its length or -ENOSPC. */
int keyring_format_jwks(const struct keyring *keyring, char *out,
                        size_t size);

void keyring_free(struct keyring *keyring);

#endif
