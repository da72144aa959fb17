/* Integration tests of GET /v1/exports/movements.csv and GET /v1/reports/balance against a real
 * server and database: the exact CSV of a small picture (RFC 4180 quoting of a name with a
 * comma and quotes), a period that selects nothing, an export of several pages
 * (keyset paging, every row once and in order), who may read them, bad periods refused, and
 * the balance: exact figures, a period before anything happened, and with no period the same
 * figures as /v1/stats. The export is one snapshot (a movement committed while it streams is
 * not in it), a narrow period of a bigger ledger has exactly its rows, at most
 * WASTEFLOW_EXPORTS_MAX (2) stream at once (the next gets 503 until one ends), a database
 * failure mid-way cuts the file short, and a client that stops reading is cut off and its
 * connection goes back to the pool. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <unistd.h>

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

/* ------------------------------------------------------------------ streaming from one cursor */

/* count movements of the world's organization into its storage, by actor, written in one
 * transaction (so with one created_at) the way the service writes them, stock included. */
static void bulk_movements(int count, const char *actor)
{
    it_sql_exec("WITH t AS (INSERT INTO transfers (organization_id, trigger, received, pending, "
                "actor) SELECT %lld, 'request', '{\"glass\":1}', '{}', '%s' FROM "
                "generate_series(1, %d) RETURNING id) INSERT INTO shipments (transfer_id, "
                "position, storage_id, waste_type, amount, distance_m) SELECT id, 0, %lld, "
                "'glass', 1, 42 FROM t",
                world.org, actor, count, world.storage);
    it_sql_exec("UPDATE storage_waste SET capacity = capacity + %d, stock = stock + %d WHERE "
                "storage_id = %lld AND waste_type = 'glass'",
                count, count, world.storage);
}

/* One text value from the database (caller frees). */
static char *sql_text(const char *sql)
{
    PGconn *pg = PQconnectdb(it_database_url());
    assert_int_equal(PQstatus(pg), CONNECTION_OK);
    PGresult *r = PQexec(pg, sql);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(r), 1);
    char *text = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(pg);
    return text;
}

/* An export read over a raw connection with a small receive buffer, so that what the test
 * does not read stays with the server (which then waits: back-pressure); straight to the
 * server, never through the contract proxy, which would read ahead. */
typedef struct {
    int fd;
    char *data;
    size_t len, cap;
} raw_export;

