/* Allocation plans: what serving a batch of hand-overs nearest-first costs in transport,
 * against the least it could cost.
 *
 * A batch is a list of hand-overs (an organization and kilograms per waste type). Two plans
 * are built from the same rooms and roads:
 *   nearest   the hand-overs one after another, in the batch's order, each by the
 *             allocation rule (core/alloc.h) on the room the earlier ones left;
 *   min_cost  the whole batch at once: first as many kilograms as can be placed at all,
 *             then, among such placements, the least kg·m — a min-cost maximum flow, per
 *             waste type, from the organizations through the roads' shortest distances to
 *             the storages' rooms. The solver is the caller's (plans_solver): this module
 *             only builds the network and reads the flows back.
 *
 * Only a prefix of each organization's storages, in the rule's order, takes part: the
 * nearest storages with room for a type it hands over, until their room for that type
 * covers the whole batch's kilograms of it. That loses nothing: were some kilograms of the
 * organization to go past its prefix, the prefix would still have room left (the batch's
 * kilograms of that type cannot fill it), and moving them there is no longer and places as
 * much. So both plans equal the plans over every storage.
 *
 * Use: plans_new, plans_add per hand-over, plans_build (the storages in order come from a
 * callback, a bounded graph search; rooms from a room_map), then plans_nearest and
 * plans_min_cost. Pure: no I/O, no globals. */
#ifndef WF_CORE_PLANS_H
#define WF_CORE_PLANS_H

#include "core/room_map.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct plans plans;

/* One shipment of a plan. type is the caller's type key (< type_count). */
typedef struct {
    int64_t organization_id;
    int64_t storage_id;
    uint32_t type;
    int64_t amount_kg;
    int64_t distance_m;
} plans_shipment;

/* A plan. shipments (malloc'd, the caller frees it with plans_result_free) are in the order
 * they were decided: nearest by hand-over, type and the rule's order; min_cost by
 * organization (first appearance in the batch), type and the rule's order. unplaced_kg has
 * type_count entries. kg_m = sum of amount_kg x distance_m. */
typedef struct {
    plans_shipment *shipments;
    size_t shipment_count;
    int64_t placed_kg;
    int64_t *unplaced_kg;
    int64_t kg_m;
} plans_result;

void plans_result_free(plans_result *result);

typedef enum {
    PLANS_OK = 0,
    PLANS_NO_MEMORY = -1,
    PLANS_OVERFLOW = -2, /* a total (kilograms, kg·m) would not fit in 64 bits */
    PLANS_SOLVER = -3,   /* the solver failed */
    PLANS_TOO_LARGE = -4 /* the network would exceed the arc bound given to plans_build */
} plans_status;

/* A batch over type_count waste types (keys 0..type_count-1). NULL when memory runs out. */
plans *plans_new(uint32_t type_count) __attribute__((warn_unused_result));
void plans_free(plans *p);

/* The next hand-over: kg[k] >= 0 kilograms of type k (type_count entries; read during the
 * call). Returns PLANS_OK, PLANS_NO_MEMORY or PLANS_OVERFLOW (the batch's total of a type
 * would exceed INT64_MAX). */
plans_status plans_add(plans *p, int64_t organization_id, const int64_t *kg)
    __attribute__((warn_unused_result));

/* The distinct organizations of the batch, in order of first appearance. */
size_t plans_organization_count(const plans *p) __attribute__((warn_unused_result));
int64_t plans_organization_id(const plans *p, size_t index) __attribute__((warn_unused_result));

/* The next storage organization index reaches, in the rule's order ((distance, storage id)
 * ascending, as graph_search_next yields them); false when no more are reachable. */
typedef bool (*plans_next_fn)(void *search, size_t organization_index, int64_t *storage_id,
                              int64_t *distance_m);

/* Reads each organization's prefix of storages (see the header comment) from next, with
 * rooms (room per (storage, type) as capacity - stock - reserved; absent = no room) from
 * rooms, which is only read during the call. max_arcs bounds the min-cost network's
 * organization-to-storage arcs (PLANS_TOO_LARGE beyond). *examined (may be NULL) gets
 * how many storages the searches yielded in all: the work done. */
plans_status plans_build(plans *p, plans_next_fn next, void *search, const room_map *rooms,
                         size_t max_arcs, uint64_t *examined) __attribute__((warn_unused_result));

/* plans_build with rooms from a callback: room(arg, storage_id, type, &room_kg) says the
 * room (false: none). */
typedef bool (*plans_room_fn)(void *arg, int64_t storage_id, uint32_t type, int64_t *room_kg);
plans_status plans_build_with(plans *p, plans_next_fn next, void *search, plans_room_fn room,
                              void *room_arg, size_t max_arcs, uint64_t *examined)
    __attribute__((warn_unused_result));

/* After plans_build: fn(arg, storage_id, type) for every storage the prefixes hold and
 * every type the batch hands over — the rooms the plans depend on (a caller that built
 * from estimates reads these, and builds again from what it read, until nothing new is
 * asked for). */
void plans_each_pair(const plans *p, void (*fn)(void *arg, int64_t storage_id, uint32_t type),
                     void *arg);

/* The nearest-first plan (after plans_build). */
plans_status plans_nearest(const plans *p, plans_result *out) __attribute__((warn_unused_result));

/* A flow network for plans_solver: nodes 0..node_count-1, arcs from[k] -> to[k] with
 * capacity[k] and cost[k] >= 0; the solver writes flow[k] for a maximum flow from source to
 * sink of least total cost and returns 0, or returns nonzero on failure. */
typedef struct {
    size_t node_count;
    size_t arc_count;
    const uint32_t *from, *to;
    const int64_t *capacity, *cost;
    uint32_t source, sink;
} plans_network;
typedef int (*plans_solver)(const plans_network *network, int64_t *flow, void *arg);

/* The min-cost plan (after plans_build), solved by solver. */
plans_status plans_min_cost(const plans *p, plans_solver solver, void *solver_arg,
                            plans_result *out) __attribute__((warn_unused_result));

#endif
