/* /v1/storages: accumulation sites, the types they accept, capacity, stock and unloads.
 * A change that really frees room is recorded in room_events by a trigger in the same
 * transaction (sql/migrations/004_room_and_totals.sql) and, once committed, wakes this
 * instance's dispatcher, so pending waste elsewhere is placed automatically. */
#include "api/common.h"
#include "api/handlers.h"
#include "api/repr.h"
#include "api/rows.h"
#include "engine/dispatch.h"
#include "engine/statements.h"

static const tx_conflict storage_conflicts[] = {
    {"storages_name_key", PROBLEM_CONFLICT, NULL, "A storage with this name already exists."},
    {"storage_waste_stock_within_capacity", PROBLEM_CONFLICT, NULL,
     "A capacity cannot go below the stock the storage holds plus the kilograms reserved for "
     "loads in transit to it."},
    {"shipments_storage_id_fkey", PROBLEM_CONFLICT, NULL,
     "The storage has ledger history (shipments or unloads) and cannot be deleted."},
    {"unloads_storage_id_fkey", PROBLEM_CONFLICT, NULL,
     "The storage has ledger history (shipments or unloads) and cannot be deleted."},
    {NULL, 0, NULL, NULL},
};

static const tx_conflict unload_conflicts[] = {
    {"storage_waste_stock_within_capacity", PROBLEM_CONFLICT, NULL,
     "Cannot unload more than the storage holds."},
    {NULL, 0, NULL, NULL},
};

void handle_storages_list(http_ctx *ctx)
{
    api_page page;
    const char *accepts;
    if (!api_page_params(ctx, &page) || !api_code_param(ctx, "accepts", &accepts)) {
        return;
    }
    tx *t = tx_for(ctx);
    tx_q(t, ST_ST_LIST, tx_int(t, page.after_id), tx_int(t, page.limit + 1), accepts);
    api_check_type(t, accepts, "accepts");
    api_run_holder_list(t, &page, 0, repr_storage);
}

void handle_storages_get(http_ctx *ctx)
{
    api_get_holder_by_id(ctx, ST_ST_GET, "Storage", repr_storage);
}

static void room_appeared(tx *t, void *arg)
{
    dispatcher_room_appeared(tx_app(t)->dispatcher);
}

/* Replies with the storage of query q once the change is committed, waking the dispatcher. */
static void reply_storage(tx *t, const db_result *result, int q, int status, const char *location)
{
    tx_on_commit(t, room_appeared, NULL);
    api_reply_holder(t, result, q, status, location, repr_storage);
}

static void created(tx *t, const db_result *result)
{
    const char *location = arena_printf(tx_arena(t), "/v1/storages/%s", db_text(result, 1, 0, 0));
    reply_storage(t, result, result->count - 1, 201, location);
}

void handle_storages_create(http_ctx *ctx)
{
    api_name_capacity body;
    if (!api_read_name_capacity(ctx, true, true, true, &body)) {
        return;
    }
    tx *t = tx_for(ctx);
    tx_q(t, ST_CHECK_TYPES, body.codes, "capacity.");
    tx_q(t, ST_ST_CREATE, body.name, body.capacity, body.intake);
    tx_q0(t, ST_ST_GET_NEW);
    tx_conflicts(t, storage_conflicts);
    tx_run(t, TX_ONE_ROUND, created);
}

static void patched(tx *t, const db_result *result)
{
    reply_storage(t, result, result->count - 1, 200, NULL);
}

void handle_storages_patch(http_ctx *ctx)
{
    api_name_capacity body;
    if (!api_read_name_capacity(ctx, true, false, false, &body)) {
        return;
    }
    tx *t = tx_for(ctx);
    const char *id = tx_int(t, ctx->match.ids[0]);
    tx_q(t, ST_CHECK_TYPES, body.codes, "capacity.");
    tx_q(t, ST_ST_PATCH, id, body.name, body.capacity, body.intake);
    tx_q(t, ST_ST_REMOVE_TYPES, id, body.capacity);
    tx_q(t, ST_ST_HAS_TYPES, id);
    tx_q(t, ST_ST_GET, id);
    tx_conflicts(t, storage_conflicts);
    tx_run(t, TX_ONE_ROUND, patched);
}

void handle_storages_delete(http_ctx *ctx)
{
    tx *t = tx_for(ctx);
    const char *id = tx_int(t, ctx->match.ids[0]);
    tx_q(t, ST_ST_LOCK, id);
    tx_q(t, ST_ST_DELETE, id);
    api_run_delete(t, storage_conflicts);
}

static void unloaded(tx *t, const db_result *result)
{
    reply_storage(t, result, result->count - 1, 200, NULL);
}

void handle_storages_unload(http_ctx *ctx)
{
    cJSON *body = api_body_object(ctx);
    if (body == NULL) {
        return;
    }
    field_errors errors = {0};
    api_quantities amounts;
    bool valid = api_quantity_map(ctx, body, "", false, &errors, &amounts);
    cJSON_Delete(body);
    if (valid && amounts.count == 0) {
        field_errors_add(&errors, "", "name at least one waste type and amount to unload");
    }
    if (errors.count > 0) {
        http_problem_fields(ctx, &errors);
        return;
    }
    tx *t = tx_for(ctx);
    const char *id = tx_int(t, ctx->match.ids[0]);
    tx_q(t, ST_ST_LOCK_UNLOAD, id);
    tx_q(t, ST_CHECK_TYPES, amounts.codes, "");
    tx_q(t, ST_ST_UNLOAD_CHECK, id, amounts.codes);
    tx_q(t, ST_ST_UNLOAD, id, amounts.codes, amounts.amounts, tx_text(t, ctx->principal.actor));
    tx_q(t, ST_ST_GET, id);
    tx_conflicts(t, unload_conflicts);
    tx_run(t, TX_ONE_ROUND, unloaded);
}
