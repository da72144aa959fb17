/* Integration tests of GET /v1/reports/balance's figures at past instants against a real
 * server and database. A scripted history of glass (transfers placed at once at an automatic
 * storage, loads in transit to a weighed one, a receipt that weighed more than planned and
 * refused part, unloads, and the dispatcher placing the refused and left-over kilograms
 * again once room appears: at the automatic storage, then in transit to the weighed one),
 * with an instant taken from the database clock after each step. At every instant: the
 * figures written out by hand; the report through the API; the statement with its replay
 * forced forward and backward; and an independent forward replay in SQL, over the whole
 * past and over the step's own period. With no `to` the report is /v1/stats' figures; a
 * `to` in the future is no `to`; `from` = `to` is an empty period. And what a report reads:
 * the rows of its side of the ledger, counted in the statement's own plan (EXPLAIN ANALYZE),
 * not the older ledger. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "harness.h"
#include "testutil.h"

#include "engine/statements.h"

/* Ledger rows of bio written before the history, so that "the older ledger" is large next
 * to the history's own rows. */
enum { OLD_ROWS = 2000, STEPS = 7 };

/* The figures of one type as "generated accepted rejected unloaded variance pending
 * in_transit", and of every type as "bio:...|glass:...|plastic:...". */
#define ZERO "0 0 0 0 0 0 0"
#define BIO  "2000 2000 0 0 0 0 0" /* the old rows: handed over and stored at once */

static struct {
    long long org, automatic, weighed;
    char *at[STEPS + 1]; /* at[k]: an instant after step k (at[0]: before the history) */
} world;

/* ------------------------------------------------------------------ helpers */

