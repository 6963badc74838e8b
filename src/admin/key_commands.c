/*
 * tokenctl's signing key commands: list the keys (never their private
 * part) and rotate to a new one. A rotated-out key stays published until
 * its tokens expire; tokend signs with the new key after its next reload,
 * which the change counter triggers within a second.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "admin/admin.h"
#include "log/log.h"
#include "util/text.h"

#define KEY_JSON_SIZE 256
/* A row of keys list: ID, algorithm, created, retired. */
#define KEY_ROW "%-44s  %-9s  %-20s  %s"

static int
key_print(const struct store_signing_key *key, void *argument)
{
    char data[KEY_JSON_SIZE];
    struct text_buffer text;
    char created[32];
    char retired[32] = "-";

    admin_format_time(key->created_at, created, sizeof(created));
    if (key->retired_at > 0)
        admin_format_time(key->retired_at, retired, sizeof(retired));

    text_init(&text, data, sizeof(data));
    if (((struct admin_list *)argument)->json) {
        text_append(&text, "{\"key_id\":");
        text_append_json_string(&text, key->id);
        text_append(&text, ",\"algorithm\":");
        text_append_json_string(&text, key->algorithm);
        text_append(&text,
                    ",\"created_at\":%" PRId64 ",\"retired_at\":%" PRId64 "}",
                    key->created_at, key->retired_at);
    } else {
        text_append(&text, KEY_ROW, key->id, key->algorithm, created, retired);
    }
    admin_list_item(argument, data);
    return 0;
}

int
admin_keys_list(struct admin *admin)
{
    struct admin_list list = {.count = 0};
    int status;

    status = admin_list_begin(admin, &list, KEY_ROW, "KEY_ID", "ALGORITHM",
                              "CREATED", "RETIRED");
    if (status != 0)
        return status;
    return admin_list_end(
        &list, store_signing_key_list(admin->store, key_print, &list), "keys");
}

static int
key_find_newest(const struct store_signing_key *key, void *argument)
{
    struct store_signing_key *newest = argument;

    if (key->retired_at == 0)
        *newest = *key;
    return 0;
}

/* Without --algorithm, the new key keeps the algorithm of the key that
 * signs now, so that a rotation never changes what clients must accept. */
static int
algorithm_choose(struct admin *admin, const struct keyring *keyring,
                 enum signing_algorithm *out)
{
    const struct signing_key *signing = keyring_signing_key(keyring);

    if (admin->arguments->algorithm == NULL) {
        *out = signing != NULL ? signing_key_algorithm(signing) : SIGNING_ES256;
        return 0;
    }
    if (signing_algorithm_parse(admin->arguments->algorithm, out) < 0)
        return admin_usage("--algorithm: ES256 or EdDSA");
    return 0;
}

/* The keyring is loaded first to prove the master key opens the stored
 * keys: a new key sealed under another master key would lock tokend
 * out at its next start. */
static int
key_rotate(struct admin *admin, struct store_signing_key *newest)
{
    unsigned char master_key[MASTER_KEY_SIZE];
    enum signing_algorithm algorithm = SIGNING_ES256;
    struct keyring *keyring = NULL;
    int status;
    int error;

    status = admin_keyring_load(admin, master_key, &keyring);
    if (status == 0)
        status = algorithm_choose(admin, keyring, &algorithm);
    keyring_free(keyring);
    if (status != 0)
        goto fail;

    error = keyring_rotate(admin->store, master_key, algorithm, admin->now);
    if (error == 0)
        error = store_signing_key_list(admin->store, key_find_newest, newest);
    if (error < 0)
        status =
            admin_fail("cannot rotate the signing key: %s", strerror(-error));

fail:
    sodium_memzero(master_key, sizeof(master_key));
    return status;
}

int
admin_keys_rotate(struct admin *admin)
{
    struct store_signing_key newest = {.id = ""};
    enum signing_algorithm algorithm;
    int status;

    if (admin->arguments->algorithm != NULL &&
        signing_algorithm_parse(admin->arguments->algorithm, &algorithm) < 0)
        return admin_usage("--algorithm: ES256 or EdDSA");

    status = admin_store_open(admin);
    if (status == 0)
        status = key_rotate(admin, &newest);
    if (status != 0)
        return status;

    log_write(LOG_NOTICE, "signing key rotated", "key_id=%s algorithm=%s",
              newest.id, newest.algorithm);
    printf("signing key %s (%s) signs from tokend's next reload\n", newest.id,
           newest.algorithm);
    sodium_memzero(&newest, sizeof(newest));
    return 0;
}
