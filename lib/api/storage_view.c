/* GET /v1/organizations/{id}/storages — requirement 4: every storage (optionally only
 * those accepting a type) with its shortest road distance and path from the organization,
 * capacity, stock and remaining room; reachable first by (distance, id), then the rest. */
#include "api/common.h"
#include "api/handlers.h"
#include "api/statements.h"
#include "core/alloc.h"
#include "util/strbuf.h"

#include <stdlib.h>
#include <string.h>

/* One row of ST_VIEW_STORAGES (a storage and one of its types), integers parsed once:
 * a thousand-storage view reads each several times. */
typedef struct {
    int64_t id;
    int64_t capacity;
    int64_t stock;
    int count; /* on a storage's first row: how many rows (types) it has */
} view_row;

/* Writes {"bio":1,"glass":2} from rows first..first+count-1: capacity, stock or
 * remaining (capacity - stock). Type codes match [a-z][a-z0-9_]* (a schema CHECK), so
 * they need no JSON escaping. */
static void quantity_map(strbuf *out, const db_result *result, int q, const view_row *rows,
                         int first, int which)
{
    strbuf_puts(out, "{");
    for (int row = first; row < first + rows[first].count; row++) {
        strbuf_puts(out, row > first ? ",\"" : "\"");
        strbuf_puts(out, db_text(result, q, row, 3));
        strbuf_puts(out, "\":");
        int64_t capacity = rows[row].capacity;
        int64_t stock = rows[row].stock;
        strbuf_int(out, which == 0 ? capacity : which == 1 ? stock : capacity - stock);
    }
    strbuf_puts(out, "}");
}

static void render(api_tx *tx, const db_result *result, int q, graph_snapshot *snapshot)
{
    api_req *req = api_tx_user(tx);
    int rows = db_rows(result, q);
    const graph_paths *paths = graph_snapshot_paths(snapshot, req->id);
    /* One entry per storage; its first row index rides in room_kg, so the allocator's
     * ordering — (distance, id) for reachable, then id — sorts the view. */
    alloc_candidate *order = calloc((size_t)(rows > 0 ? rows : 1), sizeof *order);
    view_row *parsed = calloc((size_t)(rows > 0 ? rows : 1), sizeof *parsed);
    size_t path_cap = graph_node_count(snapshot->roads) + 1;
    node_ref *path = calloc(path_cap, sizeof *path);
    if (paths == NULL || order == NULL || parsed == NULL || path == NULL) {
        free(order);
        free(parsed);
        free(path);
        api_tx_problem(tx, 503, "service-unavailable", "Service Unavailable", "Out of memory.");
        return;
    }
    int storages = 0;
    int first_of_storage = 0;
    for (int row = 0; row < rows; row++) {
        parsed[row] = (view_row){db_int64(result, q, row, 0), db_int64(result, q, row, 4),
                                 db_int64(result, q, row, 5), 0};
        if (row == 0 || parsed[row].id != parsed[row - 1].id) {
            order[storages++] = (alloc_candidate){
                parsed[row].id, graph_distance(paths, (node_ref){NODE_STORAGE, parsed[row].id}),
                row};
            first_of_storage = row;
        }
        parsed[first_of_storage].count++;
    }
    alloc_sort_candidates(order, (size_t)storages);
    strbuf out = {0};
    strbuf_puts(&out, "{\"items\":[");
    for (int i = 0; i < storages; i++) {
        int first = (int)order[i].room_kg;
        int64_t id = order[i].storage_id;
        strbuf_puts(&out, i ? ",{\"id\":" : "{\"id\":");
        strbuf_int(&out, id);
        strbuf_puts(&out, ",\"storage_id\":");
        strbuf_int(&out, id);
        strbuf_puts(&out, ",\"name\":");
        strbuf_puts(&out, db_text(result, q, first, 1));
        strbuf_puts(&out, ",\"distance_m\":");
        if (order[i].distance_m >= 0) {
            strbuf_int(&out, order[i].distance_m);
            size_t length = graph_path(paths, (node_ref){NODE_STORAGE, id}, path, path_cap);
            strbuf_puts(&out, ",\"path\":[");
            for (size_t k = 0; k < length; k++) {
                strbuf_puts(&out, k ? "," : "");
                strbuf_puts(&out, path[k].kind == NODE_ORG ? "{\"organization_id\":"
                                                           : "{\"storage_id\":");
                strbuf_int(&out, path[k].id);
                strbuf_puts(&out, "}");
            }
            strbuf_puts(&out, "]");
        } else {
            strbuf_puts(&out, "null,\"path\":null");
        }
        strbuf_puts(&out, ",\"capacity\":");
        quantity_map(&out, result, q, parsed, first, 0);
        strbuf_puts(&out, ",\"stock\":");
        quantity_map(&out, result, q, parsed, first, 1);
        strbuf_puts(&out, ",\"remaining\":");
        quantity_map(&out, result, q, parsed, first, 2);
        strbuf_puts(&out, ",\"created_at\":\"");
        strbuf_puts(&out, db_text(result, q, first, 2));
        strbuf_puts(&out, "\"}");
    }
    strbuf_puts(&out, "],\"next_cursor\":null}");
    free(order);
    free(parsed);
    free(path);
    char *body = strbuf_take(&out);
    if (body == NULL) {
        api_tx_problem(tx, 503, "service-unavailable", "Service Unavailable", "Out of memory.");
        return;
    }
    api_tx_ok(tx, 200, body, NULL);
}

