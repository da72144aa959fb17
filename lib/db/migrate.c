/* Blocking migration runner used at start-up and by `wasteflow migrate`. */
#include "db/migrate.h"

#include "util/embedded.h"
#include "util/log.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Any constant shared by every wasteflow instance; hashtext() keeps it readable. */
#define MIGRATION_LOCK_SQL "SELECT pg_advisory_xact_lock(hashtext('wasteflow.migrations'))"

static int exec_ok(PGconn *pg, const char *sql, char *error, size_t error_size)
{
    PGresult *r = PQexec(pg, sql);
    ExecStatusType status = PQresultStatus(r);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        snprintf(error, error_size, "%s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    PQclear(r);
    return 0;
}

PGconn *db_connect_waiting(const char *conninfo, int wait_seconds, char *error, size_t error_size)
{
    for (int attempt = 0;; attempt++) {
        PGconn *pg = PQconnectdb(conninfo);
        if (PQstatus(pg) == CONNECTION_OK) {
            return pg;
        }
        snprintf(error, error_size, "cannot connect to the database: %s", PQerrorMessage(pg));
        PQfinish(pg);
        if (attempt >= wait_seconds * 2) {
            return NULL;
        }
        if (attempt == 0) {
            log_event(LOG_WARN, "database not ready, retrying", "error", error, NULL);
        }
        usleep(500 * 1000);
    }
}

int db_migrate(const char *conninfo, int wait_seconds, char *error, size_t error_size)
{
    PGconn *pg = db_connect_waiting(conninfo, wait_seconds, error, error_size);
    if (pg == NULL) {
        return -1;
    }
    int applied = 0;
    PGresult *r = NULL;
    if (exec_ok(pg, "SET client_min_messages = warning", error, error_size) != 0 ||
        exec_ok(pg, "BEGIN", error, error_size) != 0 ||
        exec_ok(pg, MIGRATION_LOCK_SQL, error, error_size) != 0 ||
        exec_ok(pg,
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
                error, error_size) != 0) {
        goto fail;
    }
    for (size_t i = 0; i < embedded_migrations_count; i++) {
        const embedded_file *m = &embedded_migrations[i];
        const char *params[1] = {m->name};
        r = PQexecParams(pg, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, NULL, params,
                         NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            snprintf(error, error_size, "%s", PQresultErrorMessage(r));
            goto fail;
        }
        bool done = PQntuples(r) > 0;
        PQclear(r);
        r = NULL;
        if (done) {
            continue;
        }
        if (exec_ok(pg, m->data, error, error_size) != 0) {
            char detail[512];
            snprintf(detail, sizeof detail, "migration %s failed: %s", m->name, error);
            snprintf(error, error_size, "%s", detail);
            goto fail;
        }
        r = PQexecParams(pg, "INSERT INTO schema_migrations (version) VALUES ($1)", 1, NULL, params,
                         NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            snprintf(error, error_size, "%s", PQresultErrorMessage(r));
            goto fail;
        }
        PQclear(r);
        r = NULL;
        log_event(LOG_INFO, "migration applied", "version", m->name, NULL);
        applied++;
    }
    if (exec_ok(pg, "COMMIT", error, error_size) != 0) {
        goto fail;
    }
    PQfinish(pg);
    return applied;
fail:
    PQclear(r);
    PQfinish(pg);
    return -1;
}
