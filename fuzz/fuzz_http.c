/*
 * libFuzzer harness for tokend's own HTTP request handling: the real
 * tokend (src/tokend.c, built here with its main renamed tokend_main) runs
 * in a thread of this process on a fresh SQLite store with two clients,
 * serving 127.0.0.1. Each input is written to a new loopback connection,
 * the write side is shut, and the answer is read with a deadline. The
 * process must not crash, hang or leak, and whatever comes back must be
 * well-formed HTTP/1.x answers with no 5xx, no secret and nothing of the
 * server's internals (SQL, "sqlite", the store's path).
 *
 * So that mutations reach the endpoints behind authentication, these
 * markers in the input are replaced before it is sent:
 *
 *   @B@  base64 of the enabled client's "id:secret" (for a Basic header)
 *   @D@  the same for a disabled client
 *   @I@  the enabled client's ID          @S@  its secret
 *   @A@  a current access token           @R@  a current refresh token
 *   @L@  the number of bytes after the first blank line (Content-Length)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "store/store.h"
#include "token/keyring.h"
#include "token/master_key.h"
#include "token/secret.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int tokend_main(int argc, char **argv);

#define CLIENT_ID "0123456789abcdef0123456789abcdef"
#define DISABLED_CLIENT_ID "fedcba9876543210fedcba9876543210"
#define CLIENT_SECRET                                                          \
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define REQUEST_MAX (64 * 1024)
#define ANSWER_MAX (1024 * 1024)
#define READ_DEADLINE_SECONDS 8
/* How long whole answers wait for more bytes before the read ends. */
#define QUIET_MS 100
/* An incomplete request gets no answer; this long without one, the
 * input is done, and tokend must then still answer /health. */
#define SILENT_MS 150
/* The harness's own requests get the whole deadline. */
#define PATIENT_MS (READ_DEADLINE_SECONDS * 1000)
/* Fresh tokens every so many inputs: a used refresh token is spent. */
#define TOKEN_RENEWAL_INPUTS 200

static struct {
    char folder[64];
    char database[96];
    char master_key_hex[2 * MASTER_KEY_SIZE + 1];
    char listen[32];
    unsigned int port;
    pthread_t thread;
    bool running;
    bool reset;  /* the last exchange ended in a connection reset */
    bool silent; /* it got no answer, and no close, in silent_ms */
    char basic[256];
    char disabled_basic[256];
    char access_token[8192];
    char refresh_token[1024];
    unsigned long inputs;
} fuzz;

static bool walk_answers(const char *answer, size_t length, bool strict);

/* The answer being checked, shown when a check fails. */
static const char *current_answer;

static void
report(FILE *out, const char *message)
{
    fprintf(out, "fuzz_http: %s\n", message);
    if (current_answer != NULL)
        fprintf(out, "fuzz_http: the answer was:\n%.2000s\n", current_answer);
    fflush(out);
}

/* Reports on stderr and, since a fuzzing run hides stderr
 * (-close_fd_mask=2), in the file FUZZ_HTTP_REPORT names too. */
static void
fail(const char *message)
{
    const char *path = getenv("FUZZ_HTTP_REPORT");
    FILE *out = path != NULL ? fopen(path, "a") : NULL;

    report(stderr, message);
    if (out != NULL) {
        report(out, message);
        fclose(out);
    }
    abort();
}

static void
basic_credentials(const char *client_id, char *out, size_t size)
{
    char pair[160];

    snprintf(pair, sizeof(pair), "%s:%s", client_id, CLIENT_SECRET);
    sodium_bin2base64(out, size, (const unsigned char *)pair, strlen(pair),
                      sodium_base64_VARIANT_ORIGINAL);
}

