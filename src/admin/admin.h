/*
 * What the tokenctl commands share: the parsed command line, the store and
 * keys opened on demand, input checks, and the exit codes. tokenctl.c
 * dispatches to the command functions declared here; the client, key and
 * revocation commands live in the files beside this one.
 *
 * Unlike the rest of tokend, every function here that a command returns
 * through gives a process exit code (enum admin_exit), and has already
 * printed a one-line reason on stderr when that code is not 0.
 */
#ifndef TOKEND_ADMIN_ADMIN_H
#define TOKEND_ADMIN_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "token/keyring.h"
#include "token/master_key.h"

enum admin_exit {
    ADMIN_EXIT_OK = 0,
    ADMIN_EXIT_FAILED = 1, /* not found, or the store or the keys failed */
    ADMIN_EXIT_USAGE = 2,
};

/* The options a command accepts, as bits of admin_command.options. */
enum admin_option {
    ADMIN_OPTION_NAME = 1 << 0,
    ADMIN_OPTION_SCOPE = 1 << 1,
    ADMIN_OPTION_SUBJECT = 1 << 2,
    ADMIN_OPTION_PERMISSION = 1 << 3,
    ADMIN_OPTION_JSON = 1 << 4,
    ADMIN_OPTION_ALGORITHM = 1 << 5,
};

#define ADMIN_WORDS_MAX 4

/* The command line. Strings are borrowed from argv. */
struct admin_arguments {
    const char *database;
    const char *master_key_file;
    const char *name;
    const char *scope;
    const char *subject;
    const char *algorithm;
    char permissions[STORE_PERMISSIONS_SIZE];
    bool json;
    bool help;
    unsigned given; /* enum admin_option bits that appeared */
    /* The words that are not options: the command, then its operands. */
    const char *words[ADMIN_WORDS_MAX];
    int word_count;
};

struct admin {
    const struct admin_arguments *arguments;
    const char *const *operands; /* the words after the command's name */
    int variant;                 /* the command table's, for its function */
    struct store *store;         /* opened by admin_store_open */
    int64_t now;
};

typedef int (*admin_run)(struct admin *admin);

/* One line of tokenctl's command table. */
struct admin_command {
    const char *name;  /* "client create" */
    const char *usage; /* what follows the name in the usage line */
    const char *help;
    unsigned options; /* enum admin_option bits it accepts */
    int operands;     /* how many words follow the name */
    admin_run run;
    int variant; /* handed to run in admin.variant */
};

/* Fills out from argv (after the program name). --db and
 * --master-key-file may appear anywhere; "--" ends the options.
 * ADMIN_EXIT_USAGE on an unknown option or a missing value. */
int admin_arguments_parse(int argc, char **argv, struct admin_arguments *out);

/* Prints "tokenctl: " and the message on stderr; returns ADMIN_EXIT_FAILED
 * or ADMIN_EXIT_USAGE (which adds a pointer to --help). */
__attribute__((format(printf, 1, 2))) int admin_fail(const char *format, ...);
__attribute__((format(printf, 1, 2))) int admin_usage(const char *format, ...);

/* Opens admin->store from --db or TOKEND_DB. */
int admin_store_open(struct admin *admin);

/*
 * Finds the master key as tokend does (--master-key-file or
 * TOKEND_MASTER_KEY_FILE, then TOKEND_MASTER_KEY, then the file beside an
 * SQLite store, created when missing) and loads every key with it, retired
 * ones included; a new store gets its server secrets and a first signing
 * key. master_key receives the key, for the caller to use and then wipe,
 * even on failure. *out is the caller's.
 */
int admin_keyring_load(struct admin *admin,
                       unsigned char master_key[MASTER_KEY_SIZE],
                       struct keyring **out);

/* Text the operator types: a name is 1 to 128 printable ASCII characters
 * (spaces too); a subject 1 to 128 visible ones; a client ID 1 to 64
 * visible ones. */
enum admin_text {
    ADMIN_TEXT_NAME,
    ADMIN_TEXT_SUBJECT,
    ADMIN_TEXT_CLIENT_ID,
};

/* Input checks: text as above, and a scope of RFC 6749 §3.3 scope-tokens,
 * space-separated, at most 255 characters. Each prints why it refuses and
 * returns ADMIN_EXIT_USAGE, else 0. */
int admin_check_text(enum admin_text kind, const char *value);
int admin_check_scope(const char *scope);

/* A listing: a JSON array with --json, else a table under a header. */
struct admin_list {
    bool json;
    int count;
};

/* Opens the store, then prints "[" or the header line that format makes.
 * 0, or what admin_store_open returned. */
__attribute__((format(printf, 3, 4))) int
admin_list_begin(struct admin *admin, struct admin_list *list,
                 const char *format, ...);
/* Prints one JSON object or one table row (without its newline). */
void admin_list_item(struct admin_list *list, const char *item);
/* Prints "]" for JSON; returns 0, or for a failed walk (error < 0) a
 * message naming what was listed and ADMIN_EXIT_FAILED. */
int admin_list_end(struct admin_list *list, int error, const char *what);

/* Writes time as "2024-01-31T12:00:00Z" into out (at least 21 bytes). */
void admin_format_time(int64_t time, char *out, size_t size);

int admin_client_create(struct admin *admin);
int admin_client_list(struct admin *admin);
int admin_client_show(struct admin *admin);
int admin_client_rotate_secret(struct admin *admin);

/* The client changes that take only an ID; admin.variant says which. */
enum admin_client_change {
    ADMIN_CLIENT_DISABLE,
    ADMIN_CLIENT_ENABLE,
    ADMIN_CLIENT_DELETE,
    ADMIN_CLIENT_REVOKE_TOKENS,
};
int admin_client_change(struct admin *admin);
int admin_revoke(struct admin *admin);
int admin_keys_rotate(struct admin *admin);
int admin_keys_list(struct admin *admin);

#endif
