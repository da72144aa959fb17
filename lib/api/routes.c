/* /v1/routes: the directed road graph. Route changes run one at a time (advisory lock) and
 * bump the graph version in the same transaction, so every instance reloads its cached
 * graph before the next transfer or view that starts after the commit. */
#include "api/common.h"
#include "api/dispatch.h"
#include "api/handlers.h"
#include "api/statements.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DISTANCE_MAX 100000000LL

static bool parse_node(const cJSON *node, const char *field, int64_t *org, int64_t *storage,
                       field_errors *errors)
{
    *org = *storage = 0;
    if (!cJSON_IsObject(node) || cJSON_GetArraySize(node) != 1) {
        field_errors_add(errors, field,
                         "must be {\"organization_id\": id} or {\"storage_id\": id}");
        return false;
    }
    const cJSON *item = node->child;
    bool is_org = strcmp(item->string, "organization_id") == 0;
    bool is_storage = strcmp(item->string, "storage_id") == 0;
    double value = cJSON_IsNumber(item) ? item->valuedouble : -1;
    if (!(is_org || is_storage) || value < 1 || value > 9.2e18 || value != (double)(int64_t)value) {
        field_errors_add(errors, field,
                         "must be {\"organization_id\": id} or {\"storage_id\": id}");
        return false;
    }
    *(is_org ? org : storage) = (int64_t)value;
    return true;
}

static bool parse_distance(const cJSON *item, int64_t *out, field_errors *errors)
{
    if (!cJSON_IsNumber(item) || item->valuedouble < 1 || item->valuedouble > DISTANCE_MAX ||
        item->valuedouble != (double)(int64_t)item->valuedouble) {
        field_errors_add(errors, "distance_m", "must be an integer from 1 to 100000000");
        return false;
    }
    *out = (int64_t)item->valuedouble;
    return true;
}

static void route_changed(api_tx *tx, const db_result *result)
{
    if (result->status != DB_OK) {
        if (strcmp(result->sqlstate, "23505") == 0) {
            api_tx_problem(tx, 409, "conflict", "Conflict",
                           "A road already joins these nodes in this direction.");
        } else if (strcmp(result->sqlstate, "23503") == 0) {
            bool from = strstr(result->constraint, "from_") != NULL;
            api_tx_invalid(tx, from ? "from" : "to", "no such organization or storage");
        } else if (strcmp(result->sqlstate, "23514") == 0) {
            api_tx_invalid(tx, "to", "a road cannot join a node to itself");
        } else {
            api_tx_db_error(tx, result);
        }
        return;
    }
    api_req *req = api_tx_user(tx);
    int q = req->flags; /* index of the statement returning the route */
    const char *json = db_text(result, q, 0, 0);
    if (json == NULL) {
        api_tx_problem(tx, 404, "not-found", "Not Found", "Route not found.");
        return;
    }
    dispatcher_kick(app_of(api_tx_ctx(tx))->dispatcher);
    char location[64];
    snprintf(location, sizeof location, "/v1/routes/%s", db_text(result, q, 0, 1));
    bool creating = api_tx_ctx(tx)->method == HTTP_POST;
    api_tx_ok(tx, creating ? 201 : 200, strdup(json), creating ? location : NULL);
}

static void node_key(char *out, int64_t org, int64_t storage)
{
    snprintf(out, 24, "%c%lld", org ? 'o' : 's', (long long)(org ? org : storage));
}

void handle_routes_create(http_ctx *ctx)
{
    cJSON *body = api_body_object(ctx);
    if (body == NULL) {
        return;
    }
    static const char *const allowed[] = {"from", "to", "distance_m", "two_way", NULL};
    if (!api_only_fields(ctx, body, allowed, "")) {
        cJSON_Delete(body);
        return;
    }
    field_errors errors = {0};
    int64_t from_org, from_storage, to_org, to_storage, distance = 0;
    bool from_ok = parse_node(cJSON_GetObjectItemCaseSensitive(body, "from"), "from", &from_org,
                              &from_storage, &errors);
    bool to_ok = parse_node(cJSON_GetObjectItemCaseSensitive(body, "to"), "to", &to_org,
                            &to_storage, &errors);
    parse_distance(cJSON_GetObjectItemCaseSensitive(body, "distance_m"), &distance, &errors);
    const cJSON *two_way = cJSON_GetObjectItemCaseSensitive(body, "two_way");
    if (two_way != NULL && !cJSON_IsBool(two_way)) {
        field_errors_add(&errors, "two_way", "must be true or false");
    }
    if (from_ok && to_ok && from_org == to_org && from_storage == to_storage) {
        field_errors_add(&errors, "to", "a road cannot join a node to itself");
    }
    bool is_two_way = cJSON_IsTrue(two_way);
    cJSON_Delete(body);
    if (errors.count > 0) {
        api_reply_field_errors(ctx, &errors);
        return;
    }
    api_req *req = api_req_for(ctx);
    if (req == NULL) {
        return;
    }
    /* p[0..5]: insert parameters; p[6..8]: reverse check (from key, to key, two_way). */
    req->p[0] = from_org ? api_id_text(req->text[0], from_org) : NULL;
    req->p[1] = from_storage ? api_id_text(req->text[1], from_storage) : NULL;
    req->p[2] = to_org ? api_id_text(req->text[2], to_org) : NULL;
    req->p[3] = to_storage ? api_id_text(req->text[3], to_storage) : NULL;
    req->p[4] = api_id_text(req->text[4], distance);
    req->p[5] = is_two_way ? "true" : "false";
    node_key(req->text[5], from_org, from_storage);
    node_key(req->text[6], to_org, to_storage);
    req->p[6] = req->text[5];
    req->p[7] = req->text[6];
    req->p[8] = req->p[5];
    api_req_add(req, ST_GRAPH_LOCK, 0, 0);
    api_req_add(req, ST_RT_REVERSE_CHECK, 6, 3);
    api_req_add(req, ST_RT_CREATE, 0, 6);
    api_req_add(req, ST_GRAPH_BUMP, 0, 0);
    api_req_add(req, ST_ROOM_BUMP, 0, 0);
    req->flags = 2;
    api_req_run(ctx, req, TX_ONE_ROUND, route_changed);
}

