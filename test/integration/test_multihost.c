/* A multi-host DATABASE_URL against the real server (docs/design.md, "High availability"):
 * the service must find the writable host by itself, whatever the hosts before it do.
 *   (a) the first host drops connection attempts (a blackhole: a listening socket on
 *       127.0.0.1 whose accept queue is full, so Linux drops every SYN): the server gets
 *       ready on the second host within seconds and serves reads and writes;
 *   (b) the first host refuses (RST): the second is used at once;
 *   (c) every host down (the blackhole, and the real database behind a relay that this test
 *       stops): requests get a quick 503 problem with Retry-After, /readyz is 503, a few
 *       rate-limited warnings name both hosts' failures; when the relay comes back the same
 *       server process writes again within seconds.
 * Each test restarts the server on the runner's database with its multi-host URL (and debug
 * logs, to see each attempt). Everything listens on 127.0.0.1 and is this process's own. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
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

#include "harness.h"
#include "testutil.h"

#include <cmocka.h>
#include <curl/curl.h>

#include "blackhole.h"

/* connect_timeout in the URL: each attempt on the blackhole costs this. */
#define ATTEMPT_S 2

/* ------------------------------------------------------------------ fault fixtures */

static struct sockaddr_in loopback(int port)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return addr;
}

static int bound_socket(int port, int *port_out)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    int one = 1;
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one), 0);
    struct sockaddr_in addr = loopback(port);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        fail_msg("bind 127.0.0.1:%d: %s", port, strerror(errno));
    }
    socklen_t len = sizeof addr;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    *port_out = ntohs(addr.sin_port);
    return fd;
}

/* A TCP relay from a port of 127.0.0.1 to the real database, which the test takes down
 * (listener and every connection closed: the host refuses, sessions end) and brings back
 * on the same port. One thread; commands are synchronous. */
enum { RELAY_PAIRS = 64 };
enum relay_command { RELAY_NONE, RELAY_DOWN, RELAY_UP, RELAY_STOP };

typedef struct {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t done;
    enum relay_command command;
    int wake[2];
    int port;
    int listener; /* -1 while down */
    struct sockaddr_storage upstream;
    socklen_t upstream_len;
    int pairs[RELAY_PAIRS][2]; /* client, upstream; -1 when unused */
    long accepted;
} relay;

static relay the_relay;

static void relay_close_pair(relay *r, int i)
{
    close(r->pairs[i][0]);
    close(r->pairs[i][1]);
    r->pairs[i][0] = r->pairs[i][1] = -1;
}

static void relay_listen(relay *r)
{
    int port;
    r->listener = bound_socket(r->port, &port);
    if (listen(r->listener, 64) != 0) {
        abort(); /* the relay thread cannot fail a cmocka test */
    }
}