static raw_export raw_export_start(const char *query)
{
    char *request = tu_format("GET /v1/exports/movements.csv%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              "Connection: close\r\n\r\n",
                              query);
    size_t length = strlen(request);
    char *with_auth = tu_raw_with_auth(request, &length);
    raw_export e = {.fd = tu_connect_direct(8192)};
    struct timeval timeout = {30, 0}; /* a server that never answers fails the test */
    setsockopt(e.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    tu_send_all(e.fd, with_auth, length);
    free(with_auth);
    free(request);
    return e;
}

/* Reads until at least `want` bytes came (want 0: until the server closes); false when the
 * server closed first. */
static bool raw_read(raw_export *e, size_t want)
{
    while (want == 0 || e->len < want) {
        if (e->cap - e->len < 65536) {
            e->cap = e->cap * 2 + 65536;
            e->data = realloc(e->data, e->cap + 1);
            assert_non_null(e->data);
        }
        ssize_t got = recv(e->fd, e->data + e->len, e->cap - e->len, 0);
        if (got <= 0) {
            assert_true(got == 0 || errno == ECONNRESET); /* not the receive timeout */
            e->data[e->len] = '\0';
            return false;
        }
        e->len += (size_t)got;
    }
    e->data[e->len] = '\0';
    return true;
}

/* The status line and the de-chunked body of everything read (caller frees); *complete
 * tells whether the final chunk came. */
static char *raw_body(const raw_export *e, bool *complete)
{
    assert_true(e->len > 12 && strncmp(e->data, "HTTP/1.1 200", 12) == 0);
    const char *p = strstr(e->data, "\r\n\r\n");
    assert_non_null(p);
    p += 4;
    const char *end = e->data + e->len;
    char *body = malloc(e->len + 1);
    assert_non_null(body);
    size_t n = 0;
    *complete = false;
    while (p < end) {
        char *line_end;
        unsigned long size = strtoul(p, &line_end, 16);
        if (line_end + 2 > end || strncmp(line_end, "\r\n", 2) != 0) {
            break; /* a chunk header cut short */
        }
        if (size == 0) {
            *complete = true;
            break;
        }
        const char *chunk = line_end + 2;
        size_t take = (size_t)(end - chunk) < size ? (size_t)(end - chunk) : size;
        memcpy(body + n, chunk, take);
        n += take;
        p = chunk + size + 2;
    }
    body[n] = '\0';
    return body;
}

/* Reads to the end (the server closes), closes the connection and returns the de-chunked
 * body (caller frees), failing the test unless the final chunk came exactly when
 * expect_complete. */
static char *raw_finish(raw_export *e, bool expect_complete)
{
    assert_false(raw_read(e, 0));
    close(e->fd);
    bool complete;
    char *body = raw_body(e, &complete);
    assert_int_equal(complete, expect_complete);
    free(e->data);
    e->data = NULL;
    return body;
}

/* The movement ids of a CSV body, in file order (caller frees), after its header. */
static long long *csv_ids(const char *body, size_t *count)
{
    assert_true(strncmp(body, HEADER, strlen(HEADER)) == 0);
    size_t cap = 1024;
    long long *ids = malloc(cap * sizeof *ids);
    assert_non_null(ids);
    *count = 0;
    for (const char *line = body + strlen(HEADER); *line != '\0';) {
        const char *end = line;
        bool quoted = false;
        for (; *end != '\0' && !(!quoted && end[0] == '\r' && end[1] == '\n'); end++) {
            quoted ^= *end == '"';
        }
        if (*end == '\0') {
            break; /* a record cut short */
        }
        if (*count == cap) {
            cap *= 2;
            ids = realloc(ids, cap * sizeof *ids);
            assert_non_null(ids);
        }
        ids[(*count)++] = strtoll(line, NULL, 10);
        line = end + 2;
    }
    return ids;
}

static const char in_use_sample[] = "wasteflow_db_pool_connections{state=\"in_use\"}";

/* Waits until the pool has in_use connections in use again (the exports that held the rest
 * ended), failing the test when it does not within the patience budget. */
static void expect_in_use(long long in_use)
{
    for (long long waited = 0;
         waited < tu_patience_ms() && tu_metric_present(in_use_sample) != in_use; waited += 50) {
        usleep(50 * 1000);
    }
    assert_int_equal(tu_metric_present(in_use_sample), in_use);
}

/* A movement committed while an export streams (after its first rows went out) is not in
 * the file: every row comes from one snapshot, taken when the export began. */
static void test_one_snapshot(void **state)
{
    (void)state;
    bulk_movements(10000, "bulk");
    long long expected = it_sql_int("SELECT count(*) FROM shipments");
    raw_export e = raw_export_start("");
    /* Its first rows: the snapshot is taken. Of the file's 1.4 MB, the server sends at most
     * what fills the client's and its own socket buffers (8 and 64 KiB, doubled by the
     * kernel), keeps at most 256 KiB and one fetch (115 KB) more, and holds the rest while
     * the test does not read. */
    assert_true(raw_read(&e, 16 * 1024));
    long long committed = HAND_OVER(world.org, "{\"glass\":3}");
    long long movement =
        it_sql_int("SELECT max(id) FROM shipments WHERE transfer_id = %lld", committed);
    assert_true(movement > 0);
    char *body = raw_finish(&e, true);
    size_t count;
    long long *ids = csv_ids(body, &count);
    assert_int_equal(count, expected);
    for (size_t i = 0; i < count; i++) {
        assert_true(i == 0 || ids[i] > ids[i - 1]);
        assert_true(ids[i] != movement);
    }
    /* A new export has it. */
    it_response *response = it_get("/v1/exports/movements.csv");
    EXPECT_STATUS(response, 200);
    free(ids);
    ids = csv_ids(response->body, &count);
    assert_int_equal(count, expected + it_sql_int("SELECT count(*) FROM shipments WHERE "
                                                  "transfer_id = %lld",
                                                  committed));
    assert_int_equal(ids[count - 1], it_sql_int("SELECT max(id) FROM shipments"));
    it_response_free(response);
    free(ids);
    free(body);
}

/* A narrow period of a bigger ledger: exactly the movements of the transfers created in it,
 * in id order, none from before or after. */
static void test_narrow_period(void **state)
{
    (void)state;
    bulk_movements(10000, "before");
    bulk_movements(1234, "narrow");
    bulk_movements(3000, "after");
    static const char format[] = "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'";
    char *from = sql_text(tu_fmt("SELECT to_char(min(created_at) AT TIME ZONE 'UTC', %s) FROM "
                                 "transfers WHERE actor = 'narrow'",
                                 format));
    char *to = sql_text(tu_fmt("SELECT to_char(min(created_at) AT TIME ZONE 'UTC', %s) FROM "
                               "transfers WHERE actor = 'after'",
                               format));
    char *expected = sql_text("SELECT string_agg(s.id::text, ',' ORDER BY s.id) FROM shipments s "
                              "JOIN transfers t ON t.id = s.transfer_id WHERE t.actor = 'narrow'");
    it_response *response = it_get("/v1/exports/movements.csv?from=%s&to=%s", from, to);
    EXPECT_STATUS(response, 200);
    size_t count;
    long long *ids = csv_ids(response->body, &count);
    assert_int_equal(count, 1234);
    char *got = malloc(count * 24 + 1);
    assert_non_null(got);
    size_t used = 0;
    for (size_t i = 0; i < count; i++) {
        used += (size_t)sprintf(got + used, "%s%lld", i ? "," : "", ids[i]);
    }
    assert_string_equal(got, expected);
    /* Every row is the narrow batch's (its actor ends the record). */
    for (const char *line = strstr(response->body, "\r\n") + 2; *line != '\0';) {
        const char *end = strstr(line, "\r\n");
        assert_non_null(end);
        assert_true(end - line > 7 && strncmp(end - 7, ",narrow", 7) == 0);
        line = end + 2;
    }
    it_response_free(response);
    free(got);
    free(ids);
    free(expected);
    free(to);
    free(from);
}

/* At most two exports stream at once (WASTEFLOW_EXPORTS_MAX's default): a third is refused
 * with 503 and Retry-After before anything is streamed; once the two clients go, their
 * transactions end, their connections go back to the pool and exports are served again. */
static void test_concurrency_cap(void **state)
{
    (void)state;
    long long in_use = tu_metric_present(in_use_sample);
    raw_export a = raw_export_start(""), b = raw_export_start("");
    assert_true(raw_read(&a, 16 * 1024));
    assert_true(raw_read(&b, 16 * 1024));
    assert_int_equal(tu_metric_present(in_use_sample), in_use + 2);
    it_response *response = it_get("/v1/exports/movements.csv");
    EXPECT_PROBLEM_TYPE(response, 503, "service-unavailable", NULL);
    assert_string_equal(it_header(response, "Retry-After"), "5");
    it_response_free(response);
    /* Other requests are served meanwhile. */
    EXPECT_GET_STATUS(200, "/v1/reports/balance");
    close(a.fd);
    close(b.fd);
    free(a.data);
    free(b.data);
    /* The server notices the closed connections within a loop turn or two. */
    expect_in_use(in_use);
    response = it_get("/v1/exports/movements.csv?to=2000-01-01T00:00:00Z");
    EXPECT_STATUS(response, 200);
    assert_string_equal(response->body, HEADER);
    it_response_free(response);
}

/* The database ends the export's session while the client holds its file: the rest never
 * comes, and the file ends without the final chunk (never a complete-looking file) after a
 * prefix of the movements in order; the service reconnects and serves exports again. */
static void test_database_fails_mid_export(void **state)
{
    (void)state;
    long long in_use = tu_metric_present(in_use_sample);
    raw_export e = raw_export_start("");
    assert_true(raw_read(&e, 16 * 1024));
    /* Its session, held while the client does not read: idle in its transaction. It may
     * still be fetching what fills the socket buffers, so the test looks for it and ends it
     * in one statement, until that finds it idle (a look first and an end after could find
     * it busy with one more FETCH in between). */
    static const char held[] =
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = "
        "current_database() AND state = 'idle in transaction' AND query LIKE 'FETCH % FROM "
        "wf_export'";
    long long ended = 0;
    for (long long waited = 0; waited < tu_patience_ms() && (ended = it_sql_int("%s", held)) == 0;
         waited += 50) {
        usleep(50 * 1000);
    }
    assert_int_equal(ended, 1);
    char *body = raw_finish(&e, false);
    size_t count;
    long long *ids = csv_ids(body, &count);
    long long total = it_sql_int("SELECT count(*) FROM shipments");
    assert_true(count > 0 && (long long)count < total);
    for (size_t i = 1; i < count; i++) {
        assert_true(ids[i] > ids[i - 1]); /* never a row twice (no second snapshot) */
    }
    assert_int_equal(ids[0], it_sql_int("SELECT min(id) FROM shipments"));
    assert_int_equal(ids[count - 1], it_sql_int("SELECT id FROM shipments ORDER BY id OFFSET "
                                                "%zu LIMIT 1",
                                                count - 1));
    expect_in_use(in_use);
    it_response *response = it_get("/v1/exports/movements.csv");
    EXPECT_STATUS(response, 200);
    free(ids);
    ids = csv_ids(response->body, &count);
    assert_int_equal(count, total);
    it_response_free(response);
    free(ids);
    free(body);
}

/* ------------------------------------------------------------------ memory */

/* The server's peak resident memory (VmHWM), in KiB. */
static long peak_kib(pid_t pid)
{
    return tu_proc_status_kib(pid, "VmHWM");
}

/* ASan's quarantine keeps freed memory resident: the test measures the server's own. */
TU_SETUP_WITH(memory_setup, "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:quarantine_size_mb=0")

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

/* ------------------------------------------------------------------ a client that stops */

/* A client that takes nothing for a second is cut off. */
TU_SETUP_WITH(stalled_setup, "WASTEFLOW_IDLE_TIMEOUT_S=1")

/* Two clients stop reading mid-export: each is cut off after the idle timeout (its file
 * without the final chunk), its transaction is rolled back and its connection goes back to
 * the pool; then two exports are admitted again and a whole file is served. */
static void test_stalled_reader_gives_back_its_connection(void **state)
{
    (void)state;
    build_world();
    bulk_movements(10000, "bulk"); /* 1.2 MB: more than the server sends unread */
    long long in_use = tu_metric_present(in_use_sample);
    raw_export a = raw_export_start(""), b = raw_export_start("");
    assert_true(raw_read(&a, 16 * 1024));
    assert_true(raw_read(&b, 16 * 1024));
    expect_in_use(in_use);
    assert_int_equal(it_sql_int("SELECT count(*) FROM pg_stat_activity WHERE state LIKE "
                                "'idle in transaction%%' AND datname = current_database()"),
                     0);
    raw_export *stalled[] = {&a, &b};
    for (int k = 0; k < 2; k++) {
        free(raw_finish(stalled[k], false)); /* what was sent, then the close */
    }
    raw_export c = raw_export_start(""), d = raw_export_start("");
    assert_true(raw_read(&c, 16 * 1024));
    assert_true(raw_read(&d, 16 * 1024));
    close(c.fd);
    close(d.fd);
    free(c.data);
    free(d.data);
    expect_in_use(in_use);
    it_response *response = it_get("/v1/exports/movements.csv");
    EXPECT_STATUS(response, 200);
    size_t count;
    long long *ids = csv_ids(response->body, &count);
    assert_int_equal(count, it_sql_int("SELECT count(*) FROM shipments"));
    free(ids);
    it_response_free(response);
}

TU_SETUP_WITH(shutdown_setup, "WASTEFLOW_DRAIN_TIMEOUT_MS=1500")

/* SIGTERM while an export streams to a client that stopped reading: the download runs on
 * while the server drains; at the drain deadline it is cut short (no final chunk), its
 * transaction ends, and the server exits cleanly (0: under ASan, nothing leaked) soon after. */
static void test_shutdown_cuts_an_export_short(void **state)
{
    (void)state;
    build_world();
    bulk_movements(10000, "bulk");
    raw_export e = raw_export_start("");
    assert_true(raw_read(&e, 16 * 1024));
    long long sigterm_at = tu_now_ms();
    int code = it_stop_server_only();
    long long exited_after = tu_now_ms() - sigterm_at;
    assert_int_equal(code, 0);
    assert_true(exited_after >= 1500);
    assert_true(exited_after <
                1500 + 1000 + tu_scaled_ms(3000) + (tu_under_valgrind() ? 30000 : 0));
    free(raw_finish(&e, false));
    assert_int_equal(it_sql_int("SELECT count(*) FROM pg_stat_activity WHERE state LIKE "
                                "'idle in transaction%%' AND datname = current_database()"),
                     0);
    it_restart_server(NULL); /* for the group's teardown */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_csv),
        cmocka_unit_test(test_bad_periods),
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_balance),
        cmocka_unit_test(test_many_pages),
        cmocka_unit_test(test_one_snapshot),
        cmocka_unit_test(test_narrow_period),
        cmocka_unit_test(test_concurrency_cap),
        cmocka_unit_test(test_database_fails_mid_export),
        /* Runs last: whatever the tests above did, sql/audit.sql finds no violated invariant.
         */
        TU_AUDIT_TEST,
    };
    const struct CMUnitTest memory_tests[] = {cmocka_unit_test(test_memory_stays_flat)};
    const struct CMUnitTest stalled_tests[] = {
        cmocka_unit_test(test_stalled_reader_gives_back_its_connection)};
    int failed = cmocka_run_group_tests(tests, tu_setup, tu_teardown);
    failed +=
        cmocka_run_group_tests_name("exports.memory", memory_tests, memory_setup, tu_teardown);
    failed +=
        cmocka_run_group_tests_name("exports.stalled", stalled_tests, stalled_setup, tu_teardown);
    const struct CMUnitTest shutdown_tests[] = {
        cmocka_unit_test(test_shutdown_cuts_an_export_short)};
    failed += cmocka_run_group_tests_name("exports.shutdown", shutdown_tests, shutdown_setup,
                                          tu_teardown);
    return failed;
}
