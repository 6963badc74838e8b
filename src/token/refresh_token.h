/*
 * Self-contained refresh tokens: the family, generation, client, scope and
 * lifetime, authenticated with HMAC-SHA256 under a server key. Only the
 * rotation state of each family is stored (store_family_rotate), so issuing
 * writes nothing and reading the store gives nobody a usable token.
 * Called by the token endpoint, revocation and introspection.
 */
#ifndef TOKEND_TOKEN_REFRESH_TOKEN_H
#define TOKEND_TOKEN_REFRESH_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#define REFRESH_TOKEN_KEY_SIZE 32
#define REFRESH_FAMILY_ID_SIZE 16
#define REFRESH_CLIENT_ID_SIZE 65
#define REFRESH_SCOPE_SIZE 256
/* The longest refresh token tokend makes or accepts. */
#define REFRESH_TOKEN_MAX_LENGTH 512

struct refresh_token {
    unsigned char family_id[REFRESH_FAMILY_ID_SIZE];
    uint32_t generation;
    int64_t issued_at;
    int64_t expires_at;
    char client_id[REFRESH_CLIENT_ID_SIZE];
    char scope[REFRESH_SCOPE_SIZE];
};

/* Fills family_id with random bytes for a new family. */
void refresh_token_new_family(unsigned char family_id[REFRESH_FAMILY_ID_SIZE]);

/* Writes the token text (base64url, at most REFRESH_TOKEN_MAX_LENGTH
 * characters, and a NUL); returns its length. -ENOSPC: out is too small;
 * -EINVAL: a time before 1970 or from 2^40 seconds on, or a client ID or
 * scope that fills its field without a NUL. */
int refresh_token_format(const unsigned char key[REFRESH_TOKEN_KEY_SIZE],
                         const struct refresh_token *token, char *out,
                         size_t size);

/* Checks the HMAC in constant time and parses. -EINVAL: malformed, forged
 * or made under another key. Expiry is the caller's to check. */
int refresh_token_parse(const unsigned char key[REFRESH_TOKEN_KEY_SIZE],
                        const char *text, size_t length,
                        struct refresh_token *out);

#endif
