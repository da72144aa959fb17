/* Background work's typed outcome (engine/tx.h): which problem ends as which outcome, and
 * the names log lines use. */
#include "engine/tx.h"
#include "runner.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void test_client_errors_are_refusals(void **state)
{
    (void)state;
    assert_int_equal(tx_outcome_of_problem(PROBLEM_NOT_FOUND, false), TX_REFUSED);
    assert_int_equal(tx_outcome_of_problem(PROBLEM_CONFLICT, false), TX_REFUSED);
    assert_int_equal(tx_outcome_of_problem(PROBLEM_VALIDATION, false), TX_REFUSED);
    assert_int_equal(tx_outcome_of_problem(PROBLEM_LOCKED, false), TX_REFUSED);
    assert_int_equal(tx_outcome_of_problem(PROBLEM_IDEMPOTENCY_IN_FLIGHT, false), TX_REFUSED);
}

static void test_server_side_failures(void **state)
{
    (void)state;
    assert_int_equal(tx_outcome_of_problem(PROBLEM_UNAVAILABLE, false), TX_UNAVAILABLE);
    assert_int_equal(tx_outcome_of_problem(PROBLEM_INTERNAL, false), TX_FAILED);
}

static void test_a_deadline_passed_is_a_timeout_whatever_the_problem(void **state)
{
    (void)state;
    assert_int_equal(tx_outcome_of_problem(PROBLEM_UNAVAILABLE, true), TX_TIMED_OUT);
    assert_int_equal(tx_outcome_of_problem(PROBLEM_CONFLICT, true), TX_TIMED_OUT);
}

static void test_names(void **state)
{
    (void)state;
    static const struct {
        tx_outcome outcome;
        const char *name;
    } names[] = {
        {TX_OK, "ok"},
        {TX_REFUSED, "refused"},
        {TX_UNAVAILABLE, "unavailable"},
        {TX_TIMED_OUT, "timed_out"},
        {TX_FAILED, "failed"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        assert_string_equal(tx_outcome_name(names[i].outcome), names[i].name);
    }
}

RUNNER_MAIN(NULL, NULL,
            {
                cmocka_unit_test(test_client_errors_are_refusals),
                cmocka_unit_test(test_server_side_failures),
                cmocka_unit_test(test_a_deadline_passed_is_a_timeout_whatever_the_problem),
                cmocka_unit_test(test_names),
            })
