/* See export.h. A job's life:
 *   FETCHING  a page's read is on the pool (job->fetching)
 *   WAITING   the client holds more than EXPORT_HIGH_WATER unsent bytes: the timer polls
 *             until it takes them (job->wait armed)
 *   gone      the stream ended (client went, was cut off, or the file was finished): the job
 *             is freed at once, or when the read in flight comes back. */
#include "engine/export.h"
#include "engine/statements.h"
#include "engine/tx.h"
#include "http/stream.h"
#include "util/csv.h"
#include "util/log.h"
#include "util/mem.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT_PAGE_ROWS  1000
#define EXPORT_HIGH_WATER (256 * 1024)
#define EXPORT_MAX_BUFFER (4 * 1024 * 1024)
#define EXPORT_WAIT_MS    5
#define EXPORT_LINGER_MS  30000
#define EXPORT_COLUMNS    15

typedef struct {
    wf_app *app;
    http_stream *stream; /* NULL once gone */
    char *from, *to;
    int64_t after_id;
    int64_t rows;
    bool fetching;
    bool last; /* the page just read was the last */
    struct event *wait;
} export_job;

static void job_free(export_job *job)
{
    if (job->wait != NULL) {
        event_free(job->wait);
    }
    free(job->from);
    free(job->to);
    free(job);
}

static void fetch_page(export_job *job);

static void page_read(tx *t, const db_result *result)
{
    export_job *job = tx_user(t);
    int rows = db_rows(result, 0);
    strbuf out = {0};
    for (int row = 0; row < rows; row++) {
        for (int col = 0; col < EXPORT_COLUMNS; col++) {
            csv_field(&out, db_text(result, 0, row, col), col == 0);
        }
        csv_end_record(&out);
    }
    if (rows > 0) {
        job->after_id = db_int64(result, 0, rows - 1, 0);
    }
    job->rows += rows;
    job->last = rows < EXPORT_PAGE_ROWS;
    if (strbuf_failed(&out)) {
        strbuf_free(&out);
        tx_fail(t, PROBLEM_UNAVAILABLE, "out of memory");
        return;
    }
    if (job->stream != NULL && out.len > 0) {
        http_stream_write(job->stream, out.data, out.len);
    }
    strbuf_free(&out);
    tx_finish(t);
}

/* The next page, or a wait for the client to take what it has. */
static void continue_export(export_job *job)
{
    if (http_stream_buffered(job->stream) > EXPORT_HIGH_WATER) {
        struct timeval tv = {0, EXPORT_WAIT_MS * 1000};
        evtimer_add(job->wait, &tv);
        return;
    }
    fetch_page(job);
}

static void page_done(tx *t, tx_outcome outcome)
{
    export_job *job = tx_user(t);
    job->fetching = false;
    if (job->stream == NULL) {
        job_free(job); /* the client went while the page was read */
        return;
    }
    if (outcome != TX_OK) {
        char count[24];
        snprintf(count, sizeof count, "%lld", (long long)job->rows);
        log_event(LOG_WARN, "export: database read failed, file cut short", "rows", count, NULL);
        http_stream_abandon(job->stream);
        job_free(job);
        return;
    }
    if (job->last) {
        http_stream_end(job->stream, EXPORT_LINGER_MS); /* on_end frees the job */
        return;
    }
    continue_export(job);
}

static void fetch_page(export_job *job)
{
    wf_app *app = job->app;
    tx *t = tx_background(app, clock_ms() + app->cfg->request_timeout_ms, page_done);
    tx_set_user(t, job);
    tx_q(t, ST_EX_MOVEMENTS, tx_int(t, job->after_id), job->from, job->to,
         tx_int(t, EXPORT_PAGE_ROWS));
    job->fetching = true;
    tx_run(t, TX_READ, page_read);
}

static void on_wait(evutil_socket_t fd, short events, void *arg)
{
    (void)fd;
    (void)events;
    export_job *job = arg;
    if (job->stream != NULL && !http_stream_over(job->stream)) {
        continue_export(job);
    }
}

static void on_end(void *arg, http_stream_end_reason reason)
{
    export_job *job = arg;
    job->stream = NULL;
    if (reason != HTTP_STREAM_ENDED) {
        log_event(LOG_INFO, "export: client stopped reading", "reason",
                  reason == HTTP_STREAM_SLOW_READER ? "slow reader" : "client gone", NULL);
    }
    if (!job->fetching) {
        job_free(job);
    }
}

void export_movements(wf_app *app, http_ctx *ctx, const char *from, const char *to)
{
    export_job *job = xcalloc(1, sizeof *job);
    job->app = app;
    job->from = from != NULL ? xstrdup(from) : NULL;
    job->to = to != NULL ? xstrdup(to) : NULL;
    job->wait = evtimer_new(app->base, on_wait, job);
    http_stream_options options = {
        .content_type = "text/csv; charset=utf-8",
        .max_buffered = EXPORT_MAX_BUFFER,
        .on_end = on_end,
        .arg = job,
    };
    http_add_header(ctx, "Content-Disposition", "attachment; filename=\"movements.csv\"");
    job->stream = job->wait != NULL ? http_stream_start(ctx, &options) : NULL;
    if (job->stream == NULL) {
        if (job->wait == NULL) {
            http_problem(ctx, PROBLEM_UNAVAILABLE, "The export could not start; retry shortly.");
        }
        job_free(job);
        return;
    }
    static const char header[] = EXPORT_MOVEMENTS_HEADER "\r\n";
    http_stream_write(job->stream, header, sizeof header - 1);
    fetch_page(job);
}
