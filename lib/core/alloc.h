/* The allocation rule (docs/design.md, "The allocation rule"): one waste type's pending amount goes
 * to the nearest storages with room, in (distance, storage id) order, splitting across as many as
 * needed. Pure: the caller supplies distances and room; nothing here touches the database. */
#ifndef WF_CORE_ALLOC_H
#define WF_CORE_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One storage accepting the waste type. distance_m < 0 means unreachable (graph_distance's
 * -1); room_kg is capacity minus stock for that type. */
typedef struct {
    int64_t storage_id;
    int64_t distance_m;
    int64_t room_kg;
} alloc_candidate;

typedef struct {
    int64_t storage_id;
    int64_t amount_kg; /* > 0 and <= the candidate's room_kg */
    int64_t distance_m;
} alloc_shipment;

/* The order of the rule: reachable candidates by (distance_m, storage_id) ascending, then
 * the unreachable ones (distance_m < 0) by storage_id — also the order in which an
 * organization's storages are listed. qsort-style result. */
int alloc_compare(const alloc_candidate *a, const alloc_candidate *b);

/* Sorts candidates in place by alloc_compare. */
void alloc_sort_candidates(alloc_candidate *candidates, size_t candidate_count);

/* One step of the rule: the candidate takes min(*remaining_kg, room) when it is reachable
 * and has room, written to *out; *remaining_kg goes down by it. Returns whether it took
 * anything. */
bool alloc_take(const alloc_candidate *candidate, int64_t *remaining_kg, alloc_shipment *out);

/* The allocation rule for ONE waste type: sorts candidates in place with
 * alloc_sort_candidates, skips those with distance_m < 0 (unreachable) or room_kg <= 0, and
 * ships min(remaining, room) to each in turn until pending_kg is placed or candidates run out.
 * Writes at most candidate_count shipments into out (caller provides candidate_count slots;
 * out may be NULL when candidate_count is 0) in that same order, returns how many, and stores
 * what stays pending in *left_kg. Shipped amounts plus *left_kg always equal pending_kg;
 * pending_kg <= 0 ships nothing. Quantities up to 10^12 kg cannot overflow. */
size_t alloc_plan(alloc_candidate *candidates, size_t candidate_count, int64_t pending_kg,
                  alloc_shipment *out, int64_t *left_kg) __attribute__((warn_unused_result));

#endif
