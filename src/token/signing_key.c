/*
 * Signing keys (signing_key.h). ES256 goes through OpenSSL 3: the key is
 * parsed once into an EVP_PKEY, and each thread keeps its own signing and
 * verifying contexts for it, so the hot path neither fetches algorithms
 * nor takes a lock. EdDSA (Ed25519) goes through libsodium, which needs no
 * context at all. jwt.c signs and verifies with these keys; keyring.c
 * makes, exports and imports them.
 *
 * Export formats: ES256 keys as the DER SEC1 ECPrivateKey of RFC 5915
 * (named curve and public key included, about 121 bytes); EdDSA keys as
 * the 32-byte Ed25519 seed.
 */
#include "token/signing_key.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "token/base64url.h"
#include "util/text.h"

#define KEY_ID_RANDOM_BYTES 16
#define ES256_COORDINATE_SIZE 32
#define ES256_CURVE_NAME "prime256v1"
/* A DER ECDSA-Sig-Value over P-256 takes at most 72 bytes. */
#define ES256_DER_SIGNATURE_MAX 80
/* Slots per thread: the key that signs, and the few that still verify
 * while a rotation or reload settles. A miss only costs a new context. */
#define CONTEXT_SLOTS 4

struct signing_key {
    enum signing_algorithm algorithm;
    /* Unique in the process and never reused, unlike the key's address:
     * it names the key in the per-thread context caches. */
    uint64_t serial;
    char id[SIGNING_KEY_ID_SIZE];
    char jwk[SIGNING_KEY_JWK_SIZE];
    size_t jwk_length;
    EVP_PKEY *es256;
    unsigned char eddsa[crypto_sign_SECRETKEYBYTES];
};

struct key_contexts {
    uint64_t serial; /* 0: an empty slot */
    EVP_PKEY_CTX *sign;
    EVP_PKEY_CTX *verify;
};

struct thread_contexts {
    EVP_MD_CTX *digest;
    struct key_contexts slots[CONTEXT_SLOTS];
    unsigned next; /* the slot a miss takes over */
};

static atomic_uint_fast64_t next_serial = 1;
static pthread_once_t contexts_once = PTHREAD_ONCE_INIT;
static pthread_key_t contexts_key;
static int contexts_error;
static EVP_MD *sha256;

int
signing_algorithm_parse(const char *name, enum signing_algorithm *out)
{
    /* JWS algorithm names are case-sensitive (RFC 7515 §4.1.1); "none"
     * and the HMAC algorithms are refused here, so a token cannot pick
     * an algorithm its key was never meant for. */
    if (strcmp(name, "ES256") == 0) {
        *out = SIGNING_ES256;
        return 0;
    }
    if (strcmp(name, "EdDSA") == 0) {
        *out = SIGNING_EDDSA;
        return 0;
    }
    return -EINVAL;
}

const char *
signing_algorithm_name(enum signing_algorithm algorithm)
{
    return algorithm == SIGNING_ES256 ? "ES256" : "EdDSA";
}

/* The per-thread contexts. A thread that exits releases its own; contexts
 * of a freed key stay in other threads' slots until a newer key takes the
 * slot over. They hold a reference to the EVP_PKEY, so a context never
 * outlives the key it uses. */

static void
key_contexts_reset(struct key_contexts *slot)
{
    EVP_PKEY_CTX_free(slot->sign);
    EVP_PKEY_CTX_free(slot->verify);
    memset(slot, 0, sizeof(*slot));
}

static void
thread_contexts_free(void *argument)
{
    struct thread_contexts *contexts = argument;

    for (size_t i = 0; i < CONTEXT_SLOTS; i++)
        key_contexts_reset(&contexts->slots[i]);
    EVP_MD_CTX_free(contexts->digest);
    free(contexts);
}

static void
contexts_setup(void)
{
    /* Fetched once: a fetch takes a lock inside OpenSSL. */
    sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (sha256 == NULL) {
        contexts_error = -ENOMEM;
        return;
    }
    contexts_error = -pthread_key_create(&contexts_key, thread_contexts_free);
}

