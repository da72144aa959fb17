/* Transfers — the heart of the service. How one transfer goes, top-down:
 *
 *   POST /v1/organizations/{id}/transfers      lib/api/routes_table.c -> handle_transfers_create
 *     reads {"waste": {...}}                   lib/api/transfers.c
 *     transfer_request()                       here
 *   round 1  BEGIN; lock the organization row; read its pending and on-site limits;
 *            check the waste types; read the graph version, now() and the new transfer id
 *            (locked())
 *   (round)  only when this instance's cached graph is stale: load the road graph
 *            (graph_loaded())
 *   round 2  lock every candidate capacity row (reachable storages accepting a pending
 *            type with room) in ONE statement ordered by storage id (lock_candidates())
 *   (C)      the plan: lib/core/transfer_plan.c over distances from lib/core/graph.c
 *            (planned())
 *   round 3  ledger rows, guarded stock updates, new pending, [idempotency record], COMMIT
 *            (record() -> tx_reply -> lib/engine/tx.c)
 *
 * Everything runs at READ COMMITTED. Lock order is always the organization row, then
 * storage rows by id, so concurrent transfers never deadlock; should the database still
 * report a deadlock or serialization failure, the tx engine retries from round 1. The same
 * code serves automatic dispatch (trigger "auto"), which skips an organization whose row
 * another transaction holds. */
#include "engine/transfer.h"

#include "engine/graph_cache.h"
#include "engine/statements.h"
#include "util/mem.h"
#include "util/metrics.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t organization_id;
    const char *actor;
    bool automatic;
    bool dry_run;
    const plan_quantity *received; /* what the request hands over (kept across retries) */
    size_t received_count;
    transfer_render_fn render;
    transfer_done_fn done;
    void *done_arg;
    transfer_outcome outcome;
    /* Per attempt (reset in locked()). */
    plan_type *types;
    size_t type_count;
    graph_snapshot *snapshot;
    graph_paths *paths;
    plan_shipment *shipments;
    size_t shipment_count;
    int64_t transfer_id;
    const char *created_at;
} transfer_job;

static void attempt_reset(void *arg)
{
    transfer_job *job = arg;
    graph_paths_free(job->paths);
    job->paths = NULL;
    graph_snapshot_release(job->snapshot);
    job->snapshot = NULL;
    job->types = NULL;
    job->type_count = 0;
    job->shipments = NULL;
    job->shipment_count = 0;
}

/* A Postgres array literal of count items written by item(out, job, i). */
typedef void (*array_item_fn)(strbuf *out, const transfer_job *job, size_t index);

static const char *pg_array(tx *t, const transfer_job *job, size_t count, array_item_fn item)
{
    strbuf out = {0};
    strbuf_puts(&out, "{");
    for (size_t i = 0; i < count; i++) {
        strbuf_puts(&out, i ? "," : "");
        item(&out, job, i);
    }
    strbuf_puts(&out, "}");
    const char *text = tx_text(t, out.data);
    strbuf_free(&out);
    return text;
}

static void ship_storage(strbuf *o, const transfer_job *j, size_t i)
{
    strbuf_int(o, j->shipments[i].storage_id);
}
static void ship_type(strbuf *o, const transfer_job *j, size_t i)
{
    strbuf_puts(o, j->types[j->shipments[i].type].code);
}
static void ship_amount(strbuf *o, const transfer_job *j, size_t i)
{
    strbuf_int(o, j->shipments[i].amount_kg);
}
static void ship_distance(strbuf *o, const transfer_job *j, size_t i)
{
    strbuf_int(o, j->shipments[i].distance_m);
}
static void type_code(strbuf *o, const transfer_job *j, size_t i)
{
    strbuf_puts(o, j->types[i].code);
}
static void type_left(strbuf *o, const transfer_job *j, size_t i)
{
    strbuf_int(o, j->types[i].left_kg);
}

