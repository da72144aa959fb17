/* Integration tests of /v1/organizations against a real server and database: create, read,
 * list with pagination, merge-patch, delete, and every validation and conflict rule of the
 * contract. Every rejected request must leave the database exactly as it was. */
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

static char *org_path(long long id)
{
    return tu_format("/v1/organizations/%lld", id);
}

/* Creates an organization with a fresh name; returns its id and (optionally) the name. */
static long long new_org(const char *capacity_json, char **name_out)
{
    return tu_new_org("org", capacity_json, name_out);
}

/* A macro, so that a failure names the line of the test. */
#define EXPECT_ORG_REJECTED(body, status, slug, field)                                             \
    EXPECT_REJECTED_TYPE("POST", "/v1/organizations", (body), (status), (slug), (field))

/* An organization's body with a fresh name (prefix-...) and the other members given ("" for
 * none); the caller frees it. */
static char *named_body(const char *prefix, const char *members)
{
    char *name = it_unique_name(prefix);
    char *body = tu_format("{\"name\":\"%s\"%s%s}", name, members[0] != '\0' ? "," : "", members);
    free(name);
    return body;
}

/* POSTs named_body(prefix, members): the response. */
static it_response *post_named(const char *prefix, const char *members)
{
    char *body = named_body(prefix, members);
    it_response *response = it_post("/v1/organizations", "%s", body);
    free(body);
    return response;
}

/* EXPECT_ORG_REJECTED of named_body(prefix, members). */
#define EXPECT_NAMED_REJECTED(prefix, members, status, slug, field)                                \
    do {                                                                                           \
        char *named_ = named_body((prefix), (members));                                            \
        EXPECT_ORG_REJECTED(named_, (status), (slug), (field));                                    \
        free(named_);                                                                              \
    } while (0)

/* ---------------------------------------------------------------- create and read */

static void test_create_returns_full_object(void **state)
{
    (void)state;
    /* The object as created, with its name, id and created_at; GET returns the same. */
    ASSERT_CREATES("/v1/organizations", "create", "\"capacity\":{\"glass\":50,\"plastic\":10}",
                   "{\"capacity\":{\"glass\":50,\"plastic\":10},\"pending\":{}}");
}

static void test_create_without_capacity(void **state)
{
    (void)state;
    it_response *response = post_named("no-capacity", "");
    EXPECT_STATUS(response, 201);
    ASSERT_MEMBERS(response->json, "{\"capacity\":{},\"pending\":{}}");
    it_response_free(response);

    /* An empty capacity object is the same. */
    response = post_named("empty-capacity", "\"capacity\":{}");
    EXPECT_STATUS(response, 201);
    ASSERT_JSON_AT(response->json, "capacity", "{}");
    it_response_free(response);
}

static void test_ids_are_distinct_and_increasing(void **state)
{
    (void)state;
    long long first = new_org(NULL, NULL);
    long long second = new_org(NULL, NULL);
    assert_true(first > 0);
    assert_true(second > first);
}

/* ---------------------------------------------------------------- list */

static cJSON *get_all_orgs(void)
{
    it_response *response = it_get("/v1/organizations?limit=1000");
    EXPECT_STATUS(response, 200);
    assert_true(cJSON_IsNull(it_json_at(response->json, "next_cursor")));
    cJSON *items = cJSON_Duplicate(it_json_at(response->json, "items"), true);
    assert_non_null(items);
    it_response_free(response);
    return items;
}

