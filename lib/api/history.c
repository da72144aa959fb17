/* GET /v1/storages/{id}/history and /forecast: a storage's fill over time for one waste
 * type, read from the ledger (docs/history.md). The handlers read and check the query (the
 * bucket layout and the forecast's arithmetic are core/history.h's), queue the statements
 * (engine/statements.c: ST_HISTORY, ST_FORECAST) and render the rows. Whoever may read the
 * storage may read these. */
#include "core/history.h"
#include "api/common.h"
#include "api/handlers.h"
#include "engine/statements.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

/* The required waste_type parameter (422 when absent or malformed). */
static bool waste_type_param(http_ctx *ctx, const char **code)
{
    if (!api_code_param(ctx, "waste_type", code)) {
        return false;
    }
    if (*code == NULL) {
        http_problem_invalid(ctx, "waste_type", "required: the waste type to look at");
        return false;
    }
    return true;
}

static int64_t now_us(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

/* An optional RFC 3339 time parameter; fallback when absent. */
static bool time_param(http_ctx *ctx, const char *name, int64_t fallback, int64_t *us)
{
    const char *text = http_query_param(ctx, name);
    *us = fallback;
    if (text != NULL && !history_parse_time(text, us)) {
        http_problem_invalid(ctx, name, "must be an RFC 3339 time, e.g. 2026-12-07T04:00:00Z");
        return false;
    }
    return true;
}

static void history_read(tx *t, const db_result *result)
{
    strbuf out = {0};
    strbuf_puts(&out, "{\"items\":[");
    for (int row = 0; row < db_rows(result, 2); row++) {
        strbuf_puts(&out, row > 0 ? ",{\"start\":" : "{\"start\":");
        repr_timestamp(&out, db_text(result, 2, row, 0));
        strbuf_puts(&out, ",\"in_kg\":");
        strbuf_puts(&out, db_text(result, 2, row, 1));
        strbuf_puts(&out, ",\"out_kg\":");
        strbuf_puts(&out, db_text(result, 2, row, 2));
        strbuf_puts(&out, ",\"stock_kg\":");
        strbuf_puts(&out, db_text(result, 2, row, 3));
        strbuf_puts(&out, "}");
    }
    strbuf_puts(&out, "]}");
    api_reply_buffer(t, 200, &out, NULL);
}

void handle_storages_history(http_ctx *ctx)
{
    const char *code;
    if (!waste_type_param(ctx, &code)) {
        return;
    }
    const char *bucket = http_query_param(ctx, "bucket");
    int64_t width_s = history_bucket_seconds(bucket != NULL ? bucket : "hour");
    if (width_s == 0) {
        http_problem_invalid(ctx, "bucket", "must be minute, hour or day");
        return;
    }
    int64_t to_us, from_us;
    if (!time_param(ctx, "to", now_us(), &to_us) ||
        !time_param(ctx, "from", to_us - history_default_span_us(width_s), &from_us)) {
        return;
    }
    history_buckets buckets;
    switch (history_lay_out(from_us, to_us, width_s, &buckets)) {
    case HISTORY_EMPTY:
        http_problem_invalid(ctx, "from", "must be before to");
        return;
    case HISTORY_TOO_MANY:
        http_problem_invalid(ctx, "bucket",
                             "the range from..to holds more than 1000 buckets of this size");
        return;
    case HISTORY_OK:
        break;
    }
    if (buckets.first_us < HISTORY_TIME_MIN_US) {
        http_problem_invalid(ctx, "from", "must not lie before 0001-01-01T00:00:00Z");
        return;
    }
    tx *t = tx_for(ctx);
    const char *id = tx_int(t, ctx->match.ids[0]);
    tx_q0(t, ST_NO_JIT);
    tx_q(t, ST_HIST_CHECK, id, code);
    tx_q(t, ST_HISTORY, id, code, tx_int(t, buckets.first_us), tx_int(t, width_s),
         tx_int(t, buckets.count));
    tx_run(t, TX_READ, history_read);
}

static void forecast_read(tx *t, const db_result *result)
{
    const char *code = tx_user(t);
    strbuf out = {0};
    strbuf_puts(&out, "{\"waste_type\":");
    strbuf_json_string(&out, code);
    strbuf_puts(&out, ",\"stock\":");
    strbuf_puts(&out, db_text(result, 2, 0, 0));
    strbuf_puts(&out, ",\"reserved\":");
    strbuf_puts(&out, db_text(result, 2, 0, 1));
    strbuf_puts(&out, ",\"remaining\":");
    strbuf_puts(&out, db_text(result, 2, 0, 2));
    const char *rate = db_text(result, 2, 0, 3);
    strbuf_puts(&out, ",\"rate_kg_per_day\":");
    strbuf_puts(&out, rate);
    strbuf_puts(&out, ",\"full_at\":");
    double seconds = 0;
    int64_t now = db_int64(result, 2, 0, 4);
    if (forecast_seconds_to_full(db_int64(result, 2, 0, 2), strtod(rate, NULL), &seconds) &&
        seconds < (double)(HISTORY_TIME_MAX_US - now) / 1e6) {
        char at[HISTORY_TIME_TEXT_SIZE];
        history_format_time(now + (int64_t)(seconds * 1e6), at);
        strbuf_json_string(&out, at);
    } else {
        strbuf_puts(&out, "null");
    }
    strbuf_puts(&out, "}");
    api_reply_buffer(t, 200, &out, NULL);
}

void handle_storages_forecast(http_ctx *ctx)
{
    const char *code;
    if (!waste_type_param(ctx, &code)) {
        return;
    }
    int64_t window_s = FORECAST_WINDOW_DEFAULT;
    const char *text = http_query_param(ctx, "window_s");
    if (text != NULL) {
        char *end = NULL;
        errno = 0;
        long long value = strtoll(text, &end, 10);
        if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0 ||
            value < FORECAST_WINDOW_MIN || value > FORECAST_WINDOW_MAX) {
            http_problem_invalid(ctx, "window_s", "must be an integer from 60 to 31536000");
            return;
        }
        window_s = value;
    }
    tx *t = tx_for(ctx);
    const char *id = tx_int(t, ctx->match.ids[0]);
    tx_set_user(t, (void *)tx_text(t, code));
    tx_q0(t, ST_NO_JIT);
    tx_q(t, ST_HIST_CHECK, id, code);
    tx_q(t, ST_FORECAST, id, code, tx_int(t, window_s));
    tx_run(t, TX_READ, forecast_read);
}
