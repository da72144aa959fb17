/* Unit tests of util/rate_limit: a bucket's burst, refill, waits and Retry-After with exact
 * values, the limit turned off, a clock that steps backwards, the table's independence of
 * identities, its bound and least-recently-used replacement, SipHash-2-4 against the
 * reference vectors, and the identities of client addresses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "check.h"
#include "runner.h"
#include "util/rate_limit.h"

static const uint8_t seed[RATE_SEED_BYTES] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

/* One take from a bucket of rate = burst per second at now_ms: the wait it answers and, where
 * tokens is not UNCHECKED, the thousandths of a token left afterwards. */
#define UNCHECKED (-1)
typedef struct {
    int64_t now_ms;
    int64_t wait_ms;
    int64_t tokens;
} take_step;

static void take_each(rate_bucket *bucket, int64_t rate, const take_step *steps, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        assert_int_equal(rate_bucket_take(bucket, rate, rate, steps[i].now_ms), steps[i].wait_ms);
        if (steps[i].tokens != UNCHECKED) {
            assert_int_equal(bucket->tokens, steps[i].tokens);
        }
    }
}

static void test_burst_then_wait(void **state)
{
    (void)state;
    rate_bucket bucket;
    rate_bucket_fill(&bucket, 3, 0);
    assert_int_equal(bucket.tokens, 3000);
    /* Three at once; then empty: one request comes back after 1000/3 ms, rounded up; a
     * refusal takes nothing. */
    static const take_step steps[] = {
        {0, 0, UNCHECKED}, {0, 0, UNCHECKED}, {0, 0, UNCHECKED}, {0, 334, 0}, {0, 334, UNCHECKED},
    };
    take_each(&bucket, 3, steps, COUNT(steps));
}

static void test_refill(void **state)
{
    (void)state;
    rate_bucket bucket = {.tokens = 0, .updated_ms = 1000};
    /* 100 ms at 3/s: 300 thousandths; 700 are missing, 234 ms more. */
    assert_int_equal(rate_bucket_take(&bucket, 3, 3, 1100), 234);
    assert_int_equal(bucket.tokens, 300);
    assert_int_equal(bucket.updated_ms, 1100);
    static const take_step later[] = {{1333, 1, 999}, {1334, 0, 2}, {1334, 333, UNCHECKED}};
    take_each(&bucket, 3, later, COUNT(later));
    /* 100 per second: one request every 10 ms exactly. */
    rate_bucket fast = {.tokens = 0, .updated_ms = 0};
    static const take_step every_10_ms[] = {{9, 1, UNCHECKED}, {10, 0, 0}, {15, 5, UNCHECKED}};
    take_each(&fast, 100, every_10_ms, COUNT(every_10_ms));
}

static void test_refill_stops_at_the_burst(void **state)
{
    (void)state;
    rate_bucket bucket = {.tokens = 0, .updated_ms = 0};
    /* An hour idle refills to the burst, not beyond. */
    assert_int_equal(rate_bucket_take(&bucket, 5, 5, 3600 * 1000), 0);
    assert_int_equal(bucket.tokens, 4000);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(rate_bucket_take(&bucket, 5, 5, 3600 * 1000), 0);
    }
    assert_int_equal(rate_bucket_take(&bucket, 5, 5, 3600 * 1000), 200);
    /* A bucket idle for most of the clock's range, at the largest rate: no overflow. */
    rate_bucket old = {.tokens = 0, .updated_ms = INT64_MIN / 2};
    assert_int_equal(rate_bucket_take(&old, 1000000, 1000000, INT64_MAX / 2), 0);
    assert_int_equal(old.tokens, 1000000LL * 1000 - 1000);
}

static void test_full_after_one_second(void **state)
{
    (void)state;
    rate_bucket bucket = {.tokens = 0, .updated_ms = 0};
    assert_false(rate_bucket_full(&bucket, 3, 3, 0));
    assert_false(rate_bucket_full(&bucket, 3, 3, 999));
    assert_true(rate_bucket_full(&bucket, 3, 3, 1000));
    rate_bucket partly = {.tokens = 2500, .updated_ms = 0};
    assert_false(rate_bucket_full(&partly, 3, 3, 166));
    assert_true(rate_bucket_full(&partly, 3, 3, 167));
    /* Looking does not change it. */
    assert_int_equal(partly.tokens, 2500);
    assert_int_equal(partly.updated_ms, 0);
}

