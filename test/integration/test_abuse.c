/* What one hostile client may cost (docs/design.md, "Limits"), each against the real
 * server:
 *   - bytes outside UTF-8: a keyed POST with a raw 0xFF in its query is a 400 that writes
 *     nothing and logs no error; non-UTF-8 paths get a 4xx whose body is UTF-8; a field
 *     name cut in a validation error is cut between characters; every log line is UTF-8;
 *   - bodies: a declared Content-Length over 64 KiB is answered 413 before any body byte,
 *     a chunked body is cut with 413 past 64 KiB, and 40 connections sending 8 MiB
 *     bodies do not grow the server's memory;
 *   - JSON objects: 1,000 members are fine, 1,001 are refused naming the limit, and
 *     duplicates are found anywhere in a large object;
 *   - descriptors: under a low open-file limit the connection cap is clamped (logged, and
 *     enforced while existing connections are served); accept errors are logged about
 *     once a second, not in a loop, and the server serves afterwards; one address holding
 *     every connection idle cannot lock another address out;
 *   - the password of DATABASE_URL (URI or key=value, with # ? @ / % in it, sslpassword)
 *     never appears in the server's log;
 *   - CORS '*' is answered as '*', never an echo, never with credentials; every response
 *     says nosniff; /docs has a script policy without 'unsafe-inline' and its Swagger UI
 *     calls no external validator.
 * Each group of tests runs its own server (its own database), configured for what it
 * checks. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "harness.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_BODY (64 * 1024)

static long long org_id, storage_id;

/* ------------------------------------------------------------------ UTF-8 and logs */

/* Strict RFC 3629, written here again so that the check does not share the server's code. */
static bool utf8_ok(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; i < len;) {
        unsigned char c = s[i];
        size_t extra;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            extra = 1, cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            extra = 2, cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            extra = 3, cp = c & 0x07;
        } else {
            return false;
        }
        for (size_t k = 1; k <= extra; k++) {
            if (i + k >= len || (s[i + k] & 0xc0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff)) {
            return false;
        }
        i += extra + 1;
    }
    return true;
}

/* The bytes of a file from offset on (caller frees), *len their count. */
static char *file_from(const char *path, long offset, size_t *len)
{
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        fail_msg("cannot open %s: %s", path, strerror(errno));
    }
    fseek(file, 0, SEEK_END);
    long size = ftell(file);
    if (offset > size) {
        offset = size;
    }
    fseek(file, offset, SEEK_SET);
    char *data = malloc((size_t)(size - offset) + 1);
    assert_non_null(data);
    *len = fread(data, 1, (size_t)(size - offset), file);
    data[*len] = '\0';
    fclose(file);
    return data;
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

/* Lines of the server's log from offset on that contain needle. */
static int log_lines_with(const char *path, long offset, const char *needle)
{
    size_t len = 0;
    char *log = file_from(path, offset, &len);
    int count = 0;
    for (char *line = log; line < log + len;) {
        char *end = memchr(line, '\n', (size_t)(log + len - line));
        if (end == NULL) {
            end = log + len;
        }
        *end = '\0';
        count += strstr(line, needle) != NULL;
        line = end + 1;
    }
    free(log);
    return count;
}

/* Every line of the log from offset on is valid UTF-8 and one JSON object; returns how many
 * there were. Under valgrind, memcheck's own lines ("==pid== ...") share the file: they are
 * not the server's and are skipped. */
static int assert_log_lines_valid(const char *path, long offset)
{
    size_t len = 0;
    char *log = file_from(path, offset, &len);
    int lines = 0;
    for (char *line = log; line < log + len;) {
        char *end = memchr(line, '\n', (size_t)(log + len - line));
        size_t line_len = end != NULL ? (size_t)(end - line) : (size_t)(log + len - line);
        bool memcheck = tu_under_valgrind() && line_len >= 2 && line[0] == '=' && line[1] == '=';
        if (line_len > 0 && !memcheck) {
            lines++;
            if (!utf8_ok(line, line_len)) {
                fail_msg("%s: log line %d is not valid UTF-8: %.*s", path, lines, (int)line_len,
                         line);
            }
            cJSON *json = cJSON_ParseWithLength(line, line_len);
            if (!cJSON_IsObject(json)) {
                fail_msg("%s: log line %d is not a JSON object: %.*s", path, lines, (int)line_len,
                         line);
            }
            cJSON_Delete(json);
        }
        line += line_len + 1;
    }
    free(log);
    return lines;
}

/* ------------------------------------------------------------------ raw TCP */

typedef struct {
    int status; /* 0: no complete response head */
    bool closed;
    char *data; /* everything received */
    size_t length;
    const char *body; /* into data */
    size_t body_len;
    cJSON *json;
} raw_reply;

static void raw_reply_free(raw_reply *r)
{
    free(r->data);
    cJSON_Delete(r->json);
    *r = (raw_reply){0};
}

/* Value of a header of the response head (case-insensitive) into out; false when absent. */
static bool raw_header(const raw_reply *r, const char *name, char *out, size_t size)
{
    const char *head_end = r->data != NULL ? memmem(r->data, r->length, "\r\n\r\n", 4) : NULL;
    size_t name_len = strlen(name);
    for (const char *line = r->data; head_end != NULL && line < head_end;) {
        const char *eol = memmem(line, (size_t)(head_end + 2 - line), "\r\n", 2);
        if (eol == NULL) {
            break;
        }
        if ((size_t)(eol - line) > name_len && strncasecmp(line, name, name_len) == 0 &&
            line[name_len] == ':') {
            const char *value = line + name_len + 1;
            while (value < eol && *value == ' ') {
                value++;
            }
            snprintf(out, size, "%.*s", (int)(eol - value), value);
            return true;
        }
        line = eol + 2;
    }
    return false;
}

