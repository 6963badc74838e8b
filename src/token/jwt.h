/*
 * Access tokens as JWTs per RFC 9068: a header with typ "at+jwt", alg and
 * kid, and the claims iss, sub, aud, exp, iat, jti, client_id, scope.
 * Signing builds the token with snprintf into the caller's buffer; decoding
 * parses with jansson. Called by the token endpoint and bearer checks.
 */
#ifndef TOKEND_TOKEN_JWT_H
#define TOKEND_TOKEN_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "token/signing_key.h"

#define JWT_TOKEN_ID_SIZE 23 /* 16 random bytes in base64url, and a NUL */
#define JWT_TEXT_SIZE 256
#define JWT_SCOPE_SIZE 256
/* The longest access token tokend accepts or makes. */
#define JWT_MAX_LENGTH 4096

struct access_token_claims {
    char issuer[JWT_TEXT_SIZE];
    char subject[JWT_TEXT_SIZE];
    char audience[JWT_TEXT_SIZE];
    char client_id[JWT_TEXT_SIZE];
    char scope[JWT_SCOPE_SIZE];
    char token_id[JWT_TOKEN_ID_SIZE];
    int64_t issued_at;
    int64_t expires_at;
};

/* A decoded token whose signature is not checked yet. The pointers borrow
 * from the token text given to jwt_decode. */
struct jwt_decoded {
    struct access_token_claims claims;
    char key_id[SIGNING_KEY_ID_SIZE];
    enum signing_algorithm algorithm;
    const char *signing_input; /* header.payload */
    size_t signing_input_length;
    unsigned char signature[SIGNATURE_SIZE];
    size_t signature_length;
};

/* Fills out with a new random token ID (jti). */
void jwt_new_token_id(char out[JWT_TOKEN_ID_SIZE]);

/* Signs claims with key into out; returns the token's length, -ENOSPC when
 * out is too small, -EINVAL when a claim fills its field without a NUL, is
 * not UTF-8, or makes the token longer than JWT_MAX_LENGTH. */
int jwt_sign(const struct signing_key *key,
             const struct access_token_claims *claims, char *out,
             size_t size);

/* Splits and parses a compact JWS: three base64url parts, a header with
 * typ "at+jwt" (or "application/at+jwt"), a known alg and a kid, and every
 * claim above with the right JSON type. -EINVAL on anything else. */
int jwt_decode(const char *token, size_t length, struct jwt_decoded *out);

/* 0 when the decoded token's signature is valid under key (whose
 * algorithm must match the header's), -EBADMSG otherwise. */
int jwt_verify_signature(const struct jwt_decoded *decoded,
                         const struct signing_key *key);

#endif
