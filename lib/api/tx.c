/* The transaction runner behind every database-backed request (see tx.h). */
#include "api/tx.h"

#include "api/app.h"
#include "api/statements.h"
#include "util/log.h"
#include "util/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ATTEMPTS 5

struct api_tx {
    http_ctx *ctx; /* NULL for background work */
    app *app;
    int64_t deadline_ms;
    api_tx_done_cb done;
    api_tx_spec spec;
    void *user;
    void (*user_free)(void *);
    db_conn *conn;
    int attempts;
    db_query *composed;
    int composed_count;
    int user_offset;    /* index of the first user query in the first batch */
    bool commit_sent;   /* the batch in flight carries a COMMIT */
    api_tx_cb round_cb; /* callback of a round sent with api_tx_send */
    /* Idempotency: the fingerprint source and the response stored with the key. */
    char *fingerprint;
    const char *idem_params[5];
    char status_text[8];
    char *reply_body;
    char *reply_location;
    int reply_status;
    db_query *final;
    int final_count;
    /* A reply held back until its transaction has rolled back (see tx_end). */
    struct {
        int status;
        const char *slug, *title;
        char *detail;
        bool replayed;
    } held;
    db_query rollback;
    char *problem_field; /* a 422's field (api_tx_invalid), or NULL */
};

static void tx_free(void *arg)
{
    api_tx *tx = arg;
    if (tx->conn != NULL) {
        db_conn_release(tx->conn);
    }
    if (tx->user_free != NULL) {
        tx->user_free(tx->user);
    }
    free(tx->composed);
    free(tx->final);
    free(tx->fingerprint);
    free(tx->reply_body);
    free(tx->reply_location);
    free(tx->held.detail);
    free(tx->problem_field);
    free(tx);
}

void *api_tx_user(const api_tx *tx)
{
    return tx->user;
}

http_ctx *api_tx_ctx(const api_tx *tx)
{
    return tx->ctx;
}

void *api_tx_app(const api_tx *tx)
{
    return tx->app;
}

bool api_tx_keyed(const api_tx *tx)
{
    return tx->ctx != NULL && tx->ctx->idempotency_key != NULL && tx->spec.mode != TX_NONE;
}

static void release(api_tx *tx)
{
    if (tx->conn != NULL) {
        db_conn_release(tx->conn);
        tx->conn = NULL;
    }
}

/* Replies over HTTP (which frees ctx and with it tx) or reports to the background owner
 * and frees tx. */
static void tx_end_now(api_tx *tx, int status, const char *slug, const char *title,
                       const char *detail, const char *body, const char *location, bool replayed)
{
    release(tx);
    http_ctx *ctx = tx->ctx;
    if (ctx == NULL) {
        if (tx->done != NULL) {
            tx->done(tx->user, status, slug != NULL ? detail : body);
        }
        tx_free(tx);
        return;
    }
    if (tx->problem_field != NULL) {
        http_reply_invalid(ctx, tx->problem_field, detail);
        return;
    }
    if (slug != NULL) {
        if (status == 503) {
            http_add_header(ctx, "Retry-After", "1");
        }
        http_reply_problem(ctx, status, slug, title, detail, NULL);
        return;
    }
    if (location != NULL && location[0] != '\0') {
        http_add_header(ctx, "Location", location);
    }
    if (replayed) {
        http_add_header(ctx, "Idempotent-Replayed", "true");
    }
    if (body == NULL || body[0] == '\0') {
        http_reply_empty(ctx, status);
    } else {
        http_reply_json(ctx, status, body, strlen(body));
    }
}

static void rolled_back(db_conn *conn, const db_result *result, void *arg)
{
    api_tx *tx = arg;
    tx_end_now(tx, tx->held.status, tx->held.slug, tx->held.title, tx->held.detail, tx->reply_body,
               tx->reply_location, tx->held.replayed);
}

/* Every way a tx ends goes through here. A transaction still open is rolled back before
 * the client hears anything: its row locks and its Idempotency-Key lock are gone by the
 * time the client can send its next request (a replay answered before its rollback made
 * an immediate retry look "in flight"). body and location must be owned by tx. */
static void tx_end(api_tx *tx, int status, const char *slug, const char *title, const char *detail,
                   const char *body, const char *location, bool replayed)
{
    if (tx->conn != NULL && db_conn_in_transaction(tx->conn)) {
        tx->held.status = status;
        tx->held.slug = slug;
        tx->held.title = title;
        char *copy = detail != NULL ? strdup(detail) : NULL;
        free(tx->held.detail);
        tx->held.detail = copy;
        tx->held.replayed = replayed;
        tx->rollback = (db_query){-1, "ROLLBACK", 0, NULL};
        if (db_conn_send(tx->conn, &tx->rollback, 1, rolled_back, tx) == 0) {
            return;
        }
    }
    tx_end_now(tx, status, slug, title, detail, body, location, replayed);
}

