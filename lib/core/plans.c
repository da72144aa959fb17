/* Allocation plans (see plans.h): the prefixes, the nearest-first plan by the allocation
 * rule, and the min-cost network and its reading. */
#include "core/plans.h"

#include "core/alloc.h"
#include "core/pmap.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t storage_id;
    int64_t distance_m;
    size_t storage; /* index into the plan's storages */
} plans_candidate;

typedef struct {
    int64_t id;
    int64_t *kg;                 /* per type: the batch's total from this organization */
    plans_candidate *candidates; /* its prefix, in the rule's order */
    size_t candidate_count, candidate_cap;
} plans_org;

typedef struct {
    size_t org; /* index into orgs */
    int64_t *kg;
} plans_hand_over;

struct plans {
    uint32_t type_count;
    plans_org *orgs;
    size_t org_count, org_cap;
    pmap org_index; /* organization id -> index + 1 */
    plans_hand_over *hand_overs;
    size_t hand_over_count, hand_over_cap;
    int64_t *batch_kg; /* per type: the batch's total */
    /* The storages the prefixes hold, with their rooms per type at the start. */
    int64_t *storage_ids;
    int64_t *storage_rooms; /* storage_count x type_count */
    size_t storage_count, storage_cap;
    pmap storage_index; /* storage id -> index + 1 */
    bool built;
};

static bool grow(void **array, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) {
        return true;
    }
    size_t next = *cap < 16 ? 16 : *cap * 2;
    while (next < need) {
        next *= 2;
    }
    void *bigger = realloc(*array, next * size);
    if (bigger == NULL) {
        return false;
    }
    *array = bigger;
    *cap = next;
    return true;
}

static bool add_checked(int64_t *sum, int64_t value)
{
    return !__builtin_add_overflow(*sum, value, sum);
}

plans *plans_new(uint32_t type_count)
{
    plans *p = type_count > 0 ? calloc(1, sizeof *p) : NULL;
    if (p == NULL) {
        return NULL;
    }
    p->type_count = type_count;
    p->batch_kg = calloc(type_count > 0 ? type_count : 1, sizeof *p->batch_kg);
    if (p->batch_kg == NULL) {
        free(p);
        return NULL;
    }
    return p;
}

void plans_free(plans *p)
{
    if (p == NULL) {
        return;
    }
    for (size_t i = 0; i < p->org_count; i++) {
        free(p->orgs[i].kg);
        free(p->orgs[i].candidates);
    }
    for (size_t i = 0; i < p->hand_over_count; i++) {
        free(p->hand_overs[i].kg);
    }
    free(p->orgs);
    free(p->hand_overs);
    free(p->batch_kg);
    free(p->storage_ids);
    free(p->storage_rooms);
    pmap_clear(&p->org_index, NULL);
    pmap_clear(&p->storage_index, NULL);
    free(p);
}

void plans_result_free(plans_result *result)
{
    free(result->shipments);
    free(result->unplaced_kg);
    memset(result, 0, sizeof *result);
}

plans_status plans_add(plans *p, int64_t organization_id, const int64_t *kg)
{
    size_t types = p->type_count;
    /* Totals first, on copies, so a refused hand-over changes nothing. */
    int64_t *batch = malloc((types > 0 ? types : 1) * sizeof *batch);
    if (batch == NULL) {
        return PLANS_NO_MEMORY;
    }
    memcpy(batch, p->batch_kg, types * sizeof *batch);
    uint64_t found;
    bool known = pmap_get(&p->org_index, (uint64_t)organization_id, &found);
    for (uint32_t t = 0; t < types; t++) {
        int64_t org_total = known ? p->orgs[found - 1].kg[t] : 0;
        if (!add_checked(&batch[t], kg[t]) || !add_checked(&org_total, kg[t])) {
            free(batch);
            return PLANS_OVERFLOW;
        }
    }
    plans_hand_over hand_over = {0};
    hand_over.kg = malloc((types > 0 ? types : 1) * sizeof *hand_over.kg);
    if (hand_over.kg == NULL || !grow((void **)&p->hand_overs, &p->hand_over_cap,
                                      p->hand_over_count + 1, sizeof *p->hand_overs)) {
        goto fail;
    }
    memcpy(hand_over.kg, kg, types * sizeof *kg);
    if (!known) {
        if (!grow((void **)&p->orgs, &p->org_cap, p->org_count + 1, sizeof *p->orgs)) {
            goto fail;
        }
        plans_org org = {.id = organization_id};
        org.kg = calloc(types > 0 ? types : 1, sizeof *org.kg);
        if (org.kg == NULL) {
            goto fail;
        }
        if (!pmap_put(&p->org_index, (uint64_t)organization_id, p->org_count + 1, NULL)) {
            free(org.kg);
            goto fail;
        }
        p->orgs[p->org_count] = org;
        found = ++p->org_count;
    }
    plans_org *org = &p->orgs[found - 1];
    for (uint32_t t = 0; t < types; t++) {
        org->kg[t] += kg[t];
    }
    memcpy(p->batch_kg, batch, types * sizeof *batch);
    hand_over.org = found - 1;
    p->hand_overs[p->hand_over_count++] = hand_over;
    free(batch);
    return PLANS_OK;
fail:
    free(hand_over.kg);
    free(batch);
    return PLANS_NO_MEMORY;
}

