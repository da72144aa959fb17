/* A budget of work per credential per second, for requests whose cost varies with what they
 * ask (the storage view: how far its search goes, how many storages it reads). Unlike the
 * rate limit (util/rate_limit.h), which takes one request before it runs, this is charged
 * after the work with what it really cost, and may go into debt: a credential in debt is
 * refused until it has earned the debt back, so however expensive its requests are, it
 * gets at most `rate` units of work a second (plus the last request's overshoot), and
 * other credentials keep the rest of the machine.
 *
 * A balance per identity, in thousandths of a unit: at most one second's worth (`rate`
 * units), refilled at `rate` units a second, at least -60 seconds' worth. A new identity
 * starts full. Identities are known by their SipHash-2-4 under the caller's random key, in
 * a table of at most `capacity` (rounded up to a power of two) slots, probed 8 at a time:
 * a newcomer takes an empty slot, else one whose balance has refilled (forgetting it
 * changes nothing), else the one with the least debt. Pure: the clock is passed in
 * (monotonic milliseconds), no globals; single-threaded. */
#ifndef WF_UTIL_WORK_BUDGET_H
#define WF_UTIL_WORK_BUDGET_H

#include "util/rate_limit.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct work_budget work_budget;

/* rate: units a second per identity, >= 1. Aborts when out of memory (util/mem.h). */
work_budget *work_budget_new(int64_t rate, uint32_t capacity, const uint8_t seed[RATE_SEED_BYTES])
    __attribute__((warn_unused_result));
void work_budget_free(work_budget *budget); /* NULL is a no-op */

/* 0 when identity may start work at now_ms (its balance is not negative); else the
 * milliseconds (>= 1) until its debt is paid back. */
int64_t work_budget_wait(work_budget *budget, const void *identity, size_t len, int64_t now_ms)
    __attribute__((warn_unused_result));

/* Charges identity `units` of work done at now_ms. */
void work_budget_charge(work_budget *budget, const void *identity, size_t len, uint64_t units,
                        int64_t now_ms);

/* The balance of identity at now_ms, in units rounded down (a new identity: rate). */
int64_t work_budget_balance(work_budget *budget, const void *identity, size_t len, int64_t now_ms)
    __attribute__((warn_unused_result));

#endif
