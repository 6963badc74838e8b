/*
 * The PostgreSQL backend's connections: a small pool per process, each
 * connection with its own prepared statements, re-opened when it is lost.
 * postgres.c runs every statement through postgres_pool_execute; the
 * schema migration borrows a raw connection once at open.
 */
#ifndef TOKEND_STORE_POSTGRES_POOL_H
#define TOKEND_STORE_POSTGRES_POOL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#define POSTGRES_PARAMETERS_MAX 9

/* One statement of the caller's table. types has one letter a parameter:
 * 't' text, 'b' bytea, 'i' bigint, 'o' boolean. Statements that may run
 * twice (reads and writes whose repetition changes nothing) set retry. */
struct postgres_statement {
    const char *operation; /* names the statement in logs */
    const char *sql;
    const char *types;
    bool retry;
};

/* Parameters in libpq's binary format, built by postgres_parameters_set.
 * Text and bytea values are borrowed from the caller. */
struct postgres_parameters {
    int count;
    const char *values[POSTGRES_PARAMETERS_MAX];
    int lengths[POSTGRES_PARAMETERS_MAX];
    int formats[POSTGRES_PARAMETERS_MAX];
    unsigned char numbers[POSTGRES_PARAMETERS_MAX][8];
};

struct postgres_pool;

/* Makes a pool for url (a libpq URI, copied) and statements (borrowed, a
 * static table of count entries); connections open on first use. *out is
 * the caller's, released with postgres_pool_free. -EINVAL: a URL that
 * libpq cannot parse, or too many statements; -ENOMEM. */
int postgres_pool_new(const char *url,
                      const struct postgres_statement *statements, int count,
                      struct postgres_pool **out);
void postgres_pool_free(struct postgres_pool *pool);

/* Fills parameters from arguments as types says: 't' a const char *, 'b'
 * a pointer then a size_t length, 'i' an int64_t, 'o' an int (0 or 1).
 * -EINVAL for an unknown letter or too many parameters. */
int postgres_parameters_set(struct postgres_parameters *parameters,
                            const char *types, va_list *arguments);

/*
 * Runs statement number id with parameters, asking for binary results. On
 * success *out holds a PGRES_TUPLES_OK or PGRES_COMMAND_OK result that the
 * caller releases with PQclear. Errors: -EEXIST (a unique key), -ENOENT (a
 * foreign key), -EAGAIN (the database cannot be reached, or the connection
 * was lost while a statement without retry ran, so its outcome is
 * unknown), -EIO (anything else; logged).
 */
int postgres_pool_execute(struct postgres_pool *pool, int id,
                          const struct postgres_parameters *parameters,
                          PGresult **out);

/* Lends one raw connection for work outside the statement table (the
 * schema migration). postgres_pool_give_back returns it; broken says the
 * caller saw it fail, so it is closed. */
int postgres_pool_borrow(struct postgres_pool *pool, PGconn **out);
void postgres_pool_give_back(struct postgres_pool *pool, PGconn *connection,
                             bool broken);

/* Maps a failed result on connection to the store's errors, logging the
 * failures that are not the caller's (-EEXIST and -ENOENT are not). */
int postgres_result_error(PGconn *connection, const PGresult *result,
                          const char *operation);

#endif
