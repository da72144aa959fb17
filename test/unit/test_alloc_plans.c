/* Unit tests of core/plans with the LEMON solver (flow/plans_flow): the picture's batch with
 * exact shipments and kg·m in both orders, one organization alone, several types, the
 * prefix bound, and property tests on random worlds (min_cost never places less than
 * nearest, and costs no more when it places as much) and against a brute-force optimum on
 * tiny ones. Also the solver's own contract (flow/min_cost_flow.h). */
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
#include "core/plans.h"
#include "flow/min_cost_flow.h"
#include "flow/plans_flow.h"
#include "picture.h"
#include "prng.h"
#include "runner.h"

enum { BIO = 0, GLASS = 1, PLASTIC = 2, TYPES = 3 };

/* The picture's capacities, every storage empty. */
static const struct {
    int64_t storage_id;
    uint32_t type;
    int64_t room_kg;
} picture_rooms[] = {
    {1, GLASS, 300},   {1, PLASTIC, 100}, {2, PLASTIC, 50}, {2, BIO, 150},    {3, PLASTIC, 10},
    {3, BIO, 250},     {5, GLASS, 220},   {5, BIO, 25},     {6, GLASS, 100},  {6, BIO, 150},
    {7, PLASTIC, 100}, {7, BIO, 250},     {8, GLASS, 35},   {8, PLASTIC, 25}, {8, BIO, 52},
    {9, PLASTIC, 250}, {9, BIO, 20},
};

/* plans_next_fn over graph searches, one per organization index, begun on first use. */
typedef struct {
    const graph *g;
    const plans *p;
    graph_search *searches[8];
} picture_search;

static bool picture_next(void *arg, size_t index, int64_t *storage_id, int64_t *distance_m)
{
    picture_search *s = arg;
    assert_true(index < COUNT(s->searches));
    if (s->searches[index] == NULL) {
        node_ref source = {NODE_ORG, plans_organization_id(s->p, index)};
        s->searches[index] = graph_search_begin(s->g, source);
        assert_non_null(s->searches[index]);
    }
    node_ref node;
    if (!graph_search_next(s->searches[index], &node, distance_m)) {
        return false;
    }
    *storage_id = node.id;
    return true;
}

typedef struct {
    int64_t organization_id;
    int64_t kg[TYPES];
} hand_over;

static room_map *picture_room_map(void)
{
    room_map *rooms = room_map_new(64);
    assert_non_null(rooms);
    for (size_t i = 0; i < COUNT(picture_rooms); i++) {
        assert_true(room_map_put(rooms, picture_rooms[i].storage_id, picture_rooms[i].type,
                                 picture_rooms[i].room_kg));
    }
    return rooms;
}

/* A batch's two plans: nearest-first and min_cost. */
typedef struct {
    plans_result nearest, min_cost;
} both_plans;

static void both_plans_free(both_plans *both)
{
    plans_result_free(&both->nearest);
    plans_result_free(&both->min_cost);
}

/* Both plans of a batch over the picture. */
static both_plans picture_plans(const hand_over *batch, size_t count)
{
    both_plans result;
    graph *g = graph_build(picture_roads, COUNT(picture_roads));
    assert_non_null(g);
    room_map *rooms = picture_room_map();
    plans *p = plans_new(TYPES);
    assert_non_null(p);
    for (size_t i = 0; i < count; i++) {
        assert_int_equal(plans_add(p, batch[i].organization_id, batch[i].kg), PLANS_OK);
    }
    picture_search search = {.g = g, .p = p};
    uint64_t examined = 0;
    assert_int_equal(plans_build(p, picture_next, &search, rooms, 1000, &examined), PLANS_OK);
    assert_true(examined > 0);
    assert_int_equal(plans_nearest(p, &result.nearest), PLANS_OK);
    assert_int_equal(plans_min_cost(p, plans_flow_solve, NULL, &result.min_cost), PLANS_OK);
    for (size_t i = 0; i < COUNT(search.searches); i++) {
        graph_search_free(search.searches[i]);
    }
    plans_free(p);
    room_map_free(rooms);
    graph_free(g);
    return result;
}

