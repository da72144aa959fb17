/* /v1/waste-types: the codes every quantity map is keyed by. */
#include "api/common.h"
#include "api/handlers.h"
#include "api/statements.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void handle_waste_types_list(http_ctx *ctx)
{
    int limit;
    /* This list is ordered by code, so its cursor is the last code seen. */
    const char *cursor = http_query_param(ctx, "cursor");
    if (cursor != NULL && !waste_code_valid(cursor)) {
        http_reply_invalid(ctx, "cursor", "must be a next_cursor value returned by this list");
        return;
    }
    if (!api_limit_param(ctx, &limit)) {
        return;
    }
    api_req *req = api_req_for(ctx);
    if (req == NULL) {
        return;
    }
    req->p[0] = cursor;
    req->p[1] = api_id_text(req->text[0], limit);
    api_req_add(req, ST_WT_LIST, 0, 2);
    api_req_run(ctx, req, TX_NONE, api_reply_json_row);
}

void handle_waste_types_get(http_ctx *ctx)
{
    api_req *req = api_req_for(ctx);
    if (req == NULL) {
        return;
    }
    req->p[0] = api_req_own(req, strdup(ctx->match.code));
    api_req_add(req, ST_WT_GET, 0, 1);
    api_req_run(ctx, req, TX_NONE, api_reply_json_row);
}

static void created(api_tx *tx, const db_result *result)
{
    if (result->status != DB_OK) {
        if (result->sqlstate != NULL && strcmp(result->sqlstate, "23505") == 0) {
            api_tx_problem(tx, 409, "conflict", "Conflict",
                           "A waste type with this code already exists.");
            return;
        }
        api_tx_db_error(tx, result);
        return;
    }
    api_req *req = api_tx_user(tx);
    char location[80];
    snprintf(location, sizeof location, "/v1/waste-types/%s", req->p[0]);
    api_tx_ok(tx, 201, strdup(db_text(result, 0, 0, 0)), location);
}

void handle_waste_types_create(http_ctx *ctx)
{
    cJSON *body = api_body_object(ctx);
    if (body == NULL) {
        return;
    }
    static const char *const allowed[] = {"code", "name", NULL};
    if (!api_only_fields(ctx, body, allowed, "")) {
        cJSON_Delete(body);
        return;
    }
    field_errors errors = {0};
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(body, "code");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(body, "name");
    const char *why = NULL;
    if (!cJSON_IsString(code) || !waste_code_valid(code->valuestring)) {
        field_errors_add(&errors, "code", "must match ^[a-z][a-z0-9_]{0,31}$");
    }
    if (!json_input_name(name, &why)) {
        field_errors_add(&errors, "name", name == NULL ? "is required" : why);
    }
    if (errors.count > 0) {
        cJSON_Delete(body);
        api_reply_field_errors(ctx, &errors);
        return;
    }
    api_req *req = api_req_new();
    if (req == NULL) {
        cJSON_Delete(body);
        http_reply_unavailable(ctx, "Out of memory.");
        return;
    }
    req->p[0] = api_req_own(req, strdup(code->valuestring));
    req->p[1] = api_req_own(req, strdup(name->valuestring));
    cJSON_Delete(body);
    api_req_add(req, ST_WT_CREATE, 0, 2);
    api_req_run(ctx, req, TX_ONE_ROUND, created);
}
