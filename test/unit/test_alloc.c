/* Unit tests of core/alloc: the picture's splits with exact shipments, edge cases, and a
 * property test against a brute-force "pick the nearest unused storage" reference. */
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
#include "core/alloc.h"
#include "prng.h"
#include "runner.h"

static alloc_candidate candidate(int64_t storage_id, int64_t distance_m, int64_t room_kg)
{
    return (alloc_candidate){
        .storage_id = storage_id, .distance_m = distance_m, .room_kg = room_kg};
}

static alloc_shipment shipment(int64_t storage_id, int64_t amount_kg, int64_t distance_m)
{
    return (alloc_shipment){
        .storage_id = storage_id, .amount_kg = amount_kg, .distance_m = distance_m};
}

/* Runs alloc_plan and asserts the exact shipments and what stays pending. */
static void assert_plan(alloc_candidate *candidates, size_t candidate_count, int64_t pending_kg,
                        const alloc_shipment *expected, size_t expected_count,
                        int64_t expected_left_kg)
{
    alloc_shipment out[32];
    const alloc_shipment sentinel = shipment(-7, -7, -7);
    assert_true(candidate_count <= 32);
    for (size_t i = 0; i < 32; i++)
        out[i] = sentinel;
    int64_t left_kg = -99;
    size_t count = alloc_plan(candidates, candidate_count, pending_kg, out, &left_kg);
    assert_int_equal(count, expected_count);
    for (size_t i = 0; i < expected_count; i++) {
        assert_int_equal(out[i].storage_id, expected[i].storage_id);
        assert_int_equal(out[i].amount_kg, expected[i].amount_kg);
        assert_int_equal(out[i].distance_m, expected[i].distance_m);
    }
    for (size_t i = expected_count; i < 32; i++)
        assert_int_equal(out[i].storage_id, sentinel.storage_id);
    assert_int_equal(left_kg, expected_left_kg);
}

static void assert_order(const alloc_candidate *candidates, const int64_t *expected_ids,
                         size_t count)
{
    for (size_t i = 0; i < count; i++)
        assert_int_equal(candidates[i].storage_id, expected_ids[i]);
}

/* --- The picture: empty storages, distances of docs/design.md, candidates shuffled --- */

static void test_picture_plastic_split(void **state)
{
    (void)state;
    /* ОО2 plastic 60: МНО3 is nearest but holds 10, МНО7 takes the other 50. МНО6 takes no
     * plastic so it is no candidate; МНО1, 2, 8, 9 take plastic but are unreachable. */
    alloc_candidate candidates[] = {
        candidate(9, -1, 250), candidate(7, 100, 100), candidate(1, -1, 100),
        candidate(3, 50, 10),  candidate(8, -1, 25),   candidate(2, -1, 50),
    };
    const alloc_shipment expected[] = {shipment(3, 10, 50), shipment(7, 50, 100)};
    assert_plan(candidates, COUNT(candidates), 60, expected, COUNT(expected), 0);
    const int64_t order[] = {3, 7, 1, 2, 8, 9};
    assert_order(candidates, order, COUNT(order));
}

static void test_picture_glass_tie(void **state)
{
    (void)state;
    /* ОО1 glass 50: МНО1 and МНО5 are both 100 m away; the lower id, МНО1, wins. */
    alloc_candidate candidates[] = {
        candidate(8, 600, 35),
        candidate(6, 1200, 100),
        candidate(5, 100, 220),
        candidate(1, 100, 300),
    };
    const alloc_shipment expected[] = {shipment(1, 50, 100)};
    assert_plan(candidates, COUNT(candidates), 50, expected, COUNT(expected), 0);
    const int64_t order[] = {1, 5, 8, 6};
    assert_order(candidates, order, COUNT(order));
}

