/* POST /v1/plans over HTTP: the picture's batch answers exactly 71,250 / 67,850 kg·m (and
 * 67,850 / 67,850 with ОО2 first), rooms held for loads in transit are not room, who may
 * ask (admin, auditor; everyone else 403), bad input (422 naming the field), a batch of
 * 10,000 hand-overs, and that nothing is ever written. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "runner.h"
#include "testutil.h"

#include <cmocka.h>

static tu_picture picture;

/* POSTs a batch that must be answered 200 and leave the database as it was. */
static it_response *plan(const char *body)
{
    char *before = it_db_fingerprint();
    it_response *response = it_request("POST", "/v1/plans", body, NULL);
    EXPECT_STATUS(response, 200);
    char *after = it_db_fingerprint();
    assert_string_equal(before, after);
    free(before);
    free(after);
    return response;
}

static const char *bio_batch(long long first, long long second)
{
    return tu_fmt("{\"hand_overs\":[{\"organization_id\":%lld,\"waste\":{\"bio\":250}},"
                  "{\"organization_id\":%lld,\"waste\":{\"bio\":250}}]}",
                  first, second);
}

static void assert_ratio(const it_response *response, double expected)
{
    const cJSON *ratio = tu_member(response->json, "ratio");
    assert_true(cJSON_IsNumber(ratio));
    if (fabs(ratio->valuedouble - expected) > 1e-9) {
        fail_msg("ratio %.12g, expected %.12g", ratio->valuedouble, expected);
    }
}

static void test_picture_oo1_first(void **state)
{
    tu_build_picture(&picture);
    const long long *s = picture.mno, oo1 = picture.oo1, oo2 = picture.oo2;
    it_response *response = plan(bio_batch(oo1, oo2));
    ASSERT_MEMBERS(response->json,
                   "{\"nearest\":{\"shipments\":[{\"organization_id\":%lld,\"storage_id\":%lld,"
                   "\"waste_type\":\"bio\",\"amount\":150,\"distance_m\":50},{\"organization_id\":%"
                   "lld,\"storage_id\":%lld,\"waste_type\":\"bio\",\"amount\":25,\"distance_m\":"
                   "100},{\"organization_id\":%lld,\"storage_id\":%lld,\"waste_type\":\"bio\","
                   "\"amount\":75,\"distance_m\":600},{\"organization_id\":%lld,\"storage_id\":%"
                   "lld,\"waste_type\":\"bio\",\"amount\":175,\"distance_m\":50},{\"organization_"
                   "id\":%lld,\"storage_id\":%lld,\"waste_type\":\"bio\",\"amount\":75,\"distance_"
                   "m\":100}],\"placed_kg\":500,\"unplaced\":{\"bio\":0},\"kg_m\":71250},"
                   "\"min_cost.kg_m\":67850,\"min_cost.placed_kg\":500,"
                   "\"min_cost.unplaced\":{\"bio\":0}}",
                   oo1, s[2], oo1, s[5], oo1, s[3], oo2, s[3], oo2, s[7]);
    /* The optimum's shipments add up to its kg·m and respect every room. */
    const cJSON *shipments = tu_member(tu_member(response->json, "min_cost"), "shipments");
    long long kg_m = 0, to_mno2 = 0;
    const cJSON *shipment;
    cJSON_ArrayForEach(shipment, shipments)
    {
        kg_m += it_json_int(shipment, "amount") * it_json_int(shipment, "distance_m");
        if (it_json_int(shipment, "storage_id") == s[2]) {
            to_mno2 += it_json_int(shipment, "amount");
        }
    }
    assert_int_equal(kg_m, 67850);
    assert_int_equal(to_mno2, 150);
    assert_ratio(response, 71250.0 / 67850.0);
    it_response_free(response);
}

static void test_picture_oo2_first(void **state)
{
    tu_build_picture(&picture);
    it_response *response = plan(bio_batch(picture.oo2, picture.oo1));
    ASSERT_MEMBERS(response->json, "{\"nearest.kg_m\":67850,\"min_cost.kg_m\":67850}");
    assert_ratio(response, 1.0);
    it_response_free(response);
}

/* One organization alone: nearest-first is the optimum; what does not fit is unplaced. ОО2
 * reaches plastic at МНО3 (10 kg) and МНО7 (100 kg) only. */
