/* GET /v1/events against real servers and a real PostgreSQL, read by a Server-Sent Events
 * client of our own on a raw socket (so a test can stop reading, or shrink its receive
 * buffer):
 *   - refusals: 401 without a key, 403 for a monitor, 400/422 for a malformed event id, 429
 *     over the credential's share, 405;
 *   - two instances on one database: a stream on one, transfers through the other, each event
 *     within a second of the 201 (p50/p99 printed), the payload equal to GET
 *     /v1/transfers/{id}; a write from psql arrives too;
 *   - scoping: an organization's key sees its own transfers and organization, a storage's key
 *     the transfers that shipped to it (its own shipments only, live and replayed) and its
 *     unloads, both every storage and route;
 *   - event ids: opaque, different for two callers, each opening to the transfer id for its
 *     own caller only; another's, an edited one or a bare position is refused;
 *   - resuming: a transaction that commits after one with a higher transaction id (two psql
 *     sessions) is delivered, in (xid, id) order, never skipped, and Last-Event-ID replays
 *     exactly those after it, from any instance, scoped;
 *   - keep-alive comments; a revoked key ends its stream with `unauthorized`;
 *   - a reader that never reads is cut off (metric, log line) while another keeps up, and the
 *     server's memory does not grow with what the slow one was sent;
 *   - each stream counts against the connection cap;
 *   - SIGTERM: every stream gets `shutdown` and ends, one that cannot even take that is
 *     disconnected, and the server exits long before its drain timeout;
 *   - a restart of the whole cluster under an open stream: `resync`, then events again;
 *   - WASTEFLOW_EVENTS=off: the service's writes log nothing for the feed, /v1/events 503.
 * The restart stops the shared cluster (as test_faults does): ctest runs -j1. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "testutil.h"
#include "util/event_id.h"

#include <cmocka.h>

/* ------------------------------------------------------------------ event ids */

/* Ids are stream positions sealed for the caller (util/event_id.h). The tests open and seal
 * them with the deployment's key, read from the database, to check the positions behind
 * them (commit order, resuming exactly) — which no client can. */
static event_id_keys deployment_id_keys(void)
{
    PGresult *r = PQexec(it_db(), "SELECT encode(key, 'hex') FROM deployment_key");
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        fail_msg("the deployment key: %s", PQerrorMessage(it_db()));
    }
    const char *hex = PQgetvalue(r, 0, 0);
    uint8_t key[32];
    for (int i = 0; i < 32; i++) {
        sscanf(hex + 2 * i, "%2hhx", &key[i]);
    }
    PQclear(r);
    event_id_keys keys;
    event_id_keys_derive(key, sizeof key, &keys);
    return keys;
}

/* The binding of an API key's principal: its role and scope as the database has them. */
static uint64_t key_binding(const event_id_keys *keys, const char *key)
{
    char sql[160];
    snprintf(sql, sizeof sql,
             "SELECT role, coalesce(organization_id, 0), coalesce(storage_id, 0) FROM api_keys "
             "WHERE id = %lld",
             atoll(key + 3));
    PGresult *r = PQexec(it_db(), sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        fail_msg("%s: %s", sql, PQerrorMessage(it_db()));
    }
    char actor[32];
    snprintf(actor, sizeof actor, "key:%lld", atoll(key + 3));
    uint64_t binding = event_id_binding(keys, PQgetvalue(r, 0, 0), atoll(PQgetvalue(r, 0, 1)),
                                        atoll(PQgetvalue(r, 0, 2)), "", actor);
    PQclear(r);
    return binding;
}

/* The id a stream of key is sent for position, in one of 8 rotating buffers. */
static const char *id_for(const char *key, long long position)
{
    static char ids[8][EVENT_ID_TEXT_SIZE];
    static int next;
    event_id_keys keys = deployment_id_keys();
    char *id = ids[next++ % 8];
    event_id_seal(&keys, key_binding(&keys, key), position, id);
    return id;
}

/* ------------------------------------------------------------------ an SSE client */

typedef struct {
    int fd;
    int status;
    char head[8192];
    /* Bytes after the head, as received (chunked framing included). */
    char *raw;
    size_t raw_len, raw_pos;
    bool chunked;
    long long chunk_left; /* -1: a size line comes next */
    bool body_done;       /* the last chunk came */
    /* The decoded body, parsed from body_pos. */
    char *body;
    size_t body_len, body_cap, body_pos;
    bool closed; /* the server closed the connection */
    /* How the ids of the key's streams open (a stream without an API key: ids_known false). */
    bool ids_known;
    event_id_keys id_keys;
    uint64_t id_binding;
} sse_client;

typedef struct {
    char type[32]; /* "comment" for a comment */
    char id[32];
    long long position; /* what id stands for; -1: no id, or not one of this stream's */
    char *data;         /* the data line(s), "" when none */
    cJSON *json;        /* data parsed, or NULL */
    long long at;       /* when it was parsed (tu_now_ms) */
} sse_event;

static void sse_event_clear(sse_event *event)
{
    free(event->data);
    cJSON_Delete(event->json);
    memset(event, 0, sizeof *event);
}

static void append(char **buf, size_t *len, size_t *cap, const char *bytes, size_t n)
{
    if (*len + n + 1 > *cap) {
        *cap = (*len + n + 1) * 2;
        *buf = realloc(*buf, *cap);
        assert_non_null(*buf);
    }
    memcpy(*buf + *len, bytes, n);
    *len += n;
    (*buf)[*len] = '\0';
}

/* Decodes what the chunked framing lets through into the body. */
static void sse_decode(sse_client *c)
{
    while (c->raw_pos < c->raw_len && !c->body_done) {
        if (!c->chunked) {
            append(&c->body, &c->body_len, &c->body_cap, c->raw + c->raw_pos,
                   c->raw_len - c->raw_pos);
            c->raw_pos = c->raw_len;
            return;
        }
        if (c->chunk_left < 0) {
            char *line_end = memmem(c->raw + c->raw_pos, c->raw_len - c->raw_pos, "\r\n", 2);
            if (line_end == NULL) {
                return;
            }
            c->chunk_left = strtoll(c->raw + c->raw_pos, NULL, 16);
            c->raw_pos = (size_t)(line_end - c->raw) + 2;
            if (c->chunk_left == 0) {
                c->body_done = true;
                return;
            }
            continue;
        }
        size_t available = c->raw_len - c->raw_pos;
        if (c->chunk_left > 0) {
            size_t take = available < (size_t)c->chunk_left ? available : (size_t)c->chunk_left;
            append(&c->body, &c->body_len, &c->body_cap, c->raw + c->raw_pos, take);
            c->raw_pos += take;
            c->chunk_left -= (long long)take;
            continue;
        }
        if (available < 2) {
            return;
        }
        c->raw_pos += 2; /* the CRLF after a chunk's data */
        c->chunk_left = -1;
    }
}

/* Reads what is there within timeout_ms; false when nothing came (timeout or closed). */
static bool sse_read(sse_client *c, long long timeout_ms)
{
    if (c->closed) {
        return false;
    }
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    int ready = poll(&p, 1, (int)(timeout_ms < 0 ? 0 : timeout_ms));
    if (ready <= 0) {
        return false;
    }
    char chunk[16384];
    ssize_t got = recv(c->fd, chunk, sizeof chunk, 0);
    if (got <= 0) {
        c->closed = true;
        return false;
    }
    char *raw = realloc(c->raw, c->raw_len + (size_t)got + 1);
    assert_non_null(raw);
    c->raw = raw;
    memcpy(c->raw + c->raw_len, chunk, (size_t)got);
    c->raw_len += (size_t)got;
    c->raw[c->raw_len] = '\0';
    sse_decode(c);
    /* Keep the raw buffer small: drop what was decoded. */
    if (c->raw_pos > 0) {
        memmove(c->raw, c->raw + c->raw_pos, c->raw_len - c->raw_pos);
        c->raw_len -= c->raw_pos;
        c->raw_pos = 0;
    }
    return true;
}

/* Opens GET path (default /v1/events) with key; rcvbuf > 0 shrinks the socket's receive
 * buffer first. The head is read; c->status says how it was answered. */
