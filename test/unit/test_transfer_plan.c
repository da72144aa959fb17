/* Unit tests of core/transfer_plan: merging what is pending with what is handed over, the
 * picture's transfers with exact shipments, on-site limits, overflow bounds, and a property
 * test against a brute-force reference over thousands of random transfers. */
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
#include "core/transfer_plan.h"
#include "prng.h"
#include "runner.h"

/* The picture's storage ids: created МНО1..МНО9 in order, without МНО4. */
enum { MNO1 = 1, MNO2 = 2, MNO3 = 3, MNO5 = 4, MNO6 = 5, MNO7 = 6, MNO8 = 7, MNO9 = 8 };

static plan_candidate cand(size_t type, int64_t storage_id, int64_t distance_m, int64_t room_kg)
{
    return (plan_candidate){type, {storage_id, distance_m, room_kg}};
}

static void assert_shipment(const plan_shipment *s, const plan_type *types, const char *code,
                            int64_t storage_id, int64_t amount_kg, int64_t distance_m)
{
    assert_string_equal(types[s->type].code, code);
    assert_int_equal(s->storage_id, storage_id);
    assert_int_equal(s->amount_kg, amount_kg);
    assert_int_equal(s->distance_m, distance_m);
}

/* plan_types over what an organization holds and receives, then plan_ship over candidates. */
typedef struct {
    plan_type types[6];
    size_t n;
    plan_shipment out[16];
    size_t shipped;
} plan_run;

static void run_plan(plan_run *run, const plan_holding *holdings, size_t holding_count,
                     const plan_quantity *received, size_t received_count,
                     plan_candidate *candidates, size_t candidate_count)
{
    assert_true(holding_count + received_count <= COUNT(run->types));
    assert_true(candidate_count <= COUNT(run->out));
    run->n = plan_types(holdings, holding_count, received, received_count, run->types);
    run->shipped = plan_ship(run->types, run->n, candidates, candidate_count, run->out);
}

#define RUN_PLAN(run, holdings, received, candidates)                                              \
    run_plan((run), (holdings), COUNT(holdings), (received), COUNT(received), (candidates),        \
             COUNT(candidates))

/* An organization of the picture hands over plastic, glass and bio, with on-site room for just
 * that and nothing pending; its types are BIO, GLASS and PLASTIC (in code order). */
enum { BIO, GLASS, PLASTIC };
static void run_picture(plan_run *run, int64_t plastic, int64_t glass, int64_t bio,
                        plan_candidate *candidates, size_t candidate_count)
{
    const plan_holding holdings[] = {{"bio", bio, 0}, {"glass", glass, 0}, {"plastic", plastic, 0}};
    const plan_quantity received[] = {{"plastic", plastic}, {"glass", glass}, {"bio", bio}};
    run_plan(run, holdings, 3, received, 3, candidates, candidate_count);
    assert_int_equal(run->n, 3);
    assert_string_equal(run->types[BIO].code, "bio");
    assert_string_equal(run->types[GLASS].code, "glass");
    assert_string_equal(run->types[PLASTIC].code, "plastic");
}

/* The run's shipments are exactly these, in this order. */
typedef struct {
    const char *code;
    int64_t storage_id, amount_kg, distance_m;
} shipment_row;

static void assert_shipped(const plan_run *run, const shipment_row *rows, size_t count)
{
    assert_int_equal(run->shipped, count);
    for (size_t i = 0; i < count; i++) {
        assert_shipment(&run->out[i], run->types, rows[i].code, rows[i].storage_id,
                        rows[i].amount_kg, rows[i].distance_m);
    }
}

#define ASSERT_SHIPPED(run, ...)                                                                   \
    do {                                                                                           \
        const shipment_row rows_[] = {__VA_ARGS__};                                                \
        assert_shipped((run), rows_, COUNT(rows_));                                                \
    } while (0)

