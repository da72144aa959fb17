/* Unit tests of core/placement (and core/room_map): which pairs a plan reads, with exact
 * hints, wrong hints and no hints; shipments of one organization and of a batch sharing
 * storages; and a property test over thousands of random batches against the reference
 * (the allocation rule over every reachable storage, one organization after another). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "check.h"
#include "core/alloc.h"
#include "core/placement.h"
#include "prng.h"
#include "runner.h"

/* A search over a fixed list of (storage, distance), already in the rule's order. */
typedef struct {
    const int64_t (*stops)[2];
    size_t count;
    size_t next;
    size_t pulled;
} list_search;

static bool list_next(void *arg, int64_t *storage_id, int64_t *distance_m)
{
    list_search *search = arg;
    if (search->next >= search->count) {
        return false;
    }
    *storage_id = search->stops[search->next][0];
    *distance_m = search->stops[search->next][1];
    search->next++;
    search->pulled++;
    return true;
}

/* The database of a test: true rooms per (storage, key). */
typedef struct {
    room_map *rooms;
    size_t reads; /* pairs read so far */
} truth;

static int64_t true_room(const truth *db, place_pair pair)
{
    int64_t room;
    return room_map_get(db->rooms, pair.storage_id, pair.type, &room) ? room : 0;
}

/* Runs the protocol: plan, read what it names, until final. Returns the rounds. */
static int run(placement *p, truth *db, size_t cap)
{
    place_pair *pairs = calloc(cap, sizeof *pairs);
    int rounds = 0;
    for (;;) {
        size_t n = placement_plan(p, pairs, cap);
        if (n == 0) {
            break;
        }
        rounds++;
        assert_true(rounds < 10000);
        for (size_t i = 0; i < n; i++) {
            assert_false(placement_is_fresh(p, pairs[i]));
            placement_fresh(p, pairs[i], true_room(db, pairs[i]));
            db->reads++;
        }
    }
    free(pairs);
    return rounds;
}

static plan_type type_of(const char *code, int64_t left_kg)
{
    return (plan_type){
        .code = code, .capacity_kg = PLAN_NO_LIMIT, .pending_kg = left_kg, .left_kg = left_kg};
}

static void assert_shipment(const plan_shipment *s, size_t type, int64_t storage_id,
                            int64_t amount_kg, int64_t distance_m)
{
    assert_int_equal(s->type, type);
    assert_int_equal(s->storage_id, storage_id);
    assert_int_equal(s->amount_kg, amount_kg);
    assert_int_equal(s->distance_m, distance_m);
}

/* One expected shipment: type, storage, kilograms, distance. */
typedef struct {
    size_t type;
    int64_t storage_id, amount_kg, distance_m;
} want_shipment;

/* The shipments planned for placement p's organization o are exactly want, in order. */
static void assert_shipments(const placement *p, size_t o, const want_shipment *want, size_t n)
{
    size_t count;
    const plan_shipment *s = placement_shipments(p, o, &count);
    assert_int_equal(count, n);
    for (size_t i = 0; i < n; i++) {
        assert_shipment(&s[i], want[i].type, want[i].storage_id, want[i].amount_kg,
                        want[i].distance_m);
    }
}
#define ASSERT_SHIPMENTS(p, o, ...)                                                                \
    assert_shipments((p), (o), (const want_shipment[]){__VA_ARGS__},                               \
                     sizeof((const want_shipment[]){__VA_ARGS__}) / sizeof(want_shipment))

enum { GLASS = 1, PLASTIC = 2 };

static const int64_t line[][2] = {{10, 5}, {11, 7}, {12, 7}, {13, 20}, {14, 30}};

static truth line_truth(void)
{
    truth db = {room_map_new(100), 0};
    /* 10 glass 30; 11 plastic 50 + glass 0 (full); 12 glass 100; 13 glass 5; 14 plastic 9 */
    assert_true(room_map_put(db.rooms, 10, GLASS, 30));
    assert_true(room_map_put(db.rooms, 11, PLASTIC, 50));
    assert_true(room_map_put(db.rooms, 11, GLASS, 0));
    assert_true(room_map_put(db.rooms, 12, GLASS, 100));
    assert_true(room_map_put(db.rooms, 13, GLASS, 5));
    assert_true(room_map_put(db.rooms, 14, PLASTIC, 9));
    return db;
}

/* Hints of the line that know every storage, and nothing yet of their rooms. */
static room_map *known_line_hints(void)
{
    room_map *hints = room_map_new(100);
    for (int64_t s = 10; s <= 14; s++) {
        assert_true(room_map_put(hints, s, PLACEMENT_STORAGE_KNOWN, 0));
    }
    return hints;
}

