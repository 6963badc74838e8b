/*
 * The parts every tokenctl command needs: the command line, the store and
 * the keyring, input checks, messages and times. Commands are short
 * because the failures they share are reported here, once.
 */
#include "admin/admin.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log/log.h"
#include "oauth/scope.h"

#define SCOPE_MAX_LENGTH (STORE_SCOPE_SIZE - 1)

enum {
    OPTION_DATABASE = 256,
    OPTION_MASTER_KEY_FILE,
};

static const struct option options[] = {
    {"db", required_argument, NULL, OPTION_DATABASE},
    {"master-key-file", required_argument, NULL, OPTION_MASTER_KEY_FILE},
    {"name", required_argument, NULL, ADMIN_OPTION_NAME},
    {"scope", required_argument, NULL, ADMIN_OPTION_SCOPE},
    {"subject", required_argument, NULL, ADMIN_OPTION_SUBJECT},
    {"permission", required_argument, NULL, ADMIN_OPTION_PERMISSION},
    {"json", no_argument, NULL, ADMIN_OPTION_JSON},
    {"algorithm", required_argument, NULL, ADMIN_OPTION_ALGORITHM},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* The rights a client may carry beyond its scopes (see introspect.c). */
static const char *const known_permissions[] = {"introspect"};

__attribute__((format(printf, 1, 0))) static void
message_print(const char *format, va_list arguments)
{
    fputs("tokenctl: ", stderr);
    vfprintf(stderr, format, arguments);
    fputc('\n', stderr);
}

int
admin_fail(const char *format, ...)
{
    va_list arguments;

    va_start(arguments, format);
    message_print(format, arguments);
    va_end(arguments);
    return ADMIN_EXIT_FAILED;
}

int
admin_usage(const char *format, ...)
{
    va_list arguments;

    va_start(arguments, format);
    message_print(format, arguments);
    va_end(arguments);
    fputs("Try 'tokenctl --help'.\n", stderr);
    return ADMIN_EXIT_USAGE;
}

/* Adds one --permission to the space-separated list, once. */
static int
permission_add(struct admin_arguments *out, const char *permission)
{
    size_t count = sizeof(known_permissions) / sizeof(known_permissions[0]);
    size_t length = strlen(out->permissions);
    size_t room = sizeof(out->permissions) - length;
    size_t known = 0;
    int written;

    while (known < count && strcmp(known_permissions[known], permission) != 0)
        known++;
    if (known == count)
        return admin_usage("unknown permission: %s", permission);
    if (scope_contains(out->permissions, permission))
        return 0;

    written = snprintf(out->permissions + length, room, "%s%s",
                       length > 0 ? " " : "", permission);
    if (written < 0 || (size_t)written >= room) {
        out->permissions[length] = '\0';
        return admin_usage("too many permissions");
    }
    return 0;
}

static int
option_take(struct admin_arguments *out, int option, const char *value)
{
    if (option != 'h' && option < OPTION_DATABASE)
        out->given |= (unsigned)option;

    switch (option) {
    case OPTION_DATABASE:
        out->database = value;
        return 0;
    case OPTION_MASTER_KEY_FILE:
        out->master_key_file = value;
        return 0;
    case ADMIN_OPTION_NAME:
        out->name = value;
        return 0;
    case ADMIN_OPTION_SCOPE:
        out->scope = value;
        return 0;
    case ADMIN_OPTION_SUBJECT:
        out->subject = value;
        return 0;
    case ADMIN_OPTION_PERMISSION:
        return permission_add(out, value);
    case ADMIN_OPTION_JSON:
        out->json = true;
        return 0;
    case ADMIN_OPTION_ALGORITHM:
        out->algorithm = value;
        return 0;
    default:
        out->help = true;
        return 0;
    }
}

/* getopt_long moves the words after the options, so options may come
 * before or after the command; "--" ends them, for a token that starts
 * with a dash. */
int
admin_arguments_parse(int argc, char **argv, struct admin_arguments *out)
{
    int option;
    int status;

    memset(out, 0, sizeof(*out));
    opterr = 0;
    while ((option = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        if (option == '?')
            return admin_usage("unknown option: %s", argv[optind - 1]);
        if (option == ':')
            return admin_usage("%s needs a value", argv[optind - 1]);
        status = option_take(out, option, optarg);
        if (status != 0)
            return status;
    }

    for (; optind < argc; optind++) {
        if (out->word_count == ADMIN_WORDS_MAX)
            return admin_usage("too many arguments");
        out->words[out->word_count++] = argv[optind];
    }
    return 0;
}

/* Non-empty variables only: an empty TOKEND_DB= means "not set". */
static const char *
environment_get(const char *name)
{
    const char *value = getenv(name);

    return value != NULL && value[0] != '\0' ? value : NULL;
}

int
admin_store_open(struct admin *admin)
{
    const char *url = admin->arguments->database;
    int error;

    if (url == NULL)
        url = environment_get("TOKEND_DB");
    if (url == NULL)
        url = "tokend.db";

    error = store_open(url, &admin->store);
    if (error == -EINVAL)
        return admin_usage("--db: not a path, sqlite:PATH or postgres:// URL");
    /* A PostgreSQL URL may hold a password, so only paths are echoed. */
    if (error < 0 && strstr(url, "://") == NULL)
        return admin_fail("cannot open the store %s: %s", url,
                          strerror(-error));
    if (error < 0)
        return admin_fail("cannot open the store: %s", strerror(-error));
    return 0;
}

static int
master_key_find(struct admin *admin, unsigned char key[MASTER_KEY_SIZE])
{
    const char *file = admin->arguments->master_key_file;
    const char *store_path = store_file_path(admin->store);
    bool created = false;
    int error;

    if (file == NULL)
        file = environment_get("TOKEND_MASTER_KEY_FILE");
    error = master_key_obtain(file, environment_get("TOKEND_MASTER_KEY"),
                              store_path, true, key, &created);
    if (error == -ENOENT && store_path == NULL)
        return admin_fail("a PostgreSQL store needs --master-key-file or "
                          "TOKEND_MASTER_KEY");
    if (error < 0)
        return admin_fail("cannot read the master key: %s", strerror(-error));

    if (created)
        log_write(LOG_NOTICE, "master key created", "path=%s.master-key",
                  store_path);
    return 0;
}

int
admin_keyring_load(struct admin *admin,
                   unsigned char master_key[MASTER_KEY_SIZE],
                   struct keyring **out)
{
    int status;
    int error;

    status = master_key_find(admin, master_key);
    if (status != 0)
        return status;

    /* Keeping retired keys for as long as now reaches back loads them
     * all, so revoke can verify any token this store ever signed. */
    error = keyring_load(admin->store, master_key, SIGNING_ES256, admin->now,
                         admin->now, out);
    if (error == -EBADMSG)
        return admin_fail("the master key does not open this store's keys");
    if (error < 0)
        return admin_fail("cannot load the keys: %s", strerror(-error));
    return 0;
}

static const struct {
    const char *label;
    size_t max_length;
    unsigned char lowest;
    const char *characters;
} texts[] = {
    [ADMIN_TEXT_NAME] = {"--name", STORE_NAME_SIZE - 1, ' ',
                         "printable ASCII characters"},
    [ADMIN_TEXT_SUBJECT] = {"--subject", STORE_SUBJECT_SIZE - 1, '!',
                            "visible ASCII characters, no spaces"},
    [ADMIN_TEXT_CLIENT_ID] = {"a client ID", STORE_CLIENT_ID_SIZE - 1, '!',
                              "visible ASCII characters"},
};

int
admin_check_text(enum admin_text kind, const char *value)
{
    size_t length = strlen(value);
    size_t index = 0;

    while (index < length &&
           (unsigned char)value[index] >= texts[kind].lowest &&
           value[index] <= '~')
        index++;
    if (length > 0 && length <= texts[kind].max_length && index == length)
        return 0;

    return admin_usage("%s: 1 to %zu %s", texts[kind].label,
                       texts[kind].max_length, texts[kind].characters);
}

int
admin_check_scope(const char *scope)
{
    if (strlen(scope) <= SCOPE_MAX_LENGTH && scope_is_valid(scope))
        return 0;
    return admin_usage("--scope: scope tokens of visible ASCII except \" "
                       "and \\, one space apart, at most %d characters",
                       SCOPE_MAX_LENGTH);
}

void
admin_format_time(int64_t time, char *out, size_t size)
{
    time_t seconds = (time_t)time;
    struct tm calendar;

    if (gmtime_r(&seconds, &calendar) == NULL ||
        strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &calendar) == 0)
        snprintf(out, size, "%lld", (long long)time);
}

int
admin_list_begin(struct admin *admin, struct admin_list *list,
                 const char *format, ...)
{
    va_list arguments;
    int status;

    status = admin_store_open(admin);
    if (status != 0)
        return status;

    list->json = admin->arguments->json;
    if (list->json) {
        printf("[");
        return 0;
    }
    va_start(arguments, format);
    vprintf(format, arguments);
    va_end(arguments);
    printf("\n");
    return 0;
}

void
admin_list_item(struct admin_list *list, const char *item)
{
    if (list->json)
        printf("%s%s", list->count > 0 ? ",\n " : "", item);
    else
        printf("%s\n", item);
    list->count++;
}

int
admin_list_end(struct admin_list *list, int error, const char *what)
{
    if (list->json)
        printf("]\n");
    if (error < 0)
        return admin_fail("cannot list %s: %s", what, strerror(-error));
    return 0;
}
