/* `wasteflow seed synthetic` against a fresh database and a running server: its usage and
 * option errors (exit 2, nothing written), exact counts of a small world, the promises its
 * --help makes (types, capacities, every organization reaching every storage, roads to
 * near neighbours), and reproducibility (the same seed gives the same rows, seeding again
 * adds nothing, another seed gives another world). */
#include "harness.h"
#include "runner.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { ORGS = 30, STORAGES = 90, ROUTES = 400 };

typedef struct {
    int exit_code;
    char *out; /* stdout */
    char *err; /* stderr */
} seed_run;

static char *slurp(int fd)
{
    size_t length = 0, capacity = 4096;
    char *text = malloc(capacity);
    assert_non_null(text);
    lseek(fd, 0, SEEK_SET);
    ssize_t got;
    while ((got = read(fd, text + length, capacity - length - 1)) > 0) {
        length += (size_t)got;
        if (capacity - length < 2) {
            capacity *= 2;
            text = realloc(text, capacity);
            assert_non_null(text);
        }
    }
    text[length] = '\0';
    close(fd);
    return text;
}

static int temp_fd(void)
{
    char path[] = "/tmp/wf-seed-test.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    return fd;
}

/* Runs `wasteflow seed synthetic ARGS...` (NULL-terminated) against the test database. */
static seed_run run_synthetic(const char *first, ...)
{
    const char *args[16] = {getenv("WASTEFLOW_BIN"), "seed", "synthetic"};
    assert_non_null(args[0]);
    size_t count = 3;
    va_list ap;
    va_start(ap, first);
    for (const char *arg = first; arg != NULL; arg = va_arg(ap, const char *)) {
        assert_true(count < 15);
        args[count++] = arg;
    }
    va_end(ap);
    args[count] = NULL;
    int out = temp_fd(), err = temp_fd();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("DATABASE_URL", it_database_url(), 1);
        setenv("WASTEFLOW_LOG_LEVEL", "warn", 1);
        dup2(out, 1);
        dup2(err, 2);
        execv(args[0], (char *const *)args);
        _exit(127);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return (seed_run){WEXITSTATUS(status), slurp(out), slurp(err)};
}

static void seed_run_free(seed_run *run)
{
    free(run->out);
    free(run->err);
}

static void seed_world(int seed)
{
    char text[16];
    snprintf(text, sizeof text, "%d", seed);
    seed_run run = run_synthetic("--organizations", "30", "--storages", "90", "--routes", "400",
                                 "--seed", text, NULL);
    if (run.exit_code != 0) {
        fprintf(stderr, "seed synthetic failed: %s%s", run.out, run.err);
    }
    assert_int_equal(run.exit_code, 0);
    seed_run_free(&run);
}

/* One text value from SQL (caller frees). */
static char *sql_text(const char *sql)
{
    PGresult *r = PQexec(it_db(), sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        fprintf(stderr, "query failed: %s\n%s", sql, PQresultErrorMessage(r));
        fail();
    }
    char *text = strdup(PQgetisnull(r, 0, 0) ? "" : PQgetvalue(r, 0, 0));
    PQclear(r);
    return text;
}

/* The rows of world `seed`, by names with the seed taken out (so two seeds compare), ids
 * left out: every organization, storage with its types and capacities, and road. */
static char *world_fingerprint(int seed)
{
    char sql[2048];
    snprintf(
        sql, sizeof sql,
        "SELECT md5(coalesce((SELECT string_agg(replace(name, 'org-%1$d-', ''), ',' ORDER BY "
        "name) FROM organizations WHERE name LIKE 'org-%1$d-%%'), '') || '|' || "
        "coalesce((SELECT string_agg(replace(s.name, 'storage-%1$d-', '') || ':' || "
        "w.waste_type || '=' || w.capacity, ',' ORDER BY s.name, w.waste_type) FROM storages s "
        "JOIN storage_waste w ON w.storage_id = s.id WHERE s.name LIKE 'storage-%1$d-%%'), "
        "'') || '|' || coalesce((SELECT string_agg(f || '>' || t || ':' || distance_m || "
        "':' || two_way, ',' ORDER BY f, t) FROM (SELECT replace(replace(coalesce(fo.name, "
        "fs.name), 'org-%1$d-', 'o'), 'storage-%1$d-', 's') AS f, replace(ts.name, "
        "'storage-%1$d-', 's') AS t, r.distance_m, r.two_way FROM routes r "
        "LEFT JOIN organizations fo ON fo.id = r.from_organization_id LEFT JOIN storages fs "
        "ON fs.id = r.from_storage_id JOIN storages ts ON ts.id = r.to_storage_id "
        "WHERE ts.name LIKE 'storage-%1$d-%%') x), ''))",
        seed);
    return sql_text(sql);
}

