/* /v1/organizations: the waste producers, their on-site limits and pending waste. */
#include "api/common.h"
#include "api/handlers.h"
#include "api/statements.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void handle_organizations_list(http_ctx *ctx)
{
    int limit;
    int64_t after;
    if (!api_page_params(ctx, &limit, &after)) {
        return;
    }
    api_req *req = api_req_new();
    if (req == NULL) {
        http_reply_unavailable(ctx, "Out of memory.");
        return;
    }
    req->p[0] = api_id_text(req->text[0], after);
    req->p[1] = api_id_text(req->text[1], limit);
    api_req_add(req, ST_ORG_LIST, 0, 2);
    api_req_run(ctx, req, TX_NONE, api_reply_json_row);
}

void handle_organizations_get(http_ctx *ctx)
{
    api_req *req = api_req_new();
    if (req == NULL) {
        http_reply_unavailable(ctx, "Out of memory.");
        return;
    }
    req->p[0] = api_id_text(req->text[0], ctx->match.ids[0]);
    api_req_add(req, ST_ORG_GET, 0, 1);
    api_req_run(ctx, req, TX_NONE, api_reply_json_row);
}

/* Reads name and capacity of a create or patch body into req->p[1] (name or NULL),
 * req->p[2] (capacity JSON or NULL) and req->p[3] (capacity codes array). */
static bool read_body(http_ctx *ctx, api_req *req, bool creating)
{
    cJSON *body = api_body_object(ctx);
    if (body == NULL) {
        return false;
    }
    static const char *const allowed[] = {"name", "capacity", NULL};
    if (!api_only_fields(ctx, body, allowed, "")) {
        cJSON_Delete(body);
        return false;
    }
    field_errors errors = {0};
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(body, "name");
    const cJSON *capacity = cJSON_GetObjectItemCaseSensitive(body, "capacity");
    const char *why = NULL;
    if (name == NULL && creating) {
        field_errors_add(&errors, "name", "is required");
    } else if (name != NULL && !json_input_name(name, &why)) {
        field_errors_add(&errors, "name", why);
    }
    char *capacity_json = NULL, *codes = NULL;
    if (capacity != NULL && !(cJSON_IsNull(capacity) && !creating)) {
        api_quantity_map(capacity, "capacity", !creating, &errors, &capacity_json, &codes);
    }
    if (errors.count > 0) {
        cJSON_Delete(body);
        free(capacity_json);
        free(codes);
        api_reply_field_errors(ctx, &errors);
        return false;
    }
    req->p[1] = name != NULL ? api_req_own(req, strdup(name->valuestring)) : NULL;
    req->p[2] = capacity_json != NULL ? api_req_own(req, capacity_json) : (creating ? "{}" : NULL);
    req->p[3] = codes != NULL ? api_req_own(req, codes) : "{}";
    req->p[4] = "capacity.";
    cJSON_Delete(body);
    return true;
}

static void created(api_tx *tx, const db_result *result)
{
    if (result->status != DB_OK) {
        if (strcmp(result->sqlstate, "23505") == 0) {
            api_tx_problem(tx, 409, "conflict", "Conflict",
                           "An organization with this name already exists.");
            return;
        }
        api_tx_db_error(tx, result);
        return;
    }
    char location[64];
    snprintf(location, sizeof location, "/v1/organizations/%s", db_text(result, 1, 0, 0));
    api_tx_ok(tx, 201, strdup(db_text(result, 2, 0, 0)), location);
}

void handle_organizations_create(http_ctx *ctx)
{
    api_req *req = api_req_new();
    if (req == NULL) {
        http_reply_unavailable(ctx, "Out of memory.");
        return;
    }
    if (!read_body(ctx, req, true)) {
        api_req_free(req);
        return;
    }
    req->p[5] = req->p[3];
    req->p[6] = req->p[4];
    api_req_add(req, ST_CHECK_TYPES, 5, 2);
    api_req_add(req, ST_ORG_CREATE, 1, 2);
    api_req_add(req, ST_ORG_JSON_CURRENT, 0, 0);
    api_req_run(ctx, req, TX_ONE_ROUND, created);
}

static void patched(api_tx *tx, const db_result *result)
{
    if (result->status != DB_OK) {
        if (strcmp(result->sqlstate, "23505") == 0) {
            api_tx_problem(tx, 409, "conflict", "Conflict",
                           "An organization with this name already exists.");
        } else if (strcmp(result->sqlstate, "23514") == 0) {
            api_tx_problem(tx, 409, "conflict", "Conflict",
                           "The on-site capacity cannot go below the waste pending there.");
        } else {
            api_tx_db_error(tx, result);
        }
        return;
    }
    if (db_rows(result, 1) == 0) {
        api_tx_problem(tx, 404, "not-found", "Not Found", "Organization not found.");
        return;
    }
    api_tx_ok(tx, 200, strdup(db_text(result, 2, 0, 0)), NULL);
}

void handle_organizations_patch(http_ctx *ctx)
{
    api_req *req = api_req_new();
    if (req == NULL) {
        http_reply_unavailable(ctx, "Out of memory.");
        return;
    }
    if (!read_body(ctx, req, false)) {
        api_req_free(req);
        return;
    }
    req->p[0] = api_id_text(req->text[0], ctx->match.ids[0]);
    req->p[5] = req->p[3];
    req->p[6] = req->p[4];
    /* ST_ORG_PATCH takes (id, name, capacity) = p[0], p[1], p[2]. */
    api_req_add(req, ST_CHECK_TYPES, 5, 2);
    api_req_add(req, ST_ORG_PATCH, 0, 3);
    api_req_add(req, ST_ORG_JSON, 0, 1);
    api_req_run(ctx, req, TX_ONE_ROUND, patched);
}

static void deleted(api_tx *tx, const db_result *result)
{
    if (result->status != DB_OK) {
        if (strcmp(result->sqlstate, "23503") == 0) {
            api_tx_problem(tx, 409, "conflict", "Conflict",
                           "The organization has ledger history (transfers) and cannot be "
                           "deleted.");
        } else {
            api_tx_db_error(tx, result);
        }
        return;
    }
    if (db_rows(result, 0) == 0) {
        api_tx_problem(tx, 404, "not-found", "Not Found", "Organization not found.");
        return;
    }
    api_tx_ok(tx, 204, NULL, NULL);
}

void handle_organizations_delete(http_ctx *ctx)
{
    api_req *req = api_req_new();
    if (req == NULL) {
        http_reply_unavailable(ctx, "Out of memory.");
        return;
    }
    req->p[0] = api_id_text(req->text[0], ctx->match.ids[0]);
    api_req_add(req, ST_ORG_LOCK, 0, 1);
    api_req_add(req, ST_ORG_DELETE, 0, 1);
    api_req_run(ctx, req, TX_ONE_ROUND, deleted);
}
