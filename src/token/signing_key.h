/*
 * One signing key: ES256 (P-256 through OpenSSL) or EdDSA (Ed25519 through
 * libsodium). The key is parsed once; signing and verifying keep
 * per-thread contexts and take no lock. Called by jwt.c and keyring.c.
 */
#ifndef TOKEND_TOKEN_SIGNING_KEY_H
#define TOKEND_TOKEN_SIGNING_KEY_H

#include <stddef.h>

#define SIGNING_KEY_ID_SIZE 64
/* A JWS signature: r||s for ES256, the Ed25519 signature for EdDSA. */
#define SIGNATURE_SIZE 64
/* Room for the longest JWK signing_key_format_jwk writes, and a NUL. */
#define SIGNING_KEY_JWK_SIZE 320

enum signing_algorithm {
    SIGNING_ES256,
    SIGNING_EDDSA,
};

struct signing_key;

/* "ES256" or "EdDSA" (as in a JWS header). -EINVAL otherwise. */
int signing_algorithm_parse(const char *name, enum signing_algorithm *out);
const char *signing_algorithm_name(enum signing_algorithm algorithm);

/* A new random key with a new random key ID. *out is the caller's. */
int signing_key_generate(enum signing_algorithm algorithm,
                         struct signing_key **out);

/* Writes the private key's bytes (for sealing into the store; at most 160
 * bytes); -ENOSPC when size is too small. Wipe them after use. */
int signing_key_export(const struct signing_key *key, unsigned char *out,
                       size_t size, size_t *length);

/* Rebuilds a key from signing_key_export's bytes: for ES256 the DER SEC1
 * ECPrivateKey of a P-256 key (RFC 5915), for EdDSA the 32-byte Ed25519
 * seed. key_id is 1 to 63 URL-safe characters (A-Z a-z 0-9 - . _ ~).
 * -EINVAL: not such a key, or not such an ID. */
int signing_key_import(enum signing_algorithm algorithm, const char *key_id,
                       const unsigned char *private_key, size_t length,
                       struct signing_key **out);

/* Borrowed from the key. */
const char *signing_key_id(const struct signing_key *key);
enum signing_algorithm signing_key_algorithm(const struct signing_key *key);

/* Writes the public key as a JWK object ({"kty":...,"kid":...,"use":"sig",
 * "alg":...}); returns its length, or -ENOSPC. */
int signing_key_format_jwk(const struct signing_key *key, char *out,
                           size_t size);

/* Signs data; signature receives SIGNATURE_SIZE bytes. -ENOMEM or -EIO
 * when OpenSSL fails. */
int signing_key_sign(const struct signing_key *key, const void *data,
                     size_t length, unsigned char signature[SIGNATURE_SIZE]);

/* 0 when signature is valid for data, -EBADMSG otherwise (-ENOMEM when a
 * context cannot be made). */
int signing_key_verify(const struct signing_key *key, const void *data,
                       size_t length, const unsigned char *signature,
                       size_t signature_length);

void signing_key_free(struct signing_key *key);

#endif
