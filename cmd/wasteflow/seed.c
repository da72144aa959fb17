/* Demo data (`seed case1`, the picture) and reproducible synthetic worlds for benchmarks
 * (`seed synthetic`): a geometric world generated inside PostgreSQL in one transaction, so
 * 10,000 organizations, 100,000 storages and 1,000,000 roads load in about a minute. */
#include "commands.h"

#include "db/migrate.h"
#include "util/embedded.h"

#include <errno.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
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

/* ---- seed synthetic ---- */

typedef struct {
    long organizations, storages, routes, seed;
    double weighed_share; /* probability that a storage weighs its loads (0..1) */
} synthetic_options;

static const char synthetic_usage[] =
    "usage: wasteflow seed synthetic --organizations N --storages M --routes R --seed S\n"
    "                                [--weighed-share P]\n"
    "\n"
    "Loads a reproducible synthetic world, generated inside PostgreSQL in one transaction:\n"
    "organizations org-S-1..N and storages storage-S-1..M scattered uniformly over a square\n"
    "of 1 km^2 per storage, and exactly R roads to near neighbours, with distances the\n"
    "straight line times a detour of 1.0-1.4 (at least 1 m):\n"
    "  - every organization has a one-way road to its nearest storage (and, budget\n"
    "    permitting, to its 2nd and 3rd nearest);\n"
    "  - a two-way road chain threads all storages through neighbouring cells of a grid,\n"
    "    so every organization reaches every storage;\n"
    "  - the rest join each storage to its nearest neighbours, nearest first (80% two-way).\n"
    "Storage i accepts type i mod 3 (0 bio, 1 glass, 2 plastic) and each other type with\n"
    "probability 1/2; capacities are log-uniform from 100 to 100,000 kg. Each storage's\n"
    "intake is weighed with probability P (its loads travel and wait for a receipt) and\n"
    "automatic otherwise; the draw is per storage and seed, so the same P weighs the same\n"
    "storages and a larger P weighs those and more. Organizations have\n"
    "no on-site limit and nothing pending. The same options give the same rows (names,\n"
    "roads, distances, types, capacities); in a fresh database also the same ids. Seeding a\n"
    "world again adds nothing; names carry S, so worlds of different seeds can share a\n"
    "database.\n"
    "\n"
    "  --organizations N   0..10,000,000 (default 100)\n"
    "  --storages M        1..10,000,000 (default 20)\n"
    "  --routes R          N + M - 1 .. N*M + M*(M-1)/2 (default 500)\n"
    "  --seed S            0..2,147,483,647 (default 1)\n"
    "  --weighed-share P   a number from 0 to 1 (default 0: every storage automatic)\n";

static int parse_count(const char *text, long min, long max, long *out)
{
    char *end = NULL;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < min || value > max) {
        return -1;
    }
    *out = value;
    return 0;
}

/* A probability: a plain decimal from 0 to 1 ("nan", "inf", "1e0x" and the like refused). */
static int parse_share(const char *text, double *out)
{
    char *end = NULL;
    errno = 0;
    double value = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !(value >= 0.0 && value <= 1.0)) {
        return -1;
    }
    *out = value;
    return 0;
}

/* 0 with the options filled, 1 when --help was asked (usage printed), 2 on a usage error
 * (message printed). Needs no database. */