/* One text value of a query on the test database (as its owner). */
static char *sql_text(const char *sql_fmt, ...) __attribute__((format(printf, 1, 2)));
static char *sql_text(const char *sql_fmt, ...)
{
    va_list args;
    va_start(args, sql_fmt);
    char *sql = tu_vformat(sql_fmt, args);
    va_end(args);
    PGresult *r = PQexec(it_db(), sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    }
    char *text = tu_format("%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    free(sql);
    return text;
}

/* The database clock now, as the API takes an instant (RFC 3339, microseconds, UTC). */
static char *db_instant(void)
{
    return sql_text("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', "
                    "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')");
}

/* A SQL literal of an instant, or NULL. */
static const char *lit(const char *instant)
{
    return instant != NULL ? tu_fmt("'%s'::timestamptz", instant) : "NULL::timestamptz";
}

/* The report through the API, as "bio:...|glass:...|plastic:...". */
static char *report(const char *from, const char *to)
{
    char *path = tu_format("/v1/reports/balance%s%s%s%s", from || to ? "?" : "",
                           from ? tu_fmt("from=%s", from) : "", from && to ? "&" : "",
                           to ? tu_fmt("to=%s", to) : "");
    it_response *r = it_get("%s", path);
    EXPECT_STATUS(r, 200);
    static const char *const names[] = {"generated", "accepted", "rejected",  "unloaded",
                                        "variance",  "pending",  "in_transit"};
    char *out = tu_format("%s", "");
    const cJSON *type;
    cJSON_ArrayForEach(type, r->json)
    {
        char *next = tu_format("%s%s%s:", out, *out ? "|" : "", type->string);
        free(out);
        out = next;
        for (int k = 0; k < 7; k++) {
            next = tu_format("%s%s%lld", out, k ? " " : "", it_json_int(type, names[k]));
            free(out);
            out = next;
        }
    }
    it_response_free(r);
    free(path);
    return out;
}

/* ST_BALANCE itself, its replay forced ("true" forward, "false" backward), in the same
 * shape. */
static char *statement(const char *from, const char *to, const char *forward)
{
    const char *params[3] = {from, to, forward};
    PGresult *r =
        PQexecParams(it_db(), engine_statements[ST_BALANCE].sql, 3, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fail_msg("ST_BALANCE: %s", PQresultErrorMessage(r));
    }
    char *out = tu_format("%s", "");
    for (int row = 0; row < PQntuples(r); row++) {
        char *next = tu_format("%s%s%s:%s %s %s %s %s %s %s", out, row ? "|" : "",
                               PQgetvalue(r, row, 0), PQgetvalue(r, row, 1), PQgetvalue(r, row, 2),
                               PQgetvalue(r, row, 3), PQgetvalue(r, row, 4), PQgetvalue(r, row, 5),
                               PQgetvalue(r, row, 6), PQgetvalue(r, row, 7));
        free(out);
        out = next;
    }
    PQclear(r);
    return out;
}

/* The test's own replay, forward from the beginning and by the figures' definitions: what
 * transfers created within [from, to) received; accepted = their shipments to automatic
 * storages + what receipts within it accepted; rejected, variance (planned - received) and
 * unloaded within it; pending at `to` = received - shipped + refused before it; in transit
 * at `to` = loads in transit sent before it and not received before it. */
static char *replay(const char *from, const char *to)
{
    const char *lo = tu_fmt("coalesce(%s, '-infinity')", lit(from));
    const char *hi = tu_fmt("coalesce(%s, 'infinity')", lit(to));
    return sql_text(
        "SELECT string_agg(w.code || ':' || concat_ws(' ', "
        "(SELECT coalesce(sum((t.received ->> w.code)::bigint), 0) FROM transfers t WHERE "
        "t.created_at >= %s AND t.created_at < %s), "
        "(SELECT coalesce(sum(s.amount), 0) FROM shipments s JOIN transfers t ON t.id = "
        "s.transfer_id WHERE s.waste_type = w.code AND NOT s.in_transit AND t.created_at >= %s "
        "AND t.created_at < %s) + (SELECT coalesce(sum(r.accepted_kg), 0) FROM receipts r JOIN "
        "shipments s ON s.id = r.shipment_id WHERE s.waste_type = w.code AND r.received_at >= %s "
        "AND r.received_at < %s), "
        "(SELECT coalesce(sum(r.rejected_kg), 0) FROM receipts r JOIN shipments s ON s.id = "
        "r.shipment_id WHERE s.waste_type = w.code AND r.received_at >= %s AND r.received_at < "
        "%s), "
        "(SELECT coalesce(sum(u.amount), 0) FROM unloads u WHERE u.waste_type = w.code AND "
        "u.created_at >= %s AND u.created_at < %s), "
        "(SELECT coalesce(sum(s.amount - r.received_kg), 0) FROM receipts r JOIN shipments s ON "
        "s.id = r.shipment_id WHERE s.waste_type = w.code AND r.received_at >= %s AND "
        "r.received_at < %s), "
        "(SELECT coalesce(sum((t.received ->> w.code)::bigint), 0) FROM transfers t WHERE "
        "t.created_at < %s) - (SELECT coalesce(sum(s.amount), 0) FROM shipments s JOIN "
        "transfers t ON t.id = s.transfer_id WHERE s.waste_type = w.code AND t.created_at < %s) "
        "+ (SELECT coalesce(sum(r.rejected_kg), 0) FROM receipts r JOIN shipments s ON s.id = "
        "r.shipment_id WHERE s.waste_type = w.code AND r.received_at < %s), "
        "(SELECT coalesce(sum(s.amount), 0) FROM shipments s JOIN transfers t ON t.id = "
        "s.transfer_id WHERE s.waste_type = w.code AND s.in_transit AND t.created_at < %s AND NOT "
        "EXISTS (SELECT 1 FROM receipts r WHERE r.shipment_id = s.id AND r.received_at < %s))), "
        "'|' ORDER BY w.code) FROM waste_types w",
        lo, hi, lo, hi, lo, hi, lo, hi, lo, hi, lo, hi, hi, hi, hi, hi, hi);
}

/* Every way of computing [from, to)'s balance gives `expected` (the API's, with no `from`
 * and no `to`, is ST_BALANCE_ALL's). */
#define ASSERT_BALANCE(from, to, expected) assert_balance_at(__FILE__, __LINE__, from, to, expected)
static void assert_balance_at(const char *file, int line, const char *from, const char *to,
                              const char *expected)
{
    char *ways[4] = {report(from, to), statement(from, to, "true"), statement(from, to, "false"),
                     replay(from, to)};
    static const char *const names[4] = {"the API", "forward", "backward", "the test's replay"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(ways[i], expected) != 0) {
            fail_msg("%s:%d: balance [%s, %s) by %s:\n  %s\nexpected\n  %s", file, line,
                     from ? from : "-", to ? to : "-", names[i], ways[i], expected);
        }
    }
    for (int i = 0; i < 4; i++) {
        free(ways[i]);
    }
}

static void wait_pending(long long kg)
{
    long long start = tu_now_ms(), pending = -1;
    while (tu_now_ms() - start < tu_scaled_ms(5000)) {
        pending = it_sql_int("SELECT coalesce(sum(pending), 0) FROM organization_waste WHERE "
                             "organization_id = %lld",
                             world.org);
        if (pending == kg) {
            return;
        }
        tu_sleep_ms(20);
    }
    fail_msg("organization %lld: %lld kg pending, waited for %lld", world.org, pending, kg);
}

