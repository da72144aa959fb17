/* Nothing another database role can do reaches the service. The read-only auditor role
 * (psql) tries what any role may do — advisory locks, ACCESS SHARE table locks, NOTIFY —
 * and the service answers, dispatches and delivers events as if it were not there:
 *   - it can take none of the locks the service serializes on (row locks on tables only the
 *     app role writes), nor write the dispatcher's lease;
 *   - holding every advisory lock the service once used, and ACCESS SHARE on every table,
 *     hand-overs, idempotent hand-overs, unloads and route changes still answer at once;
 *   - holding the dispatcher's old advisory lock from before the service starts, waste that
 *     becomes placeable is still dispatched within a second;
 *   - a leader that stopped renewing its lease (crashed) is replaced once it expires, and
 *     not before;
 *   - forged notifications on the events channel make no event and no `resync` on an open
 *     stream; a real change still arrives, and a forged repeat of it is not sent again;
 *   - an unload whose transaction started first and commits last is held back, never
 *     skipped; a transaction id the auditor holds open stalls no event;
 *   - sql/audit.sql flags ledger rows dated against id order or in the future, and keys in
 *     impossible states (rows written by the owner with the guards set aside). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "harness.h"
#include "runner.h"
#include "testutil.h"

#define AUDITOR_ROLE "wasteflow_auditor"
/* What "at once" means here: well under the sessions' 3 s lock_timeout, after which a
 * request stalled by a lock is answered 503. */
#define PROMPT_MS 1500

/* ------------------------------------------------------------------ the auditor's session */

static PGconn *auditor_session(void)
{
    char *conninfo = it_database_url_as(AUDITOR_ROLE);
    PGconn *pg = PQconnectdb(conninfo);
    free(conninfo);
    if (PQstatus(pg) != CONNECTION_OK) {
        fail_msg("cannot connect as the auditor: %s", PQerrorMessage(pg));
    }
    assert_string_equal(PQuser(pg), AUDITOR_ROLE);
    return pg;
}

/* sql, in a transaction rolled back afterwards, must fail with SQLSTATE 42501. */
static void refused(PGconn *pg, const char *sql)
{
    tu_pg_exec(pg, "BEGIN");
    PGresult *r = PQexec(pg, sql);
    ExecStatusType status = PQresultStatus(r);
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    char *copy = strdup(PQresultErrorMessage(r));
    bool denied = status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && state != NULL &&
                  strcmp(state, "42501") == 0;
    PQclear(r);
    tu_pg_exec(pg, "ROLLBACK");
    if (!denied) {
        fail_msg("as %s: %s\n  must be refused (42501), got: %s", PQuser(pg), sql,
                 copy[0] ? copy : "success");
    }
    free(copy);
}

/* The admin key's actor ("key:<id>"), which idempotency keys are scoped to. */
static const char *admin_actor(void)
{
    long long id = 0;
    assert_int_equal(sscanf(it_admin_key(), "wf_%lld_", &id), 1);
    return tu_fmt("key:%lld", id);
}

/* An organization with one route of distance 5 to a new storage of glass capacity. */
static void line_world(long long *org, long long *storage, long long *route, long long capacity)
{
    *org = tu_new_org("outsider-org", NULL, NULL);
    *storage = tu_new_storage("outsider-storage", tu_fmt("{\"glass\":%lld}", capacity));
    *route = it_create_route(ORG(*org), STORAGE(*storage), 5, false);
}

static long long pending_kg(long long org)
{
    return it_sql_int("SELECT coalesce(sum(pending), 0) FROM organization_waste WHERE "
                      "organization_id = %lld",
                      org);
}

/* ------------------------------------------------------------------ locks */

