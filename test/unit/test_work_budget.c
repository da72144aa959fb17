/* Unit tests of the per-identity work budgets (util/work_budget.h): exact balances, waits
 * and refills on a clock the test drives. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "check.h"
#include "runner.h"
#include "util/work_budget.h"

static const uint8_t seed[RATE_SEED_BYTES] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

#define KEY(text) (text), strlen(text)

/* A budget's life as steps on the clock the test drives: a charge, or a balance or a wait
 * and the value it must answer. */
typedef enum { CHARGE, BALANCE, WAIT } step_kind;
typedef struct {
    step_kind kind;
    const char *identity;
    int64_t now_ms;
    int64_t value; /* CHARGE: the units charged; BALANCE, WAIT: the answer */
} budget_step;

/* A new budget of rate units a second (64 slots), through steps; then freed. */
static void run_steps(uint64_t rate, const budget_step *steps, size_t count)
{
    work_budget *budget = work_budget_new(rate, 64, seed);
    for (size_t i = 0; i < count; i++) {
        const budget_step *step = &steps[i];
        if (step->kind == CHARGE) {
            work_budget_charge(budget, KEY(step->identity), (uint64_t)step->value, step->now_ms);
        } else if (step->kind == BALANCE) {
            CHECK(work_budget_balance(budget, KEY(step->identity), step->now_ms) == step->value,
                  "step %zu: balance of %s at %" PRId64 " ms is not %" PRId64, i, step->identity,
                  step->now_ms, step->value);
        } else {
            CHECK(work_budget_wait(budget, KEY(step->identity), step->now_ms) == step->value,
                  "step %zu: wait of %s at %" PRId64 " ms is not %" PRId64, i, step->identity,
                  step->now_ms, step->value);
        }
    }
    work_budget_free(budget);
}

#define RUN_STEPS(rate, ...)                                                                       \
    do {                                                                                           \
        static const budget_step steps_[] = {__VA_ARGS__};                                         \
        run_steps((rate), steps_, COUNT(steps_));                                                  \
    } while (0)

static void test_new_identity_is_full(void **state)
{
    (void)state;
    RUN_STEPS(1000, {BALANCE, "key:1", 0, 1000}, {WAIT, "key:1", 0, 0});
}

/* Charged after the work, into debt; refused until the debt is earned back at rate. */
static void test_debt_and_wait(void **state)
{
    (void)state;
    RUN_STEPS(1000, {CHARGE, "key:1", 0, 600}, {BALANCE, "key:1", 0, 400}, {WAIT, "key:1", 0, 0},
              /* 400 left, 2,900 charged: 2,500 in debt, 2.5 s to earn back at 1,000 a second. */
              {CHARGE, "key:1", 0, 2900}, {BALANCE, "key:1", 0, -2500}, {WAIT, "key:1", 0, 2500},
              {WAIT, "key:1", 1000, 1500}, {BALANCE, "key:1", 1000, -1500},
              {WAIT, "key:1", 2499, 1}, {WAIT, "key:1", 2500, 0},
              /* Refilled up to one second's worth, never more. */
              {BALANCE, "key:1", 3000, 500}, {BALANCE, "key:1", 100000, 1000},
              /* Another identity was never charged: full all along. */
              {BALANCE, "key:2", 1000, 1000});
}

/* A fraction of a unit a millisecond: rate 3 refills 3 thousandths a millisecond. */
static void test_slow_rate_is_exact(void **state)
{
    (void)state;
    RUN_STEPS(3, {CHARGE, "jwt:a", 0, 4}, /* -1 unit: 1000/3 ms, rounded up */
              {WAIT, "jwt:a", 0, 334}, {WAIT, "jwt:a", 333, 1}, {WAIT, "jwt:a", 334, 0});
}

/* Debt is bounded at 60 seconds' worth, however large the charge. */
static void test_debt_floor(void **state)
{
    (void)state;
    work_budget *budget = work_budget_new(10, 64, seed);
    work_budget_charge(budget, KEY("key:9"), UINT64_MAX, 0);
    assert_int_equal(work_budget_balance(budget, KEY("key:9"), 0), -600);
    assert_int_equal(work_budget_wait(budget, KEY("key:9"), 0), 60000);
    work_budget_free(budget);
}

/* A clock that goes backwards refills nothing. */
static void test_clock_backwards(void **state)
{
    (void)state;
    RUN_STEPS(1000, {CHARGE, "key:1", 5000, 1500}, {BALANCE, "key:1", 4000, -500},
              {BALANCE, "key:1", 4500, 0});
}

/* More identities than slots: an indebted identity is not forgotten while others that
 * refilled can be, so a debtor cannot shed its debt by crowding the table. */
static void test_full_table_keeps_debtors(void **state)
{
    (void)state;
    work_budget *budget = work_budget_new(1000, 8, seed); /* 8 slots, one probe window */
    work_budget_charge(budget, KEY("debtor"), 5000, 0);
    char name[32];
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof name, "key:%d", i);
        assert_int_equal(work_budget_wait(budget, name, strlen(name), 10), 0);
    }
    assert_int_equal(work_budget_balance(budget, KEY("debtor"), 10), -3990);
    work_budget_free(budget);
}

RUNNER_MAIN(NULL, NULL,
            {
                cmocka_unit_test(test_new_identity_is_full),
                cmocka_unit_test(test_debt_and_wait),
                cmocka_unit_test(test_slow_rate_is_exact),
                cmocka_unit_test(test_debt_floor),
                cmocka_unit_test(test_clock_backwards),
                cmocka_unit_test(test_full_table_keeps_debtors),
            })
