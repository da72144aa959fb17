/* The balance's daily checkpoints (see balance_days.h). A look is one tx on the pool:
 *   1. ST_BD_NEXT: the next day to fill, whether it is closed, and whether it may be filled
 *      now (every transaction that started before its end has ended) — its own transaction,
 *      so the question is asked before the fill's snapshot is taken;
 *   2. (ready) ST_BD_FILL in the next transaction: the day's rows, every waste type.
 * Then the next look: at once after a day was filled, later otherwise. States:
 *   idle     - the timer is armed for the next look;
 *   looking  - a look is in flight (f->looking);
 *   stopped  - no timer, nothing more started. */
#include "engine/balance_days.h"

#include "engine/statements.h"
#include "engine/tx.h"
#include "util/log.h"
#include "util/mem.h"

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

struct balance_filler {
    wf_app *app;
    struct event timer;
    bool stopped;
    bool looking;
    bool failing;
    uint64_t days;      /* checkpointed by this instance */
    uint64_t looks;     /* finished, whatever they found */
    int streak;         /* days filled since the last wait, for one log line per catch-up */
    char last[16];      /* the day the last finished look tried to fill ("" none) */
    char streak_to[16]; /* the newest of the streak */
};

/* One look's findings, applied when its tx ends well (a retried attempt runs the callbacks
 * again from scratch, so nothing is kept from an attempt that did not end). */
typedef struct {
    balance_filler *f;
    char day[16]; /* the day tried ("" none) */
    bool filled;  /* this look wrote its rows */
    int64_t wait_ms;
} look;

static int64_t random_below(int64_t bound)
{
    uint64_t r = 0;
    if (bound <= 0) {
        return 0;
    }
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r) {
        r = (uint64_t)clock_us();
    }
    return (int64_t)(r % (uint64_t)bound);
}

static void schedule(balance_filler *f, int64_t ms)
{
    if (f->stopped) {
        return;
    }
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(&f->timer, &tv);
}

static void filled(tx *t, const db_result *result)
{
    look *l = tx_user(t);
    bool ok = strcmp(db_text(result, 0, 0, 0), "t") == 0;
    if (!ok) {
        /* Neither the previous day's checkpoint nor an empty ledger before the day: someone
         * removed checkpoints in the middle. Nothing is written; the next look starts again
         * from the newest one left. */
        log_event(LOG_WARN, "balance: the day before has no checkpoint; nothing written", "day",
                  l->day, NULL);
        l->wait_ms = BALANCE_DAYS_INTERVAL_MS;
    } else {
        l->filled = db_int64(result, 0, 0, 1) > 0;
        l->wait_ms = 0; /* the next day may be closed too */
    }
    tx_finish(t);
}

static void next_read(tx *t, const db_result *result)
{
    look *l = tx_user(t);
    balance_filler *f = l->f;
    l->day[0] = '\0';
    l->filled = false;
    if (db_is_null(result, 0, 0, 0)) { /* an empty ledger */
        l->wait_ms = BALANCE_DAYS_INTERVAL_MS;
        tx_finish(t);
        return;
    }
    const char *day = db_text(result, 0, 0, 0);
    bool closed = strcmp(db_text(result, 0, 0, 1), "t") == 0;
    bool ready = strcmp(db_text(result, 0, 0, 2), "t") == 0;
    if (!closed) {
        int64_t until = db_int64(result, 0, 0, 3);
        l->wait_ms =
            until < BALANCE_DAYS_INTERVAL_MS ? (until > 0 ? until : 0) : BALANCE_DAYS_INTERVAL_MS;
        tx_finish(t);
        return;
    }
    if (!ready) { /* a transaction that may still date rows within the day is running */
        l->wait_ms = BALANCE_DAYS_RETRY_MS;
        tx_finish(t);
        return;
    }
    if (strcmp(day, f->last) == 0) {
        /* The last look tried this day and it is still the next one: it wrote nothing, and
         * trying again at once would loop. */
        l->wait_ms = BALANCE_DAYS_INTERVAL_MS;
        tx_finish(t);
        return;
    }
    snprintf(l->day, sizeof l->day, "%s", day);
    tx_q(t, ST_BD_FILL, tx_text(t, day));
    tx_next(t, filled);
}

static void looked(tx *t, tx_outcome outcome)
{
    look *l = tx_user(t);
    balance_filler *f = l->f;
    f->looking = false;
    f->looks++;
    int64_t wait = BALANCE_DAYS_RETRY_MS;
    if (outcome == TX_OK) {
        if (f->failing) {
            log_event(LOG_INFO, "balance: checkpoints written again", NULL);
        }
        f->failing = false;
        snprintf(f->last, sizeof f->last, "%s", l->day);
        if (l->filled) {
            f->days++;
            f->streak++;
            snprintf(f->streak_to, sizeof f->streak_to, "%s", l->day);
        }
        wait = l->wait_ms;
    } else if (!f->failing) {
        log_event(LOG_WARN, "balance: checkpointing a day failed; retrying", "outcome",
                  tx_outcome_name(outcome), NULL);
        f->failing = true;
    }
    if (wait > 0 && f->streak > 0) {
        char count[24];
        snprintf(count, sizeof count, "%d", f->streak);
        log_event(LOG_INFO, "balance: days checkpointed", "days", count, "through", f->streak_to,
                  NULL);
        f->streak = 0;
    }
    if (!f->stopped) {
        schedule(f, wait + random_below(wait / 10 + 1));
    }
}

static void tick(evutil_socket_t fd, short events, void *arg)
{
    (void)fd, (void)events;
    balance_filler *f = arg;
    if (f->stopped || f->looking) {
        return;
    }
    f->looking = true;
    tx *t = tx_background(f->app, clock_ms() + f->app->cfg->request_timeout_ms, looked);
    look *l = TX_NEW(t, look);
    l->f = f;
    tx_set_user(t, l);
    tx_q0(t, ST_BD_NEXT);
    tx_run(t, TX_READ, next_read);
}

balance_filler *balance_filler_new(wf_app *app)
{
    balance_filler *f = xcalloc(1, sizeof *f);
    f->app = app;
    evtimer_assign(&f->timer, app->base, tick, f);
    schedule(f, random_below(BALANCE_DAYS_START_MS));
    return f;
}

void balance_filler_stop(balance_filler *f)
{
    if (f == NULL || f->stopped) {
        return;
    }
    f->stopped = true;
    evtimer_del(&f->timer);
}

bool balance_filler_busy(const balance_filler *f)
{
    return f != NULL && f->looking;
}

void balance_filler_free(balance_filler *f)
{
    if (f != NULL) {
        evtimer_del(&f->timer);
        free(f);
    }
}

uint64_t balance_filler_days(const balance_filler *f)
{
    return f != NULL ? f->days : 0;
}

uint64_t balance_filler_looks(const balance_filler *f)
{
    return f != NULL ? f->looks : 0;
}
