/* Transfers — the heart of the service. How one transfer goes, top-down:
 *
 *   POST /v1/organizations/{id}/transfers      lib/api/routes_table.c -> handle_transfers_create
 *     reads {"waste": {...}}                   lib/api/transfers.c
 *     transfer_request()                       here
 *   (C)      read-ahead (read_ahead()): the plan (lib/core/placement.h) made on this
 *            instance's current graph with what is handed over: the organization's storages
 *            come nearest first from a shortest-path search, and for each type the plan
 *            reads ahead only as far as this instance's room hints say it must
 *   round 1  BEGIN; check the waste types, lock the organization row and read the graph
 *            version, now(), the new transfer id and its block of shipment (movement) ids
 *            (one statement); read its pending and on-site limits; read the rooms the
 *            read-ahead asked for, locking just the rows that have room, in storage id
 *            order (request_locked())
 *   (round)  only when this instance's graph is stale: load the road graph (graph_loaded())
 *   (C)      the plan again, with what round 1 read (start_plan(), transfer_plan_round()):
 *            on the read-ahead's search when the graph is still current
 *   (rounds) only when the plan wants more — pending waste the read-ahead did not know of,
 *            a moved graph, or hints that were wrong (another transaction took the room):
 *            more room reads (rooms_read()) — a read that would lock out of id order uses
 *            NOWAIT, and a busy row starts the transaction over rather than risking a
 *            deadlock
 *            — each room read also says whether its storage is weighed: a load to it travels
 *            (in transit, its kilograms reserved rather than stocked; docs/movements.md)
 *   round 2  one statement writes the ledger rows, the guarded stock and reservations, the
 *            new pending and pending_since; ['movement' events, when a load travels];
 *            [idempotency record]; COMMIT (transfer_record_request())
 *
 * Everything runs at READ COMMITTED. What a transfer ships comes only from rooms it read
 * itself, under the locks it holds until COMMIT; a storage read as full is not locked,
 * which is safe: the transfer then serializes before whatever frees that room (and that
 * change makes the dispatcher look again). Lock order is always organization rows (by
 * id), then storage rows by id. A dry run is the same, without the read-ahead, in one
 * REPEATABLE READ snapshot with no locks. Automatic dispatch (transfer_dispatch) runs a batch of
 * organizations through the same plan, each after the ones before it, in one transaction. */
#include "engine/transfer_internal.h"

#include "core/placement.h"
#include "core/plans.h"
#include "engine/graph_cache.h"
#include "engine/room_hints.h"
#include "engine/statements.h"
#include "engine/storage_order.h"
#include "flow/plans_flow.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/metrics.h"

#include <stdlib.h>
#include <string.h>

static void attempt_reset(transfer_job *job)
{
    for (size_t i = 0; i < job->org_count; i++) {
        storage_order_free(job->orgs[i].order);
    }
    job->orgs = NULL;
    job->org_count = 0;
    placement_free(job->plan);
    job->plan = NULL;
    graph_snapshot_release(job->snapshot);
    job->snapshot = NULL;
    job->reading = NULL;
    job->reading_count = 0;
    job->max_locked_id = 0;
    job->rows_locked = 0;
    job->read_rounds = 0;
    job->weighed = NULL;
    job->weighed_count = job->weighed_cap = 0;
    job->extra_blocks = NULL;
    job->extra_block_count = 0;
    room_map_free(job->fresh);
    job->fresh = NULL;
    graph_search_free(job->cost_search);
    job->cost_search = NULL;
    job->cost_rounds = 0;
}

/* The read-ahead's search and graph (read_ahead): dropped once the plan has taken them or
 * cannot use them, and with the tx if no attempt got that far (job_release). */
static void ahead_drop(transfer_job *job)
{
    storage_order_free(job->ahead_order); /* before the graph it searches */
    job->ahead_order = NULL;
    graph_snapshot_release(job->ahead_snapshot);
    job->ahead_snapshot = NULL;
}

/* The tx is freed: what the last attempt held, and a read-ahead no attempt used. */
static void job_release(void *arg)
{
    attempt_reset(arg);
    ahead_drop(arg);
}

