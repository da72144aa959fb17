/* The database roles `wasteflow migrate` grants (docs/design.md, "Database roles"), proved with
 * real statements on the test database: the app role `serve` runs as reads and appends to
 * the ledger but never changes or empties it, cannot set its triggers aside and has no
 * DDL; the auditor reads every table (API keys without their hashes) and writes none, and
 * runs sql/audit.sql. Nor can the app role rewrite an API key's role, scope or revocation,
 * delete a key, or date a ledger row other than now() (guard triggers: psql as the app role
 * is refused too), while the service's own paths — create, revoke by DELETE, an organization
 * deleted with its keys — still work. Every statement that must be refused is sent inside a
 * transaction that is rolled back, so a grant that is too wide fails the test without harming the
 * data, and each refusal must be the privilege check's own ("permission denied", "must be
 * owner"), not the ledger's append-only trigger, which would hide a missing revoke. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "harness.h"
#include "runner.h"
#include "testutil.h"

#define APP_ROLE     "wasteflow_app"
#define AUDITOR_ROLE "wasteflow_auditor"

/* The ledger: the movements' receipts (the world here has none: its storages take loads in
 * at once), and the commit order of its transfers (history: nothing writes it any more).
 * The last two are not expected to have rows. */
static const char *const ledger_tables[] = {"transfers", "shipments", "unloads", "receipts",
                                            "transfer_commits"};
/* A column of each that an UPDATE may name (not an identity column, which PostgreSQL
 * refuses to set before it looks at privileges). */
static const char *const ledger_columns[] = {"trigger", "amount", "amount", "ticket",
                                             "transfer_id"};
enum { LEDGER_TABLES = sizeof ledger_tables / sizeof ledger_tables[0] };

static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static PGconn *connect_as(const char *conninfo)
{
    PGconn *pg = PQconnectdb(conninfo);
    if (PQstatus(pg) != CONNECTION_OK) {
        fail_msg("cannot connect with %s: %s", conninfo, PQerrorMessage(pg));
    }
    PQsetNoticeProcessor(pg, ignore_notice, NULL);
    return pg;
}

/* Runs sql in a transaction that is rolled back: it must succeed. */
static void allowed(PGconn *pg, const char *sql)
{
    tu_pg_exec(pg, "BEGIN");
    tu_pg_exec(pg, sql);
    tu_pg_exec(pg, "ROLLBACK");
}

/* Runs sql in a transaction that is rolled back: it must fail with SQLSTATE 42501
 * (insufficient_privilege) and a message starting with one of the privilege check's own
 * words. */
static void refused(PGconn *pg, const char *sql)
{
    tu_pg_exec(pg, "BEGIN");
    PGresult *r = PQexec(pg, sql);
    ExecStatusType status = PQresultStatus(r);
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    const char *message = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
        PQclear(r);
        tu_pg_exec(pg, "ROLLBACK");
        fail_msg("as %s: %s\n  succeeded; it must be refused", PQuser(pg), sql);
    }
    bool privilege = state != NULL && strcmp(state, "42501") == 0 && message != NULL &&
                     (strncmp(message, "permission denied", 17) == 0 ||
                      strncmp(message, "must be owner", 13) == 0 ||
                      strncmp(message, "must be superuser", 17) == 0);
    if (!privilege) {
        char *copy = strdup(PQerrorMessage(pg));
        PQclear(r);
        tu_pg_exec(pg, "ROLLBACK");
        fail_msg("as %s: %s\n  failed, but not on a privilege (SQLSTATE %s): %s", PQuser(pg), sql,
                 state ? state : "none", copy);
    }
    PQclear(r);
    tu_pg_exec(pg, "ROLLBACK");
}

static long long scalar(PGconn *pg, const char *sql)
{
    PGresult *r = PQexec(pg, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        fail_msg("as %s: %s: %s", PQuser(pg), sql, PQerrorMessage(pg));
    }
    long long value = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return value;
}

