/* Token buckets and their bounded table (see rate_limit.h). */
#include "util/rate_limit.h"

#include "util/mem.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

/* ---- one bucket ---- */

void rate_bucket_fill(rate_bucket *bucket, int burst, int64_t now_ms)
{
    bucket->tokens = (int64_t)burst * RATE_COST;
    bucket->updated_ms = now_ms;
}

/* The bucket's tokens at now_ms. At `rate` requests a second it gains `rate` thousandths
 * of a request each millisecond. */
static int64_t refilled(const rate_bucket *bucket, int rate, int burst, int64_t now_ms)
{
    int64_t full = (int64_t)burst * RATE_COST;
    int64_t elapsed = now_ms - bucket->updated_ms;
    if (elapsed <= 0 || rate <= 0) {
        return bucket->tokens < full ? bucket->tokens : full;
    }
    int64_t missing = full - bucket->tokens;
    /* Compared before multiplying: a bucket idle for years must not overflow. */
    if (missing <= 0 || elapsed >= (missing + rate - 1) / rate) {
        return full;
    }
    return bucket->tokens + elapsed * rate;
}

int64_t rate_bucket_take(rate_bucket *bucket, int rate, int burst, int64_t now_ms)
{
    if (rate <= 0) {
        return 0;
    }
    bucket->tokens = refilled(bucket, rate, burst, now_ms);
    /* Backwards too: the time before the step is never credited twice. */
    bucket->updated_ms = now_ms;
    if (bucket->tokens >= RATE_COST) {
        bucket->tokens -= RATE_COST;
        return 0;
    }
    int64_t missing = RATE_COST - bucket->tokens;
    return (missing + rate - 1) / rate;
}

bool rate_bucket_full(const rate_bucket *bucket, int rate, int burst, int64_t now_ms)
{
    return refilled(bucket, rate, burst, now_ms) >= (int64_t)burst * RATE_COST;
}

int rate_retry_after_s(int64_t wait_ms)
{
    if (wait_ms <= 1000) {
        return 1;
    }
    if (wait_ms > 86400 * 1000LL) {
        return 86400;
    }
    return (int)((wait_ms + 999) / 1000);
}

/* ---- SipHash-2-4 ---- */