static bool is_weighed(const transfer_job *job, int64_t storage_id)
{
    for (size_t i = 0; i < job->weighed_count; i++) {
        if (job->weighed[i] == storage_id) {
            return true;
        }
    }
    return false;
}

void transfer_note_weighed(tx *t, transfer_job *job, int64_t storage_id)
{
    if (is_weighed(job, storage_id)) {
        return;
    }
    if (job->weighed_count == job->weighed_cap) {
        size_t cap = job->weighed_cap ? job->weighed_cap * 2 : 8;
        int64_t *grown = TX_ARRAY(t, int64_t, cap);
        if (job->weighed_count > 0) {
            memcpy(grown, job->weighed, job->weighed_count * sizeof *grown);
        }
        job->weighed = grown;
        job->weighed_cap = cap;
    }
    job->weighed[job->weighed_count++] = storage_id;
}

/* ---------------------------------------------------------------- planning */

uint32_t transfer_key_of(tx *t, const char *code)
{
    return room_hints_key(tx_app(t)->hints, code);
}

/* The rows a room read (query q) locked: they count for the lock order of later reads. */
static void rooms_locked(transfer_job *job, const db_result *result, int q)
{
    if (job->dry_run) {
        return;
    }
    for (int row = 0; row < db_rows(result, q); row++) {
        int64_t storage_id = db_int64(result, q, row, 0);
        job->rows_locked++;
        job->max_locked_id = storage_id > job->max_locked_id ? storage_id : job->max_locked_id;
    }
}

/* A room read (query q, asked for the pairs `asked`) came back: fresh rooms for what it
 * returned, and 0 for what it did not. */
static void rooms_take(tx *t, transfer_job *job, const db_result *result, int q,
                       const place_pair *asked, size_t asked_count)
{
    room_hints *hints = tx_app(t)->hints;
    int rows = db_rows(result, q);
    for (int row = 0; row < rows; row++) {
        place_pair pair = {db_int64(result, q, row, 0),
                           transfer_key_of(t, db_text(result, q, row, 1))};
        int64_t room = db_int64(result, q, row, 2);
        if (db_text(result, q, row, 3)[0] == 't') {
            transfer_note_weighed(t, job, pair.storage_id);
        }
        placement_fresh(job->plan, pair, room);
        if (job->fresh != NULL) {
            (void)room_map_put(job->fresh, pair.storage_id, pair.type, room);
        }
        room_hints_saw(hints, pair.storage_id, pair.type, room);
        if (job->seen != NULL) {
            (void)room_map_put(job->seen, pair.storage_id, pair.type, room);
        }
    }
    rooms_locked(job, result, q);
    for (size_t i = 0; i < asked_count; i++) {
        if (!placement_is_fresh(job->plan, asked[i])) {
            placement_fresh(job->plan, asked[i], 0);
            if (job->fresh != NULL) {
                (void)room_map_put(job->fresh, asked[i].storage_id, asked[i].type, 0);
            }
            room_hints_saw(hints, asked[i].storage_id, asked[i].type, 0);
            if (job->seen != NULL) {
                (void)room_map_put(job->seen, asked[i].storage_id, asked[i].type, 0);
            }
        }
    }
}

static void rooms_read(tx *t, const db_result *result)
{
    transfer_job *job = tx_user(t);
    rooms_take(t, job, result, 0, job->reading, job->reading_count);
    transfer_plan_round(t, job);
}

/* Rows are locked in (storage id, type code) order, the same on every instance (type keys
 * are this instance's own numbering). */
static const room_hints *sorting_hints;

static int pair_order(const void *left, const void *right)
{
    const place_pair *a = left, *b = right;
    if (a->storage_id != b->storage_id) {
        return a->storage_id < b->storage_id ? -1 : 1;
    }
    return strcmp(room_hints_code(sorting_hints, a->type), room_hints_code(sorting_hints, b->type));
}

void transfer_sort_pairs(tx *t, place_pair *pairs, size_t count)
{
    sorting_hints = tx_app(t)->hints;
    qsort(pairs, count, sizeof *pairs, pair_order);
}

/* Numbers every organization's shipments from its block (then the extra blocks, in order)
 * and says which travel: the plan is final. */