/* The tables of schema public, by name. */
static PGresult *public_tables(void)
{
    PGresult *r = PQexec(it_db(), "SELECT table_name FROM information_schema.tables WHERE "
                                  "table_schema = 'public' AND table_type = 'BASE TABLE' "
                                  "ORDER BY 1");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_true(PQntuples(r) >= 10);
    return r;
}

/* Some of everything, so that the statements below have rows to refuse to touch. */
static struct {
    bool built;
    long long org, storage, transfer;
} world;

static void build_world(void)
{
    if (world.built) {
        return;
    }
    world.org = tu_new_org("roles", NULL, NULL);
    world.storage = tu_new_storage("roles", "{\"glass\":100}");
    it_create_route(ORG(world.org), STORAGE(world.storage), 5, false);
    it_response *t = it_post(tu_fmt("/v1/organizations/%lld/transfers", world.org),
                             "{\"waste\":{\"glass\":20}}");
    EXPECT_STATUS(t, 201);
    world.transfer = it_json_int(t->json, "id");
    it_response_free(t);
    it_response *u = it_post(tu_fmt("/v1/storages/%lld/unload", world.storage), "{\"glass\":5}");
    EXPECT_STATUS(u, 200);
    it_response_free(u);
    world.built = true;
}

/* The world built, and a session as the app role. */
static PGconn *app_world(void)
{
    build_world();
    return connect_as(it_app_database_url());
}

/* ---------------------------------------------------------------- the app role */

static void test_app_role_cannot_change_or_empty_the_ledger(void **state)
{
    (void)state;
    PGconn *app = app_world();
    assert_string_equal(PQuser(app), APP_ROLE);
    char *before = it_db_fingerprint();
    for (size_t i = 0; i < LEDGER_TABLES; i++) {
        const char *t = ledger_tables[i];
        /* The append-only trigger would refuse these too; the privilege check comes first,
         * and its message is the one required. */
        const char *c = ledger_columns[i];
        refused(app, tu_fmt("UPDATE %s SET %s = %s", t, c, c));
        refused(app, tu_fmt("UPDATE %s SET %s = %s WHERE false", t, c, c));
        refused(app, tu_fmt("DELETE FROM %s", t));
        refused(app, tu_fmt("DELETE FROM %s WHERE false", t));
        refused(app, tu_fmt("TRUNCATE %s", t));
        refused(app, tu_fmt("TRUNCATE %s CASCADE", t));
        /* And as the catalogue says it. */
        for (const char *const *p = (const char *const[]){"UPDATE", "DELETE", "TRUNCATE", NULL};
             *p != NULL; p++) {
            assert_int_equal(
                it_sql_int("SELECT has_table_privilege('" APP_ROLE "', '%s', '%s')::int", t, *p),
                0);
        }
    }
    refused(app, "UPDATE transfers SET actor = 'someone else' WHERE id = 1");
    refused(app, "DELETE FROM schema_migrations");
    refused(app, "INSERT INTO schema_migrations (version) VALUES (999)");
    ASSERT_UNCHANGED(before);
    PQfinish(app);
}

static void test_app_role_cannot_set_triggers_aside(void **state)
{
    (void)state;
    PGconn *app = app_world();
    for (size_t i = 0; i < LEDGER_TABLES; i++) {
        const char *t = ledger_tables[i];
        refused(app, tu_fmt("ALTER TABLE %s DISABLE TRIGGER %s_append_only", t, t));
        refused(app, tu_fmt("ALTER TABLE %s DISABLE TRIGGER ALL", t));
        refused(app, tu_fmt("ALTER TABLE %s DISABLE TRIGGER USER", t));
        refused(app, tu_fmt("DROP TRIGGER %s_append_only ON %s", t, t));
        refused(app, tu_fmt("CREATE TRIGGER sneaky BEFORE INSERT ON %s FOR EACH ROW EXECUTE "
                            "FUNCTION ledger_append_only()",
                            t));
        assert_int_equal(
            it_sql_int("SELECT has_table_privilege('" APP_ROLE "', '%s', 'TRIGGER')::int", t), 0);
    }
    /* Replica mode skips ordinary triggers: only a superuser may set it. */
    refused(app, "SET session_replication_role = replica");
    refused(app, "ALTER FUNCTION ledger_append_only() RENAME TO harmless");
    refused(app, "CREATE OR REPLACE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE "
                 "plpgsql AS $$ BEGIN RETURN NULL; END $$");
    assert_int_equal(it_sql_int("SELECT count(*) FROM pg_trigger WHERE tgname LIKE "
                                "'%%_append_only' AND tgenabled = 'O'"),
                     (long long)LEDGER_TABLES);
    PQfinish(app);
}