static void test_retry_after(void **state)
{
    (void)state;
    assert_int_equal(rate_retry_after_s(0), 1);
    assert_int_equal(rate_retry_after_s(1), 1);
    assert_int_equal(rate_retry_after_s(334), 1);
    assert_int_equal(rate_retry_after_s(1000), 1);
    assert_int_equal(rate_retry_after_s(1001), 2);
    assert_int_equal(rate_retry_after_s(2000), 2);
    assert_int_equal(rate_retry_after_s(2500), 3);
    assert_int_equal(rate_retry_after_s(INT64_MAX), 86400);
}

static void test_rate_zero_is_off(void **state)
{
    (void)state;
    rate_bucket bucket = {.tokens = 0, .updated_ms = 0};
    for (int i = 0; i < 100000; i++) {
        assert_int_equal(rate_bucket_take(&bucket, 0, 0, 0), 0);
    }
    assert_int_equal(bucket.tokens, 0);
    rate_table *table = rate_table_new(0, 0, 10, seed);
    for (int i = 0; i < 1000; i++) {
        char identity[16];
        int len = snprintf(identity, sizeof identity, "id%d", i);
        assert_int_equal(rate_table_take(table, identity, (size_t)len, 0), 0);
        assert_int_equal(rate_table_take(table, "same", 4, 0), 0);
    }
    assert_int_equal(rate_table_count(table), 0);
    rate_table_free(table);
}

static void test_clock_going_backwards(void **state)
{
    (void)state;
    rate_bucket bucket;
    rate_bucket_fill(&bucket, 2, 10000);
    assert_int_equal(rate_bucket_take(&bucket, 2, 2, 10000), 0);
    assert_int_equal(rate_bucket_take(&bucket, 2, 2, 10000), 0);
    /* The clock steps back 10 s: no refill, and no debt either. */
    assert_int_equal(rate_bucket_take(&bucket, 2, 2, 0), 500);
    assert_int_equal(bucket.tokens, 0);
    assert_int_equal(bucket.updated_ms, 0);
    /* Refill counts from the new reading: the 10 s are not credited twice. */
    assert_int_equal(rate_bucket_take(&bucket, 2, 2, 499), 1);
    assert_int_equal(rate_bucket_take(&bucket, 2, 2, 500), 0);
    assert_int_equal(rate_bucket_take(&bucket, 2, 2, 500), 500);
    /* A full bucket whose clock goes back keeps its tokens, never more. */
    rate_bucket full;
    rate_bucket_fill(&full, 2, 5000);
    assert_int_equal(rate_bucket_take(&full, 2, 2, 100), 0);
    assert_int_equal(full.tokens, 1000);
}

/* One take from a table's bucket of identity at now_ms, and the wait it answers. */
typedef struct {
    const char *identity;
    int64_t now_ms;
    int64_t wait_ms;
} table_step;

static void table_take_each(rate_table *table, const table_step *steps, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        const table_step *step = &steps[i];
        assert_int_equal(
            rate_table_take(table, step->identity, strlen(step->identity), step->now_ms),
            step->wait_ms);
    }
}

static void test_identities_are_independent(void **state)
{
    (void)state;
    rate_table *table = rate_table_new(2, 2, 100, seed);
    static const table_step steps[] = {
        {"key:1", 0, 0},
        {"key:1", 0, 0},
        {"key:1", 0, 500},
        /* Another key, and a prefix of the first, have their own full buckets. */
        {"key:2", 0, 0},
        {"key:", 0, 0},
        {"key:2", 0, 0},
        {"key:2", 0, 500},
        {"key:1", 250, 250},
        {"key:1", 500, 0},
    };
    table_take_each(table, steps, COUNT(steps));
    assert_int_equal(rate_table_count(table), 3);
    rate_table_free(table);
}

static void test_table_forgets_the_least_recently_used(void **state)
{
    (void)state;
    rate_table *table = rate_table_new(1, 1, 2, seed);
    static const table_step first[] = {
        {"A", 0, 0},
        {"B", 0, 0},
        {"A", 1, 999}, /* A used last */
        /* C takes B's place (least recently used). */
        {"C", 2, 0},
    };
    table_take_each(table, first, COUNT(first));
    assert_int_equal(rate_table_count(table), 2);
    static const table_step then[] = {
        {"A", 3, 997}, /* A is still empty */
        /* B comes back as a newcomer, full, in C's place; C then comes back full in A's. */
        {"B", 4, 0},
        {"C", 5, 0},
        {"B", 6, 998},
    };
    table_take_each(table, then, COUNT(then));
    assert_int_equal(rate_table_count(table), 2);
    rate_table_free(table);
}

