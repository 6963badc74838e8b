/*
 * libFuzzer harness for the form parser (form.h): every request body of
 * the token, revocation and introspection endpoints goes through it. The
 * input is the body; the buffer is exactly length + 1 bytes, so a write
 * past the byte form.h allows is an AddressSanitizer report.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/form.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What form.h promises of a parsed form: names are non-empty and unique,
 * every string lies inside the body, and form_get finds each name. */
static void
check_form(const struct form *form, const char *body, size_t size)
{
    if (form->count < 0 || form->count > FORM_MAX_PARAMETERS)
        abort();

    for (int i = 0; i < form->count; i++) {
        const struct form_parameter *parameter = &form->parameters[i];
        const char *value;

        if (parameter->name < body || parameter->name > body + size ||
            parameter->value < body || parameter->value > body + size)
            abort();
        if (parameter->name[0] == '\0')
            abort();
        for (int j = 0; j < i; j++) {
            if (strcmp(form->parameters[j].name, parameter->name) == 0)
                abort();
        }

        value = form_get(form, parameter->name);
        if (parameter->value[0] == '\0' ? value != NULL
                                        : value != parameter->value)
            abort();
    }
}

static void
fuzz_decode(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    size_t decoded = 0;

    if (text == NULL)
        return;
    memcpy(text, data, size);
    if (form_decode(text, size, &decoded) == 0 &&
        (decoded > size || text[decoded] != '\0' || strlen(text) != decoded))
        abort();
    free(text);
}

static void
fuzz_content_type(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);

    if (text == NULL)
        return;
    memcpy(text, data, size);
    text[size] = '\0';
    (void)form_is_content_type(text);
    free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct form form;
    char *body;

    /* form.h: body[length] must be writable; nothing past it. */
    body = malloc(size + 1);
    if (body == NULL)
        return 0;
    memcpy(body, data, size);
    if (form_parse(body, size, &form) == 0)
        check_form(&form, body, size);
    free(body);

    fuzz_decode(data, size);
    fuzz_content_type(data, size);
    return 0;
}
