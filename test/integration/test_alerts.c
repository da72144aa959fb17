/* Integration tests of /v1/alerts against real servers: the rules' API (admin only, 422s
 * that change nothing), and firing: once per upward crossing of (stock + reserved) /
 * capacity, re-armed below, with two instances evaluating against one database, within a
 * second of the commit, as an `alert` event on /v1/events for admins and that storage. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "runner.h"
#include "testutil.h"

static const char *second_url;

/* ---------------------------------------------------------------- a minimal SSE reader */

typedef struct {
    int fd;
    char *raw; /* everything received, NUL-terminated */
    size_t len;
} stream;

/* Reads for up to ms; false when nothing came. */
static bool stream_read(stream *s, long long ms)
{
    struct pollfd p = {.fd = s->fd, .events = POLLIN};
    if (poll(&p, 1, (int)(ms < 0 ? 0 : ms)) <= 0) {
        return false;
    }
    char chunk[8192];
    ssize_t got = recv(s->fd, chunk, sizeof chunk, 0);
    if (got <= 0) {
        return false;
    }
    s->raw = realloc(s->raw, s->len + (size_t)got + 1);
    assert_non_null(s->raw);
    memcpy(s->raw + s->len, chunk, (size_t)got);
    s->len += (size_t)got;
    s->raw[s->len] = '\0';
    return true;
}

/* Waits up to ms for text in what the stream received. */
static bool stream_wait_for(stream *s, const char *text, long long ms)
{
    long long deadline = tu_now_ms() + ms;
    while (s->raw == NULL || strstr(s->raw, text) == NULL) {
        long long left = deadline - tu_now_ms();
        if (left <= 0) {
            return false;
        }
        stream_read(s, left);
    }
    return true;
}

/* GET /v1/events on base_url with key, once it said `ready`. */
static stream *stream_open(const char *base_url, const char *key)
{
    stream *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->fd = tu_connect_url(base_url, 0);
    char request[1024];
    int n = snprintf(request, sizeof request,
                     "GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                     "Authorization: Bearer %s\r\n\r\n",
                     key);
    assert_int_equal(send(s->fd, request, (size_t)n, MSG_NOSIGNAL), n);
    if (!stream_wait_for(s, "event: ready", tu_scaled_ms(10000))) {
        fail_msg("no `ready` on %s: %s", base_url, s->raw != NULL ? s->raw : "(nothing)");
    }
    return s;
}

static void stream_close(stream *s)
{
    close(s->fd);
    free(s->raw);
    free(s);
}

/* The data of the nth (0-based) `alert` event the stream received, parsed; NULL if none. */
static cJSON *alert_event(const stream *s, int nth)
{
    const char *at = s->raw;
    for (int i = 0; at != NULL; i++) {
        at = strstr(at, "event: alert\n");
        if (at == NULL) {
            return NULL;
        }
        const char *data = strstr(at, "data: ");
        assert_non_null(data);
        if (i == nth) {
            const char *end = strchr(data, '\n');
            assert_non_null(end);
            char *text = strndup(data + 6, (size_t)(end - data - 6));
            cJSON *json = cJSON_Parse(text);
            free(text);
            assert_non_null(json);
            return json;
        }
        at = data;
    }
    return NULL;
}

static int alert_events(const stream *s)
{
    int count = 0;
    for (const char *at = s->raw; at != NULL && (at = strstr(at, "event: alert\n")) != NULL; at++) {
        count++;
    }
    return count;
}

/* ---------------------------------------------------------------- helpers */

/* org hands kg of glass over through base_url, all of it to the storage it has a road to. */
static void ship_via(const char *base_url, long long org, long long kg)
{
    char *path = tu_format("/v1/organizations/%lld/transfers", org);
    char *body = tu_format("{\"waste\":{\"glass\":%lld}}", kg);
    it_response *r = it_request_to(base_url, "POST", path, body, NULL);
    EXPECT_STATUS(r, 201);
    ASSERT_JSON_AT(r->json, "pending", "{}");
    it_response_free(r);
    free(body);
    free(path);
}

