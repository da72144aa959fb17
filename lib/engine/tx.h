/* One unit of database work — an HTTP request's, or background work's such as automatic
 * dispatch — and the rules around it:
 *   - its statements are named at the call site, arguments in order, allocated from the
 *     request's arena: tx_q(t, ST_ORG_PATCH, id, name, capacity);
 *   - BEGIN (and, for one-round work, COMMIT) travel in the same pipeline as the work;
 *   - deadlocks, serialization failures and a connection lost before COMMIT was sent are
 *     retried from the start, a bounded number of times, on a fresh connection: the first
 *     round's statements are sent again and every callback runs again from scratch;
 *   - an Idempotency-Key is claimed inside the same transaction as the work, so a
 *     rolled-back attempt frees the key; a stored response is replayed;
 *   - database errors are mapped to problems once, here (by SQLSTATE, and by constraint
 *     name through the handler's tx_conflict table): callbacks only ever see success;
 *   - a transaction still open is rolled back before the client hears anything, and
 *     tx_on_commit hooks run only once COMMIT has succeeded.
 *
 * Life cycle: tx_for (or tx_background) -> tx_q... -> tx_run(cb) -> cb -> [tx_q... ->
 * tx_next(cb) -> cb ...] -> exactly one of tx_reply (tx_finish for background work) /
 * tx_fail / tx_invalid. A callback must end with one of those, with tx_next, or with tx_hold
 * (the transaction stays open on its connection and the owner goes on later, from a timer:
 * see tx_hold). Every callback runs later, from the event loop, never inside the call that
 * started the round.
 * Requests end with an HTTP reply; background work has no client, so its owner hears a
 * tx_outcome instead: what it decides on (go on, try again later, log), never a status. */
#ifndef WF_ENGINE_TX_H
#define WF_ENGINE_TX_H

#include "db/pool.h"
#include "engine/app.h"
#include "http/problem.h"
#include "http/server.h"
#include "util/arena.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct tx tx;
/* A round's results: only the handler's own statements, in the order they were queued;
 * result->status is always DB_OK. */
typedef void (*tx_cb)(tx *t, const db_result *result);
/* How background work ended. */
typedef enum {
    TX_OK,          /* tx_finish: its reads done, its writes committed */
    TX_REFUSED,     /* the data's rules refused it (a row gone, a conflict, a bad value) */
    TX_UNAVAILABLE, /* the database was unreachable, busy, shutting down or kept aborting */
    TX_TIMED_OUT,   /* the deadline passed while waiting for the database */
    TX_FAILED,      /* an unexpected database error: a bug of ours, logged */
} tx_outcome;
/* Background completion: how the work ended (anything but TX_OK changed nothing). Runs
 * exactly once, from the event loop; the tx (its user state, its arena) is still valid
 * during the call and freed right after it. */
typedef void (*tx_done_fn)(tx *t, tx_outcome outcome);
/* What background work that failed with kind hears: TX_TIMED_OUT when it waited for the
 * database past its deadline, else TX_UNAVAILABLE for a 503 problem, TX_FAILED for another
 * 5xx, TX_REFUSED for a client error (404, 409, 422, 423...). */
tx_outcome tx_outcome_of_problem(problem_kind kind, bool timed_out);
/* The outcome's name for log lines: "ok", "refused", "unavailable", "timed_out", "failed". */
const char *tx_outcome_name(tx_outcome outcome);

typedef enum {
    TX_READ,      /* statements in autocommit mode: plain reads */
    TX_SNAPSHOT,  /* BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY: one snapshot over
                   * several rounds, no row locks; ends with a rollback */
    TX_ONE_ROUND, /* BEGIN, the statements, COMMIT in one pipeline (with an Idempotency-Key
                   * the COMMIT waits for the response to be stored: one more round) */
    TX_OPEN,      /* BEGIN, the statements; more rounds with tx_next; tx_reply commits */
} tx_mode;

/* A constraint a handler's statements may violate, and what the client is told. */
typedef struct {
    const char *constraint; /* PostgreSQL's constraint name */
    problem_kind kind;      /* PROBLEM_CONFLICT, or PROBLEM_VALIDATION naming field */
    const char *field;
    const char *detail;
} tx_conflict;

/* The work of an HTTP request: lives as long as the request, in its arena. */
tx *tx_for(http_ctx *ctx);
/* Background work on the app's pool, with its own arena; done reports how it ended. */
tx *tx_background(wf_app *app, int64_t deadline_ms, tx_done_fn done);
/* Moves background work that only polls to the app's control connection (before tx_run). */
void tx_use_control(tx *t);