/* {"glass": 10, ...} of the types whose received (or left) amount is positive. */
static const char *quantity_json(tx *t, const transfer_job *job, bool received)
{
    strbuf out = {0};
    strbuf_puts(&out, "{");
    size_t written = 0;
    for (size_t k = 0; k < job->type_count; k++) {
        int64_t kg = received ? job->types[k].received_kg : job->types[k].left_kg;
        if (kg > 0) {
            strbuf_printf(&out, "%s\"%s\":", written++ ? "," : "", job->types[k].code);
            strbuf_int(&out, kg);
        }
    }
    strbuf_puts(&out, "}");
    const char *text = tx_text(t, out.data);
    strbuf_free(&out);
    return text;
}

static transfer_result result_of(const transfer_job *job)
{
    return (transfer_result){
        .id = job->dry_run ? 0 : job->transfer_id,
        .organization_id = job->organization_id,
        .automatic = job->automatic,
        .dry_run = job->dry_run,
        .actor = job->actor,
        .created_at = job->created_at,
        .types = job->types,
        .type_count = job->type_count,
        .shipments = job->shipments,
        .shipment_count = job->shipment_count,
    };
}

static void count_committed(tx *t, void *arg)
{
    const transfer_job *job = arg;
    metrics_count_transfer(job->automatic ? "auto" : "request");
    for (size_t i = 0; i < job->shipment_count; i++) {
        metrics_count_shipped(job->types[job->shipments[i].type].code, job->shipments[i].amount_kg);
    }
}

/* The plan is made: refuse it, answer it (dry run), or write it and commit. */
static void record(tx *t, transfer_job *job)
{
    long over = plan_first_over_capacity(job->types, job->type_count);
    if (over >= 0) {
        const plan_type *type = &job->types[over];
        tx_fail(t, PROBLEM_CONFLICT,
                "%lld kg of %s would stay pending, over the organization's on-site capacity "
                "of %lld kg; nothing was changed.",
                (long long)type->left_kg, type->code, (long long)type->capacity_kg);
        return;
    }
    job->outcome.shipment_count = job->shipment_count;
    if (job->automatic && job->shipment_count == 0) {
        tx_reply(t, 204, NULL, NULL); /* nothing could be placed: write nothing */
        return;
    }
    char *body = NULL;
    if (job->render != NULL) {
        strbuf out = {0};
        transfer_result result = result_of(job);
        job->render(&out, &result);
        body = strbuf_take(&out);
        if (body == NULL) {
            mem_exhausted(out.cap);
        }
    }
    if (job->dry_run) {
        tx_reply(t, 200, body, NULL); /* rolled back: a dry run writes nothing */
        return;
    }
    bool any_left = false;
    for (size_t k = 0; k < job->type_count; k++) {
        any_left = any_left || job->types[k].left_kg > 0;
    }
    const char *id = tx_int(t, job->transfer_id);
    const char *organization = tx_int(t, job->organization_id);
    const char *storages = pg_array(t, job, job->shipment_count, ship_storage);
    const char *types = pg_array(t, job, job->shipment_count, ship_type);
    const char *amounts = pg_array(t, job, job->shipment_count, ship_amount);
    tx_q(t, ST_TR_INSERT, id, organization, job->automatic ? "auto" : "request",
         quantity_json(t, job, true), quantity_json(t, job, false), storages, types, amounts,
         pg_array(t, job, job->shipment_count, ship_distance), job->actor);
    if (job->shipment_count > 0) {
        tx_q(t, ST_TR_STOCK, storages, types, amounts, tx_int(t, (int64_t)job->shipment_count));
    }
    tx_q(t, ST_TR_PENDING, organization, pg_array(t, job, job->type_count, type_code),
         pg_array(t, job, job->type_count, type_left));
    tx_q(t, ST_TR_PENDING_SINCE, organization, tx_bool(any_left));
    tx_on_commit(t, count_committed, job);
    const char *location =
        arena_printf(tx_arena(t), "/v1/transfers/%lld", (long long)job->transfer_id);
    tx_reply(t, 201, body, location);
}

