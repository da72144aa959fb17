/* Dispatch by min-cost flow (engine/transfer.c has the whole story).
 * WASTEFLOW_DISPATCH_POLICY=min_cost. When the nearest-first plan of a batch places every pending
 * kilogram, the batch is placed instead at the least kg·m (core/plans.h): each organization's
 * storages, nearest first, until their room covers the batch's kilograms of its types; the rooms of
 * those storages read (and locked) like any other, in more rounds while a room read changes the
 * prefixes; then the min-cost flow over rooms all read in this transaction. A batch that does not
 * fit keeps the nearest-first plan (oldest first: fairness before distance), and so does one whose
 * prefixes cannot be settled in MIN_COST_ROUNDS reads. One organization alone is served optimally
 * by the rule itself, so it costs nothing more. */
#include "engine/transfer_internal.h"

#include "engine/room_hints.h"
#include "engine/statements.h"
#include "flow/plans_flow.h"
#include "util/log.h"
#include "util/mem.h"

#include <stdlib.h>
#include <string.h>

/* The most room reads min-cost dispatch adds to a batch before it settles for the
 * nearest-first plan, and the room it assumes where nothing is known (so the storage is
 * read). */
#define MIN_COST_ROUNDS    8
#define MIN_COST_ROOM_NONE INT64_C(1000000000000000)
#define MIN_COST_MAX_ARCS  200000

bool transfer_min_cost_fits(const transfer_job *job)
{
    if (job->org_count < 2) {
        return false;
    }
    for (size_t i = 0; i < job->org_count; i++) {
        for (size_t k = 0; k < job->orgs[i].type_count; k++) {
            if (job->orgs[i].types[k].left_kg > 0) {
                return false;
            }
        }
    }
    return true;
}

typedef struct {
    transfer_job *job;
    const plans *costs;
    const room_map *hints;
} cost_context;

/* A room for the prefixes: what this transaction read, else the dispatcher's view, else
 * the instance's hints (a storage they know without the type does not accept it), else
 * unknown, assumed large so that the storage is read. Only rooms this transaction read
 * decide what is shipped: the flow is solved once every prefix room is one of them. */
static bool estimate_room(void *arg, int64_t storage_id, uint32_t key, int64_t *room_kg)
{
    const cost_context *context = arg;
    if (room_map_get(context->job->fresh, storage_id, key, room_kg)) {
        return true;
    }
    const room_map *views[] = {context->job->seen, context->hints};
    for (size_t v = 0; v < sizeof views / sizeof views[0]; v++) {
        int64_t marker;
        if (views[v] == NULL) {
            continue;
        }
        if (room_map_get(views[v], storage_id, key, room_kg)) {
            return true;
        }
        if (room_map_get(views[v], storage_id, PLACEMENT_STORAGE_KNOWN, &marker)) {
            *room_kg = 0;
            return true;
        }
    }
    *room_kg = MIN_COST_ROOM_NONE;
    return true;
}

/* core/plans' next storage: one bounded search at a time, the organizations in order. */
static bool cost_next(void *arg, size_t index, int64_t *storage_id, int64_t *distance_m)
{
    const cost_context *context = arg;
    transfer_job *job = context->job;
    if (job->cost_search == NULL || job->cost_search_index != index) {
        graph_search_free(job->cost_search);
        node_ref source = {NODE_ORG, plans_organization_id(context->costs, index)};
        job->cost_search = graph_search_begin(job->snapshot->roads, source);
        job->cost_search_index = index;
        if (job->cost_search == NULL) {
            mem_exhausted(sizeof(graph_search *));
        }
    }
    return storage_search_next(job->cost_search, storage_id, distance_m);
}

typedef struct {
    const transfer_job *job;
    place_pair *pairs;
    size_t count, cap;
} unread_pairs;

static void note_unread(void *arg, int64_t storage_id, uint32_t key)
{
    unread_pairs *unread = arg;
    int64_t room;
    if (unread->count < unread->cap && !room_map_get(unread->job->fresh, storage_id, key, &room)) {
        unread->pairs[unread->count++] = (place_pair){storage_id, key};
    }
}

static int shipment_order(const void *left, const void *right)
{
    const plan_shipment *a = left, *b = right;
    if (a->type != b->type) {
        return a->type < b->type ? -1 : 1;
    }
    if (a->distance_m != b->distance_m) {
        return a->distance_m < b->distance_m ? -1 : 1;
    }
    return a->storage_id < b->storage_id ? -1 : a->storage_id > b->storage_id;
}

/* The min-cost plan replaces the nearest-first shipments (both place everything). */
static void apply_min_cost(tx *t, transfer_job *job, const plans_result *best)
{
    for (size_t i = 0; i < job->org_count; i++) {
        served *org = &job->orgs[i];
        size_t count = 0;
        for (size_t s = 0; s < best->shipment_count; s++) {
            count += best->shipments[s].organization_id == org->organization_id;
        }
        plan_shipment *shipments = TX_ARRAY(t, plan_shipment, count ? count : 1);
        size_t n = 0;
        for (size_t s = 0; s < best->shipment_count; s++) {
            const plans_shipment *from = &best->shipments[s];
            if (from->organization_id != org->organization_id) {
                continue;
            }
            size_t k = 0;
            while (k < org->type_count && org->keys[k] != from->type) {
                k++;
            }
            shipments[n++] = (plan_shipment){.type = k,
                                             .storage_id = from->storage_id,
                                             .amount_kg = from->amount_kg,
                                             .distance_m = from->distance_m};
        }
        qsort(shipments, n, sizeof *shipments, shipment_order);
        org->shipments = shipments;
        org->shipment_count = n;
    }
}

