/* Integration tests of movements against a real server and database: a storage's intake, the
 * reservation a load to a weighed storage holds, the movement routes (list, get, carrier,
 * receipt) for every role, the whole life of a load with exact kilograms (reserved -> accepted,
 * partially rejected, rejected -> stock, reserved, pending and the refused kilograms placed
 * again within a second), the variance warning, the stats and the audit. Every refused request
 * must leave the database exactly as it was. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "runner.h"
#include "testutil.h"

/* ---------------------------------------------------------------- helpers */

static long long new_storage(const char *intake, const char *capacity_json)
{
    char *name = it_unique_name("mv-store");
    it_response *r = it_post("/v1/storages", "{\"name\":\"%s\",\"intake\":\"%s\",\"capacity\":%s}",
                             name, intake, capacity_json);
    EXPECT_STATUS(r, 201);
    ASSERT_JSON_AT(r->json, "intake", "\"%s\"", intake);
    long long id = it_json_int(r->json, "id");
    it_response_free(r);
    free(name);
    return id;
}

static long long new_org(void)
{
    return tu_new_org("mv-org", NULL, NULL);
}

static void road(long long org, long long storage, long long distance_m)
{
    it_create_route(ORG(org), STORAGE(storage), distance_m, false);
}

/* Hands over glass and answers the transfer (201 expected). */
static it_response *hand_over(long long org, long long glass)
{
    char *path = tu_format("/v1/organizations/%lld/transfers", org);
    it_response *r = it_post(path, "{\"waste\":{\"glass\":%lld}}", glass);
    EXPECT_STATUS(r, 201);
    free(path);
    return r;
}

/* The movement id of shipment i of a transfer. */
static long long movement_of(const it_response *transfer, int i)
{
    const cJSON *shipments = tu_member(transfer->json, "shipments");
    const cJSON *shipment = cJSON_GetArrayItem(shipments, i);
    assert_non_null(shipment);
    return it_json_int(shipment, "movement_id");
}

static void assert_storage(long long storage, const char *stock, const char *reserved,
                           const char *remaining)
{
    it_response *r = it_get("/v1/storages/%lld", storage);
    EXPECT_STATUS(r, 200);
    ASSERT_MEMBERS(r->json, "{\"stock\":%s,\"reserved\":%s,\"remaining\":%s}", stock, reserved,
                   remaining);
    it_response_free(r);
}

static it_response *movement(long long id)
{
    it_response *r = it_get("/v1/movements/%lld", id);
    EXPECT_STATUS(r, 200);
    return r;
}

static char *receipt_path(long long id)
{
    return tu_format("/v1/movements/%lld/receipt", id);
}

static it_response *receive(long long id, const char *body)
{
    char *path = receipt_path(id);
    it_response *r = it_post(path, "%s", body);
    free(path);
    return r;
}

/* The glass stats: in_transit and variance. */
static void glass_stats(long long *in_transit, long long *variance)
{
    it_response *r = it_get("/v1/stats");
    EXPECT_STATUS(r, 200);
    *in_transit = it_json_int(r->json, "glass.in_transit");
    *variance = it_json_int(r->json, "glass.variance");
    it_response_free(r);
}

/* Waits until the organization has nothing pending (tu_patience_ms: fails only when the
 * dispatcher never places it); returns how long that took. */
static long long wait_until_placed(long long org)
{
    long long start = tu_now_ms();
    for (;;) {
        it_response *r = it_get("/v1/organizations/%lld", org);
        EXPECT_STATUS(r, 200);
        bool empty = cJSON_GetArraySize(tu_member(r->json, "pending")) == 0;
        it_response_free(r);
        long long waited = tu_now_ms() - start;
        if (empty) {
            return waited;
        }
        if (waited > tu_patience_ms()) {
            fail_msg("organization %lld still has waste pending after %lld ms", org, waited);
        }
        tu_sleep_ms(20);
    }
}

/* ---------------------------------------------------------------- intake */

static void test_intake_on_storages(void **state)
{
    (void)state;
    char *name = it_unique_name("mv-default");
    it_response *r = it_post("/v1/storages", "{\"name\":\"%s\",\"capacity\":{\"glass\":10}}", name);
    EXPECT_STATUS(r, 201);
    ASSERT_MEMBERS(r->json, "{\"intake\":\"automatic\",\"reserved\":{\"glass\":0},"
                            "\"remaining\":{\"glass\":10}}");
    long long id = it_json_int(r->json, "id");
    it_response_free(r);

    EXPECT_REJECTED_TYPE("POST", "/v1/storages",
                         "{\"name\":\"mv-bad-intake\",\"capacity\":{\"glass\":1},\"intake\":"
                         "\"manual\"}",
                         422, "validation-error", "intake");
    EXPECT_REJECTED_TYPE("POST", "/v1/storages",
                         "{\"name\":\"mv-bad-intake\",\"capacity\":{\"glass\":1},\"intake\":null}",
                         422, "validation-error", "intake");
    char *path = tu_format("/v1/storages/%lld", id);
    EXPECT_REJECTED_TYPE("PATCH", path, "{\"intake\":\"Weighed\"}", 422, "validation-error",
                         "intake");
    EXPECT_REJECTED_TYPE("PATCH", path, "{\"intake\":1}", 422, "validation-error", "intake");
    r = it_patch(path, "{\"intake\":\"weighed\"}");
    EXPECT_STATUS(r, 200);
    ASSERT_JSON_AT(r->json, "intake", "\"weighed\"");
    it_response_free(r);
    /* An organization's body has no intake. */
    EXPECT_REJECTED_TYPE("POST", "/v1/organizations",
                         "{\"name\":\"mv-org-intake\",\"intake\":"
                         "\"weighed\"}",
                         422, "validation-error", "intake");
    free(path);
    free(name);
}