static void relay_accept(relay *r)
{
    int client = accept4(r->listener, NULL, NULL, SOCK_CLOEXEC);
    if (client < 0) {
        return;
    }
    int upstream = socket(r->upstream.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (upstream < 0 || connect(upstream, (struct sockaddr *)&r->upstream, r->upstream_len) != 0) {
        close(client);
        if (upstream >= 0) {
            close(upstream);
        }
        return;
    }
    for (int i = 0; i < RELAY_PAIRS; i++) {
        if (r->pairs[i][0] < 0) {
            r->pairs[i][0] = client;
            r->pairs[i][1] = upstream;
            r->accepted++;
            return;
        }
    }
    close(client);
    close(upstream);
}

/* Copies what fd has to its partner; false when the pair is over. */
static bool relay_copy(int from, int to)
{
    char buffer[16384];
    ssize_t got = read(from, buffer, sizeof buffer);
    if (got <= 0) {
        return false;
    }
    for (ssize_t sent = 0; sent < got;) {
        ssize_t n = write(to, buffer + sent, (size_t)(got - sent));
        if (n <= 0) {
            return false;
        }
        sent += n;
    }
    return true;
}

static void *relay_main(void *arg)
{
    relay *r = arg;
    for (;;) {
        struct pollfd fds[2 + 2 * RELAY_PAIRS];
        int slot_of[2 + 2 * RELAY_PAIRS];
        int n = 0;
        fds[n++] = (struct pollfd){.fd = r->wake[0], .events = POLLIN};
        if (r->listener >= 0) {
            fds[n++] = (struct pollfd){.fd = r->listener, .events = POLLIN};
        }
        int first_pair = n;
        for (int i = 0; i < RELAY_PAIRS; i++) {
            for (int side = 0; side < 2 && r->pairs[i][0] >= 0; side++) {
                slot_of[n] = i * 2 + side;
                fds[n++] = (struct pollfd){.fd = r->pairs[i][side], .events = POLLIN};
            }
        }
        if (poll(fds, (nfds_t)n, -1) < 0) {
            continue;
        }
        if (fds[0].revents) {
            char byte;
            if (read(r->wake[0], &byte, 1) != 1) {
                continue;
            }
            pthread_mutex_lock(&r->lock);
            enum relay_command command = r->command;
            if (command == RELAY_DOWN || command == RELAY_STOP) {
                if (r->listener >= 0) {
                    close(r->listener);
                    r->listener = -1;
                }
                for (int i = 0; i < RELAY_PAIRS; i++) {
                    if (r->pairs[i][0] >= 0) {
                        relay_close_pair(r, i);
                    }
                }
            } else if (command == RELAY_UP && r->listener < 0) {
                relay_listen(r);
            }
            r->command = RELAY_NONE;
            pthread_cond_broadcast(&r->done);
            pthread_mutex_unlock(&r->lock);
            if (command == RELAY_STOP) {
                return NULL;
            }
            continue; /* the fd set changed */
        }
        if (first_pair > 1 && fds[1].revents) {
            relay_accept(r);
        }
        for (int k = first_pair; k < n; k++) {
            int i = slot_of[k] / 2, side = slot_of[k] % 2;
            if (fds[k].revents && r->pairs[i][0] >= 0 &&
                !relay_copy(r->pairs[i][side], r->pairs[i][1 - side])) {
                relay_close_pair(r, i);
            }
        }
    }
}

static void relay_command(relay *r, enum relay_command command)
{
    pthread_mutex_lock(&r->lock);
    r->command = command;
    if (write(r->wake[1], "x", 1) != 1) {
        fail_msg("relay: cannot wake its thread");
    }
    while (r->command != RELAY_NONE) {
        pthread_cond_wait(&r->done, &r->lock);
    }
    pthread_mutex_unlock(&r->lock);
}

static void relay_start(relay *r, const char *host, const char *port)
{
    memset(r, 0, sizeof *r);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    struct addrinfo *found = NULL;
    if (getaddrinfo(host, port, &hints, &found) != 0) {
        fail_msg("relay: cannot resolve the database at %s:%s", host, port);
    }
    memcpy(&r->upstream, found->ai_addr, found->ai_addrlen);
    r->upstream_len = found->ai_addrlen;
    freeaddrinfo(found);
    for (int i = 0; i < RELAY_PAIRS; i++) {
        r->pairs[i][0] = r->pairs[i][1] = -1;
    }
    assert_int_equal(pipe2(r->wake, O_CLOEXEC), 0);
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->done, NULL);
    r->port = 0;
    relay_listen(r);
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    assert_int_equal(getsockname(r->listener, (struct sockaddr *)&addr, &len), 0);
    r->port = ntohs(addr.sin_port);
    assert_int_equal(pthread_create(&r->thread, NULL, relay_main, r), 0);
}

static void relay_stop(relay *r)
{
    relay_command(r, RELAY_STOP);
    pthread_join(r->thread, NULL);
    close(r->wake[0]);
    close(r->wake[1]);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->done);
}

/* ------------------------------------------------------------------ the server */

