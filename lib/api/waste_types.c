/* /v1/waste-types: the codes every quantity map is keyed by. */
#include "api/common.h"
#include "api/handlers.h"
#include "api/repr.h"
#include "engine/statements.h"

static void listed(tx *t, const db_result *result)
{
    const int *limit = tx_user(t);
    int rows = db_rows(result, 0);
    int items = rows < *limit ? rows : *limit;
    strbuf out = {0};
    repr_page_begin(&out);
    for (int row = 0; row < items; row++) {
        repr_page_item(&out, (size_t)row);
        repr_waste_type(&out, db_text(result, 0, row, 0), db_text(result, 0, row, 1));
    }
    /* This list is ordered by code, so its cursor is the last code seen. */
    repr_page_end(&out, rows > *limit ? db_text(result, 0, items - 1, 0) : NULL);
    api_reply_buffer(t, 200, &out, NULL);
}

void handle_waste_types_list(http_ctx *ctx)
{
    const char *cursor = http_query_param(ctx, "cursor");
    if (cursor != NULL && !waste_code_valid(cursor)) {
        http_problem_invalid(ctx, "cursor", "must be a next_cursor value returned by this list");
        return;
    }
    int limit;
    if (!api_limit_param(ctx, &limit)) {
        return;
    }
    tx *t = tx_for(ctx);
    int *state = TX_NEW(t, int);
    *state = limit;
    tx_set_user(t, state);
    tx_q(t, ST_WT_LIST, cursor, tx_int(t, limit + 1));
    tx_run(t, TX_READ, listed);
}

static void render_waste_type(strbuf *out, tx *t, const db_result *result)
{
    repr_waste_type(out, db_text(result, 0, 0, 0), db_text(result, 0, 0, 1));
}

void handle_waste_types_get(http_ctx *ctx)
{
    api_get(ctx, ST_WT_GET, ctx->match.code, "Waste type", render_waste_type);
}

static void created(tx *t, const db_result *result)
{
    strbuf out = {0};
    render_waste_type(&out, t, result);
    const char *location =
        arena_printf(tx_arena(t), "/v1/waste-types/%s", db_text(result, 0, 0, 0));
    api_reply_buffer(t, 201, &out, location);
}

static const tx_conflict waste_type_conflicts[] = {
    {"waste_types_pkey", PROBLEM_CONFLICT, NULL, "A waste type with this code already exists."},
    {NULL, 0, NULL, NULL},
};

void handle_waste_types_create(http_ctx *ctx)
{
    static const char *const allowed[] = {"code", "name", NULL};
    cJSON *body = api_body_fields(ctx, allowed);
    if (body == NULL) {
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
        http_problem_fields(ctx, &errors);
        return;
    }
    tx *t = tx_for(ctx);
    tx_q(t, ST_WT_CREATE, tx_text(t, code->valuestring), tx_text(t, name->valuestring));
    cJSON_Delete(body);
    tx_conflicts(t, waste_type_conflicts);
    tx_run(t, TX_ONE_ROUND, created);
}