/* ---------------------------------------------------------------- the life of a load */

static void test_lifecycle_with_exact_kilograms(void **state)
{
    (void)state;
    long long in_transit0, variance0;
    glass_stats(&in_transit0, &variance0);

    long long weighed = new_storage("weighed", "{\"glass\":100}");
    long long automatic = new_storage("automatic", "{\"glass\":1000}");
    long long org = new_org();
    road(org, weighed, 10);
    road(org, automatic, 50);

    /* 60 kg to the nearest storage, a weighed one: reserved, not stocked. */
    it_response *t1 = hand_over(org, 60);
    ASSERT_JSON_AT(t1->json, "shipments",
                   "[{\"storage_id\":%lld,\"waste_type\":\"glass\",\"amount\":60,"
                   "\"distance_m\":10,\"movement_id\":%lld,\"status\":\"in_transit\"}]",
                   weighed, movement_of(t1, 0));
    long long m1 = movement_of(t1, 0);
    long long transfer1 = it_json_int(t1->json, "id");
    assert_storage(weighed, "{\"glass\":0}", "{\"glass\":60}", "{\"glass\":40}");

    it_response *r = movement(m1);
    ASSERT_MEMBERS(r->json,
                   "{\"transfer_id\":%lld,\"organization_id\":%lld,"
                   "\"storage_id\":%lld,\"waste_type\":\"glass\",\"planned_kg\":60,"
                   "\"distance_m\":10,\"status\":\"in_transit\"}",
                   transfer1, org, weighed);
    const char *null_members[] = {"carrier",     "vehicle",     "received_kg",
                                  "accepted_kg", "rejected_kg", "rejection_reason",
                                  "ticket",      "received_at", "received_by"};
    for (size_t i = 0; i < sizeof null_members / sizeof null_members[0]; i++) {
        ASSERT_JSON_AT(r->json, null_members[i], "null");
    }
    tu_assert_timestamp(tu_member(r->json, "created_at"));
    it_response_free(r);

    /* 70 kg more: 40 fill the weighed storage's room (reserved counts as taken), 30 go on to
     * the automatic one, accepted at once. */
    it_response *t2 = hand_over(org, 70);
    long long m2 = movement_of(t2, 0);
    long long m_auto = movement_of(t2, 1);
    ASSERT_JSON_AT(t2->json, "shipments",
                   "[{\"storage_id\":%lld,\"waste_type\":\"glass\",\"amount\":40,"
                   "\"distance_m\":10,\"movement_id\":%lld,\"status\":\"in_transit\"},"
                   "{\"storage_id\":%lld,\"waste_type\":\"glass\",\"amount\":30,"
                   "\"distance_m\":50,\"movement_id\":%lld,\"status\":\"accepted\"}]",
                   weighed, m2, automatic, m_auto);
    assert_storage(weighed, "{\"glass\":0}", "{\"glass\":100}", "{\"glass\":0}");
    assert_storage(automatic, "{\"glass\":30}", "{\"glass\":0}", "{\"glass\":970}");
    /* The organization's view counts the reservation as taken room too. */
    r = it_get("/v1/organizations/%lld/storages", org);
    EXPECT_STATUS(r, 200);
    ASSERT_MEMBERS(r->json,
                   "{\"items.0.id\":%lld,\"items.0.reserved\":{\"glass\":100},"
                   "\"items.0.remaining\":{\"glass\":0},"
                   "\"items.0.intake\":\"weighed\"}",
                   weighed);
    it_response_free(r);
    r = it_get("/v1/organizations/%lld/storages?has_room=true&reachable=true", org);
    EXPECT_STATUS(r, 200);
    assert_int_equal(cJSON_GetArraySize(tu_member(r->json, "items")), 1);
    ASSERT_JSON_AT(r->json, "items.0.id", "%lld", automatic);
    it_response_free(r);

    /* The automatic storage's load: received in full when it was handed over. */
    r = movement(m_auto);
    ASSERT_MEMBERS(r->json, "{\"status\":\"accepted\",\"received_kg\":30,\"accepted_kg\":30,"
                            "\"rejected_kg\":0}");
    assert_string_equal(it_json_str(r->json, "received_at"), it_json_str(r->json, "created_at"));
    it_response_free(r);
    char *path = receipt_path(m_auto);
    EXPECT_REJECTED_TYPE("POST", path, "{\"received_kg\":30}", 409, "conflict", NULL);
    free(path);

    long long in_transit, variance;
    glass_stats(&in_transit, &variance);
    assert_int_equal(in_transit - in_transit0, 100);
    assert_int_equal(variance - variance0, 0);

    /* Capacity cannot go below stock + reserved; a storage with reservations stays. */
    char *storage_path = tu_format("/v1/storages/%lld", weighed);
    EXPECT_REJECTED_TYPE("PATCH", storage_path, "{\"capacity\":{\"glass\":99}}", 409, "conflict",
                         NULL);
    EXPECT_REJECTED_TYPE("PATCH", storage_path, "{\"capacity\":{\"glass\":null}}", 409, "conflict",
                         NULL);
    EXPECT_REJECTED_TYPE("DELETE", storage_path, NULL, 409, "conflict", NULL);

    /* The carrier and vehicle, while in transit. */
    char *m1_path = tu_format("/v1/movements/%lld", m1);
    EXPECT_REJECTED_TYPE("PATCH", m1_path, "{\"carrier\":\"\"}", 422, "validation-error",
                         "carrier");
    char *long_text = tu_repeat("x", 101);
    char *body = tu_format("{\"vehicle\":\"%s\"}", long_text);
    EXPECT_REJECTED_TYPE("PATCH", m1_path, body, 422, "validation-error", "vehicle");
    EXPECT_REJECTED_TYPE("PATCH", m1_path, "{\"carrier\":5}", 422, "validation-error", "carrier");
    EXPECT_REJECTED_TYPE("PATCH", m1_path, "{\"driver\":\"x\"}", 422, "validation-error", "driver");
    r = it_patch(m1_path, "{\"carrier\":\"Acme Haulage\",\"vehicle\":\"AB 123\"}");
    EXPECT_STATUS(r, 200);
    ASSERT_MEMBERS(r->json, "{\"carrier\":\"Acme Haulage\",\"vehicle\":\"AB 123\","
                            "\"status\":\"in_transit\"}");
    it_response_free(r);
    r = it_patch(m1_path, "{\"vehicle\":null}");
    EXPECT_STATUS(r, 200);
    ASSERT_MEMBERS(r->json, "{\"carrier\":\"Acme Haulage\",\"vehicle\":null}");
    it_response_free(r);

    /* Receipt validation: 422 naming the field, nothing changed. */
    path = receipt_path(m1);
    EXPECT_REJECTED_TYPE("POST", path, "{}", 422, "validation-error", "received_kg");
    EXPECT_REJECTED_TYPE("POST", path, "{\"received_kg\":-1}", 422, "validation-error",
                         "received_kg");
    EXPECT_REJECTED_TYPE("POST", path, "{\"received_kg\":1.5}", 422, "validation-error",
                         "received_kg");
    EXPECT_REJECTED_TYPE("POST", path, "{\"received_kg\":\"60\"}", 422, "validation-error",
                         "received_kg");
    EXPECT_REJECTED_TYPE("POST", path, "{\"received_kg\":1000000000001}", 422, "validation-error",
                         "received_kg");
    EXPECT_REJECTED_TYPE("POST", path,
                         "{\"received_kg\":10,\"rejected_kg\":11,\"rejection_reason\":\"x\"}", 422,
                         "validation-error", "rejected_kg");
    EXPECT_REJECTED_TYPE("POST", path, "{\"received_kg\":10,\"rejected_kg\":1}", 422,
                         "validation-error", "rejection_reason");
    EXPECT_REJECTED_TYPE("POST", path,
                         "{\"received_kg\":10,\"rejected_kg\":1,\"rejection_reason\":\"\"}", 422,
                         "validation-error", "rejection_reason");
    EXPECT_REJECTED_TYPE("POST", path, "{\"received_kg\":10,\"ticket\":7}", 422, "validation-error",
                         "ticket");
    EXPECT_REJECTED_TYPE("POST", "/v1/movements/999999999/receipt", "{\"received_kg\":1}", 404,
                         "not-found", NULL);

    /* m1 accepted as planned: 60 into stock, the reservation released. */
    r = receive(m1, "{\"received_kg\":60,\"ticket\":\"WB-0001\"}");
    EXPECT_STATUS(r, 200);
    ASSERT_MEMBERS(r->json, "{\"status\":\"accepted\",\"received_kg\":60,\"accepted_kg\":60,"
                            "\"rejected_kg\":0,\"ticket\":\"WB-0001\","
                            "\"carrier\":\"Acme Haulage\",\"rejection_reason\":null}");
    assert_memory_equal(it_json_str(r->json, "received_by"), "key:", 4);
    tu_assert_timestamp(tu_member(r->json, "received_at"));
    assert_null(it_json_at(r->json, "warnings"));
    it_response_free(r);
    assert_storage(weighed, "{\"glass\":60}", "{\"glass\":40}", "{\"glass\":0}");
    r = movement(m1);
    ASSERT_MEMBERS(r->json, "{\"status\":\"accepted\",\"ticket\":\"WB-0001\"}");
    it_response_free(r);

    /* One receipt only; no carrier change once received. */
    EXPECT_REJECTED_TYPE("POST", path, "{\"received_kg\":60}", 409, "conflict", NULL);
    EXPECT_REJECTED_TYPE("PATCH", m1_path, "{\"carrier\":\"Other\"}", 409, "conflict", NULL);

    /* m2 (40 planned) weighs 50, 20 refused: 30 accepted, a variance warning (25 %). */
    r = receive(m2, "{\"received_kg\":50,\"rejected_kg\":20,\"rejection_reason\":\"contaminated "
                    "with metal\",\"ticket\":\"WB-0002\"}");
    EXPECT_STATUS(r, 200);
    ASSERT_MEMBERS(r->json, "{\"status\":\"partially_rejected\",\"accepted_kg\":30,"
                            "\"rejected_kg\":20,"
                            "\"rejection_reason\":\"contaminated with metal\","
                            "\"warnings.0.code\":\"weight_variance\"}");
    assert_int_equal(cJSON_GetArraySize(tu_member(r->json, "warnings")), 1);
    it_response_free(r);

    /* The 20 refused kilograms came back and are placed again within a second: 10 fill the
     * weighed storage's room (in transit again), 10 go to the automatic storage. */
    long long waited = wait_until_placed(org);
    printf("movements: refused kilograms placed again %lld ms after the receipt\n", waited);
    assert_true(waited <= tu_scaled_ms(1000));
    assert_storage(weighed, "{\"glass\":90}", "{\"glass\":10}", "{\"glass\":0}");
    assert_storage(automatic, "{\"glass\":40}", "{\"glass\":0}", "{\"glass\":960}");
    r = it_get("/v1/movements?organization_id=%lld&status=in_transit", org);
    EXPECT_STATUS(r, 200);
    assert_int_equal(cJSON_GetArraySize(tu_member(r->json, "items")), 1);
    long long m3 = it_json_int(r->json, "items.0.id");
    ASSERT_MEMBERS(r->json, "{\"items.0.planned_kg\":10,\"items.0.storage_id\":%lld}", weighed);
    long long auto_transfer = it_json_int(r->json, "items.0.transfer_id");
    it_response_free(r);
    r = it_get("/v1/transfers/%lld", auto_transfer);
    EXPECT_STATUS(r, 200);
    ASSERT_MEMBERS(r->json, "{\"trigger\":\"auto\",\"actor\":\"dispatcher\"}");
    it_response_free(r);

    /* m3 weighs 11 where there is room for 10: 409, the operator refuses the excess. */
    char *m3_path = receipt_path(m3);
    EXPECT_REJECTED_TYPE("POST", m3_path, "{\"received_kg\":11}", 409, "conflict", NULL);
    /* Then all of it refused: rejected, and back to the organization (and placed again). */
    r = receive(m3, "{\"received_kg\":11,\"rejected_kg\":11,\"rejection_reason\":\"wrong type\"}");
    EXPECT_STATUS(r, 200);
    ASSERT_MEMBERS(r->json, "{\"status\":\"rejected\",\"accepted_kg\":0}");
    assert_null(it_json_at(r->json, "warnings")); /* 1 kg of 10 is within 10 % */
    it_response_free(r);
    wait_until_placed(org);
    /* 11 came back: 10 to the weighed storage's room again, 1 to the automatic one. */
    assert_storage(weighed, "{\"glass\":90}", "{\"glass\":10}", "{\"glass\":0}");
    assert_storage(automatic, "{\"glass\":41}", "{\"glass\":0}", "{\"glass\":959}");

    /* Stats: in transit = the reservations, variance = planned - received. m1: 0; m2: 40 - 50;
     * m3: 10 - 11. */
    glass_stats(&in_transit, &variance);
    assert_int_equal(in_transit - in_transit0, 10);
    assert_int_equal(variance - variance0, -11);

    /* Filters and pages. */
    r = it_get("/v1/movements?storage_id=%lld&status=rejected", weighed);
    EXPECT_STATUS(r, 200);
    assert_int_equal(cJSON_GetArraySize(tu_member(r->json, "items")), 1);
    ASSERT_JSON_AT(r->json, "items.0.id", "%lld", m3);
    it_response_free(r);
    r = it_get("/v1/movements?storage_id=%lld&limit=1", weighed);
    EXPECT_STATUS(r, 200);
    ASSERT_JSON_AT(r->json, "items.0.id", "%lld", m1);
    const char *cursor = it_json_str(r->json, "next_cursor");
    it_response *next = it_get("/v1/movements?storage_id=%lld&limit=1&cursor=%s", weighed, cursor);
    EXPECT_STATUS(next, 200);
    ASSERT_JSON_AT(next->json, "items.0.id", "%lld", m2);
    it_response_free(next);
    it_response_free(r);
    ASSERT_GET_AT(tu_fmt("/v1/movements?organization_id=%lld&waste_type=bio", org), "items", "[]");
    EXPECT_REJECTED_TYPE("GET", "/v1/movements?status=received", NULL, 422, "validation-error",
                         "status");
    EXPECT_REJECTED_TYPE("GET", "/v1/movements?waste_type=nope", NULL, 422, "validation-error",
                         "waste_type");

    /* Switching intake leaves the load in transit as it is; the next one is accepted at once. */
    r = it_patch(storage_path, "{\"intake\":\"automatic\",\"capacity\":{\"glass\":200}}");
    EXPECT_STATUS(r, 200);
    it_response_free(r);
    it_response *t3 = hand_over(org, 5);
    ASSERT_JSON_AT(t3->json, "shipments.0.status", "\"accepted\"");
    assert_storage(weighed, "{\"glass\":95}", "{\"glass\":10}", "{\"glass\":95}");
    it_response_free(t3);

    tu_assert_audit_clean();
    free(m3_path);
    free(body);
    free(long_text);
    free(m1_path);
    free(storage_path);
    free(path);
    it_response_free(t1);
    it_response_free(t2);
}

