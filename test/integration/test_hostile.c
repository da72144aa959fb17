/* Hostile input against the real server: malformed JSON, hostile numbers and strings, wrong
 * types, bad ids, paging parameters, methods, media types and sizes (a table sent with
 * libcurl), then malformed HTTP that libcurl will not send (a plain TCP socket), slow and
 * abandoned requests, and oversized headers.
 *
 * Every rejected request must get its exact status as application/problem+json (the slugs of
 * notes/decisions.md) and must leave the database exactly as it was (it_db_fingerprint). What
 * evhttp rejects before the service sees it must get a 4xx (or a closed connection), and the
 * server must stay healthy. Failures are collected so that one run reports every case. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "testutil.h"

#include <cmocka.h>
#include <curl/curl.h>

#define PROBLEM_PREFIX    "https://wasteflow.dev/problems/"
#define HEADER_TIMEOUT_MS 1000
/* How long a raw exchange waits for the server's answer (or close). */
#define RAW_WAIT_MS 5000

static long long org_id, storage_id, transfer_id;

/* ------------------------------------------------------------------ a binary-safe client */

typedef struct {
    int status; /* 0: transport error */
    char error[CURL_ERROR_SIZE];
    char *body;
    size_t body_len;
    char *headers;
    size_t headers_len;
    cJSON *json;
} reply;

static void append(char **buffer, size_t *length, const char *data, size_t count)
{
    char *grown = realloc(*buffer, *length + count + 1);
    if (grown == NULL) {
        abort();
    }
    memcpy(grown + *length, data, count);
    *length += count;
    grown[*length] = '\0';
    *buffer = grown;
}

static size_t on_body(char *data, size_t size, size_t count, void *context)
{
    reply *r = context;
    append(&r->body, &r->body_len, data, size * count);
    return size * count;
}

static size_t on_header(char *data, size_t size, size_t count, void *context)
{
    reply *r = context;
    if (size * count >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        r->headers_len = 0; /* a new header block (after an interim 1xx) */
    }
    append(&r->headers, &r->headers_len, data, size * count);
    return size * count;
}

static void reply_free(reply *r)
{
    if (r != NULL) {
        free(r->body);
        free(r->headers);
        cJSON_Delete(r->json);
        free(r);
    }
}

/* Value of a response header (case-insensitive), copied into out; false when absent. */
static bool reply_header(const reply *r, const char *name, char *out, size_t out_size)
{
    size_t name_len = strlen(name);
    for (const char *line = r->headers; line != NULL && *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t line_len = end ? (size_t)(end - line) : strlen(line);
        if (line_len > name_len && strncasecmp(line, name, name_len) == 0 &&
            line[name_len] == ':') {
            const char *value = line + name_len + 1;
            const char *value_end = line + line_len;
            while (value < value_end && (*value == ' ' || *value == '\t')) {
                value++;
            }
            while (value_end > value && (value_end[-1] == '\r' || value_end[-1] == ' ')) {
                value_end--;
            }
            snprintf(out, out_size, "%.*s", (int)(value_end - value), value);
            return true;
        }
        line = end ? end + 1 : NULL;
    }
    return false;
}

/* Sends method path with body (body_len bytes, binary safe; NULL: no body). headers: NULL or
 * NULL-terminated; without a Content-Type among them a body goes as application/json. */
static reply *send_request(const char *method, const char *path, const char *body, size_t body_len,
                           const char *const *headers)
{
    reply *r = calloc(1, sizeof *r);
    assert_non_null(r);
    append(&r->body, &r->body_len, "", 0);
    append(&r->headers, &r->headers_len, "", 0);
    CURL *curl = curl_easy_init();
    assert_non_null(curl);
    char *url = tu_format("%s%s", it_base_url(), path);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, r->error);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, r);
    struct curl_slist *list = NULL;
    bool has_content_type = false;
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++) {
        has_content_type |= strncasecmp(headers[i], "Content-Type:", 13) == 0;
        list = curl_slist_append(list, headers[i]);
    }
    if (body != NULL && !has_content_type) {
        list = curl_slist_append(list, "Content-Type: application/json");
    }
    list = curl_slist_append(list, "Expect:");
    if (strcmp(method, "GET") == 0 && body == NULL) {
        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    }
    if (body != NULL) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    }
    CURLcode code = it_http_perform(curl, list);
    if (code == CURLE_OK) {
        long status = 0;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        r->status = (int)status;
    } else if (r->error[0] == '\0') {
        snprintf(r->error, sizeof r->error, "%s", curl_easy_strerror(code));
    }
    curl_easy_cleanup(curl);
    free(url);
    if (r->body_len > 0) {
        r->json = cJSON_ParseWithLength(r->body, r->body_len);
    }
    return r;
}

static bool healthz_ok(void)
{
    reply *r = send_request("GET", "/healthz", NULL, 0, NULL);
    bool ok = r->status == 200;
    reply_free(r);
    return ok;
}

/* "GET, PATCH, DELETE" and "DELETE,GET , PATCH" name the same set. */
static bool same_method_set(const char *a, const char *b)
{
    char sorted[2][256];
    const char *inputs[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        char copy[256];
        snprintf(copy, sizeof copy, "%s", inputs[k]);
        char *tokens[32];
        int count = 0;
        for (char *save = NULL, *token = strtok_r(copy, ", ", &save); token != NULL && count < 32;
             token = strtok_r(NULL, ", ", &save)) {
            tokens[count++] = token;
        }
        for (int i = 1; i < count; i++) {
            for (int j = i; j > 0 && strcmp(tokens[j - 1], tokens[j]) > 0; j--) {
                char *swap = tokens[j];
                tokens[j] = tokens[j - 1];
                tokens[j - 1] = swap;
            }
        }
        sorted[k][0] = '\0';
        for (int i = 0; i < count; i++) {
            strncat(sorted[k], tokens[i], sizeof sorted[k] - strlen(sorted[k]) - 2);
            strcat(sorted[k], " ");
        }
    }
    return strcmp(sorted[0], sorted[1]) == 0;
}

/* NULL when r is the problem+json that was expected, else why not (caller frees). */
static char *problem_mismatch(const reply *r, int status, const char *slug, const char *field)
{
    if (r->status != status) {
        return tu_format("status %d, expected %d%s%s; body: %.300s", r->status, status,
                         r->status == 0 ? "; transport error: " : "",
                         r->status == 0 ? r->error : "", r->body);
    }
    char content_type[128];
    bool has_content_type = reply_header(r, "Content-Type", content_type, sizeof content_type);
    char *why = tu_problem_mismatch(r->status, has_content_type ? content_type : NULL, r->json,
                                    status, slug, field);
    if (why == NULL) {
        return NULL;
    }
    char *with_body = tu_format("%s; body: %.300s", why, r->body);
    free(why);
    return with_body;
}

