/* /v1/storages: accumulation sites, the types they accept, capacity, stock and unloads.
 * Every change that can free room bumps the dispatch epoch in the same transaction, so
 * pending waste elsewhere is placed automatically. */
#include "api/common.h"
#include "api/dispatch.h"
#include "api/handlers.h"
#include "api/statements.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void handle_storages_list(http_ctx *ctx)
{
    int limit;
    int64_t after;
    const char *accepts;
    if (!api_page_params(ctx, &limit, &after) || !api_code_param(ctx, "accepts", &accepts)) {
        return;
    }
    api_req *req = api_req_for(ctx);
    if (req == NULL) {
        return;
    }
    req->p[0] = api_id_text(req->text[0], after);
    req->p[1] = api_id_text(req->text[1], limit);
    req->p[2] = accepts != NULL ? api_req_own(req, strdup(accepts)) : NULL;
    req->p[3] = "accepts";
    api_req_add(req, ST_CHECK_TYPE, 2, 2);
    api_req_add(req, ST_ST_LIST, 0, 3);
    api_req_run(ctx, req, TX_NONE, api_reply_json_row);
}

void handle_storages_get(http_ctx *ctx)
{
    api_get_by_id(ctx, ST_ST_GET);
}

static bool name_conflict(api_tx *tx, const db_result *result)
{
    if (strcmp(result->sqlstate, "23505") == 0) {
        api_tx_problem(tx, 409, "conflict", "Conflict", "A storage with this name already exists.");
        return true;
    }
    return false;
}

static void room_committed(api_tx *tx)
{
    dispatcher_kick(app_of(api_tx_ctx(tx))->dispatcher);
}

static void created(api_tx *tx, const db_result *result)
{
    if (result->status != DB_OK) {
        if (!name_conflict(tx, result)) {
            api_tx_db_error(tx, result);
        }
        return;
    }
    room_committed(tx);
    char location[64];
    snprintf(location, sizeof location, "/v1/storages/%s", db_text(result, 1, 0, 0));
    api_tx_ok(tx, 201, strdup(db_text(result, 3, 0, 0)), location);
}

void handle_storages_create(http_ctx *ctx)
{
    api_req *req = api_req_for(ctx);
    if (req == NULL) {
        return;
    }
    if (!api_read_name_capacity(ctx, req, true, true)) {
        api_req_free(req);
        return;
    }
    api_req_add(req, ST_CHECK_TYPES, 5, 2);
    api_req_add(req, ST_ST_CREATE, 1, 2);
    api_req_add(req, ST_ROOM_BUMP, 0, 0);
    api_req_add(req, ST_ST_JSON_CURRENT, 0, 0);
    api_req_run(ctx, req, TX_ONE_ROUND, created);
}

static void patched(api_tx *tx, const db_result *result)
{
    if (result->status != DB_OK) {
        if (strcmp(result->sqlstate, "23514") == 0) {
            api_tx_problem(tx, 409, "conflict", "Conflict",
                           "A capacity cannot go below the stock the storage holds.");
        } else if (!name_conflict(tx, result)) {
            api_tx_db_error(tx, result);
        }
        return;
    }
    if (db_rows(result, 1) == 0) {
        api_tx_problem(tx, 404, "not-found", "Not Found", "Storage not found.");
        return;
    }
    room_committed(tx);
    api_tx_ok(tx, 200, strdup(db_text(result, result->count - 1, 0, 0)), NULL);
}

void handle_storages_patch(http_ctx *ctx)
{
    api_req *req = api_req_for(ctx);
    if (req == NULL) {
        return;
    }
    if (!api_read_name_capacity(ctx, req, false, false)) {
        api_req_free(req);
        return;
    }
    req->p[0] = api_id_text(req->text[0], ctx->match.ids[0]);
    /* ST_ST_REMOVE_TYPES takes (id, capacity) — copy them next to each other. */
    req->p[7] = req->p[0];
    req->p[8] = req->p[2];
    api_req_add(req, ST_CHECK_TYPES, 5, 2);
    api_req_add(req, ST_ST_PATCH, 0, 3);
    api_req_add(req, ST_ST_REMOVE_TYPES, 7, 2);
    api_req_add(req, ST_ST_HAS_TYPES, 0, 1);
    api_req_add(req, ST_ROOM_BUMP_STORAGE, 0, 1);
    api_req_add(req, ST_ST_JSON, 0, 1);
    api_req_run(ctx, req, TX_ONE_ROUND, patched);
}

