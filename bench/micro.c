/*
 * A micro-benchmark of the functions on tokend's hot paths: form and
 * Authorization parsing, the secret check, minting and verifying access
 * tokens, refresh tokens, and building the token answer (by hand, as
 * token_response.c does, and with jansson, to show why by hand). It
 * prints ns per operation, the median of several timed runs. With
 * --callgrind, run under valgrind --tool=callgrind, it runs each case a
 * fixed number of times between client requests that zero and dump the
 * counters, so bench/callgrind-report can print instructions per op.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <sodium.h>

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#else
#define CALLGRIND_ZERO_STATS
#define CALLGRIND_DUMP_STATS_AT(name) ((void)(name))
#endif

#include "http/authorization.h"
#include "http/form.h"
#include "bench_clock.h"
#include "token/jwt.h"
#include "token/refresh_token.h"
#include "token/secret.h"
#include "token/signing_key.h"
#include "util/text.h"

#define RUNS 7
#define CALLGRIND_ITERATIONS 1000
#define ANSWER_SIZE 8192

/* Everything the cases read, made once before any timing. */
struct fixture {
    struct signing_key *es256;
    struct signing_key *eddsa;
    struct access_token_claims claims;
    char es256_token[JWT_MAX_LENGTH];
    size_t es256_length;
    char eddsa_token[JWT_MAX_LENGTH];
    size_t eddsa_length;
    unsigned char secret_key[SECRET_KEY_SIZE];
    unsigned char stored_hash[SECRET_HASH_SIZE];
    char secret[CLIENT_SECRET_LENGTH + 1];
    char basic_header[288];
    unsigned char refresh_key[REFRESH_TOKEN_KEY_SIZE];
    struct refresh_token refresh;
    char refresh_text[REFRESH_TOKEN_MAX_LENGTH];
    size_t refresh_length;
    EVP_MAC_CTX *hmac; /* keyed once with secret_key, reused */
};

static struct fixture fixture;
/* Keeps results alive so the compiler cannot drop the work. */
static volatile size_t sink;

static const char form_body[] =
    "grant_type=client_credentials&scope=read+write";

static void
case_form_parse(void)
{
    char body[sizeof(form_body)];
    struct form form;

    memcpy(body, form_body, sizeof(body));
    form_parse(body, sizeof(body) - 1, &form);
    sink += (size_t)form.count;
}

static void
case_authorization_parse_basic(void)
{
    char user[128], password[256];

    authorization_parse_basic(fixture.basic_header, user, sizeof(user),
                              password, sizeof(password));
    sink += (size_t)password[0];
}

static void
case_secret_check(void)
{
    unsigned char hash[SECRET_HASH_SIZE];

    secret_hash(fixture.secret_key, fixture.secret, CLIENT_SECRET_LENGTH, hash);
    sink += secret_hash_equal(hash, fixture.stored_hash);
}

/* Not tokend's code: the same HMAC-SHA256 through OpenSSL 3 with a
 * context keyed once and reused, which uses the CPU's SHA extensions
 * where libsodium's portable SHA-256 does not (docs/performance.md). */
static void
case_hmac_openssl_kept(void)
{
    unsigned char hash[SECRET_HASH_SIZE];
    size_t length = 0;

    EVP_MAC_init(fixture.hmac, NULL, 0, NULL);
    EVP_MAC_update(fixture.hmac, (const unsigned char *)fixture.secret,
                   CLIENT_SECRET_LENGTH);
    EVP_MAC_final(fixture.hmac, hash, &length, sizeof(hash));
    sink += secret_hash_equal(hash, fixture.stored_hash);
}

/* The random jti of every token: libsodium's randombytes_buf, which asks
 * the kernel (getrandom) on every call. */
static void
case_token_id(void)
{
    char token_id[JWT_TOKEN_ID_SIZE];

    jwt_new_token_id(token_id);
    sink += (size_t)token_id[0];
}

static void
sign_with(const struct signing_key *key)
{
    char token[JWT_MAX_LENGTH];

    jwt_new_token_id(fixture.claims.token_id);
    sink += (size_t)jwt_sign(key, &fixture.claims, token, sizeof(token));
}

static void
case_jwt_sign_es256(void)
{
    sign_with(fixture.es256);
}

static void
case_jwt_sign_eddsa(void)
{
    sign_with(fixture.eddsa);
}

static void
case_jwt_decode(void)
{
    struct jwt_decoded decoded;

    sink +=
        (size_t)jwt_decode(fixture.es256_token, fixture.es256_length, &decoded);
}

