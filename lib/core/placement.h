/* Where a batch of organizations' pending waste goes, reading as little as possible.
 *
 * The allocation rule (alloc.h) over the whole graph needs the room of every storage, and
 * at regional scale that is 100,000 rows. This plans the same result from a prefix: each
 * organization's storages come one by one in the rule's order (a bounded shortest-path
 * search), and for each waste type the plan reads ahead only as far as the instance's room
 * hints say it must to place what is pending. What it ships is decided by fresh rooms
 * only — rooms the transaction read itself, under its row locks — never by a hint: a hint
 * that is wrong costs one more read, never a different result.
 *
 * A batch is served in the order organizations are added, each after the ones before it
 * (what one takes, the next cannot), so the plan equals serving them one at a time.
 *
 * Use: placement_new, placement_add per organization, then repeat
 *   n = placement_plan(p, pairs, cap); if n == 0 the plan is final;
 *   read the n pairs' rooms (locking them) and placement_fresh each;
 * and read placement_shipments. Pure: the storage order comes from a callback (a graph
 * search), the hints from a room_map; nothing here does I/O. */
#ifndef WF_CORE_PLACEMENT_H
#define WF_CORE_PLACEMENT_H

#include "core/room_map.h"
#include "core/transfer_plan.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* In a hints map, the entry (storage, PLACEMENT_STORAGE_KNOWN) says the hints know the
 * storage: a type of it with no entry is a type it does not accept (room 0). A storage
 * without the marker is unknown, and the plan assumes it could take everything. */
#define PLACEMENT_STORAGE_KNOWN UINT32_MAX

typedef struct {
    int64_t storage_id;
    uint32_t type; /* the type's key (the caller's numbering of waste types) */
} place_pair;

/* The next storage in the rule's order, (distance, id) ascending; false when no more are
 * reachable. */
typedef bool (*place_next_fn)(void *search, int64_t *storage_id, int64_t *distance_m);

typedef struct placement placement;

/* hints may be NULL (everything unknown); it is only read, and must outlive p. NULL when
 * memory runs out. */
placement *placement_new(const room_map *hints) __attribute__((warn_unused_result));
void placement_free(placement *p);

/* The next organization of the batch. types[k].left_kg is what to place of types[k]
 * (plan_types made it); keys[k] is that type's key. types, keys and search must outlive p;
 * placement_plan rewrites each types[k].left_kg to what stays pending under the current
 * plan. Returns the organization's index in the batch. */
size_t placement_add(placement *p, plan_type *types, const uint32_t *keys, size_t type_count,
                     place_next_fn next, void *search);

/* Plans the whole batch with what is known, and writes up to cap pairs whose fresh room is
 * still needed (in the batch's order, nearest first within an organization) into out.
 * Returns their number; 0 means the plan is final. */
size_t placement_plan(placement *p, place_pair *out, size_t cap)
    __attribute__((warn_unused_result));

/* How many pairs the last placement_plan named, beyond its cap too: a caller that offered
 * a short array learns how long one would hold them all. */
size_t placement_wanted(const placement *p) __attribute__((warn_unused_result));

/* A fresh room read for pair: room_kg is capacity - stock, 0 when the database has no row
 * with room (full, or not accepted). Fresh rooms replace hints for the rest of the batch. */
void placement_fresh(placement *p, place_pair pair, int64_t room_kg);

/* Whether the pair's fresh room is known. */
bool placement_is_fresh(const placement *p, place_pair pair) __attribute__((warn_unused_result));

/* Organization index's shipments under the last plan, ordered by type and then by the
 * rule's order; *count gets their number. Final only after placement_plan returned 0. */
const plan_shipment *placement_shipments(const placement *p, size_t index, size_t *count);

/* What the last plan expects organization index to place: shipped from fresh rooms plus
 * what hints say the rest could take (a forecast: the dispatcher asks it before it spends
 * a transaction on an organization). */
int64_t placement_expected_kg(const placement *p, size_t index) __attribute__((warn_unused_result));

/* How many storages the batch's searches have produced so far (a cost measure). */
size_t placement_storages_seen(const placement *p) __attribute__((warn_unused_result));

#endif
