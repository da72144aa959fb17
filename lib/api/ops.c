/* Operations endpoints: liveness, readiness, Prometheus metrics and the per-type totals of
 * /v1/stats. */
#include "api/common.h"
#include "api/handlers.h"
#include "engine/balance_days.h"
#include "engine/events.h"
#include "engine/graph_cache.h"
#include "engine/ready_probe.h"
#include "engine/statements.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void handle_healthz(http_ctx *ctx)
{
    static const char body[] = "{\"status\":\"ok\"}";
    http_reply_json(ctx, 200, body, sizeof body - 1);
}

static void readiness(void *arg, bool ready)
{
    http_ctx *ctx = arg;
    if (!ready) {
        http_problem(ctx, PROBLEM_UNAVAILABLE, "The database did not answer.");
        return;
    }
    static const char body[] = "{\"status\":\"ready\"}";
    http_reply_json(ctx, 200, body, sizeof body - 1);
}

void handle_readyz(http_ctx *ctx)
{
    if (!db_pool_ready(app_of(ctx)->pool)) {
        http_problem(ctx, PROBLEM_UNAVAILABLE, "No database connection is usable.");
        return;
    }
    if (graph_cache_loading(app_of(ctx))) {
        /* Not ready until the start-up load of the road graph has ended: a request before
         * it waits for that load (or, for those that do not wait, loads every road
         * itself), seconds at a million roads. */
        http_add_header(ctx, "Retry-After", "1");
        http_problem(ctx, PROBLEM_UNAVAILABLE, "Loading the road graph.");
        return;
    }
    /* One round trip answers every asker for 100 ms: anyone may ask, as often as they like.
     * Readiness must answer fast even when the pool queue is long. */
    ready_probe_ask(app_of(ctx)->ready, clock_ms() + 2000, readiness, ctx);
}

static void events_render_metrics(FILE *out, events_stats stats)
{
    fprintf(out,
            "# HELP wasteflow_event_streams Event streams (GET /v1/events) open on this instance.\n"
            "# TYPE wasteflow_event_streams gauge\n"
            "wasteflow_event_streams %d\n"
            "# HELP wasteflow_event_buffered_bytes Bytes waiting for the event streams' readers.\n"
            "# TYPE wasteflow_event_buffered_bytes gauge\n"
            "wasteflow_event_buffered_bytes %zu\n"
            "# HELP wasteflow_events_sent_total Events written to streams, by event.\n"
            "# TYPE wasteflow_events_sent_total counter\n",
            stats.streams, stats.buffered_bytes);
    for (int kind = 0; kind < EVENT__COUNT; kind++) {
        fprintf(out, "wasteflow_events_sent_total{event=\"%s\"} %llu\n", event_name(kind),
                (unsigned long long)stats.sent[kind]);
    }
    fprintf(
        out,
        "# HELP wasteflow_event_slow_readers_cut_total Event streams cut off for not reading.\n"
        "# TYPE wasteflow_event_slow_readers_cut_total counter\n"
        "wasteflow_event_slow_readers_cut_total %llu\n"
        "# HELP wasteflow_event_listener_up 1 while the event feed is read (a stream is open).\n"
        "# TYPE wasteflow_event_listener_up gauge\n"
        "wasteflow_event_listener_up %d\n"
        "# HELP wasteflow_event_listener_reconnects_total Times the event feed could not be "
        "read and then could again.\n"
        "# TYPE wasteflow_event_listener_reconnects_total counter\n"
        "wasteflow_event_listener_reconnects_total %llu\n"
        "# HELP wasteflow_event_polls_total Reads of the event feed.\n"
        "# TYPE wasteflow_event_polls_total counter\n"
        "wasteflow_event_polls_total %llu\n",
        (unsigned long long)stats.slow_readers_cut, stats.listening ? 1 : 0,
        (unsigned long long)stats.listener_reconnects, (unsigned long long)stats.polls);
}

