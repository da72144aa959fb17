/* See export.h. One export is one background tx in TX_SNAPSHOT mode (BEGIN ISOLATION LEVEL
 * REPEATABLE READ READ ONLY) on a connection it keeps until the file is done:
 *   round 1   JIT off, DECLARE wf_export NO SCROLL CURSOR FOR <the query>, FETCH 1000
 *   round n   FETCH 1000 (tx_next), while the client holds at most EXPORT_HIGH_WATER bytes
 *   held      the client holds more: the callback ends with tx_hold and job->wait polls
 *             every EXPORT_WAIT_MS until it has taken them, then fetches again. The hold's
 *             deadline is the stream's own limit for a reader that takes nothing (the idle
 *             timeout) plus a margin, moved on each poll that finds the client took bytes.
 *   the end   a FETCH of fewer rows: tx_finish (the transaction is rolled back, it wrote
 *             nothing) and the stream ends with its final chunk.
 * Every row comes from the transaction's one snapshot: what commits meanwhile is not in the
 * file. The cursor's query is planned once, when it is opened, for the period's values.
 *
 * How the job ends (it is freed once both its tx and its stream are gone):
 *   - the client goes or is cut off (on_end): a held tx is finished at once, a FETCH in
 *     flight finishes it when it comes back; the connection returns to the pool;
 *   - the database fails (or a retry would start the file again): the stream is abandoned,
 *     so the client sees a chunked body without its last chunk, never a complete-looking
 *     file.
 *   - the server shuts down: exports run on while it drains; those still running at its
 *     deadline are cut short like a database failure (export_stop_all).
 * At most cfg->exports_max jobs run at once (app->export_jobs); more are answered 503 with
 * Retry-After before anything is streamed. */
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

#define EXPORT_HIGH_WATER (256 * 1024)
#define EXPORT_MAX_BUFFER (4 * 1024 * 1024)
#define EXPORT_WAIT_MS    5
#define EXPORT_LINGER_MS  30000
/* Beyond the stream's idle timeout, before a held transaction ends by itself. */
#define EXPORT_HOLD_MARGIN_MS 5000
#define EXPORT_COLUMNS        15
/* What a client refused for the cap is told to wait, in seconds. */
#define EXPORT_RETRY_AFTER "5"

typedef struct export_job {
    wf_app *app;
    struct export_job *next, *prev; /* app->export_jobs, for export_stop_all */
    http_stream *stream;            /* NULL once gone */
    tx *t;                          /* NULL once its done has run */
    char *from, *to;
    int64_t rows;
    bool declared;        /* round 1 ran: rows may have gone out */
    bool held;            /* the tx is held, job->wait armed */
    bool complete;        /* the last FETCH came back */
    size_t held_buffered; /* what the client held at the last poll */
    struct event *wait;
} export_job;

static void job_free(export_job *job)
{
    if (job->prev != NULL) {
        job->prev->next = job->next;
    } else {
        job->app->export_jobs = job->next;
    }
    if (job->next != NULL) {
        job->next->prev = job->prev;
    }
    if (job->wait != NULL) {
        event_free(job->wait);
    }
    free(job->from);
    free(job->to);
    free(job);
}

static int64_t hold_deadline(const export_job *job)
{
    return clock_ms() + (int64_t)job->app->cfg->idle_timeout_s * 1000 + EXPORT_HOLD_MARGIN_MS;
}

static void fetched(tx *t, const db_result *result);

/* Writes a FETCH's rows (query q of result); false when the stream takes no more. */
static bool write_rows(export_job *job, const db_result *result, int q, int *rows_out)
{
    int rows = db_rows(result, q);
    *rows_out = rows;
    strbuf out = {0};
    for (int row = 0; row < rows; row++) {
        for (int col = 0; col < EXPORT_COLUMNS; col++) {
            csv_field(&out, db_text(result, q, row, col), col == 0);
        }
        csv_end_record(&out);
    }
    job->rows += rows;
    if (strbuf_failed(&out)) {
        strbuf_free(&out);
        return false;
    }
    bool written = out.len == 0 || http_stream_write(job->stream, out.data, out.len);
    strbuf_free(&out);
    return written;
}

static void fetch_next(tx *t)
{
    tx_q0(t, ST_EX_FETCH);
    tx_next(t, fetched);
}

/* Looks again in EXPORT_WAIT_MS whether the client has taken what it holds. */
static void poll_client(export_job *job)
{
    struct timeval tv = {0, EXPORT_WAIT_MS * 1000};
    evtimer_add(job->wait, &tv);
}

/* The file is cut short (no final chunk, so the client sees it is incomplete): says why. */
static void log_cut_short(const export_job *job, const char *why, const char *outcome)
{
    char count[24];
    snprintf(count, sizeof count, "%lld", (long long)job->rows);
    log_event(LOG_WARN, why, "rows", count, outcome != NULL ? "outcome" : NULL, outcome, NULL);
}

/* After a FETCH: the end, the next FETCH, or a hold until the client takes what it has. */
static void go_on(export_job *job, tx *t)
{
    if (job->complete) {
        tx_finish(t);
        return;
    }
    size_t buffered = http_stream_buffered(job->stream);
    if (buffered > EXPORT_HIGH_WATER) {
        job->held = true;
        job->held_buffered = buffered;
        tx_hold(t, hold_deadline(job));
        poll_client(job);
        return;
    }
    fetch_next(t);
}

