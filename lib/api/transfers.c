/* Transfers over HTTP: handing waste over (and its dry run), listing and reading the
 * ledger. The transfer itself is the engine's (lib/engine/transfer.c); this file reads the
 * request and renders results. */
#include "api/access.h"
#include "api/common.h"
#include "api/handlers.h"
#include "api/repr.h"
#include "api/rows.h"
#include "core/movement.h"
#include "engine/statements.h"
#include "engine/transfer.h"
#include "util/mem.h"

#include <stdlib.h>
#include <string.h>

/* {"glass": 10, ...} of the types whose received (or left) amount is positive. */
static void quantities(strbuf *out, const transfer_result *result, bool received)
{
    strbuf_puts(out, "{");
    size_t written = 0;
    for (size_t k = 0; k < result->type_count; k++) {
        const plan_type *type = &result->types[k];
        int64_t kg = received ? type->received_kg : type->left_kg;
        if (kg > 0) {
            strbuf_puts(out, written++ ? ",\"" : "\"");
            strbuf_puts(out, type->code);
            strbuf_puts(out, "\":");
            strbuf_int(out, kg);
        }
    }
    strbuf_puts(out, "}");
}

static void render_result(strbuf *out, const transfer_result *result)
{
    strbuf received = {0}, pending = {0};
    quantities(&received, result, true);
    quantities(&pending, result, false);
    size_t count = result->shipment_count;
    repr_shipment_row *shipments = xcalloc(count ? count : 1, sizeof *shipments);
    for (size_t i = 0; i < count; i++) {
        const plan_shipment *s = &result->shipments[i];
        bool travels = result->in_transit != NULL && result->in_transit[i];
        shipments[i] = (repr_shipment_row){
            s->storage_id,
            result->types[s->type].code,
            s->amount_kg,
            s->distance_m,
            result->movement_ids != NULL ? result->movement_ids[i] : 0,
            movement_status_name(travels ? MOVEMENT_IN_TRANSIT : MOVEMENT_ACCEPTED),
        };
    }
    repr_transfer_row transfer = {
        .id = result->id,
        .organization_id = result->organization_id,
        .trigger = result->automatic ? "auto" : "request",
        .actor = result->actor,
        .created_at = result->created_at,
        .received = received.data,
        .pending = pending.data,
        .shipments = shipments,
        .shipment_count = count,
        .dry_run = result->dry_run,
    };
    repr_transfer(out, &transfer);
    free(shipments);
    strbuf_free(&received);
    strbuf_free(&pending);
}

/* Reads {"waste": {...}} into quantities; replies and returns false when invalid. */
static bool read_waste(http_ctx *ctx, api_quantities *waste)
{
    *waste = (api_quantities){0};
    static const char *const allowed[] = {"waste", NULL};
    cJSON *body = api_body_fields(ctx, allowed);
    if (body == NULL) {
        return false;
    }
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(body, "waste");
    field_errors errors = {0};
    if (map != NULL) {
        api_quantity_map(ctx, map, "waste", false, &errors, waste);
    }
    cJSON_Delete(body);
    if (errors.count > 0) {
        http_problem_fields(ctx, &errors);
        return false;
    }
    return true;
}

void handle_transfers_create(http_ctx *ctx)
{
    const char *dry_run = http_query_param(ctx, "dry_run");
    if (dry_run != NULL && strcmp(dry_run, "true") != 0 && strcmp(dry_run, "false") != 0) {
        http_problem_invalid(ctx, "dry_run", "must be true or false");
        return;
    }
    api_quantities waste;
    if (!read_waste(ctx, &waste)) {
        return;
    }
    bool dry = dry_run != NULL && strcmp(dry_run, "true") == 0;
    if (dry) {
        ctx->idempotency_key = NULL; /* a dry run writes nothing, so there is nothing to replay */
    }
    plan_quantity *received =
        ARENA_ARRAY(&ctx->arena, plan_quantity, waste.count > 0 ? (size_t)waste.count : 1);
    for (int i = 0; i < waste.count; i++) {
        received[i] = (plan_quantity){waste.items[i].code, waste.items[i].kg};
    }
    transfer_request(ctx, ctx->match.ids[0], received, (size_t)waste.count, dry, render_result);
}

