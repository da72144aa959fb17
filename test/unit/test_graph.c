/* Unit tests of core/graph: the picture's road network with its exact distances and paths,
 * its storages in search order, road changes on it (graph_apply) with exact answers for old
 * and new versions, edge cases, and property tests against brute-force references
 * (Floyd–Warshall on small random graphs, Bellman–Ford on one large one), including the
 * documented tie rule. Randomized tests of versions and searches: test_graph_versions.c. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "check.h"
#include "core/graph.h"
#include "picture.h"
#include "prng.h"
#include "runner.h"

static node_ref org(int64_t id)
{
    return (node_ref){.kind = NODE_ORG, .id = id};
}

static node_ref st(int64_t id)
{
    return (node_ref){.kind = NODE_STORAGE, .id = id};
}

static graph_road road(node_ref from, node_ref to, int64_t distance_m, bool two_way)
{
    return (graph_road){.from = from, .to = to, .distance_m = distance_m, .two_way = two_way};
}

static bool same_node(node_ref a, node_ref b)
{
    return a.kind == b.kind && a.id == b.id;
}

/* Asserts graph_path(p, target) is exactly expected[0..expected_len). */
static void assert_path(const graph_paths *p, node_ref target, const node_ref *expected,
                        size_t expected_len)
{
    node_ref out[16];
    assert_true(expected_len <= 16);
    assert_int_equal(graph_path(p, target, NULL, 0), expected_len);
    assert_int_equal(graph_path(p, target, out, 16), expected_len);
    for (size_t i = 0; i < expected_len; i++) {
        assert_int_equal(out[i].kind, expected[i].kind);
        assert_int_equal(out[i].id, expected[i].id);
    }
}

/* --- The picture (README, "The picture, as an example") --- */

static graph *build_picture(void)
{
    graph *g = graph_build(picture_roads, sizeof picture_roads / sizeof picture_roads[0]);
    assert_non_null(g);
    return g;
}

static void test_picture_distances(void **state)
{
    (void)state;
    graph *g = build_picture();
    assert_int_equal(graph_node_count(g), 10);
    assert_true(graph_has_node(g, st(9)));
    assert_false(graph_has_node(g, st(4)));
    assert_false(graph_has_node(g, org(9)));

    graph_paths *from_oo1 = graph_shortest_from(g, org(1));
    assert_non_null(from_oo1);
    assert_int_equal(graph_distance(from_oo1, org(1)), 0);
    assert_int_equal(graph_distance(from_oo1, st(2)), 50);
    assert_int_equal(graph_distance(from_oo1, st(1)), 100);
    assert_int_equal(graph_distance(from_oo1, st(5)), 100);
    assert_int_equal(graph_distance(from_oo1, st(3)), 600);
    assert_int_equal(graph_distance(from_oo1, st(8)), 600);
    assert_int_equal(graph_distance(from_oo1, st(9)), 610);
    assert_int_equal(graph_distance(from_oo1, st(7)), 650);
    assert_int_equal(graph_distance(from_oo1, st(6)), 1200);
    assert_int_equal(graph_distance(from_oo1, org(2)), -1);
    assert_int_equal(graph_distance(from_oo1, st(4)), -1);

    graph_paths *from_oo2 = graph_shortest_from(g, org(2));
    assert_non_null(from_oo2);
    assert_int_equal(graph_distance(from_oo2, org(2)), 0);
    assert_int_equal(graph_distance(from_oo2, st(3)), 50);
    assert_int_equal(graph_distance(from_oo2, st(7)), 100);
    assert_int_equal(graph_distance(from_oo2, st(6)), 650);
    const int64_t unreachable[] = {1, 2, 5, 8, 9};
    for (size_t i = 0; i < sizeof unreachable / sizeof unreachable[0]; i++) {
        assert_int_equal(graph_distance(from_oo2, st(unreachable[i])), -1);
        assert_int_equal(graph_path(from_oo2, st(unreachable[i]), NULL, 0), 0);
    }
    assert_int_equal(graph_distance(from_oo2, org(1)), -1);
    assert_int_equal(graph_path(from_oo2, org(1), NULL, 0), 0);

    graph_paths_free(from_oo1);
    graph_paths_free(from_oo2);
    graph_free(g);
}

static void test_picture_paths(void **state)
{
    (void)state;
    graph *g = build_picture();
    graph_paths *from_oo1 = graph_shortest_from(g, org(1));
    graph_paths *from_oo2 = graph_shortest_from(g, org(2));
    assert_non_null(from_oo1);
    assert_non_null(from_oo2);

    const node_ref to_st9[] = {org(1), st(1), st(8), st(9)};
    assert_path(from_oo1, st(9), to_st9, 4);
    const node_ref to_st5[] = {org(1), st(2), st(5)};
    assert_path(from_oo1, st(5), to_st5, 3);
    const node_ref to_st7[] = {org(1), st(3), st(7)};
    assert_path(from_oo1, st(7), to_st7, 3);
    const node_ref to_st6[] = {org(1), st(3), st(6)};
    assert_path(from_oo1, st(6), to_st6, 3);
    const node_ref oo1_itself[] = {org(1)};
    assert_path(from_oo1, org(1), oo1_itself, 1);
    const node_ref oo2_to_st6[] = {org(2), st(3), st(6)};
    assert_path(from_oo2, st(6), oo2_to_st6, 3);
    const node_ref oo2_to_st7[] = {org(2), st(3), st(7)};
    assert_path(from_oo2, st(7), oo2_to_st7, 3);

    graph_paths_free(from_oo1);
    graph_paths_free(from_oo2);
    graph_free(g);
}