/* Reads one response (Content-Length framed, or up to the close) within timeout_ms. */
static void read_response(int fd, int timeout_ms, raw_reply *r)
{
    *r = (raw_reply){0};
    long long deadline = tu_now_ms() + timeout_ms;
    size_t capacity = 0;
    long content_length = -1;
    size_t head_len = 0;
    while (tu_now_ms() < deadline) {
        if (head_len > 0 && content_length >= 0 && r->length >= head_len + (size_t)content_length) {
            break;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0) {
            continue;
        }
        if (r->length + 4096 + 1 > capacity) {
            capacity = capacity * 2 + 8192;
            r->data = realloc(r->data, capacity);
            assert_non_null(r->data);
        }
        ssize_t n = recv(fd, r->data + r->length, capacity - r->length - 1, 0);
        if (n <= 0) {
            r->closed = true;
            break;
        }
        r->length += (size_t)n;
        r->data[r->length] = '\0';
        const char *end = head_len == 0 ? memmem(r->data, r->length, "\r\n\r\n", 4) : NULL;
        if (end != NULL) {
            head_len = (size_t)(end - r->data) + 4;
            char value[32];
            if (raw_header(r, "Content-Length", value, sizeof value)) {
                content_length = atol(value);
            }
        }
    }
    if (head_len > 0 && strncmp(r->data, "HTTP/1.", 7) == 0) {
        r->status = atoi(r->data + 9);
        r->body = r->data + head_len;
        r->body_len = r->length - head_len;
        if (content_length >= 0 && (size_t)content_length < r->body_len) {
            r->body_len = (size_t)content_length;
        }
        r->json = cJSON_ParseWithLength(r->body, r->body_len);
    }
}

/* One raw request (credentials added for /v1 and /metrics) on its own connection. */
static void raw_exchange(const char *request, size_t length, raw_reply *r)
{
    int fd = tu_send_raw_with_auth(request, length);
    read_response(fd, (int)tu_scaled_ms(5000), r);
    close(fd);
}

/* A raw response that is the problem+json expected, with a UTF-8 body. */
static void expect_raw_problem(const raw_reply *r, int status, const char *slug, const char *what)
{
    char content_type[128] = "";
    raw_header(r, "Content-Type", content_type, sizeof content_type);
    char *why = tu_problem_mismatch(r->status, content_type[0] ? content_type : NULL, r->json,
                                    status, slug, NULL);
    if (why != NULL) {
        fail_msg("%s: %s; got: %.400s", what, why, r->data ? r->data : "(nothing)");
    }
    if (!utf8_ok(r->body, r->body_len)) {
        fail_msg("%s: the body is not valid UTF-8", what);
    }
}

/* ------------------------------------------------------------------ process state */

static int open_descriptors(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/fd", (long)pid);
    DIR *dir = opendir(path);
    assert_non_null(dir);
    int count = 0;
    for (struct dirent *entry; (entry = readdir(dir)) != NULL;) {
        count += entry->d_name[0] != '.';
    }
    closedir(dir);
    return count;
}

/* ------------------------------------------------------------------ group: the main server */

static const char *const main_env[] = {"WASTEFLOW_LOG_LEVEL=info", NULL};

static int main_setup(void **state)
{
    (void)state;
    it_start(main_env);
    org_id = tu_new_org("abuse-org", "{\"glass\": 1000}", NULL);
    storage_id = tu_new_storage("abuse-storage", "{\"glass\": 500}");
    it_create_route(ORG(org_id), STORAGE(storage_id), 10, false);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    it_set_server_open_files(0);
    return it_stop();
}

/* UTF-8: once a 500 -- a POST with an Idempotency-Key and a raw 0xFF in its query. */
static void test_keyed_post_with_0xff_query_is_400(void **state)
{
    (void)state;
    long offset = file_size(it_server_log_path());
    char *before = it_db_fingerprint();
    long long keys = it_sql_int("SELECT count(*) FROM idempotency_keys");
    const char *body = "{\"name\":\"abuse-ff-query\"}";
    const char *targets[] = {
        "/v1/organizations?x=\xff",
        "/v1/organizations?\xff\xfe=1",
        "/v1/organizations?x=%FF",
    };
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        char *request =
            tu_format("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      "Idempotency-Key: abuse-ff-%zu\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\n\r\n%s",
                      targets[i], i, strlen(body), body);
        raw_reply r;
        raw_exchange(request, strlen(request), &r);
        expect_raw_problem(&r, 400, "bad-request", targets[i]);
        raw_reply_free(&r);
        free(request);
    }
    /* A dry run's query too: bytes outside UTF-8 never reach a handler. */
    char *transfer = tu_format("POST /v1/organizations/%lld/transfers?dry_run=%%FF HTTP/1.1\r\n"
                               "Host: x\r\nContent-Type: application/json\r\n"
                               "Idempotency-Key: abuse-ff-dry\r\nContent-Length: 23\r\n"
                               "Connection: close\r\n\r\n{\"waste\":{\"glass\":1}}  ",
                               org_id);
    raw_reply r;
    raw_exchange(transfer, strlen(transfer), &r);
    expect_raw_problem(&r, 400, "bad-request", "dry_run=%FF");
    raw_reply_free(&r);
    free(transfer);
    ASSERT_UNCHANGED(before);
    assert_int_equal(it_sql_int("SELECT count(*) FROM idempotency_keys"), keys);
    assert_int_equal(it_sql_int("SELECT count(*) FROM organizations WHERE name = 'abuse-ff-query'"),
                     0);
    assert_int_equal(log_lines_with(it_server_log_path(), offset, "\"level\":\"error\""), 0);
    /* The refusals were logged, as requests (the log check at the end reads them). */
    assert_true(log_lines_with(it_server_log_path(), offset, "\"status\":\"400\"") >= 4);
}

