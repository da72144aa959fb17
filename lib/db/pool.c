/* The connection pool's state machine. Each connection moves through
 *   BACKOFF -> CONNECTING -> SETUP (session settings + prepares) -> IDLE <-> LEASED/BUSY
 * and back to BACKOFF whenever its socket fails or a batch timer expires. Leases wait in
 * a bounded FIFO; a deferred "pump" event hands idle connections to waiters so that no
 * callback ever runs inside the caller's own call.
 *
 * A connect is a round over the conninfo's hosts (db/hosts.h): one address at a time, each
 * with its own timer, so that a host that drops packets costs one attempt's timeout instead
 * of every attempt. A round starts at the host that worked last, or at the one after the
 * host that failed last, and a failed round waits a capped, jittered backoff. */
#include "db/pool.h"

#include "db/hosts.h"
#include "db/sqlstate.h"
#include "util/log.h"

#include <event2/event_struct.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum conn_state { CONN_BACKOFF, CONN_CONNECTING, CONN_SETUP, CONN_IDLE, CONN_LEASED, CONN_BUSY };

/* The margin the pool's own timer gives the server's statement_timeout before it decides
 * the backend is hung and drops the connection. */
#define TIMER_MARGIN_MS 2000
#define BACKOFF_MIN_MS  100
#define BACKOFF_MAX_MS  5000
/* One attempt's limit when the conninfo sets no connect_timeout. */
#define CONNECT_TIMEOUT_MS 5000
/* At most one "connect failed" warning per pool in this long; the rest are counted. */
#define CONNECT_WARN_INTERVAL_MS 5000

typedef struct batch {
    db_batch_cb cb;
    void *arg;
    int count;
    int current; /* index of the query whose results are arriving */
    PGresult **results;
    int failed_query;
    bool internal; /* setup or release-time ROLLBACK: no user callback */
    /* Released by its holder while in flight: failed later from the pump. */
    struct batch *next_orphan;
    char why[256];
} batch;

struct db_conn {
    db_pool *pool;
    int index;
    enum conn_state state;
    PGconn *pg;
    int socket;
    struct event io_ev;
    struct event timer_ev;
    bool io_added;
    short io_events;
    int backoff_ms;
    /* The connect round: its attempts, the one in flight (or next), what failed so far. */
    db_attempt *round;
    int round_count, round_next;
    char round_errors[768];
    batch *inflight;
    bool release_after; /* internal batch run on release: go IDLE when it completes */
    bool released;      /* released by its holder while a batch was in flight */
};

typedef struct waiter {
    struct waiter *next;
    db_pool *pool;
    db_lease_cb cb;
    void *arg;
    int64_t deadline_ms;
    bool over_bound; /* arrived when the queue was full: fails with DB_ERROR_BUSY */
    bool background; /* db_pool_lease_background: outside the bound */
} waiter;

struct db_pool {
    struct event_base *base;
    db_pool_options options;
    db_conn *conns;
    waiter *wait_head, *wait_tail;
    int waiting;
    int waiting_background; /* of waiting, those outside the bound */
    struct event pump_ev;
    struct event deadline_ev; /* fires at the earliest waiter deadline */
    batch *orphans;           /* batches failed by a release, callbacks still to run */
    bool failing;             /* a connect round failed since the last success */
    bool closing;
    db_hosts *hosts; /* NULL when the conninfo does not parse: libpq says why at each connect */
    int attempt_timeout_ms;
    /* Where rounds start: the host that worked last, or the one after the host that failed
     * last (and, for that host, the address that worked). */
    int preferred_host;
    char preferred_address[DB_ADDRESS_MAX];
    int connected_host; /* of the last successful connect, -1 before the first */
    int64_t warned_ms;  /* last "connect failed" warning, 0: none yet */
    int unlogged_failures;
    uint64_t random_state;
    db_pool_stats stats;
    char statement_timeout_sql[64];
    char lock_timeout_sql[64];
};

static void conn_io_cb(evutil_socket_t fd, short events, void *arg);
static void conn_timer_cb(evutil_socket_t fd, short events, void *arg);
static void conn_start_round(db_conn *conn);
static void conn_poll_connect(db_conn *conn);
static void pump_cb(evutil_socket_t fd, short events, void *arg);

static void schedule_pump(db_pool *pool)
{
    if (!pool->closing) {
        event_active(&pool->pump_ev, EV_TIMEOUT, 0);
    }
}

static void timer_arm(db_conn *conn, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(&conn->timer_ev, &tv);
}

/* Watches the connection's current socket for the given events. PQsocket can change
 * across connection attempts, so the event is re-assigned whenever it differs. */
