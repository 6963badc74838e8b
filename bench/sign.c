/*
 * The signing ceiling: tokend's own signer (jwt_sign with a key from
 * signing_key_generate) signing access tokens on every core for a fixed
 * time, with nothing else in the way. bench/run divides issuance rates by
 * this number. Prints one JSON line.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "bench_clock.h"
#include "token/jwt.h"
#include "token/signing_key.h"

#define MAX_THREADS 64

struct worker {
    pthread_t thread;
    const struct signing_key *key;
    const atomic_bool *stop;
    unsigned long long tokens;
    int error;
};

/* The claims tokend puts in a client_credentials token: the issuer and
 * audience it derives from its listen address, a 32-hex client ID. */
static void
claims_fill(struct access_token_claims *claims)
{
    memset(claims, 0, sizeof(*claims));
    snprintf(claims->issuer, sizeof(claims->issuer), "%s",
             "http://127.0.0.1:18080");
    snprintf(claims->audience, sizeof(claims->audience), "%s",
             "http://127.0.0.1:18080");
    snprintf(claims->client_id, sizeof(claims->client_id), "%s",
             "0f1e2d3c4b5a69788796a5b4c3d2e1f0");
    snprintf(claims->subject, sizeof(claims->subject), "%s", claims->client_id);
    snprintf(claims->scope, sizeof(claims->scope), "%s", "read write");
    claims->issued_at = (int64_t)time(NULL);
    claims->expires_at = claims->issued_at + 3600;
}

/* A new jti for every token, as the token endpoint makes one. */
static void *
worker_run(void *argument)
{
    struct worker *worker = argument;
    struct access_token_claims claims;
    char token[JWT_MAX_LENGTH];

    claims_fill(&claims);
    while (!atomic_load_explicit(worker->stop, memory_order_relaxed)) {
        jwt_new_token_id(claims.token_id);
        if (jwt_sign(worker->key, &claims, token, sizeof(token)) < 0) {
            worker->error = 1;
            break;
        }
        worker->tokens++;
    }
    return NULL;
}

static double
cpu_seconds(void)
{
    struct rusage usage;

    getrusage(RUSAGE_SELF, &usage);
    return (double)usage.ru_utime.tv_sec + (double)usage.ru_stime.tv_sec +
           ((double)usage.ru_utime.tv_usec + (double)usage.ru_stime.tv_usec) /
               1e6;
}

static int
usage_fail(const char *program)
{
    fprintf(stderr,
            "usage: %s [--seconds S] [--threads N] [--algorithm ES256|EdDSA]\n",
            program);
    return 2;
}

int
main(int argc, char **argv)
{
    static struct worker workers[MAX_THREADS];
    enum signing_algorithm algorithm = SIGNING_ES256;
    struct signing_key *key = NULL;
    atomic_bool stop = false;
    double seconds = 10, started, elapsed, cpu;
    long threads = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned long long total = 0;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--seconds") == 0)
            seconds = strtod(argv[i + 1], NULL);
        else if (strcmp(argv[i], "--threads") == 0)
            threads = strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--algorithm") == 0) {
            if (signing_algorithm_parse(argv[i + 1], &algorithm) != 0)
                return usage_fail(argv[0]);
        } else
            return usage_fail(argv[0]);
    }
    if (argc % 2 == 0 || seconds <= 0 || threads < 1 || threads > MAX_THREADS)
        return usage_fail(argv[0]);

    if (sodium_init() < 0 || signing_key_generate(algorithm, &key) != 0) {
        fprintf(stderr, "cannot make a signing key\n");
        return 1;
    }

    cpu = cpu_seconds();
    started = bench_clock_seconds();
    for (long i = 0; i < threads; i++) {
        workers[i].key = key;
        workers[i].stop = &stop;
        if (pthread_create(&workers[i].thread, NULL, worker_run, &workers[i]) !=
            0) {
            fprintf(stderr, "cannot start a thread\n");
            return 1;
        }
    }
    usleep((useconds_t)(seconds * 1e6));
    atomic_store(&stop, true);
    for (long i = 0; i < threads; i++) {
        pthread_join(workers[i].thread, NULL);
        total += workers[i].tokens;
        if (workers[i].error) {
            fprintf(stderr, "jwt_sign failed\n");
            return 1;
        }
    }
    elapsed = bench_clock_seconds() - started;
    cpu = cpu_seconds() - cpu;

    printf("{\"algorithm\":\"%s\",\"threads\":%ld,\"tokens\":%llu,"
           "\"seconds\":%.3f,\"tokens_per_second\":%.1f,"
           "\"cpu_us_per_token\":%.2f}\n",
           signing_algorithm_name(algorithm), threads, total, elapsed,
           (double)total / elapsed, cpu * 1e6 / (double)total);
    signing_key_free(key);
    return 0;
}