/* A test on the line: the truth, the hints (or NULL) and a placement over them. */
typedef struct {
    truth db;
    room_map *hints;
    placement *p;
} line_world;

static line_world line_start(room_map *hints)
{
    return (line_world){line_truth(), hints, placement_new(hints)};
}

static void line_free(line_world *w)
{
    placement_free(w->p);
    room_map_free(w->hints);
    room_map_free(w->db.rooms);
}

/* An organization of the batch with one type to place, searching stops (a list_search). */
typedef struct {
    plan_type types[1];
    uint32_t keys[1];
    list_search search;
} one_type_org;

static void add_one_type(placement *p, one_type_org *org, const char *code, uint32_t key,
                         int64_t kg, const int64_t (*stops)[2], size_t stop_count)
{
    org->types[0] = type_of(code, kg);
    org->keys[0] = key;
    org->search = (list_search){stops, stop_count, 0, 0};
    placement_add(p, org->types, org->keys, 1, list_next, &org->search);
}

/* Hints that are exactly right, storages all known: reads stop where the room suffices. */
static void test_exact_hints_read_just_enough(void **state)
{
    (void)state;
    room_map *hints = known_line_hints();
    assert_true(room_map_put(hints, 10, GLASS, 30));
    assert_true(room_map_put(hints, 11, PLASTIC, 50));
    assert_true(room_map_put(hints, 11, GLASS, 0));
    assert_true(room_map_put(hints, 12, GLASS, 100));
    line_world w = line_start(hints);
    plan_type types[] = {type_of("glass", 60), type_of("plastic", 20)};
    uint32_t keys[] = {GLASS, PLASTIC};
    list_search search = {line, COUNT(line), 0, 0};
    assert_int_equal(placement_add(w.p, types, keys, 2, list_next, &search), 0);

    place_pair pairs[16];
    /* An array too short gets the first pairs, and the count of all of them. */
    assert_int_equal(placement_plan(w.p, pairs, 2), 2);
    assert_int_equal(placement_wanted(w.p), 5);
    assert_int_equal(pairs[0].storage_id, 10);
    assert_int_equal(pairs[1].storage_id, 11);
    size_t n = placement_plan(w.p, pairs, COUNT(pairs));
    /* glass: 10 (30), 11 (0), 12 (100 covers the other 30); plastic: 10 (not accepted),
     * 11 (50 covers 20). Storage 13 and 14 are never asked about. */
    assert_int_equal(n, 5);
    assert_int_equal(placement_wanted(w.p), 5);
    assert_int_equal(placement_expected_kg(w.p, 0), 80); /* the hints say all of it fits */
    int64_t expected[][2] = {{10, GLASS}, {11, GLASS}, {12, GLASS}, {10, PLASTIC}, {11, PLASTIC}};
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(pairs[i].storage_id, expected[i][0]);
        assert_int_equal(pairs[i].type, (uint32_t)expected[i][1]);
        placement_fresh(w.p, pairs[i], true_room(&w.db, pairs[i]));
    }
    assert_int_equal(placement_plan(w.p, pairs, COUNT(pairs)), 0);
    assert_int_equal(placement_wanted(w.p), 0);
    assert_int_equal(search.pulled, 3);
    ASSERT_SHIPMENTS(w.p, 0, {0, 10, 30, 5}, {0, 12, 30, 7}, {1, 11, 20, 7});
    assert_int_equal(types[0].left_kg, 0);
    assert_int_equal(types[1].left_kg, 0);
    line_free(&w);
}

/* Hints that promise room a storage no longer has: one more round, same result. */
static void test_stale_hints_cost_a_round_not_a_result(void **state)
{
    (void)state;
    room_map *hints = known_line_hints();
    assert_true(room_map_put(hints, 10, GLASS, 500)); /* really 30 */
    assert_true(room_map_put(hints, 12, GLASS, 100));
    assert_true(room_map_put(hints, 13, GLASS, 5));
    line_world w = line_start(hints);
    one_type_org org;
    add_one_type(w.p, &org, "glass", GLASS, 134, line, COUNT(line));
    place_pair pairs[16];
    assert_int_equal(placement_plan(w.p, pairs, COUNT(pairs)), 1); /* 10 seems to suffice */
    assert_int_equal(placement_expected_kg(w.p, 0), 134);
    assert_int_equal(pairs[0].storage_id, 10);
    placement_fresh(w.p, pairs[0], 30);
    size_t n = placement_plan(w.p, pairs, COUNT(pairs));
    assert_int_equal(n, 3); /* 11 (not accepting glass per hints: read all the same), 12, 13 */
    assert_int_equal(pairs[0].storage_id, 11);
    assert_int_equal(pairs[1].storage_id, 12);
    assert_int_equal(pairs[2].storage_id, 13);
    for (size_t i = 0; i < n; i++) {
        placement_fresh(w.p, pairs[i], true_room(&w.db, pairs[i]));
    }
    /* 30 + 100 + 5 = 135 >= 134: final. */
    assert_int_equal(placement_plan(w.p, pairs, COUNT(pairs)), 0);
    ASSERT_SHIPMENTS(w.p, 0, {0, 10, 30, 5}, {0, 12, 100, 7}, {0, 13, 4, 20});
    assert_int_equal(org.types[0].left_kg, 0);
    line_free(&w);
}

