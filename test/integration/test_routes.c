/* Integration tests of roads (/v1/routes) and of the shortest-distance view
 * GET /v1/organizations/{id}/storages. The view tests build the picture's graph
 * (docs/design.md, "The picture, as data") on the runner's fresh database and run first: the view
 * lists every storage, so they must see only the picture's storages. Then the road change
 * log (sql/migrations/003): two instances following each other's changes without reloading
 * the graph, a gap in the log falling back to a full load, no-op PATCHes moving nothing, and
 * cascaded deletes logged. */
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

#define UNKNOWN_ID 999999999LL

static long long new_org(void)
{
    return tu_new_org("route-org", "{}", NULL);
}

static long long new_storage(void)
{
    return tu_new_storage("route-storage", "{\"glass\":100}");
}

static void assert_route(const cJSON *route, const char *from, const char *to, long long distance_m,
                         bool two_way)
{
    assert_true(it_json_int(route, "id") > 0);
    ASSERT_JSON(tu_member(route, "from"), "%s", from);
    ASSERT_JSON(tu_member(route, "to"), "%s", to);
    assert_int_equal(it_json_int(route, "distance_m"), distance_m);
    ASSERT_JSON(tu_member(route, "two_way"), "%s", two_way ? "true" : "false");
    tu_assert_timestamp(tu_member(route, "created_at"));
}

/* PATCHes path with body and asserts a 200 and, unless from is NULL, the route it answers. */
#define PATCH_ROUTE(path, body, from, to, distance_m, two_way)                                     \
    patch_route_at(__FILE__, __LINE__, (path), (body), (from), (to), (distance_m), (two_way))
#define PATCH_OK(path, body)                                                                       \
    patch_route_at(__FILE__, __LINE__, (path), (body), NULL, NULL, 0, false)
static void patch_route_at(const char *file, int line, const char *path, const char *body,
                           const char *from, const char *to, long long distance_m, bool two_way)
{
    it_response *patched = it_patch(path, "%s", body);
    tu_expect_status_at(file, line, patched, 200);
    if (from != NULL) {
        assert_route(patched->json, from, to, distance_m, two_way);
    }
    it_response_free(patched);
}

/* DELETEs the path (printf-formatted) and asserts a 204. */
#define DELETE_OK(...) delete_ok_at(__FILE__, __LINE__, tu_fmt(__VA_ARGS__))
static void delete_ok_at(const char *file, int line, const char *path)
{
    it_response *deleted = it_delete("%s", path);
    tu_expect_status_at(file, line, deleted, 204);
    it_response_free(deleted);
}

/* POST /v1/routes from from to to, with the other members given, is a 409 and changes
 * nothing: the ordered pair (or a two-way road over it) is already there. */
#define EXPECT_ROUTE_CONFLICT(from, to, members)                                                   \
    EXPECT_REJECTED("POST", "/v1/routes",                                                          \
                    tu_fmt("{\"from\":%s,\"to\":%s,%s}", (from), (to), (members)), 409, NULL)

/* Ids of a list response's items, in order, as a JSON array text (caller frees). */
static char *item_ids(const cJSON *list)
{
    const cJSON *items = tu_member(list, "items");
    assert_true(cJSON_IsArray(items));
    cJSON *ids = cJSON_CreateArray();
    const cJSON *item;
    cJSON_ArrayForEach(item, items)
    {
        cJSON_AddItemToArray(ids, cJSON_CreateNumber((double)it_json_int(item, "id")));
    }
    char *text = cJSON_PrintUnformatted(ids);
    cJSON_Delete(ids);
    return text;
}

/* Asserts the ids listed by GET /v1/routes?<query>, in order (expected: a JSON array). */
#define ASSERT_ROUTE_IDS(query, ...)                                                               \
    assert_route_ids_at(__FILE__, __LINE__, (query), tu_fmt(__VA_ARGS__))
static void assert_route_ids_at(const char *file, int line, const char *query, const char *expected)
{
    it_response *list = it_get("/v1/routes?%s", query);
    tu_expect_status_at(file, line, list, 200);
    char *ids_text = item_ids(list->json);
    cJSON *ids = cJSON_Parse(ids_text);
    tu_assert_json_at(file, line, ids, "%s", expected);
    cJSON_Delete(ids);
    free(ids_text);
    it_response_free(list);
}

/* ---- the picture's graph ---- */

static tu_picture picture;

/* One expected row of the view: storage МНО<number>, its distance (-1: unreachable) and
 * the storages the path passes after the organization ("1 8 9"), NULL when unreachable. */
struct view_row {
    int number;
    long long distance_m;
    const char *via;
};
#define UNREACHABLE(number)                                                                        \
    {                                                                                              \
        (number), -1, NULL                                                                         \
    }

#define OO1_PICTURE_ROWS                                                                           \
    {2, 50, "2"}, {1, 100, "1"}, {5, 100, "2 5"}, {3, 600, "3"}, {8, 600, "1 8"},                  \
        {9, 610, "1 8 9"}, {7, 650, "3 7"},                                                        \
    {                                                                                              \
        6, 1200, "3 6"                                                                             \
    }
#define OO2_PICTURE_ROWS                                                                           \
    {3, 50, "3"}, {7, 100, "3 7"}, {6, 650, "3 6"}, UNREACHABLE(1), UNREACHABLE(2),                \
        UNREACHABLE(5), UNREACHABLE(8), UNREACHABLE(9)

#define ASSERT_VIEW(org_id, query, ...)                                                            \
    assert_view_at(__FILE__, __LINE__, (org_id), (query), (const struct view_row[]){__VA_ARGS__},  \
                   sizeof((const struct view_row[]){__VA_ARGS__}) / sizeof(struct view_row))

/* Capacity with every amount zero: the stock of an empty storage. */
static char *zero_stock(const char *capacity_json)
{
    cJSON *stock = cJSON_Parse(capacity_json);
    assert_non_null(stock);
    cJSON *entry;
    cJSON_ArrayForEach(entry, stock)
    {
        cJSON_SetNumberValue(entry, 0);
    }
    char *text = cJSON_PrintUnformatted(stock);
    cJSON_Delete(stock);
    return text;
}

