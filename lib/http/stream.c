/* Streaming responses (see stream.h) on evhttp's chunked replies. A stream queues writes in
 * its own buffer and hands them to evhttp once per loop turn, from its own event; that
 * event also closes a cut-off connection (through conn_close, with the reason), sends the
 * final chunk and, once the request or the connection is gone (the guard tells, through
 * the watch the stream set on it: connections.c), reports the end to the owner and frees
 * the stream. So nothing the owner calls ever closes a connection or calls back
 * inside the call, and a stream is freed in one place. */
#include "http/stream.h"

#include "http/internal.h"

#include "util/log.h"
#include "util/mem.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* The kernel's send buffer of a streaming socket: a reader that stops reading pins this much
 * kernel memory (on top of max_buffered in ours) before it is cut off. */
#define STREAM_SNDBUF (64 * 1024)
/* One turn's writes (a burst of events for a reader that keeps up) may reach this many
 * times max_buffered before the stream is cut regardless. */
#define STREAM_TURN_MARGIN 4

struct http_shared {
    int references;
    size_t len;
    char data[];
};

typedef enum {
    STREAM_OPEN,   /* takes writes */
    STREAM_ENDING, /* http_stream_end: the final chunk goes out at the next turn */
    STREAM_ENDED,  /* the final chunk is queued; lingering until it is written */
    STREAM_CUT,    /* over max_buffered: the connection closes at the next turn */
    STREAM_GONE,   /* request and connection are gone: report and free */
} stream_state;

struct http_stream {
    stream_state state;
    http_stream_end_reason reason;
    struct evhttp_request *req;           /* NULL once freed (by evhttp, or by us) */
    struct evhttp_connection *connection; /* NULL once gone */
    conn_guard *guard;
    struct evbuffer *pending; /* queued since the last turn */
    struct event turn;        /* flushes, ends, cuts, reports */
    struct event linger;      /* disconnects a client that does not take the final chunk */
    size_t max_buffered;
    void (*on_end)(void *arg, http_stream_end_reason reason);
    void *arg;
    bool abandoned;
    /* For the closing log line. */
    int64_t start_us;
    uint64_t bytes;
    char request_id[129];
    char actor[AUTH_ACTOR_MAX];
};

http_shared *http_shared_new(const char *data, size_t len)
{
    http_shared *piece = xmalloc(sizeof *piece + len);
    piece->references = 1;
    piece->len = len;
    memcpy(piece->data, data, len);
    return piece;
}

void http_shared_release(http_shared *piece)
{
    if (piece != NULL && --piece->references == 0) {
        free(piece);
    }
}

/* evbuffer's cleanup of a reference: the bytes were sent or dropped. */
static void shared_sent(const void *data, size_t len, void *arg)
{
    http_shared_release(arg);
}

static void schedule(http_stream *stream)
{
    event_active(&stream->turn, EV_TIMEOUT, 0);
}

static struct evbuffer *socket_output(const http_stream *stream)
{
    struct bufferevent *bev =
        stream->connection != NULL ? evhttp_connection_get_bufferevent(stream->connection) : NULL;
    return bev != NULL ? bufferevent_get_output(bev) : NULL;
}

size_t http_stream_buffered(const http_stream *stream)
{
    struct evbuffer *output = socket_output(stream);
    return evbuffer_get_length(stream->pending) +
           (output != NULL ? evbuffer_get_length(output) : 0);
}

bool http_stream_over(const http_stream *stream)
{
    return stream->state != STREAM_OPEN;
}

static void stream_free(http_stream *stream)
{
    event_del(&stream->turn);
    evtimer_del(&stream->linger);
    evbuffer_free(stream->pending);
    free(stream);
}

static void log_closed(const http_stream *stream)
{
    static const char *const reasons[] = {
        [HTTP_STREAM_ENDED] = "ended",
        [HTTP_STREAM_CLIENT_GONE] = "client gone",
        [HTTP_STREAM_SLOW_READER] = "slow reader cut off",
    };
    char duration[32], bytes[24];
    snprintf(duration, sizeof duration, "%.3f", (double)(clock_us() - stream->start_us) / 1000.0);
    snprintf(bytes, sizeof bytes, "%llu", (unsigned long long)stream->bytes);
    log_event(stream->reason == HTTP_STREAM_SLOW_READER ? LOG_WARN : LOG_INFO, "stream closed",
              "reason", reasons[stream->reason], "duration_ms", duration, "bytes", bytes,
              "request_id", stream->request_id, "actor", stream->actor, NULL);
}