/* min_cost's plan of the picture's bio batch, 250 kg from each organization, in whichever
 * order they come: all 500 kg placed at 67,850 kg·m. */
static void assert_bio_optimum(const plans_result *min_cost)
{
    assert_int_equal(min_cost->kg_m, 67850);
    assert_int_equal(min_cost->placed_kg, 500);
    assert_int_equal(min_cost->unplaced_kg[BIO], 0);
}

static void assert_shipments(const plans_result *result, const plans_shipment *expected,
                             size_t count)
{
    if (result->shipment_count != count) {
        for (size_t i = 0; i < result->shipment_count; i++) {
            const plans_shipment *got = &result->shipments[i];
            print_message(
                "got org %" PRId64 " storage %" PRId64 " type %u %" PRId64 " kg at %" PRId64 " m\n",
                got->organization_id, got->storage_id, got->type, got->amount_kg, got->distance_m);
        }
    }
    assert_int_equal(result->shipment_count, count);
    for (size_t i = 0; i < count; i++) {
        const plans_shipment *got = &result->shipments[i];
        CHECK(got->organization_id == expected[i].organization_id &&
                  got->storage_id == expected[i].storage_id && got->type == expected[i].type &&
                  got->amount_kg == expected[i].amount_kg &&
                  got->distance_m == expected[i].distance_m,
              "shipment %zu: got org %" PRId64 " storage %" PRId64 " type %u %" PRId64
              " kg at %" PRId64 " m",
              i, got->organization_id, got->storage_id, got->type, got->amount_kg, got->distance_m);
    }
}

static void test_picture_bio_oo1_first(void **state)
{
    const hand_over batch[] = {{1, {250, 0, 0}}, {2, {250, 0, 0}}};
    both_plans got = picture_plans(batch, COUNT(batch));
    const plans_shipment nearest_expected[] = {
        {1, 2, BIO, 150, 50}, {1, 5, BIO, 25, 100}, {1, 3, BIO, 75, 600},
        {2, 3, BIO, 175, 50}, {2, 7, BIO, 75, 100},
    };
    assert_shipments(&got.nearest, nearest_expected, COUNT(nearest_expected));
    assert_int_equal(got.nearest.kg_m, 71250);
    assert_int_equal(got.nearest.placed_kg, 500);
    assert_int_equal(got.nearest.unplaced_kg[BIO], 0);
    /* Optima with equal kg·m may differ in their shipments (ОО1's last 3 kg at МНО3 or at
     * МНО7, 600 + 50 either way): the figures are exact, the shipments are checked to be one
     * of them by their sums. */
    int64_t to_storage[10] = {0}, from_org[3] = {0};
    for (size_t i = 0; i < got.min_cost.shipment_count; i++) {
        to_storage[got.min_cost.shipments[i].storage_id] += got.min_cost.shipments[i].amount_kg;
        from_org[got.min_cost.shipments[i].organization_id] += got.min_cost.shipments[i].amount_kg;
    }
    assert_int_equal(from_org[1], 250);
    assert_int_equal(from_org[2], 250);
    assert_int_equal(to_storage[2], 150);
    assert_int_equal(to_storage[5], 25);
    assert_int_equal(to_storage[8], 52);
    assert_int_equal(to_storage[9], 20);
    assert_int_equal(to_storage[3] + to_storage[7], 253);
    assert_bio_optimum(&got.min_cost);
    both_plans_free(&got);
}

static void test_picture_bio_oo2_first(void **state)
{
    const hand_over batch[] = {{2, {250, 0, 0}}, {1, {250, 0, 0}}};
    both_plans got = picture_plans(batch, COUNT(batch));
    const plans_shipment nearest_expected[] = {
        {2, 3, BIO, 250, 50}, {1, 2, BIO, 150, 50}, {1, 5, BIO, 25, 100},
        {1, 8, BIO, 52, 600}, {1, 9, BIO, 20, 610}, {1, 7, BIO, 3, 650},
    };
    assert_shipments(&got.nearest, nearest_expected, COUNT(nearest_expected));
    assert_int_equal(got.nearest.kg_m, 67850);
    assert_bio_optimum(&got.min_cost);
    both_plans_free(&got);
}

