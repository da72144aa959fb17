/* /v1/routes: the directed road graph. Route changes run one at a time (a row lock only the app
 * role takes); the routes table's triggers log each real change and move the graph version in the
 * same transaction (sql/migrations/003), so every instance brings its cached graph up to date
 * (engine/graph_cache.h) before the next transfer or view that starts after the commit. */
#include "api/common.h"
#include "api/handlers.h"
#include "api/repr.h"
#include "api/rows.h"
#include "engine/dispatch.h"
#include "engine/statements.h"

#include <string.h>

#define DISTANCE_MAX 100000000LL

static const tx_conflict route_conflicts[] = {
    {"routes_pair_key", PROBLEM_CONFLICT, NULL,
     "A road already joins these nodes in this direction."},
    {"routes_from_organization_id_fkey", PROBLEM_VALIDATION, "from",
     "no such organization or storage"},
    {"routes_from_storage_id_fkey", PROBLEM_VALIDATION, "from", "no such organization or storage"},
    {"routes_to_organization_id_fkey", PROBLEM_VALIDATION, "to", "no such organization or storage"},
    {"routes_to_storage_id_fkey", PROBLEM_VALIDATION, "to", "no such organization or storage"},
    {"routes_not_self", PROBLEM_VALIDATION, "to", "a road cannot join a node to itself"},
    {NULL, 0, NULL, NULL},
};

