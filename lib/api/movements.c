/* /v1/movements: every shipment of a transfer as a movement — the loads on their way to weighed
 * storages, and what each storage's weighbridge read (docs/movements.md). The rules a receipt
 * follows are lib/core/movement.h's; the one statement that writes a receipt is
 * lib/engine/statements.c's ST_MV_RECEIVE.
 *
 * PATCH and receipt go in two rounds: the movement's carrier row is locked (so two changes of
 * one movement run one after the other) and the movement read under that lock; the handler
 * decides (404, 403, 409, 422 from what it read), then the write and COMMIT go in one round. */
#include "api/access.h"
#include "api/common.h"
#include "api/handlers.h"
#include "api/repr.h"
#include "api/rows.h"
#include "core/movement.h"
#include "engine/dispatch.h"
#include "engine/statements.h"
#include "util/utf8.h"

#include <string.h>

static const tx_conflict receipt_conflicts[] = {
    {"storage_waste_stock_within_capacity", PROBLEM_CONFLICT, NULL,
     "The accepted kilograms do not fit in the room the storage has left once the load's "
     "reservation is released: reject the excess (rejected_kg) and try again."},
    {"receipts_shipment_key", PROBLEM_CONFLICT, NULL, "The movement was received already."},
    {NULL, 0, NULL, NULL},
};

static void movement_item(strbuf *out, const void *items, size_t index)
{
    repr_movement(out, &((const repr_movement_row *)items)[index], false);
}

static int64_t movement_id(const void *items, size_t index)
{
    return ((const repr_movement_row *)items)[index].id;
}

static void listed(tx *t, const db_result *result)
{
    const api_page *page = tx_user(t);
    int rows = db_rows(result, 0);
    repr_movement_row *movements = TX_ARRAY(t, repr_movement_row, rows > 0 ? (size_t)rows : 1);
    for (int row = 0; row < rows; row++) {
        movements[row] = rows_movement(result, 0, row);
    }
    api_reply_page(t, movements, (size_t)rows, page->limit, movement_item, movement_id);
}