/* Request-scoped memory (freed with the tx): zeroed, never NULL. */
void *tx_alloc(tx *t, size_t size);
#define TX_NEW(t, type)          ((type *)tx_alloc((t), sizeof(type)))
#define TX_ARRAY(t, type, count) ((type *)arena_array(tx_arena(t), (count), sizeof(type)))
arena *tx_arena(tx *t);
/* Statement arguments: decimal text, a copy, or "true"/"false". */
const char *tx_int(tx *t, int64_t value);
const char *tx_text(tx *t, const char *text);
const char *tx_bool(bool value);

/* Queues statement with its arguments (text, NULL for SQL NULL), which must live as long as
 * the tx (literals, tx_int/tx_text results, the request's own strings). The count must be
 * the statement's (statement_param_count): a mismatch is a bug and aborts in debug builds. */
#define tx_q(t, statement, ...)                                                                    \
    tx_queue((t), (statement), (const char *const[]){__VA_ARGS__},                                 \
             (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)))
void tx_q0(tx *t, int statement);
void tx_queue(tx *t, int statement, const char *const *args, int count);

/* The constraint table for this tx's errors (NULL-constraint terminated, static). */
void tx_conflicts(tx *t, const tx_conflict *table);
/* Runs fn(t, arg) after this attempt's COMMIT succeeded (never for a rolled-back or retried
 * attempt, never for TX_READ), before the reply goes out. */
void tx_on_commit(tx *t, void (*fn)(tx *t, void *arg), void *arg);

/* Sends the queued statements as the first round, in the given mode. */
void tx_run(tx *t, tx_mode mode, tx_cb cb);
/* Sends the statements queued since the last round (any mode but TX_ONE_ROUND; in
 * TX_READ each statement commits on its own). */
void tx_next(tx *t, tx_cb cb);

/* Ends a callback without a next step: the tx keeps its connection (and its transaction,
 * TX_SNAPSHOT's snapshot included) while the owner waits for something of its own, such as
 * a client reading what it was sent; the owner goes on later from the event loop with
 * tx_next, or ends it (tx_finish, tx_reply, tx_fail). A held connection is taken from the
 * pool, so the hold has a deadline (monotonic ms): past it, the tx ends by itself as if the
 * database had not answered in time (rolled back; background work's done hears
 * TX_TIMED_OUT, a request gets 503). tx_hold again before it passes moves the deadline.
 * Only after a round of TX_READ, TX_SNAPSHOT or TX_OPEN, whose retries re-run every
 * callback: an owner that already acted on an earlier round must not act twice. */
void tx_hold(tx *t, int64_t until_ms);
/* True from tx_hold until the owner goes on, or until the hold's deadline passed (the tx
 * is then ending by itself: its owner must not go on, and hears of it in done). */
bool tx_held(const tx *t);

/* A request's success: TX_OPEN sends what was queued since the last round with the
 * idempotency record and COMMIT; keyed TX_ONE_ROUND stores the record and commits; then
 * the reply goes out. body (malloc'd, taken over; NULL for none) and location (copied;
 * NULL for none). Requests only. */
void tx_reply(tx *t, int status, char *body, const char *location);
/* Background work's success: TX_OPEN sends what was queued since the last round with
 * COMMIT; then done hears TX_OK (or how the COMMIT failed). Background work only. */
void tx_finish(tx *t);
/* What a replay of this response under its Idempotency-Key shows instead of the body (a
 * response carrying a secret stores it without); copied. */
void tx_set_replay_body(tx *t, const char *body);
/* The reply's media type (default application/json; a static string). */
void tx_set_content_type(tx *t, const char *content_type);
/* Rolls back (when a transaction is open) and answers with a problem; background work's
 * done hears the problem's outcome (TX_REFUSED for a client error, TX_UNAVAILABLE for 503,
 * TX_FAILED for 500). */
void tx_fail(tx *t, problem_kind kind, const char *detail_fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Rolls back and answers 422 naming one field. */
void tx_invalid(tx *t, const char *field, const char *message);

/* The request, or NULL for background work. */
http_ctx *tx_ctx(const tx *t);
wf_app *tx_app(const tx *t);
/* Handler state, set once (tx_set_user) and read in callbacks. */
void tx_set_user(tx *t, void *user);
void *tx_user(const tx *t);
/* Runs fn(arg) when the tx is freed, whatever its outcome: for what the arena does not
 * own (a graph snapshot reference, a core result). */
void tx_on_free(tx *t, void (*fn)(void *arg), void *arg);

#endif