size_t plans_organization_count(const plans *p)
{
    return p->org_count;
}

int64_t plans_organization_id(const plans *p, size_t index)
{
    return p->orgs[index].id;
}

typedef struct {
    plans_room_fn fn;
    void *arg;
} room_source;

static bool room_of(const room_source *rooms, int64_t storage_id, uint32_t type, int64_t *room)
{
    return rooms->fn(rooms->arg, storage_id, type, room);
}

static bool map_room(void *arg, int64_t storage_id, uint32_t type, int64_t *room_kg)
{
    return room_map_get(arg, storage_id, type, room_kg);
}

/* Adds a storage with its rooms (type_count of them); its index, or SIZE_MAX on allocation
 * failure. */
static size_t storage_add(plans *p, int64_t storage_id, const int64_t *rooms)
{
    size_t types = p->type_count;
    size_t cap = p->storage_cap;
    if (!grow((void **)&p->storage_ids, &cap, p->storage_count + 1, sizeof *p->storage_ids)) {
        return SIZE_MAX;
    }
    size_t room_cap = p->storage_cap;
    if (!grow((void **)&p->storage_rooms, &room_cap, (p->storage_count + 1),
              types * sizeof *p->storage_rooms)) {
        return SIZE_MAX;
    }
    /* Both arrays grow in step, so one capacity serves them. */
    p->storage_cap = cap < room_cap ? cap : room_cap;
    size_t index = p->storage_count;
    if (!pmap_put(&p->storage_index, (uint64_t)storage_id, index + 1, NULL)) {
        return SIZE_MAX;
    }
    p->storage_ids[index] = storage_id;
    memcpy(&p->storage_rooms[index * types], rooms, types * sizeof *rooms);
    p->storage_count++;
    return index;
}

plans_status plans_build(plans *p, plans_next_fn next, void *search, const room_map *rooms,
                         size_t max_arcs, uint64_t *examined)
{
    return plans_build_with(p, next, search, map_room, (void *)rooms, max_arcs, examined);
}

plans_status plans_build_with(plans *p, plans_next_fn next, void *search, plans_room_fn room_fn,
                              void *room_arg, size_t max_arcs, uint64_t *examined)
{
    const room_source source = {room_fn, room_arg};
    const room_source *rooms = &source;
    size_t types = p->type_count;
    uint64_t yielded = 0;
    size_t arcs = 0;
    plans_status status = PLANS_OK;
    int64_t *uncovered = malloc((types > 0 ? types : 1) * sizeof *uncovered);
    int64_t *fetched = malloc((types > 0 ? types : 1) * sizeof *fetched);
    if (uncovered == NULL || fetched == NULL) {
        free(uncovered);
        free(fetched);
        return PLANS_NO_MEMORY;
    }
    for (size_t o = 0; o < p->org_count && status == PLANS_OK; o++) {
        plans_org *org = &p->orgs[o];
        size_t open = 0; /* types whose prefix room does not cover the batch yet */
        for (uint32_t t = 0; t < types; t++) {
            uncovered[t] = org->kg[t] > 0 ? p->batch_kg[t] : 0;
            open += uncovered[t] > 0;
        }
        int64_t storage_id, distance_m;
        while (open > 0 && next(search, o, &storage_id, &distance_m)) {
            yielded++;
            /* A storage another prefix holds already has its rooms; else they are asked
             * for once here. */
            uint64_t found;
            size_t s = SIZE_MAX;
            const int64_t *room = fetched;
            if (pmap_get(&p->storage_index, (uint64_t)storage_id, &found)) {
                s = (size_t)found - 1;
                room = &p->storage_rooms[s * types];
            } else {
                for (uint32_t t = 0; t < types; t++) {
                    if (!room_of(rooms, storage_id, t, &fetched[t]) || fetched[t] < 0) {
                        fetched[t] = 0;
                    }
                }
            }
            bool useful = false;
            for (uint32_t t = 0; t < types && !useful; t++) {
                useful = uncovered[t] > 0 && room[t] > 0;
            }
            if (!useful) {
                continue;
            }
            if (s == SIZE_MAX) {
                s = storage_add(p, storage_id, fetched);
                room = fetched; /* the same values, and valid even when the add failed */
            }
            if (s == SIZE_MAX || !grow((void **)&org->candidates, &org->candidate_cap,
                                       org->candidate_count + 1, sizeof *org->candidates)) {
                status = PLANS_NO_MEMORY;
                break;
            }
            org->candidates[org->candidate_count++] =
                (plans_candidate){.storage_id = storage_id, .distance_m = distance_m, .storage = s};
            for (uint32_t t = 0; t < types; t++) {
                if (uncovered[t] > 0 && room[t] > 0) {
                    arcs++;
                    uncovered[t] -= room[t] < uncovered[t] ? room[t] : uncovered[t];
                    open -= uncovered[t] == 0;
                }
            }
            if (arcs > max_arcs) {
                status = PLANS_TOO_LARGE;
                break;
            }
        }
    }
    free(fetched);
    free(uncovered);
    if (examined != NULL) {
        *examined = yielded;
    }
    p->built = status == PLANS_OK;
    return status;
}

