/* Integration tests of transfers: the allocation rule (nearest storages with room, split),
 * pending waste and the on-site capacity, validation, the ledger list and its filters, the
 * automatic dispatch when room appears (oldest pending first), Idempotency-Key replays, the
 * running totals the transfer statement keeps and the plan of that statement.
 * Each test builds its own organizations, storages and roads, unreachable from the others. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "engine/statements.h"
#include "harness.h"
#include "runner.h"
#include "testutil.h"

#include <cmocka.h>

#define UNKNOWN_ID 999999999LL

static long long new_org(const char *capacity_json)
{
    return tu_new_org("transfer-org", capacity_json, NULL);
}

static long long new_storage(const char *capacity_json)
{
    return tu_new_storage("transfer-storage", capacity_json);
}

static long long road(long long org_id, long long storage_id, long long distance_m)
{
    return it_create_route(ORG(org_id), STORAGE(storage_id), distance_m, false);
}

/* A storage of a scene: where its id goes, its capacity, and the length of the
 * organization's road to it (0: no road). */
typedef struct {
    long long *id;
    const char *capacity;
    long long road_m;
} scene_storage;

/* A new organization (org_capacity: its on-site capacity) and new storages, created in the
 * order given, then its roads to them in the same order; returns the organization's id. */
#define SCENE(org_capacity, ...)                                                                   \
    scene_at((org_capacity), (const scene_storage[]){__VA_ARGS__},                                 \
             sizeof((const scene_storage[]){__VA_ARGS__}) / sizeof(scene_storage))
static long long scene_at(const char *org_capacity, const scene_storage *storages, size_t count)
{
    long long org = new_org(org_capacity);
    for (size_t i = 0; i < count; i++)
        *storages[i].id = new_storage(storages[i].capacity);
    for (size_t i = 0; i < count; i++) {
        if (storages[i].road_m > 0)
            road(org, *storages[i].id, storages[i].road_m);
    }
    return org;
}

static it_response *transfer(long long org_id, const char *waste_json)
{
    return it_request("POST", tu_fmt("/v1/organizations/%lld/transfers", org_id),
                      tu_fmt("{\"waste\":%s}", waste_json), NULL);
}

/* POSTs a transfer that must succeed and checks the 201 body; returns the transfer id. */
#define TRANSFER_OK(org_id, waste, received, ...)                                                  \
    transfer_ok_at(__FILE__, __LINE__, (org_id), (waste), (received), __VA_ARGS__)
static long long transfer_ok_at(const char *file, int line, long long org_id, const char *waste,
                                const char *received, const struct tu_ship *ships,
                                size_t ship_count, const char *pending)
{
    it_response *response = transfer(org_id, waste);
    tu_expect_status_at(file, line, response, 201);
    tu_assert_transfer_at(file, line, response->json, org_id, "request", received, ships,
                          ship_count, pending);
    long long id = it_json_int(response->json, "id");
    it_response_free(response);
    return id;
}

/* POSTs body (a whole request body) for a transfer that receives and ships nothing: 200
 * with "id": null and the organization's pending, and not a byte changed (no ledger row,
 * docs/design.md, "Transfers"). */
#define NOTHING_RECORDED(org_id, body, pending)                                                    \
    nothing_recorded_at(__FILE__, __LINE__, (org_id), (body), (pending))
static void nothing_recorded_at(const char *file, int line, long long org_id, const char *body,
                                const char *pending)
{
    char *before = it_db_fingerprint();
    it_response *response =
        it_request("POST", tu_fmt("/v1/organizations/%lld/transfers", org_id), body, NULL);
    tu_expect_status_at(file, line, response, 200);
    const cJSON *id = tu_member(response->json, "id");
    if (!cJSON_IsNull(id) || !cJSON_IsNull(tu_member(response->json, "created_at"))) {
        fail_msg("%s:%d: expected \"id\": null and \"created_at\": null", file, line);
    }
    tu_assert_json_at(file, line, tu_member(response->json, "organization_id"), "%lld", org_id);
    tu_assert_json_at(file, line, tu_member(response->json, "trigger"), "\"request\"");
    tu_assert_json_at(file, line, tu_member(response->json, "received"), "{}");
    tu_assert_json_at(file, line, tu_member(response->json, "shipments"), "[]");
    tu_assert_json_at(file, line, tu_member(response->json, "pending"), "%s", pending);
    it_response_free(response);
    tu_assert_unchanged_at(file, line, before); /* a transfer that moved nothing */
}

/* Polls the organization every 100 ms until its pending equals expected, at most `seconds`
 * after `since` (the moment the triggering request was answered). */
#define WAIT_PENDING(org_id, expected, since, seconds)                                             \
    wait_pending_at(__FILE__, __LINE__, (org_id), (expected), (since), (seconds))
static void wait_pending_at(const char *file, int line, long long org_id, const char *expected,
                            double since, double seconds)
{
    cJSON *wanted = cJSON_Parse(expected);
    assert_non_null(wanted);
    char *last = NULL;
    for (;;) {
        it_response *org = it_get("/v1/organizations/%lld", org_id);
        tu_expect_status_at(file, line, org, 200);
        bool equal = cJSON_Compare(tu_member(org->json, "pending"), wanted, true);
        free(last);
        last = tu_json_text(tu_member(org->json, "pending"));
        it_response_free(org);
        if (equal)
            break;
        if (tu_now_seconds() - since > seconds) {
            print_error("organization %lld: pending %s, still not %s %.1f s after the trigger\n",
                        org_id, last, expected, seconds);
            _fail(file, line);
        }
        tu_sleep_ms(100);
    }
    free(last);
    cJSON_Delete(wanted);
}