static void test_picture_other_batches(void **state)
{
    (void)state;
    /* ОО2 glass 20: only МНО6 (650 m) is reachable. */
    alloc_candidate oo2_glass[] = {candidate(5, -1, 220), candidate(6, 650, 100),
                                   candidate(1, -1, 300), candidate(8, -1, 35)};
    const alloc_shipment to_st6[] = {shipment(6, 20, 650)};
    assert_plan(oo2_glass, COUNT(oo2_glass), 20, to_st6, 1, 0);

    /* ОО1 plastic 10 and bio 50 both go to МНО2 at 50 m. */
    alloc_candidate oo1_plastic[] = {candidate(9, 610, 250), candidate(7, 650, 100),
                                     candidate(3, 600, 10),  candidate(1, 100, 100),
                                     candidate(8, 600, 25),  candidate(2, 50, 50)};
    const alloc_shipment plastic_to_st2[] = {shipment(2, 10, 50)};
    assert_plan(oo1_plastic, COUNT(oo1_plastic), 10, plastic_to_st2, 1, 0);
    alloc_candidate oo1_bio[] = {candidate(5, 100, 25),  candidate(6, 1200, 150),
                                 candidate(2, 50, 150),  candidate(9, 610, 20),
                                 candidate(3, 600, 250), candidate(7, 650, 250),
                                 candidate(8, 600, 52)};
    const alloc_shipment bio_to_st2[] = {shipment(2, 50, 50)};
    assert_plan(oo1_bio, COUNT(oo1_bio), 50, bio_to_st2, 1, 0);

    /* ОО2 bio 50 goes to МНО3 at 50 m. */
    alloc_candidate oo2_bio[] = {candidate(7, 100, 250), candidate(6, 650, 150),
                                 candidate(3, 50, 250), candidate(2, -1, 150)};
    const alloc_shipment bio_to_st3[] = {shipment(3, 50, 50)};
    assert_plan(oo2_bio, COUNT(oo2_bio), 50, bio_to_st3, 1, 0);
}

/* --- Edge cases --- */

static void test_skips_unreachable_and_full(void **state)
{
    (void)state;
    alloc_candidate candidates[] = {
        candidate(1, -1, 100),                     /* unreachable, though nearest by "distance" */
        candidate(2, 10, 0),                       /* full */
        candidate(3, 20, -5),                      /* over capacity (capacity lowered): no room */
        candidate(4, 30, 7),   candidate(5, 0, 0), /* full, at distance 0 */
    };
    const alloc_shipment expected[] = {shipment(4, 7, 30)};
    assert_plan(candidates, COUNT(candidates), 10, expected, COUNT(expected), 3);
}

static void test_nothing_pending(void **state)
{
    (void)state;
    alloc_candidate candidates[] = {candidate(2, 5, 10), candidate(1, 5, 10)};
    assert_plan(candidates, COUNT(candidates), 0, NULL, 0, 0);
    const int64_t order[] = {1, 2};
    assert_order(candidates, order, COUNT(order)); /* still sorted */
    /* A negative amount is a caller bug: nothing ships and it is handed back unchanged. */
    assert_plan(candidates, COUNT(candidates), -4, NULL, 0, -4);
}

static void test_nothing_fits(void **state)
{
    (void)state;
    alloc_candidate candidates[] = {candidate(1, -1, 100), candidate(2, 10, 0),
                                    candidate(3, -1, 0)};
    assert_plan(candidates, COUNT(candidates), 42, NULL, 0, 42);

    int64_t left_kg = -1;
    assert_int_equal(alloc_plan(NULL, 0, 42, NULL, &left_kg), 0);
    assert_int_equal(left_kg, 42);
}

static void test_exact_split_across_three(void **state)
{
    (void)state;
    alloc_candidate candidates[] = {candidate(13, 12, 100), candidate(12, 9, 50),
                                    candidate(10, 5, 30), candidate(11, 7, 20)};
    const alloc_shipment expected[] = {shipment(10, 30, 5), shipment(11, 20, 7),
                                       shipment(12, 50, 9)};
    assert_plan(candidates, COUNT(candidates), 100, expected, COUNT(expected), 0);

    /* One kilogram more reaches the fourth storage. */
    alloc_candidate again[] = {candidate(13, 12, 100), candidate(12, 9, 50), candidate(10, 5, 30),
                               candidate(11, 7, 20)};
    const alloc_shipment four[] = {shipment(10, 30, 5), shipment(11, 20, 7), shipment(12, 50, 9),
                                   shipment(13, 1, 12)};
    assert_plan(again, COUNT(again), 101, four, COUNT(four), 0);

    /* More than all the room: everything fills, the rest stays pending. */
    alloc_candidate full[] = {candidate(13, 12, 100), candidate(12, 9, 50), candidate(10, 5, 30),
                              candidate(11, 7, 20)};
    const alloc_shipment all[] = {shipment(10, 30, 5), shipment(11, 20, 7), shipment(12, 50, 9),
                                  shipment(13, 100, 12)};
    assert_plan(full, COUNT(full), 250, all, COUNT(all), 50);
}

static void test_ties_by_id(void **state)
{
    (void)state;
    alloc_candidate candidates[] = {candidate(9, 40, 5), candidate(3, 40, 5), candidate(5, 40, 5),
                                    candidate(1, 41, 5)};
    const alloc_shipment expected[] = {shipment(3, 5, 40), shipment(5, 5, 40), shipment(9, 2, 40)};
    assert_plan(candidates, COUNT(candidates), 12, expected, COUNT(expected), 0);
}