static void planned(tx *t, transfer_job *job)
{
    size_t next_extra = 0;
    for (size_t i = 0; i < job->org_count; i++) {
        served *org = &job->orgs[i];
        size_t n = org->shipment_count ? org->shipment_count : 1;
        org->movement_ids = TX_ARRAY(t, int64_t, n);
        org->in_transit = TX_ARRAY(t, bool, n);
        int64_t block = org->id_block;
        for (size_t s = 0; s < org->shipment_count; s++) {
            if (s > 0 && s % ID_BLOCK == 0 && !job->dry_run) {
                block = next_extra < job->extra_block_count ? job->extra_blocks[next_extra++] : 0;
            }
            org->movement_ids[s] = job->dry_run ? 0 : block + (int64_t)(s % ID_BLOCK);
            org->in_transit[s] = is_weighed(job, org->shipments[s].storage_id);
        }
    }
    if (job->automatic) {
        transfer_record_batch(t, job);
    } else {
        transfer_record_request(t, job);
    }
}

static void blocks_read(tx *t, const db_result *result)
{
    transfer_job *job = tx_user(t);
    int rows = db_rows(result, 0);
    int64_t *blocks = TX_ARRAY(t, int64_t, rows > 0 ? (size_t)rows : 1);
    for (int row = 0; row < rows; row++) {
        blocks[row] = db_int64(result, 0, row, 0);
    }
    job->extra_blocks = blocks;
    job->extra_block_count = (size_t)rows;
    planned(t, job);
}

/* The shipments are final: ids for them (one more statement only when an organization has
 * more than a block of them), then the writes. */
void transfer_shipments_final(tx *t, transfer_job *job)
{
    size_t extra = 0;
    for (size_t i = 0; i < job->org_count; i++) {
        const served *org = &job->orgs[i];
        if (!job->dry_run && org->shipment_count > ID_BLOCK) {
            extra += (org->shipment_count - 1) / ID_BLOCK;
        }
    }
    if (extra > 0) {
        /* Rare: more shipments than a block holds; one more statement for the ids. */
        tx_q(t, ST_TR_SHIPMENT_BLOCKS, tx_int(t, (int64_t)extra));
        tx_next(t, blocks_read);
        return;
    }
    planned(t, job);
}

/* Queues a room read of pairs (sorted) with statement. */
static void queue_room_read(tx *t, int statement, const place_pair *pairs, size_t count)
{
    pg_array storages = {0}, types = {0};
    for (size_t i = 0; i < count; i++) {
        transfer_array_int(&storages, pairs[i].storage_id);
        transfer_array_code(&types, room_hints_code(tx_app(t)->hints, pairs[i].type));
    }
    tx_q(t, statement, transfer_array_done(t, &storages), transfer_array_done(t, &types));
}

/* The rooms plan wants read (placement_plan): into a short array first, and into one as
 * long as it wants (at most READ_CAP) only when that was too short. READ_CAP pairs are
 * 32 KB, two zeroed arrays a transfer; about 5 % of the service's CPU per transfer went to
 * zeroing them and to the arena blocks they took. */
static place_pair *plan_pairs(tx *t, placement *plan, size_t *count)
{
    enum { SHORT_READ = 32 };
    place_pair *pairs = TX_ARRAY(t, place_pair, SHORT_READ);
    *count = placement_plan(plan, pairs, SHORT_READ);
    size_t wanted = placement_wanted(plan);
    if (wanted > SHORT_READ) {
        size_t cap = wanted < READ_CAP ? wanted : READ_CAP;
        pairs = TX_ARRAY(t, place_pair, cap);
        *count = placement_plan(plan, pairs, cap);
    }
    return pairs;
}

void transfer_plan_round(tx *t, transfer_job *job)
{
    size_t count;
    place_pair *pairs = plan_pairs(t, job->plan, &count);
    if (count == 0) {
        for (size_t i = 0; i < job->org_count; i++) {
            served *org = &job->orgs[i];
            org->shipments = placement_shipments(job->plan, i, &org->shipment_count);
        }
        if (job->automatic && job->fresh != NULL && transfer_min_cost_fits(job)) {
            transfer_min_cost_round(t, job);
            return;
        }
        transfer_shipments_final(t, job);
        return;
    }
    transfer_sort_pairs(t, pairs, count);
    int statement = ST_TR_ROOMS;
    if (job->dry_run) {
        statement = ST_TR_ROOMS_PEEK;
    } else if (pairs[0].storage_id < job->max_locked_id) {
        statement = ST_TR_ROOMS_NOWAIT; /* would lock out of id order */
    }
    job->reading = pairs;
    job->reading_count = count;
    job->read_rounds++;
    queue_room_read(t, statement, pairs, count);
    tx_next(t, rooms_read);
}

