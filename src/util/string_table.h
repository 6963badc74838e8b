/*
 * A hash table from strings to pointers, built once and then only read:
 * the caches build a new table on every reload and swap it in, so lookups
 * need no lock of their own. Keys and values are borrowed: the caller
 * keeps them alive as long as the table (the caches keep both in one
 * arena, which saves an allocation per entry).
 */
#ifndef TOKEND_UTIL_STRING_TABLE_H
#define TOKEND_UTIL_STRING_TABLE_H

#include <stddef.h>

struct string_table;

/* A table sized for expected entries; NULL when out of memory. */
struct string_table *string_table_new(size_t expected);

/* Adds key (borrowed) with value; a key already present gets the new value.
 * -ENOMEM when out of memory. The table grows as needed. */
int string_table_put(struct string_table *table, const char *key,
                     void *value);

/* The value for key, or NULL. Safe from many threads at once. */
void *string_table_get(const struct string_table *table, const char *key);

size_t string_table_count(const struct string_table *table);

/* Calls each for every value (for example, to free them). */
void string_table_each(const struct string_table *table,
                       void (*each)(void *value, void *argument),
                       void *argument);

/* Frees the table, not the keys or values. */
void string_table_free(struct string_table *table);

#endif