static void assert_view_at(const char *file, int line, long long org_id, const char *query,
                           const struct view_row *rows, size_t row_count)
{
    /* Paths come only with include=path (docs/design.md, "The storage view"). */
    it_response *view = it_get("/v1/organizations/%lld/storages%s%sinclude=path", org_id, query,
                               query[0] ? "&" : "?");
    tu_expect_status_at(file, line, view, 200);
    const cJSON *items = tu_member(view->json, "items");
    tu_assert_json_at(file, line, tu_member(view->json, "next_cursor"), "null");
    if (!cJSON_IsArray(items) || (size_t)cJSON_GetArraySize(items) != row_count) {
        print_error("view of organization %lld%s: expected %zu items, got: %s\n", org_id, query,
                    row_count, view->body);
        _fail(file, line);
    }
    for (size_t i = 0; i < row_count; i++) {
        const cJSON *item = cJSON_GetArrayItem(items, (int)i);
        long long storage_id = picture.mno[rows[i].number];
        if (it_json_int(item, "id") != storage_id ||
            it_json_int(item, "storage_id") != storage_id) {
            print_error("view of organization %lld%s: item %zu should be МНО%d (id %lld): %s\n",
                        org_id, query, i, rows[i].number, storage_id, view->body);
            _fail(file, line);
        }
        tu_assert_json_at(file, line, tu_member(item, "name"), "\"МНО%d\"", rows[i].number);
        if (rows[i].distance_m < 0) {
            tu_assert_json_at(file, line, tu_member(item, "distance_m"), "null");
            tu_assert_json_at(file, line, tu_member(item, "path"), "null");
        } else {
            tu_assert_json_at(file, line, tu_member(item, "distance_m"), "%lld",
                              rows[i].distance_m);
            tu_assert_json_at(file, line, tu_member(item, "path"), "%s",
                              tu_picture_path(&picture, org_id, rows[i].via));
        }
        const char *capacity = tu_picture_capacity[rows[i].number];
        char *stock = zero_stock(capacity);
        tu_assert_json_at(file, line, tu_member(item, "capacity"), "%s", capacity);
        tu_assert_json_at(file, line, tu_member(item, "stock"), "%s", stock);
        tu_assert_json_at(file, line, tu_member(item, "remaining"), "%s", capacity);
        free(stock);
    }
    it_response_free(view);
}

/* ---- view tests (first: they need a database holding only the picture) ---- */

static void test_view_picture_distances(void **state)
{
    (void)state;
    tu_build_picture(&picture);
    ASSERT_VIEW(picture.oo1, "", OO1_PICTURE_ROWS);
    ASSERT_VIEW(picture.oo2, "", OO2_PICTURE_ROWS);

    /* The exact path ОО1 → МНО9, spelled out. */
    it_response *view = it_get("/v1/organizations/%lld/storages?include=path", picture.oo1);
    EXPECT_STATUS(view, 200);
    const cJSON *mno9 = cJSON_GetArrayItem(tu_member(view->json, "items"), 5);
    assert_int_equal(it_json_int(mno9, "id"), picture.mno[9]);
    ASSERT_JSON(tu_member(mno9, "path"),
                "[{\"organization_id\":%lld},{\"storage_id\":%lld},{\"storage_id\":%lld},"
                "{\"storage_id\":%lld}]",
                picture.oo1, picture.mno[1], picture.mno[8], picture.mno[9]);
    it_response_free(view);
}

static void test_view_waste_type_filter(void **state)
{
    (void)state;
    tu_build_picture(&picture);
    ASSERT_VIEW(picture.oo1, "?waste_type=glass", {1, 100, "1"}, {5, 100, "2 5"}, {8, 600, "1 8"},
                {6, 1200, "3 6"});
    ASSERT_VIEW(picture.oo2, "?waste_type=glass", {6, 650, "3 6"}, UNREACHABLE(1), UNREACHABLE(5),
                UNREACHABLE(8));
    ASSERT_VIEW(picture.oo1, "?waste_type=plastic", {2, 50, "2"}, {1, 100, "1"}, {3, 600, "3"},
                {8, 600, "1 8"}, {9, 610, "1 8 9"}, {7, 650, "3 7"});
    ASSERT_VIEW(picture.oo2, "?waste_type=bio", {3, 50, "3"}, {7, 100, "3 7"}, {6, 650, "3 6"},
                UNREACHABLE(2), UNREACHABLE(5), UNREACHABLE(8), UNREACHABLE(9));

    /* A known type that no storage accepts: an empty list. */
    it_response *created = it_post("/v1/waste-types", "{\"code\":\"metal\",\"name\":\"Metal\"}");
    EXPECT_STATUS(created, 201);
    it_response_free(created);
    it_response *view = it_get("/v1/organizations/%lld/storages?waste_type=metal", picture.oo1);
    EXPECT_STATUS(view, 200);
    ASSERT_JSON(view->json, "{\"items\":[],\"next_cursor\":null}");
    it_response_free(view);
}

