/* evhttp glue: request admission (path, size, content type, idempotency key format), CORS,
 * routing, problem+json errors, per-request context lifetime, access log and metrics. */
#include "http/server.h"

#include "util/log.h"
#include "util/mem.h"
#include "util/metrics.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event_struct.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_HEADERS_SIZE (16 * 1024)
/* evhttp answers bodies above its own limit with an HTML page, so its limit sits far
 * above ours and requests between the two get our problem+json 413. */
#define EVHTTP_BODY_LIMIT (8 * 1024 * 1024)

typedef struct conn_guard conn_guard;

struct http_server {
    struct event_base *base;
    conn_guard *guards; /* open connections, most recent first */
    struct evhttp *http;
    struct evhttp_bound_socket *bound;
    http_server_options options;
    int port;
    int inflight;
    int connections;             /* open client connections */
    bool accept_paused;          /* listener disabled at max_connections */
    bool draining;               /* stopped accepting: replies close their connection */
    struct event listener_drain; /* closes the listener once its backlog is accepted */
    int64_t listener_close_ms;   /* closes it by then in any case */
    uint64_t next_request_id;
    uint64_t id_salt;
};

typedef struct {
    struct evkeyvalq params;
    bool parsed;
} query_state;

struct ctx_private {
    http_ctx ctx;
    conn_guard *guard; /* its connection's guard: counts the reply until written */
    query_state query;
    char *body_copy;
};

static void ctx_free(http_ctx *ctx)
{
    struct ctx_private *priv = (struct ctx_private *)ctx;
    if (ctx->state != NULL && ctx->state_free != NULL) {
        ctx->state_free(ctx->state);
    }
    if (priv->query.parsed) {
        evhttp_clear_headers(&priv->query.params);
    }
    arena_free(&ctx->arena);
    free(priv->body_copy);
    free(ctx->path);
    free(ctx->query);
    free(priv);
}

const char *http_header(const http_ctx *ctx, const char *name)
{
    return evhttp_find_header(evhttp_request_get_input_headers(ctx->req), name);
}

const char *http_query_param(http_ctx *ctx, const char *name)
{
    struct ctx_private *priv = (struct ctx_private *)ctx;
    if (ctx->query == NULL) {
        return NULL;
    }
    if (!priv->query.parsed) {
        TAILQ_INIT(&priv->query.params);
        if (evhttp_parse_query_str(ctx->query, &priv->query.params) != 0) {
            evhttp_clear_headers(&priv->query.params);
            TAILQ_INIT(&priv->query.params);
        }
        priv->query.parsed = true;
    }
    return evhttp_find_header(&priv->query.params, name);
}

void http_add_header(http_ctx *ctx, const char *name, const char *value)
{
    evhttp_add_header(evhttp_request_get_output_headers(ctx->req), name, value);
}

static bool origin_allowed(const http_server *server, const char *origin)
{
    const char *list = server->options.cors_origins;
    if (origin == NULL || list == NULL || list[0] == '\0') {
        return false;
    }
    size_t origin_len = strlen(origin);
    for (const char *p = list; *p != '\0';) {
        while (*p == ' ' || *p == ',') {
            p++;
        }
        size_t len = strcspn(p, ",");
        size_t trimmed = len;
        while (trimmed > 0 && p[trimmed - 1] == ' ') {
            trimmed--;
        }
        if ((trimmed == 1 && p[0] == '*') ||
            (trimmed == origin_len && strncmp(p, origin, trimmed) == 0)) {
            return true;
        }
        p += len;
    }
    return false;
}

static void add_cors_headers(http_ctx *ctx)
{
    const char *origin = http_header(ctx, "Origin");
    if (!origin_allowed(ctx->server, origin)) {
        return;
    }
    http_add_header(ctx, "Access-Control-Allow-Origin", origin);
    http_add_header(ctx, "Vary", "Origin");
    http_add_header(
        ctx, "Access-Control-Expose-Headers",
        "Location, Idempotent-Replayed, Idempotency-Key, X-Request-Id, Retry-After, Allow");
}

/* evhttp knows the reason phrases of RFC 2616 only. */
static const char *reason_phrase(int status)
{
    switch (status) {
    case 413:
        return "Content Too Large";
    case 422:
        return "Unprocessable Content";
    case 423:
        return "Locked";
    case 429:
        return "Too Many Requests";
    default:
        return NULL;
    }
}

