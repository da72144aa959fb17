/* Integration tests of the API's foundations against a real server and database: operations
 * endpoints, HTTP conventions (404/405/413/415, malformed JSON, request ids), list
 * pagination, Idempotency-Key, and the waste-types resource. Every rejected request must
 * leave the database exactly as it was. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "runner.h"
#include "testutil.h"

#define BODY_LIMIT 65536

static const char *const TEXT_PLAIN[] = {"Content-Type: text/plain", NULL};
static const char *const NO_CONTENT_TYPE[] = {"Content-Type:", NULL};

static bool header_equals(it_response *response, const char *name, const char *value)
{
    const char *actual = it_header(response, name);
    return actual != NULL && strcmp(actual, value) == 0;
}

/* True when the JSON content type is application/json (parameters allowed). */
static void assert_json_content_type(it_response *response)
{
    const char *content_type = EXPECT_HEADER(response, "Content-Type");
    assert_int_equal(strncasecmp(content_type, "application/json", 16), 0);
}

/* POST body (with headers, NULL for none) to path must answer 201 with member (a string)
 * equal to value. */
#define ASSERT_POSTED(path, body, headers, member, value)                                          \
    assert_posted_at(__FILE__, __LINE__, (path), (body), (headers), (member), (value))
static void assert_posted_at(const char *file, int line, const char *path, const char *body,
                             const char *const *headers, const char *member, const char *value)
{
    it_response *response = it_request("POST", path, body, headers);
    tu_expect_status_at(file, line, response, 201);
    const char *got = it_json_str(response->json, member);
    if (got == NULL || strcmp(got, value) != 0) {
        fail_msg("%s:%d: POST %s: %s is \"%s\", expected \"%s\"", file, line, path, member,
                 got ? got : "(missing)", value);
    }
    it_response_free(response);
}

/* ---------------------------------------------------------------- operations */

/* A probe's answer: 200, JSON, and its status member (JSON text). */
static void assert_probe(const char *path, const char *status)
{
    it_response *response = it_get("%s", path);
    EXPECT_STATUS(response, 200);
    assert_json_content_type(response);
    ASSERT_JSON_AT(response->json, "status", "%s", status);
    it_response_free(response);
}

static void test_healthz(void **state)
{
    (void)state;
    assert_probe("/healthz", "\"ok\"");
}

static void test_readyz(void **state)
{
    (void)state;
    assert_probe("/readyz", "\"ready\"");
}

static void test_metrics(void **state)
{
    (void)state;
    it_response *response = it_get("/metrics");
    EXPECT_STATUS(response, 200);
    const char *content_type = EXPECT_HEADER(response, "Content-Type");
    assert_int_equal(strncmp(content_type, "text/plain", 10), 0);
    assert_non_null(strstr(response->body, "# TYPE "));
    it_response_free(response);
}

static void test_openapi_document(void **state)
{
    (void)state;
    it_response *response = it_get("/openapi.json");
    EXPECT_STATUS(response, 200);
    assert_json_content_type(response);
    assert_non_null(response->json);
    const char *version = it_json_str(response->json, "openapi");
    assert_int_equal(strncmp(version, "3.1", 3), 0);
    const cJSON *paths = it_json_at(response->json, "paths");
    assert_true(cJSON_IsObject(paths));
    assert_non_null(cJSON_GetObjectItemCaseSensitive(paths, "/v1/organizations"));
    it_response_free(response);
}

static void test_openapi_describes_every_resource(void **state)
{
    (void)state;
    static const char *const contract_paths[] = {
        "/v1/waste-types",
        "/v1/organizations",
        "/v1/organizations/{id}",
        "/v1/organizations/{id}/storages",
        "/v1/organizations/{id}/transfers",
        "/v1/storages",
        "/v1/storages/{id}",
        "/v1/storages/{id}/unload",
        "/v1/routes",
        "/v1/routes/{id}",
        "/v1/transfers",
        "/v1/transfers/{id}",
        "/v1/stats",
    };
    it_response *response = it_get("/openapi.json");
    EXPECT_STATUS(response, 200);
    const cJSON *paths = it_json_at(response->json, "paths");
    assert_true(cJSON_IsObject(paths));
    for (size_t i = 0; i < sizeof contract_paths / sizeof contract_paths[0]; i++) {
        if (cJSON_GetObjectItemCaseSensitive(paths, contract_paths[i]) == NULL) {
            fail_msg("/openapi.json has no path %s", contract_paths[i]);
        }
    }
    it_response_free(response);
}

