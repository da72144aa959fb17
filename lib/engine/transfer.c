/* Transfers — the heart of the service. How one transfer goes, top-down:
 *
 *   POST /v1/organizations/{id}/transfers      lib/api/routes_table.c -> handle_transfers_create
 *     reads {"waste": {...}}                   lib/api/transfers.c
 *     transfer_request()                       here
 *   round 1  BEGIN; check the waste types, lock the organization row and read the graph
 *            version, now(), the new transfer id and its block of shipment (movement) ids
 *            (one statement); read its pending and on-site limits (request_locked())
 *   (round)  only when this instance's graph is stale: load the road graph (graph_loaded())
 *   (C)      the plan (lib/core/placement.h): the organization's storages come nearest
 *            first from a shortest-path search, and for each type the plan reads ahead only
 *            as far as this instance's room hints say it must (plan_round())
 *   round 2  read the rooms the plan asked for, locking just the rows that have room, in
 *            storage id order (rooms_read()); when hints were wrong (another transaction
 *            took the room) the plan reads further, in more rounds — a read that would lock
 *            out of id order uses NOWAIT, and a busy row starts the transaction over rather
 *            than risking a deadlock
 *            — each room read also says whether its storage is weighed: a load to it travels
 *            (in transit, its kilograms reserved rather than stocked; docs/movements.md)
 *   round 3  one statement writes the ledger rows, the guarded stock and reservations, the
 *            new pending and pending_since; ['movement' events, when a load travels];
 *            [idempotency record]; COMMIT (record_request())
 *
 * Everything runs at READ COMMITTED. What a transfer ships comes only from rooms it read
 * itself, under the locks it holds until COMMIT; a storage read as full is not locked,
 * which is safe: the transfer then serializes before whatever frees that room (and that
 * change makes the dispatcher look again). Lock order is always organization rows (by
 * id), then storage rows by id. A dry run is the same in one REPEATABLE READ snapshot with
 * no locks. Automatic dispatch (transfer_dispatch) runs a batch of organizations through
 * the same plan, each after the ones before it, in one transaction. */
#include "engine/transfer.h"

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

/* The most pairs one room read asks for (a world of full storages reads in pages). */
#define READ_CAP 2048
/* Dispatch by min-cost flow (WASTEFLOW_DISPATCH_POLICY=min_cost): the most room reads it
 * adds to a batch before it settles for the nearest-first plan, the most (storage, type)
 * rooms it holds, and the room it assumes where nothing is known (so the storage is read). */
#define MIN_COST_ROUNDS    8
#define MIN_COST_ROOMS     (1u << 18)
#define MIN_COST_ROOM_NONE INT64_C(1000000000000000)
#define MIN_COST_MAX_ARCS  200000

/* One organization being served. */
typedef struct {
    int64_t organization_id;
    int64_t transfer_id;
    int64_t id_block; /* the first of the 64 shipment ids its transfer took */
    /* Whether its pending_since was NULL when its row was locked: 1 or 0, or -1 when not
     * read (dispatch), which writes it whatever it was. */
    int since_null;
    plan_type *types;
    uint32_t *keys;
    size_t type_count;
    storage_order *order; /* NULL when there is nothing to place */
    const plan_shipment *shipments;
    size_t shipment_count;
    int64_t *movement_ids; /* per shipment, once numbered */
    bool *in_transit;      /* per shipment: to a weighed storage */
} served;

typedef struct {
    const char *actor;
    bool automatic;
    bool dry_run;
    const plan_quantity *received; /* what the request hands over (kept across retries) */
    size_t received_count;
    const int64_t *requested; /* dispatch: the organizations asked for, oldest first */
    size_t requested_count;
    transfer_render_fn render;
    transfer_done_fn done;
    void *done_arg;
    transfer_outcome outcome;
    room_map *seen; /* dispatch: the dispatcher's view of rooms, kept up to date */
    bool min_cost;  /* dispatch: WASTEFLOW_DISPATCH_POLICY=min_cost */
    /* Per attempt (reset by attempt_reset). */
    served *orgs;
    size_t org_count;
    graph_snapshot *snapshot;
    placement *plan;
    place_pair *reading; /* the pairs of the room read in flight */
    size_t reading_count;
    int64_t max_locked_id;
    size_t rows_locked;
    size_t read_rounds;
    const char *created_at;
    /* The weighed storages among the rooms read (their loads travel): few, so a list. */
    int64_t *weighed;
    size_t weighed_count, weighed_cap;
    /* Further blocks of shipment ids, for organizations with more than one block's worth. */
    const int64_t *extra_blocks;
    size_t extra_block_count;
    /* min_cost: every room this attempt read (by type key), the search of the organization
     * whose prefix is being read, and how many room reads the min-cost plan added. */
    room_map *fresh;
    graph_search *cost_search;
    size_t cost_search_index;
    size_t cost_rounds;
} transfer_job;

