/* The whole plan of one transfer, from plain values (docs/design.md, "The allocation rule"): what
 * the organization holds pending and may hold on site, what it hands over now, and the candidate
 * storages of each waste type with their distance and room. Out come the shipments (the allocation
 * rule of alloc.h, type by type), what stays pending, and whether that breaks an on-site limit.
 * Pure: the transfer engine (lib/engine/transfer.c) only fetches the inputs and writes the result.
 */
#ifndef WF_CORE_TRANSFER_PLAN_H
#define WF_CORE_TRANSFER_PLAN_H

#include "core/alloc.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PLAN_NO_LIMIT (-1) /* an organization type without an on-site capacity */

/* One of the organization's rows: a type it has a limit for or waste pending of. */
typedef struct {
    const char *code;
    int64_t capacity_kg; /* on-site limit, PLAN_NO_LIMIT when none */
    int64_t pending_kg;  /* >= 0 */
} plan_holding;

/* A quantity handed over (0..10^12 kg, codes unique within one request). */
typedef struct {
    const char *code;
    int64_t kg;
} plan_quantity;

/* One waste type of the transfer. */
typedef struct {
    const char *code;
    int64_t capacity_kg; /* on-site limit, PLAN_NO_LIMIT when none */
    int64_t pending_kg;  /* before the transfer */
    int64_t received_kg; /* handed over by it */
    int64_t left_kg;     /* pending after it: pending + received - shipped */
    bool overflow;       /* pending + received does not fit in int64 (left_kg is then 0) */
} plan_type;

/* A storage that may take waste of types[type] (distance_m < 0 when unreachable). */
typedef struct {
    size_t type;
    alloc_candidate candidate;
} plan_candidate;

typedef struct {
    size_t type; /* index into the plan's types */
    int64_t storage_id;
    int64_t amount_kg;
    int64_t distance_m;
} plan_shipment;

/* Merges holdings (codes unique) and what is handed over (codes unique) into out, one entry
 * per code, sorted by code; a received type the organization has no row for gets no limit.
 * left_kg starts at pending + received. out needs holding_count + received_count slots.
 * Returns the number of types. */
size_t plan_types(const plan_holding *holdings, size_t holding_count, const plan_quantity *received,
                  size_t received_count, plan_type *out);

/* The index of the first type whose pending + received overflows, or -1. */
long plan_first_overflow(const plan_type *types, size_t type_count);

/* Ships every type's left_kg, in code order, each by the allocation rule over its own
 * candidates; candidates is reordered in place. Writes at most candidate_count shipments
 * into out, ordered by type and then by (distance, storage id), lowers left_kg by what
 * each type shipped and returns the number of shipments. Candidates of a type with
 * nothing left, unreachable ones and full ones ship nothing. */
size_t plan_ship(plan_type *types, size_t type_count, plan_candidate *candidates,
                 size_t candidate_count, plan_shipment *out) __attribute__((warn_unused_result));

/* The index of the first type whose left_kg exceeds its on-site capacity, or -1: such a
 * transfer must not happen (409). */
long plan_first_over_capacity(const plan_type *types, size_t type_count);

#endif
