/* The transaction engine behind every database-backed request and background job (see
 * tx.h). A tx moves through
 *   queued --tx_run--> leasing --> round 1 --> [round n (tx_next)]... --> final round
 *   (idempotency record + COMMIT) --> rollback if still open --> reply / done
 * and back to leasing on a retryable failure. Every way it ends goes through end(). */
#include "engine/tx.h"
#include "engine/tx_problem.h"

#include "db/sqlstate.h"
#include "engine/statements.h"
#include "util/digest.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/metrics.h"

#include <assert.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ATTEMPTS 5
/* A lock_timeout is retried only while this much of the request's deadline is left. */
#define LOCK_RETRY_MARGIN_MS 500

typedef enum { ROUND_FIRST, ROUND_NEXT, ROUND_FINAL } round_kind;

typedef struct commit_hook {
    void (*fn)(tx *t, void *arg);
    void *arg;
    struct commit_hook *next;
} commit_hook;

struct tx {
    http_ctx *ctx; /* NULL for background work */
    wf_app *app;
    db_pool *pool;   /* the app's pool, or its control connection */
    arena *mem;      /* the request's arena, or own_arena */
    arena own_arena; /* background work only */
    int64_t deadline_ms;
    tx_done_fn done;
    void *user;
    void (*on_free)(void *arg);
    void *on_free_arg;
    const tx_conflict *conflicts;

    tx_mode mode;
    bool keyed; /* an Idempotency-Key applies */
    bool started;
    db_conn *conn;
    int attempts;

    /* The handler's statements: [0, first_count) are round 1, sent again on a retry. */
    db_query *queries;
    int count, capacity;
    int first_count;
    int sent; /* statements of the handler sent so far */
    tx_cb first_cb, round_cb;

    /* The batch in flight: engine statements around the handler's. */
    db_query *batch;
    int batch_count;
    int user_offset; /* index of the handler's first statement in the batch */
    int user_count;
    round_kind round;
    bool commit_sent;   /* the batch carries the COMMIT */
    struct event *hold; /* tx_hold's deadline, armed while the owner holds the tx */
    bool held;
    bool committed; /* this attempt's COMMIT succeeded */
    commit_hook *hooks;

    /* Idempotency: the lock statement's position in round 1 and the record's parts. */
    int idem_lock_index;
    const char *fingerprint;

    /* How it ends. */
    int status;
    char *body;
    char *location;
    const char *content_type;
    const char *replay_body; /* what a replay shows instead of body, or NULL (the arena's) */
    bool replayed;
    bool failed;
    bool timed_out; /* failed waiting for the database past the deadline */
    problem_kind problem;
    const char *detail; /* in the arena */
    const char *field;  /* a 422's field, or NULL */
};

static void on_lease(db_conn *conn, db_status status, void *arg);
static void on_batch(db_conn *conn, const db_result *result, void *arg);
static void end(tx *t);

/* The owner goes on (a round, or the end): the hold's deadline no longer applies. */
static void unhold(tx *t)
{
    t->held = false;
    if (t->hold != NULL) {
        evtimer_del(t->hold);
    }
}

/* ---------------------------------------------------------------- creation, memory */

static void tx_release(void *arg)
{
    tx *t = arg;
    if (t->on_free != NULL) {
        t->on_free(t->on_free_arg);
    }
    if (t->conn != NULL) {
        db_conn_release(t->conn);
        t->conn = NULL;
    }
    if (t->hold != NULL) {
        event_free(t->hold);
        t->hold = NULL;
    }
    free(t->queries);
    free(t->batch);
    free(t->body);
    free(t->location);
}

tx *tx_for(http_ctx *ctx)
{
    assert(ctx->state == NULL); /* one tx per request */
    tx *t = ARENA_NEW(&ctx->arena, tx);
    t->ctx = ctx;
    t->app = app_of(ctx);
    t->pool = t->app->pool;
    t->mem = &ctx->arena;
    t->deadline_ms = ctx->deadline_ms;
    t->content_type = "application/json";
    ctx->state = t;
    ctx->state_free = tx_release;
    return t;
}

