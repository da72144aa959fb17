/* What a client costs the server with replies it does not read, with a readiness probe it
 * asks without end, and from behind a reverse proxy:
 *   - hogs: 150 connections each pipelining the 1.45 MB Swagger bundle and reading nothing
 *     grow the server by little (the bundle is sent by reference), and a newcomer's /healthz
 *     is answered while they stay connected;
 *   - pause: a connection whose reply waits unread is not read further (its pipelined
 *     requests stay in the kernel, not in the server's memory);
 *   - budget: past WASTEFLOW_OUTPUT_BUDGET_MB of unsent bytes, the biggest holders close,
 *     logged and counted by reason;
 *   - unread at the cap: connections with unread replies count as idle for their address's
 *     budget, so one address cannot hold the cap with them;
 *   - readyz: at most one database round trip per 100 ms, whoever asks;
 *   - proxies: with WASTEFLOW_TRUSTED_PROXIES, per-address limits use the forwarded client
 *     address (IPv6 by /64), and an untrusted peer's X-Forwarded-For is ignored. */
#include "harness.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUNDLE_PATH    "/docs/swagger-ui-bundle.js"
#define BUNDLE_REQUEST "GET " BUNDLE_PATH " HTTP/1.1\r\nHost: t\r\n\r\n"

/* ------------------------------------------------------------------ helpers */

/* The status of the first response head read within timeout_ms; 0 when none came. */
static int response_status(int fd, int timeout_ms)
{
    char buf[4096];
    size_t used = 0;
    long long deadline = tu_now_ms() + timeout_ms;
    while (tu_now_ms() < deadline && used + 1 < sizeof buf) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 20) <= 0) {
            continue;
        }
        ssize_t n = recv(fd, buf + used, sizeof buf - 1 - used, 0);
        if (n <= 0) {
            return 0;
        }
        used += (size_t)n;
        buf[used] = '\0';
        if (strstr(buf, "\r\n\r\n") != NULL && strncmp(buf, "HTTP/1.", 7) == 0) {
            return atoi(buf + 9);
        }
    }
    return 0;
}

/* GET of the bundle, read whole: its pages of the binary are then resident, so they do not
 * count as growth later. */
static void warm_up_bundle(void)
{
    it_response *bundle = it_get(BUNDLE_PATH);
    EXPECT_STATUS(bundle, 200);
    assert_true(bundle->body_len > 1000000);
    it_response_free(bundle);
}

/* Opens count connections from local_ip, each sending `pipelined` requests for the bundle
 * at once and reading nothing. */
static void open_hogs(int *fds, int count, int pipelined, const char *local_ip)
{
    char requests[16 * sizeof BUNDLE_REQUEST];
    size_t len = 0;
    for (int i = 0; i < pipelined && i < 16; i++) {
        memcpy(requests + len, BUNDLE_REQUEST, sizeof BUNDLE_REQUEST - 1);
        len += sizeof BUNDLE_REQUEST - 1;
    }
    for (int i = 0; i < count; i++) {
        fds[i] = tu_connect(local_ip, 4096);
        tu_send_all(fds[i], requests, len);
    }
}

static void close_all(int *fds, int count)
{
    for (int i = 0; i < count; i++) {
        close(fds[i]);
    }
}

static int group_teardown(void **state)
{
    (void)state;
    return it_stop();
}

/* ------------------------------------------------------------------ group: hogs */

enum { HOGS = 150 };

/* ASan's quarantine keeps freed memory resident: the test measures the server's. */
TU_SETUP_WITH(hogs_setup, "WASTEFLOW_MAX_CONNECTIONS=150",
              "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:quarantine_size_mb=0")

/* A new client (127.0.0.2) asks GET /healthz: the status it gets within 5 s (scaled), and
 * how long it waited in *waited. */
static int newcomer_healthz(long long *waited)
{
    long long start = tu_now_ms();
    int fd = tu_connect("127.0.0.2", 0);
    const char *health = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
    tu_send_all(fd, health, strlen(health));
    int status = response_status(fd, (int)tu_scaled_ms(5000));
    *waited = tu_now_ms() - start;
    close(fd);
    return status;
}

/* What a newcomer met at the connection cap: its status, how long it waited, and how many
 * connections the server closed at the cap since closed_before; printed, with what was
 * closed named by closed_what. */
typedef struct {
    int status;
    long long waited_ms, closed_at_cap;
} newcomer;

