/* Automatic dispatch at scale and its promises (docs/design.md, "No stranded waste",
 * "Limits", "Scale"):
 *   - however many organizations hold waste that cannot be placed, one whose waste becomes
 *     placeable is dispatched within a second, and an idle server does ~no database work;
 *   - a write that changes nothing (unload of 0, a name-only or same-capacity PATCH, a
 *     capacity lowered) records no room event, so no instance re-scans pending waste;
 *   - room for hundreds of pending organizations at once is placed in batches with the
 *     same result as dispatching them one at a time, oldest first (checked against a
 *     reference computed here, over random worlds);
 *   - room a request commits wakes the dispatcher of any instance within a second, and the
 *     request's own transaction sends no notification (its commit would queue behind every
 *     other notifying commit): a follower tells the leader after the commit, from its
 *     control connection. */
#include "harness.h"
#include "prng.h"
#include "runner.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long long pending_kg(long long organization)
{
    return it_sql_int("SELECT coalesce(sum(pending), 0) FROM organization_waste "
                      "WHERE organization_id = %lld",
                      organization);
}

/* The dispatcher has taken every room event (and is presumably idle). */
static void wait_events_taken(void)
{
    for (int i = 0; i < 100; i++) {
        if (it_sql_int("SELECT count(*) FROM room_events") == 0) {
            return;
        }
        tu_sleep_ms(50);
    }
    fail_msg("room events were not taken within 5 s");
}

static long long room_event_count(void)
{
    /* The sequence only moves forward, whoever consumed the rows since. */
    return it_sql_int("SELECT CASE WHEN is_called THEN last_value ELSE 0 END "
                      "FROM room_events_id_seq");
}

/* Who sent each wasteflow_room notification a listener got: every one must come from an
 * instance's control connection (a hint after the commit) or from outside the service,
 * never from a request's own transaction (application_name 'wasteflow'). Returns how many
 * came from a control connection. */
static int room_notifications_from_control(PGconn *listener)
{
    int from_control = 0;
    assert_int_equal(PQconsumeInput(listener), 1);
    for (PGnotify *n = PQnotifies(listener); n != NULL; n = PQnotifies(listener)) {
        assert_string_equal(n->relname, "wasteflow_room");
        PGresult *who =
            PQexec(it_db(), tu_fmt("SELECT application_name FROM pg_stat_activity WHERE pid = %d",
                                   n->be_pid));
        const char *name = PQntuples(who) == 1 ? PQgetvalue(who, 0, 0) : "(gone)";
        if (strcmp(name, "wasteflow") == 0) {
            fail_msg("a request's own transaction sent NOTIFY wasteflow_room (pid %d)", n->be_pid);
        }
        from_control += strcmp(name, "wasteflow control") == 0;
        PQclear(who);
        PQfreemem(n);
    }
    return from_control;
}

static void test_room_is_told_after_the_commit(void **state)
{
    (void)state;
    const char *second = it_start_second_instance(NULL);
    PGconn *listener = PQconnectdb(it_database_url());
    assert_int_equal(PQstatus(listener), CONNECTION_OK);
    PQclear(PQexec(listener, "LISTEN wasteflow_room"));
    long long storage = it_create_storage("hint-target", "{\"plastic\":5}");
    long long org = it_create_org("hint-org", "{}");
    it_create_route(ORG(org), STORAGE(storage), 10, false);
    int from_control = 0;
    /* Once through each instance: one of them follows, and its unload must reach the
     * leader's dispatcher by a hint. */
    const char *bases[2] = {it_base_url(), second};
    for (int round = 0; round < 2; round++) {
        HAND_OVER(org, "{\"plastic\":8}");
        assert_int_equal(pending_kg(org), 3);
        wait_events_taken();
        from_control += room_notifications_from_control(listener);
        it_response *response =
            it_request_to(bases[round], "POST", tu_fmt("/v1/storages/%lld/unload", storage),
                          "{\"plastic\":5}", NULL);
        EXPECT_STATUS(response, 200);
        it_response_free(response);
        double since = tu_now_seconds();
        double limit = tu_under_valgrind() ? 30.0 : 1.0;
        while (pending_kg(org) != 0) {
            if (tu_now_seconds() - since > limit) {
                fail_msg("round %d: still %lld kg pending %.2f s after the unload", round,
                         pending_kg(org), tu_now_seconds() - since);
            }
            tu_sleep_ms(10);
        }
        printf("dispatch: unload on instance %c served %.0f ms later\n", "AB"[round],
               (tu_now_seconds() - since) * 1000);
        tu_sleep_ms(200); /* the hint's notification, sent after the commit */
        from_control += room_notifications_from_control(listener);
        /* Empty the storage for the next round. */
        response = it_post(tu_fmt("/v1/storages/%lld/unload", storage), "{\"plastic\":3}");
        EXPECT_STATUS(response, 200);
        it_response_free(response);
        wait_events_taken();
    }
    assert_true(from_control >= 1);
    PQfinish(listener);
    assert_int_equal(it_stop_second_instance(), 0);
}