/* How many shipment ids one nextval hands out (the sequence's increment, migration 013). */
#define ID_BLOCK 64

static void attempt_reset(void *arg)
{
    transfer_job *job = arg;
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

static bool is_weighed(const transfer_job *job, int64_t storage_id)
{
    for (size_t i = 0; i < job->weighed_count; i++) {
        if (job->weighed[i] == storage_id) {
            return true;
        }
    }
    return false;
}

static void note_weighed(tx *t, transfer_job *job, int64_t storage_id)
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

/* ---------------------------------------------------------------- arrays for SQL */

/* Postgres array literals, built item by item. */
typedef struct {
    strbuf text;
    size_t count;
} pg_array;

static void array_next(pg_array *a)
{
    strbuf_puts(&a->text, a->count++ ? "," : "{");
}

static void array_int(pg_array *a, int64_t value)
{
    array_next(a);
    strbuf_int(&a->text, value);
}

/* A waste type code: [a-z0-9_] only (schema CHECK), so it needs no quoting. */
static void array_code(pg_array *a, const char *code)
{
    array_next(a);
    strbuf_puts(&a->text, code);
}

static void array_bool(pg_array *a, bool value)
{
    array_next(a);
    strbuf_puts(&a->text, value ? "t" : "f");
}

/* Any text, quoted for an array literal. */
static void array_quoted(pg_array *a, const char *text)
{
    array_next(a);
    strbuf_puts(&a->text, "\"");
    for (const char *c = text; *c != '\0'; c++) {
        if (*c == '"' || *c == '\\') {
            strbuf_puts(&a->text, "\\");
        }
        strbuf_append(&a->text, c, 1);
    }
    strbuf_puts(&a->text, "\"");
}

/* The literal, copied into the tx's arena; the builder is freed. */
static const char *array_done(tx *t, pg_array *a)
{
    if (a->count == 0) {
        strbuf_puts(&a->text, "{");
    }
    strbuf_puts(&a->text, "}");
    const char *literal = tx_text(t, a->text.data);
    strbuf_free(&a->text);
    return literal;
}

/* {"glass": 10, ...} of the types whose received (or left) amount is positive. */
static void quantity_json(strbuf *out, const served *org, bool received)
{
    strbuf_puts(out, "{");
    size_t written = 0;
    for (size_t k = 0; k < org->type_count; k++) {
        int64_t kg = received ? org->types[k].received_kg : org->types[k].left_kg;
        if (kg > 0) {
            strbuf_printf(out, "%s\"%s\":", written++ ? "," : "", org->types[k].code);
            strbuf_int(out, kg);
        }
    }
    strbuf_puts(out, "}");
}

static void array_quantities(pg_array *a, const served *org, bool received)
{
    strbuf json = {0};
    quantity_json(&json, org, received);
    array_quoted(a, json.data);
    strbuf_free(&json);
}

/* ---------------------------------------------------------------- recording */

/* One (storage, type) the batch adds stock to. */
typedef struct {
    int64_t storage_id;
    const char *code;
    uint32_t key;
    int64_t amount_kg; /* into stock (an automatic storage) */
    int64_t held_kg;   /* reserved for a load in transit (a weighed storage) */
} stock_add;

static int stock_order(const void *left, const void *right)
{
    const stock_add *a = left, *b = right;
    if (a->storage_id != b->storage_id) {
        return a->storage_id < b->storage_id ? -1 : 1;
    }
    return strcmp(a->code, b->code);
}

static bool recorded(const served *org, bool automatic)
{
    if (org->shipment_count > 0) {
        return true;
    }
    if (automatic) {
        return false;
    }
    for (size_t k = 0; k < org->type_count; k++) {
        if (org->types[k].received_kg > 0) {
            return true;
        }
    }
    /* Received nothing, shipped nothing: no ledger row (docs/design.md, "Transfers"). */
    return false;
}

static void committed(tx *t, void *arg)
{
    transfer_job *job = arg;
    room_hints *hints = tx_app(t)->hints;
    size_t searched = job->plan != NULL ? placement_storages_seen(job->plan) : 0;
    metrics_count_transfer_cost(job->rows_locked, searched, job->read_rounds);
    for (size_t i = 0; i < job->org_count; i++) {
        const served *org = &job->orgs[i];
        if (!recorded(org, job->automatic)) {
            continue;
        }
        metrics_count_transfer(job->automatic ? "auto" : "request");
        for (size_t s = 0; s < org->shipment_count; s++) {
            const plan_shipment *shipment = &org->shipments[s];
            metrics_count_shipped(org->types[shipment->type].code, shipment->amount_kg);
            room_hints_shipped(hints, shipment->storage_id, org->keys[shipment->type],
                               shipment->amount_kg);
            if (job->seen != NULL) {
                (void)room_map_add(job->seen, shipment->storage_id, org->keys[shipment->type],
                                   -shipment->amount_kg);
            }
        }
    }
}

/* Queues the one statement that writes every recorded organization's transfer; returns
 * how many it records. */
static size_t queue_record(tx *t, transfer_job *job)
{
    pg_array ids = {0}, organizations = {0}, received = {0}, pending = {0};
    pg_array ship_id = {0}, ship_transfer = {0}, ship_position = {0}, ship_storage = {0},
             ship_type = {0}, ship_amount = {0}, ship_distance = {0}, ship_transit = {0};
    pg_array left_org = {0}, left_type = {0}, left_kg = {0};
    pg_array since_org = {0}, since_left = {0};
    pg_array travelling = {0};
    size_t shipments = 0;
    for (size_t i = 0; i < job->org_count; i++) {
        shipments += job->orgs[i].shipment_count;
    }
    stock_add *adds = TX_ARRAY(t, stock_add, shipments ? shipments : 1);
    size_t add_count = 0, transfers = 0;
    for (size_t i = 0; i < job->org_count; i++) {
        const served *org = &job->orgs[i];
        if (!recorded(org, job->automatic)) {
            continue;
        }
        transfers++;
        array_int(&ids, org->transfer_id);
        array_int(&organizations, org->organization_id);
        array_quantities(&received, org, true);
        array_quantities(&pending, org, false);
        for (size_t s = 0; s < org->shipment_count; s++) {
            const plan_shipment *shipment = &org->shipments[s];
            const char *code = org->types[shipment->type].code;
            array_int(&ship_id, org->movement_ids[s]);
            array_int(&ship_transfer, org->transfer_id);
            array_int(&ship_position, (int64_t)s + 1);
            array_int(&ship_storage, shipment->storage_id);
            array_code(&ship_type, code);
            array_int(&ship_amount, shipment->amount_kg);
            array_int(&ship_distance, shipment->distance_m);
            array_bool(&ship_transit, org->in_transit[s]);
            if (org->in_transit[s]) {
                array_int(&travelling, org->movement_ids[s]);
            }
            adds[add_count++] = (stock_add){
                shipment->storage_id,
                code,
                org->keys[shipment->type],
                org->in_transit[s] ? 0 : shipment->amount_kg,
                org->in_transit[s] ? shipment->amount_kg : 0,
            };
        }
        bool any_left = false;
        for (size_t k = 0; k < org->type_count; k++) {
            const plan_type *type = &org->types[k];
            any_left = any_left || type->left_kg > 0;
            if (type->left_kg != type->pending_kg) {
                array_int(&left_org, org->organization_id);
                array_code(&left_type, type->code);
                array_int(&left_kg, type->left_kg);
            }
        }
        /* pending_since changes when something stays pending where nothing did, or the
         * other way round; the row is locked, so what round 1 read is still so. */
        if (org->since_null < 0 || (org->since_null == 1) == any_left) {
            array_int(&since_org, org->organization_id);
            array_bool(&since_left, any_left);
        }
    }
    /* Two organizations of a batch may ship into one storage: one update per row. */
    qsort(adds, add_count, sizeof *adds, stock_order);
    pg_array stock_storage = {0}, stock_type = {0}, stock_amount = {0}, stock_held = {0};
    size_t pairs = 0;
    for (size_t i = 0; i < add_count;) {
        int64_t amount = 0, held = 0;
        size_t j = i;
        for (; j < add_count && stock_order(&adds[i], &adds[j]) == 0; j++) {
            amount += adds[j].amount_kg;
            held += adds[j].held_kg;
        }
        array_int(&stock_storage, adds[i].storage_id);
        array_code(&stock_type, adds[i].code);
        array_int(&stock_amount, amount);
        array_int(&stock_held, held);
        pairs++;
        i = j;
    }
    const char *params[24] = {
        array_done(t, &ids),
        array_done(t, &organizations),
        array_done(t, &received),
        array_done(t, &pending),
        job->automatic ? "auto" : "request",
        job->actor,
        array_done(t, &ship_id),
        array_done(t, &ship_transfer),
        array_done(t, &ship_position),
        array_done(t, &ship_storage),
        array_done(t, &ship_type),
        array_done(t, &ship_amount),
        array_done(t, &ship_distance),
        array_done(t, &ship_transit),
        array_done(t, &stock_storage),
        array_done(t, &stock_type),
        array_done(t, &stock_amount),
        array_done(t, &stock_held),
        tx_int(t, (int64_t)pairs),
    };
    if (travelling.count > 0) {
        /* Loads set off in transit: their 'movement' events (sql/migrations/013). */
        tx_q(t, ST_EV_LOG_MOVEMENTS, array_done(t, &travelling));
    } else {
        strbuf_free(&travelling.text);
    }
    if (left_org.count == 0 && since_org.count == 0) {
        /* No pending amount and no pending_since changes (the common case: everything
         * handed over was placed, and nothing was pending before): the statement leaves
         * organization_waste and organizations alone. */
        strbuf_free(&left_org.text);
        strbuf_free(&left_type.text);
        strbuf_free(&left_kg.text);
        strbuf_free(&since_org.text);
        strbuf_free(&since_left.text);
        tx_queue(t, ST_TR_RECORD, params, 19);
    } else {
        params[19] = array_done(t, &since_org);
        params[20] = array_done(t, &since_left);
        params[21] = array_done(t, &left_org);
        params[22] = array_done(t, &left_type);
        params[23] = array_done(t, &left_kg);
        tx_queue(t, ST_TR_RECORD_PENDING, params, 24);
    }
    tx_on_commit(t, committed, job);
    return transfers;
}

static transfer_result result_of(const transfer_job *job, const served *org, bool record)
{
    return (transfer_result){
        .id = job->dry_run || !record ? 0 : org->transfer_id,
        .organization_id = org->organization_id,
        .automatic = job->automatic,
        .dry_run = job->dry_run,
        .actor = job->actor,
        .created_at = record ? job->created_at : NULL,
        .types = org->types,
        .type_count = org->type_count,
        .shipments = org->shipments,
        .shipment_count = org->shipment_count,
        .movement_ids = org->movement_ids,
        .in_transit = org->in_transit,
    };
}

/* The request's plan is made: refuse it, answer it (dry run, nothing to record), or write
 * it and commit. */
static void record_request(tx *t, transfer_job *job)
{
    served *org = &job->orgs[0];
    long over = plan_first_over_capacity(org->types, org->type_count);
    if (over >= 0) {
        const plan_type *type = &org->types[over];
        tx_fail(t, PROBLEM_CONFLICT,
                "%lld kg of %s would stay pending, over the organization's on-site capacity "
                "of %lld kg; nothing was changed.",
                (long long)type->left_kg, type->code, (long long)type->capacity_kg);
        return;
    }
    bool record = !job->dry_run && recorded(org, false);
    strbuf out = {0};
    transfer_result result = result_of(job, org, record);
    job->render(&out, &result);
    char *body = strbuf_take(&out);
    if (body == NULL) {
        mem_exhausted(out.cap);
    }
    if (!record) {
        /* A dry run (rolled back), or nothing to record: both write nothing. */
        tx_reply(t, 200, body, NULL);
        return;
    }
    queue_record(t, job);
    const char *location =
        arena_printf(tx_arena(t), "/v1/transfers/%lld", (long long)org->transfer_id);
    tx_reply(t, 201, body, location);
}

static void record_batch(tx *t, transfer_job *job)
{
    size_t written = 0;
    for (size_t i = 0; i < job->org_count; i++) {
        const served *org = &job->orgs[i];
        /* Shipping only lowers pending: an organization over its on-site limit (a refused
         * load came back to it) is served like any other, and gets under it sooner. */
        if (org->shipment_count > 0) {
            written++;
            job->outcome.shipment_count += org->shipment_count;
        }
    }
    job->outcome.organizations_served = written;
    if (written == 0) {
        tx_finish(t);
        return;
    }
    queue_record(t, job);
    tx_finish(t);
}

/* ---------------------------------------------------------------- planning */

static void plan_round(tx *t, transfer_job *job);

static uint32_t key_of(tx *t, const char *code)
{
    return room_hints_key(tx_app(t)->hints, code);
}

/* A room read came back: fresh rooms for what it returned, and 0 for what it did not. */
static void rooms_read(tx *t, const db_result *result)
{
    transfer_job *job = tx_user(t);
    room_hints *hints = tx_app(t)->hints;
    int rows = db_rows(result, 0);
    for (int row = 0; row < rows; row++) {
        place_pair pair = {db_int64(result, 0, row, 0), key_of(t, db_text(result, 0, row, 1))};
        int64_t room = db_int64(result, 0, row, 2);
        if (db_text(result, 0, row, 3)[0] == 't') {
            note_weighed(t, job, pair.storage_id);
        }
        placement_fresh(job->plan, pair, room);
        if (job->fresh != NULL) {
            (void)room_map_put(job->fresh, pair.storage_id, pair.type, room);
        }
        room_hints_saw(hints, pair.storage_id, pair.type, room);
        if (job->seen != NULL) {
            (void)room_map_put(job->seen, pair.storage_id, pair.type, room);
        }
        if (!job->dry_run) {
            job->rows_locked++;
            job->max_locked_id =
                pair.storage_id > job->max_locked_id ? pair.storage_id : job->max_locked_id;
        }
    }
    for (size_t i = 0; i < job->reading_count; i++) {
        if (!placement_is_fresh(job->plan, job->reading[i])) {
            placement_fresh(job->plan, job->reading[i], 0);
            if (job->fresh != NULL) {
                (void)room_map_put(job->fresh, job->reading[i].storage_id, job->reading[i].type, 0);
            }
            room_hints_saw(hints, job->reading[i].storage_id, job->reading[i].type, 0);
            if (job->seen != NULL) {
                (void)room_map_put(job->seen, job->reading[i].storage_id, job->reading[i].type, 0);
            }
        }
    }
    plan_round(t, job);
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
        record_batch(t, job);
    } else {
        record_request(t, job);
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
static void shipments_final(tx *t, transfer_job *job)
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

/* ---------------------------------------------------------------- dispatch by min-cost flow
 *
 * WASTEFLOW_DISPATCH_POLICY=min_cost. When the nearest-first plan of a batch places every
 * pending kilogram, the batch is placed instead at the least kg·m (core/plans.h): each
 * organization's storages, nearest first, until their room covers the batch's kilograms
 * of its types; the rooms of those storages read (and locked) like any other, in more
 * rounds while a room read changes the prefixes; then the min-cost flow over rooms all
 * read in this transaction. A batch that does not fit keeps the nearest-first plan
 * (oldest first: fairness before distance), and so does one whose prefixes cannot be
 * settled in MIN_COST_ROUNDS reads. One organization alone is served optimally by the rule
 * itself, so it costs nothing more. */

static void plan_round(tx *t, transfer_job *job);

static bool batch_fits(const transfer_job *job)
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

static void min_cost_round(tx *t, transfer_job *job);

/* A room read of the min-cost plan: as rooms_read, for the prefixes. */
static void cost_rooms_read(tx *t, const db_result *result)
{
    transfer_job *job = tx_user(t);
    room_hints *hints = tx_app(t)->hints;
    int rows = db_rows(result, 0);
    for (int row = 0; row < rows; row++) {
        place_pair pair = {db_int64(result, 0, row, 0), key_of(t, db_text(result, 0, row, 1))};
        int64_t room = db_int64(result, 0, row, 2);
        if (db_text(result, 0, row, 3)[0] == 't') {
            note_weighed(t, job, pair.storage_id);
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
    min_cost_round(t, job);
}

static void min_cost_round(tx *t, transfer_job *job)
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
            sorting_hints = tx_app(t)->hints;
            qsort(unread.pairs, unread.count, sizeof *unread.pairs, pair_order);
            pg_array storages = {0}, types = {0};
            for (size_t i = 0; i < unread.count; i++) {
                array_int(&storages, unread.pairs[i].storage_id);
                array_code(&types, room_hints_code(tx_app(t)->hints, unread.pairs[i].type));
            }
            job->reading = unread.pairs;
            job->reading_count = unread.count;
            job->read_rounds++;
            tx_q(t,
                 unread.pairs[0].storage_id < job->max_locked_id ? ST_TR_ROOMS_NOWAIT : ST_TR_ROOMS,
                 array_done(t, &storages), array_done(t, &types));
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
    shipments_final(t, job);
}

static void plan_round(tx *t, transfer_job *job)
{
    place_pair *pairs = TX_ARRAY(t, place_pair, READ_CAP);
    size_t count = placement_plan(job->plan, pairs, READ_CAP);
    if (count == 0) {
        for (size_t i = 0; i < job->org_count; i++) {
            served *org = &job->orgs[i];
            org->shipments = placement_shipments(job->plan, i, &org->shipment_count);
        }
        if (job->automatic && job->fresh != NULL && batch_fits(job)) {
            min_cost_round(t, job);
            return;
        }
        shipments_final(t, job);
        return;
    }
    sorting_hints = tx_app(t)->hints;
    qsort(pairs, count, sizeof *pairs, pair_order);
    pg_array storages = {0}, types = {0};
    for (size_t i = 0; i < count; i++) {
        array_int(&storages, pairs[i].storage_id);
        array_code(&types, room_hints_code(tx_app(t)->hints, pairs[i].type));
    }
    int statement = ST_TR_ROOMS;
    if (job->dry_run) {
        statement = ST_TR_ROOMS_PEEK;
    } else if (pairs[0].storage_id < job->max_locked_id) {
        statement = ST_TR_ROOMS_NOWAIT; /* would lock out of id order */
    }
    job->reading = pairs;
    job->reading_count = count;
    job->read_rounds++;
    tx_q(t, statement, array_done(t, &storages), array_done(t, &types));
    tx_next(t, rooms_read);
}

static bool nothing_more(void *search, int64_t *storage_id, int64_t *distance_m)
{
    (void)search, (void)storage_id, (void)distance_m;
    return false;
}

/* With a current graph: plan every organization of the job. */
static void start_plan(tx *t, transfer_job *job)
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
            org->order = storage_order_new(job->snapshot, org->organization_id);
        }
        placement_add(job->plan, org->types, org->keys, org->type_count,
                      org->order != NULL ? storage_order_next : nothing_more, org->order);
    }
    plan_round(t, job);
}