/* A transfer with more shipments than one block of ids holds (64): every movement gets an id
 * of its own, and each is found by it. */
static void test_more_movements_than_one_block(void **state)
{
    (void)state;
    enum { STORAGES = 70 };
    long long org = new_org();
    long long storages[STORAGES];
    for (int i = 0; i < STORAGES; i++) {
        storages[i] = new_storage(i % 2 ? "weighed" : "automatic", "{\"glass\":1}");
        road(org, storages[i], 10 + i);
    }
    it_response *t = hand_over(org, STORAGES);
    const cJSON *shipments = tu_member(t->json, "shipments");
    assert_int_equal(cJSON_GetArraySize(shipments), STORAGES);
    long long ids[STORAGES];
    for (int i = 0; i < STORAGES; i++) {
        ids[i] = movement_of(t, i);
        ASSERT_JSON_AT(t->json, tu_fmt("shipments.%d.storage_id", i), "%lld", storages[i]);
        ASSERT_JSON_AT(t->json, tu_fmt("shipments.%d.status", i), "\"%s\"",
                       i % 2 ? "in_transit" : "accepted");
        for (int j = 0; j < i; j++) {
            assert_true(ids[j] != ids[i]);
        }
    }
    for (int i = 0; i < STORAGES; i += 7) {
        it_response *m = movement(ids[i]);
        ASSERT_MEMBERS(m->json, "{\"storage_id\":%lld,\"transfer_id\":%lld}", storages[i],
                       it_json_int(t->json, "id"));
        it_response_free(m);
    }
    it_response *list = it_get("/v1/movements?organization_id=%lld&limit=1000", org);
    EXPECT_STATUS(list, 200);
    assert_int_equal(cJSON_GetArraySize(tu_member(list->json, "items")), STORAGES);
    it_response_free(list);
    it_response_free(t);
    tu_assert_audit_clean();
}

