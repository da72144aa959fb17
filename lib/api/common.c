/* Shared request-reading helpers (see common.h). */
#include "api/common.h"

#include "api/rows.h"
#include "engine/statements.h"
#include "engine/view_cache.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/rate_limit.h"
#include "util/utf8.h"
#include "util/work_budget.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cJSON *api_body_object(http_ctx *ctx)
{
    char why[160];
    cJSON *root = json_input_parse(ctx->body, ctx->body_len, why, sizeof why);
    if (root == NULL) {
        http_problem(ctx, PROBLEM_MALFORMED_JSON, "The body is not valid JSON: %s.", why);
        return NULL;
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        http_problem_invalid(ctx, "", "the body must be a JSON object");
        return NULL;
    }
    return root;
}

/* "prefix.key", the key cut at a character boundary when it is very long. */
static const char *field_name(http_ctx *ctx, const char *prefix, const char *key)
{
    return arena_printf(&ctx->arena, "%s%s%.*s", prefix, prefix[0] ? "." : "",
                        (int)utf8_prefix(key, 64), key);
}

bool api_only_fields(http_ctx *ctx, const cJSON *obj, const char *const *allowed,
                     const char *prefix)
{
    for (const cJSON *item = obj->child; item != NULL; item = item->next) {
        bool known = false;
        for (const char *const *name = allowed; *name != NULL && !known; name++) {
            known = strcmp(item->string, *name) == 0;
        }
        if (!known) {
            http_problem_invalid(ctx, field_name(ctx, prefix, item->string), "unknown field");
            return false;
        }
    }
    return true;
}

cJSON *api_body_fields(http_ctx *ctx, const char *const *allowed)
{
    cJSON *body = api_body_object(ctx);
    if (body != NULL && !api_only_fields(ctx, body, allowed, "")) {
        cJSON_Delete(body);
        return NULL;
    }
    return body;
}

static bool parse_positive(const char *text, int64_t max, int64_t *out)
{
    if (text == NULL || text[0] == '\0' || text[0] == '0' || strlen(text) > 19) {
        return false;
    }
    int64_t value = 0;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9') {
            return false;
        }
        int digit = *p - '0';
        if (value > (INT64_MAX - digit) / 10) {
            return false;
        }
        value = value * 10 + digit;
    }
    if (value > max) {
        return false;
    }
    *out = value;
    return true;
}

bool api_limit_param(http_ctx *ctx, int *limit)
{
    *limit = 100;
    const char *limit_text = http_query_param(ctx, "limit");
    int64_t value;
    if (limit_text != NULL) {
        if (!parse_positive(limit_text, 1000, &value)) {
            http_problem_invalid(ctx, "limit", "must be an integer from 1 to 1000");
            return false;
        }
        *limit = (int)value;
    }
    return true;
}

bool api_page_params(http_ctx *ctx, api_page *page)
{
    page->after_id = 0;
    if (!api_limit_param(ctx, &page->limit)) {
        return false;
    }
    const char *cursor = http_query_param(ctx, "cursor");
    if (cursor != NULL && !parse_positive(cursor, INT64_MAX, &page->after_id)) {
        http_problem_invalid(ctx, "cursor", "must be a next_cursor value returned by this list");
        return false;
    }
    return true;
}

bool api_id_param(http_ctx *ctx, const char *name, int64_t *out)
{
    *out = 0;
    const char *text = http_query_param(ctx, name);
    if (text != NULL && !parse_positive(text, INT64_MAX, out)) {
        http_problem_invalid(ctx, name, "must be a positive integer id");
        return false;
    }
    return true;
}

bool api_code_param(http_ctx *ctx, const char *name, const char **out)
{
    *out = http_query_param(ctx, name);
    if (*out != NULL && !waste_code_valid(*out)) {
        http_problem_invalid(ctx, name, "unknown waste type");
        return false;
    }
    return true;
}

