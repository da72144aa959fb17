/* Shared request-reading helpers (see common.h). */
#include "api/common.h"

#include "api/app.h"
#include "util/strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cJSON *api_body_object(http_ctx *ctx)
{
    char why[160];
    cJSON *root = json_input_parse(ctx->body, ctx->body_len, why, sizeof why);
    if (root == NULL) {
        char detail[200];
        snprintf(detail, sizeof detail, "The body is not valid JSON: %s.", why);
        http_reply_problem(ctx, 400, "malformed-json", "Bad Request", detail, NULL);
        return NULL;
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        http_reply_invalid(ctx, "", "the body must be a JSON object");
        return NULL;
    }
    return root;
}

bool api_only_fields(http_ctx *ctx, const cJSON *obj, const char *const *allowed,
                     const char *prefix)
{
    for (const cJSON *item = obj->child; item != NULL; item = item->next) {
        bool known = false;
        for (const char *const *name = allowed; *name != NULL; name++) {
            known = known || strcmp(item->string, *name) == 0;
        }
        if (!known) {
            char field[128];
            snprintf(field, sizeof field, "%s%s%.64s", prefix, prefix[0] ? "." : "", item->string);
            http_reply_invalid(ctx, field, "unknown field");
            return false;
        }
    }
    return true;
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
            http_reply_invalid(ctx, "limit", "must be an integer from 1 to 1000");
            return false;
        }
        *limit = (int)value;
    }
    return true;
}

bool api_page_params(http_ctx *ctx, int *limit, int64_t *after_id)
{
    *after_id = 0;
    if (!api_limit_param(ctx, limit)) {
        return false;
    }
    const char *cursor = http_query_param(ctx, "cursor");
    if (cursor != NULL && !parse_positive(cursor, INT64_MAX, after_id)) {
        http_reply_invalid(ctx, "cursor", "must be a next_cursor value returned by this list");
        return false;
    }
    return true;
}

bool api_id_param(http_ctx *ctx, const char *name, int64_t *out)
{
    *out = 0;
    const char *text = http_query_param(ctx, name);
    if (text != NULL && !parse_positive(text, INT64_MAX, out)) {
        http_reply_invalid(ctx, name, "must be a positive integer id");
        return false;
    }
    return true;
}

bool api_code_param(http_ctx *ctx, const char *name, const char **out)
{
    *out = http_query_param(ctx, name);
    if (*out != NULL && !waste_code_valid(*out)) {
        http_reply_invalid(ctx, name, "unknown waste type");
        return false;
    }
    return true;
}

int api_quantity_map(const cJSON *map, const char *prefix, bool allow_null, field_errors *errors,
                     char **json_out, char **codes_out)
{
    *json_out = NULL;
    *codes_out = NULL;
    if (!cJSON_IsObject(map)) {
        field_errors_add(errors, prefix, "must be an object of waste type codes to kilograms");
        return -1;
    }
    int before = errors->count;
    int count = 0;
    strbuf json = {0}, codes = {0};
    strbuf_puts(&json, "{");
    strbuf_puts(&codes, "{");
    for (const cJSON *item = map->child; item != NULL; item = item->next) {
        if (!waste_code_valid(item->string)) {
            field_errors_add2(errors, prefix, item->string, "unknown waste type");
            continue;
        }
        int64_t kg = 0;
        const char *why = NULL;
        bool is_null = cJSON_IsNull(item);
        if (is_null && !allow_null) {
            field_errors_add2(errors, prefix, item->string,
                              "must be an integer from 0 to 1000000000000");
            continue;
        }
        if (!is_null && !json_input_quantity(item, &kg, &why)) {
            field_errors_add2(errors, prefix, item->string, why);
            continue;
        }
        strbuf_printf(&json, "%s\"%s\":", count ? "," : "", item->string);
        if (is_null) {
            strbuf_puts(&json, "null");
        } else {
            strbuf_int(&json, kg);
        }
        strbuf_printf(&codes, "%s%s", count ? "," : "", item->string);
        count++;
    }
    strbuf_puts(&json, "}");
    strbuf_puts(&codes, "}");
    if (errors->count > before || strbuf_failed(&json) || strbuf_failed(&codes)) {
        strbuf_free(&json);
        strbuf_free(&codes);
        return -1;
    }
    *json_out = strbuf_take(&json);
    *codes_out = strbuf_take(&codes);
    return count;
}

void api_reply_field_errors(http_ctx *ctx, const field_errors *errors)
{
    char detail[400];
    snprintf(detail, sizeof detail, "%s: %s", errors->items[0].field, errors->items[0].message);
    http_reply_problem(ctx, 422, "validation-error", "Unprocessable Content", detail,
                       field_errors_to_json(errors));
}

typedef struct {
    const char *what;
    db_query query;
    void *user;
    void (*user_free)(void *);
} read_one;

static void read_one_free(void *arg)
{
    read_one *r = arg;
    if (r->user_free != NULL) {
        r->user_free(r->user);
    }
    free(r);
}