static newcomer newcomer_at_cap(long long closed_before, const char *closed_what)
{
    newcomer n;
    n.status = newcomer_healthz(&n.waited_ms);
    n.closed_at_cap = tu_metric("wasteflow_http_connections_closed_total{reason=\"idle_at_cap\"}") -
                      closed_before;
    print_message("newcomer's /healthz: %d after %lld ms; %s closed at the cap: %lld\n", n.status,
                  n.waited_ms, closed_what, n.closed_at_cap);
    return n;
}

/* Before: +206 MB, and the newcomer got no answer while the hogs were connected. */
static void test_unread_replies_hold_neither_memory_nor_the_cap(void **state)
{
    (void)state;
    pid_t pid = it_server_pid();
    warm_up_bundle();
    tu_sleep_ms(100);
    long before_kib = tu_vm_rss_kib(pid);
    int hogs[HOGS];
    open_hogs(hogs, HOGS, 4, "127.0.0.1");
    tu_sleep_ms(300);
    /* A newcomer from another address, while every slot is taken. */
    long long waited;
    int status = newcomer_healthz(&waited);
    tu_sleep_ms(500);
    long after_kib = tu_vm_rss_kib(pid);
    close_all(hogs, HOGS);
    print_message("%d hogs x 4 pipelined bundles, unread: server RSS %ld -> %ld KiB (+%ld); "
                  "newcomer's /healthz: %d after %lld ms\n",
                  HOGS, before_kib, after_kib, after_kib - before_kib, status, waited);
    assert_int_equal(status, 200);
    assert_true(waited <= tu_scaled_ms(2000));
    if (tu_under_valgrind()) {
        print_message("under valgrind: RSS not compared\n");
    } else if (after_kib - before_kib > 24 * 1024) {
        fail_msg("the server grew by %ld KiB holding replies nobody reads", after_kib - before_kib);
    }
}

/* ------------------------------------------------------------------ group: pause, budget */

TU_SETUP_WITH(budget_setup, "WASTEFLOW_OUTPUT_BUDGET_MB=4", "WASTEFLOW_MAX_CONNECTIONS=64",
              "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:quarantine_size_mb=0")

/* Before: evhttp read every pipelined byte into memory while the reply waited. */
static void test_unsent_reply_stops_reading(void **state)
{
    (void)state;
    enum { FLOOD = 64 * 1024 * 1024 };
    pid_t pid = it_server_pid();
    warm_up_bundle();
    tu_sleep_ms(100);
    long before_kib = tu_vm_rss_kib(pid);
    /* Sixteen bundles (23 MB): more than the kernel's buffers take, so a reply waits in the
     * server. */
    int hog;
    open_hogs(&hog, 1, 16, "127.0.0.1");
    /* Then pipelined requests, as fast as the connection takes them. */
    const char *unit = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
    size_t unit_len = strlen(unit);
    char *flood = tu_repeat(unit, 65536 / unit_len);
    size_t flood_len = strlen(flood);
    size_t accepted = 0;
    long long deadline = tu_now_ms() + tu_scaled_ms(1500);
    while (accepted < FLOOD && tu_now_ms() < deadline) {
        ssize_t n = send(hog, flood, flood_len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            accepted += (size_t)n;
        } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            fail_msg("send: %s", strerror(errno));
        } else {
            tu_sleep_ms(5);
        }
    }
    free(flood);
    long after_kib = tu_vm_rss_kib(pid);
    long long paused = tu_metric("wasteflow_http_reads_paused");
    close(hog);
    print_message(
        "sixteen unread bundles, then %zu KiB of pipelined requests taken: server RSS %ld -> "
        "%ld KiB (+%ld), reads paused: %lld\n",
        accepted / 1024, before_kib, after_kib, after_kib - before_kib, paused);
    assert_int_equal(paused, 1);
    /* The kernel's buffers take some MiB; the server reads none of it. */
    assert_true(accepted < 24 * 1024 * 1024);
    if (!tu_under_valgrind() && after_kib - before_kib > 8 * 1024) {
        fail_msg("the server grew by %ld KiB reading requests behind an unread reply",
                 after_kib - before_kib);
    }
}