void handle_routes_patch(http_ctx *ctx)
{
    cJSON *body = api_body_object(ctx);
    if (body == NULL) {
        return;
    }
    static const char *const allowed[] = {"distance_m", "two_way", NULL};
    if (!api_only_fields(ctx, body, allowed, "")) {
        cJSON_Delete(body);
        return;
    }
    field_errors errors = {0};
    int64_t distance = 0;
    const cJSON *distance_item = cJSON_GetObjectItemCaseSensitive(body, "distance_m");
    if (distance_item != NULL) {
        parse_distance(distance_item, &distance, &errors);
    }
    const cJSON *two_way = cJSON_GetObjectItemCaseSensitive(body, "two_way");
    if (two_way != NULL && !cJSON_IsBool(two_way)) {
        field_errors_add(&errors, "two_way", "must be true or false");
    }
    const char *two_way_text = two_way == NULL ? NULL : cJSON_IsTrue(two_way) ? "true" : "false";
    cJSON_Delete(body);
    if (errors.count > 0) {
        api_reply_field_errors(ctx, &errors);
        return;
    }
    api_req *req = api_req_for(ctx);
    if (req == NULL) {
        return;
    }
    req->p[0] = api_id_text(req->text[0], ctx->match.ids[0]);
    req->p[1] = distance ? api_id_text(req->text[1], distance) : NULL;
    req->p[2] = two_way_text;
    /* ST_RT_PATCH_CHECK takes (id, two_way). */
    req->p[3] = req->p[0];
    req->p[4] = two_way_text;
    api_req_add(req, ST_GRAPH_LOCK, 0, 0);
    api_req_add(req, ST_RT_PATCH_CHECK, 3, 2);
    api_req_add(req, ST_RT_PATCH, 0, 3);
    req->flags = 2;
    api_req_run(ctx, req, TX_ONE_ROUND, route_changed);
}

void handle_routes_delete(http_ctx *ctx)
{
    api_req *req = api_req_for(ctx);
    if (req == NULL) {
        return;
    }
    req->p[0] = api_id_text(req->text[0], ctx->match.ids[0]);
    api_req_add(req, ST_GRAPH_LOCK, 0, 0);
    api_req_add(req, ST_RT_DELETE, 0, 1);
    static const api_delete_spec spec = {"Route", "The route is still referenced.", 1};
    api_run_delete(ctx, req, &spec);
}

void handle_routes_get(http_ctx *ctx)
{
    api_get_by_id(ctx, ST_RT_GET);
}

void handle_routes_list(http_ctx *ctx)
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
    const char *node = http_query_param(ctx, "node");
    if (node != NULL) {
        const char *colon = strchr(node, ':');
        int64_t id = 0;
        char kind = 0;
        if (colon != NULL && strncmp(node, "organization", (size_t)(colon - node)) == 0 &&
            colon - node == 12) {
            kind = 'o';
        } else if (colon != NULL && strncmp(node, "storage", (size_t)(colon - node)) == 0 &&
                   colon - node == 7) {
            kind = 's';
        }
        char *end = NULL;
        if (kind != 0 && colon[1] >= '1' && colon[1] <= '9') {
            id = strtoll(colon + 1, &end, 10);
        }
        if (kind == 0 || id <= 0 || end == NULL || *end != '\0' || strlen(colon + 1) > 18) {
            api_req_free(req);
            http_reply_invalid(ctx, "node", "must be organization:<id> or storage:<id>");
            return;
        }
        snprintf(req->text[2], sizeof req->text[2], "%c%lld", kind, (long long)id);
        req->p[2] = req->text[2];
    }
    req->p[0] = api_id_text(req->text[0], after);
    req->p[1] = api_id_text(req->text[1], limit);
    api_req_add(req, ST_RT_LIST, 0, 3);
    api_req_run(ctx, req, TX_NONE, api_reply_json_row);
}