/* An organization may hand over more than once: nearest serves each hand-over in its
 * place in the batch; min_cost sees the organization's total. */
static void test_organization_twice(void **state)
{
    const hand_over batch[] = {{1, {100, 0, 0}}, {2, {250, 0, 0}}, {1, {150, 0, 0}}};
    both_plans got = picture_plans(batch, COUNT(batch));
    const plans_shipment expected[] = {
        {1, 2, BIO, 100, 50}, {2, 3, BIO, 250, 50}, {1, 2, BIO, 50, 50}, {1, 5, BIO, 25, 100},
        {1, 8, BIO, 52, 600}, {1, 9, BIO, 20, 610}, {1, 7, BIO, 3, 650},
    };
    assert_shipments(&got.nearest, expected, COUNT(expected));
    assert_int_equal(got.nearest.kg_m, 5000 + 12500 + 2500 + 2500 + 31200 + 12200 + 1950);
    assert_bio_optimum(&got.min_cost);
    both_plans_free(&got);
}

/* One organization alone: nearest-first is optimal, whatever it hands over. */
static void test_one_organization_alone(void **state)
{
    for (int64_t kg = 1; kg <= 1200; kg += 37) {
        for (int64_t org = 1; org <= 2; org++) {
            const hand_over batch[] = {{org, {kg, kg / 3, kg / 2}}};
            both_plans got = picture_plans(batch, 1);
            CHECK(got.nearest.kg_m == got.min_cost.kg_m &&
                      got.nearest.placed_kg == got.min_cost.placed_kg,
                  "org %" PRId64 " kg %" PRId64 ": nearest %" PRId64 " kg %" PRId64
                  " kg·m, min_cost %" PRId64 " kg %" PRId64 " kg·m",
                  org, kg, got.nearest.placed_kg, got.nearest.kg_m, got.min_cost.placed_kg,
                  got.min_cost.kg_m);
            both_plans_free(&got);
        }
    }
}

/* More than fits: both place everything that can be placed and say what is left. ОО2
 * reaches plastic at МНО3 (10) and МНО7 (100) only. */
static void test_unplaced(void **state)
{
    const hand_over batch[] = {{2, {0, 30, 200}}};
    both_plans got = picture_plans(batch, COUNT(batch));
    const plans_shipment expected[] = {
        {2, 6, GLASS, 30, 650}, {2, 3, PLASTIC, 10, 50}, {2, 7, PLASTIC, 100, 100}};
    assert_shipments(&got.nearest, expected, COUNT(expected));
    assert_int_equal(got.nearest.placed_kg, 140);
    assert_int_equal(got.nearest.unplaced_kg[PLASTIC], 90);
    assert_int_equal(got.nearest.unplaced_kg[GLASS], 0);
    assert_int_equal(got.nearest.kg_m, 30 * 650 + 10 * 50 + 100 * 100);
    assert_int_equal(got.min_cost.placed_kg, 140);
    assert_int_equal(got.min_cost.unplaced_kg[PLASTIC], 90);
    assert_int_equal(got.min_cost.kg_m, got.nearest.kg_m);
    both_plans_free(&got);
}

/* Nearest-first can strand kilograms min_cost places. ОО1 bio 425 first takes МНО2 150,
 * МНО5 25 and all of МНО3 (250), the only way ОО2 has to МНО3's room; ОО2's bio 500 then
 * finds МНО7 250 and МНО6 150: 100 kg stay. min_cost sends ОО1 to МНО8 and МНО9 instead and
 * places 897, every bio room the two reach. */
