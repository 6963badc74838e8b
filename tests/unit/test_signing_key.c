/*
 * Signing keys: algorithm names, sign and verify for ES256 and EdDSA,
 * tampering and wrong keys refused, signatures checked by OpenSSL on its
 * own against the public key read back from our JWK, export and import,
 * and signing from several threads at once with per-thread contexts.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "token/signing_key.h"

#define THREADS 4
#define SIGNATURES_PER_THREAD 200

static const enum signing_algorithm algorithms[] = {SIGNING_ES256,
                                                    SIGNING_EDDSA};

static const char message[] = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0";

static struct signing_key *
generate(enum signing_algorithm algorithm)
{
    struct signing_key *key = NULL;

    assert_int_equal(signing_key_generate(algorithm, &key), 0);
    assert_non_null(key);
    return key;
}

static void
decode_member(const json_t *jwk, const char *name, unsigned char *out,
              size_t size)
{
    const char *text = json_string_value(json_object_get(jwk, name));
    size_t length;

    assert_non_null(text);
    assert_int_equal(
        sodium_base642bin(out, size, text, strlen(text), NULL, &length, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING),
        0);
    assert_int_equal(length, size);
}

static json_t *
jwk_of(const struct signing_key *key)
{
    char text[SIGNING_KEY_JWK_SIZE];
    json_t *jwk;
    int length;

    length = signing_key_format_jwk(key, text, sizeof(text));
    assert_true(length > 0);
    assert_int_equal(strlen(text), length);
    jwk = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(jwk);
    return jwk;
}

/* The public key, rebuilt by OpenSSL alone from the JWK's members. */
static EVP_PKEY *
public_key_from_jwk(const json_t *jwk)
{
    unsigned char point[65], raw[32];
    OSSL_PARAM_BLD *build;
    OSSL_PARAM *parameters;
    EVP_PKEY_CTX *context;
    EVP_PKEY *key = NULL;

    if (strcmp(json_string_value(json_object_get(jwk, "kty")), "OKP") == 0) {
        decode_member(jwk, "x", raw, sizeof(raw));
        key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw,
                                          sizeof(raw));
        assert_non_null(key);
        return key;
    }

    point[0] = 0x04;
    decode_member(jwk, "x", point + 1, 32);
    decode_member(jwk, "y", point + 33, 32);
    build = OSSL_PARAM_BLD_new();
    assert_non_null(build);
    assert_int_equal(OSSL_PARAM_BLD_push_utf8_string(
                         build, OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0),
                     1);
    assert_int_equal(OSSL_PARAM_BLD_push_octet_string(
                         build, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point)),
                     1);
    parameters = OSSL_PARAM_BLD_to_param(build);
    context = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    assert_int_equal(EVP_PKEY_fromdata_init(context), 1);
    assert_int_equal(
        EVP_PKEY_fromdata(context, &key, EVP_PKEY_PUBLIC_KEY, parameters), 1);
    EVP_PKEY_CTX_free(context);
    OSSL_PARAM_free(parameters);
    OSSL_PARAM_BLD_free(build);
    return key;
}

/* Verifies a JWS signature with OpenSSL's one-shot API: r||s goes back to
 * DER through OpenSSL's own ECDSA_SIG. */
static bool
openssl_verifies(const struct signing_key *key, const void *data, size_t length,
                 const unsigned char signature[SIGNATURE_SIZE])
{
    json_t *jwk = jwk_of(key);
    EVP_PKEY *public_key = public_key_from_jwk(jwk);
    EVP_MD_CTX *context = EVP_MD_CTX_new();
    const EVP_MD *digest = NULL;
    unsigned char der[80], *cursor = der;
    const unsigned char *checked = signature;
    size_t checked_length = SIGNATURE_SIZE;
    ECDSA_SIG *value;
    int verified;

    if (signing_key_algorithm(key) == SIGNING_ES256) {
        value = ECDSA_SIG_new();
        ECDSA_SIG_set0(value, BN_bin2bn(signature, 32, NULL),
                       BN_bin2bn(signature + 32, 32, NULL));
        checked_length = (size_t)i2d_ECDSA_SIG(value, &cursor);
        checked = der;
        ECDSA_SIG_free(value);
        digest = EVP_sha256();
    }

    assert_int_equal(
        EVP_DigestVerifyInit(context, NULL, digest, NULL, public_key), 1);
    verified = EVP_DigestVerify(context, checked, checked_length, data, length);
    EVP_MD_CTX_free(context);
    EVP_PKEY_free(public_key);
    json_decref(jwk);
    return verified == 1;
}