static sse_client *sse_open_path(const char *base_url, const char *path, const char *key,
                                 const char *extra_header, int rcvbuf)
{
    sse_client *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->chunk_left = -1;
    if (key != NULL && strncmp(key, "wf_", 3) == 0) {
        c->id_keys = deployment_id_keys();
        c->id_binding = key_binding(&c->id_keys, key);
        c->ids_known = true;
    }
    c->fd = tu_connect_url(base_url, rcvbuf);
    char request[2048];
    int n =
        snprintf(request, sizeof request,
                 "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                 "%s%s%s%s%s\r\n",
                 path != NULL ? path : "/v1/events", key != NULL ? "Authorization: Bearer " : "",
                 key != NULL ? key : "", key != NULL ? "\r\n" : "",
                 extra_header != NULL ? extra_header : "", extra_header != NULL ? "\r\n" : "");
    assert_int_equal(send(c->fd, request, (size_t)n, MSG_NOSIGNAL), n);
    long long deadline = tu_now_ms() + tu_scaled_ms(10000);
    char *end = NULL;
    while ((end = c->raw != NULL ? strstr(c->raw, "\r\n\r\n") : NULL) == NULL) {
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        if (poll(&p, 1, (int)(deadline - tu_now_ms())) <= 0) {
            fail_msg("no response head from %s within 10 s", base_url);
        }
        char chunk[4096];
        ssize_t got = recv(c->fd, chunk, sizeof chunk, 0);
        if (got <= 0) {
            fail_msg("%s closed the connection before the head", base_url);
        }
        c->raw = realloc(c->raw, c->raw_len + (size_t)got + 1);
        memcpy(c->raw + c->raw_len, chunk, (size_t)got);
        c->raw_len += (size_t)got;
        c->raw[c->raw_len] = '\0';
    }
    size_t head_len = (size_t)(end - c->raw) + 4;
    snprintf(c->head, sizeof c->head, "%.*s", (int)head_len, c->raw);
    sscanf(c->head, "HTTP/1.%*d %d", &c->status);
    c->chunked = strcasestr(c->head, "Transfer-Encoding: chunked") != NULL;
    c->raw_pos = head_len;
    sse_decode(c);
    return c;
}

static sse_client *sse_open(const char *base_url, const char *key, const char *extra_header)
{
    return sse_open_path(base_url, NULL, key, extra_header, 0);
}

static void sse_close(sse_client *c)
{
    if (c != NULL) {
        close(c->fd);
        free(c->raw);
        free(c->body);
        free(c);
    }
}

/* The next event or comment in what was decoded; false when none is complete yet. */
static bool sse_parse(sse_client *c, sse_event *out)
{
    for (;;) {
        char *start = c->body != NULL ? c->body + c->body_pos : NULL;
        char *end = start != NULL ? strstr(start, "\n\n") : NULL;
        if (end == NULL) {
            return false;
        }
        c->body_pos = (size_t)(end - c->body) + 2;
        memset(out, 0, sizeof *out);
        char *data = NULL;
        size_t data_len = 0, data_cap = 0;
        bool comment = false, any = false;
        for (char *line = start; line < end;) {
            char *nl = memchr(line, '\n', (size_t)(end - line));
            size_t len = nl != NULL ? (size_t)(nl - line) : (size_t)(end - line);
            if (len > 0 && line[0] == ':') {
                comment = true;
            } else if (len >= 6 && strncmp(line, "event:", 6) == 0) {
                snprintf(out->type, sizeof out->type, "%.*s", (int)(len - 7), line + 7);
                any = true;
            } else if (len >= 3 && strncmp(line, "id:", 3) == 0) {
                snprintf(out->id, sizeof out->id, "%.*s", (int)(len - 4), line + 4);
            } else if (len >= 5 && strncmp(line, "data:", 5) == 0) {
                if (data_len > 0) {
                    append(&data, &data_len, &data_cap, "\n", 1);
                }
                append(&data, &data_len, &data_cap, line + 6, len - 6);
                any = true;
            }
            line += len + 1;
        }
        out->at = tu_now_ms();
        int64_t position = -1;
        if (!c->ids_known || out->id[0] == '\0' ||
            !event_id_open(&c->id_keys, c->id_binding, out->id, &position)) {
            position = -1;
        }
        out->position = position;
        if (any) {
            out->data = data != NULL ? data : strdup("");
            out->json = cJSON_Parse(out->data);
            if (out->type[0] == '\0') {
                snprintf(out->type, sizeof out->type, "message");
            }
            return true;
        }
        free(data);
        if (comment) {
            snprintf(out->type, sizeof out->type, "comment");
            out->data = strdup("");
            return true;
        }
        /* retry: alone: nothing to dispatch */
    }
}

/* The next event (comments too when with_comments) within timeout_ms: 1, 0 on timeout, -1
 * when the stream ended. */
static int sse_next_any(sse_client *c, long long timeout_ms, bool with_comments, sse_event *out)
{
    long long deadline = tu_now_ms() + timeout_ms;
    for (;;) {
        while (sse_parse(c, out)) {
            if (with_comments || strcmp(out->type, "comment") != 0) {
                return 1;
            }
            sse_event_clear(out);
        }
        if (c->closed || c->body_done) {
            return -1;
        }
        long long left = deadline - tu_now_ms();
        if (left <= 0) {
            return 0;
        }
        sse_read(c, left);
    }
}

/* The next event, failing the test when none comes (tu_patience_ms: an event that must come
 * may be slow on a loaded machine). */
static void sse_expect_next(sse_client *c, sse_event *out)
{
    int got = sse_next_any(c, tu_patience_ms(), false, out);
    if (got != 1) {
        fail_msg("no event within %lld ms (%s)", tu_patience_ms(),
                 got < 0 ? "stream ended" : "timeout");
    }
}

/* The next event is the transfer id: its position. */
static long long expect_transfer(sse_client *c, long long id)
{
    sse_event e;
    sse_expect_next(c, &e);
    assert_string_equal(e.type, "transfer");
    assert_int_equal(it_json_int(e.json, "id"), id);
    long long position = e.position;
    sse_event_clear(&e);
    return position;
}

/* The next event is the ready of a resumed stream that replayed so many events: its
 * position. */
static long long expect_resumed(sse_client *c, int replayed)
{
    sse_event e;
    sse_expect_next(c, &e);
    assert_string_equal(e.type, "ready");
    ASSERT_JSON(e.json, "{\"resumed\":true,\"replayed\":%d}", replayed);
    long long position = e.position;
    sse_event_clear(&e);
    return position;
}

/* Skips events until one of type comes (fails after tu_patience_ms). */
static void sse_expect_type(sse_client *c, const char *type, sse_event *out)
{
    long long deadline = tu_now_ms() + tu_patience_ms();
    for (;;) {
        int got = sse_next_any(c, deadline - tu_now_ms(), false, out);
        if (got != 1) {
            fail_msg("no %s event within %lld ms (%s)", type, tu_patience_ms(),
                     got < 0 ? "stream ended" : "timeout");
        }
        if (strcmp(out->type, type) == 0) {
            return;
        }
        sse_event_clear(out);
    }
}

/* Opens an admitted stream and reads up to its `ready`; returns its id. */
static sse_client *sse_ready(const char *base_url, const char *key, const char *extra_header,
                             long long *ready_id, cJSON **ready_data)
{
    sse_client *c = sse_open(base_url, key, extra_header);
    if (c->status != 200) {
        fail_msg("GET /v1/events answered %d: %s", c->status, c->head);
    }
    assert_non_null(strcasestr(c->head, "Content-Type: text/event-stream"));
    sse_event ready;
    sse_expect_type(c, "ready", &ready);
    if (c->ids_known) {
        assert_true(ready.position >= 0); /* sealed for this key */
    }
    if (ready_id != NULL) {
        *ready_id = ready.position;
    }
    if (ready_data != NULL) {
        *ready_data = cJSON_Duplicate(ready.json, true);
    }
    sse_event_clear(&ready);
    return c;
}

/* ------------------------------------------------------------------ helpers */

static const char *admin_header(void)
{
    return it_bearer(it_admin_key());
}

/* A POST of JSON to base_url as the admin; the response (caller frees). */
static it_response *post_to(const char *base_url, const char *path, const char *body)
{
    const char *headers[] = {admin_header(), NULL};
    return it_request_to(base_url, "POST", path, body, headers);
}