/* ------------------------------------------------------------------ fixtures */

static int group_setup(void **state)
{
    (void)state;
    /* At info level, so that the closes the server decides are in its log. */
    const char *env[] = {tu_fmt("WASTEFLOW_HEADER_TIMEOUT_MS=%d", HEADER_TIMEOUT_MS),
                         "WASTEFLOW_LOG_LEVEL=info", NULL};
    it_start(env);
    /* Some data in every table, so that a stray write cannot hide in an empty one. */
    org_id = tu_new_org("hostile-org", "{\"glass\": 1000}", NULL);
    storage_id = tu_new_storage("hostile-storage", "{\"glass\": 500, \"plastic\": 100}");
    char from[64], to[64];
    snprintf(from, sizeof from, "{\"organization_id\": %lld}", org_id);
    snprintf(to, sizeof to, "{\"storage_id\": %lld}", storage_id);
    it_create_route(from, to, 10, false);
    char path[96];
    snprintf(path, sizeof path, "/v1/organizations/%lld/transfers", org_id);
    it_response *response = it_post(path, "{\"waste\": {\"glass\": 5}}");
    EXPECT_STATUS(response, 201);
    transfer_id = it_json_int(response->json, "id");
    ASSERT_JSON_AT(response->json, "pending", "{}");
    it_response_free(response);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    it_stop();
    return 0;
}

/* ------------------------------------------------------------------ the request table */

typedef struct {
    const char *what;
    const char *method;
    const char *path; /* {org}, {storage}, {transfer} are replaced by the fixture's ids */
    const char *body; /* NULL: no body */
    size_t body_len;  /* 0: strlen(body) */
    const char *headers[3];
    int status;
    const char *slug;
    const char *field; /* errors[] must name it (NULL: not checked) */
    const char *allow; /* 405: the methods Allow must list */
} hostile_case;

static char *expand_path(const char *template)
{
    char *out = NULL;
    size_t length = 0;
    append(&out, &length, "", 0);
    for (const char *p = template; *p != '\0';) {
        const char *names[] = {"{org}", "{storage}", "{transfer}"};
        long long values[] = {org_id, storage_id, transfer_id};
        bool replaced = false;
        for (int i = 0; i < 3 && !replaced; i++) {
            size_t name_len = strlen(names[i]);
            if (strncmp(p, names[i], name_len) == 0) {
                char number[32];
                int n = snprintf(number, sizeof number, "%lld", values[i]);
                append(&out, &length, number, (size_t)n);
                p += name_len;
                replaced = true;
            }
        }
        if (!replaced) {
            append(&out, &length, p, 1);
            p++;
        }
    }
    return out;
}

static void run_case(const hostile_case *c, tu_problems *failures)
{
    char *path = expand_path(c->path);
    size_t body_len = c->body == NULL ? 0 : c->body_len ? c->body_len : strlen(c->body);
    char *before = it_db_fingerprint();
    reply *r = send_request(c->method, path, c->body, body_len, c->headers);
    char *after = it_db_fingerprint();
    char *why = problem_mismatch(r, c->status, c->slug, c->field);
    if (why == NULL && c->allow != NULL) {
        char allow[256];
        if (!reply_header(r, "Allow", allow, sizeof allow)) {
            why = tu_format("405 without an Allow header (expected '%s')", c->allow);
        } else if (!same_method_set(allow, c->allow)) {
            why = tu_format("Allow '%s', expected '%s'", allow, c->allow);
        }
    }
    if (why != NULL) {
        tu_problem_add(failures, "[%s] %s %.120s: %s", c->what, c->method, path, why);
        free(why);
    }
    if (strcmp(before, after) != 0) {
        tu_problem_add(failures, "[%s] %s %.120s (status %d) changed the database", c->what,
                       c->method, path, r->status);
    }
    free(before);
    free(after);
    free(path);
    reply_free(r);
}

/* A JSON body whose name value is padded so that the whole body is exactly total bytes. */
static char *body_of_size(size_t total)
{
    const char *head = "{\"name\":\"";
    const char *tail = "\"}";
    size_t fixed = strlen(head) + strlen(tail);
    assert_true(total > fixed);
    char *body = malloc(total + 1);
    assert_non_null(body);
    strcpy(body, head);
    memset(body + strlen(head), 'a', total - fixed);
    strcpy(body + total - strlen(tail), tail);
    assert_int_equal(strlen(body), total);
    return body;
}

static char *nested_body(int levels, bool objects)
{
    /* {"name":"n","capacity": <levels of nesting> } : the nesting is inside an object. */
    size_t size = 64 + (size_t)levels * 8;
    char *body = malloc(size);
    assert_non_null(body);
    size_t used = (size_t)sprintf(body, "{\"name\":\"deep\",\"capacity\":");
    for (int i = 0; i < levels; i++) {
        used += (size_t)sprintf(body + used, "%s", objects ? "{\"a\":" : "[");
    }
    used += (size_t)sprintf(body + used, "1");
    for (int i = 0; i < levels; i++) {
        body[used++] = objects ? '}' : ']';
    }
    strcpy(body + used, "}");
    return body;
}

static char *repeated(const char *prefix, char fill, size_t count, const char *suffix)
{
    size_t size = strlen(prefix) + count + strlen(suffix) + 1;
    char *out = malloc(size);
    assert_non_null(out);
    strcpy(out, prefix);
    memset(out + strlen(prefix), fill, count);
    strcpy(out + strlen(prefix) + count, suffix);
    return out;
}

#define ORGS      "/v1/organizations"
#define TRANSFERS "/v1/organizations/{org}/transfers"
#define MALFORMED(what_, body_)                                                                    \
    {                                                                                              \
        what_, "POST", ORGS, body_, sizeof(body_) - 1, {NULL}, 400, "malformed-json", NULL, NULL   \
    }
#define INVALID(what_, method_, path_, body_, field_)                                              \
    {                                                                                              \
        what_, method_, path_, body_, 0, {NULL}, 422, "validation-error", field_, NULL             \
    }
#define NOT_FOUND(what_, method_, path_, body_)                                                    \
    {                                                                                              \
        what_, method_, path_, body_, 0, {NULL}, 404, "not-found", NULL, NULL                      \
    }
#define NOT_ALLOWED(method_, path_, allow_)                                                        \
    {                                                                                              \
        method_ " " path_, method_, path_, NULL, 0, {NULL}, 405, "method-not-allowed", NULL,       \
            allow_                                                                                 \
    }
