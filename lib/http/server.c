/* The HTTP server: its life (made, bound, draining, freed: the other files' parts of it
 * are set up and torn down from here), and each request's admission in order — the
 * target (valid, unambiguous), the route (404, 405, preflight), credentials (the
 * authenticate hook), the body (size, media type, Idempotency-Key) — then its handler.
 * The top of lib/http: it calls the files below it, none calls it back. */
#include "http/internal.h"

#include "util/log.h"
#include "util/mem.h"
#include "util/utf8.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <event2/buffer.h>
#include <event2/event_struct.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_HEADERS_SIZE (16 * 1024)

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

/* A query string whose bytes, and whose percent-decoded bytes, are UTF-8 (everything the
 * service reads from it, or echoes, is text). */
static bool query_valid(const char *query)
{
    if (query == NULL) {
        return true;
    }
    if (!utf8_valid(query, strlen(query))) {
        return false;
    }
    size_t len = 0;
    char *decoded = evhttp_uridecode(query, 1, &len);
    bool valid = decoded != NULL && utf8_valid(decoded, len);
    free(decoded);
    return valid;
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
    if (!utf8_valid(ctx->path, decoded_len) || !query_valid(ctx->query)) {
        http_problem(ctx, PROBLEM_BAD_REQUEST,
                     "The request target is not valid UTF-8 (raw or percent-encoded).");
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
        http_reply_preflight(ctx, ctx->match.allowed);
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

int http_body_limit(bool post, const char *path, size_t len)
{
    static const char batch[] = "/v1/plans";
    return post && len == sizeof batch - 1 && memcmp(path, batch, len) == 0 ? HTTP_MAX_BODY_BATCH
                                                                            : HTTP_MAX_BODY;
}

static bool admit_body(http_ctx *ctx, struct ctx_private *priv)
{
    struct evbuffer *input = evhttp_request_get_input_buffer(ctx->req);
    size_t body_len = evbuffer_get_length(input);
    int limit = http_body_limit(ctx->method == HTTP_POST, ctx->path, strlen(ctx->path));
    if (body_len > (size_t)limit) {
        http_problem(ctx, PROBLEM_PAYLOAD_TOO_LARGE, "The request body exceeds %d bytes.", limit);
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
    struct ctx_private *priv = request_new(server, req);
    http_ctx *ctx = &priv->ctx;
    conn_request_arrived(server, priv);

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
    /* The largest limit: a chunked body is cut there by evhttp. The limit of each request
     * (http_body_limit) is kept by connections.c before evhttp reads on (a declared
     * Content-Length, or chunks adding up beyond it) and by admit_body. */
    evhttp_set_max_body_size(server->http, HTTP_MAX_BODY_BATCH);
    evhttp_set_timeout(server->http, options->idle_timeout_s);
    evhttp_set_default_content_type(server->http, "application/json");
    evhttp_set_gencb(server->http, request_cb, server);
    evhttp_set_bevcb(server->http, conn_new, server);
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
    /* Before the listener: at the cap it arms the idle reclaim's event. */
    reclaim_init(server);
    conn_listener_ready(server);
    rate_limits_new(server);
    char error[256];
    if (proxy_list_parse(options->trusted_proxies, &server->trusted_proxies, error, sizeof error) !=
        0) {
        /* config_load refuses such a list: trust none. */
        log_event(LOG_ERROR, "trusted proxies ignored", "error", error, NULL);
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
    conn_listener_free(server);
    reclaim_free(server);
    evhttp_free(server->http);
    rate_limits_free(server);
    proxy_list_free(&server->trusted_proxies);
    free(server);
}
