/*
 * A bounded text buffer for building answers and log lines with snprintf,
 * and JSON string escaping. Going past the buffer's size sets overflow
 * instead of writing out of bounds; the caller answers 500 or truncates.
 */
#ifndef TOKEND_UTIL_TEXT_H
#define TOKEND_UTIL_TEXT_H

#include <stdbool.h>
#include <stddef.h>

struct text_buffer {
    char *data; /* borrowed: the caller's memory, always NUL-terminated */
    size_t size;
    size_t length;
    bool overflow;
};

void text_init(struct text_buffer *text, char *data, size_t size);

__attribute__((format(printf, 2, 3))) void
text_append(struct text_buffer *text, const char *format, ...);

void text_append_bytes(struct text_buffer *text, const char *bytes,
                       size_t length);

/* Appends value as a JSON string, quotes included (RFC 8259 §7). */
void text_append_json_string(struct text_buffer *text, const char *value);

/* Copies source into out (size bytes) if it fits; -ENOSPC otherwise. */
int text_copy(char *out, size_t size, const char *source);

#endif
