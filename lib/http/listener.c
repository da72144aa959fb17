/* The listener: the connection cap (at max_connections, clamped to what the open-file
 * limit allows, the listener pauses, and resumes when a connection goes; at the cap the
 * idle reclaim of reclaim.c is armed), and accept errors (EMFILE and friends pause the
 * listener a moment and are logged once a second: accepting again at once would spin).
 * Calls no other file of lib/http: the idle reclaim is an event reclaim.c assigned. */
#include "http/internal.h"

#include "util/log.h"

#include <errno.h>
#include <event2/listener.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

/* How long the listener rests after an accept error. */
#define ACCEPT_REST_MS 250
/* How often, at the connection cap, idle connections over their budget are looked for. */
#define IDLE_RECLAIM_MS 250

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

void conn_listener_free(http_server *server)
{
    evtimer_del(&server->accept_rest);
    for (int i = 0; i < MAX_SERVERS; i++) {
        if (listeners[i].server == server) {
            listeners[i].http = NULL;
            listeners[i].server = NULL;
        }
    }
}
