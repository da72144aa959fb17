/* Integration tests of GET /v1/exports/movements.csv and GET /v1/reports/balance against a real
 * server and database: the exact CSV of a small picture (RFC 4180 quoting of a name with a
 * comma and quotes), a period that selects nothing, an export of several pages
 * (keyset paging, every row once and in order), who may read them, bad periods refused, and
 * the balance: exact figures, a period before anything happened, and with no period the same
 * figures as /v1/stats. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <cmocka.h>

#include "harness.h"
#include "testutil.h"

#define HEADER                                                                                     \
    "movement_id,transfer_id,created_at,organization_id,organization_name,storage_id,"             \
    "storage_name,waste_type,planned_kg,status,received_kg,accepted_kg,rejected_kg,distance_m,"    \
    "actor\r\n"

static struct {
    long long org, storage, transfer, movement;
    char *org_name;
} world;

static it_response *as(const char *token, const char *path)
{
    const char *headers[] = {token != NULL ? it_bearer(token) : "Authorization:", NULL};
    return it_request("GET", path, NULL, headers);
}

static void build_world(void)
{
    /* A name that needs every kind of quoting RFC 4180 has. */
    char *unique = it_unique_name("Acme");
    free(world.org_name); /* a second world (the memory group) replaces the first */
    world.org_name = tu_format("%s, \"Best\" Ltd", unique);
    char *quoted = it_json_quote(world.org_name);
    it_response *response =
        it_post("/v1/organizations", "{\"name\":%s,\"capacity\":{\"glass\":1000}}", quoted);
    EXPECT_STATUS(response, 201);
    world.org = it_json_int(response->json, "id");
    it_response_free(response);
    world.storage = tu_new_storage("Store", "{\"glass\":100000,\"plastic\":50}");
    char *from = tu_format("{\"organization_id\":%lld}", world.org);
    char *to = tu_format("{\"storage_id\":%lld}", world.storage);
    it_create_route(from, to, 42, false);
    response = it_post(tu_fmt("/v1/organizations/%lld/transfers", world.org),
                       "{\"waste\":{\"glass\":30}}");
    EXPECT_STATUS(response, 201);
    world.transfer = it_json_int(response->json, "id");
    it_response_free(response);
    world.movement =
        it_sql_int("SELECT id FROM shipments WHERE transfer_id = %lld", world.transfer);
    free(to);
    free(from);
    free(quoted);
    free(unique);
}

static void test_exact_csv(void **state)
{
    (void)state;
    build_world();
    it_response *response = it_get("/v1/exports/movements.csv");
    EXPECT_STATUS(response, 200);
    assert_string_equal(it_header(response, "Content-Type"), "text/csv; charset=utf-8");
    char *created = NULL, *storage_name = NULL, *actor = NULL;
    PGconn *pg = PQconnectdb(it_database_url());
    assert_int_equal(PQstatus(pg), CONNECTION_OK);
    PGresult *r = PQexec(pg, tu_fmt("SELECT to_char(t.created_at AT TIME ZONE 'UTC', "
                                    "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), st.name, t.actor FROM "
                                    "transfers t, storages st WHERE t.id = %lld AND st.id = %lld",
                                    world.transfer, world.storage));
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    created = strdup(PQgetvalue(r, 0, 0));
    storage_name = strdup(PQgetvalue(r, 0, 1));
    actor = strdup(PQgetvalue(r, 0, 2));
    PQclear(r);
    PQfinish(pg);
    char *quoted_name =
        tu_format("\"%.*s, \"\"Best\"\" Ltd\"",
                  (int)(strlen(world.org_name) - strlen(", \"Best\" Ltd")), world.org_name);
    char *expected = tu_format(HEADER "%lld,%lld,%s,%lld,%s,%lld,%s,glass,30,accepted,30,30,0,42,"
                                      "%s\r\n",
                               world.movement, world.transfer, created, world.org, quoted_name,
                               world.storage, storage_name, actor);
    assert_string_equal(response->body, expected);
    it_response_free(response);

    /* A period before the transfer: the header alone. */
    response = it_get("/v1/exports/movements.csv?to=2000-01-01T00:00:00Z");
    EXPECT_STATUS(response, 200);
    assert_string_equal(response->body, HEADER);
    it_response_free(response);
    /* A period around it: the same row. */
    response =
        it_get("/v1/exports/movements.csv?from=2000-01-01T00:00:00Z&to=2999-01-01T00:00:00Z");
    EXPECT_STATUS(response, 200);
    assert_string_equal(response->body, expected);
    it_response_free(response);
    free(expected);
    free(quoted_name);
    free(created);
    free(storage_name);
    free(actor);
}

