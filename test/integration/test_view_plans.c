/* The storage view's statements are planned once per connection, not on every call: on a
 * connection prepared like a pool connection (every statement of engine/statements.h),
 * each of the view's statements runs ten times in rounds built as the service builds them
 * (one pipeline and one Sync a round, ST_GENERIC_PLANS first where
 * statement_wants_generic_plan says so), with the argument shapes the service sends —
 * arrays of different lengths, a type filter or none, has_room on and off. PostgreSQL's
 * own count (pg_prepared_statements) must then show the generic plan in use: after its
 * five trial custom plans for the others, from the first call for those forced. A
 * statement whose custom plans look cheaper than its generic plan (an optional filter
 * folded when absent, an array's length known) stays at ten custom plans: re-planned on
 * every call. */
#include "harness.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/statements.h"
#include "runner.h"

enum { CALLS = 10 };

static PGconn *connect_prepared(void)
{
    PGconn *pg = PQconnectdb(it_app_database_url());
    assert_int_equal(PQstatus(pg), CONNECTION_OK);
    for (int i = 0; i < ST__COUNT; i++) {
        PGresult *r = PQprepare(pg, engine_statements[i].name, engine_statements[i].sql, 0, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            fail_msg("%s: %s", engine_statements[i].name, PQresultErrorMessage(r));
        }
        PQclear(r);
    }
    return pg;
}

/* One round as tx sends it in a read: [ST_GENERIC_PLANS,] statement, Sync. */
static void run_round(PGconn *pg, int statement, const char *const *params)
{
    assert_int_equal(PQenterPipelineMode(pg), 1);
    int sent = 0;
    if (statement_wants_generic_plan(statement)) {
        assert_int_equal(PQsendQueryPrepared(pg, engine_statements[ST_GENERIC_PLANS].name, 0, NULL,
                                             NULL, NULL, 0),
                         1);
        sent++;
    }
    assert_int_equal(PQsendQueryPrepared(pg, engine_statements[statement].name,
                                         statement_param_count(statement), params, NULL, NULL, 0),
                     1);
    sent++;
    assert_int_equal(PQpipelineSync(pg), 1);
    for (int i = 0; i < sent; i++) {
        PGresult *r = PQgetResult(pg);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            fail_msg("%s: %s", engine_statements[statement].name, PQresultErrorMessage(r));
        }
        PQclear(r);
        assert_null(PQgetResult(pg)); /* the end of that query's results */
    }
    PGresult *sync = PQgetResult(pg);
    assert_int_equal(PQresultStatus(sync), PGRES_PIPELINE_SYNC);
    PQclear(sync);
    assert_int_equal(PQexitPipelineMode(pg), 1);
}

/* pg_prepared_statements' counts for statement: "custom generic". */
static void plans_of(PGconn *pg, int statement, char *out, size_t size)
{
    const char *name = engine_statements[statement].name;
    PGresult *r = PQexecParams(pg,
                               "SELECT custom_plans || ' ' || generic_plans FROM "
                               "pg_prepared_statements WHERE name = $1",
                               1, NULL, &name, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(r), 1);
    snprintf(out, size, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
}

static void test_the_views_statements_keep_their_plans(void **state)
{
    (void)state;
    assert_int_equal(it_seed_case1(), 0);
    long long org = it_sql_int("SELECT min(id) FROM organizations");
    long long first = it_sql_int("SELECT min(id) FROM storages");
    char org_text[32], ids_short[64], ids_long[256];
    snprintf(org_text, sizeof org_text, "%lld", org);
    snprintf(ids_short, sizeof ids_short, "{%lld}", first + 1);
    snprintf(ids_long, sizeof ids_long, "{%lld,%lld,%lld,%lld,%lld}", first + 1, first, first + 4,
             first + 2, first + 7);
    PGconn *pg = connect_prepared();

    for (int call = 0; call < CALLS; call++) {
        bool odd = call % 2 == 1;
        /* A type check only ever with a code (none is sent without a filter). */
        run_round(pg, ST_CHECK_TYPE, (const char *const[]){odd ? "glass" : "bio", "waste_type"});
        run_round(pg, ST_VIEW_HEAD, (const char *const[]){org_text});
        run_round(pg, ST_VIEW_TYPE_MEMBERS,
                  (const char *const[]){odd ? "glass" : "plastic", "513"});
        run_round(pg, ST_VIEW_STORAGES,
                  (const char *const[]){odd ? ids_long : ids_short, odd ? NULL : "glass",
                                        odd ? "false" : "true", odd ? "101" : "2"});
        /* The ranges between reachable ids: one to the end, or a few bounded ones. */
        char los[96], his[96];
        snprintf(los, sizeof los, "{%lld,%lld,%lld}", first, first + 3, first + 6);
        snprintf(his, sizeof his, "{%lld,%lld,9223372036854775807}", first + 1, first + 4);
        run_round(pg, ST_VIEW_UNREACHABLE,
                  odd ? (const char *const[]){"{1}", "{9223372036854775807}", "{101}", NULL,
                                              "false", "101"}
                      : (const char *const[]){los, his, "{2,2,3}", "glass", "true", "3"});
    }

    char plans[64];
    /* "custom generic": five trial custom plans, then the generic one kept. */
    const int chosen[] = {ST_CHECK_TYPE, ST_VIEW_HEAD, ST_VIEW_TYPE_MEMBERS, ST_VIEW_STORAGES};
    for (size_t i = 0; i < sizeof chosen / sizeof chosen[0]; i++) {
        plans_of(pg, chosen[i], plans, sizeof plans);
        if (strcmp(plans, "5 5") != 0) {
            fail_msg("%s: %s (custom generic plans after %d calls), expected 5 5",
                     engine_statements[chosen[i]].name, plans, CALLS);
        }
    }
    /* Forced: generic from the first call. */
    plans_of(pg, ST_VIEW_UNREACHABLE, plans, sizeof plans);
    assert_string_equal(plans, "0 10");
    /* And the setting ended with each round: a list's optional filters still get custom
     * plans on the same connection. */
    PGresult *r = PQexec(pg, "SHOW plan_cache_mode");
    assert_string_equal(PQgetvalue(r, 0, 0), "auto");
    PQclear(r);
    PQfinish(pg);
}

RUNNER_MAIN(tu_setup, tu_teardown,
            {
                cmocka_unit_test(test_the_views_statements_keep_their_plans),
            })