/* The organization's ledger (GET /v1/transfers?organization_id=). */
static it_response *ledger_of(long long org_id)
{
    it_response *list = it_get("/v1/transfers?organization_id=%lld&limit=1000", org_id);
    EXPECT_STATUS(list, 200);
    ASSERT_JSON(tu_member(list->json, "next_cursor"), "null");
    return list;
}

/* The transfers of that trigger in a ledger, in order, as a new array (caller deletes). */
static cJSON *with_trigger(const it_response *ledger, const char *trigger)
{
    cJSON *selected = cJSON_CreateArray();
    const cJSON *item;
    cJSON_ArrayForEach(item, tu_member(ledger->json, "items"))
    {
        const cJSON *value = tu_member(item, "trigger");
        if (cJSON_IsString(value) && strcmp(value->valuestring, trigger) == 0)
            cJSON_AddItemToArray(selected, cJSON_Duplicate(item, true));
    }
    return selected;
}

/* Asserts the organization's ledger: count transfers, the first of them equal to first (NULL:
 * not compared). */
#define ASSERT_LEDGER(org_id, count, first)                                                        \
    assert_ledger_at(__FILE__, __LINE__, (org_id), (count), (first))
static void assert_ledger_at(const char *file, int line, long long org_id, int count,
                             const cJSON *first)
{
    it_response *ledger = ledger_of(org_id);
    const cJSON *items = tu_member(ledger->json, "items");
    if (cJSON_GetArraySize(items) != count ||
        (first != NULL && !cJSON_Compare(cJSON_GetArrayItem(items, 0), first, true))) {
        print_error("organization %lld: expected %d transfers%s; the ledger: %s\n", org_id, count,
                    first != NULL ? ", the first as posted" : "", ledger->body);
        _fail(file, line);
    }
    it_response_free(ledger);
}

/* Asserts the ids listed by GET /v1/transfers?<query>, in order (expected: a JSON array). */
#define ASSERT_TRANSFER_IDS(query, ...)                                                            \
    assert_transfer_ids_at(__FILE__, __LINE__, (query), tu_fmt(__VA_ARGS__))
static void assert_transfer_ids_at(const char *file, int line, const char *query,
                                   const char *expected)
{
    it_response *list = it_get("/v1/transfers?%s", query);
    tu_expect_status_at(file, line, list, 200);
    cJSON *ids = cJSON_CreateArray();
    const cJSON *item;
    cJSON_ArrayForEach(item, tu_member(list->json, "items"))
    {
        cJSON_AddItemToArray(ids, cJSON_CreateNumber((double)it_json_int(item, "id")));
    }
    tu_assert_json_at(file, line, ids, "%s", expected);
    cJSON_Delete(ids);
    it_response_free(list);
}

/* ---- placement by the allocation rule ---- */

static void test_single_storage_placement(void **state)
{
    (void)state;
    long long storage;
    long long org = SCENE("{}", {&storage, "{\"glass\":100}", 30});

    it_response *response = transfer(org, "{\"glass\":40}");
    EXPECT_STATUS(response, 201);
    ASSERT_TRANSFER(response->json, org, "request", "{\"glass\":40}",
                    SHIPMENTS({storage, "glass", 40, 30}), "{}");
    EXPECT_LOCATION(response, "/v1/transfers");
    it_response_free(response);

    it_response *stored = it_get("/v1/storages/%lld", storage);
    EXPECT_STATUS(stored, 200);
    ASSERT_JSON(tu_member(stored->json, "stock"), "{\"glass\":40}");
    ASSERT_JSON(tu_member(stored->json, "remaining"), "{\"glass\":60}");
    it_response_free(stored);
    tu_assert_pending(org, "{}");
}

static void test_split_across_three_storages(void **state)
{
    (void)state;
    /* Created farthest first, so id order is the reverse of distance order. */
    long long far, middle, near;
    long long org =
        SCENE("{}", {&far, "{\"glass\":100}", 45}, {&middle, "{\"glass\":50,\"bio\":10}", 20},
              {&near, "{\"glass\":30}", 10});
    /* far is reached through middle: 20 + 20 = 40 (the direct road of 45 is longer). */
    it_create_route(STORAGE(middle), STORAGE(far), 20, false);

    TRANSFER_OK(
        org, "{\"glass\":120}", "{\"glass\":120}",
        SHIPMENTS({near, "glass", 30, 10}, {middle, "glass", 50, 20}, {far, "glass", 40, 40}),
        "{}");
    tu_assert_stock(near, "{\"glass\":30}", NULL);
    tu_assert_stock(middle, "{\"glass\":50,\"bio\":0}", NULL);
    tu_assert_stock(far, "{\"glass\":40}", NULL);

    /* Only far has room now; bio goes to middle; what does not fit stays pending. */
    TRANSFER_OK(org, "{\"glass\":70,\"bio\":15}", "{\"glass\":70,\"bio\":15}",
                SHIPMENTS({middle, "bio", 10, 20}, {far, "glass", 60, 40}),
                "{\"glass\":10,\"bio\":5}");
    tu_assert_stock(far, "{\"glass\":100}", NULL);
    tu_assert_pending(org, "{\"glass\":10,\"bio\":5}");
}

/* A batch split over 41 storages this instance has not read yet (their room hints are
 * unknown until a transfer reads them, lib/engine/room_hints.h): the search reads them one
 * round at a time, nearest first, and the split is the rule's, 1 kg to each small storage
 * and the rest to the far one. (A plan that names more rooms than a first read offers, 32,
 * is test_dispatch's test_batches_equal_one_at_a_time: 40 storages' rooms at once.) */
