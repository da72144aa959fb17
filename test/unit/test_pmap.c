/* Unit tests of core/pmap, the persistent hash map under the road graph: exact contents
 * after put/get/remove, versions that share nodes and stay unchanged while later versions
 * change, reference-counted values released exactly once, bulk builds equal to puts, and a
 * randomized run against a plain array. ASan (the suite's build) catches leaks and
 * use-after-free when versions are freed in any order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "check.h"
#include "core/pmap.h"
#include "prng.h"
#include "runner.h"

/* Counted values: a value is an index into live[], retained and released by the map. */
enum { MAX_VALUES = 4096 };
static int live[MAX_VALUES];

static void value_retain(uint64_t value)
{
    live[value]++;
}

static void value_release(uint64_t value)
{
    CHECK(live[value] > 0, "value %llu released more often than retained",
          (unsigned long long)value);
    live[value]--;
}

static const pmap_ops counted = {value_retain, value_release};

static uint64_t get_or_zero(const pmap *m, uint64_t key)
{
    uint64_t value = 0;
    return pmap_get(m, key, &value) ? value : 0;
}

static void test_put_get_remove(void **state)
{
    (void)state;
    pmap m = {0};
    assert_false(pmap_get(&m, 1, NULL));
    assert_false(pmap_get(&m, 0, NULL));
    for (uint64_t k = 1; k <= 1000; k++) {
        assert_true(pmap_put(&m, k, k * 10, NULL));
    }
    assert_int_equal(m.count, 1000);
    for (uint64_t k = 1; k <= 1000; k++) {
        assert_int_equal(get_or_zero(&m, k), k * 10);
    }
    assert_false(pmap_get(&m, 1001, NULL));
    assert_false(pmap_get(&m, UINT64_MAX, NULL));
    /* Replacing keeps the count. */
    assert_true(pmap_put(&m, 500, 7, NULL));
    assert_int_equal(m.count, 1000);
    assert_int_equal(get_or_zero(&m, 500), 7);
    bool removed = false;
    for (uint64_t k = 2; k <= 1000; k += 2) {
        assert_true(pmap_remove(&m, k, NULL, &removed));
        assert_true(removed);
    }
    assert_true(pmap_remove(&m, 2, NULL, &removed));
    assert_false(removed);
    assert_int_equal(m.count, 500);
    for (uint64_t k = 1; k <= 1000; k++) {
        assert_int_equal(pmap_get(&m, k, NULL), k % 2 == 1);
    }
    uint64_t *slot = NULL;
    assert_true(pmap_get_mut(&m, 501, NULL, &slot));
    assert_non_null(slot);
    *slot = 42;
    assert_int_equal(get_or_zero(&m, 501), 42);
    assert_true(pmap_get_mut(&m, 502, NULL, &slot));
    assert_null(slot);
    for (uint64_t k = 1; k <= 1000; k += 2) {
        assert_true(pmap_remove(&m, k, NULL, NULL));
    }
    assert_int_equal(m.count, 0);
    assert_null(m.root); /* the last removal gives back every node */
    assert_int_equal(pmap_bytes(&m), 0);
}

/* Keys that agree on their low hash bits are the deep case of the trie; extreme keys too. */
static void test_extreme_keys(void **state)
{
    (void)state;
    pmap m = {0};
    const uint64_t keys[] = {1, UINT64_MAX, UINT64_C(1) << 63, (UINT64_C(1) << 63) | 1, INT64_MAX,
                             2, 3};
    size_t n = sizeof keys / sizeof keys[0];
    for (size_t i = 0; i < n; i++) {
        assert_true(pmap_put(&m, keys[i], i + 100, NULL));
    }
    assert_false(pmap_put(&m, 0, 1, NULL)); /* key 0 is refused */
    assert_int_equal(m.count, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(get_or_zero(&m, keys[i]), i + 100);
    }
    pmap_clear(&m, NULL);
    assert_null(m.root);
}

/* A shared copy stays exactly as it was while the other version changes, and values are
 * released only when no version holds them. */
static void test_versions_share(void **state)
{
    (void)state;
    memset(live, 0, sizeof live);
    pmap a = {0};
    for (uint64_t k = 1; k <= 200; k++) {
        live[k]++; /* the reference pmap_put takes over */
        assert_true(pmap_put(&a, k, k, &counted));
    }
    pmap b = {0};
    pmap_share(&b, &a);
    assert_true(pmap_remove(&b, 10, &counted, NULL));
    live[999]++;
    assert_true(pmap_put(&b, 11, 999, &counted));
    live[998]++;
    assert_true(pmap_put(&b, 5000, 998, &counted));
    /* a is untouched. */
    assert_int_equal(a.count, 200);
    assert_int_equal(get_or_zero(&a, 10), 10);
    assert_int_equal(get_or_zero(&a, 11), 11);
    assert_false(pmap_get(&a, 5000, NULL));
    /* b has its changes. */
    assert_int_equal(b.count, 200);
    assert_false(pmap_get(&b, 10, NULL));
    assert_int_equal(get_or_zero(&b, 11), 999);
    assert_int_equal(get_or_zero(&b, 5000), 998);
    /* Value 10 is still held by a, value 11 too; 999 by b only. */
    assert_true(live[10] >= 1);
    assert_true(live[11] >= 1);
    assert_int_equal(live[999], 1);
    pmap_clear(&a, &counted);
    assert_int_equal(live[10], 0);
    assert_int_equal(live[11], 0);
    assert_int_equal(live[12], 1);
    assert_int_equal(get_or_zero(&b, 12), 12);
    pmap_clear(&b, &counted);
    for (int v = 0; v < MAX_VALUES; v++) {
        CHECK(live[v] == 0, "value %d still held %d times", v, live[v]);
    }
}

