/* Every client connection, from accept to close. evhttp 2.1 bounds neither the number of
 * connections nor the time a request may take to arrive (its timeout counts idle time
 * only), reads whatever body a client declares before anyone may look at it, and spins
 * on accept errors; so each connection gets a guard, which keeps:
 *   - a deadline for each request to arrive whole (header_timeout_ms);
 *   - the request head scanner (head_scan.h): a head declaring a Content-Length over the
 *     limit is answered 413 at once, before its body is read, and a chunked body is cut
 *     with a 413 as soon as its chunks add up to more than the limit (evhttp's own limit,
 *     the same size, is the backstop);
 *   - output a client does not read, bounded: while a connection has more than
 *     CONN_PAUSE_BYTES of its reply unsent, nothing more is read from it (evhttp would
 *     otherwise keep reading pipelined requests into memory, and dispatch each as soon as
 *     the previous reply is out); the unsent bytes and the time the output last moved are
 *     what the budgets of reclaim.c judge by;
 *   - the request in flight and the streaming response it carries, told when the reply
 *     is written or the connection goes.
 * The cap and accept errors are the listener's (listener.c); which connections make room,
 * reclaim.c's; every close the server decides goes through conn_close (close.c).
 * A guard is created with each connection's bufferevent (bevcb) and attached to the evhttp
 * connection on the same loop turn, before any byte is read: evhttp's close callback then
 * tells us exactly when the connection goes, which keeps the count exact. */
#include "http/internal.h"

#include "util/log.h"

#include <event2/buffer.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* After a 413 sent by the guard, the client's body is read and dropped this long before
 * the connection closes (closing at once could reset the connection under the reply). */
#define REFUSED_LINGER_MS 1000
/* Reading from a connection stops while more than this of its reply waits to be sent, and
 * resumes once it is down to CONN_RESUME_BYTES. */
#define CONN_PAUSE_BYTES  (64 * 1024)
#define CONN_RESUME_BYTES (16 * 1024)
/* What evhttp may hold of a connection's input: a whole head (16 KiB) and body (64 KiB)
 * fit; beyond it the socket is not read until evhttp has consumed what it has. */
#define CONN_INPUT_MAX (128 * 1024)

static void guard_arm(conn_guard *guard, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(&guard->deadline, &tv);
}

static void set_client(conn_guard *guard, const char *address)
{
    snprintf(guard->peer, sizeof guard->peer, "%s", address);
    guard->identity_len = rate_address_identity(address, guard->identity);
}

static void guard_closed(struct evhttp_connection *connection, void *arg)
{
    conn_guard *guard = arg;
    http_server *server = guard->server;
    evhttp_connection_set_closecb(connection, NULL, NULL);
    if (guard->responding) {
        server->inflight--; /* its reply will never be written */
    }
    if (guard->watch != NULL) {
        conn_watch_fn watch = guard->watch;
        void *watch_arg = guard->watch_arg;
        conn_watch(guard, NULL, NULL);
        watch(watch_arg, true);
    }
    event_del(&guard->attach);
    event_del(&guard->pause);
    evtimer_del(&guard->deadline);
    if (guard->input_watch != NULL) {
        evbuffer_remove_cb_entry(bufferevent_get_input(guard->bev), guard->input_watch);
    }
    if (guard->output_watch != NULL) {
        evbuffer_remove_cb_entry(bufferevent_get_output(guard->bev), guard->output_watch);
    }
    server->unsent_bytes -= guard->unsent;
    if (guard->reading_paused) {
        server->reads_paused--;
    }
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
    conn_update_listener(server);
}

static void guard_expired(evutil_socket_t fd, short events, void *arg)
{
    conn_guard *guard = arg;
    conn_close(guard, guard->head.state == HEAD_SCAN_OVERSIZED ? CONN_CLOSE_REFUSED_BODY
                                                               : CONN_CLOSE_HEADER_TIMEOUT);
}

/* The body limit of a request by its first line ("POST /v1/plans?x HTTP/1.1"). */
static int64_t request_body_limit(const char *line)
{
    bool post = strncmp(line, "POST ", 5) == 0;
    const char *path = post ? line + 5 : line;
    return http_body_limit(post, path, strcspn(path, " ?"));
}

/* The head scanner found a body over the limit: the 413 goes straight to the socket
 * (reply.c), and the rest of the body is read and dropped until the linger is over. */
