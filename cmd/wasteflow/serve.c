/* `wasteflow serve`: the service's life — check (or apply) the schema, build the
 * application object (pool, key cache, JWT verifier, HTTP server, dispatcher), run the
 * event loop, and on SIGTERM/SIGINT drain in-flight requests and exit cleanly. */
#include "commands.h"

#include "api/access.h"
#include "api/events.h"
#include "api/routes_table.h"
#include "api/webhook_data.h"
#include "auth/jwt.h"
#include "auth/token_cache.h"
#include "db/deployment_key.h"
#include "db/migrate.h"
#include "engine/alerts.h"
#include "engine/app.h"
#include "engine/balance_days.h"
#include "engine/dispatch.h"
#include "engine/events.h"
#include "engine/export.h"
#include "engine/graph_cache.h"
#include "engine/key_cache.h"
#include "engine/ready_probe.h"
#include "engine/webhook_sender.h"

#include "engine/room_hints.h"
#include "engine/statements.h"
#include "engine/tx.h"
#include "engine/view_cache.h"
#include "util/log.h"
#include <curl/curl.h>

#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define DRAIN_GRACE_MS 100
/* After the drain deadline cut the exports short: for their transactions to end. */
#define EXPORT_CUT_GRACE_MS 1000
/* The key cache's poll, for announcements lost (changes are announced: NOTIFY). */
#define KEY_REFRESH_MS 1000
/* (storage, type) pairs the room hints hold: 1M is 10 types for 100,000 storages, at most
 * 48 MiB (24 bytes a slot, tables at most 3/4 full). */
#define ROOM_HINTS_MAX_ENTRIES (1u << 20)

typedef struct {
    wf_app application;
    struct event *sigterm;
    struct event *sigint;
    struct event *drain_timer;
    int64_t drain_deadline_ms;
    int64_t quiet_since_ms; /* nothing in flight since then (0: something is) */
    bool draining;
    bool exports_stopped; /* the drain deadline cut the exports short */
} service;

static void drain_check(evutil_socket_t fd, short events, void *arg)
{
    service *svc = arg;
    wf_app *a = &svc->application;
    int inflight = http_server_inflight(a->server);
    int64_t now = clock_ms();
    bool quiet = inflight == 0 && !dispatcher_busy(a->dispatcher) && !key_cache_busy(a->keys) &&
                 !room_hints_busy(a->hints) && !graph_cache_busy(a) && !events_busy(a->events) &&
                 !webhook_sender_busy(a->webhooks) && !alert_evaluator_busy(a->alerts) &&
                 !balance_filler_busy(a->balance_days);
    if (!quiet) {
        svc->quiet_since_ms = 0;
    } else if (svc->quiet_since_ms == 0) {
        svc->quiet_since_ms = now;
    }
    /* Exit once nothing has been in flight (every reply written) for a short grace period:
     * requests already sitting in accepted connections get read and served meanwhile. */
    if (now >= svc->drain_deadline_ms && a->export_jobs != NULL && !svc->exports_stopped) {
        /* Downloads run on while the server drains; those still running now are cut short,
         * and their transactions given a moment to end. */
        export_stop_all(a);
        svc->exports_stopped = true;
        svc->drain_deadline_ms = now + EXPORT_CUT_GRACE_MS;
    }
    if ((quiet && now - svc->quiet_since_ms >= DRAIN_GRACE_MS) || now >= svc->drain_deadline_ms) {
        if (inflight > 0) {
            char count[16];
            snprintf(count, sizeof count, "%d", inflight);
            log_event(LOG_WARN, "drain timeout, exiting with requests in flight", "inflight", count,
                      NULL);
        }
        event_base_loopexit(a->base, NULL);
        return;
    }
    struct timeval tv = {0, 20 * 1000};
    evtimer_add(svc->drain_timer, &tv);
}

