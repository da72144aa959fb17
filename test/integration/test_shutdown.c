/* SIGTERM under load. Eight client threads send transfers and reads continuously, each on a
 * fresh connection and with its own X-Request-Id, and the server gets SIGTERM. Twice: with
 * only that load, and with one more request held inside the database (its organization row
 * locked by the test) across the SIGTERM. Then:
 *   - every request that got a response got a complete, valid one (201 transfer, 200 JSON, or a
 *     503 problem with Retry-After);
 *   - the only transport errors are connections refused once the listener has closed (counted
 *     and reported apart); any other one fails the test, and the server log tells whether the
 *     server had handled that request (its response was lost) or never logged it;
 *   - the held request (second run) is answered (201) after SIGTERM: in-flight work is drained;
 *   - the server exits 0 within the drain timeout;
 *   - every transfer acknowledged with 201 is in the ledger, and the audit is clean. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "runner.h"
#include "testutil.h"

#include <cmocka.h>
#include <curl/curl.h>

#define LOAD_THREADS     8
#define DRAIN_TIMEOUT_MS 10000
#define MAX_LOST         40

/* ------------------------------------------------------------------ a thread-owned client */

static bool refused(const tu_http_result *r)
{
    return r->code == CURLE_COULDNT_CONNECT && r->os_errno == ECONNREFUSED;
}

/* ------------------------------------------------------------------ the load */

typedef struct {
    char request_id[64];
    char what[600];
    long long at_ms; /* relative to SIGTERM (negative: before) */
} lost_request;

static struct {
    pthread_mutex_t lock;
    atomic_bool stop;
    atomic_llong sigterm_ms; /* 0 until SIGTERM is sent */
    long long orgs[LOAD_THREADS];
    long requests;
    long statuses[600];
    long refused_after_sigterm;
    long answered_after_sigterm;  /* responses completed after SIGTERM */
    tu_acknowledged acknowledged; /* transfers seen in 201s */
    tu_problems problems;         /* invalid answers */
    lost_request lost[MAX_LOST];  /* transport errors other than refused */
    int lost_count;
} load = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* NULL when r is a complete, valid answer to the request, else why not. */
static const char *invalid_answer(const tu_http_result *r, bool transfer, long long org,
                                  long long amount, long long *id)
{
    *id = 0;
    if (r->status == 503) {
        return tu_bad_503(r);
    }
    if (r->status != (transfer ? 201 : 200)) {
        return "unexpected status";
    }
    cJSON *json = cJSON_Parse(r->body);
    const char *why = NULL;
    if (!cJSON_IsObject(json)) {
        why = "body is not a complete JSON object";
    } else if (transfer) {
        *id = tu_transfer_id_of(r, org, amount);
        if (*id == 0) {
            why = "201 with a wrong transfer body";
        }
    }
    cJSON_Delete(json);
    return why;
}

/* Records one finished request (transfer: amount > 0). */
static void account(const tu_http_result *r, const char *method, const char *url,
                    const char *request_id, long long org, long long amount)
{
    long long sigterm = atomic_load(&load.sigterm_ms);
    bool transfer = amount > 0;
    long long id = 0;
    const char *why = r->status != 0 ? invalid_answer(r, transfer, org, amount, &id) : NULL;
    pthread_mutex_lock(&load.lock);
    load.requests++;
    load.statuses[r->status >= 0 && r->status < 600 ? r->status : 599]++;
    if (r->status == 0) {
        if (refused(r) && sigterm != 0 && r->started_ms >= sigterm - 50) {
            load.refused_after_sigterm++;
        } else {
            if (load.lost_count < MAX_LOST) {
                lost_request *lost = &load.lost[load.lost_count];
                snprintf(lost->request_id, sizeof lost->request_id, "%s", request_id);
                snprintf(lost->what, sizeof lost->what, "%s %s: %s (errno %ld)", method, url,
                         r->error, r->os_errno);
                lost->at_ms = sigterm ? r->ended_ms - sigterm : -1000000;
            }
            load.lost_count++;
        }
    } else if (why != NULL) {
        tu_problem_add(&load.problems, "%s %s [%s] -> %ld: %s: %.200s", method, url, request_id,
                       r->status, why, r->body);
    } else {
        if (sigterm != 0 && r->ended_ms > sigterm) {
            load.answered_after_sigterm++;
        }
        if (id > 0) {
            tu_acknowledged_add(&load.acknowledged, id, amount);
        }
    }
    pthread_mutex_unlock(&load.lock);
}