/* Closes the connection now (not from inside evhttp's own callbacks for it): the guard
 * calls connection_gone from inside. */
static void disconnect(http_stream *stream, conn_close_reason reason)
{
    if (stream->connection != NULL && stream->guard != NULL) {
        conn_close(stream->guard, reason);
    }
}

static void flush(http_stream *stream)
{
    size_t queued = evbuffer_get_length(stream->pending);
    if (queued > 0 && stream->req != NULL && stream->connection != NULL) {
        stream->bytes += queued;
        evhttp_send_reply_chunk(stream->req, stream->pending); /* moves the bytes */
    }
    evbuffer_drain(stream->pending, evbuffer_get_length(stream->pending));
}

/* What the client's socket has not taken of earlier turns' writes: a reader that keeps up
 * takes them between turns, whatever one turn wrote (a burst of events). */
static size_t left_over(const http_stream *stream)
{
    struct evbuffer *output = socket_output(stream);
    return output != NULL ? evbuffer_get_length(output) : 0;
}

static void cut(http_stream *stream)
{
    stream->state = STREAM_CUT;
    stream->reason = HTTP_STREAM_SLOW_READER;
    evbuffer_drain(stream->pending, evbuffer_get_length(stream->pending));
    schedule(stream);
}

static void on_turn(evutil_socket_t fd, short events, void *arg)
{
    http_stream *stream = arg;
    switch (stream->state) {
    case STREAM_OPEN:
        if (left_over(stream) > stream->max_buffered) {
            cut(stream);
            return;
        }
        flush(stream);
        return;
    case STREAM_ENDING:
        flush(stream);
        stream->state = STREAM_ENDED;
        if (stream->req != NULL) {
            /* Completes through the guard (request_done) once written. */
            evhttp_send_reply_end(stream->req);
        }
        return;
    case STREAM_ENDED:
        return;
    case STREAM_CUT:
        /* Ends in connection_gone, which schedules the report. */
        disconnect(stream, CONN_CLOSE_STREAM_SLOW_READER);
        return;
    case STREAM_GONE:
        log_closed(stream);
        if (stream->on_end != NULL && !stream->abandoned) {
            stream->on_end(stream->arg, stream->reason);
        }
        stream_free(stream);
        return;
    }
}

static void linger_over(evutil_socket_t fd, short events, void *arg)
{
    disconnect(arg, CONN_CLOSE_STREAM_LINGER);
}

static void guard_told(void *arg, bool connection_gone_now);