static void test_auditor_can_take_no_lock_of_the_service(void **state)
{
    (void)state;
    PGconn *auditor = auditor_session();
    refused(auditor, "SELECT 1 FROM service_locks FOR KEY SHARE");
    refused(auditor, "SELECT 1 FROM service_locks FOR UPDATE");
    refused(auditor, "LOCK TABLE service_locks IN ROW SHARE MODE");
    refused(auditor, "LOCK TABLE service_locks IN EXCLUSIVE MODE");
    refused(auditor, "SELECT 1 FROM dispatcher_lease FOR KEY SHARE");
    refused(auditor, "UPDATE dispatcher_lease SET expires_at = 'infinity'");
    refused(auditor, "LOCK TABLE dispatcher_lease IN ACCESS EXCLUSIVE MODE");
    refused(auditor, "INSERT INTO idempotency_claims VALUES ('key:1', 'k')");
    refused(auditor, "SELECT 1 FROM idempotency_claims FOR SHARE");
    refused(auditor, "INSERT INTO event_log (kind, ids) VALUES ('s', '{1}')");
    PQfinish(auditor);
}

/* The slowest of the requests expect_prompt sent. */
static long long slowest_ms;

/* A request answered with status, within PROMPT_MS. */
static void expect_prompt(const char *method, const char *path, const char *body,
                          const char *const *headers, int status)
{
    long long started = tu_now_ms();
    it_response *response = it_request(method, path, body, headers);
    long long took = tu_now_ms() - started;
    slowest_ms = took > slowest_ms ? took : slowest_ms;
    EXPECT_STATUS(response, status);
    it_response_free(response);
    if (took > tu_scaled_ms(PROMPT_MS)) {
        fail_msg("%s %s took %lld ms while the auditor held its locks", method, path, took);
    }
}

static void test_auditor_locks_stall_no_request(void **state)
{
    (void)state;
    long long org, storage, route;
    line_world(&org, &storage, &route, 1000);
    long long other = tu_new_storage("outsider-other", "{\"glass\":10}");
    const char *idempotency_key = "outsider-held-key";

    /* Every advisory lock the service ever took on a request's path, and ACCESS SHARE on
     * every table (all a read-only role may lock), held while the requests run. */
    PGconn *auditor = auditor_session();
    tu_pg_exec(auditor, "SELECT pg_advisory_lock(hashtext('wasteflow.transfer_commits')), "
                        "pg_advisory_lock(hashtext('wasteflow.graph')), "
                        "pg_try_advisory_lock(hashtext('wasteflow.dispatcher'))");
    tu_pg_exec(auditor, tu_fmt("SELECT pg_advisory_lock(hashtextextended('idempotency:' || '%s' || "
                               "chr(10) || '%s', 0))",
                               admin_actor(), idempotency_key));
    tu_pg_exec(auditor, "BEGIN");
    PGresult *tables = PQexec(it_db(), "SELECT string_agg(quote_ident(relname), ', ') FROM "
                                       "pg_class WHERE relnamespace = 'public'::regnamespace "
                                       "AND relkind = 'r' AND has_table_privilege('" AUDITOR_ROLE
                                       "', oid, 'SELECT')");
    assert_int_equal(PQresultStatus(tables), PGRES_TUPLES_OK);
    tu_pg_exec(auditor, tu_fmt("LOCK TABLE %s IN ACCESS SHARE MODE", PQgetvalue(tables, 0, 0)));
    PQclear(tables);

    const char *transfers = tu_fmt("/v1/organizations/%lld/transfers", org);
    expect_prompt("POST", transfers, "{\"waste\":{\"glass\":3}}", NULL, 201);
    const char *keyed[] = {tu_fmt("Idempotency-Key: %s", idempotency_key), NULL};
    expect_prompt("POST", transfers, "{\"waste\":{\"glass\":4}}", keyed, 201);
    expect_prompt("POST", transfers, "{\"waste\":{\"glass\":4}}", keyed, 201); /* a replay */
    expect_prompt("POST", tu_fmt("/v1/storages/%lld/unload", storage), "{\"glass\":2}", NULL, 200);
    expect_prompt("PATCH", tu_fmt("/v1/routes/%lld", route), "{\"distance_m\":7}", NULL, 200);
    expect_prompt("POST", "/v1/routes",
                  tu_fmt("{\"from\":%s,\"to\":%s,\"distance_m\":9}", ORG(org), STORAGE(other)),
                  NULL, 201);
    printf("outsiders: slowest request %lld ms while the auditor held every advisory lock the "
           "service used and ACCESS SHARE on every table\n",
           slowest_ms);
    tu_pg_exec(auditor, "ROLLBACK");
    tu_pg_exec(auditor, "SELECT pg_advisory_unlock_all()");
    PQfinish(auditor);

    assert_int_equal(it_sql_int("SELECT count(*) FROM transfers WHERE organization_id = %lld", org),
                     2);
    assert_int_equal(it_sql_int("SELECT count(*) FROM idempotency_claims"), 0);
    char *audit = it_run_audit();
    assert_string_equal(audit, "");
    free(audit);
}