static void graph_loaded(tx *t, const db_result *result)
{
    transfer_job *job = tx_user(t);
    job->snapshot = graph_cache_install(tx_app(t), result, 0);
    start_plan(t, job);
}

static void with_graph(tx *t, transfer_job *job, int64_t version)
{
    job->snapshot = graph_cache_get(tx_app(t), version);
    if (job->snapshot == NULL) {
        graph_cache_queue(t);
        tx_next(t, graph_loaded);
        return;
    }
    start_plan(t, job);
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
        org->keys[k] = key_of(t, org->types[k].code);
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
    with_graph(t, job, version);
}

/* The received codes as a Postgres text[] literal (checked by ST_TR_LOCK_ORG). */
static const char *received_codes(tx *t, const transfer_job *job)
{
    pg_array codes = {0};
    for (size_t i = 0; i < job->received_count; i++) {
        array_code(&codes, job->received[i].code);
    }
    return array_done(t, &codes);
}

static transfer_job *job_start(tx *t, bool automatic)
{
    transfer_job *job = TX_NEW(t, transfer_job);
    job->automatic = automatic;
    tx_set_user(t, job);
    tx_on_free(t, attempt_reset, job); /* the orders, plan and graph of the last attempt */
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
    with_graph(t, job, version);
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
        array_int(&list, ids[i]);
    }
    const char *literal = array_done(t, &list);
    tx_q(t, ST_DISPATCH_LOCK, literal);
    tx_q(t, ST_DISPATCH_WASTE, literal);
    tx_run(t, TX_OPEN, batch_locked);
}
