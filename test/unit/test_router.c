/* Unit tests of http/router: literal, {id} and {code} segments against a copy of part of
 * the API route table, path edge cases (slashes, empty segments, id forms and int64
 * overflow), 405 with the exact Allow bits and text, and method-name mapping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "http/router.h"
#include "runner.h"

#define COUNT(array) ((int)(sizeof(array) / sizeof((array)[0])))

/* Distinct dummy handlers: the router must hand back exactly the one of the matched route. */
static int handler_healthz, handler_wt_list, handler_wt_create, handler_wt_get, handler_org_list,
    handler_org_create, handler_org_get, handler_org_patch, handler_org_delete,
    handler_org_storages, handler_transfers_create, handler_storages_get, handler_storages_patch,
    handler_storages_delete, handler_storages_unload, handler_pair, handler_four;

#define R(method, pattern, name, fn)                                                               \
    {                                                                                              \
        method, pattern, name, (void *)&fn                                                         \
    }

/* Copied from lib/api/routes_table.c (same patterns and names), plus two test-only
 * patterns with several {id} segments. */
static const router_route routes[] = {
    R(HTTP_GET, "/healthz", "healthz", handler_healthz),
    R(HTTP_GET, "/v1/waste-types", "waste_types.list", handler_wt_list),
    R(HTTP_POST, "/v1/waste-types", "waste_types.create", handler_wt_create),
    R(HTTP_GET, "/v1/waste-types/{code}", "waste_types.get", handler_wt_get),
    R(HTTP_GET, "/v1/organizations", "organizations.list", handler_org_list),
    R(HTTP_POST, "/v1/organizations", "organizations.create", handler_org_create),
    R(HTTP_GET, "/v1/organizations/{id}", "organizations.get", handler_org_get),
    R(HTTP_PATCH, "/v1/organizations/{id}", "organizations.patch", handler_org_patch),
    R(HTTP_DELETE, "/v1/organizations/{id}", "organizations.delete", handler_org_delete),
    R(HTTP_GET, "/v1/organizations/{id}/storages", "organizations.storages", handler_org_storages),
    R(HTTP_POST, "/v1/organizations/{id}/transfers", "transfers.create", handler_transfers_create),
    R(HTTP_GET, "/v1/storages/{id}", "storages.get", handler_storages_get),
    R(HTTP_PATCH, "/v1/storages/{id}", "storages.patch", handler_storages_patch),
    R(HTTP_DELETE, "/v1/storages/{id}", "storages.delete", handler_storages_delete),
    R(HTTP_POST, "/v1/storages/{id}/unload", "storages.unload", handler_storages_unload),
    R(HTTP_GET, "/t/{id}/pair/{id}", "test.pair", handler_pair),
    R(HTTP_GET, "/t/{id}/{id}/{id}/{id}", "test.four", handler_four),
};

/* Fills the match with garbage first, so stale fields cannot pass for results. */
static router_result find(int method, const char *path, router_match *match)
{
    memset(match, 0x5a, sizeof *match);
    return router_find(routes, COUNT(routes), method, path, match);
}

static void assert_found(int method, const char *path, const char *name, const void *handler,
                         int id_count, int64_t id0, int allowed)
{
    router_match match;
    router_result result = find(method, path, &match);
    if (result != ROUTER_FOUND) {
        fail_msg("%s: expected ROUTER_FOUND, got %d", path, (int)result);
    }
    assert_non_null(match.route);
    assert_string_equal(match.route->name, name);
    assert_ptr_equal(match.route->handler, handler);
    assert_int_equal(match.route->method, method);
    assert_int_equal(match.id_count, id_count);
    if (id_count > 0) {
        assert_int_equal(match.ids[0], id0);
    }
    assert_int_equal(match.allowed, allowed);
}

static void assert_not_found(int method, const char *path)
{
    router_match match;
    router_result result = find(method, path, &match);
    if (result != ROUTER_NOT_FOUND) {
        fail_msg("\"%s\": expected ROUTER_NOT_FOUND, got %d", path, (int)result);
    }
    assert_null(match.route);
    assert_int_equal(match.allowed, 0);
}

