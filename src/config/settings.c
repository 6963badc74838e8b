/*
 * The table of settings and its parser. The table is the one place a
 * setting is declared: adding a row adds the flag, the environment
 * variable, the default, the bounds check and the --help line.
 */
#include "config/settings.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "util/text.h"

enum setting_type { SETTING_TEXT, SETTING_INTEGER };

struct setting {
    const char *flag; /* without the leading "--" */
    const char *variable;
    enum setting_type type;
    size_t offset;
    const char *default_value;
    int64_t minimum; /* integers only */
    int64_t maximum;
    const char *help;
};

#define TEXT(flag, variable, field, default_value, help)                       \
    {flag,  variable, SETTING_TEXT, offsetof(struct settings, field),          \
     default_value, 0, 0, help}
#define INTEGER(flag, variable, field, default_value, minimum, maximum, help)  \
    {flag,    variable, SETTING_INTEGER, offsetof(struct settings, field),     \
     default_value, minimum, maximum, help}

static const struct setting setting_table[] = {
    TEXT("listen", "TOKEND_LISTEN", listen, "127.0.0.1:8080",
         "address and port to serve on; [::1]:8080 for IPv6; port 0 picks "
         "a free one"),
    TEXT("db", "TOKEND_DB", database, "tokend.db",
         "store: a file path, sqlite:PATH or postgres://..."),
    TEXT("issuer", "TOKEND_ISSUER", issuer, "",
         "the iss of every token and the metadata's issuer; default "
         "http:// and the listen address"),
    TEXT("audience", "TOKEND_AUDIENCE", audience, "",
         "the aud of every access token; default the issuer"),
    TEXT("realm", "TOKEND_REALM", realm, "tokend",
         "realm named in WWW-Authenticate"),
    TEXT("signing-algorithm", "TOKEND_SIGNING_ALGORITHM", signing_algorithm,
         "ES256", "algorithm of a new signing key: ES256 or EdDSA"),
    TEXT("master-key-file", "TOKEND_MASTER_KEY_FILE", master_key_file, "",
         "file holding the 64-hex-character key that seals stored keys; "
         "TOKEND_MASTER_KEY gives the key itself; with SQLite, when neither "
         "is given, the key file sits beside the store as PATH.master-key"),
    TEXT("log-level", "TOKEND_LOG_LEVEL", log_level, "info",
         "error, warn, notice, info or debug"),
    INTEGER("access-token-ttl", "TOKEND_ACCESS_TOKEN_TTL", access_token_ttl,
            "3600", 10, 86400, "seconds an access token lives"),
    INTEGER("refresh-token-ttl", "TOKEND_REFRESH_TOKEN_TTL",
            refresh_token_ttl, "2592000", 10, 31536000,
            "seconds a refresh token lives"),
    INTEGER("threads", "TOKEND_THREADS", threads, "0", 0, 256,
            "HTTP worker threads; 0 means one per core"),
    INTEGER("max-connections", "TOKEND_MAX_CONNECTIONS", max_connections,
            "1024", 1, 65536, "connections served at once"),
    INTEGER("connection-timeout", "TOKEND_CONNECTION_TIMEOUT",
            connection_timeout, "10", 1, 3600,
            "seconds an idle or trickling connection is kept"),
    INTEGER("max-body-size", "TOKEND_MAX_BODY_SIZE", max_body_size, "8192",
            256, 1048576, "largest request body in bytes; more is 413"),
    INTEGER("cache-refresh-interval-ms", "TOKEND_CACHE_REFRESH_INTERVAL_MS",
            cache_refresh_interval_ms, "200", 10, 10000,
            "how often the store's change counter is polled"),
    INTEGER("cleanup-interval", "TOKEND_CLEANUP_INTERVAL", cleanup_interval,
            "30", 1, 86400, "seconds between deletions of expired rows"),
    INTEGER("cleanup-batch", "TOKEND_CLEANUP_BATCH", cleanup_batch, "1000", 1,
            1000000, "expired rows deleted per table at a time"),
    INTEGER("shutdown-grace", "TOKEND_SHUTDOWN_GRACE", shutdown_grace, "10", 0,
            600, "seconds requests in flight get to finish on SIGTERM"),
    INTEGER("auth-failure-limit", "TOKEND_AUTH_FAILURE_LIMIT",
            auth_failure_limit, "10", 0, 1000000,
            "failed client authentications per client and address in a "
            "window before 429; 0 turns throttling off"),
    INTEGER("auth-failure-window", "TOKEND_AUTH_FAILURE_WINDOW",
            auth_failure_window, "60", 1, 86400,
            "seconds over which failed authentications are counted"),
    INTEGER("store-threads", "TOKEND_STORE_THREADS", store_threads, "64", 0,
            1024,
            "threads that wait for refresh rotations to commit, so that "
            "concurrent refreshes share commits; 0 makes the HTTP threads "
            "wait"),
    INTEGER("verified-token-cache", "TOKEND_VERIFIED_TOKEN_CACHE",
            verified_token_cache, "4096", 0, 1048576,
            "access tokens whose signature check is remembered; 0 checks "
            "every time"),
};

#define SETTING_COUNT (sizeof(setting_table) / sizeof(setting_table[0]))

