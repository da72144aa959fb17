/* A transfer's plan (see transfer_plan.h). */
#include "core/transfer_plan.h"

#include <stdlib.h>
#include <string.h>

static int type_compare(const void *left, const void *right)
{
    return strcmp(((const plan_type *)left)->code, ((const plan_type *)right)->code);
}

size_t plan_types(const plan_holding *holdings, size_t holding_count, const plan_quantity *received,
                  size_t received_count, plan_type *out)
{
    size_t count = 0;
    for (size_t i = 0; i < holding_count; i++) {
        out[count++] = (plan_type){
            .code = holdings[i].code,
            .capacity_kg = holdings[i].capacity_kg,
            .pending_kg = holdings[i].pending_kg,
        };
    }
    for (size_t i = 0; i < received_count; i++) {
        plan_type *type = NULL;
        for (size_t k = 0; k < holding_count && type == NULL; k++) {
            if (strcmp(out[k].code, received[i].code) == 0) {
                type = &out[k];
            }
        }
        if (type == NULL) {
            type = &out[count++];
            *type = (plan_type){.code = received[i].code, .capacity_kg = PLAN_NO_LIMIT};
        }
        type->received_kg = received[i].kg;
    }
    if (count > 1) {
        qsort(out, count, sizeof *out, type_compare);
    }
    for (size_t k = 0; k < count; k++) {
        int64_t left;
        out[k].overflow = __builtin_add_overflow(out[k].pending_kg, out[k].received_kg, &left);
        out[k].left_kg = out[k].overflow ? 0 : left;
    }
    return count;
}

long plan_first_overflow(const plan_type *types, size_t type_count)
{
    for (size_t k = 0; k < type_count; k++) {
        if (types[k].overflow) {
            return (long)k;
        }
    }
    return -1;
}

/* By type, then in the allocation rule's order within a type. */
static int candidate_order(const void *left, const void *right)
{
    const plan_candidate *a = left;
    const plan_candidate *b = right;
    if (a->type != b->type) {
        return a->type < b->type ? -1 : 1;
    }
    return alloc_compare(&a->candidate, &b->candidate);
}

size_t plan_ship(plan_type *types, size_t type_count, plan_candidate *candidates,
                 size_t candidate_count, plan_shipment *out)
{
    if (candidate_count > 1) {
        qsort(candidates, candidate_count, sizeof *candidates, candidate_order);
    }
    size_t shipped = 0;
    for (size_t i = 0; i < candidate_count; i++) {
        size_t type = candidates[i].type;
        alloc_shipment shipment;
        if (type < type_count &&
            alloc_take(&candidates[i].candidate, &types[type].left_kg, &shipment)) {
            out[shipped++] =
                (plan_shipment){type, shipment.storage_id, shipment.amount_kg, shipment.distance_m};
        }
    }
    return shipped;
}

long plan_first_over_capacity(const plan_type *types, size_t type_count)
{
    for (size_t k = 0; k < type_count; k++) {
        if (types[k].capacity_kg != PLAN_NO_LIMIT && types[k].left_kg > types[k].capacity_kg) {
            return (long)k;
        }
    }
    return -1;
}