static void delete_world(int seed)
{
    it_sql_exec("DELETE FROM routes r USING storages s WHERE s.id = r.to_storage_id AND "
                "s.name LIKE 'storage-%d-%%'",
                seed);
    it_sql_exec("DELETE FROM storages WHERE name LIKE 'storage-%d-%%'", seed);
    it_sql_exec("DELETE FROM organizations WHERE name LIKE 'org-%d-%%'", seed);
}

static void expect_usage_error(seed_run run, const char *message)
{
    if (run.exit_code != 2 || strstr(run.err, message) == NULL) {
        fprintf(stderr, "exit %d, stderr: %s\n(expected 2 and \"%s\")\n", run.exit_code, run.err,
                message);
    }
    assert_int_equal(run.exit_code, 2);
    assert_non_null(strstr(run.err, message));
    assert_string_equal(run.out, "");
    seed_run_free(&run);
}

/* --help answers on stdout with exit 0; every bad option gets exit 2 and a message naming
 * it, and writes nothing. Runs first, on the empty database. */
static void test_usage_and_bad_options(void **state)
{
    (void)state;
    char *before = it_db_fingerprint();
    seed_run help = run_synthetic("--help", NULL);
    assert_int_equal(help.exit_code, 0);
    assert_true(strncmp(help.out, "usage: wasteflow seed synthetic --organizations N", 49) == 0);
    assert_non_null(strstr(help.out, "every organization reaches every storage"));
    seed_run_free(&help);

    expect_usage_error(run_synthetic("--organizations", "x", NULL),
                       "--organizations must be a whole number from 0 to 10000000, not \"x\"");
    expect_usage_error(run_synthetic("--storages", "0", NULL),
                       "--storages must be a whole number from 1 to 10000000, not \"0\"");
    expect_usage_error(run_synthetic("--routes", "-5", NULL), "--routes must be a whole number");
    expect_usage_error(run_synthetic("--seed", "12abc", NULL), "--seed must be a whole number");
    expect_usage_error(run_synthetic("--seed", NULL), "--seed needs a value");
    expect_usage_error(run_synthetic("--colour", "red", NULL), "unknown option \"--colour\"");
    expect_usage_error(run_synthetic("--weighed-share", "1.5", NULL),
                       "--weighed-share must be a number from 0 to 1, not \"1.5\"");
    expect_usage_error(run_synthetic("--weighed-share", "-0.1", NULL),
                       "--weighed-share must be a number from 0 to 1, not \"-0.1\"");
    expect_usage_error(run_synthetic("--weighed-share", "half", NULL),
                       "--weighed-share must be a number from 0 to 1, not \"half\"");
    expect_usage_error(run_synthetic("--weighed-share", "nan", NULL),
                       "--weighed-share must be a number from 0 to 1, not \"nan\"");
    expect_usage_error(run_synthetic("--weighed-share", "0.5kg", NULL),
                       "--weighed-share must be a number from 0 to 1");
    expect_usage_error(run_synthetic("--weighed-share", NULL), "--weighed-share needs a value");
    /* 10 organizations and 5 storages need 14 roads to connect, and have 60 pairs. */
    expect_usage_error(
        run_synthetic("--organizations", "10", "--storages", "5", "--routes", "13", NULL),
        "--routes must be at least 14 (organizations + storages - 1)");
    expect_usage_error(
        run_synthetic("--organizations", "10", "--storages", "5", "--routes", "61", NULL),
        "--routes must be at most 60");
    ASSERT_UNCHANGED(before);
}

/* The smallest and largest budgets are exact too: 14 roads (the guaranteed ones only) and
 * 60 (every pair). */
static void test_extreme_budgets(void **state)
{
    (void)state;
    seed_run least = run_synthetic("--organizations", "10", "--storages", "5", "--routes", "14",
                                   "--seed", "501", NULL);
    assert_int_equal(least.exit_code, 0);
    seed_run_free(&least);
    seed_run most = run_synthetic("--organizations", "10", "--storages", "5", "--routes", "60",
                                  "--seed", "502", NULL);
    assert_int_equal(most.exit_code, 0);
    seed_run_free(&most);
    for (int seed = 501; seed <= 502; seed++) {
        assert_int_equal(it_sql_int("SELECT count(*) FROM routes r JOIN storages s ON s.id = "
                                    "r.to_storage_id WHERE s.name LIKE 'storage-%d-%%'",
                                    seed),
                         seed == 501 ? 14 : 60);
        delete_world(seed);
    }
}

