/* What a failed statement means to the client (engine/tx_problem.h): the service's own
 * codes, constraint violations by the handler's table and without it, a busy database, and
 * anything else as a logged 500; and the 503 details of rounds that got no answer. */
#include "db/sqlstate.h"
#include "engine/tx_problem.h"
#include "runner.h"

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

/* One failed statement and what it must mean. field: NULL for none. */
typedef struct {
    const char *sqlstate, *message, *constraint;
    bool with_table; /* the handler's conflicts table, or none */
    problem_kind kind;
    const char *field, *detail;
    bool unexpected;
} sql_case;

static const sql_case sql_cases[] = {
    /* The service's own codes (wf_check). */
    {SQLSTATE_WF_NOT_FOUND, "Storage not found.", "", true, PROBLEM_NOT_FOUND, NULL,
     "Storage not found.", false},
    {SQLSTATE_WF_CONFLICT, "cannot stop accepting glass", "", true, PROBLEM_CONFLICT, NULL,
     "cannot stop accepting glass", false},
    {SQLSTATE_WF_INVALID, "waste.sand|unknown waste type", "", true, PROBLEM_VALIDATION,
     "waste.sand", "unknown waste type", false},
    {SQLSTATE_WF_INVALID, "no field named", "", true, PROBLEM_VALIDATION, "", "no field named",
     false},
    /* Constraints: by the handler's table, else a generic 409 naming the constraint. */
    {SQLSTATE_UNIQUE_VIOLATION, "duplicate key", "organizations_name_key", true, PROBLEM_CONFLICT,
     NULL, "An organization has that name.", false},
    {SQLSTATE_CHECK_VIOLATION, "violates check", "storage_waste_capacity_check", true,
     PROBLEM_VALIDATION, "capacity", "out of range", false},
    {SQLSTATE_UNIQUE_VIOLATION, "duplicate key", "routes_pkey", true, PROBLEM_CONFLICT, NULL,
     "That conflicts with an existing resource (routes_pkey).", false},
    {SQLSTATE_FOREIGN_KEY_VIOLATION, "violates foreign key", "shipments_storage_id_fkey", false,
     PROBLEM_CONFLICT, NULL,
     "The change would break a rule of the data (shipments_storage_id_fkey).", false},
    /* A busy database, and anything else: a bug of ours, logged. */
    {SQLSTATE_LOCK_NOT_AVAILABLE, "could not obtain lock", "", true, PROBLEM_UNAVAILABLE, NULL,
     "The database is busy; retry shortly.", false},
    {SQLSTATE_QUERY_CANCELED, "statement timeout", "", true, PROBLEM_UNAVAILABLE, NULL,
     "The database is busy; retry shortly.", false},
    {"42P01", "relation does not exist", "", true, PROBLEM_INTERNAL, NULL,
     "The request failed inside the service; it changed nothing.", true},
};

static void test_failed_statements(void **state)
{
    (void)state;
    arena mem = ARENA_INIT;
    for (size_t i = 0; i < sizeof sql_cases / sizeof sql_cases[0]; i++) {
        const sql_case *c = &sql_cases[i];
        db_result result = {.status = DB_ERROR_SQL,
                            .failed_query = 0,
                            .sqlstate = c->sqlstate,
                            .message = c->message,
                            .constraint = c->constraint};
        tx_problem p = tx_problem_of_sql(&result, c->with_table ? conflicts : NULL, &mem);
        print_message("case %zu: %s %s\n", i, c->sqlstate, c->message);
        assert_int_equal(p.kind, c->kind);
        if (c->field == NULL) {
            assert_null(p.field);
        } else {
            assert_string_equal(p.field, c->field);
        }
        assert_string_equal(p.detail, c->detail);
        assert_int_equal(p.unexpected, c->unexpected);
    }
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

RUNNER_MAIN(NULL, NULL,
            {
                cmocka_unit_test(test_failed_statements),
                cmocka_unit_test(test_unavailable_details),
            })
