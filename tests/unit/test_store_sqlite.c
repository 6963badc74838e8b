/*
 * The SQLite store against real files in a temporary folder: the store
 * contract (store_contract.h: every function of store.h, the rotation rules
 * and their group commit under concurrent callers, the change counter,
 * bounded cleanup), plus what is SQLite's own: URLs and file names, the
 * files' mode, and reopening an existing file.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store/sqlite_schema.h"
#include "store/store.h"
#include "store_contract.h"

struct fixture {
    char folder[64];
    char path[128];
    struct store *store;
};

static void
remove_database(const char *path)
{
    static const char *const suffixes[] = {"-wal", "-shm"};
    char name[PATH_MAX];

    unlink(path);
    for (size_t i = 0; i < 2; i++) {
        if (snprintf(name, sizeof(name), "%s%s", path, suffixes[i]) <
            (int)sizeof(name))
            unlink(name);
    }
}

static int
setup(void **state)
{
    struct fixture *fixture = calloc(1, sizeof(*fixture));

    assert_non_null(fixture);
    snprintf(fixture->folder, sizeof(fixture->folder),
             "/tmp/tokend-store-XXXXXX");
    assert_non_null(mkdtemp(fixture->folder));
    snprintf(fixture->path, sizeof(fixture->path), "%s/tokend.db",
             fixture->folder);
    assert_int_equal(store_open(fixture->path, &fixture->store), 0);
    *state = fixture;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *fixture = *state;

    store_close(fixture->store);
    remove_database(fixture->path);
    rmdir(fixture->folder);
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
    char url[160];

    assert_string_equal(store_kind(fixture->store), "sqlite");
    assert_string_equal(store_file_path(fixture->store), fixture->path);

    snprintf(url, sizeof(url), "sqlite:%s", fixture->path);
    assert_int_equal(store_open(url, &store), 0);
    assert_string_equal(store_file_path(store), fixture->path);
    store_close(store);

    /* Both schemes reach the PostgreSQL backend, never a file: nothing
     * listens on port 1, so it answers "unreachable". */
    assert_int_equal(store_open("postgres://127.0.0.1:1/tokend", &store),
                     -EAGAIN);
    assert_int_equal(store_open("postgresql://127.0.0.1:1/tokend", &store),
                     -EAGAIN);
    assert_int_equal(store_open("mysql://localhost/tokend", &store), -EINVAL);
    assert_int_equal(store_open("sqlite:", &store), -EINVAL);
    assert_int_equal(store_open("", &store), -EINVAL);
}

static void
assert_mode_0600(const char *path)
{
    struct stat status;

    assert_int_equal(stat(path, &status), 0);
    assert_int_equal(status.st_mode & 0777, 0600);
}

/* With a umask of 0 the files would be world-readable unless the store
 * creates them 0600 itself. */
static void
test_file_mode(void **state)
{
    struct fixture *fixture = *state;
    struct store *store = NULL;
    char path[160];
    mode_t saved = umask(0);

    snprintf(path, sizeof(path), "%s/open.db", fixture->folder);
    assert_int_equal(store_open(path, &store), 0);
    umask(saved);
    client_add(store, "client-a");

    assert_mode_0600(path);
    snprintf(path, sizeof(path), "%s/open.db-wal", fixture->folder);
    assert_mode_0600(path);
    snprintf(path, sizeof(path), "%s/open.db-shm", fixture->folder);
    assert_mode_0600(path);

    store_close(store);
    snprintf(path, sizeof(path), "%s/open.db", fixture->folder);
    remove_database(path);
}

static int
user_version(const char *path)
{
    sqlite3 *database = NULL;
    sqlite3_stmt *statement = NULL;
    int version = -1;

    assert_int_equal(sqlite3_open(path, &database), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(database, "PRAGMA user_version", -1,
                                        &statement, NULL),
                     SQLITE_OK);
    if (sqlite3_step(statement) == SQLITE_ROW)
        version = sqlite3_column_int(statement, 0);
    sqlite3_finalize(statement);
    sqlite3_close(database);
    return version;
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
    assert_int_equal(user_version(fixture->path),
                     store_sqlite_schema_version());

    assert_int_equal(store_open(fixture->path, &fixture->store), 0);
    assert_int_equal(store_client_find(fixture->store, "client-a", &client), 0);
    assert_int_equal(counter(fixture->store), before);
    assert_int_equal(user_version(fixture->path),
                     store_sqlite_schema_version());
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_by_url, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_mode, setup, teardown),
        STORE_CONTRACT_TESTS(setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