static void io_watch(db_conn *conn, short events)
{
    int fd = PQsocket(conn->pg);
    if (conn->io_added && (fd != conn->socket || events != conn->io_events)) {
        event_del(&conn->io_ev);
        conn->io_added = false;
    }
    if (!conn->io_added && fd >= 0) {
        event_assign(&conn->io_ev, conn->pool->base, fd, events | EV_PERSIST, conn_io_cb, conn);
        event_add(&conn->io_ev, NULL);
        conn->io_added = true;
        conn->io_events = events;
        conn->socket = fd;
    }
}

static void io_unwatch(db_conn *conn)
{
    if (conn->io_added) {
        event_del(&conn->io_ev);
        conn->io_added = false;
    }
    conn->socket = -1;
}

static void batch_free(batch *b)
{
    if (b == NULL) {
        return;
    }
    for (int i = 0; i < b->count; i++) {
        PQclear(b->results[i]);
    }
    free(b->results);
    free(b);
}

static const char *result_field(const PGresult *r, int field)
{
    const char *value = r != NULL ? PQresultErrorField(r, field) : NULL;
    return value != NULL ? value : "";
}

/* What a batch's owner is told, before any SQL error of its own is read out of it. */
static db_result batch_result(const batch *b, db_status status, const char *message)
{
    return (db_result){
        .status = status,
        .count = b->count,
        .results = b->results,
        .failed_query = -1,
        .sqlstate = "",
        .message = message != NULL ? message : "",
        .constraint = "",
    };
}

/* Delivers a finished batch to its owner; the connection is LEASED again meanwhile so the
 * callback may send the next batch or release. */
static void batch_complete(db_conn *conn, db_status status, const char *message)
{
    batch *b = conn->inflight;
    conn->inflight = NULL;
    evtimer_del(&conn->timer_ev);
    if (b == NULL) {
        return;
    }
    db_result result = batch_result(b, status, message);
    if (status == DB_OK && b->failed_query >= 0) {
        const PGresult *failed = b->results[b->failed_query];
        result.status = DB_ERROR_SQL;
        result.failed_query = b->failed_query;
        result.sqlstate = result_field(failed, PG_DIAG_SQLSTATE);
        result.message = result_field(failed, PG_DIAG_MESSAGE_PRIMARY);
        result.constraint = result_field(failed, PG_DIAG_CONSTRAINT_NAME);
    }
    if (result.status != DB_OK) {
        conn->pool->stats.errors++;
    }
    if (b->internal) {
        batch_free(b);
        return;
    }
    b->cb(conn, &result, b->arg);
    batch_free(b);
}

/* xorshift64*: jitter needs spread, not secrecy. */
static uint32_t next_random(db_pool *pool)
{
    uint64_t x = pool->random_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    pool->random_state = x;
    return (uint32_t)((x * 0x2545F4914F6CDD1DULL) >> 32);
}

/* Waits the current backoff, jittered, in BACKOFF; returns the wait. */
static int conn_wait_backoff(db_conn *conn)
{
    int wait_ms = db_backoff_jitter(conn->backoff_ms, next_random(conn->pool));
    conn->state = CONN_BACKOFF;
    timer_arm(conn, wait_ms);
    return wait_ms;
}

static void conn_grow_backoff(db_conn *conn)
{
    conn->backoff_ms =
        conn->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : conn->backoff_ms * 2;
}

/* Drops the connection and schedules a reconnect with exponential backoff. A batch in
 * flight fails with DB_ERROR_CONNECTION; the lease (if any) stays with its holder, who
 * will release it. */
static void conn_break(db_conn *conn, const char *why_text)
{
    /* why_text may be PQerrorMessage of the connection PQfinish frees below. */
    char why[256];
    snprintf(why, sizeof why, "%s", why_text);
    db_pool *pool = conn->pool;
    bool was_leased = conn->state == CONN_LEASED || conn->state == CONN_BUSY;
    bool was_internal = conn->inflight != NULL && conn->inflight->internal;
    log_event(LOG_WARN, "database connection lost", "reason", why, NULL);
    io_unwatch(conn);
    evtimer_del(&conn->timer_ev);
    if (conn->pg != NULL) {
        PQfinish(conn->pg);
        conn->pg = NULL;
    }
    conn->state = CONN_BACKOFF;
    if (conn->release_after || was_internal) {
        /* The release-time rollback failed: the lease is already given back. */
        conn->release_after = false;
        batch_free(conn->inflight);
        conn->inflight = NULL;
        was_leased = false;
    }
    if (was_leased && !conn->released) {
        /* Keep it LEASED (broken) until the holder releases it. */
        conn->state = CONN_LEASED;
        batch_complete(conn, DB_ERROR_CONNECTION, why);
        return;
    }
    if (conn->released) {
        /* Released with a batch in flight: the batch fails, the lease is over. Its
         * callback runs from the pump, never inside db_conn_release. */
        conn->released = false;
        batch *orphan = conn->inflight;
        conn->inflight = NULL;
        if (orphan != NULL) {
            snprintf(orphan->why, sizeof orphan->why, "%s", why);
            orphan->next_orphan = pool->orphans;
            pool->orphans = orphan;
        }
    }
    conn_wait_backoff(conn);
    pool->stats.reconnects++;
    schedule_pump(pool);
}

