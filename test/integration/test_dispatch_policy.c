/* WASTEFLOW_DISPATCH_POLICY over the real dispatcher: ОО1 and ОО2 of the picture each hold
 * bio 250 pending while no storage has bio room; one transaction then gives the picture's
 * bio capacities, and the dispatcher places both in one batch. nearest (the default): ОО1
 * first by the allocation rule, 71,250 kg·m in all; min_cost: the whole batch fits, so it
 * goes at the least kg·m, 67,850 (what POST /v1/plans reports for the same batch). And a
 * batch that does not fit is served oldest first by the rule under min_cost too. */
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

/* The picture's bio storages (МНО<n>, capacity) and МНО1, which takes no bio. */
static const struct {
    int number;
    long long bio;
} bio_storages[] = {{2, 150}, {3, 250}, {5, 25}, {6, 150}, {7, 250}, {8, 52}, {9, 20}};

typedef struct {
    long long oo1, oo2;
    long long mno[10];
} world;

/* The picture's organizations and roads, its bio storages with no bio room at all. */
static void build(world *w)
{
    w->oo1 = tu_new_org("ОО1", "{\"bio\":1000}", NULL);
    w->oo2 = tu_new_org("ОО2", "{\"bio\":1000}", NULL);
    w->mno[1] = tu_new_storage("МНО1", "{\"glass\":300}");
    for (size_t i = 0; i < sizeof bio_storages / sizeof bio_storages[0]; i++) {
        w->mno[bio_storages[i].number] =
            tu_new_storage(tu_fmt("МНО%d", bio_storages[i].number), "{\"bio\":0}");
    }
    const struct {
        bool from_org;
        int from, to;
        long long distance_m;
        bool two_way;
    } roads[] = {{true, 1, 1, 100, false}, {true, 1, 2, 50, false},   {true, 1, 3, 600, false},
                 {true, 2, 3, 50, false},  {false, 1, 8, 500, false}, {false, 3, 6, 600, false},
                 {false, 8, 9, 10, true},  {false, 2, 5, 50, true},   {false, 3, 7, 50, true}};
    for (size_t i = 0; i < sizeof roads / sizeof roads[0]; i++) {
        const char *from =
            roads[i].from_org
                ? tu_fmt("{\"organization_id\":%lld}", roads[i].from == 1 ? w->oo1 : w->oo2)
                : tu_fmt("{\"storage_id\":%lld}", w->mno[roads[i].from]);
        char *from_copy = strdup(from);
        it_create_route(from_copy, tu_fmt("{\"storage_id\":%lld}", w->mno[roads[i].to]),
                        roads[i].distance_m, roads[i].two_way);
        free(from_copy);
    }
}

static void hand_over(long long organization, long long bio)
{
    it_response *response = it_post(tu_fmt("/v1/organizations/%lld/transfers", organization),
                                    "{\"waste\":{\"bio\":%lld}}", bio);
    EXPECT_STATUS(response, 201);
    ASSERT_JSON_AT(response->json, "shipments", "[]");
    it_response_free(response);
}

/* One transaction gives every bio storage its capacity: one room event batch. */
static void bio_room_appears(const world *w)
{
    char *sql = tu_format("UPDATE storage_waste SET capacity = CASE storage_id");
    for (size_t i = 0; i < sizeof bio_storages / sizeof bio_storages[0]; i++) {
        char *longer = tu_format("%s WHEN %lld THEN %lld", sql, w->mno[bio_storages[i].number],
                                 bio_storages[i].bio);
        free(sql);
        sql = longer;
    }
    it_sql_exec("%s ELSE capacity END WHERE waste_type = 'bio'", sql);
    free(sql);
}

static long long pending_bio(long long organization)
{
    return it_sql_int("SELECT coalesce(sum(pending), 0) FROM organization_waste WHERE "
                      "organization_id = %lld AND waste_type = 'bio'",
                      organization);
}

/* Waits until neither organization holds anything the rooms can take. */
static void wait_placed(const world *w, long long left_oo1, long long left_oo2)
{
    long long deadline = tu_now_ms() + tu_scaled_ms(10000);
    while ((pending_bio(w->oo1) != left_oo1 || pending_bio(w->oo2) != left_oo2) &&
           tu_now_ms() < deadline) {
        tu_sleep_ms(50);
    }
    if (pending_bio(w->oo1) != left_oo1 || pending_bio(w->oo2) != left_oo2) {
        char *command =
            tu_format("grep -v '\"msg\":\"request\"' %s | tail -n 30", it_server_log_path());
        print_error("not placed in time; the server's log:\n");
        (void)system(command);
        free(command);
    }
    assert_int_equal(pending_bio(w->oo1), left_oo1);
    assert_int_equal(pending_bio(w->oo2), left_oo2);
}