static void on_rows(export_job *job, tx *t, const db_result *result, int q)
{
    if (job->stream == NULL || http_stream_over(job->stream)) {
        tx_finish(t); /* the client went while the rows were read */
        return;
    }
    int rows = 0;
    if (!write_rows(job, result, q, &rows)) {
        if (http_stream_over(job->stream)) {
            tx_finish(t);
        } else {
            tx_fail(t, PROBLEM_UNAVAILABLE, "out of memory");
        }
        return;
    }
    job->complete = rows < ST_EX_FETCH_ROWS;
    go_on(job, t);
}

static void fetched(tx *t, const db_result *result)
{
    on_rows(tx_user(t), t, result, 0);
}

/* Round 1: JIT off, the cursor, its first rows. */
static void opened(tx *t, const db_result *result)
{
    export_job *job = tx_user(t);
    if (job->declared) {
        /* The connection was lost after rows went out, and the tx started over: a second
         * snapshot would repeat or miss rows. The file is cut short instead. */
        tx_fail(t, PROBLEM_UNAVAILABLE, "The database connection was lost mid-export.");
        return;
    }
    job->declared = true;
    on_rows(job, t, result, 2);
}

static void on_wait(evutil_socket_t fd, short events, void *arg)
{
    (void)fd;
    (void)events;
    export_job *job = arg;
    if (!tx_held(job->t)) {
        return; /* the hold's deadline passed: the tx is ending, export_done follows */
    }
    size_t buffered = http_stream_buffered(job->stream);
    if (buffered > EXPORT_HIGH_WATER) {
        if (buffered < job->held_buffered) {
            tx_hold(job->t, hold_deadline(job)); /* the client is reading: hold on */
            job->held_buffered = buffered;
        }
        poll_client(job);
        return;
    }
    job->held = false;
    fetch_next(job->t);
}

static void export_done(tx *t, tx_outcome outcome)
{
    export_job *job = tx_user(t);
    job->t = NULL;
    if (job->held) { /* the hold's deadline passed */
        job->held = false;
        evtimer_del(job->wait);
    }
    if (job->stream == NULL) {
        job_free(job); /* the client is gone */
        return;
    }
    if (http_stream_over(job->stream)) {
        return; /* on_end follows and frees the job */
    }
    if (outcome != TX_OK || !job->complete) {
        log_cut_short(job, "export: database read failed, file cut short",
                      tx_outcome_name(outcome));
        http_stream_abandon(job->stream);
        job_free(job);
        return;
    }
    http_stream_end(job->stream, EXPORT_LINGER_MS); /* on_end frees the job */
}

/* The stream is gone (job->stream is NULL): the job ends with its tx. */
static void stream_gone(export_job *job)
{
    if (job->t == NULL) {
        job_free(job);
        return;
    }
    if (job->held && tx_held(job->t)) {
        /* Its transaction ends now and its connection goes back to the pool; export_done
         * frees the job. */
        job->held = false;
        evtimer_del(job->wait);
        tx_finish(job->t);
    }
    /* Otherwise a FETCH is in flight (on_rows finishes the tx when it comes back) or the
     * hold's deadline passed (the tx is ending): export_done frees the job. */
}

static void on_end(void *arg, http_stream_end_reason reason)
{
    export_job *job = arg;
    job->stream = NULL;
    if (reason != HTTP_STREAM_ENDED) {
        log_event(LOG_INFO, "export: client stopped reading", "reason",
                  reason == HTTP_STREAM_SLOW_READER ? "slow reader" : "client gone", NULL);
    }
    stream_gone(job);
}

void export_stop_all(wf_app *app)
{
    export_job *next;
    for (export_job *job = app->export_jobs; job != NULL; job = next) {
        next = job->next;
        if (job->stream == NULL) {
            continue; /* its tx is ending */
        }
        log_cut_short(job, "export: cut short by the shutdown", NULL);
        http_stream_abandon(job->stream); /* no last chunk: the client sees the cut */
        job->stream = NULL;
        stream_gone(job); /* may free job */
    }
}

static int exports_running(const wf_app *app)
{
    int count = 0;
    for (const export_job *job = app->export_jobs; job != NULL; job = job->next) {
        count++;
    }
    return count;
}

void export_movements(wf_app *app, http_ctx *ctx, const char *from, const char *to)
{
    if (exports_running(app) >= app->cfg->exports_max) {
        http_add_header(ctx, "Retry-After", EXPORT_RETRY_AFTER);
        http_problem(ctx, PROBLEM_UNAVAILABLE,
                     "This instance already streams %d exports; retry shortly.",
                     app->cfg->exports_max);
        return;
    }
    export_job *job = xcalloc(1, sizeof *job);
    job->app = app;
    job->next = app->export_jobs;
    if (job->next != NULL) {
        job->next->prev = job;
    }
    app->export_jobs = job;
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
    /* The deadline is for getting a connection; once the cursor is open, each FETCH has the
     * pool's query timeout and each wait for the client the hold's deadline. */
    tx *t = tx_background(app, clock_ms() + app->cfg->request_timeout_ms, export_done);
    tx_set_user(t, job);
    job->t = t;
    tx_q0(t, ST_NO_JIT);
    tx_q(t, ST_EX_MOVEMENTS, job->from, job->to);
    tx_q0(t, ST_EX_FETCH);
    tx_run(t, TX_SNAPSHOT, opened);
}