static int synthetic_parse(int argc, char **argv, synthetic_options *options)
{
    *options = (synthetic_options){100, 20, 500, 1, 0.0};
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(synthetic_usage, stdout);
            return 1;
        }
        if (strcmp(argv[i], "--weighed-share") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "wasteflow seed synthetic: %s needs a value\n", argv[i]);
                return 2;
            }
            if (parse_share(argv[i + 1], &options->weighed_share) != 0) {
                fprintf(stderr,
                        "wasteflow seed synthetic: --weighed-share must be a number from 0 to "
                        "1, not \"%s\"\n",
                        argv[i + 1]);
                return 2;
            }
            i++;
            continue;
        }
        static const struct {
            const char *name;
            long min, max;
            size_t offset;
        } known[] = {
            {"--organizations", 0, 10000000, offsetof(synthetic_options, organizations)},
            {"--storages", 1, 10000000, offsetof(synthetic_options, storages)},
            {"--routes", 0, 100000000, offsetof(synthetic_options, routes)},
            {"--seed", 0, 2147483647, offsetof(synthetic_options, seed)},
        };
        size_t k = 0;
        while (k < sizeof known / sizeof known[0] && strcmp(argv[i], known[k].name) != 0) {
            k++;
        }
        if (k == sizeof known / sizeof known[0]) {
            fprintf(stderr, "wasteflow seed synthetic: unknown option \"%s\"\n%s", argv[i],
                    synthetic_usage);
            return 2;
        }
        long *target = (long *)((char *)options + known[k].offset);
        if (i + 1 >= argc) {
            fprintf(stderr, "wasteflow seed synthetic: %s needs a value\n", argv[i]);
            return 2;
        }
        if (parse_count(argv[i + 1], known[k].min, known[k].max, target) != 0) {
            fprintf(stderr,
                    "wasteflow seed synthetic: %s must be a whole number from %ld to %ld, "
                    "not \"%s\"\n",
                    argv[i], known[k].min, known[k].max, argv[i + 1]);
            return 2;
        }
        i++;
    }
    /* Connectivity needs a road per organization and a chain through the storages; more
     * roads than distinct pairs (organization to storage, storage to storage) cannot be. */
    double n = (double)options->organizations, m = (double)options->storages;
    long least = options->organizations + options->storages - 1;
    double most = n * m + m * (m - 1) / 2;
    if (options->routes < least) {
        fprintf(stderr,
                "wasteflow seed synthetic: --routes must be at least %ld (organizations + "
                "storages - 1), so that every organization reaches every storage\n",
                least);
        return 2;
    }
    if ((double)options->routes > most) {
        fprintf(stderr,
                "wasteflow seed synthetic: --routes must be at most %.0f: that is every "
                "organization-storage and storage-storage pair\n",
                most);
        return 2;
    }
    return 0;
}

/* Parameters, bigint but the last: $1 organizations, $2 storages, $3 routes, $4 seed, $5 grid
 * cells per side, $6 neighbours listed per node, $7 roads beyond the guaranteed ones, $8 the
 * weighed share (float8).
 *
 * Randomness is a hash of (what, index, seed) — hashint8extended, the stable hash of hash
 * partitioning — never random(): a row's values do not depend on the order PostgreSQL
 * produces rows in, so the world is the same whatever the plan. Each purpose has its own
 * salt: hashes of neighbouring keys under one salt are correlated enough to cluster points. */
#define UNIFORM(key, salt)                                                                         \
    "((hashint8extended((" key ")::bigint, $4::bigint * 16 + " salt                                \
    ") & 4503599627370495)::float8 / 4503599627370496.0)"
/* A pair's own uniform number. */
#define PAIR_UNIFORM(a, b, salt)                                                                   \
    "((hashint8extended((" a ")::bigint, hashint8extended((" b                                     \
    ")::bigint, $4::bigint * 16 + " salt ")) & 4503599627370495)::float8 / 4503599627370496.0)"
#define SIDE_M "(1000 * sqrt($2::float8))"

/* The world's organizations, storages and the types they accept. */
static const char *const synthetic_rows_sql[] = {
    "INSERT INTO organizations (name) SELECT 'org-' || $4 || '-' || i "
    "FROM generate_series(1, $1::int) i ORDER BY i ON CONFLICT (name) DO NOTHING",
    /* A uniform number below the share weighs: 0 weighs none (the number is never
     * negative), 1 weighs all (it is always below 1). Its own salt keeps every other draw,
     * and so the world of a given seed, the same whatever the share. */
    "INSERT INTO storages (name, intake) SELECT 'storage-' || $4 || '-' || i, "
    "CASE WHEN " UNIFORM("i", "10") " < $8::float8 THEN 'weighed' ELSE 'automatic' END "
                                    "FROM generate_series(1, $2::int) i ORDER BY i "
                                    "ON CONFLICT (name) DO NOTHING",
    "INSERT INTO storage_waste (storage_id, waste_type, capacity) "
    "SELECT s.id, t.code, round(100 * 1000 ^ " UNIFORM(
        "i * 4 + t.k",
        "6") ")::bigint "
             "FROM generate_series(1, $2::int) i JOIN storages s ON s.name = 'storage-' || $4 || "
             "'-' || i "
             "CROSS JOIN (VALUES ('bio', 0), ('glass', 1), ('plastic', 2)) AS t(code, k) "
             "WHERE t.k = i % 3 OR " UNIFORM("i * 4 + t.k",
                                             "5") " < 0.5 "
                                                  "ORDER BY s.id, t.code ON CONFLICT DO NOTHING",
};