static void test_one_organization_and_unplaced(void **state)
{
    tu_build_picture(&picture);
    const long long *s = picture.mno, oo2 = picture.oo2;
    it_response *response = plan(
        tu_fmt("{\"hand_overs\":[{\"organization_id\":%lld,\"waste\":{\"plastic\":200}}]}", oo2));
    const char *expected =
        tu_fmt("{\"shipments\":["
               "{\"organization_id\":%lld,\"storage_id\":%lld,\"waste_type\":\"plastic\","
               "\"amount\":10,\"distance_m\":50},"
               "{\"organization_id\":%lld,\"storage_id\":%lld,\"waste_type\":\"plastic\","
               "\"amount\":100,\"distance_m\":100}],"
               "\"placed_kg\":110,\"unplaced\":{\"plastic\":90},\"kg_m\":10500}",
               oo2, s[3], oo2, s[7]);
    ASSERT_MEMBERS(response->json, "{\"nearest\":%s,\"min_cost\":%s}", expected, expected);
    assert_ratio(response, 1.0);
    it_response_free(response);
}

/* Kilograms reserved for loads in transit are not room: with МНО2's bio room down to 50,
 * ОО1's bio goes on to МНО5 and МНО3. */
static void test_reserved_is_not_room(void **state)
{
    tu_build_picture(&picture);
    const long long *s = picture.mno, oo1 = picture.oo1;
    it_sql_exec("UPDATE storage_waste SET reserved = 100 WHERE storage_id = %lld AND "
                "waste_type = 'bio'",
                s[2]);
    it_response *response =
        plan(tu_fmt("{\"hand_overs\":[{\"organization_id\":%lld,\"waste\":{\"bio\":100}}]}", oo1));
    ASSERT_MEMBERS(response->json, "{\"nearest.kg_m\":%d,\"nearest.placed_kg\":100}",
                   50 * 50 + 25 * 100 + 25 * 600);
    it_response_free(response);
    it_sql_exec("UPDATE storage_waste SET reserved = 0 WHERE storage_id = %lld AND "
                "waste_type = 'bio'",
                s[2]);
}

static void test_roles(void **state)
{
    tu_build_picture(&picture);
    const char *body = bio_batch(picture.oo1, picture.oo2);
    char *auditor = it_new_key("auditor", 0, 0);
    const char *as_auditor[] = {it_bearer(auditor), NULL};
    char *before = it_db_fingerprint();
    it_response *response = it_request("POST", "/v1/plans", body, as_auditor);
    EXPECT_STATUS(response, 200);
    ASSERT_JSON_AT(response->json, "nearest.kg_m", "71250");
    it_response_free(response);
    char *after = it_db_fingerprint();
    assert_string_equal(before, after);
    free(before);
    free(after);

    char *keys[] = {it_new_key("monitor", 0, 0), it_new_key("organization", picture.oo1, 0),
                    it_new_key("storage", 0, picture.mno[2])};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *headers[] = {it_bearer(keys[i]), NULL};
        EXPECT_REJECTED_WITH_HEADERS("POST", "/v1/plans", body, headers, 403, "forbidden", NULL);
        free(keys[i]);
    }
    const char *nobody[] = {"Authorization:", NULL};
    EXPECT_REJECTED_WITH_HEADERS("POST", "/v1/plans", body, nobody, 401, "unauthorized", NULL);
    free(auditor);
}

