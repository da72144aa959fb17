/* Integration tests of the storage view by pages (docs/design.md, "The storage view"):
 * GET /v1/organizations/{id}/storages with limit, cursor, include=path, reachable and
 * has_room, and GET /v1/organizations/{id}/storages/{storage_id}, against the real server.
 * The picture's tests run first (the view lists every storage, so they need the picture
 * alone in the database); the 3,000-storage chain runs last. */
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

/* "[id,distance,...]" pairs of a page's items as text: "2:50 1:100 5:100 ..." with МНО
 * numbers, "u" for a null distance; appended to out. */
static void describe_items(const cJSON *items, char *out, size_t size)
{
    const cJSON *item;
    cJSON_ArrayForEach(item, items)
    {
        long long id = it_json_int(item, "id");
        int number = -1;
        for (int n = 0; n < TU_PICTURE_SLOTS; n++) {
            if (picture.mno[n] == id) {
                number = n;
            }
        }
        const cJSON *distance = tu_member(item, "distance_m");
        size_t used = strlen(out);
        if (cJSON_IsNumber(distance)) {
            snprintf(out + used, size - used, "%s%d:%lld", used ? " " : "", number,
                     (long long)distance->valuedouble);
        } else {
            assert_true(cJSON_IsNull(distance));
            snprintf(out + used, size - used, "%s%d:u", used ? " " : "", number);
        }
    }
}

/* Every page of the view at `query` (without cursor) with page size limit, described as
 * above; asserts each page but the last is full and only the last has a null cursor. */
static void walk(long long org, const char *query, int limit, char *out, size_t size)
{
    out[0] = '\0';
    char *cursor = NULL;
    for (int page = 0; page < 100; page++) {
        char *escaped = cursor ? it_url_escape(cursor) : NULL;
        it_response *r =
            it_get("/v1/organizations/%lld/storages?limit=%d%s%s%s%s", org, limit,
                   query[0] ? "&" : "", query, escaped ? "&cursor=" : "", escaped ? escaped : "");
        free(escaped);
        EXPECT_STATUS(r, 200);
        const cJSON *items = tu_member(r->json, "items");
        describe_items(items, out, size);
        const cJSON *next = tu_member(r->json, "next_cursor");
        free(cursor);
        cursor = NULL;
        if (cJSON_IsNull(next)) {
            assert_true(cJSON_GetArraySize(items) <= limit);
            it_response_free(r);
            return;
        }
        assert_true(cJSON_IsString(next));
        assert_int_equal(cJSON_GetArraySize(items), limit);
        cursor = strdup(next->valuestring);
        it_response_free(r);
    }
    fail_msg("more than 100 pages");
}

#define OO1_ORDER "2:50 1:100 5:100 3:600 8:600 9:610 7:650 6:1200"
#define OO2_ORDER "3:50 7:100 6:650 1:u 2:u 5:u 8:u 9:u"

static void assert_walks(long long org, const char *query, const char *expected)
{
    char all[1024], paged[1024];
    walk(org, query, 1000, all, sizeof all);
    assert_string_equal(all, expected);
    const int limits[] = {1, 2, 3, 7, 8, 100};
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        walk(org, query, limits[i], paged, sizeof paged);
        if (strcmp(paged, expected) != 0) {
            fail_msg("%s with limit %d: %s, expected %s", query, limits[i], paged, expected);
        }
    }
}

static void test_first_page_of_the_picture(void **state)
{
    (void)state;
    tu_build_picture(&picture);
    /* The default page holds all 8: no cursor, no path, the items as before. */
    it_response *r = it_get("/v1/organizations/%lld/storages", picture.oo1);
    EXPECT_STATUS(r, 200);
    ASSERT_JSON(tu_member(r->json, "next_cursor"), "null");
    char order[512] = "";
    describe_items(tu_member(r->json, "items"), order, sizeof order);
    assert_string_equal(order, OO1_ORDER);
    const cJSON *first = cJSON_GetArrayItem(tu_member(r->json, "items"), 0);
    assert_null(cJSON_GetObjectItemCaseSensitive(first, "path"));
    assert_int_equal(it_json_int(first, "storage_id"), picture.mno[2]);
    ASSERT_JSON(tu_member(first, "capacity"), "{\"bio\":150,\"plastic\":50}");
    ASSERT_JSON(tu_member(first, "stock"), "{\"bio\":0,\"plastic\":0}");
    ASSERT_JSON(tu_member(first, "remaining"), "{\"bio\":150,\"plastic\":50}");
    assert_string_equal(it_json_str(first, "name"), "МНО2");
    it_response_free(r);
}