#define MEDIA(what_, method_, path_, content_type_)                                                \
    {                                                                                              \
        what_, method_, path_, "{\"name\":\"media\"}", 0, {content_type_, NULL}, 415,              \
            "unsupported-media-type", NULL, NULL                                                   \
    }

static void test_request_table(void **state)
{
    (void)state;
    char *deep_arrays = nested_body(100, false);
    char *deep_objects = nested_body(100, true);
    char *unclosed = repeated("", '[', 60000, "");
    char *long_number = repeated("{\"waste\":{\"glass\":1", '0', 3000, "}}");
    char *body_64k = body_of_size(65536);
    char *body_64k_plus = body_of_size(65537);
    char *body_70k = body_of_size(70 * 1024);
    char *long_name = repeated("{\"name\":\"", 'n', 201, "\"}");
    char *long_key = repeated("Idempotency-Key: ", 'k', 201, "");

    const hostile_case cases[] = {
        /* Broken, truncated and trailing JSON -> 400 malformed-json. */
        MALFORMED("truncated object", "{\"name\":"),
        MALFORMED("truncated string", "{\"name\":\"ab"),
        MALFORMED("missing close brace", "{\"name\":\"a\""),
        MALFORMED("trailing garbage", "{\"name\":\"a\"} x"),
        MALFORMED("two JSON values", "{\"name\":\"a\"}{}"),
        MALFORMED("trailing comma", "{\"name\":\"a\",}"),
        MALFORMED("single quotes", "{'name':'a'}"),
        MALFORMED("bare word", "hello"),
        MALFORMED("NaN literal", "{\"name\":\"a\",\"capacity\":{\"glass\":NaN}}"),
        MALFORMED("Infinity literal", "{\"name\":\"a\",\"capacity\":{\"glass\":Infinity}}"),
        MALFORMED("hex number", "{\"name\":\"a\",\"capacity\":{\"glass\":0x10}}"),
        {"nesting 100 arrays",
         "POST",
         ORGS,
         deep_arrays,
         0,
         {NULL},
         400,
         "malformed-json",
         NULL,
         NULL},
        {"nesting 100 objects",
         "POST",
         ORGS,
         deep_objects,
         0,
         {NULL},
         400,
         "malformed-json",
         NULL,
         NULL},
        {"60000 unclosed [", "POST", ORGS, unclosed, 0, {NULL}, 400, "malformed-json", NULL, NULL},
        /* Invalid UTF-8, NULs and \u0000. */
        MALFORMED("invalid UTF-8 byte 0xff", "{\"name\":\"\xff\"}"),
        MALFORMED("overlong UTF-8 C0 AF", "{\"name\":\"\xc0\xaf\"}"),
        MALFORMED("UTF-8 encoded surrogate", "{\"name\":\"\xed\xa0\x80\"}"),
        MALFORMED("code point above U+10FFFF", "{\"name\":\"\xf4\x90\x80\x80\"}"),
        MALFORMED("truncated UTF-8 sequence", "{\"name\":\"\xe2\x82\"}"),
        MALFORMED("\\u0000 in a string", "{\"name\":\"a\\u0000b\"}"),
        MALFORMED("lone escaped surrogate", "{\"name\":\"\\udc00\"}"),
        MALFORMED("NUL byte inside a string", "{\"name\":\"a\0b\"}"),
        MALFORMED("NUL byte after the value", "{\"name\":\"a\"}\0"),
        /* Duplicate keys, also after unescaping and nested. */
        MALFORMED("duplicate keys", "{\"name\":\"a\",\"name\":\"b\"}"),
        MALFORMED("duplicate keys via escape", "{\"name\":\"a\",\"n\\u0061me\":\"b\"}"),
        MALFORMED("nested duplicate keys",
                  "{\"name\":\"a\",\"capacity\":{\"glass\":1,\"glass\":2}}"),
        /* Huge and hostile numbers -> 422 naming the field. */
        INVALID("1e999", "POST", TRANSFERS, "{\"waste\":{\"glass\":1e999}}", "waste.glass"),
        INVALID("-1e999", "POST", TRANSFERS, "{\"waste\":{\"glass\":-1e999}}", "waste.glass"),
        INVALID("exponent of 20 digits", "POST", TRANSFERS,
                "{\"waste\":{\"glass\":1e99999999999999999999}}", "waste.glass"),
        INVALID("1e13", "POST", TRANSFERS, "{\"waste\":{\"glass\":1e13}}", "waste.glass"),
        INVALID("10^12 + 1", "POST", TRANSFERS, "{\"waste\":{\"glass\":1000000000001}}",
                "waste.glass"),
        INVALID("2^64", "POST", TRANSFERS, "{\"waste\":{\"glass\":18446744073709551616}}",
                "waste.glass"),
        {"3000-digit integer",
         "POST",
         TRANSFERS,
         long_number,
         0,
         {NULL},
         422,
         "validation-error",
         "waste.glass",
         NULL},
        INVALID("fraction", "POST", TRANSFERS, "{\"waste\":{\"glass\":1.5}}", "waste.glass"),
        INVALID("negative", "POST", TRANSFERS, "{\"waste\":{\"glass\":-1}}", "waste.glass"),
        INVALID("capacity 1e999", "POST", ORGS, "{\"name\":\"big\",\"capacity\":{\"glass\":1e999}}",
                "capacity.glass"),
        /* Wrong types. */
        INVALID("string quantity", "POST", TRANSFERS, "{\"waste\":{\"glass\":\"5\"}}",
                "waste.glass"),
        INVALID("boolean quantity", "POST", TRANSFERS, "{\"waste\":{\"glass\":true}}",
                "waste.glass"),
        INVALID("null quantity", "POST", TRANSFERS, "{\"waste\":{\"glass\":null}}", "waste.glass"),
        INVALID("array for waste", "POST", TRANSFERS, "{\"waste\":[1]}", "waste"),
        INVALID("array body", "POST", ORGS, "[]", ""),
        INVALID("null body", "POST", ORGS, "null", ""),
        INVALID("string body", "POST", ORGS, "\"organization\"", ""),
        INVALID("number body", "POST", ORGS, "123", ""),
        INVALID("array for capacity", "POST", ORGS, "{\"name\":\"x\",\"capacity\":[1]}",
                "capacity"),
        INVALID("array for name", "POST", ORGS, "{\"name\":[\"a\"]}", "name"),
        INVALID("array body on PATCH", "PATCH", "/v1/organizations/{org}", "[]", ""),
        INVALID("storage capacity {}", "POST", "/v1/storages", "{\"name\":\"s\",\"capacity\":{}}",
                "capacity"),
        /* Unknown fields, case, names, codes. */
        INVALID("unknown field", "POST", ORGS, "{\"name\":\"x\",\"extra\":1}", "extra"),
        INVALID("key differing in case", "POST", ORGS, "{\"Name\":\"x\"}", "Name"),
        INVALID("escaped key differing in case", "POST", ORGS, "{\"n\\u0041me\":\"x\"}", "nAme"),
        INVALID("unknown field in transfer", "POST", TRANSFERS,
                "{\"waste\":{\"glass\":1},\"extra\":true}", "extra"),
        INVALID("control character in name", "POST", ORGS, "{\"name\":\"a\\u0001b\"}", "name"),
        INVALID("empty name", "POST", ORGS, "{\"name\":\"\"}", "name"),
        {"201-character name",
         "POST",
         ORGS,
         long_name,
         0,
         {NULL},
         422,
         "validation-error",
         "name",
         NULL},
        INVALID("upper-case waste type", "POST", TRANSFERS, "{\"waste\":{\"GLASS\":1}}",
                "waste.GLASS"),
        INVALID("unload a type not accepted", "POST", "/v1/storages/{storage}/unload",
                "{\"bio\":1}", "bio"),
        INVALID("dry_run=maybe", "POST", TRANSFERS "?dry_run=maybe", "{}", "dry_run"),
        INVALID("route distance 0", "POST", "/v1/routes",
                "{\"from\":{\"organization_id\":{org}},\"to\":{\"storage_id\":{storage}},"
                "\"distance_m\":0}",
                "distance_m"),
        INVALID("route distance 10^8 + 1", "POST", "/v1/routes",
                "{\"from\":{\"organization_id\":{org}},\"to\":{\"storage_id\":{storage}},"
                "\"distance_m\":100000001}",
                "distance_m"),
        INVALID("route node with two ids", "POST", "/v1/routes",
                "{\"from\":{\"organization_id\":{org},\"storage_id\":{storage}},"
                "\"to\":{\"storage_id\":{storage}},\"distance_m\":5}",
                "from"),
        /* Paging parameters. */
        INVALID("limit=0", "GET", ORGS "?limit=0", NULL, "limit"),
        INVALID("limit=-1", "GET", ORGS "?limit=-1", NULL, "limit"),
        INVALID("limit=1001", "GET", ORGS "?limit=1001", NULL, "limit"),
        INVALID("limit overflowing", "GET", ORGS "?limit=99999999999999999999", NULL, "limit"),
        INVALID("limit=abc", "GET", "/v1/transfers?limit=abc", NULL, "limit"),
        INVALID("limit empty", "GET", "/v1/storages?limit=", NULL, "limit"),
        INVALID("limit=1e2", "GET", "/v1/routes?limit=1e2", NULL, "limit"),
        INVALID("cursor=-5", "GET", ORGS "?cursor=-5", NULL, "cursor"),
        INVALID("cursor=0", "GET", "/v1/storages?cursor=0", NULL, "cursor"),
        INVALID("cursor overflowing", "GET", "/v1/transfers?cursor=99999999999999999999", NULL,
                "cursor"),
        INVALID("cursor=abc", "GET", "/v1/routes?cursor=abc", NULL, "cursor"),
        INVALID("accepts unknown type", "GET", "/v1/storages?accepts=nope", NULL, "accepts"),
        INVALID("node malformed", "GET", "/v1/routes?node=organization:x", NULL, "node"),
        INVALID("waste_type unknown", "GET", "/v1/organizations/{org}/storages?waste_type=nope",
                NULL, "waste_type"),
        /* Ids in paths. */
        NOT_FOUND("id of 20 digits", "GET", ORGS "/99999999999999999999", NULL),
        NOT_FOUND("id int64 max + 1", "GET", ORGS "/9223372036854775808", NULL),
        NOT_FOUND("id int64 max (absent)", "GET", ORGS "/9223372036854775807", NULL),
        NOT_FOUND("id 0", "GET", "/v1/storages/0", NULL),
        NOT_FOUND("id -1", "GET", "/v1/routes/-1", NULL),
        NOT_FOUND("id 0x1", "GET", "/v1/transfers/0x1", NULL),
        NOT_FOUND("id 1e3", "GET", "/v1/transfers/1e3", NULL),
        NOT_FOUND("%00 after the id", "GET", ORGS "/{org}%00", NULL),
        NOT_FOUND("%00 as the id", "GET", ORGS "/%00", NULL),
        NOT_FOUND("%00 inside a path", "GET", "/v1/sto%00rages", NULL),
        NOT_FOUND("transfer for a 20-digit org", "POST", ORGS "/99999999999999999999/transfers",
                  "{\"waste\":{\"glass\":1}}"),
        NOT_FOUND("unload of a 20-digit storage", "POST",
                  "/v1/storages/99999999999999999999/unload", "{\"glass\":1}"),
        NOT_FOUND("PATCH a 20-digit storage", "PATCH", "/v1/storages/99999999999999999999",
                  "{\"name\":\"x\"}"),
        NOT_FOUND("DELETE an absent route", "DELETE", "/v1/routes/9223372036854775807", NULL),
        NOT_FOUND("unknown path", "GET", "/v1/nothing-here", NULL),
        /* Methods. */
        NOT_ALLOWED("PUT", ORGS, "GET, POST"),
        NOT_ALLOWED("DELETE", ORGS, "GET, POST"),
        NOT_ALLOWED("PUT", ORGS "/{org}", "GET, PATCH, DELETE"),
        NOT_ALLOWED("POST", ORGS "/{org}", "GET, PATCH, DELETE"),
        NOT_ALLOWED("GET", TRANSFERS, "POST"),
        NOT_ALLOWED("DELETE", "/v1/transfers/{transfer}", "GET"),
        NOT_ALLOWED("POST", "/healthz", "GET"),
        NOT_ALLOWED("PATCH", "/v1/stats", "GET"),
        NOT_ALLOWED("TRACE", "/v1/storages", "GET, POST"),
        /* Media types. */
        MEDIA("text/plain", "POST", ORGS, "Content-Type: text/plain"),
        MEDIA("form encoded", "POST", ORGS, "Content-Type: application/x-www-form-urlencoded"),
        MEDIA("no Content-Type", "POST", ORGS, "Content-Type:"),
        MEDIA("application/jsonx", "POST", ORGS, "Content-Type: application/jsonx"),
        MEDIA("json without type", "POST", ORGS, "Content-Type: json"),
        MEDIA("text/json on PATCH", "PATCH", "/v1/storages/{storage}", "Content-Type: text/json"),
        /* Sizes: 64 KiB is the limit, inclusive. */
        {"body of exactly 64 KiB",
         "POST",
         ORGS,
         body_64k,
         0,
         {NULL},
         422,
         "validation-error",
         "name",
         NULL},
        {"body of 64 KiB + 1",
         "POST",
         ORGS,
         body_64k_plus,
         0,
         {NULL},
         413,
         "payload-too-large",
         NULL,
         NULL},
        {"body of 70 KiB",
         "POST",
         TRANSFERS,
         body_70k,
         0,
         {NULL},
         413,
         "payload-too-large",
         NULL,
         NULL},
        /* Idempotency keys. */
        {"Idempotency-Key of 201 characters",
         "POST",
         ORGS,
         "{\"name\":\"ik\"}",
         0,
         {long_key, NULL},
         400,
         "bad-request",
         NULL,
         NULL},
        {"Idempotency-Key with a space",
         "POST",
         ORGS,
         "{\"name\":\"ik\"}",
         0,
         {"Idempotency-Key: a b", NULL},
         400,
         "bad-request",
         NULL,
         NULL},
        {"Idempotency-Key not ASCII",
         "POST",
         ORGS,
         "{\"name\":\"ik\"}",
         0,
         {"Idempotency-Key: cl\xc3\xa9", NULL},
         400,
         "bad-request",
         NULL,
         NULL},
    };
    /* Paths and bodies with {org}/{storage} placeholders are expanded; bodies here are literal
     * except the route bodies, which are expanded below. */
    size_t count = sizeof cases / sizeof cases[0];
    tu_problems failures = {0};
    for (size_t i = 0; i < count; i++) {
        if (cases[i].body != NULL && strchr(cases[i].body, '{') != NULL &&
            strstr(cases[i].body, "{org}") != NULL) {
            hostile_case expanded = cases[i];
            char *body = expand_path(cases[i].body);
            expanded.body = body;
            expanded.body_len = 0;
            run_case(&expanded, &failures);
            free(body);
        } else {
            run_case(&cases[i], &failures);
        }
    }
    if (!healthz_ok()) {
        tu_problem_add(&failures, "/healthz is not 200 after the table");
    }
    free(deep_arrays);
    free(deep_objects);
    free(unclosed);
    free(long_number);
    free(body_64k);
    free(body_64k_plus);
    free(body_70k);
    free(long_name);
    free(long_key);
    tu_problems_check(&failures, "request table", (int)count);
}