static void test_view_follows_route_changes(void **state)
{
    (void)state;
    tu_build_picture(&picture);
    long long *s = picture.mno;
    char oo2_mno3[256];
    snprintf(oo2_mno3, sizeof oo2_mno3, "/v1/routes/%lld", picture.route_oo2_mno3);

    /* ОО2→МНО3 made longer: everything behind МНО3 moves with it. */
    PATCH_ROUTE(oo2_mno3, "{\"distance_m\":700}", ORG(picture.oo2), STORAGE(s[3]), 700, false);
    ASSERT_VIEW(picture.oo2, "", {3, 700, "3"}, {7, 750, "3 7"}, {6, 1300, "3 6"}, UNREACHABLE(1),
                UNREACHABLE(2), UNREACHABLE(5), UNREACHABLE(8), UNREACHABLE(9));

    /* A shortcut ОО2→МНО7 60: МНО3 is now reached through МНО7. */
    long long shortcut = it_create_route(ORG(picture.oo2), STORAGE(s[7]), 60, false);
    ASSERT_VIEW(picture.oo2, "", {7, 60, "7"}, {3, 110, "7 3"}, {6, 710, "7 3 6"}, UNREACHABLE(1),
                UNREACHABLE(2), UNREACHABLE(5), UNREACHABLE(8), UNREACHABLE(9));

    DELETE_OK("/v1/routes/%lld", shortcut);
    ASSERT_VIEW(picture.oo2, "", {3, 700, "3"}, {7, 750, "3 7"}, {6, 1300, "3 6"}, UNREACHABLE(1),
                UNREACHABLE(2), UNREACHABLE(5), UNREACHABLE(8), UNREACHABLE(9));

    PATCH_OK(oo2_mno3, "{\"distance_m\":50}");
    ASSERT_VIEW(picture.oo2, "", OO2_PICTURE_ROWS);

    /* A one-way МНО5→МНО9 5 gives ОО1 a shorter way to МНО9 and МНО8. */
    long long mno5_mno9 = it_create_route(STORAGE(s[5]), STORAGE(s[9]), 5, false);
    ASSERT_VIEW(picture.oo1, "", {2, 50, "2"}, {1, 100, "1"}, {5, 100, "2 5"}, {9, 105, "2 5 9"},
                {8, 115, "2 5 9 8"}, {3, 600, "3"}, {7, 650, "3 7"}, {6, 1200, "3 6"});
    ASSERT_VIEW(picture.oo2, "", OO2_PICTURE_ROWS);
    DELETE_OK("/v1/routes/%lld", mno5_mno9);
    ASSERT_VIEW(picture.oo1, "", OO1_PICTURE_ROWS);

    /* One-way МНО6→МНО5 opens МНО5 and МНО2 to ОО2 only ... */
    long long mno6_mno5 = it_create_route(STORAGE(s[6]), STORAGE(s[5]), 10, false);
    char mno6_mno5_path[256];
    snprintf(mno6_mno5_path, sizeof mno6_mno5_path, "/v1/routes/%lld", mno6_mno5);
    ASSERT_VIEW(picture.oo2, "", {3, 50, "3"}, {7, 100, "3 7"}, {6, 650, "3 6"}, {5, 660, "3 6 5"},
                {2, 710, "3 6 5 2"}, UNREACHABLE(1), UNREACHABLE(8), UNREACHABLE(9));
    ASSERT_VIEW(picture.oo1, "", OO1_PICTURE_ROWS);

    /* ... made two-way it also gives ОО1 МНО6 at 110 instead of 1200 ... */
    PATCH_ROUTE(mno6_mno5_path, "{\"two_way\":true}", STORAGE(s[6]), STORAGE(s[5]), 10, true);
    ASSERT_VIEW(picture.oo1, "", {2, 50, "2"}, {1, 100, "1"}, {5, 100, "2 5"}, {6, 110, "2 5 6"},
                {3, 600, "3"}, {8, 600, "1 8"}, {9, 610, "1 8 9"}, {7, 650, "3 7"});
    ASSERT_VIEW(picture.oo2, "", {3, 50, "3"}, {7, 100, "3 7"}, {6, 650, "3 6"}, {5, 660, "3 6 5"},
                {2, 710, "3 6 5 2"}, UNREACHABLE(1), UNREACHABLE(8), UNREACHABLE(9));

    /* ... and lengthened to 1000 it is still ОО1's shortest way to МНО6 (1100 < 1200). */
    PATCH_ROUTE(mno6_mno5_path, "{\"distance_m\":1000}", STORAGE(s[6]), STORAGE(s[5]), 1000, true);
    ASSERT_VIEW(picture.oo1, "", {2, 50, "2"}, {1, 100, "1"}, {5, 100, "2 5"}, {3, 600, "3"},
                {8, 600, "1 8"}, {9, 610, "1 8 9"}, {7, 650, "3 7"}, {6, 1100, "2 5 6"});
    ASSERT_VIEW(picture.oo2, "", {3, 50, "3"}, {7, 100, "3 7"}, {6, 650, "3 6"}, {5, 1650, "3 6 5"},
                {2, 1700, "3 6 5 2"}, UNREACHABLE(1), UNREACHABLE(8), UNREACHABLE(9));

    DELETE_OK("/v1/routes/%lld", mno6_mno5);
    ASSERT_VIEW(picture.oo1, "", OO1_PICTURE_ROWS);
    ASSERT_VIEW(picture.oo2, "", OO2_PICTURE_ROWS);
}

static void test_view_unknown_org_and_type(void **state)
{
    (void)state;
    tu_build_picture(&picture);
    char *before = it_db_fingerprint();
    EXPECT_REJECTED("GET", tu_fmt("/v1/organizations/%lld/storages", UNKNOWN_ID), NULL, 404, NULL);
    EXPECT_REJECTED("GET", "/v1/organizations/abc/storages", NULL, 404, NULL);
    EXPECT_REJECTED("GET", tu_fmt("/v1/organizations/%lld/storages?waste_type=metalx", picture.oo1),
                    NULL, 422, "waste_type");
    EXPECT_REJECTED("GET", tu_fmt("/v1/organizations/%lld/storages?waste_type=Glass", picture.oo1),
                    NULL, 422, "waste_type");
    ASSERT_UNCHANGED(before);
}

/* ---- route resource tests ---- */