static void test_app_role_has_no_ddl(void **state)
{
    (void)state;
    PGconn *app = app_world();
    char *before = it_db_fingerprint();
    static const char *const statements[] = {
        "CREATE TABLE intruder (id int)",
        "CREATE TABLE public.intruder (id int)",
        "CREATE VIEW intruder AS SELECT 1",
        "CREATE SEQUENCE intruder",
        "CREATE FUNCTION intruder() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        "CREATE SCHEMA intruder",
        "CREATE INDEX intruder ON organizations (name)",
        "ALTER TABLE organizations ADD COLUMN intruder int",
        "ALTER TABLE transfers ALTER COLUMN actor DROP NOT NULL",
        "ALTER TABLE transfers DROP CONSTRAINT transfers_actor_length",
        "ALTER TABLE organizations RENAME TO intruders",
        "ALTER TABLE transfers OWNER TO " APP_ROLE,
        "DROP TABLE transfers",
        "DROP TABLE organizations",
        "DROP INDEX transfers_organization_idx",
        "ALTER TABLE api_keys DISABLE ROW LEVEL SECURITY",
        "COMMENT ON TABLE transfers IS 'mine now'",
        "GRANT UPDATE ON transfers TO " APP_ROLE,
    };
    for (size_t i = 0; i < sizeof statements / sizeof statements[0]; i++) {
        /* GRANT without the grant option is only a warning in PostgreSQL: check it by its
         * effect instead. */
        if (strncmp(statements[i], "GRANT", 5) == 0) {
            allowed(app, statements[i]);
            continue;
        }
        refused(app, statements[i]);
    }
    assert_int_equal(
        it_sql_int("SELECT has_table_privilege('" APP_ROLE "', 'transfers', 'UPDATE')::int"), 0);
    assert_int_equal(
        it_sql_int("SELECT has_schema_privilege('" APP_ROLE "', 'public', 'CREATE')::int"), 0);
    assert_int_equal(it_sql_int("SELECT has_database_privilege('" APP_ROLE "', current_database(), "
                                "'CREATE')::int"),
                     0);
    assert_int_equal(it_sql_int("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND "
                                "tableowner = '" APP_ROLE "'"),
                     0);
    ASSERT_UNCHANGED(before);
    PQfinish(app);
}

