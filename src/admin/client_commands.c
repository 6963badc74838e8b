/*
 * tokenctl's client commands: create, list, show, disable, enable, delete,
 * rotate-secret and revoke-tokens. A secret is printed once, when made,
 * and only its keyed hash is stored; no command prints a hash. Every
 * change writes an audit line on stderr.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "admin/admin.h"
#include "log/log.h"
#include "token/secret.h"
#include "util/text.h"

#define CLIENT_JSON_SIZE 2048
/* A row of client list: ID, status, created, name. */
#define CLIENT_ROW "%-32s  %-8s  %-20s  %s"
/* log_quote may double every character and add quotes. */
#define QUOTED_SIZE (2 * STORE_SCOPE_SIZE + 3)

static void
client_format_json(struct text_buffer *text, const struct store_client *client)
{
    text_append(text, "{\"client_id\":");
    text_append_json_string(text, client->id);
    text_append(text, ",\"name\":");
    text_append_json_string(text, client->name);
    text_append(text, ",\"scope\":");
    text_append_json_string(text, client->scope);
    text_append(text, ",\"subject\":");
    text_append_json_string(text, client->subject);
    text_append(text, ",\"permissions\":");
    text_append_json_string(text, client->permissions);
    text_append(text,
                ",\"disabled\":%s,\"created_at\":%" PRId64
                ",\"tokens_not_before\":%" PRId64 "}",
                client->disabled ? "true" : "false", client->created_at,
                client->tokens_not_before);
}

static void
client_print_text(const struct store_client *client)
{
    char created[32];
    char not_before[32] = "-";

    admin_format_time(client->created_at, created, sizeof(created));
    if (client->tokens_not_before > 0)
        admin_format_time(client->tokens_not_before, not_before,
                          sizeof(not_before));

    printf("client_id:         %s\n", client->id);
    printf("name:              %s\n", client->name);
    printf("scope:             %s\n", client->scope);
    printf("subject:           %s\n", client->subject);
    printf("permissions:       %s\n", client->permissions);
    printf("status:            %s\n",
           client->disabled ? "disabled" : "enabled");
    printf("created:           %s\n", created);
    printf("tokens_not_before: %s\n", not_before);
}

/* The one time a secret is shown: for a new client or a new secret. */
static void
secret_print(const struct store_client *client, const char *secret, bool json)
{
    char data[CLIENT_JSON_SIZE];
    struct text_buffer text;

    if (!json) {
        printf("client_id:     %s\nclient_secret: %s\n", client->id, secret);
        return;
    }

    text_init(&text, data, sizeof(data));
    text_append(&text, "{\"client_id\":");
    text_append_json_string(&text, client->id);
    text_append(&text, ",\"client_secret\":");
    text_append_json_string(&text, secret);
    text_append(&text, ",\"name\":");
    text_append_json_string(&text, client->name);
    text_append(&text, ",\"scope\":");
    text_append_json_string(&text, client->scope);
    text_append(&text, "}");
    printf("%s\n", data);
    fflush(stdout);
    sodium_memzero(data, sizeof(data));
}

/* Makes a secret and stores its keyed hash in client->secret_hash; the
 * caller prints the secret once and wipes it. */
static int
secret_make(struct admin *admin, struct store_client *client,
            char secret[CLIENT_SECRET_LENGTH + 1])
{
    unsigned char master_key[MASTER_KEY_SIZE];
    struct keyring *keyring = NULL;
    int status;

    status = admin_keyring_load(admin, master_key, &keyring);
    sodium_memzero(master_key, sizeof(master_key));
    if (status != 0)
        return status;

    secret_generate_client_secret(secret);
    secret_hash(keyring_secret_hash_key(keyring), secret, CLIENT_SECRET_LENGTH,
                client->secret_hash);
    keyring_free(keyring);
    return 0;
}

static int
create_check(const struct admin_arguments *arguments)
{
    int status = 0;

    if (arguments->name == NULL)
        return admin_usage("client create needs --name");
    status = admin_check_text(ADMIN_TEXT_NAME, arguments->name);
    if (status == 0 && arguments->scope != NULL)
        status = admin_check_scope(arguments->scope);
    if (status == 0 && arguments->subject != NULL)
        status = admin_check_text(ADMIN_TEXT_SUBJECT, arguments->subject);
    return status;
}

/* The arguments were checked, so every copy fits. */
static void
create_fill(struct store_client *client, const struct admin *admin)
{
    const struct admin_arguments *arguments = admin->arguments;

    memset(client, 0, sizeof(*client));
    secret_generate_client_id(client->id);
    text_copy(client->name, sizeof(client->name), arguments->name);
    text_copy(client->scope, sizeof(client->scope),
              arguments->scope != NULL ? arguments->scope : "");
    text_copy(client->subject, sizeof(client->subject),
              arguments->subject != NULL ? arguments->subject : "");
    text_copy(client->permissions, sizeof(client->permissions),
              arguments->permissions);
    client->created_at = admin->now;
}

static void
create_audit(const struct store_client *client)
{
    char name[QUOTED_SIZE];
    char scope[QUOTED_SIZE];
    char subject[QUOTED_SIZE];
    char permissions[QUOTED_SIZE];

    log_write(LOG_NOTICE, "client created",
              "client_id=%s name=%s scope=%s subject=%s permissions=%s",
              client->id, log_quote(client->name, name, sizeof(name)),
              log_quote(client->scope, scope, sizeof(scope)),
              log_quote(client->subject, subject, sizeof(subject)),
              log_quote(client->permissions, permissions, sizeof(permissions)));
}