static long long in_transit_of(long long transfer)
{
    return it_sql_int("SELECT id FROM shipments WHERE transfer_id = %lld AND in_transit", transfer);
}

static void receive(long long movement, const char *body)
{
    it_response *r = it_post(tu_fmt("/v1/movements/%lld/receipt", movement), "%s", body);
    EXPECT_STATUS(r, 200);
    it_response_free(r);
}

static void unload(long long storage, long long kg)
{
    it_response *r = it_post(tu_fmt("/v1/storages/%lld/unload", storage), "{\"glass\":%lld}", kg);
    EXPECT_STATUS(r, 200);
    it_response_free(r);
}

static long long new_storage(const char *intake, const char *capacity_json)
{
    char *name = it_unique_name("bal-store");
    it_response *r = it_post("/v1/storages", "{\"name\":\"%s\",\"intake\":\"%s\",\"capacity\":%s}",
                             name, intake, capacity_json);
    EXPECT_STATUS(r, 201);
    long long id = it_json_int(r->json, "id");
    it_response_free(r);
    free(name);
    return id;
}

/* ------------------------------------------------------------------ the history */

static int history_setup(void **state)
{
    tu_setup(state);
    /* The older ledger: 2,000 transfers of 1 kg of bio, each stored at once, by another
     * organization at a storage of its own (written as the service writes them: the
     * running totals by the ledger's trigger, the stock by hand). */
    long long old_org = tu_new_org("bal-old", NULL, NULL);
    long long old_storage = tu_new_storage("bal-old-store", "{\"bio\":100000}");
    it_sql_exec("WITH t AS (INSERT INTO transfers (organization_id, trigger, received, pending, "
                "actor) SELECT %lld, 'request', '{\"bio\":1}', '{}', 'bulk' FROM "
                "generate_series(1, %d) RETURNING id) INSERT INTO shipments (transfer_id, "
                "position, storage_id, waste_type, amount, distance_m) SELECT id, 0, %lld, "
                "'bio', 1, 1 FROM t",
                old_org, OLD_ROWS, old_storage);
    it_sql_exec("UPDATE storage_waste SET stock = stock + %d WHERE storage_id = %lld AND "
                "waste_type = 'bio'",
                OLD_ROWS, old_storage);

    /* Glass: the automatic storage 10 m away (50 kg), the weighed one 20 m away (40 kg). */
    world.org = tu_new_org("bal-org", NULL, NULL);
    world.automatic = new_storage("automatic", "{\"glass\":50}");
    world.weighed = new_storage("weighed", "{\"glass\":40}");
    it_create_route(ORG(world.org), STORAGE(world.automatic), 10, false);
    it_create_route(ORG(world.org), STORAGE(world.weighed), 20, false);
    world.at[0] = db_instant();

    /* 1. 30 kg, all stored at once at the automatic storage. */
    HAND_OVER(world.org, "{\"glass\":30}");
    world.at[1] = db_instant();
    /* 2. 50 kg: 20 fill the automatic storage, 30 set off to the weighed one. */
    long long t2 = HAND_OVER(world.org, "{\"glass\":50}");
    world.at[2] = db_instant();
    /* 3. 25 kg: 10 set off (the weighed storage is then all reserved), 15 stay pending. */
    long long t3 = HAND_OVER(world.org, "{\"glass\":25}");
    world.at[3] = db_instant();
    /* 4. The 30 kg load weighs 32, of which 2 are refused: 30 into stock, 2 back to pending
     *    (no room anywhere: nothing moves). */
    receive(in_transit_of(t2),
            "{\"received_kg\":32,\"rejected_kg\":2,\"rejection_reason\":\"wet\"}");
    world.at[4] = db_instant();
    /* 5. 12 kg unloaded at the automatic storage: the dispatcher places 12 of the 17 pending
     *    there, stored at once. */
    unload(world.automatic, 12);
    wait_pending(5);
    world.at[5] = db_instant();
    /* 6. The 10 kg load arrives as planned. */
    receive(in_transit_of(t3), "{\"received_kg\":10}");
    world.at[6] = db_instant();
    /* 7. 5 kg unloaded at the weighed storage: the dispatcher sends the last 5 there, in
     *    transit. */
    unload(world.weighed, 5);
    wait_pending(0);
    world.at[7] = db_instant();
    return 0;
}