/* ------------------------------------------------------------------ raw TCP */

typedef struct {
    int status;     /* of the first response; 0 when none */
    bool closed;    /* EOF or reset seen */
    bool timed_out; /* neither a complete response nor a close within the wait */
    long long elapsed_ms;
    char content_type[128];
    char head[512]; /* start of what arrived, for messages */
    char *data;     /* everything received */
    size_t length;
} raw_result;

/* True when data holds want complete responses (Content-Length framed). */
static bool complete_responses(const char *data, size_t length, int want)
{
    if (data == NULL) {
        return false;
    }
    size_t offset = 0;
    for (int n = 0; n < want; n++) {
        const char *end = memmem(data + offset, length - offset, "\r\n\r\n", 4);
        if (end == NULL) {
            return false;
        }
        size_t head_len = (size_t)(end - (data + offset)) + 4;
        long content_length = -1;
        for (const char *p = data + offset; p < end;) {
            const char *eol = memmem(p, (size_t)(end - p) + 2, "\r\n", 2);
            if (eol == NULL) {
                break;
            }
            if (strncasecmp(p, "Content-Length:", 15) == 0) {
                content_length = strtol(p + 15, NULL, 10);
            }
            p = eol + 2;
        }
        if (content_length < 0) {
            return false; /* read to EOF */
        }
        if (length - offset < head_len + (size_t)content_length) {
            return false;
        }
        offset += head_len + (size_t)content_length;
    }
    return true;
}