/* Counts, types and capacities exactly as --help says, in the first world of a fresh
 * database: ids then equal the indices, so storage ids = 1 (mod 3) accept glass (which
 * test/bench/run.sh relies on). */
static void test_counts_types_capacities(void **state)
{
    (void)state;
    seed_world(11);
    assert_int_equal(it_sql_int("SELECT count(*) FROM organizations WHERE name LIKE 'org-11-%%'"),
                     ORGS);
    assert_int_equal(it_sql_int("SELECT count(*) FROM storages WHERE name LIKE 'storage-11-%%'"),
                     STORAGES);
    assert_int_equal(it_sql_int("SELECT count(*) FROM routes"), ROUTES);
    assert_int_equal(it_sql_int("SELECT count(*) FROM organizations WHERE id <> "
                                "split_part(name, '-', 3)::bigint"),
                     0);
    assert_int_equal(it_sql_int("SELECT count(*) FROM storages WHERE id <> "
                                "split_part(name, '-', 3)::bigint"),
                     0);
    /* Every storage accepts 1 to 3 types, always type (index mod 3). */
    assert_int_equal(it_sql_int("SELECT count(*) FROM (SELECT s.id, count(w.*) AS n FROM "
                                "storages s LEFT JOIN storage_waste w ON w.storage_id = s.id "
                                "GROUP BY s.id) x WHERE n NOT BETWEEN 1 AND 3"),
                     0);
    assert_int_equal(it_sql_int("SELECT count(*) FROM storages s WHERE NOT EXISTS (SELECT 1 FROM "
                                "storage_waste w WHERE w.storage_id = s.id AND w.waste_type = "
                                "(ARRAY['bio', 'glass', 'plastic'])[s.id %% 3 + 1])"),
                     0);
    long long types = it_sql_int("SELECT count(*) FROM storage_waste");
    assert_true(types > STORAGES && types < 3 * STORAGES); /* mixed, not all one way */
    assert_int_equal(it_sql_int("SELECT count(*) FROM storage_waste WHERE capacity NOT BETWEEN "
                                "100 AND 100000 OR stock <> 0"),
                     0);
    /* Mixed capacities: small sites and big depots alike. */
    assert_true(it_sql_int("SELECT count(*) FROM storage_waste WHERE capacity < 1000") > 10);
    assert_true(it_sql_int("SELECT count(*) FROM storage_waste WHERE capacity > 10000") > 10);
    /* Organizations: no on-site limit, nothing pending, no ledger. */
    assert_int_equal(it_sql_int("SELECT count(*) FROM organization_waste"), 0);
    assert_int_equal(it_sql_int("SELECT count(*) FROM transfers"), 0);
    /* Roads: organizations only at the start (one-way), never a road back to one. */
    assert_int_equal(it_sql_int("SELECT count(*) FROM routes WHERE to_organization_id IS NOT "
                                "NULL OR (from_organization_id IS NOT NULL AND two_way)"),
                     0);
    /* No pair joined twice, in either direction. */
    assert_int_equal(it_sql_int("SELECT count(*) FROM routes a JOIN routes b ON "
                                "a.from_node = b.to_node AND a.to_node = b.from_node"),
                     0);
    /* Every organization has 1 to 3 roads here (storages had enough candidates). */
    assert_int_equal(it_sql_int("SELECT count(*) FROM (SELECT o.id, count(r.*) AS n FROM "
                                "organizations o LEFT JOIN routes r ON "
                                "r.from_organization_id = o.id GROUP BY o.id) x "
                                "WHERE n NOT BETWEEN 1 AND 3"),
                     0);
    tu_assert_audit_clean();
}

/* Every organization reaches every storage: over the roads in SQL (two-way roads both
 * ways), and as the service sees it (the view lists every storage with a distance). */
