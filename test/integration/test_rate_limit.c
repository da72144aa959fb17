/* The per-credential rate limit (WASTEFLOW_RATE_LIMIT, docs/design.md, "Limits"), against a server
 * that allows 5 requests a second in bursts of 5: a full burst passes, the next request
 * is 429 problem+json with Retry-After and changes nothing (not even a POST that would
 * create a row), another key on the same server is not slowed, the bucket refills, a JWT
 * is one credential by its issuer and subject, requests without valid credentials are
 * limited by their address (which never touches the keys' buckets), the probes and static
 * files are not limited at all, every refusal is counted in /metrics, the limit is per
 * instance, and 0 turns it off.
 *
 * A bucket refills one request every 200 ms, so a check that a request right after a burst
 * is refused only holds when the burst took less than that; each such check measures its
 * time and, when the machine was slower (valgrind), checks the bound that still holds: no
 * more passed than the burst plus what refilled meanwhile. */
#include "harness.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define RATE          5
#define REFILL_MS     (1000 / RATE)
#define JWT_SECRET    "rate-limit-test-secret-of-at-least-32-bytes"
#define PROBLEM_SLUG  "too-many-requests"
#define CREATE_ORG    "/v1/organizations"
#define NO_CREDENTIAL "Authorization:"

static char *key_a, *key_b, *key_c, *key_d, *key_monitor;
static int refusals_seen; /* every 429 this runner received from the primary server */

/* ---- a keep-alive client, so that a burst is not slowed by a handshake per request ---- */

typedef struct {
    int status;
    char retry_after[32];
    char content_type[128];
    char *body;
    size_t body_len;
    cJSON *json;
} reply;

static CURL *client;

static size_t on_body(char *data, size_t size, size_t count, void *context)
{
    reply *r = context;
    char *grown = realloc(r->body, r->body_len + size * count + 1);
    assert_non_null(grown);
    memcpy(grown + r->body_len, data, size * count);
    r->body_len += size * count;
    grown[r->body_len] = '\0';
    r->body = grown;
    return size * count;
}

static void header_value(const char *line, size_t len, const char *name, char *out, size_t size)
{
    size_t name_len = strlen(name);
    if (len <= name_len || strncasecmp(line, name, name_len) != 0 || line[name_len] != ':') {
        return;
    }
    const char *value = line + name_len + 1;
    const char *end = line + len;
    while (value < end && *value == ' ') {
        value++;
    }
    while (end > value && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ')) {
        end--;
    }
    snprintf(out, size, "%.*s", (int)(end - value), value);
}

static size_t on_header(char *data, size_t size, size_t count, void *context)
{
    reply *r = context;
    header_value(data, size * count, "Retry-After", r->retry_after, sizeof r->retry_after);
    header_value(data, size * count, "Content-Type", r->content_type, sizeof r->content_type);
    return size * count;
}

static void reply_clear(reply *r)
{
    free(r->body);
    cJSON_Delete(r->json);
    *r = (reply){0};
}

/* method path on base_url with one header (authorization: "Authorization: Bearer ..." or
 * NO_CREDENTIAL) and an optional second one; body NULL for none. Counts 429s from the
 * primary server. */
