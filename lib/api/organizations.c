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
    api_req *req = api_req_for(ctx);
    if (req == NULL) {
        return;
    }
    req->p[0] = api_id_text(req->text[0], after);
    req->p[1] = api_id_text(req->text[1], limit);
    api_req_add(req, ST_ORG_LIST, 0, 2);
    api_req_run(ctx, req, TX_NONE, api_reply_json_row);
}

void handle_organizations_get(http_ctx *ctx)
{
    api_get_by_id(ctx, ST_ORG_GET);
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
    api_req *req = api_req_for(ctx);
    if (req == NULL) {
        return;
    }
    if (!api_read_name_capacity(ctx, req, true, false)) {
        api_req_free(req);
        return;
    }
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
    api_req *req = api_req_for(ctx);
    if (req == NULL) {
        return;
    }
    if (!api_read_name_capacity(ctx, req, false, false)) {
        api_req_free(req);
        return;
    }
    req->p[0] = api_id_text(req->text[0], ctx->match.ids[0]);
    /* ST_ORG_PATCH takes (id, name, capacity) = p[0], p[1], p[2]. */
    api_req_add(req, ST_CHECK_TYPES, 5, 2);
    api_req_add(req, ST_ORG_PATCH, 0, 3);
    api_req_add(req, ST_ORG_JSON, 0, 1);
    api_req_run(ctx, req, TX_ONE_ROUND, patched);
}

void handle_organizations_delete(http_ctx *ctx)
{
    api_req *req = api_req_for(ctx);
    if (req == NULL) {
        return;
    }
    req->p[0] = api_id_text(req->text[0], ctx->match.ids[0]);
    api_req_add(req, ST_ORG_LOCK, 0, 1);
    api_req_add(req, ST_ORG_DELETE, 0, 1);
    static const api_delete_spec spec = {
        "Organization", "The organization has ledger history (transfers) and cannot be deleted.",
        0};
    api_run_delete(ctx, req, &spec);
}