static void transfer_item(strbuf *out, const void *items, size_t index)
{
    repr_transfer(out, &((const repr_transfer_row *)items)[index]);
}

static int64_t transfer_id(const void *items, size_t index)
{
    return ((const repr_transfer_row *)items)[index].id;
}

/* A storage's principal is shown only its own share of each transfer (api/repr.h). */
static void confine_to_own_storage(tx *t, repr_transfer_row *transfers, size_t count)
{
    int64_t own = access_own_storage(tx_ctx(t));
    for (size_t i = 0; i < count; i++) {
        transfers[i].seen_by_storage = own;
    }
}

static void listed(tx *t, const db_result *result)
{
    const api_page *page = tx_user(t);
    repr_transfer_row *transfers;
    size_t count = rows_transfers(tx_arena(t), result, 0, &transfers);
    confine_to_own_storage(t, transfers, count);
    api_reply_page(t, transfers, count, page->limit, transfer_item, transfer_id);
}

/* A scoped principal lists within its own rows: the filter it names must be its own. */
static bool confine(http_ctx *ctx, const char *name, int64_t own, int64_t *filter)
{
    if (own == 0) {
        return true;
    }
    if (*filter != 0 && *filter != own) {
        http_problem(ctx, PROBLEM_FORBIDDEN, "This key lists the transfers of %s %lld only.", name,
                     (long long)own);
        return false;
    }
    *filter = own;
    return true;
}

static const char *id_or_null(tx *t, int64_t id)
{
    return id != 0 ? tx_int(t, id) : NULL;
}

void handle_transfers_list(http_ctx *ctx)
{
    api_page page;
    int64_t organization_id, storage_id;
    const char *waste_type;
    if (!api_page_params(ctx, &page) || !api_id_param(ctx, "organization_id", &organization_id) ||
        !api_id_param(ctx, "storage_id", &storage_id) ||
        !api_code_param(ctx, "waste_type", &waste_type) ||
        !confine(ctx, "organization", access_own_organization(ctx), &organization_id) ||
        !confine(ctx, "storage", access_own_storage(ctx), &storage_id)) {
        return;
    }
    tx *t = tx_for(ctx);
    api_list_begin(t, &page);
    tx_q(t, ST_TR_LIST, tx_int(t, page.after_id), tx_int(t, page.limit + 1),
         id_or_null(t, organization_id), id_or_null(t, storage_id), waste_type,
         tx_bool(access_own_storage(ctx) != 0));
    api_check_type(t, waste_type, "waste_type");
    tx_run(t, TX_READ, listed);
}

static void got(tx *t, const db_result *result)
{
    if (db_rows(result, 0) == 0) {
        tx_fail(t, PROBLEM_NOT_FOUND, "Transfer not found.");
        return;
    }
    repr_transfer_row *transfers;
    rows_transfers(tx_arena(t), result, 0, &transfers);
    confine_to_own_storage(t, transfers, 1);
    strbuf out = {0};
    repr_transfer(&out, &transfers[0]);
    api_reply_buffer(t, 200, &out, NULL);
}

/* A transfer a scoped principal may not see is not found (rather than forbidden: its
 * existence is not the principal's business). */
void handle_transfers_get(http_ctx *ctx)
{
    tx *t = tx_for(ctx);
    tx_q(t, ST_TR_GET, tx_int(t, ctx->match.ids[0]), id_or_null(t, access_own_organization(ctx)),
         id_or_null(t, access_own_storage(ctx)));
    tx_run(t, TX_READ, got);
}