/* ---------------------------------------------------------------- 404 / 405 */

static void test_unknown_path_is_404_problem(void **state)
{
    (void)state;
    EXPECT_REJECTED_TYPE("GET", "/v1/no-such-thing", NULL, 404, "not-found", NULL);
    EXPECT_REJECTED_TYPE("GET", "/no-such-thing", NULL, 404, "not-found", NULL);
    EXPECT_REJECTED_TYPE("GET", "/v1/organizations/1/no-such-thing", NULL, 404, "not-found", NULL);
    EXPECT_REJECTED_TYPE("POST", "/v1/no-such-thing", "{}", 404, "not-found", NULL);
}

/* HEAD is GET without the body: same status and headers, Content-Length of the GET. */
static void test_head_is_get_without_a_body(void **state)
{
    (void)state;
    const char *paths[] = {"/healthz", "/v1/waste-types", "/openapi.json", "/docs"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        it_response *get = it_request("GET", paths[i], NULL, NULL);
        it_response *head = it_request("HEAD", paths[i], NULL, NULL);
        EXPECT_STATUS(get, 200);
        EXPECT_STATUS(head, 200);
        assert_int_equal(head->body_len, 0);
        const char *length = EXPECT_HEADER(head, "Content-Length");
        assert_int_equal(strtoll(length, NULL, 10), (long long)get->body_len);
        it_response_free(get);
        it_response_free(head);
    }
    /* Without credentials, HEAD on /v1 is refused like GET. */
    const char *none[] = {"Authorization:", NULL};
    it_response *head = it_request("HEAD", "/v1/waste-types", NULL, none);
    EXPECT_STATUS(head, 401);
    it_response_free(head);
}

/* Asserts the Allow header lists exactly the expected methods (HEAD/OPTIONS tolerated). */
static void assert_allow(it_response *response, const char *const *expected)
{
    const char *allow = it_header(response, "Allow");
    if (allow == NULL) {
        fail_msg("%s -> %d without an Allow header", it_request_line(response), response->status);
    }
    char *copy = strdup(allow);
    assert_non_null(copy);
    size_t listed = 0;
    char *saveptr = NULL;
    for (char *token = strtok_r(copy, ", ", &saveptr); token != NULL;
         token = strtok_r(NULL, ", ", &saveptr)) {
        bool wanted = false;
        for (size_t i = 0; expected[i] != NULL; i++) {
            wanted = wanted || strcmp(token, expected[i]) == 0;
        }
        if (wanted) {
            listed++;
        } else if (strcmp(token, "HEAD") != 0 && strcmp(token, "OPTIONS") != 0) {
            fail_msg("%s: Allow '%s' lists %s", it_request_line(response), allow, token);
        }
    }
    size_t expected_count = 0;
    while (expected[expected_count] != NULL) {
        expected_count++;
    }
    if (listed != expected_count) {
        fail_msg("%s: Allow '%s' does not list every expected method", it_request_line(response),
                 allow);
    }
    free(copy);
}

static void assert_method_not_allowed(const char *method, const char *path, const char *body,
                                      const char *const *allowed)
{
    char *before = it_db_fingerprint();
    it_response *response = it_request(method, path, body, NULL);
    EXPECT_PROBLEM_TYPE(response, 405, "method-not-allowed", NULL);
    assert_allow(response, allowed);
    it_response_free(response);
    ASSERT_UNCHANGED(before);
}

