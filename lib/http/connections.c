/* Every client connection, from accept to close. evhttp 2.1 bounds neither the number of
 * connections nor the time a request may take to arrive (its timeout counts idle time
 * only), reads whatever body a client declares before anyone may look at it, and spins
 * on accept errors; so each connection gets a guard:
 *   - the cap: at max_connections (clamped to what the open-file limit allows) the
 *     listener pauses, and resumes when a connection goes;
 *   - a deadline for each request to arrive whole (header_timeout_ms);
 *   - an idle budget per client address: a client holding more than max_idle_per_client
 *     connections idle for a second or more loses its oldest one to each new one, and
 *     while the server is at its cap (the listener paused, so newcomers cannot even be
 *     seen) every address's idle connections beyond the budget are closed, oldest first,
 *     every 250 ms: one client cannot hold every slot, even one it took all at once;
 *   - a request head declaring a Content-Length over the limit is answered 413 at once,
 *     before its body is read, and a chunked body is cut with a 413 as soon as its chunks
 *     add up to more than the limit (evhttp's own limit, the same size, is the backstop);
 *   - accept errors (EMFILE) pause the listener a moment and are logged once a second;
 *   - output a client does not read is bounded: while a connection has more than
 *     CONN_PAUSE_BYTES of its reply unsent, nothing more is read from it (evhttp would
 *     otherwise keep reading pipelined requests into memory, and dispatch each as soon as
 *     the previous reply is out); a connection whose reply made no progress for a second
 *     counts as idle for the budget above (a reply nobody reads holds a slot like an idle
 *     connection does); and when the unsent bytes of all connections together exceed
 *     output_budget_bytes, the connections holding the most (those stalled first) close.
 * Every close the server decides goes through conn_close, which logs and counts its reason.
 * A guard is created with each connection's bufferevent (bevcb) and attached to the evhttp
 * connection on the same loop turn, before any byte is read: evhttp's close callback then
 * tells us exactly when the connection goes, which keeps the count exact. */
#include "http/internal.h"

#include "util/log.h"
#include "util/mem.h"
#include "util/metrics.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>

/* A connection counts as idle once nothing happened on it for this long. */
#define IDLE_AFTER_MS 1000
/* How long the listener rests after an accept error. */
#define ACCEPT_REST_MS 250
/* How often, at the connection cap, idle connections over their budget are looked for. */
#define IDLE_RECLAIM_MS 250
/* After a 413 sent by the guard, the client's body is read and dropped this long before
 * the connection closes (closing at once could reset the connection under the reply). */
#define REFUSED_LINGER_MS 1000
/* Reading from a connection stops while more than this of its reply waits to be sent, and
 * resumes once it is down to CONN_RESUME_BYTES. */
#define CONN_PAUSE_BYTES  (64 * 1024)
#define CONN_RESUME_BYTES (16 * 1024)
/* What evhttp may hold of a connection's input: a whole head (16 KiB) and body (64 KiB)
 * fit; beyond it the socket is not read until evhttp has consumed what it has. A request
 * allowed a larger body (http_body_limit) raises it by the difference once its head is
 * read. */
#define CONN_INPUT_MAX (128 * 1024)

static const char *const close_reason_names[CONN_CLOSE__COUNT] = {
    [CONN_CLOSE_HEADER_TIMEOUT] = "header_timeout", [CONN_CLOSE_REFUSED_BODY] = "refused_body",
    [CONN_CLOSE_IDLE_NEWER] = "idle_for_newer",     [CONN_CLOSE_IDLE_AT_CAP] = "idle_at_cap",
    [CONN_CLOSE_OUTPUT_BUDGET] = "output_budget",
};

/* Reading a request's head, to answer an oversized declared body before it is read. */
typedef enum {
    HEAD_START,   /* between requests: the next byte starts a head */
    HEAD_LINE,    /* inside a head */
    HEAD_CHUNKS,  /* inside a chunked body: its size is counted */
    HEAD_WAIT,    /* the head is read: nothing to look at until the reply is written */
    HEAD_OFF,     /* pipelined requests: evhttp's own limit applies */
    HEAD_REFUSED, /* answered 413 here: everything read is dropped */
} head_state;