static void send_on(const char *base_url, const char *method, const char *path,
                    const char *authorization, const char *other_header, const char *body, reply *r)
{
    reply_clear(r);
    if (client == NULL) {
        client = curl_easy_init();
        assert_non_null(client);
    }
    curl_easy_reset(client);
    char *url = tu_format("%s%s", base_url, path);
    curl_easy_setopt(client, CURLOPT_URL, url);
    curl_easy_setopt(client, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(client, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(client, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(client, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(client, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(client, CURLOPT_HEADERDATA, r);
    struct curl_slist *headers = curl_slist_append(NULL, authorization);
    if (other_header != NULL) {
        headers = curl_slist_append(headers, other_header);
    }
    headers = curl_slist_append(headers, "Expect:");
    if (body != NULL) {
        headers = curl_slist_append(headers, "Content-Type: application/json");
        curl_easy_setopt(client, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(client, CURLOPT_POSTFIELDS, body);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(client, CURLOPT_CUSTOMREQUEST, method);
    }
    CURLcode code = it_http_perform(client, headers);
    long status = 0;
    if (code == CURLE_OK) {
        curl_easy_getinfo(client, CURLINFO_RESPONSE_CODE, &status);
    }
    free(url);
    r->status = (int)status;
    if (r->body != NULL) {
        r->json = cJSON_ParseWithLength(r->body, r->body_len);
    }
    if (r->status == 429 && strcmp(base_url, it_base_url()) == 0) {
        refusals_seen++;
    }
    if (r->status == 0 || r->status >= 500) {
        fail_msg("%s %s: status %d: %s", method, path, r->status, r->body ? r->body : "");
    }
}

static void send_as(const char *method, const char *path, const char *key, const char *body,
                    reply *r)
{
    send_on(it_base_url(), method, path, key != NULL ? it_bearer(key) : NO_CREDENTIAL, NULL, body,
            r);
}

/* A GET of path with key (NULL: none), answered 200. */
static void get_ok(const char *path, const char *key, reply *r)
{
    send_as("GET", path, key, NULL, r);
    assert_int_equal(r->status, 200);
}

/* RATE GETs of path with key, each answered 200: the key's whole burst. */
static void spend_burst(const char *path, const char *key, reply *r)
{
    for (int i = 0; i < RATE; i++) {
        get_ok(path, key, r);
    }
}

/* A refusal of the rate limit, exactly as the contract says. */
static void expect_limited(const reply *r, const char *what)
{
    char *why = tu_problem_mismatch(r->status, r->content_type[0] ? r->content_type : NULL, r->json,
                                    429, PROBLEM_SLUG, NULL);
    if (why != NULL) {
        fail_msg("%s: %s; body: %s", what, why, r->body ? r->body : "");
    }
    /* 5 a second: a request is back within 200 ms, so one second, rounded up. */
    if (strcmp(r->retry_after, "1") != 0) {
        fail_msg("%s: Retry-After \"%s\", expected \"1\"", what, r->retry_after);
    }
    const char *detail = it_json_str(r->json, "detail");
    if (strstr(detail, "at most 5 a second") == NULL) {
        fail_msg("%s: the detail does not name the limit: %s", what, detail);
    }
}

/* Sends requests with key until one is refused (at most 4 bursts' worth); returns how many
 * passed. The bucket is empty afterwards. */
static int exhaust(const char *key)
{
    reply r = {0};
    int passed = 0;
    for (int i = 0; i < 4 * RATE; i++) {
        send_as("GET", "/v1/me", key, NULL, &r);
        if (r.status == 429) {
            expect_limited(&r, "exhausting a key");
            reply_clear(&r);
            return passed;
        }
        assert_int_equal(r.status, 200);
        passed++;
    }
    fail_msg("%d requests in a row passed a limit of %d a second", 4 * RATE, RATE);
    return passed;
}

/* Every bucket this runner touched is full again a second after its last use. */
static void let_buckets_refill(void)
{
    tu_sleep_ms(1000 + 100);
}

/* ---- fixtures ---- */

static int group_setup(void **state)
{
    (void)state;
    static const char *const env[] = {"WASTEFLOW_RATE_LIMIT=5", "WASTEFLOW_JWT_SECRET=" JWT_SECRET,
                                      "WASTEFLOW_JWT_ISSUER=idp-one",
                                      "WASTEFLOW_JWT_AUDIENCE=wasteflow", NULL};
    it_start(env);
    key_a = it_new_key("admin", 0, 0);
    key_b = it_new_key("admin", 0, 0);
    key_c = it_new_key("admin", 0, 0);
    key_d = it_new_key("auditor", 0, 0);
    key_monitor = it_new_key("monitor", 0, 0);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (client != NULL) {
        curl_easy_cleanup(client);
        client = NULL;
    }
    free(key_a);
    free(key_b);
    free(key_c);
    free(key_d);
    free(key_monitor);
    return it_stop();
}

/* ---- tests ---- */

static void test_burst_passes_then_429(void **state)
{
    (void)state;
    reply r = {0};
    int statuses[2 * RATE];
    long long start = tu_now_ms(), after_burst = 0;
    for (int i = 0; i < 2 * RATE; i++) {
        send_as("GET", "/v1/me", key_a, NULL, &r);
        statuses[i] = r.status;
        if (r.status == 429) {
            expect_limited(&r, "after the burst");
        } else {
            assert_int_equal(r.status, 200);
            assert_string_equal(it_json_str(r.json, "role"), "admin");
            assert_string_equal(r.retry_after, "");
        }
        if (i == RATE) {
            after_burst = tu_now_ms() - start;
        }
    }
    long long elapsed = tu_now_ms() - start;
    reply_clear(&r);
    int passed = 0;
    for (int i = 0; i < 2 * RATE; i++) {
        passed += statuses[i] == 200;
    }
    print_message("%d of %d passed in %lld ms (request %d after %lld ms)\n", passed, 2 * RATE,
                  elapsed, RATE + 1, after_burst);
    /* A fresh key's bucket is full: the whole burst passes, whatever the timing. */
    for (int i = 0; i < RATE; i++) {
        assert_int_equal(statuses[i], 200);
    }
    if (after_burst < REFILL_MS) {
        assert_int_equal(statuses[RATE], 429);
    }
    assert_true(passed <= RATE + 1 + (int)(elapsed / REFILL_MS));
    assert_true(passed < 2 * RATE);
}

static void test_refused_post_changes_nothing(void **state)
{
    (void)state;
    char *before = it_db_fingerprint();
    long long keys_before = it_sql_int("SELECT count(*) FROM idempotency_keys");
    exhaust(key_c);
    reply r = {0};
    send_on(it_base_url(), "POST", CREATE_ORG, it_bearer(key_c), "Idempotency-Key: rl-post-1",
            "{\"name\":\"rate-limited-org\"}", &r);
    expect_limited(&r, "a POST over the limit");
    reply_clear(&r);
    ASSERT_UNCHANGED(before);
    assert_int_equal(it_sql_int("SELECT count(*) FROM organizations WHERE name = "
                                "'rate-limited-org'"),
                     0);
    assert_int_equal(it_sql_int("SELECT count(*) FROM idempotency_keys"), keys_before);
    /* Once refilled, the same request goes through. */
    let_buckets_refill();
    send_on(it_base_url(), "POST", CREATE_ORG, it_bearer(key_c), "Idempotency-Key: rl-post-1",
            "{\"name\":\"rate-limited-org\"}", &r);
    assert_int_equal(r.status, 201);
    reply_clear(&r);
    assert_int_equal(it_sql_int("SELECT count(*) FROM organizations WHERE name = "
                                "'rate-limited-org'"),
                     1);
}

static void test_another_key_is_not_slowed(void **state)
{
    (void)state;
    let_buckets_refill();
    exhaust(key_a);
    /* Key B, same role, same address, same moment: its own full burst. */
    reply r = {0};
    spend_burst("/v1/waste-types", key_b, &r);
    /* An auditor key too, on another route. */
    spend_burst("/v1/stats", key_d, &r);
    reply_clear(&r);
}

static void test_bucket_refills(void **state)
{
    (void)state;
    let_buckets_refill();
    int first = exhaust(key_b);
    assert_true(first >= RATE);
    /* Half a second: about two and a half requests come back, never a whole burst. */
    tu_sleep_ms(500);
    reply r = {0};
    long long start = tu_now_ms();
    int passed = 0;
    for (int i = 0; i < RATE; i++) {
        send_as("GET", "/v1/me", key_b, NULL, &r);
        passed += r.status == 200;
    }
    long long elapsed = tu_now_ms() - start;
    print_message("after 500 ms, %d of %d passed (in %lld ms)\n", passed, RATE, elapsed);
    assert_true(passed >= 2);
    assert_true(passed <= 3 + (int)(elapsed / REFILL_MS));
    if (elapsed < REFILL_MS) {
        assert_true(passed < RATE);
    }
    /* A second after its last use, the bucket is full again: a whole burst passes. */
    let_buckets_refill();
    spend_burst("/v1/me", key_b, &r);
    reply_clear(&r);
}

static void test_jwt_is_one_credential_by_issuer_and_subject(void **state)
{
    (void)state;
    long long exp = (long long)time(NULL) + 3600;
    char *alice = it_jwt_hs256(JWT_SECRET,
                               tu_fmt("{\"sub\":\"alice\",\"role\":\"auditor\",\"iss\":\"idp-one\","
                                      "\"aud\":\"wasteflow\",\"exp\":%lld}",
                                      exp));
    /* Another token for the same person (another exp): the same bucket. */
    char *alice_again = it_jwt_hs256(
        JWT_SECRET, tu_fmt("{\"sub\":\"alice\",\"role\":\"auditor\",\"iss\":\"idp-one\","
                           "\"aud\":\"wasteflow\",\"exp\":%lld}",
                           exp + 60));
    char *bob = it_jwt_hs256(JWT_SECRET, tu_fmt("{\"sub\":\"bob\",\"role\":\"auditor\",\"iss\":"
                                                "\"idp-one\",\"aud\":\"wasteflow\",\"exp\":%lld}",
                                                exp));
    exhaust(alice);
    reply r = {0};
    long long start = tu_now_ms();
    send_as("GET", "/v1/me", alice_again, NULL, &r);
    if (tu_now_ms() - start < REFILL_MS) {
        expect_limited(&r, "the same subject with another token");
    }
    get_ok("/v1/me", bob, &r);
    assert_string_equal(it_json_str(r.json, "role"), "auditor");
    reply_clear(&r);
    free(alice);
    free(alice_again);
    free(bob);
}

/* The ways of sending no valid credentials; each costs the address's bucket. */
static const char *const bad_credentials[] = {
    NO_CREDENTIAL,
    "Authorization: Basic dXNlcjpwYXNz",
    "Authorization: Bearer wf_not_a_key",
    "Authorization: Bearer wf_999999_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.AAAA",
};

static void test_unauthenticated_flood_is_limited_by_address(void **state)
{
    (void)state;
    let_buckets_refill();
    /* key_a known as valid before the flood: the instance's memo of verified tokens is
     * direct-mapped, so a token of an earlier test (say, a JWT) may have taken key_a's slot,
     * and a valid token not remembered pays its address once, as any unknown one does — and
     * the flood empties that bucket. */
    reply known = {0};
    get_ok("/v1/waste-types", key_a, &known);
    reply_clear(&known);
    reply r = {0};
    size_t kinds = sizeof bad_credentials / sizeof bad_credentials[0];
    int refused = 0, unauthorized = 0;
    long long start = tu_now_ms();
    for (int i = 0; i < 4 * RATE; i++) {
        send_on(it_base_url(), "GET", "/v1/organizations", bad_credentials[(size_t)i % kinds], NULL,
                NULL, &r);
        if (r.status == 429) {
            expect_limited(&r, "requests without valid credentials");
            assert_non_null(strstr(it_json_str(r.json, "detail"), "from this address"));
            refused++;
        } else {
            char *why =
                tu_problem_mismatch(r.status, r.content_type, r.json, 401, "unauthorized", NULL);
            if (why != NULL) {
                fail_msg("without valid credentials: %s; body: %s", why, r.body);
            }
            unauthorized++;
        }
        /* Meanwhile a valid key from the same address is served: its own bucket. */
        if (i % RATE == RATE - 1) {
            reply ok = {0};
            get_ok("/v1/waste-types", key_a, &ok);
            reply_clear(&ok);
        }
    }
    long long elapsed = tu_now_ms() - start;
    reply_clear(&r);
    print_message("without credentials: %d x 401, %d x 429 in %lld ms\n", unauthorized, refused,
                  elapsed);
    assert_true(unauthorized >= RATE);
    assert_true(unauthorized <= RATE + 1 + (int)(elapsed / REFILL_MS));
    assert_true(refused > 0);
}

/* wasteflow_credential_checks_total{kind="<kind>"} from /metrics, read with a key this
 * instance already knows (so the read itself costs no check). */
static long long credential_checks(const char *kind)
{
    reply r = {0};
    get_ok("/metrics", key_monitor, &r);
    char *name = tu_format("\nwasteflow_credential_checks_total{kind=\"%s\"} ", kind);
    const char *line = strstr(r.body, name);
    assert_non_null(line);
    long long count = atoll(line + strlen(name));
    free(name);
    reply_clear(&r);
    return count;
}

/* The address pays before any cryptography: a forged JWT or a wrong API key secret answered
 * 429 had no signature verified and no secret hashed. Known valid credentials still pass
 * from the same address, without being checked again. */
static void test_address_limit_comes_before_cryptography(void **state)
{
    (void)state;
    let_buckets_refill();
    reply warm = {0};
    send_as("GET", "/v1/me", key_a, NULL, &warm);
    reply_clear(&warm);
    credential_checks("jwt"); /* the monitor key is known from here on */
    long long key_id = strtoll(key_a + 3, NULL, 10);
    char *forged_key =
        tu_format("Authorization: Bearer wf_%lld_%s", key_id,
                  "00000000000000000000000000000000000000000000000000000000000000ff");
    char *forged_jwt = it_jwt_hs256("another-secret-of-at-least-thirty-two-bytes",
                                    tu_fmt("{\"sub\":\"mallory\",\"role\":\"admin\",\"iss\":"
                                           "\"idp-one\",\"aud\":\"wasteflow\",\"exp\":%lld}",
                                           (long long)time(NULL) + 600));
    char *forged_jwt_header = tu_format("Authorization: Bearer %s", forged_jwt);
    const char *const forged[] = {forged_jwt_header, forged_key};
    const char *const kinds[] = {"jwt", "api_key"};
    for (int k = 0; k < 2; k++) {
        let_buckets_refill();
        long long checks_before = credential_checks(kinds[k]);
        int unauthorized = 0, limited = 0;
        reply r = {0};
        for (int i = 0; i < 6 * RATE; i++) {
            send_on(it_base_url(), "GET", "/v1/me", forged[k], NULL, NULL, &r);
            if (r.status == 429) {
                assert_non_null(strstr(it_json_str(r.json, "detail"), "from this address"));
                limited++;
            } else {
                assert_int_equal(r.status, 401);
                unauthorized++;
            }
        }
        /* A known key from the same address: its own bucket, no check. */
        get_ok("/v1/waste-types", key_a, &r);
        reply_clear(&r);
        long long checks = credential_checks(kinds[k]) - checks_before;
        print_message("%d forged %s credentials: %d x 401, %d x 429, %lld checked\n", 6 * RATE,
                      kinds[k], unauthorized, limited, checks);
        assert_true(limited > 0);
        assert_int_equal(checks, unauthorized);
    }
    free(forged_key);
    free(forged_jwt);
    free(forged_jwt_header);
}

static void test_probes_and_static_files_are_not_limited(void **state)
{
    (void)state;
    /* The address's bucket is empty (as after a flood) ... */
    reply r = {0};
    bool empty = false;
    for (int i = 0; i < 4 * RATE && !empty; i++) {
        send_as("GET", "/v1/organizations", NULL, NULL, &r);
        empty = r.status == 429;
    }
    assert_true(empty);
    /* ... and nothing open to anyone is refused, however often: far more requests than the
     * bucket could have let through meanwhile. */
    static const char *const open_paths[] = {"/healthz", "/readyz", "/openapi.json", "/docs"};
    size_t path_count = sizeof open_paths / sizeof open_paths[0];
    long long start = tu_now_ms();
    for (int i = 0; i < 4 * RATE; i++) {
        for (size_t p = 0; p < path_count; p++) {
            send_as("GET", open_paths[p], NULL, NULL, &r);
            if (r.status != 200) {
                fail_msg("GET %s (#%d) with the address's bucket empty: %d", open_paths[p], i,
                         r.status);
            }
        }
    }
    long long elapsed = tu_now_ms() - start;
    reply_clear(&r);
    assert_true((long long)(4 * RATE * path_count) > RATE + 1 + elapsed / REFILL_MS);
}

static void test_refusals_are_counted_in_metrics(void **state)
{
    (void)state;
    reply r = {0};
    get_ok("/metrics", key_monitor, &r);
    const char *line = strstr(r.body, "\nwasteflow_rate_limited_total ");
    assert_non_null(line);
    long long counted = atoll(line + strlen("\nwasteflow_rate_limited_total "));
    print_message("wasteflow_rate_limited_total %lld, 429s seen %d\n", counted, refusals_seen);
    assert_int_equal(counted, refusals_seen);
    assert_non_null(strstr(r.body, "# TYPE wasteflow_rate_limited_total counter\n"));
    assert_non_null(strstr(r.body, "wasteflow_http_requests_total{route=\"me\",status=\"429\"}"));
    reply_clear(&r);
}

static void test_the_limit_is_per_instance(void **state)
{
    (void)state;
    static const char *const env[] = {"WASTEFLOW_RATE_LIMIT=5", NULL};
    const char *second = it_start_second_instance(env);
    exhaust(key_a);
    /* The other instance has buckets of its own: N instances allow N times the rate. */
    reply r = {0};
    for (int i = 0; i < RATE; i++) {
        send_on(second, "GET", "/v1/me", it_bearer(key_a), NULL, NULL, &r);
        assert_int_equal(r.status, 200);
    }
    reply_clear(&r);
    it_stop_second_instance();
}

static void test_zero_turns_it_off(void **state)
{
    (void)state;
    static const char *const env[] = {"WASTEFLOW_RATE_LIMIT=0", NULL};
    const char *second = it_start_second_instance(env);
    reply r = {0};
    for (int i = 0; i < 10 * RATE; i++) {
        send_on(second, "GET", "/v1/me", it_bearer(key_a), NULL, NULL, &r);
        assert_int_equal(r.status, 200);
        send_on(second, "GET", "/v1/me", NO_CREDENTIAL, NULL, NULL, &r);
        assert_int_equal(r.status, 401);
    }
    reply_clear(&r);
    it_stop_second_instance();
}

/* The contract says so too: every operation that needs credentials documents its 429. */
static void test_openapi_documents_429(void **state)
{
    (void)state;
    reply r = {0};
    get_ok("/openapi.json", NULL, &r);
    const cJSON *paths = tu_member(r.json, "paths");
    int operations = 0;
    const cJSON *path;
    cJSON_ArrayForEach(path, paths)
    {
        if (strncmp(path->string, "/v1/", 4) != 0 && strcmp(path->string, "/metrics") != 0) {
            continue;
        }
        const cJSON *operation;
        cJSON_ArrayForEach(operation, path)
        {
            const cJSON *responses = cJSON_GetObjectItemCaseSensitive(operation, "responses");
            if (responses == NULL) {
                continue; /* path-level parameters */
            }
            const cJSON *ref = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(responses, "429"), "$ref");
            if (!cJSON_IsString(ref) ||
                strcmp(ref->valuestring, "#/components/responses/TooManyRequests") != 0) {
                fail_msg("%s %s documents no 429", operation->string, path->string);
            }
            operations++;
        }
    }
    assert_true(operations >= 20);
    const cJSON *too_many = it_json_at(r.json, "components.responses.TooManyRequests.headers");
    assert_non_null(cJSON_GetObjectItemCaseSensitive(too_many, "Retry-After"));
    assert_non_null(strstr(it_json_str(r.json, "info.description"), "429"));
    reply_clear(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_passes_then_429),
        cmocka_unit_test(test_refused_post_changes_nothing),
        cmocka_unit_test(test_another_key_is_not_slowed),
        cmocka_unit_test(test_bucket_refills),
        cmocka_unit_test(test_jwt_is_one_credential_by_issuer_and_subject),
        cmocka_unit_test(test_unauthenticated_flood_is_limited_by_address),
        cmocka_unit_test(test_address_limit_comes_before_cryptography),
        cmocka_unit_test(test_probes_and_static_files_are_not_limited),
        cmocka_unit_test(test_refusals_are_counted_in_metrics),
        cmocka_unit_test(test_the_limit_is_per_instance),
        cmocka_unit_test(test_zero_turns_it_off),
        cmocka_unit_test(test_openapi_documents_429),
        TU_AUDIT_TEST,
    };
    return cmocka_run_group_tests_name("rate_limit", tests, group_setup, group_teardown);
}