static void test_wrong_method_is_405_with_allow(void **state)
{
    (void)state;
    static const char *const get_post[] = {"GET", "POST", NULL};
    static const char *const get_patch_delete[] = {"GET", "PATCH", "DELETE", NULL};
    static const char *const post_only[] = {"POST", NULL};
    static const char *const get_only[] = {"GET", NULL};
    long long org = it_create_org("method-probe", NULL);
    char path[64];

    assert_method_not_allowed("DELETE", "/v1/organizations", NULL, get_post);
    assert_method_not_allowed("PATCH", "/v1/organizations", "{}", get_post);
    assert_method_not_allowed("PUT", "/v1/storages/1", "{}", get_patch_delete);
    snprintf(path, sizeof path, "/v1/organizations/%lld", org);
    assert_method_not_allowed("PUT", path, "{\"name\":\"x\"}", get_patch_delete);
    assert_method_not_allowed("POST", path, "{\"name\":\"x\"}", get_patch_delete);
    assert_method_not_allowed("DELETE", "/v1/waste-types", NULL, get_post);
    assert_method_not_allowed("GET", "/v1/storages/1/unload", NULL, post_only);
    assert_method_not_allowed("DELETE", "/v1/transfers/1", NULL, get_only);
    assert_method_not_allowed("POST", "/v1/stats", "{}", get_only);
}

/* ---------------------------------------------------------------- 415 / 413 */

