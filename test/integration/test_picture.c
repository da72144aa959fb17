/* The picture (DESIGN.md "The picture, as data", seed/case_1.jpg) end to end: both
 * organizations hand over everything twice, a storage unloads, the pending rest is placed
 * automatically; shipments, stocks, stats and the audit are checked to the kilogram. */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "harness.h"

#include <cmocka.h>

/* ---- small helpers (each runner is self-contained) ---- */

static char *vformat(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
static char *vformat(const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    int length = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    assert_true(length >= 0);
    char *text = malloc((size_t)length + 1);
    assert_non_null(text);
    vsnprintf(text, (size_t)length + 1, fmt, ap);
    return text;
}

/* printf into one of a few rotating static buffers: for paths and small JSON fragments. */
static const char *fmt(const char *format, ...) __attribute__((format(printf, 1, 2)));
static const char *fmt(const char *format, ...)
{
    static char buffers[16][2048];
    static unsigned next;
    char *buffer = buffers[next++ % 16];
    va_list ap;
    va_start(ap, format);
    int length = vsnprintf(buffer, sizeof buffers[0], format, ap);
    va_end(ap);
    assert_true(length >= 0 && (size_t)length < sizeof buffers[0]);
    return buffer;
}

#define ORG(id)     fmt("{\"organization_id\":%lld}", (long long)(id))
#define STORAGE(id) fmt("{\"storage_id\":%lld}", (long long)(id))

static char *json_text(const cJSON *value)
{
    char *text = value ? cJSON_PrintUnformatted(value) : NULL;
    if (!text) {
        text = malloc(sizeof "(missing)");
        assert_non_null(text);
        memcpy(text, "(missing)", sizeof "(missing)");
    }
    return text;
}

#define EXPECT_STATUS(response, expected)                                                          \
    expect_status_at(__FILE__, __LINE__, (response), (expected))
static void expect_status_at(const char *file, int line, const it_response *response, int expected)
{
    if (response->status != expected) {
        print_error("expected HTTP %d, got %d: %s\n", expected, response->status, response->body);
        _fail(file, line);
    }
}

#define ASSERT_JSON(actual, ...) assert_json_at(__FILE__, __LINE__, (actual), __VA_ARGS__)
static void assert_json_at(const char *file, int line, const cJSON *actual,
                           const char *expected_fmt, ...) __attribute__((format(printf, 4, 5)));
static void assert_json_at(const char *file, int line, const cJSON *actual,
                           const char *expected_fmt, ...)
{
    va_list ap;
    va_start(ap, expected_fmt);
    char *expected_text = vformat(expected_fmt, ap);
    va_end(ap);
    cJSON *expected = cJSON_Parse(expected_text);
    if (!expected) {
        print_error("test bug: expected value is not JSON: %s\n", expected_text);
        _fail(file, line);
    }
    if (!cJSON_Compare(actual, expected, true)) {
        char *got = json_text(actual);
        print_error("JSON mismatch\n  expected: %s\n  got:      %s\n", expected_text, got);
        free(got);
        _fail(file, line);
    }
    cJSON_Delete(expected);
    free(expected_text);
}

static const cJSON *member(const cJSON *object, const char *key)
{
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(object, key);
    if (!value) {
        char *text = json_text(object);
        fail_msg("member \"%s\" missing in %s", key, text);
    }
    return value;
}

static long long member_int(const cJSON *object, const char *key)
{
    const cJSON *value = member(object, key);
    if (!cJSON_IsNumber(value) || value->valuedouble != (double)(long long)value->valuedouble) {
        char *text = json_text(object);
        fail_msg("member \"%s\" is not an integer in %s", key, text);
    }
    return (long long)value->valuedouble;
}

static void assert_timestamp(const cJSON *value)
{
    static const char pattern[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
    assert_true(cJSON_IsString(value));
    const char *text = value->valuestring;
    assert_int_equal(strlen(text), strlen(pattern));
    for (size_t i = 0; pattern[i]; i++) {
        if (pattern[i] == 'd')
            assert_true(isdigit((unsigned char)text[i]));
        else
            assert_int_equal(text[i], pattern[i]);
    }
}

static void sleep_ms(long milliseconds)
{
    struct timespec pause = {milliseconds / 1000, (milliseconds % 1000) * 1000000L};
    nanosleep(&pause, NULL);
}

static double now_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* One expected shipment. */
struct ship {
    long long storage_id;
    const char *waste_type;
    long long amount;
    long long distance_m;
};
#define SHIPMENTS(...)                                                                             \
    (const struct ship[]){__VA_ARGS__},                                                            \
        sizeof((const struct ship[]){__VA_ARGS__}) / sizeof(struct ship)
#define NO_SHIPMENTS NULL, 0

static const char *shipments_json(const struct ship *ships, size_t count)
{
    static char text[4096];
    size_t used = (size_t)snprintf(text, sizeof text, "[");
    for (size_t i = 0; i < count; i++)
        used += (size_t)snprintf(text + used, sizeof text - used,
                                 "%s{\"storage_id\":%lld,\"waste_type\":\"%s\",\"amount\":%lld,"
                                 "\"distance_m\":%lld}",
                                 i ? "," : "", ships[i].storage_id, ships[i].waste_type,
                                 ships[i].amount, ships[i].distance_m);
    assert_true(used + 2 < sizeof text);
    snprintf(text + used, sizeof text - used, "]");
    return text;
}

/* Checks a transfer object (201 body, list item) member by member. */
#define ASSERT_TRANSFER(transfer, org_id, trigger, received, ...)                                  \
    assert_transfer_at(__FILE__, __LINE__, (transfer), (org_id), (trigger), (received), __VA_ARGS__)
static void assert_transfer_at(const char *file, int line, const cJSON *transfer, long long org_id,
                               const char *trigger, const char *received, const struct ship *ships,
                               size_t ship_count, const char *pending)
{
    assert_true(member_int(transfer, "id") > 0);
    assert_json_at(file, line, member(transfer, "organization_id"), "%lld", org_id);
    assert_json_at(file, line, member(transfer, "trigger"), "\"%s\"", trigger);
    assert_json_at(file, line, member(transfer, "received"), "%s", received);
    assert_json_at(file, line, member(transfer, "shipments"), "%s",
                   shipments_json(ships, ship_count));
    assert_json_at(file, line, member(transfer, "pending"), "%s", pending);
    assert_timestamp(member(transfer, "created_at"));
}

/* A dry run answers 200 with what the request would do and writes nothing. */
#define ASSERT_DRY_RUN(org_id, body, received, ...)                                                \
    assert_dry_run_at(__FILE__, __LINE__, (org_id), (body), (received), __VA_ARGS__)
static void assert_dry_run_at(const char *file, int line, long long org_id, const char *body,
                              const char *received, const struct ship *ships, size_t ship_count,
                              const char *pending)
{
    char *before = it_db_fingerprint();
    it_response *dry = it_request(
        "POST", fmt("/v1/organizations/%lld/transfers?dry_run=true", org_id), body, NULL);
    expect_status_at(file, line, dry, 200);
    assert_json_at(file, line, member(dry->json, "organization_id"), "%lld", org_id);
    assert_json_at(file, line, member(dry->json, "received"), "%s", received);
    assert_json_at(file, line, member(dry->json, "shipments"), "%s",
                   shipments_json(ships, ship_count));
    assert_json_at(file, line, member(dry->json, "pending"), "%s", pending);
    it_response_free(dry);
    char *after = it_db_fingerprint();
    if (strcmp(before, after) != 0) {
        print_error("dry run of %s changed the database\n", body);
        _fail(file, line);
    }
    free(before);
    free(after);
}

static void assert_pending(long long org_id, const char *pending)
{
    it_response *org = it_get("/v1/organizations/%lld", org_id);
    EXPECT_STATUS(org, 200);
    ASSERT_JSON(member(org->json, "pending"), "%s", pending);
    it_response_free(org);
}

static void assert_stock(long long storage_id, const char *stock, const char *remaining)
{
    it_response *storage = it_get("/v1/storages/%lld", storage_id);
    EXPECT_STATUS(storage, 200);
    ASSERT_JSON(member(storage->json, "stock"), "%s", stock);
    ASSERT_JSON(member(storage->json, "remaining"), "%s", remaining);
    it_response_free(storage);
}

/* ---- the picture ---- */

enum { PICTURE_SLOTS = 10 }; /* МНО1..МНО9, no МНО4 */

static const char *const picture_capacity[PICTURE_SLOTS] = {
    [1] = "{\"glass\":300,\"plastic\":100}",
    [2] = "{\"plastic\":50,\"bio\":150}",
    [3] = "{\"plastic\":10,\"bio\":250}",
    [5] = "{\"glass\":220,\"bio\":25}",
    [6] = "{\"glass\":100,\"bio\":150}",
    [7] = "{\"plastic\":100,\"bio\":250}",
    [8] = "{\"glass\":35,\"plastic\":25,\"bio\":52}",
    [9] = "{\"plastic\":250,\"bio\":20}",
};

#define OO1_WASTE    "{\"waste\":{\"plastic\":10,\"glass\":50,\"bio\":50}}"
#define OO2_WASTE    "{\"waste\":{\"plastic\":60,\"glass\":20,\"bio\":50}}"
#define OO1_RECEIVED "{\"plastic\":10,\"glass\":50,\"bio\":50}"
#define OO2_RECEIVED "{\"plastic\":60,\"glass\":20,\"bio\":50}"

static struct {
    bool built;
    long long oo1, oo2;
    long long mno[PICTURE_SLOTS];
} picture;

static void build_picture(void)
{
    if (picture.built)
        return;
    picture.oo1 = it_create_org("ОО1", "{\"plastic\":10,\"glass\":50,\"bio\":50}");
    picture.oo2 = it_create_org("ОО2", "{\"plastic\":60,\"glass\":20,\"bio\":50}");
    static const int creation_order[] = {1, 2, 3, 5, 6, 7, 8, 9};
    for (size_t i = 0; i < sizeof creation_order / sizeof creation_order[0]; i++) {
        int number = creation_order[i];
        picture.mno[number] = it_create_storage(fmt("МНО%d", number), picture_capacity[number]);
    }
    const long long *s = picture.mno;
    it_create_route(ORG(picture.oo1), STORAGE(s[1]), 100, false);
    it_create_route(ORG(picture.oo1), STORAGE(s[2]), 50, false);
    it_create_route(ORG(picture.oo1), STORAGE(s[3]), 600, false);
    it_create_route(ORG(picture.oo2), STORAGE(s[3]), 50, false);
    it_create_route(STORAGE(s[1]), STORAGE(s[8]), 500, false);
    it_create_route(STORAGE(s[3]), STORAGE(s[6]), 600, false);
    it_create_route(STORAGE(s[8]), STORAGE(s[9]), 10, true);
    it_create_route(STORAGE(s[2]), STORAGE(s[5]), 50, true);
    it_create_route(STORAGE(s[3]), STORAGE(s[7]), 50, true);
    picture.built = true;
}

static it_response *hand_over(long long org_id, const char *body)
{
    return it_request("POST", fmt("/v1/organizations/%lld/transfers", org_id), body, NULL);
}

/* Both organizations hand over everything twice; МНО3 unloads; the rest goes automatically. */
static void test_picture_scenario(void **state)
{
    (void)state;
    build_picture();
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
    const char *location = it_header(transfer, "Location");
    assert_non_null(location);
    assert_string_equal(location, fmt("/v1/transfers/%lld", member_int(transfer->json, "id")));
    it_response_free(transfer);
    assert_pending(picture.oo1, "{}");

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
    assert_pending(picture.oo2, "{}");

    assert_stock(s[1], "{\"glass\":50,\"plastic\":0}", "{\"glass\":250,\"plastic\":100}");
    assert_stock(s[2], "{\"plastic\":10,\"bio\":50}", "{\"plastic\":40,\"bio\":100}");
    assert_stock(s[3], "{\"plastic\":10,\"bio\":50}", "{\"plastic\":0,\"bio\":200}");
    assert_stock(s[5], "{\"glass\":0,\"bio\":0}", "{\"glass\":220,\"bio\":25}");
    assert_stock(s[6], "{\"glass\":20,\"bio\":0}", "{\"glass\":80,\"bio\":150}");
    assert_stock(s[7], "{\"plastic\":50,\"bio\":0}", "{\"plastic\":50,\"bio\":250}");
    assert_stock(s[8], "{\"glass\":0,\"plastic\":0,\"bio\":0}",
                 "{\"glass\":35,\"plastic\":25,\"bio\":52}");
    assert_stock(s[9], "{\"plastic\":0,\"bio\":0}", "{\"plastic\":250,\"bio\":20}");

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
    assert_pending(picture.oo2, "{\"plastic\":10}");
    assert_pending(picture.oo1, "{}");
    assert_stock(s[3], "{\"plastic\":10,\"bio\":100}", "{\"plastic\":0,\"bio\":150}");
    assert_stock(s[7], "{\"plastic\":100,\"bio\":0}", "{\"plastic\":0,\"bio\":250}");

    /* МНО3 ships its plastic out: the pending 10 must follow within 2 s, automatically. */
    double unloaded_at = now_seconds();
    it_response *unloaded = it_post(fmt("/v1/storages/%lld/unload", s[3]), "{\"plastic\":10}");
    EXPECT_STATUS(unloaded, 200);
    assert_int_equal(member_int(unloaded->json, "id"), s[3]);
    ASSERT_JSON(member(unloaded->json, "capacity"), "%s", picture_capacity[3]);
    ASSERT_JSON(member(unloaded->json, "stock"), "{\"plastic\":0,\"bio\":100}");
    ASSERT_JSON(member(unloaded->json, "remaining"), "{\"plastic\":10,\"bio\":150}");
    it_response_free(unloaded);

    bool placed = false;
    while (!placed && now_seconds() - unloaded_at < 2.0) {
        it_response *org = it_get("/v1/organizations/%lld", picture.oo2);
        EXPECT_STATUS(org, 200);
        cJSON *empty = cJSON_CreateObject();
        placed = cJSON_Compare(member(org->json, "pending"), empty, true);
        cJSON_Delete(empty);
        it_response_free(org);
        if (!placed)
            sleep_ms(100);
    }
    if (!placed)
        fail_msg("ОО2's pending plastic 10 was not placed within 2 s of the unload");

    it_response *list = it_get("/v1/transfers?organization_id=%lld", picture.oo2);
    EXPECT_STATUS(list, 200);
    const cJSON *items = member(list->json, "items");
    assert_int_equal(cJSON_GetArraySize(items), 3);
    ASSERT_JSON(member(list->json, "next_cursor"), "null");
    ASSERT_TRANSFER(cJSON_GetArrayItem(items, 0), picture.oo2, "request", OO2_RECEIVED,
                    OO2_FIRST_ROUND, "{}");
    ASSERT_TRANSFER(cJSON_GetArrayItem(items, 2), picture.oo2, "auto", "{}",
                    SHIPMENTS({s[3], "plastic", 10, 50}), "{}");
    it_response_free(list);

    list = it_get("/v1/transfers?organization_id=%lld", picture.oo1);
    EXPECT_STATUS(list, 200);
    items = member(list->json, "items");
    assert_int_equal(cJSON_GetArraySize(items), 2);
    ASSERT_TRANSFER(cJSON_GetArrayItem(items, 1), picture.oo1, "request", OO1_RECEIVED,
                    OO1_FIRST_ROUND, "{}");
    it_response_free(list);

    /* Final stocks. */
    assert_stock(s[1], "{\"glass\":100,\"plastic\":0}", "{\"glass\":200,\"plastic\":100}");
    assert_stock(s[2], "{\"plastic\":20,\"bio\":100}", "{\"plastic\":30,\"bio\":50}");
    assert_stock(s[3], "{\"plastic\":10,\"bio\":100}", "{\"plastic\":0,\"bio\":150}");
    assert_stock(s[5], "{\"glass\":0,\"bio\":0}", "{\"glass\":220,\"bio\":25}");
    assert_stock(s[6], "{\"glass\":40,\"bio\":0}", "{\"glass\":60,\"bio\":150}");
    assert_stock(s[7], "{\"plastic\":100,\"bio\":0}", "{\"plastic\":0,\"bio\":250}");

    /* Stats. generated: plastic 2*(10+60), glass 2*(50+20), bio 2*(50+50).
     * capacity: plastic 100+50+10+100+25+250, glass 300+220+100+35,
     * bio 150+250+25+150+250+52+20. Plastic: 10 unloaded, 130 stored. */
    it_response *stats = it_get("/v1/stats");
    EXPECT_STATUS(stats, 200);
    ASSERT_JSON(stats->json,
                "{\"bio\":{\"generated\":200,\"pending\":0,\"stored\":200,\"unloaded\":0,"
                "\"capacity\":897,\"remaining\":697},"
                "\"glass\":{\"generated\":140,\"pending\":0,\"stored\":140,\"unloaded\":0,"
                "\"capacity\":655,\"remaining\":515},"
                "\"plastic\":{\"generated\":140,\"pending\":0,\"stored\":130,\"unloaded\":10,"
                "\"capacity\":535,\"remaining\":405}}");
    it_response_free(stats);

    char *audit = it_run_audit();
    assert_string_equal(audit, "");
    free(audit);
}

/* Dry runs on the state the scenario left: they report and change nothing. */
static void test_picture_dry_run(void **state)
{
    (void)state;
    build_picture();
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
        it_request("POST", fmt("/v1/organizations/%lld/transfers?dry_run=maybe", picture.oo1),
                   "{\"waste\":{\"glass\":1}}", NULL);
    EXPECT_STATUS(bad, 422);
    it_assert_problem(bad, 422, "dry_run");
    it_response_free(bad);
    char *after = it_db_fingerprint();
    assert_string_equal(before, after);
    free(before);
    free(after);

    assert_pending(picture.oo1, "{}");
    assert_pending(picture.oo2, "{}");
    it_response *stats_after = it_get("/v1/stats");
    EXPECT_STATUS(stats_after, 200);
    assert_true(cJSON_Compare(stats_before->json, stats_after->json, true));
    it_response_free(stats_after);
    it_response_free(stats_before);

    /* dry_run=false is an ordinary request. */
    it_response *real = it_request(
        "POST", fmt("/v1/organizations/%lld/transfers?dry_run=false", picture.oo1), "{}", NULL);
    EXPECT_STATUS(real, 201);
    ASSERT_TRANSFER(real->json, picture.oo1, "request", "{}", NO_SHIPMENTS, "{}");
    it_response_free(real);

    char *audit = it_run_audit();
    assert_string_equal(audit, "");
    free(audit);
}

static int group_setup(void **state)
{
    (void)state;
    return it_start(NULL);
}

static int group_teardown(void **state)
{
    (void)state;
    it_stop();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* In this order: the scenario needs a fresh database, the dry runs its end state. */
        cmocka_unit_test(test_picture_scenario),
        cmocka_unit_test(test_picture_dry_run),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
