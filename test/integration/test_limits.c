/* The server's own limits, which evhttp 2.1 does not provide: a deadline for a whole
 * request to arrive (a client trickling one header line at a time is cut off), a cap on
 * concurrent connections (enforced at the listener), and a bounded queue of requests
 * waiting for a database connection (503 with Retry-After beyond it). */
#include "harness.h"
#include "runner.h"
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *const server_env[] = {"WASTEFLOW_HEADER_TIMEOUT_MS=1500",
                                         "WASTEFLOW_MAX_CONNECTIONS=6", "WASTEFLOW_POOL_SIZE=1",
                                         "WASTEFLOW_QUEUE_MAX=2", NULL};

/* Waits up to timeout_ms for the peer to close (or reset) the connection. */
static bool closed_within(int fd, int timeout_ms)
{
    long long deadline = tu_now_ms() + timeout_ms;
    char buf[512];
    while (tu_now_ms() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 50) > 0) {
            ssize_t n = recv(fd, buf, sizeof buf, 0);
            if (n == 0 || (n < 0 && errno == ECONNRESET)) {
                return true;
            }
        }
    }
    return false;
}

/* Reads a response head within timeout_ms into buf; returns its length, 0 when none. */
static size_t read_head(int fd, char *buf, size_t size, int timeout_ms)
{
    long long deadline = tu_now_ms() + timeout_ms;
    size_t used = 0;
    while (tu_now_ms() < deadline && used + 1 < size) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 50) > 0) {
            ssize_t n = recv(fd, buf + used, size - 1 - used, 0);
            if (n <= 0) {
                break;
            }
            used += (size_t)n;
            buf[used] = '\0';
            if (strstr(buf, "\r\n\r\n") != NULL) {
                return used;
            }
        }
    }
    return 0;
}

static int group_setup(void **state)
{
    (void)state;
    it_start(server_env);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    return it_stop();
}

static void test_slow_request_is_cut_off(void **state)
{
    (void)state;
    int fd = tu_connect(NULL, 0);
    long long start = tu_now_ms();
    const char *line = "GET /healthz HTTP/1.1\r\n";
    assert_int_equal(send(fd, line, strlen(line), 0), (ssize_t)strlen(line));
    /* One header line every 300 ms keeps evhttp's idle timer happy forever. */
    bool closed = false;
    for (int i = 0; i < 20 && !closed; i++) {
        char header[32];
        int len = snprintf(header, sizeof header, "X-Slow-%d: 1\r\n", i);
        if (send(fd, header, (size_t)len, MSG_NOSIGNAL) != len) {
            closed = true;
            break;
        }
        closed = closed_within(fd, 300);
    }
    long long elapsed = tu_now_ms() - start;
    close(fd);
    assert_true(closed);
    /* Cut at the 1.5 s deadline, not by any idle timeout (30 s). */
    assert_true(elapsed >= 1300);
    assert_true(elapsed < 4000);
    EXPECT_GET_STATUS(200, "/healthz");
}

static void test_a_complete_request_is_not_cut_off(void **state)
{
    (void)state;
    /* The deadline counts per request: a keep-alive connection serves one request, idles
     * less than the deadline, and serves the next. */
    int fd = tu_connect(NULL, 0);
    const char *request = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
    char head[1024];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(send(fd, request, strlen(request), 0), (ssize_t)strlen(request));
        assert_true(read_head(fd, head, sizeof head, 2000) > 0);
        assert_non_null(strstr(head, "HTTP/1.1 200"));
        tu_sleep_ms(800);
    }
    close(fd);
}

static void test_connection_cap(void **state)
{
    (void)state;
    int held[6];
    for (int i = 0; i < 6; i++) {
        held[i] = tu_connect(NULL, 0);
    }
    tu_sleep_ms(200);
    /* The kernel completes the handshake from its backlog, but the server does not accept
     * a seventh connection while six are open: no answer. */
    int extra = tu_connect(NULL, 0);
    const char *request = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
    assert_int_equal(send(extra, request, strlen(request), 0), (ssize_t)strlen(request));
    char head[1024];
    assert_int_equal(read_head(extra, head, sizeof head, 700), 0);
    close(held[0]);
    /* One slot frees: the waiting connection is accepted and answered. */
    assert_true(read_head(extra, head, sizeof head, 3000) > 0);
    assert_non_null(strstr(head, "HTTP/1.1 200"));
    close(extra);
    for (int i = 1; i < 6; i++) {
        close(held[i]);
    }
}

typedef struct {
    long long organization;
    int status;
    char retry_after[16];
} transfer_call;

static void *post_transfer(void *arg)
{
    transfer_call *call = arg;
    char path[64];
    snprintf(path, sizeof path, "/v1/organizations/%lld/transfers", call->organization);
    it_response *response = it_post(path, "{\"waste\": {\"glass\": 1}}");
    call->status = response->status;
    const char *retry = it_header(response, "Retry-After");
    snprintf(call->retry_after, sizeof call->retry_after, "%s", retry != NULL ? retry : "");
    it_response_free(response);
    return NULL;
}

static void test_queue_bound(void **state)
{
    (void)state;
    long long organization = tu_new_org("queue-org", NULL, NULL);
    /* Hold the organization's row so the one pool connection stays busy with the first
     * transfer, two more wait in the queue, and the rest are over the bound. */
    PGconn *blocker = PQconnectdb(it_database_url());
    assert_int_equal(PQstatus(blocker), CONNECTION_OK);
    char sql[128];
    snprintf(sql, sizeof sql, "BEGIN; SELECT 1 FROM organizations WHERE id = %lld FOR UPDATE",
             organization);
    PQclear(PQexec(blocker, sql));
    enum { CALLS = 6 };
    transfer_call calls[CALLS];
    pthread_t threads[CALLS];
    for (int i = 0; i < CALLS; i++) {
        calls[i] = (transfer_call){.organization = organization};
        assert_int_equal(pthread_create(&threads[i], NULL, post_transfer, &calls[i]), 0);
        tu_sleep_ms(50);
    }
    tu_sleep_ms(1500);
    PQclear(PQexec(blocker, "ROLLBACK"));
    PQfinish(blocker);
    int created = 0, refused = 0;
    for (int i = 0; i < CALLS; i++) {
        pthread_join(threads[i], NULL);
        if (calls[i].status == 201) {
            created++;
        } else {
            assert_int_equal(calls[i].status, 503);
            assert_string_equal(calls[i].retry_after, "1");
            refused++;
        }
    }
    /* One running and two queued get through; the other three are refused at once. */
    assert_int_equal(created, 3);
    assert_int_equal(refused, 3);
    assert_int_equal(
        it_sql_int("SELECT count(*) FROM transfers WHERE organization_id = %lld", organization), 3);
}

RUNNER_MAIN(group_setup, group_teardown,
            {
                cmocka_unit_test(test_slow_request_is_cut_off),
                cmocka_unit_test(test_a_complete_request_is_not_cut_off),
                cmocka_unit_test(test_connection_cap),
                cmocka_unit_test(test_queue_bound),
                TU_AUDIT_TEST,
            })
