/* Transfers — the heart of the service. One transaction, at READ COMMITTED:
 *
 *   round 1  BEGIN; lock the organization row; read its pending and on-site limits;
 *            check the waste types; read the graph version, now() and the new transfer id
 *   (round)  only when this instance's cached graph is stale: load the road graph
 *   round 2  lock every candidate capacity row (reachable storages accepting a pending
 *            type with room) in ONE statement ordered by storage id
 *   (C)      shortest distances and the split, by lib/core (graph, alloc)
 *   round 3  ledger rows, guarded stock updates, new pending, [idempotency record], COMMIT
 *
 * Lock order is always organization row, then storage rows by id, so concurrent transfers
 * never deadlock; should the database still report a deadlock or serialization failure,
 * api_tx retries from round 1. The same code serves automatic dispatch (trigger "auto"),
 * which skips an organization whose row another transaction holds. */
#include "api/transfers.h"

#include "api/common.h"
#include "api/handlers.h"
#include "api/statements.h"
#include "core/alloc.h"
#include "util/metrics.h"
#include "util/strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char code[33];
    int64_t capacity; /* on-site limit, -1 when none */
    int64_t pending;  /* before this transfer */
    int64_t received;
    int64_t left; /* after this transfer */
} type_state;

typedef struct {
    int64_t storage_id;
    int type; /* index into types */
    int64_t amount;
    int64_t distance_m;
} shipment;

typedef struct transfer_job {
    int64_t organization_id;
    bool automatic;
    bool dry_run;
    /* What the request hands over (kept across retries). */
    type_state *received;
    int received_count;
    /* Statement parameters that live for the whole job. */
    char org_text[24];
    char *received_codes;
    const char *round1_params[3];
    db_query round1[3];
    db_query graph_load;
    /* Per attempt. */
    type_state *types;
    int type_count;
    graph_snapshot *snapshot;
    graph_paths *paths;
    node_ref *reachable;
    int64_t *reachable_dist;
    size_t reachable_count;
    shipment *shipments;
    int shipment_count;
    int64_t transfer_id;
    char created_at[40];
    char *attempt_strings[12];
    int attempt_string_count;
    const char *params[24];
    db_query queries[4];
    /* Background completion. */
    transfer_done_cb done;
    void *done_arg;
} transfer_job;

static void attempt_reset(transfer_job *job)
{
    free(job->types);
    job->types = NULL;
    job->type_count = 0;
    graph_paths_free(job->paths);
    job->paths = NULL;
    graph_snapshot_release(job->snapshot);
    job->snapshot = NULL;
    free(job->reachable);
    free(job->reachable_dist);
    job->reachable = NULL;
    job->reachable_dist = NULL;
    job->reachable_count = 0;
    free(job->shipments);
    job->shipments = NULL;
    job->shipment_count = 0;
    for (int i = 0; i < job->attempt_string_count; i++) {
        free(job->attempt_strings[i]);
    }
    job->attempt_string_count = 0;
}

static void job_free(void *arg)
{
    transfer_job *job = arg;
    if (job == NULL) {
        return;
    }
    attempt_reset(job);
    free(job->received);
    free(job->received_codes);
    free(job);
}

static const char *keep(transfer_job *job, char *text)
{
    if (text == NULL || job->attempt_string_count == 12) {
        free(text);
        return NULL;
    }
    job->attempt_strings[job->attempt_string_count++] = text;
    return text;
}

static void fail_memory(api_tx *tx)
{
    api_tx_problem(tx, 503, "service-unavailable", "Service Unavailable", "Out of memory.");
}

static int type_compare(const void *a, const void *b)
{
    return strcmp(((const type_state *)a)->code, ((const type_state *)b)->code);
}

/* Merges the organization's rows with what the request hands over, sorted by code. */
static bool merge_types(transfer_job *job, const db_result *result)
{
    int rows = db_rows(result, 1);
    job->types = calloc((size_t)(rows + job->received_count + 1), sizeof *job->types);
    if (job->types == NULL) {
        return false;
    }
    for (int row = 0; row < rows; row++) {
        type_state *t = &job->types[job->type_count++];
        snprintf(t->code, sizeof t->code, "%s", db_text(result, 1, row, 0));
        t->capacity = db_is_null(result, 1, row, 1) ? -1 : db_int64(result, 1, row, 1);
        t->pending = db_int64(result, 1, row, 2);
    }
    for (int i = 0; i < job->received_count; i++) {
        type_state *t = NULL;
        for (int k = 0; k < job->type_count; k++) {
            if (strcmp(job->types[k].code, job->received[i].code) == 0) {
                t = &job->types[k];
            }
        }
        if (t == NULL) {
            t = &job->types[job->type_count++];
            *t = job->received[i];
            t->capacity = -1;
            t->pending = 0;
        }
        t->received = job->received[i].received;
    }
    qsort(job->types, (size_t)job->type_count, sizeof *job->types, type_compare);
    for (int k = 0; k < job->type_count; k++) {
        job->types[k].left = job->types[k].pending + job->types[k].received;
    }
    return true;
}