static void *worker_main(void *arg)
{
    tu_load_worker *w = arg;
    CURL *curl = curl_easy_init();
    tu_http_result r = {0};
    long long org = load.orgs[w->index];
    char recent[96];
    snprintf(recent, sizeof recent, "/v1/transfers?organization_id=%lld&limit=5", org);
    tu_load_request q;
    for (long n = 0; !atomic_load(&load.stop); n++) {
        tu_load_request_pick(&q, &w->rng, true, it_base_url(), org, recent);
        const char *method = q.method, *url = q.url, *send_body = q.body;
        long long amount = q.amount;
        char request_id[64];
        snprintf(request_id, sizeof request_id, "sd-%d-%ld", w->index, n);
        tu_http_call(curl, method, url, send_body, NULL, request_id, 30, true, &r);
        account(&r, method, url, request_id, org, amount);
        if (refused(&r)) {
            tu_sleep_ms(5); /* the server is gone: no need to spin */
        }
    }
    tu_http_result_clear(&r);
    curl_easy_cleanup(curl);
    return NULL;
}

static tu_load_worker workers[LOAD_THREADS];

static void workers_stop(void)
{
    atomic_store(&load.stop, true);
    for (int i = 0; i < LOAD_THREADS; i++) {
        pthread_join(workers[i].thread, NULL);
    }
}

/* The request held in the database across SIGTERM. */
static struct {
    pthread_t thread;
    long long org;
    tu_http_result result;
} held;

static void *held_main(void *arg)
{
    (void)arg;
    CURL *curl = curl_easy_init();
    char url[256];
    snprintf(url, sizeof url, "%s/v1/organizations/%lld/transfers", it_base_url(), held.org);
    tu_http_call(curl, "POST", url, "{\"waste\":{\"glass\":7}}", NULL, "sd-held", 30, true,
                 &held.result);
    curl_easy_cleanup(curl);
    return NULL;
}

/* ------------------------------------------------------------------ the test */

static int setup(void **state)
{
    (void)state;
    /* Request lines in the log, to tell a lost response from a request never read. */
    const char *env[] = {tu_fmt("WASTEFLOW_DRAIN_TIMEOUT_MS=%d", DRAIN_TIMEOUT_MS),
                         "WASTEFLOW_LOG_LEVEL=info", "WASTEFLOW_LOCK_TIMEOUT_MS=8000", NULL};
    it_start(env);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    it_stop();
    tu_acknowledged_clear(&load.acknowledged);
    return 0;
}

static void load_reset(void)
{
    tu_acknowledged_clear(&load.acknowledged);
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    memset(&load, 0, sizeof load);
    load.lock = lock;
    atomic_store(&load.stop, false);
    atomic_store(&load.sigterm_ms, 0);
    free(held.result.body);
    memset(&held, 0, sizeof held);
}

/* The status the server logged for request_id, 0 when it logged none. */
static int logged_status(const char *log, const char *request_id)
{
    char needle[96];
    snprintf(needle, sizeof needle, "\"request_id\":\"%s\"", request_id);
    const char *hit = log != NULL ? strstr(log, needle) : NULL;
    if (hit == NULL) {
        return 0;
    }
    const char *line = hit;
    while (line > log && line[-1] != '\n') {
        line--;
    }
    const char *status = strstr(line, "\"status\":\"");
    return status != NULL && status < hit ? atoi(status + 10) : -1;
}