static void test_split_across_forty_storages(void **state)
{
    (void)state;
    enum { SMALL = 40 };
    long long org = new_org("{}");
    struct tu_ship ships[SMALL + 1];
    for (int i = 0; i < SMALL; i++) {
        long long id = new_storage("{\"glass\":1}");
        road(org, id, 10 + i);
        ships[i] = (struct tu_ship){id, "glass", 1, 10 + i};
    }
    long long far = new_storage("{\"glass\":100}");
    road(org, far, 1000);
    ships[SMALL] = (struct tu_ship){far, "glass", 5, 1000};

    TRANSFER_OK(org, "{\"glass\":45}", "{\"glass\":45}", ships, SMALL + 1, "{}");
    tu_assert_stock(ships[0].storage_id, "{\"glass\":1}", NULL);
    tu_assert_stock(ships[SMALL - 1].storage_id, "{\"glass\":1}", NULL);
    tu_assert_stock(far, "{\"glass\":5}", NULL);
}

static void test_unreachable_storage_never_used(void **state)
{
    (void)state;
    /* unreachable: created first (lowest id) and nearest by a road pointing the wrong way. */
    long long unreachable, isolated, reachable;
    long long org = SCENE("{}", {&unreachable, "{\"glass\":1000}", 0},
                          {&isolated, "{\"glass\":1000}", 0}, {&reachable, "{\"glass\":5}", 10});
    it_create_route(STORAGE(unreachable), STORAGE(reachable), 1, false);

    TRANSFER_OK(org, "{\"glass\":20}", "{\"glass\":20}", SHIPMENTS({reachable, "glass", 5, 10}),
                "{\"glass\":15}");
    tu_assert_stock(unreachable, "{\"glass\":0}", NULL);
    tu_assert_stock(isolated, "{\"glass\":0}", NULL);
    tu_assert_pending(org, "{\"glass\":15}");
}

static void test_full_storage_skipped(void **state)
{
    (void)state;
    long long near, far;
    long long org = SCENE("{}", {&near, "{\"glass\":10}", 5}, {&far, "{\"glass\":100}", 500});

    TRANSFER_OK(org, "{\"glass\":10}", "{\"glass\":10}", SHIPMENTS({near, "glass", 10, 5}), "{}");
    TRANSFER_OK(org, "{\"glass\":30}", "{\"glass\":30}", SHIPMENTS({far, "glass", 30, 500}), "{}");
    tu_assert_stock(near, "{\"glass\":10}", NULL);
    tu_assert_stock(far, "{\"glass\":30}", NULL);
}

static void test_storage_not_accepting_type_skipped(void **state)
{
    (void)state;
    long long plastic_only, glass;
    long long org =
        SCENE("{}", {&plastic_only, "{\"plastic\":1000}", 5}, {&glass, "{\"glass\":100}", 50});

    TRANSFER_OK(org, "{\"glass\":20,\"plastic\":3}", "{\"glass\":20,\"plastic\":3}",
                SHIPMENTS({glass, "glass", 20, 50}, {plastic_only, "plastic", 3, 5}), "{}");
    tu_assert_stock(plastic_only, "{\"plastic\":3}", NULL);
    tu_assert_stock(glass, "{\"glass\":20}", NULL);
}

static void test_no_route_everything_pending(void **state)
{
    (void)state;
    long long storage; /* no road to it */
    long long org = SCENE("{}", {&storage, "{\"glass\":100,\"plastic\":100}", 0});

    TRANSFER_OK(org, "{\"glass\":20,\"plastic\":5}", "{\"glass\":20,\"plastic\":5}", NO_SHIPMENTS,
                "{\"glass\":20,\"plastic\":5}");
    /* Pending accumulates; a zero amount is received as nothing. */
    TRANSFER_OK(org, "{\"glass\":1,\"bio\":0}", "{\"glass\":1}", NO_SHIPMENTS,
                "{\"glass\":21,\"plastic\":5}");
    tu_assert_pending(org, "{\"glass\":21,\"plastic\":5}");
    tu_assert_stock(storage, "{\"glass\":0,\"plastic\":0}", NULL);

    /* The transfers are in the ledger even though nothing moved. */
    ASSERT_LEDGER(org, 2, NULL);
}

static void test_empty_waste_dispatches_pending(void **state)
{
    (void)state;
    long long org = new_org("{}");
    TRANSFER_OK(org, "{\"glass\":15}", "{\"glass\":15}", NO_SHIPMENTS, "{\"glass\":15}");

    /* Nothing to place yet: waste {}, a zero amount and an empty body receive and ship
     * nothing, so nothing is recorded (docs/design.md, "Transfers": 200, "id": null). */
    NOTHING_RECORDED(org, "{\"waste\":{}}", "{\"glass\":15}");
    NOTHING_RECORDED(org, "{\"waste\":{\"glass\":0}}", "{\"glass\":15}");
    NOTHING_RECORDED(org, "{}", "{\"glass\":15}");
    ASSERT_LEDGER(org, 1, NULL);

    /* Room appears. Whether the automatic dispatch or this request gets there first, the
     * request dispatches all pending waste: afterwards nothing is pending, and the 15 kg were
     * shipped exactly once. */
    long long storage = new_storage("{\"glass\":100}");
    road(org, storage, 25);
    it_response *response = transfer(org, "{}");
    if (response->status == 200) {
        /* The dispatcher was first: nothing was left to ship, and nothing was recorded. */
        assert_true(cJSON_IsNull(tu_member(response->json, "id")));
        tu_assert_json_at(__FILE__, __LINE__, tu_member(response->json, "shipments"), "[]");
        tu_assert_json_at(__FILE__, __LINE__, tu_member(response->json, "pending"), "{}");
    } else {
        EXPECT_STATUS(response, 201);
        ASSERT_TRANSFER(response->json, org, "request", "{}", SHIPMENTS({storage, "glass", 15, 25}),
                        "{}");
    }
    it_response_free(response);
    tu_assert_pending(org, "{}");
    tu_assert_stock(storage, "{\"glass\":15}", NULL);

    it_response *ledger = ledger_of(org);
    long long shipped = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, tu_member(ledger->json, "items"))
    {
        const cJSON *shipment;
        cJSON_ArrayForEach(shipment, tu_member(item, "shipments"))
        {
            shipped += it_json_int(shipment, "amount");
        }
    }
    assert_int_equal(shipped, 15);
    it_response_free(ledger);
}