/* ------------------------------------------------------------------ dispatch */

/* Waits until waste pending at org is gone; fails after limit_ms. Returns the time taken. */
static long long wait_dispatched(long long org, long long limit_ms)
{
    long long since = tu_now_ms();
    while (pending_kg(org) != 0) {
        if (tu_now_ms() - since > tu_scaled_ms(limit_ms)) {
            fail_msg("still %lld kg pending %lld ms after the room appeared", pending_kg(org),
                     tu_now_ms() - since);
        }
        tu_sleep_ms(20);
    }
    return tu_now_ms() - since;
}

/* Pending waste at a new organization whose only road leads to a full storage. */
static long long stranded_org(long long *storage)
{
    long long org = tu_new_org("outsider-pending", NULL, NULL);
    *storage = tu_new_storage("outsider-full", "{\"glass\":1}");
    it_create_route(ORG(org), STORAGE(*storage), 5, false);
    HAND_OVER(org, "{\"glass\":6}");
    assert_int_equal(pending_kg(org), 5);
    return org;
}

static void test_dispatch_despite_the_auditors_advisory_lock(void **state)
{
    (void)state;
    long long term_before = it_sql_int("SELECT term FROM dispatcher_lease");
    assert_int_equal(it_stop_server_only(), 0);
    /* The lock the dispatcher used to lead by, taken while no instance runs. */
    PGconn *auditor = auditor_session();
    assert_int_equal(it_sql_int("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND "
                                "granted AND database = (SELECT oid FROM pg_database WHERE "
                                "datname = current_database())"),
                     0);
    tu_pg_exec(auditor, "SELECT pg_advisory_lock(hashtext('wasteflow.dispatcher'))");
    it_restart_server(NULL);
    /* The new instance leads (the stopped one gave its lease up). */
    long long since = tu_now_ms();
    while (it_sql_int("SELECT term FROM dispatcher_lease") == term_before) {
        if (tu_now_ms() - since > tu_scaled_ms(10000)) {
            fail_msg("the restarted instance did not take the dispatcher's lease");
        }
        tu_sleep_ms(50);
    }
    long long storage;
    long long org = stranded_org(&storage);
    it_response *room = it_patch(tu_fmt("/v1/storages/%lld", storage), "{\"capacity\":{\"glass\":"
                                                                       "10}}");
    EXPECT_STATUS(room, 200);
    it_response_free(room);
    long long took = wait_dispatched(org, 1000);
    printf("outsiders: dispatched %lld ms after the room appeared, with the auditor holding "
           "the old leader lock\n",
           took);
    PQfinish(auditor);
}

static void test_a_crashed_leaders_lease_is_taken_over(void **state)
{
    (void)state;
    long long storage;
    long long org = stranded_org(&storage);
    /* A leader that stopped renewing: its lease runs 3 more seconds. */
    it_sql_exec("UPDATE dispatcher_lease SET holder = 'crashed-instance', term = term + 1, "
                "expires_at = clock_timestamp() + interval '3 seconds'");
    long long crashed_at = tu_now_ms();
    it_response *room = it_patch(tu_fmt("/v1/storages/%lld", storage), "{\"capacity\":{\"glass\":"
                                                                       "10}}");
    EXPECT_STATUS(room, 200);
    it_response_free(room);
    /* Not before it expires: the lease is respected. */
    tu_sleep_ms(1000);
    if (tu_now_ms() - crashed_at < 2500) {
        assert_int_equal(pending_kg(org), 5);
    }
    /* After it: a follower tries every 2 s, then sweeps everything at once. */
    long long took = wait_dispatched(org, 8000);
    assert_int_equal(it_sql_int("SELECT (holder <> 'crashed-instance' AND expires_at > now())::int "
                                "FROM dispatcher_lease"),
                     1);
    printf("outsiders: a crashed leader's waste dispatched %lld ms after its lease was last "
           "renewed (lease 3 s here)\n",
           tu_now_ms() - crashed_at);
    (void)took;
}