/* wasteflow_view_round_trips_total of /metrics (as the admin). */
static long long view_round_trips(void)
{
    it_response *r = it_get("/metrics");
    EXPECT_STATUS(r, 200);
    const char *name = "\nwasteflow_view_round_trips_total ";
    const char *at = strstr(r->body, name);
    if (at == NULL) {
        fail_msg("/metrics has no wasteflow_view_round_trips_total");
    }
    long long value = strtoll(at + strlen(name), NULL, 10);
    it_response_free(r);
    return value;
}

/* The view's first page of org as "n:d ..." (describe_items), and the database round trips
 * it took. */
static long long view_of(long long org, const char *query, char *order, size_t size)
{
    long long before = view_round_trips();
    it_response *r = it_get("/v1/organizations/%lld/storages%s", org, query);
    EXPECT_STATUS(r, 200);
    ASSERT_JSON(tu_member(r->json, "next_cursor"), "null");
    order[0] = '\0';
    describe_items(tu_member(r->json, "items"), order, size);
    it_response_free(r);
    return view_round_trips() - before;
}

/* A search that reached every storage there is leaves nothing unreachable: the view asks
 * the database for no unreachable storages (one round trip, as with reachable=true); one
 * storage without roads, and the second round trip lists it. */
static void test_no_round_trip_for_nothing_unreachable(void **state)
{
    (void)state;
    char order[512];
    assert_int_equal(view_of(picture.oo1, "", order, sizeof order), 1);
    assert_string_equal(order, OO1_ORDER);
    assert_int_equal(view_of(picture.oo1, "?reachable=true", order, sizeof order), 1);
    assert_string_equal(order, OO1_ORDER);
    /* ОО2 reaches three of eight: the five others come in a second round trip. */
    assert_int_equal(view_of(picture.oo2, "", order, sizeof order), 2);
    assert_string_equal(order, OO2_ORDER);

    long long roadless = tu_new_storage("roadless", "{\"glass\":5}");
    assert_int_equal(view_of(picture.oo1, "", order, sizeof order), 2);
    char expected[512];
    snprintf(expected, sizeof expected, "%s -1:u", OO1_ORDER);
    assert_string_equal(order, expected);
    it_response *r = it_delete("/v1/storages/%lld", roadless);
    EXPECT_STATUS(r, 204);
    it_response_free(r);
    assert_int_equal(view_of(picture.oo1, "", order, sizeof order), 1);
    assert_string_equal(order, OO1_ORDER);
}

/* A type few storages accept: its storages are read once, then kept (one round trip a view,
 * as without a filter) until a storage starts or stops accepting it. */
static void test_rare_type_members_cached(void **state)
{
    (void)state;
    char order[512];
    long long first = view_of(picture.oo1, "?waste_type=glass", order, sizeof order);
    assert_true(first == 1 || first == 2); /* 2 unless an earlier view cached glass */
    assert_string_equal(order, "1:100 5:100 8:600 6:1200");
    assert_int_equal(view_of(picture.oo1, "?waste_type=glass", order, sizeof order), 1);
    assert_string_equal(order, "1:100 5:100 8:600 6:1200");

    /* МНО2 starts accepting glass: the cached storages are stale, read again (the page
     * starts over: three round trips), then kept. */
    it_response *r =
        it_patch(tu_fmt("/v1/storages/%lld", picture.mno[2]), "{\"capacity\":{\"glass\":10}}");
    EXPECT_STATUS(r, 200);
    it_response_free(r);
    assert_int_equal(view_of(picture.oo1, "?waste_type=glass", order, sizeof order), 3);
    assert_string_equal(order, "2:50 1:100 5:100 8:600 6:1200");
    assert_int_equal(view_of(picture.oo1, "?waste_type=glass", order, sizeof order), 1);
    assert_string_equal(order, "2:50 1:100 5:100 8:600 6:1200");

    r = it_patch(tu_fmt("/v1/storages/%lld", picture.mno[2]), "{\"capacity\":{\"glass\":null}}");
    EXPECT_STATUS(r, 200);
    it_response_free(r);
    assert_int_equal(view_of(picture.oo1, "?waste_type=glass", order, sizeof order), 3);
    assert_string_equal(order, "1:100 5:100 8:600 6:1200");
}