static void test_on_site_capacity(void **state)
{
    (void)state;
    /* No storage reachable: everything stays on site, limited by capacity.glass = 10. */
    long long org = new_org("{\"glass\":10}");
    char path[256];
    snprintf(path, sizeof path, "/v1/organizations/%lld/transfers", org);

    char *before = it_db_fingerprint();
    EXPECT_REJECTED("POST", path, "{\"waste\":{\"glass\":11}}", 409, NULL);
    ASSERT_UNCHANGED(before);
    tu_assert_pending(org, "{}");

    TRANSFER_OK(org, "{\"glass\":10}", "{\"glass\":10}", NO_SHIPMENTS, "{\"glass\":10}");
    before = it_db_fingerprint();
    EXPECT_REJECTED("POST", path, "{\"waste\":{\"glass\":1}}", 409, NULL);
    /* The whole request is refused, also the part that would have fitted. */
    EXPECT_REJECTED("POST", path, "{\"waste\":{\"glass\":1,\"plastic\":5}}", 409, NULL);
    ASSERT_UNCHANGED(before);

    /* A type absent from capacity has no on-site limit; pending at the limit is fine. */
    TRANSFER_OK(org, "{\"plastic\":1000000}", "{\"plastic\":1000000}", NO_SHIPMENTS,
                "{\"glass\":10,\"plastic\":1000000}");
    NOTHING_RECORDED(org, "{\"waste\":{}}", "{\"glass\":10,\"plastic\":1000000}");
    tu_assert_pending(org, "{\"glass\":10,\"plastic\":1000000}");

    /* The limit applies to what is left after dispatch, not to what is received. */
    long long storage;
    long long shipper = SCENE("{\"glass\":10}", {&storage, "{\"glass\":5}", 10});
    TRANSFER_OK(shipper, "{\"glass\":15}", "{\"glass\":15}", SHIPMENTS({storage, "glass", 5, 10}),
                "{\"glass\":10}");
    before = it_db_fingerprint();
    EXPECT_REJECTED("POST", tu_fmt("/v1/organizations/%lld/transfers", shipper),
                    "{\"waste\":{\"glass\":1}}", 409, NULL);
    ASSERT_UNCHANGED(before);
    tu_assert_pending(shipper, "{\"glass\":10}");
    tu_assert_stock(storage, "{\"glass\":5}", NULL);
}

static void test_waste_validation(void **state)
{
    (void)state;
    long long storage;
    long long org = SCENE("{}", {&storage, "{\"glass\":100}", 10});
    char path[256];
    snprintf(path, sizeof path, "/v1/organizations/%lld/transfers", org);

    char *before = it_db_fingerprint();
    EXPECT_REJECTED("POST", path, "{\"waste\":{\"metalx\":5}}", 422, "waste.metalx");
    EXPECT_REJECTED("POST", path, "{\"waste\":{\"glass\":5,\"metalx\":5}}", 422, "waste.metalx");
    EXPECT_REJECTED("POST", path, "{\"waste\":{\"Glass\":5}}", 422, "waste.Glass");
    static const char *const bad_amounts[] = {
        "-1", "1.5", "\"5\"", "true", "null", "1e13", "1000000000001", "1e999", "[5]", "{}",
    };
    for (size_t i = 0; i < sizeof bad_amounts / sizeof bad_amounts[0]; i++)
        EXPECT_REJECTED("POST", path, tu_fmt("{\"waste\":{\"glass\":%s}}", bad_amounts[i]), 422,
                        "waste.glass");
    EXPECT_REJECTED("POST", path, "{\"waste\":[1]}", 422, "waste");
    EXPECT_REJECTED("POST", path, "{\"waste\":5}", 422, "waste");
    EXPECT_REJECTED("POST", path, "{\"waste\":{\"glass\":5},\"colour\":1}", 422, "colour");
    EXPECT_REJECTED("POST", path, "{\"waste\":{\"glass\":5}", 400, NULL);
    EXPECT_REJECTED("POST", tu_fmt("%s?dry_run=yes", path), "{\"waste\":{\"glass\":5}}", 422,
                    "dry_run");
    ASSERT_UNCHANGED(before);
    tu_assert_stock(storage, "{\"glass\":0}", NULL);

    /* 1.0 is the integer 1. */
    TRANSFER_OK(org, "{\"glass\":1.0}", "{\"glass\":1}", SHIPMENTS({storage, "glass", 1, 10}),
                "{}");
}

static void test_unknown_org(void **state)
{
    (void)state;
    char *before = it_db_fingerprint();
    EXPECT_REJECTED("POST", tu_fmt("/v1/organizations/%lld/transfers", UNKNOWN_ID),
                    "{\"waste\":{\"glass\":1}}", 404, NULL);
    EXPECT_REJECTED("POST", tu_fmt("/v1/organizations/%lld/transfers?dry_run=true", UNKNOWN_ID),
                    "{\"waste\":{\"glass\":1}}", 404, NULL);
    EXPECT_REJECTED("POST", "/v1/organizations/0/transfers", "{\"waste\":{\"glass\":1}}", 404,
                    NULL);
    EXPECT_REJECTED("POST", "/v1/organizations/abc/transfers", "{\"waste\":{\"glass\":1}}", 404,
                    NULL);
    EXPECT_REJECTED("GET", tu_fmt("/v1/transfers/%lld", UNKNOWN_ID), NULL, 404, NULL);
    EXPECT_REJECTED("GET", "/v1/transfers/abc", NULL, 404, NULL);
    ASSERT_UNCHANGED(before);
}