static void unload(long long storage, long long kg)
{
    it_response *r = it_post(tu_fmt("/v1/storages/%lld/unload", storage), "{\"glass\":%lld}", kg);
    EXPECT_STATUS(r, 200);
    it_response_free(r);
}

static long long create_rule(const char *body)
{
    long long id = POST_CREATED("/v1/alerts", "%s", body);
    return id;
}

static long long firings(long long alert)
{
    return it_sql_int("SELECT count(*) FROM alert_firings WHERE alert_id = %lld", alert);
}

/* Waits up to ms for alert to have fired count times; how long it took (-1: it did not). */
static long long wait_firings(long long alert, long long count, long long ms)
{
    long long start = tu_now_ms();
    while (firings(alert) < count) {
        if (tu_now_ms() - start > ms) {
            return -1;
        }
        tu_sleep_ms(10);
    }
    return tu_now_ms() - start;
}

/* Waits until the evaluator has armed (storage, glass) for alert again. */
static void wait_armed(long long alert, long long storage)
{
    long long start = tu_now_ms();
    while (it_sql_int("SELECT count(*) FROM alert_state WHERE alert_id = %lld AND storage_id = "
                      "%lld AND armed",
                      alert, storage) == 0) {
        if (tu_now_ms() - start > tu_scaled_ms(2000)) {
            fail_msg("alert %lld not re-armed for storage %lld within 2 s", alert, storage);
        }
        tu_sleep_ms(10);
    }
}

static long long delays[16];
static int delay_count;

static void note_delay(long long ms)
{
    if (ms < 0) {
        fail_msg("the crossing did not fire within 1 s");
    }
    if (delay_count < 16) {
        delays[delay_count++] = ms;
    }
}

/* ---------------------------------------------------------------- the rules' API */

static void test_create_get_list_delete(void **state)
{
    (void)state;
    long long storage = tu_new_storage("rules", "{\"glass\":100}");
    it_response *r = it_post("/v1/alerts",
                             "{\"storage_id\":%lld,\"waste_type\":\"glass\","
                             "\"fill_ratio_above\":0.9}",
                             storage);
    EXPECT_STATUS(r, 201);
    long long id = it_json_int(r->json, "id");
    const char *location = EXPECT_HEADER(r, "Location");
    assert_string_equal(location, tu_fmt("/v1/alerts/%lld", id));
    tu_assert_timestamp(tu_member(r->json, "created_at"));
    char *created = tu_json_text(r->json);
    char *created_at = tu_json_text(tu_member(r->json, "created_at"));
    ASSERT_JSON(r->json,
                "{\"id\":%lld,\"storage_id\":%lld,\"waste_type\":\"glass\","
                "\"fill_ratio_above\":0.9,\"created_at\":%s}",
                id, storage, created_at);
    free(created_at);
    it_response_free(r);

    r = it_get("/v1/alerts/%lld", id);
    EXPECT_STATUS(r, 200);
    ASSERT_JSON(r->json, "%s", created);
    it_response_free(r);

    /* Any storage, any type; 1 is allowed. */
    long long any = create_rule("{\"fill_ratio_above\":1}");
    r = it_get("/v1/alerts/%lld", any);
    EXPECT_STATUS(r, 200);
    ASSERT_MEMBERS(r->json, "{\"storage_id\":null,\"waste_type\":null,\"fill_ratio_above\":1}");
    it_response_free(r);

    r = it_get("/v1/alerts?limit=1");
    EXPECT_STATUS(r, 200);
    assert_int_equal(cJSON_GetArraySize(tu_member(r->json, "items")), 1);
    ASSERT_JSON_AT(r->json, "items.0", "%s", created);
    assert_true(cJSON_IsString(tu_member(r->json, "next_cursor")));
    it_response_free(r);

    r = it_delete("/v1/alerts/%lld", id);
    EXPECT_STATUS(r, 204);
    it_response_free(r);
    EXPECT_REJECTED_TYPE("GET", tu_fmt("/v1/alerts/%lld", id), NULL, 404, "not-found", NULL);
    EXPECT_REJECTED_TYPE("DELETE", tu_fmt("/v1/alerts/%lld", id), NULL, 404, "not-found", NULL);
    r = it_delete("/v1/alerts/%lld", any);
    EXPECT_STATUS(r, 204);
    it_response_free(r);
    free(created);
}