static int history_teardown(void **state)
{
    for (int k = 0; k <= STEPS; k++) {
        free(world.at[k]);
    }
    return tu_teardown(state);
}

/* Glass at the end of each step, written out by hand: generated, accepted, rejected,
 * unloaded, variance (planned - received), pending, in transit. */
static const char *const glass_at[STEPS + 1] = {
    [0] = ZERO,
    [1] = "30 30 0 0 0 0 0",
    [2] = "80 50 0 0 0 0 30",
    [3] = "105 50 0 0 0 15 40",
    [4] = "105 80 2 0 -2 17 10",
    [5] = "105 92 2 12 -2 5 10",
    [6] = "105 102 2 12 -2 5 0",
    [7] = "105 102 2 17 -2 0 5",
};

/* Each step's own period [at[k-1], at[k]): what happened within it, and the state at its
 * end. */
static const char *const glass_within[STEPS + 1] = {
    [1] = "30 30 0 0 0 0 0",   [2] = "50 20 0 0 0 0 30", [3] = "25 0 0 0 0 15 40",
    [4] = "0 30 2 0 -2 17 10", [5] = "0 12 0 12 0 5 10", [6] = "0 10 0 0 0 5 0",
    [7] = "0 0 0 5 0 0 5",
};

static char *all_types(const char *bio, const char *glass)
{
    return tu_format("bio:%s|glass:%s|plastic:" ZERO, bio, glass);
}

/* The whole past up to each instant, and each step's own period, every way. */
static void test_at_every_instant(void **state)
{
    (void)state;
    for (int k = 0; k <= STEPS; k++) {
        char *expected = all_types(BIO, glass_at[k]);
        ASSERT_BALANCE(NULL, world.at[k], expected);
        free(expected);
        if (k > 0) {
            expected = all_types(ZERO, glass_within[k]);
            ASSERT_BALANCE(world.at[k - 1], world.at[k], expected);
            free(expected);
        }
    }
    /* Steps 2 to 6: the loads' whole journey. */
    char *expected = all_types(ZERO, "75 72 2 12 -2 5 0");
    ASSERT_BALANCE(world.at[1], world.at[6], expected);
    free(expected);
}

/* From = to: nothing happened within it, and pending and in transit are those at that
 * instant. */
static void test_empty_periods(void **state)
{
    (void)state;
    static const char *const state_at[STEPS + 1] = {
        [0] = ZERO,
        [1] = ZERO,
        [2] = "0 0 0 0 0 0 30",
        [3] = "0 0 0 0 0 15 40",
        [4] = "0 0 0 0 0 17 10",
        [5] = "0 0 0 0 0 5 10",
        [6] = "0 0 0 0 0 5 0",
        [7] = "0 0 0 0 0 0 5",
    };
    for (int k = 0; k <= STEPS; k++) {
        char *expected = all_types(ZERO, state_at[k]);
        ASSERT_BALANCE(world.at[k], world.at[k], expected);
        free(expected);
    }
}

/* No `to`: the live figures, those of /v1/stats; a `to` in the future is the same. */
static void test_live_and_future(void **state)
{
    (void)state;
    char *expected = all_types(BIO, glass_at[STEPS]);
    ASSERT_BALANCE(NULL, NULL, expected);
    ASSERT_BALANCE(NULL, "2999-01-01T00:00:00Z", expected);
    free(expected);
    expected = all_types(ZERO, "0 0 0 5 0 0 5"); /* step 7 only, and since */
    ASSERT_BALANCE(world.at[6], NULL, expected);
    ASSERT_BALANCE(world.at[6], "2999-01-01T00:00:00Z", expected);
    free(expected);

    it_response *stats = it_get("/v1/stats");
    EXPECT_STATUS(stats, 200);
    it_response *balance = it_get("/v1/reports/balance");
    EXPECT_STATUS(balance, 200);
    assert_int_equal(cJSON_GetArraySize(balance->json), cJSON_GetArraySize(stats->json));
    const cJSON *type;
    cJSON_ArrayForEach(type, stats->json)
    {
        const cJSON *b = tu_member(balance->json, type->string);
        assert_int_equal(it_json_int(b, "generated"), it_json_int(type, "generated"));
        assert_int_equal(it_json_int(b, "unloaded"), it_json_int(type, "unloaded"));
        assert_int_equal(it_json_int(b, "pending"), it_json_int(type, "pending"));
        assert_int_equal(it_json_int(b, "in_transit"), it_json_int(type, "in_transit"));
        assert_int_equal(it_json_int(b, "variance"), it_json_int(type, "variance"));
        assert_int_equal(it_json_int(b, "accepted") - it_json_int(b, "unloaded"),
                         it_json_int(type, "stored"));
    }
    it_response_free(stats);
    it_response_free(balance);
}

