/* What a transfer locks, waits for and writes (docs/design.md, "Transfers", "Concurrency
 * guarantees", "Limits"), each proved against a second database session:
 *   - a transfer locks only the storage rows it ships to (the metric counts them), so a
 *     row some other session holds further away does not hold it up;
 *   - when its room hints are wrong (a storage filled behind its back), it reads further
 *     and still follows the allocation rule;
 *   - a dry run takes no lock: it answers while another session holds the organization and
 *     its storages;
 *   - an Idempotency-Key whose first request is held mid-transaction: the retry gets 409,
 *     the first commits once, later retries replay; and when a record for the key appears
 *     behind the transaction's back, the work is rolled back rather than done twice;
 *   - pending that would overflow is refused (422), changing nothing;
 *   - /v1/stats reads running totals that sql/audit.sql proves equal to the ledger;
 *   - racing transfers over a few storages (the extension path) keep every invariant. */
#include "harness.h"
#include "runner.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A second session of our own, to hold locks the server must (or must not) wait for. */
static PGconn *other_session(void)
{
    PGconn *pg = PQconnectdb(it_database_url());
    if (PQstatus(pg) != CONNECTION_OK) {
        fail_msg("cannot open a second session: %s", PQerrorMessage(pg));
    }
    return pg;
}

static double metric(const char *name)
{
    it_response *response = it_get("/metrics");
    EXPECT_STATUS(response, 200);
    const char *line = strstr(response->body, tu_fmt("\n%s ", name));
    assert_non_null(line);
    double value = strtod(line + strlen(name) + 2, NULL);
    it_response_free(response);
    return value;
}

static long long new_org(void)
{
    long long id = tu_new_org("lock-org", "{}", NULL);
    return id;
}

static long long new_storage(const char *capacity)
{
    long long id = tu_new_storage("lock-storage", capacity);
    return id;
}

/* A second session inside a transaction that has run sql: what it locks stays locked until
 * release. */
static PGconn *holding(const char *sql)
{
    PGconn *pg = other_session();
    tu_pg_exec(pg, "BEGIN");
    tu_pg_exec(pg, sql);
    return pg;
}

static void release(PGconn *pg)
{
    tu_pg_exec(pg, "ROLLBACK");
    PQfinish(pg);
}

static it_response *hand_over(long long org, const char *waste, const char *query)
{
    return it_post(tu_fmt("/v1/organizations/%lld/transfers%s", org, query), "{\"waste\":%s}",
                   waste);
}

/* Hands waste over (JSON) from org and expects a 201 with exactly these shipments and what
 * stays pending (SHIPMENTS(...), a JSON object). */
#define EXPECT_SHIPPED(org, waste, shipments, pending)                                             \
    do {                                                                                           \
        it_response *shipped_ = hand_over((org), (waste), "");                                     \
        EXPECT_STATUS(shipped_, 201);                                                              \
        ASSERT_TRANSFER(shipped_->json, (org), "request", (waste), shipments, (pending));          \
        it_response_free(shipped_);                                                                \
    } while (0)

/* A dry run: this instance caches the graph and learns the rooms, nothing changes. */
static void dry_run(long long org, const char *waste)
{
    it_response *response = hand_over(org, waste, "?dry_run=true");
    EXPECT_STATUS(response, 200);
    it_response_free(response);
}

/* An organization with a line of storages at distances 1..count, glass 10 kg of room each. */
static long long line_world(long long *storages, int count)
{
    long long org = new_org();
    for (int i = 0; i < count; i++) {
        storages[i] = new_storage("{\"glass\":10}");
        it_create_route(ORG(org), STORAGE(storages[i]), i + 1, false);
    }
    return org;
}

