/* The automatic dispatcher (see dispatch.h). One step at a time, from the event loop:
 *
 *   idle --timer/kick--> poll (renew or take the lease, events waiting?)
 *     not leader -------------------------------------------> idle (long interval)
 *     became leader --> clear events --> load rooms --> sweep all
 *     events ---------> take events --> [refresh their rooms] --> sweep (their types, or all)
 *     full sweep due -> sweep all
 *   sweep: page of pending organizations (oldest first), renewing the lease --> [load
 *          graph] --> forecast with the dispatcher's rooms --> serve the promising ones in
 *          batches --> next page --> idle (lease lost meanwhile: idle at once)
 *   stop:  a leader gives its lease up, so another instance takes over at its next poll.
 *
 * Only pages, forecasts and batches cost anything, and only when room appeared. */
#include "engine/dispatch.h"

#include "core/placement.h"
#include "engine/graph_cache.h"
#include "engine/room_hints.h"
#include "engine/statements.h"
#include "engine/storage_order.h"
#include "engine/transfer.h"
#include "engine/tx.h"
#include "util/log.h"
#include "util/mem.h"

#include <event2/event_struct.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define NOT_LEADER_POLL_MS  2000  /* how often a follower tries for the lease */
#define LEASE_MIN_MS        5000  /* a crashed leader is replaced after this (or 3 intervals) */
#define TAKE_LIMIT          10000 /* room events taken at once (more: a full sweep) */
#define PAGE_ORGANIZATIONS  1000
#define BATCH_ORGANIZATIONS 200
#define CLEANUP_EVERY_MS    60000
#define FULL_SWEEP_FIRST_MS 10000
#define FULL_SWEEP_MAX_MS   300000
#define RETRY_SOON_MS       1000
#define ROOMS_MAX_ENTRIES   (1u << 20) /* as the room hints: at most 48 MiB */

/* One pending organization of a page. */
typedef struct {
    int64_t id;
    plan_type *types;
    uint32_t *keys;
    size_t type_count;
} pending_org;

struct dispatcher {
    wf_app *app;
    struct event timer;
    int interval_ms;
    bool stopped;
    bool kicked;
    bool working;
    char holder[33]; /* this process's id in the lease: random, never reused */
    int lease_ms;    /* how long a renewal lasts */
    int64_t term;    /* the lease term this instance leads in; 0: not leader */
    bool releasing;  /* giving the lease up at shutdown */
    bool hinting;    /* a room hint to the leader is in flight (dispatcher_room_appeared) */
    bool hint_again; /* room committed while it was: one more hint when it is done */
    room_map *rooms; /* room per (storage, type) as the dispatcher last saw it */
    /* The sweep in progress. */
    bool full;
    char *types; /* text[] literal of the types that gained room; NULL: any */
    char *cursor_since;
    int64_t cursor_id;
    bool last_page;
    int64_t graph_version;
    pending_org *page;
    size_t page_count;
    int64_t *queue; /* the page's organizations worth a transaction, oldest first */
    size_t queue_count, queue_next;
    size_t served;
    bool more_events;
    /* The last poll, and what the last take of room events asks for. */
    int64_t poll_term;
    bool poll_leads, poll_events;
    bool polled_once;
    enum { TAKE_NOTHING, TAKE_REFRESH, TAKE_SWEEP, TAKE_RELOAD } take;
    char *event_storages, *event_pair_types; /* bigint[] and text[] literals: the pairs */
    char *event_types;                       /* text[] literal: their distinct types */
    /* Timing. */
    int64_t next_full_ms;
    int full_backoff_ms;
    int64_t last_cleanup_ms;
};

/* ---------------------------------------------------------------- plumbing */

static void schedule(dispatcher *d, int ms)
{
    if (d->stopped) {
        return;
    }
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(&d->timer, &tv);
}

static void free_page(dispatcher *d)
{
    for (size_t i = 0; i < d->page_count; i++) {
        free(d->page[i].types);
        free(d->page[i].keys);
    }
    free(d->page);
    d->page = NULL;
    d->page_count = 0;
    free(d->queue);
    d->queue = NULL;
    d->queue_count = d->queue_next = 0;
}

static void release_lease(dispatcher *d);

static void go_idle(dispatcher *d, int ms)
{
    d->working = false;
    free_page(d);
    if (d->stopped) {
        release_lease(d);
        return;
    }
    if (d->kicked && !d->stopped) {
        d->kicked = false;
        schedule(d, 0);
    } else {
        schedule(d, ms);
    }
}