struct conn_guard {
    http_server *server;
    struct bufferevent *bev;
    struct evhttp_connection *connection; /* set on attach */
    struct event attach;
    struct event deadline;
    bool responding;     /* a request is in flight until its reply is written */
    http_stream *stream; /* the streaming response it carries, or NULL */
    int64_t active_ms;   /* when something last happened on it */
    /* The client's address: the peer's at accept, then the one the last request came from
     * (through a trusted proxy, the address it forwarded); the per-address budget counts
     * connections by its identity (rate_address_identity: IPv6 by /64). */
    char peer[64];
    uint8_t identity[RATE_ADDRESS_MAX];
    size_t identity_len;
    struct evbuffer_cb_entry *input_watch, *output_watch;
    size_t unsent;           /* bytes of its replies waiting in the output buffer */
    int64_t drained_ms;      /* when the output last shrank, or filled from empty */
    bool reading_paused;     /* too much unsent: the socket is not read */
    struct event pause;      /* pauses reading once evhttp has done enabling it */
    conn_guard *prev, *next; /* the server's list of open connections */
    struct {
        head_state state;
        bool first_line;
        char line[128]; /* the line being read (longer ones are cut; none matters here) */
        size_t line_len;
        char request_line[128];
        int64_t content_length; /* declared, or the chunks' sum so far */
        bool chunked;
        enum { CHUNK_SIZE, CHUNK_DATA, CHUNK_DATA_END, CHUNK_TRAILER } chunk;
        int64_t chunk_left; /* bytes of the current chunk's data still to come */
    } head;
};

static void guard_arm(conn_guard *guard, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(&guard->deadline, &tv);
}

/* The one way the server ends a connection: logs and counts why, then frees it (its guard
 * goes with it, in guard_closed). Never from a callback of the connection itself. */
static void conn_close(conn_guard *guard, conn_close_reason reason)
{
    http_server *server = guard->server;
    server->closed[reason]++;
    if (log_enabled(LOG_DEBUG)) {
        char unsent[24];
        snprintf(unsent, sizeof unsent, "%zu", guard->unsent);
        log_event(LOG_DEBUG, "connection closed", "reason", close_reason_names[reason], "client",
                  guard->peer, "unsent_bytes", unsent, NULL);
    }
    evhttp_connection_free(guard->connection);
}

void conn_update_listener(http_server *server)
{
    if (server->bound == NULL) {
        return;
    }
    struct evconnlistener *listener = evhttp_bound_socket_get_listener(server->bound);
    bool full = server->connections >= server->options.max_connections;
    if (full && !server->idle_reclaim_armed) {
        struct timeval tv = {0, IDLE_RECLAIM_MS * 1000};
        evtimer_add(&server->idle_reclaim, &tv);
        server->idle_reclaim_armed = true;
    }
    bool accept = !full && !server->accept_resting;
    if (accept && server->accept_paused) {
        evconnlistener_enable(listener);
        server->accept_paused = false;
    } else if (!accept && !server->accept_paused) {
        evconnlistener_disable(listener);
        server->accept_paused = true;
    }
}