static bool nothing_more(void *search, int64_t *storage_id, int64_t *distance_m)
{
    (void)search, (void)storage_id, (void)distance_m;
    return false;
}

/* With a current graph: plan every organization of the job, with the rooms a request read
 * ahead in its first round (ahead: that round's result, else NULL). */
static void start_plan(tx *t, transfer_job *job, const db_result *ahead)
{
    job->plan = placement_new(room_hints_map(tx_app(t)->hints));
    if (job->plan == NULL) {
        mem_exhausted(sizeof(placement *));
    }
    for (size_t i = 0; i < job->org_count; i++) {
        served *org = &job->orgs[i];
        bool to_place = false;
        for (size_t k = 0; k < org->type_count; k++) {
            to_place = to_place || org->types[k].left_kg > 0;
        }
        if (to_place) {
            /* The order the read-ahead was planned with, rewound, when the graph is the
             * same: the storages it settled are not searched for again. */
            org->order = job->ahead_order != NULL
                             ? job->ahead_order
                             : storage_order_new(job->snapshot, org->organization_id);
            job->ahead_order = NULL;
        }
        placement_add(job->plan, org->types, org->keys, org->type_count,
                      org->order != NULL ? storage_order_next : nothing_more, org->order);
    }
    storage_order_free(job->ahead_order); /* nothing to place after all */
    job->ahead_order = NULL;
    if (ahead != NULL) {
        rooms_take(t, job, ahead, 2, job->ahead, job->ahead_count);
    }
    transfer_plan_round(t, job);
}

static void graph_loaded(tx *t, const db_result *result)
{
    transfer_job *job = tx_user(t);
    job->snapshot = graph_cache_install(tx_app(t), result, 0);
    start_plan(t, job, NULL);
}

/* ahead: as for start_plan. When the graph must be brought up to date first, the rooms read
 * ahead are not used (their rows stay locked, and count for the lock order). */
static void with_graph(tx *t, transfer_job *job, int64_t version, const db_result *ahead)
{
    job->snapshot = graph_cache_get(tx_app(t), version);
    if (job->snapshot == NULL) {
        if (ahead != NULL) {
            rooms_locked(job, ahead, 2);
        }
        graph_cache_queue(t);
        tx_next(t, graph_loaded);
        return;
    }
    start_plan(t, job, ahead);
}

/* An organization's types from its rows (waste_type, capacity, pending from column first)
 * and what it receives; false (after answering 422) on overflow. */
static bool org_types(tx *t, transfer_job *job, served *org, const db_result *result, int q,
                      int first_row, int row_count, int first_column)
{
    plan_holding *holdings = TX_ARRAY(t, plan_holding, row_count > 0 ? (size_t)row_count : 1);
    for (int i = 0; i < row_count; i++) {
        int row = first_row + i;
        holdings[i] = (plan_holding){
            .code = tx_text(t, db_text(result, q, row, first_column)),
            .capacity_kg = db_is_null(result, q, row, first_column + 1)
                               ? PLAN_NO_LIMIT
                               : db_int64(result, q, row, first_column + 1),
            .pending_kg = db_int64(result, q, row, first_column + 2),
        };
    }
    org->types = TX_ARRAY(t, plan_type, (size_t)row_count + job->received_count + 1);
    org->type_count =
        plan_types(holdings, (size_t)row_count, job->received, job->received_count, org->types);
    long overflow = plan_first_overflow(org->types, org->type_count);
    if (overflow >= 0) {
        tx_invalid(t, arena_printf(tx_arena(t), "waste.%s", org->types[overflow].code),
                   "would make the pending amount larger than the service can count");
        return false;
    }
    org->keys = TX_ARRAY(t, uint32_t, org->type_count + 1);
    for (size_t k = 0; k < org->type_count; k++) {
        org->keys[k] = transfer_key_of(t, org->types[k].code);
    }
    return true;
}

