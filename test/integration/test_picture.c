/* The picture (docs/design.md, "The picture, as data") end to end: both
 * organizations hand over everything twice, a storage unloads, the pending rest is placed
 * automatically; shipments, stocks, stats and the audit are checked to the kilogram. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "harness.h"
#include "runner.h"
#include "testutil.h"

#include <cmocka.h>

/* A dry run answers 200 with what the request would do and writes nothing. */
#define ASSERT_DRY_RUN(org_id, body, received, ...)                                                \
    assert_dry_run_at(__FILE__, __LINE__, (org_id), (body), (received), __VA_ARGS__)
static void assert_dry_run_at(const char *file, int line, long long org_id, const char *body,
                              const char *received, const struct tu_ship *ships, size_t ship_count,
                              const char *pending)
{
    char *before = it_db_fingerprint();
    it_response *dry = it_request(
        "POST", tu_fmt("/v1/organizations/%lld/transfers?dry_run=true", org_id), body, NULL);
    tu_expect_status_at(file, line, dry, 200);
    tu_assert_json_at(file, line, tu_member(dry->json, "organization_id"), "%lld", org_id);
    tu_assert_json_at(file, line, tu_member(dry->json, "received"), "%s", received);
    tu_assert_json_at(file, line, tu_member(dry->json, "shipments"), "%s",
                      tu_shipments_json(ships, ship_count));
    tu_assert_json_at(file, line, tu_member(dry->json, "pending"), "%s", pending);
    it_response_free(dry);
    char *after = it_db_fingerprint();
    if (strcmp(before, after) != 0) {
        print_error("dry run of %s changed the database\n", body);
        _fail(file, line);
    }
    free(before);
    free(after);
}

/* ---- the picture ---- */

#define OO1_WASTE    "{\"waste\":{\"plastic\":10,\"glass\":50,\"bio\":50}}"
#define OO2_WASTE    "{\"waste\":{\"plastic\":60,\"glass\":20,\"bio\":50}}"
#define OO1_RECEIVED "{\"plastic\":10,\"glass\":50,\"bio\":50}"
#define OO2_RECEIVED "{\"plastic\":60,\"glass\":20,\"bio\":50}"

static tu_picture picture;

static it_response *hand_over(long long org_id, const char *body)
{
    return it_request("POST", tu_fmt("/v1/organizations/%lld/transfers", org_id), body, NULL);
}

/* Each storage's stock and remaining room after the first round and at the end (МНО8 and МНО9
 * are checked after the first round only: nothing reaches them). */
enum { AFTER_ROUND_1, AT_THE_END };
static const struct {
    int mno;
    const char *stock[2];
    const char *remaining[2];
} STOCKS[] = {
    {1,
     {"{\"glass\":50,\"plastic\":0}", "{\"glass\":100,\"plastic\":0}"},
     {"{\"glass\":250,\"plastic\":100}", "{\"glass\":200,\"plastic\":100}"}},
    {2,
     {"{\"plastic\":10,\"bio\":50}", "{\"plastic\":20,\"bio\":100}"},
     {"{\"plastic\":40,\"bio\":100}", "{\"plastic\":30,\"bio\":50}"}},
    {3,
     {"{\"plastic\":10,\"bio\":50}", "{\"plastic\":10,\"bio\":100}"},
     {"{\"plastic\":0,\"bio\":200}", "{\"plastic\":0,\"bio\":150}"}},
    {5,
     {"{\"glass\":0,\"bio\":0}", "{\"glass\":0,\"bio\":0}"},
     {"{\"glass\":220,\"bio\":25}", "{\"glass\":220,\"bio\":25}"}},
    {6,
     {"{\"glass\":20,\"bio\":0}", "{\"glass\":40,\"bio\":0}"},
     {"{\"glass\":80,\"bio\":150}", "{\"glass\":60,\"bio\":150}"}},
    {7,
     {"{\"plastic\":50,\"bio\":0}", "{\"plastic\":100,\"bio\":0}"},
     {"{\"plastic\":50,\"bio\":250}", "{\"plastic\":0,\"bio\":250}"}},
    {8,
     {"{\"glass\":0,\"plastic\":0,\"bio\":0}", NULL},
     {"{\"glass\":35,\"plastic\":25,\"bio\":52}", NULL}},
    {9, {"{\"plastic\":0,\"bio\":0}", NULL}, {"{\"plastic\":250,\"bio\":20}", NULL}},
};