tx *tx_background(wf_app *app, int64_t deadline_ms, tx_done_fn done)
{
    arena mem = ARENA_INIT;
    tx *t = ARENA_NEW(&mem, tx);
    t->own_arena = mem;
    t->mem = &t->own_arena;
    t->app = app;
    t->pool = app->pool;
    t->deadline_ms = deadline_ms;
    t->done = done;
    t->content_type = "application/json";
    return t;
}

void tx_use_control(tx *t)
{
    assert(t->ctx == NULL && !t->started && t->app->control != NULL);
    t->pool = t->app->control;
}

void *tx_alloc(tx *t, size_t size)
{
    return arena_alloc(t->mem, size);
}

arena *tx_arena(tx *t)
{
    return t->mem;
}

const char *tx_int(tx *t, int64_t value)
{
    return arena_int(t->mem, value);
}

const char *tx_text(tx *t, const char *text)
{
    return text != NULL ? arena_strdup(t->mem, text) : NULL;
}

const char *tx_bool(bool value)
{
    return value ? "true" : "false";
}

http_ctx *tx_ctx(const tx *t)
{
    return t->ctx;
}

wf_app *tx_app(const tx *t)
{
    return t->app;
}

void tx_set_user(tx *t, void *user)
{
    t->user = user;
}

void *tx_user(const tx *t)
{
    return t->user;
}

void tx_on_free(tx *t, void (*fn)(void *arg), void *arg)
{
    assert(t->on_free == NULL);
    t->on_free = fn;
    t->on_free_arg = arg;
}

void tx_conflicts(tx *t, const tx_conflict *table)
{
    t->conflicts = table;
}

void tx_set_content_type(tx *t, const char *content_type)
{
    t->content_type = content_type;
}

void tx_set_replay_body(tx *t, const char *body)
{
    t->replay_body = body != NULL ? arena_strdup(t->mem, body) : NULL;
}

void tx_on_commit(tx *t, void (*fn)(tx *t, void *arg), void *arg)
{
    commit_hook *hook = ARENA_NEW(t->mem, commit_hook);
    hook->fn = fn;
    hook->arg = arg;
    hook->next = t->hooks;
    t->hooks = hook;
}

/* ---------------------------------------------------------------- statements */

static void push_query(tx *t, db_query query)
{
    if (t->count == t->capacity) {
        t->capacity = t->capacity ? t->capacity * 2 : 8;
        t->queries = xrealloc(t->queries, (size_t)t->capacity * sizeof *t->queries);
    }
    t->queries[t->count++] = query;
}

void tx_queue(tx *t, int statement, const char *const *args, int count)
{
    /* A call site passing the wrong number of arguments is a bug in that handler. */
    assert(count == statement_param_count(statement));
    const char **copy = ARENA_ARRAY(t->mem, const char *, count > 0 ? (size_t)count : 1);
    for (int i = 0; i < count; i++) {
        copy[i] = args[i];
    }
    push_query(t, (db_query){statement, NULL, count, copy});
}

void tx_q0(tx *t, int statement)
{
    tx_queue(t, statement, NULL, 0);
}

/* ---------------------------------------------------------------- ending */

static void set_problem(tx *t, problem_kind kind, const char *field, const char *detail)
{
    t->failed = true;
    t->problem = kind;
    t->field = field != NULL ? arena_strdup(t->mem, field) : NULL;
    t->detail = arena_strdup(t->mem, detail);
}

static void fail_unavailable(tx *t, const char *detail)
{
    set_problem(t, PROBLEM_UNAVAILABLE, NULL, detail);
    end(t);
}

static tx_outcome outcome_of(const tx *t)
{
    return t->failed ? tx_outcome_of_problem(t->problem, t->timed_out) : TX_OK;
}

