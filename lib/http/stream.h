/* Streaming responses (Server-Sent Events): a 200 whose body stays open and takes writes for
 * as long as the client reads them. A stream is a reply like any other (logged and counted
 * when it starts, the request's context freed), then lives on its connection, which keeps
 * counting against the connection cap, until one of:
 *   - its owner ends it (http_stream_end): the last bytes and the final chunk are written,
 *     and a client that does not take them within the linger time is disconnected;
 *   - the client goes, or the connection fails, or the client read nothing for the idle
 *     timeout while output waited;
 *   - the client has not taken more than max_buffered bytes of what was written before
 *     (a reader that keeps up takes each loop turn's writes, a burst of events included,
 *     before the next turn): it is cut off. One turn's writes are bounded as well (four
 *     times max_buffered), so nothing is buffered without bound (the kernel's socket
 *     buffer aside, which is kept small).
 * Whatever the cause, on_end runs exactly once, later, from the loop (never inside a call
 * of this module), after which the stream is freed: the owner must drop its pointer then.
 * Bytes the client sends on a streaming connection are read and dropped. */
#ifndef WF_HTTP_STREAM_H
#define WF_HTTP_STREAM_H

#include "http/server.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct http_stream http_stream;

typedef enum {
    HTTP_STREAM_ENDED,       /* http_stream_end */
    HTTP_STREAM_CLIENT_GONE, /* closed, failed or timed out by the client's side */
    HTTP_STREAM_SLOW_READER, /* cut off: the client left more than max_buffered bytes */
} http_stream_end_reason;

typedef struct {
    const char *content_type;
    size_t max_buffered; /* bytes waiting for the client (ours and the socket layer's) */
    void (*on_end)(void *arg, http_stream_end_reason reason);
    void *arg;
} http_stream_options;

/* A piece of output shared by many streams (one event's payload for every subscriber),
 * written without copying and freed when the last stream has sent or dropped it. */
typedef struct http_shared http_shared;
/* A copy of data with one reference, the caller's. */
http_shared *http_shared_new(const char *data, size_t len);
void http_shared_release(http_shared *piece);

/* Answers the request with 200 and the options' content type and keeps the response open
 * (the reply is logged and ctx freed, as by any reply). NULL when the connection cannot
 * stream (the server is draining, or the connection is not tracked): ctx is answered 503
 * then. Either way the caller must not touch ctx afterwards. */
http_stream *http_stream_start(http_ctx *ctx, const http_stream_options *options)
    __attribute__((warn_unused_result));

/* Queue bytes for the client (sent at the end of this loop turn, as one chunk with
 * whatever else was queued). False when the stream no longer takes writes (ending, gone,
 * cut off): the bytes are dropped. */
bool http_stream_write(http_stream *stream, const char *data, size_t len);
bool http_stream_write_shared(http_stream *stream, http_shared *piece);
/* Bytes queued and not yet taken by the client's socket. */
size_t http_stream_buffered(const http_stream *stream);
/* True once the stream takes no more writes (ended, cut off, or its client gone). */
bool http_stream_over(const http_stream *stream);

/* Finishes the response after what is queued; a client that has not taken it within
 * linger_ms is disconnected. on_end(HTTP_STREAM_ENDED) follows. */
void http_stream_end(http_stream *stream, int linger_ms);
/* The owner goes away for good: the connection is closed now, on_end is never called and
 * the stream is freed. */
void http_stream_abandon(http_stream *stream);

#endif