static void conn_schedule_reconnect(db_conn *conn)
{
    conn_wait_backoff(conn);
    conn_grow_backoff(conn);
}

static void round_free(db_conn *conn)
{
    free(conn->round);
    conn->round = NULL;
    conn->round_count = 0;
    conn->round_next = 0;
}

static const db_attempt *current_attempt(const db_conn *conn)
{
    return conn->pool->hosts != NULL && conn->round_next < conn->round_count
               ? &conn->round[conn->round_next]
               : NULL;
}

/* Every attempt of the round failed: the pool is failing until a connect succeeds. One
 * warning names what each attempt met; more within CONNECT_WARN_INTERVAL_MS are counted. */
static void conn_round_failed(db_conn *conn)
{
    db_pool *pool = conn->pool;
    round_free(conn);
    pool->failing = true;
    int wait_ms = conn_wait_backoff(conn);
    int64_t now = clock_ms();
    if (pool->warned_ms == 0 || now - pool->warned_ms >= CONNECT_WARN_INTERVAL_MS) {
        char retry[16], unlogged[16];
        snprintf(retry, sizeof retry, "%d", wait_ms);
        snprintf(unlogged, sizeof unlogged, "%d", pool->unlogged_failures);
        log_event(LOG_WARN, "database connect failed", "reason", conn->round_errors, "retry_in_ms",
                  retry, "failures_not_logged", unlogged, NULL);
        pool->warned_ms = now;
        pool->unlogged_failures = 0;
    } else {
        pool->unlogged_failures++;
    }
    conn_grow_backoff(conn);
    schedule_pump(pool);
}

static void conn_next_attempt(db_conn *conn);

/* The attempt in flight (or about to be made) failed: note why, move the round's start past
 * its host, and go on with the next attempt (immediately: a refusing host costs nothing). */
static void conn_attempt_failed(db_conn *conn, const char *why_text)
{
    db_pool *pool = conn->pool;
    /* why_text may be PQerrorMessage of the connection PQfinish frees below. */
    char why[256];
    snprintf(why, sizeof why, "%.*s", (int)strcspn(why_text, "\n"), why_text);
    const db_attempt *attempt = current_attempt(conn);
    const char *label = attempt != NULL ? db_hosts_label(pool->hosts, attempt->host) : "database";
    const char *address = attempt != NULL ? attempt->address : "";
    size_t used = strlen(conn->round_errors);
    snprintf(conn->round_errors + used, sizeof conn->round_errors - used, "%s%s%s%s%s: %s",
             used > 0 ? "; " : "", label, address[0] ? " (" : "", address, address[0] ? ")" : "",
             why);
    log_event(LOG_DEBUG, "database host failed", "host", label, "address", address, "reason", why,
              NULL);
    if (attempt != NULL && attempt->host == pool->preferred_host) {
        pool->preferred_host = (attempt->host + 1) % db_hosts_count(pool->hosts);
        pool->preferred_address[0] = '\0';
    }
    io_unwatch(conn);
    evtimer_del(&conn->timer_ev);
    batch_free(conn->inflight); /* the setup batch, when setup failed */
    conn->inflight = NULL;
    if (conn->pg != NULL) {
        PQfinish(conn->pg);
        conn->pg = NULL;
    }
    conn->round_next++;
    conn_next_attempt(conn);
}

/* Starts the round's next attempt that can be made, or ends the round. */
static void conn_next_attempt(db_conn *conn)
{
    db_pool *pool = conn->pool;
    if (conn->round_next >= conn->round_count) {
        conn_round_failed(conn);
        return;
    }
    const db_attempt *attempt = current_attempt(conn);
    if (attempt != NULL && attempt->error[0] != '\0') {
        conn_attempt_failed(conn, attempt->error);
        return;
    }
    if (attempt != NULL) {
        const char *const *keywords;
        const char *const *values;
        db_hosts_params(pool->hosts, attempt, &keywords, &values);
        conn->pg = PQconnectStartParams(keywords, values, 0);
    } else {
        conn->pg = PQconnectStart(pool->options.conninfo);
    }
    if (conn->pg == NULL || PQstatus(conn->pg) == CONNECTION_BAD) {
        conn_attempt_failed(conn, conn->pg != NULL ? PQerrorMessage(conn->pg) : "out of memory");
        return;
    }
    conn->state = CONN_CONNECTING;
    timer_arm(conn, pool->attempt_timeout_ms);
    /* libpq has begun the TCP connect: PQconnectPoll comes once the socket is writable. */
    io_watch(conn, EV_WRITE);
}