static void test_route_create_and_get(void **state)
{
    (void)state;
    long long org = new_org();
    long long storage_a = new_storage();
    long long storage_b = new_storage();

    it_response *created = it_post("/v1/routes", "{\"from\":%s,\"to\":%s,\"distance_m\":120}",
                                   ORG(org), STORAGE(storage_a));
    EXPECT_STATUS(created, 201);
    assert_route(created->json, ORG(org), STORAGE(storage_a), 120, false);
    long long id = EXPECT_LOCATION(created, "/v1/routes");

    ASSERT_READS_BACK(tu_fmt("/v1/routes/%lld", id), created->json);
    it_response_free(created);

    /* Storage to storage, two-way, at both ends of the distance range. */
    created = it_post("/v1/routes", "{\"from\":%s,\"to\":%s,\"distance_m\":1,\"two_way\":true}",
                      STORAGE(storage_a), STORAGE(storage_b));
    EXPECT_STATUS(created, 201);
    assert_route(created->json, STORAGE(storage_a), STORAGE(storage_b), 1, true);
    assert_true(it_json_int(created->json, "id") > id);
    it_response_free(created);

    created =
        it_post("/v1/routes", "{\"from\":%s,\"to\":%s,\"distance_m\":100000000,\"two_way\":false}",
                ORG(org), STORAGE(storage_b));
    EXPECT_STATUS(created, 201);
    assert_route(created->json, ORG(org), STORAGE(storage_b), 100000000, false);
    it_response_free(created);

    EXPECT_REJECTED("GET", tu_fmt("/v1/routes/%lld", UNKNOWN_ID), NULL, 404, NULL);
    EXPECT_REJECTED("GET", "/v1/routes/0", NULL, 404, NULL);
    EXPECT_REJECTED("GET", "/v1/routes/x1", NULL, 404, NULL);
}

static void test_route_list_and_node_filter(void **state)
{
    (void)state;
    long long org = new_org();
    long long s1 = new_storage(), s2 = new_storage(), s3 = new_storage();
    long long r1 = it_create_route(ORG(org), STORAGE(s1), 10, false);
    long long r2 = it_create_route(STORAGE(s1), STORAGE(s2), 20, true);
    long long r3 = it_create_route(STORAGE(s3), STORAGE(s1), 30, false);
    long long r4 = it_create_route(STORAGE(s2), STORAGE(s3), 40, false);

    ASSERT_ROUTE_IDS(tu_fmt("node=organization:%lld", org), "[%lld]", r1);
    ASSERT_ROUTE_IDS(tu_fmt("node=storage:%lld", s1), "[%lld,%lld,%lld]", r1, r2, r3);
    ASSERT_ROUTE_IDS(tu_fmt("node=storage:%lld", s2), "[%lld,%lld]", r2, r4);
    ASSERT_ROUTE_IDS(tu_fmt("node=storage:%lld", s3), "[%lld,%lld]", r3, r4);

    /* Filtered items are the full route objects. */
    it_response *list = it_get("/v1/routes?node=storage:%lld", s2);
    EXPECT_STATUS(list, 200);
    ASSERT_JSON(tu_member(list->json, "next_cursor"), "null");
    const cJSON *first = cJSON_GetArrayItem(tu_member(list->json, "items"), 0);
    assert_route(first, STORAGE(s1), STORAGE(s2), 20, true);
    it_response *one = it_get("/v1/routes/%lld", r2);
    EXPECT_STATUS(one, 200);
    assert_true(cJSON_Compare(first, one->json, true));
    it_response_free(one);
    it_response_free(list);

    /* The whole list, ascending by id, and the same list page by page. */
    it_response *all = it_get("/v1/routes?limit=1000");
    EXPECT_STATUS(all, 200);
    ASSERT_JSON(tu_member(all->json, "next_cursor"), "null");
    char *all_ids = item_ids(all->json);
    cJSON *all_array = cJSON_Parse(all_ids);
    int total = cJSON_GetArraySize(all_array);
    assert_true(total >= 4);
    for (int i = 1; i < total; i++)
        assert_true(cJSON_GetArrayItem(all_array, i)->valuedouble >
                    cJSON_GetArrayItem(all_array, i - 1)->valuedouble);
    assert_int_equal((long long)cJSON_GetArrayItem(all_array, total - 1)->valuedouble, r4);
    it_response_free(all);

    cJSON *paged = cJSON_CreateArray();
    char *cursor = NULL;
    for (int page = 0; page < 1000; page++) {
        it_response *response = cursor && cursor[0] ? it_get("/v1/routes?limit=2&cursor=%s", cursor)
                                                    : it_get("/v1/routes?limit=2");
        EXPECT_STATUS(response, 200);
        const cJSON *items = tu_member(response->json, "items");
        assert_true(cJSON_GetArraySize(items) <= 2);
        const cJSON *item;
        cJSON_ArrayForEach(item, items)
        {
            cJSON_AddItemToArray(paged, cJSON_CreateNumber((double)it_json_int(item, "id")));
        }
        const cJSON *next = tu_member(response->json, "next_cursor");
        if (cJSON_IsNull(next)) {
            it_response_free(response);
            break;
        }
        assert_true(cJSON_IsString(next));
        free(cursor);
        cursor = it_url_escape(next->valuestring);
        it_response_free(response);
    }
    free(cursor);
    assert_true(cJSON_Compare(paged, all_array, true));
    cJSON_Delete(paged);
    cJSON_Delete(all_array);
    free(all_ids);

    char *before = it_db_fingerprint();
    static const char *const bad_nodes[] = {
        "org:1",       "organization", "organization:", "storage:abc", "storage:12abc",
        "warehouse:1", ":1",           "storage%3A",
    };
    for (size_t i = 0; i < sizeof bad_nodes / sizeof bad_nodes[0]; i++)
        EXPECT_REJECTED("GET", tu_fmt("/v1/routes?node=%s", bad_nodes[i]), NULL, 422, "node");
    EXPECT_REJECTED("GET", "/v1/routes?limit=0", NULL, 422, "limit");
    EXPECT_REJECTED("GET", "/v1/routes?limit=1001", NULL, 422, "limit");
    EXPECT_REJECTED("GET", "/v1/routes?cursor=not-a-cursor", NULL, 422, "cursor");
    ASSERT_UNCHANGED(before);
}

