/*
 * Client IDs, client secrets and their keyed hash (secret.h). The random
 * bytes come from libsodium, which reads the OS generator; tokenctl calls
 * the generators and client authentication calls the hash on every token
 * request, so the hash is one HMAC and nothing slower.
 */
#include "token/secret.h"

#include <sodium.h>

_Static_assert(SECRET_KEY_SIZE == crypto_auth_hmacsha256_KEYBYTES,
               "the hash key is an HMAC-SHA256 key");
_Static_assert(SECRET_HASH_SIZE == crypto_auth_hmacsha256_BYTES,
               "the hash is an HMAC-SHA256 tag");

/* Writes size random bytes as 2 * size lower-case hex characters and a
 * NUL; the bytes are wiped, since for a secret they are the secret. */
static void
generate_hex(char *out, size_t size)
{
    unsigned char bytes[CLIENT_SECRET_LENGTH / 2];

    randombytes_buf(bytes, size);
    sodium_bin2hex(out, size * 2 + 1, bytes, size);
    sodium_memzero(bytes, sizeof(bytes));
}

void
secret_generate_client_id(char out[CLIENT_ID_LENGTH + 1])
{
    generate_hex(out, CLIENT_ID_LENGTH / 2);
}

void
secret_generate_client_secret(char out[CLIENT_SECRET_LENGTH + 1])
{
    generate_hex(out, CLIENT_SECRET_LENGTH / 2);
}

void
secret_hash(const unsigned char key[SECRET_KEY_SIZE], const char *secret,
            size_t length, unsigned char out[SECRET_HASH_SIZE])
{
    crypto_auth_hmacsha256(out, (const unsigned char *)secret, length, key);
}

bool
secret_hash_equal(const unsigned char a[SECRET_HASH_SIZE],
                  const unsigned char b[SECRET_HASH_SIZE])
{
    return sodium_memcmp(a, b, SECRET_HASH_SIZE) == 0;
}