static void test_list_pagination(void **state)
{
    (void)state;
    long long created[6];
    for (int i = 0; i < 5; i++) {
        created[i] = new_org(i % 2 ? "{\"bio\":3}" : NULL, NULL);
    }
    cJSON *all = get_all_orgs();
    int total = cJSON_GetArraySize(all);
    if (total % 2 == 0) {
        /* An odd total makes the last page hold exactly one item. */
        created[5] = new_org(NULL, NULL);
        cJSON_Delete(all);
        all = get_all_orgs();
        total = cJSON_GetArraySize(all);
    }
    assert_int_equal(total % 2, 1);

    /* The full list is ordered by id and holds what was created, in order. */
    long long previous_id = 0;
    int next_created = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, all)
    {
        long long id = it_json_int(item, "id");
        assert_true(id > previous_id);
        previous_id = id;
        if (next_created < 5 && id == created[next_created]) {
            next_created++;
        }
    }
    assert_int_equal(next_created, 5);

    /* Walking with limit=2 gives the same sequence: full pages, then one item and a null
     * cursor. */
    assert_int_equal(tu_walk_pages("/v1/organizations", 2, all), total / 2 + 1);
    cJSON_Delete(all);
}

static void test_list_default_limit_is_100(void **state)
{
    (void)state;
    cJSON *all = get_all_orgs();
    int total = cJSON_GetArraySize(all);
    for (int i = total; i <= 100; i++) {
        new_org(NULL, NULL);
    }
    cJSON_Delete(all);
    ASSERT_PAGE("/v1/organizations", 100, true);
}

/* ---------------------------------------------------------------- patch */

static void test_patch_name(void **state)
{
    (void)state;
    long long id = new_org("{\"glass\":50}", NULL);
    char *path = org_path(id);
    it_response *before = it_get("%s", path);
    EXPECT_STATUS(before, 200);

    char *new_name = it_unique_name("renamed");
    char *body = tu_format("{\"name\":\"%s\"}", new_name);
    it_response *patched = it_patch(path, "%s", body);
    EXPECT_STATUS(patched, 200);
    assert_string_equal(it_json_str(patched->json, "name"), new_name);
    assert_int_equal(it_json_int(patched->json, "id"), id);
    ASSERT_JSON_AT(patched->json, "capacity", "{\"glass\":50}");
    assert_string_equal(it_json_str(patched->json, "created_at"),
                        it_json_str(before->json, "created_at"));

    it_response *after = it_get("%s", path);
    EXPECT_STATUS(after, 200);
    assert_true(cJSON_Compare(after->json, patched->json, true));

    /* Renaming to its own name is no conflict. */
    it_response *same = it_patch(path, "%s", body);
    EXPECT_STATUS(same, 200);
    assert_string_equal(it_json_str(same->json, "name"), new_name);

    it_response_free(same);
    it_response_free(after);
    it_response_free(patched);
    it_response_free(before);
    free(body);
    free(new_name);
    free(path);
}

static void test_patch_capacity_is_a_merge(void **state)
{
    (void)state;
    long long id = new_org("{\"glass\":50,\"plastic\":10}", NULL);
    char *path = org_path(id);

    it_response *response = it_patch(path, "{\"capacity\":{\"bio\":7}}");
    EXPECT_STATUS(response, 200);
    ASSERT_JSON_AT(response->json, "capacity", "{\"glass\":50,\"plastic\":10,\"bio\":7}");
    it_response_free(response);

    response = it_patch(path, "{\"capacity\":{\"glass\":null,\"plastic\":20}}");
    EXPECT_STATUS(response, 200);
    ASSERT_JSON_AT(response->json, "capacity", "{\"plastic\":20,\"bio\":7}");
    it_response_free(response);

    response = it_patch(path, "{\"capacity\":{\"plastic\":0}}");
    EXPECT_STATUS(response, 200);
    ASSERT_JSON_AT(response->json, "capacity", "{\"plastic\":0,\"bio\":7}");
    it_response_free(response);

    ASSERT_GET_AT(path, "capacity", "{\"plastic\":0,\"bio\":7}");

    /* An empty patch changes nothing. */
    char *before = it_db_fingerprint();
    response = it_patch(path, "{}");
    EXPECT_STATUS(response, 200);
    ASSERT_JSON_AT(response->json, "capacity", "{\"plastic\":0,\"bio\":7}");
    it_response_free(response);
    ASSERT_UNCHANGED(before);
    free(path);
}

/* ---------------------------------------------------------------- names */

