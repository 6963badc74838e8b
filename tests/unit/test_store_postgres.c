/*
 * The PostgreSQL store against a real server: every function of store.h
 * with the same expectations as the SQLite test, plus what only a shared
 * database has: rotations raced from 50 threads and from two stores (two
 * instances), migrations raced by instances starting together, lost
 * connections, and a database that refuses connections for a while.
 *
 * The server: TOKEND_TEST_POSTGRES_URL (a URL of an existing database whose
 * role may create databases), else a throwaway cluster started with
 * scripts/postgres-start. Every test gets a fresh database.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "store/postgres_schema.h"
#include "store/store.h"
#include "store_contract.h"

#ifndef TOKEND_SOURCE_DIR
#define TOKEND_SOURCE_DIR "."
#endif

static char base_url[512];
static char cluster_folder[64];

struct fixture {
    char name[64];
    char url[600];
    struct store *store;
};

/* Runs one command on the server's maintenance database. */
__attribute__((format(printf, 1, 2))) static void
admin_run(const char *format, ...)
{
    char sql[512];
    va_list arguments;
    PGconn *connection;
    PGresult *result;

    va_start(arguments, format);
    vsnprintf(sql, sizeof(sql), format, arguments);
    va_end(arguments);

    connection = PQconnectdb(base_url);
    assert_int_equal(PQstatus(connection), CONNECTION_OK);
    result = PQexec(connection, sql);
    if (PQresultStatus(result) != PGRES_COMMAND_OK &&
        PQresultStatus(result) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(connection));
    PQclear(result);
    PQfinish(connection);
}

/* One number from a query on database url. */
static long
scalar(const char *url, const char *sql)
{
    PGconn *connection = PQconnectdb(url);
    PGresult *result;
    long value = -1;

    assert_int_equal(PQstatus(connection), CONNECTION_OK);
    result = PQexec(connection, sql);
    if (PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) == 1)
        value = strtol(PQgetvalue(result, 0, 0), NULL, 10);
    PQclear(result);
    PQfinish(connection);
    return value;
}

/* base_url with its database name replaced by name. */
static void
url_for(const char *name, char *out, size_t size)
{
    const char *authority = strstr(base_url, "://") + 3;
    const char *path = strchr(authority, '/');
    const char *query = strchr(authority, '?');
    int prefix = (int)((path != NULL    ? path
                        : query != NULL ? query
                                        : authority + strlen(authority)) -
                       base_url);

    snprintf(out, size, "%.*s/%s%s", prefix, base_url, name,
             query != NULL ? query : "");
}

static void
cluster_start(void)
{
    const char *url = getenv("TOKEND_TEST_POSTGRES_URL");
    char command[256];
    FILE *output;

    if (url != NULL && url[0] != '\0') {
        snprintf(base_url, sizeof(base_url), "%s", url);
        return;
    }

    snprintf(cluster_folder, sizeof(cluster_folder),
             "/tmp/tokend-pg-unit-XXXXXX");
    assert_non_null(mkdtemp(cluster_folder));
    snprintf(command, sizeof(command), "%s/scripts/postgres-start %s",
             TOKEND_SOURCE_DIR, cluster_folder);
    output = popen(command, "r");
    assert_non_null(output);
    assert_non_null(fgets(base_url, sizeof(base_url), output));
    assert_int_equal(pclose(output), 0);
    base_url[strcspn(base_url, "\n")] = '\0';
}

static void
cluster_stop(void)
{
    char command[256];

    if (cluster_folder[0] == '\0')
        return;
    snprintf(command, sizeof(command), "%s/scripts/postgres-stop --remove %s",
             TOKEND_SOURCE_DIR, cluster_folder);
    if (system(command) != 0)
        fprintf(stderr, "could not stop the cluster in %s\n", cluster_folder);
}

static int
group_setup(void **state)
{
    (void)state;
    cluster_start();
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    cluster_stop();
    return 0;
}