static void test_bad_input(void **state)
{
    tu_build_picture(&picture);
    long long oo1 = picture.oo1;
    EXPECT_REJECTED("POST", "/v1/plans", "{}", 422, "hand_overs");
    EXPECT_REJECTED("POST", "/v1/plans", "{\"hand_overs\":[]}", 422, "hand_overs");
    EXPECT_REJECTED("POST", "/v1/plans", "{\"hand_overs\":{}}", 422, "hand_overs");
    EXPECT_REJECTED("POST", "/v1/plans", "{\"hand_overs\":[1]}", 422, "hand_overs[0]");
    EXPECT_REJECTED("POST", "/v1/plans", "{\"hand_overs\":[],\"x\":1}", 422, "x");
    EXPECT_REJECTED(
        "POST", "/v1/plans",
        tu_fmt("{\"hand_overs\":[{\"organization_id\":%lld,\"waste\":{\"bio\":-1}}]}", oo1), 422,
        "hand_overs[0].waste.bio");
    EXPECT_REJECTED("POST", "/v1/plans",
                    tu_fmt("{\"hand_overs\":[{\"organization_id\":%lld,\"waste\":{\"bio\":1}},"
                           "{\"organization_id\":%lld,\"waste\":{\"bio\":2.5}}]}",
                           oo1, oo1),
                    422, "hand_overs[1].waste.bio");
    EXPECT_REJECTED("POST", "/v1/plans",
                    tu_fmt("{\"hand_overs\":[{\"organization_id\":%lld,\"waste\":{}}]}", oo1), 422,
                    "hand_overs[0].waste");
    EXPECT_REJECTED("POST", "/v1/plans",
                    tu_fmt("{\"hand_overs\":[{\"organization_id\":%lld}]}", oo1), 422,
                    "hand_overs[0].waste");
    EXPECT_REJECTED("POST", "/v1/plans",
                    "{\"hand_overs\":[{\"organization_id\":0,\"waste\":{\"bio\":1}}]}", 422,
                    "hand_overs[0].organization_id");
    EXPECT_REJECTED("POST", "/v1/plans",
                    "{\"hand_overs\":[{\"organization_id\":\"1\",\"waste\":{\"bio\":1}}]}", 422,
                    "hand_overs[0].organization_id");
    EXPECT_REJECTED("POST", "/v1/plans",
                    tu_fmt("{\"hand_overs\":[{\"organization_id\":%lld,\"waste\":{\"bio\":1},"
                           "\"when\":1}]}",
                           oo1),
                    422, "hand_overs[0].when");
    /* Unknown to the database: the organization (named by its entry), the type. */
    EXPECT_REJECTED("POST", "/v1/plans",
                    tu_fmt("{\"hand_overs\":[{\"organization_id\":%lld,\"waste\":{\"bio\":1}},"
                           "{\"organization_id\":987654321,\"waste\":{\"bio\":1}}]}",
                           oo1),
                    422, "hand_overs[1].organization_id");
    EXPECT_REJECTED(
        "POST", "/v1/plans",
        tu_fmt("{\"hand_overs\":[{\"organization_id\":%lld,\"waste\":{\"mercury\":1}}]}", oo1), 422,
        "hand_overs.waste.mercury");
}

/* The contract's largest batch (over the 64 KiB every other body is held to) is answered;
 * one more entry is refused. */
static void test_ten_thousand(void **state)
{
    tu_build_picture(&picture);
    char *entry = tu_format("{\"organization_id\":%lld,\"waste\":{\"glass\":1}},", picture.oo1);
    char *entries = tu_repeat(entry, 10000);
    entries[strlen(entries) - 1] = '\0';
    char *body = tu_format("{\"hand_overs\":[%s]}", entries);
    assert_true(strlen(body) > 64 * 1024);
    it_response *response = plan(body);
    /* ОО1 reaches 655 kg of glass room: МНО1 300, МНО5 220, МНО6 100, МНО8 35. */
    ASSERT_MEMBERS(response->json,
                   "{\"nearest.placed_kg\":655,\"nearest.unplaced\":{\"glass\":9345},"
                   "\"min_cost.placed_kg\":655,\"min_cost.kg_m\":%d}",
                   300 * 100 + 220 * 100 + 35 * 600 + 100 * 1200);
    it_response_free(response);
    free(body);
    free(entries);
    entries = tu_repeat(entry, 10001);
    entries[strlen(entries) - 1] = '\0';
    body = tu_format("{\"hand_overs\":[%s]}", entries);
    EXPECT_REJECTED("POST", "/v1/plans", body, 422, "hand_overs");
    free(body);
    free(entries);
    free(entry);
}

/* Plans spend the credential's work budget (WASTEFLOW_WORK_BUDGET) as storage views do: at
 * one unit a second, the picture's plan (its storages and room rows) leaves the key in debt,
 * and the next plan is refused with 429 and Retry-After, before any work. Runs last: it
 * restarts the server with that budget. */
static void test_work_budget(void **state)
{
    assert_int_equal(it_stop(), 0);
    const char *env[] = {"WASTEFLOW_WORK_BUDGET=1", NULL};
    it_start(env);
    picture.built = false;
    tu_build_picture(&picture);
    it_response *first = plan(bio_batch(picture.oo1, picture.oo2));
    ASSERT_JSON_AT(first->json, "nearest.kg_m", "71250");
    it_response_free(first);
    it_response *second =
        it_request("POST", "/v1/plans", bio_batch(picture.oo1, picture.oo2), NULL);
    EXPECT_PROBLEM_TYPE(second, 429, "too-many-requests", NULL);
    assert_non_null(it_header(second, "Retry-After"));
    it_response_free(second);
}

RUNNER_MAIN(tu_setup, tu_teardown,
            {
                cmocka_unit_test(test_picture_oo1_first),
                cmocka_unit_test(test_picture_oo2_first),
                cmocka_unit_test(test_one_organization_and_unplaced),
                cmocka_unit_test(test_reserved_is_not_room),
                cmocka_unit_test(test_roles),
                cmocka_unit_test(test_bad_input),
                cmocka_unit_test(test_ten_thousand),
                TU_AUDIT_TEST,
                cmocka_unit_test(test_work_budget),
            })