/* ------------------------------------------------------------------ what a report reads */

/* Rows the statement read from the ledger's tables (transfers, shipments, receipts,
 * unloads), from its plan's actual counts: rows x loops of every node scanning one. */
static long long rows_read(const cJSON *node)
{
    long long rows = 0;
    const cJSON *relation = cJSON_GetObjectItemCaseSensitive(node, "Relation Name");
    if (cJSON_IsString(relation) && (strcmp(relation->valuestring, "transfers") == 0 ||
                                     strcmp(relation->valuestring, "shipments") == 0 ||
                                     strcmp(relation->valuestring, "receipts") == 0 ||
                                     strcmp(relation->valuestring, "unloads") == 0)) {
        const cJSON *actual = cJSON_GetObjectItemCaseSensitive(node, "Actual Rows");
        const cJSON *loops = cJSON_GetObjectItemCaseSensitive(node, "Actual Loops");
        rows += (long long)(actual->valuedouble * loops->valuedouble + 0.5);
    }
    const cJSON *child;
    cJSON_ArrayForEach(child, cJSON_GetObjectItemCaseSensitive(node, "Plans"))
    {
        rows += rows_read(child);
    }
    return rows;
}

static long long statement_reads(const char *from, const char *to, const char *forward)
{
    char *sql = tu_format("EXPLAIN (ANALYZE, FORMAT JSON) %s", engine_statements[ST_BALANCE].sql);
    const char *params[3] = {from, to, forward};
    PGresult *r = PQexecParams(it_db(), sql, 3, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fail_msg("EXPLAIN ST_BALANCE: %s", PQresultErrorMessage(r));
    }
    cJSON *plan = cJSON_Parse(PQgetvalue(r, 0, 0));
    assert_non_null(plan);
    long long rows =
        rows_read(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(plan, 0), "Plan"));
    cJSON_Delete(plan);
    PQclear(r);
    free(sql);
    return rows;
}

/* A period at the end of the ledger read backward reads the rows since its start (the
 * history's few), not the 2,000 transfers and shipments before it; read forward it reads
 * them all. A period at the start read forward reads only what came before its end. The
 * API's choice with no `to` is backward; with no `from`, forward. */
static void test_reads_its_side_only(void **state)
{
    (void)state;
    /* The history since at[1]: transfers 2, 3 and the dispatcher's two (each read twice:
     * for what they received and for their shipments), their shipments, the receipts and
     * their shipments, the unloads, and the probe of the ledger's first transfer. */
    const char *since = lit(world.at[1]);
    long long history = it_sql_int(
        "SELECT (SELECT count(*) FROM transfers WHERE created_at >= %s) * 2 + (SELECT count(*) "
        "FROM shipments s JOIN transfers t ON t.id = s.transfer_id WHERE t.created_at >= %s) + "
        "(SELECT count(*) FROM receipts WHERE received_at >= %s) * 2 + (SELECT count(*) FROM "
        "unloads WHERE created_at >= %s) + 1",
        since, since, since, since);
    long long backward = statement_reads(world.at[1], world.at[2], "false");
    long long forward = statement_reads(world.at[1], world.at[2], "true");
    long long live = statement_reads(world.at[1], NULL, NULL);
    long long from_start = statement_reads(NULL, world.at[0], NULL);
    printf("balance: rows read for [at1, at2): backward %lld, forward %lld; [at1, now) %lld; "
           "[start, at0) %lld (history since at1: %lld rows, older ledger: %d transfers)\n",
           backward, forward, live, from_start, history, OLD_ROWS);
    assert_true(history < 30);
    assert_true(backward <= history);
    assert_true(live <= history);
    assert_true(forward >= 2 * OLD_ROWS);
    assert_true(from_start >= 2 * OLD_ROWS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_at_every_instant),
        cmocka_unit_test(test_empty_periods),
        cmocka_unit_test(test_live_and_future),
        cmocka_unit_test(test_reads_its_side_only),
        /* Runs last: whatever the tests above did, sql/audit.sql finds no violated invariant. */
        TU_AUDIT_TEST,
    };
    return cmocka_run_group_tests(tests, history_setup, history_teardown);
}
