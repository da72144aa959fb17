/* The application object every handler reaches through its request: configuration, the
 * database pool, the cached road graph and the automatic dispatcher. */
#ifndef WF_API_APP_H
#define WF_API_APP_H

#include "core/graph.h"
#include "db/pool.h"
#include "http/server.h"
#include "util/config.h"

#include <event2/event.h>

typedef struct dispatcher dispatcher;

/* A built road graph and the graph_state.version it was loaded at. Reference-counted:
 * a request keeps the snapshot it started with alive across its database round trips even
 * when a newer one replaces it in the cache. */
typedef struct {
    graph *roads;
    int64_t version;
    int refs;
    /* Shortest paths from organizations, computed on demand (graph_snapshot_paths):
     * direct-mapped by organization id, bounded in memory. */
    graph_paths **paths;
    int64_t *paths_from;
    size_t paths_slots;
} graph_snapshot;

typedef struct {
    const config *cfg;
    struct event_base *base;
    db_pool *pool;
    http_server *server;
    dispatcher *dispatcher;
    /* The newest road graph this instance has loaded; replaced whole when a request sees a
     * newer graph_state.version in the database. NULL until the first load. */
    graph_snapshot *graph;
} app;

/* The route table (lib/api/routes_table.c). */
extern const router_route api_routes[];
extern const int api_route_count;

/* The prepared statements every pool connection gets (lib/api/statements.c). */
extern const db_statement api_statements[];
extern const int api_statement_count;

/* Builds a snapshot from the rows of an ST_GRAPH_LOAD result (query q) and makes it the
 * cached graph. Returns it (retained once for the caller), or NULL when out of memory. */
graph_snapshot *graph_cache_install(app *application, const db_result *result, int q);
/* The cached snapshot retained for the caller when its version is `version`, else NULL. */
graph_snapshot *graph_cache_get(app *application, int64_t version);
void graph_snapshot_release(graph_snapshot *snapshot);
/* Shortest paths from an organization over the snapshot's graph, from the snapshot's
 * cache when there. The result belongs to the snapshot and stays valid only until the
 * next call on it: use it within one callback, never across a database round trip.
 * NULL when out of memory. */
const graph_paths *graph_snapshot_paths(graph_snapshot *snapshot, int64_t organization_id);

static inline app *app_of(const http_ctx *ctx)
{
    return (app *)http_server_app(ctx->server);
}

#endif