/* Replies over HTTP (which frees the request and this tx with it) or reports to the
 * background owner and frees the tx. */
static void end_now(tx *t)
{
    if (t->conn != NULL) {
        db_conn_release(t->conn);
        t->conn = NULL;
    }
    http_ctx *ctx = t->ctx;
    if (ctx == NULL) {
        if (t->done != NULL) {
            t->done(t, outcome_of(t));
        }
        tx_release(t);
        arena mem = t->own_arena; /* t lives in it */
        arena_free(&mem);
        return;
    }
    if (t->failed) {
        if (t->field != NULL) {
            http_problem_invalid(ctx, t->field, t->detail);
        } else {
            http_problem(ctx, t->problem, "%s", t->detail);
        }
        return;
    }
    if (t->location != NULL && t->location[0] != '\0') {
        http_add_header(ctx, "Location", t->location);
    }
    if (t->replayed) {
        http_add_header(ctx, "Idempotent-Replayed", "true");
    }
    if (t->body == NULL || t->body[0] == '\0') {
        http_reply_empty(ctx, t->status);
    } else {
        http_reply_text(ctx, t->status, t->content_type, t->body, strlen(t->body));
    }
}

static void rolled_back(db_conn *conn, const db_result *result, void *arg)
{
    end_now(arg);
}

/* Every way a tx ends goes through here. A transaction still open is rolled back before
 * the client hears anything: its row locks and its Idempotency-Key lock are gone by the
 * time the client can send its next request. */
static void end(tx *t)
{
    unhold(t);
    if (t->conn != NULL && db_conn_in_transaction(t->conn)) {
        static const db_query rollback = {-1, "ROLLBACK", 0, NULL};
        if (db_conn_send(t->conn, &rollback, 1, rolled_back, t) == 0) {
            return;
        }
    }
    end_now(t);
}

void tx_fail(tx *t, problem_kind kind, const char *detail_fmt, ...)
{
    va_list args;
    va_start(args, detail_fmt);
    char detail[512];
    vsnprintf(detail, sizeof detail, detail_fmt, args);
    va_end(args);
    set_problem(t, kind, NULL, detail);
    end(t);
}

void tx_invalid(tx *t, const char *field, const char *message)
{
    set_problem(t, PROBLEM_VALIDATION, field, message);
    end(t);
}

static void run_commit_hooks(tx *t)
{
    for (commit_hook *hook = t->hooks; hook != NULL; hook = hook->next) {
        hook->fn(t, hook->arg);
    }
    t->hooks = NULL;
}

/* ---------------------------------------------------------------- sending */

static void retry(tx *t);

/* Sends the engine's statements around the handler's [from, to) as one round. */
static void send_round(tx *t, round_kind round, const db_query *before, int before_count, int from,
                       int to, const db_query *after, int after_count, bool commits)
{
    /* A read's round is one implicit transaction (one Sync): a setting made local at its
     * start lasts exactly for the round. */
    bool generic = false;
    for (int i = from; i < to && t->mode == TX_READ && !generic; i++) {
        generic = statement_wants_generic_plan(t->queries[i].statement);
    }
    unhold(t);
    int total = before_count + generic + (to - from) + after_count;
    free(t->batch);
    t->batch = xcalloc((size_t)(total > 0 ? total : 1), sizeof *t->batch);
    int n = 0;
    for (int i = 0; i < before_count; i++) {
        t->batch[n++] = before[i];
    }
    if (generic) {
        t->batch[n++] = (db_query){ST_GENERIC_PLANS, NULL, 0, NULL};
    }
    t->user_offset = n;
    for (int i = from; i < to; i++) {
        t->batch[n++] = t->queries[i];
    }
    t->user_count = to - from;
    for (int i = 0; i < after_count; i++) {
        t->batch[n++] = after[i];
    }
    t->batch_count = n;
    t->sent = to;
    t->round = round;
    t->commit_sent = commits;
    if (db_conn_send(t->conn, t->batch, n, on_batch, t) != 0) {
        /* The connection broke before anything was committed: start over. */
        retry(t);
    }
}