static void guard_closed(struct evhttp_connection *connection, void *arg)
{
    conn_guard *guard = arg;
    http_server *server = guard->server;
    evhttp_connection_set_closecb(connection, NULL, NULL);
    if (guard->responding) {
        server->inflight--; /* its reply will never be written */
    }
    if (guard->stream != NULL) {
        http_stream *stream = guard->stream;
        conn_attach_stream(guard, NULL);
        stream_connection_gone(stream);
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
    conn_close(guard, guard->head.state == HEAD_REFUSED ? CONN_CLOSE_REFUSED_BODY
                                                        : CONN_CLOSE_HEADER_TIMEOUT);
}

/* ---- the oversized body, answered before it is read ---- */

/* The body limit of the request whose head is being read, by its request line
 * ("POST /v1/plans?x HTTP/1.1"). */
static int body_limit(const conn_guard *guard)
{
    const char *line = guard->head.request_line;
    bool post = strncmp(line, "POST ", 5) == 0;
    const char *path = post ? line + 5 : line;
    return http_body_limit(post, path, strcspn(path, " ?"));
}

/* Sends the 413 straight to the socket (evhttp is not writing anything on a connection
 * that is between requests), ends the sending side and lets the rest of the body drain. */

static void refuse_oversized(conn_guard *guard)
{
    http_server *server = guard->server;
    char request_id[32];
    snprintf(request_id, sizeof request_id, "%016llx",
             (unsigned long long)(server->id_salt ^
                                  (++server->next_request_id * 0x9e3779b97f4a7c15ULL)));
    char body[512];
    int body_len = snprintf(
        body, sizeof body,
        "{\"type\":\"https://wasteflow.dev/problems/%s\",\"title\":\"%s\",\"status\":413,"
        "\"detail\":\"The request body would be %lld bytes; at most %d are accepted.\","
        "\"request_id\":\"%s\"}",
        problem_of(PROBLEM_PAYLOAD_TOO_LARGE)->slug, problem_of(PROBLEM_PAYLOAD_TOO_LARGE)->title,
        (long long)guard->head.content_length, body_limit(guard), request_id);
    char response[1024];
    int len = snprintf(response, sizeof response,
                       "HTTP/1.1 413 Content Too Large\r\nContent-Type: application/problem+json"
                       "\r\nContent-Length: %d\r\nConnection: close\r\nX-Content-Type-Options: "
                       "nosniff\r\nX-Request-Id: %s\r\n\r\n%s",
                       body_len, request_id, body);
    int fd = bufferevent_getfd(guard->bev);
    ssize_t sent = send(fd, response, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT);
    shutdown(fd, SHUT_WR);
    guard->head.state = HEAD_REFUSED;
    evtimer_del(&guard->deadline);
    guard_arm(guard, REFUSED_LINGER_MS);
    metrics_observe_request("oversized", 413, 0);
    log_event(LOG_INFO, "request", "request", guard->head.request_line, "status", "413", "detail",
              sent == len ? "body over the limit, refused before reading it"
                          : "body over the limit; the refusal could not be sent",
              "request_id", request_id, NULL);
}

/* One complete line of a head (without its CR LF). */
static void head_line(conn_guard *guard)
{
    char *line = guard->head.line;
    line[guard->head.line_len] = '\0';
    if (guard->head.first_line) {
        guard->head.first_line = false;
        snprintf(guard->head.request_line, sizeof guard->head.request_line, "%s", line);
        return;
    }
    if (guard->head.line_len == 0) {
        /* The end of the head: evhttp decides everything else about the request. */
        guard->head.state = guard->head.chunked ? HEAD_CHUNKS : HEAD_WAIT;
        guard->head.chunk = CHUNK_SIZE;
        if (guard->head.chunked) {
            guard->head.content_length = 0; /* counted from the chunks now */
        }
        int limit = body_limit(guard);
        if (guard->head.content_length > limit) {
            refuse_oversized(guard);
            return;
        }
        /* evhttp takes a Content-Length body only once all of it is in the input buffer:
         * the buffer must hold this request's largest body (and no more). */
        bufferevent_setwatermark(guard->bev, EV_READ, 0,
                                 CONN_INPUT_MAX + (size_t)(limit - HTTP_MAX_BODY));
        return;
    }
    if (strncasecmp(line, "Transfer-Encoding:", 18) == 0 && strcasestr(line, "chunked") != NULL) {
        guard->head.chunked = true;
    }
    if (strncasecmp(line, "Content-Length:", 15) == 0) {
        /* The largest value counts; conflicting ones are refused later (server.c). */
        char *end = NULL;
        long long value = strtoll(line + 15, &end, 10);
        if (end != line + 15 && value > guard->head.content_length) {
            guard->head.content_length = value;
        }
    }
}

/* The end of one line of the chunked framing (a chunk's size, or a trailer). */
static void chunk_line(conn_guard *guard)
{
    char *line = guard->head.line;
    line[guard->head.line_len] = '\0';
    if (guard->head.chunk == CHUNK_TRAILER) {
        if (guard->head.line_len == 0) {
            guard->head.state = HEAD_WAIT; /* the body is complete */
        }
        return;
    }
    char *end = NULL;
    long long size = strtoll(line, &end, 16);
    if (end == line || size < 0 || (*end != '\0' && *end != ';' && *end != ' ')) {
        guard->head.state = HEAD_OFF; /* broken framing: evhttp refuses it */
        return;
    }
    if (size == 0) {
        guard->head.chunk = CHUNK_TRAILER;
        return;
    }
    int limit = body_limit(guard);
    if (size > limit || guard->head.content_length + size > limit) {
        guard->head.content_length += size > limit ? limit : size;
        refuse_oversized(guard);
        return;
    }
    guard->head.content_length += size;
    guard->head.chunk_left = size;
    guard->head.chunk = CHUNK_DATA;
}

static void chunk_bytes(conn_guard *guard, const char *bytes, size_t n, size_t *i)
{
    if (guard->head.chunk == CHUNK_DATA) {
        size_t take =
            n - *i < (size_t)guard->head.chunk_left ? n - *i : (size_t)guard->head.chunk_left;
        guard->head.chunk_left -= (int64_t)take;
        *i += take;
        if (guard->head.chunk_left == 0) {
            guard->head.chunk = CHUNK_DATA_END;
        }
        return;
    }
    char c = bytes[(*i)++];
    if (guard->head.chunk == CHUNK_DATA_END) {
        if (c == '\n') {
            guard->head.chunk = CHUNK_SIZE;
            guard->head.line_len = 0;
        } else if (c != '\r') {
            guard->head.state = HEAD_OFF;
        }
        return;
    }
    if (c == '\n') {
        if (guard->head.line_len > 0 && guard->head.line[guard->head.line_len - 1] == '\r') {
            guard->head.line_len--;
        }
        chunk_line(guard);
        guard->head.line_len = 0;
    } else if (guard->head.line_len + 1 < sizeof guard->head.line) {
        guard->head.line[guard->head.line_len++] = c;
    }
}

static void head_bytes(conn_guard *guard, const char *bytes, size_t n)
{
    for (size_t i = 0; i < n && guard->head.state <= HEAD_CHUNKS;) {
        if (guard->head.state == HEAD_CHUNKS) {
            chunk_bytes(guard, bytes, n, &i);
            continue;
        }
        char c = bytes[i++];
        if (guard->head.state == HEAD_START) {
            if (c == '\r' || c == '\n') {
                continue;
            }
            guard->head.state = HEAD_LINE;
            guard->head.first_line = true;
            guard->head.line_len = 0;
            guard->head.content_length = 0;
            guard->head.chunked = false;
        }
        if (c == '\n') {
            if (guard->head.line_len > 0 && guard->head.line[guard->head.line_len - 1] == '\r') {
                guard->head.line_len--;
            }
            head_line(guard);
            guard->head.line_len = 0;
        } else if (guard->head.line_len + 1 < sizeof guard->head.line) {
            guard->head.line[guard->head.line_len++] = c;
        }
    }
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
    if (guard->head.state == HEAD_REFUSED || guard->stream != NULL) {
        /* Nothing reads a refused body, nor what comes during a stream: drop it. */
        evbuffer_drain(buffer, evbuffer_get_length(buffer));
        return;
    }
    if (guard->head.state > HEAD_CHUNKS) {
        return;
    }
    struct evbuffer_ptr at;
    size_t length = evbuffer_get_length(buffer);
    if (evbuffer_ptr_set(buffer, &at, length - info->n_added, EVBUFFER_PTR_SET) != 0) {
        guard->head.state = HEAD_OFF;
        return;
    }
    char chunk[4096];
    size_t left = info->n_added;
    while (left > 0 && guard->head.state <= HEAD_CHUNKS) {
        size_t want = left < sizeof chunk ? left : sizeof chunk;
        ev_ssize_t got = evbuffer_copyout_from(buffer, &at, chunk, want);
        if (got <= 0) {
            break;
        }
        head_bytes(guard, chunk, (size_t)got);
        evbuffer_ptr_set(buffer, &at, (size_t)got, EVBUFFER_PTR_ADD);
        left -= (size_t)got;
    }
    if (guard->head.state == HEAD_REFUSED) {
        evbuffer_drain(buffer, evbuffer_get_length(buffer));
    }
}

/* ---- the idle budget per client address ---- */

static bool idle(const conn_guard *guard, int64_t now)
{
    return !guard->responding && guard->head.state != HEAD_REFUSED &&
           now - guard->active_ms >= IDLE_AFTER_MS;
}

/* A reply sits unread: bytes wait and none left for a second. With or without
 * credentials, such a connection holds its slot as an idle one does. */
static bool unread(const conn_guard *guard, int64_t now)
{
    return guard->unsent > 0 && now - guard->drained_ms >= IDLE_AFTER_MS;
}

static bool reclaimable(const conn_guard *guard, int64_t now)
{
    return guard->connection != NULL && (idle(guard, now) || unread(guard, now));
}

/* Since when it has been quiet: the oldest quiet one makes room first. */
static int64_t quiet_since(const conn_guard *guard)
{
    return guard->unsent > 0 ? guard->drained_ms : guard->active_ms;
}

static bool same_client(const conn_guard *a, const conn_guard *b)
{
    return a->identity_len == b->identity_len &&
           memcmp(a->identity, b->identity, a->identity_len) == 0;
}

static void set_client(conn_guard *guard, const char *address)
{
    snprintf(guard->peer, sizeof guard->peer, "%s", address);
    guard->identity_len = rate_address_identity(address, guard->identity);
}

/* A newcomer from an address over its idle budget: that address's connection idle the
 * longest makes room. */
static void enforce_idle_budget(conn_guard *newcomer)
{
    http_server *server = newcomer->server;
    int64_t now = clock_ms();
    int count = 0;
    conn_guard *oldest = NULL;
    for (conn_guard *g = server->guards; g != NULL; g = g->next) {
        if (g == newcomer || !same_client(g, newcomer) || !reclaimable(g, now)) {
            continue;
        }
        count++;
        if (oldest == NULL || quiet_since(g) <= quiet_since(oldest)) {
            oldest = g;
        }
    }
    if (count >= server->options.max_idle_per_client && oldest != NULL) {
        /* Frees it (and its guard, through guard_closed) now: not our own callback. */
        conn_close(oldest, CONN_CLOSE_IDLE_NEWER);
    }
}

static int by_client_then_age(const void *left, const void *right)
{
    const conn_guard *a = *(conn_guard *const *)left, *b = *(conn_guard *const *)right;
    size_t len = a->identity_len < b->identity_len ? a->identity_len : b->identity_len;
    int client = memcmp(a->identity, b->identity, len);
    if (client == 0 && a->identity_len != b->identity_len) {
        client = a->identity_len < b->identity_len ? -1 : 1;
    }
    if (client != 0) {
        return client;
    }
    return quiet_since(a) < quiet_since(b) ? -1 : quiet_since(a) > quiet_since(b);
}

/* At the cap: every address keeps at most its budget of idle connections, its oldest idle
 * ones close. Sorting by address makes it n log n in the connections, four times a second
 * and only while the server is full. */
static void reclaim_idle(http_server *server)
{
    int64_t now = clock_ms();
    size_t count = 0;
    for (conn_guard *g = server->guards; g != NULL; g = g->next) {
        count += reclaimable(g, now);
    }
    if (count <= (size_t)server->options.max_idle_per_client) {
        return;
    }
    conn_guard **idle_ones = xcalloc(count, sizeof *idle_ones);
    size_t n = 0;
    for (conn_guard *g = server->guards; g != NULL && n < count; g = g->next) {
        if (reclaimable(g, now)) {
            idle_ones[n++] = g;
        }
    }
    qsort(idle_ones, n, sizeof *idle_ones, by_client_then_age);
    size_t budget = (size_t)server->options.max_idle_per_client;
    int closed = 0;
    char peer[sizeof idle_ones[0]->peer] = "";
    for (size_t start = 0; start < n;) {
        size_t end = start + 1;
        while (end < n && same_client(idle_ones[end], idle_ones[start])) {
            end++;
        }
        if (end - start > budget) {
            snprintf(peer, sizeof peer, "%s", idle_ones[start]->peer);
            for (size_t i = start; i < end - budget; i++) {
                /* Frees it and its guard (guard_closed); the array is not read there again. */
                conn_close(idle_ones[i], CONN_CLOSE_IDLE_AT_CAP);
                closed++;
            }
        }
        start = end;
    }
    free(idle_ones);
    if (closed > 0) {
        char closed_text[16];
        snprintf(closed_text, sizeof closed_text, "%d", closed);
        log_event(LOG_INFO,
                  "at the connection cap: idle or unread connections over their budget closed",
                  "closed", closed_text, "client", peer, NULL);
    }
}

static void idle_reclaim_due(evutil_socket_t fd, short events, void *arg)
{
    http_server *server = arg;
    server->idle_reclaim_armed = false;
    if (server->connections >= server->options.max_connections) {
        reclaim_idle(server);
    }
    conn_update_listener(server); /* re-arms while still full */
}

/* ---- output nobody reads ---- */

static void pause_reading(evutil_socket_t fd, short events, void *arg)
{
    conn_guard *guard = arg;
    if (guard->unsent > CONN_PAUSE_BYTES && guard->stream == NULL && !guard->reading_paused) {
        guard->reading_paused = true;
        guard->server->reads_paused++;
        bufferevent_disable(guard->bev, EV_READ);
    }
}

/* A connection holding unsent bytes, as the output budget ranks them. */
typedef struct {
    conn_guard *guard;
    bool stalled;
    size_t unsent;
} output_holder;

static int by_unsent(const void *left, const void *right)
{
    const output_holder *a = left, *b = right;
    /* Stalled ones first (nobody reads them), then the biggest. */
    if (a->stalled != b->stalled) {
        return a->stalled ? -1 : 1;
    }
    return a->unsent > b->unsent ? -1 : a->unsent < b->unsent;
}

/* Over the budget of unsent bytes: the connections holding the most close until the rest
 * fit in it. */
static void output_budget_due(evutil_socket_t fd, short events, void *arg)
{
    http_server *server = arg;
    server->output_check_armed = false;
    if (server->unsent_bytes <= server->options.output_budget_bytes) {
        return;
    }
    size_t count = 0;
    for (conn_guard *g = server->guards; g != NULL; g = g->next) {
        count += g->connection != NULL && g->unsent > 0;
    }
    output_holder *holders = xcalloc(count > 0 ? count : 1, sizeof *holders);
    size_t n = 0;
    int64_t now = clock_ms();
    for (conn_guard *g = server->guards; g != NULL && n < count; g = g->next) {
        if (g->connection != NULL && g->unsent > 0) {
            holders[n++] = (output_holder){g, unread(g, now), g->unsent};
        }
    }
    qsort(holders, n, sizeof *holders, by_unsent);
    size_t before = server->unsent_bytes;
    int closed = 0;
    char biggest[sizeof holders[0].guard->peer] = "";
    for (size_t i = 0; i < n && server->unsent_bytes > server->options.output_budget_bytes; i++) {
        if (closed == 0) {
            snprintf(biggest, sizeof biggest, "%s", holders[i].guard->peer);
        }
        /* Frees it and its guard (guard_closed), which takes its bytes off the total; the
         * array is not read there again. */
        conn_close(holders[i].guard, CONN_CLOSE_OUTPUT_BUDGET);
        closed++;
    }
    free(holders);
    char closed_text[16], before_text[24], after_text[24], budget_text[24];
    snprintf(closed_text, sizeof closed_text, "%d", closed);
    snprintf(before_text, sizeof before_text, "%zu", before);
    snprintf(after_text, sizeof after_text, "%zu", server->unsent_bytes);
    snprintf(budget_text, sizeof budget_text, "%zu", server->options.output_budget_bytes);
    log_event(LOG_WARN, "unsent replies over the output budget: connections closed", "reason",
              close_reason_names[CONN_CLOSE_OUTPUT_BUDGET], "closed", closed_text, "client",
              biggest, "unsent_bytes", before_text, "now", after_text, "budget", budget_text, NULL);
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
    } else if (!guard->reading_paused && unsent > CONN_PAUSE_BYTES && guard->stream == NULL) {
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
    enforce_idle_budget(guard);
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
    if (guard->stream != NULL) {
        http_stream *stream = guard->stream;
        conn_attach_stream(guard, NULL);
        stream_request_done(stream);
    }
    if (guard->responding) {
        guard->responding = false;
        guard->server->inflight--;
    }
    guard->active_ms = clock_ms();
    /* Bytes already waiting are a pipelined request the guard has not read from its start. */
    bool pipelined = evbuffer_get_length(bufferevent_get_input(guard->bev)) > 0;
    guard->head.state = pipelined ? HEAD_OFF : HEAD_START;
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
        guard->head.state = HEAD_WAIT;
        priv->guard = guard;
    }
}