static void end_unavailable(api_tx *tx, const char *detail)
{
    tx_end(tx, 503, "service-unavailable", "Service Unavailable", detail, NULL, NULL, false);
}

void api_reply_not_found(http_ctx *ctx, const char *what)
{
    char detail[160];
    snprintf(detail, sizeof detail, "%s not found.", what);
    http_reply_problem(ctx, 404, "not-found", "Not Found", detail, NULL);
}

static const char *unavailable_detail(db_status status)
{
    switch (status) {
    case DB_ERROR_BUSY:
        return "Too many requests are waiting for the database; retry shortly.";
    case DB_ERROR_TIMEOUT:
        return "The request deadline passed while waiting for the database.";
    case DB_ERROR_CLOSED:
        return "The service is shutting down.";
    default:
        return "The database is unavailable; retry shortly.";
    }
}

void api_reply_db_unavailable(http_ctx *ctx, db_status status)
{
    http_reply_unavailable(ctx, unavailable_detail(status));
}

static void on_lease(db_conn *conn, db_status status, void *arg);

/* Starts over on a fresh lease: after a deadlock, a serialization failure, a lost
 * connection before any COMMIT was sent, or an idempotency race. */
static void retry(api_tx *tx)
{
    release(tx);
    tx->attempts++;
    metrics_count_db_retry();
    if (tx->attempts >= MAX_ATTEMPTS) {
        end_unavailable(tx, "The database kept aborting the transaction; retry.");
        return;
    }
    if (db_pool_lease(tx->app->pool, tx->deadline_ms, on_lease, tx) != 0) {
        end_unavailable(tx, "Out of memory.");
    }
}

/* Common handling of a finished round's transport-level outcome. Returns true when the
 * tx was dealt with (retried or ended) and the caller must stop. */
static bool handled_failure(api_tx *tx, const db_result *result)
{
    if (result->status == DB_ERROR_CONNECTION) {
        if (tx->commit_sent) {
            end_unavailable(tx, "The database connection was lost while committing; the "
                                "outcome is unknown. Retry with the same Idempotency-Key to "
                                "find out safely.");
        } else {
            retry(tx);
        }
        return true;
    }
    if (result->status == DB_ERROR_SQL && db_sqlstate_retryable(result->sqlstate)) {
        retry(tx);
        return true;
    }
    /* lock_timeout: a hot row stayed locked too long. Nothing was written; try again while
     * the request's deadline allows, rather than showing the client a 503. */
    if (result->status == DB_ERROR_SQL && strcmp(result->sqlstate, "55P03") == 0 &&
        !tx->commit_sent && clock_ms() + 500 < tx->deadline_ms) {
        retry(tx);
        return true;
    }
    if (result->status != DB_OK && result->status != DB_ERROR_SQL) {
        end_unavailable(tx, unavailable_detail(result->status));
        return true;
    }
    return false;
}

static void on_final(db_conn *conn, const db_result *result, void *arg)
{
    api_tx *tx = arg;
    if (handled_failure(tx, result)) {
        return;
    }
    if (result->status != DB_OK || strcmp(db_command(result, result->count - 1), "COMMIT") != 0) {
        api_tx_db_error(tx, result);
        return;
    }
    if (api_tx_keyed(tx) && db_affected(result, result->count - 2) != 1) {
        /* Another request with the same key committed first: run again to replay it. */
        retry(tx);
        return;
    }
    tx_end(tx, tx->reply_status, NULL, NULL, NULL, tx->reply_body, tx->reply_location, false);
}

void api_tx_commit(api_tx *tx, const db_query *writes, int count, int status, char *body,
                   const char *location)
{
    free(tx->reply_body);
    free(tx->reply_location);
    tx->reply_status = status;
    tx->reply_body = body;
    tx->reply_location = location != NULL ? strdup(location) : NULL;
    free(tx->final);
    tx->final = calloc((size_t)count + 2, sizeof *tx->final);
    if (tx->final == NULL) {
        end_unavailable(tx, "Out of memory.");
        return;
    }
    int n = 0;
    for (int i = 0; i < count; i++) {
        tx->final[n++] = writes[i];
    }
    if (api_tx_keyed(tx)) {
        snprintf(tx->status_text, sizeof tx->status_text, "%d", status);
        tx->idem_params[0] = tx->ctx->idempotency_key;
        tx->idem_params[1] = tx->fingerprint;
        tx->idem_params[2] = tx->status_text;
        tx->idem_params[3] = body != NULL ? body : "";
        tx->idem_params[4] = tx->reply_location;
        tx->final[n++] = (db_query){ST_IDEM_STORE, NULL, 5, tx->idem_params};
    }
    tx->final[n++] = (db_query){-1, "COMMIT", 0, NULL};
    tx->final_count = n;
    tx->commit_sent = true;
    if (db_conn_send(tx->conn, tx->final, n, on_final, tx) != 0) {
        end_unavailable(tx, "The database connection was lost before committing.");
    }
}