/* The layout, in temporary tables: where every node is, its nearest storages, the chain,
 * and the candidate roads beyond the guaranteed ones. Rebuilt with more neighbours when
 * the candidates fall short of $7. */
static const char *const synthetic_layout_sql[] = {
    "DROP TABLE IF EXISTS seed_node, seed_near, seed_chain, seed_cand",
    /* Nodes on the plane, in grid cells of about 1.5 * ($6 + 1) / 9 storages each, so the
     * nine cells around a node hold the neighbours it lists. */
    "CREATE TEMP TABLE seed_node ON COMMIT DROP AS "
    "SELECT kind, idx, id, x, y, least(floor(x * $5::int / " SIDE_M ")::int, $5::int - 1) AS cx, "
    "least(floor(y * $5::int / " SIDE_M ")::int, $5::int - 1) AS cy FROM ("
    " SELECT 'o'::\"char\" AS kind, i AS idx, o.id, " SIDE_M
    " * " UNIFORM("i", "1") " AS x, " SIDE_M " * " UNIFORM(
        "i", "2") " AS y FROM generate_series(1, $1::int) i "
                  " JOIN organizations o ON o.name = 'org-' || $4 || '-' || i "
                  " UNION ALL "
                  " SELECT 's', i, s.id, " SIDE_M " * " UNIFORM("i", "3") ", " SIDE_M " * " UNIFORM(
                      "i", "4") " FROM generate_series(1, $2::int) i JOIN storages s ON s.name = "
                                "'storage-' || $4 || '-' || i"
                                ") n ORDER BY cx, cy",
    "CREATE INDEX ON seed_node (cx, cy) WHERE kind = 's'",
    "CREATE UNIQUE INDEX ON seed_node (kind, idx)",
    "ANALYZE seed_node",
    /* Each node's $6 nearest storages among the nine cells around it, ranked (ties by index). */
    "CREATE TEMP TABLE seed_near ON COMMIT DROP AS "
    "SELECT a.kind AS a_kind, a.idx AS a, nb.idx AS b, nb.rank FROM seed_node a "
    "CROSS JOIN LATERAL (SELECT b.idx, row_number() OVER (ORDER BY (a.x - b.x) * (a.x - b.x) + "
    "(a.y - b.y) * (a.y - b.y), b.idx) AS rank FROM seed_node b WHERE b.kind = 's' AND "
    "b.cx = ANY (ARRAY[a.cx - 1, a.cx, a.cx + 1]) AND b.cy BETWEEN a.cy - 1 AND a.cy + 1 AND "
    "NOT (a.kind = 's' AND b.idx = a.idx) ORDER BY (a.x - b.x) * (a.x - b.x) + "
    "(a.y - b.y) * (a.y - b.y), b.idx LIMIT $6::int) nb",
    /* The chain: storages in boustrophedon order of the cells (rows of cells, alternately
     * left to right and back), so consecutive storages are neighbours on the plane. */
    "CREATE TEMP TABLE seed_chain ON COMMIT DROP AS "
    "SELECT least(idx, nxt) AS a, greatest(idx, nxt) AS b FROM (SELECT idx, lead(idx) OVER "
    "(ORDER BY cy, CASE WHEN cy % 2 = 0 THEN cx ELSE -cx END, CASE WHEN cy % 2 = 0 THEN x "
    "ELSE -x END) AS nxt FROM seed_node WHERE kind = 's') c WHERE nxt IS NOT NULL",
    /* Candidates: an organization's 2nd, 3rd, ... nearest storage; a storage pair once,
     * ranked by the better of its two directions; never a pair of the chain. */
    "CREATE TEMP TABLE seed_cand ON COMMIT DROP AS "
    "SELECT 'o'::\"char\" AS kind, a, b, rank FROM seed_near WHERE a_kind = 'o' AND rank >= 2 "
    "UNION ALL SELECT 's', p.a, p.b, p.rank FROM (SELECT least(a, b) AS a, greatest(a, b) AS b, "
    "min(rank) AS rank FROM seed_near WHERE a_kind = 's' GROUP BY 1, 2) p "
    "WHERE NOT EXISTS (SELECT 1 FROM seed_chain c WHERE c.a = p.a AND c.b = p.b)",
};