static uint64_t rotl(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

static uint64_t load64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

typedef struct {
    uint64_t v0, v1, v2, v3;
} sip_state;

static void sip_round(sip_state *s)
{
    s->v0 += s->v1;
    s->v1 = rotl(s->v1, 13);
    s->v1 ^= s->v0;
    s->v0 = rotl(s->v0, 32);
    s->v2 += s->v3;
    s->v3 = rotl(s->v3, 16);
    s->v3 ^= s->v2;
    s->v0 += s->v3;
    s->v3 = rotl(s->v3, 21);
    s->v3 ^= s->v0;
    s->v2 += s->v1;
    s->v1 = rotl(s->v1, 17);
    s->v1 ^= s->v2;
    s->v2 = rotl(s->v2, 32);
}

static void sip_absorb(sip_state *s, uint64_t m)
{
    s->v3 ^= m;
    sip_round(s);
    sip_round(s);
    s->v0 ^= m;
}

uint64_t rate_siphash(const uint8_t key[RATE_SEED_BYTES], const void *data, size_t len)
{
    uint64_t k0 = load64(key), k1 = load64(key + 8);
    sip_state s = {k0 ^ 0x736f6d6570736575ULL, k1 ^ 0x646f72616e646f6dULL,
                   k0 ^ 0x6c7967656e657261ULL, k1 ^ 0x7465646279746573ULL};
    const uint8_t *in = data;
    size_t whole = len - len % 8;
    for (size_t i = 0; i < whole; i += 8) {
        sip_absorb(&s, load64(in + i));
    }
    uint64_t last = (uint64_t)(len & 0xff) << 56;
    for (size_t i = 0; i < len % 8; i++) {
        last |= (uint64_t)in[whole + i] << (8 * i);
    }
    sip_absorb(&s, last);
    s.v2 ^= 0xff;
    for (int i = 0; i < 4; i++) {
        sip_round(&s);
    }
    return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

/* ---- client addresses ---- */

size_t rate_address_identity(const char *address, uint8_t out[RATE_ADDRESS_MAX])
{
    uint8_t v6[16];
    if (inet_pton(AF_INET, address, out + 1) == 1) {
        out[0] = '4';
        return 5;
    }
    if (inet_pton(AF_INET6, address, v6) == 1) {
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(v6, mapped, sizeof mapped) == 0) {
            out[0] = '4';
            memcpy(out + 1, v6 + 12, 4);
            return 5;
        }
        out[0] = '6';
        memcpy(out + 1, v6, 8);
        return 9;
    }
    size_t len = strnlen(address, RATE_ADDRESS_MAX - 1);
    out[0] = '?';
    memcpy(out + 1, address, len);
    return 1 + len;
}

/* ---- the table ---- */

/* Links are entry index + 1; 0 is none. */
typedef struct {
    uint64_t hash;
    rate_bucket bucket;
    uint32_t chain;        /* next entry in the same index slot */
    uint32_t newer, older; /* the recency list */
} rate_entry;

struct rate_table {
    int rate, burst;
    uint32_t capacity, count;
    uint32_t slot_mask; /* index slots - 1 (a power of two, at least twice the capacity) */
    uint32_t *slots;    /* first entry of each slot */
    rate_entry *entries;
    uint32_t newest, oldest;
    uint8_t seed[RATE_SEED_BYTES];
};

rate_table *rate_table_new(int rate, int burst, uint32_t capacity,
                           const uint8_t seed[RATE_SEED_BYTES])
{
    rate_table *table = xcalloc(1, sizeof *table);
    table->rate = rate > 0 ? rate : 0;
    table->burst = burst > 0 ? burst : 0;
    table->capacity = capacity > 0 ? capacity : 1;
    memcpy(table->seed, seed, RATE_SEED_BYTES);
    if (table->rate == 0) {
        return table;
    }
    uint32_t slots = 2;
    while (slots < 2 * (uint64_t)table->capacity && slots < (UINT32_C(1) << 31)) {
        slots *= 2;
    }
    table->slot_mask = slots - 1;
    table->slots = xcalloc(slots, sizeof *table->slots);
    table->entries = xcalloc(table->capacity, sizeof *table->entries);
    return table;
}

void rate_table_free(rate_table *table)
{
    if (table != NULL) {
        free(table->slots);
        free(table->entries);
        free(table);
    }
}

uint32_t rate_table_count(const rate_table *table)
{
    return table->count;
}

static rate_entry *entry_at(rate_table *table, uint32_t link)
{
    return &table->entries[link - 1];
}

static void recency_unlink(rate_table *table, uint32_t link)
{
    rate_entry *entry = entry_at(table, link);
    if (entry->newer != 0) {
        entry_at(table, entry->newer)->older = entry->older;
    } else {
        table->newest = entry->older;
    }
    if (entry->older != 0) {
        entry_at(table, entry->older)->newer = entry->newer;
    } else {
        table->oldest = entry->newer;
    }
    entry->newer = entry->older = 0;
}

static void recency_push(rate_table *table, uint32_t link)
{
    rate_entry *entry = entry_at(table, link);
    entry->newer = 0;
    entry->older = table->newest;
    if (table->newest != 0) {
        entry_at(table, table->newest)->newer = link;
    } else {
        table->oldest = link;
    }
    table->newest = link;
}

static void slot_unlink(rate_table *table, uint32_t link)
{
    uint32_t *at = &table->slots[entry_at(table, link)->hash & table->slot_mask];
    while (*at != link) {
        at = &entry_at(table, *at)->chain;
    }
    *at = entry_at(table, link)->chain;
}

/* The entry of a new identity: a fresh one while there is room, else the least recently
 * used one (see the header for why that forgets nothing while it has refilled). */
static uint32_t entry_for_newcomer(rate_table *table, uint64_t hash, int64_t now_ms)
{
    uint32_t link;
    if (table->count < table->capacity) {
        link = ++table->count;
    } else {
        link = table->oldest;
        slot_unlink(table, link);
        recency_unlink(table, link);
    }
    rate_entry *entry = entry_at(table, link);
    entry->hash = hash;
    rate_bucket_fill(&entry->bucket, table->burst, now_ms);
    uint32_t *slot = &table->slots[hash & table->slot_mask];
    entry->chain = *slot;
    *slot = link;
    recency_push(table, link);
    return link;
}

int64_t rate_table_take(rate_table *table, const void *identity, size_t len, int64_t now_ms)
{
    if (table->rate == 0) {
        return 0;
    }
    uint64_t hash = rate_siphash(table->seed, identity, len);
    uint32_t link = table->slots[hash & table->slot_mask];
    while (link != 0 && entry_at(table, link)->hash != hash) {
        link = entry_at(table, link)->chain;
    }
    if (link == 0) {
        link = entry_for_newcomer(table, hash, now_ms);
    } else if (link != table->newest) {
        recency_unlink(table, link);
        recency_push(table, link);
    }
    return rate_bucket_take(&entry_at(table, link)->bucket, table->rate, table->burst, now_ms);
}
