/* Concurrency: two server instances on one database under many concurrent transfers, unloads
 * and capacity raises. Afterwards the ledger must be consistent (audit), no stock above
 * capacity, waste conserved against what the clients saw, and one ledger row per 201.
 * Then many identical requests with one Idempotency-Key race for a single transfer.
 * Each thread sends on its own curl handle (tu_http_call); only the main thread asserts. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "harness.h"
#include "prng.h"
#include "testutil.h"

#include <cmocka.h>
#include <curl/curl.h>

#define ORG_COUNT        40
#define TRANSFER_THREADS 32
#define UNLOAD_THREADS   2
#define CAPACITY_THREADS 1
#define LOAD_SECONDS     8.0
#define SETTLE_SECONDS   2
/* Small enough that even a sanitizer build fills both storages within the run, so waste goes
 * pending and unloads and raises dispatch it automatically while transfers keep coming. */
#define HOT_CAPACITY        2000
#define HOT_CAPACITY_STEP   100
#define FAR_CAPACITY        1000
#define MAX_AMOUNT          50
#define IDEMPOTENCY_THREADS 16
#define IDEMPOTENCY_ROUNDS  5
#define IDEMPOTENCY_AMOUNT  3
#define PROBLEM_IN_FLIGHT   "https://wasteflow.dev/problems/idempotency-key-in-flight"
#define INSTANCES           2
#define CLIENT_TIMEOUT_S    60L

static const char *base_urls[INSTANCES];

/* ---- small helpers ---- */

/* Failed invariants, collected so that one run reports all of them. */
static tu_problems failed_checks;

static long long glass_of(const cJSON *object, const char *key)
{
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(object, key);
    assert_true(cJSON_IsObject(map));
    const cJSON *glass = cJSON_GetObjectItemCaseSensitive(map, "glass");
    return glass ? it_json_int(map, "glass") : 0;
}

static long long new_org(void)
{
    return tu_new_org("hot-org", "{}", NULL);
}

static long long new_storage(const char *capacity_json)
{
    return tu_new_storage("hot-storage", capacity_json);
}

/* ---- the load ---- */

typedef enum { WORKER_TRANSFER, WORKER_UNLOAD, WORKER_CAPACITY } worker_kind;

typedef struct {
    pthread_t thread;
    worker_kind kind;
    int index;
    prng rng; /* this thread's own, from a fixed seed */
    long long requests;
    long long per_instance[INSTANCES];
    long long created;          /* 201 transfers */
    long long received_kg;      /* received.glass summed over those 201s */
    long long sent_kg;          /* glass sent in those requests: must equal received_kg */
    long long unloaded_kg;      /* glass in 200 unloads */
    long long unload_conflicts; /* 409: another unloader got there first */
    long long capacity;         /* the hot storage's glass capacity last set */
    long long server_errors;    /* 5xx */
    long long transport_errors; /* no HTTP answer */
    long long unexpected;       /* any other status, or a malformed 201 */
    long long statuses[600];    /* responses by HTTP status (0: no answer) */
    char first_problem[512];
} worker;

static struct {
    long long orgs[ORG_COUNT];
    long long hot, far;
    double deadline;
    pthread_barrier_t start;
} load;

static void note_problem(worker *w, const char *what, const tu_http_result *reply)
{
    if (w->first_problem[0] == '\0')
        snprintf(w->first_problem, sizeof w->first_problem, "%s -> %ld: %.300s", what,
                 reply->status, reply->body ? reply->body : "");
}

/* Classifies a reply that is not the expected one. */
static void count_failure(worker *w, const char *what, const tu_http_result *reply)
{
    if (reply->status == 0)
        w->transport_errors++;
    else if (reply->status >= 500)
        w->server_errors++;
    else
        w->unexpected++;
    note_problem(w, what, reply);
}

/* The number at "glass" of a quantities object, or missing (load threads: no assertion). */
static long long glass_or(const cJSON *quantities, long long missing)
{
    const cJSON *glass = cJSON_GetObjectItemCaseSensitive(quantities, "glass");
    return cJSON_IsNumber(glass) ? (long long)glass->valuedouble : missing;
}