/* ---- the ledger ---- */

static void test_list_filters_and_pagination(void **state)
{
    (void)state;
    long long s1, s2;
    long long org_a = SCENE("{}", {&s1, "{\"glass\":100,\"plastic\":100}", 10});
    long long org_b = SCENE("{}", {&s2, "{\"glass\":100}", 10});

    long long t1 = TRANSFER_OK(org_a, "{\"glass\":10}", "{\"glass\":10}",
                               SHIPMENTS({s1, "glass", 10, 10}), "{}");
    long long t2 = TRANSFER_OK(org_a, "{\"plastic\":5}", "{\"plastic\":5}",
                               SHIPMENTS({s1, "plastic", 5, 10}), "{}");
    long long t3 =
        TRANSFER_OK(org_b, "{\"glass\":7}", "{\"glass\":7}", SHIPMENTS({s2, "glass", 7, 10}), "{}");
    long long t4 = TRANSFER_OK(org_a, "{\"glass\":3,\"plastic\":2}", "{\"glass\":3,\"plastic\":2}",
                               SHIPMENTS({s1, "glass", 3, 10}, {s1, "plastic", 2, 10}), "{}");

    ASSERT_TRANSFER_IDS(tu_fmt("organization_id=%lld", org_a), "[%lld,%lld,%lld]", t1, t2, t4);
    ASSERT_TRANSFER_IDS(tu_fmt("organization_id=%lld", org_b), "[%lld]", t3);
    ASSERT_TRANSFER_IDS(tu_fmt("storage_id=%lld", s1), "[%lld,%lld,%lld]", t1, t2, t4);
    ASSERT_TRANSFER_IDS(tu_fmt("storage_id=%lld", s2), "[%lld]", t3);
    ASSERT_TRANSFER_IDS(tu_fmt("organization_id=%lld&waste_type=plastic", org_a), "[%lld,%lld]", t2,
                        t4);
    ASSERT_TRANSFER_IDS(tu_fmt("organization_id=%lld&waste_type=glass", org_a), "[%lld,%lld]", t1,
                        t4);
    ASSERT_TRANSFER_IDS(tu_fmt("storage_id=%lld&waste_type=glass", s2), "[%lld]", t3);
    ASSERT_TRANSFER_IDS(tu_fmt("storage_id=%lld&waste_type=plastic", s2), "[]");
    ASSERT_TRANSFER_IDS(tu_fmt("organization_id=%lld&storage_id=%lld", org_b, s1), "[]");
    ASSERT_TRANSFER_IDS(tu_fmt("organization_id=%lld&storage_id=%lld", org_a, s1),
                        "[%lld,%lld,%lld]", t1, t2, t4);

    /* Pages of two. */
    it_response *page = it_get("/v1/transfers?organization_id=%lld&limit=2", org_a);
    EXPECT_STATUS(page, 200);
    const cJSON *items = tu_member(page->json, "items");
    assert_int_equal(cJSON_GetArraySize(items), 2);
    assert_int_equal(it_json_int(cJSON_GetArrayItem(items, 0), "id"), t1);
    assert_int_equal(it_json_int(cJSON_GetArrayItem(items, 1), "id"), t2);
    const cJSON *cursor = tu_member(page->json, "next_cursor");
    assert_true(cJSON_IsString(cursor));
    char *escaped = it_url_escape(cursor->valuestring);
    it_response_free(page);
    page = it_get("/v1/transfers?organization_id=%lld&limit=2&cursor=%s", org_a, escaped);
    free(escaped);
    EXPECT_STATUS(page, 200);
    items = tu_member(page->json, "items");
    assert_int_equal(cJSON_GetArraySize(items), 1);
    assert_int_equal(it_json_int(cJSON_GetArrayItem(items, 0), "id"), t4);
    ASSERT_JSON(tu_member(page->json, "next_cursor"), "null");
    ASSERT_TRANSFER(cJSON_GetArrayItem(items, 0), org_a, "request", "{\"glass\":3,\"plastic\":2}",
                    SHIPMENTS({s1, "glass", 3, 10}, {s1, "plastic", 2, 10}), "{}");
    it_response_free(page);

    /* The unfiltered list is ascending by id and holds all four. */
    it_response *all = it_get("/v1/transfers?limit=1000");
    EXPECT_STATUS(all, 200);
    long long previous = 0;
    int found = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, tu_member(all->json, "items"))
    {
        long long id = it_json_int(item, "id");
        assert_true(id > previous);
        previous = id;
        found += id == t1 || id == t2 || id == t3 || id == t4;
    }
    assert_int_equal(found, 4);
    it_response_free(all);

    EXPECT_REJECTED("GET", "/v1/transfers?limit=0", NULL, 422, "limit");
    EXPECT_REJECTED("GET", "/v1/transfers?limit=1001", NULL, 422, "limit");
    EXPECT_REJECTED("GET", "/v1/transfers?limit=ten", NULL, 422, "limit");
    EXPECT_REJECTED("GET", "/v1/transfers?cursor=bogus", NULL, 422, "cursor");
}

