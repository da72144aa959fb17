/* The balance's daily checkpoints (balance_days, sql/migrations/026_balance_days.sql): every
 * instance fills the closed UTC days still missing, oldest first, one day per transaction,
 * each from the previous day's checkpoint and the day's own ledger rows (the first from the
 * ledger's first day), so that GET /v1/reports/balance reads whole days from them and only
 * the period's edges from the ledger (ST_BALANCE_DAYS). Nothing runs on a write's path.
 *
 * A day is filled once it is closed — its end at least a minute ago — and no transaction
 * that started before its end is still running (ST_BD_NEXT, in a transaction of its own):
 * ledger rows are dated by their transaction's start, so a transaction that began before
 * midnight may still commit rows dated the day before, and the day waits for it. The fill
 * (ST_BD_FILL) then runs in a later transaction, whose snapshot holds every row of the day.
 * Instances fill independently: the values are exact, so the same day written twice is the
 * same row, and INSERT ... ON CONFLICT DO NOTHING keeps the first.
 *
 * When: at start (within BALANCE_DAYS_START_MS), then day after day until the next day is
 * not closed; then at that day's close, at the latest after BALANCE_DAYS_INTERVAL_MS; every
 * wait lengthened by up to a tenth at random, so instances started together spread out. A
 * day not yet quiet, or a failure, is tried again after BALANCE_DAYS_RETRY_MS. */
#ifndef WF_ENGINE_BALANCE_DAYS_H
#define WF_ENGINE_BALANCE_DAYS_H

#include "engine/app.h"

#include <stdbool.h>
#include <stdint.h>

#define BALANCE_DAYS_START_MS    1000    /* the first look, at random within this */
#define BALANCE_DAYS_INTERVAL_MS 3600000 /* the longest wait between looks: an hour */
#define BALANCE_DAYS_RETRY_MS    60000   /* after a transaction kept a day open, or a failure */

typedef struct balance_filler balance_filler;

/* Starts looking within BALANCE_DAYS_START_MS. */
balance_filler *balance_filler_new(wf_app *app);
/* Shutdown: no more looks (the day in flight finishes or is rolled back). */
void balance_filler_stop(balance_filler *f);
/* Database work in flight (the pool must outlive it). */
bool balance_filler_busy(const balance_filler *f);
void balance_filler_free(balance_filler *f);

/* Days this instance checkpointed (written by it, not found written by another). */
uint64_t balance_filler_days(const balance_filler *f);
/* Looks this instance finished, whatever they found (when the next one comes is in the
 * comment above; a test waits for the first before it takes a connection away). */
uint64_t balance_filler_looks(const balance_filler *f);

#endif
