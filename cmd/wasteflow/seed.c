/* Demo data (`seed case1`, the picture) and reproducible synthetic worlds for benchmarks
 * (`seed synthetic`), generated inside PostgreSQL so 10,000 organizations and 100,000
 * routes load in seconds. */
#include "commands.h"

#include "db/migrate.h"
#include "util/embedded.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int run(PGconn *pg, const char *sql, int param_count, const char *const *params)
{
    /* Every parameter is a bigint, so a statement may leave some of them unused. */
    static const Oid int8_types[4] = {20, 20, 20, 20};
    PGresult *r = param_count > 0
                      ? PQexecParams(pg, sql, param_count, int8_types, params, NULL, NULL, 0)
                      : PQexec(pg, sql);
    ExecStatusType status = PQresultStatus(r);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        fprintf(stderr, "wasteflow seed: %s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    PQclear(r);
    return 0;
}

static int seed_case1(PGconn *pg)
{
    const embedded_file *sql = embedded_find(embedded_seeds, embedded_seeds_count, "case1.sql");
    if (sql == NULL || run(pg, sql->data, 0, NULL) != 0) {
        return 1;
    }
    printf("seeded case1: organizations ОО1, ОО2; storages МНО1..МНО9 (no МНО4); 9 roads\n");
    return 0;
}

static int parse_count(const char *text, long max, long *out)
{
    char *end = NULL;
    long value = strtol(text, &end, 10);
    if (end == text || *end != '\0' || value < 0 || value > max) {
        return -1;
    }
    *out = value;
    return 0;
}

/* Parameters: $1 organizations, $2 storages, $3 routes, $4 seed. Names carry the seed so
 * two worlds can share a database; the generator is setseed()-driven, so one seed always
 * gives the same world. */
static const char *const synthetic_sql[] = {
    "SELECT setseed(($4::int % 1000) / 1000.0)",
    "INSERT INTO organizations (name) SELECT 'org-' || $4 || '-' || i "
    "FROM generate_series(1, $1::int) i ON CONFLICT (name) DO NOTHING",
    "INSERT INTO storages (name) SELECT 'storage-' || $4 || '-' || i "
    "FROM generate_series(1, $2::int) i ON CONFLICT (name) DO NOTHING",
    /* Every storage accepts one to three types with mixed capacities. */
    "INSERT INTO storage_waste (storage_id, waste_type, capacity) "
    "SELECT s.id, t.code, (100 + floor(random() * 10000))::bigint FROM storages s "
    "CROSS JOIN (VALUES ('bio', 0), ('glass', 1), ('plastic', 2)) AS t(code, k) "
    "WHERE s.name LIKE 'storage-' || $4 || '-%' AND (t.k = s.id % 3 OR random() < 0.5) "
    "ON CONFLICT DO NOTHING",
    /* Connected enough: every organization gets a road to one storage, every storage to
     * the next; the rest of the routes join random pairs. */
    "INSERT INTO routes (from_organization_id, to_storage_id, distance_m) "
    "SELECT o.id, s.id, 1 + floor(random() * 1000)::int FROM "
    "(SELECT id, row_number() OVER (ORDER BY id) AS n FROM organizations "
    " WHERE name LIKE 'org-' || $4 || '-%') o JOIN "
    "(SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM storages "
    " WHERE name LIKE 'storage-' || $4 || '-%') s ON s.n = o.n % $2::int "
    "ON CONFLICT ON CONSTRAINT routes_pair_key DO NOTHING",
    "INSERT INTO routes (from_storage_id, to_storage_id, distance_m, two_way) "
    "SELECT a.id, b.id, 1 + floor(random() * 1000)::int, true FROM "
    "(SELECT id, row_number() OVER (ORDER BY id) AS n FROM storages "
    " WHERE name LIKE 'storage-' || $4 || '-%') a JOIN "
    "(SELECT id, row_number() OVER (ORDER BY id) AS n FROM storages "
    " WHERE name LIKE 'storage-' || $4 || '-%') b ON b.n = a.n + 1 "
    "ON CONFLICT ON CONSTRAINT routes_pair_key DO NOTHING",
    "WITH o AS (SELECT array_agg(id) AS ids FROM organizations WHERE name LIKE 'org-' || $4 "
    "|| '-%'), s AS (SELECT array_agg(id) AS ids FROM storages WHERE name LIKE 'storage-' "
    "|| $4 || '-%'), existing AS (SELECT count(*) AS n FROM routes r JOIN storages t "
    "ON t.id = r.to_storage_id WHERE t.name LIKE 'storage-' || $4 || '-%'), "
    "pairs AS (SELECT CASE WHEN g.pick < 0.5 THEN o.ids[1 + floor(random() * "
    "cardinality(o.ids))::int] END AS from_org, CASE WHEN g.pick >= 0.5 THEN "
    "s.ids[1 + floor(random() * cardinality(s.ids))::int] END AS from_storage, "
    "s.ids[1 + floor(random() * cardinality(s.ids))::int] AS to_storage, "
    "1 + floor(random() * 5000)::int AS distance_m, random() < 0.3 AS two_way "
    "FROM o, s, existing, LATERAL (SELECT random() AS pick FROM generate_series(1, "
    "greatest($3::int - existing.n, 0))) g) "
    "INSERT INTO routes (from_organization_id, from_storage_id, to_storage_id, distance_m, "
    "two_way) SELECT from_org, from_storage, to_storage, distance_m, two_way FROM pairs "
    "WHERE from_storage IS DISTINCT FROM to_storage ON CONFLICT DO NOTHING",
    "UPDATE graph_state SET version = version + 1",
    "UPDATE dispatch_state SET room_epoch = room_epoch + 1",
};

static int seed_synthetic(PGconn *pg, int argc, char **argv)
{
    long organizations = 100, storages = 20, routes = 500, seed = 1;
    for (int i = 0; i < argc; i++) {
        long *target = NULL;
        if (strcmp(argv[i], "--organizations") == 0) {
            target = &organizations;
        } else if (strcmp(argv[i], "--storages") == 0) {
            target = &storages;
        } else if (strcmp(argv[i], "--routes") == 0) {
            target = &routes;
        } else if (strcmp(argv[i], "--seed") == 0) {
            target = &seed;
        }
        if (target == NULL || i + 1 >= argc || parse_count(argv[i + 1], 10000000, target) != 0) {
            fprintf(stderr, "wasteflow seed synthetic: bad option \"%s\"\n", argv[i]);
            return 2;
        }
        i++;
    }
    if (storages < 1) {
        fprintf(stderr, "wasteflow seed synthetic: --storages must be at least 1\n");
        return 2;
    }
    char texts[4][24];
    const char *params[4];
    long values[4] = {organizations, storages, routes, seed};
    for (int i = 0; i < 4; i++) {
        snprintf(texts[i], sizeof texts[i], "%ld", values[i]);
        params[i] = texts[i];
    }
    if (run(pg, "BEGIN", 0, NULL) != 0 ||
        run(pg, "SELECT pg_advisory_xact_lock(hashtext('wasteflow.seed'))", 0, NULL) != 0) {
        return 1;
    }
    for (size_t i = 0; i < sizeof synthetic_sql / sizeof synthetic_sql[0]; i++) {
        int count = strchr(synthetic_sql[i], '$') != NULL ? 4 : 0;
        if (run(pg, synthetic_sql[i], count, params) != 0) {
            return 1;
        }
    }
    if (run(pg, "COMMIT", 0, NULL) != 0) {
        return 1;
    }
    printf("seeded synthetic world %ld: %ld organizations, %ld storages, up to %ld routes\n", seed,
           organizations, storages, routes);
    return 0;
}

int seed_main(const config *cfg, int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "demo-keys") == 0) {
        const char *path = ".run/demo-keys";
        if (argc == 3 && strcmp(argv[1], "--file") == 0) {
            path = argv[2];
        } else if (argc != 1) {
            fprintf(stderr, "usage: wasteflow seed demo-keys [--file PATH]\n");
            return 2;
        }
        return keys_demo(cfg, path);
    }
    if (argc < 1 || (strcmp(argv[0], "case1") != 0 && strcmp(argv[0], "synthetic") != 0)) {
        fprintf(stderr, "usage: wasteflow seed case1 | seed synthetic --organizations N "
                        "--storages M --routes K --seed S | seed demo-keys [--file PATH]\n");
        return 2;
    }
    char error[512];
    /* The schema first when it is behind (which needs the schema's owner). */
    int pending =
        db_migrations_pending(cfg->database_url, MIGRATE_WAIT_SECONDS, error, sizeof error);
    db_roles roles = {cfg->app_role, cfg->auditor_role};
    if (pending < 0 || (pending > 0 && db_migrate(cfg->database_url, &roles, MIGRATE_WAIT_SECONDS,
                                                  error, sizeof error) < 0)) {
        fprintf(stderr, "wasteflow seed: %s\n", error);
        return 1;
    }
    PGconn *pg = db_connect_waiting(cfg->database_url, MIGRATE_WAIT_SECONDS, error, sizeof error);
    if (pg == NULL) {
        fprintf(stderr, "wasteflow seed: %s\n", error);
        return 1;
    }
    run(pg, "SET client_min_messages = warning", 0, NULL);
    int status =
        strcmp(argv[0], "case1") == 0 ? seed_case1(pg) : seed_synthetic(pg, argc - 1, argv + 1);
    PQfinish(pg);
    return status;
}
