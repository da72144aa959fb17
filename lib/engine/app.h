/* The application object: everything one instance of the service holds while it runs —
 * configuration, the event loop, the database pool, the HTTP server, the road-graph cache
 * and the automatic dispatcher. Handlers reach it from their request (app_of). */
#ifndef WF_ENGINE_APP_H
#define WF_ENGINE_APP_H

#include "db/pool.h"
#include "http/server.h"
#include "util/config.h"

#include <event2/event.h>

typedef struct dispatcher dispatcher;
typedef struct graph_snapshot graph_snapshot;

typedef struct wf_app {
    const config *cfg;
    struct event_base *base;
    db_pool *pool;
    http_server *server;
    dispatcher *dispatcher;
    /* The newest road graph this instance has loaded (engine/graph_cache.h); NULL until
     * the first load. */
    graph_snapshot *graph;
} wf_app;

static inline wf_app *app_of(const http_ctx *ctx)
{
    return (wf_app *)http_server_app(ctx->server);
}

#endif