/* ---------------------------------------------------------------- roles */

static it_response *as(const char *key, const char *method, const char *path, const char *body)
{
    const char *headers[] = {it_bearer(key), NULL};
    return it_request(method, path, body, headers);
}

static void expect_as(const char *key, const char *method, const char *path, const char *body,
                      int status)
{
    if (status >= 400) {
        const char *headers[] = {it_bearer(key), NULL};
        EXPECT_REJECTED_WITH_HEADERS(method, path, body, headers, status, NULL, NULL);
        return;
    }
    it_response *r = as(key, method, path, body);
    EXPECT_STATUS(r, status);
    it_response_free(r);
}

static void test_every_route_for_every_role(void **state)
{
    (void)state;
    long long weighed = new_storage("weighed", "{\"glass\":1000}");
    long long other_storage = new_storage("weighed", "{\"glass\":1000}");
    long long org = new_org();
    long long other_org = new_org();
    road(org, weighed, 10);
    road(other_org, other_storage, 10);
    it_response *t = hand_over(org, 100);
    long long mine = movement_of(t, 0);
    it_response_free(t);
    t = hand_over(other_org, 100);
    long long theirs = movement_of(t, 0);
    it_response_free(t);

    char *org_key = it_new_key("organization", org, 0);
    char *storage_key = it_new_key("storage", 0, weighed);
    char *other_storage_key = it_new_key("storage", 0, other_storage);
    char *auditor = it_new_key("auditor", 0, 0);
    char *monitor = it_new_key("monitor", 0, 0);
    char *mine_path = tu_format("/v1/movements/%lld", mine);
    char *theirs_path = tu_format("/v1/movements/%lld", theirs);
    char *mine_receipt = receipt_path(mine);
    char *theirs_receipt = receipt_path(theirs);

    /* Lists: each scoped principal sees its own only. */
    it_response *r = as(org_key, "GET", "/v1/movements", NULL);
    EXPECT_STATUS(r, 200);
    assert_int_equal(cJSON_GetArraySize(tu_member(r->json, "items")), 1);
    ASSERT_JSON_AT(r->json, "items.0.id", "%lld", mine);
    it_response_free(r);
    r = as(storage_key, "GET", "/v1/movements", NULL);
    EXPECT_STATUS(r, 200);
    assert_int_equal(cJSON_GetArraySize(tu_member(r->json, "items")), 1);
    ASSERT_JSON_AT(r->json, "items.0.id", "%lld", mine);
    it_response_free(r);
    r = as(auditor, "GET", "/v1/movements?status=in_transit", NULL);
    EXPECT_STATUS(r, 200);
    assert_true(cJSON_GetArraySize(tu_member(r->json, "items")) >= 2);
    it_response_free(r);
    expect_as(org_key, "GET", tu_fmt("/v1/movements?organization_id=%lld", other_org), NULL, 403);
    expect_as(storage_key, "GET", tu_fmt("/v1/movements?storage_id=%lld", other_storage), NULL,
              403);
    expect_as(monitor, "GET", "/v1/movements", NULL, 403);
    expect_as("wf_1_not-a-key", "GET", "/v1/movements", NULL, 401);

    /* One movement: 404 for one a scoped principal may not see. */
    expect_as(org_key, "GET", mine_path, NULL, 200);
    expect_as(storage_key, "GET", mine_path, NULL, 200);
    expect_as(auditor, "GET", mine_path, NULL, 200);
    expect_as(org_key, "GET", theirs_path, NULL, 404);
    expect_as(storage_key, "GET", theirs_path, NULL, 404);
    expect_as(monitor, "GET", mine_path, NULL, 403);

    /* Carrier: the movement's organization or an admin. */
    expect_as(org_key, "PATCH", mine_path, "{\"carrier\":\"Own fleet\"}", 200);
    expect_as(org_key, "PATCH", theirs_path, "{\"carrier\":\"Not mine\"}", 404);
    expect_as(storage_key, "PATCH", mine_path, "{\"carrier\":\"x\"}", 403);
    expect_as(auditor, "PATCH", mine_path, "{\"carrier\":\"x\"}", 403);
    expect_as(monitor, "PATCH", mine_path, "{\"carrier\":\"x\"}", 403);
    expect_as(it_admin_key(), "PATCH", theirs_path, "{\"vehicle\":\"V-2\"}", 200);

    /* Receipt: the storage's own principal or an admin; 403 for another storage. */
    expect_as(other_storage_key, "POST", mine_receipt, "{\"received_kg\":100}", 403);
    expect_as(org_key, "POST", mine_receipt, "{\"received_kg\":100}", 403);
    expect_as(auditor, "POST", mine_receipt, "{\"received_kg\":100}", 403);
    expect_as(monitor, "POST", mine_receipt, "{\"received_kg\":100}", 403);
    r = as(storage_key, "POST", mine_receipt, "{\"received_kg\":100}");
    EXPECT_STATUS(r, 200);
    ASSERT_JSON_AT(r->json, "received_by", "\"%s\"",
                   tu_fmt("key:%lld", strtoll(storage_key + 3, NULL, 10)));
    it_response_free(r);
    expect_as(it_admin_key(), "POST", theirs_receipt, "{\"received_kg\":100}", 200);

    free(mine_path);
    free(theirs_path);
    free(mine_receipt);
    free(theirs_receipt);
    free(org_key);
    free(storage_key);
    free(other_storage_key);
    free(auditor);
    free(monitor);
}