/* What `serve` needs: read everything, append to the ledger, keep the other tables. */
static void test_app_role_reads_and_appends_to_the_ledger(void **state)
{
    (void)state;
    PGconn *app = app_world();
    for (size_t i = 0; i < LEDGER_TABLES - 2; i++) {
        assert_true(scalar(app, tu_fmt("SELECT count(*) FROM %s", ledger_tables[i])) >= 1);
    }
    (void)scalar(app, "SELECT count(*) FROM receipts");         /* readable: fails if not */
    (void)scalar(app, "SELECT count(*) FROM transfer_commits"); /* readable: fails if not */
    tu_pg_exec(app, "BEGIN");
    long long transfers = scalar(app, "SELECT count(*) FROM transfers");
    long long transfer = scalar(
        app, tu_fmt("INSERT INTO transfers (organization_id, trigger, received, pending, actor) "
                    "VALUES (%lld, 'request', '{\"glass\":1}', '{}', 'test_roles') RETURNING id",
                    world.org));
    tu_pg_exec(app, tu_fmt("INSERT INTO shipments (transfer_id, position, storage_id, waste_type, "
                           "amount, distance_m) VALUES (%lld, 0, %lld, 'glass', 1, 5)",
                           transfer, world.storage));
    tu_pg_exec(app, tu_fmt("INSERT INTO unloads (storage_id, waste_type, amount, actor) VALUES "
                           "(%lld, 'glass', 1, 'test_roles')",
                           world.storage));
    assert_int_equal(scalar(app, "SELECT count(*) FROM transfers"), transfers + 1);
    tu_pg_exec(app, "ROLLBACK");
    for (size_t i = 0; i < LEDGER_TABLES; i++) {
        for (const char *const *p = (const char *const[]){"SELECT", "INSERT", NULL}; *p != NULL;
             p++) {
            assert_int_equal(it_sql_int("SELECT has_table_privilege('" APP_ROLE
                                        "', '%s', '%s')::int",
                                        ledger_tables[i], *p),
                             1);
        }
    }
    /* The other tables it keeps up to date. */
    allowed(app, tu_fmt("UPDATE organizations SET name = name WHERE id = %lld", world.org));
    allowed(app, "UPDATE storage_waste SET stock = stock WHERE false");
    allowed(app, "DELETE FROM idempotency_keys WHERE false");
    allowed(app, "UPDATE api_keys SET revoked_at = revoked_at WHERE false");
    allowed(app, "SELECT version FROM schema_migrations");
    /* The deployment's key: read at start-up, never replaced by the service. */
    assert_int_equal(scalar(app, "SELECT octet_length(key) FROM deployment_key"), 32);
    refused(app, "UPDATE deployment_key SET key = key");
    refused(app, "DELETE FROM deployment_key");
    refused(app, "INSERT INTO deployment_key (singleton, key) VALUES (false, '\\x00')");
    PQfinish(app);
}

/* Runs sql in a transaction that is rolled back: it must fail with SQLSTATE 42501, from a
 * privilege check or from one of the schema's guard triggers (whose message says why). */
static void forbidden(PGconn *pg, const char *sql, const char *because)
{
    tu_pg_exec(pg, "BEGIN");
    PGresult *r = PQexec(pg, sql);
    ExecStatusType status = PQresultStatus(r);
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    const char *message = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    bool ok = status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && state != NULL &&
              strcmp(state, "42501") == 0 && message != NULL && strstr(message, because) != NULL;
    char *copy =
        strdup(status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK ? "it succeeded"
                                                                       : PQerrorMessage(pg));
    PQclear(r);
    tu_pg_exec(pg, "ROLLBACK");
    if (!ok) {
        fail_msg("as %s: %s\n  must fail (42501, \"%s\"); %s", PQuser(pg), sql, because, copy);
    }
    free(copy);
}

static long long key_id_of(const char *token)
{
    long long id = 0;
    assert_int_equal(sscanf(token, "wf_%lld_", &id), 1);
    return id;
}

/* A key's role, scope, secret and creation time are fixed; revocation is one way and dated
 * now; keys are never deleted by the app role. */