static char *read_file(const char *path)
{
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        return NULL;
    }
    char *text = NULL;
    size_t length = 0;
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, file)) > 0) {
        char *grown = realloc(text, length + got + 1);
        if (grown == NULL) {
            break;
        }
        text = grown;
        memcpy(text + length, chunk, got);
        length += got;
        text[length] = '\0';
    }
    fclose(file);
    return text;
}

/* hold: one transfer is kept waiting inside the database across SIGTERM. Without it the
 * drain sees only short requests, and the race between the last of them finishing and
 * connections accepted just before the listener closed is the thing tested. */
static void run_sigterm(bool hold)
{
    load_reset();
    long long storage = 0;
    {
        storage = tu_new_storage("drain-storage", "{\"glass\": 1000000000}");
    }
    char to[64];
    snprintf(to, sizeof to, "{\"storage_id\": %lld}", storage);
    for (int i = 0; i <= LOAD_THREADS; i++) {
        long long org = tu_new_org("drain-org", "{}", NULL);
        char from[64];
        snprintf(from, sizeof from, "{\"organization_id\": %lld}", org);
        it_create_route(from, to, 10, false);
        if (i < LOAD_THREADS) {
            load.orgs[i] = org;
        } else {
            held.org = org;
        }
    }
    pid_t server = it_server_pid();
    const char *log_path = it_server_log_path();
    char log_copy[256];
    snprintf(log_copy, sizeof log_copy, "%s", log_path);

    for (int i = 0; i < LOAD_THREADS; i++) {
        workers[i].index = i;
        workers[i].rng.state = 4321u + (unsigned)i;
        assert_int_equal(pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]), 0);
    }

    tu_sleep_ms(800); /* load running */
    if (hold) {
        /* Hold one transfer inside the database: lock its organization row. */
        it_sql_exec("BEGIN");
        it_sql_exec("SELECT id FROM organizations WHERE id = %lld FOR UPDATE", held.org);
        assert_int_equal(pthread_create(&held.thread, NULL, held_main, NULL), 0);
        long long waited = 0;
        while (it_sql_int("SELECT count(*) FROM pg_stat_activity"
                          " WHERE pg_backend_pid() = ANY(pg_blocking_pids(pid))") == 0) {
            if (waited > 5000) {
                it_sql_exec("ROLLBACK");
                workers_stop();
                pthread_join(held.thread, NULL);
                fail_msg("the held transfer never waited for the organization lock");
            }
            tu_sleep_ms(20);
            waited += 20;
        }
    }
    tu_sleep_ms(500);
    long long sigterm_at = tu_now_ms();
    atomic_store(&load.sigterm_ms, sigterm_at);
    assert_int_equal(kill(server, SIGTERM), 0);
    if (hold) {
        tu_sleep_ms(1000);
        it_sql_exec("COMMIT"); /* the held transfer may now finish, during the drain */
    }

    /* SIGTERMs again (ignored while draining) and waits for the exit. */
    int code = it_stop_server_only();
    long long exited_after = tu_now_ms() - sigterm_at;
    tu_sleep_ms(300); /* clients now meet a closed port */
    workers_stop();
    if (hold) {
        pthread_join(held.thread, NULL);
    }

    char line[1024];
    tu_status_line(line, sizeof line, load.requests, load.statuses);
    print_message("%s\nexit %d after %lld ms; %ld answered after SIGTERM; %ld refused after the "
                  "listener closed; %d other transport errors; held transfer: %ld after %lld ms\n",
                  line, code, exited_after, load.answered_after_sigterm, load.refused_after_sigterm,
                  load.lost_count, held.result.status,
                  hold ? held.result.ended_ms - sigterm_at : 0);

    /* Every finding is listed; the test fails once, at the end. */
    int findings = 0;
    tu_problems_print(&load.problems, "invalid answer");
    findings += load.problems.count;
    if (load.lost_count > 0) {
        char *log = read_file(log_copy);
        for (int i = 0; i < load.lost_count && i < MAX_LOST; i++) {
            const lost_request *lost = &load.lost[i];
            int status = logged_status(log, lost->request_id);
            fprintf(stderr, "  transport error %lld ms after SIGTERM [%s] %s; server log: %s",
                    lost->at_ms, lost->request_id, lost->what,
                    status > 0 ? "it answered this request, the response was lost: status "
                               : "no line for this request (never handled)\n");
            if (status > 0) {
                fprintf(stderr, "%d\n", status);
            }
        }
        free(log);
        findings += load.lost_count;
    }
    if (code != 0) {
        fprintf(stderr, "  the server exited with %d after SIGTERM (expected 0)\n", code);
        findings++;
    }
    if (exited_after > DRAIN_TIMEOUT_MS + tu_scaled_ms(1000) + (tu_under_valgrind() ? 30000 : 0)) {
        fprintf(stderr, "  the server took %lld ms to exit after SIGTERM (drain timeout %d ms)\n",
                exited_after, DRAIN_TIMEOUT_MS);
        findings++;
    }
    /* The held transfer was in flight at SIGTERM and must have been completed. */
    long long held_id = 0;
    if (hold && (held.result.status != 201 || held.result.ended_ms <= sigterm_at + 900 ||
                 invalid_answer(&held.result, true, held.org, 7, &held_id) != NULL)) {
        char *log = read_file(log_copy);
        int status = logged_status(log, "sd-held");
        free(log);
        fprintf(stderr,
                "  the transfer in flight at SIGTERM got %ld (%s) %lld ms after SIGTERM, expected "
                "201 after the lock was released (~1000 ms); the server log says %s%d): %.200s\n",
                held.result.status, held.result.error, held.result.ended_ms - sigterm_at,
                status > 0 ? "it answered it (status " : "nothing (", status, held.result.body);
        findings++;
    }
    if (held_id > 0) {
        tu_acknowledged_add(&load.acknowledged, held_id, 7);
    }
    if (load.refused_after_sigterm == 0) {
        fprintf(stderr, "  no client met a closed listener: the load did not outlive the server\n");
        findings++;
    }

    /* The ledger has every acknowledged transfer. */
    char *array = tu_acknowledged_sql_array(&load.acknowledged);
    long long found =
        it_sql_int("SELECT count(*) FROM transfers WHERE id = ANY('%s'::bigint[])", array);
    long long glass = it_sql_int("SELECT coalesce(sum((received->>'glass')::bigint), 0)"
                                 " FROM transfers WHERE id = ANY('%s'::bigint[])",
                                 array);
    free(array);
    if (found != (long long)load.acknowledged.count || glass != load.acknowledged.glass) {
        fprintf(stderr, "  ledger: %lld of %zu acknowledged transfers found, %lld of %lld kg\n",
                found, load.acknowledged.count, glass, load.acknowledged.glass);
        findings++;
    } else {
        print_message("all %lld acknowledged transfers are in the ledger\n", found);
    }
    char *audit = it_run_audit();
    if (audit[0] != '\0') {
        fprintf(stderr, "  audit found violations:\n%s\n", audit);
        findings++;
    }
    free(audit);
    if (findings > 0) {
        fail_msg("%d findings (listed above; server log %s)", findings, log_copy);
    }
}