static struct thread_contexts *
thread_contexts_get(void)
{
    struct thread_contexts *contexts;

    if (pthread_once(&contexts_once, contexts_setup) != 0 ||
        contexts_error != 0)
        return NULL;

    contexts = pthread_getspecific(contexts_key);
    if (contexts != NULL)
        return contexts;

    contexts = calloc(1, sizeof(*contexts));
    if (contexts == NULL)
        return NULL;
    contexts->digest = EVP_MD_CTX_new();
    if (contexts->digest == NULL ||
        pthread_setspecific(contexts_key, contexts) != 0) {
        thread_contexts_free(contexts);
        return NULL;
    }
    return contexts;
}

static EVP_PKEY_CTX *
context_new(EVP_PKEY *key, bool sign)
{
    EVP_PKEY_CTX *context;
    int ready;

    context = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    if (context == NULL)
        return NULL;

    ready = sign ? EVP_PKEY_sign_init(context) : EVP_PKEY_verify_init(context);
    if (ready <= 0 || EVP_PKEY_CTX_set_signature_md(context, sha256) <= 0) {
        EVP_PKEY_CTX_free(context);
        return NULL;
    }
    return context;
}

/* This thread's signing (or verifying) context for key; NULL when out of
 * memory. */
static EVP_PKEY_CTX *
context_get(const struct signing_key *key, bool sign)
{
    struct thread_contexts *contexts = thread_contexts_get();
    struct key_contexts *slot = NULL;
    EVP_PKEY_CTX **context;

    if (contexts == NULL)
        return NULL;

    for (size_t i = 0; i < CONTEXT_SLOTS && slot == NULL; i++)
        if (contexts->slots[i].serial == key->serial)
            slot = &contexts->slots[i];
    if (slot == NULL) {
        slot = &contexts->slots[contexts->next];
        contexts->next = (contexts->next + 1) % CONTEXT_SLOTS;
        key_contexts_reset(slot);
        slot->serial = key->serial;
    }

    context = sign ? &slot->sign : &slot->verify;
    if (*context == NULL)
        *context = context_new(key->es256, sign);
    return *context;
}

/* SHA-256 of data with this thread's digest context. */
static int
digest_sha256(const void *data, size_t length,
              unsigned char digest[ES256_COORDINATE_SIZE])
{
    struct thread_contexts *contexts = thread_contexts_get();

    if (contexts == NULL)
        return -ENOMEM;
    if (EVP_DigestInit_ex2(contexts->digest, sha256, NULL) <= 0 ||
        EVP_DigestUpdate(contexts->digest, data, length) <= 0 ||
        EVP_DigestFinal_ex(contexts->digest, digest, NULL) <= 0) {
        ERR_clear_error();
        return -EIO;
    }
    return 0;
}

/* Key IDs come from us or from our store; holding them to the URL-safe
 * characters lets them go into JSON and logs without escaping. */
