/* Unit tests of engine/statements: every statement has a name matching its slot and uses
 * its parameters $1..$n without a gap, so statement_param_count (what tx_q checks call
 * sites against) is the number of arguments each call site must pass. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/statements.h"
#include "runner.h"

static void test_every_statement_is_named_and_gapless(void **state)
{
    (void)state;
    for (int i = 0; i < ST__COUNT; i++) {
        const db_statement *st = &engine_statements[i];
        if (st->name == NULL || st->sql == NULL) {
            fail_msg("statement %d has no SQL", i);
        }
        assert_true(strncmp(st->name, "ST_", 3) == 0);
        int count = statement_param_count(i);
        bool used[32] = {false};
        for (const char *p = st->sql; *p != '\0'; p++) {
            if (*p == '$' && p[1] >= '1' && p[1] <= '9') {
                long n = strtol(p + 1, NULL, 10);
                assert_true(n >= 1 && n <= count && n < 32);
                used[n] = true;
            }
        }
        for (int n = 1; n <= count; n++) {
            if (!used[n]) {
                fail_msg("%s uses $%d but not $%d", st->name, count, n);
            }
        }
    }
}

static void test_known_counts(void **state)
{
    (void)state;
    assert_int_equal(statement_param_count(ST_PING), 0);
    assert_int_equal(statement_param_count(ST_ORG_PATCH), 3);
    assert_int_equal(statement_param_count(ST_TR_RECORD), 19);
    assert_int_equal(statement_param_count(ST_TR_RECORD_PENDING), 24);
    assert_int_equal(statement_param_count(ST_IDEM_STORE), 6);
    assert_int_equal(statement_param_count(-1), -1);
    assert_int_equal(statement_param_count(ST__COUNT), -1);
}

RUNNER_MAIN(NULL, NULL,
            {
                cmocka_unit_test(test_every_statement_is_named_and_gapless),
                cmocka_unit_test(test_known_counts),
            })
