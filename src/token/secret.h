/*
 * Client IDs, client secrets and the keyed hash under which a secret is
 * stored. Secrets are 256 random bits from the OS, so a fast keyed hash
 * (HMAC-SHA256 with a server key) is enough: there is no password to
 * guess, and a slow hash would only slow down every token request.
 * Called by tokenctl (create, rotate-secret) and by client authentication.
 */
#ifndef TOKEND_TOKEN_SECRET_H
#define TOKEND_TOKEN_SECRET_H

#include <stdbool.h>
#include <stddef.h>

#define SECRET_KEY_SIZE 32
#define SECRET_HASH_SIZE 32
/* Hex characters: a client ID carries 128 random bits, a secret 256. */
#define CLIENT_ID_LENGTH 32
#define CLIENT_SECRET_LENGTH 64

/* Fills out with CLIENT_ID_LENGTH lower-case hex characters and a NUL. */
void secret_generate_client_id(char out[CLIENT_ID_LENGTH + 1]);

/* Fills out with CLIENT_SECRET_LENGTH hex characters and a NUL. */
void secret_generate_client_secret(char out[CLIENT_SECRET_LENGTH + 1]);

/* out = HMAC-SHA256(key, secret). */
void secret_hash(const unsigned char key[SECRET_KEY_SIZE], const char *secret,
                 size_t length, unsigned char out[SECRET_HASH_SIZE]);

/* Compares two hashes in constant time. */
bool secret_hash_equal(const unsigned char a[SECRET_HASH_SIZE],
                       const unsigned char b[SECRET_HASH_SIZE]);

#endif
