/*
 * The form parser of form.h. Every malformed input is an error rather than
 * a guess: a token endpoint that quietly repairs a request hides client bugs
 * and gives an attacker room to smuggle parameters past it.
 */
#include "http/form.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

static int
hex_value(char character)
{
    if (character >= '0' && character <= '9')
        return character - '0';
    if (character >= 'a' && character <= 'f')
        return character - 'a' + 10;
    if (character >= 'A' && character <= 'F')
        return character - 'A' + 10;
    return -1;
}

int
form_decode(char *text, size_t length, size_t *decoded_length)
{
    size_t read = 0;
    size_t written = 0;

    while (read < length) {
        char character = text[read];

        if (character == '%') {
            int high;
            int low;

            if (length - read < 3)
                return -EINVAL;
            high = hex_value(text[read + 1]);
            low = hex_value(text[read + 2]);
            if (high < 0 || low < 0)
                return -EINVAL;
            character = (char)(high << 4 | low);
            if (character == '\0')
                return -EINVAL;
            read += 3;
        } else {
            if (character == '\0')
                return -EINVAL;
            if (character == '+')
                character = ' ';
            read++;
        }
        text[written++] = character;
    }

    text[written] = '\0';
    if (decoded_length != NULL)
        *decoded_length = written;
    return 0;
}

static int
add_parameter(struct form *form, char *pair, size_t length)
{
    char *equals = memchr(pair, '=', length);
    size_t name_length = equals ? (size_t)(equals - pair) : length;
    char *value = equals ? equals + 1 : pair + length;
    size_t value_length = equals ? length - name_length - 1 : 0;
    int error;

    if (name_length == 0)
        return -EINVAL;
    if (form->count >= FORM_MAX_PARAMETERS)
        return -E2BIG;

    /* Decode the value first: decoding the name writes a NUL over the
     * '=' that separates them. */
    error = form_decode(value, value_length, NULL);
    if (error < 0)
        return error;
    error = form_decode(pair, name_length, NULL);
    if (error < 0)
        return error;

    for (int i = 0; i < form->count; i++) {
        if (strcmp(form->parameters[i].name, pair) == 0)
            return -ENOTUNIQ;
    }
    form->parameters[form->count].name = pair;
    form->parameters[form->count].value = value;
    form->count++;
    return 0;
}

int
form_parse(char *body, size_t length, struct form *out)
{
    size_t start = 0;

    memset(out, 0, sizeof(*out));

    while (start < length) {
        char *ampersand = memchr(body + start, '&', length - start);
        size_t end = ampersand ? (size_t)(ampersand - body) : length;
        int error;

        /* Empty pairs ("a=1&&b=2") carry nothing; skip them. */
        if (end > start) {
            error = add_parameter(out, body + start, end - start);
            if (error < 0)
                return error;
        }
        start = end + 1;
    }
    return 0;
}

const char *
form_get(const struct form *form, const char *name)
{
    for (int i = 0; i < form->count; i++) {
        if (strcmp(form->parameters[i].name, name) == 0)
            return form->parameters[i].value[0] ? form->parameters[i].value
                                                : NULL;
    }
    return NULL;
}

int
form_is_content_type(const char *content_type)
{
    static const char form_type[] = "application/x-www-form-urlencoded";
    size_t length = sizeof(form_type) - 1;

    if (content_type == NULL)
        return 0;
    while (*content_type == ' ')
        content_type++;
    if (strncasecmp(content_type, form_type, length) != 0)
        return 0;
    content_type += length;
    while (*content_type == ' ')
        content_type++;
    return *content_type == '\0' || *content_type == ';';
}
