/* Integration tests of GET /v1/storages/{id}/history and /forecast against a real server:
 * exact buckets and figures on a ledger of known transfers and unloads, the forecast's
 * slope on known points, the query's refusals (422, 404) and who may read them.
 *
 * A controlled ledger needs controlled times: the ledger is dated by the clock (a trigger
 * refuses any other created_at), so the first tests move the dates of the rows they wrote,
 * as the table's owner with its triggers off for the one UPDATE. They run first and move
 * rows forward in id order, so the ledger stays dated in id order (the audit's check 7). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "harness.h"
#include "runner.h"
#include "testutil.h"

/* Unloads kg of glass from storage; the unload's id. */
static long long unload(long long storage, long long kg)
{
    it_response *response =
        it_post(tu_fmt("/v1/storages/%lld/unload", storage), "{\"glass\":%lld}", kg);
    EXPECT_STATUS(response, 200);
    it_response_free(response);
    return it_sql_int("SELECT max(id) FROM unloads WHERE storage_id = %lld", storage);
}

/* Dates ledger row id of table (transfers, unloads) at the SQL time expression at. */
static void date_row(const char *table, long long id, const char *at)
{
    it_sql_exec("ALTER TABLE %s DISABLE TRIGGER USER; UPDATE %s SET created_at = %s WHERE id = "
                "%lld; ALTER TABLE %s ENABLE TRIGGER USER",
                table, table, at, id, table);
}

static it_response *history(long long storage, const char *query)
{
    return it_get("/v1/storages/%lld/history?%s", storage, query);
}

/* GETs the history of storage with that query and asserts a 200 with exactly this body. */
#define ASSERT_HISTORY(storage, query, ...)                                                        \
    do {                                                                                           \
        it_response *history_ = history((storage), (query));                                       \
        EXPECT_STATUS(history_, 200);                                                              \
        ASSERT_JSON(history_->json, __VA_ARGS__);                                                  \
        it_response_free(history_);                                                                \
    } while (0)

#define T(hm) "2026-01-01T" hm ":00.000000Z"

/* ---------------------------------------------------------------- exact buckets */

static long long ledger_storage;