static void
database_create(struct fixture *fixture)
{
    static int count;

    snprintf(fixture->name, sizeof(fixture->name), "tokend_unit_%d_%d",
             (int)getpid(), ++count);
    admin_run("CREATE DATABASE %s", fixture->name);
    url_for(fixture->name, fixture->url, sizeof(fixture->url));
}

static int
setup(void **state)
{
    struct fixture *fixture = calloc(1, sizeof(*fixture));

    assert_non_null(fixture);
    database_create(fixture);
    assert_int_equal(store_open(fixture->url, &fixture->store), 0);
    *state = fixture;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *fixture = *state;

    store_close(fixture->store);
    admin_run("DROP DATABASE IF EXISTS %s WITH (FORCE)", fixture->name);
    free(fixture);
    return 0;
}

static struct store *
contract_store(void **state)
{
    return ((struct fixture *)*state)->store;
}

static void
test_open_by_url(void **state)
{
    struct fixture *fixture = *state;
    struct store *store = NULL;
    char url[640];

    assert_string_equal(store_kind(fixture->store), "postgres");
    assert_null(store_file_path(fixture->store));

    /* The other scheme name opens the same database. */
    snprintf(url, sizeof(url), "postgres%s", strchr(fixture->url, ':'));
    assert_int_equal(store_open(url, &store), 0);
    assert_string_equal(store_kind(store), "postgres");
    store_close(store);

    /* Nothing listens on port 1: unreachable, not a bad URL. */
    assert_int_equal(
        store_open("postgresql://tokend@127.0.0.1:1/tokend", &store), -EAGAIN);

    /* A URL libpq cannot parse is refused before any connection. */
    assert_int_equal(
        store_open("postgresql://127.0.0.1/tokend?no_such_option=1", &store),
        -EINVAL);
    assert_int_equal(store_open("postgres://[::1/tokend", &store), -EINVAL);
}

/* Revoking a revoked token again changes no row, so no cache reloads. */
static void
test_repeated_revocation(void **state)
{
    struct fixture *fixture = *state;
    int64_t before;

    assert_int_equal(store_revocation_insert(fixture->store, "jti", NOW), 0);
    before = counter(fixture->store);
    assert_int_equal(store_revocation_insert(fixture->store, "jti", NOW), 0);
    assert_int_equal(counter(fixture->store), before);
}

/* Two stores are two instances: two pools on one database. */
static void
test_rotation_race_two_stores(void **state)
{
    struct fixture *fixture = *state;
    struct store *stores[3] = {fixture->store, NULL, NULL};

    assert_int_equal(store_open(fixture->url, &stores[1]), 0);
    assert_int_equal(store_open(fixture->url, &stores[2]), 0);
    client_add(fixture->store, "client-a");
    for (unsigned round = 0; round < 10; round++)
        race_round(stores, 3, 300 + round);
    store_close(stores[2]);
    store_close(stores[1]);
}

/* Migration 1 creates its tables without IF NOT EXISTS and seeds the
 * counter, so running it again would fail the open or reset the count. */
static void
test_reopen(void **state)
{
    struct fixture *fixture = *state;
    struct store_client client;
    int64_t before;

    client_add(fixture->store, "client-a");
    before = counter(fixture->store);
    store_close(fixture->store);
    fixture->store = NULL;

    assert_int_equal(store_open(fixture->url, &fixture->store), 0);
    assert_int_equal(store_client_find(fixture->store, "client-a", &client), 0);
    assert_int_equal(counter(fixture->store), before);
    assert_int_equal(
        scalar(fixture->url, "SELECT max(version) FROM schema_migrations"),
        store_postgres_schema_version());
    assert_int_equal(scalar(fixture->url, "SELECT count(*) FROM "
                                          "schema_migrations"),
                     store_postgres_schema_version());
}

struct opener {
    const char *url;
    pthread_barrier_t *start;
    struct store *store;
    int error;
};

static void *
open_racing(void *argument)
{
    struct opener *opener = argument;

    pthread_barrier_wait(opener->start);
    opener->error = store_open(opener->url, &opener->store);
    return NULL;
}

/* Instances starting together on an empty database: the advisory lock
 * lets one migrate while the others wait, then find nothing to do. */