int
admin_client_create(struct admin *admin)
{
    char secret[CLIENT_SECRET_LENGTH + 1];
    struct store_client client;
    int status;
    int error;

    status = create_check(admin->arguments);
    if (status == 0)
        status = admin_store_open(admin);
    if (status != 0)
        return status;

    create_fill(&client, admin);
    status = secret_make(admin, &client, secret);
    if (status != 0)
        goto fail;

    error = store_client_insert(admin->store, &client);
    if (error < 0) {
        status = admin_fail("cannot create the client: %s", strerror(-error));
        goto fail;
    }
    create_audit(&client);
    secret_print(&client, secret, admin->arguments->json);

fail:
    sodium_memzero(secret, sizeof(secret));
    sodium_memzero(&client, sizeof(client));
    return status;
}

/* Checks the command's client ID operand and opens the store. */
static int
client_command_start(struct admin *admin)
{
    int status;

    status = admin_check_text(ADMIN_TEXT_CLIENT_ID, admin->operands[0]);
    if (status == 0)
        status = admin_store_open(admin);
    return status;
}

/* Reports a store call about the command's client that failed. */
static int
client_command_fail(struct admin *admin, int error, const char *doing)
{
    if (error == -ENOENT)
        return admin_fail("no client %s", admin->operands[0]);
    return admin_fail("cannot %s client %s: %s", doing, admin->operands[0],
                      strerror(-error));
}

/* Finds the client named by the command's operand into out. */
static int
client_load(struct admin *admin, struct store_client *out)
{
    int status;
    int error;

    status = client_command_start(admin);
    if (status != 0)
        return status;

    error = store_client_find(admin->store, admin->operands[0], out);
    return error < 0 ? client_command_fail(admin, error, "read") : 0;
}

int
admin_client_show(struct admin *admin)
{
    char data[CLIENT_JSON_SIZE];
    struct store_client client;
    struct text_buffer text;
    int status;

    status = client_load(admin, &client);
    if (status != 0)
        return status;

    if (admin->arguments->json) {
        text_init(&text, data, sizeof(data));
        client_format_json(&text, &client);
        printf("%s\n", data);
    } else {
        client_print_text(&client);
    }
    sodium_memzero(&client, sizeof(client));
    return 0;
}

static int
list_print(const struct store_client *client, void *argument)
{
    char data[CLIENT_JSON_SIZE];
    struct text_buffer text;
    char created[32];

    text_init(&text, data, sizeof(data));
    if (((struct admin_list *)argument)->json) {
        client_format_json(&text, client);
    } else {
        admin_format_time(client->created_at, created, sizeof(created));
        text_append(&text, CLIENT_ROW, client->id,
                    client->disabled ? "disabled" : "enabled", created,
                    client->name);
    }
    admin_list_item(argument, data);
    return 0;
}

int
admin_client_list(struct admin *admin)
{
    struct admin_list list = {.count = 0};
    int status;

    status = admin_list_begin(admin, &list, CLIENT_ROW, "CLIENT_ID", "STATUS",
                              "CREATED", "NAME");
    if (status != 0)
        return status;
    return admin_list_end(
        &list, store_client_list(admin->store, list_print, &list), "clients");
}

/* Each change that needs only the client's ID: its audit message and
 * what the operator is told. */
static const struct {
    const char *audit;
    const char *done;
} changes[] = {
    [ADMIN_CLIENT_DISABLE] = {"client disabled", "disabled"},
    [ADMIN_CLIENT_ENABLE] = {"client enabled", "enabled"},
    [ADMIN_CLIENT_DELETE] = {"client deleted",
                             "deleted, with its refresh tokens"},
    [ADMIN_CLIENT_REVOKE_TOKENS] = {"client tokens revoked",
                                    "tokens issued until now revoked"},
};

/* Revoking tokens kills those issued in this second too: the checks
 * refuse iat <= the mark, and new tokens get a later iat
 * (token_response.c). */
static int
change_apply(struct admin *admin, const char *client_id)
{
    switch (admin->variant) {
    case ADMIN_CLIENT_DISABLE:
        return store_client_set_disabled(admin->store, client_id, true);
    case ADMIN_CLIENT_ENABLE:
        return store_client_set_disabled(admin->store, client_id, false);
    case ADMIN_CLIENT_DELETE:
        return store_client_delete(admin->store, client_id);
    default:
        return store_client_revoke_tokens(admin->store, client_id, admin->now);
    }
}

int
admin_client_change(struct admin *admin)
{
    const char *client_id = admin->operands[0];
    int status;
    int error;

    status = client_command_start(admin);
    if (status != 0)
        return status;

    error = change_apply(admin, client_id);
    if (error < 0)
        return client_command_fail(admin, error, "change");

    log_write(LOG_NOTICE, changes[admin->variant].audit, "client_id=%s",
              client_id);
    printf("client %s %s\n", client_id, changes[admin->variant].done);
    return 0;
}

/* Existing tokens stay valid: rotating a secret that leaked is usually
 * followed by revoke-tokens, which the operator chooses. */
int
admin_client_rotate_secret(struct admin *admin)
{
    char secret[CLIENT_SECRET_LENGTH + 1];
    struct store_client client;
    int status;
    int error;

    status = client_load(admin, &client);
    if (status != 0)
        return status;

    status = secret_make(admin, &client, secret);
    if (status != 0)
        goto fail;

    error = store_client_set_secret_hash(admin->store, client.id,
                                         client.secret_hash);
    if (error < 0) {
        status =
            admin_fail("cannot store the new secret: %s", strerror(-error));
        goto fail;
    }
    log_write(LOG_NOTICE, "client secret rotated", "client_id=%s", client.id);
    secret_print(&client, secret, admin->arguments->json);

fail:
    sodium_memzero(secret, sizeof(secret));
    sodium_memzero(&client, sizeof(client));
    return status;
}
