/* The HTTP shell around evhttp: accepts connections, enforces the request limits, routes,
 * and owns one context per request from arrival to reply. Handlers receive the context,
 * may go asynchronous, and finish by calling exactly one http_reply_* function, which
 * sends the response, logs it, records metrics and frees everything the request owned. */
#ifndef WF_HTTP_SERVER_H
#define WF_HTTP_SERVER_H

#include "auth/principal.h"
#include "http/problem.h"
#include "http/router.h"
#include "util/arena.h"
#include "util/client_address.h"
#include "util/json_input.h"

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define HTTP_MAX_BODY (64 * 1024)
/* The one larger body: a batch of up to 10,000 hand-overs to plan (POST /v1/plans). */
#define HTTP_MAX_BODY_BATCH (1024 * 1024)

/* The body limit of a request to path (len bytes, the query excluded) by method: HTTP_MAX_BODY,
 * or HTTP_MAX_BODY_BATCH for POST /v1/plans. */
int http_body_limit(bool post, const char *path, size_t len);

typedef struct http_server http_server;
typedef struct http_ctx http_ctx;
typedef void (*http_handler)(http_ctx *ctx);

/* What a route of the table leads to (router_route.handler points to one): the handler,
 * and who may call it — read by the authenticate hook, not by the server. */
typedef struct {
    http_handler handle;
    unsigned roles; /* auth_role bits admitted; 0: open to anyone, no credentials needed */
    int scope;      /* the hook's rule tying a scoped principal to the path (0: none) */
} http_endpoint;

/* The authenticate hook's verdict. */
typedef enum {
    HTTP_ADMIT,   /* go on: the principal is set */
    HTTP_REFUSED, /* the hook has answered the request (401, 403, 429, 503) */
    HTTP_PENDING, /* the hook will call http_resume (or answer) later, from the loop */
} http_verdict;
typedef http_verdict (*http_auth_fn)(http_ctx *ctx, const http_endpoint *endpoint);

struct http_ctx {
    http_server *server;
    struct evhttp_request *req;
    int method; /* HTTP_* bit */
    const char *method_name;
    char *path;  /* decoded path, owned */
    char *query; /* raw query string or NULL, owned */
    router_match match;
    const char *body; /* request body (NUL-terminated copy), "" when none */
    size_t body_len;
    char request_id[129];
    /* Who is asking, for per-address limits and logs: the peer's address, or behind a trusted
     * proxy the client it forwarded (util/client_address.h). */
    char client_address[CLIENT_ADDRESS_MAX];
    int64_t start_us;
    int64_t deadline_ms;         /* monotonic deadline for the whole request */
    const char *idempotency_key; /* NULL when absent */
    /* Who is calling (set by the authenticate hook on routes that need credentials). */
    bool authenticated;
    auth_principal principal;
    /* Everything the request allocates that ends with it (util/arena.h); freed after
     * state_free, when the reply has been sent. */
    arena arena;
    void *state; /* handler state (a tx), freed with state_free at reply */
    void (*state_free)(void *state);
};

typedef struct {
    const char *host;
    int port;
    int idle_timeout_s;
    int request_timeout_ms;
    int header_timeout_ms;      /* a request must fully arrive within this */
    int max_connections;        /* lowered to fit the open-file limit (less fd_reserve) */
    int fd_reserve;             /* descriptors kept for everything but client connections */
    int max_idle_per_client;    /* idle connections one client address may hold */
    const char *cors_origins;   /* comma-separated, "" for none */
    int rate_limit;             /* requests a second per credential (see http_rate_admit_*) */
    size_t output_budget_bytes; /* unsent reply bytes of all connections together; beyond
                                 * them the connections holding the most are closed */
    /* Comma-separated CIDRs (util/client_address.h) of reverse proxies whose Forwarded or
     * X-Forwarded-For names the client; NULL or "": trust none. Checked by config_load. */
    const char *trusted_proxies;
    const router_route *routes; /* each handler points to an http_endpoint */
    int route_count;
    /* Called after routing, before the body is looked at, for endpoints with roles. */
    http_auth_fn authenticate;
    void *app; /* given back by http_server_app */
} http_server_options;

/* Binds and starts serving; NULL (with a log line) when the address cannot be bound. */
http_server *http_server_new(struct event_base *base, const http_server_options *options);
/* The port actually bound (useful with port 0). */
int http_server_port(const http_server *server);
void *http_server_app(const http_server *server);
/* Stops accepting new connections; in-flight requests continue. */
void http_server_stop_accepting(http_server *server);
int http_server_inflight(const http_server *server);

/* Writes the server's connection metrics in Prometheus text format: open connections,
 * unsent reply bytes, connections not read while their replies wait, and connections the
 * server closed, by reason. */
void http_server_render_metrics(const http_server *server, FILE *out);
void http_server_free(http_server *server);

/* After HTTP_PENDING: the principal is set, admission goes on (body checks, handler). */
void http_resume(http_ctx *ctx);

/* The rate limit, for the authenticate hook: per instance, options.rate_limit requests a
 * second with bursts of as many (util/rate_limit.h). Each charges one request to a bucket:
 * of a credential (identity: len bytes naming it, e.g. "key:12"), or of the client's
 * address for a request without valid credentials (so guessing keys costs the guesser).
 * True when the request may go on; false when the bucket is empty, and the request has
 * then been answered 429 problem+json with Retry-After (the caller returns HTTP_REFUSED).
 * Always true when the limit is off (0). */
bool http_rate_admit_credential(http_ctx *ctx, const void *identity, size_t len)
    __attribute__((warn_unused_result));
bool http_rate_admit_address(http_ctx *ctx) __attribute__((warn_unused_result));

/* Request accessors. */
const char *http_header(const http_ctx *ctx, const char *name);
/* Value of a query parameter (decoded) or NULL; the pointer lives until the reply. */
const char *http_query_param(http_ctx *ctx, const char *name);

/* Replies. Each sends, logs and frees ctx: the handler must not touch ctx afterwards. */
void http_reply_json(http_ctx *ctx, int status, const char *body, size_t len);
void http_reply_text(http_ctx *ctx, int status, const char *content_type, const char *body,
                     size_t len);
void http_reply_empty(http_ctx *ctx, int status);
/* A 200-style reply whose body is bytes that live as long as the process (compiled-in
 * files): sent by reference, never copied, however many clients ask at once. */
void http_reply_static(http_ctx *ctx, int status, const char *content_type, const char *body,
                       size_t len);
/* An RFC 9457 problem of the given kind (http/problem.h) with a printf-style detail. A 503
 * carries Retry-After. Text that is not valid UTF-8 is repaired before it is sent. */
void http_problem(http_ctx *ctx, problem_kind kind, const char *detail_fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* 422 naming one field. */
void http_problem_invalid(http_ctx *ctx, const char *field, const char *message);
/* 422 with every collected field error (at least one). */
void http_problem_fields(http_ctx *ctx, const field_errors *errors);

/* Adds a response header before the reply. */
void http_add_header(http_ctx *ctx, const char *name, const char *value);

#endif
