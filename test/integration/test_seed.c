/* `wasteflow seed case1` against a fresh database and a running server: the picture's
 * distances through the API, the placement DESIGN.md gives (placed automatically, as the
 * seeded organizations hand over full loads), and a second seed that changes nothing. */
#include "harness.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static long long id_of(const char *table, const char *name)
{
    return it_sql_int("SELECT id FROM %s WHERE name = '%s'", table, name);
}

static int group_setup(void **state)
{
    (void)state;
    it_start(NULL);
    assert_int_equal(it_seed_case1(), 0);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    return it_stop();
}

/* Requirement 4 on the seeded picture: ОО1's view in (distance, id) order. */
static void test_seeded_distances(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        long long distance;
    } expected[] = {{"МНО2", 50},  {"МНО1", 100}, {"МНО5", 100}, {"МНО3", 600},
                    {"МНО8", 600}, {"МНО9", 610}, {"МНО7", 650}, {"МНО6", 1200}};
    it_response *view = it_get("/v1/organizations/%lld/storages", id_of("organizations", "ОО1"));
    EXPECT_STATUS(view, 200);
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        char path[64];
        snprintf(path, sizeof path, "items.%zu.name", i);
        assert_string_equal(it_json_str(view->json, path), expected[i].name);
        snprintf(path, sizeof path, "items.%zu.distance_m", i);
        assert_int_equal(it_json_int(view->json, path), expected[i].distance);
    }
    it_response_free(view);

    it_response *other = it_get("/v1/organizations/%lld/storages", id_of("organizations", "ОО2"));
    EXPECT_STATUS(other, 200);
    assert_string_equal(it_json_str(other->json, "items.0.name"), "МНО3");
    assert_int_equal(it_json_int(other->json, "items.0.distance_m"), 50);
    assert_string_equal(it_json_str(other->json, "items.1.name"), "МНО7");
    assert_int_equal(it_json_int(other->json, "items.1.distance_m"), 100);
    assert_string_equal(it_json_str(other->json, "items.2.name"), "МНО6");
    assert_int_equal(it_json_int(other->json, "items.2.distance_m"), 650);
    const cJSON *unreachable = it_json_at(other->json, "items.3.distance_m");
    assert_true(cJSON_IsNull(unreachable));
    it_response_free(other);
}

static long long shipped(const char *organization, const char *storage, const char *type)
{
    return it_sql_int("SELECT coalesce(sum(s.amount), 0) FROM shipments s "
                      "JOIN transfers t ON t.id = s.transfer_id "
                      "JOIN organizations o ON o.id = t.organization_id "
                      "JOIN storages st ON st.id = s.storage_id "
                      "WHERE o.name = '%s' AND st.name = '%s' AND s.waste_type = '%s'",
                      organization, storage, type);
}

/* The seeded full loads are placed without any request, exactly as DESIGN.md says. */
static void test_seeded_placement(void **state)
{
    (void)state;
    for (int i = 0; i < 50 && it_sql_int("SELECT count(*) FROM organizations "
                                         "WHERE pending_since IS NOT NULL") > 0;
         i++) {
        tu_sleep_ms(100);
    }
    assert_int_equal(it_sql_int("SELECT coalesce(sum(pending), 0) FROM organization_waste"), 0);
    assert_int_equal(it_sql_int("SELECT count(*) FROM transfers WHERE trigger = 'auto'"), 2);
    assert_int_equal(shipped("ОО1", "МНО2", "bio"), 50);
    assert_int_equal(shipped("ОО1", "МНО1", "glass"), 50);
    assert_int_equal(shipped("ОО1", "МНО5", "glass"), 0);
    assert_int_equal(shipped("ОО1", "МНО2", "plastic"), 10);
    assert_int_equal(shipped("ОО2", "МНО3", "bio"), 50);
    assert_int_equal(shipped("ОО2", "МНО6", "glass"), 20);
    assert_int_equal(shipped("ОО2", "МНО3", "plastic"), 10);
    assert_int_equal(shipped("ОО2", "МНО7", "plastic"), 50);
    tu_assert_audit_clean();
}

/* Seeding again changes nothing at all. */
static void test_seed_is_idempotent(void **state)
{
    (void)state;
    char *before = it_db_fingerprint();
    long long graph_version = it_sql_int("SELECT version FROM graph_state");
    assert_int_equal(it_seed_case1(), 0);
    char *after = it_db_fingerprint();
    /* Only the two version counters may move; every table of data is unchanged. */
    assert_int_equal(it_sql_int("SELECT count(*) FROM organizations"), 2);
    assert_int_equal(it_sql_int("SELECT count(*) FROM storages"), 8);
    assert_int_equal(it_sql_int("SELECT count(*) FROM routes"), 9);
    assert_int_equal(it_sql_int("SELECT count(*) FROM transfers WHERE trigger = 'request'"), 2);
    assert_true(it_sql_int("SELECT version FROM graph_state") >= graph_version);
    const char *tables[] = {
        "organizations=", "storages=",          "routes=", "transfers=", "shipments=",
        "storage_waste=", "organization_waste="};
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        const char *a = strstr(before, tables[i]);
        const char *b = strstr(after, tables[i]);
        assert_non_null(a);
        assert_non_null(b);
        assert_memory_equal(a, b, strlen(tables[i]) + 32);
    }
    free(before);
    free(after);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seeded_distances),
        cmocka_unit_test(test_seeded_placement),
        cmocka_unit_test(test_seed_is_idempotent),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