/* ---------------------------------------------------------------- idempotency */

static void test_receipt_idempotency_key(void **state)
{
    (void)state;
    tu_load load = tu_load_in_transit(50, 10);
    char *path = receipt_path(load.movement);
    const char *headers[] = {"Idempotency-Key: mv-receipt-1", NULL};
    it_response *first = it_request("POST", path, "{\"received_kg\":50}", headers);
    EXPECT_STATUS(first, 200);
    it_response *again = it_request("POST", path, "{\"received_kg\":50}", headers);
    EXPECT_STATUS(again, 200);
    assert_string_equal(again->body, first->body);
    assert_non_null(it_header(again, "Idempotent-Replayed"));
    it_response_free(again);
    EXPECT_REJECTED_WITH_HEADERS("POST", path, "{\"received_kg\":49}", headers, 422, NULL, NULL);
    it_response_free(first);
    assert_storage(load.storage, "{\"glass\":50}", "{\"glass\":0}", "{\"glass\":50}");
    free(path);
}

/* ---------------------------------------------------------------- races */

#define RACERS 6

typedef struct {
    const char *url;
    const char *body;
    pthread_barrier_t *start;
    long status;
} racer;

static void *race_one(void *arg)
{
    racer *r = arg;
    CURL *curl = curl_easy_init();
    tu_http_result reply = {0};
    pthread_barrier_wait(r->start);
    tu_http_call(curl, "POST", r->url, r->body, NULL, NULL, 30, false, &reply);
    r->status = reply.status;
    tu_http_result_clear(&reply);
    curl_easy_cleanup(curl);
    return NULL;
}