static void
add_client(struct store *store, const struct keyring *keyring,
           const char *client_id, bool disabled)
{
    struct store_client client;

    memset(&client, 0, sizeof(client));
    snprintf(client.id, sizeof(client.id), "%s", client_id);
    snprintf(client.name, sizeof(client.name), "fuzz %s", client_id);
    snprintf(client.scope, sizeof(client.scope), "read write");
    snprintf(client.permissions, sizeof(client.permissions), "introspect");
    client.disabled = disabled;
    client.created_at = (int64_t)time(NULL);
    secret_hash(keyring_secret_hash_key(keyring), CLIENT_SECRET,
                strlen(CLIENT_SECRET), client.secret_hash);
    if (store_client_insert(store, &client) != 0)
        fail("cannot insert a client");
}

/* Creates the store, its keys and two clients before tokend opens it,
 * as tokenctl would. */
static void
seed_store(void)
{
    unsigned char master_key[MASTER_KEY_SIZE];
    struct keyring *keyring;
    struct store *store;

    if (store_open(fuzz.database, &store) != 0)
        fail("cannot open the store");
    if (master_key_obtain(NULL, NULL, store_file_path(store), true, master_key,
                          NULL) != 0)
        fail("cannot create the master key");
    sodium_bin2hex(fuzz.master_key_hex, sizeof(fuzz.master_key_hex), master_key,
                   sizeof(master_key));
    if (keyring_load(store, master_key, SIGNING_ES256, (int64_t)time(NULL),
                     3600, &keyring) != 0)
        fail("cannot create the keys");

    add_client(store, keyring, CLIENT_ID, false);
    add_client(store, keyring, DISABLED_CLIENT_ID, true);
    keyring_free(keyring);
    store_close(store);
    basic_credentials(CLIENT_ID, fuzz.basic, sizeof(fuzz.basic));
    basic_credentials(DISABLED_CLIENT_ID, fuzz.disabled_basic,
                      sizeof(fuzz.disabled_basic));
}

/* A free loopback port: bind port 0, read it, let it go. */
static unsigned int
free_port(void)
{
    struct sockaddr_in address = {.sin_family = AF_INET};
    socklen_t length = sizeof(address);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&address, length) != 0 ||
        getsockname(fd, (struct sockaddr *)&address, &length) != 0)
        fail("cannot find a free port");
    close(fd);
    return ntohs(address.sin_port);
}

static void *
run_tokend(void *unused)
{
    char *arguments[] = {
        "tokend",      "--db",
        fuzz.database, "--listen",
        fuzz.listen,   "--threads",
        "1",           "--connection-timeout",
        "2",           "--max-body-size",
        "2048",        "--auth-failure-limit",
        "50",          "--auth-failure-window",
        "1",           "--cache-refresh-interval-ms",
        "50",          "--log-level",
        "info",        NULL,
    };

    (void)unused;
    if (tokend_main((int)(sizeof(arguments) / sizeof(arguments[0])) - 1,
                    arguments) != 0)
        fail("tokend did not start (see its log above)");
    return NULL;
}