static long long transfer_through(const char *base_url, long long org, long long glass)
{
    it_response *r = post_to(base_url, tu_fmt("/v1/organizations/%lld/transfers", org),
                             tu_fmt("{\"waste\":{\"glass\":%lld}}", glass));
    EXPECT_STATUS(r, 201);
    long long id = it_json_int(r->json, "id");
    it_response_free(r);
    return id;
}

/* A world: n organizations with a road to one big glass storage. */
typedef struct {
    long long orgs[4];
    long long storage;
    long long route;
} world;

static world make_world(int n)
{
    world w = {0};
    w.storage = tu_new_storage("events-store", "{\"glass\":1000000000,\"bio\":1000000000}");
    for (int i = 0; i < n; i++) {
        w.orgs[i] = tu_new_org("events-org", "{}", NULL);
        long long route = it_create_route(ORG(w.orgs[i]), STORAGE(w.storage), 10 + i, false);
        if (i == 0) {
            w.route = route;
        }
    }
    return w;
}

/* The value of a metric line "name value" of GET /metrics (name with its labels). */
static double metric(const char *name)
{
    return (double)tu_metric_present(name);
}

static long long key_id_of(const char *key)
{
    return atoll(key + 3); /* wf_<id>_<secret> */
}

/* Inserts a transfer straight into the ledger from psql's side (no shipments, nothing
 * received: the books still balance); returns its id. */
static long long ledger_insert(PGconn *conn, long long org)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "INSERT INTO transfers (organization_id, trigger, received, pending, actor) VALUES "
             "(%lld, 'request', '{}', '{}', 'seed') RETURNING id",
             org);
    PGresult *r = PQexec(conn, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fail_msg("%s: %s", sql, PQerrorMessage(conn));
    }
    long long id = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return id;
}

static void exec_ok(PGconn *conn, const char *sql)
{
    PGresult *r = PQexec(conn, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        fail_msg("%s: %s", sql, PQerrorMessage(conn));
    }
    PQclear(r);
}

static int compare_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

/* ------------------------------------------------------------------ refusals */

static void test_refusals(void **state)
{
    (void)state;
    const char *none[] = {"Authorization:", NULL};
    it_response *r = it_request("GET", "/v1/events", NULL, none);
    EXPECT_PROBLEM_TYPE(r, 401, "unauthorized", NULL);
    assert_non_null(it_header(r, "WWW-Authenticate"));
    it_response_free(r);

    char *monitor = it_new_key("monitor", 0, 0);
    const char *as_monitor[] = {it_bearer(monitor), NULL};
    r = it_request("GET", "/v1/events", NULL, as_monitor);
    EXPECT_PROBLEM_TYPE(r, 403, "forbidden", NULL);
    it_response_free(r);
    free(monitor);

    const char *bad_id[] = {"Last-Event-ID: 12abc", NULL};
    EXPECT_REJECTED_WITH_HEADERS("GET", "/v1/events", NULL, bad_id, 400, "bad-request", NULL);
    EXPECT_REJECTED_TYPE("GET", "/v1/events?last_event_id=-1", NULL, 422, "validation-error",
                         "last_event_id");
    EXPECT_REJECTED_TYPE("POST", "/v1/events", "{}", 405, "method-not-allowed", NULL);

    /* The credential's share (WASTEFLOW_EVENTS_MAX_PER_CREDENTIAL=3 in this group). */
    char *key = it_new_key("auditor", 0, 0);
    sse_client *streams[3];
    for (int i = 0; i < 3; i++) {
        streams[i] = sse_ready(it_base_url(), key, NULL, NULL, NULL);
    }
    sse_client *fourth = sse_open(it_base_url(), key, NULL);
    assert_int_equal(fourth->status, 429);
    assert_non_null(strcasestr(fourth->head, "Retry-After:"));
    assert_non_null(strcasestr(fourth->head, "application/problem+json"));
    sse_close(fourth);
    /* Another credential is not held back by it. */
    sse_client *other = sse_ready(it_base_url(), it_admin_key(), NULL, NULL, NULL);
    sse_close(other);
    sse_close(streams[0]);
    /* Once one is closed, there is room again (the server notices the close at once). */
    long long deadline = tu_now_ms() + tu_patience_ms();
    for (;;) {
        sse_client *again = sse_open(it_base_url(), key, NULL);
        int status = again->status;
        sse_close(again);
        if (status == 200) {
            break;
        }
        assert_int_equal(status, 429);
        if (tu_now_ms() > deadline) {
            fail_msg("a closed stream still counted after %lld ms", tu_patience_ms());
        }
        tu_sleep_ms(50);
    }
    sse_close(streams[1]);
    sse_close(streams[2]);
    free(key);
}

/* ------------------------------------------------------------------ across instances */

static void test_two_instances(void **state)
{
    (void)state;
    world w = make_world(1);
    const char *second = it_start_second_instance(NULL);
    sse_client *a = sse_ready(it_base_url(), it_admin_key(), NULL, NULL, NULL);
    enum { TRANSFERS = 200 };
    long long after_ack[TRANSFERS], after_send[TRANSFERS];
    long long last_id = 0;
    for (int i = 0; i < TRANSFERS; i++) {
        long long sent = tu_now_ms();
        long long id = transfer_through(second, w.orgs[0], 1 + i % 3);
        long long acknowledged = tu_now_ms();
        sse_event e;
        for (;;) {
            sse_expect_type(a, "transfer", &e);
            if (it_json_int(e.json, "id") == id) {
                break;
            }
            sse_event_clear(&e);
        }
        after_ack[i] = e.at > acknowledged ? e.at - acknowledged : 0;
        after_send[i] = e.at - sent;
        long long event_id = e.position;
        assert_true(event_id > last_id);
        last_id = event_id;
        if (after_ack[i] > tu_scaled_ms(1000)) {
            fail_msg("transfer %lld reached the other instance's stream %lld ms after its 201", id,
                     after_ack[i]);
        }
        if (i < 3) {
            /* The payload is the transfer as GET /v1/transfers/{id} shows it. */
            it_response *got = it_get("/v1/transfers/%lld", id);
            EXPECT_STATUS(got, 200);
            assert_true(cJSON_Compare(got->json, e.json, true));
            it_response_free(got);
        }
        sse_event_clear(&e);
    }
    qsort(after_ack, TRANSFERS, sizeof after_ack[0], compare_ll);
    qsort(after_send, TRANSFERS, sizeof after_send[0], compare_ll);
    print_message("event latency across instances over %d transfers: after the 201 p50 %lld ms, "
                  "p99 %lld ms, max %lld ms; after sending the request p50 %lld ms, p99 %lld ms\n",
                  TRANSFERS, after_ack[TRANSFERS / 2], after_ack[TRANSFERS * 99 / 100],
                  after_ack[TRANSFERS - 1], after_send[TRANSFERS / 2],
                  after_send[TRANSFERS * 99 / 100]);

    /* A writer that is no instance at all: psql. Its storage change arrives on both. */
    sse_client *b = sse_ready(second, it_admin_key(), NULL, NULL, NULL);
    it_sql_exec("UPDATE storage_waste SET capacity = capacity + 1 WHERE storage_id = %lld AND "
                "waste_type = 'bio'",
                w.storage);
    sse_client *both[] = {a, b};
    for (int i = 0; i < 2; i++) {
        sse_event e;
        for (;;) { /* the transfers' own storage events may come first */
            sse_expect_type(both[i], "storage", &e);
            assert_int_equal(it_json_int(e.json, "id"), w.storage);
            if (it_json_int(e.json, "capacity.bio") == 1000000001) {
                break;
            }
            sse_event_clear(&e);
        }
        sse_event_clear(&e);
    }
    sse_close(a);
    sse_close(b);
    assert_int_equal(it_stop_second_instance(), 0);
}

/* ------------------------------------------------------------------ scoping */

typedef struct {
    int transfers, unloads, storages, organizations, routes;
    long long transfer_ids[8];
    long long organization_ids[8];
} seen;