/* Round 1 of a request: [organization (lock) + version/now/id/pending_since IS NULL, with
 * the received types checked; its waste rows]. */
static void request_locked(tx *t, const db_result *result)
{
    transfer_job *job = tx_user(t);
    attempt_reset(job);
    if (db_rows(result, 0) == 0) {
        tx_fail(t, PROBLEM_NOT_FOUND, "Organization not found.");
        return;
    }
    job->orgs = TX_NEW(t, served);
    job->org_count = 1;
    served *org = &job->orgs[0];
    org->organization_id = db_int64(result, 0, 0, 0);
    int64_t version = db_int64(result, 0, 0, 1);
    job->created_at = tx_text(t, db_text(result, 0, 0, 2));
    org->transfer_id = db_int64(result, 0, 0, 3);
    org->id_block = db_int64(result, 0, 0, 4);
    org->since_null = db_text(result, 0, 0, 5)[0] == 't' ? 1 : 0;
    if (!org_types(t, job, org, result, 1, 0, db_rows(result, 1), 0)) {
        return;
    }
    const db_result *ahead = job->ahead_count > 0 ? result : NULL;
    if (job->ahead_snapshot != NULL && job->ahead_snapshot->version == version) {
        job->snapshot = job->ahead_snapshot; /* the read-ahead's graph is current */
        job->ahead_snapshot = NULL;
        start_plan(t, job, ahead);
        return;
    }
    ahead_drop(job);
    with_graph(t, job, version, ahead);
}

/* Plans the request before its first round, on this instance's current graph and with the
 * waste handed over as if nothing were pending, and queues the room read that plan asks
 * for first: the rows are then read (and locked, after the organization's row, in id
 * order) in the round that locks the organization, instead of in a round of their own.
 * Round 1 finds out whether the guess held (request_locked): the graph is still current,
 * and nothing else was pending (else the plan asks for more, in more rounds). */
static void read_ahead(tx *t, transfer_job *job, int64_t organization_id)
{
    wf_app *app = tx_app(t);
    if (app->graph == NULL || job->received_count == 0) {
        return;
    }
    plan_type *types = TX_ARRAY(t, plan_type, job->received_count);
    size_t count = plan_types(NULL, 0, job->received, job->received_count, types);
    if (plan_first_overflow(types, count) >= 0) {
        return;
    }
    uint32_t *keys = TX_ARRAY(t, uint32_t, count);
    for (size_t k = 0; k < count; k++) {
        keys[k] = transfer_key_of(t, types[k].code);
    }
    graph_snapshot *snapshot = graph_cache_get(app, app->graph->version);
    storage_order *order = storage_order_new(snapshot, organization_id);
    placement *plan = placement_new(room_hints_map(app->hints));
    if (plan == NULL) {
        mem_exhausted(sizeof(placement *));
    }
    placement_add(plan, types, keys, count, storage_order_next, order);
    size_t pair_count;
    place_pair *pairs = plan_pairs(t, plan, &pair_count);
    placement_free(plan);
    storage_order_rewind(order);
    job->ahead_order = order;
    job->ahead_snapshot = snapshot;
    if (pair_count == 0) {
        return;
    }
    transfer_sort_pairs(t, pairs, pair_count);
    job->ahead = pairs;
    job->ahead_count = pair_count;
    queue_room_read(t, ST_TR_ROOMS, pairs, pair_count);
}

/* The received codes as a Postgres text[] literal (checked by ST_TR_LOCK_ORG). */
static const char *received_codes(tx *t, const transfer_job *job)
{
    pg_array codes = {0};
    for (size_t i = 0; i < job->received_count; i++) {
        transfer_array_code(&codes, job->received[i].code);
    }
    return transfer_array_done(t, &codes);
}

static transfer_job *job_start(tx *t, bool automatic)
{
    transfer_job *job = TX_NEW(t, transfer_job);
    job->automatic = automatic;
    tx_set_user(t, job);
    tx_on_free(t, job_release, job);
    return job;
}

