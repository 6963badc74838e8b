/*
 * The connection pool of the PostgreSQL backend (postgres_pool.h). A
 * caller takes a free connection under the pool's mutex, then talks to
 * the server with the mutex released, so slow statements never hold up
 * the others. A connection prepares each statement the first time it runs
 * it. A connection found dead is closed and opened again; while the server
 * cannot be reached, calls fail at once with -EAGAIN.
 */
#include "store/postgres_pool.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log/log.h"

/* tokend runs one HTTP worker thread a core, plus the view and cleanup
 * threads. With 32 callers rotating at once, 2 connections did 3,700
 * rotations a second here, 4 did 5,100, and 8 or 16 no better within the
 * noise: PostgreSQL's own group commit shares the fsyncs between them. */
#define POOL_SIZE 4
#define STATEMENTS_MAX 32
#define STATEMENT_NAME_SIZE 24
/* A caller waits this long for a free connection before -EAGAIN. */
#define ACQUIRE_TIMEOUT_SECONDS 10
/* After a failed connection attempt, calls fail fast for this long rather
 * than each waiting for its own connect timeout. */
#define RECONNECT_BACKOFF_MILLISECONDS 200

/* libpq's OIDs of the parameter types (pg_type.h is server-side only). */
#define OID_BOOLEAN 16
#define OID_BYTEA 17
#define OID_BIGINT 20
#define OID_TEXT 25

/* Internal outcomes of one attempt: the connection died before the
 * statement was sent (always safe to repeat), or while it ran. */
#define LOST_BEFORE (-ENOTCONN)
#define LOST_DURING (-ECONNRESET)

struct pooled_connection {
    PGconn *connection;
    bool busy;
    bool prepared[STATEMENTS_MAX];
};

struct postgres_pool {
    pthread_mutex_t lock;
    pthread_cond_t released;
    char *url;
    const struct postgres_statement *statements;
    int statement_count;
    struct pooled_connection slots[POOL_SIZE];
    int64_t next_connect_at; /* monotonic milliseconds */
    bool unreachable;        /* for logging each outage once */
};

/* libpq's messages span lines, which a logfmt line cannot hold. */
static const char *
message_quote(const char *message, char *out, size_t size)
{
    char line[256];
    size_t length;

    snprintf(line, sizeof(line), "%s", message);
    length = strlen(line);
    for (size_t index = 0; index < length; index++)
        if ((unsigned char)line[index] < ' ')
            line[index] = ' ';
    while (length > 0 && line[length - 1] == ' ')
        line[--length] = '\0';
    return log_quote(line, out, size);
}