/* A room read of the min-cost plan: as rooms_read, for the prefixes. */
static void cost_rooms_read(tx *t, const db_result *result)
{
    transfer_job *job = tx_user(t);
    room_hints *hints = tx_app(t)->hints;
    int rows = db_rows(result, 0);
    for (int row = 0; row < rows; row++) {
        place_pair pair = {db_int64(result, 0, row, 0),
                           transfer_key_of(t, db_text(result, 0, row, 1))};
        int64_t room = db_int64(result, 0, row, 2);
        if (db_text(result, 0, row, 3)[0] == 't') {
            transfer_note_weighed(t, job, pair.storage_id);
        }
        (void)room_map_put(job->fresh, pair.storage_id, pair.type, room);
        room_hints_saw(hints, pair.storage_id, pair.type, room);
        if (job->seen != NULL) {
            (void)room_map_put(job->seen, pair.storage_id, pair.type, room);
        }
        job->rows_locked++;
        job->max_locked_id =
            pair.storage_id > job->max_locked_id ? pair.storage_id : job->max_locked_id;
    }
    for (size_t i = 0; i < job->reading_count; i++) {
        place_pair pair = job->reading[i];
        int64_t room;
        if (!room_map_get(job->fresh, pair.storage_id, pair.type, &room)) {
            (void)room_map_put(job->fresh, pair.storage_id, pair.type, 0);
            room_hints_saw(hints, pair.storage_id, pair.type, 0);
            if (job->seen != NULL) {
                (void)room_map_put(job->seen, pair.storage_id, pair.type, 0);
            }
        }
    }
    transfer_min_cost_round(t, job);
}

void transfer_min_cost_round(tx *t, transfer_job *job)
{
    uint32_t type_count = 0;
    int64_t total = 0;
    for (size_t i = 0; i < job->org_count; i++) {
        for (size_t k = 0; k < job->orgs[i].type_count; k++) {
            type_count =
                job->orgs[i].keys[k] + 1 > type_count ? job->orgs[i].keys[k] + 1 : type_count;
        }
    }
    plans *costs = plans_new(type_count);
    int64_t *kg = TX_ARRAY(t, int64_t, type_count ? type_count : 1);
    plans_status status = costs != NULL ? PLANS_OK : PLANS_NO_MEMORY;
    for (size_t i = 0; i < job->org_count && status == PLANS_OK; i++) {
        const served *org = &job->orgs[i];
        memset(kg, 0, type_count * sizeof *kg);
        for (size_t k = 0; k < org->type_count; k++) {
            const plan_type *type = &org->types[k];
            kg[org->keys[k]] = type->pending_kg + type->received_kg - type->left_kg;
            total += kg[org->keys[k]];
        }
        status = plans_add(costs, org->organization_id, kg);
    }
    cost_context context = {job, costs, room_hints_map(tx_app(t)->hints)};
    graph_search_free(job->cost_search);
    job->cost_search = NULL;
    if (status == PLANS_OK) {
        status = plans_build_with(costs, cost_next, &context, estimate_room, &context,
                                  MIN_COST_MAX_ARCS, NULL);
    }
    graph_search_free(job->cost_search);
    job->cost_search = NULL;
    if (status == PLANS_OK) {
        unread_pairs unread = {job, TX_ARRAY(t, place_pair, READ_CAP), 0, READ_CAP};
        plans_each_pair(costs, note_unread, &unread);
        if (unread.count > 0 && job->cost_rounds < MIN_COST_ROUNDS) {
            plans_free(costs);
            job->cost_rounds++;
            transfer_sort_pairs(t, unread.pairs, unread.count);
            pg_array storages = {0}, types = {0};
            for (size_t i = 0; i < unread.count; i++) {
                transfer_array_int(&storages, unread.pairs[i].storage_id);
                transfer_array_code(&types,
                                    room_hints_code(tx_app(t)->hints, unread.pairs[i].type));
            }
            job->reading = unread.pairs;
            job->reading_count = unread.count;
            job->read_rounds++;
            tx_q(t,
                 unread.pairs[0].storage_id < job->max_locked_id ? ST_TR_ROOMS_NOWAIT : ST_TR_ROOMS,
                 transfer_array_done(t, &storages), transfer_array_done(t, &types));
            tx_next(t, cost_rooms_read);
            return;
        }
        if (unread.count == 0) {
            plans_result best;
            status = plans_min_cost(costs, plans_flow_solve, NULL, &best);
            if (status == PLANS_OK) {
                if (best.placed_kg == total) {
                    apply_min_cost(t, job, &best);
                }
                plans_result_free(&best);
            }
        }
    }
    if (status != PLANS_OK) {
        log_event(LOG_WARN, "dispatch: the min-cost plan failed; nearest-first instead", NULL);
    }
    plans_free(costs);
    transfer_shipments_final(t, job);
}