/* One-way roads are never walked backwards; two-way roads are walked both ways. */
static void test_picture_one_way(void **state)
{
    (void)state;
    graph *g = build_picture();

    graph_paths *from_st8 = graph_shortest_from(g, st(8));
    assert_non_null(from_st8);
    assert_int_equal(graph_distance(from_st8, st(9)), 10);
    assert_int_equal(graph_distance(from_st8, st(1)), -1); /* МНО1→МНО8 is one-way */
    assert_int_equal(graph_distance(from_st8, org(1)), -1);
    graph_paths_free(from_st8);

    graph_paths *from_st3 = graph_shortest_from(g, st(3));
    assert_non_null(from_st3);
    assert_int_equal(graph_distance(from_st3, st(7)), 50);
    assert_int_equal(graph_distance(from_st3, st(6)), 600);
    assert_int_equal(graph_distance(from_st3, org(1)), -1);
    assert_int_equal(graph_distance(from_st3, org(2)), -1);
    graph_paths_free(from_st3);

    graph_paths *from_st6 = graph_shortest_from(g, st(6));
    assert_non_null(from_st6);
    assert_int_equal(graph_distance(from_st6, st(3)), -1);
    assert_int_equal(graph_distance(from_st6, st(6)), 0);
    graph_paths_free(from_st6);

    graph_paths *from_st5 = graph_shortest_from(g, st(5));
    assert_non_null(from_st5);
    assert_int_equal(graph_distance(from_st5, st(2)), 50);
    assert_int_equal(graph_distance(from_st5, org(1)), -1);
    graph_paths_free(from_st5);

    graph_free(g);
}

/* --- Searches on the picture --- */

/* Expected storages of a search: id and distance, in order. */
struct found {
    int64_t id;
    int64_t distance_m;
};

static void assert_search_order(const graph *g, node_ref source, const struct found *want,
                                size_t count)
{
    graph_search *s = graph_search_begin(g, source);
    assert_non_null(s);
    for (size_t i = 0; i < count; i++) {
        node_ref node = org(0);
        int64_t distance = -2;
        assert_true(graph_search_next(s, &node, &distance));
        assert_int_equal(node.kind, NODE_STORAGE);
        assert_int_equal(node.id, want[i].id);
        assert_int_equal(distance, want[i].distance_m);
        assert_int_equal(graph_search_distance(s, node), want[i].distance_m);
    }
    assert_false(graph_search_next(s, NULL, NULL));
    assert_false(graph_search_failed(s));
    graph_search_free(s);
}

static void test_picture_search_order(void **state)
{
    (void)state;
    graph *g = build_picture();
    /* The picture's distances; МНО1 before МНО5 at 100 m and МНО3 before МНО8 at 600 m: ids. */
    const struct found from_oo1[] = {{2, 50},  {1, 100}, {5, 100}, {3, 600},
                                     {8, 600}, {9, 610}, {7, 650}, {6, 1200}};
    assert_search_order(g, org(1), from_oo1, 8);
    const struct found from_oo2[] = {{3, 50}, {7, 100}, {6, 650}};
    assert_search_order(g, org(2), from_oo2, 3);
    /* From a storage: the source itself is never returned. */
    const struct found from_st3[] = {{7, 50}, {6, 600}};
    assert_search_order(g, st(3), from_st3, 2);
    assert_search_order(g, st(6), NULL, 0);
    assert_search_order(g, org(3), NULL, 0); /* in no road */
    graph_free(g);
}

/* What a search knows before it is exhausted: settled nodes only, and their paths. */
static void test_picture_search_partial(void **state)
{
    (void)state;
    graph *g = build_picture();
    graph_search *s = graph_search_begin(g, org(1));
    assert_non_null(s);
    assert_int_equal(graph_search_distance(s, org(1)), 0);
    assert_int_equal(graph_search_settled(s), 0);
    node_ref node;
    int64_t distance;
    assert_true(graph_search_next(s, &node, &distance));
    assert_true(same_node(node, st(2)));
    assert_int_equal(distance, 50);
    assert_int_equal(graph_search_settled(s), 2);          /* ОО1 and МНО2 */
    assert_int_equal(graph_search_distance(s, st(1)), -1); /* reached, not settled */
    assert_int_equal(graph_search_distance(s, st(6)), -1);
    assert_int_equal(graph_search_path(s, st(1), NULL, 0), 0);
    assert_true(graph_search_next(s, &node, &distance)); /* МНО1 */
    assert_true(graph_search_next(s, &node, &distance)); /* МНО5 */
    assert_true(same_node(node, st(5)));
    node_ref path[4];
    const node_ref via_st2[] = {org(1), st(2), st(5)};
    assert_int_equal(graph_search_path(s, st(5), NULL, 0), 3);
    assert_int_equal(graph_search_path(s, st(5), path, 2), 3); /* too small: nothing written */
    assert_int_equal(graph_search_path(s, st(5), path, 4), 3);
    for (size_t i = 0; i < 3; i++) {
        assert_true(same_node(path[i], via_st2[i]));
    }
    assert_int_equal(graph_search_path(s, org(1), path, 4), 1);
    assert_true(same_node(path[0], org(1)));
    assert_int_equal(graph_search_distance(s, st(3)), -1);
    assert_true(graph_search_bytes(s) > 0);
    graph_search_free(s);
    graph_free(g);
}

/* --- Road changes on the picture --- */

static graph *apply_one(const graph *base, graph_change change)
{
    graph *g = graph_apply(base, &change, 1);
    assert_non_null(g);
    return g;
}

static graph_change upsert(graph_road r, int64_t route_id)
{
    r.route_id = route_id;
    return (graph_change){GRAPH_UPSERT, r};
}

static graph_change delete_route(int64_t route_id)
{
    return (graph_change){GRAPH_DELETE, {.route_id = route_id}};
}