static void
test_migration_race(void **state)
{
    struct fixture *fixture = *state;
    struct fixture fresh;
    pthread_barrier_t start;
    pthread_t threads[6];
    struct opener openers[6];

    database_create(&fresh);
    pthread_barrier_init(&start, NULL, 6);
    for (int index = 0; index < 6; index++) {
        openers[index] = (struct opener){fresh.url, &start, NULL, -1};
        pthread_create(&threads[index], NULL, open_racing, &openers[index]);
    }
    for (int index = 0; index < 6; index++) {
        pthread_join(threads[index], NULL);
        assert_int_equal(openers[index].error, 0);
    }
    pthread_barrier_destroy(&start);

    client_add(openers[0].store, "client-a");
    assert_true(counter(openers[5].store) >= 1);
    assert_int_equal(scalar(fresh.url, "SELECT count(*) FROM "
                                       "schema_migrations"),
                     store_postgres_schema_version());
    for (int index = 0; index < 6; index++)
        store_close(openers[index].store);
    admin_run("DROP DATABASE %s WITH (FORCE)", fresh.name);
    (void)fixture;
}

/* Every server process of the test database ends, as in a database
 * restart: idle pooled connections are dead when next used. */
static void
connections_kill(const struct fixture *fixture)
{
    admin_run("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
              "WHERE datname = '%s' AND pid <> pg_backend_pid()",
              fixture->name);
}

/* Connections lost between calls are replaced before a statement is sent,
 * so even a rotation, which is never repeated, goes through. */
static void
test_connection_lost(void **state)
{
    struct fixture *fixture = *state;
    unsigned char family_id[STORE_FAMILY_ID_SIZE];
    struct store_client client;

    client_add(fixture->store, "client-a");
    family_make(family_id, 7);
    assert_int_equal(rotate(fixture->store, family_id, 0), STORE_ROTATED);

    for (uint32_t round = 1; round <= 3; round++) {
        connections_kill(fixture);
        usleep(50 * 1000);
        assert_int_equal(rotate(fixture->store, family_id, round),
                         STORE_ROTATED);
        assert_int_equal(store_client_find(fixture->store, "client-a", &client),
                         0);
        assert_true(counter(fixture->store) >= 1);
    }
}

/* While the database refuses connections every call fails with -EAGAIN,
 * quickly; once it accepts them again the store recovers by itself. */
static void
test_unreachable(void **state)
{
    struct fixture *fixture = *state;
    unsigned char family_id[STORE_FAMILY_ID_SIZE];
    enum store_rotation result;
    struct timespec start;
    int64_t value;
    int error = -EAGAIN;

    client_add(fixture->store, "client-a");
    family_make(family_id, 8);
    admin_run("ALTER DATABASE %s ALLOW_CONNECTIONS false", fixture->name);
    connections_kill(fixture);
    usleep(50 * 1000);

    clock_gettime(CLOCK_MONOTONIC, &start);
    for (int call = 0; call < 20; call++)
        assert_int_equal(store_change_counter(fixture->store, &value), -EAGAIN);
    assert_int_equal(store_family_rotate(fixture->store, family_id, "client-a",
                                         0, NOW, &result),
                     -EAGAIN);
    assert_true(seconds_since(&start) < 2.0);

    admin_run("ALTER DATABASE %s ALLOW_CONNECTIONS true", fixture->name);
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (int call = 0; call < 100 && error == -EAGAIN; call++) {
        error = store_change_counter(fixture->store, &value);
        if (error == -EAGAIN)
            usleep(20 * 1000);
    }
    assert_int_equal(error, 0);
    assert_true(seconds_since(&start) < 1.0);
    assert_int_equal(rotate(fixture->store, family_id, 0), STORE_ROTATED);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_by_url, setup, teardown),
        STORE_CONTRACT_TESTS(setup, teardown),
        cmocka_unit_test_setup_teardown(test_repeated_revocation, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rotation_race_two_stores, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_race, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_lost, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreachable, setup, teardown),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