/* Host and port of the test database (a TCP host: the fixtures speak TCP). */
static void database_address(char *host, size_t host_size, char *port, size_t port_size)
{
    PQconninfoOption *options = PQconninfoParse(it_app_database_url(), NULL);
    assert_non_null(options);
    snprintf(host, host_size, "127.0.0.1");
    snprintf(port, port_size, "5432");
    for (PQconninfoOption *o = options; o->keyword != NULL; o++) {
        if (o->val == NULL || o->val[0] == '\0') {
            continue;
        }
        if (strcmp(o->keyword, "host") == 0) {
            snprintf(host, host_size, "%s", o->val);
        } else if (strcmp(o->keyword, "port") == 0) {
            snprintf(port, port_size, "%s", o->val);
        }
    }
    PQconninfoFree(options);
    if (host[0] == '/' || strchr(host, ',') != NULL || strchr(port, ',') != NULL) {
        print_message("SKIPPED: DATABASE_URL must name one TCP host for this runner\n");
        skip();
    }
}

/* The app role's URL of the test database, with these host and port lists. */
static char *multi_host_url(const char *hosts, const char *ports)
{
    PQconninfoOption *options = PQconninfoParse(it_app_database_url(), NULL);
    assert_non_null(options);
    char *url = tu_format("host='%s' port='%s' connect_timeout=%d "
                          "target_session_attrs=read-write",
                          hosts, ports, ATTEMPT_S);
    for (PQconninfoOption *o = options; o->keyword != NULL; o++) {
        if (o->val == NULL || strcmp(o->keyword, "host") == 0 || strcmp(o->keyword, "port") == 0 ||
            strcmp(o->keyword, "hostaddr") == 0 || strcmp(o->keyword, "connect_timeout") == 0 ||
            strcmp(o->keyword, "target_session_attrs") == 0) {
            continue;
        }
        char *quoted = calloc(2 * strlen(o->val) + 1, 1);
        assert_non_null(quoted);
        for (size_t from = 0, to = 0; o->val[from] != '\0'; from++) {
            if (o->val[from] == '\'' || o->val[from] == '\\') {
                quoted[to++] = '\\';
            }
            quoted[to++] = o->val[from];
        }
        char *longer = tu_format("%s %s='%s'", url, o->keyword, quoted);
        free(quoted);
        free(url);
        url = longer;
    }
    PQconninfoFree(options);
    return url;
}

/* Restarts the server on url (debug logs: every attempt is logged); returns the
 * milliseconds until /readyz answered 200. */
static long long restart_with(const char *url)
{
    char *database_env = tu_format("DATABASE_URL=%s", url);
    const char *env[] = {database_env, "WASTEFLOW_LOG_LEVEL=debug", NULL};
    assert_int_equal(it_stop_server_only(), 0);
    long long started = tu_now_ms();
    it_restart_server(env);
    long long took = tu_now_ms() - started;
    free(database_env);
    return took;
}

/* Lines of the server's log that contain every one of the needles (NULL-terminated). */
static int log_lines_with(const char *const *needles)
{
    FILE *file = fopen(it_server_log_path(), "r");
    assert_non_null(file);
    char line[8192];
    int count = 0;
    while (fgets(line, sizeof line, file) != NULL) {
        bool all = true;
        for (int i = 0; needles[i] != NULL && all; i++) {
            all = strstr(line, needles[i]) != NULL;
        }
        count += all;
    }
    fclose(file);
    return count;
}

#define LOG_LINES(...) log_lines_with((const char *const[]){__VA_ARGS__, NULL})

typedef struct {
    long long org, storage;
    char transfers_path[96];
} world;

static world make_world(void)
{
    world w;
    w.org = tu_new_org("multihost-org", "{}", NULL);
    w.storage = tu_new_storage("multihost-depot", "{\"glass\": 1000000}");
    it_create_route(ORG(w.org), STORAGE(w.storage), 10, false);
    snprintf(w.transfers_path, sizeof w.transfers_path, "/v1/organizations/%lld/transfers", w.org);
    return w;
}

/* A transfer of 1 kg of glass must be acknowledged. */
static void expect_write(const world *w)
{
    it_response *response = it_post(w->transfers_path, "{\"waste\": {\"glass\": 1}}");
    EXPECT_STATUS(response, 201);
    assert_int_equal(it_json_int(response->json, "organization_id"), w->org);
    it_response_free(response);
}

static void expect_read(const world *w)
{
    EXPECT_GET_STATUS(200, "/v1/storages/%lld", w->storage);
}

/* ------------------------------------------------------------------ tests */