/* One request to instance, counted in w: requests, per instance, by status. */
static void send_counted(worker *w, CURL *curl, int instance, const char *method, const char *url,
                         const char *body, tu_http_result *reply)
{
    tu_http_call(curl, method, url, body, NULL, NULL, CLIENT_TIMEOUT_S, false, reply);
    w->requests++;
    w->per_instance[instance]++;
    w->statuses[reply->status % 600]++;
}

static void run_transfers(worker *w, CURL *curl, tu_http_result *reply)
{
    while (tu_now_seconds() < load.deadline) {
        int instance = (int)((w->index + w->requests) % INSTANCES);
        long long org = load.orgs[prng_below(&w->rng, ORG_COUNT)];
        bool empty = prng_below(&w->rng, 8) == 0;
        long long amount = empty ? 0 : 1 + prng_below(&w->rng, MAX_AMOUNT);
        char url[256], body[128];
        snprintf(url, sizeof url, "%s/v1/organizations/%lld/transfers", base_urls[instance], org);
        if (empty)
            snprintf(body, sizeof body, "{\"waste\":{}}");
        else
            snprintf(body, sizeof body, "{\"waste\":{\"glass\":%lld}}", amount);
        send_counted(w, curl, instance, "POST", url, body, reply);
        if (empty && reply->status == 200) {
            /* Received nothing and found nothing to ship: no ledger row, "id": null. */
            cJSON *nothing = cJSON_Parse(reply->body);
            const cJSON *shipments = cJSON_GetObjectItemCaseSensitive(nothing, "shipments");
            if (!cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(nothing, "id")) ||
                !cJSON_IsArray(shipments) || cJSON_GetArraySize(shipments) != 0) {
                w->unexpected++;
                note_problem(w, "200 that is not an empty transfer", reply);
            }
            cJSON_Delete(nothing);
            continue;
        }
        if (reply->status != 201) {
            count_failure(w, url, reply);
            continue;
        }
        cJSON *transfer = cJSON_Parse(reply->body);
        const cJSON *received = cJSON_GetObjectItemCaseSensitive(transfer, "received");
        long long got = glass_or(received, 0);
        if (!cJSON_IsObject(received) || got != amount ||
            cJSON_GetArraySize(received) != (amount ? 1 : 0)) {
            w->unexpected++;
            note_problem(w, "201 with a wrong received", reply);
        }
        cJSON_Delete(transfer);
        w->created++;
        w->received_kg += got;
        w->sent_kg += amount;
    }
}

static void run_unloads(worker *w, CURL *curl, tu_http_result *reply)
{
    while (tu_now_seconds() < load.deadline) {
        int instance = (int)((w->index + w->requests) % INSTANCES);
        char url[256];
        snprintf(url, sizeof url, "%s/v1/storages/%lld", base_urls[instance], load.hot);
        send_counted(w, curl, instance, "GET", url, NULL, reply);
        if (reply->status != 200) {
            count_failure(w, url, reply);
            continue;
        }
        cJSON *storage = cJSON_Parse(reply->body);
        long long in_stock = glass_or(cJSON_GetObjectItemCaseSensitive(storage, "stock"), -1);
        cJSON_Delete(storage);
        if (in_stock < 0) {
            w->unexpected++;
            note_problem(w, "storage without stock.glass", reply);
            continue;
        }
        if (in_stock > 0) {
            long long cap = in_stock < 100 ? in_stock : 100;
            long long amount = 1 + (long long)prng_below(&w->rng, (uint64_t)cap);
            char body[64];
            snprintf(body, sizeof body, "{\"glass\":%lld}", amount);
            instance = (instance + 1) % INSTANCES;
            snprintf(url, sizeof url, "%s/v1/storages/%lld/unload", base_urls[instance], load.hot);
            send_counted(w, curl, instance, "POST", url, body, reply);
            if (reply->status == 200)
                w->unloaded_kg += amount;
            else if (reply->status == 409)
                w->unload_conflicts++;
            else
                count_failure(w, url, reply);
        }
        tu_sleep_ms(20);
    }
}