static void on_signal(evutil_socket_t signum, short events, void *arg)
{
    service *svc = arg;
    if (svc->draining) {
        return;
    }
    svc->draining = true;
    log_event(LOG_INFO, "shutting down: draining in-flight requests", "signal",
              signum == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
    http_server_stop_accepting(svc->application.server);
    /* Streams are in flight until they end: each gets a last event now, and one whose
     * reader does not take it is disconnected within a second. */
    events_stop(svc->application.events);
    dispatcher_stop(svc->application.dispatcher);
    webhook_sender_stop(svc->application.webhooks);
    alert_evaluator_stop(svc->application.alerts);
    balance_filler_stop(svc->application.balance_days);
    room_hints_stop(svc->application.hints);
    key_cache_stop(svc->application.keys);
    svc->drain_deadline_ms = clock_ms() + svc->application.cfg->drain_timeout_ms;
    /* Checked from a timer, never here: reads that became ready together with the signal
     * are still to be served in this loop turn. */
    struct timeval tv = {0, 20 * 1000};
    evtimer_add(svc->drain_timer, &tv);
}

/* Every session runs in UTC with ISO dates: the representations read timestamps as text.
 * Room a request commits is told to the dispatcher after the commit, not by its triggers
 * inside it (wasteflow.room_hint, sql/migrations/011_room_hint.sql). */
static const char *const session_settings[] = {"SET TimeZone = 'UTC'", "SET DateStyle = 'ISO, YMD'",
                                               "SET application_name = 'wasteflow'",
                                               "SET wasteflow.room_hint = after_commit", NULL};
/* WASTEFLOW_EVENTS=off: the feed's triggers see the setting and write nothing
 * (sql/migrations/008_feed.sql). */
static const char *const session_settings_events_off[] = {"SET TimeZone = 'UTC'",
                                                          "SET DateStyle = 'ISO, YMD'",
                                                          "SET application_name = 'wasteflow'",
                                                          "SET wasteflow.room_hint = after_commit",
                                                          "SET wasteflow.events = off",
                                                          NULL};
/* The control connection says what it is in pg_stat_activity, and listens for what the
 * database announces: room that appeared (the dispatcher) and key changes (the key cache). */
static const char *const control_settings[] = {"SET TimeZone = 'UTC'",
                                               "SET DateStyle = 'ISO, YMD'",
                                               "SET application_name = 'wasteflow control'",
                                               "LISTEN wasteflow_room",
                                               "LISTEN wasteflow_keys",
                                               NULL};

/* A notification on the control connection; channel NULL: it (re)connected, and whatever
 * was announced meanwhile is lost, so both look for themselves. */
static void control_notified(void *arg, const char *channel, const char *payload)
{
    (void)payload;
    wf_app *a = arg;
    if (channel == NULL || strcmp(channel, "wasteflow_keys") == 0) {
        key_cache_kick(a->keys);
    }
    if (channel == NULL || strcmp(channel, "wasteflow_room") == 0) {
        dispatcher_kick(a->dispatcher);
    }
}

/* The schema must be current: migrations pending are applied when this role may (the
 * schema's owner), else serving stops with what to do. */
static bool schema_ready(const config *cfg, const char *redacted)
{
    char error[512];
    int pending =
        db_migrations_pending(cfg->database_url, MIGRATE_WAIT_SECONDS, error, sizeof error);
    if (pending == 0) {
        return true;
    }
    if (pending > 0) {
        db_roles roles = {cfg->app_role, cfg->auditor_role};
        if (db_migrate(cfg->database_url, &roles, MIGRATE_WAIT_SECONDS, error, sizeof error) >= 0) {
            return true;
        }
        log_event(LOG_ERROR,
                  "migrations are pending and could not be applied: run `wasteflow migrate` as "
                  "the schema's owner",
                  "database", redacted, "error", error, NULL);
        return false;
    }
    log_event(LOG_ERROR, "cannot read the schema's version", "database", redacted, "error", error,
              NULL);
    return false;
}

/* The JWT verifier of the configuration; one that accepts nothing when none is set. */
static jwt_verifier *jwt_from_config(const config *cfg)
{
    char *pem = NULL;
    if (cfg->jwt_public_key_file[0] != '\0') {
        FILE *file = fopen(cfg->jwt_public_key_file, "r");
        size_t len = 0;
        if (file != NULL) {
            pem = calloc(1, 64 * 1024 + 1);
            len = pem != NULL ? fread(pem, 1, 64 * 1024, file) : 0;
            fclose(file);
        }
        if (pem == NULL || len == 0) {
            log_event(LOG_ERROR, "cannot read WASTEFLOW_JWT_PUBLIC_KEY_FILE", "file",
                      cfg->jwt_public_key_file, NULL);
            free(pem);
            return NULL;
        }
    }
    jwt_options options = {
        .hs256_secret = cfg->jwt_secret,
        .public_key_pem = pem,
        .issuer = cfg->jwt_issuer,
        .audience = cfg->jwt_audience,
        .leeway_s = 60,
        .max_ttl_s = cfg->jwt_max_ttl_s,
    };
    char error[256];
    jwt_verifier *verifier = jwt_verifier_new(&options, error, sizeof error);
    free(pem);
    if (verifier == NULL) {
        log_event(LOG_ERROR, "the JWT settings are unusable", "error", error, NULL);
    }
    return verifier;
}

/* Tokens found valid, remembered under a key no client knows. 4,096 entries of about 600
 * bytes: 2.4 MiB. */
#define VERIFIED_TOKENS 4096

static token_cache *verified_tokens(void)
{
    uint8_t seed[TOKEN_CACHE_SEED_BYTES];
    if (getrandom(seed, sizeof seed, 0) != (ssize_t)sizeof seed) {
        /* Not secret then, but still this process's own: a client cannot predict it. */
        uint64_t fallback[4] = {(uint64_t)clock_us(), (uint64_t)getpid(), (uint64_t)time(NULL),
                                (uint64_t)(uintptr_t)seed};
        memcpy(seed, fallback, sizeof seed);
    }
    return token_cache_new(VERIFIED_TOKENS, seed);
}

/* docs/design.md, "Database roles": serve runs as the app role, and says so when it does not. */
static void role_checked(tx *t, const db_result *result)
{
    bool superuser = db_text(result, 0, 0, 0)[0] == 't';
    bool owner = db_text(result, 0, 0, 1)[0] == 't';
    if (superuser || owner) {
        log_event(LOG_WARN,
                  superuser ? "connected as a superuser: run serve as the app role"
                            : "connected as the schema's owner: run serve as the app role",
                  "role", db_text(result, 0, 0, 2), "app_role", tx_app(t)->cfg->app_role, NULL);
    }
    tx_finish(t);
}

static void check_role(wf_app *app)
{
    tx *t = tx_background(app, clock_ms() + app->cfg->request_timeout_ms, NULL);
    tx_q0(t, ST_ROLE_CHECK);
    tx_run(t, TX_READ, role_checked);
}

int serve_main(const config *cfg)
{
    char redacted[1024];
    config_redact_url(cfg->database_url, redacted, sizeof redacted);
    if (!schema_ready(cfg, redacted)) {
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    /* Once, before any other thread exists (libcurl's resolver threads, the webhook sender). */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        log_event(LOG_ERROR, "cannot start: libcurl failed to initialize", NULL);
        return 1;
    }
    service svc = {0};
    wf_app *a = &svc.application;
    a->cfg = cfg;
    char key_error[512];
    if (db_deployment_key_read(cfg->database_url, MIGRATE_WAIT_SECONDS, a->deployment_key,
                               key_error, sizeof key_error) != 0) {
        log_event(LOG_ERROR, "cannot start without the deployment key", "database", redacted,
                  "error", key_error, NULL);
        return 1;
    }
    a->jwt = jwt_from_config(cfg);
    a->base = event_base_new();
    if (a->base == NULL || a->jwt == NULL) {
        log_event(LOG_ERROR, "cannot start", NULL);
        jwt_verifier_free(a->jwt);
        if (a->base != NULL) {
            event_base_free(a->base);
        }
        return 1;
    }
    db_pool_options pool_options = {
        .conninfo = cfg->database_url,
        .size = cfg->pool_size,
        .queue_max = cfg->queue_max,
        .query_timeout_ms = cfg->query_timeout_ms,
        .lock_timeout_ms = cfg->lock_timeout_ms,
        .statements = engine_statements,
        .statement_count = ST__COUNT,
        .session_settings = cfg->events_enabled ? session_settings : session_settings_events_off,
    };
    a->pool = db_pool_new(a->base, &pool_options);
    db_pool_options control_options = pool_options;
    control_options.size = 1;
    control_options.session_settings = control_settings;
    control_options.on_notify = control_notified;
    control_options.notify_arg = a;
    a->control = db_pool_new(a->base, &control_options);
    http_server_options http_options = {
        .host = cfg->listen_host,
        .port = cfg->listen_port,
        .idle_timeout_s = cfg->idle_timeout_s,
        .request_timeout_ms = cfg->request_timeout_ms,
        .header_timeout_ms = cfg->header_timeout_ms,
        .max_connections = cfg->max_connections,
        /* The pool and control connections, the listener, the loop, the
         * logs, a margin. */
        .fd_reserve = cfg->pool_size + 2 + 32,
        .max_idle_per_client = cfg->max_idle_per_client,
        .cors_origins = cfg->cors_origins,
        .rate_limit = cfg->rate_limit,
        .output_budget_bytes = (size_t)cfg->output_budget_mb * 1024 * 1024,
        .trusted_proxies = cfg->trusted_proxies,
        .routes = api_routes,
        .route_count = api_route_count,
        .authenticate = access_authenticate,
        .app = a,
    };
    a->server =
        a->pool != NULL && a->control != NULL ? http_server_new(a->base, &http_options) : NULL;
    if (a->server != NULL) {
        a->keys = key_cache_new(a, KEY_REFRESH_MS);
        a->verified = verified_tokens();
        a->ready = ready_probe_new(a);
        a->hints = room_hints_new(a, ROOM_HINTS_MAX_ENTRIES);
        a->views = view_cache_new(VIEW_CACHE_BYTES);
        a->dispatcher = dispatcher_new(a, cfg->dispatch_interval_ms);
        a->webhooks = webhook_sender_new(a, &api_webhook_renderer);
        a->alerts = alert_evaluator_new(a);
        a->balance_days = balance_filler_new(a);
        events_options events = {
            .max_streams = cfg->events_max_streams,
            .max_per_credential = cfg->events_max_per_credential,
            .max_buffered = (size_t)cfg->events_buffer_kb * 1024,
            .keepalive_ms = cfg->events_keepalive_ms,
            .policy = &api_events_policy,
        };
        a->events = cfg->events_enabled ? events_new(a, &events) : NULL;
        check_role(a);
        graph_cache_preload(a, clock_ms() + cfg->request_timeout_ms);
    }
    svc.sigterm = evsignal_new(a->base, SIGTERM, on_signal, &svc);
    svc.sigint = evsignal_new(a->base, SIGINT, on_signal, &svc);
    svc.drain_timer = evtimer_new(a->base, drain_check, &svc);
    int status = 1;
    if (a->dispatcher != NULL && svc.sigterm != NULL && svc.sigint != NULL &&
        svc.drain_timer != NULL && event_add(svc.sigterm, NULL) == 0 &&
        event_add(svc.sigint, NULL) == 0) {
        char port[16], size[16], rate[16];
        snprintf(port, sizeof port, "%d", http_server_port(a->server));
        snprintf(size, sizeof size, "%d", cfg->pool_size);
        snprintf(rate, sizeof rate, "%d", cfg->rate_limit);
        log_event(LOG_INFO, "listening", "host", cfg->listen_host, "port", port, "database",
                  redacted, "pool_size", size, "rate_limit", rate, NULL);
        event_base_dispatch(a->base);
        status = 0;
        log_event(LOG_INFO, "stopped", NULL);
    }
    dispatcher_free(a->dispatcher);
    alert_evaluator_free(a->alerts);
    room_hints_free(a->hints);
    view_cache_free(a->views);
    key_cache_free(a->keys);
    token_cache_free(a->verified);
    ready_probe_free(a->ready);
    events_free(a->events); /* its streams' connections go before the server */
    http_server_free(a->server);
    db_pool_free(a->pool);
    db_pool_free(a->control);
    /* After the pools: their last callbacks (a poll or a record cut short, a day's fill)
     * still reach them. */
    webhook_sender_free(a->webhooks);
    balance_filler_free(a->balance_days);
    curl_global_cleanup();
    graph_snapshot_release(a->graph);
    jwt_verifier_free(a->jwt);
    if (svc.sigterm != NULL) {
        event_free(svc.sigterm);
    }
    if (svc.sigint != NULL) {
        event_free(svc.sigint);
    }
    if (svc.drain_timer != NULL) {
        event_free(svc.drain_timer);
    }
    event_base_free(a->base);
    return status;
}