static void test_one_placeable_among_ten_thousand(void **state)
{
    (void)state;
    /* 10,000 organizations with no road anywhere, each 1 kg of plastic pending for an hour:
     * they come first in the dispatch order, and none of them can ever be served. */
    it_sql_exec("WITH o AS (INSERT INTO organizations (name, pending_since) "
                "SELECT 'stranded-' || i, now() - interval '1 hour' + i * interval '1 ms' "
                "FROM generate_series(1, 10000) i RETURNING id), "
                "t AS (INSERT INTO transfers (organization_id, trigger, received, pending, actor) "
                "SELECT id, 'request', '{\"plastic\": 1}', '{\"plastic\": 1}', 'seed' FROM o) "
                "INSERT INTO organization_waste (organization_id, waste_type, pending) "
                "SELECT id, 'plastic', 1 FROM o");
    long long storage = it_create_storage("dispatch-target", "{\"plastic\":0}");
    long long org = it_create_org("dispatch-placeable", "{}");
    it_create_route(ORG(org), STORAGE(storage), 10, false);
    HAND_OVER(org, "{\"plastic\":5}");
    assert_int_equal(pending_kg(org), 5);
    wait_events_taken();
    tu_sleep_ms(500);

    /* Room appears: the organization is served within a second. */
    it_response *response =
        it_patch(tu_fmt("/v1/storages/%lld", storage), "{\"capacity\":{\"plastic\":10}}");
    EXPECT_STATUS(response, 200);
    it_response_free(response);
    double since = tu_now_seconds();
    double limit = tu_under_valgrind() ? 30.0 : 1.0; /* valgrind runs ~30x slower */
    while (pending_kg(org) != 0) {
        if (tu_now_seconds() - since > limit) {
            fail_msg("still %lld kg pending %.2f s after the room appeared", pending_kg(org),
                     tu_now_seconds() - since);
        }
        tu_sleep_ms(20);
    }
    printf("dispatch: placeable organization served %.0f ms after the room appeared, with "
           "10,000 unplaceable ones pending\n",
           (tu_now_seconds() - since) * 1000);
    assert_int_equal(it_sql_int("SELECT count(*) FROM transfers WHERE organization_id = %lld AND "
                                "trigger = 'auto' AND actor = 'dispatcher'",
                                org),
                     1);
    /* None of the 10,000 got a transfer: nothing to ship, nothing recorded. */
    assert_int_equal(it_sql_int("SELECT count(*) FROM transfers t JOIN organizations o ON o.id = "
                                "t.organization_id WHERE o.name LIKE 'stranded-%%' AND "
                                "t.trigger = 'auto'"),
                     0);

    /* Idle now: over five seconds, the server's own database work is a couple of polls a
     * second (it was ~620 transactions a second sweeping the same organizations for ever).
     * Backends report their counts lazily (up to 10 s after going idle): settle first. */
    wait_events_taken();
    tu_sleep_ms(11000);
    /* A one-off full sweep (a new leader's, which a loaded machine can delay into a window,
     * or one after a lease renewed late) is allowed; a sweep that never ends is not: of
     * three windows, at least one must be quiet. */
    long long quietest = -1;
    for (int window = 0; window < 3 && (quietest < 0 || quietest > 25); window++) {
        long long before =
            it_sql_int("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname "
                       "= current_database()");
        tu_sleep_ms(5000);
        long long after =
            it_sql_int("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname "
                       "= current_database()");
        printf("dispatch: idle server, %lld transactions in 5 s\n", after - before);
        if (quietest < 0 || after - before < quietest) {
            quietest = after - before;
        }
    }
    if (tu_under_valgrind()) {
        /* Memcheck slows the server ~5x: its first full sweep (10 s after it leads) can
         * still be running in every window. The ASan run checks the bound. */
        printf("dispatch: under valgrind, the idle bound is not checked\n");
    } else {
        assert_true(quietest <= 25);
    }

    /* Clean up so the other tests see a small world. */
    it_sql_exec("ALTER TABLE transfers DISABLE TRIGGER transfers_append_only");
    it_sql_exec("DELETE FROM transfers WHERE organization_id IN (SELECT id FROM organizations "
                "WHERE name LIKE 'stranded-%%')");
    it_sql_exec("ALTER TABLE transfers ENABLE TRIGGER transfers_append_only");
    /* The trigger counted those 10,000 kg on this session's shard. */
    it_sql_exec("UPDATE waste_totals SET generated = generated - 10000 WHERE waste_type = "
                "'plastic' AND shard = pg_backend_pid() %% 64");
    it_sql_exec("DELETE FROM organizations WHERE name LIKE 'stranded-%%'");
    char *audit = it_run_audit();
    assert_string_equal(audit, "");
    free(audit);
}

