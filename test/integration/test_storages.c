/* Integration tests of /v1/storages against a real server and database: create, read, list
 * (with ?accepts=), the capacity merge-patch rules against stock, unload, and delete. Stock is
 * put in the way a client would: an organization with a road to the storage hands waste over.
 * Every rejected request must leave the database exactly as it was. */
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

static char *storage_path(long long id)
{
    return tu_format("/v1/storages/%lld", id);
}

static char *unload_path(long long id)
{
    return tu_format("/v1/storages/%lld/unload", id);
}

static long long new_storage(const char *capacity_json)
{
    return tu_new_storage("storage", capacity_json);
}

/* Asserts GET /v1/storages/{id} has exactly these capacity, stock and remaining objects. */
static void assert_storage_state(long long id, const char *capacity, const char *stock,
                                 const char *remaining)
{
    it_response *response = it_get("/v1/storages/%lld", id);
    EXPECT_STATUS(response, 200);
    ASSERT_MEMBERS(response->json, "{\"capacity\":%s,\"stock\":%s,\"remaining\":%s}", capacity,
                   stock, remaining);
    it_response_free(response);
}

/* Puts kg of glass into the storage: a new organization with a 10 m road to it hands the
 * glass over, and all of it must land there. */
static void ship_glass(long long storage, long long kg)
{
    tu_ship_glass(tu_supplier_of(storage), storage, kg);
}

/* ---------------------------------------------------------------- create and read */

static void test_create_zero_fills_stock_and_remaining(void **state)
{
    (void)state;
    ASSERT_CREATES("/v1/storages", "create", "\"capacity\":{\"glass\":100,\"plastic\":50}",
                   "{\"capacity\":{\"glass\":100,\"plastic\":50},\"stock\":{\"glass\":0,"
                   "\"plastic\":0},\"remaining\":{\"glass\":100,\"plastic\":50}}");
}

static void test_create_validation(void **state)
{
    (void)state;
    char *name = it_unique_name("invalid");
    const char *capacity_rejections[] = {"{}", "5", "[]", "null", "\"glass\"", "[\"glass\"]"};
    for (size_t i = 0; i < sizeof capacity_rejections / sizeof capacity_rejections[0]; i++) {
        char *body = tu_format("{\"name\":\"%s\",\"capacity\":%s}", name, capacity_rejections[i]);
        EXPECT_REJECTED_TYPE("POST", "/v1/storages", body, 422, "validation-error", "capacity");
        free(body);
    }
    char *no_capacity = tu_format("{\"name\":\"%s\"}", name);
    EXPECT_REJECTED_TYPE("POST", "/v1/storages", no_capacity, 422, "validation-error", "capacity");
    free(no_capacity);

    const char *bad_quantities[] = {"1.5",           "-1",    "\"5\"", "true", "null", "1e13",
                                    "1000000000001", "1e999", "{}"};
    for (size_t i = 0; i < sizeof bad_quantities / sizeof bad_quantities[0]; i++) {
        char *body =
            tu_format("{\"name\":\"%s\",\"capacity\":{\"glass\":%s}}", name, bad_quantities[i]);
        EXPECT_REJECTED_TYPE("POST", "/v1/storages", body, 422, "validation-error",
                             "capacity.glass");
        free(body);
    }
    /* An unknown type, an unknown member, a member that is not the client's to set. */
    const tu_refusal refusals[] = {
        {"\"capacity\":{\"glass\":1,\"metalx\":5}", "capacity.metalx"},
        {"\"capacity\":{\"glass\":1},\"color\":\"red\"", "color"},
        {"\"capacity\":{\"glass\":5},\"stock\":{\"glass\":5}", "stock"},
    };
    for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
        EXPECT_REJECTED_TYPE("POST", "/v1/storages",
                             tu_fmt("{\"name\":\"%s\",%s}", name, refusals[i].input), 422,
                             "validation-error", refusals[i].field);
    }

    char *long_name = tu_repeat("s", 201);
    const char *names[] = {"\"\"", NULL, "7", "null"};
    char *quoted_long = tu_format("\"%s\"", long_name);
    names[1] = quoted_long;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char *body = tu_format("{\"name\":%s,\"capacity\":{\"glass\":5}}", names[i]);
        EXPECT_REJECTED_TYPE("POST", "/v1/storages", body, 422, "validation-error", "name");
        free(body);
    }
    EXPECT_REJECTED_TYPE("POST", "/v1/storages", "{\"capacity\":{\"glass\":5}}", 422,
                         "validation-error", "name");
    free(quoted_long);
    free(long_name);

    /* Names are unique among storages. */
    long long id = it_create_storage(name, "{\"glass\":5}");
    assert_true(id > 0);
    EXPECT_REJECTED_TYPE("POST", "/v1/storages",
                         tu_fmt("{\"name\":\"%s\",\"capacity\":{\"bio\":5}}", name), 409,
                         "conflict", NULL);

    /* 10^12 is the largest quantity; 200 multibyte characters are a valid name. */
    char *cyrillic = tu_repeat("\xd0\xbc", 200);
    char *body = tu_format("{\"name\":\"%s\",\"capacity\":{\"glass\":1000000000000}}", cyrillic);
    it_response *response = it_post("/v1/storages", "%s", body);
    EXPECT_STATUS(response, 201);
    assert_string_equal(it_json_str(response->json, "name"), cyrillic);
    ASSERT_JSON_AT(response->json, "remaining", "{\"glass\":1000000000000}");
    it_response_free(response);
    free(body);
    free(cyrillic);
    free(name);
}