static void test_blackholed_first_host(void **state)
{
    (void)state;
    char host[256], port[16];
    database_address(host, sizeof host, port, sizeof port);
    blackhole hole = blackhole_open();
    char *hosts = tu_format("127.0.0.1,%s", host);
    char *ports = tu_format("%d,%s", hole.port, port);
    char *url = multi_host_url(hosts, ports);
    long long ready_ms = restart_with(url);
    print_message("first host 127.0.0.1:%d blackholed: /readyz 200 after %lld ms\n", hole.port,
                  ready_ms);
    world w = make_world();
    expect_write(&w);
    expect_read(&w);
    expect_write(&w);
    /* The pool met the blackhole and went on (not, say, a lucky start at the second host). */
    char *blackhole_label = tu_format("127.0.0.1:%d", hole.port);
    char *second_label = tu_format("\"host\":\"%s:%s\"", host, port);
    int timeouts = LOG_LINES("database host failed", blackhole_label, "no answer within 2000 ms");
    int connected = LOG_LINES("database connected", second_label);
    blackhole_close(&hole);
    if (timeouts < 1 || connected < 1) {
        fail_msg("server log: %d attempts on %s timed out, %d connects to %s:%s (expected at "
                 "least one of each)",
                 timeouts, blackhole_label, connected, host, port);
    }
    /* Two blocking connects at start-up and one attempt per pool: well under the 20 s the
     * harness allows. */
    if (ready_ms > tu_scaled_ms(4 * ATTEMPT_S * 1000 + 3000)) {
        fail_msg("ready only after %lld ms behind a blackholed first host", ready_ms);
    }
    free(blackhole_label);
    free(second_label);
    free(url);
    free(hosts);
    free(ports);
}

static void test_refusing_first_host(void **state)
{
    (void)state;
    char host[256], port[16];
    database_address(host, sizeof host, port, sizeof port);
    int refused;
    int refusing = bound_socket(0, &refused); /* bound, never listening: refuses */
    char *hosts = tu_format("127.0.0.1,%s", host);
    char *ports = tu_format("%d,%s", refused, port);
    char *url = multi_host_url(hosts, ports);
    long long ready_ms = restart_with(url);
    print_message("first host 127.0.0.1:%d refusing: /readyz 200 after %lld ms\n", refused,
                  ready_ms);
    world w = make_world();
    expect_write(&w);
    expect_read(&w);
    char *label = tu_format("127.0.0.1:%d", refused);
    int refusals = LOG_LINES("database host failed", label, "Connection refused");
    int timeouts = LOG_LINES("no answer within");
    close(refusing);
    if (refusals < 1 || timeouts != 0) {
        fail_msg("server log: %d refusals by %s (expected some), %d timed-out attempts "
                 "(expected none)",
                 refusals, label, timeouts);
    }
    free(label);
    free(url);
    free(hosts);
    free(ports);
}

/* One request as a client sees it during the outage. */
static void expect_quick_503(CURL *curl, const char *method, const char *path, const char *body,
                             long long *slowest_ms)
{
    char *url = tu_format("%s%s", it_base_url(), path);
    tu_http_result r = {0};
    tu_http_call(curl, method, url, body, NULL, NULL, 30, false, &r);
    const char *wrong = r.status == 503 ? tu_bad_503(&r) : "not 503";
    if (wrong != NULL) {
        fail_msg("%s %s with every database host down: %ld (%s): %.300s", method, path, r.status,
                 wrong, r.body);
    }
    *slowest_ms = r.elapsed_ms > *slowest_ms ? r.elapsed_ms : *slowest_ms;
    tu_http_result_clear(&r);
    free(url);
}

