/* /v1/organizations: the waste producers, their on-site limits and pending waste. */
#include "api/access.h"
#include "api/common.h"
#include "api/handlers.h"
#include "api/repr.h"
#include "api/rows.h"
#include "engine/statements.h"

static const tx_conflict organization_conflicts[] = {
    {"organizations_name_key", PROBLEM_CONFLICT, NULL,
     "An organization with this name already exists."},
    {"transfers_organization_id_fkey", PROBLEM_CONFLICT, NULL,
     "The organization has ledger history (transfers) and cannot be deleted."},
    {NULL, 0, NULL, NULL},
};

void handle_organizations_list(http_ctx *ctx)
{
    api_page page;
    if (!api_page_params(ctx, &page)) {
        return;
    }
    tx *t = tx_for(ctx);
    int64_t own = access_own_organization(ctx);
    tx_q(t, ST_ORG_LIST, tx_int(t, page.after_id), tx_int(t, page.limit + 1),
         own ? tx_int(t, own) : NULL);
    api_run_holder_list(t, &page, 0, repr_organization);
}

void handle_organizations_get(http_ctx *ctx)
{
    api_get_holder_by_id(ctx, ST_ORG_GET, "Organization", repr_organization);
}

static void created(tx *t, const db_result *result)
{
    const char *location =
        arena_printf(tx_arena(t), "/v1/organizations/%s", db_text(result, 1, 0, 0));
    api_reply_holder(t, result, 2, 201, location, repr_organization);
}

void handle_organizations_create(http_ctx *ctx)
{
    api_name_capacity body;
    if (!api_read_name_capacity(ctx, false, true, false, &body)) {
        return;
    }
    tx *t = tx_for(ctx);
    tx_q(t, ST_CHECK_TYPES, body.codes, "capacity.");
    tx_q(t, ST_ORG_CREATE, body.name, body.capacity);
    tx_q0(t, ST_ORG_GET_NEW);
    tx_conflicts(t, organization_conflicts);
    tx_run(t, TX_ONE_ROUND, created);
}

static void patched(tx *t, const db_result *result)
{
    api_reply_holder(t, result, result->count - 1, 200, NULL, repr_organization);
}

void handle_organizations_patch(http_ctx *ctx)
{
    api_name_capacity body;
    if (!api_read_name_capacity(ctx, false, false, false, &body)) {
        return;
    }
    tx *t = tx_for(ctx);
    const char *id = tx_int(t, ctx->match.ids[0]);
    tx_q(t, ST_CHECK_TYPES, body.codes, "capacity.");
    tx_q(t, ST_ORG_PATCH, id, body.name, body.capacity);
    tx_q(t, ST_ORG_LIMIT_CHECK, id, body.capacity);
    tx_q(t, ST_ORG_GET, id);
    tx_conflicts(t, organization_conflicts);
    tx_run(t, TX_ONE_ROUND, patched);
}

void handle_organizations_delete(http_ctx *ctx)
{
    tx *t = tx_for(ctx);
    const char *id = tx_int(t, ctx->match.ids[0]);
    tx_q(t, ST_ORG_LOCK, id);
    tx_q(t, ST_ORG_DELETE, id);
    api_run_delete(t, organization_conflicts);
}