static void test_output_budget_closes_the_biggest(void **state)
{
    (void)state;
    enum { HOLDERS = 8 };
    long long closed_before =
        tu_metric("wasteflow_http_connections_closed_total{reason=\"output_budget\"}");
    int holders[HOLDERS];
    open_hogs(holders, HOLDERS, 16, "127.0.0.1");
    tu_sleep_ms((long)tu_scaled_ms(1000));
    long long closed =
        tu_metric("wasteflow_http_connections_closed_total{reason=\"output_budget\"}");
    long long unsent = tu_metric("wasteflow_http_unsent_bytes");
    close_all(holders, HOLDERS);
    print_message("%d connections x 16 unread bundles: %lld closed over the budget, %lld bytes "
                  "unsent after\n",
                  HOLDERS, closed - closed_before, unsent);
    assert_true(closed_before >= 0);
    /* Each holds up to a bundle (1.45 MB) beyond what the kernel took: some close, the rest
     * fit in the budget of 4 MiB. */
    assert_true(closed - closed_before >= 1);
    assert_true(closed - closed_before < HOLDERS);
    assert_true(unsent >= 0 && unsent <= 4 * 1024 * 1024);
    assert_true(tu_log_mentions("unsent replies over the output budget: connections closed"));
    EXPECT_GET_STATUS(200, "/healthz");
}

/* ------------------------------------------------------------------ group: unread at the cap */

enum { CAP = 20, BUDGET = 4 };

TU_SETUP_WITH(cap_setup, "WASTEFLOW_MAX_CONNECTIONS=20", "WASTEFLOW_MAX_IDLE_PER_CLIENT=4",
              "WASTEFLOW_OUTPUT_BUDGET_MB=4096")

/* Before: connections with a reply in flight never counted as idle, so the hogs kept every
 * slot and the newcomer waited for the 30 s write timeout. */
static void test_unread_replies_count_as_idle_at_the_cap(void **state)
{
    (void)state;
    long long closed_before =
        tu_metric("wasteflow_http_connections_closed_total{reason=\"idle_at_cap\"}");
    int hogs[CAP];
    open_hogs(hogs, CAP, 2, "127.0.0.1");
    tu_sleep_ms(200);
    newcomer n = newcomer_at_cap(closed_before, "hog connections");
    close_all(hogs, CAP);
    assert_int_equal(n.status, 200);
    assert_true(n.waited_ms <= tu_scaled_ms(2000));
    assert_true(closed_before >= 0);
    /* The address keeps its budget of such connections. */
    assert_int_equal(n.closed_at_cap, CAP - BUDGET);
}

/* ------------------------------------------------------------------ group: readyz */

enum { ASKERS = 4 };

typedef struct {
    long long until_ms;
    long asked, ready, other;
} asker;

static void *ask_readyz(void *arg)
{
    asker *a = arg;
    CURL *curl = curl_easy_init();
    char *url = tu_format("%s/readyz", it_base_url());
    tu_http_result r = {0};
    while (tu_now_ms() < a->until_ms) {
        tu_http_call(curl, "GET", url, NULL, NULL, NULL, 5, false, &r);
        a->asked++;
        if (r.status == 200) {
            a->ready++;
        } else {
            a->other++;
        }
    }
    tu_http_result_clear(&r);
    free(url);
    curl_easy_cleanup(curl);
    return NULL;
}

/* Before: every /readyz was a query (7,500 a second from one client). */
static void test_readyz_one_round_trip_per_100ms(void **state)
{
    (void)state;
    long long checks_before = tu_metric("wasteflow_readyz_checks_total");
    asker askers[ASKERS];
    pthread_t threads[ASKERS];
    long long start = tu_now_ms();
    for (int i = 0; i < ASKERS; i++) {
        askers[i] = (asker){.until_ms = start + 2000};
        assert_int_equal(pthread_create(&threads[i], NULL, ask_readyz, &askers[i]), 0);
    }
    long asked = 0, ready = 0, other = 0;
    for (int i = 0; i < ASKERS; i++) {
        pthread_join(threads[i], NULL);
        asked += askers[i].asked;
        ready += askers[i].ready;
        other += askers[i].other;
    }
    long long elapsed = tu_now_ms() - start;
    long long checks = tu_metric("wasteflow_readyz_checks_total");
    print_message("%ld /readyz in %lld ms from %d clients (%ld ready, %ld other): %lld database "
                  "round trips\n",
                  asked, elapsed, ASKERS, ready, other, checks - checks_before);
    assert_true(checks_before >= 0);
    assert_int_equal(other, 0);
    assert_true(asked > 100);
    /* One per 100 ms over the 2 s, and one that may straddle the end. */
    assert_true(checks - checks_before >= 2);
    assert_true(checks - checks_before <= elapsed / 100 + 1);
}

