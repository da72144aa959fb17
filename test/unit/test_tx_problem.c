/* What a failed statement means to the client (engine/tx_problem.h): the service's own
 * codes, constraint violations by the handler's table and without it, a busy database, and
 * anything else as a logged 500; and the 503 details of rounds that got no answer. */
#include "db/sqlstate.h"
#include "engine/tx_problem.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static const tx_conflict conflicts[] = {
    {"organizations_name_key", PROBLEM_CONFLICT, NULL, "An organization has that name."},
    {"storage_waste_capacity_check", PROBLEM_VALIDATION, "capacity", "out of range"},
    {NULL, 0, NULL, NULL},
};

static tx_problem of(const char *sqlstate, const char *message, const char *constraint,
                     const tx_conflict *table, arena *mem)
{
    db_result result = {.status = DB_ERROR_SQL,
                        .failed_query = 0,
                        .sqlstate = sqlstate,
                        .message = message,
                        .constraint = constraint};
    return tx_problem_of_sql(&result, table, mem);
}

static void test_the_services_own_codes(void **state)
{
    (void)state;
    arena mem = ARENA_INIT;
    tx_problem p = of(SQLSTATE_WF_NOT_FOUND, "Storage not found.", "", conflicts, &mem);
    assert_int_equal(p.kind, PROBLEM_NOT_FOUND);
    assert_string_equal(p.detail, "Storage not found.");
    assert_null(p.field);
    assert_false(p.unexpected);
    p = of(SQLSTATE_WF_CONFLICT, "cannot stop accepting glass", "", conflicts, &mem);
    assert_int_equal(p.kind, PROBLEM_CONFLICT);
    assert_string_equal(p.detail, "cannot stop accepting glass");
    p = of(SQLSTATE_WF_INVALID, "waste.sand|unknown waste type", "", conflicts, &mem);
    assert_int_equal(p.kind, PROBLEM_VALIDATION);
    assert_string_equal(p.field, "waste.sand");
    assert_string_equal(p.detail, "unknown waste type");
    p = of(SQLSTATE_WF_INVALID, "no field named", "", conflicts, &mem);
    assert_int_equal(p.kind, PROBLEM_VALIDATION);
    assert_string_equal(p.field, "");
    assert_string_equal(p.detail, "no field named");
    arena_free(&mem);
}

static void test_constraints_by_the_handlers_table(void **state)
{
    (void)state;
    arena mem = ARENA_INIT;
    tx_problem p =
        of(SQLSTATE_UNIQUE_VIOLATION, "duplicate key", "organizations_name_key", conflicts, &mem);
    assert_int_equal(p.kind, PROBLEM_CONFLICT);
    assert_string_equal(p.detail, "An organization has that name.");
    p = of(SQLSTATE_CHECK_VIOLATION, "violates check", "storage_waste_capacity_check", conflicts,
           &mem);
    assert_int_equal(p.kind, PROBLEM_VALIDATION);
    assert_string_equal(p.field, "capacity");
    assert_string_equal(p.detail, "out of range");
    /* Not in the table (or no table): a generic 409 naming the constraint. */
    p = of(SQLSTATE_UNIQUE_VIOLATION, "duplicate key", "routes_pkey", conflicts, &mem);
    assert_int_equal(p.kind, PROBLEM_CONFLICT);
    assert_string_equal(p.detail, "That conflicts with an existing resource (routes_pkey).");
    p = of(SQLSTATE_FOREIGN_KEY_VIOLATION, "violates foreign key", "shipments_storage_id_fkey",
           NULL, &mem);
    assert_int_equal(p.kind, PROBLEM_CONFLICT);
    assert_string_equal(p.detail,
                        "The change would break a rule of the data (shipments_storage_id_fkey).");
    assert_false(p.unexpected);
    arena_free(&mem);
}

static void test_busy_and_unexpected(void **state)
{
    (void)state;
    arena mem = ARENA_INIT;
    tx_problem p = of(SQLSTATE_LOCK_NOT_AVAILABLE, "could not obtain lock", "", conflicts, &mem);
    assert_int_equal(p.kind, PROBLEM_UNAVAILABLE);
    assert_string_equal(p.detail, "The database is busy; retry shortly.");
    p = of(SQLSTATE_QUERY_CANCELED, "statement timeout", "", conflicts, &mem);
    assert_int_equal(p.kind, PROBLEM_UNAVAILABLE);
    assert_false(p.unexpected);
    p = of("42P01", "relation does not exist", "", conflicts, &mem);
    assert_int_equal(p.kind, PROBLEM_INTERNAL);
    assert_string_equal(p.detail, "The request failed inside the service; it changed nothing.");
    assert_true(p.unexpected);
    arena_free(&mem);
}

static void test_unavailable_details(void **state)
{
    (void)state;
    assert_string_equal(tx_unavailable_detail(DB_ERROR_BUSY),
                        "Too many requests are waiting for the database; retry shortly.");
    assert_string_equal(tx_unavailable_detail(DB_ERROR_TIMEOUT),
                        "The request deadline passed while waiting for the database.");
    assert_string_equal(tx_unavailable_detail(DB_ERROR_CLOSED), "The service is shutting down.");
    assert_string_equal(tx_unavailable_detail(DB_ERROR_CONNECTION),
                        "The database is unavailable; retry shortly.");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_services_own_codes),
        cmocka_unit_test(test_constraints_by_the_handlers_table),
        cmocka_unit_test(test_busy_and_unexpected),
        cmocka_unit_test(test_unavailable_details),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