static void test_types_merge_sorted_by_code(void **state)
{
    (void)state;
    const plan_holding holdings[] = {
        {"plastic", 60, 5},
        {"glass", PLAN_NO_LIMIT, 0},
    };
    const plan_quantity received[] = {{"plastic", 7}, {"bio", 50}, {"glass", 3}};
    plan_type types[5];
    size_t count = plan_types(holdings, COUNT(holdings), received, COUNT(received), types);
    assert_int_equal(count, 3);
    assert_string_equal(types[0].code, "bio");
    assert_int_equal(types[0].capacity_kg, PLAN_NO_LIMIT);
    assert_int_equal(types[0].pending_kg, 0);
    assert_int_equal(types[0].received_kg, 50);
    assert_int_equal(types[0].left_kg, 50);
    assert_string_equal(types[1].code, "glass");
    assert_int_equal(types[1].capacity_kg, PLAN_NO_LIMIT);
    assert_int_equal(types[1].received_kg, 3);
    assert_int_equal(types[1].left_kg, 3);
    assert_string_equal(types[2].code, "plastic");
    assert_int_equal(types[2].capacity_kg, 60);
    assert_int_equal(types[2].pending_kg, 5);
    assert_int_equal(types[2].received_kg, 7);
    assert_int_equal(types[2].left_kg, 12);
    assert_int_equal(plan_first_overflow(types, count), -1);
}

static void test_types_without_anything(void **state)
{
    (void)state;
    plan_type types[1];
    assert_int_equal(plan_types(NULL, 0, NULL, 0, types), 0);
    plan_candidate candidates[1] = {cand(0, 1, 10, 10)};
    plan_shipment out[1];
    assert_int_equal(plan_ship(types, 0, candidates, 0, out), 0);
    assert_int_equal(plan_first_over_capacity(types, 0), -1);
}

static void test_overflow_is_reported_not_wrapped(void **state)
{
    (void)state;
    const plan_holding holdings[] = {{"bio", PLAN_NO_LIMIT, INT64_MAX - 10}};
    const plan_quantity at_limit[] = {{"bio", 10}};
    const plan_quantity over[] = {{"bio", 11}};
    plan_type types[2];
    size_t count = plan_types(holdings, 1, at_limit, 1, types);
    assert_int_equal(plan_first_overflow(types, count), -1);
    assert_true(types[0].left_kg == INT64_MAX);
    count = plan_types(holdings, 1, over, 1, types);
    assert_int_equal(plan_first_overflow(types, count), 0);
    assert_true(types[0].overflow);
    assert_int_equal(types[0].left_kg, 0);
}

/* The picture (README): ОО2 hands over plastic 60, glass 20, bio 50 to empty storages.
 * From ОО2: МНО3 50 m, МНО7 100 m, МНО6 650 m; nothing else is reachable. */
static void test_picture_oo2(void **state)
{
    (void)state;
    plan_candidate candidates[] = {
        cand(PLASTIC, MNO7, 100, 100), cand(BIO, MNO7, 100, 250),   cand(PLASTIC, MNO3, 50, 10),
        cand(BIO, MNO3, 50, 250),      cand(GLASS, MNO6, 650, 100), cand(BIO, MNO6, 650, 150),
        cand(PLASTIC, MNO1, -1, 100),  cand(GLASS, MNO1, -1, 300),  cand(PLASTIC, MNO9, -1, 250),
    };
    plan_run run;
    run_picture(&run, 60, 20, 50, candidates, COUNT(candidates));
    ASSERT_SHIPPED(&run, {"bio", MNO3, 50, 50}, {"glass", MNO6, 20, 650}, {"plastic", MNO3, 10, 50},
                   {"plastic", MNO7, 50, 100});
    for (size_t k = 0; k < run.n; k++) {
        assert_int_equal(run.types[k].left_kg, 0);
    }
    assert_int_equal(plan_first_over_capacity(run.types, run.n), -1);
}

/* ОО1's glass goes to МНО1: a 100 m tie with МНО5, broken by the lower storage id. */
static void test_picture_oo1_tie_by_id(void **state)
{
    (void)state;
    plan_candidate candidates[] = {
        cand(GLASS, MNO5, 100, 220),  cand(GLASS, MNO1, 100, 300), cand(BIO, MNO5, 100, 25),
        cand(BIO, MNO2, 50, 150),     cand(PLASTIC, MNO2, 50, 50), cand(PLASTIC, MNO1, 100, 100),
        cand(GLASS, MNO8, 600, 35),   cand(BIO, MNO3, 600, 250),   cand(PLASTIC, MNO9, 610, 250),
        cand(GLASS, MNO6, 1200, 100), cand(BIO, MNO7, 650, 250),
    };
    plan_run run;
    run_picture(&run, 10, 50, 50, candidates, COUNT(candidates));
    ASSERT_SHIPPED(&run, {"bio", MNO2, 50, 50}, {"glass", MNO1, 50, 100},
                   {"plastic", MNO2, 10, 50});
}

/* A second load once ОО2's reachable plastic room is used up: 10 kg stay pending, within
 * its on-site capacity of 60. */