static void test_get_equals_post(void **state)
{
    (void)state;
    long long s1, s2;
    long long org = SCENE("{\"plastic\":100}", {&s1, "{\"glass\":5,\"plastic\":50}", 70},
                          {&s2, "{\"glass\":50}", 80});

    it_response *posted = transfer(org, "{\"glass\":12,\"plastic\":60,\"bio\":4}");
    EXPECT_STATUS(posted, 201);
    ASSERT_TRANSFER(posted->json, org, "request", "{\"glass\":12,\"plastic\":60,\"bio\":4}",
                    SHIPMENTS({s1, "glass", 5, 70}, {s2, "glass", 7, 80}, {s1, "plastic", 50, 70}),
                    "{\"plastic\":10,\"bio\":4}");
    ASSERT_READS_BACK(tu_fmt("/v1/transfers/%lld", it_json_int(posted->json, "id")), posted->json);

    ASSERT_LEDGER(org, 1, posted->json);
    it_response_free(posted);
}

/* ---- automatic dispatch when room appears ---- */

#define AUTO_DEADLINE_SECONDS 1.5

/* Asserts the organization's automatic transfers, oldest first: count of them, and the last. */
#define ASSERT_LAST_AUTO(org_id, count, ...)                                                       \
    do {                                                                                           \
        it_response *ledger_ = ledger_of(org_id);                                                  \
        cJSON *autos_ = with_trigger(ledger_, "auto");                                             \
        if (cJSON_GetArraySize(autos_) != (count))                                                 \
            fail_msg("expected %d auto transfers for organization %lld: %s", (count),              \
                     (long long)(org_id), ledger_->body);                                          \
        ASSERT_TRANSFER(cJSON_GetArrayItem(autos_, (count)-1), (org_id), "auto", "{}",             \
                        __VA_ARGS__);                                                              \
        cJSON_Delete(autos_);                                                                      \
        it_response_free(ledger_);                                                                 \
    } while (0)

/* Waits for the organization's pending to become pending after since, then asserts that its
 * count-th automatic transfer shipped ships (SHIPMENTS(...)) and left pending. */
#define AUTO_DISPATCHED(org_id, since, count, ships, pending)                                      \
    do {                                                                                           \
        WAIT_PENDING((org_id), (pending), (since), AUTO_DEADLINE_SECONDS);                         \
        ASSERT_LAST_AUTO((org_id), (count), ships, (pending));                                     \
    } while (0)

/* A change that may make room: method on path with body must answer 200 with member equal
 * to expected (JSON text); returns when it was answered, the start of the automatic
 * dispatch's deadline. */
#define CHANGED(method, path, body, member, expected)                                              \
    changed_at(__FILE__, __LINE__, (method), (path), (body), (member), (expected))
static double changed_at(const char *file, int line, const char *method, const char *path,
                         const char *body, const char *member, const char *expected)
{
    it_response *changed = it_request(method, path, body, NULL);
    tu_expect_status_at(file, line, changed, 200);
    double since = tu_now_seconds();
    tu_assert_json_at(file, line, tu_member(changed->json, member), "%s", expected);
    it_response_free(changed);
    return since;
}

/* The storage unloaded of waste (JSON), leaving stock; returns when it was answered. */
#define UNLOADED(storage_id, waste, stock)                                                         \
    CHANGED("POST", tu_fmt("/v1/storages/%lld/unload", (storage_id)), (waste), "stock", (stock))

static void test_auto_on_capacity_raise(void **state)
{
    (void)state;
    long long storage;
    long long org = SCENE("{}", {&storage, "{\"glass\":10}", 15});
    TRANSFER_OK(org, "{\"glass\":25}", "{\"glass\":25}", SHIPMENTS({storage, "glass", 10, 15}),
                "{\"glass\":15}");

    double since = CHANGED("PATCH", tu_fmt("/v1/storages/%lld", storage),
                           "{\"capacity\":{\"glass\":30}}", "capacity", "{\"glass\":30}");
    AUTO_DISPATCHED(org, since, 1, SHIPMENTS({storage, "glass", 15, 15}), "{}");
    tu_assert_stock(storage, "{\"glass\":25}", NULL);
}

static void test_auto_on_new_storage_and_route(void **state)
{
    (void)state;
    long long org = new_org("{}");
    TRANSFER_OK(org, "{\"glass\":20}", "{\"glass\":20}", NO_SHIPMENTS, "{\"glass\":20}");

    long long storage = new_storage("{\"glass\":50}");
    road(org, storage, 40);
    double since = tu_now_seconds();

    AUTO_DISPATCHED(org, since, 1, SHIPMENTS({storage, "glass", 20, 40}), "{}");
    tu_assert_stock(storage, "{\"glass\":20}", NULL);
}

/* A shorter road alone cannot create room for the allocation rule (a reachable storage with
 * room would already have taken the waste); a road change that opens a way can. The PATCH
 * both shortens the road and makes it two-way; the shipment must use the new distance. */
static void test_auto_on_route_change(void **state)
{
    (void)state;
    long long near, beyond; /* beyond: no road from the organization */
    long long org = SCENE("{}", {&near, "{\"glass\":5}", 10}, {&beyond, "{\"glass\":100}", 0});
    long long back_road = it_create_route(STORAGE(beyond), STORAGE(near), 900, false);
    TRANSFER_OK(org, "{\"glass\":25}", "{\"glass\":25}", SHIPMENTS({near, "glass", 5, 10}),
                "{\"glass\":20}");

    double since = CHANGED("PATCH", tu_fmt("/v1/routes/%lld", back_road),
                           "{\"distance_m\":30,\"two_way\":true}", "distance_m", "30");
    AUTO_DISPATCHED(org, since, 1, SHIPMENTS({beyond, "glass", 20, 40}), "{}");
    tu_assert_stock(beyond, "{\"glass\":20}", NULL);
}