/* Reads a stream up to the route event the test ends with; counts what came. */
static seen read_until_route(sse_client *c, long long route_id)
{
    seen s = {0};
    long long last = -1;
    for (;;) {
        sse_event e;
        sse_expect_next(c, &e);
        long long id = e.position;
        assert_true(id >= 0);    /* an id of this stream's principal */
        assert_true(id >= last); /* positions never go back */
        last = id;
        if (strcmp(e.type, "transfer") == 0 && s.transfers < 8) {
            s.transfer_ids[s.transfers++] = it_json_int(e.json, "id");
        } else if (strcmp(e.type, "unload") == 0) {
            s.unloads++;
        } else if (strcmp(e.type, "storage") == 0) {
            s.storages++;
        } else if (strcmp(e.type, "organization") == 0 && s.organizations < 8) {
            s.organization_ids[s.organizations++] = it_json_int(e.json, "id");
        } else if (strcmp(e.type, "route") == 0) {
            s.routes++;
            if (it_json_int(e.json, "id") == route_id) {
                sse_event_clear(&e);
                return s;
            }
        }
        sse_event_clear(&e);
    }
}

static void test_scoping(void **state)
{
    (void)state;
    long long o1 = tu_new_org("scope-org", "{}", NULL);
    long long o2 = tu_new_org("scope-org", "{}", NULL);
    long long s1 = tu_new_storage("scope-store", "{\"glass\":1000}");
    long long s2 = tu_new_storage("scope-store", "{\"glass\":1000}");
    it_create_route(ORG(o1), STORAGE(s1), 10, false);
    long long marker = it_create_route(ORG(o2), STORAGE(s2), 10, false);
    char *org_key = it_new_key("organization", o1, 0);
    char *storage_key = it_new_key("storage", 0, s2);
    sse_client *admin = sse_ready(it_base_url(), it_admin_key(), NULL, NULL, NULL);
    long long org_ready = 0;
    sse_client *org = sse_ready(it_base_url(), org_key, NULL, &org_ready, NULL);
    sse_client *store = sse_ready(it_base_url(), storage_key, NULL, NULL, NULL);

    long long t1 = transfer_through(it_base_url(), o1, 5);
    long long t2 = transfer_through(it_base_url(), o2, 7);
    it_response *r = it_post(tu_fmt("/v1/storages/%lld/unload", s2), "{\"glass\":2}");
    EXPECT_STATUS(r, 200);
    it_response_free(r);
    /* A transfer that places everything leaves pending as it was (no organization event):
     * renames are what make each organization change here. */
    r = it_patch(tu_fmt("/v1/organizations/%lld", o1), "{\"name\":\"scope-renamed-%lld\"}", o1);
    EXPECT_STATUS(r, 200);
    it_response_free(r);
    r = it_patch(tu_fmt("/v1/organizations/%lld", o2), "{\"name\":\"scope-renamed-%lld\"}", o2);
    EXPECT_STATUS(r, 200);
    it_response_free(r);
    r = it_patch(tu_fmt("/v1/routes/%lld", marker), "{\"distance_m\":11}");
    EXPECT_STATUS(r, 200);
    it_response_free(r);

    seen a = read_until_route(admin, marker);
    assert_int_equal(a.transfers, 2);
    assert_int_equal(a.transfer_ids[0], t1);
    assert_int_equal(a.transfer_ids[1], t2);
    assert_int_equal(a.unloads, 1);
    assert_true(a.organizations >= 2);
    assert_true(a.storages >= 2);

    seen o = read_until_route(org, marker);
    assert_int_equal(o.transfers, 1);
    assert_int_equal(o.transfer_ids[0], t1);
    assert_int_equal(o.unloads, 0);
    assert_true(o.organizations >= 1);
    for (int i = 0; i < o.organizations; i++) {
        assert_int_equal(o.organization_ids[i], o1);
    }
    assert_true(o.storages >= 2); /* the storage view: every storage */

    seen s = read_until_route(store, marker);
    assert_int_equal(s.transfers, 1);
    assert_int_equal(s.transfer_ids[0], t2);
    assert_int_equal(s.unloads, 1);
    assert_int_equal(s.organizations, 0);
    assert_true(s.storages >= 2);

    /* Resuming is scoped too: the organization's key is replayed its own transfer only. */
    sse_close(org);
    transfer_through(it_base_url(), o2, 1);
    org = sse_open(it_base_url(), org_key, tu_fmt("Last-Event-ID: %s", id_for(org_key, org_ready)));
    assert_int_equal(org->status, 200);
    expect_transfer(org, t1);
    expect_resumed(org, 1);

    sse_close(admin);
    sse_close(org);
    sse_close(store);
    free(org_key);
    free(storage_key);
}

/* An organization with glass storages: a near one 10 m away and a far one far_m away. */
typedef struct {
    long long org, near, far, far_route;
} near_and_far;

static near_and_far new_near_and_far(const char *prefix, long long near_glass, long long far_glass,
                                     long long far_m)
{
    near_and_far scene;
    char name[64], capacity[64];
    snprintf(name, sizeof name, "%s-org", prefix);
    scene.org = tu_new_org(name, "{}", NULL);
    snprintf(name, sizeof name, "%s-near", prefix);
    snprintf(capacity, sizeof capacity, "{\"glass\":%lld}", near_glass);
    scene.near = tu_new_storage(name, capacity);
    snprintf(name, sizeof name, "%s-far", prefix);
    snprintf(capacity, sizeof capacity, "{\"glass\":%lld}", far_glass);
    scene.far = tu_new_storage(name, capacity);
    it_create_route(ORG(scene.org), STORAGE(scene.near), 10, false);
    scene.far_route = it_create_route(ORG(scene.org), STORAGE(scene.far), far_m, false);
    return scene;
}

/* A transfer's stock change reaches the streams as a storage event with the new stock,
 * though the transfer's own statement logs nothing for it: the feed takes the storages
 * from the transfer's shipments. Read up to a route event that comes after. */
static void test_transfer_announces_its_storages(void **state)
{
    (void)state;
    near_and_far scene = new_near_and_far("announce", 4, 100, 20);
    long long o = scene.org, near = scene.near, far = scene.far, marker = scene.far_route;
    sse_client *admin = sse_ready(it_base_url(), it_admin_key(), NULL, NULL, NULL);
    /* Everything before the transfer is read first (a storage event renders the storage as
     * it is when the feed reads it: one read late, its creation would show the stock too). */
    it_response *r = it_patch(tu_fmt("/v1/routes/%lld", marker), "{\"distance_m\":21}");
    EXPECT_STATUS(r, 200);
    it_response_free(r);
    for (bool before = true; before;) {
        sse_event e;
        sse_expect_next(admin, &e);
        before = !(strcmp(e.type, "route") == 0 && it_json_int(e.json, "id") == marker);
        sse_event_clear(&e);
    }

    long long t = transfer_through(it_base_url(), o, 7); /* 4 near, 3 far */
    r = it_patch(tu_fmt("/v1/routes/%lld", marker), "{\"distance_m\":22}");
    EXPECT_STATUS(r, 200);
    it_response_free(r);

    bool transfer_seen = false, near_seen = false, far_seen = false;
    for (;;) {
        sse_event e;
        sse_expect_next(admin, &e);
        if (strcmp(e.type, "transfer") == 0 && it_json_int(e.json, "id") == t) {
            transfer_seen = true;
        } else if (strcmp(e.type, "storage") == 0 && it_json_int(e.json, "id") == near) {
            assert_true(transfer_seen); /* after the transfer that changed it */
            assert_int_equal(it_json_int(e.json, "stock.glass"), 4);
            near_seen = true;
        } else if (strcmp(e.type, "storage") == 0 && it_json_int(e.json, "id") == far) {
            assert_true(transfer_seen);
            assert_int_equal(it_json_int(e.json, "stock.glass"), 3);
            far_seen = true;
        } else if (strcmp(e.type, "route") == 0 && it_json_int(e.json, "id") == marker) {
            sse_event_clear(&e);
            break;
        }
        sse_event_clear(&e);
    }
    assert_true(transfer_seen);
    assert_true(near_seen);
    assert_true(far_seen);
    sse_close(admin);
}

