/*
 * What the harnesses share to cut one libFuzzer input into parts: a first
 * byte that picks a mode, and NUL-separated text fields. Header-only, so
 * each harness still builds from its own file.
 */
#ifndef TOKEND_FUZZ_INPUT_H
#define TOKEND_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef void (*fuzz_mode)(const uint8_t *data, size_t size);

/* Runs the mode that the first byte picks on the rest of the input. */
static inline void
fuzz_run_mode(const fuzz_mode *modes, size_t count, const uint8_t *data,
              size_t size)
{
    if (size > 0)
        modes[data[0] % count](data + 1, size - 1);
}

/* Copies the bytes from *cursor up to a NUL (or end) into out as a string,
 * cut to fit, and moves *cursor past them and the NUL. */
static inline void
fuzz_take_text(const uint8_t **cursor, const uint8_t *end, char *out,
               size_t size)
{
    const uint8_t *stop = memchr(*cursor, '\0', (size_t)(end - *cursor));
    size_t length = (size_t)((stop ? stop : end) - *cursor);

    if (length >= size)
        length = size - 1;
    memcpy(out, *cursor, length);
    out[length] = '\0';
    *cursor = stop ? stop + 1 : end;
}

#endif