static void test_min_cost_places_more(void **state)
{
    const hand_over batch[] = {{1, {425, 0, 0}}, {2, {500, 0, 0}}};
    both_plans got = picture_plans(batch, COUNT(batch));
    assert_int_equal(got.nearest.placed_kg, 825);
    assert_int_equal(got.nearest.unplaced_kg[BIO], 100);
    assert_int_equal(got.nearest.kg_m, 150 * 50 + 25 * 100 + 250 * 600 + 250 * 100 + 150 * 650);
    assert_int_equal(got.min_cost.placed_kg, 897);
    assert_int_equal(got.min_cost.unplaced_kg[BIO], 28);
    both_plans_free(&got);
}

/* --- Random worlds: organizations with sorted storage lists (no graph needed). --- */

#define MAX_ORGS     6
#define MAX_STORAGES 8

typedef struct {
    size_t org_count, storage_count;
    int64_t distance[MAX_ORGS][MAX_STORAGES]; /* -1: unreachable */
    int64_t room[MAX_STORAGES];
    int64_t kg[MAX_ORGS];
    /* Each organization's reachable storages in (distance, id) order. */
    int64_t order[MAX_ORGS][MAX_STORAGES];
    size_t order_count[MAX_ORGS];
    size_t cursor[MAX_ORGS];
    const plans *p;
} world;

/* The random worlds' generator, from a fixed seed so that a failure reproduces. */
static prng rng = {0x9E3779B97F4A7C15u};

static bool world_next(void *arg, size_t index, int64_t *storage_id, int64_t *distance_m)
{
    world *w = arg;
    size_t o = (size_t)plans_organization_id(w->p, index) - 1;
    if (w->cursor[o] >= w->order_count[o]) {
        return false;
    }
    int64_t s = w->order[o][w->cursor[o]++];
    *storage_id = s + 1;
    *distance_m = w->distance[o][s];
    return true;
}

static void world_random(world *w, size_t orgs, size_t storages, int64_t max_kg)
{
    memset(w, 0, sizeof *w);
    w->org_count = orgs;
    w->storage_count = storages;
    for (size_t s = 0; s < storages; s++) {
        w->room[s] = (int64_t)prng_below(&rng, (uint64_t)max_kg + 1);
    }
    for (size_t o = 0; o < orgs; o++) {
        w->kg[o] = 1 + (int64_t)prng_below(&rng, (uint64_t)max_kg);
        for (size_t s = 0; s < storages; s++) {
            w->distance[o][s] = prng_below(&rng, 5) == 0 ? -1 : 1 + (int64_t)prng_below(&rng, 20);
        }
        /* Insertion sort by (distance, id), the reachable ones only. */
        for (size_t s = 0; s < storages; s++) {
            if (w->distance[o][s] < 0) {
                continue;
            }
            size_t at = w->order_count[o]++;
            while (at > 0 && w->distance[o][w->order[o][at - 1]] > w->distance[o][s]) {
                w->order[o][at] = w->order[o][at - 1];
                at--;
            }
            w->order[o][at] = (int64_t)s;
        }
    }
}

static both_plans world_plans(world *w)
{
    both_plans result;
    room_map *rooms = room_map_new(64);
    assert_non_null(rooms);
    for (size_t s = 0; s < w->storage_count; s++) {
        if (w->room[s] > 0) {
            assert_true(room_map_put(rooms, (int64_t)s + 1, 0, w->room[s]));
        }
    }
    plans *p = plans_new(1);
    assert_non_null(p);
    for (size_t o = 0; o < w->org_count; o++) {
        assert_int_equal(plans_add(p, (int64_t)o + 1, &w->kg[o]), PLANS_OK);
    }
    w->p = p;
    memset(w->cursor, 0, sizeof w->cursor);
    assert_int_equal(plans_build(p, world_next, w, rooms, 1000, NULL), PLANS_OK);
    assert_int_equal(plans_nearest(p, &result.nearest), PLANS_OK);
    assert_int_equal(plans_min_cost(p, plans_flow_solve, NULL, &result.min_cost), PLANS_OK);
    plans_free(p);
    room_map_free(rooms);
    return result;
}

/* Checks a plan against the world: rooms respected, each organization ships at most what
 * it hands over, at its real distances, and the totals add up. */