/* {"glass": 10, ...} of the types whose field (received or left) is positive. */
static void quantity_json(strbuf *out, const transfer_job *job, bool received)
{
    strbuf_puts(out, "{");
    int written = 0;
    for (int k = 0; k < job->type_count; k++) {
        int64_t kg = received ? job->types[k].received : job->types[k].left;
        if (kg > 0) {
            strbuf_printf(out, "%s\"%s\":%lld", written++ ? "," : "", job->types[k].code,
                          (long long)kg);
        }
    }
    strbuf_puts(out, "}");
}

static char *response_json(const transfer_job *job)
{
    strbuf out = {0};
    if (job->dry_run) {
        strbuf_printf(&out, "{\"organization_id\":%lld,\"dry_run\":true",
                      (long long)job->organization_id);
    } else {
        strbuf_printf(
            &out, "{\"id\":%lld,\"organization_id\":%lld,\"trigger\":\"%s\",\"created_at\":\"%s\"",
            (long long)job->transfer_id, (long long)job->organization_id,
            job->automatic ? "auto" : "request", job->created_at);
    }
    strbuf_puts(&out, ",\"received\":");
    quantity_json(&out, job, true);
    strbuf_puts(&out, ",\"shipments\":[");
    for (int i = 0; i < job->shipment_count; i++) {
        const shipment *s = &job->shipments[i];
        strbuf_printf(&out,
                      "%s{\"storage_id\":%lld,\"waste_type\":\"%s\",\"amount\":%lld,"
                      "\"distance_m\":%lld}",
                      i ? "," : "", (long long)s->storage_id, job->types[s->type].code,
                      (long long)s->amount, (long long)s->distance_m);
    }
    strbuf_puts(&out, "],\"pending\":");
    quantity_json(&out, job, false);
    strbuf_puts(&out, "}");
    return strbuf_take(&out);
}

/* Postgres array literal text of n values produced by the callback. */
typedef void (*array_item_fn)(strbuf *out, const transfer_job *job, int index);

static char *pg_array(const transfer_job *job, int count, array_item_fn item)
{
    strbuf out = {0};
    strbuf_puts(&out, "{");
    for (int i = 0; i < count; i++) {
        if (i) {
            strbuf_puts(&out, ",");
        }
        item(&out, job, i);
    }
    strbuf_puts(&out, "}");
    return strbuf_take(&out);
}

static void ship_storage(strbuf *o, const transfer_job *j, int i)
{
    strbuf_int(o, j->shipments[i].storage_id);
}
static void ship_type(strbuf *o, const transfer_job *j, int i)
{
    strbuf_puts(o, j->types[j->shipments[i].type].code);
}
static void ship_amount(strbuf *o, const transfer_job *j, int i)
{
    strbuf_int(o, j->shipments[i].amount);
}
static void ship_distance(strbuf *o, const transfer_job *j, int i)
{
    strbuf_int(o, j->shipments[i].distance_m);
}
static void type_code(strbuf *o, const transfer_job *j, int i)
{
    strbuf_puts(o, j->types[i].code);
}
static void type_left(strbuf *o, const transfer_job *j, int i)
{
    strbuf_int(o, j->types[i].left);
}