static void finish(http_ctx *ctx, int status, struct evbuffer *body)
{
    http_server *server = ctx->server;
    struct ctx_private *priv = (struct ctx_private *)ctx;
    http_add_header(ctx, "X-Request-Id", ctx->request_id);
    add_cors_headers(ctx);
    if (server->draining) {
        /* Shutting down: no further request on this connection. */
        http_add_header(ctx, "Connection", "close");
    }
    evhttp_send_reply(ctx->req, status, reason_phrase(status), body);
    int64_t duration_us = clock_us() - ctx->start_us;
    const char *route = ctx->match.route != NULL ? ctx->match.route->name : "unmatched";
    metrics_observe_request(route, status, duration_us);
    log_level level = status >= 500 ? LOG_WARN : LOG_INFO;
    if (log_enabled(level)) {
        char status_text[8], duration_text[32];
        snprintf(status_text, sizeof status_text, "%d", status);
        snprintf(duration_text, sizeof duration_text, "%.3f", (double)duration_us / 1000.0);
        log_event(level, "request", "method", ctx->method_name, "path", ctx->path, "route", route,
                  "status", status_text, "duration_ms", duration_text, "request_id",
                  ctx->request_id, "actor", ctx->authenticated ? ctx->principal.actor : "",
                  NULL);
    }
    if (priv->guard == NULL) {
        server->inflight--; /* else counted down once the reply is written */
    }
    ctx_free(ctx);
}

void http_reply_text(http_ctx *ctx, int status, const char *content_type, const char *body,
                     size_t len)
{
    struct evbuffer *buf = evbuffer_new();
    if (buf != NULL && len > 0) {
        evbuffer_add(buf, body, len);
    }
    if (content_type != NULL) {
        http_add_header(ctx, "Content-Type", content_type);
    }
    finish(ctx, status, buf);
    if (buf != NULL) {
        evbuffer_free(buf);
    }
}

void http_reply_json(http_ctx *ctx, int status, const char *body, size_t len)
{
    http_reply_text(ctx, status, "application/json", body, len);
}

void http_reply_empty(http_ctx *ctx, int status)
{
    finish(ctx, status, NULL);
}

/* Text for a JSON string of a response: invalid UTF-8 (a client's bytes echoed back) is
 * replaced, so every response body is valid UTF-8. */
static const char *valid_text(http_ctx *ctx, const char *text)
{
    return utf8_valid(text, strlen(text)) ? text : utf8_repair(&ctx->arena, text);
}

static void send_problem(http_ctx *ctx, problem_kind kind, const char *detail, cJSON *errors)
{
    const problem_info *info = problem_of(kind);
    if (kind == PROBLEM_UNAVAILABLE) {
        http_add_header(ctx, "Retry-After", "1");
    }
    cJSON *problem = cJSON_CreateObject();
    char type[128];
    snprintf(type, sizeof type, "https://wasteflow.dev/problems/%s", info->slug);
    cJSON_AddStringToObject(problem, "type", type);
    cJSON_AddStringToObject(problem, "title", info->title);
    cJSON_AddNumberToObject(problem, "status", info->status);
    cJSON_AddStringToObject(problem, "detail", valid_text(ctx, detail));
    /* The request target as sent (still percent-encoded): a URI reference. */
    const char *target = evhttp_request_get_uri(ctx->req);
    size_t target_len = target != NULL ? strcspn(target, "?") : 0;
    char instance[512];
    snprintf(instance, sizeof instance, "%.*s", (int)(target_len < 511 ? target_len : 511),
             target != NULL ? target : "");
    cJSON_AddStringToObject(problem, "instance", valid_text(ctx, instance));
    cJSON_AddStringToObject(problem, "request_id", ctx->request_id);
    if (errors != NULL) {
        cJSON_AddItemToObject(problem, "errors", errors);
    }
    char *text = cJSON_PrintUnformatted(problem);
    cJSON_Delete(problem);
    if (text == NULL) {
        mem_exhausted(512);
    }
    http_reply_text(ctx, info->status, "application/problem+json", text, strlen(text));
    free(text);
}

void http_problem(http_ctx *ctx, problem_kind kind, const char *detail_fmt, ...)
{
    char detail[512];
    va_list args;
    va_start(args, detail_fmt);
    vsnprintf(detail, sizeof detail, detail_fmt, args);
    va_end(args);
    send_problem(ctx, kind, detail, NULL);
}

static cJSON *field_error(http_ctx *ctx, const char *field, const char *message)
{
    cJSON *error = cJSON_CreateObject();
    cJSON_AddStringToObject(error, "field", valid_text(ctx, field));
    cJSON_AddStringToObject(error, "message", valid_text(ctx, message));
    return error;
}