void conn_attach_stream(conn_guard *guard, http_stream *stream)
{
    guard->stream = stream;
}

/* ---- the listener ---- */

static void accept_rest_over(evutil_socket_t fd, short events, void *arg)
{
    http_server *server = arg;
    server->accept_resting = false;
    conn_update_listener(server);
}

/* evhttp owns its listener, whose callbacks get the struct evhttp: which server is it? */
#define MAX_SERVERS 8
static struct {
    struct evhttp *http;
    http_server *server;
} listeners[MAX_SERVERS];

static http_server *server_of(void *http)
{
    for (int i = 0; i < MAX_SERVERS; i++) {
        if (listeners[i].http == http) {
            return listeners[i].server;
        }
    }
    return NULL;
}

/* EMFILE and friends: accepting again at once would spin. Rest a moment; say so at most
 * once a second. */
static void accept_error(struct evconnlistener *listener, void *arg)
{
    http_server *server = server_of(arg);
    if (server == NULL) {
        return;
    }
    int error = EVUTIL_SOCKET_ERROR();
    server->accept_errors_quiet++;
    int64_t now = clock_ms();
    if (now - server->accept_error_logged_ms >= 1000) {
        char count[24];
        snprintf(count, sizeof count, "%llu", (unsigned long long)server->accept_errors_quiet);
        log_event(LOG_WARN, "cannot accept connections", "error", strerror(error), "errors", count,
                  NULL);
        server->accept_error_logged_ms = now;
        server->accept_errors_quiet = 0;
    }
    server->accept_resting = true;
    conn_update_listener(server);
    struct timeval tv = {0, ACCEPT_REST_MS * 1000};
    evtimer_add(&server->accept_rest, &tv);
}