static void test_locks_only_the_rows_it_ships_to(void **state)
{
    (void)state;
    long long storages[50];
    long long org = line_world(storages, 50);
    /* Another session holds a far storage's row (and keeps it). */
    PGconn *other = holding(
        tu_fmt("SELECT 1 FROM storage_waste WHERE storage_id = %lld FOR UPDATE", storages[40]));
    double locked_before = metric("wasteflow_transfer_rows_locked_total");
    double started = tu_now_seconds();
    it_response *response = hand_over(org, "{\"glass\":25}", "");
    double took = tu_now_seconds() - started;
    EXPECT_STATUS(response, 201);
    ASSERT_TRANSFER(response->json, org, "request", "{\"glass\":25}",
                    SHIPMENTS({storages[0], "glass", 10, 1}, {storages[1], "glass", 10, 2},
                              {storages[2], "glass", 5, 3}),
                    "{}");
    it_response_free(response);
    double locked = metric("wasteflow_transfer_rows_locked_total") - locked_before;
    printf("locking: 3 shipments, %.0f storage rows locked, %.0f ms with a far row held\n", locked,
           took * 1000);
    assert_true(locked >= 3 && locked <= 3 + 2); /* DESIGN: shipments + 2 at most */
    assert_true(took < (tu_under_valgrind() ? 20.0 : 1.0));
    release(other);
}

static void test_wrong_hints_read_further(void **state)
{
    (void)state;
    long long storages[6];
    long long org = line_world(storages, 6);
    /* Teach this instance the rooms (a dry run reads them), then fill the two nearest behind
     * its back. */
    dry_run(org, "{\"glass\":15}");
    it_sql_exec("UPDATE storage_waste SET capacity = stock WHERE storage_id IN (%lld, %lld)",
                storages[0], storages[1]);
    EXPECT_SHIPPED(org, "{\"glass\":15}",
                   SHIPMENTS({storages[2], "glass", 10, 3}, {storages[3], "glass", 5, 4}), "{}");
    /* And room appearing behind its back is found too (it reads what hints call full). */
    it_sql_exec("UPDATE storage_waste SET capacity = 10 WHERE storage_id = %lld", storages[0]);
    EXPECT_SHIPPED(org, "{\"glass\":12}",
                   SHIPMENTS({storages[0], "glass", 10, 1}, {storages[3], "glass", 2, 4}), "{}");
}

/* The rooms a transfer's plan asks for first are read in its first round (the read-ahead,
 * planned on this instance's graph before the round): a transfer into storages whose rooms
 * the instance knows needs no room read of its own. When the guess is off — waste left
 * pending before, a road added since this instance last looked — the plan reads further,
 * and the result is still the rule's. */
static void test_rooms_are_read_in_the_first_round(void **state)
{
    (void)state;
    long long storages[4];
    long long org = line_world(storages, 3);
    dry_run(org, "{\"glass\":1}"); /* the graph is cached, the hints know the rooms */
    double reads_before = metric("wasteflow_transfer_room_reads_total");
    double locked_before = metric("wasteflow_transfer_rows_locked_total");
    EXPECT_SHIPPED(org, "{\"glass\":15}",
                   SHIPMENTS({storages[0], "glass", 10, 1}, {storages[1], "glass", 5, 2}), "{}");
    assert_int_equal((long long)(metric("wasteflow_transfer_room_reads_total") - reads_before), 0);
    assert_int_equal((long long)(metric("wasteflow_transfer_rows_locked_total") - locked_before),
                     2);

    /* 20 kg more: 15 fit (5 + 10), 5 stay pending. */
    EXPECT_SHIPPED(org, "{\"glass\":20}",
                   SHIPMENTS({storages[1], "glass", 5, 2}, {storages[2], "glass", 10, 3}),
                   "{\"glass\":5}");

    /* A new storage on a new road, nearest of all (this instance's graph is behind), and
     * pending waste the read-ahead does not know of: what is handed over goes there, and the
     * pending 5 kg with it (unless the dispatcher, woken by the new room, took them first). */
    storages[3] = new_storage("{\"glass\":100}");
    it_create_route(ORG(org), STORAGE(storages[3]), 1, false);
    it_response *response = hand_over(org, "{\"glass\":4}", "");
    EXPECT_STATUS(response, 201);
    long long transfer = it_json_int(response->json, "id");
    it_response_free(response);
    assert_int_equal(it_sql_int("SELECT count(*) FROM shipments WHERE transfer_id = %lld AND "
                                "storage_id <> %lld",
                                transfer, storages[3]),
                     0);
    assert_int_equal(
        it_sql_int("SELECT stock FROM storage_waste WHERE storage_id = %lld", storages[3]), 9);
    assert_int_equal(it_sql_int("SELECT coalesce(sum(pending), 0) FROM organization_waste "
                                "WHERE organization_id = %lld",
                                org),
                     0);
}