void http_problem_invalid(http_ctx *ctx, const char *field, const char *message)
{
    cJSON *errors = cJSON_CreateArray();
    cJSON_AddItemToArray(errors, field_error(ctx, field, message));
    char detail[512];
    snprintf(detail, sizeof detail, "%s%s%s", field, field[0] ? ": " : "", message);
    send_problem(ctx, PROBLEM_VALIDATION, detail, errors);
}

void http_problem_fields(http_ctx *ctx, const field_errors *errors)
{
    cJSON *list = cJSON_CreateArray();
    for (int i = 0; i < errors->count; i++) {
        cJSON_AddItemToArray(list,
                             field_error(ctx, errors->items[i].field, errors->items[i].message));
    }
    char detail[400];
    snprintf(detail, sizeof detail, "%s: %s", errors->items[0].field, errors->items[0].message);
    send_problem(ctx, PROBLEM_VALIDATION, detail, list);
}

static bool safe_request_id(const char *id)
{
    size_t len = strlen(id);
    if (len == 0 || len > 128) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)id[i];
        if (!isalnum(c) && c != '-' && c != '_' && c != '.' && c != ':') {
            return false;
        }
    }
    return true;
}

static bool json_content_type(const char *value)
{
    if (value == NULL) {
        return false;
    }
    while (*value == ' ') {
        value++;
    }
    size_t len = strcspn(value, "; ");
    return len == 16 && strncasecmp(value, "application/json", 16) == 0;
}

static bool valid_idempotency_key(const char *key)
{
    size_t len = strlen(key);
    if (len == 0 || len > 200) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (key[i] < 0x21 || key[i] > 0x7e) {
            return false;
        }
    }
    return true;
}

static void reply_preflight(http_ctx *ctx, int allowed)
{
    char allow[128];
    router_allow_header(allowed | HTTP_OPTIONS, allow, sizeof allow);
    http_add_header(ctx, "Allow", allow);
    if (origin_allowed(ctx->server, http_header(ctx, "Origin")) &&
        http_header(ctx, "Access-Control-Request-Method") != NULL) {
        http_add_header(ctx, "Access-Control-Allow-Methods", allow);
        http_add_header(ctx, "Access-Control-Allow-Headers",
                        "Content-Type, Idempotency-Key, X-Request-Id");
        http_add_header(ctx, "Access-Control-Max-Age", "600");
    }
    http_reply_empty(ctx, 204);
}

static const char *method_name_of(enum evhttp_cmd_type cmd)
{
    switch (cmd) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    case EVHTTP_REQ_TRACE:
        return "TRACE";
    case EVHTTP_REQ_CONNECT:
        return "CONNECT";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    }
    return "OTHER";
}

/* Per-connection guard. evhttp 2.1 neither bounds connections nor limits how long a
 * request may take to arrive (its timeout counts idle time only). A guard is created with
 * each connection's bufferevent (bevcb) and attached to the evhttp connection on the same
 * loop turn, before any byte is read: evhttp's close callback then tells us exactly when
 * the connection goes, which keeps an exact count (the listener pauses at
 * max_connections), and the guard's timer closes a connection whose request has not fully
 * arrived in time. */
struct conn_guard {
    http_server *server;
    struct bufferevent *bev;
    struct evhttp_connection *connection; /* set on attach */
    struct event attach;
    struct event deadline;
    bool responding;         /* a request is in flight until its reply is written */
    conn_guard *prev, *next; /* the server's list of open connections */
};

static void guard_arm(conn_guard *guard)
{
    int ms = guard->server->options.header_timeout_ms;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(&guard->deadline, &tv);
}

static void guard_closed(struct evhttp_connection *connection, void *arg)
{
    conn_guard *guard = arg;
    http_server *server = guard->server;
    evhttp_connection_set_closecb(connection, NULL, NULL);
    if (guard->responding) {
        server->inflight--; /* its reply will never be written */
    }
    event_del(&guard->attach);
    evtimer_del(&guard->deadline);
    if (guard->prev != NULL) {
        guard->prev->next = guard->next;
    } else {
        server->guards = guard->next;
    }
    if (guard->next != NULL) {
        guard->next->prev = guard->prev;
    }
    free(guard);
    server->connections--;
    if (server->accept_paused && server->connections < server->options.max_connections &&
        server->bound != NULL) {
        evconnlistener_enable(evhttp_bound_socket_get_listener(server->bound));
        server->accept_paused = false;
    }
}