/* Reads events until the movement id with that status (fails after tu_patience_ms). */
static void expect_movement(sse_client *c, long long id, const char *status)
{
    long long deadline = tu_now_ms() + tu_patience_ms();
    for (;;) {
        sse_event e;
        int got = sse_next_any(c, deadline - tu_now_ms(), false, &e);
        if (got != 1) {
            fail_msg("no movement event for %lld (%s) within %lld ms", id, status,
                     tu_patience_ms());
        }
        if (strcmp(e.type, "movement") == 0 && it_json_int(e.json, "id") == id &&
            strcmp(it_json_str(e.json, "status"), status) == 0) {
            sse_event_clear(&e);
            return;
        }
        sse_event_clear(&e);
    }
}

/* Counts movement events until a route event with the marker's id. */
static int movements_until_route(sse_client *c, long long route_id)
{
    int movements = 0;
    long long deadline = tu_now_ms() + tu_patience_ms();
    for (;;) {
        sse_event e;
        int got = sse_next_any(c, deadline - tu_now_ms(), false, &e);
        if (got != 1) {
            fail_msg("no route event %lld within %lld ms", route_id, tu_patience_ms());
        }
        bool done = strcmp(e.type, "route") == 0 && it_json_int(e.json, "id") == route_id;
        movements += strcmp(e.type, "movement") == 0;
        sse_event_clear(&e);
        if (done) {
            return movements;
        }
    }
}

/* A load to a weighed storage is a `movement` event when it sets off and when it is received,
 * seen by the admin, its organization and its storage, and by no other organization or
 * storage. A load to an automatic storage makes none. */
static void test_movement_events(void **state)
{
    (void)state;
    long long org = tu_new_org("mv-ev-org", "{}", NULL);
    long long other_org = tu_new_org("mv-ev-org", "{}", NULL);
    char *name = it_unique_name("mv-ev-weighed");
    long long weighed = POST_CREATED("/v1/storages",
                                     "{\"name\":\"%s\",\"intake\":\"weighed\",\"capacity\":"
                                     "{\"glass\":1000}}",
                                     name);
    long long other_storage = tu_new_storage("mv-ev-auto", "{\"glass\":1000}");
    it_create_route(ORG(org), STORAGE(weighed), 10, false);
    it_create_route(ORG(other_org), STORAGE(other_storage), 10, false);
    char *org_key = it_new_key("organization", org, 0);
    char *other_org_key = it_new_key("organization", other_org, 0);
    char *storage_key = it_new_key("storage", 0, weighed);
    char *other_storage_key = it_new_key("storage", 0, other_storage);
    sse_client *admin = sse_ready(it_base_url(), it_admin_key(), NULL, NULL, NULL);
    sse_client *own = sse_ready(it_base_url(), org_key, NULL, NULL, NULL);
    sse_client *store = sse_ready(it_base_url(), storage_key, NULL, NULL, NULL);
    sse_client *stranger = sse_ready(it_base_url(), other_org_key, NULL, NULL, NULL);
    sse_client *other_store = sse_ready(it_base_url(), other_storage_key, NULL, NULL, NULL);

    it_response *r =
        it_post(tu_fmt("/v1/organizations/%lld/transfers", org), "{\"waste\":{\"glass\":25}}");
    EXPECT_STATUS(r, 201);
    long long movement = it_json_int(r->json, "shipments.0.movement_id");
    it_response_free(r);
    transfer_through(it_base_url(), other_org, 5); /* automatic: no movement event */
    expect_movement(admin, movement, "in_transit");
    expect_movement(own, movement, "in_transit");
    expect_movement(store, movement, "in_transit");

    r = it_post(tu_fmt("/v1/movements/%lld/receipt", movement), "{\"received_kg\":25}");
    EXPECT_STATUS(r, 200);
    it_response_free(r);
    expect_movement(admin, movement, "accepted");
    expect_movement(own, movement, "accepted");
    expect_movement(store, movement, "accepted");

    long long marker = it_create_route(ORG(other_org), STORAGE(weighed), 99, false);
    assert_int_equal(movements_until_route(stranger, marker), 0);
    assert_int_equal(movements_until_route(other_store, marker), 0);

    sse_close(admin);
    sse_close(own);
    sse_close(store);
    sse_close(stranger);
    sse_close(other_store);
    free(org_key);
    free(other_org_key);
    free(storage_key);
    free(other_storage_key);
    free(name);
}

/* Switching a storage's intake reaches the streams as a storage event showing it. */
static void test_intake_switch_is_announced(void **state)
{
    (void)state;
    long long storage = tu_new_storage("intake-switch", "{\"glass\":10}");
    sse_client *admin = sse_ready(it_base_url(), it_admin_key(), NULL, NULL, NULL);
    it_response *r = it_patch(tu_fmt("/v1/storages/%lld", storage), "{\"intake\":\"weighed\"}");
    EXPECT_STATUS(r, 200);
    it_response_free(r);
    for (;;) {
        sse_event e;
        sse_expect_next(admin, &e);
        bool done = strcmp(e.type, "storage") == 0 && it_json_int(e.json, "id") == storage;
        if (done) {
            assert_string_equal(it_json_str(e.json, "intake"), "weighed");
        }
        sse_event_clear(&e);
        if (done) {
            break;
        }
    }
    sse_close(admin);
}

/* GET path as the holder of key; the response (caller frees). */
static it_response *get_as(const char *key, const char *path)
{
    const char *headers[] = {it_bearer(key), NULL};
    return it_request("GET", path, NULL, headers);
}

/* A storage's stream shows of a transfer only the shipments to that storage, neither what the
 * organization handed over nor what it kept, live and replayed alike: the transfer as GET
 * /v1/transfers/{id} shows it to the same key. The admin's stream shows all of it. */
static void test_storage_sees_its_own_shipments(void **state)
{
    (void)state;
    near_and_far scene = new_near_and_far("split", 3, 5, 30);
    long long org = scene.org, near = scene.near;
    char *near_key = it_new_key("storage", 0, near);
    sse_client *admin = sse_ready(it_base_url(), it_admin_key(), NULL, NULL, NULL);
    sse_client *store = sse_open(it_base_url(), near_key, NULL);
    assert_int_equal(store->status, 200);
    sse_event ready;
    sse_expect_type(store, "ready", &ready);
    char *before = strdup(ready.id);
    sse_event_clear(&ready);

    long long id = transfer_through(it_base_url(), org, 10);
    it_response *whole = it_get("/v1/transfers/%lld", id);
    EXPECT_STATUS(whole, 200);
    ASSERT_JSON_AT(whole->json, "pending", "{\"glass\":2}");
    assert_int_equal(cJSON_GetArraySize(tu_member(whole->json, "shipments")), 2);
    it_response *own = get_as(near_key, tu_fmt("/v1/transfers/%lld", id));
    EXPECT_STATUS(own, 200);
    ASSERT_JSON_AT(own->json, "shipments",
                   "[{\"storage_id\":%lld,\"waste_type\":\"glass\",\"amount\":3,"
                   "\"distance_m\":10}]",
                   near);
    assert_null(cJSON_GetObjectItemCaseSensitive(own->json, "pending"));
    assert_null(cJSON_GetObjectItemCaseSensitive(own->json, "received"));

    sse_event e;
    for (;;) { /* an earlier test's last transfer may still be on its way to the hub */
        sse_expect_type(admin, "transfer", &e);
        if (it_json_int(e.json, "id") == id) {
            break;
        }
        sse_event_clear(&e);
    }
    assert_true(cJSON_Compare(e.json, whole->json, true));
    sse_event_clear(&e);
    sse_expect_type(store, "transfer", &e);
    assert_true(cJSON_Compare(e.json, own->json, true));
    assert_null(strstr(e.data, "pending"));
    assert_null(strstr(e.data, "received"));
    sse_event_clear(&e);

    /* Replayed from the ledger: the same. */
    sse_close(store);
    store = sse_open(it_base_url(), near_key, tu_fmt("Last-Event-ID: %s", before));
    assert_int_equal(store->status, 200);
    sse_expect_next(store, &e);
    assert_string_equal(e.type, "transfer");
    assert_true(cJSON_Compare(e.json, own->json, true));
    sse_event_clear(&e);
    expect_resumed(store, 1);

    it_response_free(whole);
    it_response_free(own);
    sse_close(admin);
    sse_close(store);
    free(before);
    free(near_key);
}