static void
test_algorithm_names(void **state)
{
    static const char *const refused[] = {"none",  "HS256", "RS256", "es256",
                                          "ES384", "EDDSA", "",      "ES256 "};
    enum signing_algorithm algorithm;

    (void)state;
    assert_int_equal(signing_algorithm_parse("ES256", &algorithm), 0);
    assert_int_equal(algorithm, SIGNING_ES256);
    assert_int_equal(signing_algorithm_parse("EdDSA", &algorithm), 0);
    assert_int_equal(algorithm, SIGNING_EDDSA);
    assert_string_equal(signing_algorithm_name(SIGNING_ES256), "ES256");
    assert_string_equal(signing_algorithm_name(SIGNING_EDDSA), "EdDSA");

    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        assert_int_equal(signing_algorithm_parse(refused[i], &algorithm),
                         -EINVAL);
}

static void
test_key_ids(void **state)
{
    struct signing_key *first = generate(SIGNING_ES256);
    struct signing_key *second = generate(SIGNING_EDDSA);
    const char *id = signing_key_id(first);

    (void)state;
    assert_int_equal(strlen(id), 22);
    assert_int_equal(strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
                                "qrstuvwxyz0123456789-_"),
                     22);
    assert_string_not_equal(id, signing_key_id(second));
    assert_int_equal(signing_key_algorithm(first), SIGNING_ES256);
    assert_int_equal(signing_key_algorithm(second), SIGNING_EDDSA);
    signing_key_free(first);
    signing_key_free(second);
}

static void
test_sign_and_verify(void **state)
{
    unsigned char signature[SIGNATURE_SIZE], changed[sizeof(message)];

    (void)state;
    for (size_t a = 0; a < 2; a++) {
        struct signing_key *key = generate(algorithms[a]);
        struct signing_key *other = generate(algorithms[a]);

        assert_int_equal(
            signing_key_sign(key, message, strlen(message), signature), 0);
        assert_int_equal(signing_key_verify(key, message, strlen(message),
                                            signature, sizeof(signature)),
                         0);
        assert_true(openssl_verifies(key, message, strlen(message), signature));

        /* Another key of the same algorithm refuses it. */
        assert_int_equal(signing_key_verify(other, message, strlen(message),
                                            signature, sizeof(signature)),
                         -EBADMSG);
        assert_false(
            openssl_verifies(other, message, strlen(message), signature));

        /* So does a changed message. */
        memcpy(changed, message, sizeof(message));
        changed[3] ^= 0x01;
        assert_int_equal(signing_key_verify(key, changed, strlen(message),
                                            signature, sizeof(signature)),
                         -EBADMSG);
        assert_int_equal(signing_key_verify(key, message, strlen(message) - 1,
                                            signature, sizeof(signature)),
                         -EBADMSG);
        signing_key_free(key);
        signing_key_free(other);
    }
}

