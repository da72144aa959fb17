/* The dispatcher's sweep (engine/dispatch.c has the steps around it): a page of pending
 * organizations, oldest first, renewing the lease; the graph when it changed; a forecast of
 * which of them the dispatcher's view of the rooms can serve; those served in batches of
 * transfers (engine/transfer.h); then the next page, or idle. */
#include "engine/dispatch_internal.h"

#include "engine/graph_cache.h"
#include "engine/room_hints.h"
#include "engine/statements.h"
#include "engine/storage_order.h"
#include "engine/transfer.h"
#include "util/log.h"
#include "util/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    dispatch_go_idle(d, d->more_events ? 0 : d->interval_ms);
}

static void serve_next(dispatcher *d);

static void served(void *arg, const transfer_outcome *outcome)
{
    dispatcher *d = arg;
    if (outcome->ended != TX_OK) {
        /* The database is failing: stop here and sweep everything again soon. */
        d->next_full_ms = clock_ms() + RETRY_SOON_MS;
        dispatch_go_idle(d, d->interval_ms);
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
        dispatch_go_idle(d, d->interval_ms);
        return;
    }
    if (d->queue_next < d->queue_count) {
        size_t count = d->queue_count - d->queue_next;
        count = count < BATCH_ORGANIZATIONS ? count : BATCH_ORGANIZATIONS;
        const int64_t *batch = &d->queue[d->queue_next];
        d->queue_next += count;
        transfer_dispatch(d->app, batch, count, d->rooms, dispatch_deadline(d), served, d);
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
        dispatch_go_idle(d, d->interval_ms);
        return;
    }
    forecast(d, snapshot);
}

static void page_read(tx *t, const db_result *result)
{
    dispatcher *d = tx_user(t);
    dispatch_free_page(d);
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
    tx *load = tx_background(d->app, dispatch_deadline(d), graph_done);
    tx_set_user(load, d);
    graph_cache_queue(load);
    tx_run(load, TX_READ, graph_loaded);
}

static void page_done(tx *t, tx_outcome outcome)
{
    dispatcher *d = tx_user(t);
    if (outcome != TX_OK) {
        d->next_full_ms = clock_ms() + RETRY_SOON_MS;
        dispatch_go_idle(d, d->interval_ms);
        return;
    }
    if (d->term == 0) {
        dispatch_go_idle(d, NOT_LEADER_POLL_MS);
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
    tx *t = dispatch_control_read(d, page_done);
    tx_q(t, ST_DISPATCH_RENEW, d->holder, tx_int(t, d->lease_ms), tx_int(t, d->term));
    tx_q0(t, ST_GRAPH_VERSION);
    tx_q(t, ST_DISPATCH_PENDING, d->cursor_since, tx_int(t, d->cursor_id), d->types,
         tx_int(t, PAGE_ORGANIZATIONS));
    tx_run(t, TX_READ, page_read);
}

void dispatch_start_sweep(dispatcher *d, bool full, char *types)
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
