/* API key tokens: "wf_<id>_<secret>", where <id> is the key's database id and <secret> 64
 * lowercase hex characters encoding 32 random bytes. The database keeps only SHA-256 of the
 * secret bytes; a presented token is parsed here into its id and that hash, and the caller
 * compares the hash with the stored one through api_key_hash_equal. Pure apart from
 * getrandom(2); no allocation, thread-safe. */
#ifndef WF_AUTH_API_KEY_H
#define WF_AUTH_API_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define API_KEY_SECRET_BYTES 32
#define API_KEY_HASH_BYTES   32
#define API_KEY_TOKEN_MAX    96 /* "wf_" + 19 digits + "_" + 64 hex + NUL fits */

/* New random secret: writes 64 hex chars + NUL into secret_hex (65 bytes) and its hash.
 * The bytes come from getrandom(2) (blocking until the kernel pool is initialised). Returns
 * 0, or -1 when no randomness or no digest could be had (errno from getrandom is kept);
 * then secret_hex is "" and hash is zeroed. */
int api_key_new_secret(char secret_hex[2 * API_KEY_SECRET_BYTES + 1],
                       uint8_t hash[API_KEY_HASH_BYTES]) __attribute__((warn_unused_result));

/* Formats "wf_<id>_<secret_hex>" into out. Returns 0, or -1 (out untouched) when id < 1,
 * secret_hex is not exactly 64 lowercase hex characters, or out_size is too small
 * (API_KEY_TOKEN_MAX always suffices). */
int api_key_format(int64_t id, const char *secret_hex, char *out, size_t out_size)
    __attribute__((warn_unused_result));

/* Parses a presented token: strict syntax (exact length, lowercase hex only, no trailing
 * bytes), fills *id and the SHA-256 of the decoded secret. -1 on any syntax error (a NULL
 * token included), -2 when the digest itself fails (an internal error, not the caller's);
 * on failure *id and hash are not written. Never reads past the NUL; safe on arbitrary
 * bytes. */
int api_key_parse(const char *token, int64_t *id, uint8_t hash[API_KEY_HASH_BYTES])
    __attribute__((warn_unused_result));

/* Constant-time comparison (CRYPTO_memcmp): the time taken does not depend on where the
 * hashes differ. */
bool api_key_hash_equal(const uint8_t a[API_KEY_HASH_BYTES], const uint8_t b[API_KEY_HASH_BYTES])
    __attribute__((warn_unused_result));

#endif