static void test_missing_and_invalid_ids_404(void **state)
{
    (void)state;
    static const char *const ids[] = {"999999999", "0", "-1", "abc", "99999999999999999999"};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        char *path = tu_format("/v1/storages/%s", ids[i]);
        EXPECT_REJECTED_TYPE("GET", path, NULL, 404, "not-found", NULL);
        EXPECT_REJECTED_TYPE("PATCH", path, "{\"name\":\"ghost\"}", 404, "not-found", NULL);
        EXPECT_REJECTED_TYPE("DELETE", path, NULL, 404, "not-found", NULL);
        char *unload = tu_format("/v1/storages/%s/unload", ids[i]);
        EXPECT_REJECTED_TYPE("POST", unload, "{\"glass\":1}", 404, "not-found", NULL);
        free(unload);
        free(path);
    }
}

/* ---------------------------------------------------------------- list */

static bool list_has_id(const cJSON *items, long long id)
{
    const cJSON *item;
    cJSON_ArrayForEach(item, items)
    {
        if (it_json_int(item, "id") == id) {
            return true;
        }
    }
    return false;
}

/* GETs the list at path and asserts that it lists every id of listed and none of unlisted. */
static void assert_listed(const char *path, const long long *listed, size_t listed_count,
                          const long long *unlisted, size_t unlisted_count)
{
    it_response *response = it_get("%s", path);
    EXPECT_STATUS(response, 200);
    const cJSON *items = it_json_at(response->json, "items");
    for (size_t i = 0; i < listed_count; i++) {
        if (!list_has_id(items, listed[i])) {
            fail_msg("%s does not list storage %lld", path, listed[i]);
        }
    }
    for (size_t i = 0; i < unlisted_count; i++) {
        if (list_has_id(items, unlisted[i])) {
            fail_msg("%s lists storage %lld", path, unlisted[i]);
        }
    }
    it_response_free(response);
}

/* Some ids, as assert_listed takes them: (array, count). */
#define IDS(...)                                                                                   \
    (const long long[]){__VA_ARGS__}, sizeof((const long long[]){__VA_ARGS__}) / sizeof(long long)
#define NO_IDS NULL, 0

static void test_accepts_filter(void **state)
{
    (void)state;
    long long glass_only = new_storage("{\"glass\":10}");
    long long plastic_only = new_storage("{\"plastic\":10}");
    long long glass_and_bio = new_storage("{\"glass\":10,\"bio\":20}");

    it_response *response = it_get("/v1/storages?accepts=glass&limit=1000");
    EXPECT_STATUS(response, 200);
    const cJSON *items = it_json_at(response->json, "items");
    assert_true(list_has_id(items, glass_only));
    assert_true(list_has_id(items, glass_and_bio));
    assert_false(list_has_id(items, plastic_only));
    long long previous = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, items)
    {
        assert_non_null(it_json_at(item, "capacity.glass"));
        long long id = it_json_int(item, "id");
        assert_true(id > previous);
        previous = id;
    }
    it_response_free(response);

    assert_listed("/v1/storages?accepts=bio&limit=1000", IDS(glass_and_bio),
                  IDS(glass_only, plastic_only));
    /* Without the filter all three are listed. */
    assert_listed("/v1/storages?limit=1000", IDS(glass_only, plastic_only, glass_and_bio), NO_IDS);

    EXPECT_REJECTED_TYPE("GET", "/v1/storages?accepts=unknown", NULL, 422, "validation-error",
                         "accepts");
    EXPECT_REJECTED_TYPE("GET", "/v1/storages?accepts=Glass", NULL, 422, "validation-error",
                         "accepts");
}

