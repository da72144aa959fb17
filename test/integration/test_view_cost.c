/* What a storage view request may cost, on a synthetic world of 5,000 storages:
 *   - a type filter that no storage accepts answers an empty page from its first round,
 *     with no search and no storage read; a type few storages accept searches only until
 *     it has found them all and reads exactly those (counted by the view's work metrics,
 *     wasteflow_view_nodes_settled_total and wasteflow_view_storages_examined_total);
 *   - a per-credential work budget (WASTEFLOW_WORK_BUDGET): one organization key hammering
 *     expensive views (a deep cursor, re-expanded on every request) while an admin reads;
 *     the admin's latency is printed idle, under the hammer without the budget and with it,
 *     and the hammering key gets 429s with Retry-After from its budget. Only robust bounds
 *     are asserted (the machine is shared);
 *   - a first page replays what an earlier search of the organization found at the same
 *     graph version: no search at all. */
#include "harness.h"
#include "runner.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { ORGS = 20, STORAGES = 5000, ROUTES = 15000 };

static long long org_id;
static char *org_key;
static long long rare[3]; /* storages that accept "rare": two with roads, one without */

static void seed_world(void)
{
    const char *args[] = {getenv("WASTEFLOW_BIN"),
                          "seed",
                          "synthetic",
                          "--organizations",
                          tu_fmt("%d", ORGS),
                          "--storages",
                          tu_fmt("%d", STORAGES),
                          "--routes",
                          tu_fmt("%d", ROUTES),
                          "--seed",
                          "7",
                          NULL};
    assert_non_null(args[0]);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("DATABASE_URL", it_database_url(), 1);
        setenv("WASTEFLOW_LOG_LEVEL", "warn", 1);
        execv(args[0], (char *const *)args);
        _exit(127);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static int setup(void **state)
{
    (void)state;
    const char *env[] = {"WASTEFLOW_WORK_BUDGET=0", NULL};
    it_start(env);
    seed_world();
    org_id = it_sql_int("SELECT min(id) FROM organizations");
    org_key = it_new_key("organization", org_id, 0);
    /* "none": no storage accepts it; "rare": two storages with roads, one without. */
    it_response *r = it_post("/v1/waste-types", "{\"code\":\"none\",\"name\":\"None\"}");
    EXPECT_STATUS(r, 201);
    it_response_free(r);
    r = it_post("/v1/waste-types", "{\"code\":\"rare\",\"name\":\"Rare\"}");
    EXPECT_STATUS(r, 201);
    it_response_free(r);
    rare[0] = it_sql_int("SELECT min(id) + 17 FROM storages");
    rare[1] = it_sql_int("SELECT max(id) - 17 FROM storages");
    for (int i = 0; i < 2; i++) {
        r = it_patch(tu_fmt("/v1/storages/%lld", rare[i]), "{\"capacity\":{\"rare\":100}}");
        EXPECT_STATUS(r, 200);
        it_response_free(r);
    }
    rare[2] = it_create_storage("roadless rare", "{\"rare\":5}");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(org_key);
    return it_stop();
}

static it_response *as_org(const char *path_fmt, ...) __attribute__((format(printf, 1, 2)));
static it_response *as_org(const char *path_fmt, ...)
{
    va_list ap;
    va_start(ap, path_fmt);
    char *path = tu_vformat(path_fmt, ap);
    va_end(ap);
    const char *headers[] = {it_bearer(org_key), NULL};
    it_response *r = it_request("GET", path, NULL, headers);
    free(path);
    return r;
}

/* Milliseconds of one GET as the organization. */
static double timed_get(const char *path)
{
    long long started = tu_now_ms();
    it_response *r = as_org("%s", path);
    double ms = (double)(tu_now_ms() - started);
    EXPECT_STATUS(r, 200);
    it_response_free(r);
    return ms;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median_of(double *values, size_t count)
{
    qsort(values, count, sizeof *values, compare_doubles);
    return values[count / 2];
}

static void test_type_no_storage_accepts(void **state)
{
    (void)state;
    /* As cheap as a first page: medians of 15 each, printed; a loose bound asserted. */
    double first[15], none[15];
    char *first_path = tu_format("/v1/organizations/%lld/storages?limit=100", org_id);
    char *none_path = tu_format("/v1/organizations/%lld/storages?waste_type=none", org_id);
    for (int i = 0; i < 15; i++) {
        first[i] = timed_get(first_path);
        none[i] = timed_get(none_path);
    }
    free(first_path);
    free(none_path);
    double first_ms = median_of(first, 15), none_ms = median_of(none, 15);
    printf("# view on %d storages: first page %.1f ms, type no storage accepts %.1f ms "
           "(medians of 15)\n",
           STORAGES, first_ms, none_ms);
    if (!tu_under_valgrind()) {
        assert_true(none_ms <= first_ms * 3 + 5);
    }
    long long nodes = tu_metric_present("wasteflow_view_nodes_settled_total");
    long long examined = tu_metric_present("wasteflow_view_storages_examined_total");
    it_response *r = as_org("/v1/organizations/%lld/storages?waste_type=none", org_id);
    EXPECT_STATUS(r, 200);
    ASSERT_JSON(r->json, "{\"items\":[],\"next_cursor\":null}");
    it_response_free(r);
    /* No search, no storage read: the first round answered it. */
    assert_int_equal(tu_metric_present("wasteflow_view_nodes_settled_total") - nodes, 0);
    assert_int_equal(tu_metric_present("wasteflow_view_storages_examined_total") - examined, 0);
    r = as_org("/v1/organizations/%lld/storages?waste_type=none&reachable=true&has_room=true",
               org_id);
    EXPECT_STATUS(r, 200);
    ASSERT_JSON(r->json, "{\"items\":[],\"next_cursor\":null}");
    it_response_free(r);
    assert_int_equal(tu_metric_present("wasteflow_view_nodes_settled_total") - nodes, 0);
}

static void test_rare_type(void **state)
{
    (void)state;
    long long examined = tu_metric_present("wasteflow_view_storages_examined_total");
    long long nodes = tu_metric_present("wasteflow_view_nodes_settled_total");
    it_response *r = as_org("/v1/organizations/%lld/storages?waste_type=rare", org_id);
    EXPECT_STATUS(r, 200);
    const cJSON *items = tu_member(r->json, "items");
    assert_int_equal(cJSON_GetArraySize(items), 3);
    ASSERT_JSON(tu_member(r->json, "next_cursor"), "null");
    /* The two with roads by distance (every storage of the world is reachable), then the
     * roadless one, unreachable. */
    long long seen[3];
    for (int i = 0; i < 3; i++) {
        seen[i] = it_json_int(cJSON_GetArrayItem(items, i), "id");
    }
    assert_true((seen[0] == rare[0] && seen[1] == rare[1]) ||
                (seen[0] == rare[1] && seen[1] == rare[0]));
    assert_true(it_json_int(cJSON_GetArrayItem(items, 0), "distance_m") <=
                it_json_int(cJSON_GetArrayItem(items, 1), "distance_m"));
    assert_int_equal(seen[2], rare[2]);
    assert_true(cJSON_IsNull(tu_member(cJSON_GetArrayItem(items, 2), "distance_m")));
    it_response_free(r);
    /* Exactly the three storages read: the two found by the search, then the roadless one. */
    assert_int_equal(tu_metric_present("wasteflow_view_storages_examined_total") - examined, 3);
    /* The search stopped at the second: never more nodes than the world has. */
    long long settled = tu_metric_present("wasteflow_view_nodes_settled_total") - nodes;
    printf("# rare type: %lld nodes settled\n", settled);
    assert_true(settled > 0 && settled <= ORGS + STORAGES + 1);

    /* reachable=true leaves the roadless one out; pages of one walk the same order. */
    r = as_org("/v1/organizations/%lld/storages?waste_type=rare&reachable=true&limit=1", org_id);
    EXPECT_STATUS(r, 200);
    assert_int_equal(it_json_int(cJSON_GetArrayItem(tu_member(r->json, "items"), 0), "id"),
                     seen[0]);
    char *cursor = it_url_escape(it_json_str(r->json, "next_cursor"));
    it_response_free(r);
    r = as_org("/v1/organizations/%lld/storages?waste_type=rare&reachable=true&limit=1&cursor=%s",
               org_id, cursor);
    EXPECT_STATUS(r, 200);
    assert_int_equal(it_json_int(cJSON_GetArrayItem(tu_member(r->json, "items"), 0), "id"),
                     seen[1]);
    free(cursor);
    const cJSON *next = tu_member(r->json, "next_cursor");
    if (cJSON_IsString(next)) {
        /* A page may end before it knows nothing follows: the next one is empty and final. */
        cursor = it_url_escape(next->valuestring);
        it_response_free(r);
        r = as_org(
            "/v1/organizations/%lld/storages?waste_type=rare&reachable=true&limit=1&cursor=%s",
            org_id, cursor);
        EXPECT_STATUS(r, 200);
        ASSERT_JSON(r->json, "{\"items\":[],\"next_cursor\":null}");
        free(cursor);
    }
    it_response_free(r);
}

/* ---- the hammer ---- */

typedef struct {
    pthread_t thread;
    const char *url;
    atomic_bool *stop;
    long ok, budget_refused, other;
    bool retry_after_always;
    double seconds; /* how long the hammers ran (in the sum) */
} hammer;

static void *hammer_main(void *arg)
{
    hammer *h = arg;
    CURL *curl = curl_easy_init();
    const char *headers[] = {tu_format("Authorization: Bearer %s", org_key), NULL};
    h->retry_after_always = true;
    while (!atomic_load(h->stop)) {
        tu_http_result r = {0};
        tu_http_call(curl, "GET", h->url, NULL, headers, NULL, 30, false, &r);
        if (r.status == 200) {
            h->ok++;
        } else if (r.status == 429 && strstr(r.body, "work budget") != NULL) {
            h->budget_refused++;
            h->retry_after_always = h->retry_after_always && r.retry_after && r.problem_json;
        } else {
            h->other++;
        }
        tu_http_result_clear(&r);
    }
    free((void *)headers[0]);
    curl_easy_cleanup(curl);
    return NULL;
}

/* The median and 90th percentile of 60 admin reads (another organization's first page),
 * with hammers running (count of them) or not; the hammers' tallies summed into *sum. */
static void admin_latency(int hammers, const char *deep_url, double *median, double *p90,
                          hammer *sum)
{
    atomic_bool stop = false;
    hammer h[2] = {{0}};
    long long started = tu_now_ms();
    for (int i = 0; i < hammers; i++) {
        h[i] = (hammer){.url = deep_url, .stop = &stop};
        assert_int_equal(pthread_create(&h[i].thread, NULL, hammer_main, &h[i]), 0);
    }
    if (hammers > 0) {
        tu_sleep_ms(300);
    }
    long long other_org = org_id + 1;
    double ms[60];
    for (int i = 0; i < 60; i++) {
        long long sent = tu_now_ms();
        it_response *r = it_get("/v1/organizations/%lld/storages?limit=10", other_org);
        ms[i] = (double)(tu_now_ms() - sent);
        EXPECT_STATUS(r, 200);
        it_response_free(r);
        tu_sleep_ms(20);
    }
    atomic_store(&stop, true);
    *sum = (hammer){0};
    sum->retry_after_always = true;
    for (int i = 0; i < hammers; i++) {
        pthread_join(h[i].thread, NULL);
        sum->ok += h[i].ok;
        sum->budget_refused += h[i].budget_refused;
        sum->other += h[i].other;
        sum->retry_after_always = sum->retry_after_always && h[i].retry_after_always;
    }
    sum->seconds = (double)(tu_now_ms() - started) / 1000.0;
    *median = median_of(ms, 60);
    *p90 = ms[54];
}

static void test_work_budget(void **state)
{
    (void)state;
    if (tu_under_valgrind()) {
        /* A server under memcheck serves a deep page in seconds: the hammer would measure
         * valgrind. The budget's arithmetic is test_work_budget's (unit). */
        skip();
    }
    /* A deep cursor: the 4th page of 1,000. Reused, it is re-expanded every time. */
    char *cursor = NULL;
    for (int page = 0; page < 4; page++) {
        char *escaped = cursor ? it_url_escape(cursor) : NULL;
        it_response *r = as_org("/v1/organizations/%lld/storages?limit=1000%s%s", org_id,
                                escaped ? "&cursor=" : "", escaped ? escaped : "");
        free(escaped);
        EXPECT_STATUS(r, 200);
        free(cursor);
        cursor = strdup(it_json_str(r->json, "next_cursor"));
        it_response_free(r);
    }
    char *escaped = it_url_escape(cursor);
    char *deep_path =
        tu_format("/v1/organizations/%lld/storages?limit=1000&cursor=%s", org_id, escaped);
    free(escaped);
    free(cursor);
    char *deep_url = tu_format("%s%s", it_base_url(), deep_path);

    double idle_median, idle_p90, off_median, off_p90, on_median, on_p90;
    hammer off, on, none;
    admin_latency(0, deep_url, &idle_median, &idle_p90, &none);
    admin_latency(2, deep_url, &off_median, &off_p90, &off);
    assert_int_equal(off.budget_refused, 0);

    /* The same with a budget of 20,000 units a second (a deep page costs about 5,000). The
     * cursor stays valid across the restart: the deployment's key is in the database. */
    const char *env[] = {"WASTEFLOW_WORK_BUDGET=20000", NULL};
    assert_int_equal(it_stop_server_only(), 0);
    const char *base = it_restart_server(env);
    free(deep_url);
    deep_url = tu_format("%s%s", base, deep_path);
    double idle2_median, idle2_p90;
    admin_latency(0, deep_url, &idle2_median, &idle2_p90, &none);
    long long refused_before = tu_metric("wasteflow_work_budget_refused_total");
    admin_latency(2, deep_url, &on_median, &on_p90, &on);

    printf("# admin read latency (median / p90 ms of 60): idle %.1f / %.1f; hammered without "
           "a work budget %.1f / %.1f (hammer: %ld pages, %ld refused); idle again %.1f / "
           "%.1f; hammered with WASTEFLOW_WORK_BUDGET=20000 %.1f / %.1f (hammer: %ld pages, "
           "%ld refused by the budget, %ld other)\n",
           idle_median, idle_p90, off_median, off_p90, off.ok, off.budget_refused + off.other,
           idle2_median, idle2_p90, on_median, on_p90, on.ok, on.budget_refused, on.other);
    /* The hammering key is refused by its budget, with Retry-After, as problem+json. */
    assert_true(on.budget_refused > 0);
    assert_true(on.retry_after_always);
    assert_int_equal(tu_metric_present("wasteflow_work_budget_refused_total") - refused_before,
                     on.budget_refused);
    /* Its expensive pages are held to the budget: 20,000 units a second and a deep page
     * settles over 4,000 nodes, so at most 5 a second, plus the burst and the two hammers'
     * requests in flight when the debt begins. */
    assert_true(on.ok <= (long)((on.seconds + 1) * 5) + 4);
    /* The admin is never refused, and stays near its idle latency (loose: shared machine). */
    double idle = idle_median > idle2_median ? idle_median : idle2_median;
    assert_true(on_median <= idle * 4 + 15);
    free(deep_url);
    free(deep_path);

    /* Back to the default budget for whatever runs next. */
    assert_int_equal(it_stop_server_only(), 0);
    it_restart_server(NULL);
}

/* The review's probe: one organization key asking, as fast as two connections go, for a
 * type no storage accepts, while an admin reads. Each such view is answered from its first
 * round, so the admin's latency stays near idle (no work budget needed: WASTEFLOW_WORK_BUDGET
 * is 0 in this runner until test_work_budget). */
static void test_filter_hammer(void **state)
{
    (void)state;
    if (tu_under_valgrind()) {
        skip();
    }
    char *url =
        tu_format("%s/v1/organizations/%lld/storages?waste_type=none", it_base_url(), org_id);
    double idle_median, idle_p90, hammered_median, hammered_p90;
    hammer none, sum;
    admin_latency(0, url, &idle_median, &idle_p90, &none);
    long long nodes = tu_metric("wasteflow_view_nodes_settled_total");
    long long examined = tu_metric("wasteflow_view_storages_examined_total");
    admin_latency(2, url, &hammered_median, &hammered_p90, &sum);
    printf("# admin read latency (median / p90 ms of 60): idle %.1f / %.1f; while one key asks "
           "for a type no storage accepts (%.0f a second) %.1f / %.1f\n",
           idle_median, idle_p90, (double)(sum.ok + sum.other) / sum.seconds, hammered_median,
           hammered_p90);
    assert_int_equal(sum.other, 0);
    assert_true(sum.ok > 0);
    /* Thousands of them, and not one node searched or storage read (the admin's pages of
     * 10 are the only work). */
    assert_int_equal(tu_metric_present("wasteflow_view_storages_examined_total") - examined,
                     60 * 11);
    assert_true(tu_metric_present("wasteflow_view_nodes_settled_total") - nodes <= 60 * 200);
    assert_true(hammered_median <= idle_median * 4 + 15);
    free(url);
}

/* Right after a start, the organization's view, then a new road and the view again: the
 * roads are read once, by the start-up load (before /readyz answers 200), and the second
 * view applies the one change on top of it (wasteflow_graph_full_reads_total counts every
 * read of all roads; a view that found no graph cached, or one that met a change, used to
 * read them all again). */
static void test_start_reads_the_roads_once(void **state)
{
    (void)state;
    long long storage = it_sql_int("SELECT min(s.id) FROM storages s WHERE NOT EXISTS (SELECT 1 "
                                   "FROM routes r WHERE r.from_organization_id = %lld AND "
                                   "r.to_storage_id = s.id)",
                                   org_id);
    assert_int_equal(it_stop_server_only(), 0);
    it_restart_server(NULL);
    EXPECT_GET_STATUS(200, "/v1/organizations/%lld/storages?limit=5", org_id);

    long long route = it_create_route(ORG(org_id), STORAGE(storage), 1, false);
    assert_true(route > 0);
    it_response *r = it_get("/v1/organizations/%lld/storages?limit=20", org_id);
    EXPECT_STATUS(r, 200);
    long long distance = -1;
    const cJSON *item;
    cJSON_ArrayForEach(item, tu_member(r->json, "items"))
    {
        if (it_json_int(item, "id") == storage) {
            distance = it_json_int(item, "distance_m");
        }
    }
    assert_int_equal(distance, 1); /* the view shows the new road */
    it_response_free(r);
    assert_int_equal(tu_metric_present("wasteflow_graph_full_reads_total"), 1);
}

/* The items' ids and distances of a page, as text ("id:distance,..."; caller frees). */
static char *order_of(const it_response *r)
{
    char *text = tu_format("%s", "");
    const cJSON *item;
    cJSON_ArrayForEach(item, tu_member(r->json, "items"))
    {
        char *next = tu_format("%s%lld:%lld,", text, it_json_int(item, "id"),
                               it_json_int(item, "distance_m"));
        free(text);
        text = next;
    }
    return text;
}

static long long settled_by(it_response **out, const char *path)
{
    long long nodes = tu_metric_present("wasteflow_view_nodes_settled_total");
    *out = it_get("%s", path);
    EXPECT_STATUS(*out, 200);
    return tu_metric_present("wasteflow_view_nodes_settled_total") - nodes;
}

/* A first page replays what an earlier search of the same organization found at the same
 * graph version (the kept prefix): no node settled, the same page. A page that needs more
 * than was found searches again, and so does a page with paths (they come from the search
 * itself); a new road moves the version, and the next first page searches the new graph. */
static void test_first_page_replays(void **state)
{
    (void)state;
    long long org = it_sql_int("SELECT max(id) FROM organizations");
    char *base = tu_format("/v1/organizations/%lld/storages", org);
    it_response *first, *again;
    assert_true(settled_by(&first, tu_fmt("%s?limit=50", base)) > 0);
    assert_int_equal(cJSON_GetArraySize(tu_member(first->json, "items")), 50);
    assert_int_equal(settled_by(&again, tu_fmt("%s?limit=50", base)), 0);
    assert_string_equal(again->body, first->body);
    it_response_free(again);

    /* A shorter first page: the same storages from the same replay, and its cursor goes on
     * where the long page says. */
    char *long_order = order_of(first);
    assert_int_equal(settled_by(&again, tu_fmt("%s?limit=20", base)), 0);
    char *short_order = order_of(again);
    assert_int_equal(strncmp(long_order, short_order, strlen(short_order)), 0);
    const char *cursor = it_json_str(again->json, "next_cursor");
    it_response *next;
    assert_int_equal(settled_by(&next, tu_fmt("%s?limit=30&cursor=%s", base, cursor)), 0);
    char *next_order = order_of(next);
    it_response_free(next);
    char *joined = tu_format("%s%s", short_order, next_order);
    assert_string_equal(joined, long_order);
    free(joined);
    free(next_order);
    free(short_order);
    it_response_free(again);

    /* Beyond what was found (51 storages: the page and the one after it): a search, and the
     * first 50 are the replayed ones. */
    it_response *longer;
    assert_true(settled_by(&longer, tu_fmt("%s?limit=80", base)) > 0);
    char *longer_order = order_of(longer);
    assert_int_equal(strncmp(longer_order, long_order, strlen(long_order)), 0);
    assert_true(strlen(longer_order) > strlen(long_order));
    it_response_free(longer);
    /* Now kept too: 80 replayed. */
    assert_int_equal(settled_by(&longer, tu_fmt("%s?limit=80", base)), 0);
    char *replayed = order_of(longer);
    assert_string_equal(replayed, longer_order);
    free(replayed);
    it_response_free(longer);

    /* Paths come from the search. */
    it_response *paths;
    assert_true(settled_by(&paths, tu_fmt("%s?limit=5&include=path", base)) > 0);
    assert_non_null(tu_member(cJSON_GetArrayItem(tu_member(paths->json, "items"), 0), "path"));
    it_response_free(paths);

    /* A new road to the farthest storage of the page: the next first page searches again
     * and shows it first. */
    const cJSON *items = tu_member(first->json, "items");
    long long far = it_json_int(cJSON_GetArrayItem(items, 49), "id");
    assert_true(it_create_route(ORG(org), STORAGE(far), 1, false) > 0);
    assert_true(settled_by(&again, tu_fmt("%s?limit=50", base)) > 0);
    ASSERT_MEMBERS(again->json, "{\"items.0.id\":%lld,\"items.0.distance_m\":1}", far);
    it_response_free(again);
    assert_int_equal(settled_by(&again, tu_fmt("%s?limit=50", base)), 0);
    ASSERT_MEMBERS(again->json, "{\"items.0.id\":%lld,\"items.0.distance_m\":1}", far);
    it_response_free(again);
    free(longer_order);
    free(long_order);
    it_response_free(first);
    free(base);
}

RUNNER_MAIN(setup, teardown,
            {
                cmocka_unit_test(test_type_no_storage_accepts),
                cmocka_unit_test(test_rare_type),
                cmocka_unit_test(test_filter_hammer),
                cmocka_unit_test(test_work_budget),
                cmocka_unit_test(test_start_reads_the_roads_once),
                cmocka_unit_test(test_first_page_replays),
            })
