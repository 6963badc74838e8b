/*
 * One-line logfmt logging to stderr: UTC time, level, a short lower-case
 * message, then key=value fields. A line is written with one write(2), so
 * lines from different threads never interleave. Never pass a token, a
 * secret or an Authorization header in a field.
 */
#ifndef TOKEND_LOG_LOG_H
#define TOKEND_LOG_LOG_H

enum log_level {
    LOG_ERROR,  /* cannot serve */
    LOG_WARN,   /* degraded */
    LOG_NOTICE, /* start, stop, reload, key rotation */
    LOG_INFO,   /* one line per request, audit events, client mistakes */
    LOG_DEBUG,
};

/* "error", "warn", "notice", "info" or "debug"; -EINVAL otherwise. */
int log_level_parse(const char *name, enum log_level *out);

void log_set_level(enum log_level level);

/* Whether a line at this level would be written. */
int log_enabled(enum log_level level);

/*
 * Writes `time=... level=... msg="message" ` followed by the fields that
 * format makes (already in key=value form; use log_quote for values that
 * may hold spaces or quotes).
 */
__attribute__((format(printf, 3, 4))) void
log_write(enum log_level level, const char *message, const char *format, ...);

/* Formats value as a logfmt value into out: bare when it is safe, else
 * quoted with " and \ escaped and control bytes replaced. Returns out. */
const char *log_quote(const char *value, char *out, unsigned long size);

#endif