static void test_bad_periods(void **state)
{
    (void)state;
    EXPECT_REJECTED_TYPE("GET", "/v1/exports/movements.csv?from=yesterday", NULL, 422,
                         "validation-error", "from");
    EXPECT_REJECTED_TYPE("GET", "/v1/exports/movements.csv?to=2026-13-01T00:00:00Z", NULL, 422,
                         "validation-error", "to");
    EXPECT_REJECTED_TYPE("GET", "/v1/reports/balance?from=1", NULL, 422, "validation-error",
                         "from");
    EXPECT_REJECTED_TYPE("GET", "/v1/reports/balance?to=2026-01-01", NULL, 422, "validation-error",
                         "to");
}

static void test_roles(void **state)
{
    (void)state;
    char *auditor = it_new_key("auditor", 0, 0);
    char *monitor = it_new_key("monitor", 0, 0);
    char *organization = it_new_key("organization", world.org, 0);
    char *storage = it_new_key("storage", 0, world.storage);
    const char *paths[] = {"/v1/exports/movements.csv", "/v1/reports/balance"};
    for (int i = 0; i < 2; i++) {
        it_response *response = as(auditor, paths[i]);
        EXPECT_STATUS(response, 200);
        it_response_free(response);
        const char *refused[] = {monitor, organization, storage};
        for (int k = 0; k < 3; k++) {
            response = as(refused[k], paths[i]);
            EXPECT_PROBLEM(response, 403, NULL);
            it_response_free(response);
        }
        response = as(NULL, paths[i]);
        EXPECT_PROBLEM(response, 401, NULL);
        it_response_free(response);
    }
    free(auditor);
    free(monitor);
    free(organization);
    free(storage);
}

/* The figures of /v1/stats and of the balance with no period agree. */
static void assert_reconciles(void)
{
    it_response *stats = it_get("/v1/stats");
    EXPECT_STATUS(stats, 200);
    it_response *balance = it_get("/v1/reports/balance");
    EXPECT_STATUS(balance, 200);
    const cJSON *type;
    int types = 0;
    cJSON_ArrayForEach(type, stats->json)
    {
        const cJSON *b = tu_member(balance->json, type->string);
        assert_int_equal(it_json_int(b, "generated"), it_json_int(type, "generated"));
        assert_int_equal(it_json_int(b, "unloaded"), it_json_int(type, "unloaded"));
        assert_int_equal(it_json_int(b, "pending"), it_json_int(type, "pending"));
        assert_int_equal(it_json_int(b, "accepted") - it_json_int(b, "unloaded"),
                         it_json_int(type, "stored"));
        types++;
    }
    assert_int_equal(types, cJSON_GetArraySize(balance->json));
    it_response_free(stats);
    it_response_free(balance);
}

static void test_balance(void **state)
{
    (void)state;
    /* The organization hands over 50 more kg than the storage takes of plastic. */
    HAND_OVER(world.org, "{\"plastic\":80}");
    it_response *response =
        it_post(tu_fmt("/v1/storages/%lld/unload", world.storage), "{\"glass\":5}");
    EXPECT_STATUS(response, 200);
    it_response_free(response);

    response = it_get("/v1/reports/balance");
    EXPECT_STATUS(response, 200);
    ASSERT_JSON_AT(response->json, "glass",
                   "{\"generated\":30,\"accepted\":30,\"rejected\":0,\"unloaded\":5,"
                   "\"variance\":0,\"pending\":0,\"in_transit\":0}");
    ASSERT_JSON_AT(response->json, "plastic",
                   "{\"generated\":80,\"accepted\":50,\"rejected\":0,\"unloaded\":0,"
                   "\"variance\":0,\"pending\":30,\"in_transit\":0}");
    it_response_free(response);
    assert_reconciles();

    /* Ending before anything happened: nothing, and nothing pending then. */
    ASSERT_GET_AT("/v1/reports/balance?to=2000-01-01T00:00:00Z", "plastic",
                  "{\"generated\":0,\"accepted\":0,\"rejected\":0,\"unloaded\":0,"
                  "\"variance\":0,\"pending\":0,\"in_transit\":0}");
    /* Ending in the future: replayed from the ledger, the same as live. */
    ASSERT_GET_AT("/v1/reports/balance?to=2999-01-01T00:00:00Z", "plastic",
                  "{\"generated\":80,\"accepted\":50,\"rejected\":0,\"unloaded\":0,"
                  "\"variance\":0,\"pending\":30,\"in_transit\":0}");
    /* Starting in the future: nothing within it, still 30 kg pending at its end. */
    ASSERT_GET_AT("/v1/reports/balance?from=2999-01-01T00:00:00Z", "plastic",
                  "{\"generated\":0,\"accepted\":0,\"rejected\":0,\"unloaded\":0,"
                  "\"variance\":0,\"pending\":30,\"in_transit\":0}");
}

/* 2,500 more movements (written the way the service writes them, stock included): the export
 * spans three pages and has every movement once, in id order. */