static void test_no_op_writes_make_no_room_events(void **state)
{
    (void)state;
    long long storage = it_create_storage("no-op-storage", "{\"glass\":100,\"bio\":50}");
    long long org = it_create_org("no-op-org", "{}");
    long long road = it_create_route(ORG(org), STORAGE(storage), 10, false);
    HAND_OVER(org, "{\"glass\":30}");
    long long before = room_event_count();

    const char *path = tu_fmt("/v1/storages/%lld", storage);
    struct {
        const char *method, *path, *body;
    } no_ops[] = {
        {"POST", tu_fmt("/v1/storages/%lld/unload", storage), "{\"glass\":0}"},
        {"PATCH", path, "{\"name\":\"no-op-storage-renamed\"}"},
        {"PATCH", path, "{}"},
        {"PATCH", path, "{\"capacity\":{\"glass\":100}}"},
        {"PATCH", path, "{\"capacity\":{\"bio\":40}}"}, /* less room is not room */
        {"PATCH", tu_fmt("/v1/routes/%lld", road), "{}"},
        {"PATCH", tu_fmt("/v1/routes/%lld", road), "{\"distance_m\":10}"},
        {"PATCH", tu_fmt("/v1/routes/%lld", road), "{\"distance_m\":20}"}, /* longer */
        {"PATCH", tu_fmt("/v1/organizations/%lld", org), "{\"name\":\"no-op-org-renamed\"}"},
    };
    for (size_t i = 0; i < sizeof no_ops / sizeof no_ops[0]; i++) {
        it_response *response = it_request(no_ops[i].method, no_ops[i].path, no_ops[i].body, NULL);
        EXPECT_STATUS(response, 200);
        it_response_free(response);
        long long now = room_event_count();
        if (now != before) {
            fail_msg("%s %s %s recorded %lld room event(s)", no_ops[i].method, no_ops[i].path,
                     no_ops[i].body, now - before);
        }
    }
    /* A real gain is recorded, once per pair that gained. */
    it_response *response =
        it_post(tu_fmt("/v1/storages/%lld/unload", storage), "{\"glass\":10,\"bio\":0}");
    EXPECT_STATUS(response, 200);
    it_response_free(response);
    assert_int_equal(room_event_count(), before + 1);
    response = it_patch(path, "{\"capacity\":{\"glass\":150,\"bio\":40,\"plastic\":5}}");
    EXPECT_STATUS(response, 200);
    it_response_free(response);
    assert_int_equal(room_event_count(), before + 3);
    response = it_patch(tu_fmt("/v1/routes/%lld", road), "{\"distance_m\":5}");
    EXPECT_STATUS(response, 200);
    it_response_free(response);
    assert_int_equal(room_event_count(), before + 4);
}

