/* Runs one request's database work as a transaction on a leased connection, and owns the
 * cross-cutting rules around it: BEGIN (and, for one-round work, COMMIT) in the same
 * pipeline as the work, bounded retries of deadlocks and serialization failures from the
 * start, 503 with Retry-After when the database is unavailable, never retrying a COMMIT
 * whose outcome is unknown, and Idempotency-Key replay claimed inside the same transaction
 * as the work (so a rolled-back attempt frees the key).
 *
 * A tx answers an HTTP request, or — for background work such as automatic dispatch —
 * reports to a done callback instead (ctx NULL). The handler's on_result callback sees only
 * its own queries' results; it may send further rounds with api_tx_send, and must finish
 * with exactly one of api_tx_ok / api_tx_commit / api_tx_problem / api_tx_invalid /
 * api_tx_db_error. on_result runs again from scratch when the transaction is retried. */
#ifndef WF_API_TX_H
#define WF_API_TX_H

#include "db/pool.h"
#include "http/server.h"

#include <stdbool.h>

typedef struct api_tx api_tx;
typedef void (*api_tx_cb)(api_tx *tx, const db_result *result);
/* Background completion: status is the HTTP-equivalent status, body the JSON (or NULL). */
typedef void (*api_tx_done_cb)(void *user, int status, const char *body);

typedef enum {
    TX_NONE,      /* plain statements, autocommit (reads) */
    TX_ONE_ROUND, /* BEGIN, work, COMMIT in one pipeline; on_result sees committed work */
    TX_OPEN,      /* BEGIN, work; on_result continues and ends with api_tx_commit */
} api_tx_mode;

typedef struct {
    const db_query *queries; /* must stay valid until the request ends: retries resend */
    int count;
    api_tx_mode mode;
    api_tx_cb on_result; /* receives DB_OK or DB_ERROR_SQL, never transport errors */
} api_tx_spec;

/* Starts the work for an HTTP request. user (may be NULL) is freed with user_free when
 * the request ends. The request is always answered, even when this fails to start. */
void api_tx_start(http_ctx *ctx, const api_tx_spec *spec, void *user, void (*user_free)(void *));
/* Starts background work on the app's pool; done is called exactly once. */
void api_tx_start_background(void *app, int64_t deadline_ms, const api_tx_spec *spec, void *user,
                             api_tx_done_cb done);

void *api_tx_user(const api_tx *tx);
http_ctx *api_tx_ctx(const api_tx *tx); /* NULL for background work */
void *api_tx_app(const api_tx *tx);
bool api_tx_keyed(const api_tx *tx); /* an Idempotency-Key applies */

/* Sends another round inside the open transaction; cb gets DB_OK or DB_ERROR_SQL. */
void api_tx_send(api_tx *tx, const db_query *queries, int count, api_tx_cb cb);

/* Success of TX_NONE / TX_ONE_ROUND work: replies with body (malloc'd JSON text, taken
 * over; NULL for empty). For keyed one-round work the response is stored, then committed. */
void api_tx_ok(api_tx *tx, int status, char *body, const char *location);
/* Success of TX_OPEN work: sends the final writes (may be none) with the idempotency
 * record and COMMIT in one round, checks the COMMIT, then replies as api_tx_ok.
 * writes must stay valid until the request ends. */
void api_tx_commit(api_tx *tx, const db_query *writes, int count, int status, char *body,
                   const char *location);
/* Rolls back (if a transaction is open) and replies with a problem. */
void api_tx_problem(api_tx *tx, int status, const char *slug, const char *title,
                    const char *detail);
void api_tx_invalid(api_tx *tx, const char *field, const char *message);
/* Maps a database error: unique/foreign-key/check violations -> 409, lock or statement
 * timeout -> 503, wasteflow's own check codes WF409/WF422 (see wf_check in the schema),
 * anything else -> 500 (logged). */
void api_tx_db_error(api_tx *tx, const db_result *result);

/* Shared problem helpers for handlers answering without a transaction. */
void api_reply_not_found(http_ctx *ctx, const char *what);
void api_reply_db_unavailable(http_ctx *ctx, db_status status);

#endif