static void test_route_validation(void **state)
{
    (void)state;
    long long org = new_org();
    long long storage = new_storage();
    long long other = new_storage();
    /* Copies: fmt's buffers are reused. */
    char from[64], to[64], both[128];
    snprintf(from, sizeof from, "%s", ORG(org));
    snprintf(to, sizeof to, "%s", STORAGE(storage));
    snprintf(both, sizeof both, "{\"organization_id\":%lld,\"storage_id\":%lld}", org, other);
    char *before = it_db_fingerprint();

    /* Unknown nodes. */
    EXPECT_REJECTED("POST", "/v1/routes",
                    tu_fmt("{\"from\":%s,\"to\":%s,\"distance_m\":10}", ORG(UNKNOWN_ID), to), 422,
                    "from");
    EXPECT_REJECTED("POST", "/v1/routes",
                    tu_fmt("{\"from\":%s,\"to\":%s,\"distance_m\":10}", STORAGE(UNKNOWN_ID), to),
                    422, "from");
    EXPECT_REJECTED("POST", "/v1/routes",
                    tu_fmt("{\"from\":%s,\"to\":%s,\"distance_m\":10}", from, STORAGE(UNKNOWN_ID)),
                    422, "to");
    EXPECT_REJECTED("POST", "/v1/routes",
                    tu_fmt("{\"from\":%s,\"to\":%s,\"distance_m\":10}", from, ORG(UNKNOWN_ID)), 422,
                    "to");
    /* A road from a node to itself. */
    EXPECT_REJECTED("POST", "/v1/routes",
                    tu_fmt("{\"from\":%s,\"to\":%s,\"distance_m\":10}", to, to), 422, "to");
    EXPECT_REJECTED("POST", "/v1/routes",
                    tu_fmt("{\"from\":%s,\"to\":%s,\"distance_m\":10}", from, from), 422, "to");
    /* Node references with both ids, neither, or not an object. */
    EXPECT_REJECTED("POST", "/v1/routes",
                    tu_fmt("{\"from\":%s,\"to\":%s,\"distance_m\":10}", both, to), 422, "from");
    EXPECT_REJECTED("POST", "/v1/routes",
                    tu_fmt("{\"from\":%s,\"to\":%s,\"distance_m\":10}", from, both), 422, "to");
    EXPECT_REJECTED("POST", "/v1/routes", tu_fmt("{\"from\":{},\"to\":%s,\"distance_m\":10}", to),
                    422, "from");
    EXPECT_REJECTED("POST", "/v1/routes", tu_fmt("{\"from\":%s,\"to\":{},\"distance_m\":10}", from),
                    422, "to");
    EXPECT_REJECTED("POST", "/v1/routes",
                    tu_fmt("{\"from\":%lld,\"to\":%s,\"distance_m\":10}", org, to), 422, "from");
    EXPECT_REJECTED("POST", "/v1/routes", tu_fmt("{\"to\":%s,\"distance_m\":10}", to), 422, "from");
    EXPECT_REJECTED("POST", "/v1/routes", tu_fmt("{\"from\":%s,\"distance_m\":10}", from), 422,
                    "to");
    /* Distances outside 1..10^8 or not integers. */
    static const char *const bad_distances[] = {"0",    "100000001", "1.5", "\"10\"", "-5",
                                                "null", "true",      "1e9", "[10]",   "{}"};
    for (size_t i = 0; i < sizeof bad_distances / sizeof bad_distances[0]; i++)
        EXPECT_REJECTED(
            "POST", "/v1/routes",
            tu_fmt("{\"from\":%s,\"to\":%s,\"distance_m\":%s}", from, to, bad_distances[i]), 422,
            "distance_m");
    EXPECT_REJECTED("POST", "/v1/routes", tu_fmt("{\"from\":%s,\"to\":%s}", from, to), 422,
                    "distance_m");
    EXPECT_REJECTED(
        "POST", "/v1/routes",
        tu_fmt("{\"from\":%s,\"to\":%s,\"distance_m\":10,\"two_way\":\"yes\"}", from, to), 422,
        "two_way");
    EXPECT_REJECTED(
        "POST", "/v1/routes",
        tu_fmt("{\"from\":%s,\"to\":%s,\"distance_m\":10,\"colour\":\"red\"}", from, to), 422,
        "colour");

    ASSERT_UNCHANGED(before);
}

static void test_route_duplicate_and_two_way_conflicts(void **state)
{
    (void)state;
    long long org = new_org();
    long long s1 = new_storage(), s2 = new_storage(), s3 = new_storage(), s4 = new_storage();
    long long s5 = new_storage(), s6 = new_storage();

    it_create_route(ORG(org), STORAGE(s1), 10, false);
    long long s1_s2 = it_create_route(STORAGE(s1), STORAGE(s2), 10, false);
    it_create_route(STORAGE(s3), STORAGE(s4), 10, true);
    long long s5_s6 = it_create_route(STORAGE(s5), STORAGE(s6), 10, false);

    char *before = it_db_fingerprint();
    /* The same ordered pair again, whatever the distance or direction flag. */
    EXPECT_ROUTE_CONFLICT(ORG(org), STORAGE(s1), "\"distance_m\":99");
    EXPECT_ROUTE_CONFLICT(STORAGE(s1), STORAGE(s2), "\"distance_m\":10");
    EXPECT_ROUTE_CONFLICT(STORAGE(s1), STORAGE(s2), "\"distance_m\":10,\"two_way\":true");
    /* An existing two-way road joins both ordered pairs. */
    EXPECT_ROUTE_CONFLICT(STORAGE(s4), STORAGE(s3), "\"distance_m\":10");
    EXPECT_ROUTE_CONFLICT(STORAGE(s3), STORAGE(s4), "\"distance_m\":5");
    EXPECT_ROUTE_CONFLICT(STORAGE(s4), STORAGE(s3), "\"distance_m\":10,\"two_way\":true");
    /* A new two-way road over an existing one-way road in the other direction. */
    EXPECT_ROUTE_CONFLICT(STORAGE(s6), STORAGE(s5), "\"distance_m\":10,\"two_way\":true");
    ASSERT_UNCHANGED(before);

    /* The reverse one-way road is a different ordered pair: allowed ... */
    long long s2_s1 = it_create_route(STORAGE(s2), STORAGE(s1), 15, false);
    assert_true(s2_s1 > s5_s6);
    /* ... but then neither of the two may become two-way. */
    before = it_db_fingerprint();
    EXPECT_REJECTED("PATCH", tu_fmt("/v1/routes/%lld", s1_s2), "{\"two_way\":true}", 409, NULL);
    EXPECT_REJECTED("PATCH", tu_fmt("/v1/routes/%lld", s2_s1), "{\"two_way\":true}", 409, NULL);
    ASSERT_UNCHANGED(before);

    /* Without a reverse road, the PATCH to two-way succeeds; then the reverse conflicts. */
    PATCH_ROUTE(tu_fmt("/v1/routes/%lld", s5_s6), "{\"two_way\":true}", STORAGE(s5), STORAGE(s6),
                10, true);
    EXPECT_ROUTE_CONFLICT(STORAGE(s6), STORAGE(s5), "\"distance_m\":10");
    /* Back to one-way: the reverse is free again. */
    PATCH_ROUTE(tu_fmt("/v1/routes/%lld", s5_s6), "{\"two_way\":false}", STORAGE(s5), STORAGE(s6),
                10, false);
    long long s6_s5 = it_create_route(STORAGE(s6), STORAGE(s5), 10, false);
    assert_true(s6_s5 > s2_s1);
}