/* UTF-8: non-UTF-8 paths, raw and percent-encoded: a 4xx whose body is UTF-8. */
static void test_non_utf8_paths_get_utf8_bodies(void **state)
{
    (void)state;
    const char *paths[] = {
        "/v1/organizations/\xff\xfe", "/v1/\xc3\x28", "/\xed\xa0\x80",
        "/v1/organizations/%FF",      "/v1/%C3%28/x", "/healthz\xf8\x88\x80\x80\x80",
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        char *request =
            tu_format("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", paths[i]);
        raw_reply r;
        raw_exchange(request, strlen(request), &r);
        if (r.status < 400 || r.status >= 500) {
            fail_msg("GET %s: %d, expected a 4xx: %.300s", paths[i], r.status,
                     r.data ? r.data : "(nothing)");
        }
        expect_raw_problem(&r, r.status, NULL, paths[i]);
        /* The problem's instance names the request target, as valid UTF-8. */
        assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(r.json, "instance")));
        raw_reply_free(&r);
        free(request);
    }
}

/* UTF-8: a validation error naming a field whose name is cut (64 bytes) is cut between
 * characters, not inside one. */
static void test_field_name_cut_between_characters(void **state)
{
    (void)state;
    /* "a" and 150 two-byte "ж": byte 64 falls inside the 32nd. */
    char code[1 + 150 * 2 + 1] = "a";
    for (int i = 0; i < 150; i++) {
        memcpy(code + 1 + 2 * i, "\xd0\xb6", 2);
    }
    code[sizeof code - 1] = '\0';
    char *body = tu_format("{\"name\":\"abuse-cut\",\"capacity\":{\"%s\":1}}", code);
    char *before = it_db_fingerprint();
    it_response *response = it_request("POST", "/v1/organizations", body, NULL);
    EXPECT_PROBLEM_TYPE(response, 422, "validation-error", NULL);
    assert_true(utf8_ok(response->body, response->body_len));
    const char *field = it_json_str(response->json, "errors.0.field");
    char expected[128];
    snprintf(expected, sizeof expected, "capacity.%.63s", code); /* "a" and 31 whole ж */
    assert_string_equal(field, expected);
    /* Nothing was replaced: no U+FFFD where a character was cut. */
    assert_null(strstr(response->body, "\xef\xbf\xbd"));
    assert_null(strstr(response->body, "\\ufffd"));
    it_response_free(response);
    ASSERT_UNCHANGED(before);
    free(body);
}

/* The head of a raw POST /v1/organizations whose body is framed by framing (a header line). */
#define ORG_POST_HEAD(framing)                                                                     \
    "POST /v1/organizations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" framing     \
    "\r\n\r\n"

/* Sends that head with the runner's key, and no body yet: the connection. */
static int send_org_post_head(const char *framing)
{
    const char *head = tu_fmt(ORG_POST_HEAD("%s"), framing);
    return tu_send_raw_with_auth(head, strlen(head));
}

/* bodies: a declared body over the limit is answered at once, before any of it is sent. */
static void test_declared_oversized_body_refused_at_once(void **state)
{
    (void)state;
    char *before = it_db_fingerprint();
    int fd = send_org_post_head("Content-Length: 10000000");
    raw_reply r;
    /* Not one body byte has been sent: only an answer that does not wait for it comes. */
    read_response(fd, (int)tu_patience_ms(), &r);
    close(fd);
    expect_raw_problem(&r, 413, "payload-too-large", "Content-Length: 10000000");
    char nosniff[32] = "";
    assert_true(raw_header(&r, "X-Content-Type-Options", nosniff, sizeof nosniff));
    assert_string_equal(nosniff, "nosniff");
    raw_reply_free(&r);
    ASSERT_UNCHANGED(before);
}

/* bodies: a chunked body is cut with 413 as soon as it passes the limit; its end never comes. */
static void test_chunked_body_cut_past_the_limit(void **state)
{
    (void)state;
    char *before = it_db_fingerprint();
    int fd = send_org_post_head("Transfer-Encoding: chunked");
    /* 5 chunks of 16 KiB, 80 KiB in all, and no last chunk. */
    char chunk[16 * 1024 + 16];
    int chunk_len = snprintf(chunk, sizeof chunk, "%x\r\n", 16 * 1024);
    memset(chunk + chunk_len, 'a', 16 * 1024);
    memcpy(chunk + chunk_len + 16 * 1024, "\r\n", 2);
    size_t sent = 0;
    for (int i = 0; i < 5; i++) {
        ssize_t n = send(fd, chunk, (size_t)chunk_len + 16 * 1024 + 2, MSG_NOSIGNAL | MSG_DONTWAIT);
        sent += n > 0 ? (size_t)n : 0;
    }
    raw_reply r;
    read_response(fd, (int)tu_patience_ms(), &r);
    close(fd);
    print_message("chunked: %zu bytes sent, then %d\n", sent, r.status);
    expect_raw_problem(&r, 413, "payload-too-large", "chunked body of 80 KiB");
    raw_reply_free(&r);
    ASSERT_UNCHANGED(before);
}

/* JSON objects: 1,000 members are fine where the schema allows them, 1,001 are refused. */
static void test_object_member_limit(void **state)
{
    (void)state;
    /* bio, glass, plastic and 998 more waste types, so every member is a valid one. */
    it_sql_exec("INSERT INTO waste_types (code, name) SELECT 't' || lpad(n::text, 4, '0'), "
                "'type ' || n FROM generate_series(1, 998) AS n");
    char *members = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&members, &size);
    assert_non_null(out);
    fprintf(out, "\"bio\":1,\"glass\":1,\"plastic\":1");
    for (int n = 1; n <= 997; n++) {
        fprintf(out, ",\"t%04d\":1", n);
    }
    fclose(out);
    char *thousand = tu_format("{\"name\":\"abuse-1000\",\"capacity\":{%s}}", members);
    char *thousand_and_one =
        tu_format("{\"name\":\"abuse-1001\",\"capacity\":{%s,\"t0998\":1}}", members);
    assert_true(strlen(thousand_and_one) < MAX_BODY);
    it_response *response = it_request("POST", "/v1/organizations", thousand_and_one, NULL);
    EXPECT_PROBLEM(response, 400, NULL);
    const char *detail = it_json_str(response->json, "detail");
    if (strstr(detail, "1000") == NULL || strstr(detail, "members") == NULL) {
        fail_msg("the refusal does not name the limit: %s", detail);
    }
    it_response_free(response);
    assert_int_equal(it_sql_int("SELECT count(*) FROM organizations WHERE name = 'abuse-1001'"), 0);
    response = it_request("POST", "/v1/organizations", thousand, NULL);
    EXPECT_STATUS(response, 201);
    long long id = it_json_int(response->json, "id");
    it_response_free(response);
    assert_int_equal(
        it_sql_int("SELECT count(*) FROM organization_waste WHERE organization_id = %lld", id),
        1000);
    free(members);
    free(thousand);
    free(thousand_and_one);
}