/* ------------------------------------------------------------------ event ids */

/* An id says nothing of the ledger: it is not the position, and two callers are sent
 * different ids for the same event. Each opens to the transfer's ledger position for its own
 * caller only; another's id, an edited one or a bare position is refused as a malformed id
 * is (400 for the header, 422 for the query parameter), and the caller's own resumes. */
static void test_event_ids_are_sealed(void **state)
{
    (void)state;
    world w = make_world(1);
    char *auditor = it_new_key("auditor", 0, 0);
    sse_client *a = sse_ready(it_base_url(), it_admin_key(), NULL, NULL, NULL);
    sse_client *b = sse_ready(it_base_url(), auditor, NULL, NULL, NULL);
    long long id = transfer_through(it_base_url(), w.orgs[0], 2);
    long long position = id; /* a transfer stands at its id */
    sse_event ea, eb;
    sse_expect_type(a, "transfer", &ea);
    sse_expect_type(b, "transfer", &eb);
    assert_int_equal(it_json_int(ea.json, "id"), id);
    assert_int_equal(it_json_int(eb.json, "id"), id);
    assert_int_equal(ea.position, position);
    assert_int_equal(eb.position, position);
    assert_string_not_equal(ea.id, eb.id);
    assert_string_not_equal(ea.id, tu_fmt("%lld", position));
    assert_int_equal(strlen(ea.id), 22);
    assert_int_equal(
        strspn(ea.id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), 22);
    /* A later event that is no transfer stands at the same position: the same id. */
    it_response *renamed = it_patch(tu_fmt("/v1/organizations/%lld", w.orgs[0]),
                                    "{\"name\":\"ids-renamed-%lld\"}", w.orgs[0]);
    EXPECT_STATUS(renamed, 200);
    it_response_free(renamed);
    sse_event next;
    sse_expect_type(a, "organization", &next);
    assert_string_equal(next.id, ea.id);
    sse_event_clear(&next);

    char edited[32];
    snprintf(edited, sizeof edited, "%s", ea.id);
    edited[5] = edited[5] == 'A' ? 'B' : 'A';
    const char *refused[] = {
        eb.id,                    /* the auditor's, sent by the admin */
        edited,                   /* one character changed */
        tu_fmt("%lld", position), /* the bare position, as ids were before */
        "XVNg0nBBiaLMlu4oAdJxZw", /* well-formed, sealed with no key of this deployment */
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        const char *header[] = {tu_fmt("Last-Event-ID: %s", refused[i]), NULL};
        EXPECT_REJECTED_WITH_HEADERS("GET", "/v1/events", NULL, header, 400, "bad-request", NULL);
        EXPECT_REJECTED_TYPE("GET", tu_fmt("/v1/events?last_event_id=%s", refused[i]), NULL, 422,
                             "validation-error", "last_event_id");
    }
    /* And the other way round: the admin's id is no use to the auditor. */
    sse_client *theirs = sse_open(it_base_url(), auditor, tu_fmt("Last-Event-ID: %s", ea.id));
    assert_int_equal(theirs->status, 400);
    sse_close(theirs);

    /* The admin's own id resumes (on the other stream's credential it would not). */
    sse_close(a);
    long long later = transfer_through(it_base_url(), w.orgs[0], 3);
    /* Once the open stream has it, the hub has passed it: the resume below replays it
     * rather than finding it live after `ready`. */
    sse_event passed;
    sse_expect_type(b, "transfer", &passed);
    assert_int_equal(it_json_int(passed.json, "id"), later);
    sse_event_clear(&passed);
    a = sse_open(it_base_url(), it_admin_key(), tu_fmt("Last-Event-ID: %s", ea.id));
    assert_int_equal(a->status, 200);
    assert_true(expect_transfer(a, later) > position);
    expect_resumed(a, 1);

    sse_event_clear(&ea);
    sse_event_clear(&eb);
    sse_close(a);
    sse_close(b);
    free(auditor);
}

/* ------------------------------------------------------------------ resuming */

static void test_resume_in_commit_order(void **state)
{
    (void)state;
    world w = make_world(1);
    long long start = 0;
    sse_client *live = sse_ready(it_base_url(), it_admin_key(), NULL, &start, NULL);

    /* Session one takes the lower transaction id (and transfer id) and commits last: the
     * feed holds the other back until it ends, then delivers both in (xid, id) order —
     * nothing is skipped for having committed out of order. */
    PGconn *one = PQconnectdb(it_database_url());
    PGconn *two = PQconnectdb(it_database_url());
    assert_int_equal(PQstatus(one), CONNECTION_OK);
    assert_int_equal(PQstatus(two), CONNECTION_OK);
    exec_ok(one, "BEGIN");
    long long lower = ledger_insert(one, w.orgs[0]);
    long long higher = ledger_insert(two, w.orgs[0]);
    assert_true(lower < higher);
    exec_ok(one, "COMMIT");
    PQfinish(one);
    PQfinish(two);
    long long later[3];
    for (int i = 0; i < 3; i++) {
        later[i] = transfer_through(it_base_url(), w.orgs[0], 1);
    }
    long long expected[5] = {lower, higher, later[0], later[1], later[2]};

    /* Live: in transaction order, each at its transfer id. */
    long long positions[5];
    for (int i = 0; i < 5; i++) {
        sse_event e;
        sse_expect_type(live, "transfer", &e);
        assert_int_equal(it_json_int(e.json, "id"), expected[i]);
        positions[i] = e.position;
        assert_int_equal(positions[i], expected[i]);
        sse_event_clear(&e);
    }
    sse_close(live);

    /* Resumed from before them: replayed in the same order. */
    sse_client *from_start = sse_open(it_base_url(), it_admin_key(),
                                      tu_fmt("Last-Event-ID: %s", id_for(it_admin_key(), start)));
    for (int i = 0; i < 5; i++) {
        assert_int_equal(expect_transfer(from_start, expected[i]), positions[i]);
    }
    sse_close(from_start);

    /* Resumed after the first of them, on another instance: the same order there. */
    const char *second = it_start_second_instance(NULL);
    const char *urls[] = {it_base_url(), second};
    long long ids[8], at[8];
    int count = 5;
    memcpy(ids, expected, sizeof expected);
    memcpy(at, positions, sizeof positions);
    for (int u = 0; u < 2; u++) {
        sse_client *c = sse_open(urls[u], it_admin_key(),
                                 tu_fmt("Last-Event-ID: %s", id_for(it_admin_key(), positions[0])));
        assert_int_equal(c->status, 200);
        for (int i = 1; i < count; i++) {
            assert_int_equal(expect_transfer(c, ids[i]), at[i]);
        }
        sse_event e;
        assert_int_equal(expect_resumed(c, count - 1), at[count - 1]);
        /* Live after the replay: the next transfer comes once, with the next position. */
        long long next = transfer_through(it_base_url(), w.orgs[0], 1);
        sse_expect_type(c, "transfer", &e);
        assert_int_equal(it_json_int(e.json, "id"), next);
        assert_int_equal(e.position, next);
        ids[count] = next;
        at[count++] = e.position;
        sse_event_clear(&e);
        sse_close(c);
    }
    assert_int_equal(it_stop_second_instance(), 0);

    /* The same through the query parameter; and an id of this deployment's key past every
     * position (a database restored from before it was given): resync. */
    sse_client *q = sse_open_path(
        it_base_url(), tu_fmt("/v1/events?last_event_id=%s", id_for(it_admin_key(), positions[3])),
        it_admin_key(), NULL, 0);
    sse_event e;
    expect_transfer(q, expected[4]);
    sse_close(q);
    sse_client *bogus = sse_open(it_base_url(), it_admin_key(),
                                 tu_fmt("Last-Event-ID: %s", id_for(it_admin_key(), 999999999999)));
    sse_expect_next(bogus, &e);
    assert_string_equal(e.type, "resync");
    sse_event_clear(&e);
    sse_expect_next(bogus, &e);
    assert_string_equal(e.type, "ready");
    long long fresh = e.position;
    assert_true(fresh < 999999999999LL);
    sse_event_clear(&e);
    long long next = transfer_through(it_base_url(), w.orgs[0], 1);
    sse_expect_type(bogus, "transfer", &e);
    assert_int_equal(it_json_int(e.json, "id"), next);
    sse_event_clear(&e);
    sse_close(bogus);
}