static void guard_expired(evutil_socket_t fd, short events, void *arg)
{
    conn_guard *guard = arg;
    /* Frees the connection; guard_closed runs inside and frees the guard. */
    evhttp_connection_free(guard->connection);
}

static void guard_attach(evutil_socket_t fd, short events, void *arg)
{
    conn_guard *guard = arg;
    void *connection = NULL;
    /* evhttp registers its connection as the bufferevent's callback argument. */
    bufferevent_getcb(guard->bev, NULL, NULL, NULL, &connection);
    guard->connection = connection;
    evhttp_connection_set_closecb(guard->connection, guard_closed, guard);
    guard_arm(guard);
}

static struct bufferevent *connection_bev(struct event_base *base, void *arg)
{
    http_server *server = arg;
    conn_guard *guard = calloc(1, sizeof *guard);
    struct bufferevent *bev =
        guard != NULL ? bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE) : NULL;
    if (bev == NULL) {
        free(guard);
        return NULL; /* out of memory: evhttp makes a bufferevent of its own */
    }
    guard->server = server;
    guard->bev = bev;
    evtimer_assign(&guard->deadline, base, guard_expired, guard);
    event_assign(&guard->attach, base, -1, 0, guard_attach, guard);
    /* Runs later in this same loop turn, after evhttp has made the connection and
     * before the socket is polled for the first time. */
    event_active(&guard->attach, EV_TIMEOUT, 0);
    guard->next = server->guards;
    if (server->guards != NULL) {
        server->guards->prev = guard;
    }
    server->guards = guard;
    server->connections++;
    if (server->connections >= server->options.max_connections && server->bound != NULL) {
        evconnlistener_disable(evhttp_bound_socket_get_listener(server->bound));
        server->accept_paused = true;
    }
    return bev;
}

/* The guard of a request's connection (a short list walk: requests arrive on the busiest
 * connections, which stay near the front as long-lived keep-alive ones). */
static conn_guard *guard_of(http_server *server, struct evhttp_connection *connection)
{
    for (conn_guard *guard = server->guards; guard != NULL; guard = guard->next) {
        if (guard->connection == connection) {
            return guard;
        }
    }
    return NULL;
}

/* The response is written: the request no longer counts as in flight, and the next
 * request on this connection gets a fresh deadline. */
static void request_complete(struct evhttp_request *req, void *arg)
{
    conn_guard *guard = arg;
    if (guard->responding) {
        guard->responding = false;
        guard->server->inflight--;
    }
    guard_arm(guard);
}

/* RFC 9112 6.3: several differing Content-Length values, or Content-Length beside
 * Transfer-Encoding, make the message length ambiguous, the root of request smuggling.
 * evhttp quietly uses the first Content-Length; we refuse such a request. */
static bool ambiguous_length(struct evhttp_request *req)
{
    const struct evkeyvalq *headers = evhttp_request_get_input_headers(req);
    const char *first = NULL;
    bool chunked = false;
    for (const struct evkeyval *h = headers->tqh_first; h != NULL; h = h->next.tqe_next) {
        if (strcasecmp(h->key, "Content-Length") == 0) {
            if (first != NULL && strcmp(first, h->value) != 0) {
                return true;
            }
            first = h->value;
        } else if (strcasecmp(h->key, "Transfer-Encoding") == 0) {
            chunked = true;
        }
    }
    return first != NULL && chunked;
}

/* Admission, in order: the target, the route, the body. Each stage answers the request
 * itself and returns false when it refuses it. */

static bool admit_target(http_ctx *ctx)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(ctx->req);
    const char *raw_path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    const char *raw_query = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
    size_t decoded_len = 0;
    ctx->path = raw_path != NULL ? evhttp_uridecode(raw_path, 0, &decoded_len) : NULL;
    if (ctx->path == NULL) {
        ctx->path = xstrdup("/");
        http_problem(ctx, PROBLEM_BAD_REQUEST, "The request URI is invalid.");
        return false;
    }
    if (raw_query != NULL) {
        ctx->query = xstrdup(raw_query);
    }
    if (decoded_len != strlen(ctx->path)) {
        /* A %00 in the path: no resource has a NUL in its name. */
        http_problem(ctx, PROBLEM_NOT_FOUND, "No resource at this path.");
        return false;
    }
    if (ambiguous_length(ctx->req)) {
        http_add_header(ctx, "Connection", "close");
        http_problem(ctx, PROBLEM_BAD_REQUEST,
                     "The message length is ambiguous: conflicting Content-Length headers, or "
                     "Content-Length with Transfer-Encoding.");
        return false;
    }
    return true;
}

