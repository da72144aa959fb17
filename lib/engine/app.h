/* The application object: everything one instance of the service holds while it runs —
 * configuration, the event loop, the database pool, the HTTP server, the road-graph cache,
 * the automatic dispatcher and the credentials it accepts. Handlers reach it from their request
 * (app_of). */
#ifndef WF_ENGINE_APP_H
#define WF_ENGINE_APP_H

#include "db/deployment_key.h"
#include "db/pool.h"
#include "http/server.h"
#include "util/config.h"

#include <event2/event.h>

typedef struct alert_evaluator alert_evaluator;
typedef struct balance_filler balance_filler;
typedef struct dispatcher dispatcher;
typedef struct events_hub events_hub;
typedef struct graph_snapshot graph_snapshot;
typedef struct key_cache key_cache;
typedef struct room_hints room_hints;
typedef struct view_cache view_cache;
typedef struct jwt_verifier jwt_verifier;
typedef struct token_cache token_cache;
typedef struct ready_probe ready_probe;
typedef struct webhook_sender webhook_sender;

typedef struct wf_app {
    const config *cfg;
    struct event_base *base;
    db_pool *pool;
    /* One connection of its own for the service's polling (key cache, dispatch epoch), so
     * it never takes a connection from requests nor waits behind them. */
    db_pool *control;
    http_server *server;
    dispatcher *dispatcher;
    /* Fires alert rules, on the instance holding their lease (engine/alerts.h). */
    alert_evaluator *alerts;
    /* Writes the balance's daily checkpoints (engine/balance_days.h). */
    balance_filler *balance_days;
    /* The newest road graph this instance has loaded (engine/graph_cache.h); NULL until
     * the first load. */
    graph_snapshot *graph;
    /* The storage view's suspended searches and reachable sets (engine/view_cache.h). */
    view_cache *views;
    /* Estimated room of every storage (engine/room_hints.h): how far transfers read ahead. */
    room_hints *hints;
    /* The API keys as of the last refresh (engine/key_cache.h). */
    key_cache *keys;
    /* Checks JWTs when one is configured (auth/jwt.h); never NULL while serving. */
    jwt_verifier *jwt;
    /* Tokens (API keys, JWTs) this instance found valid (auth/token_cache.h), so a known one
     * costs no cryptography and an unknown one is charged to its address first. */
    token_cache *verified;
    /* The live events' listener and streams (engine/events.h). */
    events_hub *events;
    /* The deployment's secret key (db/deployment_key.h), read at start-up: what this
     * instance signs for clients is keyed with subkeys of it (util/digest.h). */
    uint8_t deployment_key[DEPLOYMENT_KEY_BYTES];
    /* GET /readyz's one shared database round trip (engine/ready_probe.h). */
    ready_probe *ready;
    /* Delivers the webhook outbox while this instance holds its lease
     * (engine/webhook_sender.h). */
    webhook_sender *webhooks;
    /* Movements exports streaming now (engine/export.c's jobs), each holding a connection of
     * the pool: at most cfg->exports_max. */
    struct export_job *export_jobs;
} wf_app;

static inline wf_app *app_of(const http_ctx *ctx)
{
    return (wf_app *)http_server_app(ctx->server);
}

#endif