static void assert_picture_unchanged(const graph *g)
{
    const struct found from_oo1[] = {{2, 50},  {1, 100}, {5, 100}, {3, 600},
                                     {8, 600}, {9, 610}, {7, 650}, {6, 1200}};
    assert_search_order(g, org(1), from_oo1, 8);
    const struct found from_oo2[] = {{3, 50}, {7, 100}, {6, 650}};
    assert_search_order(g, org(2), from_oo2, 3);
    assert_int_equal(graph_node_count(g), 10);
    assert_int_equal(graph_road_count(g), 9);
}

static void test_apply_on_picture(void **state)
{
    (void)state;
    graph *picture = build_picture();

    /* Deleting ОО1→МНО2 (route 2) cuts МНО2 and МНО5 off from ОО1; МНО2 stays a node (its
     * two-way road with МНО5 remains). */
    graph *cut = apply_one(picture, delete_route(2));
    const struct found cut_oo1[] = {{1, 100}, {3, 600}, {8, 600}, {9, 610}, {7, 650}, {6, 1200}};
    assert_search_order(cut, org(1), cut_oo1, 6);
    assert_int_equal(graph_node_count(cut), 10);
    assert_int_equal(graph_road_count(cut), 8);
    assert_true(graph_has_node(cut, st(2)));

    /* Lengthening ОО2→МНО3 (route 4) to 700 m moves everything ОО2 reaches by 650 m. */
    graph *longer = apply_one(cut, upsert(road(org(2), st(3), 700, false), 4));
    const struct found longer_oo2[] = {{3, 700}, {7, 750}, {6, 1300}};
    assert_search_order(longer, org(2), longer_oo2, 3);
    assert_search_order(longer, org(1), cut_oo1, 6);

    /* Making МНО1→МНО8 (route 5) two-way: МНО8 now reaches МНО1, and through it nothing else
     * (МНО1's only other road leads to МНО8). */
    graph *both_ways = apply_one(longer, upsert(road(st(1), st(8), 500, true), 5));
    const struct found from_st8[] = {{9, 10}, {1, 500}};
    assert_search_order(both_ways, st(8), from_st8, 2);
    const struct found one_way_st8[] = {{9, 10}};
    assert_search_order(longer, st(8), one_way_st8, 1);

    /* A new node: ОО3→МНО9 5 m. */
    graph *grown = apply_one(both_ways, upsert(road(org(3), st(9), 5, false), 10));
    assert_int_equal(graph_node_count(grown), 11);
    assert_true(graph_has_node(grown, org(3)));
    const struct found from_oo3[] = {{9, 5}, {8, 15}, {1, 515}};
    assert_search_order(grown, org(3), from_oo3, 3);

    /* Deleting the last road of a node removes the node: МНО6 has only МНО3→МНО6. */
    graph *shrunk = apply_one(grown, delete_route(6));
    assert_int_equal(graph_node_count(shrunk), 10);
    assert_false(graph_has_node(shrunk, st(6)));
    const struct found shrunk_oo2[] = {{3, 700}, {7, 750}};
    assert_search_order(shrunk, org(2), shrunk_oo2, 2);

    /* A delete of an id no road has, and an upsert of a road exactly as it is: no change. */
    const graph_change nothing[] = {delete_route(99), delete_route(2),
                                    upsert(road(st(3), st(7), 50, true), 9)};
    graph *same = graph_apply(shrunk, nothing, 3);
    assert_non_null(same);
    assert_int_equal(graph_node_count(same), 10);
    assert_int_equal(graph_road_count(same), graph_road_count(shrunk));
    assert_search_order(same, org(2), shrunk_oo2, 2);

    /* Moving a road to other endpoints: route 9 (МНО3↔МНО7) becomes ОО2→МНО7 20 m. МНО3 keeps
     * ОО2→МНО3; МНО7 stays a node through the new road. */
    graph *moved = apply_one(same, upsert(road(org(2), st(7), 20, false), 9));
    const struct found moved_oo2[] = {{7, 20}, {3, 700}};
    assert_search_order(moved, org(2), moved_oo2, 2);
    assert_int_equal(graph_road_count(moved), graph_road_count(same));

    /* Every earlier version answers as before, freed in no particular order. */
    graph_free(cut);
    assert_picture_unchanged(picture);
    assert_search_order(longer, org(2), longer_oo2, 3);
    graph_free(longer);
    graph_free(picture);
    assert_search_order(both_ways, st(8), from_st8, 2);
    assert_search_order(grown, org(3), from_oo3, 3);
    graph_free(moved);
    assert_search_order(shrunk, org(2), shrunk_oo2, 2);
    graph_free(grown);
    graph_free(both_ways);
    graph_free(same);
    graph_free(shrunk);
}

/* A change set is applied in order; the same road deleted and added in one set, loops and
 * parallel roads by id. */
static void test_apply_sequences(void **state)
{
    (void)state;
    graph *empty = graph_build(NULL, 0);
    assert_non_null(empty);
    const graph_change changes[] = {
        upsert(road(org(1), st(1), 100, false), 1),
        upsert(road(org(1), st(1), 30, false), 2), /* parallel: the shorter wins */
        upsert(road(st(1), st(1), 1, true), 3),    /* a two-way loop: never used */
        upsert(road(st(1), st(2), 4, false), 4),
        delete_route(4),
        upsert(road(st(1), st(2), 6, false), 4), /* back, longer */
    };
    graph *g = graph_apply(empty, changes, 6);
    assert_non_null(g);
    assert_int_equal(graph_node_count(g), 3);
    assert_int_equal(graph_road_count(g), 4);
    const struct found from_oo1[] = {{1, 30}, {2, 36}};
    assert_search_order(g, org(1), from_oo1, 2);
    /* Deleting the shorter parallel road lets the longer one serve. */
    graph *h = apply_one(g, delete_route(2));
    const struct found longer[] = {{1, 100}, {2, 106}};
    assert_search_order(h, org(1), longer, 2);
    /* Deleting the loop keeps МНО1 (other roads end there); deleting them all empties it. */
    const graph_change all[] = {delete_route(3), delete_route(1), delete_route(4)};
    graph *bare = graph_apply(h, all, 3);
    assert_non_null(bare);
    assert_int_equal(graph_node_count(bare), 0);
    assert_int_equal(graph_road_count(bare), 0);
    assert_search_order(bare, org(1), NULL, 0);
    assert_int_equal(graph_bytes(bare), graph_bytes(empty));
    assert_search_order(g, org(1), from_oo1, 2);
    graph_free(g);
    graph_free(h);
    graph_free(bare);
    graph_free(empty);
}