static int64_t
monotonic_milliseconds(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

int
postgres_parameters_set(struct postgres_parameters *parameters,
                        const char *types, va_list *arguments)
{
    uint64_t number;
    int index;

    memset(parameters, 0, sizeof(*parameters));
    for (index = 0; types[index] != '\0'; index++) {
        if (index == POSTGRES_PARAMETERS_MAX)
            return -EINVAL;

        parameters->formats[index] = 1;
        switch (types[index]) {
        case 't':
            parameters->values[index] = va_arg(*arguments, const char *);
            parameters->lengths[index] = (int)strlen(parameters->values[index]);
            break;
        case 'b':
            parameters->values[index] = va_arg(*arguments, const char *);
            parameters->lengths[index] = (int)va_arg(*arguments, size_t);
            break;
        case 'i':
            number = (uint64_t)va_arg(*arguments, int64_t);
            for (int byte = 0; byte < 8; byte++)
                parameters->numbers[index][byte] =
                    (unsigned char)(number >> (56 - 8 * byte));
            parameters->values[index] =
                (const char *)parameters->numbers[index];
            parameters->lengths[index] = 8;
            break;
        case 'o':
            parameters->numbers[index][0] =
                va_arg(*arguments, int) != 0 ? 1 : 0;
            parameters->values[index] =
                (const char *)parameters->numbers[index];
            parameters->lengths[index] = 1;
            break;
        default:
            return -EINVAL;
        }
    }
    parameters->count = index;
    return 0;
}

/* SQLSTATE classes that say "try again later", not "this is wrong":
 * connection exceptions, shutdowns and restarts, resource limits, lost
 * races, and a standby that does not take writes yet after a failover. */
static bool
is_transient(const char *state)
{
    static const char *const prefixes[] = {"08",    "53",    "57P",
                                           "40001", "40P01", "25006"};

    if (state == NULL)
        return false;
    for (size_t index = 0; index < sizeof(prefixes) / sizeof(prefixes[0]);
         index++)
        if (strncmp(state, prefixes[index], strlen(prefixes[index])) == 0)
            return true;
    return false;
}

/* Only the primary message is logged: a DETAIL line can quote the row's
 * values, and rows hold secret hashes and sealed keys. */
int
postgres_result_error(PGconn *connection, const PGresult *result,
                      const char *operation)
{
    const char *state = NULL;
    const char *message = NULL;
    char quoted[256];

    if (result != NULL) {
        state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
        message = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
    }
    if (state != NULL && strcmp(state, "23505") == 0)
        return -EEXIST;
    if (state != NULL && strcmp(state, "23503") == 0)
        return -ENOENT;

    if (message == NULL)
        message = PQerrorMessage(connection);
    log_write(LOG_ERROR, "store failed", "operation=%s sqlstate=%s error=%s",
              operation, state != NULL ? state : "none",
              message_quote(message, quoted, sizeof(quoted)));
    if (is_transient(state) || PQstatus(connection) != CONNECTION_OK)
        return -EAGAIN;
    return -EIO;
}

/* A server that shut down or restarted has closed the socket, often after
 * a FATAL message, so a readable idle socket is how an idle connection
 * shows it has died. libpq sees the end of the stream only on a read after
 * the message, hence the second round. Checking before sending keeps a
 * statement that must not run twice off a connection already dead. */
static bool
connection_is_alive(PGconn *connection)
{
    struct pollfd socket = {.fd = PQsocket(connection), .events = POLLIN};
    PGnotify *notify;

    if (PQstatus(connection) != CONNECTION_OK ||
        PQtransactionStatus(connection) != PQTRANS_IDLE)
        return false;

    for (int round = 0; round < 2 && poll(&socket, 1, 0) > 0; round++) {
        if (!PQconsumeInput(connection))
            return false;
        while ((notify = PQnotifies(connection)) != NULL)
            PQfreemem(notify);
    }
    return PQstatus(connection) == CONNECTION_OK;
}

/* libpq prints server notices ("relation already exists, skipping") to
 * stderr, which is tokend's log; none of them is worth a line there. */
static void
notice_ignore(void *argument, const char *message)
{
    (void)argument;
    (void)message;
}

static void
slot_close(struct pooled_connection *slot)
{
    PQfinish(slot->connection);
    slot->connection = NULL;
    memset(slot->prepared, 0, sizeof(slot->prepared));
}

static void
note_unreachable(struct postgres_pool *pool, PGconn *connection)
{
    char quoted[256];
    bool first;

    pthread_mutex_lock(&pool->lock);
    pool->next_connect_at =
        monotonic_milliseconds() + RECONNECT_BACKOFF_MILLISECONDS;
    first = !pool->unreachable;
    pool->unreachable = true;
    pthread_mutex_unlock(&pool->lock);

    if (first)
        log_write(LOG_ERROR, "store unreachable", "operation=connect error=%s",
                  message_quote(connection != NULL ? PQerrorMessage(connection)
                                                   : "out of memory",
                                quoted, sizeof(quoted)));
}

/*
 * Durability of a rotation needs synchronous_commit: "off" would answer
 * before the commit is on disk. Every other value (local, on, remote_write,
 * remote_apply) is durable at least locally, and an operator who chose a
 * stronger one keeps it. The defaults below bound how long a vanished
 * server can hold a caller; the URL's own parameters override them.
 */
static int
connection_open(struct postgres_pool *pool, PGconn **out)
{
    static const char *const keywords[] = {
        "connect_timeout",  "application_name",
        "keepalives_idle",  "keepalives_interval",
        "keepalives_count", "tcp_user_timeout",
        "dbname",           NULL};
    const char *values[] = {"5", "tokend", "10",      "5",
                            "3", "10000",  pool->url, NULL};
    PGconn *connection;
    PGresult *result;
    int error = 0;

    connection = PQconnectdbParams(keywords, values, 1);
    if (connection == NULL || PQstatus(connection) != CONNECTION_OK) {
        note_unreachable(pool, connection);
        PQfinish(connection);
        return -EAGAIN;
    }
    PQsetNoticeProcessor(connection, notice_ignore, NULL);

    result = PQexec(connection,
                    "SELECT set_config('synchronous_commit', 'on', false) "
                    "WHERE current_setting('synchronous_commit') = 'off'");
    if (PQresultStatus(result) != PGRES_TUPLES_OK)
        error = postgres_result_error(connection, result, "connect");
    PQclear(result);
    if (error != 0) {
        PQfinish(connection);
        return error;
    }

    *out = connection;
    return 0;
}

/* Makes slot's connection usable, opening a new one if it is missing or
 * dead. Runs without the pool's lock: connecting takes milliseconds. */
static int
slot_connect(struct postgres_pool *pool, struct pooled_connection *slot)
{
    PGconn *connection;
    bool waiting;
    bool recovered;
    int error;

    if (slot->connection != NULL && connection_is_alive(slot->connection))
        return 0;
    slot_close(slot);

    pthread_mutex_lock(&pool->lock);
    waiting = monotonic_milliseconds() < pool->next_connect_at;
    pthread_mutex_unlock(&pool->lock);
    if (waiting)
        return -EAGAIN;

    error = connection_open(pool, &connection);
    if (error != 0)
        return error;

    pthread_mutex_lock(&pool->lock);
    recovered = pool->unreachable;
    pool->unreachable = false;
    pthread_mutex_unlock(&pool->lock);
    if (recovered)
        log_write(LOG_NOTICE, "store reachable again", "%s", "");

    slot->connection = connection;
    return 0;
}

/* A free slot, one that holds a connection first; NULL when all are
 * busy. The pool's lock is held. */
static struct pooled_connection *
slot_pick(struct postgres_pool *pool)
{
    struct pooled_connection *empty = NULL;

    for (int index = 0; index < POOL_SIZE; index++) {
        struct pooled_connection *slot = &pool->slots[index];

        if (slot->busy)
            continue;
        if (slot->connection != NULL)
            return slot;
        if (empty == NULL)
            empty = slot;
    }
    return empty;
}

static int
slot_acquire(struct postgres_pool *pool, struct pooled_connection **out)
{
    struct pooled_connection *slot;
    struct timespec deadline;
    int waited = 0;
    int error;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += ACQUIRE_TIMEOUT_SECONDS;

    pthread_mutex_lock(&pool->lock);
    while ((slot = slot_pick(pool)) == NULL && waited == 0)
        waited =
            pthread_cond_timedwait(&pool->released, &pool->lock, &deadline);
    if (slot != NULL)
        slot->busy = true;
    pthread_mutex_unlock(&pool->lock);

    if (slot == NULL) {
        log_write(LOG_WARN, "store busy",
                  "operation=acquire error=\"no free connection\"");
        return -EAGAIN;
    }

    error = slot_connect(pool, slot);
    if (error != 0) {
        pthread_mutex_lock(&pool->lock);
        slot->busy = false;
        pthread_cond_signal(&pool->released);
        pthread_mutex_unlock(&pool->lock);
        return error;
    }
    *out = slot;
    return 0;
}

static void
slot_release(struct postgres_pool *pool, struct pooled_connection *slot)
{
    if (slot->connection != NULL && PQstatus(slot->connection) != CONNECTION_OK)
        slot_close(slot);

    pthread_mutex_lock(&pool->lock);
    slot->busy = false;
    pthread_cond_signal(&pool->released);
    pthread_mutex_unlock(&pool->lock);
}

/* The server-side name of statement id on every connection. */
static void
statement_name(int id, char name[STATEMENT_NAME_SIZE])
{
    snprintf(name, STATEMENT_NAME_SIZE, "tokend_%d", id);
}

static int
slot_prepare(struct postgres_pool *pool, struct pooled_connection *slot, int id)
{
    const struct postgres_statement *statement = &pool->statements[id];
    unsigned int types[POSTGRES_PARAMETERS_MAX];
    int count = (int)strlen(statement->types);
    char name[STATEMENT_NAME_SIZE];
    PGresult *result;
    int error = 0;

    for (int index = 0; index < count; index++) {
        char type = statement->types[index];

        types[index] = type == 't'   ? OID_TEXT
                       : type == 'b' ? OID_BYTEA
                       : type == 'i' ? OID_BIGINT
                                     : OID_BOOLEAN;
    }

    statement_name(id, name);
    result = PQprepare(slot->connection, name, statement->sql, count, types);
    if (PQresultStatus(result) != PGRES_COMMAND_OK)
        error = PQstatus(slot->connection) != CONNECTION_OK
                    ? LOST_BEFORE
                    : postgres_result_error(slot->connection, result,
                                            statement->operation);
    PQclear(result);

    if (error == 0)
        slot->prepared[id] = true;
    return error;
}

static int
slot_run(struct postgres_pool *pool, struct pooled_connection *slot, int id,
         const struct postgres_parameters *parameters, PGresult **out)
{
    const struct postgres_statement *statement = &pool->statements[id];
    ExecStatusType status;
    PGresult *result;
    char name[STATEMENT_NAME_SIZE];
    int error;

    if (!slot->prepared[id]) {
        error = slot_prepare(pool, slot, id);
        if (error != 0)
            return error;
    }

    statement_name(id, name);
    result = PQexecPrepared(slot->connection, name, parameters->count,
                            parameters->values, parameters->lengths,
                            parameters->formats, 1);
    status = PQresultStatus(result);
    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
        *out = result;
        return 0;
    }

    if (PQstatus(slot->connection) != CONNECTION_OK)
        error = LOST_DURING;
    else
        error = postgres_result_error(slot->connection, result,
                                      statement->operation);
    PQclear(result);
    return error;
}

