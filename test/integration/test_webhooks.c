/* Integration tests of webhooks against a real server and database, with a receiver this
 * runner serves itself on 127.0.0.1 (the server runs with WASTEFLOW_WEBHOOK_ALLOW_PRIVATE=1 and
 * a 100 ms retry base): subscriptions and who may manage them, the secret shown once and never
 * stored readable, deliveries signed by the Standard Webhooks rule (checked here with OpenSSL)
 * carrying the transfer as GET /v1/transfers/{id} shows it, retries after 500s with the same
 * webhook-id and growing waits, the attempts listed, giving up after a day, order per endpoint,
 * movement.received with its receipt, one sender among two instances, a receiver that hangs
 * delaying no transfer, an instance stopped mid-delivery (sent again by the next, once) — and,
 * with the server restarted without the setting, private targets
 * refused when created and at delivery. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "harness.h"
#include "runner.h"
#include "testutil.h"

/* ---------------------------------------------------------------- the receiver */

#define MAX_REQUESTS 64

typedef struct {
    char id[64], timestamp[32], signature[128];
    char *body;
    long long at_ms;
} received;

static struct {
    int fd;
    int port;
    pthread_t thread;
    pthread_mutex_t lock;
    received requests[MAX_REQUESTS];
    int count;
    int script[16]; /* statuses to answer, in turn; 200 after them */
    int script_len, script_at;
    int hang_ms; /* > 0: wait this long before answering (and record nothing) */
    int arrived; /* requests read, recorded or not */
    bool stop;
} rx = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void header_value(const char *head, const char *name, char *out, size_t size)
{
    out[0] = '\0';
    size_t len = strlen(name);
    for (const char *line = head; line != NULL && *line != '\0';) {
        if (strncasecmp(line, name, len) == 0 && line[len] == ':') {
            const char *v = line + len + 1;
            while (*v == ' ') {
                v++;
            }
            size_t n = strcspn(v, "\r\n");
            snprintf(out, size, "%.*s", (int)(n < size ? n : size - 1), v);
            return;
        }
        line = strstr(line, "\r\n");
        line = line != NULL ? line + 2 : NULL;
    }
}

static void serve_one(int client)
{
    char buffer[65536];
    size_t have = 0;
    char *end = NULL;
    while (have < sizeof buffer - 1 && end == NULL) {
        ssize_t n = recv(client, buffer + have, sizeof buffer - 1 - have, 0);
        if (n <= 0) {
            return;
        }
        have += (size_t)n;
        buffer[have] = '\0';
        end = strstr(buffer, "\r\n\r\n");
    }
    char length_text[32];
    header_value(buffer, "Content-Length", length_text, sizeof length_text);
    size_t head_len = (size_t)(end - buffer) + 4;
    size_t length = strtoul(length_text, NULL, 10);
    while (have < head_len + length && have < sizeof buffer - 1) {
        ssize_t n = recv(client, buffer + have, sizeof buffer - 1 - have, 0);
        if (n <= 0) {
            return;
        }
        have += (size_t)n;
    }
    buffer[have] = '\0';
    pthread_mutex_lock(&rx.lock);
    int status = rx.script_at < rx.script_len ? rx.script[rx.script_at++] : 200;
    int hang = rx.hang_ms;
    rx.arrived++;
    if (rx.count < MAX_REQUESTS && hang == 0) {
        received *r = &rx.requests[rx.count++];
        header_value(buffer, "webhook-id", r->id, sizeof r->id);
        header_value(buffer, "webhook-timestamp", r->timestamp, sizeof r->timestamp);
        header_value(buffer, "webhook-signature", r->signature, sizeof r->signature);
        r->body = strndup(buffer + head_len, length);
        r->at_ms = tu_now_ms();
    }
    pthread_mutex_unlock(&rx.lock);
    if (hang > 0) {
        tu_sleep_ms(hang);
    }
    char reply[128];
    int n = snprintf(reply, sizeof reply,
                     "HTTP/1.1 %d X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", status);
    (void)!send(client, reply, (size_t)n, MSG_NOSIGNAL);
}

static void *receiver_main(void *arg)
{
    (void)arg;
    for (;;) {
        int client = accept(rx.fd, NULL, NULL);
        if (client < 0) {
            return NULL;
        }
        pthread_mutex_lock(&rx.lock);
        bool stop = rx.stop;
        pthread_mutex_unlock(&rx.lock);
        if (stop) {
            close(client);
            return NULL;
        }
        serve_one(client);
        close(client);
    }
}

