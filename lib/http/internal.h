/* What the HTTP module's own files share: the server, a connection's guard and a request's
 * private context, and each file's entry points for the others. Not for callers: their
 * interface is http/server.h (and http/stream.h). Which file may call which is in
 * lib/http/README.md: the calls go one way, from server.c down, never back up. */
#ifndef WF_HTTP_INTERNAL_H
#define WF_HTTP_INTERNAL_H

#include "http/head_scan.h"
#include "http/server.h"
#include "util/client_address.h"
#include "util/rate_limit.h"

#include <event2/bufferevent.h>
#include <event2/event_struct.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct conn_guard conn_guard;
/* What the guard tells a streaming response (conn_watch): its reply was written to the end
 * (connection_gone false), or its connection is going away. */
typedef void (*conn_watch_fn)(void *arg, bool connection_gone);

/* Why the server closed a connection (close.c: conn_close). */
typedef enum {
    CONN_CLOSE_HEADER_TIMEOUT,     /* a request did not arrive whole in time */
    CONN_CLOSE_REFUSED_BODY,       /* after a 413 sent before its body was read */
    CONN_CLOSE_IDLE_NEWER,         /* idle or unread, for a newer one from the same client */
    CONN_CLOSE_IDLE_AT_CAP,        /* idle or unread beyond its client's budget at the cap */
    CONN_CLOSE_OUTPUT_BUDGET,      /* holding the most unsent bytes over the output budget */
    CONN_CLOSE_STREAM_SLOW_READER, /* a stream's reader fell too far behind */
    CONN_CLOSE_STREAM_LINGER,      /* a stream's client did not take its end in time */
    CONN_CLOSE_STREAM_ABANDONED,   /* a stream's owner went away (http_stream_abandon) */
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

/* A connection's guard (connections.c): made with the connection's bufferevent, freed
 * when evhttp frees the connection. Its fields are read by reclaim.c (which connections to
 * close) and close.c (the log line). */
struct conn_guard {
    http_server *server;
    struct bufferevent *bev;
    struct evhttp_connection *connection; /* set on attach */
    struct event attach;
    struct event deadline;
    bool responding; /* a request is in flight until its reply is written */
    /* A streaming response's watcher (conn_watch), told when the response is done or the
     * connection goes; NULL when the connection carries no stream. */
    conn_watch_fn watch;
    void *watch_arg;
    int64_t active_ms; /* when something last happened on it */
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
    /* The request head being read (HEAD_SCAN_OVERSIZED: answered 413 here, everything
     * read is dropped; HEAD_SCAN_WAIT: a request is in flight). */
    head_scan head;
};

typedef struct {
    struct evkeyvalq params;
    bool parsed;
} query_state;

/* A request's context with what only lib/http sees (request.c makes and frees it). */
struct ctx_private {
    http_ctx ctx;
    conn_guard *guard; /* its connection's guard: counts the reply until written */
    query_state query;
    char *body_copy;
};

/* ---- request.c: a request's context, from birth to free ---- */
/* The context of a request evhttp has read whole; it counts as in flight from now on. */
struct ctx_private *request_new(http_server *server, struct evhttp_request *req);
/* A fresh request id (16 hex digits) for a request that brought none. */
void request_id_new(http_server *server, char id[static 17]);
/* Every field of a request header, in order, joined by ", " (RFC 9110 5.3) in the request's
 * arena; NULL when there is none. */
const char *http_header_joined(http_ctx *ctx, const char *name);
/* The reply is handed to evhttp: frees the context and everything the request owned. A
 * request on a guarded connection stays in flight until the guard sees its reply written;
 * any other is done now. */
void request_free(http_ctx *ctx);

/* ---- reply.c: replies, problems and CORS ---- */
/* The 204 answer to a CORS preflight of a path whose methods are allowed. */
void http_reply_preflight(http_ctx *ctx, int allowed);
/* The headers every response carries (X-Request-Id, nosniff, CORS, and Connection: close
 * while draining), and the access log line and metrics of a reply. */
void http_reply_common_headers(http_ctx *ctx);
void http_reply_logged(http_ctx *ctx, int status);
/* The 413 for a body over the limit, written straight to a connection's socket before the
 * body is read (evhttp writes nothing on a connection between requests), logged and
 * counted; the sending side is shut. request_line is the head's first line, for the log. */
void http_reply_oversized_raw(http_server *server, int fd, int64_t declared, int64_t limit,
                              const char *request_line);

/* ---- rate.c: the rate limit's tables, made (or not, when it is off) and freed with the
 * server. ---- */
void rate_limits_new(http_server *server);
void rate_limits_free(http_server *server);

/* ---- close.c: the one way the server ends a connection ---- */
/* Logs and counts why, then frees the connection (its guard goes with it, in the guard's
 * close callback). Never from a callback of the connection itself. */
void conn_close(conn_guard *guard, conn_close_reason reason);
/* The reason's label in logs and metrics ("header_timeout", ...). */
const char *conn_close_reason_name(conn_close_reason reason);

/* ---- listener.c: the listener ---- */
/* Clamps max_connections to what the open-file limit allows and installs the listener's
 * accept-error handling; after the socket is bound. */
void conn_listener_ready(http_server *server);
/* Stops the listener's timers (server free). */
void conn_listener_free(http_server *server);
/* Pauses or resumes accepting as the count and state say; at the cap, arms the idle
 * reclaim (reclaim.c). */
void conn_update_listener(http_server *server);

/* ---- reclaim.c: which connections make room ---- */
/* Assigns the server's reclaim events (the idle reclaim at the cap, the output budget's
 * check), and deletes them. */
void reclaim_init(http_server *server);
void reclaim_free(http_server *server);
/* A newcomer from an address over its idle budget: that address's connection quiet the
 * longest closes. */
void reclaim_for_newcomer(conn_guard *newcomer);

/* ---- connections.c: each client connection from accept to close ---- */
/* evhttp's bufferevent callback: a new connection and its guard. */
struct bufferevent *conn_new(struct event_base *base, void *server);
/* A request has fully arrived on its connection: no more deadline until its reply is
 * written, and the reply counts as in flight until then. Sets the request's client address
 * (behind a trusted proxy, the one it forwarded), which the connection is then counted as
 * for the per-address idle budget. */
void conn_request_arrived(http_server *server, struct ctx_private *priv);
/* The connection now carries a streaming response (watch NULL: no longer): the guard calls
 * watch when the response is written to its end (the request is freed right after) or the
 * connection goes, and drops what the client sends meanwhile. */
void conn_watch(conn_guard *guard, conn_watch_fn watch, void *arg);

#endif