static void
test_tampered_signatures(void **state)
{
    unsigned char signature[SIGNATURE_SIZE];
    unsigned char zeros[SIGNATURE_SIZE] = {0};
    unsigned char ones[SIGNATURE_SIZE];

    (void)state;
    memset(ones, 0xff, sizeof(ones));
    for (size_t a = 0; a < 2; a++) {
        struct signing_key *key = generate(algorithms[a]);

        assert_int_equal(
            signing_key_sign(key, message, strlen(message), signature), 0);

        /* One flipped bit anywhere, in r or in s, and it fails. */
        for (size_t bit = 0; bit < SIGNATURE_SIZE * 8; bit += 7) {
            signature[bit / 8] ^= (unsigned char)(1u << (bit % 8));
            assert_int_equal(signing_key_verify(key, message, strlen(message),
                                                signature, sizeof(signature)),
                             -EBADMSG);
            signature[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        }

        /* A signature of the wrong length, and degenerate values. */
        assert_int_equal(signing_key_verify(key, message, strlen(message),
                                            signature, SIGNATURE_SIZE - 1),
                         -EBADMSG);
        assert_int_equal(
            signing_key_verify(key, message, strlen(message), signature, 0),
            -EBADMSG);
        assert_int_equal(signing_key_verify(key, message, strlen(message),
                                            zeros, sizeof(zeros)),
                         -EBADMSG);
        assert_int_equal(signing_key_verify(key, message, strlen(message), ones,
                                            sizeof(ones)),
                         -EBADMSG);
        assert_int_equal(signing_key_verify(key, message, strlen(message),
                                            signature, sizeof(signature)),
                         0);
        signing_key_free(key);
    }
}

static void
test_jwk(void **state)
{
    unsigned char public_key[crypto_sign_PUBLICKEYBYTES];
    unsigned char seed[crypto_sign_SEEDBYTES];
    unsigned char secret[crypto_sign_SECRETKEYBYTES], x[32];
    struct signing_key *es256 = generate(SIGNING_ES256);
    struct signing_key *eddsa = generate(SIGNING_EDDSA);
    json_t *jwk = jwk_of(es256);
    char small[16];
    size_t length;

    (void)state;
    assert_string_equal(json_string_value(json_object_get(jwk, "kty")), "EC");
    assert_string_equal(json_string_value(json_object_get(jwk, "crv")),
                        "P-256");
    assert_string_equal(json_string_value(json_object_get(jwk, "use")), "sig");
    assert_string_equal(json_string_value(json_object_get(jwk, "alg")),
                        "ES256");
    assert_string_equal(json_string_value(json_object_get(jwk, "kid")),
                        signing_key_id(es256));
    assert_int_equal(strlen(json_string_value(json_object_get(jwk, "x"))), 43);
    assert_int_equal(strlen(json_string_value(json_object_get(jwk, "y"))), 43);
    assert_null(json_object_get(jwk, "d"));
    assert_int_equal(json_object_size(jwk), 7);
    json_decref(jwk);

    /* The OKP x is the public key that belongs to the exported seed. */
    jwk = jwk_of(eddsa);
    assert_string_equal(json_string_value(json_object_get(jwk, "kty")), "OKP");
    assert_string_equal(json_string_value(json_object_get(jwk, "crv")),
                        "Ed25519");
    assert_string_equal(json_string_value(json_object_get(jwk, "alg")),
                        "EdDSA");
    assert_null(json_object_get(jwk, "d"));
    assert_int_equal(json_object_size(jwk), 6);
    assert_int_equal(signing_key_export(eddsa, seed, sizeof(seed), &length), 0);
    assert_int_equal(length, sizeof(seed));
    crypto_sign_seed_keypair(public_key, secret, seed);
    decode_member(jwk, "x", x, sizeof(x));
    assert_memory_equal(x, public_key, sizeof(x));
    json_decref(jwk);

    assert_int_equal(signing_key_format_jwk(es256, small, sizeof(small)),
                     -ENOSPC);
    signing_key_free(es256);
    signing_key_free(eddsa);
}

static void
test_export_import(void **state)
{
    unsigned char exported[256], signature[SIGNATURE_SIZE];
    char jwk[SIGNING_KEY_JWK_SIZE], imported_jwk[SIGNING_KEY_JWK_SIZE];
    struct signing_key *key, *imported;
    size_t length;

    (void)state;
    for (size_t a = 0; a < 2; a++) {
        key = generate(algorithms[a]);
        assert_int_equal(
            signing_key_export(key, exported, sizeof(exported), &length), 0);
        assert_int_equal(signing_key_import(algorithms[a], signing_key_id(key),
                                            exported, length, &imported),
                         0);

        /* The same public key under the same ID, and each verifies what
         * the other signs. */
        assert_true(signing_key_format_jwk(key, jwk, sizeof(jwk)) > 0);
        assert_true(signing_key_format_jwk(imported, imported_jwk,
                                           sizeof(imported_jwk)) > 0);
        assert_string_equal(jwk, imported_jwk);
        assert_int_equal(
            signing_key_sign(imported, message, strlen(message), signature), 0);
        assert_int_equal(signing_key_verify(key, message, strlen(message),
                                            signature, sizeof(signature)),
                         0);

        assert_int_equal(signing_key_export(key, exported, length - 1, &length),
                         -ENOSPC);
        signing_key_free(key);
        signing_key_free(imported);
    }
}

/* The ES256 export is a SEC1 ECPrivateKey that OpenSSL reads by itself as
 * a P-256 key with the JWK's public point. */
static void
test_es256_export_is_sec1(void **state)
{
    struct signing_key *key = generate(SIGNING_ES256);
    unsigned char exported[256];
    const unsigned char *cursor = exported;
    EVP_PKEY *parsed, *public_key;
    char curve[32];
    json_t *jwk;
    size_t length;

    (void)state;
    assert_int_equal(
        signing_key_export(key, exported, sizeof(exported), &length), 0);
    assert_int_equal(exported[0], 0x30);
    parsed = d2i_PrivateKey(EVP_PKEY_EC, NULL, &cursor, (long)length);
    assert_non_null(parsed);
    assert_ptr_equal(cursor, exported + length);
    assert_int_equal(
        EVP_PKEY_get_group_name(parsed, curve, sizeof(curve), NULL), 1);
    assert_string_equal(curve, "prime256v1");

    jwk = jwk_of(key);
    public_key = public_key_from_jwk(jwk);
    assert_int_equal(EVP_PKEY_eq(parsed, public_key), 1);
    EVP_PKEY_free(public_key);
    EVP_PKEY_free(parsed);
    json_decref(jwk);
    signing_key_free(key);
}

static void
assert_import_refused(enum signing_algorithm algorithm, const char *key_id,
                      const unsigned char *bytes, size_t length)
{
    struct signing_key *key = NULL;

    assert_int_equal(signing_key_import(algorithm, key_id, bytes, length, &key),
                     -EINVAL);
    assert_null(key);
}

static void
test_import_refuses(void **state)
{
    static const char *const bad_ids[] = {
        "",
        "a\"b",
        "a b",
        "a/b",
        "a\\b",
        "0123456789012345678901234567890123456789012345678901234567890123",
    };
    struct signing_key *es256 = generate(SIGNING_ES256);
    struct signing_key *eddsa = generate(SIGNING_EDDSA);
    unsigned char der[256], seed[64], garbage[121];
    unsigned char *other_der = NULL;
    size_t der_length, seed_length;
    EVP_PKEY *p384;
    int other_length;

    (void)state;
    assert_int_equal(signing_key_export(es256, der, sizeof(der), &der_length),
                     0);
    assert_int_equal(
        signing_key_export(eddsa, seed, sizeof(seed), &seed_length), 0);
    randombytes_buf(garbage, sizeof(garbage));

    assert_import_refused(SIGNING_ES256, "k", der, 0);
    assert_import_refused(SIGNING_ES256, "k", der, der_length - 1);
    assert_import_refused(SIGNING_ES256, "k", der, 10);
    assert_import_refused(SIGNING_ES256, "k", garbage, sizeof(garbage));
    assert_import_refused(SIGNING_ES256, "k", seed, seed_length);
    der[der_length] = 0;
    assert_import_refused(SIGNING_ES256, "k", der, der_length + 1);
    assert_import_refused(SIGNING_EDDSA, "k", seed, seed_length - 1);
    assert_import_refused(SIGNING_EDDSA, "k", seed, seed_length + 1);
    assert_import_refused(SIGNING_EDDSA, "k", der, der_length);
    for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
        assert_import_refused(SIGNING_ES256, bad_ids[i], der, der_length);
        assert_import_refused(SIGNING_EDDSA, bad_ids[i], seed, seed_length);
    }

    /* An EC key on another curve is not an ES256 key. */
    p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    assert_non_null(p384);
    other_length = i2d_PrivateKey(p384, &other_der);
    assert_true(other_length > 0);
    assert_import_refused(SIGNING_ES256, "k", other_der, (size_t)other_length);
    OPENSSL_free(other_der);
    EVP_PKEY_free(p384);

    signing_key_free(es256);
    signing_key_free(eddsa);
}

