/*
 * tokend's main: reads the settings, opens the store, finds the master
 * key, loads the in-memory view (keys are created on a new store), starts
 * the cleanup thread and the HTTP server, then waits for SIGTERM or SIGINT
 * and stops in the reverse order, letting requests in flight finish.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "cache/cleanup.h"
#include "cache/verified_tokens.h"
#include "cache/view.h"
#include "config/settings.h"
#include "http/server.h"
#include "log/log.h"
#include "oauth/context.h"
#include "oauth/endpoints.h"
#include "oauth/error.h"
#include "oauth/throttle.h"
#include "store/store.h"
#include "token/master_key.h"
#include "util/work_pool.h"

struct daemon_parts {
    struct store *store;
    struct view *view;
    struct throttle *throttle;
    struct cleanup *cleanup;
    struct verified_tokens *verified_tokens;
    struct work_pool *work_pool;
    struct http_server *server;
};

static int
fail_start(const char *message, const char *detail)
{
    log_write(LOG_ERROR, message, "detail=\"%s\"", detail);
    fprintf(stderr, "tokend: %s: %s\n", message, detail);
    return -1;
}

static int
obtain_master_key(const struct settings *settings, struct store *store,
                  unsigned char key[MASTER_KEY_SIZE])
{
    const char *file = settings->master_key_file[0]
                           ? settings->master_key_file
                           : NULL;
    bool created = false;
    int error;

    error = master_key_obtain(file, getenv("TOKEND_MASTER_KEY"),
                              store_file_path(store), true, key, &created);
    if (error == -ENOENT && store_file_path(store) == NULL)
        return fail_start("no master key",
                          "a PostgreSQL store needs --master-key-file or "
                          "TOKEND_MASTER_KEY, the same on every instance");
    if (error < 0)
        return fail_start("cannot read the master key", strerror(-error));
    if (created)
        log_write(LOG_NOTICE, "master key created", "path=%s.master-key",
                  store_file_path(store));
    return 0;
}

static int
open_view(const struct settings *settings, struct store *store,
          struct view **view)
{
    unsigned char master_key[MASTER_KEY_SIZE];
    struct view_options options = {
        .store = store,
        .master_key = master_key,
        .keep_retired_keys = settings->access_token_ttl,
        .refresh_interval_ms =
            (unsigned int)settings->cache_refresh_interval_ms,
    };
    int error;

    if (signing_algorithm_parse(settings->signing_algorithm,
                                &options.algorithm) < 0)
        return fail_start("unknown signing algorithm",
                          settings->signing_algorithm);
    if (obtain_master_key(settings, store, master_key) < 0)
        return -1;

    error = view_open(&options, view);
    sodium_memzero(master_key, sizeof(master_key));
    if (error == -EBADMSG)
        return fail_start("the master key does not open the stored keys",
                          "give the key this store was created with");
    if (error < 0)
        return fail_start("cannot load clients and keys", strerror(-error));
    return 0;
}

/* The default issuer names the listen address; with port 0 only the bound
 * socket knows the port, so the issuer is settled here, before the first
 * request is served. */
static void
settle_issuer(unsigned int port, void *settings)
{
    settings_apply_bound_port(settings, port);
}

static int
start_server(struct settings *settings, struct oauth_context *context,
             struct http_server **server)
{
    struct http_server_options options = {
        .listen = settings->listen,
        .threads = (unsigned int)(settings->threads
                                      ? settings->threads
                                      : sysconf(_SC_NPROCESSORS_ONLN)),
        .max_connections = (unsigned int)settings->max_connections,
        .connection_timeout = (unsigned int)settings->connection_timeout,
        .max_body_size = (size_t)settings->max_body_size,
        .write_error = endpoint_write_error,
        .on_bound = settle_issuer,
        .on_bound_argument = settings,
        .context = context,
    };
    int error;

    options.routes = endpoint_routes(&options.route_count);
    error = http_server_start(&options, server);
    if (error < 0)
        return fail_start("cannot listen", strerror(-error));
    return 0;
}

static int
start(struct settings *settings, struct oauth_context *context,
      struct daemon_parts *parts)
{
    int error = store_open(settings->database, &parts->store);

    if (error < 0)
        return fail_start("cannot open the store", strerror(-error));
    if (open_view(settings, parts->store, &parts->view) < 0)
        return -1;
    if (throttle_new(settings->auth_failure_limit,
                     settings->auth_failure_window, &parts->throttle) < 0)
        return fail_start("cannot start", "out of memory");
    if (verified_tokens_new((size_t)settings->verified_token_cache,
                            &parts->verified_tokens) < 0)
        return fail_start("cannot start", "out of memory");
    if (work_pool_start((unsigned int)settings->store_threads,
                        &parts->work_pool) < 0)
        return fail_start("cannot start", "store threads");
    if (cleanup_start(parts->store, settings->cleanup_interval,
                      settings->cleanup_batch, &parts->cleanup) < 0)
        return fail_start("cannot start", "cleanup thread");

    *context = (struct oauth_context){
        .settings = settings,
        .store = parts->store,
        .view = parts->view,
        .throttle = parts->throttle,
        .verified_tokens = parts->verified_tokens,
        .work_pool = parts->work_pool,
    };
    return start_server(settings, context, &parts->server);
}

static void
stop(const struct settings *settings, struct daemon_parts *parts)
{
    if (parts->server != NULL)
        http_server_stop(parts->server,
                         (unsigned int)settings->shutdown_grace);
    work_pool_stop(parts->work_pool);
    cleanup_stop(parts->cleanup);
    view_close(parts->view);
    throttle_free(parts->throttle);
    verified_tokens_free(parts->verified_tokens);
    if (parts->store != NULL)
        store_close(parts->store);
}

/* Blocks the stop signals in every thread, so that only sigwait in main
 * sees them, and keeps a closed peer from killing the process. */
static void
prepare_signals(sigset_t *stop_signals)
{
    sigemptyset(stop_signals);
    sigaddset(stop_signals, SIGTERM);
    sigaddset(stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int
main(int argc, char **argv)
{
    static struct settings settings;
    struct oauth_context context;
    struct daemon_parts parts = {0};
    enum log_level level;
    sigset_t stop_signals;
    int signal_number = 0;
    int loaded;

    loaded = settings_load(&settings, argc, argv, stdout, stderr);
    if (loaded != 0)
        return loaded > 0 ? 0 : 2;
    if (log_level_parse(settings.log_level, &level) < 0) {
        fprintf(stderr, "tokend: unknown log level \"%s\"\n",
                settings.log_level);
        return 2;
    }
    log_set_level(level);
    if (sodium_init() < 0)
        return fail_start("cannot start", "libsodium failed to initialise");
    oauth_error_set_realm(settings.realm);
    prepare_signals(&stop_signals);

    if (start(&settings, &context, &parts) < 0) {
        stop(&settings, &parts);
        return 1;
    }
    log_write(LOG_NOTICE, "tokend started",
              "listen=%s port=%u store=%s issuer=%s pid=%d", settings.listen,
              http_server_port(parts.server), store_kind(parts.store),
              settings.issuer, (int)getpid());

    sigwait(&stop_signals, &signal_number);
    log_write(LOG_NOTICE, "tokend stopping", "signal=%d", signal_number);
    stop(&settings, &parts);
    log_write(LOG_NOTICE, "tokend stopped", "%s", "");
    return 0;
}