void plans_each_pair(const plans *p, void (*fn)(void *arg, int64_t storage_id, uint32_t type),
                     void *arg)
{
    for (size_t s = 0; s < p->storage_count; s++) {
        for (uint32_t t = 0; t < p->type_count; t++) {
            if (p->batch_kg[t] > 0) {
                fn(arg, p->storage_ids[s], t);
            }
        }
    }
}

static plans_status result_start(const plans *p, plans_result *out)
{
    memset(out, 0, sizeof *out);
    out->unplaced_kg = calloc(p->type_count > 0 ? p->type_count : 1, sizeof *out->unplaced_kg);
    return out->unplaced_kg == NULL ? PLANS_NO_MEMORY : PLANS_OK;
}

/* Appends a shipment, counting it into placed_kg and kg_m. */
static plans_status result_ship(plans_result *out, size_t *cap, plans_shipment shipment)
{
    int64_t kg_m;
    if (__builtin_mul_overflow(shipment.amount_kg, shipment.distance_m, &kg_m) ||
        !add_checked(&out->kg_m, kg_m) || !add_checked(&out->placed_kg, shipment.amount_kg)) {
        return PLANS_OVERFLOW;
    }
    if (!grow((void **)&out->shipments, cap, out->shipment_count + 1, sizeof *out->shipments)) {
        return PLANS_NO_MEMORY;
    }
    out->shipments[out->shipment_count++] = shipment;
    return PLANS_OK;
}

plans_status plans_nearest(const plans *p, plans_result *out)
{
    size_t types = p->type_count;
    plans_status status = result_start(p, out);
    size_t cap = 0;
    /* The room the hand-overs before leave, per prefix storage. */
    int64_t *room =
        malloc((p->storage_count * types > 0 ? p->storage_count * types : 1) * sizeof *room);
    if (status != PLANS_OK || room == NULL) {
        status = PLANS_NO_MEMORY;
        goto done;
    }
    if (p->storage_count > 0) {
        memcpy(room, p->storage_rooms, p->storage_count * types * sizeof *room);
    }
    for (size_t h = 0; h < p->hand_over_count && status == PLANS_OK; h++) {
        const plans_hand_over *hand_over = &p->hand_overs[h];
        const plans_org *org = &p->orgs[hand_over->org];
        for (uint32_t t = 0; t < types && status == PLANS_OK; t++) {
            int64_t remaining = hand_over->kg[t];
            /* The prefix is in the rule's order already; the rule's step decides. */
            for (size_t c = 0; c < org->candidate_count && remaining > 0; c++) {
                int64_t *left = &room[org->candidates[c].storage * types + t];
                alloc_candidate candidate = {.storage_id = org->candidates[c].storage_id,
                                             .distance_m = org->candidates[c].distance_m,
                                             .room_kg = *left};
                alloc_shipment taken;
                if (!alloc_take(&candidate, &remaining, &taken)) {
                    continue;
                }
                *left -= taken.amount_kg;
                status = result_ship(out, &cap,
                                     (plans_shipment){.organization_id = org->id,
                                                      .storage_id = taken.storage_id,
                                                      .type = t,
                                                      .amount_kg = taken.amount_kg,
                                                      .distance_m = taken.distance_m});
                if (status != PLANS_OK) {
                    break;
                }
            }
            out->unplaced_kg[t] += remaining;
        }
    }
done:
    free(room);
    if (status != PLANS_OK) {
        plans_result_free(out);
    }
    return status;
}

