/* Readiness of the database for GET /readyz: one round trip (SELECT 1) answers every asker
 * for READY_PROBE_REUSE_MS, so however often and by however many clients it is asked, the
 * database sees at most one such query per READY_PROBE_REUSE_MS. Askers who come while the
 * round trip is in flight wait for its answer instead of starting another. */
#ifndef WF_ENGINE_READY_PROBE_H
#define WF_ENGINE_READY_PROBE_H

#include "engine/app.h"

#include <stdbool.h>
#include <stdint.h>

#define READY_PROBE_REUSE_MS 100

typedef struct ready_probe ready_probe;
/* The answer: the database answered the probe (true), or it failed or timed out. */
typedef void (*ready_probe_cb)(void *arg, bool ready);

ready_probe *ready_probe_new(wf_app *app);
/* Frees it; askers still waiting are forgotten, never called (the loop has stopped). */
void ready_probe_free(ready_probe *probe);
/* Calls done(arg, ready) exactly once: at once when an answer younger than
 * READY_PROBE_REUSE_MS exists, else from the event loop when the round trip in flight (started
 * now if none is) ends, within deadline_ms of the first asker. */
void ready_probe_ask(ready_probe *probe, int64_t deadline_ms, ready_probe_cb done, void *arg);
/* Round trips made so far (for /metrics). */
uint64_t ready_probe_round_trips(const ready_probe *probe);

#endif
