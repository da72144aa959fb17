/* The one way the server ends a client connection, whatever the cause (a deadline, a
 * refused body, the idle and output budgets, a stream's end): conn_close logs the reason
 * and counts it for the metrics, then frees the connection. evhttp's close callback (the
 * guard's, connections.c) then releases everything the connection held. Calls no other
 * file of lib/http. */
#include "http/internal.h"

#include "util/log.h"

#include <stdio.h>

static const char *const close_reason_names[CONN_CLOSE__COUNT] = {
    [CONN_CLOSE_HEADER_TIMEOUT] = "header_timeout",
    [CONN_CLOSE_REFUSED_BODY] = "refused_body",
    [CONN_CLOSE_IDLE_NEWER] = "idle_for_newer",
    [CONN_CLOSE_IDLE_AT_CAP] = "idle_at_cap",
    [CONN_CLOSE_OUTPUT_BUDGET] = "output_budget",
    [CONN_CLOSE_STREAM_SLOW_READER] = "stream_slow_reader",
    [CONN_CLOSE_STREAM_LINGER] = "stream_linger",
    [CONN_CLOSE_STREAM_ABANDONED] = "stream_abandoned",
};

/* Reasons whose closes the caller sums up in a log line of its own (reclaim.c), or that a
 * stream logs as it closes (stream.c): one line for each of these would repeat it. */
static bool summed_up_elsewhere(conn_close_reason reason)
{
    return reason == CONN_CLOSE_IDLE_AT_CAP || reason == CONN_CLOSE_OUTPUT_BUDGET ||
           reason == CONN_CLOSE_STREAM_SLOW_READER || reason == CONN_CLOSE_STREAM_LINGER ||
           reason == CONN_CLOSE_STREAM_ABANDONED;
}

void conn_close(conn_guard *guard, conn_close_reason reason)
{
    http_server *server = guard->server;
    server->closed[reason]++;
    log_level level = summed_up_elsewhere(reason) ? LOG_DEBUG : LOG_INFO;
    if (log_enabled(level)) {
        char unsent[24];
        snprintf(unsent, sizeof unsent, "%zu", guard->unsent);
        log_event(level, "connection closed", "reason", close_reason_names[reason], "client",
                  guard->peer, "unsent_bytes", unsent, NULL);
    }
    evhttp_connection_free(guard->connection);
}

const char *conn_close_reason_name(conn_close_reason reason)
{
    return close_reason_names[reason];
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