static void test_app_role_cannot_rewrite_keys(void **state)
{
    (void)state;
    build_world();
    char *org_token = it_new_key("organization", world.org, 0);
    char *revoked_token = it_new_key("storage", 0, world.storage);
    long long org_key = key_id_of(org_token), revoked_key = key_id_of(revoked_token);
    it_response *revoked = it_delete("/v1/api-keys/%lld", revoked_key);
    EXPECT_STATUS(revoked, 204);
    it_response_free(revoked);
    long long other_org = tu_new_org("roles-other", NULL, NULL);
    PGconn *app = connect_as(it_app_database_url());
    char *before = it_db_fingerprint();

    forbidden(app, tu_fmt("UPDATE api_keys SET revoked_at = NULL WHERE id = %lld", revoked_key),
              "stays revoked");
    forbidden(app,
              tu_fmt("UPDATE api_keys SET revoked_at = revoked_at + interval '1 day' WHERE id = "
                     "%lld",
                     revoked_key),
              "stays revoked");
    forbidden(app,
              tu_fmt("UPDATE api_keys SET role = 'admin', organization_id = NULL WHERE id = %lld",
                     org_key),
              "never change");
    forbidden(
        app,
        tu_fmt("UPDATE api_keys SET organization_id = %lld WHERE id = %lld", other_org, org_key),
        "never change");
    forbidden(app,
              tu_fmt("UPDATE api_keys SET secret_hash = decode(repeat('ab', 32), 'hex') WHERE id "
                     "= %lld",
                     org_key),
              "never change");
    forbidden(app,
              tu_fmt("UPDATE api_keys SET created_at = created_at - interval '1 year' WHERE id = "
                     "%lld",
                     org_key),
              "never change");
    forbidden(app,
              tu_fmt("UPDATE api_keys SET revoked_at = now() - interval '1 day' WHERE id = %lld",
                     org_key),
              "revoked now");
    forbidden(app,
              "INSERT INTO api_keys (secret_hash, role, created_at) VALUES "
              "(decode(repeat('cd', 32), 'hex'), 'admin', now() - interval '1 year')",
              "created now");
    refused(app, tu_fmt("DELETE FROM api_keys WHERE id = %lld", revoked_key));
    refused(app, "DELETE FROM api_keys");
    assert_int_equal(
        it_sql_int("SELECT has_table_privilege('" APP_ROLE "', 'api_keys', 'DELETE')::int"), 0);
    /* What the service itself does: create, rename, revoke (now, once). */
    allowed(app, "INSERT INTO api_keys (secret_hash, role) VALUES "
                 "(decode(repeat('ef', 32), 'hex'), 'monitor')");
    allowed(app, tu_fmt("UPDATE api_keys SET name = 'renamed' WHERE id = %lld", org_key));
    allowed(app, tu_fmt("UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id "
                        "IN (%lld, %lld)",
                        org_key, revoked_key));
    ASSERT_UNCHANGED(before);
    PQfinish(app);
    free(org_token);
    free(revoked_token);
}

/* DELETE /v1/api-keys/{id} revokes (the row stays, revoked once); an expiring key is made;
 * deleting an organization takes its keys with it (the cascade runs as the owner). */
static void test_service_key_paths_still_work(void **state)
{
    (void)state;
    build_world();
    long long key = POST_CREATED("/v1/api-keys", "{\"role\":\"monitor\",\"name\":\"expiring\","
                                                 "\"expires_at\":\"2999-01-01T00:00:00Z\"}");
    it_response *revoked = it_delete("/v1/api-keys/%lld", key);
    EXPECT_STATUS(revoked, 204);
    it_response_free(revoked);
    long long first = it_sql_int(
        "SELECT (extract(epoch FROM revoked_at) * 1000000)::bigint FROM api_keys WHERE id = %lld",
        key);
    revoked = it_delete("/v1/api-keys/%lld", key);
    EXPECT_STATUS(revoked, 204);
    it_response_free(revoked);
    assert_int_equal(it_sql_int("SELECT (extract(epoch FROM revoked_at) * 1000000)::bigint FROM "
                                "api_keys WHERE id = %lld",
                                key),
                     first);

    long long org = tu_new_org("roles-doomed", NULL, NULL);
    char *token = it_new_key("organization", org, 0);
    long long org_key = key_id_of(token);
    assert_int_equal(it_sql_int("SELECT count(*) FROM api_keys WHERE id = %lld", org_key), 1);
    it_response *deleted = it_delete("/v1/organizations/%lld", org);
    EXPECT_STATUS(deleted, 204);
    it_response_free(deleted);
    assert_int_equal(it_sql_int("SELECT count(*) FROM api_keys WHERE id = %lld", org_key), 0);
    free(token);
}

/* The ledger is dated by the clock: no role writes a transfer, unload or receipt dated
 * otherwise. */