/* JSON objects: the sort that replaced the pairwise check still finds every duplicate. */
static void test_duplicates_found_in_large_objects(void **state)
{
    (void)state;
    static const struct {
        const char *what;
        int first, second; /* positions (0..999) of the two equal names */
    } cases[] = {{"first and last", 0, 999},
                 {"in the middle", 400, 600},
                 {"the last two", 998, 999},
                 {"the first two", 0, 1}};
    char *before = it_db_fingerprint();
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char *members = NULL;
        size_t size = 0;
        FILE *out = open_memstream(&members, &size);
        assert_non_null(out);
        for (int i = 0; i < 1000; i++) {
            int n = i == cases[c].second ? cases[c].first : i;
            fprintf(out, "%s\"m%04d\":1", i ? "," : "", n);
        }
        fclose(out);
        char *body = tu_format("{\"name\":\"abuse-dup\",\"capacity\":{%s}}", members);
        it_response *response = it_request("POST", "/v1/organizations", body, NULL);
        EXPECT_PROBLEM_TYPE(response, 400, "malformed-json", NULL);
        char expected[32];
        snprintf(expected, sizeof expected, "\"m%04d\"", cases[c].first);
        const char *detail = it_json_str(response->json, "detail");
        if (strstr(detail, "duplicate") == NULL || strstr(detail, expected) == NULL) {
            fail_msg("%s: the refusal does not name the duplicate %s: %s", cases[c].what, expected,
                     detail);
        }
        it_response_free(response);
        free(body);
        free(members);
    }
    ASSERT_UNCHANGED(before);
}

static void expect_nosniff(const it_response *response, const char *what)
{
    const char *value = it_header(response, "X-Content-Type-Options");
    if (value == NULL || strcmp(value, "nosniff") != 0) {
        fail_msg("%s (%d): X-Content-Type-Options is %s", what, response->status,
                 value ? value : "missing");
    }
}

/* headers: every kind of response says nosniff. */
static void test_every_response_says_nosniff(void **state)
{
    (void)state;
    static const struct {
        const char *method, *path, *body, *header;
        int status;
    } cases[] = {
        {"GET", "/healthz", NULL, NULL, 200},
        {"GET", "/readyz", NULL, NULL, 200},
        {"GET", "/v1/waste-types", NULL, NULL, 200},
        {"POST", "/v1/waste-types", "{\"code\":\"nosniff\",\"name\":\"Nosniff\"}", NULL, 201},
        {"OPTIONS", "/v1/organizations", NULL, NULL, 204},
        {"POST", "/v1/organizations", "{\"name\":", NULL, 400},
        {"GET", "/v1/organizations", NULL, "Authorization:", 401},
        {"GET", "/v1/nothing-here", NULL, NULL, 404},
        {"GET", "/console", NULL, NULL, 200},
        {"GET", "/console/no-such-file.js", NULL, NULL, 404},
        {"PUT", "/v1/organizations", NULL, NULL, 405},
        {"POST", "/v1/organizations", "{\"name\":\"x\"}", "Content-Type: text/plain", 415},
        {"POST", "/v1/organizations", "{\"name\":\"\"}", NULL, 422},
        {"GET", "/metrics", NULL, NULL, 200},
        {"GET", "/openapi.json", NULL, NULL, 200},
        {"GET", "/docs", NULL, NULL, 200},
        {"GET", "/docs/swagger-initializer.js", NULL, NULL, 200},
        {"GET", "/docs/swagger-ui.css", NULL, NULL, 200},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *headers[] = {cases[i].header, NULL};
        it_response *response = it_request(cases[i].method, cases[i].path, cases[i].body, headers);
        char what[128];
        snprintf(what, sizeof what, "%s %s", cases[i].method, cases[i].path);
        if (response->status != cases[i].status) {
            fail_msg("%s: %d, expected %d: %.300s", what, response->status, cases[i].status,
                     response->body);
        }
        expect_nosniff(response, what);
        it_response_free(response);
    }
    /* A 304 of a static file, and the 413 of a body over the limit. */
    it_response *docs = it_get("/docs");
    char *etag = tu_format("If-None-Match: %s", it_header(docs, "ETag"));
    it_response_free(docs);
    const char *conditional[] = {etag, NULL};
    it_response *not_modified = it_request("GET", "/docs", NULL, conditional);
    EXPECT_STATUS(not_modified, 304);
    expect_nosniff(not_modified, "GET /docs (304)");
    it_response_free(not_modified);
    free(etag);
    char *big = malloc(MAX_BODY + 2);
    assert_non_null(big);
    memset(big, ' ', MAX_BODY + 1);
    big[0] = '{';
    big[MAX_BODY] = '}';
    big[MAX_BODY + 1] = '\0';
    it_response *too_large = it_request("POST", "/v1/organizations", big, NULL);
    EXPECT_PROBLEM_TYPE(too_large, 413, "payload-too-large", NULL);
    expect_nosniff(too_large, "POST of 64 KiB + 1");
    it_response_free(too_large);
    free(big);
}

typedef struct {
    const char *base_url;
    long long organization;
    long status;
} blocked_call;

static void *post_blocked_transfer(void *arg)
{
    blocked_call *call = arg;
    CURL *curl = curl_easy_init();
    char *url = tu_format("%s/v1/organizations/%lld/transfers", call->base_url, call->organization);
    tu_http_result r = {0};
    tu_http_call(curl, "POST", url, "{\"waste\":{\"glass\":1}}", NULL, NULL, 30, true, &r);
    call->status = r.status;
    tu_http_result_clear(&r);
    free(url);
    curl_easy_cleanup(curl);
    return NULL;
}