http_stream *http_stream_start(http_ctx *ctx, const http_stream_options *options)
{
    struct ctx_private *priv = (struct ctx_private *)ctx;
    struct evhttp_connection *connection = evhttp_request_get_connection(ctx->req);
    struct bufferevent *bev =
        connection != NULL ? evhttp_connection_get_bufferevent(connection) : NULL;
    if (ctx->server->draining || priv->guard == NULL || bev == NULL) {
        http_problem(ctx, PROBLEM_UNAVAILABLE,
                     ctx->server->draining ? "The service is shutting down; connect again."
                                           : "This connection cannot carry a stream.");
        return NULL;
    }
    http_stream *stream = xcalloc(1, sizeof *stream);
    stream->req = ctx->req;
    stream->connection = connection;
    stream->guard = priv->guard;
    stream->pending = evbuffer_new();
    if (stream->pending == NULL) {
        mem_exhausted(sizeof(struct evbuffer *));
    }
    stream->max_buffered = options->max_buffered;
    stream->on_end = options->on_end;
    stream->arg = options->arg;
    stream->start_us = ctx->start_us;
    snprintf(stream->request_id, sizeof stream->request_id, "%s", ctx->request_id);
    snprintf(stream->actor, sizeof stream->actor, "%s",
             ctx->authenticated ? ctx->principal.actor : "");
    struct event_base *base = bufferevent_get_base(bev);
    event_assign(&stream->turn, base, -1, 0, on_turn, stream);
    evtimer_assign(&stream->linger, base, linger_over, stream);

    http_reply_common_headers(ctx);
    http_add_header(ctx, "Content-Type", options->content_type);
    /* Nothing in between may cache or hold back the stream (nginx buffers unless told). */
    http_add_header(ctx, "Cache-Control", "no-store");
    http_add_header(ctx, "X-Accel-Buffering", "no");
    evhttp_send_reply_start(ctx->req, 200, "OK");
    /* The client sends nothing more while it listens: no read timeout (evhttp's would end
     * the stream), but a reader that takes nothing for the idle timeout while output waits
     * is disconnected by the write timeout. */
    struct timeval write_timeout = {ctx->server->options.idle_timeout_s, 0};
    bufferevent_set_timeouts(bev, NULL, &write_timeout);
    /* bufferevent writes at most 16 KiB a loop turn by default: a burst of events would
     * then still wait in our buffer on the next turn though the client keeps up. */
    bufferevent_set_max_single_write(bev, EV_SSIZE_MAX);
    int sndbuf = STREAM_SNDBUF;
    setsockopt(bufferevent_getfd(bev), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    conn_watch(priv->guard, guard_told, stream);
    http_reply_logged(ctx, 200);
    request_free(ctx);
    return stream;
}

/* A reader is judged by what it leaves of earlier turns (on_turn); within one turn the
 * writes are bounded too, by a margin over the limit, so nothing grows without bound. */
static bool accept_write(http_stream *stream, size_t len)
{
    if (stream->state != STREAM_OPEN) {
        return false;
    }
    if (http_stream_buffered(stream) + len > STREAM_TURN_MARGIN * stream->max_buffered) {
        cut(stream);
        return false;
    }
    schedule(stream);
    return true;
}

bool http_stream_write(http_stream *stream, const char *data, size_t len)
{
    if (!accept_write(stream, len)) {
        return false;
    }
    evbuffer_add(stream->pending, data, len);
    return true;
}

bool http_stream_write_shared(http_stream *stream, http_shared *piece)
{
    if (!accept_write(stream, piece->len)) {
        return false;
    }
    piece->references++;
    if (evbuffer_add_reference(stream->pending, piece->data, piece->len, shared_sent, piece) != 0) {
        piece->references--;
        evbuffer_add(stream->pending, piece->data, piece->len);
    }
    return true;
}

void http_stream_end(http_stream *stream, int linger_ms)
{
    if (stream->state != STREAM_OPEN) {
        return;
    }
    stream->state = STREAM_ENDING;
    stream->reason = HTTP_STREAM_ENDED;
    struct timeval tv = {linger_ms / 1000, (linger_ms % 1000) * 1000};
    evtimer_add(&stream->linger, &tv);
    schedule(stream);
}

void http_stream_abandon(http_stream *stream)
{
    stream->abandoned = true;
    if (stream->state == STREAM_GONE) {
        stream_free(stream); /* its report was still to come */
        return;
    }
    stream->state = STREAM_CUT;
    disconnect(stream, CONN_CLOSE_STREAM_ABANDONED); /* frees it, in connection_gone */
}

/* The request is done or gone, and so is the stream's part in the connection. */
static void gone(http_stream *stream)
{
    if (stream->state == STREAM_OPEN || stream->state == STREAM_ENDING) {
        stream->reason = HTTP_STREAM_CLIENT_GONE;
    }
    stream->state = STREAM_GONE;
    stream->req = NULL;
    stream->connection = NULL;
    stream->guard = NULL;
    evbuffer_drain(stream->pending, evbuffer_get_length(stream->pending));
    evtimer_del(&stream->linger);
    if (stream->abandoned) {
        stream_free(stream);
        return;
    }
    schedule(stream);
}

static void request_done(http_stream *stream)
{
    /* evhttp frees the request when this returns; the connection may serve another. */
    gone(stream);
}

static void connection_gone(http_stream *stream)
{
    /* A connection that failed under a response still being written detaches its request
     * (evhttp leaves it to its user): ours to free. One still attached goes with the
     * connection. */
    if (stream->req != NULL && evhttp_request_get_connection(stream->req) == NULL) {
        evhttp_request_free(stream->req);
    }
    gone(stream);
}

/* The guard's watch: the response was written to its end, or the connection goes. */
static void guard_told(void *arg, bool connection_gone_now)
{
    if (connection_gone_now) {
        connection_gone(arg);
    } else {
        request_done(arg);
    }
}