static void test_huge_amounts(void **state)
{
    (void)state;
    const int64_t tera = INT64_C(1000000000000); /* the API's 10^12 kg limit */
    alloc_candidate candidates[] = {candidate(3, 100000000, tera), candidate(2, 7, tera - 1),
                                    candidate(1, INT64_C(10000000000000), tera)};
    const alloc_shipment expected[] = {shipment(2, tera - 1, 7), shipment(3, 1, 100000000)};
    assert_plan(candidates, COUNT(candidates), tera, expected, COUNT(expected), 0);

    /* Pending far beyond one batch (many batches accumulated), rooms at the limit. */
    alloc_candidate big[] = {candidate(1, 1, tera), candidate(2, 2, tera), candidate(3, 3, tera)};
    const alloc_shipment filled[] = {shipment(1, tera, 1), shipment(2, tera, 2),
                                     shipment(3, tera, 3)};
    assert_plan(big, COUNT(big), 5 * tera, filled, COUNT(filled), 2 * tera);

    alloc_candidate partial[] = {candidate(1, 1, 400000000000), candidate(2, 1, 400000000000)};
    const alloc_shipment split[] = {shipment(1, 400000000000, 1), shipment(2, 400000000000, 1)};
    assert_plan(partial, COUNT(partial), tera, split, COUNT(split), 200000000000);
}

static void test_sort_candidates(void **state)
{
    (void)state;
    /* Unreachable ones (any negative distance) go after all reachable ones, by id only. */
    alloc_candidate candidates[] = {
        candidate(5, -7, 1), candidate(2, 10, 1), candidate(9, -1, 1),        candidate(1, 10, 1),
        candidate(3, 0, 1),  candidate(4, -1, 1), candidate(6, INT64_MAX, 1), candidate(7, 11, 1),
    };
    alloc_sort_candidates(candidates, COUNT(candidates));
    const int64_t order[] = {3, 1, 2, 7, 6, 4, 5, 9};
    assert_order(candidates, order, COUNT(order));
    alloc_sort_candidates(NULL, 0);
}

/* --- Property test against a brute-force reference --- */

enum { MAX_CANDIDATES = 14 };

/* Repeatedly ships to the nearest (then lowest id) candidate not used yet, as docs/design.md states
 * the rule, without sorting. */
static size_t reference_plan(const alloc_candidate *candidates, size_t count, int64_t pending_kg,
                             alloc_shipment *out, int64_t *left_kg)
{
    bool used[MAX_CANDIDATES] = {false};
    size_t shipped = 0;
    int64_t remaining_kg = pending_kg;
    while (remaining_kg > 0) {
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < count; i++) {
            const alloc_candidate *c = &candidates[i];
            if (used[i] || c->distance_m < 0 || c->room_kg <= 0)
                continue;
            if (best == SIZE_MAX || c->distance_m < candidates[best].distance_m ||
                (c->distance_m == candidates[best].distance_m &&
                 c->storage_id < candidates[best].storage_id))
                best = i;
        }
        if (best == SIZE_MAX)
            break;
        used[best] = true;
        int64_t amount_kg = candidates[best].room_kg;
        if (amount_kg > remaining_kg)
            amount_kg = remaining_kg;
        out[shipped++] = (alloc_shipment){.storage_id = candidates[best].storage_id,
                                          .amount_kg = amount_kg,
                                          .distance_m = candidates[best].distance_m};
        remaining_kg -= amount_kg;
    }
    *left_kg = remaining_kg;
    return shipped;
}

static void random_candidates(prng *r, alloc_candidate *candidates, size_t count, bool huge)
{
    for (size_t i = 0; i < count; i++) {
        bool unique;
        do { /* storage ids are unique in one plan, but drawn from a small range */
            candidates[i].storage_id = prng_range(r, 1, 30);
            unique = true;
            for (size_t j = 0; j < i; j++)
                unique = unique && candidates[j].storage_id != candidates[i].storage_id;
        } while (!unique);
        int64_t roll = prng_range(r, 0, 9);
        /* Any negative distance is unreachable; small distances make ties common. */
        candidates[i].distance_m = roll < 2 ? -prng_range(r, 1, 3) : prng_range(r, 0, 5);
        roll = prng_range(r, 0, 19);
        if (roll < 4)
            candidates[i].room_kg = 0;
        else if (roll < 5)
            candidates[i].room_kg = -prng_range(r, 1, 10);
        else
            candidates[i].room_kg =
                huge ? prng_range(r, 1, INT64_C(1000000000000)) : prng_range(r, 1, 20);
    }
}