void api_tx_ok(api_tx *tx, int status, char *body, const char *location)
{
    if (api_tx_keyed(tx) || tx->spec.mode == TX_OPEN) {
        api_tx_commit(tx, NULL, 0, status, body, location);
        return;
    }
    char *location_copy = location != NULL ? strdup(location) : NULL;
    free(tx->reply_body);
    free(tx->reply_location);
    tx->reply_body = body;
    tx->reply_location = location_copy;
    tx_end(tx, status, NULL, NULL, NULL, tx->reply_body, tx->reply_location, false);
}

void api_tx_problem(api_tx *tx, int status, const char *slug, const char *title, const char *detail)
{
    tx_end(tx, status, slug, title, detail, NULL, NULL, false);
}

void api_tx_invalid(api_tx *tx, const char *field, const char *message)
{
    if (tx->ctx != NULL) {
        free(tx->problem_field);
        tx->problem_field = strdup(field);
    }
    tx_end(tx, 422, "validation-error", "Unprocessable Content", message, NULL, NULL, false);
}

void api_tx_db_error(api_tx *tx, const db_result *result)
{
    const char *state = result->sqlstate != NULL ? result->sqlstate : "";
    char detail[400];
    if (strcmp(state, "WF409") == 0) {
        tx_end(tx, 409, "conflict", "Conflict", result->message, NULL, NULL, false);
    } else if (strcmp(state, "WF422") == 0) {
        /* wf_check messages for 422 are "field|message". */
        char field[128];
        const char *bar = strchr(result->message, '|');
        size_t len = bar != NULL ? (size_t)(bar - result->message) : 0;
        snprintf(field, sizeof field, "%.*s", (int)(len < sizeof field ? len : 0), result->message);
        api_tx_invalid(tx, field, bar != NULL ? bar + 1 : result->message);
    } else if (strcmp(state, "23505") == 0) {
        snprintf(detail, sizeof detail, "That conflicts with an existing resource (%s).",
                 result->constraint);
        tx_end(tx, 409, "conflict", "Conflict", detail, NULL, NULL, false);
    } else if (strcmp(state, "23503") == 0 || strcmp(state, "23514") == 0) {
        snprintf(detail, sizeof detail, "The change would break a rule of the data (%s).",
                 result->constraint);
        tx_end(tx, 409, "conflict", "Conflict", detail, NULL, NULL, false);
    } else if (strcmp(state, "55P03") == 0 || strcmp(state, "57014") == 0) {
        end_unavailable(tx, "The database is busy; retry shortly.");
    } else {
        log_event(LOG_ERROR, "database error", "sqlstate", state, "message", result->message,
                  "request_id", tx->ctx != NULL ? tx->ctx->request_id : "background", NULL);
        tx_end(tx, 500, "internal-error", "Internal Server Error",
               "The request failed inside the service; it changed nothing.", NULL, NULL, false);
    }
}

static void on_round(db_conn *conn, const db_result *result, void *arg)
{
    api_tx *tx = arg;
    if (handled_failure(tx, result)) {
        return;
    }
    tx->round_cb(tx, result);
}

void api_tx_send(api_tx *tx, const db_query *queries, int count, api_tx_cb cb)
{
    tx->round_cb = cb;
    tx->commit_sent = false;
    if (db_conn_send(tx->conn, queries, count, on_round, tx) != 0) {
        /* The connection broke before anything was committed: start over. */
        retry(tx);
    }
}