/* A route added to a storage that already exists (not newly created). */
static void test_auto_on_route_added(void **state)
{
    (void)state;
    long long storage, other; /* no roads yet */
    long long org = SCENE("{}", {&storage, "{\"glass\":50}", 0}, {&other, "{\"glass\":50}", 0});
    TRANSFER_OK(org, "{\"glass\":60}", "{\"glass\":60}", NO_SHIPMENTS, "{\"glass\":60}");

    road(org, storage, 35);
    double since = tu_now_seconds();
    AUTO_DISPATCHED(org, since, 1, SHIPMENTS({storage, "glass", 50, 35}), "{\"glass\":10}");

    it_create_route(STORAGE(storage), STORAGE(other), 5, false);
    since = tu_now_seconds();
    AUTO_DISPATCHED(org, since, 2, SHIPMENTS({other, "glass", 10, 40}), "{}");
}

static void test_auto_on_unload(void **state)
{
    (void)state;
    long long storage;
    long long org = SCENE("{}", {&storage, "{\"glass\":10}", 5});
    TRANSFER_OK(org, "{\"glass\":18}", "{\"glass\":18}", SHIPMENTS({storage, "glass", 10, 5}),
                "{\"glass\":8}");

    double since = UNLOADED(storage, "{\"glass\":6}", "{\"glass\":4}");
    AUTO_DISPATCHED(org, since, 1, SHIPMENTS({storage, "glass", 6, 5}), "{\"glass\":2}");
    tu_assert_stock(storage, "{\"glass\":10}", NULL);

    since = UNLOADED(storage, "{\"glass\":10}", "{\"glass\":0}");
    AUTO_DISPATCHED(org, since, 2, SHIPMENTS({storage, "glass", 2, 5}), "{}");
    tu_assert_stock(storage, "{\"glass\":2}", NULL);

    /* More than the stock: 409, nothing changes. */
    char *before = it_db_fingerprint();
    EXPECT_REJECTED("POST", tu_fmt("/v1/storages/%lld/unload", storage), "{\"glass\":3}", 409,
                    NULL);
    ASSERT_UNCHANGED(before);
}

static void test_auto_oldest_pending_first(void **state)
{
    (void)state;
    /* newer is created first (lower id) and is nearer: neither may decide the order. */
    long long storage;
    long long newer = SCENE("{}", {&storage, "{\"glass\":10}", 5});
    long long older = new_org("{}");
    road(older, storage, 50);

    TRANSFER_OK(older, "{\"glass\":15}", "{\"glass\":15}", SHIPMENTS({storage, "glass", 10, 50}),
                "{\"glass\":5}");
    tu_sleep_ms(300);
    TRANSFER_OK(newer, "{\"glass\":5}", "{\"glass\":5}", NO_SHIPMENTS, "{\"glass\":5}");

    /* Room for one of them. */
    double since = UNLOADED(storage, "{\"glass\":5}", "{\"glass\":5}");
    WAIT_PENDING(older, "{}", since, AUTO_DEADLINE_SECONDS);
    tu_sleep_ms(300);
    tu_assert_pending(newer, "{\"glass\":5}");
    tu_assert_stock(storage, "{\"glass\":10}", NULL);
    ASSERT_LAST_AUTO(older, 1, SHIPMENTS({storage, "glass", 5, 50}), "{}");

    /* Then the next one. */
    since = UNLOADED(storage, "{\"glass\":5}", "{\"glass\":5}");
    AUTO_DISPATCHED(newer, since, 1, SHIPMENTS({storage, "glass", 5, 5}), "{}");
}

/* ---- Idempotency-Key ---- */

static void test_idempotent_replay(void **state)
{
    (void)state;
    long long storage;
    long long org = SCENE("{}", {&storage, "{\"glass\":100}", 12});
    long long other_org = new_org("{}");
    road(other_org, storage, 12);
    char *key = it_unique_name("transfer-key");
    char key_header[256];
    snprintf(key_header, sizeof key_header, "Idempotency-Key: %s", key);
    const char *const headers[] = {key_header, NULL};
    char path[256];
    snprintf(path, sizeof path, "/v1/organizations/%lld/transfers", org);
    const char *body = "{\"waste\":{\"glass\":7}}";

    it_response *first = it_request("POST", path, body, headers);
    EXPECT_STATUS(first, 201);
    ASSERT_TRANSFER(first->json, org, "request", "{\"glass\":7}",
                    SHIPMENTS({storage, "glass", 7, 12}), "{}");
    assert_null(it_header(first, "Idempotent-Replayed"));

    char *before = it_db_fingerprint();
    for (int i = 0; i < 2; i++) {
        it_response *replay = it_request("POST", path, body, headers);
        EXPECT_STATUS(replay, 201);
        assert_string_equal(replay->body, first->body);
        const char *replayed = EXPECT_HEADER(replay, "Idempotent-Replayed");
        assert_string_equal(replayed, "true");
        it_response_free(replay);
    }

    /* The same key with another body, or on another path: 422, nothing written. */
    it_response *reused = it_request("POST", path, "{\"waste\":{\"glass\":8}}", headers);
    EXPECT_STATUS(reused, 422);
    EXPECT_PROBLEM(reused, 422, NULL);
    ASSERT_JSON(tu_member(reused->json, "type"),
                "\"https://wasteflow.dev/problems/idempotency-key-reused\"");
    it_response_free(reused);
    reused =
        it_request("POST", tu_fmt("/v1/organizations/%lld/transfers", other_org), body, headers);
    EXPECT_STATUS(reused, 422);
    ASSERT_JSON(tu_member(reused->json, "type"),
                "\"https://wasteflow.dev/problems/idempotency-key-reused\"");
    it_response_free(reused);
    ASSERT_UNCHANGED(before);

    /* One ledger row, one stock change. */
    ASSERT_LEDGER(org, 1, first->json);
    tu_assert_stock(storage, "{\"glass\":7}", NULL);

    /* Without the key the same body is a new transfer. */
    TRANSFER_OK(org, "{\"glass\":7}", "{\"glass\":7}", SHIPMENTS({storage, "glass", 7, 12}), "{}");
    tu_assert_stock(storage, "{\"glass\":14}", NULL);
    it_response_free(first);
    free(key);
}