static void test_dry_run_takes_no_lock(void **state)
{
    (void)state;
    long long storages[3];
    long long org = line_world(storages, 3);
    PGconn *other = holding(
        tu_fmt("SET LOCAL lock_timeout = '30s'; "
               "SELECT 1 FROM organizations WHERE id = %lld FOR UPDATE; "
               "SELECT 1 FROM storage_waste WHERE storage_id IN (%lld, %lld, %lld) FOR UPDATE",
               org, storages[0], storages[1], storages[2]));
    double started = tu_now_seconds();
    it_response *response = hand_over(org, "{\"glass\":14}", "?dry_run=true");
    double took = tu_now_seconds() - started;
    EXPECT_STATUS(response, 200);
    ASSERT_JSON(
        tu_member(response->json, "shipments"), "%s",
        tu_shipments_json(
            (struct tu_ship[]){{storages[0], "glass", 10, 1}, {storages[1], "glass", 4, 2}}, 2));
    assert_true(cJSON_IsTrue(tu_member(response->json, "dry_run")));
    it_response_free(response);
    printf("locking: dry run answered in %.0f ms while another session held every row\n",
           took * 1000);
    assert_true(took < (tu_under_valgrind() ? 20.0 : 1.0));
    release(other);
}

/* ---- Idempotency-Key against a held transaction ---- */

typedef struct {
    const char *url;
    const char *key_header;
    const char *body;
    tu_http_result result;
} held_request;

static void *send_held(void *arg)
{
    held_request *request = arg;
    CURL *curl = curl_easy_init();
    const char *headers[] = {request->key_header, NULL};
    tu_http_call(curl, "POST", request->url, request->body, headers, NULL, 60, true,
                 &request->result);
    curl_easy_cleanup(curl);
    return NULL;
}

/* Waits until a server session waits for a lock (the request is parked mid-transaction). */
static void wait_for_lock_waiter(void)
{
    for (int i = 0; i < 200; i++) {
        if (it_sql_int("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                       "AND wait_event_type = 'Lock' AND application_name <> 'wasteflow control'") >
            0) {
            return;
        }
        tu_sleep_ms(25);
    }
    fail_msg("the request never waited for the held lock");
}

/* The admin key's actor ("key:<id>"), which idempotency records are kept under. */
static const char *admin_actor(void)
{
    long long id = 0;
    assert_int_equal(sscanf(it_admin_key(), "wf_%lld_", &id), 1);
    return tu_fmt("key:%lld", id);
}

static void test_idempotent_retry_while_the_first_is_held(void **state)
{
    (void)state;
    long long storages[1];
    long long org = line_world(storages, 1);
    const char *url = tu_fmt("%s/v1/organizations/%lld/transfers", it_base_url(), org);
    const char *body = "{\"waste\":{\"glass\":3}}";
    PGconn *other = other_session();

    /* 1. The first request takes the key, then waits for the organization row. */
    tu_pg_exec(other, "BEGIN");
    tu_pg_exec(other, tu_fmt("SELECT 1 FROM organizations WHERE id = %lld FOR UPDATE", org));
    held_request first = {strdup(url), "Idempotency-Key: held-1", body, {0}};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, send_held, &first), 0);
    wait_for_lock_waiter();
    const char *headers[] = {"Idempotency-Key: held-1", NULL};
    it_response *retry =
        it_request("POST", tu_fmt("/v1/organizations/%lld/transfers", org), body, headers);
    EXPECT_STATUS(retry, 409); /* still in flight */
    it_response_free(retry);
    tu_pg_exec(other, "ROLLBACK");
    pthread_join(thread, NULL);
    assert_int_equal(first.result.status, 201);
    retry = it_request("POST", tu_fmt("/v1/organizations/%lld/transfers", org), body, headers);
    EXPECT_STATUS(retry, 201);
    assert_string_equal(retry->body, first.result.body);
    assert_non_null(it_header(retry, "Idempotent-Replayed"));
    it_response_free(retry);
    assert_int_equal(it_sql_int("SELECT count(*) FROM transfers WHERE organization_id = %lld", org),
                     1);
    tu_http_result_clear(&first.result);
    free((char *)first.url);

    /* 2. While the first is held, a record for its key appears (another writer's): the held
     * transaction must not commit its work next to it. It starts over, and the key's record
     * (for another body) answers. */
    char *before = it_db_fingerprint();
    tu_pg_exec(other, "BEGIN");
    tu_pg_exec(other, tu_fmt("SELECT 1 FROM organizations WHERE id = %lld FOR UPDATE", org));
    held_request second = {strdup(url), "Idempotency-Key: held-2", body, {0}};
    assert_int_equal(pthread_create(&thread, NULL, send_held, &second), 0);
    wait_for_lock_waiter();
    it_sql_exec("INSERT INTO idempotency_keys (principal, key, fingerprint, status, body, "
                "location) VALUES ('%s', 'held-2', 'another request', 201, '{}', NULL)",
                admin_actor());
    tu_pg_exec(other, "ROLLBACK");
    pthread_join(thread, NULL);
    assert_int_equal(second.result.status, 422); /* the key was used for another request */
    ASSERT_UNCHANGED(before);                    /* no transfer, no stock, no pending */
    tu_http_result_clear(&second.result);
    free((char *)second.url);
    PQfinish(other);
}

