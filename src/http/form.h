/*
 * application/x-www-form-urlencoded bodies (the token, revocation and
 * introspection endpoints). Parsing decodes in place in the caller's
 * buffer, so it allocates nothing; the form's strings borrow from it.
 */
#ifndef TOKEND_HTTP_FORM_H
#define TOKEND_HTTP_FORM_H

#include <stddef.h>

#define FORM_MAX_PARAMETERS 16

struct form_parameter {
    const char *name;
    const char *value;
};

struct form {
    struct form_parameter parameters[FORM_MAX_PARAMETERS];
    int count;
};

/*
 * Parses body (length bytes, modified in place; body[length] must be
 * writable). Errors: -EINVAL for malformed percent-encoding, an empty name
 * or a decoded NUL byte; -ENOTUNIQ for a repeated parameter (RFC 6749
 * §3.2); -E2BIG for more than FORM_MAX_PARAMETERS parameters.
 */
int form_parse(char *body, size_t length, struct form *out);

/* The value of name, or NULL when absent or empty: RFC 6749 §3.2 treats a
 * parameter without a value as omitted. Borrowed from the body. */
const char *form_get(const struct form *form, const char *name);

/* Decodes percent-escapes and '+' in text[0..length) in place and writes
 * a NUL. -EINVAL for a malformed escape or a decoded NUL byte. */
int form_decode(char *text, size_t length, size_t *decoded_length);

/* Whether the Content-Type header names a form (parameters allowed). */
int form_is_content_type(const char *content_type);

#endif