static void test_validation(void **state)
{
    (void)state;
    long long storage = tu_new_storage("valid", "{\"glass\":100}");
    static const tu_refusal bad[] = {
        {"{}", "fill_ratio_above"},
        {"{\"fill_ratio_above\":0}", "fill_ratio_above"},
        {"{\"fill_ratio_above\":-0.5}", "fill_ratio_above"},
        {"{\"fill_ratio_above\":1.0001}", "fill_ratio_above"},
        {"{\"fill_ratio_above\":\"0.5\"}", "fill_ratio_above"},
        {"{\"fill_ratio_above\":null}", "fill_ratio_above"},
        {"{\"fill_ratio_above\":0.5,\"storage_id\":999999999}", "storage_id"},
        {"{\"fill_ratio_above\":0.5,\"storage_id\":0}", "storage_id"},
        {"{\"fill_ratio_above\":0.5,\"storage_id\":1.5}", "storage_id"},
        {"{\"fill_ratio_above\":0.5,\"storage_id\":\"1\"}", "storage_id"},
        {"{\"fill_ratio_above\":0.5,\"waste_type\":\"nosuchtype\"}", "waste_type"},
        {"{\"fill_ratio_above\":0.5,\"waste_type\":\"Bad Code\"}", "waste_type"},
        {"{\"fill_ratio_above\":0.5,\"waste_type\":7}", "waste_type"},
        {"{\"fill_ratio_above\":0.5,\"threshold\":0.5}", "threshold"},
        {"[]", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        EXPECT_REJECTED_TYPE("POST", "/v1/alerts", bad[i].input, 422, "validation-error",
                             bad[i].field);
    }
    EXPECT_REJECTED_TYPE("POST", "/v1/alerts", "{", 400, "malformed-json", NULL);
    EXPECT_REJECTED_TYPE("GET", "/v1/alerts?limit=0", NULL, 422, "validation-error", "limit");
    (void)storage;
}

static int status_as(const char *key, const char *method, const char *path, const char *body)
{
    const char *headers[] = {key != NULL ? it_bearer(key) : "Authorization:", NULL};
    char *before = it_db_fingerprint();
    it_response *r = it_request(method, path, body, headers);
    int status = r->status;
    if (status >= 400) {
        EXPECT_PROBLEM(r, status, NULL);
        char *after = it_db_fingerprint();
        assert_string_equal(before, after);
        free(after);
    }
    it_response_free(r);
    free(before);
    return status;
}

/* Only admins manage rules; the auditor reads them, as it reads every GET but API keys; every
 * other role is refused 403, changing nothing. */
static void test_admin_only(void **state)
{
    (void)state;
    long long storage = tu_new_storage("roles", "{\"glass\":100}");
    long long org = tu_new_org("roles", NULL, NULL);
    long long rule = create_rule(tu_fmt("{\"storage_id\":%lld,\"fill_ratio_above\":0.5}", storage));
    char *keys[] = {it_new_key("auditor", 0, 0), it_new_key("organization", org, 0),
                    it_new_key("storage", 0, storage), it_new_key("monitor", 0, 0)};
    const char *one = tu_format("/v1/alerts/%lld", rule);
    for (size_t i = 0; i < 4; i++) {
        int read = i == 0 ? 200 : 403; /* keys[0] is the auditor's */
        assert_int_equal(status_as(keys[i], "GET", "/v1/alerts", NULL), read);
        assert_int_equal(status_as(keys[i], "GET", one, NULL), read);
        assert_int_equal(status_as(keys[i], "POST", "/v1/alerts", "{\"fill_ratio_above\":0.5}"),
                         403);
        assert_int_equal(status_as(keys[i], "DELETE", one, NULL), 403);
        free(keys[i]);
    }
    assert_int_equal(status_as(NULL, "GET", "/v1/alerts", NULL), 401);
    assert_int_equal(status_as(NULL, "POST", "/v1/alerts", "{\"fill_ratio_above\":0.5}"), 401);
    assert_int_equal(status_as(it_admin_key(), "GET", one, NULL), 200);
    assert_int_equal(status_as(it_admin_key(), "DELETE", one, NULL), 204);
    free((char *)one);
}

/* ---------------------------------------------------------------- firing */

/* 40 kg of 100 (under 0.5), 60 (crossing: fires), 70 (still above: nothing), 40 (re-armed),
 * 60 (fires again): two firings, whichever of the two instances took each transfer, each
 * within a second, each an `alert` event for admins and the storage, none for another
 * storage. */
static void test_fires_once_per_crossing_on_two_instances(void **state)
{
    (void)state;
    long long storage = tu_new_storage("fills", "{\"glass\":100}");
    long long other = tu_new_storage("elsewhere", "{\"glass\":100}");
    long long org = tu_supplier_of(storage);
    long long rule = create_rule(
        tu_fmt("{\"storage_id\":%lld,\"waste_type\":\"glass\",\"fill_ratio_above\":0.5}", storage));
    char *own_key = it_new_key("storage", 0, storage);
    char *other_key = it_new_key("storage", 0, other);
    char *auditor_key = it_new_key("auditor", 0, 0);
    stream *admin = stream_open(it_base_url(), it_admin_key());
    stream *own = stream_open(second_url, own_key);
    stream *foreign = stream_open(second_url, other_key);
    stream *auditor = stream_open(it_base_url(), auditor_key);

    ship_via(it_base_url(), org, 40);
    tu_sleep_ms(tu_scaled_ms(600));
    assert_int_equal(firings(rule), 0);

    ship_via(second_url, org, 20);
    note_delay(wait_firings(rule, 1, tu_scaled_ms(1000)));
    ship_via(it_base_url(), org, 10);
    tu_sleep_ms(tu_scaled_ms(600));
    assert_int_equal(firings(rule), 1);

    unload(storage, 30);
    wait_armed(rule, storage);
    assert_int_equal(firings(rule), 1);
    ship_via(second_url, org, 20);
    note_delay(wait_firings(rule, 2, tu_scaled_ms(1000)));
    tu_sleep_ms(tu_scaled_ms(600));
    assert_int_equal(firings(rule), 2);

    /* The events: both firings, to the admin, the auditor and the storage. */
    long long first_id =
        it_sql_int("SELECT min(id) FROM alert_firings WHERE alert_id = %lld", rule);
    char *fired_at = NULL;
    {
        PGresult *row = PQexec(it_db(), tu_fmt("SELECT to_char(fired_at AT TIME ZONE 'UTC', "
                                               "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM "
                                               "alert_firings WHERE id = %lld",
                                               first_id));
        assert_int_equal(PQresultStatus(row), PGRES_TUPLES_OK);
        fired_at = strdup(PQgetvalue(row, 0, 0));
        PQclear(row);
    }
    stream *with_both[] = {admin, own, auditor};
    for (size_t i = 0; i < 3; i++) {
        stream *s = with_both[i];
        long long deadline = tu_now_ms() + tu_scaled_ms(3000);
        while (alert_events(s) < 2 && tu_now_ms() < deadline) {
            stream_read(s, 100);
        }
        assert_int_equal(alert_events(s), 2);
        cJSON *event = alert_event(s, 0);
        ASSERT_JSON(event,
                    "{\"id\":%lld,\"alert_id\":%lld,\"storage_id\":%lld,\"waste_type\":\"glass\","
                    "\"fill_ratio\":0.6,\"threshold\":0.5,\"fired_at\":\"%s\"}",
                    first_id, rule, storage, fired_at);
        cJSON_Delete(event);
    }
    stream_read(foreign, 300);
    assert_int_equal(alert_events(foreign), 0);

    stream_close(admin);
    stream_close(own);
    stream_close(foreign);
    stream_close(auditor);
    free(fired_at);
    free(own_key);
    free(other_key);
    free(auditor_key);
}

/* A rule on every storage, crossed by many transfers at once through both instances: each
 * storage fires exactly once. */
static void test_concurrent_crossings_fire_once(void **state)
{
    (void)state;
    enum { STORAGES = 6 };
    long long storages[STORAGES], orgs[STORAGES];
    for (int i = 0; i < STORAGES; i++) {
        storages[i] = tu_new_storage("crowd", "{\"glass\":100}");
        orgs[i] = tu_supplier_of(storages[i]);
    }
    long long rule = create_rule("{\"waste_type\":\"glass\",\"fill_ratio_above\":0.25}");
    /* Five transfers of 10 kg into each, alternating instances: each crosses 0.25 once. */
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < STORAGES; i++) {
            ship_via((round + i) % 2 == 0 ? it_base_url() : second_url, orgs[i], 10);
        }
    }
    long long start = tu_now_ms();
    while (it_sql_int("SELECT count(DISTINCT storage_id) FROM alert_firings WHERE alert_id = "
                      "%lld",
                      rule) < STORAGES) {
        if (tu_now_ms() - start > tu_scaled_ms(2000)) {
            fail_msg("not every storage fired");
        }
        tu_sleep_ms(10);
    }
    tu_sleep_ms(tu_scaled_ms(600));
    for (int i = 0; i < STORAGES; i++) {
        assert_int_equal(it_sql_int("SELECT count(*) FROM alert_firings WHERE alert_id = %lld "
                                    "AND storage_id = %lld",
                                    rule, storages[i]),
                         1);
    }
    /* Reserved room counts too: a storage pushed over 0.9 by reservations alone. */
    long long reserved_rule =
        create_rule(tu_fmt("{\"storage_id\":%lld,\"fill_ratio_above\":0.9}", storages[0]));
    it_sql_exec("UPDATE storage_waste SET reserved = 45 WHERE storage_id = %lld", storages[0]);
    if (wait_firings(reserved_rule, 1, tu_scaled_ms(1000)) < 0) {
        fail_msg("reserved room did not fire");
    }
    it_sql_exec("UPDATE storage_waste SET reserved = 0 WHERE storage_id = %lld", storages[0]);
    it_response *r = it_delete("/v1/alerts/%lld", rule);
    EXPECT_STATUS(r, 204);
    it_response_free(r);
}