static void conn_start_round(db_conn *conn)
{
    db_pool *pool = conn->pool;
    round_free(conn);
    conn->round_errors[0] = '\0';
    if (pool->hosts == NULL) {
        conn->round_count = 1; /* the conninfo as it is: libpq reports what is wrong */
    } else {
        conn->round = db_hosts_round(pool->hosts, pool->preferred_host, pool->preferred_address,
                                     db_resolve_getaddrinfo, NULL, &conn->round_count);
        if (conn->round == NULL) {
            snprintf(conn->round_errors, sizeof conn->round_errors, "out of memory");
            conn_round_failed(conn);
            return;
        }
    }
    conn_next_attempt(conn);
}

/* Flushes the output buffer; watches for writability while libpq still has data. */
static int conn_flush(db_conn *conn)
{
    int rc = PQflush(conn->pg);
    if (rc < 0) {
        return -1;
    }
    io_watch(conn, rc == 1 ? (EV_READ | EV_WRITE) : EV_READ);
    return 0;
}

static int send_one(db_conn *conn, const db_query *q)
{
    const db_pool_options *o = &conn->pool->options;
    if (q->statement >= 0) {
        if (q->statement >= o->statement_count) {
            return 0;
        }
        return PQsendQueryPrepared(conn->pg, o->statements[q->statement].name, q->param_count,
                                   q->params, NULL, NULL, 0);
    }
    return PQsendQueryParams(conn->pg, q->sql, q->param_count, NULL, q->params, NULL, NULL, 0);
}

static batch *batch_new(int count, db_batch_cb cb, void *arg, bool internal)
{
    batch *b = calloc(1, sizeof *b);
    if (b == NULL) {
        return NULL;
    }
    b->results = calloc((size_t)(count > 0 ? count : 1), sizeof *b->results);
    if (b->results == NULL) {
        free(b);
        return NULL;
    }
    b->count = count;
    b->cb = cb;
    b->arg = arg;
    b->failed_query = -1;
    b->internal = internal;
    return b;
}

/* Starts a batch already queued in libpq: sync, flush, arm the timer. */
static int batch_start(db_conn *conn, batch *b)
{
    if (PQpipelineSync(conn->pg) != 1) {
        return -1;
    }
    conn->inflight = b;
    conn->pool->stats.batches++;
    timer_arm(conn, conn->pool->options.query_timeout_ms + TIMER_MARGIN_MS);
    return conn_flush(conn);
}

static void setup_start(db_conn *conn)
{
    db_pool *pool = conn->pool;
    const db_pool_options *o = &pool->options;
    int settings = 0;
    while (o->session_settings != NULL && o->session_settings[settings] != NULL) {
        settings++;
    }
    int count = 2 + settings + o->statement_count;
    batch *b = batch_new(count, NULL, NULL, true);
    if (b == NULL || PQsetnonblocking(conn->pg, 1) != 0 || PQenterPipelineMode(conn->pg) != 1 ||
        PQsendQueryParams(conn->pg, pool->statement_timeout_sql, 0, NULL, NULL, NULL, NULL, 0) !=
            1 ||
        PQsendQueryParams(conn->pg, pool->lock_timeout_sql, 0, NULL, NULL, NULL, NULL, 0) != 1) {
        batch_free(b);
        conn_attempt_failed(conn, PQerrorMessage(conn->pg));
        return;
    }
    for (int i = 0; i < settings; i++) {
        if (PQsendQueryParams(conn->pg, o->session_settings[i], 0, NULL, NULL, NULL, NULL, 0) !=
            1) {
            batch_free(b);
            conn_attempt_failed(conn, PQerrorMessage(conn->pg));
            return;
        }
    }
    for (int i = 0; i < o->statement_count; i++) {
        if (PQsendPrepare(conn->pg, o->statements[i].name, o->statements[i].sql, 0, NULL) != 1) {
            batch_free(b);
            conn_attempt_failed(conn, PQerrorMessage(conn->pg));
            return;
        }
    }
    conn->state = CONN_SETUP;
    if (batch_start(conn, b) != 0) {
        conn->inflight = NULL;
        batch_free(b);
        conn_attempt_failed(conn, PQerrorMessage(conn->pg));
    }
}

/* Reads every complete result; returns 1 when the batch's Sync arrived. */
static int conn_read_results(db_conn *conn)
{
    batch *b = conn->inflight;
    while (!PQisBusy(conn->pg)) {
        PGresult *r = PQgetResult(conn->pg);
        if (r == NULL) {
            /* End of one query's results. */
            if (b != NULL && b->current < b->count) {
                b->current++;
            }
            continue;
        }
        ExecStatusType status = PQresultStatus(r);
        if (status == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            return 1;
        }
        if (b == NULL || b->current >= b->count || b->results[b->current] != NULL) {
            PQclear(r);
            continue;
        }
        if (status == PGRES_PIPELINE_ABORTED) {
            PQclear(r); /* not run: its result stays NULL, as pool.h promises */
            continue;
        }
        if ((status == PGRES_FATAL_ERROR || status == PGRES_NONFATAL_ERROR) &&
            b->failed_query < 0) {
            b->failed_query = b->current;
        }
        b->results[b->current] = r;
    }
    return 0;
}

