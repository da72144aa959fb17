/* Unit tests of core/movement: status derivation, the 10 % weight variance and receipt
 * validation, with exact values at each boundary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/movement.h"
#include "runner.h"

static void status_of_automatic_is_accepted(void **state)
{
    (void)state;
    assert_int_equal(movement_status_of(false, false, 0, 0), MOVEMENT_ACCEPTED);
}

static void status_of_weighed(void **state)
{
    (void)state;
    assert_int_equal(movement_status_of(true, false, 0, 0), MOVEMENT_IN_TRANSIT);
    assert_int_equal(movement_status_of(true, true, 100, 0), MOVEMENT_ACCEPTED);
    assert_int_equal(movement_status_of(true, true, 100, 30), MOVEMENT_PARTIALLY_REJECTED);
    assert_int_equal(movement_status_of(true, true, 100, 100), MOVEMENT_REJECTED);
    assert_int_equal(movement_status_of(true, true, 0, 0), MOVEMENT_ACCEPTED);
    assert_int_equal(movement_status_of(true, true, 1, 1), MOVEMENT_REJECTED);
}

static void status_names_round_trip(void **state)
{
    (void)state;
    assert_string_equal(movement_status_name(MOVEMENT_IN_TRANSIT), "in_transit");
    assert_string_equal(movement_status_name(MOVEMENT_ACCEPTED), "accepted");
    assert_string_equal(movement_status_name(MOVEMENT_PARTIALLY_REJECTED), "partially_rejected");
    assert_string_equal(movement_status_name(MOVEMENT_REJECTED), "rejected");
    movement_status parsed = MOVEMENT_ACCEPTED;
    assert_true(movement_status_parse("partially_rejected", &parsed));
    assert_int_equal(parsed, MOVEMENT_PARTIALLY_REJECTED);
    assert_true(movement_status_parse("in_transit", &parsed));
    assert_int_equal(parsed, MOVEMENT_IN_TRANSIT);
    assert_false(movement_status_parse("received", &parsed));
    assert_false(movement_status_parse("", &parsed));
    assert_false(movement_status_parse("Accepted", &parsed));
}

static void variance_boundaries(void **state)
{
    (void)state;
    /* Exactly 10 % either way is within tolerance; one kilogram more is not. */
    assert_false(movement_weight_varies(100, 110));
    assert_false(movement_weight_varies(100, 90));
    assert_true(movement_weight_varies(100, 111));
    assert_true(movement_weight_varies(100, 89));
    assert_false(movement_weight_varies(100, 100));
    /* 1005 planned: 10 % is 100.5, so 100 kg off is fine and 101 is not. */
    assert_false(movement_weight_varies(1005, 1105));
    assert_true(movement_weight_varies(1005, 1106));
    assert_true(movement_weight_varies(0, 1));
    assert_false(movement_weight_varies(0, 0));
    assert_true(movement_weight_varies(1000000000000, 0));
    assert_false(movement_weight_varies(1000000000000, 1000000000000));
}

static void receipt_validation(void **state)
{
    (void)state;
    const char *why = NULL;
    assert_null(movement_receipt_invalid(100, 0, false, &why));
    assert_null(movement_receipt_invalid(100, 100, true, &why));
    assert_null(movement_receipt_invalid(0, 0, false, &why));
    assert_null(movement_receipt_invalid(1000000000000, 0, false, &why));
    assert_string_equal(movement_receipt_invalid(-1, 0, false, &why), "received_kg");
    assert_string_equal(movement_receipt_invalid(1000000000001, 0, false, &why), "received_kg");
    assert_string_equal(movement_receipt_invalid(10, -1, true, &why), "rejected_kg");
    assert_string_equal(movement_receipt_invalid(10, 11, true, &why), "rejected_kg");
    assert_string_equal(why, "cannot be more than received_kg");
    assert_string_equal(movement_receipt_invalid(10, 1, false, &why), "rejection_reason");
}

RUNNER_MAIN(NULL, NULL,
            {
                cmocka_unit_test(status_of_automatic_is_accepted),
                cmocka_unit_test(status_of_weighed),
                cmocka_unit_test(status_names_round_trip),
                cmocka_unit_test(variance_boundaries),
                cmocka_unit_test(receipt_validation),
            })
