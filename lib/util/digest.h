/* SHA-256, for fingerprints of client input: hashing in the service means the database
 * never sees the client's raw bytes (which may not be valid UTF-8). */
#ifndef WF_UTIL_DIGEST_H
#define WF_UTIL_DIGEST_H

#include <stddef.h>

#define DIGEST_HEX_SIZE 65 /* 64 hex digits and a NUL */

/* Writes the lowercase hex SHA-256 of the parts (each data[i] of len[i] bytes, hashed one
 * after the other) into out. */
void digest_sha256_hex(const void *const *data, const size_t *len, size_t parts,
                       char out[DIGEST_HEX_SIZE]);

#endif