static void test_partial_placement_stays_pending(void **state)
{
    (void)state;
    const plan_holding holdings[] = {{"plastic", 60, 0}};
    const plan_quantity received[] = {{"plastic", 60}};
    plan_candidate candidates[] = {cand(0, MNO3, 50, 0), cand(0, MNO7, 100, 50)};
    plan_run run;
    RUN_PLAN(&run, holdings, received, candidates);
    ASSERT_SHIPPED(&run, {"plastic", MNO7, 50, 100});
    assert_int_equal(run.types[0].left_kg, 10);
    assert_int_equal(plan_first_over_capacity(run.types, run.n), -1);
}

static void test_over_on_site_capacity(void **state)
{
    (void)state;
    const plan_holding holdings[] = {{"bio", PLAN_NO_LIMIT, 5}, {"glass", 20, 15}};
    const plan_quantity received[] = {{"glass", 10}, {"bio", 1000}};
    plan_candidate candidates[] = {cand(1, 9, 10, 4)};
    plan_run run;
    RUN_PLAN(&run, holdings, received, candidates);
    assert_int_equal(run.shipped, 1);
    assert_int_equal(run.types[1].left_kg, 21); /* 15 + 10 - 4 > 20 */
    assert_int_equal(plan_first_over_capacity(run.types, run.n), 1);
    /* No limit on bio: any amount may stay pending. */
    assert_int_equal(run.types[0].left_kg, 1005);
    run.types[1].left_kg = 20;
    assert_int_equal(plan_first_over_capacity(run.types, run.n), -1);
}

static void test_zero_capacity_holds_nothing(void **state)
{
    (void)state;
    const plan_holding holdings[] = {{"glass", 0, 0}};
    const plan_quantity received[] = {{"glass", 1}};
    plan_type types[2];
    size_t n = plan_types(holdings, 1, received, 1, types);
    plan_shipment out[1];
    assert_int_equal(plan_ship(types, n, NULL, 0, out), 0);
    assert_int_equal(plan_first_over_capacity(types, n), 0);
}

static void test_largest_quantities(void **state)
{
    (void)state;
    const int64_t max = 1000000000000LL; /* 10^12, the API's limit per quantity */
    const plan_holding holdings[] = {{"bio", PLAN_NO_LIMIT, max * 1000}};
    const plan_quantity received[] = {{"bio", max}};
    plan_type types[2];
    size_t n = plan_types(holdings, 1, received, 1, types);
    plan_candidate candidates[] = {cand(0, 2, 100000000, max), cand(0, 1, 100000000, max)};
    plan_shipment out[2];
    size_t shipped = plan_ship(types, n, candidates, 2, out);
    assert_int_equal(shipped, 2);
    assert_int_equal(out[0].storage_id, 1);
    assert_int_equal(out[0].amount_kg, max);
    assert_int_equal(out[1].storage_id, 2);
    assert_int_equal(types[0].left_kg, max * 1001 - 2 * max);
}

/* ---- property test ---------------------------------------------------------------- */

/* The trials' generator, from a fixed seed so that a failure reproduces. */
static prng rng = {0x9e3779b97f4a7c15ULL};

static int64_t random_between(int64_t low, int64_t high)
{
    return prng_range(&rng, low, high);
}

typedef struct {
    size_t type;
    int64_t storage_id, amount_kg, distance_m;
} expected_shipment;

/* The rule written the slow, obvious way: for each type in code order, repeatedly take the
 * unused reachable candidate with room that is nearest, lowest id first. */
static size_t reference(const plan_type *types, size_t type_count, const plan_candidate *cands,
                        size_t count, expected_shipment *out, int64_t *left)
{
    bool *used = calloc(count + 1, sizeof *used);
    size_t shipped = 0;
    for (size_t k = 0; k < type_count; k++) {
        left[k] = types[k].left_kg;
        while (left[k] > 0) {
            long best = -1;
            for (size_t i = 0; i < count; i++) {
                const alloc_candidate *c = &cands[i].candidate;
                if (used[i] || cands[i].type != k || c->distance_m < 0 || c->room_kg <= 0) {
                    continue;
                }
                const alloc_candidate *b = best >= 0 ? &cands[best].candidate : NULL;
                if (b == NULL || c->distance_m < b->distance_m ||
                    (c->distance_m == b->distance_m && c->storage_id < b->storage_id)) {
                    best = (long)i;
                }
            }
            if (best < 0) {
                break;
            }
            used[best] = true;
            const alloc_candidate *c = &cands[best].candidate;
            int64_t amount = c->room_kg < left[k] ? c->room_kg : left[k];
            out[shipped++] = (expected_shipment){k, c->storage_id, amount, c->distance_m};
            left[k] -= amount;
        }
    }
    free(used);
    return shipped;
}