static void test_apply_invalid(void **state)
{
    (void)state;
    graph *g = build_picture();
    const graph_change bad[] = {
        upsert(road(org(1), st(1), 0, false), 20), /* distance < 1 */
        upsert(road(org(0), st(1), 5, false), 20), /* id < 1 */
        upsert(road(org(1), st(1), 5, false), 0),  /* route id < 1 */
        delete_route(0),
        delete_route(-3),
        {(graph_change_op)7, road(org(1), st(1), 5, false)},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const graph_change pair[] = {upsert(road(org(5), st(5), 5, false), 30), bad[i]};
        assert_null(graph_apply(g, pair, 2)); /* nothing of the set is applied */
    }
    assert_null(graph_apply(g, NULL, 1));
    graph *same = graph_apply(g, NULL, 0);
    assert_non_null(same);
    assert_picture_unchanged(same);
    assert_picture_unchanged(g);
    graph_free(same);
    graph_free(g);

    /* graph_build refuses a repeated or negative route id; 0 is an anonymous road. */
    graph_road roads[] = {road(org(1), st(1), 5, false), road(org(1), st(2), 5, false)};
    roads[0].route_id = roads[1].route_id = 7;
    assert_null(graph_build(roads, 2));
    roads[1].route_id = -1;
    assert_null(graph_build(roads, 2));
    roads[0].route_id = roads[1].route_id = 0;
    g = graph_build(roads, 2);
    assert_non_null(g);
    assert_int_equal(graph_road_count(g), 2);
    graph_free(g);
}

/* The builder, fed in parts, gives graph_build's graph. */
static void test_builder(void **state)
{
    (void)state;
    graph_builder *b = graph_builder_new();
    assert_non_null(b);
    for (size_t i = 0; i < sizeof picture_roads / sizeof picture_roads[0]; i++) {
        assert_true(graph_builder_add(b, &picture_roads[i]));
    }
    const graph_road bad = road(org(1), st(1), -1, false);
    assert_false(graph_builder_add(b, &bad)); /* refused; the builder goes on */
    graph *g = graph_builder_finish(b);
    assert_non_null(g);
    assert_picture_unchanged(g);
    graph *built = build_picture();
    assert_int_equal(graph_bytes(g), graph_bytes(built));
    graph_free(built);
    graph_free(g);

    b = graph_builder_new();
    assert_non_null(b);
    assert_true(graph_builder_add(b, &picture_roads[0]));
    assert_true(graph_builder_add(b, &picture_roads[0]));
    assert_null(graph_builder_finish(b)); /* route 1 twice */
    graph_builder_free(graph_builder_new());
}

/* --- The tie rule --- */

static void test_tie_rule(void **state)
{
    (void)state;
    /* Two 2 m routes to МНО9, via МНО5 and via МНО3: the lower id wins whatever the order. */
    const graph_road diamond[] = {
        road(org(1), st(5), 1, false),
        road(st(5), st(9), 1, false),
        road(org(1), st(3), 1, false),
        road(st(3), st(9), 1, false),
    };
    const graph_road diamond_reversed[] = {diamond[3], diamond[2], diamond[1], diamond[0]};
    const node_ref via_st3[] = {org(1), st(3), st(9)};
    graph *g = graph_build(diamond, 4);
    graph *reversed = graph_build(diamond_reversed, 4);
    assert_non_null(g);
    assert_non_null(reversed);
    graph_paths *p = graph_shortest_from(g, org(1));
    graph_paths *q = graph_shortest_from(reversed, org(1));
    assert_non_null(p);
    assert_non_null(q);
    assert_path(p, st(9), via_st3, 3);
    assert_path(q, st(9), via_st3, 3);
    graph_paths_free(p);
    graph_paths_free(q);
    graph_free(g);
    graph_free(reversed);

    /* At equal distance organizations settle before storages: via org 7, not storage 2. */
    const graph_road kinds[] = {
        road(st(2), st(9), 1, false),
        road(org(1), st(2), 1, false),
        road(org(7), st(9), 1, false),
        road(org(1), org(7), 1, false),
    };
    const node_ref via_org7[] = {org(1), org(7), st(9)};
    g = graph_build(kinds, 4);
    assert_non_null(g);
    p = graph_shortest_from(g, org(1));
    assert_non_null(p);
    assert_path(p, st(9), via_org7, 3);
    graph_paths_free(p);
    graph_free(g);

    /* The earliest settled predecessor wins, not the lowest id: МНО9 is 3 m away both via
     * МНО5 (settled at 1) and via МНО3 (settled at 2); the later tie does not replace. */
    const graph_road late[] = {
        road(org(1), st(1), 1, false), road(st(1), st(3), 1, false), road(st(3), st(9), 1, false),
        road(org(1), st(5), 1, false), road(st(5), st(9), 2, false),
    };
    const node_ref via_st5[] = {org(1), st(5), st(9)};
    g = graph_build(late, 5);
    assert_non_null(g);
    p = graph_shortest_from(g, org(1));
    assert_non_null(p);
    assert_int_equal(graph_distance(p, st(9)), 3);
    assert_path(p, st(9), via_st5, 3);
    graph_paths_free(p);
    graph_free(g);
}