static void test_pages_walk_the_whole_order(void **state)
{
    (void)state;
    tu_build_picture(&picture);
    assert_walks(picture.oo1, "", OO1_ORDER);
    assert_walks(picture.oo2, "", OO2_ORDER);
    assert_walks(picture.oo1, "waste_type=glass", "1:100 5:100 8:600 6:1200");
    assert_walks(picture.oo2, "waste_type=glass", "6:650 1:u 5:u 8:u");
    assert_walks(picture.oo2, "waste_type=bio", "3:50 7:100 6:650 2:u 5:u 8:u 9:u");
    assert_walks(picture.oo2, "reachable=true", "3:50 7:100 6:650");
    assert_walks(picture.oo2, "reachable=false", OO2_ORDER);
    assert_walks(picture.oo1, "reachable=true&waste_type=plastic",
                 "2:50 1:100 3:600 8:600 9:610 7:650");
}

static void set_stock_full(int number, const char *type, bool full)
{
    it_sql_exec("UPDATE storage_waste SET stock = %s WHERE storage_id = %lld AND waste_type "
                "LIKE '%s'",
                full ? "capacity" : "0", picture.mno[number], type);
}

static void test_has_room(void **state)
{
    (void)state;
    tu_build_picture(&picture);
    /* МНО2's plastic full: it still has room for bio. */
    set_stock_full(2, "plastic", true);
    assert_walks(picture.oo1, "has_room=true", OO1_ORDER);
    assert_walks(picture.oo1, "has_room=true&waste_type=plastic", "1:100 3:600 8:600 9:610 7:650");
    assert_walks(picture.oo1, "has_room=true&waste_type=bio",
                 "2:50 5:100 3:600 8:600 9:610 7:650 6:1200");
    /* Every type of МНО2 and МНО9 full: gone from has_room=true, still in the view. */
    set_stock_full(2, "%", true);
    set_stock_full(9, "%", true);
    assert_walks(picture.oo1, "has_room=true", "1:100 5:100 3:600 8:600 7:650 6:1200");
    assert_walks(picture.oo2, "has_room=true", "3:50 7:100 6:650 1:u 5:u 8:u");
    assert_walks(picture.oo1, "", OO1_ORDER);
    it_response *r = it_get("/v1/organizations/%lld/storages?limit=1", picture.oo1);
    EXPECT_STATUS(r, 200);
    ASSERT_JSON(tu_member(cJSON_GetArrayItem(tu_member(r->json, "items"), 0), "remaining"),
                "{\"bio\":0,\"plastic\":0}");
    it_response_free(r);
    set_stock_full(2, "%", false);
    set_stock_full(9, "%", false);
}

