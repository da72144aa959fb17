/* One storage as an organization sees it (engine/view.h, view_storage): round 1 reads the
 * view's head and the storage; a graph snapshot not cached yet is synced in a second round;
 * then a bounded search from the organization runs until it reaches the storage (or ends),
 * so the cost is the storages nearer than it, not the whole graph. */
#include "engine/view.h"

#include "engine/graph_cache.h"
#include "engine/statements.h"

typedef struct {
    int64_t organization_id, storage_id;
    graph_snapshot *snapshot;
    view_storage_render_fn render;
    void *render_arg;
    int round_trips;
} one_state;

static void one_free(void *arg)
{
    one_state *one = arg;
    graph_snapshot_release(one->snapshot);
}

/* The storage's rows are query q: a bounded search up to it (its cost is the storages nearer
 * than it), then the caller writes it. */
static void one_render(tx *t, const db_result *result, int q)
{
    one_state *one = tx_user(t);
    if (db_rows(result, q) == 0) {
        tx_fail(t, PROBLEM_NOT_FOUND, "Storage not found.");
        return;
    }
    int64_t distance = -1;
    view_order *order = NULL;
    if (graph_has_node(one->snapshot->roads, (node_ref){NODE_STORAGE, one->storage_id})) {
        bool resumed;
        order = view_order_take(NULL, one->snapshot, one->organization_id, NULL, true, &resumed);
        int64_t id, d;
        while (view_order_next(order, &id, &d)) {
            if (id == one->storage_id) {
                distance = d;
                break;
            }
        }
    }
    uint64_t settled = order != NULL ? view_order_settled(order) : 0;
    one->render(one->render_arg, t, result, q, distance, order, settled, one->round_trips);
    view_order_free(order);
}

static void one_synced(tx *t, const db_result *result)
{
    one_state *one = tx_user(t);
    one->snapshot = graph_cache_install(tx_app(t), result, 1);
    one_render(t, result, 0);
}

/* Round 1: [head, storage]. */
static void one_first(tx *t, const db_result *result)
{
    one_state *one = tx_user(t);
    if (db_text(result, 0, 0, 1)[0] != 't') {
        tx_fail(t, PROBLEM_NOT_FOUND, "Organization not found.");
        return;
    }
    if (db_rows(result, 1) == 0) {
        tx_fail(t, PROBLEM_NOT_FOUND, "Storage not found.");
        return;
    }
    one->snapshot = graph_cache_get(tx_app(t), db_int64(result, 0, 0, 0));
    if (one->snapshot != NULL) {
        one_render(t, result, 1);
        return;
    }
    tx_q(t, ST_ST_GET, tx_int(t, one->storage_id));
    graph_cache_queue(t);
    one->round_trips++;
    tx_next(t, one_synced);
}

static void one_run(void *arg)
{
    tx_run(arg, TX_READ, one_first);
}

void view_storage(tx *t, int64_t organization_id, int64_t storage_id, view_storage_render_fn render,
                  void *arg)
{
    one_state *one = TX_NEW(t, one_state);
    *one = (one_state){organization_id, storage_id, NULL, render, arg, 1};
    tx_set_user(t, one);
    tx_on_free(t, one_free, one);
    tx_q(t, ST_VIEW_HEAD, tx_int(t, one->organization_id));
    tx_q(t, ST_ST_GET, tx_int(t, one->storage_id));
    if (!graph_cache_await_preload(tx_app(t), one_run, t)) {
        one_run(t);
    }
}