static void refuse_oversized(conn_guard *guard)
{
    http_reply_oversized_raw(guard->server, bufferevent_getfd(guard->bev),
                             guard->head.content_length, guard->head.max_body,
                             guard->head.request_line);
    evtimer_del(&guard->deadline);
    guard_arm(guard, REFUSED_LINGER_MS);
}

/* Runs before evhttp reads the same bytes (evbuffer callbacks fire as the socket's data is
 * added, then the bufferevent's read callback runs). */
static void input_added(struct evbuffer *buffer, const struct evbuffer_cb_info *info, void *arg)
{
    conn_guard *guard = arg;
    if (info->n_added == 0) {
        return;
    }
    guard->active_ms = clock_ms();
    if (guard->head.state == HEAD_SCAN_OVERSIZED || guard->watch != NULL) {
        /* Nothing reads a refused body, nor what comes during a stream: drop it. */
        evbuffer_drain(buffer, evbuffer_get_length(buffer));
        return;
    }
    if (!head_scan_reading(&guard->head)) {
        return;
    }
    struct evbuffer_ptr at;
    size_t length = evbuffer_get_length(buffer);
    if (evbuffer_ptr_set(buffer, &at, length - info->n_added, EVBUFFER_PTR_SET) != 0) {
        guard->head.state = HEAD_SCAN_OFF;
        return;
    }
    char chunk[4096];
    size_t left = info->n_added;
    while (left > 0 && head_scan_reading(&guard->head)) {
        size_t want = left < sizeof chunk ? left : sizeof chunk;
        ev_ssize_t got = evbuffer_copyout_from(buffer, &at, chunk, want);
        if (got <= 0) {
            break;
        }
        head_scan_feed(&guard->head, chunk, (size_t)got);
        evbuffer_ptr_set(buffer, &at, (size_t)got, EVBUFFER_PTR_ADD);
        left -= (size_t)got;
    }
    if (guard->head.state == HEAD_SCAN_OVERSIZED) {
        refuse_oversized(guard);
        evbuffer_drain(buffer, evbuffer_get_length(buffer));
        return;
    }
    if (guard->head.state == HEAD_SCAN_WAIT) {
        /* evhttp takes a Content-Length body only once all of it is in the input buffer:
         * the buffer must hold this request's largest body (and no more). */
        int64_t extra = guard->head.max_body - HTTP_MAX_BODY;
        bufferevent_setwatermark(guard->bev, EV_READ, 0,
                                 CONN_INPUT_MAX + (size_t)(extra > 0 ? extra : 0));
    }
}

static void pause_reading(evutil_socket_t fd, short events, void *arg)
{
    conn_guard *guard = arg;
    if (guard->unsent > CONN_PAUSE_BYTES && guard->watch == NULL && !guard->reading_paused) {
        guard->reading_paused = true;
        guard->server->reads_paused++;
        bufferevent_disable(guard->bev, EV_READ);
    }
}

/* Every change of a connection's output buffer: evhttp adding a reply, the socket taking
 * some of it. Keeps the connection's and the server's unsent bytes, and pauses or resumes
 * reading. Runs inside evhttp's own calls, so what must not happen there (disabling a read
 * that evhttp is about to enable, closing connections) is left to events of the loop. */
static void output_changed(struct evbuffer *buffer, const struct evbuffer_cb_info *info, void *arg)
{
    conn_guard *guard = arg;
    http_server *server = guard->server;
    size_t unsent = info->orig_size + info->n_added - info->n_deleted;
    if (info->n_deleted > 0 || guard->unsent == 0) {
        guard->drained_ms = clock_ms();
    }
    server->unsent_bytes = server->unsent_bytes - guard->unsent + unsent;
    guard->unsent = unsent;
    if (guard->reading_paused && unsent <= CONN_RESUME_BYTES) {
        guard->reading_paused = false;
        server->reads_paused--;
        bufferevent_enable(guard->bev, EV_READ);
    } else if (!guard->reading_paused && unsent > CONN_PAUSE_BYTES && guard->watch == NULL) {
        /* evhttp enables reading right after it has queued a reply: pause after that. */
        event_active(&guard->pause, EV_TIMEOUT, 0);
    }
    if (server->unsent_bytes > server->options.output_budget_bytes && !server->output_check_armed) {
        server->output_check_armed = true;
        event_active(&server->output_check, EV_TIMEOUT, 0);
    }
}