static void test_include_path(void **state)
{
    (void)state;
    tu_build_picture(&picture);
    static const char *const oo1_via[] = {"2", "1", "2 5", "3", "1 8", "1 8 9", "3 7", "3 6"};
    /* Pages of 3 with paths: the same paths as one page. */
    char *cursor = NULL;
    size_t index = 0;
    for (int page = 0; page < 3; page++) {
        char *escaped = cursor ? it_url_escape(cursor) : NULL;
        it_response *r = it_get("/v1/organizations/%lld/storages?include=path&limit=3%s%s",
                                picture.oo1, escaped ? "&cursor=" : "", escaped ? escaped : "");
        free(escaped);
        free(cursor);
        cursor = NULL;
        EXPECT_STATUS(r, 200);
        const cJSON *item;
        cJSON_ArrayForEach(item, tu_member(r->json, "items"))
        {
            ASSERT_JSON(tu_member(item, "path"), "%s",
                        tu_picture_path(&picture, picture.oo1, oo1_via[index]));
            index++;
        }
        const cJSON *next = tu_member(r->json, "next_cursor");
        if (cJSON_IsString(next)) {
            cursor = strdup(next->valuestring);
        }
        it_response_free(r);
    }
    assert_int_equal(index, 8);
    assert_null(cursor);

    /* Unreachable ones: path null. */
    it_response *r = it_get("/v1/organizations/%lld/storages?include=path&limit=100", picture.oo2);
    EXPECT_STATUS(r, 200);
    const cJSON *items = tu_member(r->json, "items");
    ASSERT_JSON(tu_member(cJSON_GetArrayItem(items, 1), "path"), "%s",
                tu_picture_path(&picture, picture.oo2, "3 7"));
    ASSERT_JSON(tu_member(cJSON_GetArrayItem(items, 3), "path"), "null");
    ASSERT_JSON(tu_member(cJSON_GetArrayItem(items, 3), "distance_m"), "null");
    it_response_free(r);
}

static void test_bad_parameters(void **state)
{
    (void)state;
    tu_build_picture(&picture);
    const char *base = tu_fmt("/v1/organizations/%lld/storages", picture.oo1);
    EXPECT_REJECTED("GET", tu_fmt("%s?include=path&limit=101", base), NULL, 422, "limit");
    EXPECT_REJECTED("GET", tu_fmt("%s?include=path&limit=1000", base), NULL, 422, "limit");
    EXPECT_REJECTED("GET", tu_fmt("%s?limit=1001", base), NULL, 422, "limit");
    EXPECT_REJECTED("GET", tu_fmt("%s?limit=0", base), NULL, 422, "limit");
    EXPECT_REJECTED("GET", tu_fmt("%s?include=paths", base), NULL, 422, "include");
    EXPECT_REJECTED("GET", tu_fmt("%s?include=", base), NULL, 422, "include");
    EXPECT_REJECTED("GET", tu_fmt("%s?include=path,", base), NULL, 422, "include");
    EXPECT_REJECTED("GET", tu_fmt("%s?reachable=yes", base), NULL, 422, "reachable");
    EXPECT_REJECTED("GET", tu_fmt("%s?reachable=", base), NULL, 422, "reachable");
    EXPECT_REJECTED("GET", tu_fmt("%s?has_room=1", base), NULL, 422, "has_room");
    EXPECT_REJECTED("GET", tu_fmt("%s?has_room=TRUE", base), NULL, 422, "has_room");
    /* include=path with limit 100 is fine. */
    EXPECT_GET_STATUS(200, "%s?include=path&limit=100", base);
}

/* next_cursor of the first page of org's view at query with limit 3. */
static char *first_cursor(long long org, const char *query)
{
    it_response *r = it_get("/v1/organizations/%lld/storages?limit=3%s", org, query);
    EXPECT_STATUS(r, 200);
    char *cursor = strdup(it_json_str(r->json, "next_cursor"));
    it_response_free(r);
    return cursor;
}