static void finish(api_tx *tx, transfer_job *job)
{
    for (int k = 0; k < job->type_count; k++) {
        const type_state *t = &job->types[k];
        if (t->capacity >= 0 && t->left > t->capacity) {
            char detail[240];
            snprintf(detail, sizeof detail,
                     "%lld kg of %s would stay pending, over the organization's on-site "
                     "capacity of %lld kg; nothing was changed.",
                     (long long)t->left, t->code, (long long)t->capacity);
            api_tx_problem(tx, 409, "conflict", "Conflict", detail);
            return;
        }
    }
    char *body = response_json(job);
    if (body == NULL) {
        fail_memory(tx);
        return;
    }
    if (job->dry_run) {
        api_tx_ok(tx, 200, body, NULL);
        return;
    }
    if (job->automatic && job->shipment_count == 0) {
        free(body);
        api_tx_ok(tx, 204, NULL, NULL); /* nothing could be placed: write nothing */
        return;
    }
    bool any_left = false;
    for (int k = 0; k < job->type_count; k++) {
        any_left = any_left || job->types[k].left > 0;
    }
    strbuf received = {0}, pending = {0};
    quantity_json(&received, job, true);
    quantity_json(&pending, job, false);
    const char **p = job->params;
    char *id_text = malloc(24), *count_text = malloc(24);
    if (id_text != NULL && count_text != NULL) {
        snprintf(id_text, 24, "%lld", (long long)job->transfer_id);
        snprintf(count_text, 24, "%d", job->shipment_count);
    }
    p[0] = keep(job, id_text);
    p[1] = job->org_text;
    p[2] = job->automatic ? "auto" : "request";
    p[3] = keep(job, strbuf_take(&received));
    p[4] = keep(job, strbuf_take(&pending));
    p[5] = keep(job, pg_array(job, job->shipment_count, ship_storage));
    p[6] = keep(job, pg_array(job, job->shipment_count, ship_type));
    p[7] = keep(job, pg_array(job, job->shipment_count, ship_amount));
    p[8] = keep(job, pg_array(job, job->shipment_count, ship_distance));
    p[9] = keep(job, count_text);
    p[10] = job->org_text;
    p[11] = keep(job, pg_array(job, job->type_count, type_code));
    p[12] = keep(job, pg_array(job, job->type_count, type_left));
    p[13] = job->org_text;
    p[14] = any_left ? "true" : "false";
    for (int i = 0; i < 15; i++) {
        if (p[i] == NULL) {
            free(body);
            fail_memory(tx);
            return;
        }
    }
    int n = 0;
    job->queries[n++] = (db_query){ST_TR_INSERT, NULL, 9, &p[0]};
    if (job->shipment_count > 0) {
        /* ST_TR_STOCK takes (storages, types, amounts, count) = p[5..7], p[9]: copy them
         * next to each other. */
        p[15] = p[5];
        p[16] = p[6];
        p[17] = p[7];
        p[18] = p[9];
        job->queries[n++] = (db_query){ST_TR_STOCK, NULL, 4, &p[15]};
    }
    job->queries[n++] = (db_query){ST_TR_PENDING, NULL, 3, &p[10]};
    job->queries[n++] = (db_query){ST_TR_PENDING_SINCE, NULL, 2, &p[13]};
    char location[64];
    snprintf(location, sizeof location, "/v1/transfers/%lld", (long long)job->transfer_id);
    metrics_count_transfer(job->automatic ? "auto" : "request");
    for (int i = 0; i < job->shipment_count; i++) {
        metrics_count_shipped(job->types[job->shipments[i].type].code, job->shipments[i].amount);
    }
    api_tx_commit(tx, job->queries, n, 201, body, location);
}

/* Round 2 result: the locked candidate rows (storage_id, waste_type, room). */
static void plan(api_tx *tx, const db_result *result)
{
    transfer_job *job = api_tx_user(tx);
    if (result->status != DB_OK) {
        api_tx_db_error(tx, result);
        return;
    }
    int rows = db_rows(result, 0);
    alloc_candidate *candidates = calloc((size_t)(rows > 0 ? rows : 1), sizeof *candidates);
    alloc_shipment *out = calloc((size_t)(rows > 0 ? rows : 1), sizeof *out);
    job->shipments = calloc((size_t)(rows > 0 ? rows : 1), sizeof *job->shipments);
    if (candidates == NULL || out == NULL || job->shipments == NULL) {
        free(candidates);
        free(out);
        fail_memory(tx);
        return;
    }
    for (int k = 0; k < job->type_count; k++) {
        type_state *t = &job->types[k];
        if (t->left <= 0) {
            continue;
        }
        size_t count = 0;
        for (int row = 0; row < rows; row++) {
            if (strcmp(db_text(result, 0, row, 1), t->code) != 0) {
                continue;
            }
            int64_t id = db_int64(result, 0, row, 0);
            candidates[count++] =
                (alloc_candidate){id, graph_distance(job->paths, (node_ref){NODE_STORAGE, id}),
                                  db_int64(result, 0, row, 2)};
        }
        int64_t left = t->left;
        size_t shipped = alloc_plan(candidates, count, t->left, out, &left);
        for (size_t i = 0; i < shipped; i++) {
            job->shipments[job->shipment_count++] =
                (shipment){out[i].storage_id, k, out[i].amount_kg, out[i].distance_m};
        }
        t->left = left;
    }
    free(candidates);
    free(out);
    finish(tx, job);
}