static void test_pending_overflow_is_refused(void **state)
{
    (void)state;
    long long org = new_org();
    it_sql_exec("INSERT INTO organization_waste (organization_id, waste_type, pending) VALUES "
                "(%lld, 'plastic', 9223372036000000000)",
                org);
    char *before = it_db_fingerprint();
    it_response *response = hand_over(org, "{\"plastic\":1000000000000}", "");
    EXPECT_STATUS(response, 422);
    assert_non_null(strstr(response->body, "waste.plastic"));
    it_response_free(response);
    response = hand_over(org, "{\"plastic\":1000000000000}", "?dry_run=true");
    EXPECT_STATUS(response, 422);
    it_response_free(response);
    ASSERT_UNCHANGED(before);
    it_sql_exec("DELETE FROM organization_waste WHERE organization_id = %lld", org);
}

static void test_stats_read_the_totals(void **state)
{
    (void)state;
    long long storages[2];
    long long org = line_world(storages, 2);
    HAND_OVER(org, "{\"glass\":7,\"bio\":4}");
    it_response *response =
        it_post(tu_fmt("/v1/storages/%lld/unload", storages[0]), "{\"glass\":2}");
    EXPECT_STATUS(response, 200);
    it_response_free(response);
    it_response *stats = it_get("/v1/stats");
    EXPECT_STATUS(stats, 200);
    long long generated = it_json_int(stats->json, "glass.generated");
    long long unloaded = it_json_int(stats->json, "glass.unloaded");
    it_response_free(stats);
    assert_int_equal(generated, it_sql_int("SELECT coalesce(sum((received->>'glass')::bigint), 0) "
                                           "FROM transfers"));
    assert_int_equal(unloaded, it_sql_int("SELECT coalesce(sum(amount), 0) FROM unloads WHERE "
                                          "waste_type = 'glass'"));
    char *audit = it_run_audit();
    assert_string_equal(audit, "");
    free(audit);
    /* Stats come from the totals, not from the ledger: a wrong total shows, and the audit
     * names it. */
    it_sql_exec("UPDATE waste_totals SET generated = generated + 1000 WHERE waste_type = 'glass' "
                "AND shard = (SELECT min(shard) FROM waste_totals WHERE waste_type = 'glass')");
    stats = it_get("/v1/stats");
    assert_int_equal(it_json_int(stats->json, "glass.generated"), generated + 1000);
    it_response_free(stats);
    audit = it_run_audit();
    assert_non_null(strstr(audit, "VIOLATION totals_mismatch type=glass"));
    free(audit);
    it_sql_exec("UPDATE waste_totals SET generated = generated - 1000 WHERE waste_type = 'glass' "
                "AND shard = (SELECT min(shard) FROM waste_totals WHERE waste_type = 'glass')");
    audit = it_run_audit();
    assert_string_equal(audit, "");
    free(audit);
}