static bool
key_id_is_valid(const char *key_id)
{
    static const char allowed[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "abcdefghijklmnopqrstuvwxyz"
                                  "0123456789-._~";
    size_t length = strnlen(key_id, SIGNING_KEY_ID_SIZE);

    return length > 0 && length < SIGNING_KEY_ID_SIZE &&
           strspn(key_id, allowed) == length;
}

/* A key without key material yet; a random key ID when key_id is NULL. */
static int
key_new(enum signing_algorithm algorithm, const char *key_id,
        struct signing_key **out)
{
    unsigned char random_id[KEY_ID_RANDOM_BYTES];
    struct signing_key *key;

    if (key_id != NULL && !key_id_is_valid(key_id))
        return -EINVAL;

    key = calloc(1, sizeof(*key));
    if (key == NULL)
        return -ENOMEM;
    key->algorithm = algorithm;
    key->serial = atomic_fetch_add(&next_serial, 1);

    if (key_id != NULL) {
        memcpy(key->id, key_id, strlen(key_id) + 1);
    } else {
        randombytes_buf(random_id, sizeof(random_id));
        base64url_encode(random_id, sizeof(random_id), key->id,
                         sizeof(key->id));
    }
    *out = key;
    return 0;
}

/* Fills key->jwk (RFC 7517, RFC 7518 §6.2, RFC 8037 §2) from the public
 * key's base64url coordinates; y is NULL for Ed25519. */
static int
key_format_jwk(struct signing_key *key, const char *x, const char *y)
{
    struct text_buffer text;

    text_init(&text, key->jwk, sizeof(key->jwk));
    if (y != NULL)
        text_append(&text,
                    "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\","
                    "\"y\":\"%s\"",
                    x, y);
    else
        text_append(&text, "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"",
                    x);
    text_append(&text, ",\"kid\":\"%s\",\"use\":\"sig\",\"alg\":\"%s\"}",
                key->id, signing_algorithm_name(key->algorithm));

    if (text.overflow)
        return -ENOSPC;
    key->jwk_length = text.length;
    return 0;
}

/* One affine coordinate of the public point, as 32 bytes in base64url. */
static int
es256_coordinate(const EVP_PKEY *pkey, const char *name,
                 char out[BASE64URL_LENGTH(ES256_COORDINATE_SIZE) + 1])
{
    unsigned char bytes[ES256_COORDINATE_SIZE];
    BIGNUM *value = NULL;
    int error = -EINVAL;

    if (EVP_PKEY_get_bn_param(pkey, name, &value) <= 0 ||
        BN_bn2binpad(value, bytes, sizeof(bytes)) < 0)
        goto fail;

    base64url_encode(bytes, sizeof(bytes), out,
                     BASE64URL_LENGTH(ES256_COORDINATE_SIZE) + 1);
    error = 0;

fail:
    BN_free(value);
    ERR_clear_error();
    return error;
}

/* Checks that key->es256 is a P-256 key and formats its JWK. */
static int
es256_finish(struct signing_key *key)
{
    char x[BASE64URL_LENGTH(ES256_COORDINATE_SIZE) + 1];
    char y[BASE64URL_LENGTH(ES256_COORDINATE_SIZE) + 1];
    char curve[32];

    if (!EVP_PKEY_is_a(key->es256, "EC") ||
        EVP_PKEY_get_group_name(key->es256, curve, sizeof(curve), NULL) <= 0 ||
        strcmp(curve, ES256_CURVE_NAME) != 0) {
        ERR_clear_error();
        return -EINVAL;
    }

    if (es256_coordinate(key->es256, OSSL_PKEY_PARAM_EC_PUB_X, x) != 0 ||
        es256_coordinate(key->es256, OSSL_PKEY_PARAM_EC_PUB_Y, y) != 0)
        return -EINVAL;
    return key_format_jwk(key, x, y);
}

static int
eddsa_set_seed(struct signing_key *key,
               const unsigned char seed[crypto_sign_SEEDBYTES])
{
    unsigned char public_key[crypto_sign_PUBLICKEYBYTES];
    char x[BASE64URL_LENGTH(crypto_sign_PUBLICKEYBYTES) + 1];

    crypto_sign_seed_keypair(public_key, key->eddsa, seed);
    base64url_encode(public_key, sizeof(public_key), x, sizeof(x));
    return key_format_jwk(key, x, NULL);
}

int
signing_key_generate(enum signing_algorithm algorithm, struct signing_key **out)
{
    unsigned char seed[crypto_sign_SEEDBYTES];
    struct signing_key *key;
    int error;

    error = key_new(algorithm, NULL, &key);
    if (error != 0)
        return error;

    if (algorithm == SIGNING_ES256) {
        key->es256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        error = key->es256 != NULL ? es256_finish(key) : -ENOMEM;
    } else {
        randombytes_buf(seed, sizeof(seed));
        error = eddsa_set_seed(key, seed);
        sodium_memzero(seed, sizeof(seed));
    }
    if (error != 0)
        goto fail;

    *out = key;
    return 0;

fail:
    ERR_clear_error();
    signing_key_free(key);
    return error;
}

int
signing_key_export(const struct signing_key *key, unsigned char *out,
                   size_t size, size_t *length)
{
    unsigned char *der = NULL;
    int der_length;

    if (key->algorithm == SIGNING_EDDSA) {
        if (size < crypto_sign_SEEDBYTES)
            return -ENOSPC;
        crypto_sign_ed25519_sk_to_seed(out, key->eddsa);
        *length = crypto_sign_SEEDBYTES;
        return 0;
    }

    /* For an EC key, i2d_PrivateKey writes the SEC1 ECPrivateKey. */
    der_length = i2d_PrivateKey(key->es256, &der);
    if (der_length <= 0) {
        ERR_clear_error();
        return -ENOMEM;
    }
    if ((size_t)der_length > size) {
        OPENSSL_clear_free(der, (size_t)der_length);
        return -ENOSPC;
    }
    memcpy(out, der, (size_t)der_length);
    OPENSSL_clear_free(der, (size_t)der_length);
    *length = (size_t)der_length;
    return 0;
}

static int
es256_import(struct signing_key *key, const unsigned char *private_key,
             size_t length)
{
    const unsigned char *cursor = private_key;

    if (length > LONG_MAX)
        return -EINVAL;

    key->es256 = d2i_PrivateKey(EVP_PKEY_EC, NULL, &cursor, (long)length);
    if (key->es256 == NULL || cursor != private_key + length) {
        ERR_clear_error();
        return -EINVAL;
    }
    return es256_finish(key);
}

int
signing_key_import(enum signing_algorithm algorithm, const char *key_id,
                   const unsigned char *private_key, size_t length,
                   struct signing_key **out)
{
    struct signing_key *key;
    int error;

    error = key_new(algorithm, key_id, &key);
    if (error != 0)
        return error;

    if (algorithm == SIGNING_ES256)
        error = es256_import(key, private_key, length);
    else if (length == crypto_sign_SEEDBYTES)
        error = eddsa_set_seed(key, private_key);
    else
        error = -EINVAL;
    if (error != 0)
        goto fail;

    *out = key;
    return 0;

fail:
    signing_key_free(key);
    return error;
}

const char *
signing_key_id(const struct signing_key *key)
{
    return key->id;
}

enum signing_algorithm
signing_key_algorithm(const struct signing_key *key)
{
    return key->algorithm;
}

int
signing_key_format_jwk(const struct signing_key *key, char *out, size_t size)
{
    if (key->jwk_length >= size)
        return -ENOSPC;
    memcpy(out, key->jwk, key->jwk_length + 1);
    return (int)key->jwk_length;
}

/* OpenSSL signs in DER (an ECDSA-Sig-Value); JWS wants r and s as two
 * 32-byte big-endian numbers side by side (RFC 7518 §3.4). */
static int
es256_signature_from_der(const unsigned char *der, size_t length,
                         unsigned char signature[SIGNATURE_SIZE])
{
    const unsigned char *cursor = der;
    const BIGNUM *r, *s;
    ECDSA_SIG *value;
    int error = -EIO;

    value = d2i_ECDSA_SIG(NULL, &cursor, (long)length);
    if (value == NULL)
        goto fail;

    ECDSA_SIG_get0(value, &r, &s);
    if (BN_bn2binpad(r, signature, ES256_COORDINATE_SIZE) < 0 ||
        BN_bn2binpad(s, signature + ES256_COORDINATE_SIZE,
                     ES256_COORDINATE_SIZE) < 0)
        goto fail;
    error = 0;

fail:
    ECDSA_SIG_free(value);
    return error;
}

/* The reverse, for verifying: any 64 bytes give a well-formed DER value,
 * and a zero or too large r or s fails in the verify itself. */
static int
es256_signature_to_der(const unsigned char signature[SIGNATURE_SIZE],
                       unsigned char der[ES256_DER_SIGNATURE_MAX],
                       size_t *length)
{
    BIGNUM *r, *s;
    ECDSA_SIG *value;
    int written = -1;

    value = ECDSA_SIG_new();
    r = BN_bin2bn(signature, ES256_COORDINATE_SIZE, NULL);
    s = BN_bin2bn(signature + ES256_COORDINATE_SIZE, ES256_COORDINATE_SIZE,
                  NULL);
    if (value == NULL || r == NULL || s == NULL ||
        ECDSA_SIG_set0(value, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        goto fail;
    }

    /* Two 33-byte INTEGERs in a SEQUENCE: 72 bytes at most. */
    written = i2d_ECDSA_SIG(value, &der);
    if (written > 0)
        *length = (size_t)written;

fail:
    ECDSA_SIG_free(value);
    return written > 0 ? 0 : -ENOMEM;
}

static int
es256_sign(const struct signing_key *key, const void *data, size_t length,
           unsigned char signature[SIGNATURE_SIZE])
{
    unsigned char digest[ES256_COORDINATE_SIZE];
    unsigned char der[ES256_DER_SIGNATURE_MAX];
    size_t der_length = sizeof(der);
    EVP_PKEY_CTX *context;
    int error;

    context = context_get(key, true);
    if (context == NULL)
        return -ENOMEM;

    error = digest_sha256(data, length, digest);
    if (error != 0)
        return error;

    if (EVP_PKEY_sign(context, der, &der_length, digest, sizeof(digest)) <= 0) {
        ERR_clear_error();
        return -EIO;
    }
    return es256_signature_from_der(der, der_length, signature);
}

static int
es256_verify(const struct signing_key *key, const void *data, size_t length,
             const unsigned char signature[SIGNATURE_SIZE])
{
    unsigned char digest[ES256_COORDINATE_SIZE];
    unsigned char der[ES256_DER_SIGNATURE_MAX];
    size_t der_length;
    EVP_PKEY_CTX *context;
    int error;

    context = context_get(key, false);
    if (context == NULL)
        return -ENOMEM;

    error = digest_sha256(data, length, digest);
    if (error == 0)
        error = es256_signature_to_der(signature, der, &der_length);
    if (error != 0)
        return error;

    if (EVP_PKEY_verify(context, der, der_length, digest, sizeof(digest)) !=
        1) {
        ERR_clear_error();
        return -EBADMSG;
    }
    return 0;
}

int
signing_key_sign(const struct signing_key *key, const void *data, size_t length,
                 unsigned char signature[SIGNATURE_SIZE])
{
    if (key->algorithm == SIGNING_ES256)
        return es256_sign(key, data, length, signature);

    crypto_sign_detached(signature, NULL, data, length, key->eddsa);
    return 0;
}

int
signing_key_verify(const struct signing_key *key, const void *data,
                   size_t length, const unsigned char *signature,
                   size_t signature_length)
{
    if (signature_length != SIGNATURE_SIZE)
        return -EBADMSG;

    if (key->algorithm == SIGNING_ES256)
        return es256_verify(key, data, length, signature);

    /* libsodium also refuses a non-canonical s and small-order points
     * (RFC 8032 §5.1.7), so a signature cannot be altered into another
     * valid one. */
    if (crypto_sign_verify_detached(signature, data, length,
                                    key->eddsa + crypto_sign_SEEDBYTES) != 0)
        return -EBADMSG;
    return 0;
}

void
signing_key_free(struct signing_key *key)
{
    if (key == NULL)
        return;

    /* EVP_PKEY_free clears the private scalar once the last context that
     * holds a reference lets go. */
    EVP_PKEY_free(key->es256);
    sodium_memzero(key, sizeof(*key));
    free(key);
}