static void run_capacity_raises(worker *w, CURL *curl, tu_http_result *reply)
{
    w->capacity = HOT_CAPACITY;
    while (tu_now_seconds() + 0.3 < load.deadline) {
        tu_sleep_ms(300);
        int instance = (int)(w->requests % INSTANCES);
        char url[256], body[96];
        snprintf(url, sizeof url, "%s/v1/storages/%lld", base_urls[instance], load.hot);
        snprintf(body, sizeof body, "{\"capacity\":{\"glass\":%lld}}",
                 w->capacity + HOT_CAPACITY_STEP);
        send_counted(w, curl, instance, "PATCH", url, body, reply);
        if (reply->status == 200)
            w->capacity += HOT_CAPACITY_STEP;
        else
            count_failure(w, url, reply);
    }
}

static void *worker_main(void *argument)
{
    worker *w = argument;
    CURL *curl = curl_easy_init();
    tu_http_result reply = {0};
    pthread_barrier_wait(&load.start);
    if (!curl) {
        w->transport_errors++;
        snprintf(w->first_problem, sizeof w->first_problem, "curl_easy_init failed");
        return NULL;
    }
    switch (w->kind) {
    case WORKER_TRANSFER:
        run_transfers(w, curl, &reply);
        break;
    case WORKER_UNLOAD:
        run_unloads(w, curl, &reply);
        break;
    case WORKER_CAPACITY:
        run_capacity_raises(w, curl, &reply);
        break;
    }
    tu_http_result_clear(&reply);
    curl_easy_cleanup(curl);
    return NULL;
}

static const cJSON *stats_of(const it_response *stats, const char *type)
{
    const cJSON *entry = cJSON_GetObjectItemCaseSensitive(stats->json, type);
    if (!cJSON_IsObject(entry))
        fail_msg("/v1/stats has no \"%s\": %s", type, stats->body);
    return entry;
}