static void test_duplicate_name_409(void **state)
{
    (void)state;
    char *taken = NULL;
    new_org(NULL, &taken);
    char *body = tu_format("{\"name\":\"%s\"}", taken);
    EXPECT_ORG_REJECTED(body, 409, "conflict", NULL);

    long long other = new_org(NULL, NULL);
    char *path = org_path(other);
    EXPECT_REJECTED_TYPE("PATCH", path, body, 409, "conflict", NULL);
    free(path);
    free(body);
    free(taken);
}

static void test_name_length_limits(void **state)
{
    (void)state;
    char *ascii_201 = tu_repeat("a", 201);
    char *cyrillic_201 = tu_repeat("\xd0\xb6", 201);
    char *body_ascii_201 = tu_format("{\"name\":\"%s\"}", ascii_201);
    char *body_cyrillic_201 = tu_format("{\"name\":\"%s\"}", cyrillic_201);
    const char *const rejected[] = {
        "{\"name\":\"\"}",
        body_ascii_201,
        body_cyrillic_201,
        "{\"name\":12}",
        "{\"name\":null}",
        "{\"name\":[\"a\"]}",
        "{}",
        "{\"capacity\":{\"glass\":1}}",
    };
    for (size_t i = 0; i < sizeof rejected / sizeof rejected[0]; i++) {
        EXPECT_ORG_REJECTED(rejected[i], 422, "validation-error", "name");
    }

    /* PATCH applies the same rules. */
    long long id = new_org(NULL, NULL);
    char *path = org_path(id);
    EXPECT_REJECTED_TYPE("PATCH", path, "{\"name\":\"\"}", 422, "validation-error", "name");
    EXPECT_REJECTED_TYPE("PATCH", path, body_ascii_201, 422, "validation-error", "name");
    EXPECT_REJECTED_TYPE("PATCH", path, "{\"name\":null}", 422, "validation-error", "name");

    /* 200 characters are fine, counted in characters: 200 two-byte "ж" are 400 bytes. */
    char *ascii_200 = tu_repeat("b", 200);
    char *cyrillic_200 = tu_repeat("\xd0\xb6", 200);
    const char *accepted[] = {ascii_200, cyrillic_200};
    for (size_t i = 0; i < 2; i++) {
        char *body = tu_format("{\"name\":\"%s\"}", accepted[i]);
        it_response *response = it_post("/v1/organizations", "%s", body);
        EXPECT_STATUS(response, 201);
        assert_string_equal(it_json_str(response->json, "name"), accepted[i]);
        long long created = it_json_int(response->json, "id");
        it_response_free(response);
        response = it_get("/v1/organizations/%lld", created);
        EXPECT_STATUS(response, 200);
        assert_string_equal(it_json_str(response->json, "name"), accepted[i]);
        it_response_free(response);
        free(body);
    }
    free(cyrillic_200);
    free(ascii_200);
    free(path);
    free(body_cyrillic_201);
    free(body_ascii_201);
    free(cyrillic_201);
    free(ascii_201);
}

/* ---------------------------------------------------------------- quantities */

static const char *const bad_quantities[] = {
    "1.5", "-1", "\"5\"", "true", "1e13", "1e999", "1000000000001", "-0.5", "{}", "[1]",
};

static void test_bad_capacity_quantities_422_on_create(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_quantities / sizeof bad_quantities[0]; i++) {
        EXPECT_NAMED_REJECTED("bad-quantity",
                              tu_fmt("\"capacity\":{\"glass\":%s}", bad_quantities[i]), 422,
                              "validation-error", "capacity.glass");
    }
    /* On create, null is no quantity either. */
    EXPECT_NAMED_REJECTED("null-quantity", "\"capacity\":{\"glass\":null}", 422, "validation-error",
                          "capacity.glass");
}