static void
verify_with(const char *token, size_t length, const struct signing_key *key)
{
    struct jwt_decoded decoded;

    if (jwt_decode(token, length, &decoded) == 0)
        sink += (size_t)jwt_verify_signature(&decoded, key);
}

static void
case_jwt_verify_es256(void)
{
    verify_with(fixture.es256_token, fixture.es256_length, fixture.es256);
}

static void
case_jwt_verify_eddsa(void)
{
    verify_with(fixture.eddsa_token, fixture.eddsa_length, fixture.eddsa);
}

static void
case_refresh_token_format(void)
{
    char text[REFRESH_TOKEN_MAX_LENGTH];

    sink += (size_t)refresh_token_format(fixture.refresh_key, &fixture.refresh,
                                         text, sizeof(text));
}

static void
case_refresh_token_parse(void)
{
    struct refresh_token token;

    sink +=
        (size_t)refresh_token_parse(fixture.refresh_key, fixture.refresh_text,
                                    fixture.refresh_length, &token);
}

/* The answer exactly as token_response.c's write_answer builds it. */
static void
case_answer_text(void)
{
    char data[ANSWER_SIZE];
    struct text_buffer body;

    text_init(&body, data, sizeof(data));
    text_append(&body,
                "{\"access_token\":\"%s\",\"token_type\":\"bearer\","
                "\"expires_in\":%" PRId64 ",\"refresh_token\":\"%s\"",
                fixture.es256_token, (int64_t)3600, fixture.refresh_text);
    text_append(&body, ",\"scope\":");
    text_append_json_string(&body, "read write");
    text_append(&body, "}");
    sink += body.length;
}

/* The same object built and serialised with jansson. */
static void
case_answer_jansson(void)
{
    json_t *answer;
    char *text;

    answer = json_pack("{s:s, s:s, s:I, s:s, s:s}", "access_token",
                       fixture.es256_token, "token_type", "bearer",
                       "expires_in", (json_int_t)3600, "refresh_token",
                       fixture.refresh_text, "scope", "read write");
    text = json_dumps(answer, JSON_COMPACT | JSON_PRESERVE_ORDER);
    sink += strlen(text);
    free(text);
    json_decref(answer);
}

struct bench_case {
    const char *name;
    void (*run)(void);
};

static const struct bench_case cases[] = {
    {"form_parse", case_form_parse},
    {"authorization_parse_basic", case_authorization_parse_basic},
    {"secret_hash+secret_hash_equal", case_secret_check},
    {"(alternative) HMAC-SHA256, OpenSSL, kept context",
     case_hmac_openssl_kept},
    {"jwt_new_token_id (randombytes_buf)", case_token_id},
    {"jwt_sign ES256", case_jwt_sign_es256},
    {"jwt_sign EdDSA", case_jwt_sign_eddsa},
    {"jwt_decode", case_jwt_decode},
    {"jwt_decode+jwt_verify_signature ES256", case_jwt_verify_es256},
    {"jwt_decode+jwt_verify_signature EdDSA", case_jwt_verify_eddsa},
    {"refresh_token_format", case_refresh_token_format},
    {"refresh_token_parse", case_refresh_token_parse},
    {"token answer: text_append (as tokend)", case_answer_text},
    {"token answer: jansson json_dumps", case_answer_jansson},
};

static int
fixture_sign(const struct signing_key *key, char *out, size_t *length)
{
    int result;

    jwt_new_token_id(fixture.claims.token_id);
    result = jwt_sign(key, &fixture.claims, out, JWT_MAX_LENGTH);
    if (result < 0)
        return result;
    *length = (size_t)result;
    return 0;
}

static int
hmac_make(void)
{
    OSSL_PARAM parameters[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);

    if (mac == NULL)
        return -1;
    fixture.hmac = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);
    if (fixture.hmac == NULL ||
        EVP_MAC_init(fixture.hmac, fixture.secret_key,
                     sizeof(fixture.secret_key), parameters) != 1)
        return -1;
    return 0;
}