static bool admit_route(http_ctx *ctx)
{
    http_server *server = ctx->server;
    router_result found = router_find(server->options.routes, server->options.route_count,
                                      ctx->method, ctx->path, &ctx->match);
    if (found == ROUTER_NOT_FOUND) {
        http_problem(ctx, PROBLEM_NOT_FOUND, "No resource at this path.");
        return false;
    }
    if (ctx->method == HTTP_OPTIONS && found != ROUTER_FOUND) {
        reply_preflight(ctx, ctx->match.allowed);
        return false;
    }
    if (found == ROUTER_METHOD_NOT_ALLOWED) {
        char allow[128];
        router_allow_header(ctx->match.allowed, allow, sizeof allow);
        http_add_header(ctx, "Allow", allow);
        http_problem(ctx, PROBLEM_METHOD_NOT_ALLOWED, "%s is not supported here; allowed: %s.",
                     ctx->method_name, allow);
        return false;
    }
    return true;
}

static bool admit_body(http_ctx *ctx, struct ctx_private *priv)
{
    struct evbuffer *input = evhttp_request_get_input_buffer(ctx->req);
    size_t body_len = evbuffer_get_length(input);
    if (body_len > HTTP_MAX_BODY) {
        http_problem(ctx, PROBLEM_PAYLOAD_TOO_LARGE, "The request body exceeds %d bytes.",
                     HTTP_MAX_BODY);
        return false;
    }
    if (body_len > 0) {
        if (!json_content_type(http_header(ctx, "Content-Type"))) {
            http_problem(ctx, PROBLEM_UNSUPPORTED_MEDIA_TYPE,
                         "A request body must be sent as Content-Type: application/json.");
            return false;
        }
        priv->body_copy = xmalloc(body_len + 1);
        evbuffer_copyout(input, priv->body_copy, body_len);
        priv->body_copy[body_len] = '\0';
        ctx->body = priv->body_copy;
        ctx->body_len = body_len;
    }
    if (ctx->method == HTTP_POST) {
        ctx->idempotency_key = http_header(ctx, "Idempotency-Key");
        if (ctx->idempotency_key != NULL && !valid_idempotency_key(ctx->idempotency_key)) {
            http_problem(ctx, PROBLEM_BAD_REQUEST,
                         "Idempotency-Key must be 1-200 printable ASCII characters.");
            return false;
        }
    }
    return true;
}

static void request_cb(struct evhttp_request *req, void *arg)
{
    http_server *server = arg;
    struct ctx_private *priv = xcalloc(1, sizeof *priv);
    http_ctx *ctx = &priv->ctx;
    ctx->server = server;
    ctx->req = req;
    /* evhttp leaves Nagle on: a response's last segment would then wait for the client's
     * delayed ACK of the previous one on keep-alive connections (tens of ms). */
    struct evhttp_connection *connection = evhttp_request_get_connection(req);
    struct bufferevent *bev =
        connection != NULL ? evhttp_connection_get_bufferevent(connection) : NULL;
    if (bev != NULL) {
        int on = 1;
        setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
        /* The request has fully arrived: its deadline stops until the reply is written. */
        conn_guard *guard = guard_of(server, connection);
        if (guard != NULL) {
            evtimer_del(&guard->deadline);
            evhttp_request_set_on_complete_cb(req, request_complete, guard);
            guard->responding = true;
            priv->guard = guard;
        }
    }
    ctx->start_us = clock_us();
    ctx->deadline_ms = clock_ms() + server->options.request_timeout_ms;
    ctx->method_name = method_name_of(evhttp_request_get_command(req));
    ctx->method = router_method_bit(ctx->method_name);
    ctx->body = "";
    server->inflight++;

    const char *incoming_id = http_header(ctx, "X-Request-Id");
    if (incoming_id != NULL && safe_request_id(incoming_id)) {
        snprintf(ctx->request_id, sizeof ctx->request_id, "%s", incoming_id);
    } else {
        snprintf(ctx->request_id, sizeof ctx->request_id, "%016llx",
                 (unsigned long long)(server->id_salt ^
                                      (++server->next_request_id * 0x9e3779b97f4a7c15ULL)));
    }

    if (!admit_target(ctx) || !admit_route(ctx)) {
        return;
    }
    const http_endpoint *endpoint = ctx->match.route->handler;
    http_verdict verdict = HTTP_ADMIT;
    if (endpoint->roles != 0) {
        verdict = server->options.authenticate(ctx, endpoint);
    }
    if (verdict == HTTP_ADMIT) {
        http_resume(ctx);
    }
}