/* ---- racing transfers over few storages ---- */

typedef struct {
    const char *base;
    long long org;
    int created, other;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    CURL *curl = curl_easy_init();
    tu_http_result result = {0};
    char url[256]; /* not tu_fmt: its buffers belong to the test thread */
    snprintf(url, sizeof url, "%s/v1/organizations/%lld/transfers", r->base, r->org);
    for (int i = 0; i < 25; i++) {
        tu_http_call(curl, "POST", url, "{\"waste\":{\"glass\":7}}", NULL, NULL, 60, false,
                     &result);
        if (result.status == 201) {
            r->created++;
        } else {
            r->other++;
            printf("racer: %ld %s\n", result.status, result.body);
        }
    }
    tu_http_result_clear(&result);
    curl_easy_cleanup(curl);
    return NULL;
}

static void test_racing_transfers_keep_every_invariant(void **state)
{
    (void)state;
    /* Eight organizations share twelve storages; each storage takes 30 kg; 8 x 25 x 7 kg =
     * 1,400 kg against 360 kg of room: the nearest fill at once, and every transfer meets
     * storages others just filled (the plan reads further) until nothing is left. */
    enum { ORGS = 8, STORAGES = 12 };
    long long storages[STORAGES];
    racer racers[ORGS];
    for (int s = 0; s < STORAGES; s++) {
        storages[s] = new_storage("{\"glass\":30}");
    }
    for (int o = 0; o < ORGS; o++) {
        racers[o] = (racer){it_base_url(), new_org(), 0, 0};
        for (int s = 0; s < STORAGES; s++) {
            it_create_route(ORG(racers[o].org), STORAGE(storages[s]), 1 + (s * 7 + o * 3) % 11,
                            false);
        }
    }
    double retries_before = metric("wasteflow_db_retries_total");
    pthread_t threads[ORGS];
    for (int o = 0; o < ORGS; o++) {
        assert_int_equal(pthread_create(&threads[o], NULL, race, &racers[o]), 0);
    }
    for (int o = 0; o < ORGS; o++) {
        pthread_join(threads[o], NULL);
        assert_int_equal(racers[o].other, 0);
        assert_int_equal(racers[o].created, 25);
    }
    printf("locking: %d racing transfers, %.0f retried (lock order or NOWAIT)\n", ORGS * 25,
           metric("wasteflow_db_retries_total") - retries_before);
    /* Every storage is full, the rest is pending, and the books balance. */
    for (int s = 0; s < STORAGES; s++) {
        assert_int_equal(
            it_sql_int("SELECT stock FROM storage_waste WHERE storage_id = %lld", storages[s]), 30);
    }
    long long pending = 0;
    for (int o = 0; o < ORGS; o++) {
        pending += it_sql_int("SELECT coalesce(sum(pending), 0) FROM organization_waste WHERE "
                              "organization_id = %lld",
                              racers[o].org);
    }
    assert_int_equal(pending, ORGS * 25 * 7 - STORAGES * 30);
    /* Each transfer shipped nearest first: distances never go down within one. */
    assert_int_equal(
        it_sql_int("SELECT count(*) FROM shipments a JOIN shipments b ON "
                   "b.transfer_id = a.transfer_id AND b.position = a.position + 1 "
                   "WHERE b.waste_type = a.waste_type AND b.distance_m < a.distance_m"),
        0);
    char *audit = it_run_audit();
    assert_string_equal(audit, "");
    free(audit);
}

RUNNER_MAIN(tu_setup, tu_teardown,
            {
                cmocka_unit_test(test_locks_only_the_rows_it_ships_to),
                cmocka_unit_test(test_wrong_hints_read_further),
                cmocka_unit_test(test_rooms_are_read_in_the_first_round),
                cmocka_unit_test(test_dry_run_takes_no_lock),
                cmocka_unit_test(test_idempotent_retry_while_the_first_is_held),
                cmocka_unit_test(test_pending_overflow_is_refused),
                cmocka_unit_test(test_stats_read_the_totals),
                cmocka_unit_test(test_racing_transfers_keep_every_invariant),
            })