/* --- Edge cases --- */

static void test_empty_graph(void **state)
{
    (void)state;
    graph *g = graph_build(NULL, 0);
    assert_non_null(g);
    assert_int_equal(graph_node_count(g), 0);
    assert_false(graph_has_node(g, org(1)));
    graph_paths *p = graph_shortest_from(g, org(1));
    assert_non_null(p);
    assert_int_equal(graph_distance(p, org(1)), 0);
    assert_int_equal(graph_distance(p, st(1)), -1);
    const node_ref itself[] = {org(1)};
    assert_path(p, org(1), itself, 1);
    assert_int_equal(graph_path(p, st(1), NULL, 0), 0);
    graph_paths_free(p);
    graph_free(g);

    const graph_road unused = road(org(1), st(1), 5, false);
    g = graph_build(&unused, 0);
    assert_non_null(g);
    assert_int_equal(graph_node_count(g), 0);
    graph_free(g);
}

static void test_source_not_in_graph(void **state)
{
    (void)state;
    graph *g = build_picture();
    const node_ref absent[] = {org(3), st(4), st(1000000000000)};
    for (size_t a = 0; a < 3; a++) {
        graph_paths *p = graph_shortest_from(g, absent[a]);
        assert_non_null(p);
        assert_int_equal(graph_distance(p, absent[a]), 0);
        assert_path(p, absent[a], &absent[a], 1);
        const node_ref present[] = {org(1), org(2), st(1), st(2), st(3),
                                    st(5),  st(6),  st(7), st(8), st(9)};
        for (size_t i = 0; i < 10; i++) {
            assert_int_equal(graph_distance(p, present[i]), -1);
            assert_int_equal(graph_path(p, present[i], NULL, 0), 0);
        }
        graph_paths_free(p);
    }
    graph_free(g);
}

static void test_path_cap_too_small(void **state)
{
    (void)state;
    graph *g = build_picture();
    graph_paths *p = graph_shortest_from(g, org(1));
    assert_non_null(p);
    node_ref out[6];
    const node_ref sentinel = st(777);
    for (size_t i = 0; i < 6; i++)
        out[i] = sentinel;

    assert_int_equal(graph_path(p, st(9), NULL, 0), 4);
    assert_int_equal(graph_path(p, st(9), out, 3), 4);
    for (size_t i = 0; i < 6; i++)
        assert_true(same_node(out[i], sentinel)); /* nothing written */
    assert_int_equal(graph_path(p, org(1), out, 0), 1);
    assert_true(same_node(out[0], sentinel));

    /* Exactly enough, then more than enough: the tail stays untouched. */
    assert_int_equal(graph_path(p, st(9), out, 4), 4);
    assert_true(same_node(out[0], org(1)));
    assert_true(same_node(out[3], st(9)));
    assert_true(same_node(out[4], sentinel));
    assert_int_equal(graph_path(p, st(5), out, 6), 3);
    assert_true(same_node(out[2], st(5)));
    assert_true(same_node(out[3], st(9))); /* left over from the previous call */

    /* Unreachable: 0 and nothing written. */
    out[0] = sentinel;
    assert_int_equal(graph_path(p, org(2), out, 6), 0);
    assert_true(same_node(out[0], sentinel));

    graph_paths_free(p);
    graph_free(g);
}

static void test_invalid_input(void **state)
{
    (void)state;
    graph_road roads[] = {road(org(1), st(1), 5, false), road(st(1), st(2), 7, true)};
    graph *g = graph_build(roads, 2);
    assert_non_null(g);
    graph_free(g);

    roads[1].distance_m = 0;
    assert_null(graph_build(roads, 2));
    roads[1].distance_m = -5;
    assert_null(graph_build(roads, 2));
    roads[1].distance_m = 7;
    roads[0].from.id = 0;
    assert_null(graph_build(roads, 2));
    roads[0].from.id = -1;
    assert_null(graph_build(roads, 2));
    roads[0].from.id = 1;
    roads[1].to.kind = (node_kind)7;
    assert_null(graph_build(roads, 2));
    assert_null(graph_build(NULL, 3));
}

static void test_parallel_roads_and_loops(void **state)
{
    (void)state;
    const graph_road roads[] = {
        road(org(1), st(1), 100, false), road(org(1), st(1), 30, false),
        road(st(1), org(1), 50, true), /* also org1→st1 at 50: 30 still wins */
        road(st(1), st(1), 1, false),  /* a loop never shortens anything */
        road(st(1), st(2), 4, false),
    };
    graph *g = graph_build(roads, 5);
    assert_non_null(g);
    assert_int_equal(graph_node_count(g), 3);
    graph_paths *p = graph_shortest_from(g, org(1));
    graph_paths *q = graph_shortest_from(g, st(1));
    assert_non_null(p);
    assert_non_null(q);
    assert_int_equal(graph_distance(p, st(1)), 30);
    assert_int_equal(graph_distance(p, st(2)), 34);
    assert_int_equal(graph_distance(q, org(1)), 50);
    assert_int_equal(graph_distance(q, st(1)), 0);
    const node_ref to_st2[] = {org(1), st(1), st(2)};
    assert_path(p, st(2), to_st2, 3);
    graph_paths_free(p);
    graph_paths_free(q);
    graph_free(g);
}