static void test_list_pagination(void **state)
{
    (void)state;
    for (int i = 0; i < 3; i++) {
        new_storage("{\"plastic\":1}");
    }
    it_response *all = it_get("/v1/storages?limit=1000");
    EXPECT_STATUS(all, 200);
    const cJSON *all_items = it_json_at(all->json, "items");
    int total = cJSON_GetArraySize(all_items);
    assert_true(total >= 3);

    /* Pages of one, the last one saying so. */
    assert_int_equal(tu_walk_pages("/v1/storages", 1, all_items), total);
    it_response_free(all);
}

/* ---------------------------------------------------------------- patch */

static void test_patch_name(void **state)
{
    (void)state;
    long long id = new_storage("{\"glass\":10}");
    long long other = new_storage("{\"glass\":10}");
    char *path = storage_path(id);
    char *new_name = it_unique_name("renamed-storage");
    it_response *response = it_patch(path, "{\"name\":\"%s\"}", new_name);
    EXPECT_STATUS(response, 200);
    assert_string_equal(it_json_str(response->json, "name"), new_name);
    ASSERT_JSON_AT(response->json, "capacity", "{\"glass\":10}");
    it_response_free(response);

    char *other_path = storage_path(other);
    char *body = tu_format("{\"name\":\"%s\"}", new_name);
    EXPECT_REJECTED_TYPE("PATCH", other_path, body, 409, "conflict", NULL);
    EXPECT_REJECTED_TYPE("PATCH", other_path, "{\"name\":\"\"}", 422, "validation-error", "name");
    EXPECT_REJECTED_TYPE("PATCH", other_path, "{\"stock\":{\"glass\":1}}", 422, "validation-error",
                         "stock");
    free(body);
    free(other_path);
    free(new_name);
    free(path);
}

static void test_patch_add_and_raise_type(void **state)
{
    (void)state;
    long long id = new_storage("{\"glass\":100}");
    char *path = storage_path(id);

    ASSERT_PATCH_MEMBERS(path, "{\"capacity\":{\"plastic\":50}}",
                         "{\"capacity\":{\"glass\":100,\"plastic\":50},"
                         "\"stock\":{\"glass\":0,\"plastic\":0},"
                         "\"remaining\":{\"glass\":100,\"plastic\":50}}");

    ASSERT_PATCH_MEMBERS(path, "{\"capacity\":{\"glass\":150}}",
                         "{\"capacity\":{\"glass\":150,\"plastic\":50},"
                         "\"remaining\":{\"glass\":150,\"plastic\":50}}");
    assert_storage_state(id, "{\"glass\":150,\"plastic\":50}", "{\"glass\":0,\"plastic\":0}",
                         "{\"glass\":150,\"plastic\":50}");

    /* An empty patch changes nothing. */
    it_response *before = it_get("%s", path);
    EXPECT_STATUS(before, 200);
    it_response *response = it_patch(path, "{}");
    EXPECT_STATUS(response, 200);
    assert_true(cJSON_Compare(response->json, before->json, true));
    it_response_free(response);
    it_response_free(before);

    const char *bad_quantities[] = {"1.5", "-1", "\"5\"", "true", "1e13", "1000000000001"};
    for (size_t i = 0; i < sizeof bad_quantities / sizeof bad_quantities[0]; i++) {
        char *body = tu_format("{\"capacity\":{\"glass\":%s}}", bad_quantities[i]);
        EXPECT_REJECTED_TYPE("PATCH", path, body, 422, "validation-error", "capacity.glass");
        free(body);
    }
    EXPECT_REJECTED_TYPE("PATCH", path, "{\"capacity\":{\"metalx\":5}}", 422, "validation-error",
                         "capacity.metalx");
    EXPECT_REJECTED_TYPE("PATCH", path, "{\"capacity\":5}", 422, "validation-error", "capacity");
    free(path);
}