static long long auto_kg_m(void)
{
    return it_sql_int("SELECT coalesce(sum(s.amount * s.distance_m), 0) FROM shipments s JOIN "
                      "transfers t ON t.id = s.transfer_id WHERE t.trigger = 'auto'");
}

/* kg of bio the organization's auto transfers shipped to the storage. */
static long long shipped(long long organization, long long storage)
{
    return it_sql_int("SELECT coalesce(sum(s.amount), 0) FROM shipments s JOIN transfers t ON "
                      "t.id = s.transfer_id WHERE t.trigger = 'auto' AND t.organization_id = %lld "
                      "AND s.storage_id = %lld",
                      organization, storage);
}

/* A server with policy (NULL: the default) on the picture; ОО1 and ОО2 hand over that much
 * bio, then bio room appears; returns once all is placed but left_oo2 kg of ОО2's. */
static world dispatch(const char *policy, long long oo1_bio, long long oo2_bio, long long left_oo2)
{
    const char *env[] = {policy, NULL};
    it_start(policy != NULL ? env : NULL);
    world w;
    build(&w);
    hand_over(w.oo1, oo1_bio);
    hand_over(w.oo2, oo2_bio);
    bio_room_appears(&w);
    wait_placed(&w, 0, left_oo2);
    return w;
}

/* Whatever the test saw, the audit finds nothing wrong and the server stops cleanly. */
static void audit_and_stop(void)
{
    tu_assert_audit_clean();
    assert_int_equal(it_stop(), 0);
}

static void test_nearest_by_default(void **state)
{
    world w = dispatch(NULL, 250, 250, 0);
    /* ОО1 first, by the rule: МНО2 150, МНО5 25, МНО3 75; then ОО2: МНО3 175, МНО7 75. */
    assert_int_equal(shipped(w.oo1, w.mno[2]), 150);
    assert_int_equal(shipped(w.oo1, w.mno[5]), 25);
    assert_int_equal(shipped(w.oo1, w.mno[3]), 75);
    assert_int_equal(shipped(w.oo2, w.mno[3]), 175);
    assert_int_equal(shipped(w.oo2, w.mno[7]), 75);
    assert_int_equal(auto_kg_m(), 71250);
    audit_and_stop();
}

static void test_min_cost(void **state)
{
    world w = dispatch("WASTEFLOW_DISPATCH_POLICY=min_cost", 250, 250, 0);
    assert_int_equal(auto_kg_m(), 67850);
    /* ОО1 takes МНО2, МНО5, МНО8 and МНО9 whole and 3 kg at 600 or 650 m; ОО2 the rest. */
    assert_int_equal(shipped(w.oo1, w.mno[2]), 150);
    assert_int_equal(shipped(w.oo1, w.mno[5]), 25);
    assert_int_equal(shipped(w.oo1, w.mno[8]), 52);
    assert_int_equal(shipped(w.oo1, w.mno[9]), 20);
    assert_int_equal(shipped(w.oo1, w.mno[3]) + shipped(w.oo1, w.mno[7]), 3);
    assert_int_equal(shipped(w.oo2, w.mno[3]) + shipped(w.oo2, w.mno[7]), 250);
    audit_and_stop();
}

/* A batch that does not fit: oldest first by the rule, as nearest would. ОО1 bio 425 first
 * takes МНО2, МНО5 and МНО3 whole; ОО2's 500 then finds МНО7 250 and МНО6 150. */
static void test_min_cost_batch_that_does_not_fit(void **state)
{
    world w = dispatch("WASTEFLOW_DISPATCH_POLICY=min_cost", 425, 500, 100);
    assert_int_equal(shipped(w.oo1, w.mno[2]), 150);
    assert_int_equal(shipped(w.oo1, w.mno[5]), 25);
    assert_int_equal(shipped(w.oo1, w.mno[3]), 250);
    assert_int_equal(shipped(w.oo2, w.mno[7]), 250);
    assert_int_equal(shipped(w.oo2, w.mno[6]), 150);
    assert_int_equal(auto_kg_m(), 150 * 50 + 25 * 100 + 250 * 600 + 250 * 100 + 150 * 650);
    audit_and_stop();
}

RUNNER_MAIN(NULL, NULL,
            {
                cmocka_unit_test(test_nearest_by_default),
                cmocka_unit_test(test_min_cost),
                cmocka_unit_test(test_min_cost_batch_that_does_not_fit),
            })
