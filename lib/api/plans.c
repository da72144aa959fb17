/* POST /v1/plans: what serving a batch of hand-overs nearest-first costs in transport,
 * against the least it could cost (docs/plans.md). Reads the batch, hands it to the engine
 * (engine/plans.h: one read-only snapshot, the solve off the event loop) and renders both
 * plans and their ratio. Writes nothing. */
#include "engine/plans.h"
#include "api/common.h"
#include "api/handlers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The contract's bounds of a batch. */
#define PLANS_MAX_HAND_OVERS 10000
/* Distinct waste types in one batch (each one a network of its own). */
#define PLANS_MAX_TYPES 100

static int code_compare(const void *left, const void *right)
{
    return strcmp(*(const char *const *)left, *(const char *const *)right);
}

static uint32_t code_key(const plans_batch *batch, const char *code)
{
    const char *const *found =
        bsearch(&code, batch->codes, batch->type_count, sizeof batch->codes[0], code_compare);
    return (uint32_t)(found - batch->codes);
}

/* A positive integer id within JSON's exact integers. */
static bool read_id(const cJSON *item, int64_t *out)
{
    if (!cJSON_IsNumber(item) || !(item->valuedouble >= 1) ||
        item->valuedouble > 9007199254740991.0 || floor(item->valuedouble) != item->valuedouble) {
        return false;
    }
    *out = (int64_t)item->valuedouble;
    return true;
}

/* Reads the body into batch; false after answering 422 (or 400/415). */
static bool read_batch(http_ctx *ctx, plans_batch *batch)
{
    static const char *const allowed[] = {"hand_overs", NULL};
    static const char *const entry_fields[] = {"organization_id", "waste", NULL};
    cJSON *body = api_body_fields(ctx, allowed);
    if (body == NULL) {
        return false;
    }
    arena *a = &ctx->arena;
    field_errors errors = {0};
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(body, "hand_overs");
    size_t count = 0;
    for (const cJSON *entry = cJSON_IsArray(list) ? list->child : NULL; entry != NULL;
         entry = entry->next) {
        count++;
    }
    if (!cJSON_IsArray(list) || count < 1 || count > PLANS_MAX_HAND_OVERS) {
        field_errors_add(&errors, "hand_overs", "must be an array of 1 to 10000 hand-overs");
        goto refuse;
    }
    int64_t *ids = ARENA_ARRAY(a, int64_t, count);
    api_quantities *waste = ARENA_ARRAY(a, api_quantities, count);
    size_t code_total = 0, i = 0;
    for (const cJSON *entry = list->child; entry != NULL; entry = entry->next, i++) {
        const char *prefix = arena_printf(a, "hand_overs[%zu]", i);
        if (!cJSON_IsObject(entry)) {
            field_errors_add(&errors, prefix, "must be an object {organization_id, waste}");
            continue;
        }
        if (!api_only_fields(ctx, entry, entry_fields, prefix)) {
            cJSON_Delete(body);
            return false;
        }
        if (!read_id(cJSON_GetObjectItemCaseSensitive(entry, "organization_id"), &ids[i])) {
            field_errors_add2(&errors, prefix, "organization_id", "must be a positive integer id");
        }
        const char *waste_field = arena_printf(a, "%s.waste", prefix);
        if (api_quantity_map(ctx, cJSON_GetObjectItemCaseSensitive(entry, "waste"), waste_field,
                             false, &errors, &waste[i])) {
            if (waste[i].count == 0) {
                field_errors_add(&errors, waste_field, "name at least one waste type and amount");
            }
            code_total += (size_t)waste[i].count;
        }
        if (errors.count >= 8) {
            break; /* enough to tell what is wrong */
        }
    }
    if (errors.count > 0) {
        goto refuse;
    }
    /* The batch's distinct types, sorted: the plan's type keys. */
    const char **codes = ARENA_ARRAY(a, const char *, code_total);
    size_t code_count = 0;
    for (i = 0; i < count; i++) {
        for (int k = 0; k < waste[i].count; k++) {
            codes[code_count++] = waste[i].items[k].code;
        }
    }
    qsort(codes, code_count, sizeof codes[0], code_compare);
    size_t distinct = 0;
    for (size_t k = 0; k < code_count; k++) {
        if (distinct == 0 || strcmp(codes[distinct - 1], codes[k]) != 0) {
            codes[distinct++] = codes[k];
        }
    }
    if (distinct > PLANS_MAX_TYPES) {
        field_errors_add(&errors, "hand_overs", "at most 100 distinct waste types in one batch");
        goto refuse;
    }
    batch->count = count;
    batch->organization_ids = ids;
    batch->type_count = (uint32_t)distinct;
    batch->codes = codes;
    int64_t *kg = ARENA_ARRAY(a, int64_t, count * distinct);
    for (i = 0; i < count; i++) {
        for (int k = 0; k < waste[i].count; k++) {
            kg[i * distinct + code_key(batch, waste[i].items[k].code)] = waste[i].items[k].kg;
        }
    }
    batch->kg = kg;
    strbuf literal = {0};
    strbuf_puts(&literal, "{");
    for (size_t k = 0; k < distinct; k++) {
        strbuf_printf(&literal, "%s%s", k ? "," : "", codes[k]);
    }
    strbuf_puts(&literal, "}");
    batch->codes_literal = arena_strdup(a, literal.data);
    strbuf_free(&literal);
    strbuf_puts(&literal, "{");
    for (i = 0; i < count; i++) {
        strbuf_puts(&literal, i ? "," : "");
        strbuf_int(&literal, ids[i]);
    }
    strbuf_puts(&literal, "}");
    batch->organizations_literal = arena_strdup(a, literal.data);
    strbuf_free(&literal);
    cJSON_Delete(body);
    return true;
refuse:
    cJSON_Delete(body);
    http_problem_fields(ctx, &errors);
    return false;
}

