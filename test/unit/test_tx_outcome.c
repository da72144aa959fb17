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
    assert_string_equal(tx_outcome_name(TX_OK), "ok");
    assert_string_equal(tx_outcome_name(TX_REFUSED), "refused");
    assert_string_equal(tx_outcome_name(TX_UNAVAILABLE), "unavailable");
    assert_string_equal(tx_outcome_name(TX_TIMED_OUT), "timed_out");
    assert_string_equal(tx_outcome_name(TX_FAILED), "failed");
}

RUNNER_MAIN(NULL, NULL,
            {
                cmocka_unit_test(test_client_errors_are_refusals),
                cmocka_unit_test(test_server_side_failures),
                cmocka_unit_test(test_a_deadline_passed_is_a_timeout_whatever_the_problem),
                cmocka_unit_test(test_names),
            })