/* The same receipt sent at once by several clients: exactly one is recorded. */
static void test_concurrent_receipts_of_one_movement(void **state)
{
    (void)state;
    tu_load load = tu_load_in_transit(80, 10);
    char *url = tu_format("%s/v1/movements/%lld/receipt", it_base_url(), load.movement);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, RACERS);
    racer racers[RACERS];
    pthread_t threads[RACERS];
    for (int i = 0; i < RACERS; i++) {
        racers[i] = (racer){url,
                            "{\"received_kg\":80,\"rejected_kg\":5,\"rejection_reason\":"
                            "\"glass shards\"}",
                            &start, 0};
        assert_int_equal(pthread_create(&threads[i], NULL, race_one, &racers[i]), 0);
    }
    int ok = 0, conflict = 0;
    for (int i = 0; i < RACERS; i++) {
        pthread_join(threads[i], NULL);
        ok += racers[i].status == 200;
        conflict += racers[i].status == 409;
    }
    pthread_barrier_destroy(&start);
    assert_int_equal(ok, 1);
    assert_int_equal(conflict, RACERS - 1);
    wait_until_placed(load.org);
    /* 75 accepted; the 5 refused came back and went to the storage again, in transit. */
    assert_storage(load.storage, "{\"glass\":75}", "{\"glass\":5}", "{\"glass\":20}");
    assert_int_equal(
        it_sql_int("SELECT count(*) FROM receipts WHERE shipment_id = %lld", load.movement), 1);
    tu_assert_audit_clean();
    free(url);
}