/* Keys are freed and made again at the same address; a context cache
 * keyed by address would go on signing with the freed key. */
static void
test_new_key_at_old_address(void **state)
{
    unsigned char signature[SIGNATURE_SIZE];

    (void)state;
    for (int round = 0; round < 12; round++) {
        struct signing_key *key = generate(SIGNING_ES256);

        assert_int_equal(
            signing_key_sign(key, message, strlen(message), signature), 0);
        assert_true(openssl_verifies(key, message, strlen(message), signature));
        signing_key_free(key);
    }
}

/* More keys than a thread keeps contexts for, used in turn. */
static void
test_many_keys_in_one_thread(void **state)
{
    struct signing_key *keys[7];
    unsigned char signature[SIGNATURE_SIZE];
    size_t count = sizeof(keys) / sizeof(keys[0]);

    (void)state;
    for (size_t i = 0; i < count; i++)
        keys[i] = generate(SIGNING_ES256);

    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < count; i++) {
            struct signing_key *next = keys[(i + 1) % count];

            assert_int_equal(
                signing_key_sign(keys[i], message, strlen(message), signature),
                0);
            assert_int_equal(signing_key_verify(keys[i], message,
                                                strlen(message), signature,
                                                sizeof(signature)),
                             0);
            assert_int_equal(signing_key_verify(next, message, strlen(message),
                                                signature, sizeof(signature)),
                             -EBADMSG);
        }
    }
    for (size_t i = 0; i < count; i++)
        signing_key_free(keys[i]);
}

