/* Token buckets for the per-credential rate limit (docs/design.md, "Limits"), and a table of
 * them in bounded memory. Pure: the clock is passed in (monotonic
 * milliseconds), nothing is read or written outside the structures, no globals.
 *
 * A bucket holds at most `burst` requests and refills at `rate` requests per second; a
 * request takes one. Arithmetic is in thousandths of a request (integers, so every refill,
 * wait and Retry-After is exact). A rate of 0 turns the limit off: every request passes and
 * a table remembers nothing.
 *
 * A table maps identities (byte strings: "key:12", a JWT's issuer and sub, a client
 * address) to buckets. It remembers at most `capacity` identities; a newcomer beyond that
 * takes the place of the least recently used one. With burst <= rate, a bucket untouched
 * for a second has refilled completely, and forgetting it changes nothing: a forgotten
 * identity comes back to a full bucket, which is what it would have found. Only more than
 * `capacity` identities active within one second make the table forget a bucket that was
 * not full. Identities are known by their SipHash-2-4 under a key of the caller's (random
 * per process): 64 bits, so two live identities share a bucket with a chance of about
 * capacity^2 / 2^65, and no client can aim its identities at another's slot. Every
 * operation is O(1). Single-threaded (the event loop). */
#ifndef WF_UTIL_RATE_LIMIT_H
#define WF_UTIL_RATE_LIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One request, in the bucket's unit (thousandths of a request). */
#define RATE_COST 1000

typedef struct {
    int64_t tokens;     /* thousandths of a request, 0..burst * RATE_COST */
    int64_t updated_ms; /* the clock when tokens was last brought up to date */
} rate_bucket;

/* A full bucket (burst requests) as of now_ms. */
void rate_bucket_fill(rate_bucket *bucket, int burst, int64_t now_ms);

/* Refills bucket for the time since its last use, then takes one request from it. Returns
 * 0 when the request may go on; else the request is refused, the bucket is left as it
 * was (refilled), and the result is the number of milliseconds (>= 1) until it would hold
 * one request. A clock that went backwards refills nothing (the bucket starts counting
 * again from now_ms). rate 0: always 0, the bucket untouched. rate and burst >= 0. */
int64_t rate_bucket_take(rate_bucket *bucket, int rate, int burst, int64_t now_ms)
    __attribute__((warn_unused_result));

/* Whether bucket, refilled to now_ms, holds burst requests again (its identity may be
 * forgotten). */
bool rate_bucket_full(const rate_bucket *bucket, int rate, int burst, int64_t now_ms);

/* The Retry-After of a refusal that must wait wait_ms: whole seconds rounded up, at
 * least 1. */
int rate_retry_after_s(int64_t wait_ms);

typedef struct rate_table rate_table;

#define RATE_SEED_BYTES 16

/* A table of at most capacity (>= 1) identities sharing rate and burst. Memory:
 * capacity * 40 bytes for the buckets and 8 bytes per identity for the index, allocated
 * here (aborts when out of memory, util/mem.h). rate 0: a table that allocates nothing
 * and lets everything pass. Free with rate_table_free. */
rate_table *rate_table_new(int rate, int burst, uint32_t capacity,
                           const uint8_t seed[RATE_SEED_BYTES]) __attribute__((warn_unused_result));
void rate_table_free(rate_table *table);

/* rate_bucket_take on identity's bucket (identity: len bytes, any content; a new identity
 * starts with a full bucket). */
int64_t rate_table_take(rate_table *table, const void *identity, size_t len, int64_t now_ms)
    __attribute__((warn_unused_result));

/* Identities remembered now (at most the capacity). */
uint32_t rate_table_count(const rate_table *table);

/* SipHash-2-4 (Aumasson and Bernstein) of data under key. */
uint64_t rate_siphash(const uint8_t key[RATE_SEED_BYTES], const void *data, size_t len);

/* The identity of a client address (numeric IPv4 or IPv6 text): IPv4 whole, as "4" and its
 * 4 bytes; IPv6 by its /64 network, as "6" and 8 bytes — one host is usually given a whole
 * /64, so counting its addresses one by one would let it multiply its budget; an
 * IPv4-mapped IPv6 address counts as its IPv4 address. Anything else is "?" and the text
 * itself, cut at RATE_ADDRESS_MAX - 1 bytes. Returns the identity's length. */
#define RATE_ADDRESS_MAX 64
size_t rate_address_identity(const char *address, uint8_t out[RATE_ADDRESS_MAX]);

#endif