static void on_first(db_conn *conn, const db_result *result, void *arg)
{
    api_tx *tx = arg;
    if (handled_failure(tx, result)) {
        return;
    }
    if (result->status == DB_ERROR_SQL && result->failed_query < tx->user_offset) {
        api_tx_db_error(tx, result);
        return;
    }
    if (api_tx_keyed(tx)) {
        int q = tx->user_offset - 1; /* the lookup */
        const char *got = db_text(result, q, 0, 0);
        if (got == NULL || strcmp(got, "t") != 0) {
            api_tx_problem(tx, 409, "idempotency-key-in-flight", "Conflict",
                           "A request with this Idempotency-Key is still being processed.");
            return;
        }
        if (!db_is_null(result, q, 0, 1)) {
            if (strcmp(db_text(result, q, 0, 1), "t") != 0) {
                api_tx_problem(tx, 422, "idempotency-key-reused", "Unprocessable Content",
                               "This Idempotency-Key was used with a different request.");
                return;
            }
            int status = (int)db_int64(result, q, 0, 2);
            char *body = strdup(db_text(result, q, 0, 3));
            const char *stored_location = db_text(result, q, 0, 4);
            char *location = stored_location != NULL ? strdup(stored_location) : NULL;
            free(tx->reply_body);
            free(tx->reply_location);
            tx->reply_body = body;
            tx->reply_location = location;
            tx_end(tx, status, NULL, NULL, NULL, body, location, true);
            return;
        }
    }
    db_result view = *result;
    view.results = result->results + tx->user_offset;
    view.count = tx->spec.count;
    if (view.failed_query >= 0) {
        view.failed_query -= tx->user_offset;
    }
    if (tx->commit_sent && view.status == DB_OK &&
        strcmp(db_command(result, result->count - 1), "COMMIT") != 0) {
        api_tx_db_error(tx, result);
        return;
    }
    tx->spec.on_result(tx, &view);
}

static void on_lease(db_conn *conn, db_status status, void *arg)
{
    api_tx *tx = arg;
    if (status != DB_OK) {
        end_unavailable(tx, unavailable_detail(status));
        return;
    }
    tx->conn = conn;
    tx->commit_sent = tx->spec.mode == TX_ONE_ROUND && !api_tx_keyed(tx);
    if (db_conn_send(conn, tx->composed, tx->composed_count, on_first, tx) != 0) {
        retry(tx);
    }
}

static int compose(api_tx *tx)
{
    const api_tx_spec *spec = &tx->spec;
    http_ctx *ctx = tx->ctx;
    bool keyed = api_tx_keyed(tx);
    tx->composed = calloc((size_t)spec->count + 3, sizeof *tx->composed);
    if (tx->composed == NULL) {
        return -1;
    }
    int n = 0;
    if (spec->mode != TX_NONE) {
        tx->composed[n++] = (db_query){-1, "BEGIN", 0, NULL};
    }
    if (keyed) {
        size_t len = strlen(ctx->method_name) + strlen(ctx->path) +
                     (ctx->query ? strlen(ctx->query) : 0) + ctx->body_len + 8;
        tx->fingerprint = malloc(len);
        if (tx->fingerprint == NULL) {
            return -1;
        }
        snprintf(tx->fingerprint, len, "%s %s?%s\n%s", ctx->method_name, ctx->path,
                 ctx->query ? ctx->query : "", ctx->body);
        tx->idem_params[0] = ctx->idempotency_key;
        tx->idem_params[1] = tx->fingerprint;
        tx->composed[n++] = (db_query){ST_IDEM_LOOKUP, NULL, 2, tx->idem_params};
    }
    tx->user_offset = n;
    for (int i = 0; i < spec->count; i++) {
        tx->composed[n++] = spec->queries[i];
    }
    if (spec->mode == TX_ONE_ROUND && !keyed) {
        tx->composed[n++] = (db_query){-1, "COMMIT", 0, NULL};
    }
    tx->composed_count = n;
    return 0;
}

static api_tx *tx_new(app *application, int64_t deadline_ms, const api_tx_spec *spec, void *user,
                      void (*user_free)(void *))
{
    api_tx *tx = calloc(1, sizeof *tx);
    if (tx == NULL) {
        if (user_free != NULL) {
            user_free(user);
        }
        return NULL;
    }
    tx->app = application;
    tx->deadline_ms = deadline_ms;
    tx->spec = *spec;
    tx->user = user;
    tx->user_free = user_free;
    return tx;
}

void api_tx_start(http_ctx *ctx, const api_tx_spec *spec, void *user, void (*user_free)(void *))
{
    api_tx *tx = tx_new(app_of(ctx), ctx->deadline_ms, spec, user, user_free);
    if (tx == NULL) {
        http_reply_unavailable(ctx, "Out of memory.");
        return;
    }
    tx->ctx = ctx;
    ctx->state = tx;
    ctx->state_free = tx_free;
    if (compose(tx) != 0 || db_pool_lease(tx->app->pool, tx->deadline_ms, on_lease, tx) != 0) {
        http_reply_unavailable(ctx, "Out of memory.");
    }
}

void api_tx_start_background(void *application, int64_t deadline_ms, const api_tx_spec *spec,
                             void *user, api_tx_done_cb done)
{
    api_tx *tx = tx_new(application, deadline_ms, spec, user, NULL);
    if (tx == NULL) {
        done(user, 503, "out of memory");
        return;
    }
    tx->done = done;
    if (compose(tx) != 0 || db_pool_lease(tx->app->pool, tx->deadline_ms, on_lease, tx) != 0) {
        done(user, 503, "out of memory");
        tx_free(tx);
    }
}