/* The answer is reused, not stuck: a database that stops answering makes /readyz 503. */
static void test_readyz_503_when_the_database_is_gone(void **state)
{
    (void)state;
    it_sql_exec("ALTER ROLE wasteflow_app NOLOGIN");
    it_sql_exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE usename = 'wasteflow_app' AND datname = current_database()");
    int status = 0;
    long long deadline = tu_now_ms() + tu_scaled_ms(5000);
    while (status != 503 && tu_now_ms() < deadline) {
        tu_sleep_ms(50);
        it_response *response = it_get("/readyz");
        status = response->status;
        it_response_free(response);
    }
    it_sql_exec("ALTER ROLE wasteflow_app LOGIN");
    assert_int_equal(status, 503);
    deadline = tu_now_ms() + tu_scaled_ms(15000);
    while (status != 200 && tu_now_ms() < deadline) {
        tu_sleep_ms(100);
        it_response *response = it_get("/readyz");
        status = response->status;
        it_response_free(response);
    }
    assert_int_equal(status, 200);
}

/* ------------------------------------------------------------------ group: proxies */

/* One request a second per address: the second of two requests in a row is refused
 * when both count against one address, however slow the server (valgrind). */
TU_SETUP_WITH(proxies_setup, "WASTEFLOW_TRUSTED_PROXIES=127.0.0.1/32, 10.0.0.0/8",
              "WASTEFLOW_RATE_LIMIT=1", "WASTEFLOW_LOG_LEVEL=info")

/* The status of GET /v1/me without credentials, from local_ip with this forwarding header
 * (NULL: none), on a connection of its own: 401, or 429 once its address's budget is spent. */
static int unauthenticated_from(const char *local_ip, const char *header)
{
    int fd = tu_connect(local_ip, 0);
    char *request = tu_format("GET /v1/me HTTP/1.1\r\nHost: t\r\n%s%sConnection: close\r\n\r\n",
                              header != NULL ? header : "", header != NULL ? "\r\n" : "");
    tu_send_all(fd, request, strlen(request));
    free(request);
    int status = response_status(fd, (int)tu_scaled_ms(3000));
    close(fd);
    return status;
}

/* Two requests in a row from local_ip: the second is refused (429) exactly when both count
 * against one address; fresh addresses each, so the first is always admitted (401). */
static void expect_pair(const char *local_ip, const char *first, const char *second,
                        bool same_address)
{
    int first_status = unauthenticated_from(local_ip, first);
    int second_status = unauthenticated_from(local_ip, second);
    int want = same_address ? 429 : 401;
    if (first_status != 401 || second_status != want) {
        fail_msg("from %s: \"%s\" then \"%s\": got %d then %d, want 401 then %d", local_ip,
                 first != NULL ? first : "no header", second != NULL ? second : "no header",
                 first_status, second_status, want);
    }
}

/* Before: every client of the proxy shared the proxy's budget. */
static void test_forwarded_clients_get_their_own_budgets(void **state)
{
    (void)state;
    /* Through the trusted proxy (127.0.0.1): two clients, two budgets... */
    expect_pair("127.0.0.1", "X-Forwarded-For: 203.0.113.1", "X-Forwarded-For: 203.0.113.2", false);
    /* ...one client however it is named: Forwarded or X-Forwarded-For, with a port, behind
     * further trusted proxies, after addresses it made up itself. */
    expect_pair("127.0.0.1", "X-Forwarded-For: 198.51.100.1, 203.0.113.3, 10.1.2.3",
                "Forwarded: for=\"203.0.113.3:4711\";proto=http", true);
    /* The proxy itself keeps its own budget, and spends it on malformed headers. */
    expect_pair("127.0.0.1", NULL, "X-Forwarded-For: 203.0.113.4", false);
    expect_pair("127.0.0.1", "X-Forwarded-For: 203.0.113.5", "X-Forwarded-For: garbage", true);
    /* IPv6 clients count by /64. */
    expect_pair("127.0.0.1", "Forwarded: for=\"[2001:db8:1:2::1]:4711\"",
                "X-Forwarded-For: 2001:db8:1:2:ffff::99", true);
    expect_pair("127.0.0.1", "X-Forwarded-For: 2001:db8:1:3::1", "X-Forwarded-For: 2001:db8:1:4::1",
                false);
    /* The access log names the forwarded client. */
    tu_sleep_ms(100);
    assert_true(tu_log_mentions("\"client\":\"203.0.113.2\""));
}

