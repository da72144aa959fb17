/* The alert evaluator: on the one instance that holds alert_lease, every ALERTS_POLL_MS it
 * compares (stock + reserved) / capacity of every storage and type that an alert rule
 * matches with the rule's threshold, in one statement (ST_ALERT_EVALUATE): an armed pair
 * above the threshold fires (a row in alert_firings, which reaches /v1/events through
 * event_log) and is disarmed; a disarmed pair at or below it is armed again. Nothing runs
 * on the transfer's path: the evaluator reads storage_waste as transfers left it, so a
 * crossing fires within a poll of its commit. Every instance polls; only the holder
 * evaluates, and the lease row's lock makes two evaluations never overlap. */
#ifndef WF_ENGINE_ALERTS_H
#define WF_ENGINE_ALERTS_H

#include "engine/app.h"

#include <stdbool.h>
#include <stdint.h>

#define ALERTS_POLL_MS      200  /* between evaluations: a crossing fires within about this */
#define ALERTS_LEASE_MS     3000 /* a crashed holder is replaced after this */
#define ALERTS_IDLE_POLL_MS 1000 /* between evaluations while there is no rule */
/* An evaluation with nothing to record renews the lease only when less than this is left. */
#define ALERTS_RENEW_MS (ALERTS_LEASE_MS / 3)

typedef struct alert_evaluator alert_evaluator;

/* Starts polling at once. */
alert_evaluator *alert_evaluator_new(wf_app *app);
/* Shutdown: no more polls; the lease is given up (once the poll in flight is back). */
void alert_evaluator_stop(alert_evaluator *e);
/* Database work in flight (the pool must outlive it). */
bool alert_evaluator_busy(const alert_evaluator *e);
void alert_evaluator_free(alert_evaluator *e);

/* Whether the last poll held the lease, and how many firings this instance recorded. */
bool alert_evaluator_leads(const alert_evaluator *e);
uint64_t alert_evaluator_fired(const alert_evaluator *e);

#endif