/* Sends everything (a send error counts as the server having closed) and reads until the
 * connection closes or want_responses complete responses have arrived, at most wait_ms. */
static void raw_exchange(const char *data, size_t length, int want_responses, int wait_ms,
                         raw_result *out)
{
    *out = (raw_result){0};
    long long start = tu_now_ms();
    int fd = tu_connect(NULL, 0);
    size_t sent = 0;
    while (sent < length) {
        ssize_t n = send(fd, data + sent, length - sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            break; /* the server closed: read what it said */
        }
        sent += (size_t)n;
    }
    long long deadline = start + wait_ms;
    for (;;) {
        if (want_responses > 0 && complete_responses(out->data, out->length, want_responses)) {
            break;
        }
        long long left = deadline - tu_now_ms();
        if (left <= 0) {
            out->timed_out = true;
            break;
        }
        struct pollfd poller = {.fd = fd, .events = POLLIN};
        int ready = poll(&poller, 1, (int)left);
        if (ready < 0 && errno == EINTR) {
            continue;
        }
        if (ready <= 0) {
            continue;
        }
        char chunk[8192];
        ssize_t got = recv(fd, chunk, sizeof chunk, 0);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            out->closed = true;
            break;
        }
        append(&out->data, &out->length, chunk, (size_t)got);
    }
    close(fd);
    out->elapsed_ms = tu_now_ms() - start;
    if (out->data != NULL && out->length >= 12 && strncmp(out->data, "HTTP/1.", 7) == 0) {
        out->status = atoi(out->data + 9);
        const char *end = memmem(out->data, out->length, "\r\n\r\n", 4);
        for (const char *p = out->data; end != NULL && p < end;) {
            const char *eol = memmem(p, (size_t)(end - p) + 2, "\r\n", 2);
            if (eol == NULL) {
                break;
            }
            if (strncasecmp(p, "Content-Type:", 13) == 0) {
                const char *value = p + 13;
                while (*value == ' ') {
                    value++;
                }
                snprintf(out->content_type, sizeof out->content_type, "%.*s", (int)(eol - value),
                         value);
            }
            p = eol + 2;
        }
    }
    size_t shown = 0;
    for (size_t i = 0; out->data != NULL && i < out->length && shown + 5 < sizeof out->head; i++) {
        unsigned char c = (unsigned char)out->data[i];
        if (c == '\r') {
            continue;
        }
        out->head[shown++] = c == '\n' ? '|' : (c >= 0x20 && c < 0x7f ? (char)c : '?');
    }
    out->head[shown] = '\0';
}

static void raw_result_free(raw_result *result)
{
    free(result->data);
    result->data = NULL;
}

typedef enum {
    RAW_EXACT,  /* exactly this problem+json status */
    RAW_REJECT, /* a 4xx (or 501/505, the protocol's own answers), or a close without answer */
    RAW_ACCEPT_OR_REJECT, /* as RAW_REJECT, or 2xx; nothing half done either way */
} raw_expectation;

