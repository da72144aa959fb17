/* GET /v1/organizations/{id}/storages — requirement 4: every storage (optionally only
 * those accepting a type) with its shortest road distance and path from the organization,
 * capacity, stock and remaining room; reachable first by (distance, id), then the rest.
 *
 *   round 1  [type check, graph version + organization exists, storages]
 *   round 2  only when this instance's cached graph is stale: [graph load, storages] */
#include "api/common.h"
#include "api/handlers.h"
#include "api/repr.h"
#include "api/rows.h"
#include "core/alloc.h"
#include "engine/graph_cache.h"
#include "engine/statements.h"

typedef struct {
    int64_t organization_id;
    const char *waste_type;
} view_state;

static void write_path(strbuf *out, const graph_paths *paths, node_ref storage, node_ref *path,
                       size_t path_cap)
{
    size_t length = graph_path(paths, storage, path, path_cap);
    strbuf_puts(out, ",\"path\":[");
    for (size_t k = 0; k < length; k++) {
        strbuf_puts(out, k ? "," : "");
        repr_node(out, path[k]);
    }
    strbuf_puts(out, "]");
}

static void render(tx *t, const db_result *result, int q, graph_snapshot *snapshot)
{
    const view_state *view = tx_user(t);
    repr_holder *storages;
    size_t count = rows_holders(tx_arena(t), result, q, &storages);
    const graph_paths *paths = graph_snapshot_paths(snapshot, view->organization_id);
    /* The allocator's order — (distance, id) for the reachable, then id — sorts the view;
     * each entry's index rides in room_kg. */
    alloc_candidate *order = TX_ARRAY(t, alloc_candidate, count ? count : 1);
    for (size_t i = 0; i < count; i++) {
        order[i] = (alloc_candidate){
            storages[i].id, graph_distance(paths, (node_ref){NODE_STORAGE, storages[i].id}),
            (int64_t)i};
    }
    alloc_sort_candidates(order, count);
    size_t path_cap = graph_node_count(snapshot->roads) + 1;
    node_ref *path = TX_ARRAY(t, node_ref, path_cap);
    strbuf out = {0};
    repr_page_begin(&out);
    for (size_t i = 0; i < count; i++) {
        const repr_holder *storage = &storages[order[i].room_kg];
        repr_page_item(&out, i);
        strbuf_puts(&out, "{\"id\":");
        strbuf_int(&out, storage->id);
        strbuf_puts(&out, ",\"storage_id\":");
        strbuf_int(&out, storage->id);
        strbuf_puts(&out, ",\"distance_m\":");
        if (order[i].distance_m >= 0) {
            strbuf_int(&out, order[i].distance_m);
            write_path(&out, paths, (node_ref){NODE_STORAGE, storage->id}, path, path_cap);
        } else {
            strbuf_puts(&out, "null,\"path\":null");
        }
        strbuf_puts(&out, ",");
        repr_storage_members(&out, storage);
        strbuf_puts(&out, "}");
    }
    repr_page_end(&out, NULL);
    api_reply_buffer(t, 200, &out, NULL);
}

/* Round 2, only when the cached graph was stale: [graph load, storages]. */
static void with_graph(tx *t, const db_result *result)
{
    graph_snapshot *snapshot = graph_cache_install(tx_app(t), result, 0);
    render(t, result, 1, snapshot);
    graph_snapshot_release(snapshot);
}

/* Round 1: [type check, graph version + organization exists, storages]. */
static void first_round(tx *t, const db_result *result)
{
    if (db_text(result, 1, 0, 1)[0] != 't') {
        tx_fail(t, PROBLEM_NOT_FOUND, "Organization not found.");
        return;
    }
    graph_snapshot *snapshot = graph_cache_get(tx_app(t), db_int64(result, 1, 0, 0));
    if (snapshot == NULL) {
        const view_state *view = tx_user(t);
        graph_cache_queue(t);
        tx_q(t, ST_VIEW_STORAGES, view->waste_type);
        tx_next(t, with_graph);
        return;
    }
    render(t, result, 2, snapshot);
    graph_snapshot_release(snapshot);
}

void handle_organization_storages(http_ctx *ctx)
{
    const char *waste_type;
    if (!api_code_param(ctx, "waste_type", &waste_type)) {
        return;
    }
    tx *t = tx_for(ctx);
    view_state *view = TX_NEW(t, view_state);
    *view = (view_state){ctx->match.ids[0], waste_type};
    tx_set_user(t, view);
    tx_q(t, ST_CHECK_TYPE, waste_type, "waste_type");
    tx_q(t, ST_VIEW_HEAD, tx_int(t, view->organization_id));
    tx_q(t, ST_VIEW_STORAGES, waste_type);
    tx_run(t, TX_READ, first_round);
}