void handle_storages_delete(http_ctx *ctx)
{
    api_req *req = api_req_for(ctx);
    if (req == NULL) {
        return;
    }
    req->p[0] = api_id_text(req->text[0], ctx->match.ids[0]);
    api_req_add(req, ST_ST_LOCK, 0, 1);
    api_req_add(req, ST_ST_DELETE, 0, 1);
    static const api_delete_spec spec = {
        "Storage", "The storage has ledger history (shipments or unloads) and cannot be deleted.",
        0};
    api_run_delete(ctx, req, &spec);
}

static void unloaded(api_tx *tx, const db_result *result)
{
    if (db_rows(result, 0) == 0 && result->failed_query != 0) {
        api_tx_problem(tx, 404, "not-found", "Not Found", "Storage not found.");
        return;
    }
    if (result->status != DB_OK) {
        if (strcmp(result->sqlstate, "23514") == 0) {
            api_tx_problem(tx, 409, "conflict", "Conflict",
                           "Cannot unload more than the storage holds.");
        } else {
            api_tx_db_error(tx, result);
        }
        return;
    }
    room_committed(tx);
    api_tx_ok(tx, 200, strdup(db_text(result, result->count - 1, 0, 0)), NULL);
}

void handle_storages_unload(http_ctx *ctx)
{
    cJSON *body = api_body_object(ctx);
    if (body == NULL) {
        return;
    }
    field_errors errors = {0};
    char *json = NULL, *codes = NULL;
    int entries = api_quantity_map(body, "", false, &errors, &json, &codes);
    if (entries == 0) {
        field_errors_add(&errors, "", "name at least one waste type and amount to unload");
    }
    if (errors.count > 0) {
        cJSON_Delete(body);
        free(json);
        free(codes);
        api_reply_field_errors(ctx, &errors);
        return;
    }
    free(json);
    /* Amounts as a Postgres array in the same order as the codes. */
    size_t cap = 32 + (size_t)entries * 16;
    char *amounts = malloc(cap);
    api_req *req = api_req_new();
    if (amounts == NULL || req == NULL) {
        free(amounts);
        free(codes);
        api_req_free(req);
        cJSON_Delete(body);
        http_reply_unavailable(ctx, "Out of memory.");
        return;
    }
    size_t used = (size_t)snprintf(amounts, cap, "{");
    int index = 0;
    for (const cJSON *item = body->child; item != NULL; item = item->next, index++) {
        used += (size_t)snprintf(amounts + used, cap - used, "%s%lld", index ? "," : "",
                                 (long long)item->valuedouble);
    }
    snprintf(amounts + used, cap - used, "}");
    cJSON_Delete(body);
    req->p[0] = api_id_text(req->text[0], ctx->match.ids[0]);
    req->p[1] = api_req_own(req, codes);
    req->p[2] = api_req_own(req, amounts);
    req->p[3] = "";
    /* ST_CHECK_TYPES takes (codes, prefix). */
    req->p[4] = req->p[1];
    req->p[5] = req->p[3];
    api_req_add(req, ST_ST_LOCK_UNLOAD, 0, 1);
    api_req_add(req, ST_CHECK_TYPES, 4, 2);
    api_req_add(req, ST_ST_UNLOAD_CHECK, 0, 2);
    api_req_add(req, ST_ST_UNLOAD, 0, 3);
    api_req_add(req, ST_ROOM_BUMP, 0, 0);
    api_req_add(req, ST_ST_JSON, 0, 1);
    api_req_run(ctx, req, TX_ONE_ROUND, unloaded);
}