static void assert_feasible(const world *w, const plans_result *r)
{
    int64_t used[MAX_STORAGES] = {0}, shipped[MAX_ORGS] = {0}, placed = 0, kg_m = 0, total = 0;
    for (size_t i = 0; i < r->shipment_count; i++) {
        const plans_shipment *s = &r->shipments[i];
        size_t o = (size_t)s->organization_id - 1, st = (size_t)s->storage_id - 1;
        assert_true(s->amount_kg > 0);
        assert_int_equal(s->distance_m, w->distance[o][st]);
        used[st] += s->amount_kg;
        shipped[o] += s->amount_kg;
        placed += s->amount_kg;
        kg_m += s->amount_kg * s->distance_m;
    }
    for (size_t s = 0; s < w->storage_count; s++) {
        assert_true(used[s] <= w->room[s]);
    }
    for (size_t o = 0; o < w->org_count; o++) {
        assert_true(shipped[o] <= w->kg[o]);
        total += w->kg[o];
    }
    assert_int_equal(placed, r->placed_kg);
    assert_int_equal(kg_m, r->kg_m);
    assert_int_equal(r->placed_kg + r->unplaced_kg[0], total);
}

static void test_random_min_cost_never_worse(void **state)
{
    for (int round = 0; round < 2000; round++) {
        world w;
        world_random(&w, 1 + prng_below(&rng, MAX_ORGS), 1 + prng_below(&rng, MAX_STORAGES),
                     1 + (int64_t)prng_below(&rng, 100));
        both_plans got = world_plans(&w);
        assert_feasible(&w, &got.nearest);
        assert_feasible(&w, &got.min_cost);
        CHECK(got.min_cost.placed_kg >= got.nearest.placed_kg,
              "round %d: min_cost placed %" PRId64 " < nearest %" PRId64, round,
              got.min_cost.placed_kg, got.nearest.placed_kg);
        if (got.min_cost.placed_kg == got.nearest.placed_kg) {
            CHECK(got.min_cost.kg_m <= got.nearest.kg_m,
                  "round %d: min_cost %" PRId64 " kg·m > nearest %" PRId64, round,
                  got.min_cost.kg_m, got.nearest.kg_m);
        }
        if (w.org_count == 1) {
            assert_int_equal(got.min_cost.kg_m, got.nearest.kg_m);
        }
        both_plans_free(&got);
    }
}

/* The optimum by enumeration: every integer split of tiny batches. */
static void brute_force(const world *w, size_t cell, int64_t *used, int64_t *shipped,
                        int64_t placed, int64_t kg_m, int64_t *best_placed, int64_t *best_kg_m)
{
    if (cell == w->org_count * w->storage_count) {
        if (placed > *best_placed || (placed == *best_placed && kg_m < *best_kg_m)) {
            *best_placed = placed;
            *best_kg_m = kg_m;
        }
        return;
    }
    size_t o = cell / w->storage_count, s = cell % w->storage_count;
    int64_t limit = 0;
    if (w->distance[o][s] >= 0) {
        int64_t left_org = w->kg[o] - shipped[o], left_room = w->room[s] - used[s];
        limit = left_org < left_room ? left_org : left_room;
    }
    for (int64_t x = 0; x <= limit; x++) {
        used[s] += x;
        shipped[o] += x;
        brute_force(w, cell + 1, used, shipped, placed + x, kg_m + x * w->distance[o][s],
                    best_placed, best_kg_m);
        used[s] -= x;
        shipped[o] -= x;
    }
}

static void test_random_against_brute_force(void **state)
{
    for (int round = 0; round < 300; round++) {
        world w;
        world_random(&w, 1 + prng_below(&rng, 3), 1 + prng_below(&rng, 3),
                     1 + (int64_t)prng_below(&rng, 4));
        both_plans got = world_plans(&w);
        int64_t used[MAX_STORAGES] = {0}, shipped[MAX_ORGS] = {0};
        int64_t best_placed = -1, best_kg_m = INT64_MAX;
        brute_force(&w, 0, used, shipped, 0, 0, &best_placed, &best_kg_m);
        CHECK(got.min_cost.placed_kg == best_placed && got.min_cost.kg_m == best_kg_m,
              "round %d: min_cost %" PRId64 " kg, %" PRId64 " kg·m; optimum %" PRId64
              " kg, %" PRId64 " kg·m",
              round, got.min_cost.placed_kg, got.min_cost.kg_m, best_placed, best_kg_m);
        both_plans_free(&got);
    }
}

