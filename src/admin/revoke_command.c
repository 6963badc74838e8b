/*
 * tokenctl revoke: kills one token an operator holds. A refresh token
 * takes its whole family; an access token joins the revocation set until
 * it expires. Whether the token is ours is decided by its HMAC or its
 * signature (token_identify), never by its look.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "admin/admin.h"
#include "log/log.h"
#include "token/token_identify.h"

/* The longest token, a newline, and a NUL. */
#define TOKEN_BUFFER_SIZE (JWT_MAX_LENGTH + 2)

/* "-" reads the token from stdin, which keeps it out of the shell's
 * history and the process list. */
static int
token_read(const char *operand, char *out, size_t size, size_t *length)
{
    if (strcmp(operand, "-") != 0) {
        *length = strlen(operand);
        if (*length >= size)
            return admin_fail("not a tokend token: too long");
        memcpy(out, operand, *length + 1);
        return 0;
    }

    *length = fread(out, 1, size - 1, stdin);
    while (*length > 0 && isspace((unsigned char)out[*length - 1]))
        (*length)--;
    out[*length] = '\0';
    if (*length == 0)
        return admin_fail("no token on stdin");
    if (*length > size - 2)
        return admin_fail("not a tokend token: too long");
    return 0;
}

static int
revoke_refresh(struct admin *admin, const struct refresh_token *token)
{
    char family[REFRESH_FAMILY_ID_SIZE * 2 + 1];
    int error;

    error = store_family_revoke(admin->store, token->family_id,
                                token->client_id, token->expires_at);
    if (error == -ENOENT) {
        printf("client %s no longer exists; its refresh tokens went with "
               "it\n",
               token->client_id);
        return 0;
    }
    if (error < 0)
        return admin_fail("cannot revoke the refresh token: %s",
                          strerror(-error));

    sodium_bin2hex(family, sizeof(family), token->family_id,
                   sizeof(token->family_id));
    log_write(LOG_NOTICE, "refresh token revoked", "client_id=%s family=%s",
              token->client_id, family);
    printf("refresh token family %s of client %s revoked\n", family,
           token->client_id);
    return 0;
}

/* An expired token is refused anyway, so it needs no row. */
static int
revoke_access(struct admin *admin, const struct access_token_claims *claims)
{
    char expires[32];
    int error;

    if (claims->expires_at <= admin->now) {
        printf("access token %s has already expired\n", claims->token_id);
        return 0;
    }

    error = store_revocation_insert(admin->store, claims->token_id,
                                    claims->expires_at);
    if (error < 0)
        return admin_fail("cannot revoke the access token: %s",
                          strerror(-error));

    admin_format_time(claims->expires_at, expires, sizeof(expires));
    log_write(LOG_NOTICE, "access token revoked",
              "client_id=%s token_id=%s expires_at=%" PRId64, claims->client_id,
              claims->token_id, claims->expires_at);
    printf("access token %s of client %s revoked until %s\n", claims->token_id,
           claims->client_id, expires);
    return 0;
}

static int
revoke_identified(struct admin *admin, const struct identified_token *token)
{
    if (token->kind == TOKEN_REFRESH)
        return revoke_refresh(admin, &token->refresh);
    if (token->kind == TOKEN_ACCESS)
        return revoke_access(admin, &token->access.claims);
    return admin_fail("not a tokend token (or signed by a key this store "
                      "no longer holds)");
}

int
admin_revoke(struct admin *admin)
{
    unsigned char master_key[MASTER_KEY_SIZE];
    char token[TOKEN_BUFFER_SIZE];
    struct identified_token identified;
    struct keyring *keyring = NULL;
    size_t length = 0;
    int status;

    status = token_read(admin->operands[0], token, sizeof(token), &length);
    if (status == 0)
        status = admin_store_open(admin);
    if (status == 0)
        status = admin_keyring_load(admin, master_key, &keyring);
    sodium_memzero(master_key, sizeof(master_key));
    if (status != 0)
        goto fail;

    token_identify(keyring, token, length, TOKEN_UNKNOWN, &identified);
    status = revoke_identified(admin, &identified);
    sodium_memzero(&identified, sizeof(identified));

fail:
    keyring_free(keyring);
    sodium_memzero(token, sizeof(token));
    return status;
}