/* headers: the 503 of a full queue says nosniff too (and Retry-After). */
static void test_503_says_nosniff(void **state)
{
    (void)state;
    static const char *const env[] = {"WASTEFLOW_POOL_SIZE=1", "WASTEFLOW_QUEUE_MAX=0", NULL};
    const char *second = it_start_second_instance(env);
    PGconn *blocker = PQconnectdb(it_database_url());
    assert_int_equal(PQstatus(blocker), CONNECTION_OK);
    char *sql = tu_format("BEGIN; SELECT 1 FROM organizations WHERE id = %lld FOR UPDATE", org_id);
    PQclear(PQexec(blocker, sql));
    free(sql);
    /* The one connection waits on the row lock ... (static: the thread outlives nothing) */
    static blocked_call call;
    call = (blocked_call){second, org_id, 0};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, post_blocked_transfer, &call), 0);
    tu_sleep_ms(tu_scaled_ms(500));
    /* ... so a request that needs the database finds no room in a queue of 0. */
    it_response *response = it_request_to(second, "GET", "/v1/waste-types", NULL, NULL);
    /* Released before anything is asserted, so a failure leaves no thread or lock behind. */
    PQclear(PQexec(blocker, "ROLLBACK"));
    PQfinish(blocker);
    pthread_join(thread, NULL);
    EXPECT_PROBLEM_TYPE(response, 503, "service-unavailable", NULL);
    expect_nosniff(response, "GET /v1/waste-types (503)");
    assert_non_null(it_header(response, "Retry-After"));
    it_response_free(response);
    assert_int_equal(call.status, 201);
    it_stop_second_instance();
}

/* headers: /docs runs no inline script and its Swagger UI asks no external validator. */
static void test_docs_policy_and_no_external_validator(void **state)
{
    (void)state;
    it_response *docs = it_get("/docs");
    EXPECT_STATUS(docs, 200);
    const char *policy = EXPECT_HEADER(docs, "Content-Security-Policy");
    const char *script_src = strstr(policy, "script-src");
    assert_non_null(script_src);
    size_t directive_len = strcspn(script_src, ";");
    char directive[256];
    snprintf(directive, sizeof directive, "%.*s", (int)directive_len, script_src);
    if (strstr(directive, "'unsafe-inline'") != NULL || strstr(directive, "'unsafe-eval'") ||
        strstr(directive, "http") != NULL || strchr(directive, '*') != NULL) {
        fail_msg("/docs allows more scripts than its own: %s", directive);
    }
    assert_non_null(strstr(policy, "connect-src 'self'"));
    /* The page runs scripts only from files: no inline <script> body. */
    assert_null(strstr(docs->body, "<script>"));
    it_response_free(docs);
    it_response *initializer = it_get("/docs/swagger-initializer.js");
    EXPECT_STATUS(initializer, 200);
    const char *validator = strstr(initializer->body, "validatorUrl");
    if (validator == NULL) {
        fail_msg("the Swagger UI initializer keeps the default validatorUrl "
                 "(https://validator.swagger.io): %s",
                 initializer->body);
    }
    const char *value = validator + strlen("validatorUrl");
    while (*value == ' ' || *value == ':' || *value == '"') {
        value++;
    }
    if (strncmp(value, "null", 4) != 0) {
        fail_msg("validatorUrl is not null: %.80s", validator);
    }
    assert_null(strstr(initializer->body, "validator.swagger.io"));
    it_response_free(initializer);
}

/* Where the server's own lines begin: the log file starts with what `wasteflow migrate`
 * printed for people. */
static long server_lines_offset(void)
{
    size_t len = 0;
    char *log = file_from(it_server_log_path(), 0, &len);
    long offset = 0;
    while ((size_t)offset < len && log[offset] != '{') {
        const char *eol = memchr(log + offset, '\n', len - (size_t)offset);
        offset = eol != NULL ? (long)(eol - log) + 1 : (long)len;
    }
    free(log);
    return offset;
}

/* UTF-8: every line the server has logged so far -- the bytes above included -- is UTF-8. */
static void test_every_log_line_is_utf8(void **state)
{
    (void)state;
    int lines = assert_log_lines_valid(it_server_log_path(), server_lines_offset());
    print_message("%d log lines, all valid UTF-8 JSON\n", lines);
    /* The raw 0xFF paths were logged (repaired), so the check had something to find. */
    assert_true(log_lines_with(it_server_log_path(), 0, "\\ufffd") >= 3);
}

/* secrets: the start-up log never shows DATABASE_URL's password, whatever it holds. */
static void restart_with_database_url(const char *url, const char *const *secrets)
{
    assert_int_equal(it_stop_server_only(), 0);
    char *database_env = tu_format("DATABASE_URL=%s", url);
    const char *env[] = {database_env, "WASTEFLOW_LOG_LEVEL=debug", NULL};
    it_restart_server(env);
    free(database_env);
    size_t len = 0;
    char *log = file_from(it_server_log_path(), 0, &len);
    if (strstr(log, "\"msg\":\"listening\"") == NULL || strstr(log, "***") == NULL) {
        fail_msg("no listening line with a masked database: %s", log);
    }
    for (size_t i = 0; secrets[i] != NULL; i++) {
        if (memmem(log, len, secrets[i], strlen(secrets[i])) != NULL) {
            fail_msg("the log shows the secret \"%s\": %s", secrets[i], log);
        }
    }
    free(log);
    assert_log_lines_valid(it_server_log_path(), 0);
    EXPECT_GET_STATUS(200, "/readyz");
}