/* One organization and five storages in a line, 1 to 5 m away, each with room_kg. */
static void line_world(world *w, int64_t room_kg)
{
    memset(w, 0, sizeof *w);
    w->org_count = 1;
    w->storage_count = 5;
    for (size_t s = 0; s < 5; s++) {
        w->room[s] = room_kg;
        w->distance[0][s] = (int64_t)s + 1;
        w->order[0][s] = (int64_t)s;
    }
    w->order_count[0] = 5;
}

/* The prefix: an organization's search stops once its rooms cover the batch. */
static void test_prefix_bound(void **state)
{
    world w;
    line_world(&w, 10);
    w.kg[0] = 15;
    both_plans got = world_plans(&w);
    assert_int_equal(w.cursor[0], 2); /* 10 + 10 covers 15: two storages read, not five */
    assert_int_equal(got.nearest.kg_m, 10 * 1 + 5 * 2);
    assert_int_equal(got.min_cost.kg_m, 10 * 1 + 5 * 2);
    both_plans_free(&got);
}

/* Rooms from a callback (the dispatcher's estimates): an unknown room counts as large, so
 * the prefix stops at it, and plans_each_pair names exactly the prefix's storages with the
 * batch's types — the rooms to read before building again. */
static bool estimate(void *arg, int64_t storage_id, uint32_t type, int64_t *room_kg)
{
    (void)arg;
    if (type != 0) {
        return false;
    }
    *room_kg = storage_id == 3 ? INT64_C(1000000000000000) : 10;
    return true;
}

typedef struct {
    int64_t storage_ids[8];
    uint32_t types[8];
    size_t count;
} pair_list;

static void collect(void *arg, int64_t storage_id, uint32_t type)
{
    pair_list *list = arg;
    assert_true(list->count < 8);
    list->storage_ids[list->count] = storage_id;
    list->types[list->count++] = type;
}

static void test_build_with_estimates_and_pairs(void **state)
{
    world w;
    line_world(&w, 0); /* the rooms come from estimate */
    plans *p = plans_new(2);
    assert_non_null(p);
    const int64_t kg[2] = {100, 0};
    assert_int_equal(plans_add(p, 1, kg), PLANS_OK);
    w.p = p;
    assert_int_equal(plans_build_with(p, world_next, &w, estimate, NULL, 100, NULL), PLANS_OK);
    /* Storages 1 and 2 (10 kg each) do not cover 100 kg; storage 3, unknown, does. */
    assert_int_equal(w.cursor[0], 3);
    pair_list pairs = {0};
    plans_each_pair(p, collect, &pairs);
    assert_int_equal(pairs.count, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(pairs.storage_ids[i], (int64_t)i + 1);
        assert_int_equal(pairs.types[i], 0);
    }
    plans_free(p);
}

static void test_add_refuses_overflow(void **state)
{
    plans *p = plans_new(1);
    assert_non_null(p);
    int64_t big = INT64_MAX - 5, more = 10;
    assert_int_equal(plans_add(p, 1, &big), PLANS_OK);
    assert_int_equal(plans_add(p, 2, &more), PLANS_OVERFLOW);
    assert_int_equal(plans_organization_count(p), 1);
    assert_null(plans_new(0));
    plans_free(p);
}