void http_resume(http_ctx *ctx)
{
    if (admit_body(ctx, (struct ctx_private *)ctx)) {
        const http_endpoint *endpoint = ctx->match.route->handler;
        endpoint->handle(ctx);
    }
}

http_server *http_server_new(struct event_base *base, const http_server_options *options)
{
    http_server *server = calloc(1, sizeof *server);
    if (server == NULL) {
        return NULL;
    }
    server->base = base;
    server->options = *options;
    server->id_salt = (uint64_t)clock_us() * 0x2545f4914f6cdd1dULL ^ (uint64_t)getpid();
    server->http = evhttp_new(base);
    if (server->http == NULL) {
        free(server);
        return NULL;
    }
    /* Accept every method so that the router, not evhttp, answers 405 with Allow. */
    evhttp_set_allowed_methods(server->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                                 EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                                 EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                                                 EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    evhttp_set_max_headers_size(server->http, MAX_HEADERS_SIZE);
    evhttp_set_max_body_size(server->http, EVHTTP_BODY_LIMIT);
    evhttp_set_timeout(server->http, options->idle_timeout_s);
    evhttp_set_default_content_type(server->http, "application/json");
    evhttp_set_gencb(server->http, request_cb, server);
    evhttp_set_bevcb(server->http, connection_bev, server);
    server->bound =
        evhttp_bind_socket_with_handle(server->http, options->host, (ev_uint16_t)options->port);
    if (server->bound == NULL) {
        char port_text[16];
        snprintf(port_text, sizeof port_text, "%d", options->port);
        log_event(LOG_ERROR, "cannot listen", "host", options->host, "port", port_text, NULL);
        evhttp_free(server->http);
        free(server);
        return NULL;
    }
    evutil_socket_t fd = evhttp_bound_socket_get_fd(server->bound);
    struct sockaddr_storage addr;
    socklen_t addr_len = sizeof addr;
    server->port = options->port;
    if (getsockname(fd, (struct sockaddr *)&addr, &addr_len) == 0) {
        if (addr.ss_family == AF_INET) {
            server->port = ntohs(((struct sockaddr_in *)&addr)->sin_port);
        } else if (addr.ss_family == AF_INET6) {
            server->port = ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
        }
    }
    return server;
}

int http_server_port(const http_server *server)
{
    return server->port;
}

void *http_server_app(const http_server *server)
{
    return server->options.app;
}

static void close_listener(http_server *server)
{
    if (server->bound != NULL) {
        evhttp_del_accept_socket(server->http, server->bound);
        server->bound = NULL;
    }
}

/* Connections the kernel has completed but we have not accepted yet would be reset when
 * the listening socket closes, though their clients already sent requests. So the
 * listener stays open until its backlog is empty (bounded, as new clients keep coming),
 * and everything accepted meanwhile is served with Connection: close. */
static void listener_drain_check(evutil_socket_t fd, short events, void *arg)
{
    http_server *server = arg;
    if (server->bound == NULL) {
        return;
    }
    struct pollfd backlog = {.fd = evhttp_bound_socket_get_fd(server->bound), .events = POLLIN};
    if (poll(&backlog, 1, 0) > 0 && clock_ms() < server->listener_close_ms) {
        struct timeval tv = {0, 1000};
        evtimer_add(&server->listener_drain, &tv);
        return;
    }
    close_listener(server);
}

void http_server_stop_accepting(http_server *server)
{
    if (server->draining) {
        return;
    }
    server->draining = true;
    if (server->accept_paused || server->bound == NULL) {
        close_listener(server); /* at the connection cap: nothing more will be accepted */
        return;
    }
    server->listener_close_ms = clock_ms() + 200;
    evtimer_assign(&server->listener_drain, server->base, listener_drain_check, server);
    struct timeval tv = {0, 0};
    evtimer_add(&server->listener_drain, &tv);
}

int http_server_inflight(const http_server *server)
{
    return server->inflight;
}

void http_server_free(http_server *server)
{
    if (server == NULL) {
        return;
    }
    if (server->draining) {
        evtimer_del(&server->listener_drain);
    }
    evhttp_free(server->http);
    free(server);
}