static void write_plan(strbuf *out, const plans_batch *batch, const plans_result *plan)
{
    strbuf_puts(out, "{\"shipments\":[");
    for (size_t i = 0; i < plan->shipment_count; i++) {
        const plans_shipment *s = &plan->shipments[i];
        strbuf_puts(out, i ? ",{\"organization_id\":" : "{\"organization_id\":");
        strbuf_int(out, s->organization_id);
        strbuf_puts(out, ",\"storage_id\":");
        strbuf_int(out, s->storage_id);
        strbuf_puts(out, ",\"waste_type\":");
        strbuf_json_string(out, batch->codes[s->type]);
        strbuf_puts(out, ",\"amount\":");
        strbuf_int(out, s->amount_kg);
        strbuf_puts(out, ",\"distance_m\":");
        strbuf_int(out, s->distance_m);
        strbuf_puts(out, "}");
    }
    strbuf_puts(out, "],\"placed_kg\":");
    strbuf_int(out, plan->placed_kg);
    strbuf_puts(out, ",\"unplaced\":{");
    for (uint32_t k = 0; k < batch->type_count; k++) {
        strbuf_puts(out, k ? "," : "");
        strbuf_json_string(out, batch->codes[k]);
        strbuf_puts(out, ":");
        strbuf_int(out, plan->unplaced_kg[k]);
    }
    strbuf_puts(out, "},\"kg_m\":");
    strbuf_int(out, plan->kg_m);
    strbuf_puts(out, "}");
}

static void render(tx *t, const plans_batch *batch, const plans_result *nearest,
                   const plans_result *min_cost)
{
    strbuf out = {0};
    strbuf_puts(&out, "{\"nearest\":");
    write_plan(&out, batch, nearest);
    strbuf_puts(&out, ",\"min_cost\":");
    write_plan(&out, batch, min_cost);
    /* kg·m is 0 only when nothing is placed (every road is at least 1 m), and min_cost
     * places at least what nearest does: then both are 0, the same cost, ratio 1. */
    double ratio = min_cost->kg_m == 0 ? 1.0 : (double)nearest->kg_m / (double)min_cost->kg_m;
    strbuf_printf(&out, ",\"ratio\":%.15g}", ratio);
    api_reply_buffer(t, 200, &out, NULL);
}

/* A plan's searches are charged to the credential's work budget like a storage view's. */
static void charge(tx *t, uint64_t units)
{
    api_work_identity who = api_work_of(tx_ctx(t));
    api_work_charge(tx_app(t), &who, units);
}

void handle_plans_create(http_ctx *ctx)
{
    api_work_identity who = api_work_of(ctx);
    if (!api_work_admits(ctx, &who, "storage views and plans")) {
        return;
    }
    plans_batch *batch = ARENA_ARRAY(&ctx->arena, plans_batch, 1);
    if (!read_batch(ctx, batch)) {
        return;
    }
    plans_evaluate(ctx, batch, render, charge);
}