void transfer_request(http_ctx *ctx, int64_t organization_id, const plan_quantity *received,
                      size_t received_count, bool dry_run, transfer_render_fn render)
{
    tx *t = tx_for(ctx);
    transfer_job *job = job_start(t, false);
    job->actor = tx_text(t, ctx->principal.actor);
    job->dry_run = dry_run;
    job->render = render;
    plan_quantity *copy = TX_ARRAY(t, plan_quantity, received_count ? received_count : 1);
    for (size_t i = 0; i < received_count; i++) {
        copy[i] = (plan_quantity){tx_text(t, received[i].code), received[i].kg};
    }
    job->received = copy;
    job->received_count = received_count;
    const char *organization = tx_int(t, organization_id);
    tx_q(t, dry_run ? ST_TR_PEEK_ORG : ST_TR_LOCK_ORG, organization, received_codes(t, job));
    tx_q(t, ST_TR_ORG_WASTE, organization);
    if (!dry_run) {
        read_ahead(t, job, organization_id);
    }
    /* A dry run reads one snapshot and locks nothing (docs/design.md, "Transfers"). */
    tx_run(t, dry_run ? TX_SNAPSHOT : TX_OPEN, request_locked);
}

/* ---------------------------------------------------------------- dispatch */

/* Round 1 of a batch: [the organizations locked (id, transfer id, now, version), the waste
 * rows of all asked for]. Busy ones are skipped; the rest keep the order asked for. */
static void batch_locked(tx *t, const db_result *result)
{
    transfer_job *job = tx_user(t);
    attempt_reset(job);
    if (job->min_cost) {
        /* The rooms this attempt reads (attempt_reset frees them); without the map (no
         * memory) the batch is served nearest-first. */
        job->fresh = room_map_new(MIN_COST_ROOMS);
    }
    int locked = db_rows(result, 0);
    job->outcome.organizations_busy = job->requested_count - (size_t)locked;
    if (locked == 0) {
        tx_finish(t);
        return;
    }
    job->orgs = TX_ARRAY(t, served, job->requested_count);
    job->created_at = tx_text(t, db_text(result, 0, 0, 2));
    int64_t version = db_int64(result, 0, 0, 3);
    int waste_rows = db_rows(result, 1);
    for (size_t i = 0; i < job->requested_count; i++) {
        int64_t id = job->requested[i];
        int row = 0;
        while (row < locked && db_int64(result, 0, row, 0) != id) {
            row++;
        }
        if (row == locked) {
            continue; /* busy */
        }
        served *org = &job->orgs[job->org_count++];
        org->organization_id = id;
        org->transfer_id = db_int64(result, 0, row, 1);
        org->id_block = db_int64(result, 0, row, 4);
        org->since_null = -1;
        int first = 0;
        while (first < waste_rows && db_int64(result, 1, first, 0) != id) {
            first++;
        }
        int count = 0;
        while (first + count < waste_rows && db_int64(result, 1, first + count, 0) == id) {
            count++;
        }
        if (!org_types(t, job, org, result, 1, first, count, 1)) {
            return; /* cannot happen: nothing is received */
        }
    }
    with_graph(t, job, version, NULL);
}

static void batch_done(tx *t, tx_outcome outcome)
{
    transfer_job *job = tx_user(t);
    job->outcome.ended = outcome;
    job->done(job->done_arg, &job->outcome);
}

void transfer_dispatch(wf_app *app, const int64_t *organization_ids, size_t count, room_map *seen,
                       int64_t deadline_ms, transfer_done_fn done, void *arg)
{
    tx *t = tx_background(app, deadline_ms, batch_done);
    transfer_job *job = job_start(t, true);
    job->actor = "dispatcher";
    job->min_cost = app->cfg->dispatch_min_cost && count > 1;
    job->done = done;
    job->done_arg = arg;
    job->seen = seen;
    int64_t *ids = TX_ARRAY(t, int64_t, count ? count : 1);
    memcpy(ids, organization_ids, count * sizeof *ids);
    job->requested = ids;
    job->requested_count = count;
    pg_array list = {0};
    for (size_t i = 0; i < count; i++) {
        transfer_array_int(&list, ids[i]);
    }
    const char *literal = transfer_array_done(t, &list);
    tx_q(t, ST_DISPATCH_LOCK, literal);
    tx_q(t, ST_DISPATCH_WASTE, literal);
    tx_run(t, TX_OPEN, batch_locked);
}
