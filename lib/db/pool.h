/* Non-blocking PostgreSQL connection pool on a libevent loop.
 *
 * A handler leases a connection, sends one or more pipelined batches on it (each batch is
 * one network round trip: all its queries, then one Sync), and releases it. Nothing here
 * blocks the loop: connects use PQconnectPoll, queries go out in pipeline mode on a
 * non-blocking socket, and every batch has its own timer, so a hung backend is noticed
 * even when the server-side statement_timeout is not (a stopped backend process).
 *
 * Callback contract: a function taking a callback either returns an error and never calls
 * it, or returns 0 and calls it exactly once, never from inside the call itself. */
#ifndef WF_DB_POOL_H
#define WF_DB_POOL_H

#include <event2/event.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct db_pool db_pool;
typedef struct db_conn db_conn;

/* A statement prepared on every connection right after it connects (and again after any
 * reconnect). Referenced by its index in the array given to db_pool_new. */
typedef struct {
    const char *name;
    const char *sql;
} db_statement;

typedef struct {
    int statement;   /* index of a prepared statement, or -1 to send sql as is */
    const char *sql; /* used when statement < 0 */
    int param_count;
    const char *const *params; /* text parameters, NULL entries are SQL NULL */
} db_query;

typedef enum {
    DB_OK = 0,
    DB_ERROR_SQL,         /* a query failed: failed_query, sqlstate, message are set */
    DB_ERROR_CONNECTION,  /* connection lost or query timer expired: if the batch held a
                           * COMMIT, whether it took effect is unknown */
    DB_ERROR_UNAVAILABLE, /* no connection to the database can be made right now */
    DB_ERROR_BUSY,        /* too many requests waiting for a connection */
    DB_ERROR_TIMEOUT,     /* the deadline passed while waiting for a connection */
    DB_ERROR_CLOSED,      /* the pool is shutting down */
} db_status;

typedef struct {
    db_status status;
    int count;                /* queries in the batch */
    PGresult *const *results; /* results[i] of query i; NULL when it was not run */
    int failed_query;         /* index of the failed query, or -1 */
    const char *sqlstate;     /* "" unless DB_ERROR_SQL */
    const char *message;      /* human-readable error, never NULL */
    const char *constraint;   /* violated constraint name, or "" */
} db_result;

typedef struct {
    const char *conninfo;
    int size;             /* connections */
    int queue_max;        /* leases that may wait */
    int query_timeout_ms; /* statement_timeout; the batch timer adds a margin */
    int lock_timeout_ms;
    const db_statement *statements;
    int statement_count;
    /* NULL, or a NULL-terminated list of statements (e.g. "SET TimeZone = 'UTC'") every
     * session runs once it connects, before its statements are prepared. */
    const char *const *session_settings;
    /* NULL, or called from the loop with each notification a session receives (the
     * session_settings may LISTEN), and with channel NULL each time a session is ready
     * after connecting: what was sent while it was not connected is lost, so a listener
     * should look for itself then. */
    void (*on_notify)(void *arg, const char *channel, const char *payload);
    void *notify_arg;
} db_pool_options;

typedef struct {
    int size, connected, leased, idle, waiting;
    uint64_t errors, reconnects, timeouts, batches;
} db_pool_stats;

typedef void (*db_lease_cb)(db_conn *conn, db_status status, void *arg);
typedef void (*db_batch_cb)(db_conn *conn, const db_result *result, void *arg);

/* Creates the pool and starts connecting in the background. The options' strings and
 * statement array must outlive the pool. NULL on allocation failure. */
db_pool *db_pool_new(struct event_base *base, const db_pool_options *options);
/* Fails every waiter with DB_ERROR_CLOSED, closes every connection, frees the pool.
 * Leased connections must have been released first. */
void db_pool_free(db_pool *pool);

/* Leases a connection. cb gets (conn, DB_OK), or (NULL, error) when the queue is full,
 * the database is unreachable, the deadline (monotonic ms, clock_ms()) passes, or the pool
 * closes. Returns -1 (cb not called) only on allocation failure. */
int db_pool_lease(db_pool *pool, int64_t deadline_ms, db_lease_cb cb, void *arg)
    __attribute__((warn_unused_result));
/* db_pool_lease for the service's own background work (dispatch, key cache), which is never
 * refused for the wait queue's bound and takes no place in it: the bound is what clients
 * may have waiting. */
int db_pool_lease_background(db_pool *pool, int64_t deadline_ms, db_lease_cb cb, void *arg)
    __attribute__((warn_unused_result));

/* Sends queries as one pipeline ending in a Sync. cb receives the results, which are
 * freed when it returns; cb may send the next batch on the same connection or release
 * it. After an error status the connection is still leased and must be released. */
int db_conn_send(db_conn *conn, const db_query *queries, int count, db_batch_cb cb, void *arg)
    __attribute__((warn_unused_result));

/* Returns a leased connection. An open transaction is rolled back first; a broken
 * connection is reconnected. Released with a batch still in flight, the connection is
 * dropped and that batch fails: its callback runs later, from the loop (never inside this
 * call), with DB_ERROR_CONNECTION and a NULL connection. */
void db_conn_release(db_conn *conn);

/* True while the leased connection's session is inside a transaction block. */
bool db_conn_in_transaction(const db_conn *conn);

bool db_pool_ready(const db_pool *pool);
db_pool_stats db_pool_get_stats(const db_pool *pool);

/* Result accessors for query q of a batch; NULL/0/-1 when absent. */
int db_rows(const db_result *result, int q);
/* How many columns query q's rows have (0 when it returned none). */
int db_columns(const db_result *result, int q);
const char *db_text(const db_result *result, int q, int row, int col);
bool db_is_null(const db_result *result, int q, int row, int col);
int64_t db_int64(const db_result *result, int q, int row, int col);
/* Rows affected by an INSERT/UPDATE/DELETE (PQcmdTuples), -1 when absent. */
int64_t db_affected(const db_result *result, int q);
/* The command tag, e.g. "COMMIT" or "ROLLBACK" (a COMMIT of a failed transaction). */
const char *db_command(const db_result *result, int q);

/* True for errors a transaction may be retried on from its start: deadlock (40P01) and
 * serialization failure (40001). */
bool db_sqlstate_retryable(const char *sqlstate);

#endif