static int
connect_tokend(void)
{
    struct sockaddr_in address = {.sin_family = AF_INET};
    struct timeval deadline = {READ_DEADLINE_SECONDS, 0};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        fail("socket failed");
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons((uint16_t)fuzz.port);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &deadline, sizeof(deadline));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &deadline, sizeof(deadline));
    if (connect(fd, (struct sockaddr *)&address, sizeof(address)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Sends request and reads the answer into answer (NUL-terminated); returns
 * its length, or -1 when tokend cannot be reached. tokend closes the
 * connection after the client's half-close, except that libmicrohttpd
 * sometimes notices that close only at the connection timeout: so once
 * whole answers are in, a short quiet spell ends the read, and so does
 * a longer one with no answer at all (fuzz.silent). */
static ssize_t
exchange(const char *request, size_t length, char *answer, size_t size,
         int silent_ms)
{
    size_t sent = 0, received = 0;
    int fd = connect_tokend();

    if (fd < 0)
        return -1;
    fuzz.reset = false;
    fuzz.silent = false;
    while (sent < length) {
        ssize_t n = send(fd, request + sent, length - sent, MSG_NOSIGNAL);

        if (n <= 0)
            break; /* tokend may close early, after a 413 say */
        sent += (size_t)n;
    }
    shutdown(fd, SHUT_WR);

    while (received + 1 < size) {
        struct pollfd wait = {.fd = fd, .events = POLLIN};
        bool complete = walk_answers(answer, received, false);
        int ready = poll(&wait, 1,
                         complete        ? QUIET_MS
                         : received == 0 ? silent_ms
                                         : READ_DEADLINE_SECONDS * 1000);
        ssize_t n;

        if (ready == 0 && received == 0)
            fuzz.silent = true;
        if (ready == 0 && (complete || received == 0))
            break;
        if (ready == 0)
            fail("an answer stopped halfway: a hang");
        n = recv(fd, answer + received, size - 1 - received, 0);
        if (n < 0 && errno == EINTR)
            continue;
        /* Closing with unread input makes the kernel reset the
         * connection, which may cut off the answer in flight. */
        if (n < 0 && errno == ECONNRESET)
            fuzz.reset = true;
        if (n <= 0)
            break;
        received += (size_t)n;
        answer[received] = '\0';
    }
    close(fd);
    answer[received] = '\0';
    return (ssize_t)received;
}

/* With one worker thread, a handler stuck on the last input would keep
 * this health check from being answered. */
static void
check_alive(void)
{
    static const char health[] = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    char answer[4096];

    if (exchange(health, sizeof(health) - 1, answer, sizeof(answer),
                 PATIENT_MS) <= 0 ||
        strncmp(answer, "HTTP/1.1 200", 12) != 0)
        fail("tokend stopped answering after this input");
}

static void
wait_until_ready(void)
{
    static const char health[] = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    char answer[4096];

    for (int attempt = 0; attempt < 500; attempt++) {
        if (exchange(health, sizeof(health) - 1, answer, sizeof(answer),
                     PATIENT_MS) > 0 &&
            strncmp(answer, "HTTP/1.1 200", 12) == 0)
            return;
        usleep(20000);
    }
    fail("tokend did not answer /health within 10 seconds");
}

static void
copy_json_string(json_t *root, const char *name, char *out, size_t size)
{
    const char *value = json_string_value(json_object_get(root, name));

    if (value == NULL || strlen(value) >= size)
        fail("the token answer lacks a token");
    memcpy(out, value, strlen(value) + 1);
}

/* Gets a new access token and refresh token for the @A@ and @R@ markers. */
static void
renew_tokens(void)
{
    static char answer[16384];
    char request[1024];
    const char *body;
    json_t *root;
    int length;

    length = snprintf(request, sizeof(request),
                      "POST /v2/auth/token HTTP/1.1\r\nHost: x\r\n"
                      "Authorization: Basic %s\r\n"
                      "Content-Type: application/x-www-form-urlencoded\r\n"
                      "Content-Length: 29\r\n\r\n"
                      "grant_type=client_credentials",
                      fuzz.basic);
    /* The fuzzer's wrong secrets may have the client blocked for the
     * throttle's window (one second): wait it out. */
    for (int attempt = 0;; attempt++) {
        if (exchange(request, (size_t)length, answer, sizeof(answer),
                     PATIENT_MS) > 0 &&
            strncmp(answer, "HTTP/1.1 200", 12) == 0)
            break;
        if (attempt == 300)
            fail("the demo client got no token");
        usleep(10000);
    }
    body = strstr(answer, "\r\n\r\n");
    if (body == NULL)
        fail("the token answer has no body");

    root = json_loads(body + 4, 0, NULL);
    if (root == NULL)
        fail("the token answer is not JSON");
    copy_json_string(root, "access_token", fuzz.access_token,
                     sizeof(fuzz.access_token));
    copy_json_string(root, "refresh_token", fuzz.refresh_token,
                     sizeof(fuzz.refresh_token));
    json_decref(root);
}

static int
remove_entry(const char *path, const struct stat *status, int type,
             struct FTW *walk)
{
    (void)status;
    (void)type;
    (void)walk;
    return remove(path);
}

/* Stops tokend as SIGTERM would and removes the store. */
static void
tear_down(void)
{
    if (fuzz.running) {
        pthread_kill(fuzz.thread, SIGTERM);
        pthread_join(fuzz.thread, NULL);
        fuzz.running = false;
    }
    nftw(fuzz.folder, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;

    if (sodium_init() < 0)
        fail("libsodium failed to initialise");
    snprintf(fuzz.folder, sizeof(fuzz.folder), "/tmp/tokend-fuzz-XXXXXX");
    if (mkdtemp(fuzz.folder) == NULL)
        fail("cannot make a temporary folder");
    snprintf(fuzz.database, sizeof(fuzz.database), "%s/tokend.db", fuzz.folder);
    seed_store();

    fuzz.port = free_port();
    snprintf(fuzz.listen, sizeof(fuzz.listen), "127.0.0.1:%u", fuzz.port);
    if (pthread_create(&fuzz.thread, NULL, run_tokend, NULL) != 0)
        fail("cannot start the tokend thread");
    fuzz.running = true;
    atexit(tear_down);
    wait_until_ready();
    renew_tokens();
    return 0;
}

/* Writes text, or stops quietly when the request is full. */
static void
append(char *out, size_t *length, const char *text, size_t text_length)
{
    if (*length + text_length >= REQUEST_MAX)
        text_length = REQUEST_MAX - 1 - *length;
    memcpy(out + *length, text, text_length);
    *length += text_length;
}

static const char *
marker_value(char name)
{
    switch (name) {
    case 'B':
        return fuzz.basic;
    case 'D':
        return fuzz.disabled_basic;
    case 'I':
        return CLIENT_ID;
    case 'S':
        return CLIENT_SECRET;
    case 'A':
        return fuzz.access_token;
    case 'R':
        return fuzz.refresh_token;
    default:
        return NULL;
    }
}

/* Replaces every @L@ with the length of what follows the first blank
 * line, padded to the marker's width plus the digits it may need. */
static size_t
fill_lengths(char *request, size_t length)
{
    char *blank = memmem(request, length, "\r\n\r\n", 4);
    char *marker = request;
    char digits[16];
    size_t body, digit_count;

    if (blank == NULL)
        return length;
    body = length - (size_t)(blank + 4 - request);
    while ((marker = memmem(marker, length - (size_t)(marker - request), "@L@",
                            3)) != NULL) {
        digit_count = (size_t)snprintf(digits, sizeof(digits), "%zu", body);
        if (marker > blank || digit_count > 3) {
            marker += 3;
            continue;
        }
        /* Pad with leading zeros so the body's length stays put. */
        memset(marker, '0', 3);
        memcpy(marker + 3 - digit_count, digits, digit_count);
        marker += 3;
    }
    return length;
}

static size_t
expand(const uint8_t *data, size_t size, char *out)
{
    size_t length = 0;

    for (size_t i = 0; i < size; i++) {
        const char *value = NULL;

        if (data[i] == '@' && i + 2 < size && data[i + 2] == '@')
            value = marker_value((char)data[i + 1]);
        if (value != NULL) {
            append(out, &length, value, strlen(value));
            i += 2;
        } else {
            append(out, &length, (const char *)&data[i], 1);
        }
    }
    return fill_lengths(out, length);
}

static const char *
find(const char *from, const char *end, const char *needle)
{
    return memmem(from, (size_t)(end - from), needle, strlen(needle));
}

/* The head of one answer, as far as the checks need it. */
struct answer_head {
    unsigned int status;
    bool from_tokend; /* it has tokend's X-Request-Id */
    const char *body;
    size_t body_length; /* from Content-Length */
};

/* Reads the head of the answer at text. -EAGAIN: its end has not
 * arrived; -EINVAL: it is not an HTTP/1.x answer head. */
static int
head_parse(const char *text, const char *end, struct answer_head *head)
{
    const char *head_end = find(text, end, "\r\n\r\n");
    const char *line;

    memset(head, 0, sizeof(*head));
    if (head_end == NULL)
        return -EAGAIN;
    if (strncmp(text, "HTTP/1.", 7) != 0 ||
        (text[7] != '0' && text[7] != '1') ||
        sscanf(text + 8, " %3u", &head->status) != 1 || head->status < 100 ||
        head->status > 599)
        return -EINVAL;

    for (line = find(text, end, "\r\n") + 2; line < head_end;
         line = find(line, end, "\r\n") + 2) {
        const char *line_end = find(line, end, "\r\n");
        const char *colon = memchr(line, ':', (size_t)(line_end - line));

        if (colon == NULL || colon == line)
            return -EINVAL;
        if (strncasecmp(line, "Content-Length:", 15) == 0)
            head->body_length = strtoul(line + 15, NULL, 10);
        if (strncasecmp(line, "X-Request-Id:", 13) == 0)
            head->from_tokend = true;
    }
    if (head->status < 200 || head->status == 204 || head->status == 304)
        head->body_length = 0;
    head->body = head_end + 4;
    return 0;
}

/* Walks the answers in answer[0..length): tokend answers each pipelined
 * request in turn. Returns whether they are all there, whole. With
 * strict, anything wrong fails the run instead: an answer that is not
 * HTTP, a 5xx, or (unless the connection was reset) one cut short. */
static bool
walk_answers(const char *answer, size_t length, bool strict)
{
    const char *end = answer + length;
    const char *cursor = answer;
    struct answer_head head;

    while (cursor < end) {
        int error = head_parse(cursor, end, &head);
        const char *next;

        if (error == -EAGAIN && (!strict || fuzz.reset))
            return false;
        if (error < 0 && strict)
            fail("an answer is not HTTP");
        if (error < 0)
            return error == -EINVAL;

        /* Client input never makes tokend fail. libmicrohttpd answers an
         * HTTP version it does not speak with 505 itself. */
        if (strict && head.status >= 500 &&
            (head.from_tokend || head.status != 505))
            fail("a request made tokend answer 5xx");

        /* A HEAD answer gives the length of a body it does not carry:
         * then the next answer starts right after the head. */
        next = head.body + head.body_length;
        if (next > end || (next < end && strncmp(next, "HTTP/1.", 7) != 0))
            next = head.body == end || strncmp(head.body, "HTTP/1.", 7) == 0
                       ? head.body
                       : next;
        if (next > end) {
            if (strict && !fuzz.reset)
                fail("an answer is shorter than its Content-Length");
            return false;
        }
        cursor = next;
    }
    return length > 0;
}

/* What no answer may ever contain: a secret, the master key, or the
 * server's internals. */
static void
check_nothing_leaks(const char *answer, size_t length)
{
    static const char *const internals[] = {
        "sqlite", "SELECT ", "INSERT ", "UPDATE ", "/tmp/", "tokend.db",
    };

    if (memmem(answer, length, CLIENT_SECRET, strlen(CLIENT_SECRET)) ||
        memmem(answer, length, fuzz.master_key_hex,
               strlen(fuzz.master_key_hex)))
        fail("an answer holds a secret");
    for (size_t i = 0; i < sizeof(internals) / sizeof(internals[0]); i++) {
        if (strcasestr(answer, internals[i]) != NULL)
            fail("an answer shows the server's internals");
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char request[REQUEST_MAX];
    static char answer[ANSWER_MAX];
    size_t length;
    ssize_t received;

    if (++fuzz.inputs % TOKEN_RENEWAL_INPUTS == 0)
        renew_tokens();

    length = expand(data, size, request);
    received = exchange(request, length, answer, sizeof(answer), SILENT_MS);
    if (received < 0)
        fail("tokend stopped accepting connections");
    if (fuzz.silent)
        check_alive();
    current_answer = answer;
    check_nothing_leaks(answer, (size_t)received);
    (void)walk_answers(answer, (size_t)received, true);
    current_answer = NULL;
    return 0;
}