static void metrics_read(tx *t, const db_result *pending)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (out == NULL) {
        mem_exhausted(4096);
    }
    metrics_render(out);
    db_pool_stats pool = db_pool_get_stats(tx_app(t)->pool);
    fprintf(out,
            "# HELP wasteflow_db_pool_connections Database connections by state.\n"
            "# TYPE wasteflow_db_pool_connections gauge\n"
            "wasteflow_db_pool_connections{state=\"in_use\"} %d\n"
            "wasteflow_db_pool_connections{state=\"idle\"} %d\n"
            "wasteflow_db_pool_connections{state=\"disconnected\"} %d\n"
            "# HELP wasteflow_db_pool_waiting Requests waiting for a database connection.\n"
            "# TYPE wasteflow_db_pool_waiting gauge\n"
            "wasteflow_db_pool_waiting %d\n"
            "# HELP wasteflow_db_errors_total Failed database batches.\n"
            "# TYPE wasteflow_db_errors_total counter\n"
            "wasteflow_db_errors_total %llu\n"
            "# HELP wasteflow_db_reconnects_total Database reconnects.\n"
            "# TYPE wasteflow_db_reconnects_total counter\n"
            "wasteflow_db_reconnects_total %llu\n"
            "# HELP wasteflow_db_query_timeouts_total Batches dropped by the pool's timer.\n"
            "# TYPE wasteflow_db_query_timeouts_total counter\n"
            "wasteflow_db_query_timeouts_total %llu\n",
            pool.leased, pool.idle, pool.size - pool.connected, pool.waiting,
            (unsigned long long)pool.errors, (unsigned long long)pool.reconnects,
            (unsigned long long)pool.timeouts);
    http_server_render_metrics(tx_app(t)->server, out);
    fprintf(out,
            "# HELP wasteflow_readyz_checks_total Database round trips made for GET /readyz.\n"
            "# TYPE wasteflow_readyz_checks_total counter\n"
            "wasteflow_readyz_checks_total %llu\n",
            (unsigned long long)ready_probe_round_trips(tx_app(t)->ready));
    fprintf(out,
            "# HELP wasteflow_balance_days_filled_total Days of the balance checkpointed by this "
            "instance.\n"
            "# TYPE wasteflow_balance_days_filled_total counter\n"
            "wasteflow_balance_days_filled_total %llu\n"
            "# HELP wasteflow_balance_days_looks_total Looks of this instance for the next day "
            "of the balance to checkpoint, finished.\n"
            "# TYPE wasteflow_balance_days_looks_total counter\n"
            "wasteflow_balance_days_looks_total %llu\n",
            (unsigned long long)balance_filler_days(tx_app(t)->balance_days),
            (unsigned long long)balance_filler_looks(tx_app(t)->balance_days));
    if (tx_app(t)->events != NULL) {
        events_render_metrics(out, events_get_stats(tx_app(t)->events));
    }
    fprintf(out, "# HELP wasteflow_pending_kilograms Waste pending at organizations.\n"
                 "# TYPE wasteflow_pending_kilograms gauge\n");
    for (int row = 0; row < db_rows(pending, 0); row++) {
        fprintf(out, "wasteflow_pending_kilograms{waste_type=\"%s\"} %s\n",
                db_text(pending, 0, row, 0), db_text(pending, 0, row, 1));
    }
    fclose(out);
    tx_set_content_type(t, "text/plain; version=0.0.4; charset=utf-8");
    tx_reply(t, 200, text, NULL);
}

void handle_metrics(http_ctx *ctx)
{
    tx *t = tx_for(ctx);
    tx_q0(t, ST_PENDING_BY_TYPE);
    tx_run(t, TX_READ, metrics_read);
}

static void stats_read(tx *t, const db_result *result)
{
    static const char *const names[] = {"generated", "pending",   "stored",     "unloaded",
                                        "capacity",  "remaining", "in_transit", "variance"};
    strbuf out = {0};
    strbuf_puts(&out, "{");
    for (int row = 0; row < db_rows(result, 0); row++) {
        strbuf_puts(&out, row ? ",\"" : "\"");
        strbuf_puts(&out, db_text(result, 0, row, 0));
        strbuf_puts(&out, "\":{");
        for (int k = 0; k < 8; k++) {
            strbuf_printf(&out, "%s\"%s\":%s", k ? "," : "", names[k],
                          db_text(result, 0, row, k + 1));
        }
        strbuf_puts(&out, "}");
    }
    strbuf_puts(&out, "}");
    api_reply_buffer(t, 200, &out, NULL);
}

void handle_stats(http_ctx *ctx)
{
    tx *t = tx_for(ctx);
    tx_q0(t, ST_STATS);
    tx_run(t, TX_READ, stats_read);
}
