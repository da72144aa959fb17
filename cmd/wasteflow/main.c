/* wasteflow: the waste-accounting service. Subcommands:
 *   serve    serve HTTP until SIGTERM/SIGINT (drains first) — cmd/wasteflow/serve.c
 *   migrate  apply pending migrations and grant the database roles, then exit
 *   seed     load demo data: `seed case1` (the picture) or `seed synthetic ...` — seed.c
 *   keys     create, list and revoke API keys — keys.c */
#include "commands.h"

#include "db/migrate.h"
#include "util/config.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *env(const char *name)
{
    return getenv(name);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: wasteflow serve | migrate | seed ... | keys ...\n"
                 "\n"
                 "  serve     serve the HTTP API (applies pending migrations when it may)\n"
                 "  migrate   apply pending migrations and grant the database roles (as the\n"
                 "            schema's owner)\n"
                 "  seed case1\n"
                 "            load the picture's organizations, storages and roads (idempotent)\n"
                 "  seed synthetic --organizations N --storages M --routes K --seed S\n"
                 "            load a reproducible random world\n"
                 "  seed demo-keys [--file PATH]\n"
                 "            an admin key and one key per demo organization and storage (kept in\n"
                 "            PATH, default .run/demo-keys; printed)\n"
                 "  keys create --role ROLE [--organization ID | --storage ID] [--name TEXT]\n"
                 "              [--expires-in DAYS]\n"
                 "  keys list\n"
                 "  keys revoke ID\n"
                 "            API keys; each prints one JSON object on stdout\n"
                 "\n"
                 "Memory of one serving instance (every cache is bounded):\n"
                 "  road graph     the newest version, ~65 bytes a road (~62 MiB at 1,000,000\n"
                 "                 roads), plus what older versions still used by requests do\n"
                 "                 not share with it; more than 10,000 logged changes behind,\n"
                 "                 an instance loads every road again\n"
                 "  path trees     at most 8 MiB per graph version\n"
                 "  room hints     at most 1,048,576 (storage, type) pairs, 48 MiB; the\n"
                 "                 dispatcher's own view of the rooms, the same again\n"
                 "  storage view   suspended searches and reachable sets, at most 32 MiB\n"
                 "                 and 1,024 entries (least recently used out); entries\n"
                 "                 of an older graph version dropped\n"
                 "  API keys       every key (~80 bytes each)\n"
                 "  known tokens   API keys and JWTs found valid, 4,096 entries, 2.4 MiB\n"
                 "\n");
    config_print_help(out);
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (argc >= 3 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    static config cfg;
    char error[512];
    if (config_load(&cfg, env, error, sizeof error) != 0) {
        fprintf(stderr, "wasteflow: %s\n", error);
        return 2;
    }
    log_set_level((log_level)cfg.log_level);
    if (strcmp(argv[1], "serve") == 0) {
        return serve_main(&cfg);
    }
    if (strcmp(argv[1], "migrate") == 0) {
        db_roles roles = {cfg.app_role, cfg.auditor_role};
        int applied =
            db_migrate(cfg.database_url, &roles, MIGRATE_WAIT_SECONDS, error, sizeof error);
        if (applied < 0) {
            fprintf(stderr, "wasteflow migrate: %s\n", error);
            return 1;
        }
        printf("%d migration(s) applied\n", applied);
        return 0;
    }
    if (strcmp(argv[1], "seed") == 0) {
        return seed_main(&cfg, argc - 2, argv + 2);
    }
    if (strcmp(argv[1], "keys") == 0) {
        return keys_main(&cfg, argc - 2, argv + 2);
    }
    fprintf(stderr, "wasteflow: unknown command \"%s\"\n\n", argv[1]);
    usage(stderr);
    return 2;
}