static void test_two_instances_under_load(void **state)
{
    (void)state;
    load.hot = new_storage(tu_fmt("{\"glass\":%d}", HOT_CAPACITY));
    load.far = new_storage(tu_fmt("{\"glass\":%d}", FAR_CAPACITY));
    char org_list[ORG_COUNT * 24] = "";
    size_t used = 0;
    for (int i = 0; i < ORG_COUNT; i++) {
        load.orgs[i] = new_org();
        it_create_route(ORG(load.orgs[i]), STORAGE(load.hot), 10 + i % 7, false);
        it_create_route(ORG(load.orgs[i]), STORAGE(load.far), 5000, false);
        used += (size_t)snprintf(org_list + used, sizeof org_list - used, "%s%lld", i ? "," : "",
                                 load.orgs[i]);
    }

    enum { WORKERS = TRANSFER_THREADS + UNLOAD_THREADS + CAPACITY_THREADS };
    static worker workers[WORKERS];
    memset(workers, 0, sizeof workers);
    assert_int_equal(pthread_barrier_init(&load.start, NULL, WORKERS + 1), 0);
    for (int i = 0; i < WORKERS; i++) {
        workers[i].index = i;
        workers[i].rng.state = 0x5eed0000u + (unsigned)i;
        workers[i].kind = i < TRANSFER_THREADS                    ? WORKER_TRANSFER
                          : i < TRANSFER_THREADS + UNLOAD_THREADS ? WORKER_UNLOAD
                                                                  : WORKER_CAPACITY;
        assert_int_equal(pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]), 0);
    }
    double started = tu_now_seconds();
    load.deadline = started + LOAD_SECONDS;
    pthread_barrier_wait(&load.start);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(workers[i].thread, NULL);
    double elapsed = tu_now_seconds() - started;
    pthread_barrier_destroy(&load.start);

    worker total = {0};
    long long final_capacity = HOT_CAPACITY;
    for (int i = 0; i < WORKERS; i++) {
        const worker *w = &workers[i];
        total.requests += w->requests;
        for (int k = 0; k < INSTANCES; k++)
            total.per_instance[k] += w->per_instance[k];
        total.created += w->created;
        total.received_kg += w->received_kg;
        total.sent_kg += w->sent_kg;
        total.unloaded_kg += w->unloaded_kg;
        total.unload_conflicts += w->unload_conflicts;
        total.server_errors += w->server_errors;
        total.transport_errors += w->transport_errors;
        total.unexpected += w->unexpected;
        if (w->kind == WORKER_CAPACITY)
            final_capacity = w->capacity;
        if (w->first_problem[0])
            printf("  thread %d: first problem: %s\n", i, w->first_problem);
    }
    printf("concurrency: %d threads (%d transfer, %d unload, %d capacity) on %d instances for "
           "%.1f s: %lld requests (%lld / %lld per instance), %lld transfers 201 carrying %lld kg, "
           "%lld kg unloaded (%lld unload conflicts), hot capacity %d -> %lld; 5xx %lld, "
           "transport errors %lld, unexpected %lld\n",
           WORKERS, TRANSFER_THREADS, UNLOAD_THREADS, CAPACITY_THREADS, INSTANCES, elapsed,
           total.requests, total.per_instance[0], total.per_instance[1], total.created,
           total.received_kg, total.unloaded_kg, total.unload_conflicts, HOT_CAPACITY,
           final_capacity, total.server_errors, total.transport_errors, total.unexpected);
    static const char *const kind_names[] = {"transfer", "unload", "capacity"};
    for (int kind = WORKER_TRANSFER; kind <= WORKER_CAPACITY; kind++) {
        printf("  %s threads, responses by status:", kind_names[kind]);
        for (int status = 0; status < 600; status++) {
            long long count = 0;
            for (int i = 0; i < WORKERS; i++)
                if (workers[i].kind == (worker_kind)kind)
                    count += workers[i].statuses[status];
            if (count)
                printf(" %d x%lld", status, count);
        }
        printf("\n");
    }
    fflush(stdout);

    /* Every invariant is checked and reported before any of them fails the test. */
    tu_sleep_ms(SETTLE_SECONDS * 1000);

    char *audit = it_run_audit();
    TU_CHECK(&failed_checks, audit[0] == '\0', "audit after the load reports:\n%s", audit);
    free(audit);

    long long over_capacity =
        it_sql_int("SELECT count(*) FROM storage_waste WHERE stock > capacity OR stock < 0");
    TU_CHECK(&failed_checks, over_capacity == 0, "%lld storage rows with stock outside 0..capacity",
             over_capacity);
    long long request_rows = it_sql_int("SELECT count(*) FROM transfers WHERE trigger = 'request' "
                                        "AND organization_id = ANY('{%s}'::bigint[])",
                                        org_list);
    TU_CHECK(&failed_checks, request_rows == total.created,
             "ledger holds %lld request transfers, clients saw %lld 201 responses", request_rows,
             total.created);
    long long hot_capacity = it_sql_int("SELECT capacity FROM storage_waste WHERE storage_id = "
                                        "%lld AND waste_type = 'glass'",
                                        load.hot);
    TU_CHECK(&failed_checks, hot_capacity == final_capacity,
             "hot storage capacity %lld, last PATCH set %lld", hot_capacity, final_capacity);

    it_response *stats = it_get("/v1/stats");
    EXPECT_STATUS(stats, 200);
    const cJSON *glass = stats_of(stats, "glass");
    long long generated = it_json_int(glass, "generated");
    long long stored = it_json_int(glass, "stored");
    long long pending = it_json_int(glass, "pending");
    long long unloaded = it_json_int(glass, "unloaded");
    printf("concurrency: stats glass generated %lld = stored %lld + pending %lld + unloaded %lld\n",
           generated, stored, pending, unloaded);
    TU_CHECK(&failed_checks, generated == total.received_kg,
             "stats generated %lld, the 201 responses received %lld kg", generated,
             total.received_kg);
    TU_CHECK(&failed_checks, generated == stored + pending + unloaded,
             "not conserved: generated %lld != stored %lld + pending %lld + unloaded %lld",
             generated, stored, pending, unloaded);
    TU_CHECK(&failed_checks, unloaded == total.unloaded_kg,
             "stats unloaded %lld, the 200 unloads carried %lld kg", unloaded, total.unloaded_kg);
    TU_CHECK(&failed_checks, it_json_int(glass, "capacity") == final_capacity + FAR_CAPACITY,
             "stats glass capacity %lld, expected %lld", it_json_int(glass, "capacity"),
             final_capacity + FAR_CAPACITY);
    TU_CHECK(&failed_checks,
             it_json_int(glass, "remaining") == final_capacity + FAR_CAPACITY - stored,
             "stats glass remaining %lld, expected %lld", it_json_int(glass, "remaining"),
             final_capacity + FAR_CAPACITY - stored);
    TU_CHECK(&failed_checks, it_json_int(stats_of(stats, "plastic"), "generated") == 0,
             "plastic generated");
    TU_CHECK(&failed_checks, it_json_int(stats_of(stats, "bio"), "generated") == 0,
             "bio generated");
    it_response_free(stats);

    /* No stranded waste: while anything is pending, both storages (reachable from every
     * organization) must be full. */
    it_response *hot = it_get("/v1/storages/%lld", load.hot);
    EXPECT_STATUS(hot, 200);
    it_response *far = it_get("/v1/storages/%lld", load.far);
    EXPECT_STATUS(far, 200);
    long long hot_stock = glass_of(hot->json, "stock");
    long long far_stock = glass_of(far->json, "stock");
    TU_CHECK(&failed_checks, hot_stock <= final_capacity, "hot stock %lld over capacity %lld",
             hot_stock, final_capacity);
    TU_CHECK(&failed_checks, far_stock <= FAR_CAPACITY, "far stock %lld over capacity %d",
             far_stock, FAR_CAPACITY);
    TU_CHECK(&failed_checks, hot_stock + far_stock == stored,
             "storages hold %lld, stats stored %lld", hot_stock + far_stock, stored);
    if (pending > 0) {
        TU_CHECK(&failed_checks,
                 glass_of(hot->json, "remaining") == 0 && glass_of(far->json, "remaining") == 0,
                 "%lld kg pending %d s after the load although there is room: hot %lld, far %lld",
                 pending, SETTLE_SECONDS, glass_of(hot->json, "remaining"),
                 glass_of(far->json, "remaining"));
    }
    it_response_free(hot);
    it_response_free(far);

    TU_CHECK(&failed_checks, total.server_errors == 0, "%lld responses with status 5xx",
             total.server_errors);
    TU_CHECK(&failed_checks, total.transport_errors == 0, "%lld requests without an HTTP answer",
             total.transport_errors);
    TU_CHECK(&failed_checks, total.unexpected == 0, "%lld unexpected responses", total.unexpected);
    TU_CHECK(&failed_checks, total.created > 0, "no transfer succeeded");
    TU_CHECK(&failed_checks, total.received_kg == total.sent_kg,
             "201s received %lld kg of the %lld kg sent", total.received_kg, total.sent_kg);
    tu_problems_check(&failed_checks, "after the load", -1);
}