static void assert_stocks(const long long *s, int when)
{
    for (size_t i = 0; i < sizeof STOCKS / sizeof STOCKS[0]; i++) {
        if (STOCKS[i].stock[when] != NULL) {
            tu_assert_stock(s[STOCKS[i].mno], STOCKS[i].stock[when], STOCKS[i].remaining[when]);
        }
    }
}

/* Both organizations hand over everything twice; МНО3 unloads; the rest goes automatically. */
static void test_picture_scenario(void **state)
{
    (void)state;
    tu_build_picture(&picture);
    const long long *s = picture.mno;

    /* Round 1, ОО1. Shipments are ordered by type code, then distance, then storage id.
     * bio: МНО2 (50 m) has room for all 50. glass: МНО1 and МНО5 tie at 100 m, МНО1 has the
     * lower id. plastic: МНО2 (50 m). */
#define OO1_FIRST_ROUND                                                                            \
    SHIPMENTS({s[2], "bio", 50, 50}, {s[1], "glass", 50, 100}, {s[2], "plastic", 10, 50})
    ASSERT_DRY_RUN(picture.oo1, OO1_WASTE, OO1_RECEIVED, OO1_FIRST_ROUND, "{}");
    it_response *transfer = hand_over(picture.oo1, OO1_WASTE);
    EXPECT_STATUS(transfer, 201);
    ASSERT_TRANSFER(transfer->json, picture.oo1, "request", OO1_RECEIVED, OO1_FIRST_ROUND, "{}");
    const char *location = EXPECT_HEADER(transfer, "Location");
    assert_string_equal(location, tu_fmt("/v1/transfers/%lld", it_json_int(transfer->json, "id")));
    it_response_free(transfer);
    tu_assert_pending(picture.oo1, "{}");

    /* Round 1, ОО2 reaches only МНО3 (50), МНО7 (100) and МНО6 (650).
     * bio → МНО3; glass → МНО6, the only glass storage it reaches; plastic 60 → МНО3 fills
     * its 10, the other 50 go to МНО7. */
#define OO2_FIRST_ROUND                                                                            \
    SHIPMENTS({s[3], "bio", 50, 50}, {s[6], "glass", 20, 650}, {s[3], "plastic", 10, 50},          \
              {s[7], "plastic", 50, 100})
    ASSERT_DRY_RUN(picture.oo2, OO2_WASTE, OO2_RECEIVED, OO2_FIRST_ROUND, "{}");
    transfer = hand_over(picture.oo2, OO2_WASTE);
    EXPECT_STATUS(transfer, 201);
    ASSERT_TRANSFER(transfer->json, picture.oo2, "request", OO2_RECEIVED, OO2_FIRST_ROUND, "{}");
    it_response_free(transfer);
    tu_assert_pending(picture.oo2, "{}");

    assert_stocks(s, AFTER_ROUND_1);

    /* Round 2, ОО1: the same nearest storages still have room (МНО2 bio 100, plastic 40;
     * МНО1 glass 250), so the same shipments again. */
    transfer = hand_over(picture.oo1, OO1_WASTE);
    EXPECT_STATUS(transfer, 201);
    ASSERT_TRANSFER(transfer->json, picture.oo1, "request", OO1_RECEIVED, OO1_FIRST_ROUND, "{}");
    it_response_free(transfer);

    /* Round 2, ОО2: bio → МНО3 (room 200); glass → МНО6 (room 80); plastic: МНО3 is full
     * (10/10), МНО7 takes its last 50, МНО6 takes no plastic: 10 stay pending (within ОО2's
     * on-site plastic capacity of 60). */
    transfer = hand_over(picture.oo2, OO2_WASTE);
    EXPECT_STATUS(transfer, 201);
    ASSERT_TRANSFER(
        transfer->json, picture.oo2, "request", OO2_RECEIVED,
        SHIPMENTS({s[3], "bio", 50, 50}, {s[6], "glass", 20, 650}, {s[7], "plastic", 50, 100}),
        "{\"plastic\":10}");
    it_response_free(transfer);
    tu_assert_pending(picture.oo2, "{\"plastic\":10}");
    tu_assert_pending(picture.oo1, "{}");
    tu_assert_stock(s[3], "{\"plastic\":10,\"bio\":100}", "{\"plastic\":0,\"bio\":150}");
    tu_assert_stock(s[7], "{\"plastic\":100,\"bio\":0}", "{\"plastic\":0,\"bio\":250}");

    /* МНО3 ships its plastic out: the pending 10 must follow automatically
     * (the unload wakes the dispatcher; tu_patience_ms is only a budget for the wait). */
    double unloaded_at = tu_now_seconds();
    it_response *unloaded = it_post(tu_fmt("/v1/storages/%lld/unload", s[3]), "{\"plastic\":10}");
    EXPECT_STATUS(unloaded, 200);
    assert_int_equal(it_json_int(unloaded->json, "id"), s[3]);
    ASSERT_JSON(tu_member(unloaded->json, "capacity"), "%s", tu_picture_capacity[3]);
    ASSERT_JSON(tu_member(unloaded->json, "stock"), "{\"plastic\":0,\"bio\":100}");
    ASSERT_JSON(tu_member(unloaded->json, "remaining"), "{\"plastic\":10,\"bio\":150}");
    it_response_free(unloaded);

    bool placed = false;
    while (!placed && tu_now_seconds() - unloaded_at < tu_patience_ms() / 1000.0) {
        it_response *org = it_get("/v1/organizations/%lld", picture.oo2);
        EXPECT_STATUS(org, 200);
        cJSON *empty = cJSON_CreateObject();
        placed = cJSON_Compare(tu_member(org->json, "pending"), empty, true);
        cJSON_Delete(empty);
        it_response_free(org);
        if (!placed)
            tu_sleep_ms(100);
    }
    if (!placed)
        fail_msg("ОО2's pending plastic 10 was not placed after the unload");

    it_response *list = it_get("/v1/transfers?organization_id=%lld", picture.oo2);
    EXPECT_STATUS(list, 200);
    const cJSON *items = tu_member(list->json, "items");
    assert_int_equal(cJSON_GetArraySize(items), 3);
    ASSERT_JSON(tu_member(list->json, "next_cursor"), "null");
    ASSERT_TRANSFER(cJSON_GetArrayItem(items, 0), picture.oo2, "request", OO2_RECEIVED,
                    OO2_FIRST_ROUND, "{}");
    ASSERT_TRANSFER(cJSON_GetArrayItem(items, 2), picture.oo2, "auto", "{}",
                    SHIPMENTS({s[3], "plastic", 10, 50}), "{}");
    it_response_free(list);

    list = it_get("/v1/transfers?organization_id=%lld", picture.oo1);
    EXPECT_STATUS(list, 200);
    items = tu_member(list->json, "items");
    assert_int_equal(cJSON_GetArraySize(items), 2);
    ASSERT_TRANSFER(cJSON_GetArrayItem(items, 1), picture.oo1, "request", OO1_RECEIVED,
                    OO1_FIRST_ROUND, "{}");
    it_response_free(list);

    /* Final stocks. */
    assert_stocks(s, AT_THE_END);

    /* Stats. generated: plastic 2*(10+60), glass 2*(50+20), bio 2*(50+50).
     * capacity: plastic 100+50+10+100+25+250, glass 300+220+100+35,
     * bio 150+250+25+150+250+52+20. Plastic: 10 unloaded, 130 stored. Every storage takes
     * loads in at once: nothing in transit, no weighbridge variance. */
    it_response *stats = it_get("/v1/stats");
    EXPECT_STATUS(stats, 200);
    ASSERT_JSON(stats->json,
                "{\"bio\":{\"generated\":200,\"pending\":0,\"stored\":200,\"unloaded\":0,"
                "\"capacity\":897,\"remaining\":697,\"in_transit\":0,\"variance\":0},"
                "\"glass\":{\"generated\":140,\"pending\":0,\"stored\":140,\"unloaded\":0,"
                "\"capacity\":655,\"remaining\":515,\"in_transit\":0,\"variance\":0},"
                "\"plastic\":{\"generated\":140,\"pending\":0,\"stored\":130,\"unloaded\":10,"
                "\"capacity\":535,\"remaining\":405,\"in_transit\":0,\"variance\":0}}");
    it_response_free(stats);

    tu_assert_audit_clean();
}