/* ---- batches against one-at-a-time ---- */

#define W_STORAGES 40
#define W_ORGS     250
#define W_TYPES    3

static const char *const type_codes[W_TYPES] = {"bio", "glass", "plastic"};

typedef struct {
    int from, to; /* node index: organizations 0..W_ORGS-1, storages W_ORGS.. */
    long long distance;
} w_road;

typedef struct {
    long long org_ids[W_ORGS];
    long long storage_ids[W_STORAGES];
    long long capacity[W_STORAGES][W_TYPES]; /* -1: not accepted */
    long long stock[W_STORAGES][W_TYPES];
    long long pending[W_ORGS][W_TYPES];
    w_road roads[1200];
    int road_count;
} world;

/* Dijkstra over the world's roads from organization o (O(n^2), n = 290). */
static void distances_from(const world *w, int o, long long *out)
{
    enum { N = W_ORGS + W_STORAGES };
    bool done[N] = {false};
    for (int i = 0; i < N; i++) {
        out[i] = -1;
    }
    out[o] = 0;
    for (;;) {
        int best = -1;
        for (int i = 0; i < N; i++) {
            if (!done[i] && out[i] >= 0 && (best < 0 || out[i] < out[best])) {
                best = i;
            }
        }
        if (best < 0) {
            return;
        }
        done[best] = true;
        for (int r = 0; r < w->road_count; r++) {
            if (w->roads[r].from == best) {
                long long d = out[best] + w->roads[r].distance;
                int to = w->roads[r].to;
                if (out[to] < 0 || d < out[to]) {
                    out[to] = d;
                }
            }
        }
    }
}