static void test_flood_of_identities_stays_bounded(void **state)
{
    (void)state;
    enum { CAPACITY = 1000 };
    rate_table *table = rate_table_new(10, 10, CAPACITY, seed);
    /* A million identities pass through once each, one a millisecond, while a busy one
     * tries every 50 ms (20/s against its 10/s). The table never holds more than its
     * capacity, and the busy identity, used more recently than most, keeps its bucket:
     * exactly the refusals of a bucket that was never forgotten (a forgotten one would
     * come back full and pass). */
    int busy_tries = 0, busy_refused = 0;
    for (int i = 0; i < 1000000; i++) {
        char identity[32];
        int len = snprintf(identity, sizeof identity, "addr:%d", i);
        assert_int_equal(rate_table_take(table, identity, (size_t)len, i), 0);
        if (i % 50 == 0) {
            busy_tries++;
            busy_refused += rate_table_take(table, "busy", 4, i) != 0;
        }
        assert_true(rate_table_count(table) <= CAPACITY);
    }
    assert_int_equal(rate_table_count(table), CAPACITY);
    assert_int_equal(busy_tries, 20000);
    assert_int_equal(busy_refused, 9991);
    rate_table_free(table);
}

static void test_siphash_reference_vectors(void **state)
{
    (void)state;
    /* SipHash-2-4 paper, appendix A: key 00..0f, message 00..(n-1). */
    uint8_t key[16], message[64];
    for (int i = 0; i < 16; i++) {
        key[i] = (uint8_t)i;
    }
    for (int i = 0; i < 64; i++) {
        message[i] = (uint8_t)i;
    }
    assert_true(rate_siphash(key, message, 0) == 0x726fdb47dd0e0e31ULL);
    assert_true(rate_siphash(key, message, 1) == 0x74f839c593dc67fdULL);
    assert_true(rate_siphash(key, message, 7) == 0xab0200f58b01d137ULL);
    assert_true(rate_siphash(key, message, 8) == 0x93f5f5799a932462ULL);
    assert_true(rate_siphash(key, message, 15) == 0xa129ca6149be45e5ULL);
    assert_true(rate_siphash(key, message, 63) == 0x958a324ceb064572ULL);
}

static void assert_identity(const char *address, const char *expected, size_t expected_len)
{
    uint8_t out[RATE_ADDRESS_MAX];
    size_t len = rate_address_identity(address, out);
    if (len != expected_len || memcmp(out, expected, len) != 0) {
        fail_msg("identity of \"%s\": %zu bytes, expected %zu", address, len, expected_len);
    }
}

static void test_address_identities(void **state)
{
    (void)state;
    assert_identity("127.0.0.1", "4\x7f\x00\x00\x01", 5);
    assert_identity("10.1.2.3", "4\x0a\x01\x02\x03", 5);
    assert_identity("::ffff:127.0.0.1", "4\x7f\x00\x00\x01", 5);
    /* One /64: the same identity whatever the host part. */
    const char *network = "6\x20\x01\x0d\xb8\x00\x01\x00\x02";
    assert_identity("2001:db8:1:2::1", network, 9);
    assert_identity("2001:db8:1:2:ffff:eeee:dddd:cccc", network, 9);
    assert_identity("2001:db8:1:3::1", "6\x20\x01\x0d\xb8\x00\x01\x00\x03", 9);
    assert_identity("::1", "6\x00\x00\x00\x00\x00\x00\x00\x00", 9);
    assert_identity("", "?", 1);
    assert_identity("unix", "?unix", 5);
    char long_text[200];
    memset(long_text, 'x', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';
    uint8_t out[RATE_ADDRESS_MAX];
    assert_int_equal(rate_address_identity(long_text, out), RATE_ADDRESS_MAX);
    assert_int_equal(out[0], '?');
    assert_int_equal(out[RATE_ADDRESS_MAX - 1], 'x');
}

RUNNER_MAIN(NULL, NULL,
            {
                cmocka_unit_test(test_burst_then_wait),
                cmocka_unit_test(test_refill),
                cmocka_unit_test(test_refill_stops_at_the_burst),
                cmocka_unit_test(test_full_after_one_second),
                cmocka_unit_test(test_retry_after),
                cmocka_unit_test(test_rate_zero_is_off),
                cmocka_unit_test(test_clock_going_backwards),
                cmocka_unit_test(test_identities_are_independent),
                cmocka_unit_test(test_table_forgets_the_least_recently_used),
                cmocka_unit_test(test_flood_of_identities_stays_bounded),
                cmocka_unit_test(test_siphash_reference_vectors),
                cmocka_unit_test(test_address_identities),
            })