static void test_all_hosts_down_then_one_back(void **state)
{
    (void)state;
    char host[256], port[16];
    database_address(host, sizeof host, port, sizeof port);
    blackhole hole = blackhole_open();
    relay_start(&the_relay, host, port);
    char *ports = tu_format("%d,%d", hole.port, the_relay.port);
    char *url = multi_host_url("127.0.0.1,127.0.0.1", ports);
    restart_with(url);
    world w = make_world();
    expect_write(&w);
    assert_true(the_relay.accepted > 0);

    /* Both hosts down: the blackhole, and the relay's port now refusing. */
    relay_command(&the_relay, RELAY_DOWN);
    int warnings_before = LOG_LINES("database connect failed");
    long long down_at = tu_now_ms();
    long long outage_ms = tu_scaled_ms(7000);
    long long slowest_ms = 0;
    int requests = 0;
    CURL *curl = curl_easy_init();
    while (tu_now_ms() - down_at < outage_ms) {
        expect_quick_503(curl, "POST", w.transfers_path, "{\"waste\": {\"glass\": 1}}",
                         &slowest_ms);
        expect_quick_503(curl, "GET", tu_fmt("/v1/storages/%lld", w.storage), NULL, &slowest_ms);
        expect_quick_503(curl, "GET", "/readyz", NULL, &slowest_ms);
        requests += 3;
        tu_sleep_ms(100);
    }
    curl_easy_cleanup(curl);
    int warnings = LOG_LINES("database connect failed") - warnings_before;
    char *blackhole_label = tu_format("127.0.0.1:%d", hole.port);
    char *relay_label = tu_format("127.0.0.1:%d", the_relay.port);
    int naming_both = LOG_LINES("database connect failed", blackhole_label, "no answer within",
                                relay_label, "Connection refused");
    int attempts_failed = LOG_LINES("database host failed");
    print_message("%d requests in %lld ms with every host down: all 503 + Retry-After, slowest "
                  "%lld ms; %d warnings, %d failed attempts logged at debug\n",
                  requests, outage_ms, slowest_ms, warnings, attempts_failed);
    /* A request waits at most one round (the blackhole's attempt), never a hang. */
    if (slowest_ms > tu_scaled_ms(ATTEMPT_S * 1000 + 1500)) {
        fail_msg("a request took %lld ms while every host was down", slowest_ms);
    }
    /* Two pools (requests, control), one warning each per 5 s at most. */
    if (warnings < 1 || warnings > 2 * (int)(outage_ms / 5000 + 2)) {
        fail_msg("%d \"database connect failed\" warnings in %lld ms of outage", warnings,
                 outage_ms);
    }
    if (naming_both < 1) {
        fail_msg("no warning names both hosts' failures (%s timing out, %s refusing)",
                 blackhole_label, relay_label);
    }

    /* One host back: the same process writes again. */
    relay_command(&the_relay, RELAY_UP);
    long long up_at = tu_now_ms();
    long long recovered_ms = -1;
    curl = curl_easy_init();
    char *write_url = tu_format("%s%s", it_base_url(), w.transfers_path);
    while (tu_now_ms() - up_at < tu_scaled_ms(15000)) {
        tu_http_result r = {0};
        tu_http_call(curl, "POST", write_url, "{\"waste\": {\"glass\": 1}}", NULL, NULL, 30, false,
                     &r);
        long status = r.status;
        tu_http_result_clear(&r);
        if (status == 201) {
            recovered_ms = tu_now_ms() - up_at;
            break;
        }
        if (status != 503) {
            fail_msg("POST while the relay came back: %ld", status);
        }
        tu_sleep_ms(100);
    }
    curl_easy_cleanup(curl);
    free(write_url);
    print_message("relay back: first 201 after %lld ms\n", recovered_ms);
    if (recovered_ms < 0) {
        fail_msg("no write within 15 s of the second host coming back");
    }
    /* At most: an attempt on the blackhole in flight, then the longest backoff (5 s). */
    if (recovered_ms > tu_scaled_ms(ATTEMPT_S * 1000 + 5000 + 1500)) {
        fail_msg("writes resumed %lld ms after the host came back", recovered_ms);
    }
    expect_read(&w);
    expect_write(&w);
    tu_assert_audit_clean();
    relay_stop(&the_relay);
    blackhole_close(&hole);
    free(blackhole_label);
    free(relay_label);
    free(url);
    free(ports);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blackholed_first_host),
        cmocka_unit_test(test_refusing_first_host),
        cmocka_unit_test(test_all_hosts_down_then_one_back),
    };
    /* One database and server for the runner: each test restarts the server on its URL. */
    return cmocka_run_group_tests_name("multihost", tests, tu_setup, tu_teardown);
}