/* Hand-overs, receipts (some refusing), unloads and capacity changes racing on one weighed
 * storage, through two instances: no 5xx, every answer one the contract allows, and the
 * invariants hold after. */
#define LOAD_ORGS 4

static struct {
    long long weighed, automatic;
    long long orgs[LOAD_ORGS];
    double deadline;
    const char *base[2]; /* two instances on one database */
} load;

typedef struct {
    int kind; /* 0 hand-over, 1 receipts, 2 unloads, 3 capacity */
    unsigned seed;
    long requests, ok, refused, bad;
    char problem[400];
} loader;

static void loader_note(loader *l, const char *what, const tu_http_result *reply)
{
    l->bad++;
    if (l->problem[0] == '\0') {
        snprintf(l->problem, sizeof l->problem, "%s -> %ld: %.300s", what, reply->status,
                 reply->body ? reply->body : "");
    }
}

/* A 200 is done, a 409 refused (another got there first, or it no longer fits); anything
 * else is noted. */
static void loader_count(loader *l, const char *url, const tu_http_result *reply)
{
    if (reply->status == 200) {
        l->ok++;
    } else if (reply->status == 409) {
        l->refused++;
    } else {
        loader_note(l, url, reply);
    }
}

static void *run_loader(void *arg)
{
    loader *l = arg;
    CURL *curl = curl_easy_init();
    tu_http_result reply = {0};
    char url[256], body[256];
    while (tu_now_seconds() < load.deadline) {
        l->requests++;
        if (l->kind == 0) {
            long long org = load.orgs[rand_r(&l->seed) % LOAD_ORGS];
            snprintf(url, sizeof url, "%s/v1/organizations/%lld/transfers",
                     load.base[l->requests % 2], org);
            snprintf(body, sizeof body, "{\"waste\":{\"glass\":%d}}", 1 + rand_r(&l->seed) % 40);
            tu_http_call(curl, "POST", url, body, NULL, NULL, 30, false, &reply);
            if (reply.status == 201) {
                l->ok++;
            } else {
                loader_note(l, url, &reply);
            }
        } else if (l->kind == 1) {
            snprintf(url, sizeof url, "%s/v1/movements?storage_id=%lld&status=in_transit&limit=5",
                     load.base[l->requests % 2], load.weighed);
            tu_http_call(curl, "GET", url, NULL, NULL, NULL, 30, false, &reply);
            cJSON *page = cJSON_Parse(reply.body);
            const cJSON *items = cJSON_GetObjectItemCaseSensitive(page, "items");
            int n = cJSON_GetArraySize(items);
            if (reply.status != 200 || n == 0) {
                if (reply.status != 200) {
                    loader_note(l, url, &reply);
                }
                cJSON_Delete(page);
                continue;
            }
            const cJSON *item = cJSON_GetArrayItem(items, rand_r(&l->seed) % n);
            long long id = (long long)cJSON_GetObjectItemCaseSensitive(item, "id")->valuedouble;
            long long planned =
                (long long)cJSON_GetObjectItemCaseSensitive(item, "planned_kg")->valuedouble;
            cJSON_Delete(page);
            long long received = planned + (rand_r(&l->seed) % 5) - 2;
            received = received < 0 ? 0 : received;
            long long rejected = rand_r(&l->seed) % 3 == 0 ? rand_r(&l->seed) % (received + 1) : 0;
            snprintf(url, sizeof url, "%s/v1/movements/%lld/receipt", load.base[l->requests % 2],
                     id);
            snprintf(body, sizeof body,
                     "{\"received_kg\":%lld,\"rejected_kg\":%lld,\"rejection_reason\":\"load "
                     "test\"}",
                     received, rejected);
            tu_http_call(curl, "POST", url, body, NULL, NULL, 30, false, &reply);
            /* 409: another receipt came first, or the load does not fit after an unload
             * raced a capacity change. */
            loader_count(l, url, &reply);
        } else if (l->kind == 2) {
            snprintf(url, sizeof url, "%s/v1/storages/%lld/unload", load.base[l->requests % 2],
                     load.weighed);
            snprintf(body, sizeof body, "{\"glass\":%d}", 1 + rand_r(&l->seed) % 30);
            tu_http_call(curl, "POST", url, body, NULL, NULL, 30, false, &reply);
            loader_count(l, url, &reply);
        } else {
            snprintf(url, sizeof url, "%s/v1/storages/%lld", load.base[l->requests % 2],
                     load.weighed);
            snprintf(body, sizeof body, "{\"capacity\":{\"glass\":%d}}",
                     150 + rand_r(&l->seed) % 200);
            tu_http_call(curl, "PATCH", url, body, NULL, NULL, 30, false, &reply);
            loader_count(l, url, &reply);
            tu_sleep_ms(20);
        }
    }
    tu_http_result_clear(&reply);
    curl_easy_cleanup(curl);
    return NULL;
}