static void test_app_role_dates_the_ledger_now(void **state)
{
    (void)state;
    PGconn *app = app_world();
    char *before = it_db_fingerprint();
    forbidden(app,
              tu_fmt("INSERT INTO unloads (storage_id, waste_type, amount, actor, created_at) "
                     "VALUES (%lld, 'glass', 1, 'backdater', now() - interval '30 days')",
                     world.storage),
              "dated now()");
    forbidden(app,
              tu_fmt("INSERT INTO transfers (organization_id, trigger, received, pending, actor, "
                     "created_at) VALUES (%lld, 'request', '{}', '{}', 'backdater', "
                     "now() - interval '1 hour')",
                     world.org),
              "dated now()");
    forbidden(app,
              tu_fmt("INSERT INTO transfers (organization_id, trigger, received, pending, actor, "
                     "created_at) VALUES (%lld, 'request', '{}', '{}', 'forecaster', "
                     "now() + interval '1 hour')",
                     world.org),
              "dated now()");
    /* A receipt too (checked before its movement is looked up: no movement is needed). */
    forbidden(app,
              "INSERT INTO receipts (shipment_id, received_kg, rejected_kg, received_by, "
              "received_at) VALUES (0, 1, 0, 'backdater', now() - interval '1 day')",
              "dated now()");
    allowed(app, tu_fmt("INSERT INTO unloads (storage_id, waste_type, amount, actor, created_at) "
                        "VALUES (%lld, 'glass', 1, 'on time', now())",
                        world.storage));
    ASSERT_UNCHANGED(before);
    PQfinish(app);
}

/* ---------------------------------------------------------------- the auditor */

static void test_auditor_reads_every_table_and_writes_none(void **state)
{
    (void)state;
    build_world();
    char *conninfo = it_database_url_as(AUDITOR_ROLE);
    PGconn *auditor = connect_as(conninfo);
    assert_string_equal(PQuser(auditor), AUDITOR_ROLE);
    char *before = it_db_fingerprint();
    PGresult *tables = public_tables();
    int checked = 0;
    for (int row = 0; row < PQntuples(tables); row++) {
        const char *t = PQgetvalue(tables, row, 0);
        /* A column an UPDATE may name (not an identity one), for one that would change
         * nothing. */
        PGresult *column = PQexec(it_db(), tu_fmt("SELECT column_name FROM "
                                                  "information_schema.columns WHERE table_schema = "
                                                  "'public' AND table_name = '%s' AND is_identity "
                                                  "= 'NO' AND is_generated = 'NEVER' ORDER BY "
                                                  "ordinal_position LIMIT 1",
                                                  t));
        assert_int_equal(PQntuples(column), 1);
        char *first = strdup(PQgetvalue(column, 0, 0));
        PQclear(column);
        if (strcmp(t, "api_keys") == 0) {
            allowed(auditor, "SELECT id, role, organization_id, storage_id, name, created_at, "
                             "expires_at, revoked_at FROM api_keys");
            refused(auditor, "SELECT * FROM api_keys");
            refused(auditor, "SELECT secret_hash FROM api_keys");
            refused(auditor, "SELECT count(secret_hash) FROM api_keys");
        } else if (strcmp(t, "deployment_key") == 0) {
            /* The key the service signs cursors and event ids with: a reader holding it
             * could forge them. */
            refused(auditor, "SELECT * FROM deployment_key");
            refused(auditor, "SELECT count(key) FROM deployment_key");
        } else {
            allowed(auditor, tu_fmt("SELECT * FROM %s", t));
        }
        refused(auditor, tu_fmt("INSERT INTO %s DEFAULT VALUES", t));
        refused(auditor, tu_fmt("UPDATE %s SET %s = %s WHERE false", t, first, first));
        refused(auditor, tu_fmt("DELETE FROM %s WHERE false", t));
        refused(auditor, tu_fmt("TRUNCATE %s", t));
        refused(auditor, tu_fmt("ALTER TABLE %s ADD COLUMN intruder int", t));
        assert_int_equal(
            it_sql_int("SELECT (has_table_privilege('" AUDITOR_ROLE "', '%s', 'INSERT') OR "
                       "has_table_privilege('" AUDITOR_ROLE "', '%s', 'UPDATE') OR "
                       "has_table_privilege('" AUDITOR_ROLE "', '%s', 'DELETE') OR "
                       "has_table_privilege('" AUDITOR_ROLE "', '%s', 'TRUNCATE'))::int",
                       t, t, t, t),
            0);
        free(first);
        checked++;
    }
    PQclear(tables);
    refused(auditor, "CREATE TABLE intruder (id int)");
    refused(auditor, "SET session_replication_role = replica");
    /* Every table was looked at, the ledger among them. */
    assert_true(checked >= 10);
    assert_true(scalar(auditor, "SELECT count(*) FROM transfers") >= 1);
    ASSERT_UNCHANGED(before);
    PQfinish(auditor);
    free(conninfo);
}

