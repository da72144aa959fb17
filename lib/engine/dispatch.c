/* The automatic dispatcher's loop (see dispatch.h):
 *   idle --timer/kick--> read epoch --moved--> list pending organizations --> dispatch
 *   them one by one --> idle (the epoch counts as handled only if no organization was
 *   skipped as busy or failed, so a skipped one is retried on the next tick). */
#include "engine/dispatch.h"

#include "engine/statements.h"
#include "engine/transfer.h"
#include "engine/tx.h"
#include "util/log.h"
#include "util/mem.h"

#include <event2/event_struct.h>

#include <stdlib.h>

#define CLEANUP_EVERY_MS 60000
#define DISPATCH_BATCH   1000 /* the LIMIT of ST_DISPATCH_ORGS */

enum phase { IDLE, READING_EPOCH, LISTING, DISPATCHING, CLEANING };

struct dispatcher {
    wf_app *app;
    struct event timer;
    int interval_ms;
    enum phase phase;
    bool stopped;
    bool kicked;
    int64_t handled_epoch; /* -1: nothing handled yet */
    int64_t seen_epoch;
    bool incomplete;
    int64_t *organizations;
    int organization_count;
    int next;
    int64_t last_cleanup_ms;
};

static void schedule(dispatcher *d, int ms)
{
    if (d->stopped) {
        return;
    }
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(&d->timer, &tv);
}

static void go_idle(dispatcher *d)
{
    d->phase = IDLE;
    free(d->organizations);
    d->organizations = NULL;
    d->organization_count = 0;
    if (d->kicked) {
        d->kicked = false;
        schedule(d, 0);
    } else {
        schedule(d, d->interval_ms);
    }
}

static int64_t deadline(const dispatcher *d)
{
    return clock_ms() + d->app->cfg->request_timeout_ms;
}

/* Runs one read statement in the background; cb stores its rows in the dispatcher, then
 * done continues the loop. */
static void run_read(dispatcher *d, int statement, tx_cb cb, tx_done_fn done)
{
    tx *t = tx_background(d->app, deadline(d), done);
    tx_set_user(t, d);
    tx_use_control(t);
    tx_q0(t, statement);
    tx_run(t, TX_READ, cb);
}

static void dispatch_next(dispatcher *d);

static void dispatched(void *arg, const transfer_outcome *outcome)
{
    dispatcher *d = arg;
    if (outcome->status != 201 && outcome->status != 204) {
        d->incomplete = true;
    }
    if (outcome->status >= 500) {
        /* The database is failing: stop this sweep, retry on the next tick. */
        d->next = d->organization_count;
    }
    dispatch_next(d);
}

static void dispatch_next(dispatcher *d)
{
    if (d->next < d->organization_count && !d->stopped) {
        transfer_dispatch(d->app, d->organizations[d->next++], deadline(d), dispatched, d);
        return;
    }
    if (!d->incomplete && !d->stopped) {
        d->handled_epoch = d->seen_epoch;
    }
    go_idle(d);
}

static void organizations_read(tx *t, const db_result *result)
{
    dispatcher *d = tx_user(t);
    int rows = db_rows(result, 0);
    free(d->organizations); /* a retried read runs again */
    d->organizations = xcalloc(rows > 0 ? (size_t)rows : 1, sizeof *d->organizations);
    for (int row = 0; row < rows; row++) {
        d->organizations[row] = db_int64(result, 0, row, 0);
    }
    d->organization_count = rows;
    tx_reply(t, 200, NULL, NULL);
}

static void listed(tx *t, int status)
{
    dispatcher *d = tx_user(t);
    if (status != 200) {
        go_idle(d);
        return;
    }
    d->phase = DISPATCHING;
    d->next = 0;
    /* The list is capped (ST_DISPATCH_ORGS): a full one means more may be waiting. */
    d->incomplete = d->organization_count >= DISPATCH_BATCH;
    dispatch_next(d);
}

static void cleaned(tx *t, int status)
{
    go_idle(tx_user(t));
}

static void just_done(tx *t, const db_result *result)
{
    tx_reply(t, 200, NULL, NULL);
}

static void epoch_read(tx *t, const db_result *result)
{
    dispatcher *d = tx_user(t);
    d->seen_epoch = db_int64(result, 0, 0, 0);
    tx_reply(t, 200, NULL, NULL);
}

static void epoch_known(tx *t, int status)
{
    dispatcher *d = tx_user(t);
    if (status != 200) {
        go_idle(d);
        return;
    }
    if (d->seen_epoch == d->handled_epoch) {
        int64_t now = clock_ms();
        if (now - d->last_cleanup_ms >= CLEANUP_EVERY_MS) {
            /* Idle moment: drop idempotency records past their 24 hours. */
            d->last_cleanup_ms = now;
            d->phase = CLEANING;
            run_read(d, ST_IDEM_CLEANUP, just_done, cleaned);
            return;
        }
        go_idle(d);
        return;
    }
    d->phase = LISTING;
    run_read(d, ST_DISPATCH_ORGS, organizations_read, listed);
}

static void tick(evutil_socket_t fd, short events, void *arg)
{
    dispatcher *d = arg;
    if (d->stopped || d->phase != IDLE) {
        return;
    }
    d->phase = READING_EPOCH;
    run_read(d, ST_DISPATCH_EPOCH, epoch_read, epoch_known);
}

dispatcher *dispatcher_new(wf_app *app, int interval_ms)
{
    dispatcher *d = xcalloc(1, sizeof *d);
    d->app = app;
    d->interval_ms = interval_ms;
    d->handled_epoch = -1;
    d->last_cleanup_ms = clock_ms();
    evtimer_assign(&d->timer, app->base, tick, d);
    schedule(d, 0);
    return d;
}

void dispatcher_kick(dispatcher *d)
{
    if (d == NULL || d->stopped) {
        return;
    }
    if (d->phase == IDLE) {
        evtimer_del(&d->timer);
        schedule(d, 0);
    } else {
        d->kicked = true;
    }
}

void dispatcher_stop(dispatcher *d)
{
    if (d != NULL) {
        d->stopped = true;
        evtimer_del(&d->timer);
    }
}

bool dispatcher_busy(const dispatcher *d)
{
    return d != NULL && d->phase != IDLE;
}

void dispatcher_free(dispatcher *d)
{
    if (d != NULL) {
        evtimer_del(&d->timer);
        free(d->organizations);
        free(d);
    }
}