static void test_route_patch(void **state)
{
    (void)state;
    long long org = new_org();
    long long storage = new_storage();
    long long id = it_create_route(ORG(org), STORAGE(storage), 300, false);
    char path[256];
    snprintf(path, sizeof path, "/v1/routes/%lld", id);

    it_response *original = it_get("/v1/routes/%lld", id);
    EXPECT_STATUS(original, 200);

    it_response *patched = it_patch(path, "{\"distance_m\":250}");
    EXPECT_STATUS(patched, 200);
    assert_route(patched->json, ORG(org), STORAGE(storage), 250, false);
    assert_int_equal(it_json_int(patched->json, "id"), id);
    assert_true(cJSON_Compare(tu_member(patched->json, "created_at"),
                              tu_member(original->json, "created_at"), true));
    it_response_free(patched);

    PATCH_ROUTE(path, "{\"two_way\":true}", ORG(org), STORAGE(storage), 250, true);

    patched = it_patch(path, "{\"distance_m\":7,\"two_way\":false}");
    EXPECT_STATUS(patched, 200);
    assert_route(patched->json, ORG(org), STORAGE(storage), 7, false);
    ASSERT_READS_BACK(tu_fmt("/v1/routes/%lld", id), patched->json);
    it_response_free(patched);
    it_response_free(original);

    char *before = it_db_fingerprint();
    EXPECT_REJECTED("PATCH", path, "{\"distance_m\":0}", 422, "distance_m");
    EXPECT_REJECTED("PATCH", path, "{\"distance_m\":100000001}", 422, "distance_m");
    EXPECT_REJECTED("PATCH", path, "{\"distance_m\":2.5}", 422, "distance_m");
    EXPECT_REJECTED("PATCH", path, "{\"distance_m\":\"10\"}", 422, "distance_m");
    EXPECT_REJECTED("PATCH", path, "{\"two_way\":1}", 422, "two_way");
    EXPECT_REJECTED("PATCH", path, "{\"distance_m\":5,\"colour\":\"red\"}", 422, "colour");
    EXPECT_REJECTED("PATCH", tu_fmt("/v1/routes/%lld", UNKNOWN_ID), "{\"distance_m\":5}", 404,
                    NULL);
    ASSERT_UNCHANGED(before);

    it_response *fetched = it_get("/v1/routes/%lld", id);
    EXPECT_STATUS(fetched, 200);
    assert_route(fetched->json, ORG(org), STORAGE(storage), 7, false);
    it_response_free(fetched);
}

static void test_route_delete(void **state)
{
    (void)state;
    long long org = new_org();
    long long storage = new_storage();
    long long kept = it_create_route(ORG(org), STORAGE(storage), 40, false);
    long long storage2 = new_storage();
    long long gone = it_create_route(ORG(org), STORAGE(storage2), 60, false);

    it_response *deleted = it_delete("/v1/routes/%lld", gone);
    EXPECT_STATUS(deleted, 204);
    assert_int_equal(deleted->body_len, 0);
    it_response_free(deleted);

    EXPECT_REJECTED("GET", tu_fmt("/v1/routes/%lld", gone), NULL, 404, NULL);
    EXPECT_REJECTED("DELETE", tu_fmt("/v1/routes/%lld", gone), NULL, 404, NULL);
    EXPECT_REJECTED("PATCH", tu_fmt("/v1/routes/%lld", gone), "{\"distance_m\":5}", 404, NULL);
    ASSERT_ROUTE_IDS(tu_fmt("node=organization:%lld", org), "[%lld]", kept);
    ASSERT_ROUTE_IDS(tu_fmt("node=storage:%lld", storage2), "[]");

    /* The view follows: storage2 is unreachable again. */
    it_response *view = it_get("/v1/organizations/%lld/storages?include=path", org);
    EXPECT_STATUS(view, 200);
    const cJSON *item;
    bool seen = false;
    cJSON_ArrayForEach(item, tu_member(view->json, "items"))
    {
        if (it_json_int(item, "id") == storage2) {
            seen = true;
            ASSERT_JSON(tu_member(item, "distance_m"), "null");
            ASSERT_JSON(tu_member(item, "path"), "null");
        } else if (it_json_int(item, "id") == storage) {
            ASSERT_JSON(tu_member(item, "distance_m"), "40");
        }
    }
    assert_true(seen);
    it_response_free(view);

    /* The same ordered pair may be created again after the delete. */
    long long again = it_create_route(ORG(org), STORAGE(storage2), 60, false);
    assert_true(again > gone);
}

/* ---- the road change log and the instances following it ---- */

/* The servers log at info, where a full load of the road graph is logged. */
static const char *const info_log[] = {"WASTEFLOW_LOG_LEVEL=info", NULL};

static int setup(void **state)
{
    (void)state;
    return it_start(info_log);
}

/* How many full loads of the road graph the primary server has logged. */
static int full_loads_logged(void)
{
    FILE *log = fopen(it_server_log_path(), "rb");
    assert_non_null(log);
    static const char marker[] = "\"msg\":\"road graph loaded\",\"kind\":\"full\"";
    int count = 0;
    char line[8192];
    while (fgets(line, sizeof line, log) != NULL) {
        count += strstr(line, marker) != NULL;
    }
    fclose(log);
    return count;
}