static int64_t deadline(const dispatcher *d)
{
    return clock_ms() + d->app->cfg->request_timeout_ms;
}

/* A background read on the control connection. */
static tx *control_read(dispatcher *d, tx_done_fn done)
{
    tx *t = tx_background(d->app, deadline(d), done);
    tx_set_user(t, d);
    tx_use_control(t);
    return t;
}

static void reply_ok(tx *t, const db_result *result)
{
    (void)result;
    tx_finish(t);
}

/* ---------------------------------------------------------------- sweeping */

static void list_page(dispatcher *d);

static void sweep_done(dispatcher *d)
{
    if (d->full) {
        /* Back off while full sweeps place nothing: they are only a safety net. */
        d->full_backoff_ms =
            d->served > 0 ? FULL_SWEEP_FIRST_MS
                          : (d->full_backoff_ms * 2 > FULL_SWEEP_MAX_MS ? FULL_SWEEP_MAX_MS
                                                                        : d->full_backoff_ms * 2);
        d->next_full_ms = clock_ms() + d->full_backoff_ms;
    }
    if (d->served > 0) {
        char served[24];
        snprintf(served, sizeof served, "%zu", d->served);
        log_event(LOG_DEBUG, "dispatch sweep", "full", d->full ? "true" : "false",
                  "organizations_served", served, NULL);
    }
    go_idle(d, d->more_events ? 0 : d->interval_ms);
}

static void serve_next(dispatcher *d);

static void served(void *arg, const transfer_outcome *outcome)
{
    dispatcher *d = arg;
    if (outcome->ended != TX_OK) {
        /* The database is failing: stop here and sweep everything again soon. */
        d->next_full_ms = clock_ms() + RETRY_SOON_MS;
        go_idle(d, d->interval_ms);
        return;
    }
    d->served += outcome->organizations_served;
    if (outcome->organizations_busy > 0) {
        /* A request is serving them now (and dispatches all they hold); should it fail,
         * the sweep soon after sees them again. */
        int64_t soon = clock_ms() + RETRY_SOON_MS;
        d->next_full_ms = d->next_full_ms < soon ? d->next_full_ms : soon;
    }
    serve_next(d);
}

static void serve_next(dispatcher *d)
{
    if (d->stopped) {
        go_idle(d, d->interval_ms);
        return;
    }
    if (d->queue_next < d->queue_count) {
        size_t count = d->queue_count - d->queue_next;
        count = count < BATCH_ORGANIZATIONS ? count : BATCH_ORGANIZATIONS;
        const int64_t *batch = &d->queue[d->queue_next];
        d->queue_next += count;
        transfer_dispatch(d->app, batch, count, d->rooms, deadline(d), served, d);
        return;
    }
    if (d->last_page) {
        sweep_done(d);
        return;
    }
    list_page(d);
}

static bool nothing_more(void *search, int64_t *storage_id, int64_t *distance_m)
{
    (void)search, (void)storage_id, (void)distance_m;
    return false;
}

/* Which organizations of the page could place something, by the dispatcher's rooms: the
 * page as one batch, oldest first, so what one would take the next cannot count on. */
static void forecast(dispatcher *d, graph_snapshot *snapshot)
{
    placement *plan = placement_new(d->rooms);
    storage_order **orders = xcalloc(d->page_count + 1, sizeof *orders);
    if (plan == NULL) {
        mem_exhausted(sizeof(placement *));
    }
    for (size_t i = 0; i < d->page_count; i++) {
        pending_org *org = &d->page[i];
        if (graph_has_node(snapshot->roads, (node_ref){NODE_ORG, org->id})) {
            orders[i] = storage_order_new(snapshot, org->id);
        }
        placement_add(plan, org->types, org->keys, org->type_count,
                      orders[i] != NULL ? storage_order_next : nothing_more, orders[i]);
    }
    size_t unread = placement_plan(plan, NULL, 0); /* a forecast: nothing is read */
    (void)unread;
    d->queue = xcalloc(d->page_count + 1, sizeof *d->queue);
    for (size_t i = 0; i < d->page_count; i++) {
        if (placement_expected_kg(plan, i) > 0) {
            d->queue[d->queue_count++] = d->page[i].id;
        }
        storage_order_free(orders[i]);
    }
    free(orders);
    placement_free(plan);
    graph_snapshot_release(snapshot);
    serve_next(d);
}