static void test_literal_routes(void **state)
{
    (void)state;
    assert_found(HTTP_GET, "/healthz", "healthz", &handler_healthz, 0, 0, HTTP_GET);
    assert_found(HTTP_GET, "/v1/waste-types", "waste_types.list", &handler_wt_list, 0, 0,
                 HTTP_GET | HTTP_POST);
    assert_found(HTTP_POST, "/v1/waste-types", "waste_types.create", &handler_wt_create, 0, 0,
                 HTTP_GET | HTTP_POST);
    assert_found(HTTP_POST, "/v1/organizations", "organizations.create", &handler_org_create, 0, 0,
                 HTTP_GET | HTTP_POST);
}

static void test_id_routes(void **state)
{
    (void)state;
    const int org_methods = HTTP_GET | HTTP_PATCH | HTTP_DELETE;
    assert_found(HTTP_GET, "/v1/organizations/1", "organizations.get", &handler_org_get, 1, 1,
                 org_methods);
    assert_found(HTTP_PATCH, "/v1/organizations/42", "organizations.patch", &handler_org_patch, 1,
                 42, org_methods);
    assert_found(HTTP_DELETE, "/v1/organizations/7", "organizations.delete", &handler_org_delete, 1,
                 7, org_methods);
    assert_found(HTTP_GET, "/v1/organizations/12/storages", "organizations.storages",
                 &handler_org_storages, 1, 12, HTTP_GET);
    assert_found(HTTP_POST, "/v1/organizations/12/transfers", "transfers.create",
                 &handler_transfers_create, 1, 12, HTTP_POST);
    assert_found(HTTP_POST, "/v1/storages/1000000/unload", "storages.unload",
                 &handler_storages_unload, 1, 1000000, HTTP_POST);
    assert_found(HTTP_GET, "/v1/storages/9223372036854775807", "storages.get",
                 &handler_storages_get, 1, INT64_MAX, HTTP_GET | HTTP_PATCH | HTTP_DELETE);
    assert_found(HTTP_GET, "/v1/storages/1234567890123456789", "storages.get",
                 &handler_storages_get, 1, 1234567890123456789LL,
                 HTTP_GET | HTTP_PATCH | HTTP_DELETE);
}

static void test_several_ids(void **state)
{
    (void)state;
    router_match match;
    assert_int_equal(find(HTTP_GET, "/t/5/pair/9223372036854775806", &match), ROUTER_FOUND);
    assert_string_equal(match.route->name, "test.pair");
    assert_int_equal(match.id_count, 2);
    assert_int_equal(match.ids[0], 5);
    assert_int_equal(match.ids[1], INT64_MAX - 1);
    assert_string_equal(match.code, "");

    assert_int_equal(find(HTTP_GET, "/t/4/3/2/1", &match), ROUTER_FOUND);
    assert_string_equal(match.route->name, "test.four");
    assert_int_equal(match.id_count, ROUTER_MAX_PARAMS);
    assert_int_equal(match.ids[0], 4);
    assert_int_equal(match.ids[1], 3);
    assert_int_equal(match.ids[2], 2);
    assert_int_equal(match.ids[3], 1);

    assert_not_found(HTTP_GET, "/t/4/3/2/0");
    assert_not_found(HTTP_GET, "/t/4/3/2");
    assert_not_found(HTTP_GET, "/t/4/3/2/1/0");
    assert_not_found(HTTP_GET, "/t/5/pairs/6");
}

static void assert_method_not_allowed(int method, const char *path, int allowed,
                                      const char *allow_header);

static void test_head_is_get_without_a_body(void **state)
{
    (void)state;
    router_match match;
    assert_int_equal(find(HTTP_HEAD, "/v1/waste-types/glass", &match), ROUTER_FOUND);
    assert_string_equal(match.route->name, "waste_types.get");
    assert_string_equal(match.code, "glass");
    /* A path without GET has no HEAD either; the Allow list is the routes' own. */
    assert_method_not_allowed(HTTP_HEAD, "/v1/organizations/7/transfers", HTTP_POST, "POST");
}

