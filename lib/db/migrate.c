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
    /* A conninfo libpq cannot parse is a mistake, not a database still starting: say so. */
    char *parse_error = NULL;
    PQconninfoOption *parsed = PQconninfoParse(conninfo, &parse_error);
    if (parsed == NULL) {
        snprintf(error, error_size, "DATABASE_URL is not a valid connection string: %s",
                 parse_error != NULL ? parse_error : "out of memory");
        PQfreemem(parse_error);
        return NULL;
    }
    PQconninfoFree(parsed);
    /* A blackholed host must not stall start-up for minutes: 5 s a host address unless the
     * connection string says otherwise (its own connect_timeout comes later and wins). */
    const char *const keys[] = {"connect_timeout", "dbname", NULL};
    const char *const values[] = {"5", conninfo, NULL};
    for (int attempt = 0;; attempt++) {
        PGconn *pg = PQconnectdbParams(keys, values, 1);
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

/* Count of the compiled-in migrations missing from schema_migrations (all of them when the
 * table does not exist yet), or -1. */
static int count_pending(PGconn *pg, char *error, size_t error_size)
{
    PGresult *r = PQexec(pg, "SELECT to_regclass('public.schema_migrations') IS NOT NULL");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(error, error_size, "%s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    bool table = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (!table) {
        return (int)embedded_migrations_count;
    }
    int pending = 0;
    for (size_t i = 0; i < embedded_migrations_count; i++) {
        const char *params[1] = {embedded_migrations[i].name};
        r = PQexecParams(pg, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, NULL, params,
                         NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            snprintf(error, error_size, "%s", PQresultErrorMessage(r));
            PQclear(r);
            return -1;
        }
        pending += PQntuples(r) == 0;
        PQclear(r);
    }
    return pending;
}

int db_migrations_pending(const char *conninfo, int wait_seconds, char *error, size_t error_size)
{
    PGconn *pg = db_connect_waiting(conninfo, wait_seconds, error, error_size);
    if (pg == NULL) {
        return -1;
    }
    int pending = count_pending(pg, error, error_size);
    PQfinish(pg);
    return pending;
}

/* Creates the role when it is missing and this session may create roles (it may not on
 * many managed databases: then the operator creates it, and the grants wait for it). */
static int ensure_role(PGconn *pg, const char *role, char *error, size_t error_size)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '%s') AND "
             "(SELECT rolcreaterole OR rolsuper FROM pg_roles WHERE rolname = current_user) "
             "THEN CREATE ROLE %s LOGIN; END IF; END $$",
             role, role);
    return exec_ok(pg, sql, error, error_size);
}

static bool role_exists(PGconn *pg, const char *role)
{
    const char *params[1] = {role};
    PGresult *r = PQexecParams(pg, "SELECT 1 FROM pg_roles WHERE rolname = $1", 1, NULL, params,
                               NULL, NULL, 0);
    bool exists = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    PQclear(r);
    return exists;
}

/* The privileges of docs/design.md, "Database roles", granted again on every migrate so tables
 * added by later migrations are covered. The app role: everything it needs on every table,
 * then the ledger narrowed to SELECT and INSERT and the API keys to no DELETE; no
 * TRUNCATE, REFERENCES or TRIGGER anywhere, and (not owning anything) no DDL and no way to
 * disable a trigger; the deployment's key it may only read. The auditor: SELECT, of the API
 * keys every column but the secret's hash, and never the deployment's key (it would let a
 * reader forge what the service signs). */
static int grant_roles(PGconn *pg, const db_roles *roles, char *error, size_t error_size)
{
    static const char *const app_grants[] = {
        "GRANT USAGE ON SCHEMA public TO ",
        "REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ",
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ",
        "REVOKE INSERT, UPDATE, DELETE ON schema_migrations FROM ",
        "REVOKE UPDATE, DELETE ON transfers, shipments, unloads, transfer_commits, receipts FROM ",
        /* The balance's checkpoints are appended, never changed (sql/migrations/026). */
        "REVOKE UPDATE, DELETE ON balance_days FROM ",
        "REVOKE INSERT, UPDATE, DELETE ON deployment_key FROM ",
        /* Keys are revoked, never deleted (an organization's or storage's go with it by the
         * foreign keys' cascade, which runs with the owner's rights). */
        "REVOKE DELETE ON api_keys FROM ",
        "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ",
        "GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO ",
    };
    static const char *const auditor_grants[] = {
        "GRANT USAGE ON SCHEMA public TO ",
        "REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ",
        "GRANT SELECT ON ALL TABLES IN SCHEMA public TO ",
        "REVOKE SELECT ON api_keys FROM ",
        "GRANT SELECT (id, role, organization_id, storage_id, name, created_at, expires_at, "
        "revoked_at) ON api_keys TO ",
        "REVOKE SELECT ON deployment_key FROM ",
    };
    const struct {
        const char *role;
        const char *const *grants;
        size_t count;
    } sets[] = {
        {roles->app, app_grants, sizeof app_grants / sizeof app_grants[0]},
        {roles->auditor, auditor_grants, sizeof auditor_grants / sizeof auditor_grants[0]},
    };
    for (size_t s = 0; s < 2; s++) {
        if (ensure_role(pg, sets[s].role, error, error_size) != 0) {
            return -1;
        }
        if (!role_exists(pg, sets[s].role)) {
            log_event(LOG_WARN,
                      "database role missing and not creatable here: create it, then "
                      "run wasteflow migrate again",
                      "role", sets[s].role, NULL);
            continue;
        }
        for (size_t i = 0; i < sets[s].count; i++) {
            /* Each grant ends with its grantee; the name is a plain identifier (config). */
            char sql[512];
            snprintf(sql, sizeof sql, "%s%s", sets[s].grants[i], sets[s].role);
            if (exec_ok(pg, sql, error, error_size) != 0) {
                return -1;
            }
        }
    }
    return 0;
}

int db_migrate(const char *conninfo, const db_roles *roles, int wait_seconds, char *error,
               size_t error_size)
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
    if (grant_roles(pg, roles, error, error_size) != 0 ||
        exec_ok(pg, "COMMIT", error, error_size) != 0) {
        goto fail;
    }
    PQfinish(pg);
    return applied;
fail:
    PQclear(r);
    PQfinish(pg);
    return -1;
}