/* distance_m of storage in org's view on the instance at base (-1: null). */
static long long view_distance(const char *base, long long org, long long storage)
{
    it_response *view =
        it_request_to(base, "GET", tu_fmt("/v1/organizations/%lld/storages", org), NULL, NULL);
    EXPECT_STATUS(view, 200);
    long long distance = -2;
    const cJSON *item;
    cJSON_ArrayForEach(item, tu_member(view->json, "items"))
    {
        if (it_json_int(item, "id") == storage) {
            const cJSON *d = tu_member(item, "distance_m");
            distance = cJSON_IsNull(d) ? -1 : it_json_int(item, "distance_m");
        }
    }
    it_response_free(view);
    assert_true(distance != -2); /* the storage is in the view */
    return distance;
}

/* Asserts a dry-run transfer of 5 kg of glass on the instance at base ships all of it to
 * storage at distance_m. */
static void assert_dry_run_ships(const char *base, long long org, long long storage,
                                 long long distance_m)
{
    it_response *plan =
        it_request_to(base, "POST", tu_fmt("/v1/organizations/%lld/transfers?dry_run=true", org),
                      "{\"waste\":{\"glass\":5}}", NULL);
    EXPECT_STATUS(plan, 200);
    ASSERT_JSON_AT(plan->json, "shipments",
                   "[{\"storage_id\":%lld,\"waste_type\":\"glass\",\"amount\":5,"
                   "\"distance_m\":%lld}]",
                   storage, distance_m);
    it_response_free(plan);
}

static it_response *request_or_fail(const char *base, const char *method, const char *path,
                                    const char *body, int status)
{
    it_response *response = it_request_to(base, method, path, body, NULL);
    EXPECT_STATUS(response, status);
    return response;
}

/* A route change through either instance is what the other's next view and transfer use,
 * and neither loads the whole graph again for it: they apply the logged changes. */
static void test_two_instances_follow_changes(void **state)
{
    (void)state;
    const char *one = it_base_url();
    long long org = new_org();
    long long near = new_storage(), far = new_storage();
    long long org_near = it_create_route(ORG(org), STORAGE(near), 100, false);
    const char *two = it_start_second_instance(info_log);
    assert_int_equal(view_distance(one, org, near), 100);
    assert_int_equal(view_distance(two, org, near), 100);
    assert_int_equal(view_distance(two, org, far), -1);
    assert_dry_run_ships(two, org, near, 100);
    int full_before = full_loads_logged();
    assert_true(full_before >= 1); /* the first load was one, and the log says so */

    /* Created on the second: the first sees it. */
    it_response *created = request_or_fail(
        two, "POST", "/v1/routes",
        tu_fmt("{\"from\":%s,\"to\":%s,\"distance_m\":40}", ORG(org), STORAGE(far)), 201);
    long long org_far = it_json_int(created->json, "id");
    it_response_free(created);
    assert_int_equal(view_distance(one, org, far), 40);
    assert_dry_run_ships(one, org, far, 40);

    /* Lengthened on the first: the second ships to the nearer storage again. */
    it_response_free(request_or_fail(one, "PATCH", tu_fmt("/v1/routes/%lld", org_far),
                                     "{\"distance_m\":400}", 200));
    assert_dry_run_ships(two, org, near, 100);
    assert_int_equal(view_distance(two, org, far), 400);

    /* Deleted on the second: the first has only the far storage left. */
    it_response_free(
        request_or_fail(two, "DELETE", tu_fmt("/v1/routes/%lld", org_near), NULL, 204));
    assert_dry_run_ships(one, org, far, 400);
    assert_int_equal(view_distance(one, org, near), -1);

    /* Both followed through the log: the first loaded the whole graph no further time. */
    assert_int_equal(full_loads_logged(), full_before);
    assert_int_equal(it_stop_second_instance(), 0);
}

/* Rows missing from the log (deleted by hand) are a gap: the instance loads every road and
 * still answers right; the next change is applied from the log again. */
static void test_log_gap_falls_back_to_full_load(void **state)
{
    (void)state;
    long long org = new_org();
    long long storage = new_storage();
    assert_int_equal(view_distance(it_base_url(), org, storage), -1); /* the cache is current */
    int full_before = full_loads_logged();

    long long route = it_create_route(ORG(org), STORAGE(storage), 70, false);
    it_sql_exec("DELETE FROM route_changes WHERE route_id = %lld", route);
    assert_int_equal(view_distance(it_base_url(), org, storage), 70);
    assert_int_equal(full_loads_logged(), full_before + 1);

    PATCH_OK(tu_fmt("/v1/routes/%lld", route), "{\"distance_m\":80}");
    assert_int_equal(view_distance(it_base_url(), org, storage), 80);
    assert_int_equal(full_loads_logged(), full_before + 1);
}

static long long graph_version(void)
{
    return it_sql_int("SELECT version FROM graph_state");
}

/* Room events recorded so far (the dispatcher consumes the rows; the sequence stays). */
static long long room_epoch(void)
{
    return it_sql_int("SELECT CASE WHEN is_called THEN last_value ELSE 0 END "
                      "FROM room_events_id_seq");
}

/* PATCH with {} or with the values the route has changes nothing anywhere: not the row
 * (its xmin), not the graph version, no room event, not the log (docs/design.md, "Limits"). A
 * real change moves the version by one and logs one row; only a change that can bring
 * room closer records room events. */
