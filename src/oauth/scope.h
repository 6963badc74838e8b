/*
 * Scopes as RFC 6749 §3.3 defines them: space-separated scope tokens of
 * printable ASCII other than '"' and '\'. Called by the grants, tokenctl
 * and the gateway check.
 */
#ifndef TOKEND_OAUTH_SCOPE_H
#define TOKEND_OAUTH_SCOPE_H

#include <stdbool.h>

/* Whether scope is a well-formed list: single spaces between non-empty
 * tokens, no leading or trailing space. The empty string is valid. */
bool scope_is_valid(const char *scope);

/* Whether every token of requested is in allowed. */
bool scope_is_subset(const char *requested, const char *allowed);

/* Whether scope holds the token one. */
bool scope_contains(const char *scope, const char *one);

#endif