/* Prepared on every connection like the handlers' statements (engine/statements.c). */
static const db_query begin_query = {ST_TX_BEGIN, NULL, 0, NULL};
static const db_query begin_snapshot_query = {ST_TX_BEGIN_SNAPSHOT, NULL, 0, NULL};
static const db_query commit_query = {ST_TX_COMMIT, NULL, 0, NULL};
/* Writing transactions run the service's own short statements, whose best plan does not
 * depend on the values: a generic plan from the first execution on, instead of custom
 * plans re-planned every time (about a fifth of PostgreSQL's CPU per transfer). Reads keep
 * the default, where filters such as "$1 IS NULL OR organization_id = $1" want a plan
 * made for the values. The setting is local to the transaction (ST_GENERIC_PLANS). */
static const db_query generic_plans_query = {ST_GENERIC_PLANS, NULL, 0, NULL};

static void send_first_round(tx *t)
{
    db_query before[4];
    int n = 0;
    if (t->mode == TX_SNAPSHOT) {
        before[n++] = begin_snapshot_query;
    } else if (t->mode != TX_READ) {
        before[n++] = begin_query;
        before[n++] = generic_plans_query;
    }
    if (t->keyed) {
        const char **key = ARENA_ARRAY(t->mem, const char *, 3);
        key[0] = t->ctx->principal.actor;
        key[1] = t->ctx->idempotency_key;
        key[2] = t->fingerprint;
        t->idem_lock_index = n;
        before[n++] = (db_query){ST_IDEM_LOCK, NULL, 2, key};
        before[n++] = (db_query){ST_IDEM_LOOKUP, NULL, 3, key};
    }
    bool commits = t->mode == TX_ONE_ROUND && !t->keyed;
    send_round(t, ROUND_FIRST, before, n, 0, t->first_count, &commit_query, commits ? 1 : 0,
               commits);
}

static void start_attempt(tx *t)
{
    t->count = t->first_count; /* later rounds are queued again by the callbacks */
    t->sent = 0;
    t->hooks = NULL;
    t->committed = false;
    t->failed = false;
    free(t->body);
    free(t->location);
    t->body = NULL;
    t->location = NULL;
    t->replayed = false;
    t->replay_body = NULL;
    int leased = t->ctx != NULL ? db_pool_lease(t->pool, t->deadline_ms, on_lease, t)
                                : db_pool_lease_background(t->pool, t->deadline_ms, on_lease, t);
    if (leased != 0) {
        mem_exhausted(sizeof(void *));
    }
}

/* Starts over on a fresh lease: after a deadlock, a serialization failure, a lock
 * timeout with time left, or a connection lost before any COMMIT was sent. */
static void retry(tx *t)
{
    if (t->conn != NULL) {
        db_conn_release(t->conn);
        t->conn = NULL;
    }
    t->attempts++;
    metrics_count_db_retry();
    if (t->attempts >= MAX_ATTEMPTS) {
        fail_unavailable(t, "The database kept aborting the transaction; retry.");
        return;
    }
    start_attempt(t);
}

/* What makes two requests "the same request" for a key: method, path, query and body. */
static const char *fingerprint_of(tx *t)
{
    http_ctx *ctx = t->ctx;
    const char *query = ctx->query != NULL ? ctx->query : "";
    const void *parts[] = {ctx->method_name, "\n", ctx->path, "\n", query, "\n", ctx->body};
    const size_t lengths[] = {
        strlen(ctx->method_name), 1, strlen(ctx->path), 1, strlen(query), 1, ctx->body_len};
    char *hex = arena_alloc(t->mem, DIGEST_HEX_SIZE);
    digest_sha256_hex(parts, lengths, sizeof parts / sizeof parts[0], hex);
    return hex;
}