static void test_body_without_json_content_type_is_415(void **state)
{
    (void)state;
    char *name = it_unique_name("media");
    char *body = tu_format("{\"name\":\"%s\"}", name);
    static const char *const json_x[] = {"Content-Type: application/jsonx", NULL};
    static const char *const form[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    EXPECT_REJECTED_WITH_HEADERS("POST", "/v1/organizations", body, TEXT_PLAIN, 415,
                                 "unsupported-media-type", NULL);
    EXPECT_REJECTED_WITH_HEADERS("POST", "/v1/organizations", body, NO_CONTENT_TYPE, 415,
                                 "unsupported-media-type", NULL);
    EXPECT_REJECTED_WITH_HEADERS("POST", "/v1/organizations", body, json_x, 415,
                                 "unsupported-media-type", NULL);
    EXPECT_REJECTED_WITH_HEADERS("POST", "/v1/organizations", body, form, 415,
                                 "unsupported-media-type", NULL);

    long long org = it_create_org(name, NULL);
    char path[64];
    snprintf(path, sizeof path, "/v1/organizations/%lld", org);
    EXPECT_REJECTED_WITH_HEADERS("PATCH", path, "{\"name\":\"renamed\"}", TEXT_PLAIN, 415,
                                 "unsupported-media-type", NULL);
    free(body);
    free(name);
}

static void test_json_content_type_with_charset_is_accepted(void **state)
{
    (void)state;
    static const char *const charset[] = {"Content-Type: application/json; charset=utf-8", NULL};
    char *name = it_unique_name("charset");
    char *body = tu_format("{\"name\":\"%s\"}", name);
    ASSERT_POSTED("/v1/organizations", body, charset, "name", name);
    free(body);
    free(name);
}

/* Each of bodies POSTed as a waste type is refused, 422 naming field. */
static void refuse_waste_types(const char *const *bodies, size_t count, const char *field)
{
    for (size_t i = 0; i < count; i++) {
        EXPECT_REJECTED_TYPE("POST", "/v1/waste-types", bodies[i], 422, "validation-error", field);
    }
}

/* A valid organization body padded with trailing whitespace to exactly total_len bytes. */
static char *padded_org_body(const char *name, size_t total_len)
{
    char *core = tu_format("{\"name\":\"%s\"}", name);
    size_t core_len = strlen(core);
    assert_true(core_len <= total_len);
    char *body = malloc(total_len + 1);
    assert_non_null(body);
    memcpy(body, core, core_len);
    memset(body + core_len, ' ', total_len - core_len);
    body[total_len] = '\0';
    free(core);
    return body;
}

static void test_body_over_64_kib_is_413(void **state)
{
    (void)state;
    char *name = it_unique_name("big");
    char *over_by_one = padded_org_body(name, BODY_LIMIT + 1);
    EXPECT_REJECTED_TYPE("POST", "/v1/organizations", over_by_one, 413, "payload-too-large", NULL);
    char *long_name = tu_repeat("n", 70000);
    char *huge = tu_format("{\"name\":\"%s\"}", long_name);
    EXPECT_REJECTED_TYPE("POST", "/v1/organizations", huge, 413, "payload-too-large", NULL);
    free(huge);
    free(long_name);
    free(over_by_one);

    /* Exactly 64 KiB is within the limit. */
    char *at_limit = padded_org_body(name, BODY_LIMIT);
    ASSERT_POSTED("/v1/organizations", at_limit, NULL, "name", name);
    free(at_limit);
    free(name);
}

/* ---------------------------------------------------------------- malformed JSON */

/* An organization body whose capacity is inner nested depth times in open ... close. */
static char *nested(const char *open_one, const char *inner, const char *close_one, size_t depth)
{
    char *open = tu_repeat(open_one, depth);
    char *close = tu_repeat(close_one, depth);
    char *body = tu_format("{\"name\":\"deep\",\"capacity\":%s%s%s}", open, inner, close);
    free(open);
    free(close);
    return body;
}

static char *nested_objects(size_t depth)
{
    return nested("{\"a\":", "1", "}", depth);
}

static char *nested_arrays(size_t depth)
{
    return nested("[", "", "]", depth);
}

static void test_malformed_json_is_400(void **state)
{
    (void)state;
    static const char *const bodies[] = {
        "{\"name\":",
        "{\"name\":\"a\"",
        "{name:\"a\"}",
        "{'name':'a'}",
        "{\"name\":\"a\",}",
        "{\"name\":\"a\"} x",
        "{\"name\":\"a\"}{}",
        "{\"name\":\"a\"}]",
        "{\"name\":\"a\",\"name\":\"b\"}",
        "{\"name\":\"a\",\"capacity\":{\"glass\":1,\"glass\":2}}",
        "{\"name\":\"\xff\xfe\"}",
        "{\"name\":\"\xc0\xaf\"}",
        "{\"name\":\"a\xe2\x82\"}",
        "{\"name\":\"a\\u0000b\"}",
        "{\"name\":\"a\",\"capacity\":{\"glass\":NaN}}",
        "tru",
        "nul",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        EXPECT_REJECTED_TYPE("POST", "/v1/organizations", bodies[i], 400, "malformed-json", NULL);
    }
    size_t depths[] = {40, 100, 5000};
    for (size_t i = 0; i < sizeof depths / sizeof depths[0]; i++) {
        char *objects = nested_objects(depths[i]);
        EXPECT_REJECTED_TYPE("POST", "/v1/organizations", objects, 400, "malformed-json", NULL);
        free(objects);
        char *arrays = nested_arrays(depths[i]);
        EXPECT_REJECTED_TYPE("POST", "/v1/organizations", arrays, 400, "malformed-json", NULL);
        free(arrays);
    }
    /* The same for PATCH. */
    long long org = it_create_org("malformed-patch-target", NULL);
    char path[64];
    snprintf(path, sizeof path, "/v1/organizations/%lld", org);
    EXPECT_REJECTED_TYPE("PATCH", path, "{\"name\":\"a\",\"name\":\"b\"}", 400, "malformed-json",
                         NULL);
    EXPECT_REJECTED_TYPE("PATCH", path, "{\"name\":\"a\"} []", 400, "malformed-json", NULL);
}

static void test_body_not_an_object_is_422(void **state)
{
    (void)state;
    static const char *const bodies[] = {"[]", "\"name\"", "42", "null", "[{\"name\":\"a\"}]"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        EXPECT_REJECTED_TYPE("POST", "/v1/organizations", bodies[i], 422, "validation-error", NULL);
    }
}

/* ---------------------------------------------------------------- X-Request-Id */

static void test_request_id_echoed(void **state)
{
    (void)state;
    static const char *const with_id[] = {"X-Request-Id: it-foundation-req-42", NULL};
    it_response *response = it_request("GET", "/healthz", NULL, with_id);
    EXPECT_STATUS(response, 200);
    assert_true(header_equals(response, "X-Request-Id", "it-foundation-req-42"));
    it_response_free(response);

    /* Error responses carry it too. */
    response = it_request("GET", "/v1/no-such-thing", NULL, with_id);
    EXPECT_STATUS(response, 404);
    assert_true(header_equals(response, "X-Request-Id", "it-foundation-req-42"));
    it_response_free(response);

    response = it_request("POST", "/v1/organizations", "{\"name\":", with_id);
    EXPECT_STATUS(response, 400);
    assert_true(header_equals(response, "X-Request-Id", "it-foundation-req-42"));
    it_response_free(response);
}

static void test_request_id_generated(void **state)
{
    (void)state;
    it_response *first = it_get("/healthz");
    it_response *second = it_get("/v1/waste-types");
    EXPECT_STATUS(first, 200);
    EXPECT_STATUS(second, 200);
    const char *first_id = it_header(first, "X-Request-Id");
    const char *second_id = it_header(second, "X-Request-Id");
    assert_non_null(first_id);
    assert_non_null(second_id);
    assert_true(strlen(first_id) >= 1 && strlen(first_id) <= 128);
    assert_string_not_equal(first_id, second_id);
    it_response_free(first);
    it_response_free(second);

    /* 129 characters is not a safe id: the server makes its own. */
    char *too_long = tu_repeat("r", 129);
    char *header = tu_format("X-Request-Id: %s", too_long);
    const char *const headers[] = {header, NULL};
    it_response *response = it_request("GET", "/healthz", NULL, headers);
    EXPECT_STATUS(response, 200);
    const char *id = EXPECT_HEADER(response, "X-Request-Id");
    assert_true(strlen(id) >= 1 && strlen(id) <= 128);
    it_response_free(response);
    free(header);
    free(too_long);
}

/* ---------------------------------------------------------------- waste types */

static bool list_has_code(const cJSON *items, const char *code, const char **name_out)
{
    const cJSON *item;
    cJSON_ArrayForEach(item, items)
    {
        const cJSON *item_code = cJSON_GetObjectItemCaseSensitive(item, "code");
        if (cJSON_IsString(item_code) && strcmp(item_code->valuestring, code) == 0) {
            if (name_out != NULL) {
                *name_out = it_json_str(item, "name");
            }
            return true;
        }
    }
    return false;
}

static void test_waste_types_seeded(void **state)
{
    (void)state;
    it_response *response = it_get("/v1/waste-types");
    EXPECT_STATUS(response, 200);
    assert_json_content_type(response);
    const cJSON *items = it_json_at(response->json, "items");
    assert_true(cJSON_IsArray(items));
    assert_true(cJSON_IsNull(it_json_at(response->json, "next_cursor")));
    static const char *const seeded[] = {"bio", "glass", "plastic"};
    for (size_t i = 0; i < 3; i++) {
        const char *name = NULL;
        if (!list_has_code(items, seeded[i], &name)) {
            fail_msg("waste type %s missing from %s", seeded[i], response->body);
        }
        assert_true(strlen(name) > 0);
    }
    /* Ordered by code. */
    const char *previous = NULL;
    const cJSON *item;
    cJSON_ArrayForEach(item, items)
    {
        const char *code = it_json_str(item, "code");
        if (previous != NULL) {
            assert_true(strcmp(previous, code) < 0);
        }
        previous = code;
    }
    it_response_free(response);

    response = it_get("/v1/waste-types/glass");
    EXPECT_STATUS(response, 200);
    assert_string_equal(it_json_str(response->json, "code"), "glass");
    assert_true(strlen(it_json_str(response->json, "name")) > 0);
    it_response_free(response);

    EXPECT_REJECTED_TYPE("GET", "/v1/waste-types/no_such_type", NULL, 404, "not-found", NULL);
}

static void test_waste_type_create_and_duplicate(void **state)
{
    (void)state;
    it_response *response = it_post("/v1/waste-types", "{\"code\":\"metal\",\"name\":\"Metal\"}");
    EXPECT_STATUS(response, 201);
    ASSERT_MEMBERS(response->json, "{\"code\":\"metal\",\"name\":\"Metal\"}");
    assert_true(header_equals(response, "Location", "/v1/waste-types/metal"));
    it_response_free(response);

    response = it_get("/v1/waste-types?limit=1000");
    EXPECT_STATUS(response, 200);
    const char *name = NULL;
    assert_true(list_has_code(it_json_at(response->json, "items"), "metal", &name));
    assert_string_equal(name, "Metal");
    it_response_free(response);

    response = it_get("/v1/waste-types/metal");
    EXPECT_STATUS(response, 200);
    ASSERT_MEMBERS(response->json, "{\"code\":\"metal\",\"name\":\"Metal\"}");
    it_response_free(response);

    EXPECT_REJECTED_TYPE("POST", "/v1/waste-types", "{\"code\":\"metal\",\"name\":\"Metal\"}", 409,
                         "conflict", NULL);
    EXPECT_REJECTED_TYPE("POST", "/v1/waste-types", "{\"code\":\"metal\",\"name\":\"Other\"}", 409,
                         "conflict", NULL);

    /* The new type is usable at once. */
    char *org_name = it_unique_name("metal-user");
    long long org = it_create_org(org_name, "{\"metal\":5}");
    ASSERT_GET_AT(tu_fmt("/v1/organizations/%lld", org), "capacity", "{\"metal\":5}");
    free(org_name);
}

static void test_waste_type_bad_codes_422(void **state)
{
    (void)state;
    char *code_33 = tu_repeat("a", 33);
    char *body_33 = tu_format("{\"code\":\"%s\",\"name\":\"Long\"}", code_33);
    const char *const bodies[] = {
        "{\"code\":\"Metal\",\"name\":\"Metal\"}",
        "{\"code\":\"1abc\",\"name\":\"Digits\"}",
        "{\"code\":\"\",\"name\":\"Empty\"}",
        body_33,
        "{\"code\":\"a-b\",\"name\":\"Dash\"}",
        "{\"code\":\"_ab\",\"name\":\"Underscore first\"}",
        "{\"code\":\" ab\",\"name\":\"Space\"}",
        "{\"code\":\"ab \",\"name\":\"Space\"}",
        "{\"code\":\"m\xc3\xa9tal\",\"name\":\"Accent\"}",
        "{\"code\":5,\"name\":\"Number\"}",
        "{\"code\":null,\"name\":\"Null\"}",
        "{\"name\":\"Missing\"}",
    };
    refuse_waste_types(bodies, sizeof bodies / sizeof bodies[0], "code");
    free(body_33);
    free(code_33);

    /* The edges of the pattern are accepted. */
    char *code_32 = tu_format("z%s", "abcdefghijklmnopqrstuvwxyz_0123");
    assert_int_equal(strlen(code_32), 32);
    const char *good_codes[] = {code_32, "y", "x_1"};
    for (size_t i = 0; i < 3; i++) {
        char *body = tu_format("{\"code\":\"%s\",\"name\":\"Edge\"}", good_codes[i]);
        ASSERT_POSTED("/v1/waste-types", body, NULL, "code", good_codes[i]);
        free(body);
    }
    free(code_32);
}

static void test_waste_type_bad_names_422(void **state)
{
    (void)state;
    char *name_201 = tu_repeat("n", 201);
    char *body_201 = tu_format("{\"code\":\"paper\",\"name\":\"%s\"}", name_201);
    const char *const bodies[] = {
        "{\"code\":\"paper\",\"name\":\"\"}",
        body_201,
        "{\"code\":\"paper\",\"name\":7}",
        "{\"code\":\"paper\",\"name\":null}",
        "{\"code\":\"paper\"}",
    };
    refuse_waste_types(bodies, sizeof bodies / sizeof bodies[0], "name");
    free(body_201);
    free(name_201);

    EXPECT_REJECTED_TYPE("POST", "/v1/waste-types",
                         "{\"code\":\"paper\",\"name\":\"Paper\",\"color\":\"white\"}", 422,
                         "validation-error", "color");

    /* 200 characters is the limit, counted in characters, not bytes. */
    char *name_200 = tu_repeat("\xd0\xb6", 200);
    char *body_200 = tu_format("{\"code\":\"paper\",\"name\":\"%s\"}", name_200);
    ASSERT_POSTED("/v1/waste-types", body_200, NULL, "name", name_200);
    free(body_200);
    free(name_200);
}

/* ---------------------------------------------------------------- pagination */

static void test_waste_types_pagination_walk(void **state)
{
    (void)state;
    it_response *all = it_get("/v1/waste-types?limit=1000");
    EXPECT_STATUS(all, 200);
    const cJSON *all_items = it_json_at(all->json, "items");
    int total = cJSON_GetArraySize(all_items);
    assert_true(total >= 3);

    /* Pages of one; only the last page may be empty. */
    int pages = tu_walk_pages("/v1/waste-types", 1, all_items);
    assert_true(pages == total || pages == total + 1);
    it_response_free(all);
}

static void test_bad_limit_and_cursor_422(void **state)
{
    (void)state;
    static const char *const lists[] = {"/v1/waste-types", "/v1/organizations", "/v1/storages"};
    static const char *const limits[] = {"0", "1001", "-1", "abc", "1.5", "99999999999999999999"};
    for (size_t l = 0; l < 3; l++) {
        for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
            char *path = tu_format("%s?limit=%s", lists[l], limits[i]);
            EXPECT_REJECTED_TYPE("GET", path, NULL, 422, "validation-error", "limit");
            free(path);
        }
        char *path = tu_format("%s?cursor=not-a-cursor", lists[l]);
        EXPECT_REJECTED_TYPE("GET", path, NULL, 422, "validation-error", "cursor");
        free(path);

        it_response *response = it_get("%s?limit=1000", lists[l]);
        EXPECT_STATUS(response, 200);
        assert_true(cJSON_IsArray(it_json_at(response->json, "items")));
        it_response_free(response);
        response = it_get("%s?limit=1", lists[l]);
        EXPECT_STATUS(response, 200);
        assert_true(cJSON_GetArraySize(it_json_at(response->json, "items")) <= 1);
        it_response_free(response);
    }
}