static void receiver_start(void)
{
    rx.fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(rx.fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(rx.fd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(listen(rx.fd, 64), 0);
    socklen_t len = sizeof addr;
    assert_int_equal(getsockname(rx.fd, (struct sockaddr *)&addr, &len), 0);
    rx.port = ntohs(addr.sin_port);
    assert_int_equal(pthread_create(&rx.thread, NULL, receiver_main, NULL), 0);
}

/* Forgets what was received and sets what to answer next. */
static void receiver_reset(const int *script, int script_len, int hang_ms)
{
    pthread_mutex_lock(&rx.lock);
    for (int i = 0; i < rx.count; i++) {
        free(rx.requests[i].body);
    }
    rx.count = 0;
    rx.script_len = script_len;
    rx.script_at = 0;
    for (int i = 0; i < script_len; i++) {
        rx.script[i] = script[i];
    }
    rx.hang_ms = hang_ms;
    rx.arrived = 0;
    pthread_mutex_unlock(&rx.lock);
}

/* Waits up to limit_ms for at least n requests; returns how many there are. */
static int receiver_wait(int n, long long limit_ms)
{
    long long start = tu_now_ms();
    for (;;) {
        pthread_mutex_lock(&rx.lock);
        int count = rx.count;
        pthread_mutex_unlock(&rx.lock);
        if (count >= n || tu_now_ms() - start > limit_ms) {
            return count;
        }
        tu_sleep_ms(20);
    }
}

/* ---------------------------------------------------------------- helpers */

static char *receiver_url(void)
{
    return tu_format("http://127.0.0.1:%d/hook", rx.port);
}

/* Creates a subscription; returns its id and (when secret_out) its secret. */
static long long subscribe(const char *url, const char *events_json, char **secret_out)
{
    char *quoted = it_json_quote(url);
    it_response *response =
        it_post("/v1/webhooks", "{\"url\":%s,\"events\":%s}", quoted, events_json);
    EXPECT_STATUS(response, 201);
    long long id = it_json_int(response->json, "id");
    if (secret_out != NULL) {
        *secret_out = strdup(it_json_str(response->json, "secret"));
    }
    it_response_free(response);
    free(quoted);
    return id;
}

/* The receiver reset (receiver_reset: its script of answers, its delay) and subscribed to
 * events_json; returns the subscription's id (secret_out: as subscribe). */
static long long subscribe_receiver(const int *script, int script_len, int hang_ms,
                                    const char *events_json, char **secret_out)
{
    receiver_reset(script, script_len, hang_ms);
    char *url = receiver_url();
    long long id = subscribe(url, events_json, secret_out);
    free(url);
    return id;
}

/* The one delivery the receiver must have within 5 s, of event type: its body (the caller
 * deletes it). */
static cJSON *only_delivery(const char *type)
{
    assert_int_equal(receiver_wait(1, 5000), 1);
    cJSON *body = cJSON_Parse(rx.requests[0].body);
    assert_non_null(body);
    assert_string_equal(it_json_str(body, "type"), type);
    return body;
}

static void unsubscribe(long long id)
{
    it_response *response = it_delete("/v1/webhooks/%lld", id);
    EXPECT_STATUS(response, 204);
    it_response_free(response);
}

/* The Standard Webhooks signature of a request, computed here with OpenSSL. */
static void expected_signature(const char *secret, const received *r, char *out, size_t size)
{
    assert_int_equal(strncmp(secret, "whsec_", 6), 0);
    unsigned char key[64];
    int key_len = EVP_DecodeBlock(key, (const unsigned char *)secret + 6, (int)strlen(secret + 6));
    assert_true(key_len >= 24);
    size_t b64 = strlen(secret + 6);
    key_len -= (secret[6 + b64 - 1] == '=') + (secret[6 + b64 - 2] == '=');
    char *signed_text = tu_format("%s.%s.%s", r->id, r->timestamp, r->body);
    unsigned char mac[32];
    unsigned int mac_len = 0;
    HMAC(EVP_sha256(), key, key_len, (const unsigned char *)signed_text, strlen(signed_text), mac,
         &mac_len);
    assert_int_equal(mac_len, 32);
    char encoded[64];
    EVP_EncodeBlock((unsigned char *)encoded, mac, 32);
    snprintf(out, size, "v1,%s", encoded);
    free(signed_text);
}

static long long new_org_with_storage(long long *storage_out)
{
    long long org = tu_new_org("hooks", "{\"glass\":100000}", NULL);
    long long storage = tu_new_storage("hooks", "{\"glass\":1000000}");
    it_create_route(ORG(org), STORAGE(storage), 7, false);
    if (storage_out != NULL) {
        *storage_out = storage;
    }
    return org;
}

static long long hand_over(long long org, int kg)
{
    long long id = POST_CREATED(tu_fmt("/v1/organizations/%lld/transfers", org),
                                "{\"waste\":{\"glass\":%d}}", kg);
    return id;
}

/* ---------------------------------------------------------------- subscriptions */

static void test_subscriptions(void **state)
{
    (void)state;
    char *url = receiver_url();
    char *quoted = it_json_quote(url);
    it_response *created =
        it_post("/v1/webhooks",
                "{\"url\":%s,\"events\":[\"transfer.created\",\"unload.created\","
                "\"transfer.created\"]}",
                quoted);
    EXPECT_STATUS(created, 201);
    assert_string_equal(it_header(created, "Cache-Control"), "no-store");
    long long id = it_json_int(created->json, "id");
    assert_string_equal(it_header(created, "Location"), tu_fmt("/v1/webhooks/%lld", id));
    const char *secret = it_json_str(created->json, "secret");
    assert_int_equal(strncmp(secret, "whsec_", 6), 0);
    assert_int_equal(strlen(secret), 6 + 44);
    ASSERT_MEMBERS(created->json,
                   "{\"events\":[\"transfer.created\",\"unload.created\"],\"url\":%s}", quoted);
    ASSERT_RECENT_TIMESTAMP(it_json_str(created->json, "created_at"));
    /* Never stored readable. */
    assert_int_equal(
        it_sql_int("SELECT count(*) FROM webhooks WHERE secret LIKE '%%%s%%'", secret + 6), 0);

    it_response *got = it_get("/v1/webhooks/%lld", id);
    EXPECT_STATUS(got, 200);
    assert_null(it_json_at(got->json, "secret"));
    ASSERT_JSON_AT(got->json, "events", "[\"transfer.created\",\"unload.created\"]");
    it_response_free(got);
    it_response *list = it_get("/v1/webhooks");
    EXPECT_STATUS(list, 200);
    ASSERT_JSON_AT(list->json, "items.0.id", "%lld", id);
    assert_null(it_json_at(list->json, "items.0.secret"));
    it_response_free(list);
    it_response *deliveries = it_get("/v1/webhooks/%lld/deliveries", id);
    EXPECT_STATUS(deliveries, 200);
    ASSERT_JSON_AT(deliveries->json, "items", "[]");
    it_response_free(deliveries);

    /* Refused: unknown or no events, other schemes, no URL, unknown members. */
    EXPECT_REJECTED_TYPE("POST", "/v1/webhooks",
                         tu_fmt("{\"url\":%s,\"events\":[\"transfer.deleted\"]}", quoted), 422,
                         "validation-error", "events[0]");
    EXPECT_REJECTED_TYPE("POST", "/v1/webhooks", tu_fmt("{\"url\":%s,\"events\":[]}", quoted), 422,
                         "validation-error", "events");
    EXPECT_REJECTED_TYPE("POST", "/v1/webhooks",
                         "{\"url\":\"ftp://example.com/x\",\"events\":[\"alert.fired\"]}", 422,
                         "validation-error", "url");
    EXPECT_REJECTED_TYPE("POST", "/v1/webhooks",
                         "{\"url\":\"not a url\",\"events\":[\"alert.fired\"]}", 422,
                         "validation-error", "url");
    EXPECT_REJECTED_TYPE("POST", "/v1/webhooks", "{\"events\":[\"alert.fired\"]}", 422,
                         "validation-error", "url");
    EXPECT_REJECTED_TYPE("POST", "/v1/webhooks",
                         "{\"url\":\"https://example.com/\",\"events\":[\"alert.fired\"],\"x\":1}",
                         422, "validation-error", "x");

    /* Deleted: gone, with its queue. */
    unsubscribe(id);
    EXPECT_REJECTED_TYPE("GET", tu_fmt("/v1/webhooks/%lld", id), NULL, 404, "not-found", NULL);
    EXPECT_REJECTED_TYPE("DELETE", tu_fmt("/v1/webhooks/%lld", id), NULL, 404, "not-found", NULL);
    EXPECT_REJECTED_TYPE("GET", tu_fmt("/v1/webhooks/%lld/deliveries", id), NULL, 404, "not-found",
                         NULL);
    it_response_free(created);
    free(quoted);
    free(url);
}

/* Only an admin subscribes or deletes; the auditor reads subscriptions and attempts, as it reads
 * every GET but API keys; every other role is refused 403, changing nothing. */
static void test_admin_only(void **state)
{
    (void)state;
    long long org = tu_new_org("hooks-roles", NULL, NULL);
    long long storage = tu_new_storage("hooks-roles", "{\"glass\":10}");
    char *tokens[] = {it_new_key("auditor", 0, 0), it_new_key("monitor", 0, 0),
                      it_new_key("organization", org, 0), it_new_key("storage", 0, storage), NULL};
    long long id = subscribe("https://example.com/hook", "[\"alert.fired\"]", NULL);
    char *one = tu_format("/v1/webhooks/%lld", id);
    char *attempts = tu_format("/v1/webhooks/%lld/deliveries", id);
    const struct {
        const char *method, *path, *body;
    } routes[] = {
        {"GET", "/v1/webhooks", NULL},
        {"POST", "/v1/webhooks", "{\"url\":\"https://example.com/\",\"events\":[\"alert.fired\"]}"},
        {"GET", one, NULL},
        {"DELETE", one, NULL},
        {"GET", attempts, NULL},
    };
    for (size_t r = 0; r < sizeof routes / sizeof routes[0]; r++) {
        for (int k = 0; k <= 4; k++) {
            const char *headers[] = {tokens[k] != NULL ? it_bearer(tokens[k]) : "Authorization:",
                                     NULL};
            char *before = it_db_fingerprint();
            it_response *response =
                it_request(routes[r].method, routes[r].path, routes[r].body, headers);
            if (k == 0 && strcmp(routes[r].method, "GET") == 0) {
                EXPECT_STATUS(response, 200);
            } else {
                EXPECT_PROBLEM(response, tokens[k] != NULL ? 403 : 401, NULL);
            }
            it_response_free(response);
            char *after = it_db_fingerprint();
            assert_string_equal(before, after);
            free(before);
            free(after);
        }
    }
    unsubscribe(id);
    free(one);
    free(attempts);
    for (int k = 0; k < 4; k++) {
        free(tokens[k]);
    }
}

/* ---------------------------------------------------------------- deliveries */

static void test_signed_delivery(void **state)
{
    (void)state;
    char *secret = NULL;
    long long hook = subscribe_receiver(NULL, 0, 0, "[\"transfer.created\"]", &secret);
    long long org = new_org_with_storage(NULL);
    long long before_ms = tu_now_ms();
    long long transfer = hand_over(org, 12);
    assert_int_equal(receiver_wait(1, 5000), 1);
    long long latency_ms = rx.requests[0].at_ms - before_ms;
    print_message("delivery latency after the transfer's reply: %lld ms\n", latency_ms);
    received *r = &rx.requests[0];
    assert_int_equal(strncmp(r->id, "msg_", 4), 0);
    long long stamp = strtoll(r->timestamp, NULL, 10);
    assert_true(llabs(stamp - (long long)time(NULL)) < 60);
    char signature[128];
    expected_signature(secret, r, signature, sizeof signature);
    assert_string_equal(r->signature, signature);

    cJSON *body = cJSON_Parse(r->body);
    assert_non_null(body);
    assert_string_equal(it_json_str(body, "type"), "transfer.created");
    ASSERT_RECENT_TIMESTAMP(it_json_str(body, "timestamp"));
    it_response *got = it_get("/v1/transfers/%lld", transfer);
    EXPECT_STATUS(got, 200);
    char *expected = tu_json_text(got->json);
    ASSERT_JSON_AT(body, "data", "%s", expected);
    free(expected);
    it_response_free(got);
    cJSON_Delete(body);

    /* The attempt is listed once recorded. */
    long long start = tu_now_ms();
    it_response *deliveries = NULL;
    for (;;) {
        deliveries = it_get("/v1/webhooks/%lld/deliveries", hook);
        EXPECT_STATUS(deliveries, 200);
        if (cJSON_GetArraySize(it_json_at(deliveries->json, "items")) > 0 ||
            tu_now_ms() - start > 3000) {
            break;
        }
        it_response_free(deliveries);
        tu_sleep_ms(50);
    }
    const cJSON *item = it_json_at(deliveries->json, "items.0");
    assert_non_null(item);
    assert_int_equal(it_json_int(item, "webhook_id"), hook);
    assert_string_equal(it_json_str(item, "event_type"), "transfer.created");
    assert_int_equal(it_json_int(item, "attempt"), 1);
    assert_int_equal(it_json_int(item, "status_code"), 200);
    assert_string_equal(it_json_str(item, "message_id"), r->id);
    ASSERT_RECENT_TIMESTAMP(it_json_str(item, "at"));
    it_response_free(deliveries);
    /* Delivered once: nothing more comes. */
    tu_sleep_ms(500);
    assert_int_equal(receiver_wait(2, 0), 1);
    unsubscribe(hook);
    free(secret);
}

static void test_retries_same_id(void **state)
{
    (void)state;
    const int script[] = {500, 503};
    long long hook = subscribe_receiver(script, 2, 0, "[\"unload.created\"]", NULL);
    long long storage = 0;
    long long org = new_org_with_storage(&storage);
    hand_over(org, 20);
    it_response *response = it_post(tu_fmt("/v1/storages/%lld/unload", storage), "{\"glass\":4}");
    EXPECT_STATUS(response, 200);
    it_response_free(response);
    assert_int_equal(receiver_wait(3, 8000), 3);
    assert_string_equal(rx.requests[0].id, rx.requests[1].id);
    assert_string_equal(rx.requests[1].id, rx.requests[2].id);
    /* Waits of at least the base (100 ms), then twice it. */
    assert_true(rx.requests[1].at_ms - rx.requests[0].at_ms >= 100);
    assert_true(rx.requests[2].at_ms - rx.requests[1].at_ms >= 200);
    cJSON *body = cJSON_Parse(rx.requests[2].body);
    assert_string_equal(it_json_str(body, "type"), "unload.created");
    assert_int_equal(it_json_int(body, "data.storage_id"), storage);
    assert_int_equal(it_json_int(body, "data.amount"), 4);
    assert_string_equal(it_json_str(body, "data.waste_type"), "glass");
    cJSON_Delete(body);
    tu_sleep_ms(300);
    ASSERT_GET_MEMBERS(tu_fmt("/v1/webhooks/%lld/deliveries", hook),
                       "{\"items.0.status_code\":500,\"items.1.status_code\":503,"
                       "\"items.2.status_code\":200,\"items.2.attempt\":3}");
    unsubscribe(hook);
}

/* Retries stop 24 h after the message was written: the attempt past that mark is the last,
 * and the message is recorded as given up. */
static void test_given_up_after_a_day(void **state)
{
    (void)state;
    const int script[] = {500, 500, 500, 500, 500, 500, 500, 500};
    long long hook = subscribe_receiver(script, 8, 0, "[\"transfer.created\"]", NULL);
    long long org = new_org_with_storage(NULL);
    hand_over(org, 1);
    assert_int_equal(receiver_wait(1, 5000), 1);
    it_sql_exec("UPDATE webhook_outbox SET created_at = now() - interval '25 hours' WHERE "
                "webhook_id = %lld",
                hook);
    long long start = tu_now_ms();
    long long open = 1;
    while (open > 0 && tu_now_ms() - start < 5000) {
        tu_sleep_ms(50);
        open = it_sql_int("SELECT count(*) FROM webhook_outbox WHERE webhook_id = %lld AND "
                          "done_at IS NULL",
                          hook);
    }
    assert_int_equal(open, 0);
    assert_int_equal(it_sql_int("SELECT count(*) FROM webhook_outbox WHERE webhook_id = %lld AND "
                                "delivered = false",
                                hook),
                     1);
    pthread_mutex_lock(&rx.lock);
    int seen = rx.count;
    pthread_mutex_unlock(&rx.lock);
    tu_sleep_ms(800); /* past two more retry waits: nothing more comes */
    assert_int_equal(receiver_wait(seen + 1, 0), seen);
    unsubscribe(hook);
}

static void test_in_order(void **state)
{
    (void)state;
    const int script[] = {500};
    long long hook = subscribe_receiver(script, 1, 0, "[\"transfer.created\"]", NULL);
    long long org = new_org_with_storage(NULL);
    long long ids[5];
    for (int i = 0; i < 5; i++) {
        ids[i] = hand_over(org, 1 + i);
    }
    /* The first fails once: the others wait behind it. */
    assert_int_equal(receiver_wait(6, 8000), 6);
    cJSON *first = cJSON_Parse(rx.requests[0].body);
    assert_int_equal(it_json_int(first, "data.id"), ids[0]);
    cJSON_Delete(first);
    for (int i = 0; i < 5; i++) {
        cJSON *body = cJSON_Parse(rx.requests[i + 1].body);
        assert_int_equal(it_json_int(body, "data.id"), ids[i]);
        cJSON_Delete(body);
    }
    unsubscribe(hook);
}

/* A receipt at a weighed storage delivers movement.received with the movement as GET
 * /v1/movements/{id} shows it: the planned load and what the weighbridge read. */
static void test_movement_received(void **state)
{
    (void)state;
    long long hook = subscribe_receiver(NULL, 0, 0, "[\"movement.received\"]", NULL);
    long long storage = 0;
    long long org = new_org_with_storage(&storage);
    it_response *r = it_patch(tu_fmt("/v1/storages/%lld", storage), "{\"intake\":\"weighed\"}");
    EXPECT_STATUS(r, 200);
    it_response_free(r);
    long long transfer = hand_over(org, 9);
    long long movement = it_sql_int("SELECT id FROM shipments WHERE transfer_id = %lld", transfer);
    /* In transit: nothing is sent for it yet (the subscription is to receipts only). */
    r = it_post(tu_fmt("/v1/movements/%lld/receipt", movement),
                "{\"received_kg\":9,\"rejected_kg\":2,\"rejection_reason\":\"mixed with "
                "plastic\",\"ticket\":\"WB-17\"}");
    EXPECT_STATUS(r, 200);
    it_response_free(r);
    it_response *shown = it_get("/v1/movements/%lld", movement);
    EXPECT_STATUS(shown, 200);

    cJSON *body = only_delivery("movement.received");
    const cJSON *data = it_json_at(body, "data");
    assert_int_equal(it_json_int(data, "id"), movement);
    assert_int_equal(it_json_int(data, "transfer_id"), transfer);
    assert_int_equal(it_json_int(data, "organization_id"), org);
    assert_int_equal(it_json_int(data, "storage_id"), storage);
    assert_string_equal(it_json_str(data, "waste_type"), "glass");
    assert_int_equal(it_json_int(data, "planned_kg"), 9);
    assert_int_equal(it_json_int(data, "distance_m"), 7);
    assert_string_equal(it_json_str(data, "status"), "partially_rejected");
    assert_int_equal(it_json_int(data, "received_kg"), 9);
    assert_int_equal(it_json_int(data, "accepted_kg"), 7);
    assert_int_equal(it_json_int(data, "rejected_kg"), 2);
    assert_string_equal(it_json_str(data, "rejection_reason"), "mixed with plastic");
    assert_string_equal(it_json_str(data, "ticket"), "WB-17");
    ASSERT_RECENT_TIMESTAMP(it_json_str(data, "received_at"));
    /* Exactly what the movements API shows. */
    char *sent = cJSON_PrintUnformatted(data);
    char *api = cJSON_PrintUnformatted(shown->json);
    assert_string_equal(sent, api);
    free(sent);
    free(api);
    it_response_free(shown);
    cJSON_Delete(body);
    unsubscribe(hook);
}

/* A threshold alert that fires delivers alert.fired with the firing as the `alert` event
 * shows it. */
static void test_alert_fired(void **state)
{
    (void)state;
    long long hook = subscribe_receiver(NULL, 0, 0, "[\"alert.fired\"]", NULL);
    long long org = tu_new_org("hooks-alert", "{}", NULL);
    long long storage = tu_new_storage("hooks-alert", "{\"glass\":10}");
    it_create_route(ORG(org), STORAGE(storage), 3, false);
    long long rule = POST_CREATED(
        "/v1/alerts", "{\"storage_id\":%lld,\"waste_type\":\"glass\",\"fill_ratio_above\":0.5}",
        storage);
    hand_over(org, 6); /* 6 of 10: above one half */

    cJSON *body = only_delivery("alert.fired");
    const cJSON *data = it_json_at(body, "data");
    assert_int_equal(it_json_int(data, "alert_id"), rule);
    assert_int_equal(it_json_int(data, "storage_id"), storage);
    assert_string_equal(it_json_str(data, "waste_type"), "glass");
    assert_int_equal(it_json_int(data, "id"),
                     it_sql_int("SELECT id FROM alert_firings WHERE alert_id = %lld", rule));
    ASSERT_MEMBERS(data, "{\"threshold\":0.5,\"fill_ratio\":0.6}");
    ASSERT_RECENT_TIMESTAMP(it_json_str(data, "fired_at"));
    cJSON_Delete(body);
    it_response *r = it_delete("/v1/alerts/%lld", rule);
    EXPECT_STATUS(r, 204);
    it_response_free(r);
    unsubscribe(hook);
}

/* A transfer written by another writer (psql, a restore) is announced too: the outbox
 * trigger on transfers (migration 027's wf_webhook_new_rows) writes its row, where the
 * service's own statement writes its outbox rows itself. */
static void test_transfer_written_by_hand(void **state)
{
    (void)state;
    long long hook = subscribe_receiver(NULL, 0, 0, "[\"transfer.created\"]", NULL);
    long long org = tu_new_org("hooks-by-hand", "{}", NULL);
    long long transfer = it_sql_int("INSERT INTO transfers (organization_id, trigger, actor) "
                                    "VALUES (%lld, 'request', 'psql') RETURNING id",
                                    org);
    assert_int_equal(it_sql_int("SELECT count(*) FROM webhook_outbox WHERE webhook_id = %lld AND "
                                "event_type = 'transfer.created' AND entity_id = %lld",
                                hook, transfer),
                     1);
    cJSON *body = only_delivery("transfer.created");
    assert_int_equal(it_json_int(it_json_at(body, "data"), "id"), transfer);
    cJSON_Delete(body);
    unsubscribe(hook);
}

/* Two instances, transfers made on both: one sends, each message arrives once. */
static void test_one_sender_among_two(void **state)
{
    (void)state;
    const char *second = it_start_second_instance((const char *const[]){
        "WASTEFLOW_WEBHOOK_ALLOW_PRIVATE=1", "WASTEFLOW_WEBHOOK_RETRY_BASE_MS=100", NULL});
    long long hook = subscribe_receiver(NULL, 0, 0, "[\"transfer.created\"]", NULL);
    long long org = new_org_with_storage(NULL);
    for (int i = 0; i < 10; i++) {
        const char *headers[] = {it_bearer(it_admin_key()), NULL};
        it_response *response = it_request_to(i % 2 ? second : it_base_url(), "POST",
                                              tu_fmt("/v1/organizations/%lld/transfers", org),
                                              "{\"waste\":{\"glass\":1}}", headers);
        EXPECT_STATUS(response, 201);
        it_response_free(response);
    }
    assert_int_equal(receiver_wait(10, 8000), 10);
    tu_sleep_ms(500);
    assert_int_equal(receiver_wait(11, 0), 10);
    for (int i = 0; i < 10; i++) {
        for (int k = 0; k < i; k++) {
            assert_string_not_equal(rx.requests[i].id, rx.requests[k].id);
        }
    }
    assert_int_equal(it_stop_second_instance(), 0);
    unsubscribe(hook);
}

/* A receiver that takes seconds to answer holds up no request. */
static void test_hanging_receiver_delays_nothing(void **state)
{
    (void)state;
    long long hook = subscribe_receiver(NULL, 0, 3000, "[\"transfer.created\"]", NULL);
    long long org = new_org_with_storage(NULL);
    long long slowest = 0;
    for (int i = 0; i < 20; i++) {
        long long start = tu_now_ms();
        hand_over(org, 1);
        long long took = tu_now_ms() - start;
        slowest = took > slowest ? took : slowest;
    }
    print_message("slowest of 20 transfers with a hanging receiver: %lld ms\n", slowest);
    assert_true(slowest < tu_scaled_ms(1000));
    unsubscribe(hook);
    tu_sleep_ms(3100); /* the receiver's thread is free again */
}

/* The sending instance stops while a delivery is on its way: the attempt was never recorded,
 * so the next instance sends the message again — once — and nothing is lost. */
static void test_stopped_mid_delivery_sends_again(void **state)
{
    (void)state;
    long long hook = subscribe_receiver(NULL, 0, 1500, "[\"transfer.created\"]", NULL);
    long long org = new_org_with_storage(NULL);
    long long transfer = hand_over(org, 2);
    long long start = tu_now_ms();
    int arrived = 0;
    while (arrived == 0 && tu_now_ms() - start < 5000) {
        tu_sleep_ms(20);
        pthread_mutex_lock(&rx.lock);
        arrived = rx.arrived;
        pthread_mutex_unlock(&rx.lock);
    }
    assert_int_equal(arrived, 1);
    assert_int_equal(it_stop_server_only(), 0);
    assert_int_equal(
        it_sql_int("SELECT count(*) FROM webhook_deliveries WHERE webhook_id = %lld", hook), 0);
    pthread_mutex_lock(&rx.lock);
    rx.hang_ms = 0;
    pthread_mutex_unlock(&rx.lock);
    it_restart_server((const char *const[]){"WASTEFLOW_WEBHOOK_ALLOW_PRIVATE=1",
                                            "WASTEFLOW_WEBHOOK_RETRY_BASE_MS=100", NULL});
    assert_int_equal(receiver_wait(1, 8000), 1);
    cJSON *body = cJSON_Parse(rx.requests[0].body);
    assert_int_equal(it_json_int(body, "data.id"), transfer);
    cJSON_Delete(body);
    tu_sleep_ms(500);
    assert_int_equal(receiver_wait(2, 0), 1);
    assert_int_equal(it_sql_int("SELECT count(*) FROM webhook_deliveries WHERE webhook_id = %lld "
                                "AND status_code = 200",
                                hook),
                     1);
    unsubscribe(hook);
}

/* ---------------------------------------------------------------- the guard */

static void test_private_targets_refused(void **state)
{
    (void)state;
    long long hook = subscribe_receiver(NULL, 0, 0, "[\"transfer.created\"]", NULL);
    assert_int_equal(it_stop_server_only(), 0);
    it_restart_server((const char *const[]){"WASTEFLOW_WEBHOOK_RETRY_BASE_MS=100", NULL});
    const char *targets[] = {
        "http://127.0.0.1/",   "http://127.1.2.3:8080/x",
        "http://10.0.0.1/",    "http://172.16.5.4/",
        "http://192.168.1.1/", "http://169.254.169.254/latest",
        "http://[::1]/",       "http://[fe80::1]/",
        "http://[fd00::1]/",   "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",     "http://[::]/",
        "http://localhost:9/", "https://a.localhost/",
        "file:///etc/passwd",  "gopher://example.com/",
    };
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        char *body = tu_format("{\"url\":\"%s\",\"events\":[\"transfer.created\"]}", targets[i]);
        EXPECT_REJECTED_TYPE("POST", "/v1/webhooks", body, 422, "validation-error", "url");
        free(body);
    }
    /* A subscription made while private targets were allowed is refused at delivery: its
     * attempt has no status, and the receiver hears nothing. */
    long long org = new_org_with_storage(NULL);
    hand_over(org, 3);
    long long start = tu_now_ms();
    long long attempts = 0;
    while (attempts == 0 && tu_now_ms() - start < 5000) {
        tu_sleep_ms(50);
        attempts =
            it_sql_int("SELECT count(*) FROM webhook_deliveries WHERE webhook_id = %lld", hook);
    }
    assert_true(attempts >= 1);
    it_response *deliveries = it_get("/v1/webhooks/%lld/deliveries", hook);
    EXPECT_STATUS(deliveries, 200);
    ASSERT_JSON_AT(deliveries->json, "items.0.status_code", "null");
    it_response_free(deliveries);
    assert_int_equal(receiver_wait(1, 0), 0);
    unsubscribe(hook);
}

static int setup(void **state)
{
    (void)state;
    receiver_start();
    return it_start((const char *const[]){"WASTEFLOW_WEBHOOK_ALLOW_PRIVATE=1",
                                          "WASTEFLOW_WEBHOOK_RETRY_BASE_MS=100", NULL});
}

RUNNER_MAIN(setup, tu_teardown,
            {
                cmocka_unit_test(test_subscriptions),
                cmocka_unit_test(test_admin_only),
                cmocka_unit_test(test_signed_delivery),
                cmocka_unit_test(test_retries_same_id),
                cmocka_unit_test(test_given_up_after_a_day),
                cmocka_unit_test(test_in_order),
                cmocka_unit_test(test_movement_received),
                cmocka_unit_test(test_alert_fired),
                cmocka_unit_test(test_transfer_written_by_hand),
                cmocka_unit_test(test_one_sender_among_two),
                cmocka_unit_test(test_hanging_receiver_delays_nothing),
                cmocka_unit_test(test_stopped_mid_delivery_sends_again),
                cmocka_unit_test(test_private_targets_refused),
                TU_AUDIT_TEST,
            })
