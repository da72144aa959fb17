/* Service configuration, read once from the environment at start-up. Every setting has
 * a default that works with the local development cluster (deploy/pg-local.sh). */
#ifndef WF_UTIL_CONFIG_H
#define WF_UTIL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct {
    char database_url[1024];  /* DATABASE_URL: libpq URI or key=value conninfo */
    char listen_host[256];    /* WASTEFLOW_LISTEN host part */
    int listen_port;          /* WASTEFLOW_LISTEN port part */
    int pool_size;            /* WASTEFLOW_POOL_SIZE: database connections */
    int queue_max;            /* WASTEFLOW_QUEUE_MAX: requests waiting for a connection */
    int request_timeout_ms;   /* WASTEFLOW_REQUEST_TIMEOUT_MS: deadline of one request */
    int query_timeout_ms;     /* WASTEFLOW_QUERY_TIMEOUT_MS: statement_timeout and pool timer */
    int lock_timeout_ms;      /* WASTEFLOW_LOCK_TIMEOUT_MS: lock_timeout on the sessions */
    int idle_timeout_s;       /* WASTEFLOW_IDLE_TIMEOUT_S: idle/read/write timeout of a client */
    int header_timeout_ms;    /* WASTEFLOW_HEADER_TIMEOUT_MS: whole request head deadline */
    int max_connections;      /* WASTEFLOW_MAX_CONNECTIONS: concurrent client connections */
    int max_idle_per_client;  /* WASTEFLOW_MAX_IDLE_PER_CLIENT: idle ones per client address */
    int rate_limit;           /* WASTEFLOW_RATE_LIMIT: requests/s per credential, 0 = off */
    int work_budget;          /* WASTEFLOW_WORK_BUDGET: view work units/s per credential, 0 = off */
    int drain_timeout_ms;     /* WASTEFLOW_DRAIN_TIMEOUT_MS: SIGTERM drain limit */
    int dispatch_interval_ms; /* WASTEFLOW_DISPATCH_INTERVAL_MS: auto-dispatch sweep period */
    bool dispatch_min_cost;   /* WASTEFLOW_DISPATCH_POLICY: min_cost (true) or nearest */
    char cors_origins[1024];  /* WASTEFLOW_CORS_ORIGINS: comma-separated, empty = no CORS */
    int log_level;            /* WASTEFLOW_LOG_LEVEL: debug, info, warn, error */
    char jwt_secret[1024];    /* WASTEFLOW_JWT_SECRET: HS256 key, empty = no HS256 */
    char jwt_public_key_file[1024]; /* WASTEFLOW_JWT_PUBLIC_KEY_FILE: PEM, empty = none */
    char jwt_issuer[256];   /* WASTEFLOW_JWT_ISSUER: required iss (must be set with JWT on) */
    char jwt_audience[256]; /* WASTEFLOW_JWT_AUDIENCE: required aud (must be set with JWT on) */
    int jwt_max_ttl_s;      /* WASTEFLOW_JWT_MAX_TTL_S: how far ahead a JWT's exp may be */
    char app_role[64];      /* WASTEFLOW_APP_ROLE: the service's login role */
    char auditor_role[64];  /* WASTEFLOW_AUDITOR_ROLE: the auditors' login role */
    /* The live events (GET /v1/events). */
    bool events_enabled;           /* WASTEFLOW_EVENTS: on (default) or off */
    int events_max_streams;        /* WASTEFLOW_EVENTS_MAX_STREAMS: open at once (0: none) */
    int events_max_per_credential; /* WASTEFLOW_EVENTS_MAX_PER_CREDENTIAL: of them, per actor */
    int events_buffer_kb;          /* WASTEFLOW_EVENTS_BUFFER_KB: what a slow reader may hold */
    int events_keepalive_ms;       /* WASTEFLOW_EVENTS_KEEPALIVE_MS: comment after this quiet */
    /* The movements export (docs/webhooks.md). */
    int exports_max; /* WASTEFLOW_EXPORTS_MAX: exports streaming at once, each holding a
                      * database connection (0: none) */
    /* Output clients do not read, and the client address behind a reverse proxy. */
    int output_budget_mb; /* WASTEFLOW_OUTPUT_BUDGET_MB: unsent reply bytes, all connections */
    char trusted_proxies[1024]; /* WASTEFLOW_TRUSTED_PROXIES: CIDRs, empty = trust none */
    /* Webhooks (docs/webhooks.md). */
    int webhook_retry_base_ms;  /* WASTEFLOW_WEBHOOK_RETRY_BASE_MS: first retry, then doubling */
    bool webhook_allow_private; /* WASTEFLOW_WEBHOOK_ALLOW_PRIVATE: 1 lets URLs reach private,
                                 * loopback and link-local addresses */
    int webhook_max_in_flight;  /* WASTEFLOW_WEBHOOK_MAX_IN_FLIGHT: per endpoint at once */
    int webhook_timeout_ms;     /* WASTEFLOW_WEBHOOK_TIMEOUT_MS: one attempt, all in all */
} config;

/* Fills cfg from the environment (getenv_fn lets tests supply their own). Returns 0, or
 * -1 with a message for the operator in error (size error_size). */
int config_load(config *cfg, const char *(*getenv_fn)(const char *name), char *error,
                size_t error_size) __attribute__((warn_unused_result));

/* Writes url with any password replaced by "***" (URI user:password@ and password=
 * key/value forms) into out. */
void config_redact_url(const char *url, char *out, size_t out_size);

/* Prints the environment variables, their defaults and meaning (for --help). */
void config_print_help(FILE *out);

#endif
