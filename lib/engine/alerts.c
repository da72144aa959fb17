/* The alert evaluator (see alerts.h). States:
 *   idle       - the timer is armed for the next poll;
 *   polling    - an evaluation is in flight (e->polling);
 *   releasing  - stopped: the lease is being given up (e->releasing);
 *   stopped    - neither timer nor work: ready to be freed. */
#include "engine/alerts.h"

#include "engine/lease_holder.h"
#include "engine/statements.h"
#include "engine/tx.h"
#include "util/log.h"
#include "util/mem.h"

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct alert_evaluator {
    wf_app *app;
    struct event timer;
    char holder[LEASE_HOLDER_SIZE]; /* this process's name in alert_lease */
    bool stopped;
    bool polling;
    bool releasing;
    bool leads; /* the last evaluation held the lease */
    bool failing;
    bool rules; /* the last evaluation found rules to evaluate */
    uint64_t fired;
};

static void schedule(alert_evaluator *e, int ms)
{
    if (e->stopped) {
        return;
    }
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(&e->timer, &tv);
}

static void reply_ok(tx *t, const db_result *result)
{
    (void)result;
    tx_finish(t);
}

static void released(tx *t, tx_outcome outcome)
{
    alert_evaluator *e = tx_user(t);
    (void)outcome; /* not given up: it expires by itself */
    e->releasing = false;
}

/* A stopping holder gives the lease up, so another instance evaluates at its next poll
 * instead of after the lease expires. */
static void release_lease(alert_evaluator *e)
{
    if (!e->leads || e->releasing) {
        return;
    }
    e->releasing = true;
    e->leads = false;
    log_event(LOG_INFO, "alerts: lease given up", "reason", "shutdown", NULL);
    tx *t = tx_background(e->app, clock_ms() + e->app->cfg->request_timeout_ms, released);
    tx_set_user(t, e);
    tx_use_control(t);
    tx_q(t, ST_ALERT_RELEASE, e->holder);
    tx_run(t, TX_READ, reply_ok);
}

static void evaluated_rows(tx *t, const db_result *result)
{
    alert_evaluator *e = tx_user(t);
    bool leads = strcmp(db_text(result, 0, 0, 0), "t") == 0;
    if (leads != e->leads) {
        log_event(LOG_INFO, leads ? "alerts: evaluating (lease taken)" : "alerts: lease lost",
                  "holder", e->holder, NULL);
    }
    e->leads = leads;
    e->fired += (uint64_t)db_int64(result, 0, 0, 1);
    e->rules = strcmp(db_text(result, 0, 0, 2), "t") == 0;
    tx_finish(t);
}

static void evaluated(tx *t, tx_outcome outcome)
{
    alert_evaluator *e = tx_user(t);
    e->polling = false;
    if (outcome != TX_OK && !e->failing) {
        log_event(LOG_WARN, "alerts: evaluation failed; retrying", "outcome",
                  tx_outcome_name(outcome), NULL);
    }
    e->failing = outcome != TX_OK;
    if (e->stopped) {
        release_lease(e);
        return;
    }
    /* Without a rule nothing can fire: one small transaction a second (a new rule is seen
     * within it, and then every crossing within ALERTS_POLL_MS). */
    schedule(e, e->rules ? ALERTS_POLL_MS : ALERTS_IDLE_POLL_MS);
}

static void tick(evutil_socket_t fd, short events, void *arg)
{
    (void)fd, (void)events;
    alert_evaluator *e = arg;
    if (e->stopped || e->polling) {
        return;
    }
    e->polling = true;
    tx *t = tx_background(e->app, clock_ms() + e->app->cfg->request_timeout_ms, evaluated);
    tx_set_user(t, e);
    tx_use_control(t);
    tx_q(t, ST_ALERT_EVALUATE, e->holder, tx_int(t, ALERTS_LEASE_MS), tx_int(t, ALERTS_RENEW_MS));
    tx_run(t, TX_READ, evaluated_rows);
}

alert_evaluator *alert_evaluator_new(wf_app *app)
{
    alert_evaluator *e = xcalloc(1, sizeof *e);
    e->app = app;
    lease_holder_new(e->holder);
    evtimer_assign(&e->timer, app->base, tick, e);
    schedule(e, 0);
    return e;
}

void alert_evaluator_stop(alert_evaluator *e)
{
    if (e == NULL || e->stopped) {
        return;
    }
    e->stopped = true;
    evtimer_del(&e->timer);
    if (!e->polling) {
        release_lease(e);
    }
}

bool alert_evaluator_busy(const alert_evaluator *e)
{
    return e != NULL && (e->polling || e->releasing);
}

void alert_evaluator_free(alert_evaluator *e)
{
    if (e != NULL) {
        evtimer_del(&e->timer);
        free(e);
    }
}

bool alert_evaluator_leads(const alert_evaluator *e)
{
    return e != NULL && e->leads;
}

uint64_t alert_evaluator_fired(const alert_evaluator *e)
{
    return e != NULL ? e->fired : 0;
}