static void test_database_password_never_logged(void **state)
{
    (void)state;
    /* The app role's conninfo, with passwords the test cluster (trust) never asks for. */
    char *error = NULL;
    PQconninfoOption *options = PQconninfoParse(it_app_database_url(), &error);
    assert_non_null(options);
    const char *host = "", *port = "", *dbname = "", *user = "";
    for (PQconninfoOption *o = options; o->keyword != NULL; o++) {
        const char *value = o->val != NULL ? o->val : "";
        if (strcmp(o->keyword, "host") == 0) {
            host = value;
        } else if (strcmp(o->keyword, "port") == 0) {
            port = value;
        } else if (strcmp(o->keyword, "dbname") == 0) {
            dbname = value;
        } else if (strcmp(o->keyword, "user") == 0) {
            user = value;
        }
    }
    /* URI form: the password "Se#cr?et@/9%x" percent-encoded, as the URI grammar wants. */
    char *uri = tu_format("postgresql://%s:Se%%23cr%%3Fet%%40%%2F9%%25x@/%s?host=%s&port=%s", user,
                          dbname, host, port);
    const char *uri_secrets[] = {"Se#cr?et", "Se%23cr", "cr%3Fet", "cr?et@", "et%40%2F9", NULL};
    restart_with_database_url(uri, uri_secrets);
    free(uri);
    /* '#' and '?' raw, as libpq also reads them in the userinfo (the pattern of old missed
     * them). */
    char *raw = tu_format("postgresql://%s:Ra#w?pw@/%s?host=%s&port=%s", user, dbname, host, port);
    const char *raw_secrets[] = {"Ra#w", "w?pw", NULL};
    restart_with_database_url(raw, raw_secrets);
    free(raw);
    /* Key/value form: a quoted password with a quote, # ? @ / and spaces, and an sslpassword. */
    char *kv = tu_format("host=%s port=%s dbname=%s user=%s password='It\\'s #a?b@c/d %%41 pw' "
                         "sslpassword='Key#Phr?ase'",
                         host, port, dbname, user);
    const char *kv_secrets[] = {"It's", "#a?b@c", "%41 pw", "Key#Phr", "Phr?ase", NULL};
    restart_with_database_url(kv, kv_secrets);
    free(kv);
    PQconninfoFree(options);
}

/* ------------------------------------------------------------------ group: memory */

/* ASan's quarantine keeps freed memory resident: the test measures the server's. */
TU_SETUP_WITH(memory_setup, "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:quarantine_size_mb=0")

/* bodies: 40 connections, each declaring an 8 MiB body and sending 1 MiB of it, then
 * trickling: before the fix evhttp buffered every byte (+335 MB for 40 full bodies). */
static void test_forty_large_bodies_do_not_grow_memory(void **state)
{
    (void)state;
    enum { CONNECTIONS = 40, PER_CONNECTION = 1024 * 1024, PIECE = 64 * 1024 };
    pid_t pid = it_server_pid();
    const char *head = ORG_POST_HEAD("Content-Length: 8388608");
    size_t head_len = strlen(head);
    char *request = tu_raw_with_auth(head, &head_len);
    /* Warm up: one such request first, so one-off allocations are not counted. */
    int warm = tu_connect(NULL, 0);
    tu_send_all(warm, request, head_len);
    raw_reply warm_reply;
    read_response(warm, (int)tu_scaled_ms(1000), &warm_reply);
    close(warm);
    raw_reply_free(&warm_reply);
    tu_sleep_ms(100);
    long before_kib = tu_vm_rss_kib(pid);
    int fds[CONNECTIONS];
    size_t sent[CONNECTIONS] = {0};
    bool done[CONNECTIONS] = {false};
    for (int i = 0; i < CONNECTIONS; i++) {
        fds[i] = tu_connect(NULL, 0);
        tu_send_all(fds[i], request, head_len);
        fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
    }
    free(request);
    char *piece = malloc(PIECE);
    assert_non_null(piece);
    memset(piece, 'x', PIECE);
    long long deadline = tu_now_ms() + tu_scaled_ms(10000);
    size_t total = 0;
    for (bool any = true; any && tu_now_ms() < deadline;) {
        any = false;
        for (int i = 0; i < CONNECTIONS; i++) {
            if (done[i]) {
                continue;
            }
            ssize_t n = send(fds[i], piece, PIECE, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0) {
                sent[i] += (size_t)n;
                total += (size_t)n;
            } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
                done[i] = true; /* refused and closed: fine */
            }
            done[i] = done[i] || sent[i] >= PER_CONNECTION;
            any = any || !done[i];
        }
        if (any) {
            tu_sleep_ms(1);
        }
    }
    /* A trickle keeps every connection busy while the memory is read. */
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < CONNECTIONS; i++) {
            (void)send(fds[i], "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        }
        tu_sleep_ms(100);
    }
    long after_kib = tu_vm_rss_kib(pid);
    for (int i = 0; i < CONNECTIONS; i++) {
        close(fds[i]);
    }
    free(piece);
    print_message("%d connections sent %zu KiB of 8 MiB bodies; server RSS %ld -> %ld KiB "
                  "(+%ld)\n",
                  CONNECTIONS, total / 1024, before_kib, after_kib, after_kib - before_kib);
    assert_true(total >= 4 * 1024 * 1024); /* enough was sent to matter */
    if (tu_under_valgrind()) {
        /* memcheck keeps freed blocks (--freelist-vol) and shadows every byte: its RSS is
         * not the server's. */
        print_message("under valgrind: RSS not compared\n");
    } else if (after_kib - before_kib > 8 * 1024) {
        fail_msg("the server grew by %ld KiB holding bodies it refused", after_kib - before_kib);
    }
    EXPECT_GET_STATUS(200, "/healthz");
}

/* ------------------------------------------------------------------ group: CORS '*' */

TU_SETUP_WITH(cors_setup, "WASTEFLOW_CORS_ORIGINS=*")

static void expect_cors_star(const it_response *response, const char *what)
{
    const char *origin = it_header(response, "Access-Control-Allow-Origin");
    if (origin == NULL || strcmp(origin, "*") != 0) {
        fail_msg("%s: Access-Control-Allow-Origin is %s, expected *", what,
                 origin ? origin : "missing");
    }
    if (it_header(response, "Access-Control-Allow-Credentials") != NULL) {
        fail_msg("%s: credentials allowed", what);
    }
    expect_nosniff(response, what);
}