static void test_code_routes(void **state)
{
    (void)state;
    router_match match;
    assert_int_equal(find(HTTP_GET, "/v1/waste-types/glass", &match), ROUTER_FOUND);
    assert_string_equal(match.route->name, "waste_types.get");
    assert_ptr_equal(match.route->handler, &handler_wt_get);
    assert_string_equal(match.code, "glass");
    assert_int_equal(match.id_count, 0);
    assert_int_equal(match.allowed, HTTP_GET);

    assert_int_equal(find(HTTP_GET, "/v1/waste-types/e_waste_2", &match), ROUTER_FOUND);
    assert_string_equal(match.code, "e_waste_2");
    assert_int_equal(find(HTTP_GET, "/v1/waste-types/x", &match), ROUTER_FOUND);
    assert_string_equal(match.code, "x");

    const char *code32 = "abcdefghijklmnopqrstuvwxyz_01234"; /* 32 characters */
    char path[128];
    strcpy(path, "/v1/waste-types/");
    strcat(path, code32);
    assert_int_equal(find(HTTP_GET, path, &match), ROUTER_FOUND);
    assert_string_equal(match.code, code32);

    strcat(path, "5"); /* 33 characters */
    assert_not_found(HTTP_GET, path);
    assert_not_found(HTTP_GET, "/v1/waste-types/Glass");
    assert_not_found(HTTP_GET, "/v1/waste-types/1glass");
    assert_not_found(HTTP_GET, "/v1/waste-types/_glass");
    assert_not_found(HTTP_GET, "/v1/waste-types/gl-ass");
    assert_not_found(HTTP_GET, "/v1/waste-types/gl%20ass");
    assert_not_found(HTTP_GET, "/v1/waste-types/gl ass");
    assert_not_found(HTTP_GET, "/v1/waste-types/\xd0\xb6");
    assert_not_found(HTTP_GET, "/v1/waste-types/glass/x");
}

/* Each of the paths, asked with each method in methods (bits): unknown, 404. */
static void assert_none_found(const char *const *paths, size_t count, int methods)
{
    static const int each[] = {HTTP_GET, HTTP_POST, HTTP_PUT};
    for (size_t i = 0; i < count; i++) {
        for (size_t m = 0; m < sizeof each / sizeof each[0]; m++) {
            if (methods & each[m]) {
                assert_not_found(each[m], paths[i]);
            }
        }
    }
}

static const char *const bad_ids[] = {
    "/v1/organizations/0",
    "/v1/organizations/-1",
    "/v1/organizations/01",
    "/v1/organizations/00",
    "/v1/organizations/abc",
    "/v1/organizations/1abc",
    "/v1/organizations/+1",
    "/v1/organizations/ 1",
    "/v1/organizations/1 ",
    "/v1/organizations/1e3",
    "/v1/organizations/1.0",
    "/v1/organizations/0x10",
    "/v1/organizations/9223372036854775808",
    "/v1/organizations/9223372036854775810",
    "/v1/organizations/18446744073709551616",
    "/v1/organizations/99999999999999999999",
    "/v1/organizations/12345678901234567890123",
    "/v1/organizations/{id}",
    "/v1/organizations/0/storages",
    "/v1/organizations/9223372036854775808/transfers",
};

static void test_bad_ids_are_not_found(void **state)
{
    (void)state;
    /* Every method: an invalid id makes the path unknown, so 404 and never 405. */
    assert_none_found(bad_ids, sizeof bad_ids / sizeof bad_ids[0], HTTP_GET | HTTP_POST | HTTP_PUT);
}