/* ------------------------------------------------------------------ keep-alive, revocation */

static void test_keepalive_and_revocation(void **state)
{
    (void)state;
    char *key = it_new_key("auditor", 0, 0);
    sse_client *c = sse_ready(it_base_url(), key, NULL, NULL, NULL);
    /* WASTEFLOW_EVENTS_KEEPALIVE_MS=500 in this group. */
    sse_event e;
    int got = sse_next_any(c, tu_scaled_ms(2500), true, &e);
    assert_int_equal(got, 1);
    assert_string_equal(e.type, "comment");
    sse_event_clear(&e);

    it_response *r = it_delete("/v1/api-keys/%lld", key_id_of(key));
    EXPECT_STATUS(r, 204);
    it_response_free(r);
    long long revoked = tu_now_ms();
    sse_expect_type(c, "unauthorized", &e);
    sse_event_clear(&e);
    long long deadline = tu_now_ms() + tu_scaled_ms(3000);
    while (sse_next_any(c, deadline - tu_now_ms(), true, &e) == 1) {
        sse_event_clear(&e);
    }
    assert_true(c->closed || c->body_done);
    print_message("a revoked key's stream ended %lld ms after the revocation\n",
                  tu_now_ms() - revoked);
    sse_close(c);
    /* Reconnecting with it is refused. */
    c = sse_open(it_base_url(), key, NULL);
    assert_int_equal(c->status, 401);
    sse_close(c);
    free(key);
}

/* ------------------------------------------------------------------ slow readers */

static void test_slow_reader_cut_off(void **state)
{
    (void)state;
    world w = make_world(1);
    sse_client *healthy = sse_ready(it_base_url(), it_admin_key(), NULL, NULL, NULL);
    /* A reader that takes the head and ready, then nothing, through a tiny receive window. */
    sse_client *slow = sse_open_path(it_base_url(), NULL, it_admin_key(), NULL, 4096);
    assert_int_equal(slow->status, 200);
    sse_event e;
    sse_expect_type(slow, "ready", &e);
    sse_event_clear(&e);
    assert_int_equal((long long)metric("wasteflow_event_streams"), 2);
    long rss_before = 0; /* after the first round: the caches are warm by then */

    /* 40,000 transfers written by psql, 500 a statement (about 10 MB of events), each
     * batch read by the healthy reader before the next. */
    enum { ROUNDS = 80, PER_ROUND = 500 };
    long long received = 0;
    for (int round = 0; round < ROUNDS; round++) {
        it_sql_exec("INSERT INTO transfers (organization_id, trigger, received, pending, actor) "
                    "SELECT %lld, 'request', '{}', '{}', 'seed' FROM generate_series(1, %d)",
                    w.orgs[0], PER_ROUND);
        while (received < (long long)(round + 1) * PER_ROUND) {
            sse_expect_type(healthy, "transfer", &e);
            received++;
            sse_event_clear(&e);
        }
        if (round == 0) {
            rss_before = tu_vm_rss_kib(it_server_pid());
        }
    }
    long rss_after = tu_vm_rss_kib(it_server_pid());
    long long deadline = tu_now_ms() + tu_scaled_ms(5000);
    while (metric("wasteflow_event_slow_readers_cut_total") < 1 && tu_now_ms() < deadline) {
        tu_sleep_ms(100);
    }
    double buffered = metric("wasteflow_event_buffered_bytes");
    print_message("slow reader: healthy reader got all %lld transfers; server RSS %ld KiB after "
                  "the first 500, %ld KiB after all (%+ld KiB); %.0f bytes buffered for readers\n",
                  received, rss_before, rss_after, rss_after - rss_before, buffered);
    if (!tu_under_valgrind()) {
        /* The slow reader was sent ~10 MB (held, the server grows by over 100 MiB here); what
         * it did not take must not be held. */
        assert_true(rss_after - rss_before < 16 * 1024);
    }
    assert_true(buffered < 4 * 128 * 1024);
    assert_int_equal((long long)metric("wasteflow_event_slow_readers_cut_total"), 1);
    /* The server's close of that connection was counted with its reason. */
    assert_int_equal(
        tu_metric_present("wasteflow_http_connections_closed_total{reason=\"stream_slow_reader\"}"),
        1);
    assert_int_equal((long long)metric("wasteflow_event_streams"), 1);
    assert_true(tu_log_mentions("slow reader cut off"));
    /* The slow one, read now, ends: the server closed it. */
    long long end_deadline = tu_now_ms() + tu_scaled_ms(5000);
    while (!slow->closed && tu_now_ms() < end_deadline) {
        sse_read(slow, 200);
        slow->body_len = slow->body_pos = 0; /* only the end matters */
    }
    assert_true(slow->closed);
    sse_close(slow);
    /* The healthy one is still live. */
    long long next = transfer_through(it_base_url(), w.orgs[0], 1);
    sse_expect_type(healthy, "transfer", &e);
    assert_int_equal(it_json_int(e.json, "id"), next);
    sse_event_clear(&e);
    sse_close(healthy);
}

/* ------------------------------------------------------------------ the connection cap */

/* A request on a connection of its own: whether any answer came within ms (the socket stays
 * open in *fd_out). */
static bool head_within(const char *base_url, const char *path, long long ms, int *fd_out)
{
    int fd = tu_connect_url(base_url, 0);
    char request[256];
    int n = snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path);
    assert_int_equal(send(fd, request, (size_t)n, MSG_NOSIGNAL), n);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    bool answered = poll(&p, 1, (int)ms) > 0;
    *fd_out = fd;
    return answered;
}

static void test_connection_cap(void **state)
{
    (void)state;
    sse_client *streams[3];
    for (int i = 0; i < 3; i++) {
        streams[i] = sse_ready(it_base_url(), it_admin_key(), NULL, NULL, NULL);
    }
    int fd = -1;
    assert_false(head_within(it_base_url(), "/healthz", tu_scaled_ms(1000), &fd));
    sse_close(streams[0]);
    /* The waiting connection is accepted and answered once a stream has gone. */
    struct pollfd p = {.fd = fd, .events = POLLIN};
    assert_true(poll(&p, 1, (int)tu_scaled_ms(3000)) > 0);
    char buf[512];
    ssize_t got = recv(fd, buf, sizeof buf - 1, 0);
    assert_true(got > 12);
    buf[got] = '\0';
    assert_true(strncmp(buf, "HTTP/1.1 200", 12) == 0);
    close(fd);
    sse_close(streams[1]);
    sse_close(streams[2]);
}

/* ------------------------------------------------------------------ SIGTERM */

static void test_sigterm_closes_streams(void **state)
{
    (void)state;
    world w = make_world(1);
    sse_client *reader = sse_ready(it_base_url(), it_admin_key(), NULL, NULL, NULL);
    /* One that stops reading with a full window, so that not even the last event fits. */
    sse_client *stuck = sse_open_path(it_base_url(), NULL, it_admin_key(), NULL, 4096);
    sse_event e;
    sse_expect_type(stuck, "ready", &e);
    sse_event_clear(&e);
    it_sql_exec("INSERT INTO transfers (organization_id, trigger, received, pending, actor) "
                "SELECT %lld, 'request', '{}', '{}', 'seed' FROM generate_series(1, 3000)",
                w.orgs[0]);
    for (int i = 0; i < 3000; i++) {
        sse_expect_type(reader, "transfer", &e);
        sse_event_clear(&e);
    }
    assert_int_equal((long long)metric("wasteflow_event_streams"), 2); /* not cut: 1 MiB here */
    assert_true(metric("wasteflow_event_buffered_bytes") > 64 * 1024);

    long long signalled = tu_now_ms();
    assert_int_equal(it_stop_server_only(), 0);
    long long exited = tu_now_ms() - signalled;
    sse_expect_type(reader, "shutdown", &e);
    sse_event_clear(&e);
    assert_int_equal(sse_next_any(reader, tu_scaled_ms(1000), true, &e), -1);
    print_message("SIGTERM with two streams open, one of them stuck: the server exited in %lld ms "
                  "(drain timeout 10000 ms)\n",
                  exited);
    assert_true(exited < tu_scaled_ms(5000));
    sse_close(reader);
    sse_close(stuck);
    it_restart_server(NULL);
}