/* 100,001 nodes joined by 10^8 m roads: 10^13 m end to end, with sparse huge ids. */
static void test_long_chain_no_overflow(void **state)
{
    (void)state;
    enum { ROADS = 100000 };
    const int64_t base_id = INT64_MAX - ROADS - 1;
    graph_road *roads = malloc(ROADS * sizeof *roads);
    node_ref *path = malloc((ROADS + 1) * sizeof *path);
    assert_non_null(roads);
    assert_non_null(path);
    /* Built back to front to show road order does not matter. */
    for (size_t i = 0; i < ROADS; i++) {
        size_t at = ROADS - 1 - i;
        roads[i] =
            road(st(base_id + (int64_t)at), st(base_id + (int64_t)at + 1), 100000000, at % 2 == 0);
    }
    roads[ROADS - 1].from = org(base_id); /* the chain starts at an organization */
    graph *g = graph_build(roads, ROADS);
    assert_non_null(g);
    assert_int_equal(graph_node_count(g), ROADS + 1);
    graph_paths *p = graph_shortest_from(g, org(base_id));
    assert_non_null(p);
    const node_ref end = st(base_id + ROADS);
    assert_int_equal(graph_distance(p, end), INT64_C(10000000000000));
    assert_int_equal(graph_distance(p, st(base_id + 50000)), INT64_C(5000000000000));
    assert_int_equal(graph_path(p, end, path, ROADS + 1), ROADS + 1);
    assert_true(same_node(path[0], org(base_id)));
    assert_true(same_node(path[1], st(base_id + 1)));
    assert_true(same_node(path[ROADS], end));
    graph_paths_free(p);

    /* The far end walks back over the two-way roads only as far as the first one-way road. */
    p = graph_shortest_from(g, end);
    assert_non_null(p);
    assert_int_equal(graph_distance(p, st(base_id + ROADS - 1)), -1);
    graph_paths_free(p);
    p = graph_shortest_from(g, st(base_id + 1));
    assert_non_null(p);
    assert_int_equal(graph_distance(p, org(base_id)), 100000000);
    graph_paths_free(p);

    graph_free(g);
    free(roads);
    free(path);
}

/* Roads as long as int64 allows: reachable distances stay exact, and a sum beyond INT64_MAX
 * is reported unreachable instead of wrapping negative. */
static void test_int64_extremes(void **state)
{
    (void)state;
    graph_road roads[] = {
        road(org(1), st(1), INT64_MAX, false),
        road(st(1), st(2), 1, false),
        road(org(1), st(3), 7, false),
        road(st(3), st(2), 3, false),
    };
    graph *g = graph_build(roads, 4);
    assert_non_null(g);
    graph_paths *p = graph_shortest_from(g, org(1));
    assert_non_null(p);
    assert_int_equal(graph_distance(p, st(1)), INT64_MAX);
    assert_int_equal(graph_distance(p, st(2)), 10);
    graph_paths_free(p);
    graph_free(g);

    g = graph_build(roads, 2);
    assert_non_null(g);
    p = graph_shortest_from(g, org(1));
    assert_non_null(p);
    assert_int_equal(graph_distance(p, st(1)), INT64_MAX);
    assert_int_equal(graph_distance(p, st(2)), -1);
    assert_int_equal(graph_path(p, st(2), NULL, 0), 0);
    graph_paths_free(p);
    graph_free(g);
}

/* --- Property test against Floyd–Warshall --- */

enum { MAX_NODES = 40, MAX_ROADS = 3 * MAX_NODES + MAX_NODES };
#define NO_EDGE INT64_MAX

typedef struct {
    size_t node_count;
    node_ref nodes[MAX_NODES];
    size_t road_count;
    graph_road roads[MAX_ROADS];
    size_t road_from[MAX_ROADS], road_to[MAX_ROADS]; /* node indices of each road */
    int64_t edge[MAX_NODES][MAX_NODES];              /* shortest direct road, or NO_EDGE */
    int64_t dist[MAX_NODES][MAX_NODES];              /* Floyd–Warshall, -1 unreachable */
    bool in_graph[MAX_NODES];
} random_case;

static bool node_before(node_ref a, node_ref b)
{
    if (a.kind != b.kind)
        return a.kind < b.kind;
    return a.id < b.id;
}

static void random_nodes(prng *r, random_case *c)
{
    c->node_count = (size_t)prng_range(r, 2, MAX_NODES);
    /* Sometimes small dense ids (many kind collisions), sometimes huge sparse ones. */
    bool huge_ids = prng_range(r, 0, 1) == 1;
    for (size_t i = 0; i < c->node_count; i++) {
        bool unique;
        do {
            node_kind kind = prng_range(r, 0, 1) ? NODE_STORAGE : NODE_ORG;
            int64_t id = huge_ids ? prng_range(r, 1, INT64_MAX)
                                  : prng_range(r, 1, (int64_t)c->node_count * 2);
            c->nodes[i] = (node_ref){.kind = kind, .id = id};
            unique = true;
            for (size_t j = 0; j < i; j++)
                unique = unique && !same_node(c->nodes[i], c->nodes[j]);
        } while (!unique);
    }
}

static void add_random_road(random_case *c, size_t from, size_t to, int64_t length, bool two_way)
{
    size_t k = c->road_count++;
    c->roads[k] = road(c->nodes[from], c->nodes[to], length, two_way);
    c->road_from[k] = from;
    c->road_to[k] = to;
}

static void random_roads(prng *r, random_case *c)
{
    size_t n = c->node_count;
    /* Small lengths force many ties; long ones exercise large sums. */
    int64_t max_length = prng_range(r, 0, 3) == 0 ? 100000000 : 5;
    /* Splitting nodes into two halves with no road between them forces disconnected parts. */
    size_t split = prng_range(r, 0, 3) == 0 ? n / 2 : 0;
    size_t target_roads = (size_t)prng_range(r, 0, (int64_t)(3 * n));
    c->road_count = 0;
    while (c->road_count < target_roads) {
        size_t from = (size_t)prng_range(r, 0, (int64_t)n - 1);
        size_t to = (size_t)prng_range(r, 0, (int64_t)n - 1);
        if (split > 0 && (from < split) != (to < split))
            continue;
        if (from == to && prng_range(r, 0, 4) != 0)
            continue; /* loops allowed, but rarely */
        add_random_road(c, from, to, prng_range(r, 1, max_length), prng_range(r, 0, 2) == 0);
        /* Parallel road: the same pair again, maybe reversed, maybe two-way. */
        if (prng_range(r, 0, 9) == 0 && c->road_count < MAX_ROADS) {
            bool reverse = prng_range(r, 0, 1) == 1;
            add_random_road(c, reverse ? to : from, reverse ? from : to,
                            prng_range(r, 1, max_length), prng_range(r, 0, 2) == 0);
        }
    }
}