static bool sorted_before(const alloc_candidate *a, const alloc_candidate *b)
{
    if ((a->distance_m < 0) != (b->distance_m < 0))
        return a->distance_m >= 0;
    if (a->distance_m >= 0 && a->distance_m != b->distance_m)
        return a->distance_m < b->distance_m;
    return a->storage_id < b->storage_id;
}

static void test_random_against_reference(void **state)
{
    (void)state;
    enum { TRIALS = 20000 };
    prng r = {.state = 7};
    for (int trial = 0; trial < TRIALS; trial++) {
        alloc_candidate original[MAX_CANDIDATES], candidates[MAX_CANDIDATES];
        alloc_shipment got[MAX_CANDIDATES], want[MAX_CANDIDATES];
        size_t count = (size_t)prng_range(&r, 0, MAX_CANDIDATES);
        bool huge = prng_range(&r, 0, 3) == 0;
        random_candidates(&r, original, count, huge);
        int64_t total_room_kg = 0, reachable_room_kg = 0;
        for (size_t i = 0; i < count; i++) {
            int64_t room_kg = original[i].room_kg > 0 ? original[i].room_kg : 0;
            total_room_kg += room_kg;
            reachable_room_kg += original[i].distance_m >= 0 ? room_kg : 0;
        }
        /* Pending around the total room: sometimes all fits, sometimes not, sometimes 0. */
        int64_t pending_kg = prng_range(&r, 0, 9) == 0 ? 0 : prng_range(&r, 1, total_room_kg + 25);
        memcpy(candidates, original, sizeof candidates);

        int64_t got_left = -1, want_left = -1;
        size_t got_count = alloc_plan(candidates, count, pending_kg, got, &got_left);
        size_t want_count = reference_plan(original, count, pending_kg, want, &want_left);

        CHECK(got_count == want_count, "trial %d: %zu shipments, expected %zu", trial, got_count,
              want_count);
        CHECK(got_left == want_left, "trial %d: left %" PRId64 ", expected %" PRId64, trial,
              got_left, want_left);
        int64_t shipped_kg = 0;
        for (size_t i = 0; i < got_count; i++) {
            CHECK(got[i].storage_id == want[i].storage_id &&
                      got[i].amount_kg == want[i].amount_kg &&
                      got[i].distance_m == want[i].distance_m,
                  "trial %d: shipment %zu is (%" PRId64 ", %" PRId64 ", %" PRId64 ")", trial, i,
                  got[i].storage_id, got[i].amount_kg, got[i].distance_m);
            const alloc_candidate *source = NULL;
            for (size_t j = 0; j < count; j++) {
                if (original[j].storage_id == got[i].storage_id)
                    source = &original[j];
            }
            CHECK(source && got[i].amount_kg > 0 && got[i].amount_kg <= source->room_kg &&
                      source->distance_m >= 0,
                  "trial %d: shipment %zu exceeds its storage's room", trial, i);
            shipped_kg += got[i].amount_kg;
        }
        CHECK(shipped_kg + got_left == pending_kg,
              "trial %d: %" PRId64 " + %" PRId64 " kg is not the %" PRId64 " pending", trial,
              shipped_kg, got_left, pending_kg);
        /* Waste stays pending only when every reachable room is used up. */
        CHECK(got_left == 0 || shipped_kg == reachable_room_kg,
              "trial %d: %" PRId64 " kg left pending although room was left", trial, got_left);

        /* The candidates are the same set, now in (reachable, distance, id) order. */
        for (size_t i = 0; i + 1 < count; i++)
            CHECK(sorted_before(&candidates[i], &candidates[i + 1]), "trial %d: not sorted at %zu",
                  trial, i);
        for (size_t i = 0; i < count; i++) {
            bool found = false;
            for (size_t j = 0; j < count; j++)
                found = found || memcmp(&original[i], &candidates[j], sizeof original[i]) == 0;
            CHECK(found, "trial %d: candidate %zu lost in sorting", trial, i);
        }
    }
}

RUNNER_MAIN(NULL, NULL,
            {
                cmocka_unit_test(test_picture_plastic_split),
                cmocka_unit_test(test_picture_glass_tie),
                cmocka_unit_test(test_picture_other_batches),
                cmocka_unit_test(test_skips_unreachable_and_full),
                cmocka_unit_test(test_nothing_pending),
                cmocka_unit_test(test_nothing_fits),
                cmocka_unit_test(test_exact_split_across_three),
                cmocka_unit_test(test_ties_by_id),
                cmocka_unit_test(test_huge_amounts),
                cmocka_unit_test(test_sort_candidates),
                cmocka_unit_test(test_random_against_reference),
            })