static void read_one_done(api_tx *tx, const db_result *result)
{
    read_one *r = api_tx_user(tx);
    if (result->status != DB_OK) {
        api_tx_db_error(tx, result);
        return;
    }
    const char *json = db_text(result, 0, 0, 0);
    if (json == NULL) {
        char detail[160];
        snprintf(detail, sizeof detail, "%s not found.", r->what);
        api_tx_problem(tx, 404, "not-found", "Not Found", detail);
        return;
    }
    api_tx_ok(tx, 200, strdup(json), NULL);
}

void api_read_one(http_ctx *ctx, int statement, int param_count, const char *const *params,
                  const char *what, void *user, void (*user_free)(void *))
{
    read_one *r = calloc(1, sizeof *r);
    if (r == NULL) {
        if (user_free != NULL) {
            user_free(user);
        }
        http_reply_unavailable(ctx, "Out of memory.");
        return;
    }
    r->what = what;
    r->query = (db_query){statement, NULL, param_count, params};
    r->user = user;
    r->user_free = user_free;
    api_tx_spec spec = {&r->query, 1, TX_NONE, read_one_done};
    api_tx_start(ctx, &spec, r, read_one_free);
}

const char *api_id_text(char *buf, int64_t id)
{
    snprintf(buf, 24, "%lld", (long long)id);
    return buf;
}

api_req *api_req_new(void)
{
    return calloc(1, sizeof(api_req));
}

void api_req_free(void *arg)
{
    api_req *req = arg;
    if (req == NULL) {
        return;
    }
    for (int i = 0; i < req->owned_count; i++) {
        free(req->owned[i]);
    }
    free(req);
}

const char *api_req_own(api_req *req, char *text)
{
    if (req->owned_count < (int)(sizeof req->owned / sizeof req->owned[0])) {
        req->owned[req->owned_count++] = text;
        return text;
    }
    free(text);
    return NULL;
}

void api_req_add(api_req *req, int statement, int first, int param_count)
{
    req->q[req->count++] = (db_query){statement, NULL, param_count, &req->p[first]};
}

void api_req_run(http_ctx *ctx, api_req *req, api_tx_mode mode, api_tx_cb cb)
{
    api_tx_spec spec = {req->q, req->count, mode, cb};
    api_tx_start(ctx, &spec, req, api_req_free);
}

void api_reply_json_row(api_tx *tx, const db_result *result)
{
    if (result->status != DB_OK) {
        api_tx_db_error(tx, result);
        return;
    }
    const char *json = db_text(result, result->count - 1, 0, 0);
    if (json == NULL) {
        api_tx_problem(tx, 404, "not-found", "Not Found", "No resource with this id.");
        return;
    }
    api_tx_ok(tx, 200, strdup(json), NULL);
}

api_req *api_req_for(http_ctx *ctx)
{
    api_req *req = api_req_new();
    if (req == NULL) {
        http_reply_unavailable(ctx, "Out of memory.");
    }
    return req;
}

void api_get_by_id(http_ctx *ctx, int statement)
{
    api_req *req = api_req_for(ctx);
    if (req == NULL) {
        return;
    }
    req->p[0] = api_id_text(req->text[0], ctx->match.ids[0]);
    api_req_add(req, statement, 0, 1);
    api_req_run(ctx, req, TX_NONE, api_reply_json_row);
}

bool api_read_name_capacity(http_ctx *ctx, api_req *req, bool creating, bool capacity_required)
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
    if (capacity == NULL && capacity_required) {
        field_errors_add(&errors, "capacity", "is required: the waste types the storage accepts");
    } else if (capacity != NULL && !(cJSON_IsNull(capacity) && !creating)) {
        int entries =
            api_quantity_map(capacity, "capacity", !creating, &errors, &capacity_json, &codes);
        if (entries == 0 && capacity_required) {
            field_errors_add(&errors, "capacity", "a storage must accept at least one waste type");
        }
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
    req->p[5] = codes != NULL ? api_req_own(req, codes) : "{}";
    req->p[6] = "capacity.";
    cJSON_Delete(body);
    return true;
}

static void deleted(api_tx *tx, const db_result *result)
{
    const api_delete_spec *spec = ((api_req *)api_tx_user(tx))->spec;
    if (result->status != DB_OK) {
        if (strcmp(result->sqlstate, "23503") == 0) {
            api_tx_problem(tx, 409, "conflict", "Conflict", spec->history);
        } else {
            api_tx_db_error(tx, result);
        }
        return;
    }
    if (db_rows(result, spec->found_query) == 0) {
        char detail[96];
        snprintf(detail, sizeof detail, "%s not found.", spec->what);
        api_tx_problem(tx, 404, "not-found", "Not Found", detail);
        return;
    }
    api_tx_ok(tx, 204, NULL, NULL);
}

void api_run_delete(http_ctx *ctx, api_req *req, const api_delete_spec *spec)
{
    req->spec = spec;
    api_req_run(ctx, req, TX_ONE_ROUND, deleted);
}