static void test_cors_star_is_literal(void **state)
{
    (void)state;
    static const char *const origins[] = {"https://evil.example", "null", "http://localhost:3000",
                                          "https://app.example"};
    for (size_t i = 0; i < sizeof origins / sizeof origins[0]; i++) {
        char *origin = tu_format("Origin: %s", origins[i]);
        const char *headers[] = {origin, NULL};
        it_response *ok = it_request("GET", "/v1/waste-types", NULL, headers);
        EXPECT_STATUS(ok, 200);
        expect_cors_star(ok, origin);
        it_response_free(ok);
        it_response *missing = it_request("GET", "/v1/organizations/999999", NULL, headers);
        EXPECT_PROBLEM(missing, 404, NULL);
        expect_cors_star(missing, origin);
        it_response_free(missing);
        const char *no_key[] = {origin, "Authorization:", NULL};
        it_response *unauthorized = it_request("GET", "/v1/stats", NULL, no_key);
        EXPECT_PROBLEM(unauthorized, 401, NULL);
        expect_cors_star(unauthorized, origin);
        it_response_free(unauthorized);
        const char *preflight_headers[] = {origin, "Access-Control-Request-Method: POST",
                                           "Access-Control-Request-Headers: authorization", NULL};
        it_response *preflight =
            it_request("OPTIONS", "/v1/organizations", NULL, preflight_headers);
        EXPECT_STATUS(preflight, 204);
        expect_cors_star(preflight, origin);
        assert_non_null(it_header(preflight, "Access-Control-Allow-Methods"));
        it_response_free(preflight);
        free(origin);
    }
    /* No Origin, no CORS headers. */
    it_response *plain = it_get("/v1/waste-types");
    EXPECT_STATUS(plain, 200);
    assert_null(it_header(plain, "Access-Control-Allow-Origin"));
    it_response_free(plain);
}

/* ------------------------------------------------------------------ group: fd limit, cap */

#define OPEN_FILES 64

static const char *const clamp_env[] = {"WASTEFLOW_MAX_CONNECTIONS=1000", "WASTEFLOW_POOL_SIZE=1",
                                        NULL};

static int clamp_setup(void **state)
{
    (void)state;
    it_set_server_open_files(OPEN_FILES);
    it_start(clamp_env);
    return 0;
}

/* The cap the server logged it lowered to, or -1. */
static int logged_cap(void)
{
    size_t len = 0;
    char *log = file_from(it_server_log_path(), 0, &len);
    const char *line = strstr(log, "connection cap lowered to fit the open-file limit");
    int cap = -1;
    const char *value = line != NULL ? strstr(line, "\"cap\":\"") : NULL;
    if (value != NULL && strstr(line, "\"configured\":\"1000\"") != NULL) {
        cap = atoi(value + 7);
    }
    free(log);
    return cap;
}

static bool answered_200(int fd, int timeout_ms)
{
    const char *request = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    if (send(fd, request, strlen(request), MSG_NOSIGNAL) != (ssize_t)strlen(request)) {
        return false;
    }
    raw_reply r;
    read_response(fd, timeout_ms, &r);
    bool ok = r.status == 200;
    raw_reply_free(&r);
    return ok;
}

static void test_connection_cap_clamped_to_open_files(void **state)
{
    (void)state;
    int cap = logged_cap();
    print_message("open-file limit %d: the cap of 1000 was lowered to %d\n", OPEN_FILES, cap);
    if (cap < 1 || cap >= OPEN_FILES) {
        fail_msg("no log line lowering the cap of 1000 below %d descriptors", OPEN_FILES);
    }
    /* The cap holds: that many connections are served, one more waits ... */
    int *held = calloc((size_t)cap, sizeof *held);
    assert_non_null(held);
    for (int i = 0; i < cap; i++) {
        held[i] = tu_connect(NULL, 0);
    }
    tu_sleep_ms(200);
    int extra = tu_connect(NULL, 0); /* completed by the kernel's backlog, not accepted */
    const char *request = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    tu_send_all(extra, request, strlen(request));
    raw_reply r;
    read_response(extra, 700, &r);
    assert_int_equal(r.status, 0);
    raw_reply_free(&r);
    /* ... while the connections it holds are served, ... */
    assert_true(answered_200(held[0], (int)tu_scaled_ms(3000)));
    assert_true(answered_200(held[cap - 1], (int)tu_scaled_ms(3000)));
    /* ... and the waiting one is served as soon as a slot frees. */
    close(held[1]);
    read_response(extra, (int)tu_scaled_ms(3000), &r);
    assert_int_equal(r.status, 200);
    raw_reply_free(&r);
    close(extra);
    for (int i = 0; i < cap; i++) {
        if (i != 1) {
            close(held[i]);
        }
    }
    free(held);
    /* The server never ran out of descriptors doing it. */
    assert_int_equal(log_lines_with(it_server_log_path(), 0, "cannot accept"), 0);
}

/* ------------------------------------------------------------------ group: accept errors */

/* Descriptors the server inherits, so that it runs out of them before its cap. */
enum { INHERITED = 30 };
static int inherited[INHERITED];

static int accept_setup(void **state)
{
    (void)state;
    for (int i = 0; i < INHERITED; i++) {
        inherited[i] = open("/dev/null", O_RDONLY); /* no O_CLOEXEC: the server gets them */
        assert_true(inherited[i] >= 0);
    }
    it_set_server_open_files(OPEN_FILES);
    it_start(clamp_env);
    for (int i = 0; i < INHERITED; i++) {
        close(inherited[i]);
    }
    return 0;
}