/* ---- the Idempotency-Key race ---- */

typedef struct {
    pthread_t thread;
    int index;
    const char *path;
    const char *key;
    const char *body;
    char key_header[256];       /* "Idempotency-Key: <key>" */
    const char *key_headers[2]; /* {key_header, NULL} */
    pthread_barrier_t *start;
    tu_http_result reply;
    char problem_type[128];
} racer;

static void *racer_main(void *argument)
{
    racer *r = argument;
    CURL *curl = curl_easy_init();
    char url[256];
    snprintf(url, sizeof url, "%s%s", base_urls[r->index % INSTANCES], r->path);
    snprintf(r->key_header, sizeof r->key_header, "Idempotency-Key: %s", r->key);
    r->key_headers[0] = r->key_header;
    r->key_headers[1] = NULL;
    pthread_barrier_wait(r->start);
    if (!curl)
        return NULL;
    tu_http_call(curl, "POST", url, r->body, r->key_headers, NULL, CLIENT_TIMEOUT_S, false,
                 &r->reply);
    cJSON *json = cJSON_Parse(r->reply.body);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(json, "type");
    if (cJSON_IsString(type))
        snprintf(r->problem_type, sizeof r->problem_type, "%s", type->valuestring);
    cJSON_Delete(json);
    curl_easy_cleanup(curl);
    return NULL;
}