/* Without hints every storage could take everything: one storage at a time, and what
 * cannot be placed stays pending once the search runs out. */
static void test_no_hints_and_not_enough_room(void **state)
{
    (void)state;
    line_world w = line_start(NULL);
    one_type_org org;
    add_one_type(w.p, &org, "plastic", PLASTIC, 100, line, COUNT(line));
    int rounds = run(w.p, &w.db, 64);
    assert_int_equal(rounds, 5); /* every storage in turn, and 41 kg stay pending */
    assert_int_equal(w.db.reads, 5);
    ASSERT_SHIPMENTS(w.p, 0, {0, 11, 50, 7}, {0, 14, 9, 30});
    assert_int_equal(org.types[0].left_kg, 41);
    line_free(&w);
}

/* Two organizations of one batch want the same storage: the first served takes its room. */
static void test_batch_shares_room_in_order(void **state)
{
    (void)state;
    line_world w = line_start(NULL);
    static const int64_t near_12[][2] = {{12, 1}, {10, 3}};
    one_type_org first, second;
    add_one_type(w.p, &first, "glass", GLASS, 40, line, COUNT(line));
    add_one_type(w.p, &second, "glass", GLASS, 100, near_12, COUNT(near_12));
    (void)run(w.p, &w.db, 64);
    ASSERT_SHIPMENTS(w.p, 0, {0, 10, 30, 5}, {0, 12, 10, 7});
    /* 100 - 10 taken by the first */
    ASSERT_SHIPMENTS(w.p, 1, {0, 12, 90, 1});
    assert_int_equal(second.types[0].left_kg, 10); /* storage 10 is full after the first */
    line_free(&w);
}

/* A read cap smaller than what is wanted: the rest comes in later rounds. */
static void test_read_cap(void **state)
{
    (void)state;
    room_map *hints = known_line_hints(); /* all "full" */
    line_world w = line_start(hints);
    one_type_org org;
    add_one_type(w.p, &org, "glass", GLASS, 1000, line, COUNT(line));
    assert_int_equal(run(w.p, &w.db, 2), 3); /* 5 pairs, 2 per round */
    assert_int_equal(w.db.reads, 5);
    assert_int_equal(org.types[0].left_kg, 1000 - 135);
    assert_int_equal(placement_expected_kg(w.p, 0), 135);
    line_free(&w);
}

static void test_room_map(void **state)
{
    (void)state;
    room_map *map = room_map_new(1000);
    int64_t room = -1;
    assert_false(room_map_get(map, 1, 0, &room));
    assert_false(room_map_put(map, 0, 0, 1)); /* ids are positive */
    for (int64_t id = 1; id <= 1000; id++) {
        assert_true(room_map_put(map, id, (uint32_t)(id % 3), id * 10));
    }
    assert_int_equal(room_map_count(map), 1000);
    assert_false(room_map_put(map, 1001, 0, 1));     /* at the bound */
    assert_true(room_map_put(map, 500, 500 % 3, 7)); /* replacing is fine */
    assert_true(room_map_get(map, 500, 2, &room));
    assert_int_equal(room, 7);
    assert_false(room_map_get(map, 500, 1, &room));
    assert_true(room_map_add(map, 999, 0, -90));
    assert_true(room_map_get(map, 999, 0, &room));
    assert_int_equal(room, 9900);
    assert_false(room_map_add(map, 999, 1, 5));
    assert_true(room_map_bytes(map) >= 2048 * 24); /* 1,000 keys at most 3/4 full */
    room_map_clear(map);
    assert_int_equal(room_map_count(map), 0);
    assert_false(room_map_get(map, 999, 0, &room));
    room_map_free(map);
}

/* ---- Property test ---- */

/* The trials' generator, seeded per trial so that a failing trial reproduces alone. */
static prng rng;

static int by_distance_then_id(const void *left, const void *right)
{
    const int64_t *a = left;
    const int64_t *b = right;
    if (a[1] != b[1]) {
        return a[1] < b[1] ? -1 : 1;
    }
    return a[0] < b[0] ? -1 : a[0] > b[0];
}