static void test_build_equals_puts(void **state)
{
    (void)state;
    prng r = {.state = 7};
    enum { N = 5000 };
    pmap_entry *entries = malloc(N * sizeof *entries);
    uint64_t *keys = malloc(N * sizeof *keys);
    assert_non_null(entries);
    assert_non_null(keys);
    pmap put = {0};
    for (size_t i = 0; i < N; i++) {
        /* Dense small keys and huge sparse ones. */
        uint64_t key = i % 2 ? i + 1 : (prng_next(&r) | 1);
        keys[i] = key;
        entries[i] = (pmap_entry){key, i};
        assert_true(pmap_put(&put, key, i, NULL));
    }
    pmap built = {0};
    assert_int_equal(pmap_build(&built, entries, N), 0);
    assert_int_equal(built.count, N);
    assert_int_equal(put.count, N);
    /* The same trie: same shape, so the same bytes, and the same answers. */
    assert_int_equal(pmap_bytes(&built), pmap_bytes(&put));
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(get_or_zero(&built, keys[i]), i);
    }
    /* A repeated key, or key 0, is refused and leaves the map empty. */
    pmap_entry twice[] = {{5, 1}, {6, 2}, {5, 3}};
    pmap refused = {0};
    assert_int_equal(pmap_build(&refused, twice, 3), -2);
    assert_null(refused.root);
    pmap_entry zero[] = {{0, 1}};
    assert_int_equal(pmap_build(&refused, zero, 1), -2);
    pmap one = {0};
    pmap_entry single[] = {{77, 5}};
    assert_int_equal(pmap_build(&one, single, 1), 0);
    assert_int_equal(get_or_zero(&one, 77), 5);
    pmap empty = {0};
    assert_int_equal(pmap_build(&empty, NULL, 0), 0);
    assert_null(empty.root);
    pmap_clear(&one, NULL);
    pmap_clear(&built, NULL);
    pmap_clear(&put, NULL);
    free(entries);
    free(keys);
}

static void count_entry(uint64_t key, uint64_t value, void *arg)
{
    (void)key;
    *(uint64_t *)arg += value;
}

/* Random operations on many versions against a plain array per version. */
static void test_random_versions(void **state)
{
    (void)state;
    enum { KEYS = 300, VERSIONS = 60, OPS = 40 };
    prng r = {.state = 20261127};
    memset(live, 0, sizeof live);
    static uint64_t expected[VERSIONS][KEYS + 1]; /* 0: absent */
    pmap versions[VERSIONS];
    memset(versions, 0, sizeof versions);
    uint64_t next_value = 1;
    for (int v = 0; v < VERSIONS; v++) {
        if (v > 0) {
            pmap_share(&versions[v], &versions[v - 1]);
            memcpy(expected[v], expected[v - 1], sizeof expected[v]);
        }
        for (int op = 0; op < OPS; op++) {
            uint64_t key = 1 + prng_next(&r) % KEYS;
            switch (prng_next(&r) % 3) {
            case 0:
            case 1: {
                uint64_t value = next_value++ % MAX_VALUES;
                if (value == 0) {
                    value = next_value++ % MAX_VALUES;
                }
                live[value]++;
                assert_true(pmap_put(&versions[v], key, value, &counted));
                expected[v][key] = value;
                break;
            }
            default: {
                bool removed = true;
                assert_true(pmap_remove(&versions[v], key, &counted, &removed));
                assert_int_equal(removed, expected[v][key] != 0);
                expected[v][key] = 0;
            }
            }
        }
    }
    /* Every version answers as it did when it was made, and pmap_each sees exactly it. */
    for (int v = 0; v < VERSIONS; v++) {
        size_t count = 0;
        uint64_t sum = 0, each_sum = 0;
        for (uint64_t k = 1; k <= KEYS; k++) {
            CHECK(get_or_zero(&versions[v], k) == expected[v][k], "version %d key %llu", v,
                  (unsigned long long)k);
            count += expected[v][k] != 0;
            sum += expected[v][k];
        }
        assert_int_equal(versions[v].count, count);
        pmap_each(&versions[v], count_entry, &each_sum);
        assert_int_equal(each_sum, sum);
    }
    /* Freed in a random order, the rest stay intact; at the end nothing is held. */
    int order[VERSIONS];
    for (int v = 0; v < VERSIONS; v++) {
        order[v] = v;
    }
    for (int v = VERSIONS - 1; v > 0; v--) {
        int j = (int)(prng_next(&r) % (uint64_t)(v + 1));
        int swap = order[v];
        order[v] = order[j];
        order[j] = swap;
    }
    for (int i = 0; i < VERSIONS; i++) {
        pmap_clear(&versions[order[i]], &counted);
        for (int j = i + 1; j < VERSIONS; j += 7) {
            int v = order[j];
            for (uint64_t k = 1; k <= KEYS; k++) {
                CHECK(get_or_zero(&versions[v], k) == expected[v][k],
                      "after freeing, version %d key %llu", v, (unsigned long long)k);
            }
        }
    }
    for (int value = 0; value < MAX_VALUES; value++) {
        CHECK(live[value] == 0, "value %d still held %d times", value, live[value]);
    }
}

RUNNER_MAIN(NULL, NULL,
            {
                cmocka_unit_test(test_put_get_remove),
                cmocka_unit_test(test_extreme_keys),
                cmocka_unit_test(test_versions_share),
                cmocka_unit_test(test_build_equals_puts),
                cmocka_unit_test(test_random_versions),
            })