static void id_item(strbuf *o, const transfer_job *j, int i)
{
    strbuf_int(o, j->reachable[i].id);
}

static void pending_type_item(strbuf *o, const transfer_job *j, int i)
{
    /* i-th type with something to place */
    for (int k = 0, seen = 0; k < j->type_count; k++) {
        if (j->types[k].left > 0 && seen++ == i) {
            strbuf_puts(o, j->types[k].code);
            return;
        }
    }
}

/* With a current graph: find the reachable storages and lock the candidates. */
static void lock_candidates(api_tx *tx, transfer_job *job)
{
    int to_place = 0;
    for (int k = 0; k < job->type_count; k++) {
        to_place += job->types[k].left > 0;
    }
    job->paths =
        graph_shortest_from(job->snapshot->roads, (node_ref){NODE_ORG, job->organization_id});
    size_t nodes = graph_node_count(job->snapshot->roads);
    job->reachable = calloc(nodes + 1, sizeof *job->reachable);
    job->reachable_dist = calloc(nodes + 1, sizeof *job->reachable_dist);
    if (job->paths == NULL || job->reachable == NULL || job->reachable_dist == NULL) {
        fail_memory(tx);
        return;
    }
    job->reachable_count =
        graph_reachable(job->paths, NODE_STORAGE, job->reachable, job->reachable_dist, nodes);
    if (to_place == 0 || job->reachable_count == 0) {
        finish(tx, job); /* nothing to place, or nowhere to place it */
        return;
    }
    const char *types = keep(job, pg_array(job, to_place, pending_type_item));
    const char *ids = keep(job, pg_array(job, (int)job->reachable_count, id_item));
    if (types == NULL || ids == NULL) {
        fail_memory(tx);
        return;
    }
    job->params[20] = types;
    job->params[21] = ids;
    job->queries[0] = (db_query){ST_TR_CANDIDATES, NULL, 2, &job->params[20]};
    api_tx_send(tx, job->queries, 1, plan);
}

static void graph_loaded(api_tx *tx, const db_result *result)
{
    transfer_job *job = api_tx_user(tx);
    if (result->status != DB_OK) {
        api_tx_db_error(tx, result);
        return;
    }
    job->snapshot = graph_cache_install(api_tx_app(tx), result, 0);
    if (job->snapshot == NULL) {
        fail_memory(tx);
        return;
    }
    lock_candidates(tx, job);
}

/* Round 1 result: [organization lock + version/now/id, its waste rows, type check]. */
static void locked(api_tx *tx, const db_result *result)
{
    transfer_job *job = api_tx_user(tx);
    attempt_reset(job);
    if (result->status != DB_OK) {
        api_tx_db_error(tx, result);
        return;
    }
    if (db_rows(result, 0) == 0) {
        if (job->automatic) {
            /* Another transaction holds the organization: it will be swept again. */
            api_tx_problem(tx, 423, "locked", "Locked", "The organization is busy.");
        } else {
            api_tx_problem(tx, 404, "not-found", "Not Found", "Organization not found.");
        }
        return;
    }
    int64_t version = db_int64(result, 0, 0, 1);
    snprintf(job->created_at, sizeof job->created_at, "%s", db_text(result, 0, 0, 2));
    job->transfer_id = db_int64(result, 0, 0, 3);
    if (!merge_types(job, result)) {
        fail_memory(tx);
        return;
    }
    job->snapshot = graph_cache_get(api_tx_app(tx), version);
    if (job->snapshot == NULL) {
        job->graph_load = (db_query){ST_GRAPH_LOAD, NULL, 0, NULL};
        api_tx_send(tx, &job->graph_load, 1, graph_loaded);
        return;
    }
    lock_candidates(tx, job);
}

static transfer_job *job_new(int64_t organization_id, bool automatic)
{
    transfer_job *job = calloc(1, sizeof *job);
    if (job == NULL) {
        return NULL;
    }
    job->organization_id = organization_id;
    job->automatic = automatic;
    snprintf(job->org_text, sizeof job->org_text, "%lld", (long long)organization_id);
    return job;
}

static void job_spec(transfer_job *job, api_tx_spec *spec)
{
    job->round1_params[0] = job->org_text;
    job->round1_params[1] = job->received_codes != NULL ? job->received_codes : "{}";
    job->round1_params[2] = "waste.";
    job->round1[0] = (db_query){job->automatic ? ST_TR_LOCK_ORG_SKIP : ST_TR_LOCK_ORG, NULL, 1,
                                job->round1_params};
    job->round1[1] = (db_query){ST_TR_ORG_WASTE, NULL, 1, job->round1_params};
    job->round1[2] = (db_query){ST_CHECK_TYPES, NULL, 2, &job->round1_params[1]};
    *spec = (api_tx_spec){job->round1, 3, TX_OPEN, locked};
}

