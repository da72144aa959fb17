/* The allocation rule: nearest storage first, ties broken by the lower storage id (the one
 * created first), each taking as much as its room allows. Kept free of I/O so the transfer
 * handler, the dry run and the auto-dispatcher all place waste identically. */
#include "core/alloc.h"

#include <stdbool.h>
#include <stdlib.h>

static int compare_int64(int64_t a, int64_t b)
{
    return (a > b) - (a < b);
}

int alloc_compare(const alloc_candidate *a, const alloc_candidate *b)
{
    bool a_reachable = a->distance_m >= 0;
    bool b_reachable = b->distance_m >= 0;
    if (a_reachable != b_reachable)
        return a_reachable ? -1 : 1;
    /* Every unreachable storage is equally far: only the id orders them. */
    if (a_reachable && a->distance_m != b->distance_m)
        return compare_int64(a->distance_m, b->distance_m);
    return compare_int64(a->storage_id, b->storage_id);
}

static int candidate_compare(const void *left, const void *right)
{
    return alloc_compare(left, right);
}

bool alloc_take(const alloc_candidate *candidate, int64_t *remaining_kg, alloc_shipment *out)
{
    if (*remaining_kg <= 0 || candidate->distance_m < 0 || candidate->room_kg <= 0)
        return false;
    int64_t amount_kg = candidate->room_kg < *remaining_kg ? candidate->room_kg : *remaining_kg;
    *out = (alloc_shipment){
        .storage_id = candidate->storage_id,
        .amount_kg = amount_kg,
        .distance_m = candidate->distance_m,
    };
    *remaining_kg -= amount_kg;
    return true;
}

void alloc_sort_candidates(alloc_candidate *candidates, size_t candidate_count)
{
    if (candidate_count > 1)
        qsort(candidates, candidate_count, sizeof *candidates, candidate_compare);
}

size_t alloc_plan(alloc_candidate *candidates, size_t candidate_count, int64_t pending_kg,
                  alloc_shipment *out, int64_t *left_kg)
{
    alloc_sort_candidates(candidates, candidate_count);
    int64_t remaining_kg = pending_kg;
    size_t shipment_count = 0;
    for (size_t i = 0; i < candidate_count && remaining_kg > 0; i++) {
        shipment_count += alloc_take(&candidates[i], &remaining_kg, &out[shipment_count]);
    }
    *left_kg = remaining_kg;
    return shipment_count;
}