static void test_batches_equal_one_at_a_time(void **state)
{
    (void)state;
    unsigned trials = tu_under_valgrind() ? 1 : 3;
    for (unsigned trial = 1; trial <= trials; trial++) {
        prng rng = {trial * UINT64_C(2654435761)}; /* a trial reproduces */
        world *w = calloc(1, sizeof *w);
        for (int s = 0; s < W_STORAGES; s++) {
            char capacity[128] = "{";
            bool any = false;
            for (int t = 0; t < W_TYPES; t++) {
                w->capacity[s][t] = -1;
                if (prng_below(&rng, 3) != 0 || (t == W_TYPES - 1 && !any)) {
                    w->capacity[s][t] = 0; /* accepted, no room yet */
                    snprintf(capacity + strlen(capacity), sizeof capacity - strlen(capacity),
                             "%s\"%s\":0", any ? "," : "", type_codes[t]);
                    any = true;
                }
            }
            strcat(capacity, "}");
            w->storage_ids[s] = tu_new_storage("batch-storage", capacity);
        }
        for (int o = 0; o < W_ORGS; o++) {
            w->org_ids[o] = tu_new_org("batch-org", "{}", NULL);
        }
        /* Roads: organizations to storages and storages among themselves, one- and two-way. */
        for (int r = 0; r < 900; r++) {
            int from, to;
            if (r < W_ORGS) {
                from = r;
            } else {
                from = (int)prng_below(&rng, W_ORGS + W_STORAGES);
            }
            to = W_ORGS + (int)prng_below(&rng, W_STORAGES);
            if (from == to) {
                continue;
            }
            long long distance = 1 + prng_below(&rng, 30); /* ties are common */
            bool two_way = from >= W_ORGS && prng_below(&rng, 2) == 0;
            const char *from_json =
                from < W_ORGS ? ORG(w->org_ids[from]) : STORAGE(w->storage_ids[from - W_ORGS]);
            char *from_copy = strdup(from_json);
            it_response *response =
                it_post("/v1/routes", "{\"from\":%s,\"to\":%s,\"distance_m\":%lld,\"two_way\":%s}",
                        from_copy, STORAGE(w->storage_ids[to - W_ORGS]), distance,
                        two_way ? "true" : "false");
            free(from_copy);
            if (response->status == 201) {
                w->roads[w->road_count++] = (w_road){from, to, distance};
                if (two_way) {
                    w->roads[w->road_count++] = (w_road){to, from, distance};
                }
            } else if (response->status != 409) { /* the pair is taken: fine */
                EXPECT_STATUS(response, 201);
            }
            it_response_free(response);
        }
        /* Waste handed over, oldest first: nowhere to go yet. */
        for (int o = 0; o < W_ORGS; o++) {
            char waste[128] = "{";
            bool any = false;
            for (int t = 0; t < W_TYPES; t++) {
                bool some = prng_below(&rng, 2) || (t == W_TYPES - 1 && !any);
                any = any || some;
                w->pending[o][t] = some ? 1 + prng_below(&rng, 40) : 0;
                snprintf(waste + strlen(waste), sizeof waste - strlen(waste), "%s\"%s\":%lld",
                         t ? "," : "", type_codes[t], w->pending[o][t]);
            }
            strcat(waste, "}");
            it_response *response = it_post(
                tu_fmt("/v1/organizations/%lld/transfers", w->org_ids[o]), "{\"waste\":%s}", waste);
            EXPECT_STATUS(response, 201);
            it_response_free(response);
            tu_sleep_ms(2); /* distinct pending_since */
        }
        long long first_auto = it_sql_int("SELECT coalesce(max(id), 0) FROM transfers");
        wait_events_taken();

        /* Room for many at once, in one statement (the dispatcher sees one burst). */
        char *ids = calloc(1, 16 * W_STORAGES + 2);
        char *caps = calloc(1, 64 * W_STORAGES * W_TYPES + 2);
        for (int s = 0; s < W_STORAGES; s++) {
            sprintf(ids + strlen(ids), "%s%lld", s ? "," : "", w->storage_ids[s]);
            for (int t = 0; t < W_TYPES; t++) {
                if (w->capacity[s][t] >= 0) {
                    w->capacity[s][t] = 5 + prng_below(&rng, 120);
                    sprintf(caps + strlen(caps), "%s(%lld,'%s',%lld)", caps[0] ? "," : "",
                            w->storage_ids[s], type_codes[t], w->capacity[s][t]);
                }
            }
        }
        it_sql_exec("UPDATE storage_waste w SET capacity = v.c FROM (VALUES %s) AS "
                    "v(s, t, c) WHERE w.storage_id = v.s AND w.waste_type = v.t",
                    caps);

        /* The reference: one organization at a time, oldest first, the allocation rule. */
        long long expected_pending[W_ORGS][W_TYPES];
        for (int o = 0; o < W_ORGS; o++) {
            long long distance[W_ORGS + W_STORAGES];
            distances_from(w, o, distance);
            for (int t = 0; t < W_TYPES; t++) {
                long long left = w->pending[o][t];
                while (left > 0) {
                    int best = -1;
                    for (int s = 0; s < W_STORAGES; s++) {
                        long long d = distance[W_ORGS + s];
                        if (d < 0 || w->capacity[s][t] - w->stock[s][t] <= 0) {
                            continue;
                        }
                        if (best < 0 || d < distance[W_ORGS + best] ||
                            (d == distance[W_ORGS + best] &&
                             w->storage_ids[s] < w->storage_ids[best])) {
                            best = s;
                        }
                    }
                    if (best < 0) {
                        break;
                    }
                    long long room = w->capacity[best][t] - w->stock[best][t];
                    long long amount = room < left ? room : left;
                    w->stock[best][t] += amount;
                    left -= amount;
                }
                expected_pending[o][t] = left;
            }
        }

        /* Wait until the dispatcher is done: nothing that could move still moves, over two
         * looks in a row (a batch still being written under valgrind takes more than one). */
        double since = tu_now_seconds();
        long long last = -1;
        int still = 0;
        for (;;) {
            long long now =
                it_sql_int("SELECT count(*) FROM transfers WHERE id > %lld", first_auto);
            still =
                now == last && it_sql_int("SELECT count(*) FROM room_events") == 0 ? still + 1 : 0;
            if (still == 2) {
                break;
            }
            last = now;
            assert_true(tu_now_seconds() - since < (tu_under_valgrind() ? 60 : 20));
            tu_sleep_ms(tu_scaled_ms(700));
        }
        for (int o = 0; o < W_ORGS; o++) {
            for (int t = 0; t < W_TYPES; t++) {
                long long actual =
                    it_sql_int("SELECT coalesce((SELECT pending FROM organization_waste WHERE "
                               "organization_id = %lld AND waste_type = '%s'), 0)",
                               w->org_ids[o], type_codes[t]);
                if (actual != expected_pending[o][t]) {
                    fail_msg("trial %u: organization #%d %s pending %lld, one at a time leaves "
                             "%lld",
                             trial, o, type_codes[t], actual, expected_pending[o][t]);
                }
            }
        }
        for (int s = 0; s < W_STORAGES; s++) {
            for (int t = 0; t < W_TYPES; t++) {
                if (w->capacity[s][t] < 0) {
                    continue;
                }
                long long actual = it_sql_int("SELECT stock FROM storage_waste WHERE storage_id "
                                              "= %lld AND waste_type = '%s'",
                                              w->storage_ids[s], type_codes[t]);
                if (actual != w->stock[s][t]) {
                    fail_msg("trial %u: storage #%d %s stock %lld, one at a time gives %lld", trial,
                             s, type_codes[t], actual, w->stock[s][t]);
                }
            }
        }
        long long autos = it_sql_int(
            "SELECT count(*) FROM transfers WHERE id > %lld AND trigger = 'auto'", first_auto);
        long long orgs_served = it_sql_int(
            "SELECT count(DISTINCT organization_id) FROM transfers WHERE id > %lld", first_auto);
        printf("dispatch: trial %u, %lld organizations served by %lld auto transfers in %.1f s\n",
               trial, orgs_served, autos, tu_now_seconds() - since);
        assert_int_equal(autos, orgs_served); /* one each: all placed in one go */
        char *audit = it_run_audit();
        assert_string_equal(audit, "");
        free(audit);
        /* The next trial starts from nothing pending. */
        it_sql_exec("UPDATE storage_waste SET capacity = capacity + 1000000 WHERE storage_id IN "
                    "(%s)",
                    ids);
        /* (Some waste has no reachable storage of its type at all: it stays.) */
        double settle = tu_now_seconds();
        long long settled = -1;
        for (;;) {
            long long moved = it_sql_int("SELECT count(*) FROM transfers");
            if (moved == settled && it_sql_int("SELECT count(*) FROM room_events") == 0) {
                break;
            }
            settled = moved;
            assert_true(tu_now_seconds() - settle < 20);
            tu_sleep_ms(700);
        }
        free(ids);
        free(caps);
        free(w);
        w = NULL;
    }
}

RUNNER_MAIN(tu_setup, tu_teardown,
            {
                cmocka_unit_test(test_no_op_writes_make_no_room_events),
                cmocka_unit_test(test_batches_equal_one_at_a_time),
                cmocka_unit_test(test_one_placeable_among_ten_thousand),
                cmocka_unit_test(test_room_is_told_after_the_commit),
            })
