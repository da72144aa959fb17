/* CORS for browser frontends: allowed origins from WASTEFLOW_CORS_ORIGINS, preflight
 * OPTIONS on every route, Idempotency-Key and X-Request-Id allowed and exposed, nothing
 * for origins that are not listed. */
#include "harness.h"
#include "runner.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define ALLOWED "https://app.example"

TU_SETUP_WITH(group_setup, "WASTEFLOW_CORS_ORIGINS=" ALLOWED ", https://ops.example")

static int group_teardown(void **state)
{
    (void)state;
    return it_stop();
}

static void assert_header_lists(it_response *response, const char *name, const char *item)
{
    const char *value = it_header(response, name);
    assert_non_null(value);
    if (strcasestr(value, item) == NULL) {
        fail_msg("%s: \"%s\" does not list %s", name, value, item);
    }
}

static void test_simple_request_from_allowed_origin(void **state)
{
    (void)state;
    const char *const headers[] = {"Origin: " ALLOWED, NULL};
    it_response *response = it_request("GET", "/v1/waste-types", NULL, headers);
    EXPECT_STATUS(response, 200);
    assert_string_equal(it_header(response, "Access-Control-Allow-Origin"), ALLOWED);
    assert_header_lists(response, "Vary", "Origin");
    assert_header_lists(response, "Access-Control-Expose-Headers", "X-Request-Id");
    assert_header_lists(response, "Access-Control-Expose-Headers", "Idempotency-Key");
    assert_header_lists(response, "Access-Control-Expose-Headers", "Idempotent-Replayed");
    assert_header_lists(response, "Access-Control-Expose-Headers", "Location");
    it_response_free(response);
}

static void test_errors_carry_cors_headers_too(void **state)
{
    (void)state;
    const char *const headers[] = {"Origin: https://ops.example", NULL};
    it_response *response = it_request("GET", "/v1/organizations/999999", NULL, headers);
    EXPECT_PROBLEM(response, 404, NULL);
    assert_string_equal(it_header(response, "Access-Control-Allow-Origin"), "https://ops.example");
    it_response_free(response);
}

static void test_other_origin_gets_no_cors(void **state)
{
    (void)state;
    const char *const headers[] = {"Origin: https://evil.example", NULL};
    it_response *response = it_request("GET", "/v1/waste-types", NULL, headers);
    EXPECT_STATUS(response, 200);
    assert_null(it_header(response, "Access-Control-Allow-Origin"));
    it_response_free(response);

    const char *const preflight[] = {"Origin: https://evil.example",
                                     "Access-Control-Request-Method: POST", NULL};
    it_response *options = it_request("OPTIONS", "/v1/organizations", NULL, preflight);
    EXPECT_STATUS(options, 204);
    assert_null(it_header(options, "Access-Control-Allow-Origin"));
    assert_null(it_header(options, "Access-Control-Allow-Methods"));
    it_response_free(options);
}

static void test_preflight_every_kind_of_route(void **state)
{
    (void)state;
    static const struct {
        const char *path;
        const char *method;
    } routes[] = {
        {"/v1/organizations", "POST"},
        {"/v1/organizations/1", "PATCH"},
        {"/v1/organizations/1/transfers", "POST"},
        {"/v1/storages/1", "DELETE"},
        {"/v1/storages/1/unload", "POST"},
        {"/v1/routes/3", "PATCH"},
        {"/v1/transfers", "GET"},
        {"/v1/stats", "GET"},
    };
    const char *const prefix = "Access-Control-Request-Method: ";
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        char request_method[64];
        snprintf(request_method, sizeof request_method, "%s%s", prefix, routes[i].method);
        const char *const headers[] = {"Origin: " ALLOWED, request_method,
                                       "Access-Control-Request-Headers: content-type, "
                                       "idempotency-key, x-request-id",
                                       NULL};
        it_response *response = it_request("OPTIONS", routes[i].path, NULL, headers);
        EXPECT_STATUS(response, 204);
        assert_string_equal(it_header(response, "Access-Control-Allow-Origin"), ALLOWED);
        assert_header_lists(response, "Access-Control-Allow-Methods", routes[i].method);
        assert_header_lists(response, "Access-Control-Allow-Headers", "Idempotency-Key");
        assert_header_lists(response, "Access-Control-Allow-Headers", "X-Request-Id");
        assert_header_lists(response, "Access-Control-Allow-Headers", "Content-Type");
        assert_non_null(it_header(response, "Access-Control-Max-Age"));
        assert_header_lists(response, "Allow", routes[i].method);
        assert_int_equal(response->body_len, 0);
        it_response_free(response);
    }
}

static void test_preflight_unknown_path_is_404(void **state)
{
    (void)state;
    const char *const headers[] = {"Origin: " ALLOWED, "Access-Control-Request-Method: GET", NULL};
    it_response *response = it_request("OPTIONS", "/v1/nothing-here", NULL, headers);
    EXPECT_PROBLEM(response, 404, NULL);
    it_response_free(response);
}

RUNNER_MAIN(group_setup, group_teardown,
            {
                cmocka_unit_test(test_simple_request_from_allowed_origin),
                cmocka_unit_test(test_errors_carry_cors_headers_too),
                cmocka_unit_test(test_other_origin_gets_no_cors),
                cmocka_unit_test(test_preflight_every_kind_of_route),
                cmocka_unit_test(test_preflight_unknown_path_is_404),
            })