static const char synthetic_pool_sql[] = "SELECT count(*) FROM seed_cand";

/* The roads: each organization to its nearest storage (an organization with no storage in
 * the cells around it — possible only in a sparse corner — to storage ((i - 1) mod M) + 1),
 * the chain, then $7 candidates: nearest first, round by round (every node's 2nd nearest,
 * then every node's 3rd, ...), organizations at most three roads until the storages'
 * candidates run out. Inserted in (kind, from, to) order, so a fresh database numbers them
 * the same way every time. */
static const char synthetic_routes_sql[] =
    "WITH road AS ("
    " SELECT 'o'::\"char\" AS kind, a, b, true AS base FROM seed_near WHERE a_kind = 'o' AND "
    " rank = 1"
    " UNION ALL SELECT 'o', o.idx, (o.idx - 1) % $2::int + 1, true FROM seed_node o "
    " WHERE o.kind = 'o' AND NOT EXISTS (SELECT 1 FROM seed_near n WHERE n.a_kind = 'o' AND "
    " n.a = o.idx)"
    " UNION ALL SELECT 's', a, b, true FROM seed_chain"
    " UNION ALL (SELECT kind, a, b, false FROM seed_cand ORDER BY (kind = 'o' AND rank > 3), "
    " rank, kind, " PAIR_UNIFORM(
        "a", "b",
        "7") ", a, b LIMIT $7::bigint)"
             "), shaped AS ("
             " SELECT r.kind, r.a, r.b, r.base, " PAIR_UNIFORM(
                 "r.a", "r.b",
                 "8") " AS detour, "
                      /* 80% of the extra storage roads are two-way; a one-way one runs either way.
                       */
                      " r.kind = 's' AND (r.base OR " PAIR_UNIFORM(
                          "r.a", "r.b",
                          "9") " < 0.8) AS two_way, "
                               " r.kind = 's' AND NOT r.base AND " PAIR_UNIFORM(
                                   "r.a", "r.b",
                                   "10") " < 0.5 AS flip "
                                         " FROM road r"
                                         ") INSERT INTO routes (from_organization_id, "
                                         "from_storage_id, to_storage_id, distance_m, "
                                         "two_way) SELECT CASE WHEN r.kind = 'o' THEN f.id END, "
                                         "CASE WHEN r.kind = 's' THEN "
                                         "CASE WHEN r.flip THEN t.id ELSE f.id END END, CASE WHEN "
                                         "r.flip THEN f.id ELSE t.id END, "
                                         "greatest(1, round(sqrt((f.x - t.x) ^ 2 + (f.y - t.y) ^ "
                                         "2) * (1 + 0.4 * r.detour)))::bigint, "
                                         "r.two_way FROM shaped r JOIN seed_node f ON f.kind = "
                                         "r.kind AND f.idx = r.a "
                                         "JOIN seed_node t ON t.kind = 's' AND t.idx = r.b ORDER "
                                         "BY r.kind, r.a, r.b "
                                         "ON CONFLICT ON CONSTRAINT routes_pair_key DO NOTHING";

static long long run_count(PGconn *pg, const char *sql, const char *const *params)
{
    static const Oid types[8] = {20, 20, 20, 20, 20, 20, 20, 701}; /* int8 ..., float8 */
    PGresult *r = PQexecParams(pg, sql, 8, types, params, NULL, NULL, 0);
    long long count = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        count = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    } else if (PQresultStatus(r) == PGRES_COMMAND_OK) {
        count = strtoll(PQcmdTuples(r), NULL, 10);
    } else {
        fprintf(stderr, "wasteflow seed: %s", PQresultErrorMessage(r));
    }
    PQclear(r);
    return count;
}

static int run_all(PGconn *pg, const char *const *sql, size_t count, const char *const *params)
{
    for (size_t i = 0; i < count; i++) {
        if (run_count(pg, sql[i], params) < 0) {
            return -1;
        }
    }
    return 0;
}