static long type_of(const transfer_job *job, const char *code)
{
    for (size_t k = 0; k < job->type_count; k++) {
        if (strcmp(job->types[k].code, code) == 0) {
            return (long)k;
        }
    }
    return -1;
}

/* Round 2 result: the locked candidate rows (storage_id, waste_type, room). */
static void planned(tx *t, const db_result *result)
{
    transfer_job *job = tx_user(t);
    int rows = db_rows(result, 0);
    plan_candidate *candidates = TX_ARRAY(t, plan_candidate, rows > 0 ? (size_t)rows : 1);
    size_t count = 0;
    for (int row = 0; row < rows; row++) {
        long type = type_of(job, db_text(result, 0, row, 1));
        int64_t storage = db_int64(result, 0, row, 0);
        if (type < 0) {
            continue; /* cannot happen: the statement asked for these types only */
        }
        candidates[count++] = (plan_candidate){
            (size_t)type,
            {storage, graph_distance(job->paths, (node_ref){NODE_STORAGE, storage}),
             db_int64(result, 0, row, 2)}};
    }
    job->shipments = TX_ARRAY(t, plan_shipment, count ? count : 1);
    job->shipment_count = plan_ship(job->types, job->type_count, candidates, count, job->shipments);
    record(t, job);
}

static void reachable_item(strbuf *o, const node_ref *reachable, size_t i)
{
    strbuf_int(o, reachable[i].id);
}

/* With a current graph: find the reachable storages and lock the candidates. */
static void lock_candidates(tx *t, transfer_job *job)
{
    job->paths =
        graph_shortest_from(job->snapshot->roads, (node_ref){NODE_ORG, job->organization_id});
    if (job->paths == NULL) {
        mem_exhausted(graph_node_count(job->snapshot->roads) * 16);
    }
    size_t nodes = graph_node_count(job->snapshot->roads);
    node_ref *reachable = TX_ARRAY(t, node_ref, nodes + 1);
    size_t reachable_count = graph_reachable(job->paths, NODE_STORAGE, reachable, NULL, nodes);
    strbuf types = {0}, ids = {0};
    strbuf_puts(&types, "{");
    size_t to_place = 0;
    for (size_t k = 0; k < job->type_count; k++) {
        if (job->types[k].left_kg > 0) {
            strbuf_puts(&types, to_place++ ? "," : "");
            strbuf_puts(&types, job->types[k].code);
        }
    }
    strbuf_puts(&types, "}");
    if (to_place == 0 || reachable_count == 0) {
        strbuf_free(&types);
        record(t, job); /* nothing to place, or nowhere to place it */
        return;
    }
    strbuf_puts(&ids, "{");
    for (size_t i = 0; i < reachable_count; i++) {
        strbuf_puts(&ids, i ? "," : "");
        reachable_item(&ids, reachable, i);
    }
    strbuf_puts(&ids, "}");
    tx_q(t, ST_TR_CANDIDATES, tx_text(t, types.data), tx_text(t, ids.data));
    strbuf_free(&types);
    strbuf_free(&ids);
    tx_next(t, planned);
}

static void graph_loaded(tx *t, const db_result *result)
{
    transfer_job *job = tx_user(t);
    job->snapshot = graph_cache_install(tx_app(t), result, 0);
    lock_candidates(t, job);
}