static void test_untrusted_peers_forwarding_is_ignored(void **state)
{
    (void)state;
    /* 127.0.0.2 is no trusted proxy: whatever it forwards, it is one address. */
    expect_pair("127.0.0.2", "X-Forwarded-For: 192.0.2.1", "Forwarded: for=192.0.2.2", true);
}

/* ------------------------------------------------------------------ group: proxied idle budget */

enum { PROXIED_CAP = 12, PROXIED_BUDGET = 3 };

TU_SETUP_WITH(proxied_idle_setup, "WASTEFLOW_TRUSTED_PROXIES=127.0.0.1",
              "WASTEFLOW_MAX_CONNECTIONS=12", "WASTEFLOW_MAX_IDLE_PER_CLIENT=3")

/* The idle budget counts a connection as the client its last request came from, and an IPv6
 * client by its /64, as the rate limit does: two /64 networks behind the proxy, six
 * connections each, keep three each at the cap (with exact addresses, twelve clients of one
 * connection each would keep all; by the proxy's address, one client would keep three). */
static void test_idle_budget_counts_forwarded_clients_by_64(void **state)
{
    (void)state;
    long long closed_before =
        tu_metric("wasteflow_http_connections_closed_total{reason=\"idle_at_cap\"}");
    int held[PROXIED_CAP];
    for (int i = 0; i < PROXIED_CAP; i++) {
        held[i] = tu_connect("127.0.0.1", 0);
        char *request = tu_format("GET /healthz HTTP/1.1\r\nHost: t\r\n"
                                  "X-Forwarded-For: 2001:db8:7:%d::%d\r\n\r\n",
                                  i % 2 == 0 ? 7 : 8, i + 1);
        tu_send_all(held[i], request, strlen(request));
        free(request);
        assert_int_equal(response_status(held[i], (int)tu_scaled_ms(3000)), 200);
    }
    newcomer n = newcomer_at_cap(closed_before, "forwarded clients' idle connections");
    close_all(held, PROXIED_CAP);
    assert_int_equal(n.status, 200);
    assert_true(closed_before >= 0);
    assert_int_equal(n.closed_at_cap, PROXIED_CAP - 2 * PROXIED_BUDGET);
}

/* ------------------------------------------------------------------ the runner */

int main(void)
{
    const struct CMUnitTest hog_tests[] = {
        cmocka_unit_test(test_unread_replies_hold_neither_memory_nor_the_cap)};
    const struct CMUnitTest budget_tests[] = {
        cmocka_unit_test(test_unsent_reply_stops_reading),
        cmocka_unit_test(test_output_budget_closes_the_biggest)};
    const struct CMUnitTest cap_tests[] = {
        cmocka_unit_test(test_unread_replies_count_as_idle_at_the_cap)};
    const struct CMUnitTest readyz_tests[] = {
        cmocka_unit_test(test_readyz_one_round_trip_per_100ms),
        cmocka_unit_test(test_readyz_503_when_the_database_is_gone)};
    const struct CMUnitTest proxy_tests[] = {
        cmocka_unit_test(test_forwarded_clients_get_their_own_budgets),
        cmocka_unit_test(test_untrusted_peers_forwarding_is_ignored)};
    const struct CMUnitTest proxied_idle_tests[] = {
        cmocka_unit_test(test_idle_budget_counts_forwarded_clients_by_64)};
    int failed = 0;
    failed += cmocka_run_group_tests_name("output.proxied_idle", proxied_idle_tests,
                                          proxied_idle_setup, group_teardown);
    failed +=
        cmocka_run_group_tests_name("output.proxies", proxy_tests, proxies_setup, group_teardown);
    failed +=
        cmocka_run_group_tests_name("output.readyz", readyz_tests, tu_setup, tu_teardown_any_exit);
    failed += cmocka_run_group_tests_name("output.hogs", hog_tests, hogs_setup, group_teardown);
    failed +=
        cmocka_run_group_tests_name("output.budget", budget_tests, budget_setup, group_teardown);
    failed +=
        cmocka_run_group_tests_name("output.unread_at_cap", cap_tests, cap_setup, group_teardown);
    return failed;
}
