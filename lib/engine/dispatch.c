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
#include "engine/dispatch_internal.h"

#include "core/placement.h"
#include "engine/graph_cache.h"
#include "engine/lease_holder.h"
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

/* ---------------------------------------------------------------- plumbing */

void dispatch_schedule(dispatcher *d, int ms)
{
    if (d->stopped) {
        return;
    }
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(&d->timer, &tv);
}

void dispatch_free_page(dispatcher *d)
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

void dispatch_go_idle(dispatcher *d, int ms)
{
    d->working = false;
    dispatch_free_page(d);
    if (d->stopped) {
        dispatch_release_lease(d);
        return;
    }
    if (d->kicked && !d->stopped) {
        d->kicked = false;
        dispatch_schedule(d, 0);
    } else {
        dispatch_schedule(d, ms);
    }
}

int64_t dispatch_deadline(const dispatcher *d)
{
    return clock_ms() + d->app->cfg->request_timeout_ms;
}

/* A background read on the control connection. */
tx *dispatch_control_read(dispatcher *d, tx_done_fn done)
{
    tx *t = tx_background(d->app, dispatch_deadline(d), done);
    tx_set_user(t, d);
    tx_use_control(t);
    return t;
}

void dispatch_finish(tx *t, const db_result *result)
{
    (void)result;
    tx_finish(t);
}

/* ---------------------------------------------------------------- events */

static void rooms_loaded(void *arg, bool ok)
{
    dispatcher *d = arg;
    if (!ok) {
        d->next_full_ms = clock_ms() + RETRY_SOON_MS;
        dispatch_go_idle(d, d->interval_ms);
        return;
    }
    dispatch_start_sweep(d, true, NULL);
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
        dispatch_go_idle(d, d->interval_ms);
        return;
    }
    dispatch_start_sweep(d, false, types);
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
        dispatch_go_idle(d, d->interval_ms);
        return;
    }
    switch (d->take) {
    case TAKE_RELOAD:
        reload_and_sweep(d);
        return;
    case TAKE_SWEEP:
        dispatch_start_sweep(d, true, NULL);
        return;
    case TAKE_NOTHING:
        dispatch_go_idle(d, d->interval_ms);
        return;
    case TAKE_REFRESH:
        break;
    }
    /* The rooms that appeared: read them again before forecasting. */
    tx *refresh = dispatch_control_read(d, refreshed);
    tx_q(refresh, ST_TR_ROOMS_PEEK, tx_text(refresh, d->event_storages),
         tx_text(refresh, d->event_pair_types));
    tx_run(refresh, TX_READ, refreshed_rows);
}

static void take_events(dispatcher *d)
{
    tx *t = dispatch_control_read(d, take_done);
    tx_q(t, ST_DISPATCH_TAKE, tx_int(t, TAKE_LIMIT));
    tx_run(t, TX_READ, events_taken);
}

static void cleared(tx *t, tx_outcome outcome)
{
    dispatcher *d = tx_user(t);
    if (outcome != TX_OK) {
        d->term = 0; /* try again from the start */
        dispatch_go_idle(d, d->interval_ms);
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
    dispatch_go_idle(d, d->interval_ms);
}

static void polled(tx *t, tx_outcome outcome)
{
    dispatcher *d = tx_user(t);
    if (outcome != TX_OK) {
        /* Whether the lease was renewed is unknown: the next poll that leads starts over
         * (a lease still ours keeps its term, and is then taken as new all the same). */
        d->term = 0;
        dispatch_go_idle(d, d->interval_ms);
        return;
    }
    if (!d->poll_leads) {
        if (d->term != 0) {
            log_event(LOG_INFO, "dispatcher: no longer leading", NULL);
        }
        d->term = 0;
        dispatch_go_idle(d, NOT_LEADER_POLL_MS);
        return;
    }
    if (d->poll_term != d->term) {
        /* Newly leading (or someone else led meanwhile): what happened before is swept
         * whole. */
        d->term = d->poll_term;
        log_event(LOG_INFO, "dispatcher: leading", NULL);
        tx *clear = dispatch_control_read(d, cleared);
        tx_q0(clear, ST_DISPATCH_CLEAR);
        tx_run(clear, TX_READ, dispatch_finish);
        return;
    }
    if (d->poll_events) {
        take_events(d);
        return;
    }
    int64_t now = clock_ms();
    if (now >= d->next_full_ms) {
        dispatch_start_sweep(d, true, NULL);
        return;
    }
    if (now - d->last_cleanup_ms >= CLEANUP_EVERY_MS) {
        /* Idle moment: drop idempotency records past their 24 hours. */
        d->last_cleanup_ms = now;
        tx *cleanup = dispatch_control_read(d, cleanup_done);
        tx_q0(cleanup, ST_IDEM_CLEANUP);
        tx_run(cleanup, TX_READ, dispatch_finish);
        return;
    }
    dispatch_go_idle(d, d->interval_ms);
}

static void poll(dispatcher *d)
{
    tx *t = dispatch_control_read(d, polled);
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
void dispatch_release_lease(dispatcher *d)
{
    if (d->term == 0 || d->releasing) {
        return;
    }
    d->releasing = true;
    log_event(LOG_INFO, "dispatcher: lease given up", "reason", "shutdown", NULL);
    tx *t = dispatch_control_read(d, released);
    tx_q(t, ST_DISPATCH_RELEASE, d->holder, tx_int(t, d->term));
    d->term = 0;
    tx_run(t, TX_READ, dispatch_finish);
}

/* ---------------------------------------------------------------- API */

dispatcher *dispatcher_new(wf_app *app, int interval_ms)
{
    dispatcher *d = xcalloc(1, sizeof *d);
    d->app = app;
    d->interval_ms = interval_ms;
    d->lease_ms = interval_ms * 3 > LEASE_MIN_MS ? interval_ms * 3 : LEASE_MIN_MS;
    lease_holder_new(d->holder);
    d->rooms = room_map_new(ROOMS_MAX_ENTRIES);
    if (d->rooms == NULL) {
        mem_exhausted(sizeof(room_map *));
    }
    d->full_backoff_ms = FULL_SWEEP_FIRST_MS;
    d->next_full_ms = clock_ms() + FULL_SWEEP_FIRST_MS;
    d->last_cleanup_ms = clock_ms();
    evtimer_assign(&d->timer, app->base, tick, d);
    dispatch_schedule(d, 0);
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
        dispatch_schedule(d, 0);
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
    tx *t = dispatch_control_read(d, hinted);
    tx_q0(t, ST_DISPATCH_HINT);
    tx_run(t, TX_READ, dispatch_finish);
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
            dispatch_release_lease(d);
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
        dispatch_free_page(d);
        free(d->types);
        free(d->cursor_since);
        room_map_free(d->rooms);
        free(d->event_storages);
        free(d->event_pair_types);
        free(d->event_types);
        free(d);
    }
}