/* ------------------------------------------------------------------ events */

/* A raw event stream: what came, as text (chunk framing included: the assertions look for
 * "event: <name>" lines, which a chunk never splits, being written whole). */
typedef struct {
    int fd;
    char *text;
    size_t length;
} stream;

static void stream_read(stream *s, long long for_ms)
{
    long long until = tu_now_ms() + for_ms;
    for (long long left = for_ms; left > 0; left = until - tu_now_ms()) {
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        if (poll(&p, 1, (int)left) <= 0) {
            continue;
        }
        char chunk[8192];
        ssize_t got = recv(s->fd, chunk, sizeof chunk, 0);
        if (got <= 0) {
            return;
        }
        s->text = realloc(s->text, s->length + (size_t)got + 1);
        assert_non_null(s->text);
        memcpy(s->text + s->length, chunk, (size_t)got);
        s->length += (size_t)got;
        s->text[s->length] = '\0';
    }
}

/* Reads until needle came after offset from (fails after limit_ms). */
static void stream_expect(stream *s, size_t from, const char *needle, long long limit_ms)
{
    long long until = tu_now_ms() + tu_scaled_ms(limit_ms);
    while (s->text == NULL || from > s->length || strstr(s->text + from, needle) == NULL) {
        if (tu_now_ms() > until) {
            fail_msg("no \"%s\" on the stream within %lld ms; it got:\n%s", needle, limit_ms,
                     s->text != NULL && from <= s->length ? s->text + from : "");
        }
        stream_read(s, 50);
    }
}