bool api_quantity_map(http_ctx *ctx, const cJSON *map, const char *prefix, bool allow_null,
                      field_errors *errors, api_quantities *out)
{
    *out = (api_quantities){.json = "{}", .codes = "{}", .amounts = "{}"};
    if (!cJSON_IsObject(map)) {
        field_errors_add(errors, prefix, "must be an object of waste type codes to kilograms");
        return false;
    }
    int before = errors->count;
    int members = cJSON_GetArraySize(map);
    out->items = ARENA_ARRAY(&ctx->arena, api_quantity, members > 0 ? (size_t)members : 1);
    for (const cJSON *item = map->child; item != NULL; item = item->next) {
        const char *why = NULL;
        int64_t kg = 0;
        bool is_null = cJSON_IsNull(item);
        if (!waste_code_valid(item->string)) {
            why = "unknown waste type";
        } else if (is_null && !allow_null) {
            why = "must be an integer from 0 to 1000000000000";
        } else if (!is_null && !json_input_quantity(item, &kg, &why)) {
            /* why is set */
        }
        if (why != NULL) {
            field_errors_add2(errors, prefix, item->string, why);
            continue;
        }
        out->items[out->count++] =
            (api_quantity){arena_strdup(&ctx->arena, item->string), kg, is_null};
    }
    if (errors->count > before) {
        return false;
    }
    strbuf json = {0}, codes = {0}, amounts = {0};
    strbuf_puts(&json, "{");
    strbuf_puts(&codes, "{");
    strbuf_puts(&amounts, "{");
    for (int i = 0; i < out->count; i++) {
        const api_quantity *q = &out->items[i];
        const char *comma = i ? "," : "";
        strbuf_printf(&json, "%s\"%s\":", comma, q->code);
        if (q->is_null) {
            strbuf_puts(&json, "null");
        } else {
            strbuf_int(&json, q->kg);
        }
        strbuf_printf(&codes, "%s%s", comma, q->code);
        strbuf_puts(&amounts, comma);
        strbuf_int(&amounts, q->kg);
    }
    strbuf_puts(&json, "}");
    strbuf_puts(&codes, "}");
    strbuf_puts(&amounts, "}");
    out->json = arena_strdup(&ctx->arena, json.data);
    out->codes = arena_strdup(&ctx->arena, codes.data);
    out->amounts = arena_strdup(&ctx->arena, amounts.data);
    strbuf_free(&json);
    strbuf_free(&codes);
    strbuf_free(&amounts);
    return true;
}