static void test_bad_capacity_quantities_422_on_patch(void **state)
{
    (void)state;
    long long id = new_org("{\"glass\":3}", NULL);
    char *path = org_path(id);
    for (size_t i = 0; i < sizeof bad_quantities / sizeof bad_quantities[0]; i++) {
        char *body = tu_format("{\"capacity\":{\"glass\":%s}}", bad_quantities[i]);
        EXPECT_REJECTED_TYPE("PATCH", path, body, 422, "validation-error", "capacity.glass");
        free(body);
    }
    free(path);
}

static void test_quantity_limits_accepted(void **state)
{
    (void)state;
    it_response *response = post_named(
        "max-quantity", "\"capacity\":{\"glass\":1000000000000,\"bio\":0,\"plastic\":1.0}");
    EXPECT_STATUS(response, 201);
    ASSERT_JSON_AT(response->json, "capacity", "{\"glass\":1000000000000,\"bio\":0,\"plastic\":1}");
    assert_int_equal(it_json_int(response->json, "capacity.glass"), 1000000000000LL);
    it_response_free(response);
}

static void test_unknown_type_and_fields_422(void **state)
{
    (void)state;
    EXPECT_NAMED_REJECTED("unknown", "\"capacity\":{\"glass\":1,\"metalx\":1}", 422,
                          "validation-error", "capacity.metalx");
    EXPECT_NAMED_REJECTED("unknown", "\"color\":\"red\"", 422, "validation-error", "color");
    EXPECT_NAMED_REJECTED("unknown", "\"pending\":{\"glass\":1}", 422, "validation-error",
                          "pending");
    EXPECT_NAMED_REJECTED("unknown", "\"capacity\":5", 422, "validation-error", "capacity");
    EXPECT_NAMED_REJECTED("unknown", "\"capacity\":[{\"glass\":1}]", 422, "validation-error",
                          "capacity");

    long long id = new_org(NULL, NULL);
    char *path = org_path(id);
    EXPECT_REJECTED_TYPE("PATCH", path, "{\"capacity\":{\"metalx\":1}}", 422, "validation-error",
                         "capacity.metalx");
    EXPECT_REJECTED_TYPE("PATCH", path, "{\"color\":\"red\"}", 422, "validation-error", "color");
    EXPECT_REJECTED_TYPE("PATCH", path, "{\"id\":5}", 422, "validation-error", "id");
    EXPECT_REJECTED_TYPE("PATCH", path, "{\"capacity\":7}", 422, "validation-error", "capacity");
    free(path);
}

/* ---------------------------------------------------------------- missing ids */

static void test_missing_and_invalid_ids_404(void **state)
{
    (void)state;
    static const char *const ids[] = {
        "999999999", "9223372036854775807", "0", "-1", "abc", "99999999999999999999", "1.0", "1abc",
        "%20",
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        char *path = tu_format("/v1/organizations/%s", ids[i]);
        EXPECT_REJECTED_TYPE("GET", path, NULL, 404, "not-found", NULL);
        EXPECT_REJECTED_TYPE("PATCH", path, "{\"name\":\"ghost\"}", 404, "not-found", NULL);
        EXPECT_REJECTED_TYPE("DELETE", path, NULL, 404, "not-found", NULL);
        free(path);
    }
}

/* ---------------------------------------------------------------- delete */

static void test_delete_then_404(void **state)
{
    (void)state;
    char *name = NULL;
    long long id = new_org("{\"glass\":5}", &name);
    char *path = org_path(id);
    EXPECT_DELETED(path);

    /* The name is free again. */
    long long again = it_create_org(name, NULL);
    assert_true(again != id);
    free(path);
    free(name);
}

/* Hands glass to an organization that reaches no storage: it stays pending. */
static long long org_with_pending_glass(const char *capacity_json, long long amount)
{
    long long id = new_org(capacity_json, NULL);
    char *path = tu_format("/v1/organizations/%lld/transfers", id);
    it_response *response = it_post(path, "{\"waste\":{\"glass\":%lld}}", amount);
    EXPECT_STATUS(response, 201);
    char *pending = tu_format("{\"glass\":%lld}", amount);
    ASSERT_MEMBERS(response->json,
                   "{\"trigger\":\"request\",\"received\":%s,\"shipments\":[],"
                   "\"pending\":%s}",
                   pending, pending);
    it_response_free(response);

    ASSERT_GET_AT(tu_fmt("/v1/organizations/%lld", id), "pending", "%s", pending);
    free(pending);
    free(path);
    return id;
}

