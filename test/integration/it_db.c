/* The test database: created empty for each it_start (DATABASE_URL names a role allowed to
 * CREATE DATABASE) and dropped by it_stop, and the tests' direct SQL access to it: queries,
 * the fingerprint that proves a rejected request changed nothing, and sql/audit.sql. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "it_internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

extern char **environ;

static struct {
    char *admin_conninfo; /* DATABASE_URL: used only to create and drop the test database */
    char name[64];        /* wf_it_<pid>_<n>; empty when there is none */
    char *conninfo;       /* of the test database, as the role of DATABASE_URL (its owner) */
    char *app_conninfo;   /* of the test database, as the app role `serve` runs as */
    PGconn *connection;   /* it_db's, opened on first use */
} test_db;

static void ignore_notice(void *context, const char *message)
{
    (void)context;
    (void)message;
}

static PGconn *connect_or_fail(const char *conninfo, const char *what)
{
    PGconn *connection = PQconnectdb(conninfo);
    if (PQstatus(connection) != CONNECTION_OK) {
        char *message = harness_xstrdup(PQerrorMessage(connection));
        PQfinish(connection);
        fail_msg("harness: cannot connect to the %s database: %s", what, message);
    }
    PQsetNoticeProcessor(connection, ignore_notice, NULL);
    return connection;
}

/* Key=value conninfo equal to `conninfo` (URI or key=value) with dbname replaced, and the
 * user too when user is not NULL. */
static char *conninfo_with(const char *conninfo, const char *dbname, const char *user)
{
    char *error = NULL;
    PQconninfoOption *options = PQconninfoParse(conninfo, &error);
    if (options == NULL) {
        char *message = harness_xstrdup(error ? error : "out of memory");
        PQfreemem(error);
        fail_msg("harness: cannot parse DATABASE_URL: %s", message);
    }
    char *out = NULL;
    size_t length = 0, capacity = 0;
    for (PQconninfoOption *option = options; option->keyword != NULL; option++) {
        const char *value = option->val;
        if (strcmp(option->keyword, "dbname") == 0) {
            value = dbname;
        } else if (user != NULL && strcmp(option->keyword, "user") == 0) {
            value = user;
        }
        if (value == NULL) {
            continue;
        }
        if (length > 0) {
            harness_append_text(&out, &length, &capacity, " ", 1);
        }
        harness_append_text(&out, &length, &capacity, option->keyword, strlen(option->keyword));
        harness_append_text(&out, &length, &capacity, "='", 2);
        for (const char *c = value; *c != '\0'; c++) {
            if (*c == '\'' || *c == '\\') {
                harness_append_text(&out, &length, &capacity, "\\", 1);
            }
            harness_append_text(&out, &length, &capacity, c, 1);
        }
        harness_append_text(&out, &length, &capacity, "'", 1);
    }
    PQconninfoFree(options);
    return out ? out : harness_xstrdup("");
}

static PGresult *exec_admin(const char *sql, ExecStatusType expected)
{
    PGconn *admin = connect_or_fail(test_db.admin_conninfo, "admin (DATABASE_URL)");
    PGresult *result = PQexec(admin, sql);
    if (PQresultStatus(result) != expected) {
        char *message = harness_xstrdup(PQerrorMessage(admin));
        PQclear(result);
        PQfinish(admin);
        fail_msg("harness: %s: %s", sql, message);
    }
    PQfinish(admin);
    return result;
}