static void test_every_organization_reaches_every_storage(void **state)
{
    (void)state;
    assert_int_equal(
        it_sql_int(
            "WITH RECURSIVE edge AS (SELECT from_node AS a, to_node AS b FROM routes UNION ALL "
            "SELECT to_node, from_node FROM routes WHERE two_way), reach AS (SELECT 'o' || id AS "
            "origin, 'o' || id AS node FROM organizations UNION SELECT r.origin, e.b FROM reach r "
            "JOIN edge e ON e.a = r.node) SELECT count(*) FROM reach WHERE node LIKE 's%%'"),
        (long long)ORGS * STORAGES);
    for (long long org = 1; org <= ORGS; org += 7) {
        it_response *view = it_get("/v1/organizations/%lld/storages?limit=100", org);
        EXPECT_STATUS(view, 200);
        const cJSON *items = it_json_at(view->json, "items");
        assert_int_equal(cJSON_GetArraySize(items), STORAGES);
        long long previous = 0;
        const cJSON *item;
        cJSON_ArrayForEach(item, items)
        {
            const cJSON *distance = cJSON_GetObjectItemCaseSensitive(item, "distance_m");
            assert_true(cJSON_IsNumber(distance));
            assert_true(distance->valuedouble >= (double)previous);
            previous = (long long)distance->valuedouble;
        }
        it_response_free(view);
    }
}

/* Roads join near neighbours on a plane of 1 km^2 per storage (a square of side
 * 1000 * sqrt(90) = 9,487 m here, where two random points lie ~4,900 m apart): the mean road
 * is far shorter, and the shortest distances grow with hops like a plane's, not like a
 * random graph's (whose every pair is a couple of hops apart). */
static void test_roads_join_near_neighbours(void **state)
{
    (void)state;
    const double side = 9487.0; /* 1000 * sqrt(STORAGES) */
    long long mean = it_sql_int("SELECT round(avg(distance_m)) FROM routes");
    long long longest = it_sql_int("SELECT max(distance_m) FROM routes");
    assert_true(mean >= 1 && (double)mean < side / 5);
    assert_true((double)longest < side * 1.4 * 0.75);
    /* The farthest storage of an organization is many roads away. */
    long long far = it_sql_int(
        "WITH RECURSIVE edge AS (SELECT from_node AS a, to_node AS b FROM routes UNION ALL "
        "SELECT to_node, from_node FROM routes WHERE two_way), hop AS (SELECT 'o1'::text AS "
        "node, 0 AS n UNION SELECT e.b, h.n + 1 FROM hop h JOIN edge e ON e.a = h.node "
        "WHERE h.n < 40), first AS (SELECT node, min(n) AS n FROM hop GROUP BY node) "
        "SELECT max(n) FROM first");
    assert_true(far >= 4);
    /* Distances are a plane's: straight lines times a detour of 1.0-1.4, so in every
     * triangle of roads one side is at most 1.4 times the other two (random lengths break
     * this in most triangles). */
    const char *triangles =
        "WITH e AS (SELECT least(from_node, to_node) AS a, greatest(from_node, to_node) AS b, "
        "distance_m AS d FROM routes) SELECT count(*) FROM e ab JOIN e ac ON ac.a = ab.a "
        "JOIN e cb ON cb.a = least(ab.b, ac.b) AND cb.b = greatest(ab.b, ac.b) "
        "WHERE ac.b <> ab.b";
    assert_true(it_sql_int("%s", triangles) >= 50);
    assert_int_equal(it_sql_int("%s AND ab.d > 1.4 * (ac.d + cb.d) + 1", triangles), 0);
}

/* The same seed gives the same rows: seeding again adds nothing; a world deleted and seeded
 * again comes back row for row; another seed gives another world. */
static void test_reproducible(void **state)
{
    (void)state;
    char *first = world_fingerprint(11);
    long long routes_before = it_sql_int("SELECT count(*) FROM routes");
    long long version = it_sql_int("SELECT version FROM graph_state");
    seed_run again = run_synthetic("--organizations", "30", "--storages", "90", "--routes", "400",
                                   "--seed", "11", NULL);
    assert_int_equal(again.exit_code, 0);
    assert_non_null(strstr(again.out, "(0 new)"));
    seed_run_free(&again);
    char *same = world_fingerprint(11);
    assert_string_equal(first, same);
    assert_int_equal(it_sql_int("SELECT count(*) FROM routes"), routes_before);
    /* No road changed, so no change was logged: instances have nothing to apply. */
    assert_int_equal(it_sql_int("SELECT version FROM graph_state"), version);

    delete_world(11);
    assert_int_equal(it_sql_int("SELECT count(*) FROM routes"), 0);
    seed_world(11); /* new ids this time */
    char *reseeded = world_fingerprint(11);
    assert_string_equal(first, reseeded);
    assert_int_equal(it_sql_int("SELECT count(*) FROM routes"), ROUTES);

    seed_world(12); /* shares the database */
    char *other = world_fingerprint(12);
    assert_string_not_equal(first, other);
    assert_int_equal(it_sql_int("SELECT count(*) FROM routes"), 2 * ROUTES);
    char *kept = world_fingerprint(11);
    assert_string_equal(first, kept);
    free(first);
    free(same);
    free(reseeded);
    free(other);
    free(kept);
    tu_assert_audit_clean();
}

