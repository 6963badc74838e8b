/*
 * Throttling of failed client authentications, per pair of client ID and
 * source address. Keying on the pair keeps other clients behind the same
 * address (NAT, a gateway) at full speed, and keeps an attacker elsewhere
 * from locking a victim client out. Called by client authentication; every
 * function accepts a NULL throttle (throttling off) and does nothing.
 */
#ifndef TOKEND_OAUTH_THROTTLE_H
#define TOKEND_OAUTH_THROTTLE_H

#include <stdbool.h>
#include <stdint.h>

struct throttle;

/* limit failures within window seconds block the pair until the window
 * ends. *out is the caller's; NULL when limit is 0. */
int throttle_new(int64_t limit, int64_t window, struct throttle **out);
void throttle_free(struct throttle *throttle);

/* Whether the pair is blocked now; *retry_after gets the seconds left. */
bool throttle_is_blocked(struct throttle *throttle, const char *client_id,
                         const char *address, int *retry_after);

void throttle_record_failure(struct throttle *throttle,
                             const char *client_id, const char *address);

#endif
