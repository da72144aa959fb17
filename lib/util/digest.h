/* SHA-256, for fingerprints of client input: hashing in the service means the database
 * never sees the client's raw bytes (which may not be valid UTF-8); and HMAC-SHA256, for
 * what the service signs for clients with keys derived from the deployment's key. */
#ifndef WF_UTIL_DIGEST_H
#define WF_UTIL_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DIGEST_HEX_SIZE     65 /* 64 hex digits and a NUL */
#define DIGEST_SHA256_BYTES 32

/* Writes the SHA-256 of data (len bytes) into out; false only when memory ran out. */
bool digest_sha256(const void *data, size_t len, uint8_t out[DIGEST_SHA256_BYTES]);

/* Writes the lowercase hex SHA-256 of the parts (each data[i] of len[i] bytes, hashed one
 * after the other) into out. */
void digest_sha256_hex(const void *const *data, const size_t *len, size_t parts,
                       char out[DIGEST_HEX_SIZE]);

#define DIGEST_HMAC_BYTES 32

/* Writes HMAC-SHA256 (RFC 2104) under key (key_len bytes) of the parts (each data[i] of
 * len[i] bytes, one after the other) into out. */
void digest_hmac_sha256(const uint8_t *key, size_t key_len, const void *const *data,
                        const size_t *len, size_t parts, uint8_t out[DIGEST_HMAC_BYTES]);

/* A subkey for one purpose: HMAC-SHA256(master, label), so keys for different purposes
 * (view cursors, event ids) never sign each other's messages. */
void digest_derive_key(const uint8_t *master, size_t master_len, const char *label,
                       uint8_t out[DIGEST_HMAC_BYTES]);

#endif