/*
 * A statement that died with its connection is tried once more on a fresh
 * one when that is safe: when it was never sent, or when the statement
 * says that running it twice gives the same result. Otherwise it may have
 * committed before the connection went (a rotation that, repeated, would
 * look like reuse), so the caller gets -EAGAIN and its client retries.
 */
int
postgres_pool_execute(struct postgres_pool *pool, int id,
                      const struct postgres_parameters *parameters,
                      PGresult **out)
{
    const struct postgres_statement *statement;
    struct pooled_connection *slot;
    int error = -EAGAIN;

    if (id < 0 || id >= pool->statement_count)
        return -EINVAL;
    statement = &pool->statements[id];

    for (int attempt = 0; attempt < 2; attempt++) {
        error = slot_acquire(pool, &slot);
        if (error != 0)
            return error;

        error = slot_run(pool, slot, id, parameters, out);
        slot_release(pool, slot);
        if (error != LOST_BEFORE && error != LOST_DURING)
            return error;

        log_write(LOG_WARN, "store connection lost", "operation=%s retry=%s",
                  statement->operation,
                  error == LOST_BEFORE || statement->retry ? "yes" : "no");
        if (error == LOST_DURING && !statement->retry)
            return -EAGAIN;
    }
    return -EAGAIN;
}