static void graph_loaded(tx *t, const db_result *result)
{
    graph_snapshot_release(graph_cache_install(tx_app(t), result, 0));
    tx_finish(t);
}

static void graph_done(tx *t, tx_outcome outcome)
{
    dispatcher *d = tx_user(t);
    graph_snapshot *snapshot = graph_cache_get(d->app, d->graph_version);
    if (outcome != TX_OK || snapshot == NULL) {
        d->next_full_ms = clock_ms() + RETRY_SOON_MS;
        go_idle(d, d->interval_ms);
        return;
    }
    forecast(d, snapshot);
}

static void page_read(tx *t, const db_result *result)
{
    dispatcher *d = tx_user(t);
    free_page(d);
    if (db_rows(result, 0) == 0) {
        /* The lease expired and another instance took it: it sweeps from the start. */
        log_event(LOG_INFO, "dispatcher: lease lost during a sweep", NULL);
        d->term = 0;
        tx_finish(t);
        return;
    }
    d->graph_version = db_int64(result, 1, 0, 0);
    int rows = db_rows(result, 2);
    d->page = xcalloc((size_t)rows + 1, sizeof *d->page);
    for (int row = 0; row < rows;) {
        int64_t id = db_int64(result, 2, row, 0);
        int end = row;
        while (end < rows && db_int64(result, 2, end, 0) == id) {
            end++;
        }
        pending_org *org = &d->page[d->page_count++];
        org->id = id;
        org->type_count = (size_t)(end - row);
        org->types = xcalloc(org->type_count, sizeof *org->types);
        org->keys = xcalloc(org->type_count, sizeof *org->keys);
        for (int r = row; r < end; r++) {
            size_t k = (size_t)(r - row);
            /* The codes stay valid while the page lives: interned by the hints. */
            org->keys[k] = room_hints_key(d->app->hints, db_text(result, 2, r, 2));
            int64_t pending = db_int64(result, 2, r, 3);
            org->types[k] = (plan_type){.code = room_hints_code(d->app->hints, org->keys[k]),
                                        .capacity_kg = PLAN_NO_LIMIT,
                                        .pending_kg = pending,
                                        .left_kg = pending};
        }
        free(d->cursor_since);
        d->cursor_since = xstrdup(db_text(result, 2, row, 1));
        d->cursor_id = id;
        row = end;
    }
    d->last_page = d->page_count < PAGE_ORGANIZATIONS;
    tx_finish(t);
}

/* The page's forecast on the graph at the version the page read: the cached one, or one
 * brought up to date. Right after a start, the start-up load is waited for rather than
 * loading every road a second time beside it. */
static void forecast_on_graph(dispatcher *d);

static void graph_awaited(void *arg)
{
    forecast_on_graph(arg);
}

static void forecast_on_graph(dispatcher *d)
{
    graph_snapshot *snapshot = graph_cache_get(d->app, d->graph_version);
    if (snapshot != NULL) {
        forecast(d, snapshot);
        return;
    }
    if (graph_cache_await_preload(d->app, graph_awaited, d)) {
        return;
    }
    tx *load = tx_background(d->app, deadline(d), graph_done);
    tx_set_user(load, d);
    graph_cache_queue(load);
    tx_run(load, TX_READ, graph_loaded);
}

static void page_done(tx *t, tx_outcome outcome)
{
    dispatcher *d = tx_user(t);
    if (outcome != TX_OK) {
        d->next_full_ms = clock_ms() + RETRY_SOON_MS;
        go_idle(d, d->interval_ms);
        return;
    }
    if (d->term == 0) {
        go_idle(d, NOT_LEADER_POLL_MS);
        return;
    }
    if (d->page_count == 0) {
        sweep_done(d);
        return;
    }
    forecast_on_graph(d);
}

static void list_page(dispatcher *d)
{
    tx *t = control_read(d, page_done);
    tx_q(t, ST_DISPATCH_RENEW, d->holder, tx_int(t, d->lease_ms), tx_int(t, d->term));
    tx_q0(t, ST_GRAPH_VERSION);
    tx_q(t, ST_DISPATCH_PENDING, d->cursor_since, tx_int(t, d->cursor_id), d->types,
         tx_int(t, PAGE_ORGANIZATIONS));
    tx_run(t, TX_READ, page_read);
}