static void test_cursor_tampering(void **state)
{
    (void)state;
    tu_build_picture(&picture);
    char *cursor = first_cursor(picture.oo1, "");
    char *escaped = it_url_escape(cursor);
    const char *oo1 = tu_fmt("/v1/organizations/%lld/storages", picture.oo1);
    const char *oo2 = tu_fmt("/v1/organizations/%lld/storages", picture.oo2);
    /* Another organization, another filter: refused (400: the request, not a field value,
     * is wrong). */
    EXPECT_REJECTED("GET", tu_fmt("%s?cursor=%s", oo2, escaped), NULL, 400, NULL);
    EXPECT_REJECTED("GET", tu_fmt("%s?cursor=%s&waste_type=glass", oo1, escaped), NULL, 400, NULL);
    EXPECT_REJECTED("GET", tu_fmt("%s?cursor=%s&reachable=true", oo1, escaped), NULL, 400, NULL);
    EXPECT_REJECTED("GET", tu_fmt("%s?cursor=%s&has_room=true", oo1, escaped), NULL, 400, NULL);
    /* The same filter spelled with explicit defaults, include and limit: accepted. */
    it_response *ok = it_get("%s?cursor=%s&reachable=false&include=path&limit=2", oo1, escaped);
    EXPECT_STATUS(ok, 200);
    char order[256] = "";
    describe_items(tu_member(ok->json, "items"), order, sizeof order);
    assert_string_equal(order, "3:600 8:600");
    it_response_free(ok);
    /* Edited: a digit of the position, the tag, garbage, an id cursor of other lists. */
    char *edited = strdup(cursor);
    edited[1] = edited[1] == '9' ? '8' : '9';
    char *edited_escaped = it_url_escape(edited);
    EXPECT_REJECTED("GET", tu_fmt("%s?cursor=%s", oo1, edited_escaped), NULL, 400, NULL);
    free(edited_escaped);
    strcpy(edited, cursor);
    edited[strlen(edited) - 1] = edited[strlen(edited) - 1] == 'a' ? 'b' : 'a';
    edited_escaped = it_url_escape(edited);
    EXPECT_REJECTED("GET", tu_fmt("%s?cursor=%s", oo1, edited_escaped), NULL, 400, NULL);
    free(edited_escaped);
    free(edited);
    EXPECT_REJECTED("GET", tu_fmt("%s?cursor=5", oo1), NULL, 400, NULL);
    EXPECT_REJECTED("GET", tu_fmt("%s?cursor=", oo1), NULL, 400, NULL);
    if (getenv("WASTEFLOW_PRISM") == NULL) {
        /* Prism decodes the query and sends it on as valid UTF-8 (U+FFFD): through it this
         * is a 400 of ours; test_abuse checks raw non-UTF-8 bytes without a proxy. */
        EXPECT_REJECTED("GET", tu_fmt("%s?cursor=%%FF%%FE", oo1), NULL, 400, NULL);
    }
    EXPECT_REJECTED("GET", tu_fmt("%s?cursor=r1.1.0000000000000000", oo1), NULL, 400, NULL);
    free(escaped);
    free(cursor);
}

/* The cursor the service before signed cursors would have made for (distance, storage)
 * of organization org without filters: an unkeyed FNV-1a hash anyone can recompute. */
static char *unkeyed_cursor(long long org, long long distance, long long storage)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    const char *label = "wasteflow.view.1";
    for (size_t i = 0; i < 16; i++) {
        h = (h ^ (unsigned char)label[i]) * 0x100000001b3ULL;
    }
    const int64_t fields[] = {org, -1, 0, 0, distance, storage};
    for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
        for (int i = 0; i < 8; i++) {
            h = (h ^ (unsigned char)((uint64_t)fields[f] >> (8 * i))) * 0x100000001b3ULL;
        }
    }
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return tu_format("r%lld.%lld.%016llx", distance, storage, (unsigned long long)h);
}

/* Cursors are signed with a key of the deployment: a client that recomputes a cursor for a
 * deep position (as it could when the tag was an unkeyed hash) gets 400, while a cursor one
 * instance made is accepted by another instance of the same deployment. */