static void test_patch_lower_and_remove_against_stock(void **state)
{
    (void)state;
    long long id = new_storage("{\"glass\":100,\"plastic\":50}");
    char *path = storage_path(id);
    ship_glass(id, 30);
    assert_storage_state(id, "{\"glass\":100,\"plastic\":50}", "{\"glass\":30,\"plastic\":0}",
                         "{\"glass\":70,\"plastic\":50}");

    /* Not below the stock. */
    EXPECT_REJECTED_TYPE("PATCH", path, "{\"capacity\":{\"glass\":20}}", 409, "conflict", NULL);
    EXPECT_REJECTED_TYPE("PATCH", path, "{\"capacity\":{\"glass\":29,\"plastic\":60}}", 409,
                         "conflict", NULL);
    ASSERT_PATCH_MEMBERS(path, "{\"capacity\":{\"glass\":30}}",
                         "{\"capacity\":{\"glass\":30,\"plastic\":50},"
                         "\"stock\":{\"glass\":30,\"plastic\":0},"
                         "\"remaining\":{\"glass\":0,\"plastic\":50}}");

    /* A type holding stock cannot be removed. */
    EXPECT_REJECTED_TYPE("PATCH", path, "{\"capacity\":{\"glass\":null}}", 409, "conflict", NULL);

    /* A type with zero stock can; it leaves capacity, stock and remaining. */
    ASSERT_PATCH_MEMBERS(path, "{\"capacity\":{\"plastic\":null}}",
                         "{\"capacity\":{\"glass\":30},\"stock\":{\"glass\":30},"
                         "\"remaining\":{\"glass\":0}}");
    assert_storage_state(id, "{\"glass\":30}", "{\"glass\":30}", "{\"glass\":0}");

    /* It no longer accepts plastic. */
    assert_listed("/v1/storages?accepts=plastic&limit=1000", NO_IDS, IDS(id));
    free(path);
}

static void test_patch_removing_last_type_422(void **state)
{
    (void)state;
    long long single = new_storage("{\"bio\":10}");
    char *path = storage_path(single);
    EXPECT_REJECTED_TYPE("PATCH", path, "{\"capacity\":{\"bio\":null}}", 422, "validation-error",
                         "capacity");
    assert_storage_state(single, "{\"bio\":10}", "{\"bio\":0}", "{\"bio\":10}");
    free(path);

    long long pair = new_storage("{\"bio\":10,\"glass\":5}");
    path = storage_path(pair);
    EXPECT_REJECTED_TYPE("PATCH", path, "{\"capacity\":{\"bio\":null,\"glass\":null}}", 422,
                         "validation-error", "capacity");
    /* Replacing the last type in the same patch leaves one: fine. */
    ASSERT_PATCH_MEMBERS(path, "{\"capacity\":{\"bio\":null,\"plastic\":7}}",
                         "{\"capacity\":{\"glass\":5,\"plastic\":7}}");
    free(path);
}

/* ---------------------------------------------------------------- unload */