static void setup_finished(db_conn *conn)
{
    batch *b = conn->inflight;
    conn->inflight = NULL;
    evtimer_del(&conn->timer_ev);
    if (b->failed_query >= 0) {
        char why[512];
        snprintf(why, sizeof why, "session setup failed: %s",
                 result_field(b->results[b->failed_query], PG_DIAG_MESSAGE_PRIMARY));
        batch_free(b);
        conn_attempt_failed(conn, why);
        return;
    }
    batch_free(b);
    db_pool *pool = conn->pool;
    const db_attempt *attempt = current_attempt(conn);
    int host = attempt != NULL ? attempt->host : 0;
    /* Rounds start here from now on, this address first. */
    pool->preferred_host = host;
    snprintf(pool->preferred_address, sizeof pool->preferred_address, "%s",
             attempt != NULL ? attempt->address : "");
    if (pool->failing || host != pool->connected_host) {
        char unlogged[16];
        snprintf(unlogged, sizeof unlogged, "%d", pool->unlogged_failures);
        log_event(LOG_INFO, "database connected", "host",
                  attempt != NULL ? db_hosts_label(pool->hosts, host) : "database", "address",
                  attempt != NULL ? attempt->address : "", "failures_not_logged", unlogged, NULL);
    }
    round_free(conn);
    pool->connected_host = host;
    pool->failing = false;
    /* warned_ms stays: a connection still in a round that began during the outage may fail
     * it just after this, and must not warn again within the interval. */
    pool->unlogged_failures = 0;
    conn->state = CONN_IDLE;
    conn->backoff_ms = BACKOFF_MIN_MS;
    log_event(LOG_DEBUG, "database connection ready", NULL);
    schedule_pump(pool);
    if (pool->options.on_notify != NULL) {
        pool->options.on_notify(pool->options.notify_arg, NULL, NULL);
    }
}

/* The socket failed: during setup that is the attempt failing (the round goes on), later
 * the connection breaking. */
static void conn_lost(db_conn *conn, const char *why)
{
    if (conn->state == CONN_SETUP) {
        conn_attempt_failed(conn, why);
    } else {
        conn_break(conn, why);
    }
}

static void conn_on_io(db_conn *conn, short events)
{
    if (conn->state == CONN_CONNECTING) {
        conn_poll_connect(conn);
        return;
    }
    if ((events & EV_WRITE) && conn_flush(conn) != 0) {
        conn_lost(conn, PQerrorMessage(conn->pg));
        return;
    }
    if (!(events & EV_READ)) {
        return;
    }
    if (PQconsumeInput(conn->pg) != 1) {
        conn_lost(conn, PQerrorMessage(conn->pg));
        return;
    }
    /* Drain the notifications a session receives (LISTEN in its settings). */
    PGnotify *note;
    while ((note = PQnotifies(conn->pg)) != NULL) {
        if (conn->pool->options.on_notify != NULL) {
            conn->pool->options.on_notify(conn->pool->options.notify_arg, note->relname,
                                          note->extra);
        }
        PQfreemem(note);
    }
    if (conn->inflight == NULL) {
        if (PQstatus(conn->pg) == CONNECTION_BAD) {
            conn_break(conn, "server closed the connection");
        }
        return;
    }
    if (conn_read_results(conn) != 1) {
        if (PQstatus(conn->pg) == CONNECTION_BAD) {
            conn_lost(conn, PQerrorMessage(conn->pg));
        }
        return;
    }
    if (conn->state == CONN_SETUP) {
        setup_finished(conn);
        return;
    }
    if (conn->inflight->internal) {
        /* Release-time ROLLBACK finished. */
        batch_free(conn->inflight);
        conn->inflight = NULL;
        evtimer_del(&conn->timer_ev);
        conn->release_after = false;
        conn->state = CONN_IDLE;
        if (PQtransactionStatus(conn->pg) != PQTRANS_IDLE) {
            conn_break(conn, "rollback left the session inside a transaction");
            return;
        }
        schedule_pump(conn->pool);
        return;
    }
    conn->state = CONN_LEASED;
    batch_complete(conn, DB_OK, NULL);
}

static void conn_io_cb(evutil_socket_t fd, short events, void *arg)
{
    conn_on_io(arg, events);
}