struct thread_work {
    struct signing_key *keys[2];
    int number;
    int failures;
};

static void *
sign_many(void *argument)
{
    struct thread_work *work = argument;
    unsigned char signature[SIGNATURE_SIZE];
    char data[64];

    for (int i = 0; i < SIGNATURES_PER_THREAD; i++) {
        struct signing_key *key = work->keys[i % 2];
        size_t length =
            (size_t)snprintf(data, sizeof(data), "%d.%d", work->number, i);

        if (signing_key_sign(key, data, length, signature) != 0 ||
            signing_key_verify(key, data, length, signature,
                               sizeof(signature)) != 0 ||
            signing_key_verify(key, data, length - 1, signature,
                               sizeof(signature)) != -EBADMSG)
            work->failures++;
    }
    return NULL;
}

static void
test_threads(void **state)
{
    struct signing_key *es256 = generate(SIGNING_ES256);
    struct signing_key *eddsa = generate(SIGNING_EDDSA);
    struct thread_work work[THREADS];
    pthread_t threads[THREADS];

    (void)state;
    for (int i = 0; i < THREADS; i++) {
        work[i] = (struct thread_work){{es256, eddsa}, i, 0};
        assert_int_equal(pthread_create(&threads[i], NULL, sign_many, &work[i]),
                         0);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(work[i].failures, 0);
    }
    signing_key_free(es256);
    signing_key_free(eddsa);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_algorithm_names),
        cmocka_unit_test(test_key_ids),
        cmocka_unit_test(test_sign_and_verify),
        cmocka_unit_test(test_tampered_signatures),
        cmocka_unit_test(test_jwk),
        cmocka_unit_test(test_export_import),
        cmocka_unit_test(test_es256_export_is_sec1),
        cmocka_unit_test(test_import_refuses),
        cmocka_unit_test(test_new_key_at_old_address),
        cmocka_unit_test(test_many_keys_in_one_thread),
        cmocka_unit_test(test_threads),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