/* One of the racers below: count transfers of kg glass from org through base_url. */
typedef struct {
    pthread_t thread;
    const char *base_url;
    long long org, kg;
    int count, created;
} racer;

static void *racer_main(void *arg)
{
    racer *r = arg;
    CURL *curl = curl_easy_init();
    char url[256], body[64];
    snprintf(url, sizeof url, "%s/v1/organizations/%lld/transfers", r->base_url, r->org);
    snprintf(body, sizeof body, "{\"waste\":{\"glass\":%lld}}", r->kg);
    for (int i = 0; i < r->count; i++) {
        tu_http_result result = {0};
        tu_http_call(curl, "POST", url, body, NULL, NULL, 30, false, &result);
        r->created += result.status == 201;
        tu_http_result_clear(&result);
    }
    curl_easy_cleanup(curl);
    return NULL;
}

/* Four clients, two on each instance, race 10 kg transfers into one storage of 1,000 kg
 * until it holds 800: the ratio crosses 0.5 once, and the rule fires once. */
static void test_racing_transfers_fire_once(void **state)
{
    (void)state;
    long long storage = tu_new_storage("race", "{\"glass\":1000}");
    long long rule = create_rule(tu_fmt("{\"storage_id\":%lld,\"fill_ratio_above\":0.5}", storage));
    racer racers[4];
    for (int i = 0; i < 4; i++) {
        racers[i] = (racer){.base_url = i % 2 == 0 ? it_base_url() : second_url,
                            .org = tu_supplier_of(storage),
                            .kg = 10,
                            .count = 20};
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_create(&racers[i].thread, NULL, racer_main, &racers[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(racers[i].thread, NULL);
        assert_int_equal(racers[i].created, 20);
    }
    tu_assert_stock(storage, "{\"glass\":800}", "{\"glass\":200}");
    if (wait_firings(rule, 1, tu_scaled_ms(1000)) < 0) {
        fail_msg("the crossing did not fire");
    }
    tu_sleep_ms(tu_scaled_ms(600));
    assert_int_equal(firings(rule), 1);
    /* The ratio it fired at lies above the threshold, at most one round of transfers past. */
    long long permille = it_sql_int("SELECT (ratio * 1000)::bigint FROM alert_firings WHERE "
                                    "alert_id = %lld",
                                    rule);
    assert_true(permille > 500 && permille <= 800);
}

/* While nothing crosses, the holder writes its lease only to renew it (with less than a
 * third of it left, lib/engine/alerts.h), not at each 200 ms poll: an idle service with
 * rules commits a write every ~2 s. Each write of the row gives it a new xmin. */
static void test_idle_holder_renews_its_lease_rarely(void **state)
{
    (void)state;
    long long storage = tu_new_storage("quiet", "{\"glass\":100}");
    (void)create_rule(tu_fmt("{\"storage_id\":%lld,\"fill_ratio_above\":0.5}", storage));
    long long start = tu_now_ms();
    while (it_sql_int("SELECT count(*) FROM alert_lease WHERE expires_at > now()") == 0) {
        if (tu_now_ms() - start > tu_scaled_ms(3000)) {
            fail_msg("no instance took the alert lease within 3 s");
        }
        tu_sleep_ms(20);
    }
    int writes = 0;
    long long last = it_sql_int("SELECT xmin::text::bigint FROM alert_lease");
    for (start = tu_now_ms(); tu_now_ms() - start < 4000; tu_sleep_ms(50)) {
        long long now = it_sql_int("SELECT xmin::text::bigint FROM alert_lease");
        writes += now != last;
        last = now;
    }
    /* Two renewals in 4 s, one more for a takeover; every poll would be about 20. */
    if (writes > 4) {
        fail_msg("the alert lease was written %d times in 4 s", writes);
    }
}

/* A rule made while the ratio is already above fires at the next crossing, not at once; a
 * deleted rule fires no more. */
static void test_created_above_waits_and_deleted_stops(void **state)
{
    (void)state;
    long long storage = tu_new_storage("already", "{\"glass\":100}");
    long long org = tu_supplier_of(storage);
    ship_via(it_base_url(), org, 80);
    long long rule = create_rule(tu_fmt("{\"storage_id\":%lld,\"fill_ratio_above\":0.5}", storage));
    tu_sleep_ms(tu_scaled_ms(600));
    assert_int_equal(firings(rule), 0);
    unload(storage, 60);
    wait_armed(rule, storage);
    ship_via(second_url, org, 40);
    note_delay(wait_firings(rule, 1, tu_scaled_ms(1000)));

    it_response *r = it_delete("/v1/alerts/%lld", rule);
    EXPECT_STATUS(r, 204);
    it_response_free(r);
    unload(storage, 60);
    ship_via(it_base_url(), org, 60);
    tu_sleep_ms(tu_scaled_ms(600));
    assert_int_equal(it_sql_int("SELECT count(*) FROM alert_firings WHERE alert_id = %lld", rule),
                     1);
    assert_int_equal(it_sql_int("SELECT count(*) FROM alert_state WHERE alert_id = %lld", rule), 0);
}

static int compare_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

static void test_report_delays(void **state)
{
    (void)state;
    assert_true(delay_count > 0);
    qsort(delays, (size_t)delay_count, sizeof delays[0], compare_ll);
    printf("alert delay after the crossing transfer's reply: p50 %lld ms, max %lld ms (%d "
           "crossings)\n",
           delays[delay_count / 2], delays[delay_count - 1], delay_count);
}

static int setup(void **state)
{
    if (tu_setup(state) != 0) {
        return -1;
    }
    second_url = it_start_second_instance(NULL);
    return second_url != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    it_stop_second_instance();
    return tu_teardown(state);
}

RUNNER_MAIN(
    setup, teardown,
    {
        cmocka_unit_test(test_create_get_list_delete),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_admin_only),
        cmocka_unit_test(test_idle_holder_renews_its_lease_rarely),
        cmocka_unit_test(test_fires_once_per_crossing_on_two_instances),
        cmocka_unit_test(test_concurrent_crossings_fire_once),
        cmocka_unit_test(test_racing_transfers_fire_once),
        cmocka_unit_test(test_created_above_waits_and_deleted_stops),
        cmocka_unit_test(test_report_delays),
        /* Runs last: whatever the tests above did, sql/audit.sql finds no violated invariant. */
        TU_AUDIT_TEST,
    })
