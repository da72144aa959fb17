/* The storages that accept one waste type, as the storage view's index for a type filter:
 * a sorted set of storage ids, read once for a type that few storages accept. With it a
 * filtered view knows which of the storages a search yields can be shown, when the search
 * has yielded every one it could (so it stops there instead of expanding the whole graph),
 * and exactly which storages are left for the unreachable part of the list (instead of
 * scanning every id range). A type no storage accepts is an empty set: an empty page, no
 * search. Pure: no I/O; the set is the caller's memory. */
#ifndef WF_CORE_TYPE_MEMBERS_H
#define WF_CORE_TYPE_MEMBERS_H

#include "core/graph.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const int64_t *ids; /* ascending, distinct */
    size_t count;
} type_members;

/* Sorts ids ascending and drops repeats, in place; returns the new count. */
size_t type_members_normalize(int64_t *ids, size_t count) __attribute__((warn_unused_result));

/* Whether storage_id accepts the type. O(log count). */
bool type_members_has(const type_members *members, int64_t storage_id)
    __attribute__((warn_unused_result));

/* How many of the members a search from an organization can yield: those the graph holds
 * (a storage without roads is never reached), and, when reachable is given (the ascending
 * ids of every storage the organization reaches, reachable_count of them), only those in
 * it. A search that has yielded this many members has yielded all it ever will. */
size_t type_members_reachable(const type_members *members, const graph *g, const int64_t *reachable,
                              size_t reachable_count) __attribute__((warn_unused_result));

/* The members after after_id (ascending) that the organization does not reach: not in the
 * graph, or not in reachable (ascending; reachable_count 0 with a NULL array: reaches none).
 * Writes up to cap of them into out in id order and returns how many there are in all. */
size_t type_members_unreached(const type_members *members, const graph *g, int64_t after_id,
                              const int64_t *reachable, size_t reachable_count, int64_t *out,
                              size_t cap) __attribute__((warn_unused_result));

/* The members after after_id (ascending) without a road: what is left unreached once a
 * search has yielded every member the graph holds. Written and counted as
 * type_members_unreached does. */
size_t type_members_roadless(const type_members *members, const graph *g, int64_t after_id,
                             int64_t *out, size_t cap) __attribute__((warn_unused_result));

/* Whether any member is a node of the graph (a road touches it). */
bool type_members_any_in_graph(const type_members *members, const graph *g)
    __attribute__((warn_unused_result));

#endif