static void test_accept_errors_logged_once_a_second(void **state)
{
    (void)state;
    pid_t pid = it_server_pid();
    int cap = logged_cap();
    if (cap < 0) {
        cap = 1000; /* not lowered: the configured one */
    }
    int free_descriptors = OPEN_FILES - open_descriptors(pid);
    print_message("cap %d, %d descriptors free\n", cap, free_descriptors);
    if (free_descriptors >= cap) {
        fail_msg("setup: %d descriptors free, the cap (%d) would be reached first",
                 free_descriptors, cap);
    }
    long offset = file_size(it_server_log_path());
    /* More connections than descriptors: the kernel completes them all, accept fails. */
    int count = free_descriptors + 10;
    int *held = calloc((size_t)count, sizeof *held);
    assert_non_null(held);
    for (int i = 0; i < count; i++) {
        held[i] = tu_connect(NULL, 0);
    }
    long long start = tu_now_ms();
    /* Meanwhile a connection that was accepted is served. */
    tu_sleep_ms(300);
    assert_true(answered_200(held[0], (int)tu_scaled_ms(3000)));
    tu_sleep_ms(3000 - (tu_now_ms() - start));
    long long window_ms = tu_now_ms() - start;
    int warnings = log_lines_with(it_server_log_path(), offset, "cannot accept connections");
    long grown = file_size(it_server_log_path()) - offset;
    print_message("%lld ms out of descriptors: %d log lines about it, log +%ld bytes\n", window_ms,
                  warnings, grown);
    assert_true(grown < 8 * 1024);
    assert_true(warnings >= 1);
    assert_true(warnings <= 1 + (int)(window_ms / 1000) + 1);
    assert_log_lines_valid(it_server_log_path(), offset); /* no libevent text lines either */
    /* Descriptors come back: the waiting connections are accepted and served. */
    for (int i = 0; i < count / 2; i++) {
        close(held[i]);
        held[i] = -1;
    }
    assert_true(answered_200(held[count - 1], (int)tu_scaled_ms(5000)));
    for (int i = 0; i < count; i++) {
        if (held[i] >= 0) {
            close(held[i]);
        }
    }
    free(held);
    tu_sleep_ms(200);
    EXPECT_GET_STATUS(200, "/readyz");
}

/* ------------------------------------------------------------------ group: idle budget */

enum { IDLE_CAP = 12, IDLE_BUDGET = 3 };

TU_SETUP_WITH(idle_setup, "WASTEFLOW_MAX_CONNECTIONS=12", "WASTEFLOW_MAX_IDLE_PER_CLIENT=3")

static bool closed_by_peer(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 0) <= 0) {
        return false;
    }
    char byte;
    ssize_t n = recv(fd, &byte, 1, MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

static void test_one_address_cannot_lock_others_out(void **state)
{
    (void)state;
    /* 127.0.0.1 takes every slot at once and idles on them. */
    int held[IDLE_CAP];
    for (int i = 0; i < IDLE_CAP; i++) {
        held[i] = tu_try_connect("127.0.0.1", 0);
        assert_true(held[i] >= 0);
    }
    tu_sleep_ms(200);
    /* Another address: accepted once the hog's idle connections over its budget are closed
     * (idle after a second), long before any timeout would free a slot (10 s). */
    long long start = tu_now_ms();
    int other = tu_try_connect("127.0.0.2", 0);
    assert_true(other >= 0);
    bool served = answered_200(other, (int)tu_scaled_ms(4000));
    long long waited = tu_now_ms() - start;
    print_message("127.0.0.2 served after %lld ms\n", waited);
    assert_true(served);
    close(other);
    tu_sleep_ms(100);
    int closed = 0;
    for (int i = 0; i < IDLE_CAP; i++) {
        closed += closed_by_peer(held[i]);
    }
    print_message("the hog lost %d of its %d idle connections\n", closed, IDLE_CAP);
    assert_int_equal(closed, IDLE_CAP - IDLE_BUDGET);
    /* The hog keeps its budget, and those connections still work. */
    int working = 0;
    for (int i = 0; i < IDLE_CAP; i++) {
        if (!closed_by_peer(held[i]) && answered_200(held[i], (int)tu_scaled_ms(3000))) {
            working++;
        }
        close(held[i]);
    }
    assert_int_equal(working, IDLE_BUDGET);
}

/* ------------------------------------------------------------------ the runner */

int main(void)
{
    const struct CMUnitTest main_tests[] = {
        cmocka_unit_test(test_keyed_post_with_0xff_query_is_400),
        cmocka_unit_test(test_non_utf8_paths_get_utf8_bodies),
        cmocka_unit_test(test_field_name_cut_between_characters),
        cmocka_unit_test(test_declared_oversized_body_refused_at_once),
        cmocka_unit_test(test_chunked_body_cut_past_the_limit),
        cmocka_unit_test(test_object_member_limit),
        cmocka_unit_test(test_duplicates_found_in_large_objects),
        cmocka_unit_test(test_every_response_says_nosniff),
        cmocka_unit_test(test_503_says_nosniff),
        cmocka_unit_test(test_docs_policy_and_no_external_validator),
        cmocka_unit_test(test_every_log_line_is_utf8),
        cmocka_unit_test(test_database_password_never_logged),
        TU_AUDIT_TEST,
    };
    const struct CMUnitTest memory_tests[] = {
        cmocka_unit_test(test_forty_large_bodies_do_not_grow_memory)};
    const struct CMUnitTest cors_tests[] = {cmocka_unit_test(test_cors_star_is_literal)};
    const struct CMUnitTest clamp_tests[] = {
        cmocka_unit_test(test_connection_cap_clamped_to_open_files)};
    const struct CMUnitTest accept_tests[] = {
        cmocka_unit_test(test_accept_errors_logged_once_a_second)};
    const struct CMUnitTest idle_tests[] = {
        cmocka_unit_test(test_one_address_cannot_lock_others_out)};
    int failed = 0;
    failed += cmocka_run_group_tests_name("abuse", main_tests, main_setup, group_teardown);
    failed +=
        cmocka_run_group_tests_name("abuse.memory", memory_tests, memory_setup, group_teardown);
    failed += cmocka_run_group_tests_name("abuse.cors", cors_tests, cors_setup, group_teardown);
    failed +=
        cmocka_run_group_tests_name("abuse.open_files", clamp_tests, clamp_setup, group_teardown);
    failed += cmocka_run_group_tests_name("abuse.accept_errors", accept_tests, accept_setup,
                                          group_teardown);
    failed +=
        cmocka_run_group_tests_name("abuse.idle_budget", idle_tests, idle_setup, group_teardown);
    return failed;
}