typedef struct {
    const char *what;
    char *request; /* owned */
    size_t length;
    raw_expectation expect;
    int status;
    const char *slug;
    const char *created_name; /* RAW_ACCEPT_OR_REJECT: a 2xx must have created exactly this */
} raw_case;

static raw_case raw_case_of(const char *what, raw_expectation expect, int status, const char *slug,
                            const char *created_name, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static raw_case raw_case_of(const char *what, raw_expectation expect, int status, const char *slug,
                            const char *created_name, const char *fmt, ...)
{
    raw_case c = {what, NULL, 0, expect, status, slug, created_name};
    va_list args;
    va_start(args, fmt);
    char *request = NULL;
    int length = vasprintf(&request, fmt, args);
    va_end(args);
    assert_true(length >= 0);
    /* With credentials: what is under test here is the message framing, not access. */
    c.length = (size_t)length;
    c.request = tu_raw_with_auth(request, &c.length);
    free(request);
    return c;
}

static bool rejected_or_closed(const raw_result *result)
{
    if (result->status == 0) {
        return result->closed; /* closed without a word: acceptable for broken HTTP */
    }
    return (result->status >= 400 && result->status < 500) || result->status == 501 ||
           result->status == 505;
}

static void run_raw_case(const raw_case *c, tu_problems *failures)
{
    char *before = it_db_fingerprint();
    raw_result result;
    raw_exchange(c->request, c->length, 1, (int)tu_scaled_ms(RAW_WAIT_MS), &result);
    char *after = it_db_fingerprint();
    bool changed = strcmp(before, after) != 0;
    switch (c->expect) {
    case RAW_EXACT:
        if (result.status != c->status ||
            strncasecmp(result.content_type, "application/problem+json", 24) != 0) {
            tu_problem_add(failures, "[raw: %s] expected %d problem+json, got %d '%s': %.200s",
                           c->what, c->status, result.status, result.content_type, result.head);
        } else if (c->slug != NULL) {
            char type[160];
            snprintf(type, sizeof type, "\"type\":\"" PROBLEM_PREFIX "%s\"", c->slug);
            if (memmem(result.data, result.length, type, strlen(type)) == NULL) {
                tu_problem_add(failures, "[raw: %s] problem type is not %s: %.200s", c->what,
                               c->slug, result.head);
            }
        }
        if (changed) {
            tu_problem_add(failures, "[raw: %s] changed the database", c->what);
        }
        break;
    case RAW_REJECT:
        if (!rejected_or_closed(&result)) {
            tu_problem_add(failures,
                           "[raw: %s] expected a 4xx or a closed connection, got %s%d%s: %.200s",
                           c->what, result.timed_out ? "no answer within the wait, status " : "",
                           result.status, result.closed ? " then close" : "", result.head);
        }
        if (changed) {
            tu_problem_add(failures, "[raw: %s] got %d but changed the database", c->what,
                           result.status);
        }
        break;
    case RAW_ACCEPT_OR_REJECT:
        if (result.status >= 200 && result.status < 300) {
            long long created = 0;
            if (c->created_name != NULL) {
                created = it_sql_int("SELECT count(*) FROM organizations WHERE name = '%s'",
                                     c->created_name);
            }
            if (c->created_name != NULL && created != 1) {
                tu_problem_add(failures, "[raw: %s] 2xx but %lld organizations named %s", c->what,
                               created, c->created_name);
            }
        } else {
            if (!rejected_or_closed(&result)) {
                tu_problem_add(failures, "[raw: %s] expected 2xx, 4xx or a close, got %d: %.200s",
                               c->what, result.status, result.head);
            }
            if (changed) {
                tu_problem_add(failures, "[raw: %s] got %d but changed the database", c->what,
                               result.status);
            }
        }
        break;
    }
    if (!healthz_ok()) {
        tu_problem_add(failures, "[raw: %s] /healthz is not 200 afterwards", c->what);
    }
    raw_result_free(&result);
    free(before);
    free(after);
}

#define POST_ORGS "POST /v1/organizations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"

static void test_raw_http(void **state)
{
    (void)state;
    /* Bodies naming fresh organizations: a request that should have been refused but was
     * processed shows up as a new row (fingerprint) even if it answers 4xx afterwards. */
    const char *b1 = "{\"name\":\"raw-cl-first-long\"}";
    const char *b2 = "{\"name\":\"raw-cl-first-short\"}";
    const char *b3 = "{\"name\":\"raw-te-cl\"}";
    const char *b4 = "{\"name\":\"raw-other\"}";
    const char *b5 = "{\"name\":\"raw-dup-same\"}";
    const char *b6 = "{\"name\":\"raw-cl-list\"}";
    char *big_header = repeated("X-Big: ", 'a', 20000, "");
    char many_headers[40000];
    size_t used = 0;
    for (int i = 0; i < 2500; i++) {
        used +=
            (size_t)snprintf(many_headers + used, sizeof many_headers - used, "X-H%d: v\r\n", i);
    }
    char *long_uri = repeated("/healthz?q=", 'u', 20000, "");
    char *chunked_70k = NULL;
    {
        char *chunk = body_of_size(70 * 1024);
        assert_true(asprintf(&chunked_70k, "%zx\r\n%s\r\n0\r\n\r\n", strlen(chunk), chunk) > 0);
        free(chunk);
    }
    raw_case cases[] = {
        raw_case_of("conflicting Content-Length (full length first)", RAW_REJECT, 0, NULL, NULL,
                    POST_ORGS "Content-Length: %zu\r\nContent-Length: 5\r\nConnection: "
                              "close\r\n\r\n%s",
                    strlen(b1), b1),
        raw_case_of("conflicting Content-Length (short first)", RAW_REJECT, 0, NULL, NULL,
                    POST_ORGS "Content-Length: 5\r\nContent-Length: %zu\r\nConnection: "
                              "close\r\n\r\n%s",
                    strlen(b2), b2),
        raw_case_of("identical duplicate Content-Length", RAW_ACCEPT_OR_REJECT, 0, NULL,
                    "raw-dup-same",
                    POST_ORGS "Content-Length: %zu\r\nContent-Length: %zu\r\nConnection: "
                              "close\r\n\r\n%s",
                    strlen(b5), strlen(b5), b5),
        raw_case_of("Content-Length list", RAW_ACCEPT_OR_REJECT, 0, NULL, "raw-cl-list",
                    POST_ORGS "Content-Length: %zu, %zu\r\nConnection: close\r\n\r\n%s", strlen(b6),
                    strlen(b6), b6),
        raw_case_of("negative Content-Length", RAW_REJECT, 0, NULL, NULL,
                    POST_ORGS "Content-Length: -1\r\nConnection: close\r\n\r\n%s", b4),
        raw_case_of("non-numeric Content-Length", RAW_REJECT, 0, NULL, NULL,
                    POST_ORGS "Content-Length: abc\r\nConnection: close\r\n\r\n%s", b4),
        raw_case_of("Content-Length of 20 digits", RAW_REJECT, 0, NULL, NULL,
                    POST_ORGS "Content-Length: 99999999999999999999\r\nConnection: close\r\n\r\n%s",
                    b4),
        raw_case_of("Transfer-Encoding chunked with Content-Length", RAW_REJECT, 0, NULL, NULL,
                    POST_ORGS "Content-Length: %zu\r\nTransfer-Encoding: chunked\r\nConnection: "
                              "close\r\n\r\n%zx\r\n%s\r\n0\r\n\r\n",
                    strlen(b3), strlen(b3), b3),
        raw_case_of("unknown Transfer-Encoding", RAW_REJECT, 0, NULL, NULL,
                    POST_ORGS "Transfer-Encoding: gzip\r\nConnection: close\r\n\r\n%s", b4),
        raw_case_of("invalid chunk size", RAW_REJECT, 0, NULL, NULL,
                    POST_ORGS "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n%s\r\n"
                              "0\r\n\r\n",
                    b4),
        raw_case_of("chunk size of 2^64", RAW_REJECT, 0, NULL, NULL,
                    POST_ORGS "Transfer-Encoding: chunked\r\nConnection: "
                              "close\r\n\r\n10000000000000000\r\n%s\r\n0\r\n\r\n",
                    b4),
        raw_case_of("chunked body of 70 KiB", RAW_EXACT, 413, "payload-too-large", NULL,
                    POST_ORGS "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n%s",
                    chunked_70k),
        raw_case_of("%%00 in the raw path", RAW_EXACT, 404, "not-found", NULL,
                    "GET /v1/organizations/%lld%%00 HTTP/1.1\r\nHost: x\r\nConnection: "
                    "close\r\n\r\n",
                    org_id),
        raw_case_of("garbage request line", RAW_REJECT, 0, NULL, NULL, "HELLO\r\n\r\n"),
        raw_case_of("unknown method", RAW_REJECT, 0, NULL, NULL,
                    "FROB /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        raw_case_of("HTTP/9.9", RAW_REJECT, 0, NULL, NULL,
                    "GET /healthz HTTP/9.9\r\nHost: x\r\nConnection: close\r\n\r\n"),
        raw_case_of("header without a colon", RAW_REJECT, 0, NULL, NULL,
                    "GET /healthz HTTP/1.1\r\nHost: x\r\nNoColonHere\r\nConnection: "
                    "close\r\n\r\n"),
        raw_case_of("NUL in the request line", RAW_REJECT, 0, NULL, NULL, "%s", ""),
        raw_case_of("header line of 20 KB", RAW_REJECT, 0, NULL, NULL,
                    "GET /healthz HTTP/1.1\r\nHost: x\r\n%s\r\nConnection: close\r\n\r\n",
                    big_header),
        raw_case_of("2500 headers (> 16 KiB)", RAW_REJECT, 0, NULL, NULL,
                    "GET /healthz HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n",
                    many_headers),
        raw_case_of("request URI of 20 KB", RAW_REJECT, 0, NULL, NULL,
                    "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", long_uri),
        raw_case_of("binary junk", RAW_REJECT, 0, NULL, NULL, "%s", ""),
    };
    /* The two cases with NUL bytes are filled in here (printf stops at a NUL). */
    static const char nul_line[] =
        "GET /heal\0thz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    size_t count = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < count; i++) {
        if (strcmp(cases[i].what, "NUL in the request line") == 0) {
            free(cases[i].request);
            cases[i].request = malloc(sizeof nul_line);
            assert_non_null(cases[i].request);
            memcpy(cases[i].request, nul_line, sizeof nul_line);
            cases[i].length = sizeof nul_line - 1;
        } else if (strcmp(cases[i].what, "binary junk") == 0) {
            free(cases[i].request);
            cases[i].length = 4096;
            cases[i].request = malloc(cases[i].length);
            assert_non_null(cases[i].request);
            for (size_t j = 0; j < cases[i].length; j++) {
                cases[i].request[j] = (char)(j * 7 + 3);
            }
        }
    }
    tu_problems failures = {0};
    for (size_t i = 0; i < count; i++) {
        run_raw_case(&cases[i], &failures);
        free(cases[i].request);
    }
    free(big_header);
    free(long_uri);
    free(chunked_70k);
    tu_problems_check(&failures, "raw HTTP", (int)count);
}