static int
assign(struct settings *settings, const struct setting *setting,
       const char *value, const char *source, FILE *err)
{
    char *field = (char *)settings + setting->offset;
    int64_t number;
    char *end;

    if (setting->type == SETTING_TEXT) {
        if (text_copy(field, SETTINGS_TEXT_SIZE, value) < 0) {
            fprintf(err, "tokend: %s: %s is too long\n", source,
                    setting->flag);
            return -EINVAL;
        }
        return 0;
    }

    errno = 0;
    number = strtoll(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' ||
        number < setting->minimum || number > setting->maximum) {
        fprintf(err,
                "tokend: %s: --%s must be a whole number from %" PRId64
                " to %" PRId64 ", not \"%s\"\n",
                source, setting->flag, setting->minimum, setting->maximum,
                value);
        return -EINVAL;
    }
    memcpy(field, &number, sizeof(number));
    return 0;
}

static const struct setting *
find_flag(const char *flag, size_t length)
{
    for (size_t i = 0; i < SETTING_COUNT; i++) {
        if (strlen(setting_table[i].flag) == length &&
            strncmp(setting_table[i].flag, flag, length) == 0)
            return &setting_table[i];
    }
    return NULL;
}

static int
load_defaults_and_environment(struct settings *settings, FILE *err)
{
    for (size_t i = 0; i < SETTING_COUNT; i++) {
        const struct setting *setting = &setting_table[i];
        const char *value = getenv(setting->variable);

        if (assign(settings, setting, setting->default_value, "default",
                   err) < 0)
            return -EINVAL;
        if (value != NULL &&
            assign(settings, setting, value, setting->variable, err) < 0)
            return -EINVAL;
    }
    return 0;
}

static int
load_arguments(struct settings *settings, int argc, char **argv, FILE *err)
{
    for (int i = 1; i < argc; i++) {
        const char *argument = argv[i];
        const char *equals;
        const struct setting *setting;
        const char *value;

        if (strncmp(argument, "--", 2) != 0) {
            fprintf(err, "tokend: unexpected argument \"%s\"\n", argument);
            return -EINVAL;
        }
        argument += 2;
        equals = strchr(argument, '=');
        setting = find_flag(argument, equals ? (size_t)(equals - argument)
                                             : strlen(argument));
        if (setting == NULL) {
            fprintf(err, "tokend: unknown flag --%s (see --help)\n",
                    argument);
            return -EINVAL;
        }

        if (equals != NULL) {
            value = equals + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            fprintf(err, "tokend: --%s needs a value\n", setting->flag);
            return -EINVAL;
        }
        if (assign(settings, setting, value, "command line", err) < 0)
            return -EINVAL;
    }
    return 0;
}

static int
has_help_flag(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    }
    return 0;
}

/* Settings whose default depends on another one. */
static int
derive_defaults(struct settings *settings, FILE *err)
{
    char issuer[SETTINGS_TEXT_SIZE + 8];

    settings->issuer_derived = settings->issuer[0] == '\0';
    settings->audience_derived = settings->audience[0] == '\0';

    if (settings->issuer_derived) {
        snprintf(issuer, sizeof(issuer), "http://%s", settings->listen);
        if (text_copy(settings->issuer, SETTINGS_TEXT_SIZE, issuer) < 0) {
            fprintf(err, "tokend: --listen is too long\n");
            return -EINVAL;
        }
    }
    if (settings->audience[0] == '\0')
        memcpy(settings->audience, settings->issuer, SETTINGS_TEXT_SIZE);
    return 0;
}

int
settings_load(struct settings *settings, int argc, char **argv, FILE *out,
              FILE *err)
{
    memset(settings, 0, sizeof(*settings));

    if (has_help_flag(argc, argv)) {
        settings_print_help(out);
        return 1;
    }
    if (load_defaults_and_environment(settings, err) < 0)
        return -EINVAL;
    if (load_arguments(settings, argc, argv, err) < 0)
        return -EINVAL;
    return derive_defaults(settings, err);
}

/* Prints text word-wrapped to fit 80 columns after the indent. */
static void
print_wrapped(FILE *out, const char *text, int indent)
{
    const int width = 78 - indent;

    while (*text) {
        int length = (int)strlen(text);
        int cut = length;

        if (length > width) {
            cut = width;
            while (cut > 0 && text[cut] != ' ')
                cut--;
            if (cut == 0)
                cut = width;
        }
        fprintf(out, "%*s%.*s\n", indent, "", cut, text);
        text += cut;
        while (*text == ' ')
            text++;
    }
}

void
settings_apply_bound_port(struct settings *settings, unsigned int port)
{
    char issuer[SETTINGS_TEXT_SIZE];
    const char *colon = strrchr(settings->listen, ':');
    int prefix;

    if (!settings->issuer_derived || colon == NULL || strcmp(colon, ":0") != 0)
        return;

    prefix = (int)(colon - settings->listen);
    snprintf(issuer, sizeof(issuer), "http://%.*s:%u", prefix,
             settings->listen, port);
    memcpy(settings->issuer, issuer, SETTINGS_TEXT_SIZE);
    if (settings->audience_derived)
        memcpy(settings->audience, issuer, SETTINGS_TEXT_SIZE);
}

void
settings_print_help(FILE *out)
{
    fprintf(out, "usage: tokend [--flag value]...\n\n"
                 "Every flag can also be set by its environment variable; "
                 "a flag wins.\n\n");

    for (size_t i = 0; i < SETTING_COUNT; i++) {
        const struct setting *setting = &setting_table[i];

        fprintf(out, "  --%s (%s)\n", setting->flag, setting->variable);
        print_wrapped(out, setting->help, 6);
        fprintf(out, "      default: %s",
                setting->default_value[0] ? setting->default_value
                                          : "(derived)");
        if (setting->type == SETTING_INTEGER)
            fprintf(out, ", from %" PRId64 " to %" PRId64, setting->minimum,
                    setting->maximum);
        fputc('\n', out);
    }
}