/* 100 kg at 10:05, 50 at 10:40, 30 unloaded at 11:10, 20 at 12:30 on 2026-01-01: stock 140. */
static void test_exact_buckets(void **state)
{
    (void)state;
    long long storage = tu_new_storage("history", "{\"glass\":1000,\"plastic\":10}");
    ledger_storage = storage;
    long long org = tu_supplier_of(storage);
    date_row("transfers", tu_ship_glass(org, storage, 100), "'2026-01-01T10:05:00Z'");
    date_row("transfers", tu_ship_glass(org, storage, 50), "'2026-01-01T10:40:00Z'");
    date_row("unloads", unload(storage, 30), "'2026-01-01T11:10:00Z'");
    date_row("transfers", tu_ship_glass(org, storage, 20), "'2026-01-01T12:30:00Z'");

    ASSERT_HISTORY(storage,
                   "waste_type=glass&bucket=hour&from=2026-01-01T10:00:00Z"
                   "&to=2026-01-01T13:00:00Z",
                   "{\"items\":[{\"start\":\"" T(
                       "10:00") "\",\"in_kg\":150,\"out_kg\":0,"
                                "\"stock_kg\":150},{\"start\":\"" T(
                                    "11:00") "\",\"in_kg\":0,\"out_kg\":30,"
                                             "\"stock_kg\":120},{\"start\":\"" T(
                                                 "12:00") "\",\"in_kg\":20,\"out_kg\":0,"
                                                          "\"stock_kg\":140}]}");

    /* Buckets start at from (date_bin's origin), not at whole hours: [09:30, 10:30) holds
     * the 10:05 transfer, [10:30, 11:30) the 10:40 one and the 11:10 unload; the range
     * ends inside the second. */
    ASSERT_HISTORY(
        storage,
        "waste_type=glass&bucket=hour&from=2026-01-01T09:30:00Z"
        "&to=2026-01-01T11:00:00Z",
        "{\"items\":[{\"start\":\"" T("09:30") "\",\"in_kg\":100,\"out_kg\":0,"
                                               "\"stock_kg\":100},{\"start\":\"" T(
                                                   "10:30") "\",\"in_kg\":50,"
                                                            "\"out_kg\":30,\"stock_kg\":120}]}");

    /* Before anything came. */
    ASSERT_HISTORY(
        storage,
        "waste_type=glass&bucket=hour&from=2026-01-01T08:00:00Z"
        "&to=2026-01-01T10:00:00Z",
        "{\"items\":[{\"start\":\"" T("08:00") "\",\"in_kg\":0,\"out_kg\":0,"
                                               "\"stock_kg\":0},{\"start\":\"" T(
                                                   "09:00") "\",\"in_kg\":0,"
                                                            "\"out_kg\":0,\"stock_kg\":0}]}");

    /* Minutes, with an offset in the times. */
    ASSERT_HISTORY(
        storage,
        "waste_type=glass&bucket=minute&from=2026-01-01T11:04:00%2B01:00"
        "&to=2026-01-01T11:07:00%2B01:00",
        "{\"items\":[{\"start\":\"" T(
            "10:04") "\",\"in_kg\":0,\"out_kg\":0,"
                     "\"stock_kg\":0},{\"start\":\"" T(
                         "10:05") "\",\"in_kg\":100,"
                                  "\"out_kg\":0,\"stock_kg\":100},{\"start\":\"" T(
                                      "10:06") "\","
                                               "\"in_kg\":0,\"out_kg\":0,\"stock_kg\":100}]}");

    /* A day. */
    ASSERT_HISTORY(storage,
                   "waste_type=glass&bucket=day&from=2026-01-01T00:00:00Z"
                   "&to=2026-01-02T00:00:00Z",
                   "{\"items\":[{\"start\":\"2026-01-01T00:00:00.000000Z\",\"in_kg\":170,"
                   "\"out_kg\":30,\"stock_kg\":140}]}");

    /* The edges of the calendar: nothing then, the current stock at the end of time. */
    ASSERT_HISTORY(storage,
                   "waste_type=glass&bucket=day&from=0001-01-01T00:00:00Z"
                   "&to=0001-01-02T00:00:00Z",
                   "{\"items\":[{\"start\":\"0001-01-01T00:00:00.000000Z\",\"in_kg\":0,"
                   "\"out_kg\":0,\"stock_kg\":0}]}");
    ASSERT_HISTORY(storage,
                   "waste_type=glass&bucket=hour&from=9999-12-31T22:30:00Z"
                   "&to=9999-12-31T23:59:59.999999Z",
                   "{\"items\":[{\"start\":\"9999-12-31T22:30:00.000000Z\",\"in_kg\":0,"
                   "\"out_kg\":0,\"stock_kg\":140},{\"start\":\"9999-12-31T23:30:00.000000Z\","
                   "\"in_kg\":0,\"out_kg\":0,\"stock_kg\":140}]}");

    /* The other type saw nothing. */
    ASSERT_HISTORY(storage,
                   "waste_type=plastic&bucket=day&from=2026-01-01T00:00:00Z"
                   "&to=2026-01-02T00:00:00Z",
                   "{\"items\":[{\"start\":\"2026-01-01T00:00:00.000000Z\",\"in_kg\":0,"
                   "\"out_kg\":0,\"stock_kg\":0}]}");
}

/* No from and no to: the last day of hours (bucket defaults to hour), up to now, the last
 * bucket's stock the storage's stock; the last hour of minutes, the last 30 days. And a
 * range that starts after the last change: nothing in it, the stock all along. */
static void test_defaults_end_at_current_stock(void **state)
{
    (void)state;
    it_response *r = history(ledger_storage, "waste_type=glass");
    EXPECT_STATUS(r, 200);
    const cJSON *items = tu_member(r->json, "items");
    int count = cJSON_GetArraySize(items);
    assert_int_equal(count, 24);
    const cJSON *last = cJSON_GetArrayItem(items, count - 1);
    ASSERT_MEMBERS(last, "{\"stock_kg\":140,\"in_kg\":0}");
    it_response_free(r);

    r = history(ledger_storage, "waste_type=glass&bucket=minute");
    EXPECT_STATUS(r, 200);
    count = cJSON_GetArraySize(tu_member(r->json, "items"));
    assert_int_equal(count, 60);
    it_response_free(r);
    r = history(ledger_storage, "waste_type=glass&bucket=day");
    EXPECT_STATUS(r, 200);
    count = cJSON_GetArraySize(tu_member(r->json, "items"));
    assert_int_equal(count, 30);
    it_response_free(r);

    /* From a minute after the last change (12:30): nothing came in the range. */
    r = history(ledger_storage, "waste_type=glass&bucket=hour&from=2026-01-01T12:31:00Z"
                                "&to=2026-01-01T13:31:00Z");
    EXPECT_STATUS(r, 200);
    ASSERT_JSON(r->json, "{\"items\":[{\"start\":\"" T("12:31") "\",\"in_kg\":0,\"out_kg\":0,"
                                                                "\"stock_kg\":140}]}");
    it_response_free(r);
}

