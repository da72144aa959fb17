/* wasteflow: the waste-accounting service. Subcommands:
 *   serve    apply pending migrations, then serve HTTP until SIGTERM/SIGINT (drains first)
 *   migrate  apply pending migrations and exit
 *   seed     load demo data: `seed case1` (the picture) or `seed synthetic ...` */
#include "api/routes_table.h"
#include "db/migrate.h"
#include "engine/app.h"
#include "engine/dispatch.h"
#include "engine/graph_cache.h"
#include "engine/statements.h"
#include "seed.h"
#include "util/config.h"
#include "util/log.h"

#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIGRATE_WAIT_SECONDS 30
#define DRAIN_GRACE_MS       100

typedef struct {
    wf_app application;
    struct event *sigterm;
    struct event *sigint;
    struct event *drain_timer;
    int64_t drain_deadline_ms;
    int64_t quiet_since_ms; /* nothing in flight since then (0: something is) */
    bool draining;
} service;

static const char *env(const char *name)
{
    return getenv(name);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: wasteflow serve | migrate | seed case1 | seed synthetic [options]\n"
                 "\n"
                 "  serve     apply pending migrations, then serve the HTTP API\n"
                 "  migrate   apply pending migrations and exit\n"
                 "  seed case1\n"
                 "            load the picture's organizations, storages and roads (idempotent)\n"
                 "  seed synthetic --organizations N --storages M --routes K --seed S\n"
                 "            load a reproducible random world\n"
                 "\n");
    config_print_help(out);
}

static void drain_check(evutil_socket_t fd, short events, void *arg)
{
    service *svc = arg;
    wf_app *a = &svc->application;
    int inflight = http_server_inflight(a->server);
    int64_t now = clock_ms();
    bool quiet = inflight == 0 && !dispatcher_busy(a->dispatcher);
    if (!quiet) {
        svc->quiet_since_ms = 0;
    } else if (svc->quiet_since_ms == 0) {
        svc->quiet_since_ms = now;
    }
    /* Exit once nothing has been in flight (every reply written) for a short grace period:
     * requests already sitting in accepted connections get read and served meanwhile. */
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
    dispatcher_stop(svc->application.dispatcher);
    svc->drain_deadline_ms = clock_ms() + svc->application.cfg->drain_timeout_ms;
    /* Checked from a timer, never here: reads that became ready together with the signal
     * are still to be served in this loop turn. */
    struct timeval tv = {0, 20 * 1000};
    evtimer_add(svc->drain_timer, &tv);
}

/* Every session runs in UTC with ISO dates: the representations read timestamps as text. */
static const char *const session_settings[] = {"SET TimeZone = 'UTC'", "SET DateStyle = 'ISO, YMD'",
                                               NULL};

static int serve(const config *cfg)
{
    char error[512];
    char redacted[1024];
    config_redact_url(cfg->database_url, redacted, sizeof redacted);
    int applied = db_migrate(cfg->database_url, MIGRATE_WAIT_SECONDS, error, sizeof error);
    if (applied < 0) {
        log_event(LOG_ERROR, "migration failed", "database", redacted, "error", error, NULL);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    service svc = {0};
    wf_app *a = &svc.application;
    a->cfg = cfg;
    a->base = event_base_new();
    if (a->base == NULL) {
        log_event(LOG_ERROR, "cannot create the event loop", NULL);
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
        .session_settings = session_settings,
    };
    a->pool = db_pool_new(a->base, &pool_options);
    http_server_options http_options = {
        .host = cfg->listen_host,
        .port = cfg->listen_port,
        .idle_timeout_s = cfg->idle_timeout_s,
        .request_timeout_ms = cfg->request_timeout_ms,
        .header_timeout_ms = cfg->header_timeout_ms,
        .max_connections = cfg->max_connections,
        .cors_origins = cfg->cors_origins,
        .routes = api_routes,
        .route_count = api_route_count,
        .app = a,
    };
    a->server = a->pool != NULL ? http_server_new(a->base, &http_options) : NULL;
    a->dispatcher = a->server != NULL ? dispatcher_new(a, cfg->dispatch_interval_ms) : NULL;
    svc.sigterm = evsignal_new(a->base, SIGTERM, on_signal, &svc);
    svc.sigint = evsignal_new(a->base, SIGINT, on_signal, &svc);
    svc.drain_timer = evtimer_new(a->base, drain_check, &svc);
    int status = 1;
    if (a->dispatcher != NULL && svc.sigterm != NULL && svc.sigint != NULL &&
        svc.drain_timer != NULL && event_add(svc.sigterm, NULL) == 0 &&
        event_add(svc.sigint, NULL) == 0) {
        char port[16], size[16];
        snprintf(port, sizeof port, "%d", http_server_port(a->server));
        snprintf(size, sizeof size, "%d", cfg->pool_size);
        log_event(LOG_INFO, "listening", "host", cfg->listen_host, "port", port, "database",
                  redacted, "pool_size", size, NULL);
        event_base_dispatch(a->base);
        status = 0;
        log_event(LOG_INFO, "stopped", NULL);
    }
    dispatcher_free(a->dispatcher);
    http_server_free(a->server);
    db_pool_free(a->pool);
    graph_snapshot_release(a->graph);
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

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (argc >= 3 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    static config cfg;
    char error[512];
    if (config_load(&cfg, env, error, sizeof error) != 0) {
        fprintf(stderr, "wasteflow: %s\n", error);
        return 2;
    }
    log_set_level((log_level)cfg.log_level);
    if (strcmp(argv[1], "serve") == 0) {
        return serve(&cfg);
    }
    if (strcmp(argv[1], "migrate") == 0) {
        int applied = db_migrate(cfg.database_url, MIGRATE_WAIT_SECONDS, error, sizeof error);
        if (applied < 0) {
            fprintf(stderr, "wasteflow migrate: %s\n", error);
            return 1;
        }
        printf("%d migration(s) applied\n", applied);
        return 0;
    }
    if (strcmp(argv[1], "seed") == 0) {
        return seed_main(&cfg, argc - 2, argv + 2);
    }
    fprintf(stderr, "wasteflow: unknown command \"%s\"\n\n", argv[1]);
    usage(stderr);
    return 2;
}