void conn_listener_ready(http_server *server)
{
    /* Every connection takes a descriptor; the pool, the listener and the logs take some
     * too. Raise the soft limit to the hard one, then keep the cap below it. */
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
        if (limit.rlim_cur < limit.rlim_max) {
            struct rlimit raised = {limit.rlim_max, limit.rlim_max};
            if (setrlimit(RLIMIT_NOFILE, &raised) == 0) {
                limit = raised;
            }
        }
        long long usable = (long long)limit.rlim_cur - server->options.fd_reserve;
        if (usable < 1) {
            usable = 1;
        }
        if (server->options.max_connections > usable) {
            char was[24], now[24];
            snprintf(was, sizeof was, "%d", server->options.max_connections);
            snprintf(now, sizeof now, "%lld", usable);
            log_event(LOG_WARN, "connection cap lowered to fit the open-file limit", "configured",
                      was, "cap", now, NULL);
            server->options.max_connections = (int)usable;
        }
    }
    if (server->options.output_budget_bytes == 0) {
        server->options.output_budget_bytes = (size_t)64 * 1024 * 1024;
    }
    if (server->options.max_idle_per_client < 1 ||
        server->options.max_idle_per_client > server->options.max_connections) {
        server->options.max_idle_per_client = server->options.max_connections;
    }
    evtimer_assign(&server->accept_rest, server->base, accept_rest_over, server);
    evtimer_assign(&server->idle_reclaim, server->base, idle_reclaim_due, server);
    event_assign(&server->output_check, server->base, -1, 0, output_budget_due, server);
    for (int i = 0; i < MAX_SERVERS; i++) {
        if (listeners[i].http == NULL) {
            listeners[i].http = server->http;
            listeners[i].server = server;
            evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(server->bound),
                                        accept_error);
            break;
        }
    }
}

