/* Per-identity work budgets (see work_budget.h). */
#include "util/work_budget.h"

#include "util/mem.h"

#include <stdlib.h>
#include <string.h>

#define PROBES       8
#define DEBT_SECONDS 60

typedef struct {
    uint64_t hash;      /* 0: empty (a hash of 0 is stored as 1) */
    int64_t balance_m;  /* thousandths of a unit */
    int64_t updated_ms; /* the clock when balance_m was last brought up to date */
} budget_slot;

struct work_budget {
    int64_t rate;
    uint8_t seed[RATE_SEED_BYTES];
    budget_slot *slots;
    size_t mask;
};

work_budget *work_budget_new(int64_t rate, uint32_t capacity, const uint8_t seed[RATE_SEED_BYTES])
{
    work_budget *budget = xcalloc(1, sizeof *budget);
    budget->rate = rate < 1 ? 1 : rate;
    memcpy(budget->seed, seed, RATE_SEED_BYTES);
    size_t size = PROBES;
    while (size < capacity) {
        size *= 2;
    }
    budget->slots = xcalloc(size, sizeof *budget->slots);
    budget->mask = size - 1;
    return budget;
}

void work_budget_free(work_budget *budget)
{
    if (budget != NULL) {
        free(budget->slots);
        free(budget);
    }
}

static int64_t full_m(const work_budget *budget)
{
    return budget->rate * 1000;
}

/* The slot's balance refilled up to now_ms (a clock that went backwards refills nothing). */
static void refill(const work_budget *budget, budget_slot *slot, int64_t now_ms)
{
    if (now_ms > slot->updated_ms) {
        int64_t elapsed = now_ms - slot->updated_ms;
        int64_t room = full_m(budget) - slot->balance_m;
        /* rate units a second are rate thousandths a millisecond. */
        slot->balance_m = elapsed >= room / budget->rate + 1
                              ? full_m(budget)
                              : slot->balance_m + elapsed * budget->rate;
        if (slot->balance_m > full_m(budget)) {
            slot->balance_m = full_m(budget);
        }
    }
    slot->updated_ms = now_ms;
}

/* identity's slot, up to date at now_ms; taken (full) when it is new. */
static budget_slot *slot_of(work_budget *budget, const void *identity, size_t len, int64_t now_ms)
{
    uint64_t hash = rate_siphash(budget->seed, identity, len);
    hash = hash != 0 ? hash : 1;
    size_t start = (size_t)hash & budget->mask;
    budget_slot *victim = NULL;
    for (size_t i = 0; i < PROBES; i++) {
        budget_slot *slot = &budget->slots[(start + i) & budget->mask];
        if (slot->hash == hash) {
            refill(budget, slot, now_ms);
            return slot;
        }
        if (slot->hash == 0) {
            victim = victim != NULL && victim->hash == 0 ? victim : slot;
            continue;
        }
        refill(budget, slot, now_ms);
        if (victim == NULL || (victim->hash != 0 && slot->balance_m > victim->balance_m)) {
            victim = slot; /* the fullest so far: the cheapest to forget */
        }
    }
    *victim = (budget_slot){hash, full_m(budget), now_ms};
    return victim;
}

int64_t work_budget_wait(work_budget *budget, const void *identity, size_t len, int64_t now_ms)
{
    budget_slot *slot = slot_of(budget, identity, len, now_ms);
    if (slot->balance_m >= 0) {
        return 0;
    }
    return (-slot->balance_m + budget->rate - 1) / budget->rate;
}

void work_budget_charge(work_budget *budget, const void *identity, size_t len, uint64_t units,
                        int64_t now_ms)
{
    budget_slot *slot = slot_of(budget, identity, len, now_ms);
    int64_t floor_m = -DEBT_SECONDS * full_m(budget);
    uint64_t most = (uint64_t)(slot->balance_m - floor_m) / 1000;
    slot->balance_m = units >= most ? floor_m : slot->balance_m - (int64_t)units * 1000;
}

int64_t work_budget_balance(work_budget *budget, const void *identity, size_t len, int64_t now_ms)
{
    budget_slot *slot = slot_of(budget, identity, len, now_ms);
    int64_t m = slot->balance_m;
    return m >= 0 ? m / 1000 : -((-m + 999) / 1000);
}