/* psql -f sql/audit.sql as the auditor: exit 0 and not a byte of output, stderr included
 * (a permission error would print there). */
static void test_audit_sql_as_the_auditor_prints_nothing(void **state)
{
    (void)state;
    build_world();
    const char *source = getenv("WASTEFLOW_SOURCE_DIR");
    assert_non_null(source);
    char *script = tu_format("%s/sql/audit.sql", source);
    char *conninfo = it_database_url_as(AUDITOR_ROLE);
    char output_path[] = "/tmp/wf-it-audit-XXXXXX";
    int fd = mkstemp(output_path);
    assert_true(fd >= 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        execlp("psql", "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", conninfo,
               "-f", script, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    off_t size = lseek(fd, 0, SEEK_END);
    char *output = calloc(1, (size_t)size + 1);
    assert_int_equal(pread(fd, output, (size_t)size, 0), size);
    close(fd);
    unlink(output_path);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || size != 0) {
        fail_msg("psql -f sql/audit.sql as " AUDITOR_ROLE " exited %d, printed:\n%s",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1, output);
    }
    free(output);
    free(conninfo);
    free(script);
}

/* The roles are login roles, and neither is more than it should be. */
static void test_roles_are_plain_login_roles(void **state)
{
    (void)state;
    build_world();
    for (const char *const *role = (const char *const[]){APP_ROLE, AUDITOR_ROLE, NULL};
         *role != NULL; role++) {
        assert_int_equal(it_sql_int("SELECT count(*) FROM pg_roles WHERE rolname = '%s' AND "
                                    "rolcanlogin AND NOT rolsuper AND NOT rolcreatedb AND NOT "
                                    "rolcreaterole AND NOT rolbypassrls AND NOT rolreplication",
                                    *role),
                         1);
        /* Nor does it own anything in this database. */
        assert_int_equal(it_sql_int("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON "
                                    "n.oid = c.relnamespace WHERE n.nspname = 'public' AND "
                                    "pg_get_userbyid(c.relowner) = '%s'",
                                    *role),
                         0);
    }
    /* The server under test connects as the app role. */
    assert_true(it_sql_int("SELECT count(*) FROM pg_stat_activity WHERE usename = '" APP_ROLE
                           "' AND datname = current_database()") >= 1);
}

RUNNER_MAIN(tu_setup, tu_teardown,
            {
                cmocka_unit_test(test_app_role_cannot_change_or_empty_the_ledger),
                cmocka_unit_test(test_app_role_cannot_set_triggers_aside),
                cmocka_unit_test(test_app_role_has_no_ddl),
                cmocka_unit_test(test_app_role_reads_and_appends_to_the_ledger),
                cmocka_unit_test(test_app_role_cannot_rewrite_keys),
                cmocka_unit_test(test_service_key_paths_still_work),
                cmocka_unit_test(test_app_role_dates_the_ledger_now),
                cmocka_unit_test(test_auditor_reads_every_table_and_writes_none),
                cmocka_unit_test(test_audit_sql_as_the_auditor_prints_nothing),
                cmocka_unit_test(test_roles_are_plain_login_roles),
                TU_AUDIT_TEST,
            })