static void start_sweep(dispatcher *d, bool full, char *types)
{
    d->full = full;
    free(d->types);
    d->types = full ? NULL : types;
    if (full) {
        free(types);
    }
    free(d->cursor_since);
    d->cursor_since = NULL;
    d->cursor_id = 0;
    d->last_page = false;
    d->served = 0;
    list_page(d);
}

/* ---------------------------------------------------------------- events */

static void rooms_loaded(void *arg, bool ok)
{
    dispatcher *d = arg;
    if (!ok) {
        d->next_full_ms = clock_ms() + RETRY_SOON_MS;
        go_idle(d, d->interval_ms);
        return;
    }
    start_sweep(d, true, NULL);
}

/* Sweep everything, with every room read again first (a new leader, a hand-made sweep). */
static void reload_and_sweep(dispatcher *d)
{
    room_map_clear(d->rooms);
    room_hints_load(d->app->hints, d->rooms, rooms_loaded, d);
}

static void refreshed(tx *t, tx_outcome outcome)
{
    dispatcher *d = tx_user(t);
    char *types = d->event_types;
    d->event_types = NULL;
    if (outcome != TX_OK) {
        free(types);
        d->next_full_ms = clock_ms() + RETRY_SOON_MS;
        go_idle(d, d->interval_ms);
        return;
    }
    start_sweep(d, false, types);
}

static void refreshed_rows(tx *t, const db_result *result)
{
    dispatcher *d = tx_user(t);
    for (int row = 0; row < db_rows(result, 0); row++) {
        (void)room_map_put(d->rooms, db_int64(result, 0, row, 0),
                           room_hints_key(d->app->hints, db_text(result, 0, row, 1)),
                           db_int64(result, 0, row, 2));
    }
    tx_finish(t);
}

static int code_order(const void *left, const void *right)
{
    return strcmp(*(const char *const *)left, *(const char *const *)right);
}

/* Storage events: the pairs to read again, and the distinct types as a text[] literal. */
static void note_storage_events(tx *t, dispatcher *d, const db_result *result)
{
    int rows = db_rows(result, 0);
    strbuf storages = {0}, types = {0}, distinct = {0};
    const char **codes = xcalloc((size_t)rows + 1, sizeof *codes);
    for (int row = 0; row < rows; row++) {
        strbuf_puts(&storages, row ? "," : "{");
        strbuf_puts(&storages, db_text(result, 0, row, 0));
        strbuf_puts(&types, row ? "," : "{");
        strbuf_puts(&types, db_text(result, 0, row, 1));
        codes[row] = db_text(result, 0, row, 1);
        /* Full until the refresh says otherwise: its rows are the pairs with room now. */
        (void)room_map_put(d->rooms, db_int64(result, 0, row, 0),
                           room_hints_key(d->app->hints, codes[row]), 0);
    }
    strbuf_puts(&storages, "}");
    strbuf_puts(&types, "}");
    qsort(codes, (size_t)rows, sizeof *codes, code_order);
    strbuf_puts(&distinct, "{");
    for (int i = 0, written = 0; i < rows; i++) {
        if (i == 0 || strcmp(codes[i], codes[i - 1]) != 0) {
            strbuf_puts(&distinct, written++ ? "," : "");
            strbuf_puts(&distinct, codes[i]);
        }
    }
    strbuf_puts(&distinct, "}");
    free(codes);
    free(d->event_storages);
    free(d->event_pair_types);
    free(d->event_types);
    d->event_storages = strbuf_take(&storages);
    d->event_pair_types = strbuf_take(&types);
    d->event_types = strbuf_take(&distinct);
    if (d->event_storages == NULL || d->event_pair_types == NULL || d->event_types == NULL) {
        mem_exhausted((size_t)rows * 24);
    }
    (void)t;
}

static void events_taken(tx *t, const db_result *result)
{
    dispatcher *d = tx_user(t);
    int rows = db_rows(result, 0);
    d->more_events = rows >= TAKE_LIMIT;
    d->take = d->more_events ? TAKE_SWEEP : TAKE_REFRESH;
    for (int row = 0; row < rows; row++) {
        if (db_is_null(result, 0, row, 0)) {
            /* A road (its users may reach more now), or a sweep asked for by hand: then
             * the rooms may have been edited by hand too. */
            bool by_hand = db_is_null(result, 0, row, 2);
            d->take = by_hand ? TAKE_RELOAD : d->take == TAKE_RELOAD ? TAKE_RELOAD : TAKE_SWEEP;
        }
    }
    if (d->take == TAKE_REFRESH && rows > 0) {
        note_storage_events(t, d, result);
    } else if (d->take == TAKE_REFRESH) {
        d->take = TAKE_NOTHING;
    }
    tx_finish(t);
}