/* ---------------------------------------------------------------- forecasts */

static it_response *forecast(long long storage, const char *query)
{
    return it_get("/v1/storages/%lld/forecast?%s", storage, query);
}

static double number_at(const cJSON *json, const char *key)
{
    const cJSON *value = tu_member(json, key);
    assert_true(cJSON_IsNumber(value));
    return value->valuedouble;
}

/* Seconds from now to an RFC 3339 UTC time the service wrote. */
static double seconds_until(const char *text)
{
    struct tm tm = {0};
    double fraction = 0;
    assert_non_null(strptime(text, "%Y-%m-%dT%H:%M:%S", &tm));
    sscanf(text + 19, "%lf", &fraction);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (double)timegm(&tm) + fraction - ((double)now.tv_sec + now.tv_nsec / 1e9);
}

/* Stock 100 two days ago, 150 one day ago, 200 now-ish (three points on a line of 50 kg a
 * day, the last 12 hours ago): the rate is 50 kg a day, and the remaining 800 - 100 reserved
 * = 700 kg run out in 14 days. */
static void test_forecast_known_slope(void **state)
{
    (void)state;
    long long storage = tu_new_storage("forecast", "{\"glass\":1000}");
    long long org = tu_supplier_of(storage);
    /* One anchor for the three dates, so that they lie exactly 24 hours apart. */
    long long anchor = (long long)time(NULL);
    date_row("transfers", tu_ship_glass(org, storage, 100),
             tu_fmt("to_timestamp(%lld)", anchor - 60 * 3600));
    date_row("transfers", tu_ship_glass(org, storage, 50),
             tu_fmt("to_timestamp(%lld)", anchor - 36 * 3600));
    date_row("transfers", tu_ship_glass(org, storage, 50),
             tu_fmt("to_timestamp(%lld)", anchor - 12 * 3600));
    it_sql_exec("UPDATE storage_waste SET reserved = 100 WHERE storage_id = %lld", storage);

    it_response *r = forecast(storage, "waste_type=glass");
    EXPECT_STATUS(r, 200);
    ASSERT_MEMBERS(r->json, "{\"waste_type\":\"glass\",\"stock\":200,\"reserved\":100,"
                            "\"remaining\":700}");
    double rate = number_at(r->json, "rate_kg_per_day");
    if (fabs(rate - 50.0) > 1e-9) {
        fail_msg("rate_kg_per_day %.17g, not 50", rate);
    }
    const cJSON *full_at = tu_member(r->json, "full_at");
    assert_true(cJSON_IsString(full_at));
    tu_assert_timestamp(full_at);
    assert_true(fabs(seconds_until(full_at->valuestring) - 14 * 86400.0) < 120);
    it_response_free(r);

    /* A window of a day holds one change: rate 0, never full. */
    ASSERT_GET_AT(
        tu_fmt("/v1/storages/%lld/forecast?%s", storage, "waste_type=glass&window_s=86400"), "",
        "{\"waste_type\":\"glass\",\"stock\":200,\"reserved\":100,"
        "\"remaining\":700,\"rate_kg_per_day\":0,\"full_at\":null}");

    /* Emptying: a negative rate, never full. */
    long long unloaded = unload(storage, 150);
    (void)unloaded;
    r = forecast(storage, "waste_type=glass&window_s=172800");
    EXPECT_STATUS(r, 200);
    assert_true(number_at(r->json, "rate_kg_per_day") < 0);
    ASSERT_JSON_AT(r->json, "full_at", "null");
    it_response_free(r);
    it_sql_exec("UPDATE storage_waste SET reserved = 0 WHERE storage_id = %lld", storage);
}

/* ---------------------------------------------------------------- refusals */