bool api_read_name_capacity(http_ctx *ctx, bool storage, bool creating, bool capacity_required,
                            api_name_capacity *out)
{
    *out = (api_name_capacity){.capacity = creating ? "{}" : NULL, .codes = "{}"};
    static const char *const allowed[] = {"name", "capacity", NULL};
    static const char *const storage_allowed[] = {"name", "capacity", "intake", NULL};
    cJSON *body = api_body_fields(ctx, storage ? storage_allowed : allowed);
    if (body == NULL) {
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
    if (capacity == NULL && capacity_required) {
        field_errors_add(&errors, "capacity", "is required: the waste types the storage accepts");
    } else if (capacity != NULL && !(cJSON_IsNull(capacity) && !creating)) {
        api_quantities quantities;
        if (api_quantity_map(ctx, capacity, "capacity", !creating, &errors, &quantities)) {
            out->capacity = quantities.json;
            out->codes = quantities.codes;
            if (quantities.count == 0 && capacity_required) {
                field_errors_add(&errors, "capacity",
                                 "a storage must accept at least one waste type");
            }
        }
    }
    if (name != NULL && cJSON_IsString(name)) {
        out->name = arena_strdup(&ctx->arena, name->valuestring);
    }
    const cJSON *intake = storage ? cJSON_GetObjectItemCaseSensitive(body, "intake") : NULL;
    if (intake != NULL) {
        /* Only the two ways a storage takes loads in; null is not a way. */
        if (cJSON_IsString(intake) && (strcmp(intake->valuestring, "automatic") == 0 ||
                                       strcmp(intake->valuestring, "weighed") == 0)) {
            out->intake = intake->valuestring[0] == 'a' ? "automatic" : "weighed";
        } else {
            field_errors_add(&errors, "intake", "must be \"automatic\" or \"weighed\"");
        }
    }
    cJSON_Delete(body);
    if (errors.count > 0) {
        http_problem_fields(ctx, &errors);
        return false;
    }
    return true;
}

void api_check_type(tx *t, const char *code, const char *field)
{
    if (code != NULL) {
        tx_q(t, ST_CHECK_TYPE, code, field);
    }
}

api_page *api_list_begin(tx *t, const api_page *page)
{
    api_page *copy = TX_NEW(t, api_page);
    *copy = *page;
    tx_set_user(t, copy);
    return copy;
}

void api_reply_page(tx *t, const void *items, size_t count, int limit, api_item_fn item,
                    api_item_id_fn id_of)
{
    size_t shown = count < (size_t)limit ? count : (size_t)limit;
    strbuf out = {0};
    repr_page_begin(&out);
    for (size_t i = 0; i < shown; i++) {
        repr_page_item(&out, i);
        item(&out, items, i);
    }
    repr_page_end(&out, count > shown ? tx_int(t, id_of(items, shown - 1)) : NULL);
    api_reply_buffer(t, 200, &out, NULL);
}

typedef struct {
    const repr_holder *holders;
    void (*write)(strbuf *out, const repr_holder *holder);
} holder_page;

static void holder_item(strbuf *out, const void *items, size_t index)
{
    const holder_page *page = items;
    page->write(out, &page->holders[index]);
}

static int64_t holder_id(const void *items, size_t index)
{
    return ((const holder_page *)items)->holders[index].id;
}

typedef struct {
    api_page page;
    int q;
    void (*write)(strbuf *out, const repr_holder *holder);
} holder_list;

static void holders_listed(tx *t, const db_result *result)
{
    const holder_list *list = tx_user(t);
    repr_holder *holders;
    size_t count = rows_holders(tx_arena(t), result, list->q, &holders);
    holder_page page = {holders, list->write};
    api_reply_page(t, &page, count, list->page.limit, holder_item, holder_id);
}

void api_run_holder_list(tx *t, const api_page *page, int q,
                         void (*write)(strbuf *out, const repr_holder *holder))
{
    holder_list *list = TX_NEW(t, holder_list);
    *list = (holder_list){*page, q, write};
    tx_set_user(t, list);
    tx_run(t, TX_READ, holders_listed);
}

void api_reply_holder(tx *t, const db_result *result, int q, int status, const char *location,
                      void (*write)(strbuf *out, const repr_holder *holder))
{
    repr_holder *holders;
    rows_holders(tx_arena(t), result, q, &holders);
    strbuf out = {0};
    write(&out, &holders[0]);
    api_reply_buffer(t, status, &out, location);
}

void api_reply_buffer(tx *t, int status, strbuf *body, const char *location)
{
    char *text = strbuf_take(body);
    if (text == NULL) {
        tx_fail(t, PROBLEM_UNAVAILABLE, "The response could not be built.");
        return;
    }
    tx_reply(t, status, text, location);
}

typedef struct {
    const char *what;
    api_render_fn render;
    void (*write_holder)(strbuf *out, const repr_holder *holder);
} get_state;

static void got(tx *t, const db_result *result)
{
    const get_state *get = tx_user(t);
    if (db_rows(result, 0) == 0) {
        tx_fail(t, PROBLEM_NOT_FOUND, "%s not found.", get->what);
        return;
    }
    if (get->write_holder != NULL) {
        api_reply_holder(t, result, 0, 200, NULL, get->write_holder);
        return;
    }
    strbuf out = {0};
    get->render(&out, t, result);
    api_reply_buffer(t, 200, &out, NULL);
}

static void start_get(http_ctx *ctx, int statement, const char *key, const get_state *how)
{
    tx *t = tx_for(ctx);
    get_state *get = TX_NEW(t, get_state);
    *get = *how;
    tx_set_user(t, get);
    tx_q(t, statement, key);
    tx_run(t, TX_READ, got);
}

void api_get(http_ctx *ctx, int statement, const char *key, const char *what, api_render_fn render)
{
    start_get(ctx, statement, key, &(get_state){what, render, NULL});
}

void api_get_by_id(http_ctx *ctx, int statement, const char *what, api_render_fn render)
{
    api_get(ctx, statement, arena_int(&ctx->arena, ctx->match.ids[0]), what, render);
}

void api_get_holder_by_id(http_ctx *ctx, int statement, const char *what,
                          void (*write)(strbuf *out, const repr_holder *holder))
{
    start_get(ctx, statement, arena_int(&ctx->arena, ctx->match.ids[0]),
              &(get_state){what, NULL, write});
}

static void deleted(tx *t, const db_result *result)
{
    tx_reply(t, 204, NULL, NULL);
}

void api_run_delete(tx *t, const tx_conflict *conflicts)
{
    tx_conflicts(t, conflicts);
    tx_run(t, TX_ONE_ROUND, deleted);
}

api_work_identity api_work_of(const http_ctx *ctx)
{
    const auth_principal *who = &ctx->principal;
    api_work_identity identity;
    int len;
    if (who->key_id > 0) {
        len = snprintf(identity.text, sizeof identity.text, "key:%lld", (long long)who->key_id);
    } else {
        /* actor is "jwt:<sub>"; the NUL keeps "a" + "bc" apart from "ab" + "c". */
        len =
            snprintf(identity.text, sizeof identity.text, "%s%c%s", who->actor, '\0', who->issuer);
    }
    identity.len = len < 0                              ? 0
                   : (size_t)len < sizeof identity.text ? (size_t)len
                                                        : sizeof identity.text - 1;
    return identity;
}

bool api_work_admits(http_ctx *ctx, const api_work_identity *identity, const char *spenders)
{
    wf_app *app = app_of(ctx);
    work_budget *budget = view_cache_work_budget(app->views, app->cfg->work_budget);
    if (budget == NULL) {
        return true;
    }
    int64_t wait_ms = work_budget_wait(budget, identity->text, identity->len, clock_ms());
    if (wait_ms == 0) {
        return true;
    }
    char retry_after[16];
    snprintf(retry_after, sizeof retry_after, "%d", rate_retry_after_s(wait_ms));
    http_add_header(ctx, "Retry-After", retry_after);
    metrics_count_work_refused();
    http_problem(ctx, PROBLEM_TOO_MANY_REQUESTS,
                 "This credential's work budget is spent: at most %d units a second (graph "
                 "nodes searched and storages read by %s). The next request is "
                 "allowed in %lld ms.",
                 app->cfg->work_budget, spenders, (long long)wait_ms);
    return false;
}

void api_work_charge(wf_app *app, const api_work_identity *identity, uint64_t units)
{
    work_budget *budget = view_cache_work_budget(app->views, app->cfg->work_budget);
    if (budget != NULL) {
        work_budget_charge(budget, identity->text, identity->len, units, clock_ms());
    }
}