static void take_done(tx *t, tx_outcome outcome)
{
    dispatcher *d = tx_user(t);
    if (outcome != TX_OK) {
        go_idle(d, d->interval_ms);
        return;
    }
    switch (d->take) {
    case TAKE_RELOAD:
        reload_and_sweep(d);
        return;
    case TAKE_SWEEP:
        start_sweep(d, true, NULL);
        return;
    case TAKE_NOTHING:
        go_idle(d, d->interval_ms);
        return;
    case TAKE_REFRESH:
        break;
    }
    /* The rooms that appeared: read them again before forecasting. */
    tx *refresh = control_read(d, refreshed);
    tx_q(refresh, ST_TR_ROOMS_PEEK, tx_text(refresh, d->event_storages),
         tx_text(refresh, d->event_pair_types));
    tx_run(refresh, TX_READ, refreshed_rows);
}

static void take_events(dispatcher *d)
{
    tx *t = control_read(d, take_done);
    tx_q(t, ST_DISPATCH_TAKE, tx_int(t, TAKE_LIMIT));
    tx_run(t, TX_READ, events_taken);
}

static void cleared(tx *t, tx_outcome outcome)
{
    dispatcher *d = tx_user(t);
    if (outcome != TX_OK) {
        d->term = 0; /* try again from the start */
        go_idle(d, d->interval_ms);
        return;
    }
    reload_and_sweep(d);
}

/* ---------------------------------------------------------------- the poll */

static void polled_rows(tx *t, const db_result *result)
{
    dispatcher *d = tx_user(t);
    d->polled_once = true;
    d->poll_term = db_int64(result, 0, 0, 0);
    d->poll_leads = db_text(result, 0, 0, 1)[0] == 't';
    d->poll_events = db_text(result, 0, 0, 2)[0] == 't';
    tx_finish(t);
}

static void cleanup_done(tx *t, tx_outcome outcome)
{
    (void)outcome;
    dispatcher *d = tx_user(t);
    go_idle(d, d->interval_ms);
}

static void polled(tx *t, tx_outcome outcome)
{
    dispatcher *d = tx_user(t);
    if (outcome != TX_OK) {
        /* Whether the lease was renewed is unknown: the next poll that leads starts over
         * (a lease still ours keeps its term, and is then taken as new all the same). */
        d->term = 0;
        go_idle(d, d->interval_ms);
        return;
    }
    if (!d->poll_leads) {
        if (d->term != 0) {
            log_event(LOG_INFO, "dispatcher: no longer leading", NULL);
        }
        d->term = 0;
        go_idle(d, NOT_LEADER_POLL_MS);
        return;
    }
    if (d->poll_term != d->term) {
        /* Newly leading (or someone else led meanwhile): what happened before is swept
         * whole. */
        d->term = d->poll_term;
        log_event(LOG_INFO, "dispatcher: leading", NULL);
        tx *clear = control_read(d, cleared);
        tx_q0(clear, ST_DISPATCH_CLEAR);
        tx_run(clear, TX_READ, reply_ok);
        return;
    }
    if (d->poll_events) {
        take_events(d);
        return;
    }
    int64_t now = clock_ms();
    if (now >= d->next_full_ms) {
        start_sweep(d, true, NULL);
        return;
    }
    if (now - d->last_cleanup_ms >= CLEANUP_EVERY_MS) {
        /* Idle moment: drop idempotency records past their 24 hours. */
        d->last_cleanup_ms = now;
        tx *cleanup = control_read(d, cleanup_done);
        tx_q0(cleanup, ST_IDEM_CLEANUP);
        tx_run(cleanup, TX_READ, reply_ok);
        return;
    }
    go_idle(d, d->interval_ms);
}

static void poll(dispatcher *d)
{
    tx *t = control_read(d, polled);
    tx_q(t, ST_DISPATCH_POLL, d->holder, tx_int(t, d->lease_ms));
    tx_run(t, TX_READ, polled_rows);
}

static void tick(evutil_socket_t fd, short events, void *arg)
{
    (void)fd, (void)events;
    dispatcher *d = arg;
    if (d->stopped || d->working) {
        return;
    }
    d->working = true;
    poll(d);
}