/* A scoped principal lists within its own movements: a filter it names must be its own. */
static bool confine(http_ctx *ctx, const char *name, int64_t own, int64_t *filter)
{
    if (own == 0) {
        return true;
    }
    if (*filter != 0 && *filter != own) {
        http_problem(ctx, PROBLEM_FORBIDDEN, "This key lists the movements of %s %lld only.", name,
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

void handle_movements_list(http_ctx *ctx)
{
    api_page page;
    int64_t organization_id, storage_id;
    const char *waste_type;
    if (!api_page_params(ctx, &page) || !api_id_param(ctx, "organization_id", &organization_id) ||
        !api_id_param(ctx, "storage_id", &storage_id) ||
        !api_code_param(ctx, "waste_type", &waste_type)) {
        return;
    }
    const char *status = http_query_param(ctx, "status");
    movement_status parsed;
    if (status != NULL && !movement_status_parse(status, &parsed)) {
        http_problem_invalid(ctx, "status",
                             "must be in_transit, accepted, partially_rejected or rejected");
        return;
    }
    if (!confine(ctx, "organization", access_own_organization(ctx), &organization_id) ||
        !confine(ctx, "storage", access_own_storage(ctx), &storage_id)) {
        return;
    }
    tx *t = tx_for(ctx);
    api_list_begin(t, &page);
    tx_q(t, ST_MV_LIST, tx_int(t, page.after_id), tx_int(t, page.limit + 1),
         id_or_null(t, organization_id), id_or_null(t, storage_id),
         status != NULL ? movement_status_name(parsed) : NULL, waste_type);
    api_check_type(t, waste_type, "waste_type");
    tx_run(t, TX_READ, listed);
}

static void got(tx *t, const db_result *result)
{
    if (db_rows(result, 0) == 0) {
        tx_fail(t, PROBLEM_NOT_FOUND, "Movement not found.");
        return;
    }
    repr_movement_row movement = rows_movement(result, 0, 0);
    strbuf out = {0};
    repr_movement(&out, &movement, false);
    api_reply_buffer(t, 200, &out, NULL);
}

/* A movement a scoped principal may not see is not found (as a transfer is). */
void handle_movements_get(http_ctx *ctx)
{
    tx *t = tx_for(ctx);
    tx_q(t, ST_MV_GET, tx_int(t, ctx->match.ids[0]), id_or_null(t, access_own_organization(ctx)),
         id_or_null(t, access_own_storage(ctx)));
    tx_run(t, TX_READ, got);
}

/* ---------------------------------------------------------------- changes */

/* A free text: a string of 1..max characters without control characters. */
static bool text_valid(const cJSON *item, size_t max, const char **why)
{
    if (!cJSON_IsString(item)) {
        *why = "must be a string";
        return false;
    }
    size_t chars = utf8_length(item->valuestring);
    if (chars < 1 || chars > max) {
        *why = max == 100   ? "must be 1 to 100 characters"
               : max == 200 ? "must be 1 to 200 characters"
                            : "must be 1 to 500 characters";
        return false;
    }
    for (const unsigned char *p = (const unsigned char *)item->valuestring; *p; p++) {
        if (*p < 0x20 || *p == 0x7f || (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)) {
            *why = "must not contain control characters";
            return false;
        }
    }
    return true;
}

typedef struct {
    int64_t id;
    /* PATCH */
    bool set_carrier, set_vehicle;
    const char *carrier, *vehicle;
    /* receipt */
    int64_t received_kg, rejected_kg;
    const char *reason, *ticket;
} change;

/* The movement read under its lock (round 1's last query), or NULL after answering 404. */
static bool read_locked(tx *t, const db_result *result, repr_movement_row *out, const char **now)
{
    int q = result->count - 1;
    if (db_rows(result, q) == 0) {
        tx_fail(t, PROBLEM_NOT_FOUND, "Movement not found.");
        return false;
    }
    *out = rows_movement(result, q, 0);
    *now = tx_text(t, db_text(result, q, 0, 18));
    return true;
}

static bool in_transit(const repr_movement_row *m)
{
    return m->in_transit && !m->received;
}

static void patch_locked(tx *t, const db_result *result)
{
    change *c = tx_user(t);
    repr_movement_row m;
    const char *now;
    if (!read_locked(t, result, &m, &now)) {
        return;
    }
    int64_t own = access_own_organization(tx_ctx(t));
    if (own != 0 && m.organization_id != own) {
        tx_fail(t, PROBLEM_NOT_FOUND, "Movement not found.");
        return;
    }
    if (!in_transit(&m)) {
        tx_fail(t, PROBLEM_CONFLICT,
                "Movement %lld is not in transit (it is %s): its carrier and vehicle can no "
                "longer change.",
                (long long)m.id,
                movement_status_name(
                    movement_status_of(m.in_transit, m.received, m.received_kg, m.rejected_kg)));
        return;
    }
    tx_q(t, ST_MV_CARRIER, tx_int(t, c->id), tx_bool(c->set_carrier), c->carrier,
         tx_bool(c->set_vehicle), c->vehicle);
    if (c->set_carrier) {
        m.carrier = c->carrier;
    }
    if (c->set_vehicle) {
        m.vehicle = c->vehicle;
    }
    strbuf out = {0};
    repr_movement(&out, &m, false);
    api_reply_buffer(t, 200, &out, NULL);
}

void handle_movements_patch(http_ctx *ctx)
{
    static const char *const allowed[] = {"carrier", "vehicle", NULL};
    cJSON *body = api_body_fields(ctx, allowed);
    if (body == NULL) {
        return;
    }
    change *c = ARENA_NEW(&ctx->arena, change);
    c->id = ctx->match.ids[0];
    field_errors errors = {0};
    const char *names[] = {"carrier", "vehicle"};
    for (int i = 0; i < 2; i++) {
        const cJSON *item = cJSON_GetObjectItemCaseSensitive(body, names[i]);
        if (item == NULL) {
            continue;
        }
        const char *why = NULL;
        const char *value = NULL;
        if (!cJSON_IsNull(item)) {
            if (!text_valid(item, 100, &why)) {
                field_errors_add(&errors, names[i], why);
                continue;
            }
            value = arena_strdup(&ctx->arena, item->valuestring);
        }
        if (i == 0) {
            c->set_carrier = true;
            c->carrier = value;
        } else {
            c->set_vehicle = true;
            c->vehicle = value;
        }
    }
    cJSON_Delete(body);
    if (errors.count > 0) {
        http_problem_fields(ctx, &errors);
        return;
    }
    tx *t = tx_for(ctx);
    tx_set_user(t, c);
    const char *id = tx_int(t, c->id);
    tx_q(t, ST_MV_LOCK, id);
    tx_q(t, ST_MV_HEAD, id);
    tx_run(t, TX_OPEN, patch_locked);
}

static void room_appeared(tx *t, void *arg)
{
    (void)arg;
    dispatcher_room_appeared(tx_app(t)->dispatcher);
}

static void receipt_locked(tx *t, const db_result *result)
{
    change *c = tx_user(t);
    repr_movement_row m;
    const char *now;
    if (!read_locked(t, result, &m, &now)) {
        return;
    }
    int64_t own = access_own_storage(tx_ctx(t));
    if (own != 0 && m.storage_id != own) {
        tx_fail(t, PROBLEM_FORBIDDEN,
                "This key records receipts at storage %lld only; movement %lld goes to storage "
                "%lld.",
                (long long)own, (long long)m.id, (long long)m.storage_id);
        return;
    }
    if (!in_transit(&m)) {
        tx_fail(t, PROBLEM_CONFLICT,
                m.in_transit ? "Movement %lld was received already: a movement has one receipt."
                             : "Movement %lld went to a storage that takes loads in at once: it "
                               "was accepted when it was handed over and has no receipt.",
                (long long)m.id);
        return;
    }
    const char *actor = tx_text(t, tx_ctx(t)->principal.actor);
    tx_q(t, ST_MV_RECEIVE, tx_int(t, c->id), tx_int(t, c->received_kg), tx_int(t, c->rejected_kg),
         c->reason, c->ticket, actor);
    tx_q(t, ST_EV_LOG_MOVEMENTS, arena_printf(tx_arena(t), "{%lld}", (long long)c->id));
    /* The room the released reservation leaves, and the refused kilograms back at the
     * organization, are the dispatcher's to place (the receipt's room event, told after the
     * commit as every other room is). */
    if (c->rejected_kg > 0 || c->received_kg - c->rejected_kg < m.planned_kg) {
        tx_on_commit(t, room_appeared, NULL);
    }
    m.received = true;
    m.received_kg = c->received_kg;
    m.rejected_kg = c->rejected_kg;
    m.accepted_kg = c->received_kg - c->rejected_kg;
    m.rejection_reason = c->reason;
    m.ticket = c->ticket;
    m.received_at = now;
    m.received_by = actor;
    strbuf out = {0};
    repr_movement(&out, &m, true);
    if (movement_weight_varies(m.planned_kg, m.received_kg)) {
        int64_t difference = m.received_kg - m.planned_kg;
        strbuf_printf(&out,
                      ",\"warnings\":[{\"code\":\"weight_variance\",\"message\":\"The weighbridge "
                      "read %lld kg where %lld kg were planned: more than 10 %% apart.\","
                      "\"planned_kg\":%lld,\"received_kg\":%lld,\"difference_kg\":%lld}]",
                      (long long)m.received_kg, (long long)m.planned_kg, (long long)m.planned_kg,
                      (long long)m.received_kg, (long long)difference);
    }
    strbuf_puts(&out, "}");
    api_reply_buffer(t, 200, &out, NULL);
}

/* A quantity member: absent (the default), or a whole number of kilograms. */
static void read_kg(const cJSON *body, const char *name, bool required, int64_t *out,
                    field_errors *errors)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(body, name);
    if (item == NULL) {
        if (required) {
            field_errors_add(errors, name, "is required");
        }
        return;
    }
    const char *why = NULL;
    if (!json_input_quantity(item, out, &why)) {
        field_errors_add(errors, name, why);
    }
}

void handle_movements_receipt(http_ctx *ctx)
{
    static const char *const allowed[] = {"received_kg", "rejected_kg", "rejection_reason",
                                          "ticket", NULL};
    cJSON *body = api_body_fields(ctx, allowed);
    if (body == NULL) {
        return;
    }
    change *c = ARENA_NEW(&ctx->arena, change);
    c->id = ctx->match.ids[0];
    field_errors errors = {0};
    read_kg(body, "received_kg", true, &c->received_kg, &errors);
    read_kg(body, "rejected_kg", false, &c->rejected_kg, &errors);
    const struct {
        const char *name;
        size_t max;
        const char **out;
    } texts[] = {{"rejection_reason", 500, &c->reason}, {"ticket", 200, &c->ticket}};
    for (size_t i = 0; i < 2; i++) {
        const cJSON *item = cJSON_GetObjectItemCaseSensitive(body, texts[i].name);
        const char *why = NULL;
        if (item == NULL || cJSON_IsNull(item)) {
            continue;
        }
        if (!text_valid(item, texts[i].max, &why)) {
            field_errors_add(&errors, texts[i].name, why);
        } else {
            *texts[i].out = arena_strdup(&ctx->arena, item->valuestring);
        }
    }
    cJSON_Delete(body);
    if (errors.count == 0) {
        const char *why = NULL;
        const char *field =
            movement_receipt_invalid(c->received_kg, c->rejected_kg, c->reason != NULL, &why);
        if (field != NULL) {
            field_errors_add(&errors, field, why);
        }
    }
    if (errors.count > 0) {
        http_problem_fields(ctx, &errors);
        return;
    }
    tx *t = tx_for(ctx);
    tx_set_user(t, c);
    const char *id = tx_int(t, c->id);
    tx_q(t, ST_MV_LOCK, id);
    tx_q(t, ST_MV_LOCK_ORG, id);
    tx_q(t, ST_MV_HEAD, id);
    tx_conflicts(t, receipt_conflicts);
    tx_run(t, TX_OPEN, receipt_locked);
}