static void guard_attach(evutil_socket_t fd, short events, void *arg)
{
    conn_guard *guard = arg;
    void *connection = NULL;
    /* evhttp registers its connection as the bufferevent's callback argument. */
    bufferevent_getcb(guard->bev, NULL, NULL, NULL, &connection);
    guard->connection = connection;
    evhttp_connection_set_closecb(guard->connection, guard_closed, guard);
    char *address = NULL;
    ev_uint16_t port = 0;
    evhttp_connection_get_peer(guard->connection, &address, &port);
    /* Before any request: the peer, which for a proxy is the proxy. */
    set_client(guard, address != NULL ? address : "");
    guard->active_ms = clock_ms();
    guard->input_watch = evbuffer_add_cb(bufferevent_get_input(guard->bev), input_added, guard);
    guard->output_watch =
        evbuffer_add_cb(bufferevent_get_output(guard->bev), output_changed, guard);
    bufferevent_setwatermark(guard->bev, EV_READ, 0, CONN_INPUT_MAX);
    guard_arm(guard, guard->server->options.header_timeout_ms);
    reclaim_for_newcomer(guard);
}

struct bufferevent *conn_new(struct event_base *base, void *arg)
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
    head_scan_init(&guard->head, HTTP_MAX_BODY);
    head_scan_limit_by(&guard->head, request_body_limit);
    evtimer_assign(&guard->deadline, base, guard_expired, guard);
    event_assign(&guard->attach, base, -1, 0, guard_attach, guard);
    event_assign(&guard->pause, base, -1, 0, pause_reading, guard);
    /* Runs later in this same loop turn, after evhttp has made the connection and
     * before the socket is polled for the first time. */
    event_active(&guard->attach, EV_TIMEOUT, 0);
    guard->next = server->guards;
    if (server->guards != NULL) {
        server->guards->prev = guard;
    }
    server->guards = guard;
    server->connections++;
    conn_update_listener(server);
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
    if (guard->watch != NULL) {
        conn_watch_fn watch = guard->watch;
        void *watch_arg = guard->watch_arg;
        conn_watch(guard, NULL, NULL);
        watch(watch_arg, false);
    }
    if (guard->responding) {
        guard->responding = false;
        guard->server->inflight--;
    }
    guard->active_ms = clock_ms();
    /* Bytes already waiting are a pipelined request the guard has not read from its start. */
    bool pipelined = evbuffer_get_length(bufferevent_get_input(guard->bev)) > 0;
    guard->head.state = pipelined ? HEAD_SCAN_OFF : HEAD_SCAN_START;
    guard_arm(guard, guard->server->options.header_timeout_ms);
}

void conn_request_arrived(http_server *server, struct ctx_private *priv)
{
    http_ctx *ctx = &priv->ctx;
    struct evhttp_connection *connection = evhttp_request_get_connection(ctx->req);
    char *peer = NULL;
    ev_uint16_t port = 0;
    if (connection != NULL) {
        evhttp_connection_get_peer(connection, &peer, &port);
    }
    client_address_resolve(&server->trusted_proxies, peer != NULL ? peer : "",
                           http_header_joined(ctx, "Forwarded"),
                           http_header_joined(ctx, "X-Forwarded-For"), ctx->client_address);
    struct bufferevent *bev =
        connection != NULL ? evhttp_connection_get_bufferevent(connection) : NULL;
    if (bev == NULL) {
        return;
    }
    /* evhttp leaves Nagle on: a response's last segment would then wait for the client's
     * delayed ACK of the previous one on keep-alive connections (tens of ms). */
    int on = 1;
    setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    conn_guard *guard = guard_of(server, connection);
    if (guard != NULL) {
        if (strcmp(guard->peer, ctx->client_address) != 0) {
            set_client(guard, ctx->client_address);
        }
        evtimer_del(&guard->deadline);
        evhttp_request_set_on_complete_cb(ctx->req, request_complete, guard);
        guard->responding = true;
        guard->head.state = HEAD_SCAN_WAIT;
        priv->guard = guard;
    }
}

void conn_watch(conn_guard *guard, conn_watch_fn watch, void *arg)
{
    guard->watch = watch;
    guard->watch_arg = arg;
}