static void test_cursor_signed_by_the_deployment(void **state)
{
    (void)state;
    tu_build_picture(&picture);
    const char *oo1 = tu_fmt("/v1/organizations/%lld/storages", picture.oo1);
    /* (1200, МНО6), the last reachable storage of ОО1; and (600, МНО3), a genuine position. */
    char *forged = unkeyed_cursor(picture.oo1, 1200, picture.mno[6]);
    EXPECT_REJECTED_TYPE("GET", tu_fmt("%s?cursor=%s", oo1, forged), NULL, 400, "bad-request",
                         NULL);
    free(forged);
    forged = unkeyed_cursor(picture.oo1, 600, picture.mno[3]);
    EXPECT_REJECTED_TYPE("GET", tu_fmt("%s?cursor=%s", oo1, forged), NULL, 400, "bad-request",
                         NULL);
    free(forged);

    char *cursor = first_cursor(picture.oo1, "");
    assert_int_equal(strlen(cursor),
                     strlen("r100.") + strlen(tu_fmt("%lld", picture.mno[5])) + 1 + 32);
    char *escaped = it_url_escape(cursor);
    it_stop_second_instance(); /* one a failed test left running */
    char *second = strdup(it_start_second_instance(NULL));
    const char *headers[] = {it_bearer(it_admin_key()), NULL};
    it_response *there =
        it_request_to(second, "GET", tu_fmt("%s?limit=2&cursor=%s", oo1, escaped), NULL, headers);
    EXPECT_STATUS(there, 200);
    char order[256] = "";
    describe_items(tu_member(there->json, "items"), order, sizeof order);
    assert_string_equal(order, "3:600 8:600");
    /* And back: the second instance's cursor on the first. */
    char *next = it_url_escape(it_json_str(there->json, "next_cursor"));
    it_response_free(there);
    it_response *back = it_get("%s?limit=100&cursor=%s", oo1, next);
    EXPECT_STATUS(back, 200);
    order[0] = '\0';
    describe_items(tu_member(back->json, "items"), order, sizeof order);
    assert_string_equal(order, "9:610 7:650 6:1200");
    it_response_free(back);
    assert_int_equal(it_stop_second_instance(), 0);
    free(next);
    free(second);
    free(escaped);
    free(cursor);
}

static void test_cursor_survives_a_road_change(void **state)
{
    (void)state;
    tu_build_picture(&picture);
    /* Page 1 of ОО1 by 3: МНО2, МНО1, МНО5; the cursor names (100, МНО5). */
    char *cursor = first_cursor(picture.oo1, "");
    /* МНО8↔МНО9 made 1000 long: МНО9 moves from 610 to 1600, behind МНО6. */
    long long road = it_sql_int("SELECT id FROM routes WHERE from_storage_id = %lld AND "
                                "to_storage_id = %lld",
                                picture.mno[8], picture.mno[9]);
    it_response *patched = it_patch(tu_fmt("/v1/routes/%lld", road), "{\"distance_m\":1000}");
    EXPECT_STATUS(patched, 200);
    it_response_free(patched);
    char *escaped = it_url_escape(cursor);
    it_response *r =
        it_get("/v1/organizations/%lld/storages?limit=100&cursor=%s", picture.oo1, escaped);
    EXPECT_STATUS(r, 200);
    char order[256] = "";
    describe_items(tu_member(r->json, "items"), order, sizeof order);
    /* What comes after (100, МНО5) in the new order. */
    assert_string_equal(order, "3:600 8:600 7:650 6:1200 9:1600");
    ASSERT_JSON(tu_member(r->json, "next_cursor"), "null");
    it_response_free(r);
    free(escaped);
    free(cursor);
    patched = it_patch(tu_fmt("/v1/routes/%lld", road), "{\"distance_m\":10}");
    EXPECT_STATUS(patched, 200);
    it_response_free(patched);
    assert_walks(picture.oo1, "", OO1_ORDER);
}