static void test_idempotency_key_race(void **state)
{
    (void)state;
    long long org = new_org();
    long long storage = new_storage("{\"glass\":1000}");
    it_create_route(ORG(org), STORAGE(storage), 25, false);
    char path[128], body[64];
    snprintf(path, sizeof path, "/v1/organizations/%lld/transfers", org);
    snprintf(body, sizeof body, "{\"waste\":{\"glass\":%d}}", IDEMPOTENCY_AMOUNT);
    long long in_flight_total = 0, replays_total = 0;

    for (int round = 1; round <= IDEMPOTENCY_ROUNDS; round++) {
        char *key = it_unique_name("race-key");
        static racer racers[IDEMPOTENCY_THREADS];
        pthread_barrier_t start;
        assert_int_equal(pthread_barrier_init(&start, NULL, IDEMPOTENCY_THREADS), 0);
        for (int i = 0; i < IDEMPOTENCY_THREADS; i++) {
            racers[i] =
                (racer){.index = i, .path = path, .key = key, .body = body, .start = &start};
            assert_int_equal(pthread_create(&racers[i].thread, NULL, racer_main, &racers[i]), 0);
        }
        for (int i = 0; i < IDEMPOTENCY_THREADS; i++)
            pthread_join(racers[i].thread, NULL);
        pthread_barrier_destroy(&start);

        const char *original = NULL;
        int originals = 0, replays = 0, in_flight = 0;
        for (int i = 0; i < IDEMPOTENCY_THREADS; i++) {
            const tu_http_result *reply = &racers[i].reply;
            if (reply->status == 201) {
                if (reply->replayed) {
                    replays++;
                } else {
                    originals++;
                    original = reply->body;
                }
            } else if (reply->status == 409) {
                if (strcmp(racers[i].problem_type, PROBLEM_IN_FLIGHT) != 0)
                    fail_msg("round %d: 409 that is not in-flight: %s", round, reply->body);
                in_flight++;
            } else {
                fail_msg("round %d: request %d got %ld: %s", round, i, reply->status, reply->body);
            }
        }
        if (originals != 1)
            fail_msg("round %d: %d original (non-replayed) 201 responses, expected exactly 1",
                     round, originals);
        for (int i = 0; i < IDEMPOTENCY_THREADS; i++) {
            const tu_http_result *reply = &racers[i].reply;
            if (reply->status == 201 && strcmp(reply->body, original) != 0)
                fail_msg("round %d: a 201 body differs from the original:\n  %s\n  %s", round,
                         reply->body, original);
        }
        cJSON *transfer = cJSON_Parse(original);
        assert_non_null(transfer);
        long long transfer_id = it_json_int(transfer, "id");
        cJSON_Delete(transfer);
        assert_int_equal(it_sql_int("SELECT count(*) FROM transfers WHERE organization_id = %lld "
                                    "AND trigger = 'request'",
                                    org),
                         round);
        assert_int_equal(
            it_sql_int("SELECT max(id) FROM transfers WHERE organization_id = %lld", org),
            transfer_id);

        /* Nothing in flight any more: a late retry is a plain replay. */
        const char *key_header = tu_fmt("Idempotency-Key: %s", key);
        const char *const headers[] = {key_header, NULL};
        it_response *late = it_request("POST", path, body, headers);
        EXPECT_STATUS(late, 201);
        assert_string_equal(late->body, original);
        assert_non_null(it_header(late, "Idempotent-Replayed"));
        assert_string_equal(it_header(late, "Idempotent-Replayed"), "true");
        it_response_free(late);

        in_flight_total += in_flight;
        replays_total += replays;
        for (int i = 0; i < IDEMPOTENCY_THREADS; i++)
            tu_http_result_clear(&racers[i].reply);
        free(key);
    }
    printf("idempotency race: %d rounds x %d threads on %d instances: %d originals, %lld replays, "
           "%lld in-flight 409s\n",
           IDEMPOTENCY_ROUNDS, IDEMPOTENCY_THREADS, INSTANCES, IDEMPOTENCY_ROUNDS, replays_total,
           in_flight_total);

    it_response *stored = it_get("/v1/storages/%lld", storage);
    EXPECT_STATUS(stored, 200);
    assert_int_equal(glass_of(stored->json, "stock"), IDEMPOTENCY_ROUNDS * IDEMPOTENCY_AMOUNT);
    it_response_free(stored);
    tu_assert_audit_clean();
}

static int group_setup(void **state)
{
    (void)state;
    it_start(NULL);
    base_urls[0] = it_base_url();
    base_urls[1] = it_start_second_instance(NULL);
    return 0;
}

int main(void)
{
    /* Before any thread exists: curl_global_init is not thread-safe. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_instances_under_load),
        cmocka_unit_test(test_idempotency_key_race),
    };
    int failed = cmocka_run_group_tests(tests, group_setup, tu_teardown_any_exit);
    curl_global_cleanup();
    return failed;
}
