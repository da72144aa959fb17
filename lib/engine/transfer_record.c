/* The writes of a transfer (engine/transfer.c has the whole story): Postgres array literals
 * for the statements, the one statement that records a request's or a batch's transfers,
 * their stock and reservations and their new pending (ST_TR_RECORD), the hooks that run
 * once it committed, and the result a request renders. */
#include "engine/transfer_internal.h"

#include "engine/room_hints.h"
#include "engine/statements.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/metrics.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- arrays for SQL */

static void array_next(pg_array *a)
{
    strbuf_puts(&a->text, a->count++ ? "," : "{");
}

void transfer_array_int(pg_array *a, int64_t value)
{
    array_next(a);
    strbuf_int(&a->text, value);
}

/* A waste type code: [a-z0-9_] only (schema CHECK), so it needs no quoting. */
void transfer_array_code(pg_array *a, const char *code)
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
const char *transfer_array_done(tx *t, pg_array *a)
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
        transfer_array_int(&ids, org->transfer_id);
        transfer_array_int(&organizations, org->organization_id);
        array_quantities(&received, org, true);
        array_quantities(&pending, org, false);
        for (size_t s = 0; s < org->shipment_count; s++) {
            const plan_shipment *shipment = &org->shipments[s];
            const char *code = org->types[shipment->type].code;
            transfer_array_int(&ship_id, org->movement_ids[s]);
            transfer_array_int(&ship_transfer, org->transfer_id);
            transfer_array_int(&ship_position, (int64_t)s + 1);
            transfer_array_int(&ship_storage, shipment->storage_id);
            transfer_array_code(&ship_type, code);
            transfer_array_int(&ship_amount, shipment->amount_kg);
            transfer_array_int(&ship_distance, shipment->distance_m);
            array_bool(&ship_transit, org->in_transit[s]);
            if (org->in_transit[s]) {
                transfer_array_int(&travelling, org->movement_ids[s]);
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
                transfer_array_int(&left_org, org->organization_id);
                transfer_array_code(&left_type, type->code);
                transfer_array_int(&left_kg, type->left_kg);
            }
        }
        /* pending_since changes when something stays pending where nothing did, or the
         * other way round; the row is locked, so what round 1 read is still so. */
        if (org->since_null < 0 || (org->since_null == 1) == any_left) {
            transfer_array_int(&since_org, org->organization_id);
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
        transfer_array_int(&stock_storage, adds[i].storage_id);
        transfer_array_code(&stock_type, adds[i].code);
        transfer_array_int(&stock_amount, amount);
        transfer_array_int(&stock_held, held);
        pairs++;
        i = j;
    }
    const char *params[24] = {
        transfer_array_done(t, &ids),
        transfer_array_done(t, &organizations),
        transfer_array_done(t, &received),
        transfer_array_done(t, &pending),
        job->automatic ? "auto" : "request",
        job->actor,
        transfer_array_done(t, &ship_id),
        transfer_array_done(t, &ship_transfer),
        transfer_array_done(t, &ship_position),
        transfer_array_done(t, &ship_storage),
        transfer_array_done(t, &ship_type),
        transfer_array_done(t, &ship_amount),
        transfer_array_done(t, &ship_distance),
        transfer_array_done(t, &ship_transit),
        transfer_array_done(t, &stock_storage),
        transfer_array_done(t, &stock_type),
        transfer_array_done(t, &stock_amount),
        transfer_array_done(t, &stock_held),
        tx_int(t, (int64_t)pairs),
    };
    if (travelling.count > 0) {
        /* Loads set off in transit: their 'movement' events (sql/migrations/013). */
        tx_q(t, ST_EV_LOG_MOVEMENTS, transfer_array_done(t, &travelling));
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
        params[19] = transfer_array_done(t, &since_org);
        params[20] = transfer_array_done(t, &since_left);
        params[21] = transfer_array_done(t, &left_org);
        params[22] = transfer_array_done(t, &left_type);
        params[23] = transfer_array_done(t, &left_kg);
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
void transfer_record_request(tx *t, transfer_job *job)
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

void transfer_record_batch(tx *t, transfer_job *job)
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