static void test_many_pages(void **state)
{
    (void)state;
    it_sql_exec("WITH t AS (INSERT INTO transfers (organization_id, trigger, received, pending, "
                "actor) SELECT %lld, 'request', '{\"glass\":1}', '{}', 'bulk' FROM "
                "generate_series(1, 2500) RETURNING id) INSERT INTO shipments (transfer_id, "
                "position, storage_id, waste_type, amount, distance_m) SELECT id, 0, %lld, "
                "'glass', 1, 42 FROM t",
                world.org, world.storage);
    it_sql_exec("UPDATE storage_waste SET stock = stock + 2500 WHERE storage_id = %lld AND "
                "waste_type = 'glass'",
                world.storage);
    it_response *response = it_get("/v1/exports/movements.csv");
    EXPECT_STATUS(response, 200);
    long long expected_rows = it_sql_int("SELECT count(*) FROM shipments");
    long long rows = 0, last_id = 0;
    const char *line = strstr(response->body, "\r\n") + 2;
    while (*line != '\0') {
        long long id = strtoll(line, NULL, 10);
        assert_true(id > last_id);
        last_id = id;
        rows++;
        /* Skip to the record's end (a quoted field may hold CRLF). */
        const char *end = line;
        bool quoted = false;
        for (; *end != '\0' && !(!quoted && end[0] == '\r' && end[1] == '\n'); end++) {
            quoted ^= *end == '"';
        }
        assert_true(*end == '\r');
        line = end + 2;
    }
    assert_int_equal(rows, expected_rows);
    assert_int_equal(last_id, it_sql_int("SELECT max(id) FROM shipments"));
    it_response_free(response);
    assert_reconciles();
}

/* ------------------------------------------------------------------ memory */

/* The server's peak resident memory (VmHWM), in KiB. */
static long peak_kib(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    FILE *status = fopen(path, "r");
    assert_non_null(status);
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, status) != NULL) {
        if (strncmp(line, "VmHWM:", 6) == 0) {
            kib = atol(line + 6);
        }
    }
    fclose(status);
    assert_true(kib > 0);
    return kib;
}

static int memory_setup(void **state)
{
    (void)state;
    /* ASan's quarantine keeps freed memory resident: the test measures the server's own. */
    static const char *const env[] = {
        "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:quarantine_size_mb=0", NULL};
    it_start(env);
    return 0;
}

enum { MANY_ROWS = 60000 };

/* The export is streamed: 60,000 movements (about 7 MB of CSV) leave the server's peak
 * memory where a few pages of rows put it, not where the whole file would. */
static void test_memory_stays_flat(void **state)
{
    (void)state;
    if (tu_under_valgrind()) {
        skip(); /* memcheck's own memory is what it would measure */
    }
    build_world();
    it_sql_exec("WITH t AS (INSERT INTO transfers (organization_id, trigger, received, pending, "
                "actor) SELECT %lld, 'request', '{\"glass\":1}', '{}', 'bulk' FROM "
                "generate_series(1, %d) RETURNING id) INSERT INTO shipments (transfer_id, "
                "position, storage_id, waste_type, amount, distance_m) SELECT id, 0, %lld, "
                "'glass', 1, 42 FROM t",
                world.org, MANY_ROWS, world.storage);
    it_sql_exec("UPDATE storage_waste SET capacity = capacity + %d, stock = stock + %d WHERE "
                "storage_id = %lld AND waste_type = 'glass'",
                MANY_ROWS, MANY_ROWS, world.storage);
    pid_t pid = it_server_pid();
    /* Warm: a small export first, so the measured one starts from a used server. */
    it_response *response = it_get("/v1/exports/movements.csv?to=2000-01-01T00:00:00Z");
    EXPECT_STATUS(response, 200);
    it_response_free(response);
    long before = peak_kib(pid);
    response = it_get("/v1/exports/movements.csv");
    EXPECT_STATUS(response, 200);
    size_t bytes = response->body != NULL ? strlen(response->body) : 0;
    long after = peak_kib(pid);
    printf("exports: %zu bytes of CSV; server peak memory %ld KiB -> %ld KiB\n", bytes, before,
           after);
    assert_true(bytes > 6u * 1024 * 1024);
    assert_true(after - before < 3 * 1024); /* the whole file would be > 6 MiB */
    it_response_free(response);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_csv),
        cmocka_unit_test(test_bad_periods),
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_balance),
        cmocka_unit_test(test_many_pages),
        /* Runs last: whatever the tests above did, sql/audit.sql finds no violated invariant. */
        TU_AUDIT_TEST,
    };
    const struct CMUnitTest memory_tests[] = {cmocka_unit_test(test_memory_stays_flat)};
    int failed = cmocka_run_group_tests(tests, tu_setup, tu_teardown);
    failed +=
        cmocka_run_group_tests_name("exports.memory", memory_tests, memory_setup, tu_teardown);
    return failed;
}
