/* The reader of the live feed (engine/events.h, engine/events_internal.h): while a stream is
 * open, every POLL_MS (at once again while a read came back full), on the control
 * connection (db/pool.c connects, reconnects and fails over):
 *   round 1  the transfers after the last one delivered and the event_log rows after the
 *            last one read, each below the horizon of its statement's snapshot
 *            (wf_feed_horizon in sql/migrations/008_feed.sql: every transaction with a
 *            smaller id has ended, and what it committed is visible), in (xid, id) order.
 *            So nothing is skipped, whatever commits when: a row whose transaction still
 *            runs stays above the horizon until it ends, and is read then.
 *   round 2  the unloads, storages, organizations and routes event_log named, as they are
 *            now (one without a row was deleted).
 * A read that fails is retried from the same place with a backoff; once one succeeds again
 * the streams are told to `resync` (what they show may have changed meanwhile). Without
 * streams nothing is read, and the first stream reads the starting point again. */
#include "engine/events_internal.h"

#include "engine/statements.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/strbuf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FETCH_TRANSFERS 200    /* transfers per read; more are read right after */
#define FETCH_LOG       500    /* event_log rows per read; likewise */
#define IDS_MAX         100000 /* distinct ids of a kind in one read: more, a resync */
#define POLL_MS         100    /* the feed is read this often while a stream is open */
#define PRUNE_MS        600000 /* event_log's old rows are deleted this often */

uint64_t events_xid_of(const char *text)
{
    return strtoull(text, NULL, 10);
}

const char *events_xid_text(tx *t, uint64_t xid)
{
    char text[24];
    snprintf(text, sizeof text, "%" PRIu64, xid);
    return tx_text(t, text);
}

void events_read_in(events_hub *hub, int ms)
{
    if (hub->stopped) {
        return;
    }
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_del(&hub->poll);
    evtimer_add(&hub->poll, &tv);
}

static void activate_waiting(events_hub *hub)
{
    for (subscriber *sub = hub->subs; sub != NULL; sub = sub->next) {
        if (sub->state == SUB_WAITING && sub->stream != NULL) {
            events_activate(sub);
        }
    }
}

/* The kinds event_log names, in the order their events go out (after the transfers). */
static const struct {
    char letter;
    event_kind kind;
    int statement;
} logged[] = {
    {'u', EVENT_UNLOAD, ST_EV_UNLOADS},
    {'s', EVENT_STORAGE, ST_EV_STORAGES},
    {'o', EVENT_ORGANIZATION, ST_EV_ORGANIZATIONS},
    {'r', EVENT_ROUTE, ST_EV_ROUTES},
    {'m', EVENT_MOVEMENT, ST_EV_MOVEMENTS},
    {'a', EVENT_ALERT, ST_EV_ALERTS},
};
#define LOGGED_COUNT (sizeof logged / sizeof logged[0])

typedef struct {
    events_hub *hub;
    int64_t *ids[LOGGED_COUNT]; /* distinct, ascending, in the tx's arena */
    size_t id_count[LOGGED_COUNT];
    int q_kind[LOGGED_COUNT];
} fetch_job;