static void conn_timer_cb(evutil_socket_t fd, short events, void *arg)
{
    db_conn *conn = arg;
    switch (conn->state) {
    case CONN_BACKOFF:
        conn_start_round(conn);
        break;
    case CONN_CONNECTING: {
        char why[64];
        snprintf(why, sizeof why, "no answer within %d ms", conn->pool->attempt_timeout_ms);
        conn_attempt_failed(conn, why);
        break;
    }
    case CONN_SETUP:
        conn_attempt_failed(conn, "session setup timed out");
        break;
    case CONN_BUSY:
    case CONN_LEASED:
        if (conn->inflight != NULL) {
            conn->pool->stats.timeouts++;
            conn_break(conn, "query timed out (backend not answering)");
        }
        break;
    case CONN_IDLE:
        break;
    }
}

/* Continues the attempt in flight. */
static void conn_poll_connect(db_conn *conn)
{
    switch (PQconnectPoll(conn->pg)) {
    case PGRES_POLLING_READING:
        io_watch(conn, EV_READ);
        break;
    case PGRES_POLLING_WRITING:
        io_watch(conn, EV_WRITE);
        break;
    case PGRES_POLLING_OK:
        evtimer_del(&conn->timer_ev);
        io_watch(conn, EV_READ);
        setup_start(conn);
        break;
    default:
        conn_attempt_failed(conn, PQerrorMessage(conn->pg));
        break;
    }
}

static void waiter_remove(db_pool *pool, waiter *w, waiter *prev)
{
    if (prev == NULL) {
        pool->wait_head = w->next;
    } else {
        prev->next = w->next;
    }
    if (pool->wait_tail == w) {
        pool->wait_tail = prev;
    }
    pool->waiting--;
    pool->waiting_background -= w->background;
}

static int usable_connections(const db_pool *pool)
{
    int usable = 0;
    for (int i = 0; i < pool->options.size; i++) {
        enum conn_state s = pool->conns[i].state;
        usable += s == CONN_IDLE || s == CONN_LEASED || s == CONN_BUSY;
    }
    return usable;
}

static void arm_deadline_timer(db_pool *pool)
{
    evtimer_del(&pool->deadline_ev);
    int64_t earliest = INT64_MAX;
    for (waiter *w = pool->wait_head; w != NULL; w = w->next) {
        earliest = w->deadline_ms < earliest ? w->deadline_ms : earliest;
    }
    if (earliest != INT64_MAX) {
        int64_t ms = earliest - clock_ms();
        ms = ms < 0 ? 0 : ms;
        struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
        evtimer_add(&pool->deadline_ev, &tv);
    }
}

/* Hands idle connections to waiters in FIFO order, and fails waiters whose deadline
 * passed or who cannot be served because the database is down. */
static void fail_orphans(db_pool *pool)
{
    while (pool->orphans != NULL) {
        batch *b = pool->orphans;
        pool->orphans = b->next_orphan;
        db_result result = batch_result(b, DB_ERROR_CONNECTION, b->why);
        pool->stats.errors++;
        b->cb(NULL, &result, b->arg);
        batch_free(b);
    }
}

static void pump_cb(evutil_socket_t fd, short events, void *arg)
{
    db_pool *pool = arg;
    fail_orphans(pool);
    int64_t now = clock_ms();
    bool down = pool->failing && usable_connections(pool) == 0;
    waiter *prev = NULL;
    for (waiter *w = pool->wait_head; w != NULL;) {
        waiter *next = w->next;
        db_status fail = DB_OK;
        if (w->over_bound) {
            fail = DB_ERROR_BUSY;
        } else if (pool->closing) {
            fail = DB_ERROR_CLOSED;
        } else if (down) {
            fail = DB_ERROR_UNAVAILABLE;
        } else if (w->deadline_ms <= now) {
            fail = DB_ERROR_TIMEOUT;
        }
        db_conn *idle = NULL;
        if (fail == DB_OK) {
            for (int i = 0; i < pool->options.size; i++) {
                if (pool->conns[i].state == CONN_IDLE) {
                    idle = &pool->conns[i];
                    break;
                }
            }
            if (idle == NULL) {
                prev = w;
                w = next;
                continue;
            }
        }
        waiter_remove(pool, w, prev);
        if (idle != NULL) {
            idle->state = CONN_LEASED;
        }
        w->cb(idle, fail, w->arg);
        free(w);
        w = next;
    }
    arm_deadline_timer(pool);
}

static void deadline_cb(evutil_socket_t fd, short events, void *arg)
{
    pump_cb(fd, events, arg);
}