void tx_run(tx *t, tx_mode mode, tx_cb cb)
{
    assert(!t->started);
    t->started = true;
    t->mode = mode;
    t->first_cb = cb;
    t->first_count = t->count;
    t->keyed = t->ctx != NULL && t->ctx->idempotency_key != NULL &&
               (mode == TX_ONE_ROUND || mode == TX_OPEN);
    if (t->keyed) {
        t->fingerprint = fingerprint_of(t);
    }
    start_attempt(t);
}

void tx_next(tx *t, tx_cb cb)
{
    assert(t->mode != TX_ONE_ROUND);
    t->round_cb = cb;
    send_round(t, ROUND_NEXT, NULL, 0, t->sent, t->count, NULL, 0, false);
}

/* The hold's deadline passed: the owner never came back in time. */
static void hold_expired(evutil_socket_t fd, short events, void *arg)
{
    (void)fd;
    (void)events;
    tx *t = arg;
    t->timed_out = true;
    fail_unavailable(t, "The transaction was held past its deadline.");
}

void tx_hold(tx *t, int64_t until_ms)
{
    assert(t->started && t->mode != TX_ONE_ROUND && t->conn != NULL);
    if (t->hold == NULL) {
        t->hold = evtimer_new(t->app->base, hold_expired, t);
        if (t->hold == NULL) {
            mem_exhausted(sizeof(struct event *));
        }
    }
    t->held = true;
    int64_t left = until_ms - clock_ms();
    left = left > 0 ? left : 0;
    struct timeval tv = {(time_t)(left / 1000), (suseconds_t)(left % 1000) * 1000};
    evtimer_add(t->hold, &tv);
}

bool tx_held(const tx *t)
{
    return t->held;
}

static void succeed(tx *t, int status, char *body, const char *location);

void tx_reply(tx *t, int status, char *body, const char *location)
{
    assert(t->ctx != NULL); /* background work ends with tx_finish */
    succeed(t, status, body, location);
}

void tx_finish(tx *t)
{
    assert(t->ctx == NULL); /* a request ends with a reply */
    succeed(t, 200, NULL, NULL);
}

static void succeed(tx *t, int status, char *body, const char *location)
{
    t->status = status;
    free(t->body);
    t->body = body;
    free(t->location);
    t->location = location != NULL ? xstrdup(location) : NULL;
    bool commits = t->keyed || t->mode == TX_OPEN;
    if (!commits) {
        assert(t->sent == t->count); /* nothing queued may be left unsent */
        if (t->committed) {
            run_commit_hooks(t); /* one-round work, committed with its first round */
        }
        end(t);
        return;
    }
    db_query after[2];
    int n = 0;
    if (t->keyed) {
        const char **record = ARENA_ARRAY(t->mem, const char *, 6);
        record[0] = t->ctx->principal.actor;
        record[1] = t->ctx->idempotency_key;
        record[2] = t->fingerprint;
        record[3] = tx_int(t, status);
        record[4] = t->replay_body != NULL ? t->replay_body : body != NULL ? body : "";
        record[5] = t->location;
        after[n++] = (db_query){ST_IDEM_STORE, NULL, 6, record};
    }
    after[n++] = commit_query;
    send_round(t, ROUND_FINAL, NULL, 0, t->sent, t->count, after, n, true);
}

/* ---------------------------------------------------------------- results */

static void on_lease(db_conn *conn, db_status status, void *arg)
{
    tx *t = arg;
    if (status != DB_OK) {
        t->timed_out = status == DB_ERROR_TIMEOUT;
        fail_unavailable(t, tx_unavailable_detail(status));
        return;
    }
    t->conn = conn;
    send_first_round(t);
}