static stream *stream_open(void)
{
    stream *s = calloc(1, sizeof *s);
    assert_non_null(s);
    const char *colon = strrchr(it_base_url(), ':');
    assert_non_null(colon);
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    if (connect(s->fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        fail_msg("connect: %s", strerror(errno));
    }
    const char *request = tu_fmt("GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: "
                                 "text/event-stream\r\n%s\r\n\r\n",
                                 it_bearer(it_admin_key()));
    assert_int_equal(send(s->fd, request, strlen(request), MSG_NOSIGNAL), (ssize_t)strlen(request));
    stream_expect(s, 0, "event: ready", 10000);
    return s;
}

static void stream_close(stream *s)
{
    close(s->fd);
    free(s->text);
    free(s);
}

/* The events (not comments) that came after offset from: "" when none. */
static const char *events_after(const stream *s, size_t from)
{
    const char *found = s->text != NULL ? strstr(s->text + from, "event: ") : NULL;
    return found != NULL ? found : "";
}

static void test_forged_notifications_deliver_nothing(void **state)
{
    (void)state;
    long long org, storage, route;
    line_world(&org, &storage, &route, 1000);
    HAND_OVER(org, "{\"glass\":30}");
    it_response *r = it_post(tu_fmt("/v1/storages/%lld/unload", storage), "{\"glass\":5}");
    EXPECT_STATUS(r, 200);
    it_response_free(r);
    long long unload = it_sql_int("SELECT max(id) FROM unloads");
    /* Let the announcements of the set-up go by before the stream opens. */
    tu_sleep_ms(300);

    stream *s = stream_open();
    size_t mark = s->length;
    PGconn *auditor = auditor_session();
    const char *const forged[] = {
        "u:1",
        tu_fmt("u:%lld", unload),
        "s:*",
        "o:*",
        "r:*",
        "u:*",
        tu_fmt("s:%lld", storage),
        tu_fmt("o:%lld", org),
        tu_fmt("r:%lld", route),
        tu_fmt("s:%lld,%lld", storage, storage + 1000),
        "o:999999",
        "t",
        "garbage",
        "x:1",
        "s:",
        "s:1,",
        "o:-1",
        "s:99999999999999999999",
        "",
    };
    for (size_t i = 0; i < sizeof forged / sizeof forged[0]; i++) {
        PGresult *sent = PQexecParams(auditor, "SELECT pg_notify('wasteflow_events', $1)", 1, NULL,
                                      (const char *const[]){forged[i]}, NULL, NULL, 0);
        assert_int_equal(PQresultStatus(sent), PGRES_TUPLES_OK);
        PQclear(sent);
    }
    tu_pg_exec(auditor, "NOTIFY wasteflow_events, 's:*'");
    /* A burst naming more ids than any one statement of the service announces at once. */
    tu_pg_exec(auditor,
               "SELECT pg_notify('wasteflow_events', 's:' || string_agg(i::text, ',')) FROM "
               "generate_series(1, 7000) i GROUP BY i / 700");
    stream_read(s, tu_scaled_ms(1500));
    if (events_after(s, mark)[0] != '\0') {
        fail_msg("forged notifications made events on the stream:\n%s", events_after(s, mark));
    }

    /* A real change still arrives: the unload and its storage. */
    mark = s->length;
    r = it_post(tu_fmt("/v1/storages/%lld/unload", storage), "{\"glass\":1}");
    EXPECT_STATUS(r, 200);
    it_response_free(r);
    stream_expect(s, mark, "event: unload", 2000);
    stream_expect(s, mark, "event: storage", 2000);
    stream_read(s, 300);
    /* And a forged repeat of it is not sent again. */
    mark = s->length;
    tu_pg_exec(auditor, tu_fmt("NOTIFY wasteflow_events, 's:%lld'", storage));
    tu_pg_exec(auditor, tu_fmt("NOTIFY wasteflow_events, 'u:%lld'", unload));
    stream_read(s, tu_scaled_ms(1000));
    if (events_after(s, mark)[0] != '\0') {
        fail_msg("a forged repeat was delivered again:\n%s", events_after(s, mark));
    }
    assert_null(strstr(s->text, "event: resync"));
    PQfinish(auditor);
    stream_close(s);
}

/* The feed reads by transaction id up to the oldest transaction still running that could
 * write its rows: an unload whose transaction started first and commits last is held back,
 * never skipped, and then comes first. */
static void test_unloads_committed_out_of_xid_order_both_arrive(void **state)
{
    (void)state;
    long long org, storage, route;
    line_world(&org, &storage, &route, 1000);
    HAND_OVER(org, "{\"glass\":30}");
    stream *s = stream_open();
    size_t mark = s->length;
    PGconn *first = PQconnectdb(it_database_url());
    PGconn *second = PQconnectdb(it_database_url());
    assert_int_equal(PQstatus(first), CONNECTION_OK);
    assert_int_equal(PQstatus(second), CONNECTION_OK);
#define UNLOAD_SQL(kg)                                                                             \
    tu_fmt("INSERT INTO unloads (storage_id, waste_type, amount, actor) VALUES (%lld, 'glass', "   \
           "%d, 'psql')",                                                                          \
           storage, (kg))
    tu_pg_exec(first, "BEGIN");
    tu_pg_exec(first, UNLOAD_SQL(2)); /* the lower transaction id, committed last */
    tu_pg_exec(second, UNLOAD_SQL(3));
    stream_read(s, 500);
    assert_null(strstr(s->text + mark, "\"unloaded\""));
    tu_pg_exec(first, "COMMIT");
    stream_expect(s, mark, "\"unloaded\":{\"glass\":3}", 2000);
    const char *two = strstr(s->text + mark, "\"unloaded\":{\"glass\":2}");
    assert_non_null(two);
    assert_true(two < strstr(s->text + mark, "\"unloaded\":{\"glass\":3}"));
    /* The books balance again (the stock row is left alone above: two sessions would queue
     * on it). */
    it_sql_exec("UPDATE storage_waste SET stock = stock - 5 WHERE storage_id = %lld", storage);
    PQfinish(first);
    PQfinish(second);
    stream_close(s);
#undef UNLOAD_SQL
}

/* A role that may write none of the feed's rows holds a transaction id open: the feed does
 * not wait for it. */
static void test_auditors_open_transaction_stalls_no_event(void **state)
{
    (void)state;
    long long org, storage, route;
    line_world(&org, &storage, &route, 1000);
    stream *s = stream_open();
    PGconn *auditor = auditor_session();
    tu_pg_exec(auditor, "BEGIN");
    tu_pg_exec(auditor, "SELECT pg_current_xact_id()");
    for (int i = 0; i < 3; i++) {
        size_t mark = s->length;
        long long started = tu_now_ms();
        long long id = POST_CREATED(tu_fmt("/v1/organizations/%lld/transfers", org),
                                    "{\"waste\":{\"glass\":1}}");
        stream_expect(s, mark, tu_fmt("\"id\":%lld,", id), 1000);
        printf("outsiders: transfer %lld reached the stream %lld ms after it was sent while the "
               "auditor held a transaction id open\n",
               id, tu_now_ms() - started);
    }
    tu_pg_exec(auditor, "ROLLBACK");
    PQfinish(auditor);
    stream_close(s);
}

/* ------------------------------------------------------------------ the audit */

static void test_audit_flags_misdated_ledger_rows_and_impossible_keys(void **state)
{
    (void)state;
    char *clean = it_run_audit();
    assert_string_equal(clean, "");
    free(clean);
    long long org, storage, route;
    line_world(&org, &storage, &route, 1000);
    HAND_OVER(org, "{\"glass\":30}");
    /* What no role but the owner, setting the guards aside, can write any more. */
    it_sql_exec("ALTER TABLE unloads DISABLE TRIGGER unloads_dated_now");
    it_sql_exec("ALTER TABLE api_keys DISABLE TRIGGER api_keys_guard");
    it_sql_exec("INSERT INTO unloads (storage_id, waste_type, amount, actor, created_at) VALUES "
                "(%lld, 'glass', 1, 'backdater', now() - interval '30 days')",
                storage);
    long long backdated = it_sql_int("SELECT max(id) FROM unloads");
    it_sql_exec("INSERT INTO unloads (storage_id, waste_type, amount, actor, created_at) VALUES "
                "(%lld, 'glass', 1, 'time traveller', now() + interval '1 day')",
                storage);
    long long future = it_sql_int("SELECT max(id) FROM unloads");
    it_sql_exec("UPDATE storage_waste SET stock = stock - 2 WHERE storage_id = %lld", storage);
    it_sql_exec("INSERT INTO api_keys (secret_hash, role, created_at, revoked_at) VALUES "
                "(decode(repeat('00', 32), 'hex'), 'monitor', now(), now() - interval '1 day')");
    long long key = it_sql_int("SELECT max(id) FROM api_keys");
    it_sql_exec("ALTER TABLE unloads ENABLE TRIGGER unloads_dated_now");
    it_sql_exec("ALTER TABLE api_keys ENABLE TRIGGER api_keys_guard");

    char *audit = it_run_audit();
    const char *expected[] = {
        tu_fmt("VIOLATION ledger_date unload=%lld", backdated),
        tu_fmt("VIOLATION ledger_date unload=%lld", future),
        tu_fmt("VIOLATION api_key id=%lld was revoked before it was created", key),
    };
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        if (strstr(audit, expected[i]) == NULL) {
            fail_msg("sql/audit.sql did not report \"%s\"; it printed:\n%s", expected[i], audit);
        }
    }
    free(audit);
}

RUNNER_MAIN(tu_setup, tu_teardown,
            {
                cmocka_unit_test(test_auditor_can_take_no_lock_of_the_service),
                cmocka_unit_test(test_auditor_locks_stall_no_request),
                cmocka_unit_test(test_dispatch_despite_the_auditors_advisory_lock),
                cmocka_unit_test(test_a_crashed_leaders_lease_is_taken_over),
                cmocka_unit_test(test_forged_notifications_deliver_nothing),
                cmocka_unit_test(test_unloads_committed_out_of_xid_order_both_arrive),
                cmocka_unit_test(test_auditors_open_transaction_stalls_no_event),
                /* Last: it leaves rows the audit reports. */
                cmocka_unit_test(test_audit_flags_misdated_ledger_rows_and_impossible_keys),
            })
