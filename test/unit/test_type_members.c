/* Unit tests of a type's storages as the storage view's index (core/type_members.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/type_members.h"
#include "runner.h"

/* o1 -> s2 -> s3, o1 -> s5; s7 <-> s8 (another component); s4 and s9 have no roads. */
static graph *world(void)
{
    const graph_road roads[] = {
        {{NODE_ORG, 1}, {NODE_STORAGE, 2}, 10, false, 1},
        {{NODE_STORAGE, 2}, {NODE_STORAGE, 3}, 10, false, 2},
        {{NODE_ORG, 1}, {NODE_STORAGE, 5}, 30, false, 3},
        {{NODE_STORAGE, 7}, {NODE_STORAGE, 8}, 5, true, 4},
    };
    graph *g = graph_build(roads, sizeof roads / sizeof roads[0]);
    assert_non_null(g);
    return g;
}

static void test_normalize(void **state)
{
    (void)state;
    int64_t ids[] = {9, 3, 7, 3, 1, 9, 9};
    size_t count = type_members_normalize(ids, 7);
    assert_int_equal(count, 4);
    const int64_t expected[] = {1, 3, 7, 9};
    assert_memory_equal(ids, expected, sizeof expected);
    assert_int_equal(type_members_normalize(ids, 0), 0);
}

static void test_has(void **state)
{
    (void)state;
    const int64_t ids[] = {2, 4, 8, 16};
    type_members members = {ids, 4};
    assert_true(type_members_has(&members, 2));
    assert_true(type_members_has(&members, 8));
    assert_true(type_members_has(&members, 16));
    assert_false(type_members_has(&members, 1));
    assert_false(type_members_has(&members, 5));
    assert_false(type_members_has(&members, 17));
    type_members none = {NULL, 0};
    assert_false(type_members_has(&none, 2));
}

static void test_reachable_count(void **state)
{
    (void)state;
    graph *g = world();
    /* Members 3 (reached), 4 (no roads), 8 (another component), 9 (no roads). */
    const int64_t ids[] = {3, 4, 8, 9};
    type_members members = {ids, 4};
    /* Without the reachable set: those in the graph, 3 and 8. */
    assert_int_equal(type_members_reachable(&members, g, NULL, 0), 2);
    assert_true(type_members_any_in_graph(&members, g));
    /* With o1's reachable set {2, 3, 5}: only 3. */
    const int64_t reachable[] = {2, 3, 5};
    assert_int_equal(type_members_reachable(&members, g, reachable, 3), 1);
    /* A type of storages without roads: none reachable, none in the graph. */
    const int64_t roadless[] = {4, 9};
    type_members apart = {roadless, 2};
    assert_int_equal(type_members_reachable(&apart, g, NULL, 0), 0);
    assert_false(type_members_any_in_graph(&apart, g));
    type_members none = {NULL, 0};
    assert_int_equal(type_members_reachable(&none, g, reachable, 3), 0);
    graph_free(g);
}

static void test_unreached(void **state)
{
    (void)state;
    graph *g = world();
    const int64_t ids[] = {2, 3, 4, 5, 8, 9};
    type_members members = {ids, 6};
    const int64_t reachable[] = {2, 3, 5};
    int64_t out[8];
    /* o1 reaches 2, 3, 5: the rest is 4, 8, 9, in id order. */
    assert_int_equal(type_members_unreached(&members, g, 0, reachable, 3, out, 8), 3);
    const int64_t all[] = {4, 8, 9};
    assert_memory_equal(out, all, sizeof all);
    /* After 4: 8, 9. After 9: nothing. */
    assert_int_equal(type_members_unreached(&members, g, 4, reachable, 3, out, 8), 2);
    assert_int_equal(out[0], 8);
    assert_int_equal(out[1], 9);
    assert_int_equal(type_members_unreached(&members, g, 9, reachable, 3, out, 8), 0);
    /* cap smaller than the answer: the first cap written, the total returned. */
    out[1] = -1;
    assert_int_equal(type_members_unreached(&members, g, 0, reachable, 3, out, 1), 3);
    assert_int_equal(out[0], 4);
    assert_int_equal(out[1], -1);
    /* An organization that reaches nothing (no reachable set): every member. */
    assert_int_equal(type_members_unreached(&members, g, 0, NULL, 0, out, 8), 6);
    const int64_t every[] = {2, 3, 4, 5, 8, 9};
    assert_memory_equal(out, every, sizeof every);
    /* Once a search has yielded every member with a road: those without, 4 and 9. */
    assert_int_equal(type_members_roadless(&members, g, 0, out, 8), 2);
    assert_int_equal(out[0], 4);
    assert_int_equal(out[1], 9);
    assert_int_equal(type_members_roadless(&members, g, 4, out, 8), 1);
    assert_int_equal(out[0], 9);
    assert_int_equal(type_members_roadless(&members, g, 9, out, 8), 0);
    graph_free(g);
}

RUNNER_MAIN(NULL, NULL,
            {
                cmocka_unit_test(test_normalize),
                cmocka_unit_test(test_has),
                cmocka_unit_test(test_reachable_count),
                cmocka_unit_test(test_unreached),
            })