void harness_db_create(unsigned number)
{
    free(test_db.admin_conninfo);
    test_db.admin_conninfo = harness_xstrdup(harness_env_or_fail("DATABASE_URL"));
    char name[sizeof test_db.name];
    snprintf(name, sizeof name, "wf_it_%ld_%u", (long)getpid(), number);
    /* Left over from a crashed run with the same pid: start clean. */
    char *drop = tu_format("DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    PQclear(exec_admin(drop, PGRES_COMMAND_OK));
    free(drop);
    char *create = tu_format("CREATE DATABASE %s", name);
    PQclear(exec_admin(create, PGRES_COMMAND_OK));
    free(create);
    /* From here on harness_db_drop drops it. */
    memcpy(test_db.name, name, sizeof test_db.name);
    free(test_db.conninfo);
    test_db.conninfo = conninfo_with(test_db.admin_conninfo, test_db.name, NULL);
    free(test_db.app_conninfo);
    test_db.app_conninfo = conninfo_with(test_db.admin_conninfo, test_db.name, "wasteflow_app");
    if (test_db.connection != NULL) {
        PQfinish(test_db.connection);
        test_db.connection = NULL;
    }
}

bool harness_db_drop(void)
{
    if (test_db.name[0] == '\0') {
        return true;
    }
    if (test_db.connection != NULL) {
        PQfinish(test_db.connection);
        test_db.connection = NULL;
    }
    bool ok = true;
    PGconn *admin = PQconnectdb(test_db.admin_conninfo);
    if (PQstatus(admin) != CONNECTION_OK) {
        fprintf(stderr, "harness: cannot connect to drop %s: %s", test_db.name,
                PQerrorMessage(admin));
        ok = false;
    } else {
        char *sql = tu_format("DROP DATABASE IF EXISTS %s WITH (FORCE)", test_db.name);
        PGresult *result = PQexec(admin, sql);
        if (PQresultStatus(result) != PGRES_COMMAND_OK) {
            fprintf(stderr, "harness: %s: %s", sql, PQerrorMessage(admin));
            ok = false;
        }
        PQclear(result);
        free(sql);
    }
    PQfinish(admin);
    test_db.name[0] = '\0';
    free(test_db.conninfo);
    test_db.conninfo = NULL;
    free(test_db.app_conninfo);
    test_db.app_conninfo = NULL;
    return ok;
}

/* ---------------------------------------------------------------- SQL */

PGconn *it_db(void)
{
    if (test_db.connection == NULL) {
        if (test_db.conninfo == NULL) {
            fail_msg("harness: no test database (it_start not called)");
        }
        test_db.connection = connect_or_fail(test_db.conninfo, "test");
    }
    return test_db.connection;
}

static PGresult *query_or_fail(const char *sql)
{
    PGconn *db = it_db();
    PGresult *result = PQexec(db, sql);
    ExecStatusType status = PQresultStatus(result);
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
        char *message = harness_xstrdup(PQerrorMessage(db));
        PQclear(result);
        fail_msg("harness: SQL failed: %s\n  %s", sql, message);
    }
    return result;
}

long long it_sql_int(const char *sql_fmt, ...)
{
    va_list args;
    va_start(args, sql_fmt);
    char *sql = tu_vformat(sql_fmt, args);
    va_end(args);
    PGresult *result = query_or_fail(sql);
    if (PQresultStatus(result) != PGRES_TUPLES_OK || PQntuples(result) != 1 ||
        PQnfields(result) != 1 || PQgetisnull(result, 0, 0)) {
        int rows = PQntuples(result);
        PQclear(result);
        fail_msg("harness: expected one non-null value from: %s (got %d rows)", sql, rows);
    }
    const char *text = PQgetvalue(result, 0, 0);
    char *end = NULL;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0') {
        char *copy = harness_xstrdup(text);
        PQclear(result);
        fail_msg("harness: not an integer: '%s' from: %s", copy, sql);
    }
    PQclear(result);
    free(sql);
    return value;
}

void it_sql_exec(const char *sql_fmt, ...)
{
    va_list args;
    va_start(args, sql_fmt);
    char *sql = tu_vformat(sql_fmt, args);
    va_end(args);
    PQclear(query_or_fail(sql));
    free(sql);
}

char *it_db_fingerprint(void)
{
    /* room_events is a queue the dispatcher empties on its own time; dispatcher_lease is
     * renewed by the dispatcher at every poll, alert_lease by the alert evaluator, which
     * also fires rules on its own time (alert_state, alert_firings and their event_log rows,
     * kind 'a': a rule that a test made may fire a poll or, under valgrind, seconds after
     * the change that crossed it); the webhook sender renews its lease and works through its
     * outbox, recording attempts, on its own time too; and the balance's checkpoints are
     * written as days close. */
    PGconn *db = it_db();
    PGresult *tables = query_or_fail(
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        " AND table_name NOT IN ('schema_migrations', 'idempotency_keys', 'room_events',"
        " 'dispatcher_lease', 'alert_lease', 'webhook_sender_lease', 'webhook_outbox',"
        " 'webhook_deliveries', 'balance_days', 'alert_state', 'alert_firings')"
        " ORDER BY table_name COLLATE \"C\"");
    char *out = NULL;
    size_t length = 0, capacity = 0;
    harness_append_text(&out, &length, &capacity, "", 0);
    for (int row = 0; row < PQntuples(tables); row++) {
        const char *table = PQgetvalue(tables, row, 0);
        char *quoted = PQescapeIdentifier(db, table, strlen(table));
        if (quoted == NULL) {
            fail_msg("harness: cannot quote table name %s", table);
        }
        char *sql =
            tu_format("SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text "
                      "COLLATE \"C\"), '')) FROM public.%s t%s",
                      quoted, strcmp(table, "event_log") == 0 ? " WHERE t.kind <> 'a'" : "");
        PQfreemem(quoted);
        PGresult *digest = query_or_fail(sql);
        free(sql);
        char *entry = tu_format("%s%s=%s", row ? " " : "", table, PQgetvalue(digest, 0, 0));
        harness_append_text(&out, &length, &capacity, entry, strlen(entry));
        free(entry);
        PQclear(digest);
    }
    PQclear(tables);
    return out;
}