/* Dry runs on the state the scenario left: they report and change nothing. */
static void test_picture_dry_run(void **state)
{
    (void)state;
    tu_build_picture(&picture);
    const long long *s = picture.mno;
    it_response *stats_before = it_get("/v1/stats");
    EXPECT_STATUS(stats_before, 200);

    /* ОО2: МНО3 and МНО7 are full of plastic, МНО3 has bio room 150. */
    ASSERT_DRY_RUN(picture.oo2, "{\"waste\":{\"plastic\":60,\"bio\":10}}",
                   "{\"plastic\":60,\"bio\":10}", SHIPMENTS({s[3], "bio", 10, 50}),
                   "{\"plastic\":60}");
    /* ОО1: glass 250 overflows МНО1's 200 into МНО5 (also 100 m, higher id). */
    ASSERT_DRY_RUN(picture.oo1, "{\"waste\":{\"glass\":250}}", "{\"glass\":250}",
                   SHIPMENTS({s[1], "glass", 200, 100}, {s[5], "glass", 50, 100}), "{}");
    ASSERT_DRY_RUN(picture.oo1, "{}", "{}", NO_SHIPMENTS, "{}");

    char *before = it_db_fingerprint();
    it_response *bad =
        it_request("POST", tu_fmt("/v1/organizations/%lld/transfers?dry_run=maybe", picture.oo1),
                   "{\"waste\":{\"glass\":1}}", NULL);
    EXPECT_STATUS(bad, 422);
    EXPECT_PROBLEM(bad, 422, "dry_run");
    it_response_free(bad);
    ASSERT_UNCHANGED(before);

    tu_assert_pending(picture.oo1, "{}");
    tu_assert_pending(picture.oo2, "{}");
    it_response *stats_after = it_get("/v1/stats");
    EXPECT_STATUS(stats_after, 200);
    assert_true(cJSON_Compare(stats_before->json, stats_after->json, true));
    it_response_free(stats_after);
    it_response_free(stats_before);

    /* dry_run=false is an ordinary request: with nothing pending and nothing handed over it
     * records nothing (200, "id": null). */
    it_response *real = it_request(
        "POST", tu_fmt("/v1/organizations/%lld/transfers?dry_run=false", picture.oo1), "{}", NULL);
    EXPECT_STATUS(real, 200);
    assert_true(cJSON_IsNull(tu_member(real->json, "id")));
    ASSERT_JSON(tu_member(real->json, "shipments"), "[]");
    ASSERT_JSON(tu_member(real->json, "pending"), "{}");
    it_response_free(real);

    tu_assert_audit_clean();
}

RUNNER_MAIN(
    tu_setup, tu_teardown_any_exit,
    {
        /* In this order: the scenario needs a fresh database, the dry runs its end state. */
        cmocka_unit_test(test_picture_scenario),
        cmocka_unit_test(test_picture_dry_run),
    })