/* Round 1 result: [organization lock + version/now/id, its waste rows, type check]. */
static void locked(tx *t, const db_result *result)
{
    transfer_job *job = tx_user(t);
    attempt_reset(job);
    if (db_rows(result, 0) == 0) {
        if (job->automatic) {
            /* Another transaction holds the organization: it will be swept again. */
            tx_fail(t, PROBLEM_LOCKED, "The organization is busy.");
        } else {
            tx_fail(t, PROBLEM_NOT_FOUND, "Organization not found.");
        }
        return;
    }
    int64_t version = db_int64(result, 0, 0, 1);
    job->created_at = tx_text(t, db_text(result, 0, 0, 2));
    job->transfer_id = db_int64(result, 0, 0, 3);
    int rows = db_rows(result, 1);
    plan_holding *holdings = TX_ARRAY(t, plan_holding, rows > 0 ? (size_t)rows : 1);
    for (int row = 0; row < rows; row++) {
        holdings[row] = (plan_holding){
            .code = tx_text(t, db_text(result, 1, row, 0)),
            .capacity_kg =
                db_is_null(result, 1, row, 1) ? PLAN_NO_LIMIT : db_int64(result, 1, row, 1),
            .pending_kg = db_int64(result, 1, row, 2),
        };
    }
    job->types = TX_ARRAY(t, plan_type, (size_t)rows + job->received_count + 1);
    job->type_count =
        plan_types(holdings, (size_t)rows, job->received, job->received_count, job->types);
    long overflow = plan_first_overflow(job->types, job->type_count);
    if (overflow >= 0) {
        tx_invalid(t, arena_printf(tx_arena(t), "waste.%s", job->types[overflow].code),
                   "would make the pending amount larger than the service can count");
        return;
    }
    job->snapshot = graph_cache_get(tx_app(t), version);
    if (job->snapshot == NULL) {
        tx_q0(t, ST_GRAPH_LOAD);
        tx_next(t, graph_loaded);
        return;
    }
    lock_candidates(t, job);
}

/* The received codes as a Postgres text[] literal (for ST_CHECK_TYPES). */
static const char *received_codes(tx *t, const transfer_job *job)
{
    strbuf out = {0};
    strbuf_puts(&out, "{");
    for (size_t i = 0; i < job->received_count; i++) {
        strbuf_puts(&out, i ? "," : "");
        strbuf_puts(&out, job->received[i].code);
    }
    strbuf_puts(&out, "}");
    const char *text = tx_text(t, out.data);
    strbuf_free(&out);
    return text;
}

static transfer_job *job_start(tx *t, int64_t organization_id, bool automatic)
{
    transfer_job *job = TX_NEW(t, transfer_job);
    job->organization_id = organization_id;
    job->automatic = automatic;
    tx_set_user(t, job);
    tx_on_free(t, attempt_reset, job); /* the graph reference and paths of the last attempt */
    return job;
}

static void job_queue_round1(tx *t, transfer_job *job)
{
    const char *organization = tx_int(t, job->organization_id);
    tx_q(t, job->automatic ? ST_TR_LOCK_ORG_SKIP : ST_TR_LOCK_ORG, organization);
    tx_q(t, ST_TR_ORG_WASTE, organization);
    tx_q(t, ST_CHECK_TYPES, received_codes(t, job), "waste.");
}

void transfer_request(http_ctx *ctx, int64_t organization_id, const plan_quantity *received,
                      size_t received_count, bool dry_run, transfer_render_fn render)
{
    tx *t = tx_for(ctx);
    transfer_job *job = job_start(t, organization_id, false);
    job->actor = tx_text(t, ctx->principal.actor);
    job->dry_run = dry_run;
    job->render = render;
    plan_quantity *copy = TX_ARRAY(t, plan_quantity, received_count ? received_count : 1);
    for (size_t i = 0; i < received_count; i++) {
        copy[i] = (plan_quantity){tx_text(t, received[i].code), received[i].kg};
    }
    job->received = copy;
    job->received_count = received_count;
    job_queue_round1(t, job);
    tx_run(t, TX_OPEN, locked);
}

static void dispatched(tx *t, int status)
{
    transfer_job *job = tx_user(t);
    job->outcome.status = status;
    job->done(job->done_arg, &job->outcome);
}

void transfer_dispatch(wf_app *app, int64_t organization_id, int64_t deadline_ms,
                       transfer_done_fn done, void *arg)
{
    tx *t = tx_background(app, deadline_ms, dispatched);
    transfer_job *job = job_start(t, organization_id, true);
    job->actor = "dispatcher";
    job->done = done;
    job->done_arg = arg;
    job_queue_round1(t, job);
    tx_run(t, TX_OPEN, locked);
}