db_pool *db_pool_new(struct event_base *base, const db_pool_options *options)
{
    db_pool *pool = calloc(1, sizeof *pool);
    if (pool == NULL) {
        return NULL;
    }
    pool->conns = calloc((size_t)options->size, sizeof *pool->conns);
    if (pool->conns == NULL) {
        free(pool);
        return NULL;
    }
    pool->base = base;
    pool->options = *options;
    pool->stats.size = options->size;
    snprintf(pool->statement_timeout_sql, sizeof pool->statement_timeout_sql,
             "SET statement_timeout = %d", options->query_timeout_ms);
    snprintf(pool->lock_timeout_sql, sizeof pool->lock_timeout_sql, "SET lock_timeout = %d",
             options->lock_timeout_ms);
    event_assign(&pool->pump_ev, base, -1, 0, pump_cb, pool);
    evtimer_assign(&pool->deadline_ev, base, deadline_cb, pool);
    char why[256];
    pool->hosts = db_hosts_parse(options->conninfo, why, sizeof why);
    if (pool->hosts == NULL) {
        log_event(LOG_ERROR, "cannot read the database hosts", "reason", why, NULL);
    }
    pool->attempt_timeout_ms = pool->hosts != NULL
                                   ? db_hosts_timeout_ms(pool->hosts, CONNECT_TIMEOUT_MS)
                                   : CONNECT_TIMEOUT_MS;
    pool->connected_host = -1;
    pool->random_state =
        ((uint64_t)clock_us() << 16) ^ ((uint64_t)getpid() << 40) ^ (uint64_t)(uintptr_t)pool ^ 1;
    for (int i = 0; i < options->size; i++) {
        db_conn *conn = &pool->conns[i];
        conn->pool = pool;
        conn->index = i;
        conn->socket = -1;
        conn->backoff_ms = BACKOFF_MIN_MS;
        conn->state = CONN_BACKOFF;
        evtimer_assign(&conn->timer_ev, base, conn_timer_cb, conn);
        conn_start_round(conn);
    }
    return pool;
}

void db_pool_free(db_pool *pool)
{
    if (pool == NULL) {
        return;
    }
    pool->closing = true;
    while (pool->wait_head != NULL) {
        waiter *w = pool->wait_head;
        waiter_remove(pool, w, NULL);
        w->cb(NULL, DB_ERROR_CLOSED, w->arg);
        free(w);
    }
    for (int i = 0; i < pool->options.size; i++) {
        db_conn *conn = &pool->conns[i];
        io_unwatch(conn);
        evtimer_del(&conn->timer_ev);
        batch_free(conn->inflight);
        round_free(conn);
        if (conn->pg != NULL) {
            PQfinish(conn->pg);
        }
    }
    db_hosts_free(pool->hosts);
    while (pool->orphans != NULL) {
        batch *b = pool->orphans;
        pool->orphans = b->next_orphan;
        batch_free(b);
    }
    event_del(&pool->pump_ev);
    evtimer_del(&pool->deadline_ev);
    free(pool->conns);
    free(pool);
}

static int lease(db_pool *pool, int64_t deadline_ms, db_lease_cb cb, void *arg, bool background)
{
    waiter *w = calloc(1, sizeof *w);
    if (w == NULL) {
        return -1;
    }
    w->pool = pool;
    w->cb = cb;
    w->arg = arg;
    w->deadline_ms = deadline_ms;
    w->background = background;
    /* Over the bound: fail at once (still through the pump, never inside this call).
     * Leases that idle connections will serve on this turn do not count as waiting. */
    int idle = 0;
    for (int i = 0; i < pool->options.size; i++) {
        idle += pool->conns[i].state == CONN_IDLE;
    }
    w->over_bound =
        !background && pool->waiting - pool->waiting_background - idle >= pool->options.queue_max;
    if (pool->wait_tail != NULL) {
        pool->wait_tail->next = w;
    } else {
        pool->wait_head = w;
    }
    pool->wait_tail = w;
    pool->waiting++;
    pool->waiting_background += background;
    schedule_pump(pool);
    return 0;
}

int db_pool_lease(db_pool *pool, int64_t deadline_ms, db_lease_cb cb, void *arg)
{
    return lease(pool, deadline_ms, cb, arg, false);
}

int db_pool_lease_background(db_pool *pool, int64_t deadline_ms, db_lease_cb cb, void *arg)
{
    return lease(pool, deadline_ms, cb, arg, true);
}

int db_conn_send(db_conn *conn, const db_query *queries, int count, db_batch_cb cb, void *arg)
{
    if (conn->state != CONN_LEASED || conn->inflight != NULL || conn->pg == NULL) {
        return -1;
    }
    batch *b = batch_new(count, cb, arg, false);
    if (b == NULL) {
        return -1;
    }
    for (int i = 0; i < count; i++) {
        if (send_one(conn, &queries[i]) != 1) {
            /* libpq queued part of the pipeline: the session state is unknown. */
            batch_free(b);
            conn_break(conn, PQerrorMessage(conn->pg));
            return -1;
        }
    }
    conn->state = CONN_BUSY;
    if (batch_start(conn, b) != 0) {
        conn->inflight = NULL;
        batch_free(b);
        conn->state = CONN_LEASED;
        conn_break(conn, PQerrorMessage(conn->pg));
        return -1;
    }
    return 0;
}

