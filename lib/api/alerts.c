/* /v1/alerts: fill-ratio alert rules (admin only). A rule names a storage, a waste type,
 * both or neither, and fires when (stock + reserved) / capacity of a matching pair goes
 * above fill_ratio_above; the firing itself is engine/alerts.h's. An unknown storage or
 * type in a rule is a 422 naming the field (docs/history.md). */
#include "api/common.h"
#include "api/handlers.h"
#include "api/rows.h"
#include "engine/statements.h"

#include <math.h>

static const tx_conflict alert_conflicts[] = {
    /* A storage deleted between the check and the insert. */
    {"alerts_storage_id_fkey", PROBLEM_VALIDATION, "storage_id", "unknown storage"},
    {"alerts_waste_type_fkey", PROBLEM_VALIDATION, "waste_type", "unknown waste type"},
    {NULL, 0, NULL, NULL},
};

static void render_alert(strbuf *out, tx *t, const db_result *result)
{
    (void)t;
    repr_alert_row alert = rows_alert(result, 0, 0);
    repr_alert(out, &alert);
}

static void created(tx *t, const db_result *result)
{
    repr_alert_row alert = rows_alert(result, 0, 0);
    strbuf out = {0};
    repr_alert(&out, &alert);
    api_reply_buffer(t, 201, &out,
                     arena_printf(tx_arena(t), "/v1/alerts/%lld", (long long)alert.id));
}

void handle_alerts_create(http_ctx *ctx)
{
    static const char *const allowed[] = {"storage_id", "waste_type", "fill_ratio_above", NULL};
    cJSON *body = api_body_fields(ctx, allowed);
    if (body == NULL) {
        return;
    }
    field_errors errors = {0};
    const cJSON *storage = cJSON_GetObjectItemCaseSensitive(body, "storage_id");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(body, "waste_type");
    const cJSON *ratio = cJSON_GetObjectItemCaseSensitive(body, "fill_ratio_above");
    const char *storage_id = NULL, *code = NULL, *threshold = NULL;
    if (storage != NULL && !cJSON_IsNull(storage)) {
        double id = cJSON_IsNumber(storage) ? storage->valuedouble : 0;
        if (!(id >= 1 && id <= 9007199254740991.0 && floor(id) == id)) {
            field_errors_add(&errors, "storage_id", "must be a storage id or null");
        } else {
            storage_id = arena_printf(&ctx->arena, "%lld", (long long)id);
        }
    }
    if (type != NULL && !cJSON_IsNull(type)) {
        if (!cJSON_IsString(type) || !waste_code_valid(type->valuestring)) {
            field_errors_add(&errors, "waste_type", "must be a waste type code or null");
        } else {
            code = arena_strdup(&ctx->arena, type->valuestring);
        }
    }
    if (ratio == NULL || !cJSON_IsNumber(ratio) || !(ratio->valuedouble > 0) ||
        !(ratio->valuedouble <= 1)) {
        field_errors_add(&errors, "fill_ratio_above", "required: a number above 0, at most 1");
    } else {
        threshold = arena_printf(&ctx->arena, "%.17g", ratio->valuedouble);
    }
    cJSON_Delete(body);
    if (errors.count > 0) {
        http_problem_fields(ctx, &errors);
        return;
    }
    tx *t = tx_for(ctx);
    tx_q(t, ST_ALERT_CREATE, storage_id, code, threshold);
    tx_conflicts(t, alert_conflicts);
    tx_run(t, TX_ONE_ROUND, created);
}

static void alert_item(strbuf *out, const void *items, size_t index)
{
    repr_alert(out, &((const repr_alert_row *)items)[index]);
}

static int64_t alert_id(const void *items, size_t index)
{
    return ((const repr_alert_row *)items)[index].id;
}

static void listed(tx *t, const db_result *result)
{
    const api_page *page = tx_user(t);
    int rows = db_rows(result, 0);
    repr_alert_row *alerts = TX_ARRAY(t, repr_alert_row, rows > 0 ? (size_t)rows : 1);
    for (int row = 0; row < rows; row++) {
        alerts[row] = rows_alert(result, 0, row);
    }
    api_reply_page(t, alerts, (size_t)rows, page->limit, alert_item, alert_id);
}

void handle_alerts_list(http_ctx *ctx)
{
    api_page page;
    if (!api_page_params(ctx, &page)) {
        return;
    }
    tx *t = tx_for(ctx);
    api_list_begin(t, &page);
    tx_q(t, ST_ALERT_LIST, tx_int(t, page.after_id), tx_int(t, page.limit + 1));
    tx_run(t, TX_READ, listed);
}

void handle_alerts_get(http_ctx *ctx)
{
    api_get_by_id(ctx, ST_ALERT_GET, "Alert", render_alert);
}

void handle_alerts_delete(http_ctx *ctx)
{
    tx *t = tx_for(ctx);
    tx_q(t, ST_ALERT_DELETE, tx_int(t, ctx->match.ids[0]));
    api_run_delete(t, NULL);
}
