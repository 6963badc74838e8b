/*
 * Every tokend setting in one typed table: name, flag, environment
 * variable, default and bounds. Environment variables are read first and
 * flags override them. --help prints the table; docs/configuration.md is
 * checked against it by a test. Called by tokend.c.
 */
#ifndef TOKEND_CONFIG_SETTINGS_H
#define TOKEND_CONFIG_SETTINGS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define SETTINGS_TEXT_SIZE 256

struct settings {
    char listen[SETTINGS_TEXT_SIZE];
    char database[SETTINGS_TEXT_SIZE];
    char issuer[SETTINGS_TEXT_SIZE];
    char audience[SETTINGS_TEXT_SIZE];
    char realm[SETTINGS_TEXT_SIZE];
    char signing_algorithm[SETTINGS_TEXT_SIZE];
    char master_key_file[SETTINGS_TEXT_SIZE];
    char log_level[SETTINGS_TEXT_SIZE];
    int64_t access_token_ttl;
    int64_t refresh_token_ttl;
    int64_t threads;
    int64_t max_connections;
    int64_t connection_timeout;
    int64_t max_body_size;
    int64_t cache_refresh_interval_ms;
    int64_t cleanup_interval;
    int64_t cleanup_batch;
    int64_t shutdown_grace;
    int64_t auth_failure_limit;
    int64_t auth_failure_window;
    int64_t verified_token_cache;
    int64_t store_threads;
    bool issuer_derived; /* from --listen, not given */
    bool audience_derived;
};

/*
 * Fills settings from defaults, the environment and argv. Returns 0, 1
 * when --help was given (the table is printed to out), or -EINVAL after
 * printing the reason to err.
 */
int settings_load(struct settings *settings, int argc, char **argv,
                  FILE *out, FILE *err);

/* With port 0 in --listen, puts the port the socket was bound to into a
 * derived issuer and audience. */
void settings_apply_bound_port(struct settings *settings, unsigned int port);

/* Prints the table of settings: flag, variable, default, bounds, help. */
void settings_print_help(FILE *out);

#endif