#define STORAGES 12
#define ORGS     4
#define TYPES    3

static void test_random_batches_equal_one_by_one(void **state)
{
    (void)state;
    for (int trial = 0; trial < 3000; trial++) {
        rng.state = (uint64_t)trial * 7919 + 17;
        truth db = {room_map_new(1000), 0};
        room_map *hints = room_map_new(1000);
        room_map *reference = room_map_new(1000);
        for (int64_t s = 1; s <= STORAGES; s++) {
            bool known = prng_below(&rng, 4) != 0;
            if (known) {
                assert_true(room_map_put(hints, s, PLACEMENT_STORAGE_KNOWN, 0));
            }
            for (uint32_t t = 0; t < TYPES; t++) {
                if (prng_below(&rng, 3) == 0) {
                    continue; /* does not accept */
                }
                int64_t room = prng_below(&rng, 3) == 0 ? 0 : (int64_t)prng_below(&rng, 60);
                assert_true(room_map_put(db.rooms, s, t, room));
                assert_true(room_map_put(reference, s, t, room));
                if (known && prng_below(&rng, 5) != 0) {
                    /* a hint: right, or off by a random amount either way */
                    int64_t hint = prng_below(&rng, 2) ? room : (int64_t)prng_below(&rng, 80);
                    assert_true(room_map_put(hints, s, t, hint));
                }
            }
        }
        placement *p = placement_new(prng_below(&rng, 8) == 0 ? NULL : hints);
        int64_t stops[ORGS][STORAGES][2];
        list_search searches[ORGS];
        plan_type types[ORGS][TYPES];
        uint32_t keys[TYPES] = {0, 1, 2};
        static const char *const codes[TYPES] = {"a", "b", "c"};
        for (int o = 0; o < ORGS; o++) {
            size_t reachable = 0;
            for (int64_t s = 1; s <= STORAGES; s++) {
                if (prng_below(&rng, 4) != 0) {
                    stops[o][reachable][0] = s;
                    stops[o][reachable][1] = (int64_t)prng_below(&rng, 20); /* ties are common */
                    reachable++;
                }
            }
            qsort(stops[o], reachable, sizeof stops[o][0], by_distance_then_id);
            searches[o] = (list_search){(const int64_t(*)[2])stops[o], reachable, 0, 0};
            for (int t = 0; t < TYPES; t++) {
                types[o][t] = type_of(
                    codes[t], prng_below(&rng, 3) == 0 ? 0 : (int64_t)prng_below(&rng, 150));
            }
            placement_add(p, types[o], keys, TYPES, list_next, &searches[o]);
        }
        (void)run(p, &db, 1 + prng_below(&rng, 6));
        /* The reference: each organization in turn, the rule over all its storages. */
        for (int o = 0; o < ORGS; o++) {
            size_t count;
            const plan_shipment *got = placement_shipments(p, (size_t)o, &count);
            size_t next = 0;
            for (int t = 0; t < TYPES; t++) {
                alloc_candidate candidates[STORAGES];
                size_t n = 0;
                for (size_t i = 0; i < searches[o].count; i++) {
                    int64_t room;
                    if (room_map_get(reference, stops[o][i][0], (uint32_t)t, &room)) {
                        candidates[n++] = (alloc_candidate){stops[o][i][0], stops[o][i][1], room};
                    }
                }
                alloc_shipment want[STORAGES];
                int64_t left;
                size_t shipped = alloc_plan(candidates, n, types[o][t].pending_kg, want, &left);
                assert_int_equal(types[o][t].left_kg, left);
                for (size_t k = 0; k < shipped; k++, next++) {
                    assert_true(next < count);
                    assert_shipment(&got[next], (size_t)t, want[k].storage_id, want[k].amount_kg,
                                    want[k].distance_m);
                    assert_true(room_map_add(reference, want[k].storage_id, (uint32_t)t,
                                             -want[k].amount_kg));
                }
            }
            assert_int_equal(next, count);
        }
        placement_free(p);
        room_map_free(hints);
        room_map_free(reference);
        room_map_free(db.rooms);
    }
}

RUNNER_MAIN(NULL, NULL,
            {
                cmocka_unit_test(test_exact_hints_read_just_enough),
                cmocka_unit_test(test_stale_hints_cost_a_round_not_a_result),
                cmocka_unit_test(test_no_hints_and_not_enough_room),
                cmocka_unit_test(test_batch_shares_room_in_order),
                cmocka_unit_test(test_read_cap),
                cmocka_unit_test(test_room_map),
                cmocka_unit_test(test_random_batches_equal_one_by_one),
            })