/* Round 2, only when the cached graph was stale: [graph load, storages]. */
static void with_graph(api_tx *tx, const db_result *result)
{
    if (result->status != DB_OK) {
        api_tx_db_error(tx, result);
        return;
    }
    graph_snapshot *snapshot = graph_cache_install(app_of(api_tx_ctx(tx)), result, 0);
    if (snapshot == NULL) {
        api_tx_problem(tx, 503, "service-unavailable", "Service Unavailable", "Out of memory.");
        return;
    }
    render(tx, result, 1, snapshot);
    graph_snapshot_release(snapshot);
}

/* Round 1: [type check, graph version + organization exists, storages]. */
static void first_round(api_tx *tx, const db_result *result)
{
    if (result->status != DB_OK) {
        api_tx_db_error(tx, result);
        return;
    }
    if (strcmp(db_text(result, 1, 0, 1), "t") != 0) {
        api_tx_problem(tx, 404, "not-found", "Not Found", "Organization not found.");
        return;
    }
    app *application = app_of(api_tx_ctx(tx));
    graph_snapshot *snapshot = graph_cache_get(application, db_int64(result, 1, 0, 0));
    if (snapshot == NULL) {
        api_req *req = api_tx_user(tx);
        api_tx_send(tx, &req->q[3], 2, with_graph);
        return;
    }
    render(tx, result, 2, snapshot);
    graph_snapshot_release(snapshot);
}

void handle_organization_storages(http_ctx *ctx)
{
    const char *waste_type;
    if (!api_code_param(ctx, "waste_type", &waste_type)) {
        return;
    }
    api_req *req = api_req_for(ctx);
    if (req == NULL) {
        return;
    }
    req->id = ctx->match.ids[0];
    req->p[0] = waste_type != NULL ? api_req_own(req, strdup(waste_type)) : NULL;
    req->p[1] = "waste_type";
    req->p[2] = api_id_text(req->text[0], req->id);
    api_req_add(req, ST_CHECK_TYPE, 0, 2);
    api_req_add(req, ST_VIEW_HEAD, 2, 1);
    api_req_add(req, ST_VIEW_STORAGES, 0, 1);
    /* Kept for a stale graph: q[3..4] = graph load, storages again. */
    api_req_add(req, ST_GRAPH_LOAD, 0, 0);
    api_req_add(req, ST_VIEW_STORAGES, 0, 1);
    api_tx_spec spec = {req->q, 3, TX_NONE, first_round};
    api_tx_start(ctx, &spec, req, api_req_free);
}
