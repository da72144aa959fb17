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

/* One text value of a query on a session; caller frees. */
static char *conn_text(PGconn *pg, const char *sql)
{
    PGresult *r = PQexec(pg, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        fail_msg("%s (as %s): %s", sql, PQuser(pg), PQresultErrorMessage(r));
    }
    char *text = tu_format("%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return text;
}

/* One text value of a query on the test database (as its owner). */
static char *sql_text(const char *sql_fmt, ...) __attribute__((format(printf, 1, 2)));
static char *sql_text(const char *sql_fmt, ...)
{
    va_list args;
    va_start(args, sql_fmt);
    char *sql = tu_vformat(sql_fmt, args);
    va_end(args);
    char *text = conn_text(it_db(), sql);
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

/* A balance statement of the engine's run as the server runs it (params as its $1, $2, ...),
 * its rows in report()'s shape: "code:generated accepted ... in_transit|...". */
static char *run_balance(int statement, int count, const char *const *params)
{
    PGresult *r =
        PQexecParams(it_db(), engine_statements[statement].sql, count, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fail_msg("%s: %s", engine_statements[statement].name, PQresultErrorMessage(r));
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

/* ST_BALANCE itself, its replay forced ("true" forward, "false" backward). */
static char *statement(const char *from, const char *to, const char *forward)
{
    const char *params[3] = {from, to, forward};
    return run_balance(ST_BALANCE, 3, params);
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

static void wait_pending_of(long long org, long long kg)
{
    long long start = tu_now_ms(), pending = -1;
    while (tu_now_ms() - start < tu_scaled_ms(5000)) {
        pending = it_sql_int("SELECT coalesce(sum(pending), 0) FROM organization_waste WHERE "
                             "organization_id = %lld",
                             org);
        if (pending == kg) {
            return;
        }
        tu_sleep_ms(20);
    }
    fail_msg("organization %lld: %lld kg pending, waited for %lld", org, pending, kg);
}

static void wait_pending(long long kg)
{
    wait_pending_of(world.org, kg);
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

/* OLD_ROWS transfers of 1 kg of bio by org, each stored at once at storage (written as the
 * service writes them: the running totals by the ledger's trigger, the stock by hand). */
static void bulk_bio(long long org, long long storage)
{
    it_sql_exec("WITH t AS (INSERT INTO transfers (organization_id, trigger, received, pending, "
                "actor) SELECT %lld, 'request', '{\"bio\":1}', '{}', 'bulk' FROM "
                "generate_series(1, %d) RETURNING id) INSERT INTO shipments (transfer_id, "
                "position, storage_id, waste_type, amount, distance_m) SELECT id, 0, %lld, "
                "'bio', 1, 1 FROM t",
                org, OLD_ROWS, storage);
    it_sql_exec("UPDATE storage_waste SET stock = stock + %d WHERE storage_id = %lld AND "
                "waste_type = 'bio'",
                OLD_ROWS, storage);
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
    bulk_bio(old_org, old_storage);

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

/* The ledger rows statement (ST_BALANCE or ST_BALANCE_DAYS, count parameters) reads. */
static long long reads_of(int statement, int count, const char *from, const char *to,
                          const char *forward)
{
    char *sql = tu_format("EXPLAIN (ANALYZE, FORMAT JSON) %s", engine_statements[statement].sql);
    const char *params[3] = {from, to, forward};
    PGresult *r = PQexecParams(it_db(), sql, count, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fail_msg("EXPLAIN %s: %s", engine_statements[statement].name, PQresultErrorMessage(r));
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

static long long statement_reads(const char *from, const char *to, const char *forward)
{
    return reads_of(ST_BALANCE, 3, from, to, forward);
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

/* ------------------------------------------------------------------ daily checkpoints */

/* A second world, on a database of its own: the glass history again, spread over the five
 * UTC days before today (day 0 to day 4) and today, so that the checkpoints' filler
 * (engine/balance_days.c) has closed days to write: each step goes through the API and is
 * then dated into the past (as the superuser, the ledger's triggers off), its rows at
 * instants chosen around the days' edges. OLD_ROWS transfers of bio on day 0 and OLD_ROWS
 * more today make both sides of the ledger large next to the glass. Then the server is
 * restarted, and its filler writes days 0 to 4 at start. */
enum { CP_DAYS = 5 };

static struct {
    long long org, automatic, weighed;
    char *day[CP_DAYS + 1]; /* day[d]: its date, YYYY-MM-DD (day[CP_DAYS]: today) */
    char *cutoff;           /* before the history: rows dated after it are the last step's */
    char *instants[256];    /* what cp_at handed out, freed at teardown */
    int instant_count;
} cp;

/* An instant of day d ("08:00:00"), as the API takes one (kept until the teardown). */
static const char *cp_at(int d, const char *time)
{
    if (cp.instant_count == (int)(sizeof cp.instants / sizeof cp.instants[0])) {
        fail_msg("cp_at: too many instants");
    }
    char *instant = tu_format("%sT%sZ", cp.day[d], time);
    cp.instants[cp.instant_count++] = instant;
    return instant;
}

/* Dates every ledger row written since the history began and not dated yet (the last step's,
 * the dispatcher's included) at instant. */
static void date_back(const char *instant)
{
    it_sql_exec("SET session_replication_role = replica; "
                "UPDATE transfers SET created_at = '%s' WHERE created_at >= '%s'; "
                "UPDATE receipts SET received_at = '%s' WHERE received_at >= '%s'; "
                "UPDATE unloads SET created_at = '%s' WHERE created_at >= '%s'; "
                "SET session_replication_role = origin",
                instant, cp.cutoff, instant, cp.cutoff, instant, cp.cutoff);
}

static int checkpoints_setup(void **state)
{
    tu_setup(state);
    /* Not in the first two minutes of a UTC day, when the day before is not closed yet (a
     * day closes a minute after its end). */
    long long into_day = it_sql_int("SELECT extract(epoch FROM (now() AT TIME ZONE 'UTC') - "
                                    "(now() AT TIME ZONE 'UTC')::date)::bigint");
    if (into_day < 120) {
        tu_sleep_ms((120 - into_day) * 1000);
    }
    for (int d = 0; d <= CP_DAYS; d++) {
        cp.day[d] = sql_text("SELECT to_char((now() AT TIME ZONE 'UTC')::date - %d, 'YYYY-MM-DD')",
                             CP_DAYS - d);
    }
    cp.cutoff = db_instant();
    long long old_org = tu_new_org("cp-old", NULL, NULL);
    long long old_storage = tu_new_storage("cp-old-store", "{\"bio\":100000}");
    cp.org = tu_new_org("cp-org", NULL, NULL);
    cp.automatic = new_storage("automatic", "{\"glass\":50}");
    cp.weighed = new_storage("weighed", "{\"glass\":40}");
    it_create_route(ORG(cp.org), STORAGE(cp.automatic), 10, false);
    it_create_route(ORG(cp.org), STORAGE(cp.weighed), 20, false);

    bulk_bio(old_org, old_storage);
    date_back(cp_at(0, "06:00:00"));
    HAND_OVER(cp.org, "{\"glass\":30}"); /* stored at once */
    date_back(cp_at(0, "08:00:00"));
    long long t2 = HAND_OVER(cp.org, "{\"glass\":50}"); /* 20 stored, 30 in transit */
    date_back(cp_at(0, "23:59:59.999999"));             /* the day's last microsecond */
    long long t3 = HAND_OVER(cp.org, "{\"glass\":25}"); /* 10 in transit, 15 pending */
    date_back(cp_at(1, "00:00:00"));                    /* the next day's first */
    receive(in_transit_of(t2),
            "{\"received_kg\":32,\"rejected_kg\":2,\"rejection_reason\":\"wet\"}");
    date_back(cp_at(1, "14:30:00"));
    unload(cp.automatic, 12); /* the dispatcher stores 12 of the 17 pending there */
    wait_pending_of(cp.org, 5);
    date_back(cp_at(2, "09:00:00"));
    receive(in_transit_of(t3), "{\"received_kg\":10}");
    date_back(cp_at(2, "23:00:00"));
    /* Day 3: nothing. */
    unload(cp.weighed, 5); /* the dispatcher sends the last 5 there, in transit */
    wait_pending_of(cp.org, 0);
    date_back(cp_at(4, "10:00:00"));
    /* Today: more bio, and 4 kg of glass that find no room. */
    bulk_bio(old_org, old_storage);
    HAND_OVER(cp.org, "{\"glass\":4}");
    wait_pending_of(cp.org, 4);

    /* The filler looks at start: days 0 to 4 are closed. (The first server's may have
     * written some already, if it looked after day 0 was dated: the restarted one writes
     * them all.) */
    it_stop_server_only();
    it_sql_exec("TRUNCATE balance_days");
    it_restart_server(NULL);
    long long start = tu_now_ms();
    while (it_sql_int("SELECT count(*) FROM balance_days WHERE day = '%s'", cp.day[CP_DAYS - 1]) ==
           0) {
        if (tu_now_ms() - start > tu_patience_ms()) {
            fail_msg("no checkpoint of %s after %lld ms", cp.day[CP_DAYS - 1], tu_patience_ms());
        }
        tu_sleep_ms(50);
    }
    return 0;
}

static int checkpoints_teardown(void **state)
{
    for (int d = 0; d <= CP_DAYS; d++) {
        free(cp.day[d]);
    }
    free(cp.cutoff);
    for (int i = 0; i < cp.instant_count; i++) {
        free(cp.instants[i]);
    }
    return tu_teardown(state);
}

/* Day d's checkpoint rows in the shape of report(): every waste type, a missing row shown
 * as "code:". */
static char *checkpoint(int d)
{
    return sql_text("SELECT string_agg(w.code || ':' || concat_ws(' ', b.generated, b.accepted, "
                    "b.rejected, b.unloaded, b.variance, b.pending, b.in_transit), '|' ORDER BY "
                    "w.code) FROM waste_types w LEFT JOIN balance_days b ON b.waste_type = w.code "
                    "AND b.day = '%s'",
                    cp.day[d]);
}

/* ST_BALANCE_DAYS itself ("" when the checkpoints do not cover the period). */
static char *days_statement(const char *from, const char *to)
{
    const char *params[2] = {from, to};
    return run_balance(ST_BALANCE_DAYS, 2, params);
}

/* Each day's checkpoint is the test's own replay of that day, [00:00, next 00:00) UTC, and
 * the figures written out by hand; the first day is the ledger's, today has none yet, and
 * the filler counted what it wrote. */
static void test_checkpoints_are_the_days_replay(void **state)
{
    (void)state;
    static const char *const glass[CP_DAYS] = {
        [0] = "80 50 0 0 0 0 30",   /* 30 stored, 50 of which 20 stored and 30 sent */
        [1] = "25 30 2 0 -2 17 10", /* 25: 10 sent, 15 pending; the 30 weigh 32, 2 refused */
        [2] = "0 22 0 12 0 5 0",    /* 12 unloaded and 12 placed; the 10 arrive */
        [3] = "0 0 0 0 0 5 0",      /* nothing */
        [4] = "0 0 0 5 0 0 5",      /* 5 unloaded at the weighed storage, the last 5 sent */
    };
    for (int d = 0; d < CP_DAYS; d++) {
        char *expected = all_types(d == 0 ? BIO : ZERO, glass[d]);
        char *row = checkpoint(d);
        char *day_replay = replay(cp_at(d, "00:00:00"), cp_at(d + 1, "00:00:00"));
        if (strcmp(row, expected) != 0 || strcmp(day_replay, expected) != 0) {
            fail_msg("day %d (%s): checkpoint\n  %s\nreplay\n  %s\nexpected\n  %s", d, cp.day[d],
                     row, day_replay, expected);
        }
        free(expected);
        free(row);
        free(day_replay);
    }
    assert_int_equal(it_sql_int("SELECT count(DISTINCT day) FROM balance_days"), CP_DAYS);
    char *first = sql_text("SELECT min(day)::text FROM balance_days");
    assert_string_equal(first, cp.day[0]);
    free(first);
    assert_int_equal(tu_metric_present("wasteflow_balance_days_filled_total"), CP_DAYS);
}

/* Whether ASSERT_DAYS_BALANCE checks the API and the checkpoints only (the ledger's own ways
 * and the replay do not read balance_days). */
static bool cp_api_only;

/* Every way of computing [from, to)'s balance gives `expected`, the checkpoints' among them
 * (which must cover the period: covered false, they must not). */
#define ASSERT_DAYS_BALANCE(from, to, covered, expected)                                           \
    assert_days_balance_at(__FILE__, __LINE__, from, to, covered, expected)
static void assert_days_balance_at(const char *file, int line, const char *from, const char *to,
                                   bool covered, const char *expected)
{
    char *days = days_statement(from, to);
    if (strcmp(days, covered ? expected : "") != 0) {
        fail_msg("%s:%d: balance [%s, %s) from the checkpoints:\n  %s\nexpected\n  %s", file, line,
                 from ? from : "-", to ? to : "-", days, covered ? expected : "(no rows)");
    }
    free(days);
    if (!cp_api_only) {
        assert_balance_at(file, line, from, to, expected);
        return;
    }
    char *api = report(from, to);
    if (strcmp(api, expected) != 0) {
        fail_msg("%s:%d: balance [%s, %s) by the API:\n  %s\nexpected\n  %s", file, line,
                 from ? from : "-", to ? to : "-", api, expected);
    }
    free(api);
}

/* The periods of the checkpoints' world: over whole days, from and to mid-day, at the days'
 * edges, open at either end, within an empty day, before the first checkpoint. */
static void assert_periods(bool covered)
{
    char *expected = all_types(ZERO, "75 72 2 17 -2 0 5");
    ASSERT_DAYS_BALANCE(cp_at(0, "12:00:00"), cp_at(4, "12:00:00"), covered, expected);
    free(expected);
    expected = all_types(ZERO, "25 52 2 12 -2 5 0");
    ASSERT_DAYS_BALANCE(cp_at(1, "00:00:00"), cp_at(3, "00:00:00"), covered, expected);
    free(expected);
    expected = all_types(ZERO, "75 20 0 0 0 15 40"); /* the days' last and first rows */
    ASSERT_DAYS_BALANCE(cp_at(0, "23:59:59.999999"), cp_at(1, "00:00:00.000001"), covered,
                        expected);
    free(expected);
    expected = all_types(ZERO, "50 20 0 0 0 0 30");
    ASSERT_DAYS_BALANCE(cp_at(0, "23:59:59.999999"), cp_at(1, "00:00:00"), covered, expected);
    free(expected);
    expected = all_types(ZERO, "105 102 2 12 -2 5 0");
    ASSERT_DAYS_BALANCE(cp_at(0, "08:00:00"), cp_at(4, "10:00:00"), covered, expected);
    free(expected);
    expected = all_types(BIO, "105 92 2 12 -2 5 10");
    ASSERT_DAYS_BALANCE(NULL, cp_at(2, "12:00:00"), covered, expected);
    free(expected);
    expected = all_types(BIO, "105 50 0 0 0 15 40"); /* from before the ledger */
    char *early =
        sql_text("SELECT to_char('%s'::date - 2, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')", cp.day[0]);
    ASSERT_DAYS_BALANCE(early, cp_at(1, "12:00:00"), covered, expected);
    free(early);
    free(expected);
    expected = all_types(ZERO, "0 0 0 0 0 5 0"); /* within day 3, and empty at day 4's start */
    ASSERT_DAYS_BALANCE(cp_at(3, "06:00:00"), cp_at(3, "18:00:00"), covered, expected);
    ASSERT_DAYS_BALANCE(cp_at(4, "00:00:00"), cp_at(4, "00:00:00"), covered, expected);
    free(expected);
    /* To now (the live figures), today's rows included. */
    expected = all_types(BIO, "4 10 0 5 0 4 5");
    ASSERT_DAYS_BALANCE(cp_at(2, "12:00:00"), NULL, covered, expected);
    free(expected);
    expected = all_types(BIO, "4 0 0 0 0 4 5");
    ASSERT_DAYS_BALANCE(cp_at(CP_DAYS, "00:00:00"), NULL, covered, expected);
    free(expected);
    expected = all_types(BIO, "4 52 2 17 -2 4 5");
    ASSERT_DAYS_BALANCE(cp_at(1, "12:00:00"), "2999-01-01T00:00:00Z", covered, expected);
    free(expected);
    expected = all_types("4000 4000 0 0 0 0 0", "109 102 2 17 -2 4 5");
    ASSERT_DAYS_BALANCE(NULL, NULL, covered, expected);
    free(expected);
    /* Ending before the first checkpoint's end: never covered. */
    expected = all_types(BIO, "30 30 0 0 0 0 0");
    ASSERT_DAYS_BALANCE(NULL, cp_at(0, "12:00:00"), false, expected);
    free(expected);
}

static void test_reports_over_checkpoints(void **state)
{
    (void)state;
    assert_periods(true);
}

/* What the report answers is read from the checkpoints: a checkpoint changed by hand (as the
 * owner: the app role may not) changes it, the period figures of a whole day and the state at
 * a day's end both. */
static void test_reports_read_the_checkpoints(void **state)
{
    (void)state;
    const char *from = cp_at(1, "00:00:00"), *to = cp_at(3, "00:00:00");
    char *expected = all_types(ZERO, "25 52 2 12 -2 5 0");
    char *now = report(from, to);
    assert_string_equal(now, expected);
    free(now);
    it_sql_exec("UPDATE balance_days SET generated = generated + 1000, pending = pending + 7 "
                "WHERE day = '%s' AND waste_type = 'glass'",
                cp.day[2]);
    now = report(from, to);
    assert_string_equal(now, "bio:" ZERO "|glass:1025 52 2 12 -2 12 0|plastic:" ZERO);
    free(now);
    it_sql_exec("UPDATE balance_days SET generated = generated - 1000, pending = pending - 7 "
                "WHERE day = '%s' AND waste_type = 'glass'",
                cp.day[2]);
    now = report(from, to);
    assert_string_equal(now, expected);
    free(now);
    free(expected);
}

/* With the checkpoints gone (emptied by the owner, as after a backfill), the API gives the
 * same figures from the ledger alone; then from them again once they are back. */
static void test_reports_without_checkpoints(void **state)
{
    (void)state;
    it_sql_exec("CREATE TEMP TABLE saved_days AS SELECT * FROM balance_days; "
                "TRUNCATE balance_days");
    cp_api_only = true;
    assert_periods(false);
    it_sql_exec("INSERT INTO balance_days SELECT * FROM saved_days; DROP TABLE saved_days");
    assert_periods(true);
    cp_api_only = false;
}

/* A day in the middle of the ledger reads its own rows: no more than its edges' few, where
 * the ledger alone reads the OLD_ROWS transfers of bio before it (forward) or after it
 * (backward, today's). */
static void test_checkpoints_read_the_period_only(void **state)
{
    (void)state;
    const char *from = cp_at(2, "12:00:00"), *to = cp_at(3, "12:00:00");
    long long days = reads_of(ST_BALANCE_DAYS, 2, from, to, NULL);
    long long forward = reads_of(ST_BALANCE, 3, from, to, "true");
    long long backward = reads_of(ST_BALANCE, 3, from, to, "false");
    long long whole_days = reads_of(ST_BALANCE_DAYS, 2, NULL, NULL, NULL);
    printf("balance: rows read for [day 2 12:00, day 3 12:00): checkpoints %lld, forward %lld, "
           "backward %lld; the whole ledger from the checkpoints %lld\n",
           days, forward, backward, whole_days);
    /* The receipt at day 2 23:00 and its shipment. */
    assert_int_equal(days, 2);
    assert_true(forward >= 2 * OLD_ROWS);
    assert_true(backward >= 2 * OLD_ROWS);
    /* The whole ledger: today's rows only (transfers read twice, for what they received and
     * for their shipments; their shipments; receipts with theirs; unloads), about 3 x
     * OLD_ROWS, where ST_BALANCE_ALL reads every row of every day. */
    const char *today = cp_at(CP_DAYS, "00:00:00");
    long long today_rows = it_sql_int(
        "SELECT (SELECT count(*) FROM transfers WHERE created_at >= '%s') * 2 + (SELECT count(*) "
        "FROM shipments s JOIN transfers t ON t.id = s.transfer_id WHERE t.created_at >= '%s') + "
        "(SELECT count(*) FROM receipts WHERE received_at >= '%s') * 2 + (SELECT count(*) FROM "
        "unloads WHERE created_at >= '%s')",
        today, today, today, today);
    /* (A plan's per-loop row counts are rounded: the probe of the shipments of 2,001
     * transfers, one without any, counts 2,001.) */
    assert_true(whole_days >= today_rows && whole_days <= today_rows + 2);
    assert_true(whole_days < 3 * OLD_ROWS + 10);
}

static PGconn *connect_to(const char *conninfo)
{
    PGconn *pg = PQconnectdb(conninfo);
    if (PQstatus(pg) != CONNECTION_OK) {
        fail_msg("cannot connect: %s", PQerrorMessage(pg));
    }
    return pg;
}

/* Waits until wf_xacts_ended_before(instant), asked by the app role, says so. */
static void wait_ended_before(PGconn *app, const char *instant)
{
    const char *sql = tu_fmt("SELECT wf_xacts_ended_before(%s)", instant);
    long long start = tu_now_ms();
    for (;;) {
        char *ended = conn_text(app, sql);
        bool yes = strcmp(ended, "t") == 0;
        free(ended);
        if (yes) {
            return;
        }
        if (tu_now_ms() - start > tu_patience_ms()) {
            fail_msg("%s: still false after %lld ms", sql, tu_patience_ms());
        }
        tu_sleep_ms(20);
    }
}

/* The late-commit rule: a day is checkpointed only once every transaction that started before
 * its end has ended, since its rows are dated by its start. A transaction cannot be started in
 * the past, so the rule is checked at an instant just after one held open starts: a day
 * ending then must wait while it runs (whether the app role's, which it sees, or the owner's,
 * whose start pg_stat_activity hides from it), and need not once it ended. */
static void test_a_day_waits_for_transactions_started_before_its_end(void **state)
{
    (void)state;
    PGconn *app = connect_to(it_app_database_url());
    const char *const holders[] = {it_app_database_url(), it_database_url()};
    for (int i = 0; i < 2; i++) {
        PGconn *held = connect_to(holders[i]);
        tu_pg_exec(held, "BEGIN");
        char *started = conn_text(held, "SELECT now()::text");
        char *after = tu_format("'%s'::timestamptz + interval '1 microsecond'", started);
        char *at = tu_format("'%s'::timestamptz", started);
        char *ended = conn_text(app, tu_fmt("SELECT wf_xacts_ended_before(%s)", after));
        assert_string_equal(ended, "f");
        free(ended);
        if (i == 1) { /* the app role alone does not see when the owner's transaction began */
            char *seen =
                conn_text(app, tu_fmt("SELECT count(xact_start) FROM pg_stat_activity WHERE "
                                      "pid = %d",
                                      PQbackendPID(held)));
            assert_string_equal(seen, "0");
            free(seen);
        }
        /* Rows dated from its start on belong to a later day. */
        wait_ended_before(app, at);
        tu_pg_exec(held, "COMMIT");
        wait_ended_before(app, after);
        PQfinish(held);
        free(started);
        free(after);
        free(at);
    }

    /* The filler's next day is today, not closed: it waits until a minute after today ends. */
    char *next =
        conn_text(app, tu_fmt("SELECT concat_ws(' ', day, closed, ready, wait_ms > 0 AND "
                              "wait_ms <= 86460000) FROM (%s) n(day, closed, ready, wait_ms)",
                              engine_statements[ST_BD_NEXT].sql));
    assert_string_equal(next, tu_fmt("%s f f t", cp.day[CP_DAYS]));
    free(next);
    PQfinish(app);
}

/* Filling is idempotent and never starts from a gap; the app role only appends. */
static void test_fill_writes_each_day_once(void **state)
{
    (void)state;
    PGconn *app = connect_to(it_app_database_url());
    char *before = sql_text("SELECT md5(string_agg(b::text, '|' ORDER BY day, waste_type)) FROM "
                            "balance_days b");
    const char *fill = engine_statements[ST_BD_FILL].sql;
    const char *params[1] = {cp.day[2]};
    PGresult *r = PQexecParams(app, fill, 1, NULL, params, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    /* Day 2 again: the day before is there, nothing written (another instance's case). */
    assert_string_equal(PQgetvalue(r, 0, 0), "t");
    assert_string_equal(PQgetvalue(r, 0, 1), "0");
    PQclear(r);
    /* A day after a gap: neither the day before nor an empty ledger before it. */
    char *later = sql_text("SELECT ('%s'::date + 2)::text", cp.day[CP_DAYS]);
    params[0] = later;
    r = PQexecParams(app, fill, 1, NULL, params, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(r, 0, 0), "f");
    assert_string_equal(PQgetvalue(r, 0, 1), "0");
    PQclear(r);
    free(later);
    for (const char *const *sql =
             (const char *const[]){"UPDATE balance_days SET generated = 0",
                                   "DELETE FROM balance_days", "TRUNCATE balance_days", NULL};
         *sql != NULL; sql++) {
        r = PQexec(app, *sql);
        assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
        assert_string_equal(PQresultErrorField(r, PG_DIAG_SQLSTATE), "42501");
        PQclear(r);
    }
    char *after = sql_text("SELECT md5(string_agg(b::text, '|' ORDER BY day, waste_type)) FROM "
                           "balance_days b");
    assert_string_equal(after, before);
    free(before);
    free(after);
    PQfinish(app);
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
    int failed = cmocka_run_group_tests(tests, history_setup, history_teardown);
    const struct CMUnitTest checkpoints[] = {
        cmocka_unit_test(test_checkpoints_are_the_days_replay),
        cmocka_unit_test(test_reports_over_checkpoints),
        cmocka_unit_test(test_reports_read_the_checkpoints),
        cmocka_unit_test(test_reports_without_checkpoints),
        cmocka_unit_test(test_checkpoints_read_the_period_only),
        cmocka_unit_test(test_a_day_waits_for_transactions_started_before_its_end),
        cmocka_unit_test(test_fill_writes_each_day_once),
        TU_AUDIT_TEST,
    };
    failed += cmocka_run_group_tests_name("balance.checkpoints", checkpoints, checkpoints_setup,
                                          checkpoints_teardown);
    return failed;
}
