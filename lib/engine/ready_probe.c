/* The shared readiness probe (see ready_probe.h). States:
 *   fresh   - answered_ms within READY_PROBE_REUSE_MS: askers get `ready` at once;
 *   probing - a round trip in flight: askers join probe->waiting;
 *   stale   - neither: the next asker starts a round trip. */
#include "engine/ready_probe.h"

#include "engine/statements.h"
#include "engine/tx.h"
#include "util/log.h"
#include "util/mem.h"

#include <stdlib.h>

typedef struct waiter {
    ready_probe_cb done;
    void *arg;
    struct waiter *next;
} waiter;

struct ready_probe {
    wf_app *app;
    bool probing;
    bool answered; /* answered_ms and ready hold an answer */
    bool ready;
    int64_t answered_ms;
    waiter *waiting; /* askers of the round trip in flight */
    uint64_t round_trips;
};

ready_probe *ready_probe_new(wf_app *app)
{
    ready_probe *probe = xcalloc(1, sizeof *probe);
    probe->app = app;
    return probe;
}

void ready_probe_free(ready_probe *probe)
{
    if (probe == NULL) {
        return;
    }
    for (waiter *w = probe->waiting; w != NULL;) {
        waiter *next = w->next;
        free(w);
        w = next;
    }
    free(probe);
}

uint64_t ready_probe_round_trips(const ready_probe *probe)
{
    return probe != NULL ? probe->round_trips : 0;
}

static void probed(tx *t, tx_outcome outcome)
{
    ready_probe *probe = tx_user(t);
    probe->probing = false;
    probe->answered = true;
    probe->ready = outcome == TX_OK;
    /* Reused from when it came back: at most one round trip per READY_PROBE_REUSE_MS. */
    probe->answered_ms = clock_ms();
    waiter *answered = probe->waiting;
    probe->waiting = NULL;
    while (answered != NULL) {
        waiter *next = answered->next;
        answered->done(answered->arg, probe->ready);
        free(answered);
        answered = next;
    }
}

static void pinged(tx *t, const db_result *result)
{
    (void)result;
    tx_finish(t);
}

void ready_probe_ask(ready_probe *probe, int64_t deadline_ms, ready_probe_cb done, void *arg)
{
    if (!probe->probing && probe->answered &&
        clock_ms() - probe->answered_ms < READY_PROBE_REUSE_MS) {
        done(arg, probe->ready);
        return;
    }
    waiter *w = xmalloc(sizeof *w);
    *w = (waiter){.done = done, .arg = arg, .next = probe->waiting};
    probe->waiting = w;
    if (probe->probing) {
        return;
    }
    probe->probing = true;
    probe->round_trips++;
    tx *t = tx_background(probe->app, deadline_ms, probed);
    tx_set_user(t, probe);
    tx_q0(t, ST_PING);
    tx_run(t, TX_READ, pinged);
}