static void floyd_warshall(random_case *c)
{
    size_t n = c->node_count;
    for (size_t i = 0; i < n; i++) {
        c->in_graph[i] = false;
        for (size_t j = 0; j < n; j++)
            c->edge[i][j] = NO_EDGE;
    }
    for (size_t k = 0; k < c->road_count; k++) {
        size_t a = c->road_from[k], b = c->road_to[k];
        int64_t length = c->roads[k].distance_m;
        c->in_graph[a] = c->in_graph[b] = true;
        if (length < c->edge[a][b])
            c->edge[a][b] = length;
        if (c->roads[k].two_way && length < c->edge[b][a])
            c->edge[b][a] = length;
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++)
            c->dist[i][j] = i == j ? 0 : (c->edge[i][j] == NO_EDGE ? -1 : c->edge[i][j]);
    }
    for (size_t k = 0; k < n; k++) {
        for (size_t i = 0; i < n; i++) {
            if (c->dist[i][k] < 0)
                continue;
            for (size_t j = 0; j < n; j++) {
                if (c->dist[k][j] < 0)
                    continue;
                int64_t through = c->dist[i][k] + c->dist[k][j];
                if (c->dist[i][j] < 0 || through < c->dist[i][j])
                    c->dist[i][j] = through;
            }
        }
    }
}

static size_t index_of(const random_case *c, node_ref node)
{
    for (size_t i = 0; i < c->node_count; i++) {
        if (same_node(c->nodes[i], node))
            return i;
    }
    return SIZE_MAX;
}

/* The tie rule of graph.h: the last hop into t comes from the minimum (dist, kind, id) node u
 * with dist(u) + edge(u,t) = dist(t). */
static size_t expected_predecessor(const random_case *c, size_t s, size_t t)
{
    size_t best = SIZE_MAX;
    for (size_t u = 0; u < c->node_count; u++) {
        if (u == t || c->dist[s][u] < 0 || c->edge[u][t] == NO_EDGE ||
            c->dist[s][u] + c->edge[u][t] != c->dist[s][t])
            continue;
        if (best == SIZE_MAX || c->dist[s][u] < c->dist[s][best] ||
            (c->dist[s][u] == c->dist[s][best] && node_before(c->nodes[u], c->nodes[best])))
            best = u;
    }
    return best;
}

static void check_source(const random_case *c, int trial, const graph_paths *p, size_t s)
{
    node_ref path[MAX_NODES + 1];
    for (size_t t = 0; t < c->node_count; t++) {
        int64_t expected = c->dist[s][t];
        int64_t got = graph_distance(p, c->nodes[t]);
        CHECK(got == expected,
              "trial %d source %zu target %zu: distance %" PRId64 " expected %" PRId64, trial, s, t,
              got, expected);
        size_t length = graph_path(p, c->nodes[t], NULL, 0);
        if (expected < 0) {
            CHECK(length == 0, "trial %d s %zu t %zu: path to unreachable", trial, s, t);
            continue;
        }
        CHECK(length >= 1 && length <= c->node_count, "trial %d s %zu t %zu: path length %zu",
              trial, s, t, length);
        if (length > 1) {
            path[0] = st(999);
            CHECK(graph_path(p, c->nodes[t], path, length - 1) == length &&
                      same_node(path[0], st(999)),
                  "trial %d s %zu t %zu: short cap wrote or misreported", trial, s, t);
        }
        CHECK(graph_path(p, c->nodes[t], path, MAX_NODES + 1) == length,
              "trial %d s %zu t %zu: length changed", trial, s, t);
        CHECK(same_node(path[0], c->nodes[s]) && same_node(path[length - 1], c->nodes[t]),
              "trial %d s %zu t %zu: wrong ends", trial, s, t);
        int64_t walked = 0;
        size_t previous = s;
        for (size_t i = 1; i < length; i++) {
            size_t at = index_of(c, path[i]);
            CHECK(at != SIZE_MAX && c->edge[previous][at] != NO_EDGE,
                  "trial %d s %zu t %zu: hop %zu is not a road", trial, s, t, i);
            walked += c->edge[previous][at];
            previous = at;
        }
        CHECK(walked == expected, "trial %d s %zu t %zu: path walks %" PRId64 " not %" PRId64,
              trial, s, t, walked, expected);
        if (length > 1) {
            size_t want = expected_predecessor(c, s, t);
            size_t got_pred = index_of(c, path[length - 2]);
            CHECK(got_pred == want, "trial %d s %zu t %zu: tie rule picked %zu, expected %zu",
                  trial, s, t, got_pred, want);
        }
    }
}

static void shuffle_roads(prng *r, graph_road *roads, size_t count)
{
    for (size_t i = count; i > 1; i--) {
        size_t j = (size_t)prng_range(r, 0, (int64_t)i - 1);
        graph_road swap = roads[i - 1];
        roads[i - 1] = roads[j];
        roads[j] = swap;
    }
    for (size_t i = 0; i < count; i++) {
        if (roads[i].two_way && prng_range(r, 0, 1)) {
            node_ref from = roads[i].from;
            roads[i].from = roads[i].to;
            roads[i].to = from;
        }
    }
}

