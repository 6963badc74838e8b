/*
 * Scope lists are short (a handful of tokens), so the subset check walks
 * them directly instead of building a set.
 */
#include "oauth/scope.h"

#include <string.h>

static bool
is_scope_character(char character)
{
    unsigned char byte = (unsigned char)character;

    return byte >= 0x21 && byte <= 0x7e && byte != '"' && byte != '\\';
}

bool
scope_is_valid(const char *scope)
{
    bool token_started = false;

    for (const char *cursor = scope; *cursor; cursor++) {
        if (*cursor == ' ') {
            if (!token_started)
                return false;
            token_started = false;
            continue;
        }
        if (!is_scope_character(*cursor))
            return false;
        token_started = true;
    }
    return scope[0] == '\0' || token_started;
}

static bool
contains_word(const char *scope, const char *word, size_t length)
{
    const char *cursor = scope;

    while (*cursor) {
        const char *end = strchr(cursor, ' ');
        size_t word_length = end ? (size_t)(end - cursor) : strlen(cursor);

        if (word_length == length && strncmp(cursor, word, length) == 0)
            return true;
        if (end == NULL)
            break;
        cursor = end + 1;
    }
    return false;
}

bool
scope_is_subset(const char *requested, const char *allowed)
{
    const char *cursor = requested;

    while (*cursor) {
        const char *end = strchr(cursor, ' ');
        size_t length = end ? (size_t)(end - cursor) : strlen(cursor);

        if (length > 0 && !contains_word(allowed, cursor, length))
            return false;
        if (end == NULL)
            break;
        cursor = end + 1;
    }
    return true;
}

bool
scope_contains(const char *scope, const char *one)
{
    return contains_word(scope, one, strlen(one));
}