static const char *const unknown_paths[] = {
    "",
    "/",
    "//",
    "/healthz/",
    "//healthz",
    "/healthz//",
    "/HEALTHZ",
    "/healthzz",
    "/health",
    "healthz",
    "/v1",
    "/v1/",
    "/v1/waste-types/",
    "/v1//waste-types",
    "/v1/waste-types//",
    "/v1/waste-types//glass",
    "/v1/organizations/",
    "/v1/organizations//",
    "/v1/organizations/5/",
    "/v1/organizations//5",
    "/v1/organizations/5//storages",
    "/v1/organizations/5/storages/",
    "/v1/organizations/5/unknown",
    "/v1/storages/5/unload/",
    "/v2/organizations",
    "/v1/organization",
    "/v1/organizations/5/storages/6",
};

static void test_unknown_paths_slashes_and_empty_segments(void **state)
{
    (void)state;
    assert_none_found(unknown_paths, sizeof unknown_paths / sizeof unknown_paths[0],
                      HTTP_GET | HTTP_POST);
}

static void assert_method_not_allowed(int method, const char *path, int allowed,
                                      const char *allow_text)
{
    router_match match;
    router_result result = find(method, path, &match);
    if (result != ROUTER_METHOD_NOT_ALLOWED) {
        fail_msg("%s: expected ROUTER_METHOD_NOT_ALLOWED, got %d", path, (int)result);
    }
    assert_null(match.route);
    assert_int_equal(match.allowed, allowed);
    char text[64];
    memset(text, 'x', sizeof text);
    router_allow_header(match.allowed, text, sizeof text);
    assert_string_equal(text, allow_text);
}

static void test_method_not_allowed(void **state)
{
    (void)state;
    assert_method_not_allowed(HTTP_DELETE, "/v1/waste-types", HTTP_GET | HTTP_POST, "GET, POST");
    assert_method_not_allowed(HTTP_PUT, "/v1/organizations", HTTP_GET | HTTP_POST, "GET, POST");
    assert_method_not_allowed(HTTP_POST, "/v1/organizations/3", HTTP_GET | HTTP_PATCH | HTTP_DELETE,
                              "GET, PATCH, DELETE");
    assert_method_not_allowed(HTTP_PUT, "/v1/storages/3", HTTP_GET | HTTP_PATCH | HTTP_DELETE,
                              "GET, PATCH, DELETE");
    assert_method_not_allowed(HTTP_GET, "/v1/storages/3/unload", HTTP_POST, "POST");
    assert_method_not_allowed(HTTP_GET, "/v1/organizations/3/transfers", HTTP_POST, "POST");
    assert_method_not_allowed(HTTP_POST, "/healthz", HTTP_GET, "GET");
    assert_method_not_allowed(HTTP_OTHER, "/healthz", HTTP_GET, "GET");
    assert_method_not_allowed(HTTP_DELETE, "/v1/waste-types/glass", HTTP_GET, "GET");
}

static void test_allow_header_text(void **state)
{
    (void)state;
    char text[128];
    memset(text, 'x', sizeof text);
    router_allow_header(0, text, sizeof text);
    assert_string_equal(text, "");
    router_allow_header(HTTP_GET, text, sizeof text);
    assert_string_equal(text, "GET");
    router_allow_header(HTTP_POST | HTTP_GET, text, sizeof text);
    assert_string_equal(text, "GET, POST");
    router_allow_header(HTTP_DELETE | HTTP_GET | HTTP_OPTIONS, text, sizeof text);
    assert_string_equal(text, "GET, DELETE, OPTIONS");
    router_allow_header(HTTP_OTHER, text, sizeof text);
    assert_string_equal(text, "");
    router_allow_header(HTTP_GET | HTTP_POST | HTTP_PATCH | HTTP_DELETE | HTTP_PUT | HTTP_HEAD |
                            HTTP_OPTIONS | HTTP_OTHER,
                        text, sizeof text);
    assert_string_equal(text, "GET, POST, PATCH, DELETE, PUT, HEAD, OPTIONS");

    /* A short buffer: the text is cut, NUL-terminated, and nothing is written past it
     * (ASan would report an overflow of the exact-size arrays). */
    const char *full = "GET, POST, PATCH, DELETE, PUT, HEAD, OPTIONS";
    for (int size = 1; size <= 12; size++) {
        char small[12];
        memset(small, 'x', sizeof small);
        router_allow_header(0x7f, small, size);
        size_t len = strnlen(small, (size_t)size);
        assert_true(len < (size_t)size);
        assert_memory_equal(small, full, len);
    }
    char exact[45]; /* strlen(full) + 1 */
    router_allow_header(0x7f, exact, sizeof exact);
    assert_string_equal(exact, full);
}