static void test_bad_queries_422_and_404(void **state)
{
    (void)state;
    long long s = ledger_storage;
#define H "/v1/storages/%lld/history?%s"
    static const tu_refusal bad[] = {
        {"bucket=hour", "waste_type"},
        {"waste_type=Glass!", "waste_type"},
        {"waste_type=nosuchtype", "waste_type"},
        {"waste_type=bio", "waste_type"}, /* not taken by this storage */
        {"waste_type=glass&bucket=week", "bucket"},
        {"waste_type=glass&from=yesterday", "from"},
        {"waste_type=glass&to=2026-01-01", "to"},
        {"waste_type=glass&from=0000-06-01T00:00:00Z", "from"},
        /* The default from, a day before this to, would lie in 1 BC. */
        {"waste_type=glass&to=0001-01-01T10:00:00Z", "from"},
        {"waste_type=glass&from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "from"},
        {"waste_type=glass&from=2026-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "from"},
        /* 1,001 minutes. */
        {"waste_type=glass&bucket=minute&from=2026-01-01T00:00:00Z&to=2026-01-01T16:40:01Z",
         "bucket"},
        {"waste_type=glass&bucket=day&from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "bucket"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        EXPECT_REJECTED_TYPE("GET", tu_fmt(H, s, bad[i].input), NULL, 422, "validation-error",
                             bad[i].field);
    }
    /* Exactly 1,000 minutes is fine. */
    it_response *r = history(s, "waste_type=glass&bucket=minute&from=2026-01-01T00:00:00Z"
                                "&to=2026-01-01T16:40:00Z");
    EXPECT_STATUS(r, 200);
    assert_int_equal(cJSON_GetArraySize(tu_member(r->json, "items")), 1000);
    it_response_free(r);

#define F "/v1/storages/%lld/forecast?%s"
    const char *bad_windows[] = {"59", "31536001", "abc", "-60", "60.5", ""};
    for (size_t i = 0; i < sizeof bad_windows / sizeof bad_windows[0]; i++) {
        EXPECT_REJECTED_TYPE("GET",
                             tu_fmt(F, s, tu_fmt("waste_type=glass&window_s=%s", bad_windows[i])),
                             NULL, 422, "validation-error", "window_s");
    }
    EXPECT_REJECTED_TYPE("GET", tu_fmt(F, s, "window_s=60"), NULL, 422, "validation-error",
                         "waste_type");
    EXPECT_REJECTED_TYPE("GET", tu_fmt(F, s, "waste_type=bio"), NULL, 422, "validation-error",
                         "waste_type");
    r = forecast(s, "waste_type=glass&window_s=60");
    EXPECT_STATUS(r, 200);
    it_response_free(r);
    r = forecast(s, "waste_type=glass&window_s=31536000");
    EXPECT_STATUS(r, 200);
    it_response_free(r);

    EXPECT_REJECTED_TYPE("GET", tu_fmt(H, 999999999LL, "waste_type=glass"), NULL, 404, "not-found",
                         NULL);
    EXPECT_REJECTED_TYPE("GET", tu_fmt(F, 999999999LL, "waste_type=glass"), NULL, 404, "not-found",
                         NULL);
}

/* ---------------------------------------------------------------- access */

static int status_as(const char *key, const char *path)
{
    const char *headers[] = {key != NULL ? it_bearer(key) : "Authorization:", NULL};
    it_response *r = it_request("GET", path, NULL, headers);
    int status = r->status;
    if (status >= 400) {
        EXPECT_PROBLEM(r, status, NULL);
    }
    it_response_free(r);
    return status;
}

/* Whoever may read the storage (every reader role, any storage) reads its history and
 * forecast; a monitor may not, and no credential is 401. */
static void test_access(void **state)
{
    (void)state;
    long long s = ledger_storage;
    long long other = tu_new_storage("other", "{\"glass\":10}");
    long long org = tu_new_org("reader", NULL, NULL);
    char *auditor = it_new_key("auditor", 0, 0);
    char *organization = it_new_key("organization", org, 0);
    char *own = it_new_key("storage", 0, s);
    char *foreign = it_new_key("storage", 0, other);
    char *monitor = it_new_key("monitor", 0, 0);
    const char *paths[] = {tu_format("/v1/storages/%lld/history?waste_type=glass", s),
                           tu_format("/v1/storages/%lld/forecast?waste_type=glass", s)};
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(status_as(it_admin_key(), paths[i]), 200);
        assert_int_equal(status_as(auditor, paths[i]), 200);
        assert_int_equal(status_as(organization, paths[i]), 200);
        assert_int_equal(status_as(own, paths[i]), 200);
        assert_int_equal(status_as(foreign, paths[i]), 200);
        assert_int_equal(status_as(monitor, paths[i]), 403);
        assert_int_equal(status_as(NULL, paths[i]), 401);
        free((char *)paths[i]);
    }
    free(auditor);
    free(organization);
    free(own);
    free(foreign);
    free(monitor);
}

RUNNER_MAIN(
    tu_setup, tu_teardown,
    {
        /* These two date the ledger's rows: first, so dates keep rising with ids. */
        cmocka_unit_test(test_exact_buckets),
        cmocka_unit_test(test_forecast_known_slope),
        cmocka_unit_test(test_defaults_end_at_current_stock),
        cmocka_unit_test(test_bad_queries_422_and_404),
        cmocka_unit_test(test_access),
        /* Runs last: whatever the tests above did, sql/audit.sql finds no violated invariant. */
        TU_AUDIT_TEST,
    })
