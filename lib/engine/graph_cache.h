/* The per-instance road graph cache. Correct across instances because every route change
 * bumps graph_state.version in its own transaction, and every transfer or view reads that
 * version after it starts: a stale cache is noticed and reloaded before it is used.
 * Snapshots are reference-counted: a request keeps the one it started with alive across
 * its database round trips even when a newer one replaces it in the cache. */
#ifndef WF_ENGINE_GRAPH_CACHE_H
#define WF_ENGINE_GRAPH_CACHE_H

#include "core/graph.h"
#include "db/pool.h"
#include "engine/app.h"

#include <stdint.h>

struct graph_snapshot {
    graph *roads;
    int64_t version; /* graph_state.version it was loaded at */
    int refs;
    /* Shortest paths from organizations, computed on demand (graph_snapshot_paths):
     * direct-mapped by organization id, bounded in memory. */
    graph_paths **paths;
    int64_t *paths_from;
    size_t paths_slots;
};

/* Builds a snapshot from the rows of an ST_GRAPH_LOAD result (query q) and makes it the
 * cached graph unless a newer one is cached already. Returns it retained once for the
 * caller. */
graph_snapshot *graph_cache_install(wf_app *app, const db_result *result, int q);
/* The cached snapshot, retained for the caller, when its version is `version`; else NULL. */
graph_snapshot *graph_cache_get(wf_app *app, int64_t version);
/* Drops one reference (NULL is a no-op); the last frees the snapshot. */
void graph_snapshot_release(graph_snapshot *snapshot);
/* Shortest paths from an organization over the snapshot's graph, from the snapshot's
 * cache when there. The result belongs to the snapshot and stays valid only until the
 * next call on it: use it within one callback, never across a database round trip. */
const graph_paths *graph_snapshot_paths(graph_snapshot *snapshot, int64_t organization_id);

#endif
