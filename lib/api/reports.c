/* For auditors and regulators: GET /v1/exports/movements.csv, every movement as a CSV row,
 * streamed (engine/export.h); and GET /v1/reports/balance, each waste type's balance over a
 * period, shaped like /v1/stats. Both take an optional period [from, to) as RFC 3339
 * date-times. */
#include "api/common.h"
#include "api/handlers.h"
#include "core/history.h"
#include "engine/export.h"
#include "engine/statements.h"

/* from and to (NULL when absent); 422 naming the one that is not a date-time or a period
 * that ends before it starts. */
static bool period_params(http_ctx *ctx, const char **from, const char **to)
{
    static const char why[] = "must be an RFC 3339 date-time such as 2026-12-01T00:00:00Z";
    *from = http_query_param(ctx, "from");
    *to = http_query_param(ctx, "to");
    if (*from != NULL && !timestamp_valid(*from)) {
        http_problem_invalid(ctx, "from", why);
        return false;
    }
    if (*to != NULL && !timestamp_valid(*to)) {
        http_problem_invalid(ctx, "to", why);
        return false;
    }
    /* A period that ends before it starts is a client's mistake, not an empty answer (an empty
     * period, from = to, is a period). */
    int64_t from_us, to_us;
    if (*from != NULL && *to != NULL && history_parse_time(*from, &from_us) &&
        history_parse_time(*to, &to_us) && from_us > to_us) {
        http_problem_invalid(ctx, "from", "must not be after to");
        return false;
    }
    return true;
}

void handle_export_movements(http_ctx *ctx)
{
    const char *from, *to;
    if (!period_params(ctx, &from, &to)) {
        return;
    }
    export_movements(app_of(ctx), ctx, from, to);
}

static void balance_read(tx *t, const db_result *result)
{
    static const char *const names[] = {"generated", "accepted", "rejected",  "unloaded",
                                        "variance",  "pending",  "in_transit"};
    strbuf out = {0};
    strbuf_puts(&out, "{");
    for (int row = 0; row < db_rows(result, 1); row++) {
        strbuf_puts(&out, row ? ",\"" : "\"");
        strbuf_puts(&out, db_text(result, 1, row, 0));
        strbuf_puts(&out, "\":{");
        for (int k = 0; k < 7; k++) {
            strbuf_printf(&out, "%s\"%s\":%s", k ? "," : "", names[k],
                          db_text(result, 1, row, k + 1));
        }
        strbuf_puts(&out, "}");
    }
    strbuf_puts(&out, "}");
    api_reply_buffer(t, 200, &out, NULL);
}

typedef struct {
    const char *from, *to;
} balance_period;

/* The checkpoints' answer, or none: they do not cover the period (a new ledger, the days'
 * filler behind or not run yet), and the ledger alone answers, reading its shorter side. */
static void balance_days_read(tx *t, const db_result *result)
{
    if (db_rows(result, 1) > 0) {
        balance_read(t, result);
        return;
    }
    const balance_period *period = tx_user(t);
    tx_q0(t, ST_BALANCE_PLANS);
    if (period->from == NULL && period->to == NULL) {
        tx_q0(t, ST_BALANCE_ALL);
    } else {
        tx_q(t, ST_BALANCE, period->from, period->to, NULL);
    }
    tx_next(t, balance_read);
}

void handle_report_balance(http_ctx *ctx)
{
    const char *from, *to;
    if (!period_params(ctx, &from, &to)) {
        return;
    }
    tx *t = tx_for(ctx);
    balance_period *period = TX_NEW(t, balance_period);
    period->from = from;
    period->to = to;
    tx_set_user(t, period);
    /* Custom plans without JIT for each round (ST_BALANCE_PLANS). First the daily checkpoints
     * (ST_BALANCE_DAYS, engine/balance_days.h): whole days from them, the period's edges from
     * the ledger. Where they do not cover the period, the ledger alone: the whole ledger has
     * its own statement (nothing to replay, every row to read); otherwise NULL: the statement
     * picks the cheaper replay of pending and in transit at `to`. */
    tx_q0(t, ST_BALANCE_PLANS);
    tx_q(t, ST_BALANCE_DAYS, from, to);
    tx_run(t, TX_READ, balance_days_read);
}