/* The one place database errors become problems (engine/tx_problem.c says which). */
static void fail_from_database(tx *t, const db_result *result)
{
    if (t->round == ROUND_FIRST && t->keyed && result->failed_query == t->idem_lock_index) {
        tx_fail(t, PROBLEM_IDEMPOTENCY_IN_FLIGHT, "%s", result->message);
        return;
    }
    tx_problem problem = tx_problem_of_sql(result, t->conflicts, t->mem);
    if (problem.unexpected) {
        log_event(LOG_ERROR, "database error", "sqlstate", result->sqlstate, "message",
                  result->message, "request_id", t->ctx != NULL ? t->ctx->request_id : "background",
                  NULL);
    }
    set_problem(t, problem.kind, problem.field, problem.detail);
    end(t);
}

/* Transport failures and retryable errors: retried or ended here. True when handled. */
static bool handled_failure(tx *t, const db_result *result)
{
    if (result->status == DB_ERROR_CONNECTION) {
        if (t->commit_sent) {
            fail_unavailable(t, "The database connection was lost while committing; the "
                                "outcome is unknown. Retry with the same Idempotency-Key to "
                                "find out safely.");
        } else {
            retry(t);
        }
        return true;
    }
    if (result->status == DB_ERROR_SQL && db_sqlstate_retryable(result->sqlstate)) {
        retry(t);
        return true;
    }
    /* lock_timeout: a hot row stayed locked too long. Nothing was written; try again while
     * the request's deadline allows, rather than showing the client a 503. */
    if (result->status == DB_ERROR_SQL &&
        sqlstate_is(result->sqlstate, SQLSTATE_LOCK_NOT_AVAILABLE) && !t->commit_sent &&
        clock_ms() + LOCK_RETRY_MARGIN_MS < t->deadline_ms) {
        retry(t);
        return true;
    }
    if (result->status != DB_OK && result->status != DB_ERROR_SQL) {
        t->timed_out = result->status == DB_ERROR_TIMEOUT;
        fail_unavailable(t, tx_unavailable_detail(result->status));
        return true;
    }
    return false;
}

/* Round 1 with an Idempotency-Key: a stored response is replayed; true when it was. */
static bool replayed_stored_response(tx *t, const db_result *result)
{
    int q = t->idem_lock_index + 1; /* the lookup */
    if (db_rows(result, q) == 0) {
        return false;
    }
    const char *same = db_text(result, q, 0, 0);
    if (same == NULL || strcmp(same, "t") != 0) {
        tx_fail(t, PROBLEM_IDEMPOTENCY_REUSED,
                "This Idempotency-Key was used with a different request.");
        return true;
    }
    t->status = (int)db_int64(result, q, 0, 1);
    t->body = xstrdup(db_text(result, q, 0, 2));
    const char *location = db_text(result, q, 0, 3);
    t->location = location != NULL ? xstrdup(location) : NULL;
    t->replayed = true;
    end(t);
    return true;
}

static void on_batch(db_conn *conn, const db_result *result, void *arg)
{
    tx *t = arg;
    if (handled_failure(t, result)) {
        return;
    }
    /* A stored response wins over whatever the work (run again in the same pipeline) did:
     * a replayed create would only collide with itself. */
    bool lookup_ran = result->status == DB_OK || result->failed_query >= t->user_offset;
    if (t->round == ROUND_FIRST && t->keyed && lookup_ran && replayed_stored_response(t, result)) {
        return;
    }
    if (result->status != DB_OK) {
        fail_from_database(t, result);
        return;
    }
    if (t->commit_sent && strcmp(db_command(result, result->count - 1), "COMMIT") != 0) {
        log_event(LOG_ERROR, "commit did not commit", "tag", db_command(result, result->count - 1),
                  NULL);
        tx_fail(t, PROBLEM_INTERNAL, "The request failed inside the service; it changed nothing.");
        return;
    }
    t->committed = t->commit_sent;
    if (t->round == ROUND_FINAL) {
        run_commit_hooks(t);
        end(t);
        return;
    }
    db_result view = *result;
    view.results = result->results + t->user_offset;
    view.count = t->user_count;
    tx_cb cb = t->round == ROUND_FIRST ? t->first_cb : t->round_cb;
    cb(t, &view);
}