static void test_unload(void **state)
{
    (void)state;
    long long id = new_storage("{\"glass\":100,\"plastic\":10}");
    char *path = unload_path(id);
    ship_glass(id, 30);

    it_response *response = it_post(path, "{\"glass\":10}");
    EXPECT_STATUS(response, 200);
    assert_int_equal(it_json_int(response->json, "id"), id);
    ASSERT_MEMBERS(response->json, "{\"capacity\":{\"glass\":100,\"plastic\":10},"
                                   "\"stock\":{\"glass\":20,\"plastic\":0},"
                                   "\"remaining\":{\"glass\":80,\"plastic\":10}}");
    it_response_free(response);
    assert_storage_state(id, "{\"glass\":100,\"plastic\":10}", "{\"glass\":20,\"plastic\":0}",
                         "{\"glass\":80,\"plastic\":10}");

    /* More than the stock; all or nothing. */
    EXPECT_REJECTED_TYPE("POST", path, "{\"glass\":21}", 409, "conflict", NULL);
    EXPECT_REJECTED_TYPE("POST", path, "{\"glass\":5,\"plastic\":1}", 409, "conflict", NULL);

    /* Validation. */
    EXPECT_REJECTED_TYPE("POST", path, "{\"metalx\":1}", 422, "validation-error", "metalx");
    EXPECT_REJECTED_TYPE("POST", path, "{\"bio\":1}", 422, "validation-error", "bio");
    EXPECT_REJECTED_TYPE("POST", path, "{}", 422, "validation-error", NULL);
    const char *bad_amounts[] = {"-1", "1.5", "\"5\"", "true", "null", "1e13"};
    for (size_t i = 0; i < sizeof bad_amounts / sizeof bad_amounts[0]; i++) {
        char *body = tu_format("{\"glass\":%s}", bad_amounts[i]);
        EXPECT_REJECTED_TYPE("POST", path, body, 422, "validation-error", "glass");
        free(body);
    }
    static const char *const text_plain[] = {"Content-Type: text/plain", NULL};
    EXPECT_REJECTED_WITH_HEADERS("POST", path, "{\"glass\":1}", text_plain, 415,
                                 "unsupported-media-type", NULL);
    EXPECT_REJECTED_TYPE("POST", path, "{\"glass\":", 400, "malformed-json", NULL);
    assert_storage_state(id, "{\"glass\":100,\"plastic\":10}", "{\"glass\":20,\"plastic\":0}",
                         "{\"glass\":80,\"plastic\":10}");

    /* Down to zero. */
    response = it_post(path, "{\"glass\":20}");
    EXPECT_STATUS(response, 200);
    ASSERT_MEMBERS(response->json, "{\"stock\":{\"glass\":0,\"plastic\":0},"
                                   "\"remaining\":{\"glass\":100,\"plastic\":10}}");
    it_response_free(response);
    free(path);
}

/* ---------------------------------------------------------------- delete */

static void test_delete_rules(void **state)
{
    (void)state;
    /* Holding stock. */
    long long stocked = new_storage("{\"glass\":50}");
    ship_glass(stocked, 5);
    char *path = storage_path(stocked);
    EXPECT_REJECTED_TYPE("DELETE", path, NULL, 409, "conflict", NULL);
    free(path);

    /* Empty again, but the ledger names it. */
    long long emptied = new_storage("{\"glass\":50}");
    ship_glass(emptied, 5);
    char *unload = unload_path(emptied);
    it_response *response = it_post(unload, "{\"glass\":5}");
    EXPECT_STATUS(response, 200);
    ASSERT_JSON_AT(response->json, "stock", "{\"glass\":0}");
    it_response_free(response);
    free(unload);
    path = storage_path(emptied);
    EXPECT_REJECTED_TYPE("DELETE", path, NULL, 409, "conflict", NULL);
    assert_storage_state(emptied, "{\"glass\":50}", "{\"glass\":0}", "{\"glass\":50}");
    free(path);

    /* Fresh: deleted, then gone. */
    long long fresh = new_storage("{\"glass\":50,\"bio\":5}");
    path = storage_path(fresh);
    EXPECT_DELETED(path);
    unload = unload_path(fresh);
    EXPECT_REJECTED_TYPE("POST", unload, "{\"glass\":1}", 404, "not-found", NULL);
    free(unload);
    free(path);
}

/* ---------------------------------------------------------------- runner */

RUNNER_MAIN(
    tu_setup, tu_teardown,
    {
        cmocka_unit_test(test_create_zero_fills_stock_and_remaining),
        cmocka_unit_test(test_create_validation),
        cmocka_unit_test(test_missing_and_invalid_ids_404),
        cmocka_unit_test(test_accepts_filter),
        cmocka_unit_test(test_list_pagination),
        cmocka_unit_test(test_patch_name),
        cmocka_unit_test(test_patch_add_and_raise_type),
        cmocka_unit_test(test_patch_lower_and_remove_against_stock),
        cmocka_unit_test(test_patch_removing_last_type_422),
        cmocka_unit_test(test_unload),
        cmocka_unit_test(test_delete_rules),
        /* Runs last: whatever the tests above did, sql/audit.sql finds no violated invariant. */
        TU_AUDIT_TEST,
    })