char *it_run_audit(void)
{
    if (test_db.conninfo == NULL) {
        fail_msg("harness: no test database (it_start not called)");
    }
    char *script = NULL;
    const char *source_dir = getenv("WASTEFLOW_SOURCE_DIR");
    if (source_dir != NULL && source_dir[0] != '\0') {
        script = tu_format("%s/sql/audit.sql", source_dir);
    } else {
        /* __FILE__ is <source>/test/integration/it_db.c when built by CMake. */
        char *self = harness_xstrdup(__FILE__);
        char *last_slash = strrchr(self, '/');
        if (last_slash != NULL) {
            *last_slash = '\0';
        }
        script = tu_format("%s/../../sql/audit.sql", last_slash ? self : ".");
        free(self);
    }
    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
        fail_msg("harness: pipe: %s", strerror(errno));
    }
    char *argv[] = {"psql",           "-X", "-q",   "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d",
                    test_db.conninfo, "-f", script, NULL};
    pid_t pid = harness_spawn(argv, environ, pipe_fds[1], -1);
    close(pipe_fds[1]);
    char *output = NULL;
    size_t length = 0, capacity = 0;
    harness_append_text(&output, &length, &capacity, "", 0);
    char chunk[4096];
    ssize_t got;
    while ((got = read(pipe_fds[0], chunk, sizeof chunk)) != 0) {
        if (got < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        harness_append_text(&output, &length, &capacity, chunk, (size_t)got);
    }
    close(pipe_fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (harness_exit_code_of(status) != 0) {
        fail_msg("harness: psql -f %s exited with %d; output:\n%s", script,
                 harness_exit_code_of(status), output);
    }
    free(script);
    size_t start = 0;
    while (start < length && isspace((unsigned char)output[start])) {
        start++;
    }
    while (length > start && isspace((unsigned char)output[length - 1])) {
        length--;
    }
    memmove(output, output + start, length - start);
    output[length - start] = '\0';
    return output;
}

const char *it_database_url(void)
{
    return test_db.conninfo;
}

const char *it_app_database_url(void)
{
    return test_db.app_conninfo;
}

char *it_database_url_as(const char *user)
{
    return conninfo_with(test_db.admin_conninfo, test_db.name, user);
}

bool it_cluster_find(it_cluster *cluster, const char *fallback_log, char *why, size_t why_size)
{
    PGresult *result = PQexec(it_db(), "SHOW data_directory");
    if (PQresultStatus(result) != PGRES_TUPLES_OK) {
        snprintf(why, why_size, "SHOW data_directory: %s", PQerrorMessage(it_db()));
        PQclear(result);
        return false;
    }
    snprintf(cluster->data_dir, sizeof cluster->data_dir, "%s", PQgetvalue(result, 0, 0));
    PQclear(result);
    struct stat info;
    if (stat(cluster->data_dir, &info) != 0) {
        snprintf(why, why_size, "data directory %s is not on this machine", cluster->data_dir);
        return false;
    }
    const char *bin = getenv("WASTEFLOW_PG_BIN");
    snprintf(cluster->pg_ctl, sizeof cluster->pg_ctl, "%s/pg_ctl",
             bin != NULL && bin[0] != '\0' ? bin : "/usr/lib/postgresql/15/bin");
    if (access(cluster->pg_ctl, X_OK) != 0) {
        snprintf(why, why_size, "%s not found", cluster->pg_ctl);
        return false;
    }
    cluster->runuser[0] = '\0';
    if (geteuid() == 0 && info.st_uid != 0) {
        struct passwd *owner = getpwuid(info.st_uid);
        const char *candidates[] = {"/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"};
        for (size_t i = 0; i < 3 && cluster->runuser[0] == '\0'; i++) {
            if (access(candidates[i], X_OK) == 0) {
                snprintf(cluster->runuser, sizeof cluster->runuser, "%s", candidates[i]);
            }
        }
        if (owner == NULL || cluster->runuser[0] == '\0') {
            snprintf(why, why_size, "cannot run pg_ctl as the owner of %s", cluster->data_dir);
            return false;
        }
        snprintf(cluster->owner, sizeof cluster->owner, "%s", owner->pw_name);
    } else if (geteuid() != info.st_uid) {
        snprintf(why, why_size, "%s belongs to another user", cluster->data_dir);
        return false;
    }
    /* deploy/pg-local.sh keeps its log next to data/; else a log of our own. */
    char copy[512];
    snprintf(copy, sizeof copy, "%s", cluster->data_dir);
    snprintf(cluster->log_path, sizeof cluster->log_path, "%s/postgres.log", dirname(copy));
    if (access(cluster->log_path, F_OK) != 0) {
        snprintf(cluster->log_path, sizeof cluster->log_path, "%s", fallback_log);
    }
    return true;
}