void db_conn_release(db_conn *conn)
{
    if (conn == NULL) {
        return;
    }
    db_pool *pool = conn->pool;
    if (conn->pg == NULL) {
        /* Broken while leased: reconnect now. */
        conn_schedule_reconnect(conn);
        pool->stats.reconnects++;
        schedule_pump(pool);
        return;
    }
    if (conn->inflight != NULL) {
        /* The session's state is unknown mid-batch: drop it, fail the batch (its callback
         * runs now) and reconnect. */
        conn->released = true;
        conn_break(conn, "released with a batch in flight");
        return;
    }
    PGTransactionStatusType tx = PQtransactionStatus(conn->pg);
    if (tx == PQTRANS_INTRANS || tx == PQTRANS_INERROR) {
        batch *b = batch_new(1, NULL, NULL, true);
        if (b != NULL &&
            PQsendQueryParams(conn->pg, "ROLLBACK", 0, NULL, NULL, NULL, NULL, 0) == 1) {
            conn->state = CONN_BUSY;
            conn->release_after = true;
            if (batch_start(conn, b) == 0) {
                return;
            }
            conn->inflight = NULL;
        }
        batch_free(b);
        conn_break(conn, "could not roll back on release");
        return;
    }
    if (tx != PQTRANS_IDLE) {
        conn_break(conn, "session in unknown state on release");
        return;
    }
    conn->state = CONN_IDLE;
    schedule_pump(pool);
}

bool db_conn_in_transaction(const db_conn *conn)
{
    if (conn->pg == NULL) {
        return false;
    }
    PGTransactionStatusType tx = PQtransactionStatus(conn->pg);
    return tx == PQTRANS_INTRANS || tx == PQTRANS_INERROR;
}

bool db_pool_ready(const db_pool *pool)
{
    return usable_connections(pool) > 0;
}

db_pool_stats db_pool_get_stats(const db_pool *pool)
{
    db_pool_stats stats = pool->stats;
    stats.connected = stats.leased = stats.idle = 0;
    for (int i = 0; i < pool->options.size; i++) {
        enum conn_state s = pool->conns[i].state;
        stats.connected += s == CONN_IDLE || s == CONN_LEASED || s == CONN_BUSY;
        stats.leased += s == CONN_LEASED || s == CONN_BUSY;
        stats.idle += s == CONN_IDLE;
    }
    stats.waiting = pool->waiting;
    return stats;
}

static const PGresult *result_of(const db_result *result, int q)
{
    if (result == NULL || q < 0 || q >= result->count) {
        return NULL;
    }
    return result->results[q];
}

int db_rows(const db_result *result, int q)
{
    const PGresult *r = result_of(result, q);
    return r != NULL && PQresultStatus(r) == PGRES_TUPLES_OK ? PQntuples(r) : 0;
}

int db_columns(const db_result *result, int q)
{
    const PGresult *r = result_of(result, q);
    return r != NULL && PQresultStatus(r) == PGRES_TUPLES_OK ? PQnfields(r) : 0;
}

const char *db_text(const db_result *result, int q, int row, int col)
{
    const PGresult *r = result_of(result, q);
    if (r == NULL || row >= PQntuples(r) || col >= PQnfields(r) || PQgetisnull(r, row, col)) {
        return NULL;
    }
    return PQgetvalue(r, row, col);
}

bool db_is_null(const db_result *result, int q, int row, int col)
{
    return db_text(result, q, row, col) == NULL;
}

int64_t db_int64(const db_result *result, int q, int row, int col)
{
    /* PostgreSQL's text output of an integer: an optional '-' and digits. Parsed by hand:
     * strtoll's locale and base handling showed in the profile of the large views. */
    const char *text = db_text(result, q, row, col);
    if (text == NULL) {
        return 0;
    }
    bool negative = *text == '-';
    uint64_t value = 0;
    for (const char *p = text + negative; *p >= '0' && *p <= '9'; p++) {
        value = value * 10 + (uint64_t)(*p - '0');
    }
    return negative ? (int64_t)(0 - value) : (int64_t)value;
}

int64_t db_affected(const db_result *result, int q)
{
    const PGresult *r = result_of(result, q);
    if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK) {
        return r != NULL && PQresultStatus(r) == PGRES_TUPLES_OK ? PQntuples(r) : -1;
    }
    const char *tuples = PQcmdTuples((PGresult *)r);
    return tuples[0] != '\0' ? strtoll(tuples, NULL, 10) : -1;
}

const char *db_command(const db_result *result, int q)
{
    const PGresult *r = result_of(result, q);
    return r != NULL ? PQcmdStatus((PGresult *)r) : "";
}

bool db_sqlstate_retryable(const char *sqlstate)
{
    return sqlstate_is(sqlstate, SQLSTATE_DEADLOCK_DETECTED) ||
           sqlstate_is(sqlstate, SQLSTATE_SERIALIZATION_FAILURE);
}