void http_server_render_metrics(const http_server *server, FILE *out)
{
    fprintf(out,
            "# HELP wasteflow_http_connections Client connections open.\n"
            "# TYPE wasteflow_http_connections gauge\n"
            "wasteflow_http_connections %d\n"
            "# HELP wasteflow_http_unsent_bytes Reply bytes waiting to be sent, all connections.\n"
            "# TYPE wasteflow_http_unsent_bytes gauge\n"
            "wasteflow_http_unsent_bytes %zu\n"
            "# HELP wasteflow_http_reads_paused Connections not read while their replies wait.\n"
            "# TYPE wasteflow_http_reads_paused gauge\n"
            "wasteflow_http_reads_paused %d\n"
            "# HELP wasteflow_http_connections_closed_total Connections the server closed, by "
            "reason.\n"
            "# TYPE wasteflow_http_connections_closed_total counter\n",
            server->connections, server->unsent_bytes, server->reads_paused);
    for (int reason = 0; reason < CONN_CLOSE__COUNT; reason++) {
        fprintf(out, "wasteflow_http_connections_closed_total{reason=\"%s\"} %llu\n",
                close_reason_names[reason], (unsigned long long)server->closed[reason]);
    }
}

void conn_listener_free(http_server *server)
{
    evtimer_del(&server->accept_rest);
    evtimer_del(&server->idle_reclaim);
    event_del(&server->output_check);
    for (int i = 0; i < MAX_SERVERS; i++) {
        if (listeners[i].server == server) {
            listeners[i].http = NULL;
            listeners[i].server = NULL;
        }
    }
}
