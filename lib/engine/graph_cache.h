/* The per-instance road graph cache. Correct across instances because every road change
 * logs itself in route_changes and moves graph_state.version in its own transaction (the
 * routes table's triggers, sql/migrations/003), and every transfer or view reads that
 * version after it starts: a stale cache is noticed and brought up to date before use —
 * by applying the logged changes since its version (core graph_apply: the cost of the
 * changes, not of the graph), or by loading every road when the log cannot say (start-up, a
 * gap, or more than GRAPH_SYNC_MAX_CHANGES behind).
 *
 * Snapshots are reference-counted: a request keeps the one it started with alive across
 * its database round trips even when a newer one replaces it in the cache; versions share
 * their unchanged parts, so an old snapshot costs only what changed since.
 *
 * Memory: the newest graph (about 65 bytes a road: ~62 MiB at 1,000,000 roads), what old
 * snapshots still held by requests do not share with it, and per snapshot a path cache of
 * at most GRAPH_PATHS_CACHE_BYTES (graph_snapshot_paths). */
#ifndef WF_ENGINE_GRAPH_CACHE_H
#define WF_ENGINE_GRAPH_CACHE_H

#include "core/graph.h"
#include "db/pool.h"
#include "engine/app.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct tx tx;

/* More changes than this since the cached version: a full load is cheaper to apply. */
#define GRAPH_SYNC_MAX_CHANGES 10000
/* The bound of one snapshot's cache of whole shortest-path trees (graph_snapshot_paths). */
#define GRAPH_PATHS_CACHE_BYTES (8u << 20)

struct graph_snapshot {
    graph *roads;
    int64_t version; /* graph_state.version it holds */
    int refs;
    /* Shortest paths from organizations, computed on demand (graph_snapshot_paths):
     * direct-mapped by organization id, at most GRAPH_PATHS_CACHE_BYTES in all. */
    graph_paths **paths;
    int64_t *paths_from;
    size_t paths_slots;
};

/* Queues on t the one statement that brings this instance's graph to the database's current
 * version (ST_GRAPH_SYNC from the cached version: the logged changes, or every road); hand
 * its result to graph_cache_install. */
void graph_cache_queue(tx *t);

/* Turns the result of the statement graph_cache_queue queued (or of ST_GRAPH_LOAD, which
 * loads every road), query q, into a snapshot at the version it read, and makes it the
 * cached graph unless a newer one is cached already. Returns it retained once for the
 * caller. */
graph_snapshot *graph_cache_install(wf_app *app, const db_result *result, int q);

/* Loads the graph in the background (one full load), so that the first requests after
 * start-up find it cached instead of each loading every road themselves. A failure is
 * logged; requests then load as usual. graph_cache_busy: a preload is still in flight (a
 * draining server waits for it). */
void graph_cache_preload(wf_app *app, int64_t deadline_ms);
bool graph_cache_busy(const wf_app *app);

/* No graph is cached yet and the start-up preload is in flight (/readyz is not ready). */
bool graph_cache_loading(const wf_app *app);

/* A request that needs the graph while none is cached and the preload is in flight: true
 * when fn(arg) will run once the preload has ended (from the event loop; the graph is then
 * cached, or the preload failed and the caller loads it), false when it need not wait (fn
 * is not called). Without it, each such request loads every road itself beside the
 * preload: at 1,000,000 roads ~300 ms of parsing each, the road change right after a start
 * included (its view finds no graph cached and cannot apply one change). */
bool graph_cache_await_preload(wf_app *app, void (*fn)(void *arg), void *arg);

/* The cached snapshot, retained for the caller, when its version is `version`; else NULL. */
graph_snapshot *graph_cache_get(wf_app *app, int64_t version);

/* Drops one reference (NULL is a no-op); the last frees the snapshot. */
void graph_snapshot_release(graph_snapshot *snapshot);

/* Shortest paths from an organization over the snapshot's whole graph, from the snapshot's
 * cache when there. The result belongs to the snapshot and stays valid only until the
 * next call on it: use it within one callback, never across a database round trip. A
 * bounded search (graph_search_begin on snapshot->roads) costs what it explores instead. */
const graph_paths *graph_snapshot_paths(graph_snapshot *snapshot, int64_t organization_id);

#endif
