/*
 * The master key that seals the server's secrets and private signing keys
 * in the store (XSalsa20-Poly1305 from libsodium), so that a copy of the
 * database alone signs nothing. Called by keyring.c at start-up and by
 * tokenctl.
 */
#ifndef TOKEND_TOKEN_MASTER_KEY_H
#define TOKEND_TOKEN_MASTER_KEY_H

#include <stdbool.h>
#include <stddef.h>

#define MASTER_KEY_SIZE 32
/* Bytes that sealing adds to the plain text (nonce and tag). */
#define MASTER_KEY_SEAL_OVERHEAD 40

/* Parses 64 hex characters, with surrounding white space allowed.
 * -EINVAL on anything else. */
int master_key_parse_hex(const char *text, unsigned char key[MASTER_KEY_SIZE]);

/* Reads a key file written by master_key_create. -ENOENT: no file;
 * -EINVAL: not a key. */
int master_key_load(const char *path, unsigned char key[MASTER_KEY_SIZE]);

/* Creates path with mode 0600 holding a new random key in hex; -EEXIST if
 * the file exists. */
int master_key_create(const char *path, unsigned char key[MASTER_KEY_SIZE]);

/* Seals plain into sealed (size at least length + overhead). */
int master_key_seal(const unsigned char key[MASTER_KEY_SIZE],
                    const unsigned char *plain, size_t length,
                    unsigned char *sealed, size_t size, size_t *sealed_length);

/* Opens what master_key_seal made. -EBADMSG: another key, or tampered. */
int master_key_open(const unsigned char key[MASTER_KEY_SIZE],
                    const unsigned char *sealed, size_t length,
                    unsigned char *plain, size_t size, size_t *plain_length);

/*
 * Finds the master key as both programs do: from file when given, else
 * from hex (the TOKEND_MASTER_KEY value) when given, else, for an SQLite
 * store (store_path not NULL), from the file store_path + ".master-key",
 * which is created when missing and create is true (*created then says
 * so). -ENOENT: no key applies (PostgreSQL with neither given).
 */
int master_key_obtain(const char *file, const char *hex,
                      const char *store_path, bool create,
                      unsigned char key[MASTER_KEY_SIZE], bool *created);

#endif
