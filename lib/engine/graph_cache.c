/* The road graph cache (see graph_cache.h). */
#include "engine/graph_cache.h"

#include "util/log.h"
#include "util/mem.h"

#include <stdlib.h>

/* Memory the path cache of one snapshot may use: a view then skips Dijkstra for the
 * organizations asked about recently, at a cost bounded whatever the graph's size. */
#define PATHS_CACHE_BYTES (8u << 20)

void graph_snapshot_release(graph_snapshot *snapshot)
{
    if (snapshot != NULL && --snapshot->refs == 0) {
        for (size_t i = 0; i < snapshot->paths_slots; i++) {
            graph_paths_free(snapshot->paths[i]);
        }
        free(snapshot->paths);
        free(snapshot->paths_from);
        graph_free(snapshot->roads);
        free(snapshot);
    }
}

const graph_paths *graph_snapshot_paths(graph_snapshot *snapshot, int64_t organization_id)
{
    if (snapshot->paths_slots == 0) {
        /* One cached result holds a distance and a predecessor for every node. */
        size_t per_entry = graph_node_count(snapshot->roads) * 16 + 64;
        size_t slots = PATHS_CACHE_BYTES / per_entry;
        slots = slots < 1 ? 1 : slots > 4096 ? 4096 : slots;
        snapshot->paths = xcalloc(slots, sizeof *snapshot->paths);
        snapshot->paths_from = xcalloc(slots, sizeof *snapshot->paths_from);
        snapshot->paths_slots = slots;
    }
    size_t slot =
        (size_t)(((uint64_t)organization_id * 0x9e3779b97f4a7c15ULL) >> 32) % snapshot->paths_slots;
    if (snapshot->paths[slot] != NULL && snapshot->paths_from[slot] == organization_id) {
        return snapshot->paths[slot];
    }
    graph_paths *fresh =
        graph_shortest_from(snapshot->roads, (node_ref){NODE_ORG, organization_id});
    if (fresh == NULL) {
        mem_exhausted(graph_node_count(snapshot->roads) * 16);
    }
    graph_paths_free(snapshot->paths[slot]);
    snapshot->paths[slot] = fresh;
    snapshot->paths_from[slot] = organization_id;
    return fresh;
}

graph_snapshot *graph_cache_get(wf_app *app, int64_t version)
{
    graph_snapshot *current = app->graph;
    if (current == NULL || current->version != version) {
        return NULL;
    }
    current->refs++;
    return current;
}

graph_snapshot *graph_cache_install(wf_app *app, const db_result *result, int q)
{
    int rows = db_rows(result, q);
    graph_road *roads = xcalloc((size_t)(rows > 0 ? rows : 1), sizeof *roads);
    graph_snapshot *snapshot = xcalloc(1, sizeof *snapshot);
    size_t count = 0;
    for (int row = 0; row < rows; row++) {
        if (db_is_null(result, q, row, 5)) {
            continue; /* the LEFT JOIN row of a graph without roads */
        }
        graph_road *road = &roads[count++];
        bool from_org = !db_is_null(result, q, row, 1);
        bool to_org = !db_is_null(result, q, row, 3);
        road->from = (node_ref){from_org ? NODE_ORG : NODE_STORAGE,
                                db_int64(result, q, row, from_org ? 1 : 2)};
        road->to =
            (node_ref){to_org ? NODE_ORG : NODE_STORAGE, db_int64(result, q, row, to_org ? 3 : 4)};
        road->distance_m = db_int64(result, q, row, 5);
        const char *two_way = db_text(result, q, row, 6);
        road->two_way = two_way != NULL && two_way[0] == 't';
    }
    snapshot->version = rows > 0 ? db_int64(result, q, 0, 0) : 0;
    snapshot->roads = graph_build(roads, count);
    free(roads);
    if (snapshot->roads == NULL) {
        /* The schema's constraints make every road valid: only memory can be missing. */
        mem_exhausted(count * sizeof *roads);
    }
    if (app->graph != NULL && app->graph->version > snapshot->version) {
        /* A concurrent load already installed a newer graph: keep that one cached. */
        snapshot->refs = 1;
        return snapshot;
    }
    snapshot->refs = 2; /* the cache and the caller */
    graph_snapshot_release(app->graph);
    app->graph = snapshot;
    log_event(LOG_DEBUG, "road graph loaded", NULL);
    return snapshot;
}
