/* What the HTTP module's own files share (server.c: admission and the server's life;
 * reply.c: replies, problems and CORS; connections.c: each client connection from accept
 * to close). Not for callers: their interface is http/server.h. */
#ifndef WF_HTTP_INTERNAL_H
#define WF_HTTP_INTERNAL_H

#include "http/server.h"
#include "http/stream.h"
#include "util/client_address.h"
#include "util/rate_limit.h"

#include <event2/bufferevent.h>
#include <event2/event_struct.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct conn_guard conn_guard;

/* Why the server closed a connection (connections.c: conn_close). */
typedef enum {
    CONN_CLOSE_HEADER_TIMEOUT, /* a request did not arrive whole in time */
    CONN_CLOSE_REFUSED_BODY,   /* after a 413 sent before its body was read */
    CONN_CLOSE_IDLE_NEWER,     /* idle or unread, for a newer one from the same client */
    CONN_CLOSE_IDLE_AT_CAP,    /* idle or unread beyond its client's budget at the cap */
    CONN_CLOSE_OUTPUT_BUDGET,  /* holding the most unsent bytes over the output budget */
    CONN_CLOSE__COUNT
} conn_close_reason;

struct http_server {
    struct event_base *base;
    conn_guard *guards; /* open connections, most recent first */
    struct evhttp *http;
    struct evhttp_bound_socket *bound;
    http_server_options options; /* max_connections clamped to the open-file limit */
    int port;
    int inflight;
    int connections;           /* open client connections */
    bool accept_paused;        /* listener disabled at max_connections */
    bool accept_resting;       /* listener disabled for a moment after an accept error */
    struct event accept_rest;  /* ends the rest */
    struct event idle_reclaim; /* at the cap: closes connections over an idle budget */
    bool idle_reclaim_armed;
    size_t unsent_bytes;       /* reply bytes waiting in every connection's output buffer */
    struct event output_check; /* over the output budget: closes the biggest holders */
    bool output_check_armed;
    int reads_paused; /* connections not read while their replies wait */
    uint64_t closed[CONN_CLOSE__COUNT];
    int64_t accept_error_logged_ms;
    uint64_t accept_errors_quiet; /* errors since the last log line */
    bool draining;                /* stopped accepting: replies close their connection */
    struct event listener_drain;  /* closes the listener once its backlog is accepted */
    int64_t listener_close_ms;    /* closes it by then in any case */
    uint64_t next_request_id;
    uint64_t id_salt;
    /* The rate limit's buckets (rate.c): credentials, and client addresses of requests
     * without valid credentials, apart, so a flood of the one never evicts the other. */
    rate_table *rate_credentials;
    rate_table *rate_addresses;
    proxy_list trusted_proxies;
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

/* server.c: frees the context and everything the request owned. */
void http_ctx_free(http_ctx *ctx);
/* server.c: every field of a request header, in order, joined by ", " (RFC 9110 5.3) in
 * the request's arena; NULL when there is none. */
const char *http_header_joined(http_ctx *ctx, const char *name);

/* reply.c: the 204 answer to a CORS preflight of a path whose methods are allowed. */
void http_reply_preflight(http_ctx *ctx, int allowed);
/* reply.c: the headers every response carries (X-Request-Id, nosniff, CORS, and
 * Connection: close while draining), and the access log line and metrics of a reply. */
void http_reply_common_headers(http_ctx *ctx);
void http_reply_logged(http_ctx *ctx, int status);

/* stream.c, called by the connection's guard: the stream's response was written to its
 * end (the request is freed right after), or its connection is going away (a request that
 * evhttp detached from it is the stream's to free). */
void stream_request_done(http_stream *stream);
void stream_connection_gone(http_stream *stream);

/* rate.c: the rate limit's tables, made (or not, when it is off) and freed with the
 * server. */
void rate_limits_new(http_server *server);
void rate_limits_free(http_server *server);

/* connections.c */
/* evhttp's bufferevent callback: a new connection and its guard. */
struct bufferevent *conn_new(struct event_base *base, void *server);
/* A request has fully arrived on its connection: no more deadline until its reply is
 * written, and the reply counts as in flight until then. Sets the request's client address
 * (behind a trusted proxy, the one it forwarded), which the connection is then counted as
 * for the per-address idle budget. */
void conn_request_arrived(http_server *server, struct ctx_private *priv);
/* Clamps max_connections to what the open-file limit allows and installs the listener's
 * accept-error handling; after the socket is bound. */
void conn_listener_ready(http_server *server);
/* Stops the listener's timers (server free). */
void conn_listener_free(http_server *server);
/* Pauses or resumes accepting as the count and state say. */
void conn_update_listener(http_server *server);
/* The connection now carries a stream (NULL: no longer): its guard tells the stream when the
 * response is done or the connection goes, and drops what the client sends meanwhile. */
void conn_attach_stream(conn_guard *guard, http_stream *stream);

#endif