static void test_build_refuses_too_many_arcs(void **state)
{
    world w;
    world_random(&w, 1, 8, 10);
    for (size_t s = 0; s < 8; s++) {
        w.room[s] = 1;
        w.distance[0][s] = 1;
        w.order[0][s] = (int64_t)s;
    }
    w.order_count[0] = 8;
    w.kg[0] = 8;
    room_map *rooms = room_map_new(16);
    for (size_t s = 0; s < 8; s++) {
        assert_true(room_map_put(rooms, (int64_t)s + 1, 0, 1));
    }
    plans *p = plans_new(1);
    assert_int_equal(plans_add(p, 1, &w.kg[0]), PLANS_OK);
    w.p = p;
    assert_int_equal(plans_build(p, world_next, &w, rooms, 3, NULL), PLANS_TOO_LARGE);
    plans_free(p);
    room_map_free(rooms);
}

/* --- The solver itself --- */

static void test_mcf_small(void **state)
{
    /* 0 -> 2 -> 1 costs 1 (cap 3), 0 -> 3 -> 1 costs 5 (cap 10); source supplies at most 8. */
    const mcf_arc arcs[] = {
        {0, 4, 8, 0}, {4, 2, 100, 1}, {4, 3, 100, 5}, {2, 1, 3, 0}, {3, 1, 10, 0}};
    int64_t flows[COUNT(arcs)], value = -1, cost = -1;
    assert_int_equal(mcf_solve(5, arcs, COUNT(arcs), 0, 1, flows, &value, &cost), MCF_OK);
    assert_int_equal(value, 8);
    assert_int_equal(cost, 3 * 1 + 5 * 5);
    assert_int_equal(flows[1], 3);
    assert_int_equal(flows[2], 5);
}

static void test_mcf_refuses_bad_input(void **state)
{
    const mcf_arc bad_node[] = {{0, 7, 1, 0}};
    const mcf_arc bad_cap[] = {{0, 1, -1, 0}};
    const mcf_arc bad_cost[] = {{0, 1, 1, -2}};
    int64_t flows[1], value = 42, cost = 42;
    assert_int_equal(mcf_solve(2, bad_node, 1, 0, 1, flows, &value, &cost), MCF_INVALID);
    assert_int_equal(mcf_solve(2, bad_cap, 1, 0, 1, flows, &value, &cost), MCF_INVALID);
    assert_int_equal(mcf_solve(2, bad_cost, 1, 0, 1, flows, &value, &cost), MCF_INVALID);
    assert_int_equal(mcf_solve(2, bad_cost, 1, 1, 1, flows, &value, &cost), MCF_INVALID);
    assert_int_equal(value, 42);
    assert_int_equal(cost, 42);
    /* Nothing to send: value 0. */
    assert_int_equal(mcf_solve(2, NULL, 0, 0, 1, flows, &value, &cost), MCF_OK);
    assert_int_equal(value, 0);
    assert_int_equal(cost, 0);
}

static void test_mcf_refuses_overflow(void **state)
{
    const mcf_arc arcs[] = {{0, 2, INT64_MAX / 2, 0}, {2, 1, INT64_MAX / 2, 3}};
    int64_t flows[2], value, cost;
    assert_int_equal(mcf_solve(3, arcs, 2, 0, 1, flows, &value, &cost), MCF_OVERFLOW);
}

RUNNER_MAIN(NULL, NULL,
            {
                cmocka_unit_test(test_picture_bio_oo1_first),
                cmocka_unit_test(test_picture_bio_oo2_first),
                cmocka_unit_test(test_organization_twice),
                cmocka_unit_test(test_one_organization_alone),
                cmocka_unit_test(test_unplaced),
                cmocka_unit_test(test_min_cost_places_more),
                cmocka_unit_test(test_random_min_cost_never_worse),
                cmocka_unit_test(test_random_against_brute_force),
                cmocka_unit_test(test_prefix_bound),
                cmocka_unit_test(test_build_with_estimates_and_pairs),
                cmocka_unit_test(test_add_refuses_overflow),
                cmocka_unit_test(test_build_refuses_too_many_arcs),
                cmocka_unit_test(test_mcf_small),
                cmocka_unit_test(test_mcf_refuses_bad_input),
                cmocka_unit_test(test_mcf_refuses_overflow),
            })
