/*
 * The bounded text buffer of text.h. Used by every answer builder and by
 * the logger, so it never allocates.
 */
#include "util/text.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void
text_init(struct text_buffer *text, char *data, size_t size)
{
    text->data = data;
    text->size = size;
    text->length = 0;
    text->overflow = false;
    if (size > 0)
        data[0] = '\0';
}

void
text_append(struct text_buffer *text, const char *format, ...)
{
    va_list arguments;
    size_t room;
    int written;

    if (text->overflow)
        return;

    room = text->size - text->length;
    va_start(arguments, format);
    written = vsnprintf(text->data + text->length, room, format, arguments);
    va_end(arguments);

    if (written < 0 || (size_t)written >= room) {
        text->overflow = true;
        text->data[text->length] = '\0';
        return;
    }
    text->length += (size_t)written;
}

void
text_append_bytes(struct text_buffer *text, const char *bytes, size_t length)
{
    if (text->overflow || length >= text->size - text->length) {
        text->overflow = true;
        return;
    }
    memcpy(text->data + text->length, bytes, length);
    text->length += length;
    text->data[text->length] = '\0';
}

void
text_append_json_string(struct text_buffer *text, const char *value)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *cursor;
    char escape[7];

    text_append_bytes(text, "\"", 1);

    for (cursor = (const unsigned char *)value; *cursor; cursor++) {
        size_t run = 0;

        /* Copy the longest run that needs no escaping in one step. */
        while (cursor[run] >= 0x20 && cursor[run] != '"' &&
               cursor[run] != '\\')
            run++;
        if (run > 0) {
            text_append_bytes(text, (const char *)cursor, run);
            cursor += run - 1;
            continue;
        }

        if (*cursor == '"' || *cursor == '\\') {
            escape[0] = '\\';
            escape[1] = (char)*cursor;
            text_append_bytes(text, escape, 2);
            continue;
        }
        memcpy(escape, "\\u00", 4);
        escape[4] = hex[*cursor >> 4];
        escape[5] = hex[*cursor & 0xf];
        text_append_bytes(text, escape, 6);
    }

    text_append_bytes(text, "\"", 1);
}

int
text_copy(char *out, size_t size, const char *source)
{
    size_t length = strlen(source);

    if (length >= size)
        return -ENOSPC;
    memcpy(out, source, length + 1);
    return 0;
}
