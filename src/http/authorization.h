/*
 * The Authorization request header: HTTP Basic client credentials
 * (RFC 7617, with RFC 6749 §2.3.1's form-encoding inside) and Bearer
 * tokens (RFC 6750 §2.1). Called by client authentication and by every
 * endpoint that checks an access token.
 */
#ifndef TOKEND_HTTP_AUTHORIZATION_H
#define TOKEND_HTTP_AUTHORIZATION_H

#include <stddef.h>

#define AUTHORIZATION_MAX_LENGTH 4096

/*
 * Decodes "Basic base64(user:password)" and form-decodes both parts into
 * the caller's buffers. -ENOENT: the header uses another scheme. -EINVAL:
 * malformed base64, no colon or a bad escape. -ENOSPC: a part too long for
 * its buffer.
 */
int authorization_parse_basic(const char *header, char *user,
                              size_t user_size, char *password,
                              size_t password_size);

/*
 * Finds the token in "Bearer <b64token>". *token borrows from header.
 * -ENOENT: another scheme. -EINVAL: no token, or characters outside the
 * b64token syntax.
 */
int authorization_parse_bearer(const char *header, const char **token,
                               size_t *length);

#endif