/* ------------------------------------------------------------------ queued requests */

static pid_t stopped_server;

static int teardown_queued(void **state)
{
    if (stopped_server > 0) {
        kill(stopped_server, SIGCONT);
        stopped_server = 0;
    }
    return teardown(state);
}

/* Requests whose connections were made and whose bytes were all sent before SIGTERM, but
 * which the server had not read yet (it was stopped): they are in flight as far as their
 * clients can tell, and must be answered, not dropped. Deterministic: the server is
 * SIGSTOPped while the clients connect and send, then gets SIGTERM and SIGCONT. */
static void test_sigterm_with_requests_queued(void **state)
{
    (void)state;
    load_reset();
    long long org = tu_new_org("queued-org", "{}", NULL);
    enum { QUEUED = 4 };
    const char *base = it_base_url();
    int port = atoi(strrchr(base, ':') + 1);
    char transfer[512];
    const char *transfer_body = "{\"waste\":{\"glass\":3}}";
    snprintf(transfer, sizeof transfer,
             "POST /v1/organizations/%lld/transfers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
             "X-Request-Id: queued-transfer\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\n\r\n%s",
             org, strlen(transfer_body), transfer_body);
    const char *requests[QUEUED] = {
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Request-Id: queued-0\r\n\r\n",
        "GET /v1/stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Request-Id: queued-1\r\n\r\n",
        transfer,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Request-Id: queued-3\r\n\r\n",
    };
    const int expected[QUEUED] = {200, 200, 201, 200};
    pid_t server = it_server_pid();
    assert_int_equal(kill(server, SIGSTOP), 0);
    stopped_server = server;
    int fds[QUEUED];
    for (int i = 0; i < QUEUED; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fds[i] >= 0);
        struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        /* The kernel completes the handshake from the listen backlog. */
        if (connect(fds[i], (struct sockaddr *)&address, sizeof address) != 0) {
            fail_msg("connect: %s", strerror(errno));
        }
        size_t length = strlen(requests[i]);
        char *request = tu_raw_with_auth(requests[i], &length);
        assert_true(send(fds[i], request, length, MSG_NOSIGNAL) == (ssize_t)length);
        free(request);
    }
    assert_int_equal(kill(server, SIGTERM), 0);
    assert_int_equal(kill(server, SIGCONT), 0);
    stopped_server = 0;
    char answers[QUEUED][4096];
    const char *outcome[QUEUED];
    long long deadline = tu_now_ms() + tu_scaled_ms(15000);
    for (int i = 0; i < QUEUED; i++) {
        size_t used = 0;
        outcome[i] = "no answer within 15 s";
        answers[i][0] = '\0';
        while (tu_now_ms() < deadline) {
            struct pollfd poller = {.fd = fds[i], .events = POLLIN};
            if (poll(&poller, 1, 100) <= 0) {
                continue;
            }
            ssize_t got = recv(fds[i], answers[i] + used, sizeof answers[i] - 1 - used, 0);
            if (got < 0 && errno == EINTR) {
                continue;
            }
            if (got < 0) {
                outcome[i] = errno == ECONNRESET ? "reset" : "receive error";
                break;
            }
            if (got == 0) {
                outcome[i] = used > 0 ? "answered" : "closed without an answer";
                break;
            }
            used += (size_t)got;
            answers[i][used] = '\0';
        }
        close(fds[i]);
    }
    int code = it_stop_server_only();
    int failures = 0;
    for (int i = 0; i < QUEUED; i++) {
        int status = strncmp(answers[i], "HTTP/1.1 ", 9) == 0 ? atoi(answers[i] + 9) : 0;
        const char *line_end = strchr(requests[i], '\r');
        print_message("queued %.*s: %s, status %d\n", (int)(line_end - requests[i]), requests[i],
                      outcome[i], status);
        if (status != expected[i]) {
            failures++;
        }
    }
    long long ledger =
        it_sql_int("SELECT count(*) FROM transfers WHERE organization_id = %lld", org);
    if (failures > 0) {
        fail_msg("%d of %d requests sent before SIGTERM were not answered (the transfer is %s the "
                 "ledger); server log %s",
                 failures, QUEUED, ledger ? "in" : "not in", it_server_log_path());
    }
    assert_int_equal(ledger, 1);
    assert_int_equal(code, 0);
}

static void test_sigterm_under_load(void **state)
{
    (void)state;
    run_sigterm(false);
}

static void test_sigterm_with_request_in_database(void **state)
{
    (void)state;
    run_sigterm(true);
}

RUNNER_MAIN(
    NULL, NULL,
    {
        cmocka_unit_test_setup_teardown(test_sigterm_under_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigterm_with_request_in_database, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigterm_with_requests_queued, setup, teardown_queued),
    })
