/* The per-instance road graph cache. Correct across instances because every route change
 * bumps graph_state.version in its own transaction, and every transfer or view reads that
 * version after it starts: a stale cache is noticed and reloaded before it is used. */
#include "api/app.h"

#include "util/log.h"

#include <stdlib.h>

void graph_snapshot_release(graph_snapshot *snapshot)
{
    if (snapshot != NULL && --snapshot->refs == 0) {
        graph_free(snapshot->roads);
        free(snapshot);
    }
}

graph_snapshot *graph_cache_get(app *application, int64_t version)
{
    graph_snapshot *current = application->graph;
    if (current == NULL || current->version != version) {
        return NULL;
    }
    current->refs++;
    return current;
}

graph_snapshot *graph_cache_install(app *application, const db_result *result, int q)
{
    int rows = db_rows(result, q);
    graph_road *roads = calloc((size_t)(rows > 0 ? rows : 1), sizeof *roads);
    graph_snapshot *snapshot = calloc(1, sizeof *snapshot);
    if (roads == NULL || snapshot == NULL) {
        free(roads);
        free(snapshot);
        return NULL;
    }
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
        free(snapshot);
        return NULL;
    }
    if (application->graph != NULL && application->graph->version > snapshot->version) {
        /* A concurrent load already installed a newer graph: keep that one cached. */
        snapshot->refs = 1;
        return snapshot;
    }
    snapshot->refs = 2; /* the cache and the caller */
    graph_snapshot_release(application->graph);
    application->graph = snapshot;
    log_event(LOG_DEBUG, "road graph loaded", NULL);
    return snapshot;
}