static int seed_synthetic(PGconn *pg, const synthetic_options *o)
{
    long long extra = o->routes - (o->organizations + o->storages - 1);
    /* Beyond its two nearer storages per organization, the extra roads join storages: list
     * enough neighbours per storage that the pairs (about 0.45 per storage and neighbour
     * once mutual pairs count once) cover them. */
    long long organization_share = extra < 2LL * o->organizations ? extra : 2LL * o->organizations;
    long long neighbours = (extra - organization_share) / (0.45 * (double)o->storages) + 3;
    char texts[8][32];
    const char *params[8];
    for (int i = 0; i < 8; i++) {
        params[i] = texts[i];
    }
    snprintf(texts[0], sizeof texts[0], "%ld", o->organizations);
    snprintf(texts[1], sizeof texts[1], "%ld", o->storages);
    snprintf(texts[2], sizeof texts[2], "%ld", o->routes);
    snprintf(texts[3], sizeof texts[3], "%ld", o->seed);
    snprintf(texts[6], sizeof texts[6], "%lld", extra);
    snprintf(texts[7], sizeof texts[7], "%.17g", o->weighed_share); /* exact round trip */
    if (run(pg, "BEGIN", 0, NULL) != 0 ||
        run(pg, "SELECT pg_advisory_xact_lock(hashtext('wasteflow.seed'))", 0, NULL) != 0 ||
        run(pg, "SET LOCAL jit = off", 0, NULL) != 0 ||
        run(pg, "SET LOCAL work_mem = '256MB'", 0, NULL) != 0) {
        return 1;
    }
    /* The layout's parameters are not bound yet: the row statements use $1..$4 only. */
    snprintf(texts[4], sizeof texts[4], "1");
    snprintf(texts[5], sizeof texts[5], "1");
    if (run_all(pg, synthetic_rows_sql, sizeof synthetic_rows_sql / sizeof *synthetic_rows_sql,
                params) != 0) {
        return 1;
    }
    for (;;) {
        if (neighbours > o->storages) {
            neighbours = o->storages;
        }
        if (neighbours < 1) {
            neighbours = 1;
        }
        double per_cell = ceil(1.5 * (double)(neighbours + 1) / 9.0);
        long cells = (long)floor(sqrt((double)o->storages / (per_cell < 2 ? 2 : per_cell)));
        if (neighbours >= o->storages) {
            cells = 1; /* every storage is a neighbour of every node */
        }
        snprintf(texts[4], sizeof texts[4], "%ld", cells < 1 ? 1 : cells);
        snprintf(texts[5], sizeof texts[5], "%lld", neighbours);
        if (run_all(pg, synthetic_layout_sql,
                    sizeof synthetic_layout_sql / sizeof *synthetic_layout_sql, params) != 0) {
            return 1;
        }
        long long pool = run_count(pg, synthetic_pool_sql, params);
        if (pool < 0) {
            return 1;
        }
        if (pool >= extra) {
            break;
        }
        if (cells <= 1) {
            /* Cannot happen: synthetic_parse allows no more roads than pairs. */
            fprintf(stderr, "wasteflow seed synthetic: only %lld of %lld roads found\n", pool,
                    extra);
            return 1;
        }
        neighbours *= 2;
    }
    long long inserted = run_count(pg, synthetic_routes_sql, params);
    long long weighed = run_count(pg,
                                  "SELECT count(*) FROM storages WHERE intake = 'weighed' AND "
                                  "name LIKE 'storage-' || $4 || '-%'",
                                  params);
    /* The routes' triggers log the roads and move the graph version themselves. */
    if (inserted < 0 || weighed < 0 ||
        run(pg, "UPDATE dispatch_state SET room_epoch = room_epoch + 1", 0, NULL) != 0 ||
        run(pg, "COMMIT", 0, NULL) != 0) {
        return 1;
    }
    printf("seeded synthetic world %ld: %ld organizations, %ld storages (%lld weighed), %ld "
           "routes (%lld new)\n",
           o->seed, o->organizations, o->storages, weighed, o->routes, inserted);
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
                        "--storages M --routes R --seed S [--weighed-share P] | seed demo-keys "
                        "[--file PATH]\n");
        return 2;
    }
    synthetic_options options;
    bool synthetic = strcmp(argv[0], "synthetic") == 0;
    if (synthetic) {
        /* Options first: a usage error or --help needs no database. */
        int parsed = synthetic_parse(argc - 1, argv + 1, &options);
        if (parsed != 0) {
            return parsed == 1 ? 0 : 2;
        }
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
    int status = synthetic ? seed_synthetic(pg, &options) : seed_case1(pg);
    PQfinish(pg);
    return status;
}