/* ---------------------------------------------------------------- Idempotency-Key */

static int count_orgs_named(const char *name)
{
    it_response *response = it_get("/v1/organizations?limit=1000");
    EXPECT_STATUS(response, 200);
    int count = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, it_json_at(response->json, "items"))
    {
        count += strcmp(it_json_str(item, "name"), name) == 0;
    }
    assert_true(cJSON_IsNull(it_json_at(response->json, "next_cursor")));
    it_response_free(response);
    return count;
}

static void test_idempotency_replay(void **state)
{
    (void)state;
    char *name = it_unique_name("idem");
    char *key = it_unique_name("Idempotency-Key: it-key");
    char *body = tu_format("{\"name\":\"%s\",\"capacity\":{\"glass\":5}}", name);
    const char *const headers[] = {key, NULL};

    it_response *first = it_request("POST", "/v1/organizations", body, headers);
    EXPECT_STATUS(first, 201);
    const char *replayed = it_header(first, "Idempotent-Replayed");
    assert_true(replayed == NULL || strcmp(replayed, "true") != 0);
    char *after_first = it_db_fingerprint();

    it_response *second = it_request("POST", "/v1/organizations", body, headers);
    EXPECT_STATUS(second, 201);
    assert_string_equal(second->body, first->body);
    assert_true(header_equals(second, "Idempotent-Replayed", "true"));
    char *after_second = it_db_fingerprint();
    assert_string_equal(after_first, after_second);
    assert_int_equal(count_orgs_named(name), 1);

    /* Same key, different body: 422 and nothing changes. */
    char *other_body = tu_format("{\"name\":\"%s-other\"}", name);
    EXPECT_REJECTED_WITH_HEADERS("POST", "/v1/organizations", other_body, headers, 422,
                                 "idempotency-key-reused", NULL);
    /* Same key and body on another path is another request too. */
    EXPECT_REJECTED_WITH_HEADERS("POST", "/v1/storages", body, headers, 422,
                                 "idempotency-key-reused", NULL);

    /* Without a key the same body is a new request: a duplicate name. */
    EXPECT_REJECTED_TYPE("POST", "/v1/organizations", body, 409, "conflict", NULL);
    assert_int_equal(count_orgs_named(name), 1);

    it_response_free(first);
    it_response_free(second);
    free(after_first);
    free(after_second);
    free(other_body);
    free(body);
    free(key);
    free(name);
}