/* Reads {"waste": {...}} into job->received; replies and returns false when invalid. */
static bool read_request(http_ctx *ctx, transfer_job *job)
{
    cJSON *body = api_body_object(ctx);
    if (body == NULL) {
        return false;
    }
    static const char *const allowed[] = {"waste", NULL};
    if (!api_only_fields(ctx, body, allowed, "")) {
        cJSON_Delete(body);
        return false;
    }
    const cJSON *waste = cJSON_GetObjectItemCaseSensitive(body, "waste");
    field_errors errors = {0};
    char *json = NULL;
    int entries = 0;
    if (waste != NULL) {
        entries = api_quantity_map(waste, "waste", false, &errors, &json, &job->received_codes);
    }
    free(json);
    if (errors.count > 0) {
        cJSON_Delete(body);
        api_reply_field_errors(ctx, &errors);
        return false;
    }
    job->received = calloc((size_t)(entries > 0 ? entries : 1), sizeof *job->received);
    if (job->received == NULL) {
        cJSON_Delete(body);
        http_reply_unavailable(ctx, "Out of memory.");
        return false;
    }
    for (const cJSON *item = waste != NULL ? waste->child : NULL; item != NULL; item = item->next) {
        type_state *t = &job->received[job->received_count++];
        snprintf(t->code, sizeof t->code, "%s", item->string);
        t->received = (int64_t)item->valuedouble;
    }
    cJSON_Delete(body);
    return true;
}

void handle_transfers_create(http_ctx *ctx)
{
    const char *dry_run = http_query_param(ctx, "dry_run");
    if (dry_run != NULL && strcmp(dry_run, "true") != 0 && strcmp(dry_run, "false") != 0) {
        http_reply_invalid(ctx, "dry_run", "must be true or false");
        return;
    }
    transfer_job *job = job_new(ctx->match.ids[0], false);
    if (job == NULL) {
        http_reply_unavailable(ctx, "Out of memory.");
        return;
    }
    job->dry_run = dry_run != NULL && strcmp(dry_run, "true") == 0;
    if (!read_request(ctx, job)) {
        job_free(job);
        return;
    }
    if (job->dry_run) {
        ctx->idempotency_key = NULL; /* a dry run writes nothing, so there is nothing to replay */
    }
    api_tx_spec spec;
    job_spec(job, &spec);
    api_tx_start(ctx, &spec, job, job_free);
}

static void background_done(void *arg, int status, const char *body)
{
    transfer_job *job = arg;
    if (job->done != NULL) {
        job->done(job->done_arg, status, job->shipment_count);
    }
    job_free(job);
}

int transfer_dispatch(void *application, int64_t organization_id, int64_t deadline_ms,
                      transfer_done_cb done, void *arg)
{
    transfer_job *job = job_new(organization_id, true);
    if (job == NULL) {
        return -1;
    }
    job->done = done;
    job->done_arg = arg;
    api_tx_spec spec;
    job_spec(job, &spec);
    api_tx_start_background(application, deadline_ms, &spec, job, background_done);
    return 0;
}

void handle_transfers_list(http_ctx *ctx)
{
    int limit;
    int64_t after, organization_id, storage_id;
    const char *waste_type;
    if (!api_page_params(ctx, &limit, &after) ||
        !api_id_param(ctx, "organization_id", &organization_id) ||
        !api_id_param(ctx, "storage_id", &storage_id) ||
        !api_code_param(ctx, "waste_type", &waste_type)) {
        return;
    }
    api_req *req = api_req_for(ctx);
    if (req == NULL) {
        return;
    }
    req->p[0] = api_id_text(req->text[0], after);
    req->p[1] = api_id_text(req->text[1], limit);
    req->p[2] = organization_id ? api_id_text(req->text[2], organization_id) : NULL;
    req->p[3] = storage_id ? api_id_text(req->text[3], storage_id) : NULL;
    req->p[4] = waste_type != NULL ? api_req_own(req, strdup(waste_type)) : NULL;
    req->p[5] = req->p[4];
    req->p[6] = "waste_type";
    api_req_add(req, ST_CHECK_TYPE, 5, 2);
    api_req_add(req, ST_TR_LIST, 0, 5);
    api_req_run(ctx, req, TX_NONE, api_reply_json_row);
}

void handle_transfers_get(http_ctx *ctx)
{
    api_get_by_id(ctx, ST_TR_GET);
}