static void test_random_graphs_against_floyd_warshall(void **state)
{
    (void)state;
    enum { ROUNDS = 2500 };
    prng r = {.state = 20261127};
    random_case *c = malloc(sizeof *c);
    assert_non_null(c);
    for (int trial = 0; trial < ROUNDS; trial++) {
        random_nodes(&r, c);
        random_roads(&r, c);
        floyd_warshall(c);
        graph *g = graph_build(c->roads, c->road_count);
        assert_non_null(g);
        size_t present = 0;
        for (size_t i = 0; i < c->node_count; i++) {
            present += c->in_graph[i];
            CHECK(graph_has_node(g, c->nodes[i]) == c->in_graph[i], "trial %d: node %zu", trial, i);
        }
        CHECK(graph_node_count(g) == present, "trial %d: %zu nodes, expected %zu", trial,
              graph_node_count(g), present);

        /* The same roads in another order, two-way ones turned around: identical answers. */
        graph_road shuffled[MAX_ROADS];
        memcpy(shuffled, c->roads, c->road_count * sizeof shuffled[0]);
        shuffle_roads(&r, shuffled, c->road_count);
        graph *g2 = graph_build(shuffled, c->road_count);
        assert_non_null(g2);

        for (size_t s = 0; s < c->node_count; s++) {
            graph_paths *p = graph_shortest_from(g, c->nodes[s]);
            graph_paths *p2 = graph_shortest_from(g2, c->nodes[s]);
            assert_non_null(p);
            assert_non_null(p2);
            check_source(c, trial, p, s);
            check_source(c, trial, p2, s);
            graph_paths_free(p);
            graph_paths_free(p2);
        }
        graph_free(g);
        graph_free(g2);
    }
    free(c);
}

/* --- One graph of the largest size the service expects, against Bellman–Ford --- */

static void test_large_graph_against_bellman_ford(void **state)
{
    (void)state;
    enum { NODES = 2000, ROADS = 20000, SOURCES = 25 };
    prng r = {.state = 42};
    node_ref *nodes = malloc(NODES * sizeof *nodes);
    graph_road *roads = malloc(ROADS * sizeof *roads);
    size_t *from = malloc(ROADS * sizeof *from), *to = malloc(ROADS * sizeof *to);
    int64_t *dist = malloc(NODES * sizeof *dist);
    node_ref *path = malloc(NODES * sizeof *path);
    assert_true(nodes && roads && from && to && dist && path);
    for (size_t i = 0; i < NODES; i++) /* ids 1000, 1997, ...: sparse, both kinds */
        nodes[i] =
            (node_ref){.kind = i % 3 == 0 ? NODE_ORG : NODE_STORAGE, .id = 1000 + (int64_t)i * 997};
    for (size_t k = 0; k < ROADS; k++) {
        from[k] = (size_t)prng_range(&r, 0, NODES - 1);
        to[k] = (size_t)prng_range(&r, 0, NODES - 1);
        roads[k] = road(nodes[from[k]], nodes[to[k]], prng_range(&r, 1, 100000000),
                        prng_range(&r, 0, 3) == 0);
    }
    graph *g = graph_build(roads, ROADS);
    assert_non_null(g);

    for (size_t source = 0; source < SOURCES; source++) {
        size_t s = source * (NODES / SOURCES);
        for (size_t i = 0; i < NODES; i++)
            dist[i] = -1;
        dist[s] = 0;
        for (bool changed = true; changed;) {
            changed = false;
            for (size_t k = 0; k < ROADS; k++) {
                for (int direction = 0; direction < (roads[k].two_way ? 2 : 1); direction++) {
                    size_t a = direction ? to[k] : from[k], b = direction ? from[k] : to[k];
                    if (dist[a] < 0)
                        continue;
                    int64_t through = dist[a] + roads[k].distance_m;
                    if (dist[b] < 0 || through < dist[b]) {
                        dist[b] = through;
                        changed = true;
                    }
                }
            }
        }
        graph_paths *p = graph_shortest_from(g, nodes[s]);
        assert_non_null(p);
        for (size_t t = 0; t < NODES; t++) {
            int64_t got = graph_distance(p, nodes[t]);
            CHECK(got == dist[t], "source %zu target %zu: %" PRId64 " expected %" PRId64, s, t, got,
                  dist[t]);
            size_t length = graph_path(p, nodes[t], path, NODES);
            CHECK((length == 0) == (dist[t] < 0) && length <= NODES,
                  "source %zu target %zu: path length %zu", s, t, length);
        }
        graph_paths_free(p);
    }
    graph_free(g);
    free(nodes);
    free(roads);
    free(from);
    free(to);
    free(dist);
    free(path);
}

RUNNER_MAIN(NULL, NULL,
            {
                cmocka_unit_test(test_picture_distances),
                cmocka_unit_test(test_picture_paths),
                cmocka_unit_test(test_picture_one_way),
                cmocka_unit_test(test_picture_search_order),
                cmocka_unit_test(test_picture_search_partial),
                cmocka_unit_test(test_apply_on_picture),
                cmocka_unit_test(test_apply_sequences),
                cmocka_unit_test(test_apply_invalid),
                cmocka_unit_test(test_builder),
                cmocka_unit_test(test_tie_rule),
                cmocka_unit_test(test_empty_graph),
                cmocka_unit_test(test_source_not_in_graph),
                cmocka_unit_test(test_path_cap_too_small),
                cmocka_unit_test(test_invalid_input),
                cmocka_unit_test(test_parallel_roads_and_loops),
                cmocka_unit_test(test_long_chain_no_overflow),
                cmocka_unit_test(test_int64_extremes),
                cmocka_unit_test(test_random_graphs_against_floyd_warshall),
                cmocka_unit_test(test_large_graph_against_bellman_ford),
            })