static void test_method_bits(void **state)
{
    (void)state;
    assert_int_equal(router_method_bit("GET"), HTTP_GET);
    assert_int_equal(router_method_bit("POST"), HTTP_POST);
    assert_int_equal(router_method_bit("PATCH"), HTTP_PATCH);
    assert_int_equal(router_method_bit("DELETE"), HTTP_DELETE);
    assert_int_equal(router_method_bit("PUT"), HTTP_PUT);
    assert_int_equal(router_method_bit("HEAD"), HTTP_HEAD);
    assert_int_equal(router_method_bit("OPTIONS"), HTTP_OPTIONS);
    const char *unknown[] = {"get",  "Post", "TRACE", "CONNECT", "PROPFIND", "",
                             "GETX", "GE",   " GET",  "GET ",    "DELETE\n"};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        assert_int_equal(router_method_bit(unknown[i]), HTTP_OTHER);
    }
    /* Each bit is distinct, so an Allow set can hold any combination. */
    int seen = 0;
    const char *names[] = {"GET", "POST", "PATCH", "DELETE", "PUT", "HEAD", "OPTIONS"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        int bit = router_method_bit(names[i]);
        assert_int_equal(seen & bit, 0);
        seen |= bit;
    }
    assert_int_equal(seen, 0x7f);
}

static void test_first_matching_route_wins(void **state)
{
    (void)state;
    /* Two routes with the same method and path: the first in the table is used, and
     * allowed still holds the bits of every matching route. */
    static int first, second, other;
    const router_route dup[] = {
        R(HTTP_POST, "/x/{id}", "x.post", other),
        R(HTTP_GET, "/x/{id}", "x.first", first),
        R(HTTP_GET, "/x/{id}", "x.second", second),
        R(HTTP_GET, "/x/{code}", "x.code", other),
    };
    router_match match;
    assert_int_equal(router_find(dup, COUNT(dup), HTTP_GET, "/x/77", &match), ROUTER_FOUND);
    assert_string_equal(match.route->name, "x.first");
    assert_int_equal(match.id_count, 1);
    assert_int_equal(match.ids[0], 77);
    assert_int_equal(match.allowed, HTTP_GET | HTTP_POST);
    /* "abc" is a code, not an id: only the {code} route matches. */
    assert_int_equal(router_find(dup, COUNT(dup), HTTP_GET, "/x/abc", &match), ROUTER_FOUND);
    assert_string_equal(match.route->name, "x.code");
    assert_string_equal(match.code, "abc");
    assert_int_equal(match.id_count, 0);
    assert_int_equal(match.allowed, HTTP_GET);
    /* An empty table knows no path. */
    assert_int_equal(router_find(dup, 0, HTTP_GET, "/x/77", &match), ROUTER_NOT_FOUND);
    assert_null(match.route);
    assert_int_equal(match.allowed, 0);
}

RUNNER_MAIN(NULL, NULL,
            {
                cmocka_unit_test(test_literal_routes),
                cmocka_unit_test(test_id_routes),
                cmocka_unit_test(test_several_ids),
                cmocka_unit_test(test_code_routes),
                cmocka_unit_test(test_head_is_get_without_a_body),
                cmocka_unit_test(test_bad_ids_are_not_found),
                cmocka_unit_test(test_unknown_paths_slashes_and_empty_segments),
                cmocka_unit_test(test_method_not_allowed),
                cmocka_unit_test(test_allow_header_text),
                cmocka_unit_test(test_method_bits),
                cmocka_unit_test(test_first_matching_route_wins),
            })
