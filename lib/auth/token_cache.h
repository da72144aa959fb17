/* Tokens this instance has verified and found valid, so that a known credential is admitted
 * without its signature checked or its secret hashed again, and the work of checking an
 * unknown one can be charged to its client address first (api/access.c). Pure: the clock is
 * passed in, no I/O, no globals; single-threaded (the event loop).
 *
 * A token is known by a 128-bit keyed hash (two SipHash-2-4 under a random per-process key):
 * the cache keeps no token and no secret, and no client can make a token of its own collide
 * with another's. The table is direct-mapped and bounded (capacity entries, fixed at
 * creation): a newcomer takes its slot's place, which only costs the one it displaced a
 * verification more. */
#ifndef WF_AUTH_TOKEN_CACHE_H
#define WF_AUTH_TOKEN_CACHE_H

#include "auth/api_key.h"
#include "auth/principal.h"

#include <stddef.h>
#include <stdint.h>

#define TOKEN_CACHE_SEED_BYTES 32

typedef struct token_cache token_cache;

/* What a token was verified as. */
typedef struct {
    auth_principal principal;
    /* Unix seconds after which the token is no longer valid (a JWT's exp plus the leeway);
     * INT64_MAX when only the key's own state says (API keys). */
    int64_t valid_until_s;
    /* An API key's stored hash, to check against the key cache's entry on a hit (all zero
     * for a JWT). */
    uint8_t key_hash[API_KEY_HASH_BYTES];
} token_verdict;

/* A cache of capacity entries (rounded up to a power of two, at least 1); memory:
 * capacity * (sizeof(token_verdict) + 24) bytes, allocated here (aborts when out of
 * memory, util/mem.h). Free with token_cache_free (NULL is a no-op). */
token_cache *token_cache_new(uint32_t capacity, const uint8_t seed[TOKEN_CACHE_SEED_BYTES])
    __attribute__((warn_unused_result));
void token_cache_free(token_cache *cache);

/* The verdict remembered for token (len bytes) when there is one and now_s is not past its
 * valid_until_s; else NULL. Valid until the next token_cache_put. */
const token_verdict *token_cache_find(const token_cache *cache, const char *token, size_t len,
                                      int64_t now_s);

/* Remembers that token (len bytes) was verified as verdict. */
void token_cache_put(token_cache *cache, const char *token, size_t len,
                     const token_verdict *verdict);

/* Entries held now (at most the capacity). */
uint32_t token_cache_count(const token_cache *cache);

#endif