/* A rejected request changes nothing, its key included: the rejection is not stored,
 * so the same key later carries a corrected request (docs/design.md, "Conventions": a rolled-back
 * first attempt frees the key). */
static void test_idempotency_rejection_frees_key(void **state)
{
    (void)state;
    char *key = it_unique_name("Idempotency-Key: it-rejected");
    const char *const headers[] = {key, NULL};
    char *before = it_db_fingerprint();
    it_response *first = it_request("POST", "/v1/organizations", "{\"name\":\"\"}", headers);
    EXPECT_PROBLEM_TYPE(first, 422, "validation-error", "name");
    assert_null(it_header(first, "Idempotent-Replayed"));
    it_response *second = it_request("POST", "/v1/organizations", "{\"name\":\"\"}", headers);
    EXPECT_PROBLEM_TYPE(second, 422, "validation-error", "name");
    assert_null(it_header(second, "Idempotent-Replayed"));
    ASSERT_UNCHANGED(before);

    char *name = it_unique_name("idem-after-rejection");
    char *body = tu_format("{\"name\":\"%s\"}", name);
    it_response *fixed = it_request("POST", "/v1/organizations", body, headers);
    assert_int_equal(fixed->status, 201);
    assert_null(it_header(fixed, "Idempotent-Replayed"));
    it_response *replay = it_request("POST", "/v1/organizations", body, headers);
    assert_int_equal(replay->status, 201);
    assert_string_equal(replay->body, fixed->body);
    assert_true(header_equals(replay, "Idempotent-Replayed", "true"));
    assert_int_equal(count_orgs_named(name), 1);
    it_response_free(first);
    it_response_free(second);
    it_response_free(fixed);
    it_response_free(replay);
    free(name);
    free(body);
    free(key);
}

