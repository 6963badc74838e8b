/*
 * tokenctl, the operator's tool: creates and manages clients, revokes
 * tokens and rotates signing keys, through the same store and keyring as
 * tokend. This file reads the command line and dispatches through the
 * command table; the commands live in src/admin/.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "admin/admin.h"

#define CLIENT_OPTIONS                                                         \
    (ADMIN_OPTION_NAME | ADMIN_OPTION_SCOPE | ADMIN_OPTION_SUBJECT |           \
     ADMIN_OPTION_PERMISSION | ADMIN_OPTION_JSON)

/* Each command: its words, usage, help, the options it takes, how many
 * operands follow, and the function that runs it. */
#define COMMAND(NAME, USAGE, HELP, OPTIONS, OPERANDS, RUN, VARIANT)            \
    {                                                                          \
        .name = NAME, .usage = USAGE, .help = HELP, .options = OPTIONS,        \
        .operands = OPERANDS, .run = RUN, .variant = VARIANT                   \
    }

static const struct admin_command commands[] = {
    COMMAND("client create",
            "--name NAME [--scope SCOPE] [--subject MEMBER] "
            "[--permission introspect] [--json]",
            "create a client; prints its ID and secret, shown only this once",
            CLIENT_OPTIONS, 0, admin_client_create, 0),
    COMMAND("client list", "[--json]", "list every client", ADMIN_OPTION_JSON,
            0, admin_client_list, 0),
    COMMAND("client show", "ID [--json]", "show one client (never its secret)",
            ADMIN_OPTION_JSON, 1, admin_client_show, 0),
    COMMAND("client disable", "ID",
            "refuse the client's credentials and tokens", 0, 1,
            admin_client_change, ADMIN_CLIENT_DISABLE),
    COMMAND("client enable", "ID", "accept the client again", 0, 1,
            admin_client_change, ADMIN_CLIENT_ENABLE),
    COMMAND("client delete", "ID", "delete the client and its refresh tokens",
            0, 1, admin_client_change, ADMIN_CLIENT_DELETE),
    COMMAND("client rotate-secret", "ID [--json]",
            "give the client a new secret, printed once; the old one stops "
            "working",
            ADMIN_OPTION_JSON, 1, admin_client_rotate_secret, 0),
    COMMAND("client revoke-tokens", "ID",
            "revoke every token issued to the client until now", 0, 1,
            admin_client_change, ADMIN_CLIENT_REVOKE_TOKENS),
    COMMAND("revoke", "TOKEN",
            "revoke one access or refresh token (\"-\" reads it from stdin)", 0,
            1, admin_revoke, 0),
    COMMAND("keys rotate", "[--algorithm ES256|EdDSA]",
            "retire the signing key and make a new one", ADMIN_OPTION_ALGORITHM,
            0, admin_keys_rotate, 0),
    COMMAND("keys list", "[--json]", "list signing keys (never private parts)",
            ADMIN_OPTION_JSON, 0, admin_keys_list, 0),
};

#define COMMAND_COUNT (sizeof(commands) / sizeof(commands[0]))

/* The settings tokenctl shares with tokend: flag, variable, default. */
static const struct {
    const char *flag;
    const char *variable;
    const char *fallback;
    const char *help;
} settings[] = {
    {"--db URL", "TOKEND_DB", "tokend.db",
     "the store: PATH, sqlite:PATH or postgres://..."},
    {"--master-key-file PATH", "TOKEND_MASTER_KEY_FILE", "PATH.master-key",
     "the master key file (beside an SQLite store by default)"},
    {"", "TOKEND_MASTER_KEY", "", "the master key as 64 hex digits"},
};

static void
help_print(void)
{
    printf("usage: tokenctl [--db URL] [--master-key-file PATH] COMMAND "
           "...\n\ncommands:\n");
    for (size_t index = 0; index < COMMAND_COUNT; index++)
        printf("  %s %s\n      %s\n", commands[index].name,
               commands[index].usage, commands[index].help);

    printf("\nsettings (flag, environment variable, default):\n");
    for (size_t index = 0; index < sizeof(settings) / sizeof(settings[0]);
         index++)
        printf("  %-24s %-24s %s\n      %s\n", settings[index].flag,
               settings[index].variable, settings[index].fallback,
               settings[index].help);

    printf("\nexit status: 0 done, 1 not found or failed, 2 usage error.\n"
           "Results go to stdout; errors and audit lines to stderr.\n");
}

/* How many of the command line's words the command's name takes, or 0
 * when they do not spell it. */
static int
command_words_match(const char *name, const struct admin_arguments *arguments)
{
    const char *cursor = name;
    size_t length;
    int count = 0;

    while (*cursor != '\0') {
        length = strcspn(cursor, " ");
        if (count == arguments->word_count ||
            strlen(arguments->words[count]) != length ||
            strncmp(arguments->words[count], cursor, length) != 0)
            return 0;
        count++;
        cursor += length + (cursor[length] == ' ');
    }
    return count;
}

/* Whether word starts a two-word command ("client", "keys"): only then is
 * the next word echoed, since for others it may be a token. */
static bool
is_command_group(const char *word)
{
    size_t length = strlen(word);

    for (size_t index = 0; index < COMMAND_COUNT; index++)
        if (strncmp(commands[index].name, word, length) == 0 &&
            commands[index].name[length] == ' ')
            return true;
    return false;
}

static const char *
option_name(unsigned option)
{
    static const char *const names[] = {"--name",    "--scope",
                                        "--subject", "--permission",
                                        "--json",    "--algorithm"};

    for (unsigned bit = 0; bit < sizeof(names) / sizeof(names[0]); bit++)
        if (option & (1u << bit))
            return names[bit];
    return "an option";
}

/* Finds the command and checks that its options and operands fit. */
static int
command_find(const struct admin_arguments *arguments,
             const struct admin_command **out, int *words)
{
    unsigned extra;

    for (size_t index = 0; index < COMMAND_COUNT; index++) {
        *words = command_words_match(commands[index].name, arguments);
        if (*words > 0) {
            *out = &commands[index];
            break;
        }
    }
    if (*words == 0 && arguments->word_count > 1 &&
        is_command_group(arguments->words[0]))
        return admin_usage("unknown command: %s %s", arguments->words[0],
                           arguments->words[1]);
    if (*words == 0)
        return admin_usage("unknown command: %s", arguments->words[0]);

    extra = arguments->given & ~(*out)->options;
    if (extra != 0)
        return admin_usage("%s does not take %s", (*out)->name,
                           option_name(extra));
    if (arguments->word_count - *words != (*out)->operands)
        return admin_usage("usage: tokenctl %s %s", (*out)->name,
                           (*out)->usage);
    return 0;
}

int
main(int argc, char **argv)
{
    const struct admin_command *command = NULL;
    struct admin_arguments arguments;
    struct admin admin = {.arguments = &arguments};
    int words = 0;
    int status;

    if (sodium_init() < 0)
        return admin_fail("cannot initialize libsodium");

    status = admin_arguments_parse(argc, argv, &arguments);
    if (status != 0)
        return status;
    if (arguments.help) {
        help_print();
        return ADMIN_EXIT_OK;
    }
    if (arguments.word_count == 0)
        return admin_usage("no command given");

    status = command_find(&arguments, &command, &words);
    if (status != 0)
        return status;

    admin.operands = arguments.words + words;
    admin.variant = command->variant;
    admin.now = (int64_t)time(NULL);
    status = command->run(&admin);
    store_close(admin.store);
    return status;
}
