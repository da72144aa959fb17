/* The automatic dispatcher's loop (see dispatch.h):
 *   idle --timer/kick--> read epoch --moved--> list pending organizations --> dispatch
 *   them one by one --> idle (the epoch counts as handled only if no organization was
 *   skipped as busy or failed, so a skipped one is retried on the next tick). */
#include "api/dispatch.h"

#include "api/app.h"
#include "api/common.h"
#include "api/statements.h"
#include "api/transfers.h"
#include "util/log.h"
#include <event2/event_struct.h>

#include <stdlib.h>
#include <string.h>

#define CLEANUP_EVERY_MS 60000
#define DISPATCH_BATCH   1000 /* the LIMIT of ST_DISPATCH_ORGS */

enum phase { IDLE, READING_EPOCH, LISTING, DISPATCHING };

struct dispatcher {
    app *application;
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
    db_query query;
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

static void run_read(dispatcher *d, int statement, api_tx_done_cb done)
{
    d->query = (db_query){statement, NULL, 0, NULL};
    api_tx_spec spec = {&d->query, 1, TX_NONE, api_reply_json_row};
    int64_t deadline = clock_ms() + d->application->cfg->request_timeout_ms;
    api_tx_start_background(d->application, deadline, &spec, d, done);
}

static void dispatch_next(dispatcher *d);

static void dispatched(void *arg, int status, int shipments)
{
    dispatcher *d = arg;
    if (status != 201 && status != 204) {
        d->incomplete = true;
    }
    if (status >= 500) {
        /* The database is failing: stop this sweep, retry on the next tick. */
        d->next = d->organization_count;
    }
    dispatch_next(d);
}

static void dispatch_next(dispatcher *d)
{
    while (d->next < d->organization_count && !d->stopped) {
        int64_t id = d->organizations[d->next++];
        int64_t deadline = clock_ms() + d->application->cfg->request_timeout_ms;
        if (transfer_dispatch(d->application, id, deadline, dispatched, d) == 0) {
            return;
        }
        d->incomplete = true;
    }
    if (!d->incomplete && !d->stopped) {
        d->handled_epoch = d->seen_epoch;
    }
    go_idle(d);
}

static void listed(void *arg, int status, const char *body)
{
    dispatcher *d = arg;
    if (status != 200 || body == NULL) {
        go_idle(d);
        return;
    }
    int count = 0;
    for (const char *p = body; *p; p++) {
        count += *p == ',';
    }
    count += body[0] != '\0';
    d->organizations = calloc((size_t)(count > 0 ? count : 1), sizeof *d->organizations);
    if (d->organizations == NULL) {
        go_idle(d);
        return;
    }
    for (const char *p = body; *p;) {
        char *end = NULL;
        d->organizations[d->organization_count++] = strtoll(p, &end, 10);
        p = *end == ',' ? end + 1 : end;
    }
    d->phase = DISPATCHING;
    d->next = 0;
    /* The list is capped (ST_DISPATCH_ORGS): a full one means more may be waiting. */
    d->incomplete = d->organization_count >= DISPATCH_BATCH;
    dispatch_next(d);
}

static void cleaned(void *arg, int status, const char *body)
{
    go_idle(arg);
}

static void epoch_read(void *arg, int status, const char *body)
{
    dispatcher *d = arg;
    if (status != 200 || body == NULL) {
        go_idle(d);
        return;
    }
    d->seen_epoch = strtoll(body, NULL, 10);
    if (d->seen_epoch == d->handled_epoch) {
        int64_t now = clock_ms();
        if (now - d->last_cleanup_ms >= CLEANUP_EVERY_MS) {
            /* Idle moment: drop idempotency records past their 24 hours. */
            d->last_cleanup_ms = now;
            run_read(d, ST_IDEM_CLEANUP, cleaned);
            return;
        }
        go_idle(d);
        return;
    }
    d->phase = LISTING;
    run_read(d, ST_DISPATCH_ORGS, listed);
}

static void tick(evutil_socket_t fd, short events, void *arg)
{
    dispatcher *d = arg;
    if (d->stopped || d->phase != IDLE) {
        return;
    }
    d->phase = READING_EPOCH;
    run_read(d, ST_DISPATCH_EPOCH, epoch_read);
}

dispatcher *dispatcher_new(void *application, int interval_ms)
{
    dispatcher *d = calloc(1, sizeof *d);
    if (d == NULL) {
        return NULL;
    }
    d->application = application;
    d->interval_ms = interval_ms;
    d->handled_epoch = -1;
    d->last_cleanup_ms = clock_ms();
    evtimer_assign(&d->timer, d->application->base, tick, d);
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