plans_status plans_min_cost(const plans *p, plans_solver solver, void *solver_arg,
                            plans_result *out)
{
    size_t types = p->type_count;
    plans_status status = result_start(p, out);
    if (status != PLANS_OK) {
        return status;
    }
    /* Nodes: source 0, sink 1, then one per (organization, type) it hands over and one per
     * (storage, type) with room that some prefix holds. Arcs: source -> organization (its
     * kilograms), organization -> storage (at the distance, capacity its kilograms),
     * storage -> sink (its room). */
    size_t org_arcs = 0, pair_nodes = 0;
    for (size_t o = 0; o < p->org_count; o++) {
        for (uint32_t t = 0; t < types; t++) {
            if (p->orgs[o].kg[t] > 0) {
                pair_nodes++;
                org_arcs += p->orgs[o].candidate_count;
            }
        }
    }
    size_t storage_pairs = p->storage_count * types;
    size_t max_arcs = pair_nodes + org_arcs + storage_pairs;
    size_t cap = 0;
    uint32_t *from = malloc((max_arcs + 1) * sizeof *from);
    uint32_t *to = malloc((max_arcs + 1) * sizeof *to);
    int64_t *capacity = malloc((max_arcs + 1) * sizeof *capacity);
    int64_t *cost = malloc((max_arcs + 1) * sizeof *cost);
    int64_t *flow = calloc(max_arcs + 1, sizeof *flow);
    /* Node of (storage, type), 0 while it has none. */
    uint32_t *storage_node = calloc(storage_pairs + 1, sizeof *storage_node);
    if (from == NULL || to == NULL || capacity == NULL || cost == NULL || flow == NULL ||
        storage_node == NULL) {
        status = PLANS_NO_MEMORY;
        goto done;
    }
    if (2 + pair_nodes + storage_pairs > UINT32_MAX) {
        status = PLANS_TOO_LARGE;
        goto done;
    }
    size_t nodes = 2, arcs = 0;
    for (size_t o = 0; o < p->org_count; o++) {
        const plans_org *org = &p->orgs[o];
        for (uint32_t t = 0; t < types; t++) {
            if (org->kg[t] <= 0) {
                continue;
            }
            uint32_t org_node = (uint32_t)nodes++;
            from[arcs] = 0, to[arcs] = org_node, capacity[arcs] = org->kg[t], cost[arcs] = 0;
            arcs++;
            for (size_t c = 0; c < org->candidate_count; c++) {
                size_t pair = org->candidates[c].storage * types + t;
                if (p->storage_rooms[pair] <= 0) {
                    continue;
                }
                if (storage_node[pair] == 0) {
                    storage_node[pair] = (uint32_t)nodes++;
                }
                from[arcs] = org_node, to[arcs] = storage_node[pair];
                capacity[arcs] = org->kg[t], cost[arcs] = org->candidates[c].distance_m;
                arcs++;
            }
        }
    }
    for (size_t pair = 0; pair < storage_pairs; pair++) {
        if (storage_node[pair] != 0) {
            from[arcs] = storage_node[pair], to[arcs] = 1;
            capacity[arcs] = p->storage_rooms[pair], cost[arcs] = 0;
            arcs++;
        }
    }
    plans_network network = {.node_count = nodes,
                             .arc_count = arcs,
                             .from = from,
                             .to = to,
                             .capacity = capacity,
                             .cost = cost,
                             .source = 0,
                             .sink = 1};
    if (solver(&network, flow, solver_arg) != 0) {
        status = PLANS_SOLVER;
        goto done;
    }
    /* Read the flows back in the order the arcs were built: by organization, type and the
     * rule's order. */
    size_t arc = 0;
    for (size_t o = 0; o < p->org_count && status == PLANS_OK; o++) {
        const plans_org *org = &p->orgs[o];
        for (uint32_t t = 0; t < types && status == PLANS_OK; t++) {
            if (org->kg[t] <= 0) {
                continue;
            }
            int64_t shipped = 0;
            arc++; /* the source's arc */
            for (size_t c = 0; c < org->candidate_count && status == PLANS_OK; c++) {
                if (p->storage_rooms[org->candidates[c].storage * types + t] <= 0) {
                    continue;
                }
                int64_t amount = flow[arc++];
                if (amount > 0) {
                    shipped += amount;
                    status =
                        result_ship(out, &cap,
                                    (plans_shipment){.organization_id = org->id,
                                                     .storage_id = org->candidates[c].storage_id,
                                                     .type = t,
                                                     .amount_kg = amount,
                                                     .distance_m = org->candidates[c].distance_m});
                }
            }
            out->unplaced_kg[t] += org->kg[t] - shipped;
        }
    }
done:
    free(from);
    free(to);
    free(capacity);
    free(cost);
    free(flow);
    free(storage_node);
    if (status != PLANS_OK) {
        plans_result_free(out);
    }
    return status;
}