/* Pipelined on one connection: a good request, then garbage. The first is answered; the
 * garbage gets a 4xx or the connection closes; nothing else happens. */
static void test_pipelined_garbage(void **state)
{
    (void)state;
    const char request[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                           "\x01\x02 GARBAGE \xff\r\n\r\n";
    char *before = it_db_fingerprint();
    raw_result result;
    raw_exchange(request, sizeof request - 1, 2, (int)tu_scaled_ms(RAW_WAIT_MS), &result);
    assert_int_equal(result.status, 200);
    const char *second = memmem(result.data + 4, result.length - 4, "HTTP/1.", 7);
    if (second != NULL) {
        int status = atoi(second + 9);
        if (status < 400 || status >= 500) {
            fail_msg("pipelined garbage got %d, expected a 4xx: %s", status, result.head);
        }
    } else if (!result.closed) {
        fail_msg("pipelined garbage: neither a second answer nor a close within %d ms: %s",
                 RAW_WAIT_MS, result.head);
    }
    ASSERT_UNCHANGED(before);
    raw_result_free(&result);
    assert_true(healthz_ok());
}

/* Requests that never finish arriving: the server must close them by its header deadline
 * (WASTEFLOW_HEADER_TIMEOUT_MS, 1 s here) and answer others meanwhile. A trickle of one
 * byte every 100 ms keeps an idle timer from ever firing, so only a real deadline helps. */
static void test_slow_requests(void **state)
{
    (void)state;
    const long long limit_ms = HEADER_TIMEOUT_MS + tu_scaled_ms(2500);
    char *before = it_db_fingerprint();
    const char *timeouts_sample =
        "wasteflow_http_connections_closed_total{reason=\"header_timeout\"}";
    long long timeouts_before = tu_metric(timeouts_sample);
    assert_true(timeouts_before >= 0);

    /* 1. Headers that never end. */
    int fd = tu_connect(NULL, 0);
    const char *partial = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
    assert_true(send(fd, partial, strlen(partial), MSG_NOSIGNAL) == (ssize_t)strlen(partial));
    long long start = tu_now_ms();
    /* Meanwhile the server answers others at once. */
    long long served_start = tu_now_ms();
    assert_true(healthz_ok());
    assert_true(tu_now_ms() - served_start < tu_scaled_ms(1000));
    struct pollfd poller = {.fd = fd, .events = POLLIN};
    char chunk[4096];
    bool closed = false;
    while (!closed && tu_now_ms() - start < limit_ms + 2000) {
        if (poll(&poller, 1, 100) > 0) {
            ssize_t got = recv(fd, chunk, sizeof chunk, 0);
            closed = got <= 0 || (got >= 12 && strncmp(chunk, "HTTP/1.1 408", 12) == 0) ||
                     (got >= 12 && chunk[9] == '4');
        }
    }
    long long waited = tu_now_ms() - start;
    close(fd);
    if (!closed || waited > limit_ms) {
        fail_msg("unfinished headers: connection %s after %lld ms (limit %lld ms)",
                 closed ? "closed" : "still open", waited, limit_ms);
    }
    print_message("unfinished headers closed after %lld ms\n", waited);
    /* The server's close is said and counted: a log line with its reason, and the metric. */
    assert_true(tu_metric(timeouts_sample) >= timeouts_before + 1);
    assert_true(tu_log_mentions("\"reason\":\"header_timeout\""));

    /* 2. A trickle: one header byte every 100 ms. */
    fd = tu_connect(NULL, 0);
    const char *trickle =
        "GET /healthz HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    start = tu_now_ms();
    closed = false;
    for (size_t i = 0; trickle[i] != '\0' && !closed; i++) {
        if (send(fd, trickle + i, 1, MSG_NOSIGNAL) != 1) {
            closed = true;
            break;
        }
        poller.fd = fd;
        if (poll(&poller, 1, 100) > 0) {
            ssize_t got = recv(fd, chunk, sizeof chunk, 0);
            closed = got <= 0 || (got >= 12 && chunk[9] == '4');
        }
        if (tu_now_ms() - start > limit_ms + 2000) {
            break;
        }
    }
    waited = tu_now_ms() - start;
    close(fd);
    if (!closed || waited > limit_ms) {
        fail_msg("trickled headers: connection %s after %lld ms (limit %lld ms)",
                 closed ? "closed" : "still open", waited, limit_ms);
    }
    print_message("trickled headers closed after %lld ms\n", waited);

    /* 3. A body shorter than its Content-Length. */
    fd = tu_connect(NULL, 0);
    const char *short_body = POST_ORGS "Content-Length: 100\r\n\r\n{\"name\":\"raw-short\"}";
    assert_true(send(fd, short_body, strlen(short_body), MSG_NOSIGNAL) ==
                (ssize_t)strlen(short_body));
    start = tu_now_ms();
    closed = false;
    poller.fd = fd;
    while (!closed && tu_now_ms() - start < limit_ms + 2000) {
        if (poll(&poller, 1, 100) > 0) {
            ssize_t got = recv(fd, chunk, sizeof chunk, 0);
            closed = got <= 0 || (got >= 12 && chunk[9] == '4');
        }
    }
    waited = tu_now_ms() - start;
    close(fd);
    if (!closed || waited > limit_ms) {
        fail_msg("short body: connection %s after %lld ms (limit %lld ms)",
                 closed ? "closed" : "still open", waited, limit_ms);
    }

    /* 4. A client that gives up half way through its body. */
    fd = tu_connect(NULL, 0);
    const char *abandoned = POST_ORGS "Content-Length: 100\r\n\r\n{\"name\":\"raw-abandoned\"";
    assert_true(send(fd, abandoned, strlen(abandoned), MSG_NOSIGNAL) == (ssize_t)strlen(abandoned));
    close(fd);
    tu_sleep_ms(200);

    ASSERT_UNCHANGED(before);
    assert_true(healthz_ok());
}

/* Header blocks over 16 KiB through libcurl: evhttp answers 4xx or closes; the server lives.
 * A block comfortably under the limit is served. */
static void test_oversized_headers(void **state)
{
    (void)state;
    char *big = repeated("X-Big: ", 'b', 20 * 1024, "");
    const char *headers[] = {big, NULL};
    char *before = it_db_fingerprint();
    reply *r = send_request("POST", "/v1/organizations", "{\"name\":\"big-header\"}", 21, headers);
    if (r->status != 0 && (r->status < 400 || r->status >= 500)) {
        fail_msg("20 KiB header: expected a 4xx or a closed connection, got %d: %.300s", r->status,
                 r->body);
    }
    print_message("20 KiB header: %s%d %s\n", r->status ? "status " : "transport error ", r->status,
                  r->status ? "" : r->error);
    reply_free(r);
    ASSERT_UNCHANGED(before);
    assert_true(healthz_ok());

    /* Many small headers adding up to ~40 KiB. */
    const char *many[1200];
    char storage[1200][40];
    for (int i = 0; i < 1199; i++) {
        snprintf(storage[i], sizeof storage[i], "X-Filler-%04d: vvvvvvvvvvvvvvvvvv", i);
        many[i] = storage[i];
    }
    many[1199] = NULL;
    r = send_request("GET", "/v1/stats", NULL, 0, many);
    if (r->status != 0 && (r->status < 400 || r->status >= 500)) {
        fail_msg("~40 KiB of headers: expected a 4xx or a closed connection, got %d", r->status);
    }
    reply_free(r);
    assert_true(healthz_ok());

    /* 12 KiB: under the limit, served normally. */
    char *fine = repeated("X-Fine: ", 'f', 12 * 1024, "");
    const char *fine_headers[] = {fine, NULL};
    r = send_request("GET", "/v1/stats", NULL, 0, fine_headers);
    if (r->status != 200) {
        fail_msg("12 KiB header: expected 200, got %d %s", r->status, r->error);
    }
    reply_free(r);
    free(fine);
    free(big);
}

/* After all of it: alive, ready, and the books balance. */
static void test_server_survived(void **state)
{
    (void)state;
    assert_true(healthz_ok());
    reply *r = send_request("GET", "/readyz", NULL, 0, NULL);
    assert_int_equal(r->status, 200);
    reply_free(r);
    assert_true(kill(it_server_pid(), 0) == 0);
    tu_assert_audit_clean();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_table),     cmocka_unit_test(test_raw_http),
        cmocka_unit_test(test_pipelined_garbage), cmocka_unit_test(test_slow_requests),
        cmocka_unit_test(test_oversized_headers), cmocka_unit_test(test_server_survived),
    };
    return cmocka_run_group_tests_name("hostile", tests, group_setup, group_teardown);
}
