/*
 * The master key of master_key.h: a 64-character hex file or value, and
 * sealing with libsodium's secretbox (XSalsa20-Poly1305, a random 24-byte
 * nonce in front of the box). keyring.c seals the server's secrets with it;
 * tokenctl and tokend find it with master_key_obtain.
 */
#include "token/master_key.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

_Static_assert(MASTER_KEY_SIZE == crypto_secretbox_KEYBYTES,
               "the master key is a secretbox key");
_Static_assert(MASTER_KEY_SEAL_OVERHEAD ==
                   crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES,
               "sealing adds a nonce and a tag");

#define MASTER_KEY_HEX_LENGTH (MASTER_KEY_SIZE * 2)
/* A key file holds the hex and a newline; room for white space around. */
#define MASTER_KEY_FILE_MAX 256
#define MASTER_KEY_FILE_SUFFIX ".master-key"
#define MASTER_KEY_PATH_SIZE 4096

int
master_key_parse_hex(const char *text, unsigned char key[MASTER_KEY_SIZE])
{
    static const char space[] = " \t\r\n";
    size_t start = strspn(text, space);
    size_t length = strcspn(text + start, space);
    size_t decoded;

    if (length != MASTER_KEY_HEX_LENGTH ||
        text[start + length + strspn(text + start + length, space)] != '\0')
        return -EINVAL;

    if (sodium_hex2bin(key, MASTER_KEY_SIZE, text + start, length, NULL,
                       &decoded, NULL) != 0 ||
        decoded != MASTER_KEY_SIZE) {
        sodium_memzero(key, MASTER_KEY_SIZE);
        return -EINVAL;
    }
    return 0;
}

int
master_key_load(const char *path, unsigned char key[MASTER_KEY_SIZE])
{
    char text[MASTER_KEY_FILE_MAX + 1];
    ssize_t got;
    int fd, error;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;

    got = read(fd, text, MASTER_KEY_FILE_MAX + 1);
    error = got < 0 ? -errno : 0;
    close(fd);
    if (error != 0)
        return error;

    /* A file longer than any key file, cut short here, must not be read
     * as a key by accident. */
    if (got > MASTER_KEY_FILE_MAX) {
        error = -EINVAL;
        goto fail;
    }
    text[got] = '\0';
    error = master_key_parse_hex(text, key);

fail:
    sodium_memzero(text, sizeof(text));
    return error;
}

/* Writes all of text to fd, or returns a negative errno. */
static int
write_all(int fd, const char *text, size_t length)
{
    while (length > 0) {
        ssize_t written = write(fd, text, length);

        if (written < 0 && errno == EINTR)
            continue;
        if (written < 0)
            return -errno;
        text += written;
        length -= (size_t)written;
    }
    return 0;
}

int
master_key_create(const char *path, unsigned char key[MASTER_KEY_SIZE])
{
    char text[MASTER_KEY_HEX_LENGTH + 2];
    int fd, error;

    /* O_EXCL: two processes starting at once must not both write a key,
     * and an existing key must never be overwritten. */
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;

    /* The umask may have taken bits off 0600, never added any; make sure
     * the owner can still read the key back. */
    if (fchmod(fd, 0600) != 0) {
        error = -errno;
        close(fd);
        goto fail;
    }

    randombytes_buf(key, MASTER_KEY_SIZE);
    sodium_bin2hex(text, sizeof(text), key, MASTER_KEY_SIZE);
    text[MASTER_KEY_HEX_LENGTH] = '\n';

    /* The key must be on disk before anything sealed with it is. */
    error = write_all(fd, text, MASTER_KEY_HEX_LENGTH + 1);
    if (error == 0 && fsync(fd) != 0)
        error = -errno;
    if (close(fd) != 0 && error == 0)
        error = -errno;
    if (error != 0)
        goto fail;

    sodium_memzero(text, sizeof(text));
    return 0;

fail:
    unlink(path);
    sodium_memzero(key, MASTER_KEY_SIZE);
    sodium_memzero(text, sizeof(text));
    return error;
}

int
master_key_seal(const unsigned char key[MASTER_KEY_SIZE],
                const unsigned char *plain, size_t length,
                unsigned char *sealed, size_t size, size_t *sealed_length)
{
    if (size < MASTER_KEY_SEAL_OVERHEAD ||
        length > size - MASTER_KEY_SEAL_OVERHEAD)
        return -ENOSPC;

    /* A random 192-bit nonce never repeats in practice, so no counter has
     * to be kept in step across instances sharing one key. */
    randombytes_buf(sealed, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(sealed + crypto_secretbox_NONCEBYTES, plain, length,
                          sealed, key);
    *sealed_length = length + MASTER_KEY_SEAL_OVERHEAD;
    return 0;
}

int
master_key_open(const unsigned char key[MASTER_KEY_SIZE],
                const unsigned char *sealed, size_t length,
                unsigned char *plain, size_t size, size_t *plain_length)
{
    if (length < MASTER_KEY_SEAL_OVERHEAD)
        return -EBADMSG;
    if (length - MASTER_KEY_SEAL_OVERHEAD > size)
        return -ENOSPC;

    if (crypto_secretbox_open_easy(plain, sealed + crypto_secretbox_NONCEBYTES,
                                   length - crypto_secretbox_NONCEBYTES, sealed,
                                   key) != 0)
        return -EBADMSG;
    *plain_length = length - MASTER_KEY_SEAL_OVERHEAD;
    return 0;
}

/* The SQLite case of master_key_obtain: the file beside the database. */
static int
obtain_beside_store(const char *store_path, bool create,
                    unsigned char key[MASTER_KEY_SIZE], bool *created)
{
    char path[MASTER_KEY_PATH_SIZE];
    int written, error;

    written = snprintf(path, sizeof(path), "%s%s", store_path,
                       MASTER_KEY_FILE_SUFFIX);
    if (written < 0 || (size_t)written >= sizeof(path))
        return -ENAMETOOLONG;

    error = master_key_load(path, key);
    if (error != -ENOENT || !create)
        return error;

    error = master_key_create(path, key);
    if (error == 0) {
        *created = true;
        return 0;
    }

    /* Another process created it between our two calls: use its key. */
    if (error == -EEXIST)
        return master_key_load(path, key);
    return error;
}

int
master_key_obtain(const char *file, const char *hex, const char *store_path,
                  bool create, unsigned char key[MASTER_KEY_SIZE],
                  bool *created)
{
    bool ignored;

    if (created == NULL)
        created = &ignored;
    *created = false;

    if (file != NULL)
        return master_key_load(file, key);
    if (hex != NULL)
        return master_key_parse_hex(hex, key);
    if (store_path != NULL)
        return obtain_beside_store(store_path, create, key, created);
    return -ENOENT;
}
