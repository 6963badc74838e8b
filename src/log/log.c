/*
 * The logger of log.h. Lines are built in a stack buffer and written with
 * a single write(2) on stderr, which keeps them whole across threads
 * without a lock.
 */
#include "log/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_SIZE 2048

static atomic_int current_level = LOG_INFO;

static const char *const level_names[] = {
    [LOG_ERROR] = "error", [LOG_WARN] = "warn",   [LOG_NOTICE] = "notice",
    [LOG_INFO] = "info",   [LOG_DEBUG] = "debug",
};

int
log_level_parse(const char *name, enum log_level *out)
{
    for (int level = LOG_ERROR; level <= LOG_DEBUG; level++) {
        if (strcmp(name, level_names[level]) == 0) {
            *out = (enum log_level)level;
            return 0;
        }
    }
    return -EINVAL;
}

void
log_set_level(enum log_level level)
{
    atomic_store(&current_level, (int)level);
}

int
log_enabled(enum log_level level)
{
    return (int)level <= atomic_load(&current_level);
}

static size_t
format_time(char *out, size_t size)
{
    struct timespec now;
    struct tm calendar;
    size_t length;

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &calendar);
    length = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &calendar);
    length += (size_t)snprintf(out + length, size - length, ".%03ldZ",
                               now.tv_nsec / 1000000);
    return length;
}

void
log_write(enum log_level level, const char *message, const char *format, ...)
{
    char line[LOG_LINE_SIZE];
    char time_text[40];
    va_list arguments;
    size_t length;
    int written;

    if (!log_enabled(level))
        return;

    format_time(time_text, sizeof(time_text));
    written = snprintf(line, sizeof(line), "time=%s level=%s msg=\"%s\"",
                       time_text, level_names[level], message);
    length = (size_t)written;

    if (format != NULL && format[0] != '\0' && length < sizeof(line) - 2) {
        line[length++] = ' ';
        va_start(arguments, format);
        written = vsnprintf(line + length, sizeof(line) - length - 1, format,
                            arguments);
        va_end(arguments);
        if (written > 0)
            length += (size_t)written;
        else
            length--; /* no fields: drop the separating space */
    }

    /* A line cut at the buffer's end still ends with a newline. */
    if (length > sizeof(line) - 2)
        length = sizeof(line) - 2;
    line[length++] = '\n';

    if (write(STDERR_FILENO, line, length) < 0)
        return;
}

static int
needs_quotes(const char *value)
{
    if (value[0] == '\0')
        return 1;
    for (const char *cursor = value; *cursor; cursor++) {
        unsigned char byte = (unsigned char)*cursor;
        if (byte <= ' ' || byte == '"' || byte == '=' || byte == '\\' ||
            byte >= 0x7f)
            return 1;
    }
    return 0;
}

const char *
log_quote(const char *value, char *out, unsigned long size)
{
    size_t length = 0;

    if (size < 3) {
        if (size > 0)
            out[0] = '\0';
        return out;
    }
    if (!needs_quotes(value)) {
        snprintf(out, size, "%s", value);
        return out;
    }

    out[length++] = '"';
    for (const char *cursor = value; *cursor && length + 3 < size; cursor++) {
        unsigned char byte = (unsigned char)*cursor;
        if (byte == '"' || byte == '\\') {
            out[length++] = '\\';
            out[length++] = (char)byte;
        } else {
            out[length++] = (byte < ' ' || byte == 0x7f) ? '?' : (char)byte;
        }
    }
    out[length++] = '"';
    out[length] = '\0';
    return out;
}