static void test_hand_overs_receipts_unloads_and_capacity_race(void **state)
{
    (void)state;
    load.weighed = new_storage("weighed", "{\"glass\":300}");
    load.automatic = new_storage("automatic", "{\"glass\":1000000}");
    for (int i = 0; i < LOAD_ORGS; i++) {
        load.orgs[i] = new_org();
        road(load.orgs[i], load.weighed, 10);
        road(load.orgs[i], load.automatic, 20 + i);
    }
    it_stop_second_instance(); /* one a failed test left running */
    char *second = strdup(it_start_second_instance(NULL));
    load.base[0] = it_base_url();
    load.base[1] = second;
    load.deadline = tu_now_seconds() + 3.0;
    const int kinds[] = {0, 0, 0, 1, 1, 2, 3};
    enum { LOADERS = sizeof kinds / sizeof kinds[0] };
    loader loaders[LOADERS];
    pthread_t threads[LOADERS];
    for (int i = 0; i < LOADERS; i++) {
        loaders[i] = (loader){.kind = kinds[i], .seed = 17u + (unsigned)i};
        assert_int_equal(pthread_create(&threads[i], NULL, run_loader, &loaders[i]), 0);
    }
    long per_kind[4][3] = {{0}};
    for (int i = 0; i < LOADERS; i++) {
        pthread_join(threads[i], NULL);
        if (loaders[i].bad > 0) {
            fail_msg("%ld unexpected answers, first: %s", loaders[i].bad, loaders[i].problem);
        }
        per_kind[loaders[i].kind][0] += loaders[i].requests;
        per_kind[loaders[i].kind][1] += loaders[i].ok;
        per_kind[loaders[i].kind][2] += loaders[i].refused;
    }
    printf("movements race: hand-overs %ld (%ld ok), receipts %ld ok / %ld refused, unloads %ld "
           "ok / %ld refused, capacity changes %ld ok / %ld refused\n",
           per_kind[0][0], per_kind[0][1], per_kind[1][1], per_kind[1][2], per_kind[2][1],
           per_kind[2][2], per_kind[3][1], per_kind[3][2]);
    assert_true(per_kind[0][1] > 0);
    assert_true(per_kind[1][1] > 0);
    for (int i = 0; i < LOAD_ORGS; i++) {
        wait_until_placed(load.orgs[i]);
    }
    tu_assert_audit_clean();
    assert_int_equal(it_stop_second_instance(), 0);
    free(second);
}

/* ---------------------------------------------------------------- runner */

RUNNER_MAIN(
    tu_setup, tu_teardown,
    {
        cmocka_unit_test(test_intake_on_storages),
        cmocka_unit_test(test_lifecycle_with_exact_kilograms),
        cmocka_unit_test(test_more_movements_than_one_block),
        cmocka_unit_test(test_every_route_for_every_role),
        cmocka_unit_test(test_receipt_idempotency_key),
        cmocka_unit_test(test_concurrent_receipts_of_one_movement),
        cmocka_unit_test(test_hand_overs_receipts_unloads_and_capacity_race),
        /* Runs last: whatever the tests above did, sql/audit.sql finds no violated invariant. */
        TU_AUDIT_TEST,
    })