static void test_random_transfers_match_reference(void **state)
{
    (void)state;
    static const char *const codes[] = {"bio", "glass", "metal", "paper", "plastic"};
    for (int round = 0; round < 5000; round++) {
        plan_holding holdings[5];
        plan_quantity received[5];
        size_t holding_count = 0, received_count = 0;
        for (size_t c = 0; c < COUNT(codes); c++) {
            int64_t kind = random_between(0, 3);
            if (kind & 1) {
                int64_t pending = random_between(0, 400);
                holdings[holding_count++] = (plan_holding){
                    codes[c], random_between(0, 2) == 0 ? PLAN_NO_LIMIT : random_between(0, 800),
                    pending};
            }
            if (kind & 2) {
                received[received_count++] = (plan_quantity){codes[c], random_between(0, 400)};
            }
        }
        plan_type types[10];
        size_t n = plan_types(holdings, holding_count, received, received_count, types);
        for (size_t k = 1; k < n; k++) {
            assert_true(strcmp(types[k - 1].code, types[k].code) < 0);
        }
        /* Candidates: storage ids may repeat across types (one storage, several types),
         * never within a type; distances collide often to exercise the id tie-break. */
        plan_candidate candidates[60];
        size_t count = 0;
        for (size_t k = 0; k < n; k++) {
            int64_t storages = random_between(0, 10);
            for (int64_t s = 1; s <= storages; s++) {
                int64_t distance = random_between(0, 4) == 0 ? -1 : random_between(0, 6) * 50;
                int64_t room = random_between(0, 3) == 0 ? 0 : random_between(1, 150);
                candidates[count++] = cand(k, s * 3 + (int64_t)k % 2, distance, room);
            }
        }
        /* Shuffle: the plan must not depend on the order rows arrive in. */
        for (size_t i = count; i > 1; i--) {
            size_t j = (size_t)random_between(0, (int64_t)i - 1);
            plan_candidate tmp = candidates[i - 1];
            candidates[i - 1] = candidates[j];
            candidates[j] = tmp;
        }
        expected_shipment expected[60];
        int64_t expected_left[10];
        size_t expected_count = reference(types, n, candidates, count, expected, expected_left);
        plan_shipment out[60];
        size_t shipped = plan_ship(types, n, candidates, count, out);
        if (shipped != expected_count) {
            fail_msg("round %d: %zu shipments, the reference makes %zu", round, shipped,
                     expected_count);
        }
        for (size_t i = 0; i < shipped; i++) {
            if (out[i].type != expected[i].type || out[i].storage_id != expected[i].storage_id ||
                out[i].amount_kg != expected[i].amount_kg ||
                out[i].distance_m != expected[i].distance_m) {
                fail_msg("round %d shipment %zu: %s %lld kg to %lld, the reference ships %s "
                         "%lld kg to %lld",
                         round, i, types[out[i].type].code, (long long)out[i].amount_kg,
                         (long long)out[i].storage_id, types[expected[i].type].code,
                         (long long)expected[i].amount_kg, (long long)expected[i].storage_id);
            }
        }
        for (size_t k = 0; k < n; k++) {
            assert_int_equal(types[k].left_kg, expected_left[k]);
            bool over =
                types[k].capacity_kg != PLAN_NO_LIMIT && types[k].left_kg > types[k].capacity_kg;
            if (over) {
                assert_true(plan_first_over_capacity(types, n) <= (long)k);
            }
        }
    }
}

RUNNER_MAIN(NULL, NULL,
            {
                cmocka_unit_test(test_types_merge_sorted_by_code),
                cmocka_unit_test(test_types_without_anything),
                cmocka_unit_test(test_overflow_is_reported_not_wrapped),
                cmocka_unit_test(test_picture_oo2),
                cmocka_unit_test(test_picture_oo1_tie_by_id),
                cmocka_unit_test(test_partial_placement_stays_pending),
                cmocka_unit_test(test_over_on_site_capacity),
                cmocka_unit_test(test_zero_capacity_holds_nothing),
                cmocka_unit_test(test_largest_quantities),
                cmocka_unit_test(test_random_transfers_match_reference),
            })