static void test_delete_with_pending_waste_409(void **state)
{
    (void)state;
    long long id = org_with_pending_glass(NULL, 5);
    char *path = org_path(id);
    EXPECT_REJECTED_TYPE("DELETE", path, NULL, 409, "conflict", NULL);
    ASSERT_GET_AT(path, "pending", "{\"glass\":5}");
    free(path);
}

static void test_delete_with_ledger_history_409(void **state)
{
    (void)state;
    long long org = new_org(NULL, NULL);
    char *storage_name = it_unique_name("history-storage");
    long long storage = it_create_storage(storage_name, "{\"glass\":100}");
    char *from = tu_format("{\"organization_id\":%lld}", org);
    char *to = tu_format("{\"storage_id\":%lld}", storage);
    it_create_route(from, to, 10, false);

    char *transfers = tu_format("/v1/organizations/%lld/transfers", org);
    it_response *response = it_post(transfers, "{\"waste\":{\"glass\":5}}");
    EXPECT_STATUS(response, 201);
    char *shipments = tu_format(
        "[{\"storage_id\":%lld,\"waste_type\":\"glass\",\"amount\":5,\"distance_m\":10}]", storage);
    ASSERT_MEMBERS(response->json, "{\"shipments\":%s,\"pending\":{}}", shipments);
    it_response_free(response);

    /* Nothing pending, but the ledger names it: it stays. */
    char *path = org_path(org);
    EXPECT_REJECTED_TYPE("DELETE", path, NULL, 409, "conflict", NULL);
    ASSERT_GET_AT(path, "pending", "{}");

    free(path);
    free(shipments);
    free(transfers);
    free(to);
    free(from);
    free(storage_name);
}

static void test_patch_capacity_below_pending_409(void **state)
{
    (void)state;
    long long id = org_with_pending_glass("{\"glass\":10}", 5);
    char *path = org_path(id);
    EXPECT_REJECTED_TYPE("PATCH", path, "{\"capacity\":{\"glass\":4}}", 409, "conflict", NULL);
    it_response *response = it_patch(path, "{\"capacity\":{\"glass\":5}}");
    EXPECT_STATUS(response, 200);
    ASSERT_MEMBERS(response->json, "{\"capacity\":{\"glass\":5},\"pending\":{\"glass\":5}}");
    it_response_free(response);
    free(path);
}

/* ---------------------------------------------------------------- runner */

RUNNER_MAIN(
    tu_setup, tu_teardown,
    {
        cmocka_unit_test(test_create_returns_full_object),
        cmocka_unit_test(test_create_without_capacity),
        cmocka_unit_test(test_ids_are_distinct_and_increasing),
        cmocka_unit_test(test_list_pagination),
        cmocka_unit_test(test_patch_name),
        cmocka_unit_test(test_patch_capacity_is_a_merge),
        cmocka_unit_test(test_duplicate_name_409),
        cmocka_unit_test(test_name_length_limits),
        cmocka_unit_test(test_bad_capacity_quantities_422_on_create),
        cmocka_unit_test(test_bad_capacity_quantities_422_on_patch),
        cmocka_unit_test(test_quantity_limits_accepted),
        cmocka_unit_test(test_unknown_type_and_fields_422),
        cmocka_unit_test(test_missing_and_invalid_ids_404),
        cmocka_unit_test(test_delete_then_404),
        cmocka_unit_test(test_delete_with_pending_waste_409),
        cmocka_unit_test(test_delete_with_ledger_history_409),
        cmocka_unit_test(test_patch_capacity_below_pending_409),
        cmocka_unit_test(test_list_default_limit_is_100),
        /* Runs last: whatever the tests above did, sql/audit.sql finds no violated invariant. */
        TU_AUDIT_TEST,
    })