static void test_patch_without_change_moves_nothing(void **state)
{
    (void)state;
    long long org = new_org();
    long long storage = new_storage();
    long long id = it_create_route(ORG(org), STORAGE(storage), 300, false);
    const char *path = tu_fmt("/v1/routes/%lld", id);
    char path_copy[64];
    snprintf(path_copy, sizeof path_copy, "%s", path);
    long long version = graph_version(), epoch = room_epoch();
    long long logged = it_sql_int("SELECT count(*) FROM route_changes");
    long long xmin = it_sql_int("SELECT xmin::text::bigint FROM routes WHERE id = %lld", id);
    assert_int_equal(it_sql_int("SELECT max(version) FROM route_changes"), version);

    static const char *const no_change[] = {"{}", "{\"distance_m\":300}", "{\"two_way\":false}",
                                            "{\"distance_m\":300,\"two_way\":false}"};
    for (size_t i = 0; i < sizeof no_change / sizeof no_change[0]; i++) {
        it_response *patched = it_patch(path_copy, "%s", no_change[i]);
        EXPECT_STATUS(patched, 200);
        assert_route(patched->json, ORG(org), STORAGE(storage), 300, false);
        assert_int_equal(it_json_int(patched->json, "id"), id);
        it_response_free(patched);
        assert_int_equal(graph_version(), version);
        assert_int_equal(room_epoch(), epoch);
        assert_int_equal(it_sql_int("SELECT count(*) FROM route_changes"), logged);
        assert_int_equal(it_sql_int("SELECT xmin::text::bigint FROM routes WHERE id = %lld", id),
                         xmin);
    }

    /* Written by hand with the same values (psql): the triggers log nothing either. */
    it_sql_exec("UPDATE routes SET distance_m = distance_m, two_way = two_way WHERE id = %lld", id);
    assert_int_equal(graph_version(), version);
    assert_int_equal(it_sql_int("SELECT count(*) FROM route_changes"), logged);

    /* Longer: the graph moves by one, with one logged row; no room can come closer. */
    PATCH_OK(path_copy, "{\"distance_m\":350}");
    assert_int_equal(graph_version(), version + 1);
    assert_int_equal(room_epoch(), epoch);
    assert_int_equal(
        it_sql_int("SELECT count(*) FROM route_changes WHERE version = %lld AND route_id = %lld "
                   "AND op = 'update' AND distance_m = 350 AND old_distance_m = 300 AND NOT "
                   "two_way AND NOT old_two_way",
                   version + 1, id),
        1);
    /* Shorter, then two-way: each moves the version by one and records room events (a
     * two-way road's users may now come from either end: one event for each). */
    PATCH_OK(path_copy, "{\"distance_m\":200}");
    assert_int_equal(graph_version(), version + 2);
    assert_int_equal(room_epoch(), epoch + 1);
    PATCH_OK(path_copy, "{\"two_way\":true}");
    assert_int_equal(graph_version(), version + 3);
    assert_int_equal(room_epoch(), epoch + 3);
    assert_int_equal(it_sql_int("SELECT count(*) FROM route_changes"), logged + 3);
    /* The same two_way again: nothing. */
    PATCH_OK(path_copy, "{\"two_way\":true,\"distance_m\":200}");
    assert_int_equal(graph_version(), version + 3);
    assert_int_equal(room_epoch(), epoch + 3);

    /* A delete is logged with the road it removed. */
    DELETE_OK("%s", path_copy);
    assert_int_equal(graph_version(), version + 4);
    assert_int_equal(
        it_sql_int("SELECT count(*) FROM route_changes WHERE version = %lld AND route_id = %lld "
                   "AND op = 'delete' AND from_organization_id = %lld AND to_storage_id = %lld "
                   "AND distance_m = 200 AND two_way",
                   version + 4, id, org, storage),
        1);
}

/* Deleting a storage or an organization deletes its roads by cascade: each is logged, and the
 * graph version moves by exactly their number (not at all for a node without roads). */
static void test_cascaded_deletes_logged(void **state)
{
    (void)state;
    long long org = new_org();
    long long doomed = new_storage(), other = new_storage(), lonely = new_storage();
    long long into = it_create_route(ORG(org), STORAGE(doomed), 10, false);
    long long out = it_create_route(STORAGE(doomed), STORAGE(other), 20, true);
    long long kept = it_create_route(ORG(org), STORAGE(other), 30, false);
    long long version = graph_version();

    DELETE_OK("/v1/storages/%lld", doomed);
    assert_int_equal(graph_version(), version + 2);
    assert_int_equal(it_sql_int("SELECT count(*) FROM route_changes WHERE version > %lld AND "
                                "op = 'delete' AND route_id IN (%lld, %lld)",
                                version, into, out),
                     2);
    assert_int_equal(it_sql_int("SELECT count(*) FROM routes WHERE id IN (%lld, %lld)", into, out),
                     0);
    assert_int_equal(view_distance(it_base_url(), org, other), 30);

    DELETE_OK("/v1/storages/%lld", lonely);
    assert_int_equal(graph_version(), version + 2);

    DELETE_OK("/v1/organizations/%lld", org);
    assert_int_equal(graph_version(), version + 3);
    assert_int_equal(it_sql_int("SELECT count(*) FROM route_changes WHERE version = %lld AND "
                                "op = 'delete' AND route_id = %lld AND from_organization_id = "
                                "%lld",
                                version + 3, kept, org),
                     1);
    /* The log stays contiguous: as many rows as versions since the first one kept. */
    assert_int_equal(it_sql_int("SELECT count(*) FROM route_changes WHERE version > %lld", version),
                     3);
}

RUNNER_MAIN(setup, tu_teardown_any_exit,
            {
                /* The view tests first: they need the picture alone in the database. */
                cmocka_unit_test(test_view_picture_distances),
                cmocka_unit_test(test_view_waste_type_filter),
                cmocka_unit_test(test_view_follows_route_changes),
                cmocka_unit_test(test_view_unknown_org_and_type),
                cmocka_unit_test(test_route_create_and_get),
                cmocka_unit_test(test_route_list_and_node_filter),
                cmocka_unit_test(test_route_validation),
                cmocka_unit_test(test_route_duplicate_and_two_way_conflicts),
                cmocka_unit_test(test_route_patch),
                cmocka_unit_test(test_route_delete),
                cmocka_unit_test(test_two_instances_follow_changes),
                cmocka_unit_test(test_log_gap_falls_back_to_full_load),
                cmocka_unit_test(test_patch_without_change_moves_nothing),
                cmocka_unit_test(test_cascaded_deletes_logged),
            })