static void test_one_storage(void **state)
{
    (void)state;
    tu_build_picture(&picture);
    it_response *r = it_get("/v1/organizations/%lld/storages/%lld", picture.oo1, picture.mno[9]);
    EXPECT_STATUS(r, 200);
    assert_int_equal(it_json_int(r->json, "id"), picture.mno[9]);
    assert_int_equal(it_json_int(r->json, "storage_id"), picture.mno[9]);
    assert_int_equal(it_json_int(r->json, "distance_m"), 610);
    ASSERT_JSON(tu_member(r->json, "path"), "%s", tu_picture_path(&picture, picture.oo1, "1 8 9"));
    assert_string_equal(it_json_str(r->json, "name"), "МНО9");
    ASSERT_JSON(tu_member(r->json, "capacity"), "{\"bio\":20,\"plastic\":250}");
    ASSERT_JSON(tu_member(r->json, "remaining"), "{\"bio\":20,\"plastic\":250}");
    it_response_free(r);

    r = it_get("/v1/organizations/%lld/storages/%lld", picture.oo2, picture.mno[1]);
    EXPECT_STATUS(r, 200);
    ASSERT_JSON(tu_member(r->json, "distance_m"), "null");
    ASSERT_JSON(tu_member(r->json, "path"), "null");
    it_response_free(r);

    r = it_get("/v1/organizations/%lld/storages/%lld", picture.oo2, picture.mno[6]);
    EXPECT_STATUS(r, 200);
    assert_int_equal(it_json_int(r->json, "distance_m"), 650);
    ASSERT_JSON(tu_member(r->json, "path"), "%s", tu_picture_path(&picture, picture.oo2, "3 6"));
    it_response_free(r);

    EXPECT_REJECTED("GET", tu_fmt("/v1/organizations/%lld/storages/999999999", picture.oo1), NULL,
                    404, NULL);
    EXPECT_REJECTED("GET", tu_fmt("/v1/organizations/999999999/storages/%lld", picture.mno[1]),
                    NULL, 404, NULL);
    EXPECT_REJECTED("GET", tu_fmt("/v1/organizations/%lld/storages/abc", picture.oo1), NULL, 404,
                    NULL);
}

static void test_access(void **state)
{
    (void)state;
    tu_build_picture(&picture);
    char *key = it_new_key("organization", picture.oo1, 0);
    const char *const mine[] = {it_bearer(key), NULL};
    struct {
        const char *path;
        int status;
    } cases[] = {
        {tu_fmt("/v1/organizations/%lld/storages", picture.oo1), 200},
        {tu_fmt("/v1/organizations/%lld/storages/%lld", picture.oo1, picture.mno[2]), 200},
        {tu_fmt("/v1/organizations/%lld/storages", picture.oo2), 403},
        {tu_fmt("/v1/organizations/%lld/storages/%lld", picture.oo2, picture.mno[3]), 403},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        it_response *r = it_request("GET", cases[i].path, NULL, mine);
        EXPECT_STATUS(r, cases[i].status);
        if (cases[i].status == 403) {
            EXPECT_PROBLEM(r, 403, NULL);
        }
        it_response_free(r);
    }
    /* Without credentials: 401. */
    const char *const none[] = {"Authorization:", NULL};
    it_response *r = it_request(
        "GET", tu_fmt("/v1/organizations/%lld/storages/%lld", picture.oo1, picture.mno[2]), NULL,
        none);
    EXPECT_STATUS(r, 401);
    it_response_free(r);
    free(key);
}