static bool parse_node(const cJSON *node, const char *field, node_ref *out, field_errors *errors)
{
    static const char shape[] = "must be {\"organization_id\": id} or {\"storage_id\": id}";
    if (!cJSON_IsObject(node) || cJSON_GetArraySize(node) != 1) {
        field_errors_add(errors, field, shape);
        return false;
    }
    const cJSON *item = node->child;
    bool is_org = strcmp(item->string, "organization_id") == 0;
    bool is_storage = strcmp(item->string, "storage_id") == 0;
    double value = cJSON_IsNumber(item) ? item->valuedouble : -1;
    if (!(is_org || is_storage) || value < 1 || value > 9.2e18 || value != (double)(int64_t)value) {
        field_errors_add(errors, field, shape);
        return false;
    }
    *out = (node_ref){is_org ? NODE_ORG : NODE_STORAGE, (int64_t)value};
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

static void render_route(strbuf *out, tx *t, const db_result *result)
{
    repr_route_row route = rows_route(result, 0, 0);
    repr_route(out, &route);
}

static void room_may_be_in_reach(tx *t, void *arg)
{
    dispatcher_room_appeared(tx_app(t)->dispatcher);
}

/* The route the batch's last statement returned: 201 (created) or 200; 404 when none. */
static void route_changed(tx *t, const db_result *result)
{
    int q = result->count - 1;
    if (db_rows(result, q) == 0) {
        tx_fail(t, PROBLEM_NOT_FOUND, "Route not found.");
        return;
    }
    repr_route_row route = rows_route(result, q, 0);
    strbuf out = {0};
    repr_route(&out, &route);
    tx_on_commit(t, room_may_be_in_reach, NULL);
    bool creating = tx_ctx(t)->method == HTTP_POST;
    const char *location =
        creating ? arena_printf(tx_arena(t), "/v1/routes/%lld", (long long)route.id) : NULL;
    api_reply_buffer(t, creating ? 201 : 200, &out, location);
}

/* 'o12' / 's7': the routes table's node keys. */
static const char *node_key(tx *t, node_ref node)
{
    return arena_printf(tx_arena(t), "%c%lld", node.kind == NODE_ORG ? 'o' : 's',
                        (long long)node.id);
}

static const char *node_id(tx *t, node_ref node, node_kind kind)
{
    return node.kind == kind ? tx_int(t, node.id) : NULL;
}

void handle_routes_create(http_ctx *ctx)
{
    static const char *const allowed[] = {"from", "to", "distance_m", "two_way", NULL};
    cJSON *body = api_body_fields(ctx, allowed);
    if (body == NULL) {
        return;
    }
    field_errors errors = {0};
    node_ref from = {0}, to = {0};
    int64_t distance = 0;
    bool from_ok =
        parse_node(cJSON_GetObjectItemCaseSensitive(body, "from"), "from", &from, &errors);
    bool to_ok = parse_node(cJSON_GetObjectItemCaseSensitive(body, "to"), "to", &to, &errors);
    parse_distance(cJSON_GetObjectItemCaseSensitive(body, "distance_m"), &distance, &errors);
    const cJSON *two_way = cJSON_GetObjectItemCaseSensitive(body, "two_way");
    if (two_way != NULL && !cJSON_IsBool(two_way)) {
        field_errors_add(&errors, "two_way", "must be true or false");
    }
    if (from_ok && to_ok && from.kind == to.kind && from.id == to.id) {
        field_errors_add(&errors, "to", "a road cannot join a node to itself");
    }
    bool is_two_way = cJSON_IsTrue(two_way);
    cJSON_Delete(body);
    if (errors.count > 0) {
        http_problem_fields(ctx, &errors);
        return;
    }
    tx *t = tx_for(ctx);
    tx_q0(t, ST_GRAPH_LOCK);
    tx_q(t, ST_RT_REVERSE_CHECK, node_key(t, from), node_key(t, to), tx_bool(is_two_way));
    tx_q(t, ST_RT_CREATE, node_id(t, from, NODE_ORG), node_id(t, from, NODE_STORAGE),
         node_id(t, to, NODE_ORG), node_id(t, to, NODE_STORAGE), tx_int(t, distance),
         tx_bool(is_two_way));
    tx_conflicts(t, route_conflicts);
    tx_run(t, TX_ONE_ROUND, route_changed);
}

void handle_routes_patch(http_ctx *ctx)
{
    static const char *const allowed[] = {"distance_m", "two_way", NULL};
    cJSON *body = api_body_fields(ctx, allowed);
    if (body == NULL) {
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
    const char *two_way_text = two_way == NULL ? NULL : tx_bool(cJSON_IsTrue(two_way));
    cJSON_Delete(body);
    if (errors.count > 0) {
        http_problem_fields(ctx, &errors);
        return;
    }
    tx *t = tx_for(ctx);
    const char *id = tx_int(t, ctx->match.ids[0]);
    tx_q0(t, ST_GRAPH_LOCK);
    tx_q(t, ST_RT_PATCH_CHECK, id, two_way_text);
    tx_q(t, ST_RT_PATCH, id, distance ? tx_int(t, distance) : NULL, two_way_text);
    tx_conflicts(t, route_conflicts);
    tx_run(t, TX_ONE_ROUND, route_changed);
}

void handle_routes_delete(http_ctx *ctx)
{
    tx *t = tx_for(ctx);
    tx_q0(t, ST_GRAPH_LOCK);
    tx_q(t, ST_RT_DELETE, tx_int(t, ctx->match.ids[0]));
    api_run_delete(t, route_conflicts);
}

void handle_routes_get(http_ctx *ctx)
{
    api_get_by_id(ctx, ST_RT_GET, "Route", render_route);
}

static void route_item(strbuf *out, const void *result, size_t index)
{
    repr_route_row route = rows_route(result, 0, (int)index);
    repr_route(out, &route);
}

static int64_t route_id(const void *result, size_t index)
{
    return db_int64(result, 0, (int)index, 0);
}

static void listed(tx *t, const db_result *result)
{
    const api_page *page = tx_user(t);
    api_reply_page(t, result, (size_t)db_rows(result, 0), page->limit, route_item, route_id);
}

/* ?node=organization:<id> or storage:<id> as the table's node key, into *key (NULL when
 * absent). */
static bool node_param(http_ctx *ctx, const char **key)
{
    *key = NULL;
    const char *node = http_query_param(ctx, "node");
    if (node == NULL) {
        return true;
    }
    const char *colon = strchr(node, ':');
    char kind = 0;
    if (colon != NULL && colon - node == 12 && strncmp(node, "organization", 12) == 0) {
        kind = 'o';
    } else if (colon != NULL && colon - node == 7 && strncmp(node, "storage", 7) == 0) {
        kind = 's';
    }
    const char *digits = kind != 0 ? colon + 1 : "";
    size_t length = strlen(digits);
    bool valid = kind != 0 && length >= 1 && length <= 18 && digits[0] >= '1' && digits[0] <= '9' &&
                 strspn(digits, "0123456789") == length;
    if (!valid) {
        http_problem_invalid(ctx, "node", "must be organization:<id> or storage:<id>");
        return false;
    }
    *key = arena_printf(&ctx->arena, "%c%s", kind, digits);
    return true;
}

void handle_routes_list(http_ctx *ctx)
{
    api_page page;
    const char *node;
    if (!api_page_params(ctx, &page) || !node_param(ctx, &node)) {
        return;
    }
    tx *t = tx_for(ctx);
    api_list_begin(t, &page);
    tx_q(t, ST_RT_LIST, tx_int(t, page.after_id), tx_int(t, page.limit + 1), node);
    tx_run(t, TX_READ, listed);
}
