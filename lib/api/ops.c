/* Operations endpoints: liveness, readiness, Prometheus metrics, the OpenAPI document and
 * its Swagger UI page, and the per-type totals of /v1/stats. */
#include "api/app.h"
#include "api/common.h"
#include "api/docs_assets.h"
#include "api/handlers.h"
#include "api/statements.h"
#include "util/embedded.h"
#include "util/log.h"
#include "util/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void handle_healthz(http_ctx *ctx)
{
    static const char body[] = "{\"status\":\"ok\"}";
    http_reply_json(ctx, 200, body, sizeof body - 1);
}

static void ready(api_tx *tx, const db_result *result)
{
    if (result->status != DB_OK) {
        api_tx_problem(tx, 503, "service-unavailable", "Service Unavailable",
                       "The database is not answering.");
        return;
    }
    api_tx_ok(tx, 200, strdup("{\"status\":\"ready\"}"), NULL);
}

void handle_readyz(http_ctx *ctx)
{
    if (!db_pool_ready(app_of(ctx)->pool)) {
        http_reply_unavailable(ctx, "No database connection is usable.");
        return;
    }
    api_req *req = api_req_for(ctx);
    if (req == NULL) {
        return;
    }
    /* Readiness must answer fast even when the pool queue is long. */
    int64_t short_deadline = clock_ms() + 2000;
    if (ctx->deadline_ms > short_deadline) {
        ctx->deadline_ms = short_deadline;
    }
    api_req_add(req, ST_PING, 0, 0);
    api_req_run(ctx, req, TX_NONE, ready);
}

static void render_metrics(http_ctx *ctx, const db_result *pending)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (out == NULL) {
        http_reply_unavailable(ctx, "Out of memory.");
        return;
    }
    metrics_render(out);
    db_pool_stats pool = db_pool_get_stats(app_of(ctx)->pool);
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
    if (pending != NULL) {
        fprintf(out, "# HELP wasteflow_pending_kilograms Waste pending at organizations.\n"
                     "# TYPE wasteflow_pending_kilograms gauge\n");
        for (int row = 0; row < db_rows(pending, 0); row++) {
            fprintf(out, "wasteflow_pending_kilograms{waste_type=\"%s\"} %s\n",
                    db_text(pending, 0, row, 0), db_text(pending, 0, row, 1));
        }
    }
    fclose(out);
    http_reply_text(ctx, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
}

static void metrics_with_pending(api_tx *tx, const db_result *result)
{
    /* Answers directly: the tx ends with the reply (its connection is released then). */
    http_ctx *ctx = api_tx_ctx(tx);
    render_metrics(ctx, result->status == DB_OK ? result : NULL);
}

void handle_metrics(http_ctx *ctx)
{
    api_req *req = api_req_new();
    if (req == NULL) {
        render_metrics(ctx, NULL);
        return;
    }
    api_req_add(req, ST_PENDING_BY_TYPE, 0, 0);
    api_req_run(ctx, req, TX_NONE, metrics_with_pending);
}

void handle_openapi(http_ctx *ctx)
{
    const embedded_file *doc = embedded_find(embedded_docs, embedded_docs_count, "openapi.json");
    if (doc == NULL) {
        api_reply_not_found(ctx, "The OpenAPI document");
        return;
    }
    http_reply_text(ctx, 200, "application/json", doc->data, doc->len);
}

void handle_docs(http_ctx *ctx)
{
    const embedded_file *page = embedded_find(embedded_docs, embedded_docs_count, "docs.html");
    if (page == NULL) {
        api_reply_not_found(ctx, "The documentation page");
        return;
    }
    http_reply_text(ctx, 200, "text/html; charset=utf-8", page->data, page->len);
}

void handle_docs_asset(http_ctx *ctx)
{
    http_add_header(ctx, "Cache-Control", "public, max-age=86400");
    if (strcmp(ctx->path, "/docs/swagger-initializer.js") == 0) {
        const embedded_file *js =
            embedded_find(embedded_docs, embedded_docs_count, "swagger-initializer.js");
        if (js != NULL) {
            http_reply_text(ctx, 200, "application/javascript; charset=utf-8", js->data, js->len);
            return;
        }
    }
    for (int i = 0; i < docs_asset_count; i++) {
        if (strcmp(ctx->path, docs_assets[i].path) == 0) {
            http_reply_text(ctx, 200, docs_assets[i].content_type, docs_assets[i].start,
                            (size_t)(docs_assets[i].end - docs_assets[i].start));
            return;
        }
    }
    api_reply_not_found(ctx, "The documentation file");
}

void handle_stats(http_ctx *ctx)
{
    api_req *req = api_req_for(ctx);
    if (req == NULL) {
        return;
    }
    api_req_add(req, ST_STATS, 0, 0);
    api_req_run(ctx, req, TX_NONE, api_reply_json_row);
}