/* ------------------------------------------------------------------ a database restart */

static it_cluster cluster;

/* pg_ctl restart (fast): the postmaster comes back with the options it had. */
static void cluster_restart(void)
{
    const char *argv[20];
    int n = 0;
    if (cluster.runuser[0] != '\0') {
        argv[n++] = cluster.runuser;
        argv[n++] = "-u";
        argv[n++] = cluster.owner;
        argv[n++] = "--";
    }
    const char *args[] = {
        cluster.pg_ctl, "-D", cluster.data_dir, "-l", cluster.log_path, "-m", "fast", "-w",
        "-t",           "60", "restart",        NULL};
    for (int i = 0; args[i] != NULL; i++) {
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (chdir("/") != 0) {
            _exit(126);
        }
        int null_fd = open("/dev/null", O_RDWR);
        dup2(null_fd, STDIN_FILENO);
        dup2(null_fd, STDOUT_FILENO);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fail_msg("pg_ctl restart of %s failed (status %d)", cluster.data_dir, status);
    }
}

static void test_database_restart(void **state)
{
    (void)state;
    tu_find_cluster_or_skip(&cluster, "/tmp/wf-it-events-postgres.log");
    world w = make_world(1);
    sse_client *c = sse_ready(it_base_url(), it_admin_key(), NULL, NULL, NULL);
    long long before = transfer_through(it_base_url(), w.orgs[0], 1);
    sse_event e;
    sse_expect_type(c, "transfer", &e);
    assert_int_equal(it_json_int(e.json, "id"), before);
    assert_int_equal(e.position, before);
    sse_event_clear(&e);

    long long restarted_at = tu_now_ms();
    cluster_restart();
    long long restart_ms = tu_now_ms() - restarted_at;
    PQreset(it_db());
    assert_int_equal(PQstatus(it_db()), CONNECTION_OK);
    /* A transfer committed by psql while the listener is still reconnecting is caught up from
     * the ledger, before the resync. */
    long long during = ledger_insert(it_db(), w.orgs[0]);
    sse_expect_type(c, "resync", &e);
    long long resync_ms = tu_now_ms() - restarted_at;
    sse_event_clear(&e);
    assert_true(metric("wasteflow_event_listener_reconnects_total") >= 1);

    /* The transfer from psql came (before or after the resync), once. */
    it_response *ready = NULL;
    long long deadline = tu_now_ms() + tu_scaled_ms(10000);
    long long after = 0;
    while (after == 0 && tu_now_ms() < deadline) {
        ready = it_get("/readyz");
        int status = ready->status;
        it_response_free(ready);
        if (status == 200) {
            it_response *r =
                post_to(it_base_url(), tu_fmt("/v1/organizations/%lld/transfers", w.orgs[0]),
                        "{\"waste\":{\"glass\":1}}");
            if (r->status == 201) {
                after = it_json_int(r->json, "id");
            }
            it_response_free(r);
        }
        if (after == 0) {
            tu_sleep_ms(200);
        }
    }
    assert_true(after > 0);
    assert_int_equal(it_sql_int("SELECT count(*) FROM transfers WHERE id = %lld", during), 1);
    bool got_during = false, got_after = false;
    long long stop = tu_now_ms() + tu_scaled_ms(5000);
    while (!got_after && tu_now_ms() < stop) {
        if (sse_next_any(c, stop - tu_now_ms(), false, &e) != 1) {
            break;
        }
        if (strcmp(e.type, "transfer") == 0) {
            assert_int_equal(e.position, it_json_int(e.json, "id"));
            assert_false(it_json_int(e.json, "id") == during && got_during); /* once */
            got_during |= it_json_int(e.json, "id") == during;
            got_after |= it_json_int(e.json, "id") == after;
        }
        sse_event_clear(&e);
    }
    assert_true(got_after);
    print_message("cluster restart: pg_ctl took %lld ms; resync %lld ms after it began; events "
                  "flow again (the transfer psql wrote %s came %s)\n",
                  restart_ms, resync_ms, got_during ? "then" : "meanwhile",
                  got_during ? "in order" : "before the resync");
    sse_close(c);
}

/* ------------------------------------------------------------------ the feed turned off */

/* WASTEFLOW_EVENTS=off: the service's writes log nothing for the feed (a psql session's
 * still do), and /v1/events says the feed is off. */
static void test_feed_off(void **state)
{
    (void)state;
    world w = make_world(1);
    long long logged = it_sql_int("SELECT count(*) FROM event_log");
    long long id = transfer_through(it_base_url(), w.orgs[0], 2);
    assert_true(id > 0);
    it_response *patched =
        it_patch(tu_fmt("/v1/storages/%lld", w.storage), "{\"name\":\"events-off-renamed\"}");
    EXPECT_STATUS(patched, 200);
    it_response_free(patched);
    assert_int_equal(it_sql_int("SELECT count(*) FROM event_log"), logged);
    it_sql_exec("UPDATE storages SET name = 'events-off-psql' WHERE id = %lld", w.storage);
    assert_int_equal(it_sql_int("SELECT count(*) FROM event_log"), logged + 1);

    it_response *r = it_get("/v1/events");
    EXPECT_STATUS(r, 503);
    assert_string_equal(it_json_str(r->json, "detail"),
                        "The event feed is turned off on this deployment (WASTEFLOW_EVENTS=off).");
    it_response_free(r);
}

/* ------------------------------------------------------------------ groups */

TU_SETUP_WITH(setup_main, "WASTEFLOW_EVENTS_KEEPALIVE_MS=500",
              "WASTEFLOW_EVENTS_MAX_PER_CREDENTIAL=3")

/* A small bound, and ASan's quarantine kept small so that RSS tells what is held. */
TU_SETUP_WITH(setup_slow, "WASTEFLOW_EVENTS_BUFFER_KB=128",
              "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:quarantine_size_mb=4")

TU_SETUP_WITH(setup_cap, "WASTEFLOW_MAX_CONNECTIONS=3")

TU_SETUP_WITH(setup_stop, "WASTEFLOW_EVENTS_BUFFER_KB=1024")

TU_SETUP_WITH(setup_off, "WASTEFLOW_EVENTS=off")

int main(void)
{
    const struct CMUnitTest main_tests[] = {
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_two_instances),
        cmocka_unit_test(test_scoping),
        cmocka_unit_test(test_movement_events),
        cmocka_unit_test(test_storage_sees_its_own_shipments),
        cmocka_unit_test(test_transfer_announces_its_storages),
        cmocka_unit_test(test_intake_switch_is_announced),
        cmocka_unit_test(test_event_ids_are_sealed),
        cmocka_unit_test(test_resume_in_commit_order),
        cmocka_unit_test(test_keepalive_and_revocation),
        TU_AUDIT_TEST,
    };
    const struct CMUnitTest slow_tests[] = {
        cmocka_unit_test(test_slow_reader_cut_off),
        TU_AUDIT_TEST,
    };
    const struct CMUnitTest cap_tests[] = {
        cmocka_unit_test(test_connection_cap),
    };
    const struct CMUnitTest stop_tests[] = {
        cmocka_unit_test(test_sigterm_closes_streams),
        cmocka_unit_test(test_database_restart),
        TU_AUDIT_TEST,
    };
    const struct CMUnitTest off_tests[] = {
        cmocka_unit_test(test_feed_off),
        TU_AUDIT_TEST,
    };
    int failed = cmocka_run_group_tests_name("events", main_tests, setup_main, tu_teardown);
    failed += cmocka_run_group_tests_name("events: WASTEFLOW_EVENTS=off", off_tests, setup_off,
                                          tu_teardown);
    failed +=
        cmocka_run_group_tests_name("events: slow readers", slow_tests, setup_slow, tu_teardown);
    failed +=
        cmocka_run_group_tests_name("events: connection cap", cap_tests, setup_cap, tu_teardown);
    failed += cmocka_run_group_tests_name("events: SIGTERM and a database restart", stop_tests,
                                          setup_stop, tu_teardown);
    return failed;
}