static void test_idempotency_key_format(void **state)
{
    (void)state;
    char *long_key = tu_repeat("k", 201);
    char *header = tu_format("Idempotency-Key: %s", long_key);
    const char *const too_long[] = {header, NULL};
    char *name = it_unique_name("idem-format");
    char *body = tu_format("{\"name\":\"%s\"}", name);
    EXPECT_REJECTED_WITH_HEADERS("POST", "/v1/organizations", body, too_long, 400, "bad-request",
                                 NULL);
    assert_int_equal(count_orgs_named(name), 0);

    /* 200 printable characters are fine. */
    free(header);
    header = tu_format("Idempotency-Key: it-%ld-%s", (long)getpid(), long_key);
    header[strlen("Idempotency-Key: ") + 200] = '\0';
    const char *const at_limit[] = {header, NULL};
    it_response *response = it_request("POST", "/v1/organizations", body, at_limit);
    EXPECT_STATUS(response, 201);
    it_response_free(response);
    assert_int_equal(count_orgs_named(name), 1);
    free(body);
    free(name);
    free(header);
    free(long_key);
}

/* ---------------------------------------------------------------- runner */

RUNNER_MAIN(
    tu_setup, tu_teardown,
    {
        cmocka_unit_test(test_healthz),
        cmocka_unit_test(test_readyz),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_openapi_document),
        cmocka_unit_test(test_openapi_describes_every_resource),
        cmocka_unit_test(test_unknown_path_is_404_problem),
        cmocka_unit_test(test_head_is_get_without_a_body),
        cmocka_unit_test(test_wrong_method_is_405_with_allow),
        cmocka_unit_test(test_body_without_json_content_type_is_415),
        cmocka_unit_test(test_json_content_type_with_charset_is_accepted),
        cmocka_unit_test(test_body_over_64_kib_is_413),
        cmocka_unit_test(test_malformed_json_is_400),
        cmocka_unit_test(test_body_not_an_object_is_422),
        cmocka_unit_test(test_request_id_echoed),
        cmocka_unit_test(test_request_id_generated),
        cmocka_unit_test(test_waste_types_seeded),
        cmocka_unit_test(test_waste_type_create_and_duplicate),
        cmocka_unit_test(test_waste_type_bad_codes_422),
        cmocka_unit_test(test_waste_type_bad_names_422),
        cmocka_unit_test(test_waste_types_pagination_walk),
        cmocka_unit_test(test_bad_limit_and_cursor_422),
        cmocka_unit_test(test_idempotency_replay),
        cmocka_unit_test(test_idempotency_rejection_frees_key),
        cmocka_unit_test(test_idempotency_key_format),
        /* Runs last: whatever the tests above did, sql/audit.sql finds no violated invariant. */
        TU_AUDIT_TEST,
    })