/* The indices of world `seed`'s weighed storages, comma-separated (caller frees). */
static char *weighed_indices(int seed)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(string_agg(split_part(name, '-', 3), ',' ORDER BY "
             "split_part(name, '-', 3)::int), '') FROM storages WHERE intake = 'weighed' AND "
             "name LIKE 'storage-%d-%%'",
             seed);
    return sql_text(sql);
}

static void seed_weighed(const char *seed, const char *share, const char *expect_out)
{
    seed_run run = run_synthetic("--organizations", "30", "--storages", "90", "--routes", "400",
                                 "--seed", seed, "--weighed-share", share, NULL);
    if (run.exit_code != 0 || strstr(run.out, expect_out) == NULL) {
        fprintf(stderr, "exit %d, stdout: %s, stderr: %s\n(expected \"%s\")\n", run.exit_code,
                run.out, run.err, expect_out);
    }
    assert_int_equal(run.exit_code, 0);
    assert_non_null(strstr(run.out, expect_out));
    seed_run_free(&run);
}

/* --weighed-share P weighs each storage with probability P, drawn per storage and seed: the
 * exact storages below are the draw's (hashint8extended(i, 13 * 16 + 10) / 2^52 < P), the
 * same P weighs the same storages, a larger P weighs those and more, and the rest of the
 * world (names, types, capacities, roads) does not depend on P. Without the flag nothing is
 * weighed (the worlds seeded above). */
static void test_weighed_share(void **state)
{
    (void)state;
    assert_int_equal(it_sql_int("SELECT count(*) FROM storages WHERE intake <> 'automatic'"), 0);
    seed_weighed("13", "0.3", "90 storages (26 weighed)");
    char *at_30 = weighed_indices(13);
    assert_string_equal(at_30, "3,7,8,10,14,19,23,26,30,32,35,38,43,48,49,54,56,57,63,68,70,74,"
                               "75,76,84,88");
    char *world = world_fingerprint(13);
    /* Seeding again with another share adds and changes nothing. */
    seed_weighed("13", "0.9", "(26 weighed), 400 routes (0 new)");

    delete_world(13);
    seed_weighed("13", "0.6", "90 storages (48 weighed)");
    char *at_60 = weighed_indices(13);
    assert_string_equal(at_60, "2,3,7,8,10,14,19,23,26,27,28,29,30,31,32,33,35,38,40,43,45,47,"
                               "48,49,51,52,53,54,56,57,58,60,61,63,64,65,68,70,74,75,76,77,79,"
                               "80,83,84,85,88");
    /* Every storage weighed at 0.3 is weighed at 0.6. */
    assert_int_equal(it_sql_int("SELECT count(*) FROM unnest(string_to_array('%s', ',')) i "
                                "WHERE NOT EXISTS (SELECT 1 FROM storages WHERE name = "
                                "'storage-13-' || i AND intake = 'weighed')",
                                at_30),
                     0);
    char *same_world = world_fingerprint(13);
    assert_string_equal(world, same_world);

    seed_weighed("14", "1", "90 storages (90 weighed)");
    seed_weighed("15", "0", "90 storages (0 weighed)");
    assert_int_equal(
        it_sql_int("SELECT count(*) FROM storages WHERE intake = 'weighed' AND name NOT LIKE "
                   "'storage-13-%%' AND name NOT LIKE 'storage-14-%%'"),
        0);
    tu_assert_audit_clean();
    for (int seed = 13; seed <= 15; seed++) {
        delete_world(seed);
    }
    free(at_30);
    free(at_60);
    free(world);
    free(same_world);
}

RUNNER_MAIN(tu_setup, tu_teardown,
            {
                cmocka_unit_test(test_usage_and_bad_options),
                cmocka_unit_test(test_counts_types_capacities),
                cmocka_unit_test(test_every_organization_reaches_every_storage),
                cmocka_unit_test(test_roads_join_near_neighbours),
                cmocka_unit_test(test_reproducible),
                cmocka_unit_test(test_weighed_share),
                cmocka_unit_test(test_extreme_budgets),
            })