static int
fixture_make(void)
{
    struct access_token_claims *claims = &fixture.claims;
    char credentials[160], encoded[256];
    const char *client_id = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
    const char *issuer = "http://127.0.0.1:18080";
    int length;

    if (signing_key_generate(SIGNING_ES256, &fixture.es256) != 0 ||
        signing_key_generate(SIGNING_EDDSA, &fixture.eddsa) != 0)
        return -1;

    snprintf(claims->issuer, sizeof(claims->issuer), "%s", issuer);
    snprintf(claims->audience, sizeof(claims->audience), "%s", issuer);
    snprintf(claims->client_id, sizeof(claims->client_id), "%s", client_id);
    snprintf(claims->subject, sizeof(claims->subject), "%s", client_id);
    snprintf(claims->scope, sizeof(claims->scope), "read write");
    claims->issued_at = (int64_t)time(NULL);
    claims->expires_at = claims->issued_at + 3600;
    if (fixture_sign(fixture.es256, fixture.es256_token,
                     &fixture.es256_length) != 0 ||
        fixture_sign(fixture.eddsa, fixture.eddsa_token,
                     &fixture.eddsa_length) != 0)
        return -1;

    randombytes_buf(fixture.secret_key, sizeof(fixture.secret_key));
    secret_generate_client_secret(fixture.secret);
    secret_hash(fixture.secret_key, fixture.secret, CLIENT_SECRET_LENGTH,
                fixture.stored_hash);
    length = snprintf(credentials, sizeof(credentials), "%s:%s", client_id,
                      fixture.secret);
    sodium_bin2base64(encoded, sizeof(encoded),
                      (const unsigned char *)credentials, (size_t)length,
                      sodium_base64_VARIANT_ORIGINAL);
    snprintf(fixture.basic_header, sizeof(fixture.basic_header), "Basic %s",
             encoded);

    if (hmac_make() != 0)
        return -1;

    randombytes_buf(fixture.refresh_key, sizeof(fixture.refresh_key));
    refresh_token_new_family(fixture.refresh.family_id);
    fixture.refresh.generation = 1;
    fixture.refresh.issued_at = claims->issued_at;
    fixture.refresh.expires_at = claims->issued_at + 2592000;
    snprintf(fixture.refresh.client_id, sizeof(fixture.refresh.client_id), "%s",
             client_id);
    snprintf(fixture.refresh.scope, sizeof(fixture.refresh.scope),
             "read write");
    length = refresh_token_format(fixture.refresh_key, &fixture.refresh,
                                  fixture.refresh_text,
                                  sizeof(fixture.refresh_text));
    if (length < 0)
        return -1;
    fixture.refresh_length = (size_t)length;
    return 0;
}

static double
time_iterations(void (*run)(void), unsigned long iterations)
{
    double started = bench_clock_seconds();

    for (unsigned long i = 0; i < iterations; i++)
        run();
    return bench_clock_seconds() - started;
}

static int
double_compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Doubles the iteration count until one run takes run_seconds, then
 * takes the median of RUNS runs of that many. */
static double
measure(void (*run)(void), double run_seconds, int runs)
{
    double per_op[RUNS];
    unsigned long iterations = 1;

    while (time_iterations(run, iterations) < run_seconds &&
           iterations < (1ul << 30))
        iterations *= 2;
    for (int i = 0; i < runs; i++)
        per_op[i] = time_iterations(run, iterations) * 1e9 / (double)iterations;
    qsort(per_op, (size_t)runs, sizeof(per_op[0]), double_compare);
    return per_op[runs / 2];
}

static void
run_callgrind(void)
{
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        /* The first call makes per-thread contexts; keep it out. */
        cases[c].run();
        CALLGRIND_ZERO_STATS;
        for (int i = 0; i < CALLGRIND_ITERATIONS; i++)
            cases[c].run();
        CALLGRIND_DUMP_STATS_AT(cases[c].name);
    }
    printf("iterations=%d\n", CALLGRIND_ITERATIONS);
}

int
main(int argc, char **argv)
{
    bool callgrind = false, quick = false;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--callgrind") == 0)
            callgrind = true;
        else if (strcmp(argv[i], "--quick") == 0)
            quick = true;
        else {
            fprintf(stderr, "usage: %s [--quick | --callgrind]\n", argv[0]);
            return 2;
        }
    }
    if (sodium_init() < 0 || fixture_make() != 0) {
        fprintf(stderr, "cannot set up the fixture\n");
        return 1;
    }

    if (callgrind) {
        run_callgrind();
        return 0;
    }
    printf("| function | ns/op | ops/s (one core) |\n| --- | ---: | ---: |\n");
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        double ns =
            measure(cases[c].run, quick ? 0.002 : 0.05, quick ? 1 : RUNS);

        printf("| %s | %.0f | %.0f |\n", cases[c].name, ns, 1e9 / ns);
    }
    signing_key_free(fixture.es256);
    signing_key_free(fixture.eddsa);
    EVP_MAC_CTX_free(fixture.hmac);
    return 0;
}
