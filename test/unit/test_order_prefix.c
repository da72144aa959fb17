/* Unit tests of the kept prefixes of organizations' orders (core/order_prefix.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/order_prefix.h"
#include "runner.h"

/* What a kept storage costs: its id and distance, and its position by id. */
#define ENTRY (2 * sizeof(int64_t) + sizeof(uint16_t))

/* Organization 7's order at version 3: storages by (distance, id). */
static const int64_t ids[] = {40, 12, 31, 5};
static const int64_t distances[] = {10, 20, 20, 35};

static void test_put_then_get(void **state)
{
    (void)state;
    order_prefixes *table = order_prefixes_new(16, 8, 1 << 20);
    assert_non_null(table);
    assert_null(order_prefixes_get(table, 7, 3));
    assert_true(order_prefixes_put(table, 7, 3, ids, distances, 4, true));
    const order_prefix *p = order_prefixes_get(table, 7, 3);
    assert_non_null(p);
    assert_int_equal(p->organization_id, 7);
    assert_int_equal(p->version, 3);
    assert_int_equal(p->count, 4);
    assert_true(p->complete);
    assert_memory_equal(p->ids, ids, sizeof ids);
    assert_memory_equal(p->distances, distances, sizeof distances);
    const uint16_t by_id[] = {3, 1, 2, 0}; /* ids 5, 12, 31, 40 */
    assert_memory_equal(p->by_id, by_id, sizeof by_id);
    /* Another organization, another version: not this prefix. */
    assert_null(order_prefixes_get(table, 8, 3));
    assert_null(order_prefixes_get(table, 7, 2));
    assert_int_equal(order_prefixes_count(table), 1);
    assert_int_equal(order_prefixes_bytes(table), 4 * ENTRY);
    order_prefixes_free(table);
}

static void test_distance(void **state)
{
    (void)state;
    order_prefixes *table = order_prefixes_new(4, 8, 1 << 20);
    assert_true(order_prefixes_put(table, 7, 3, ids, distances, 4, false));
    const order_prefix *p = order_prefixes_get(table, 7, 3);
    const struct {
        int64_t id, distance;
    } cases[] = {{5, 35}, {12, 20}, {31, 20}, {40, 10}, {1, -1}, {13, -1}, {41, -1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(order_prefix_distance(p, cases[i].id), cases[i].distance);
    }
    order_prefix empty = {0};
    assert_int_equal(order_prefix_distance(&empty, 5), -1);
    order_prefixes_free(table);
}

/* A slot keeps the longer prefix of the same order; a complete one is never replaced. */
static void test_longer_wins(void **state)
{
    (void)state;
    order_prefixes *table = order_prefixes_new(4, 8, 1 << 20);
    assert_true(order_prefixes_put(table, 7, 3, ids, distances, 2, false));
    assert_false(order_prefixes_put(table, 7, 3, ids, distances, 1, false));
    assert_false(order_prefixes_put(table, 7, 3, ids, distances, 2, false));
    assert_true(order_prefixes_put(table, 7, 3, ids, distances, 3, false));
    assert_int_equal(order_prefixes_get(table, 7, 3)->count, 3);
    /* The same length but complete (the search ran to its end) is more. */
    assert_true(order_prefixes_put(table, 7, 3, ids, distances, 3, true));
    assert_true(order_prefixes_get(table, 7, 3)->complete);
    assert_false(order_prefixes_put(table, 7, 3, ids, distances, 4, false));
    assert_int_equal(order_prefixes_get(table, 7, 3)->count, 3);
    assert_int_equal(order_prefixes_count(table), 1);
    assert_int_equal(order_prefixes_bytes(table), 3 * ENTRY);
    order_prefixes_free(table);
}

/* A newer graph version drops every prefix of the older; an older one is refused. */
static void test_versions(void **state)
{
    (void)state;
    order_prefixes *table = order_prefixes_new(64, 8, 1 << 20);
    assert_true(order_prefixes_put(table, 7, 3, ids, distances, 4, true));
    assert_true(order_prefixes_put(table, 9, 3, ids, distances, 2, false));
    assert_int_equal(order_prefixes_count(table), 2);
    assert_true(order_prefixes_put(table, 9, 4, ids, distances, 1, false));
    assert_int_equal(order_prefixes_count(table), 1);
    assert_null(order_prefixes_get(table, 7, 3));
    assert_null(order_prefixes_get(table, 9, 3));
    assert_int_equal(order_prefixes_get(table, 9, 4)->count, 1);
    assert_false(order_prefixes_put(table, 7, 3, ids, distances, 4, true));
    assert_null(order_prefixes_get(table, 7, 3));
    assert_int_equal(order_prefixes_bytes(table), 1 * ENTRY);
    order_prefixes_free(table);
}

/* One slot: the second organization replaces the first (direct-mapped). */
static void test_slot_replaced(void **state)
{
    (void)state;
    order_prefixes *table = order_prefixes_new(1, 8, 1 << 20);
    assert_true(order_prefixes_put(table, 7, 3, ids, distances, 4, true));
    assert_true(order_prefixes_put(table, 8, 3, ids, distances, 1, false));
    assert_null(order_prefixes_get(table, 7, 3));
    assert_int_equal(order_prefixes_get(table, 8, 3)->count, 1);
    assert_int_equal(order_prefixes_count(table), 1);
    assert_int_equal(order_prefixes_bytes(table), ENTRY);
    order_prefixes_free(table);
}

/* Bounds: a prefix longer than max_length is cut and then not complete; one that would pass
 * max_bytes is not kept; nothing for a count of 0. */
static void test_bounds(void **state)
{
    (void)state;
    order_prefixes *table = order_prefixes_new(64, 3, 5 * ENTRY);
    assert_true(order_prefixes_put(table, 7, 3, ids, distances, 4, true));
    const order_prefix *p = order_prefixes_get(table, 7, 3);
    assert_int_equal(p->count, 3);
    assert_false(p->complete);
    assert_int_equal(order_prefix_distance(p, 5), -1);
    assert_false(order_prefixes_put(table, 9, 3, ids, distances, 3, false)); /* 3 + 3 > 5 */
    assert_true(order_prefixes_put(table, 9, 3, ids, distances, 2, false));  /* 3 + 2 */
    assert_false(order_prefixes_put(table, 11, 3, ids, distances, 0, true));
    assert_int_equal(order_prefixes_count(table), 2);
    assert_int_equal(order_prefixes_bytes(table), 5 * ENTRY);
    assert_null(order_prefixes_new(0, 3, 100));
    assert_null(order_prefixes_new(4, 0, 100));
    order_prefixes_free(NULL);
    assert_null(order_prefixes_get(NULL, 7, 3));
    order_prefixes_free(table);
}

RUNNER_MAIN(NULL, NULL,
            {
                cmocka_unit_test(test_put_then_get),
                cmocka_unit_test(test_distance),
                cmocka_unit_test(test_longer_wins),
                cmocka_unit_test(test_versions),
                cmocka_unit_test(test_slot_replaced),
                cmocka_unit_test(test_bounds),
            })
