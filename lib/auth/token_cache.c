/* The verified-token cache (see token_cache.h): a direct-mapped table of 128-bit token
 * digests and what each token was verified as. */
#include "auth/token_cache.h"

#include "util/mem.h"
#include "util/rate_limit.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t digest[2]; /* both 0: an empty slot (a real digest is 0 with chance 2^-128) */
    token_verdict verdict;
} slot;

struct token_cache {
    uint8_t seed[2][RATE_SEED_BYTES]; /* the two SipHash keys */
    uint32_t mask;                    /* capacity - 1 */
    uint32_t count;
    slot *slots;
};

token_cache *token_cache_new(uint32_t capacity, const uint8_t seed[TOKEN_CACHE_SEED_BYTES])
{
    uint32_t size = 1;
    while (size < capacity && size < (UINT32_C(1) << 31)) {
        size <<= 1;
    }
    token_cache *cache = xcalloc(1, sizeof *cache);
    memcpy(cache->seed[0], seed, RATE_SEED_BYTES);
    memcpy(cache->seed[1], seed + RATE_SEED_BYTES, RATE_SEED_BYTES);
    cache->mask = size - 1;
    cache->slots = xcalloc(size, sizeof *cache->slots);
    return cache;
}

void token_cache_free(token_cache *cache)
{
    if (cache == NULL) {
        return;
    }
    free(cache->slots);
    free(cache);
}

static void digest_of(const token_cache *cache, const char *token, size_t len, uint64_t out[2])
{
    out[0] = rate_siphash(cache->seed[0], token, len);
    out[1] = rate_siphash(cache->seed[1], token, len);
}

static bool slot_empty(const slot *s)
{
    return s->digest[0] == 0 && s->digest[1] == 0;
}

const token_verdict *token_cache_find(const token_cache *cache, const char *token, size_t len,
                                      int64_t now_s)
{
    uint64_t digest[2];
    digest_of(cache, token, len, digest);
    const slot *s = &cache->slots[digest[0] & cache->mask];
    if (slot_empty(s) || s->digest[0] != digest[0] || s->digest[1] != digest[1] ||
        now_s > s->verdict.valid_until_s) {
        return NULL;
    }
    return &s->verdict;
}

void token_cache_put(token_cache *cache, const char *token, size_t len,
                     const token_verdict *verdict)
{
    uint64_t digest[2];
    digest_of(cache, token, len, digest);
    slot *s = &cache->slots[digest[0] & cache->mask];
    cache->count += slot_empty(s);
    s->digest[0] = digest[0];
    s->digest[1] = digest[1];
    s->verdict = *verdict;
}

uint32_t token_cache_count(const token_cache *cache)
{
    return cache->count;
}