int
postgres_pool_borrow(struct postgres_pool *pool, PGconn **out)
{
    struct pooled_connection *slot;
    int error;

    error = slot_acquire(pool, &slot);
    if (error == 0)
        *out = slot->connection;
    return error;
}

void
postgres_pool_give_back(struct postgres_pool *pool, PGconn *connection,
                        bool broken)
{
    for (int index = 0; index < POOL_SIZE; index++) {
        struct pooled_connection *slot = &pool->slots[index];

        if (slot->connection != connection)
            continue;
        if (broken)
            slot_close(slot);
        slot_release(pool, slot);
        return;
    }
}

static int
pool_init_sync(struct postgres_pool *pool)
{
    pthread_condattr_t attributes;
    int error;

    error = pthread_condattr_init(&attributes);
    if (error == 0)
        error = pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    if (error == 0)
        error = pthread_cond_init(&pool->released, &attributes);
    pthread_condattr_destroy(&attributes);
    if (error != 0)
        return -error;

    error = pthread_mutex_init(&pool->lock, NULL);
    if (error != 0) {
        pthread_cond_destroy(&pool->released);
        return -error;
    }
    return 0;
}

/* A URL libpq cannot parse is the operator's mistake, not an outage.
 * libpq's message may quote the URL, password included, so it is not
 * logged. */
static bool
url_is_valid(const char *url)
{
    PQconninfoOption *options;
    char *message = NULL;

    options = PQconninfoParse(url, &message);
    PQfreemem(message);
    if (options == NULL) {
        log_write(LOG_ERROR, "store failed",
                  "operation=open error=\"not a valid PostgreSQL URL\"");
        return false;
    }
    PQconninfoFree(options);
    return true;
}

int
postgres_pool_new(const char *url, const struct postgres_statement *statements,
                  int count, struct postgres_pool **out)
{
    struct postgres_pool *pool;

    if (count > STATEMENTS_MAX)
        return -EINVAL;
    if (!url_is_valid(url))
        return -EINVAL;

    pool = calloc(1, sizeof(*pool));
    if (pool == NULL)
        return -ENOMEM;
    pool->statements = statements;
    pool->statement_count = count;

    pool->url = strdup(url);
    if (pool->url == NULL)
        goto fail;
    if (pool_init_sync(pool) != 0)
        goto fail;

    *out = pool;
    return 0;

fail:
    free(pool->url);
    free(pool);
    return -ENOMEM;
}

/* The URL may carry a password. */
void
postgres_pool_free(struct postgres_pool *pool)
{
    if (pool == NULL)
        return;

    for (int index = 0; index < POOL_SIZE; index++)
        slot_close(&pool->slots[index]);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->released);
    explicit_bzero(pool->url, strlen(pool->url));
    free(pool->url);
    free(pool);
}