/* ---- the running totals and the plan of the writing statement ---- */

static long long generated(const char *type)
{
    return it_sql_int("SELECT coalesce(sum(generated), 0)::bigint FROM waste_totals "
                      "WHERE waste_type = '%s'",
                      type);
}

/* The transfer statement adds what it received to the totals itself, once, whichever of its
 * two forms runs; a ledger row written by hand is still counted, by the trigger. */
static void test_totals_counted_once(void **state)
{
    (void)state;
    long long storage;
    long long org = SCENE("{}", {&storage, "{\"bio\":10}", 5});
    long long before = generated("bio");

    /* Everything placed: no pending amount changes (ST_TR_RECORD). */
    TRANSFER_OK(org, "{\"bio\":4}", "{\"bio\":4}", SHIPMENTS({storage, "bio", 4, 5}), "{}");
    assert_int_equal(generated("bio"), before + 4);
    /* 3 kg stay pending (ST_TR_RECORD_PENDING). */
    TRANSFER_OK(org, "{\"bio\":9}", "{\"bio\":9}", SHIPMENTS({storage, "bio", 6, 5}),
                "{\"bio\":3}");
    assert_int_equal(generated("bio"), before + 13);

    /* By hand, as psql or a restore would: 2 kg more received, 5 pending. */
    it_sql_exec("BEGIN; INSERT INTO transfers (organization_id, trigger, received, pending, "
                "actor) VALUES (%lld, 'request', '{\"bio\":2}', '{\"bio\":5}', 'by-hand'); "
                "UPDATE organization_waste SET pending = 5 WHERE organization_id = %lld AND "
                "waste_type = 'bio'; COMMIT",
                org, org);
    assert_int_equal(generated("bio"), before + 15);
    tu_assert_pending(org, "{\"bio\":5}");
    char *audit = it_run_audit();
    assert_string_equal(audit, "");
    free(audit);
}

/* The generic plan of the writing statement updates each stock row it was given by its
 * ctid, after one key probe a pair: never a scan of the whole storage_waste table (which a
 * join with the unnest of the pairs is planned as, for the generic plan's guessed 10). */
static void test_record_plan_updates_stock_by_row(void **state)
{
    (void)state;
    /* At the size the claim is about: on the handful of rows the earlier tests leave, a
     * sequential scan is as cheap as any, and the planner may take either. */
    it_sql_exec("WITH s AS (INSERT INTO storages (name) SELECT 'plan-' || i FROM "
                "generate_series(1, 5000) i RETURNING id) INSERT INTO storage_waste "
                "(storage_id, waste_type, capacity) SELECT id, 'glass', 1 FROM s");
    it_sql_exec("ANALYZE storage_waste");
    PGconn *db = it_db();
    static const int statements[] = {ST_TR_RECORD, ST_TR_RECORD_PENDING};
    PQclear(PQexec(db, "SET plan_cache_mode = force_generic_plan"));
    for (size_t i = 0; i < sizeof statements / sizeof statements[0]; i++) {
        const db_statement *st = &engine_statements[statements[i]];
        PGresult *prepared = PQprepare(db, "tr_record_plan", st->sql, 0, NULL);
        assert_int_equal(PQresultStatus(prepared), PGRES_COMMAND_OK);
        PQclear(prepared);
        char explain[512] = "EXPLAIN (COSTS OFF) EXECUTE tr_record_plan(NULL";
        for (int n = 1; n < statement_param_count(statements[i]); n++) {
            strcat(explain, ", NULL");
        }
        strcat(explain, ")");
        PGresult *plan = PQexec(db, explain);
        assert_int_equal(PQresultStatus(plan), PGRES_TUPLES_OK);
        bool by_row = false;
        for (int row = 0; row < PQntuples(plan); row++) {
            const char *line = PQgetvalue(plan, row, 0);
            assert_null(strstr(line, "Seq Scan on storage_waste w"));
            by_row = by_row || strstr(line, "Tid Scan on storage_waste w") != NULL;
        }
        assert_true(by_row);
        PQclear(plan);
        PQclear(PQexec(db, "DEALLOCATE tr_record_plan"));
    }
    PQclear(PQexec(db, "RESET plan_cache_mode"));
}

RUNNER_MAIN(tu_setup, tu_teardown_any_exit,
            {
                cmocka_unit_test(test_single_storage_placement),
                cmocka_unit_test(test_split_across_three_storages),
                cmocka_unit_test(test_split_across_forty_storages),
                cmocka_unit_test(test_unreachable_storage_never_used),
                cmocka_unit_test(test_full_storage_skipped),
                cmocka_unit_test(test_storage_not_accepting_type_skipped),
                cmocka_unit_test(test_no_route_everything_pending),
                cmocka_unit_test(test_empty_waste_dispatches_pending),
                cmocka_unit_test(test_on_site_capacity),
                cmocka_unit_test(test_waste_validation),
                cmocka_unit_test(test_unknown_org),
                cmocka_unit_test(test_list_filters_and_pagination),
                cmocka_unit_test(test_get_equals_post),
                cmocka_unit_test(test_auto_on_capacity_raise),
                cmocka_unit_test(test_auto_on_new_storage_and_route),
                cmocka_unit_test(test_auto_on_route_change),
                cmocka_unit_test(test_auto_on_route_added),
                cmocka_unit_test(test_auto_on_unload),
                cmocka_unit_test(test_auto_oldest_pending_first),
                cmocka_unit_test(test_idempotent_replay),
                cmocka_unit_test(test_totals_counted_once),
                cmocka_unit_test(test_record_plan_updates_stock_by_row),
            })