/* A 3,000-storage chain, which made one GET return 91 MB when every item carried its path. */
static void test_chain_of_3000(void **state)
{
    (void)state;
    tu_build_picture(&picture);
    long long org = tu_new_org("chain-org", "{}", NULL);
    long long first = it_sql_int(
        "WITH s AS (INSERT INTO storages (name) SELECT 'chain-' || g FROM generate_series(1, 3000) "
        "g RETURNING id), w AS (INSERT INTO storage_waste (storage_id, waste_type, capacity) "
        "SELECT id, 'glass', 100 FROM s) SELECT min(id) FROM s");
    it_sql_exec("INSERT INTO routes (from_organization_id, to_storage_id, distance_m) VALUES "
                "(%lld, %lld, 1)",
                org, first);
    it_sql_exec("INSERT INTO routes (from_storage_id, to_storage_id, distance_m) SELECT g, g + 1, "
                "1 FROM generate_series(%lld, %lld) g",
                first, first + 2998);

    it_response *r = it_get("/v1/organizations/%lld/storages", org);
    EXPECT_STATUS(r, 200);
    assert_true(strlen(r->body) < 40000); /* 100 items of ~300 bytes, not 91 MB */
    const cJSON *items = tu_member(r->json, "items");
    assert_int_equal(cJSON_GetArraySize(items), 100);
    assert_int_equal(it_json_int(cJSON_GetArrayItem(items, 99), "id"), first + 99);
    assert_int_equal(it_json_int(cJSON_GetArrayItem(items, 99), "distance_m"), 100);
    char *cursor = strdup(it_json_str(r->json, "next_cursor"));
    it_response_free(r);

    /* Paths: at most 100 items, the longest 101 nodes. */
    r = it_get("/v1/organizations/%lld/storages?include=path", org);
    EXPECT_STATUS(r, 200);
    assert_true(strlen(r->body) < 400000);
    const cJSON *last = cJSON_GetArrayItem(tu_member(r->json, "items"), 99);
    assert_int_equal(cJSON_GetArraySize(tu_member(last, "path")), 101);
    it_response_free(r);

    /* The next page resumes after the 100th. */
    char *escaped = it_url_escape(cursor);
    r = it_get("/v1/organizations/%lld/storages?limit=1000&cursor=%s", org, escaped);
    EXPECT_STATUS(r, 200);
    assert_true(strlen(r->body) < 400000);
    items = tu_member(r->json, "items");
    assert_int_equal(cJSON_GetArraySize(items), 1000);
    assert_int_equal(it_json_int(cJSON_GetArrayItem(items, 0), "id"), first + 100);
    assert_int_equal(it_json_int(cJSON_GetArrayItem(items, 0), "distance_m"), 101);
    it_response_free(r);
    free(escaped);
    free(cursor);

    /* reachable=true to the end: 3,000 in 3 pages of 1,000 (+ an empty check), then the
     * picture's 8 storages come unreachable after the chain for the chain's organization. */
    char *all = NULL;
    size_t total = 0, unreachable = 0;
    for (int page = 0; page < 10; page++) {
        char *esc = all ? it_url_escape(all) : NULL;
        r = it_get("/v1/organizations/%lld/storages?limit=1000%s%s", org, esc ? "&cursor=" : "",
                   esc ? esc : "");
        free(esc);
        EXPECT_STATUS(r, 200);
        const cJSON *item;
        cJSON_ArrayForEach(item, tu_member(r->json, "items"))
        {
            total++;
            unreachable += cJSON_IsNull(tu_member(item, "distance_m"));
        }
        free(all);
        all = NULL;
        const cJSON *next = tu_member(r->json, "next_cursor");
        if (cJSON_IsString(next)) {
            all = strdup(next->valuestring);
        }
        it_response_free(r);
        if (all == NULL) {
            break;
        }
    }
    assert_null(all);
    assert_int_equal(total, 3008);
    assert_int_equal(unreachable, 8);

    /* The far end, alone, with its 3,001-node path. */
    r = it_get("/v1/organizations/%lld/storages/%lld", org, first + 2999);
    EXPECT_STATUS(r, 200);
    assert_int_equal(it_json_int(r->json, "distance_m"), 3000);
    assert_int_equal(cJSON_GetArraySize(tu_member(r->json, "path")), 3001);
    it_response_free(r);
}

RUNNER_MAIN(tu_setup, tu_teardown,
            {
                cmocka_unit_test(test_first_page_of_the_picture),
                cmocka_unit_test(test_no_round_trip_for_nothing_unreachable),
                cmocka_unit_test(test_rare_type_members_cached),
                cmocka_unit_test(test_pages_walk_the_whole_order),
                cmocka_unit_test(test_has_room),
                cmocka_unit_test(test_include_path),
                cmocka_unit_test(test_bad_parameters),
                cmocka_unit_test(test_cursor_tampering),
                cmocka_unit_test(test_cursor_signed_by_the_deployment),
                cmocka_unit_test(test_cursor_survives_a_road_change),
                cmocka_unit_test(test_one_storage),
                cmocka_unit_test(test_access),
                cmocka_unit_test(test_chain_of_3000),
            })