static int compare_ids(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static const char *array_literal(tx *t, const int64_t *ids, size_t count)
{
    strbuf text = {0};
    strbuf_puts(&text, "{");
    for (size_t i = 0; i < count; i++) {
        strbuf_puts(&text, i > 0 ? "," : "");
        strbuf_int(&text, ids[i]);
    }
    strbuf_puts(&text, "}");
    if (strbuf_failed(&text)) {
        mem_exhausted(text.len);
    }
    const char *literal = tx_text(t, text.data);
    strbuf_free(&text);
    return literal;
}

/* The second round: what event_log named, as it is now. */
static void states_read(tx *t, const db_result *result)
{
    fetch_job *job = tx_user(t);
    events_hub *hub = job->hub;
    for (size_t k = 0; k < LOGGED_COUNT; k++) {
        if (job->q_kind[k] < 0) {
            continue;
        }
        event_item *items;
        size_t count =
            hub->options.policy->render(logged[k].kind, tx_arena(t), result, job->q_kind[k],
                                        job->ids[k], job->id_count[k], &items);
        for (size_t i = 0; i < count; i++) {
            events_fan_out(hub, &items[i]);
        }
    }
    tx_finish(t);
}

/* The column of a fetched transfer row that names the storage a shipment went to
 * (TRANSFER_COLUMNS: NULL for a transfer without shipments). */
#define TRANSFER_STORAGE_COLUMN 6

/* Collects the ids of each kind that the log rows (query 1) name, and the storages the
 * fetched transfers (query 0) shipped to: the service's transfer statement does not log
 * the stock it changes (sql/migrations/017_feed_storages.sql), its shipments say which
 * storages changed. */
static bool collect_logged(events_hub *hub, tx *t, fetch_job *job, const db_result *result)
{
    int rows = db_rows(result, 1);
    int shipped = db_rows(result, 0);
    size_t entries = 0;
    feed_pos last = hub->log;
    for (size_t k = 0; k < LOGGED_COUNT; k++) {
        job->ids[k] = TX_ARRAY(t, int64_t, (size_t)rows + (size_t)shipped + 1);
        job->q_kind[k] = -1;
        if (logged[k].kind != EVENT_STORAGE) {
            continue;
        }
        for (int row = 0; row < shipped; row++) {
            if (!db_is_null(result, 0, row, TRANSFER_STORAGE_COLUMN)) {
                job->ids[k][job->id_count[k]++] = db_int64(result, 0, row, TRANSFER_STORAGE_COLUMN);
            }
        }
    }
    for (int row = 0; row < rows; row++) {
        feed_pos pos = {events_xid_of(db_text(result, 1, row, 0)), db_int64(result, 1, row, 1)};
        if (pos_cmp(pos, last) != 0) {
            entries++;
            last = pos;
        }
        char letter = db_text(result, 1, row, 2)[0];
        for (size_t k = 0; k < LOGGED_COUNT; k++) {
            if (logged[k].letter == letter) {
                job->ids[k][job->id_count[k]++] = db_int64(result, 1, row, 3);
            }
        }
    }
    hub->log = last;
    int q = 0;
    for (size_t k = 0; k < LOGGED_COUNT; k++) {
        size_t n = job->id_count[k];
        if (n == 0) {
            continue;
        }
        qsort(job->ids[k], n, sizeof *job->ids[k], compare_ids);
        size_t distinct = 1;
        for (size_t i = 1; i < n; i++) {
            if (job->ids[k][i] != job->ids[k][distinct - 1]) {
                job->ids[k][distinct++] = job->ids[k][i];
            }
        }
        if (distinct > IDS_MAX) {
            job->id_count[k] = 0;
            events_want_resync(hub,
                               "one read named more changes than the streams are sent one by one");
            continue;
        }
        job->id_count[k] = distinct;
        tx_q(t, logged[k].statement, array_literal(t, job->ids[k], distinct));
        job->q_kind[k] = q++;
    }
    return entries == FETCH_LOG;
}

static void fetched(tx *t, const db_result *result)
{
    fetch_job *job = tx_user(t);
    events_hub *hub = job->hub;
    hub->stats.polls++;
    if (!hub->started) {
        /* Streams start here: their clients refetch at `ready`. */
        hub->head = (feed_pos){events_xid_of(db_text(result, 0, 0, 1)), db_int64(result, 0, 0, 2)};
        hub->log = (feed_pos){events_xid_of(db_text(result, 0, 0, 0)), 0};
        hub->started = true;
        activate_waiting(hub);
        tx_finish(t);
        return;
    }
    event_item *items;
    size_t count =
        hub->options.policy->render(EVENT_TRANSFER, tx_arena(t), result, 0, NULL, 0, &items);
    for (size_t i = 0; i < count; i++) {
        events_fan_out(hub, &items[i]);
        hub->head = (feed_pos){items[i].xid, items[i].position};
    }
    hub->more = count == FETCH_TRANSFERS;
    hub->more |= collect_logged(hub, t, job, result);
    activate_waiting(hub);
    bool states = false;
    for (size_t k = 0; k < LOGGED_COUNT; k++) {
        states |= job->q_kind[k] >= 0;
    }
    if (states) {
        tx_next(t, states_read);
        return;
    }
    tx_finish(t);
}

static void fetch_done(tx *t, tx_outcome outcome)
{
    fetch_job *job = tx_user(t);
    events_hub *hub = job->hub;
    hub->fetching = false;
    if (hub->stopped) {
        return;
    }
    if (outcome != TX_OK) {
        /* Read again from the same place (nothing is lost); the streams resync once a read
         * succeeds, since what they show may have changed meanwhile. */
        hub->fetch_failures++;
        hub->lost = true;
        if (hub->fetch_failures == 1 || hub->fetch_failures % 10 == 0) {
            char failures[16];
            snprintf(failures, sizeof failures, "%d", hub->fetch_failures);
            log_event(LOG_WARN, "events: reading the feed failed; retrying", "failures", failures,
                      NULL);
        }
        events_read_in(hub, 200 << (hub->fetch_failures < 5 ? hub->fetch_failures : 5));
        return;
    }
    hub->fetch_failures = 0;
    if (hub->lost && hub->started && !hub->more) {
        hub->lost = false;
        hub->stats.listener_reconnects++;
        events_want_resync(hub, "the feed could not be read for a while");
    }
    if (hub->resync_pending && !hub->more) {
        events_broadcast_resync(hub, hub->resync_reason);
    }
    events_read_in(hub, hub->more ? 0 : POLL_MS);
}

/* Reads what is new, unless a read runs; with nobody to tell, stops (the next stream reads
 * the starting point again). */
static void fetch_start(events_hub *hub)
{
    if (hub->fetching || hub->stopped) {
        return;
    }
    if (hub->subs == NULL) {
        hub->started = false;
        hub->lost = false;
        hub->resync_pending = false;
        return;
    }
    tx *t = tx_background(hub->app, clock_ms() + hub->app->cfg->request_timeout_ms, fetch_done);
    tx_use_control(t);
    fetch_job *job = TX_NEW(t, fetch_job);
    job->hub = hub;
    tx_set_user(t, job);
    if (!hub->started) {
        tx_q0(t, ST_FEED_START);
    } else {
        tx_q(t, ST_FEED_TRANSFERS, events_xid_text(t, hub->head.xid), tx_int(t, hub->head.id), NULL,
             NULL, tx_int(t, FETCH_TRANSFERS), NULL, NULL);
        tx_q(t, ST_FEED_LOG, events_xid_text(t, hub->log.xid), tx_int(t, hub->log.id),
             tx_int(t, FETCH_LOG));
    }
    hub->fetching = true;
    tx_run(t, TX_READ, fetched);
}

void events_read_cb(evutil_socket_t fd, short events, void *arg)
{
    (void)fd;
    (void)events;
    fetch_start(arg);
}

static void pruned(tx *t, const db_result *result)
{
    (void)result;
    tx_finish(t);
}

static void prune_done(tx *t, tx_outcome outcome)
{
    (void)outcome; /* tried again at the next turn */
    events_hub *hub = tx_user(t);
    hub->pruning = false;
}

/* event_log's rows older than any reader needs go, whether or not a stream is open. */
void events_prune_cb(evutil_socket_t fd, short events, void *arg)
{
    (void)fd;
    (void)events;
    events_hub *hub = arg;
    if (hub->stopped) {
        return;
    }
    if (!hub->pruning) {
        hub->pruning = true;
        tx *t = tx_background(hub->app, clock_ms() + hub->app->cfg->request_timeout_ms, prune_done);
        tx_use_control(t);
        tx_set_user(t, hub);
        tx_q0(t, ST_FEED_PRUNE);
        tx_run(t, TX_READ, pruned);
    }
    events_prune_in(hub);
}

void events_prune_in(events_hub *hub)
{
    struct timeval tv = {PRUNE_MS / 1000, 0};
    evtimer_add(&hub->prune, &tv);
}