/* ---------------------------------------------------------------- shutdown */

static void released(tx *t, tx_outcome outcome)
{
    dispatcher *d = tx_user(t);
    (void)outcome; /* not given up: it expires by itself */
    d->releasing = false;
}

/* A stopping leader gives the lease up (once), so the others need not wait for it to
 * expire. */
static void release_lease(dispatcher *d)
{
    if (d->term == 0 || d->releasing) {
        return;
    }
    d->releasing = true;
    log_event(LOG_INFO, "dispatcher: lease given up", "reason", "shutdown", NULL);
    tx *t = control_read(d, released);
    tx_q(t, ST_DISPATCH_RELEASE, d->holder, tx_int(t, d->term));
    d->term = 0;
    tx_run(t, TX_READ, reply_ok);
}

/* ---------------------------------------------------------------- API */

dispatcher *dispatcher_new(wf_app *app, int interval_ms)
{
    dispatcher *d = xcalloc(1, sizeof *d);
    d->app = app;
    d->interval_ms = interval_ms;
    d->lease_ms = interval_ms * 3 > LEASE_MIN_MS ? interval_ms * 3 : LEASE_MIN_MS;
    uint8_t id[16];
    if (getrandom(id, sizeof id, 0) != (ssize_t)sizeof id) {
        /* Only uniqueness matters: fall back on what tells processes and starts apart. */
        int64_t now = clock_ms();
        pid_t pid = getpid();
        memset(id, 0, sizeof id);
        memcpy(id, &now, sizeof now);
        memcpy(id + sizeof now, &pid, sizeof pid);
    }
    for (size_t i = 0; i < sizeof id; i++) {
        snprintf(d->holder + 2 * i, 3, "%02x", id[i]);
    }
    d->rooms = room_map_new(ROOMS_MAX_ENTRIES);
    if (d->rooms == NULL) {
        mem_exhausted(sizeof(room_map *));
    }
    d->full_backoff_ms = FULL_SWEEP_FIRST_MS;
    d->next_full_ms = clock_ms() + FULL_SWEEP_FIRST_MS;
    d->last_cleanup_ms = clock_ms();
    evtimer_assign(&d->timer, app->base, tick, d);
    schedule(d, 0);
    return d;
}

void dispatcher_kick(dispatcher *d)
{
    /* A follower has nothing to do with room: the leader hears of it (NOTIFY) and serves. */
    if (d == NULL || d->stopped || (d->term == 0 && d->polled_once)) {
        return;
    }
    if (!d->working) {
        evtimer_del(&d->timer);
        schedule(d, 0);
    } else {
        d->kicked = true;
    }
}

static void send_hint(dispatcher *d);

static void hinted(tx *t, tx_outcome outcome)
{
    dispatcher *d = tx_user(t);
    (void)outcome; /* lost with the connection: the leader's periodic poll finds the room */
    d->hinting = false;
    if (d->hint_again && !d->stopped) {
        d->hint_again = false;
        send_hint(d);
    }
}

static void send_hint(dispatcher *d)
{
    d->hinting = true;
    tx *t = control_read(d, hinted);
    tx_q0(t, ST_DISPATCH_HINT);
    tx_run(t, TX_READ, reply_ok);
}

void dispatcher_room_appeared(dispatcher *d)
{
    if (d == NULL || d->stopped) {
        return;
    }
    if (d->term != 0) {
        dispatcher_kick(d);
        return;
    }
    if (d->hinting) {
        d->hint_again = true;
        return;
    }
    send_hint(d);
}

void dispatcher_stop(dispatcher *d)
{
    if (d != NULL) {
        d->stopped = true;
        evtimer_del(&d->timer);
        if (!d->working) {
            release_lease(d);
        }
    }
}

bool dispatcher_busy(const dispatcher *d)
{
    return d != NULL && (d->working || d->releasing || d->hinting);
}

bool dispatcher_leads(const dispatcher *d)
{
    return d != NULL && d->term != 0;
}

void dispatcher_free(dispatcher *d)
{
    if (d != NULL) {
        evtimer_del(&d->timer);
        free_page(d);
        free(d->types);
        free(d->cursor_since);
        room_map_free(d->rooms);
        free(d->event_storages);
        free(d->event_pair_types);
        free(d->event_types);
        free(d);
    }
}
