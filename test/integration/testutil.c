/* Helpers shared by the integration test runners (see testutil.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strptime, timegm */
#endif
#include "testutil.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <regex.h>
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

/* ---- text ---- */

char *tu_vformat(const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    int length = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    assert_true(length >= 0);
    char *text = malloc((size_t)length + 1);
    assert_non_null(text);
    vsnprintf(text, (size_t)length + 1, fmt, ap);
    return text;
}

char *tu_format(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = tu_vformat(fmt, ap);
    va_end(ap);
    return text;
}

const char *tu_fmt(const char *format, ...)
{
    static char buffers[16][4096];
    static unsigned next;
    char *buffer = buffers[next++ % 16];
    va_list ap;
    va_start(ap, format);
    int length = vsnprintf(buffer, sizeof buffers[0], format, ap);
    va_end(ap);
    assert_true(length >= 0 && (size_t)length < sizeof buffers[0]);
    return buffer;
}

char *tu_repeat(const char *unit, size_t times)
{
    size_t unit_len = strlen(unit);
    char *out = malloc(unit_len * times + 1);
    assert_non_null(out);
    for (size_t i = 0; i < times; i++) {
        memcpy(out + i * unit_len, unit, unit_len);
    }
    out[unit_len * times] = '\0';
    return out;
}

char *tu_json_text(const cJSON *value)
{
    char *text = value ? cJSON_PrintUnformatted(value) : NULL;
    if (!text) {
        text = malloc(sizeof "(missing)");
        assert_non_null(text);
        memcpy(text, "(missing)", sizeof "(missing)");
    }
    return text;
}

/* ---- time ---- */

void tu_sleep_ms(long milliseconds)
{
    struct timespec pause = {milliseconds / 1000, (milliseconds % 1000) * 1000000L};
    while (nanosleep(&pause, &pause) != 0 && errno == EINTR) {
    }
}

long long tu_now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

double tu_now_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

bool tu_under_valgrind(void)
{
    const char *valgrind = getenv("WASTEFLOW_VALGRIND");
    return valgrind != NULL && strcmp(valgrind, "1") == 0;
}

long long tu_scaled_ms(long long milliseconds)
{
    return tu_under_valgrind() ? milliseconds * 5 : milliseconds;
}

long long tu_patience_ms(void)
{
    return tu_under_valgrind() ? 60000 : 15000;
}

/* ---- assertions reporting the caller's file and line ---- */

#define PROBLEM_TYPE_PREFIX "https://wasteflow.dev/problems/"

/* Reports what is wrong with response and fails the test at file:line. */
static void fail_response_at(const char *file, int line, const it_response *response,
                             const char *why)
{
    it_note_failure(response);
    print_error("%s -> %d: %s\n  body: %.2000s\n", it_request_line(response), response->status, why,
                response->body);
    _fail(file, line);
}

void tu_expect_status_at(const char *file, int line, const it_response *response, int expected)
{
    if (response->status != expected) {
        char *why = tu_format("expected status %d", expected);
        fail_response_at(file, line, response, why);
    }
}

char *tu_problem_mismatch(int actual_status, const char *content_type, const cJSON *json,
                          int status, const char *slug, const char *field)
{
    if (actual_status != status) {
        return tu_format("expected a %d problem", status);
    }
    if (content_type == NULL || strncasecmp(content_type, "application/problem+json", 24) != 0) {
        return tu_format("Content-Type is '%s', expected application/problem+json",
                         content_type ? content_type : "(none)");
    }
    if (!cJSON_IsObject(json)) {
        return tu_format("body is not a JSON object");
    }
    static const char *const members[] = {"type", "title", "detail"};
    for (size_t i = 0; i < sizeof members / sizeof members[0]; i++) {
        const cJSON *member = cJSON_GetObjectItemCaseSensitive(json, members[i]);
        if (!cJSON_IsString(member)) {
            return tu_format("problem member '%s' missing or not a string", members[i]);
        }
    }
    const cJSON *status_member = cJSON_GetObjectItemCaseSensitive(json, "status");
    if (!cJSON_IsNumber(status_member) || status_member->valuedouble != (double)status) {
        return tu_format("problem member 'status' is not the integer %d", status);
    }
    if (field != NULL) {
        const cJSON *errors = cJSON_GetObjectItemCaseSensitive(json, "errors");
        if (!cJSON_IsArray(errors)) {
            return tu_format("no errors[] array (expected one naming field '%s')", field);
        }
        bool named = false;
        const cJSON *error;
        cJSON_ArrayForEach(error, errors)
        {
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(error, "field");
            named = named || (cJSON_IsString(name) && strcmp(name->valuestring, field) == 0);
        }
        if (!named) {
            return tu_format("errors[] does not name field '%s'", field);
        }
    }
    if (slug != NULL) {
        const char *type = cJSON_GetObjectItemCaseSensitive(json, "type")->valuestring;
        size_t prefix_len = strlen(PROBLEM_TYPE_PREFIX);
        if (strncmp(type, PROBLEM_TYPE_PREFIX, prefix_len) != 0 ||
            strcmp(type + prefix_len, slug) != 0) {
            return tu_format("problem type is '%s', expected '%s%s'", type, PROBLEM_TYPE_PREFIX,
                             slug);
        }
    }
    return NULL;
}

void tu_expect_problem_at(const char *file, int line, const it_response *response, int status,
                          const char *slug, const char *field)
{
    char *why = tu_problem_mismatch(response->status, it_header(response, "Content-Type"),
                                    response->json, status, slug, field);
    if (why != NULL) {
        fail_response_at(file, line, response, why);
    }
}

const char *tu_expect_header_at(const char *file, int line, const it_response *response,
                                const char *name)
{
    const char *value = it_header(response, name);
    if (value == NULL) {
        fail_response_at(file, line, response, tu_format("no %s header", name));
    }
    return value;
}

long long tu_expect_location_at(const char *file, int line, const it_response *response,
                                const char *collection)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(response->json, "id");
    if (!cJSON_IsNumber(id) || id->valuedouble < 1) {
        fail_response_at(file, line, response, tu_format("no positive id"));
    }
    char *expected = tu_format("%s/%lld", collection, (long long)id->valuedouble);
    const char *location = it_header(response, "Location");
    if (location == NULL || strcmp(location, expected) != 0) {
        fail_response_at(
            file, line, response,
            tu_format("Location %s, not %s", location ? location : "(none)", expected));
    }
    free(expected);
    return (long long)id->valuedouble;
}

char *tu_expect_created_at(const char *file, int line, const it_response *response,
                           const char *collection, const char *name)
{
    tu_expect_status_at(file, line, response, 201);
    long long id = tu_expect_location_at(file, line, response, collection);
    const char *named = it_json_str(response->json, "name");
    if (named == NULL || strcmp(named, name) != 0) {
        fail_response_at(file, line, response, tu_format("expected the name %s", name));
    }
    tu_assert_recent_timestamp_at(file, line, it_json_str(response->json, "created_at"));
    return tu_format("%s/%lld", collection, id);
}

void tu_assert_creates_at(const char *file, int line, const char *collection, const char *prefix,
                          const char *members, const char *expected)
{
    char *name = it_unique_name(prefix);
    it_response *response = it_post(collection, "{\"name\":\"%s\",%s}", name, members);
    char *path = tu_expect_created_at(file, line, response, collection, name);
    tu_assert_members_at(file, line, response->json, "%s", expected);
    tu_assert_reads_back_at(file, line, path, response->json);
    it_response_free(response);
    free(path);
    free(name);
}

void tu_expect_deleted_at(const char *file, int line, const char *path)
{
    it_response *response = it_delete("%s", path);
    tu_expect_status_at(file, line, response, 204);
    if (response->body_len != 0) {
        fail_response_at(file, line, response, tu_format("a 204 with a body"));
    }
    it_response_free(response);
    tu_expect_rejected_type_at(file, line, "GET", path, NULL, NULL, 404, "not-found", NULL);
    tu_expect_rejected_type_at(file, line, "DELETE", path, NULL, NULL, 404, "not-found", NULL);
    tu_expect_rejected_type_at(file, line, "PATCH", path, "{\"name\":\"back\"}", NULL, 404,
                               "not-found", NULL);
}

int tu_walk_pages(const char *list_path, int limit, const cJSON *all)
{
    int total = cJSON_GetArraySize(all), walked = 0, pages = 0;
    char *cursor = NULL;
    for (;;) {
        it_response *response = cursor != NULL
                                    ? it_get("%s?limit=%d&cursor=%s", list_path, limit, cursor)
                                    : it_get("%s?limit=%d", list_path, limit);
        EXPECT_STATUS(response, 200);
        pages++;
        assert_true(pages <= total / limit + 1);
        const cJSON *items = it_json_at(response->json, "items");
        assert_true(cJSON_IsArray(items));
        int count = cJSON_GetArraySize(items);
        const cJSON *item;
        cJSON_ArrayForEach(item, items)
        {
            assert_true(walked < total);
            assert_true(cJSON_Compare(item, cJSON_GetArrayItem(all, walked), true));
            walked++;
        }
        const cJSON *next = it_json_at(response->json, "next_cursor");
        free(cursor);
        cursor = NULL;
        if (cJSON_IsNull(next)) {
            it_response_free(response);
            break;
        }
        assert_int_equal(count, limit);
        assert_true(cJSON_IsString(next));
        cursor = it_url_escape(next->valuestring);
        it_response_free(response);
    }
    assert_int_equal(walked, total);
    return pages;
}

void tu_assert_page_at(const char *file, int line, const char *path, int item_count, bool more)
{
    it_response *page = it_get("%s", path);
    tu_expect_status_at(file, line, page, 200);
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(page->json, "items");
    const cJSON *cursor = cJSON_GetObjectItemCaseSensitive(page->json, "next_cursor");
    if (!cJSON_IsArray(items) || cJSON_GetArraySize(items) != item_count) {
        fail_response_at(file, line, page, tu_format("expected a page of %d items", item_count));
    }
    if (more ? !cJSON_IsString(cursor) : !cJSON_IsNull(cursor)) {
        fail_response_at(file, line, page,
                         more ? "expected a next_cursor string" : "expected next_cursor null");
    }
    it_response_free(page);
}

void tu_expect_get_status_at(const char *file, int line, int status, const char *path_fmt, ...)
{
    va_list ap;
    va_start(ap, path_fmt);
    char *path = tu_vformat(path_fmt, ap);
    va_end(ap);
    it_response *response = it_get("%s", path);
    tu_expect_status_at(file, line, response, status);
    it_response_free(response);
    free(path);
}

void tu_assert_get_at(const char *file, int line, const char *path, const char *json_path,
                      const char *expected_fmt, ...)
{
    it_response *response = it_get("%s", path);
    tu_expect_status_at(file, line, response, 200);
    va_list ap;
    va_start(ap, expected_fmt);
    char *expected = tu_vformat(expected_fmt, ap);
    va_end(ap);
    tu_assert_json_path_at(file, line, response->json, json_path, "%s", expected);
    free(expected);
    it_response_free(response);
}

void tu_assert_reads_back_at(const char *file, int line, const char *path, const cJSON *expected)
{
    it_response *fetched = it_get("%s", path);
    tu_expect_status_at(file, line, fetched, 200);
    if (!cJSON_Compare(fetched->json, expected, true)) {
        char *written = tu_json_text(expected);
        char *why = tu_format("reads back otherwise than written: %s", written);
        free(written);
        fail_response_at(file, line, fetched, why);
    }
    it_response_free(fetched);
}

/* True when the database's fingerprint is still before; prints both when not. Frees before. */
/* Prints the tables whose digests differ between two fingerprints ("table=md5 ..." in the
 * same table order): the whole fingerprints pass cmocka's message buffer and were cut off
 * before the table that changed. */
static void print_changed_tables(const char *before, const char *after)
{
    print_error("the database changed:");
    const char *b = before, *a = after;
    while (*b != '\0' || *a != '\0') {
        size_t bl = strcspn(b, " "), al = strcspn(a, " ");
        if (bl != al || strncmp(b, a, bl) != 0) {
            print_error(" [%.*s -> %.*s]", (int)bl, b, (int)al, a);
        }
        b += bl + (b[bl] == ' ');
        a += al + (a[al] == ' ');
    }
    print_error("\n");
}

static bool unchanged(char *before)
{
    char *after = it_db_fingerprint();
    bool same = strcmp(before, after) == 0;
    if (!same) {
        print_changed_tables(before, after);
    }
    free(before);
    free(after);
    return same;
}

void tu_assert_unchanged_at(const char *file, int line, char *before)
{
    if (!unchanged(before)) {
        _fail(file, line);
    }
}

void tu_expect_rejected_at(const char *file, int line, const char *method, const char *path,
                           const char *body, int status, const char *field)
{
    bool mutating = strcmp(method, "GET") != 0;
    char *before = mutating ? it_db_fingerprint() : NULL;
    it_response *response = it_request(method, path, body, NULL);
    if (response->status != status) {
        char *why = tu_format("expected HTTP %d for the body %s", status, body ? body : "(none)");
        fail_response_at(file, line, response, why);
    }
    tu_expect_problem_at(file, line, response, status, NULL, field);
    it_response_free(response);
    if (mutating) {
        if (!unchanged(before)) {
            print_error("%s %s %s was rejected with %d but changed the database\n", method, path,
                        body ? body : "", status);
            _fail(file, line);
        }
    }
}

void tu_expect_rejected_type_at(const char *file, int line, const char *method, const char *path,
                                const char *body, const char *const *headers, int status,
                                const char *slug, const char *field)
{
    char *before = it_db_fingerprint();
    it_response *response = it_request(method, path, body, headers);
    tu_expect_problem_at(file, line, response, status, slug, field);
    if (!unchanged(before)) {
        print_error("%s was rejected with %d but changed the database\n", it_request_line(response),
                    status);
        _fail(file, line);
    }
    it_response_free(response);
}

/* Shipments gained their movement ("movement_id", "status") after most tests were written.
 * An expectation that names neither is about where waste went: for it, each shipment of the
 * actual value must be an accepted movement with an id (what every shipment to an automatic
 * storage is), and is then compared without those two members. An expectation that names
 * "movement_id" is compared exactly. Returns whether node held a shipment (stripped in
 * place); *bad when one was not an accepted movement. */
static bool strip_movements(cJSON *node, bool *bad)
{
    bool stripped = false;
    if (cJSON_IsObject(node) && cJSON_HasObjectItem(node, "storage_id") &&
        cJSON_HasObjectItem(node, "amount") && cJSON_HasObjectItem(node, "movement_id")) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(node, "movement_id");
        const cJSON *status = cJSON_GetObjectItemCaseSensitive(node, "status");
        /* A dry run's shipments have no movement yet: null is their id. */
        if (!(cJSON_IsNull(id) || (cJSON_IsNumber(id) && id->valuedouble >= 1)) ||
            !cJSON_IsString(status) || strcmp(status->valuestring, "accepted") != 0) {
            *bad = true;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(node, "movement_id");
        cJSON_DeleteItemFromObjectCaseSensitive(node, "status");
        stripped = true;
    }
    cJSON *child = NULL;
    cJSON_ArrayForEach(child, node)
    {
        stripped = strip_movements(child, bad) || stripped;
    }
    return stripped;
}

/* Fails at file:line unless actual equals the JSON expected_text (frees it). path and root,
 * when path is not NULL, say where actual was found, for the report. */
static void compare_json_at(const char *file, int line, const cJSON *actual, char *expected_text,
                            const char *path, const cJSON *root)
{
    cJSON *expected = cJSON_Parse(expected_text);
    if (!expected) {
        print_error("test bug: expected value is not JSON: %s\n", expected_text);
        _fail(file, line);
    }
    cJSON *plain = NULL;
    if (actual != NULL && strstr(expected_text, "\"movement_id\"") == NULL) {
        plain = cJSON_Duplicate(actual, true);
        bool bad = false;
        if (!strip_movements(plain, &bad)) {
            cJSON_Delete(plain);
            plain = NULL;
        } else if (bad) {
            char *got = tu_json_text(actual);
            print_error("shipments are not accepted movements with ids: %s\n", got);
            free(got);
            _fail(file, line);
        } else {
            actual = plain;
        }
    }
    if (actual == NULL || !cJSON_Compare(actual, expected, true)) {
        char *got = tu_json_text(actual);
        if (path != NULL) {
            char *in = tu_json_text(root);
            print_error("JSON mismatch at '%s'\n  expected: %s\n  got:      %s\n  in: %.2000s\n",
                        path, expected_text, got, in);
            free(in);
        } else {
            print_error("JSON mismatch\n  expected: %s\n  got:      %s\n", expected_text, got);
        }
        free(got);
        _fail(file, line);
    }
    cJSON_Delete(plain);
    cJSON_Delete(expected);
    free(expected_text);
}

void tu_assert_json_at(const char *file, int line, const cJSON *actual, const char *expected_fmt,
                       ...)
{
    va_list ap;
    va_start(ap, expected_fmt);
    char *expected_text = tu_vformat(expected_fmt, ap);
    va_end(ap);
    compare_json_at(file, line, actual, expected_text, NULL, NULL);
}

void tu_assert_json_path_at(const char *file, int line, const cJSON *root, const char *path,
                            const char *expected_fmt, ...)
{
    va_list ap;
    va_start(ap, expected_fmt);
    char *expected_text = tu_vformat(expected_fmt, ap);
    va_end(ap);
    compare_json_at(file, line, it_json_at(root, path), expected_text, path, root);
}

/* ASSERT_JSON_AT for each member of the object members_fmt, formatted with ap. */
static void compare_members_v(const char *file, int line, const cJSON *root,
                              const char *members_fmt, va_list ap)
{
    char *members_text = tu_vformat(members_fmt, ap);
    cJSON *members = cJSON_Parse(members_text);
    if (!cJSON_IsObject(members)) {
        print_error("test bug: the members expected are not a JSON object: %s\n", members_text);
        _fail(file, line);
    }
    const cJSON *member;
    cJSON_ArrayForEach(member, members)
    {
        compare_json_at(file, line, it_json_at(root, member->string),
                        cJSON_PrintUnformatted(member), member->string, root);
    }
    cJSON_Delete(members);
    free(members_text);
}

void tu_assert_members_at(const char *file, int line, const cJSON *root, const char *members_fmt,
                          ...)
{
    va_list ap;
    va_start(ap, members_fmt);
    compare_members_v(file, line, root, members_fmt, ap);
    va_end(ap);
}

void tu_assert_answer_members_at(const char *file, int line, const char *method, const char *path,
                                 const char *body, const char *members_fmt, ...)
{
    it_response *response = it_request(method, path, body, NULL);
    tu_expect_status_at(file, line, response, 200);
    va_list ap;
    va_start(ap, members_fmt);
    compare_members_v(file, line, response->json, members_fmt, ap);
    va_end(ap);
    it_response_free(response);
}

void tu_assert_recent_timestamp_at(const char *file, int line, const char *text)
{
    regex_t pattern;
    /* RFC 3339 in UTC with 'Z', optional fraction. */
    if (regcomp(&pattern,
                "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:"
                "[0-5][0-9](\\.[0-9]{1,9})?Z$",
                REG_EXTENDED | REG_NOSUB) != 0) {
        fail_msg("test bug: regcomp failed");
    }
    bool matches = text != NULL && regexec(&pattern, text, 0, NULL, 0) == 0;
    regfree(&pattern);
    if (!matches) {
        print_error("'%s' is not an RFC 3339 UTC timestamp ending in Z\n", text ? text : "(null)");
        _fail(file, line);
    }
    struct tm broken = {0};
    if (strptime(text, "%Y-%m-%dT%H:%M:%S", &broken) == NULL) {
        print_error("cannot parse timestamp '%s'\n", text);
        _fail(file, line);
    }
    time_t stamp = timegm(&broken);
    time_t now = time(NULL);
    if (stamp < now - 3600 || stamp > now + 3600) {
        print_error("timestamp '%s' is more than an hour away from now\n", text);
        _fail(file, line);
    }
}

/* ---- JSON members ---- */

const cJSON *tu_member(const cJSON *object, const char *key)
{
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(object, key);
    if (!value) {
        char *text = tu_json_text(object);
        fail_msg("member \"%s\" missing in %s", key, text);
    }
    return value;
}

void tu_assert_timestamp(const cJSON *value)
{
    /* RFC 3339 UTC with microseconds, e.g. 2026-11-27T08:34:14.123456Z */
    static const char pattern[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
    assert_true(cJSON_IsString(value));
    const char *text = value->valuestring;
    assert_int_equal(strlen(text), strlen(pattern));
    for (size_t i = 0; pattern[i]; i++) {
        if (pattern[i] == 'd')
            assert_true(isdigit((unsigned char)text[i]));
        else
            assert_int_equal(text[i], pattern[i]);
    }
}

/* ---- entities ---- */

long long tu_new_org(const char *prefix, const char *capacity_json, char **name_out)
{
    char *name = it_unique_name(prefix);
    long long id = it_create_org(name, capacity_json);
    if (name_out != NULL) {
        *name_out = name;
    } else {
        free(name);
    }
    return id;
}

long long tu_new_storage(const char *prefix, const char *capacity_json)
{
    char *name = it_unique_name(prefix);
    long long id = it_create_storage(name, capacity_json);
    free(name);
    return id;
}

void tu_assert_pending(long long org_id, const char *pending)
{
    it_response *org = it_get("/v1/organizations/%lld", org_id);
    EXPECT_STATUS(org, 200);
    ASSERT_JSON(tu_member(org->json, "pending"), "%s", pending);
    it_response_free(org);
}

void tu_assert_stock(long long storage_id, const char *stock, const char *remaining)
{
    it_response *storage = it_get("/v1/storages/%lld", storage_id);
    EXPECT_STATUS(storage, 200);
    ASSERT_JSON(tu_member(storage->json, "stock"), "%s", stock);
    if (remaining != NULL)
        ASSERT_JSON(tu_member(storage->json, "remaining"), "%s", remaining);
    it_response_free(storage);
}

void tu_assert_audit_clean(void)
{
    char *report = it_run_audit();
    if (report[0] != '\0') {
        fail_msg("sql/audit.sql reports:\n%s", report);
    }
    free(report);
}

/* ---- transfers ---- */

const char *tu_shipments_json(const struct tu_ship *ships, size_t count)
{
    static char text[4096];
    size_t used = (size_t)snprintf(text, sizeof text, "[");
    for (size_t i = 0; i < count; i++)
        used += (size_t)snprintf(text + used, sizeof text - used,
                                 "%s{\"storage_id\":%lld,\"waste_type\":\"%s\",\"amount\":%lld,"
                                 "\"distance_m\":%lld}",
                                 i ? "," : "", ships[i].storage_id, ships[i].waste_type,
                                 ships[i].amount, ships[i].distance_m);
    assert_true(used + 2 < sizeof text);
    snprintf(text + used, sizeof text - used, "]");
    return text;
}

void tu_assert_transfer_at(const char *file, int line, const cJSON *transfer, long long org_id,
                           const char *trigger, const char *received, const struct tu_ship *ships,
                           size_t ship_count, const char *pending)
{
    assert_true(it_json_int(transfer, "id") > 0);
    tu_assert_json_at(file, line, tu_member(transfer, "organization_id"), "%lld", org_id);
    tu_assert_json_at(file, line, tu_member(transfer, "trigger"), "\"%s\"", trigger);
    tu_assert_json_at(file, line, tu_member(transfer, "received"), "%s", received);
    tu_assert_json_at(file, line, tu_member(transfer, "shipments"), "%s",
                      tu_shipments_json(ships, ship_count));
    tu_assert_json_at(file, line, tu_member(transfer, "pending"), "%s", pending);
    tu_assert_timestamp(tu_member(transfer, "created_at"));
}

void tu_pg_exec(PGconn *pg, const char *sql)
{
    PGresult *r = PQexec(pg, sql);
    ExecStatusType status = PQresultStatus(r);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        fail_msg("as %s: %s\n  failed: %s", PQuser(pg), sql, PQresultErrorMessage(r));
    }
    PQclear(r);
}

void tu_find_cluster_or_skip(it_cluster *cluster, const char *fallback_log)
{
    char why[600];
    if (!it_cluster_find(cluster, fallback_log, why, sizeof why)) {
        print_message("SKIPPED: cannot restart the cluster: %s\n", why);
        skip();
    }
}

long long tu_supplier_of(long long storage)
{
    long long org = tu_new_org("supplier", NULL, NULL);
    it_create_route(ORG(org), STORAGE(storage), 10, false);
    return org;
}

long long tu_ship_glass(long long org, long long storage, long long kg)
{
    it_response *response = it_post(tu_fmt("/v1/organizations/%lld/transfers", org),
                                    "{\"waste\":{\"glass\":%lld}}", kg);
    EXPECT_STATUS(response, 201);
    ASSERT_JSON_AT(response->json, "shipments",
                   "[{\"storage_id\":%lld,\"waste_type\":\"glass\",\"amount\":%lld,"
                   "\"distance_m\":10}]",
                   storage, kg);
    ASSERT_JSON_AT(response->json, "pending", "{}");
    long long id = it_json_int(response->json, "id");
    it_response_free(response);
    return id;
}

long long tu_post_created_at(const char *file, int line, const char *path, const char *body_fmt,
                             ...)
{
    va_list ap;
    va_start(ap, body_fmt);
    char *body = tu_vformat(body_fmt, ap);
    va_end(ap);
    it_response *response = it_post(path, "%s", body);
    free(body);
    tu_expect_status_at(file, line, response, 201);
    long long id = it_json_int(response->json, "id");
    it_response_free(response);
    return id;
}

tu_load tu_load_in_transit(long long glass, long long distance_m)
{
    tu_load load;
    char *name = it_unique_name("weighed");
    load.storage =
        POST_CREATED("/v1/storages",
                     "{\"name\":\"%s\",\"intake\":\"weighed\",\"capacity\":{\"glass\":100}}", name);
    free(name);
    load.org = tu_new_org("loader", NULL, NULL);
    it_create_route(ORG(load.org), STORAGE(load.storage), distance_m, false);
    it_response *r = it_post(tu_fmt("/v1/organizations/%lld/transfers", load.org),
                             "{\"waste\":{\"glass\":%lld}}", glass);
    EXPECT_STATUS(r, 201);
    const cJSON *shipment = cJSON_GetArrayItem(tu_member(r->json, "shipments"), 0);
    assert_non_null(shipment);
    ASSERT_JSON_AT(shipment, "status", "\"in_transit\"");
    load.movement = it_json_int(shipment, "movement_id");
    it_response_free(r);
    return load;
}

long long tu_hand_over_at(const char *file, int line, long long org, const char *waste_json)
{
    it_response *response =
        it_post(tu_fmt("/v1/organizations/%lld/transfers", org), "{\"waste\":%s}", waste_json);
    tu_expect_status_at(file, line, response, 201);
    long long id = it_json_int(response->json, "id");
    it_response_free(response);
    return id;
}

/* ---- the picture's graph ---- */

const char *const tu_picture_capacity[TU_PICTURE_SLOTS] = {
    [1] = "{\"glass\":300,\"plastic\":100}",
    [2] = "{\"plastic\":50,\"bio\":150}",
    [3] = "{\"plastic\":10,\"bio\":250}",
    [5] = "{\"glass\":220,\"bio\":25}",
    [6] = "{\"glass\":100,\"bio\":150}",
    [7] = "{\"plastic\":100,\"bio\":250}",
    [8] = "{\"glass\":35,\"plastic\":25,\"bio\":52}",
    [9] = "{\"plastic\":250,\"bio\":20}",
};

void tu_build_picture(tu_picture *picture)
{
    if (picture->built)
        return;
    picture->oo1 = it_create_org("ОО1", "{\"plastic\":10,\"glass\":50,\"bio\":50}");
    picture->oo2 = it_create_org("ОО2", "{\"plastic\":60,\"glass\":20,\"bio\":50}");
    static const int creation_order[] = {1, 2, 3, 5, 6, 7, 8, 9};
    for (size_t i = 0; i < sizeof creation_order / sizeof creation_order[0]; i++) {
        int number = creation_order[i];
        picture->mno[number] =
            it_create_storage(tu_fmt("МНО%d", number), tu_picture_capacity[number]);
    }
    const long long *s = picture->mno;
    it_create_route(ORG(picture->oo1), STORAGE(s[1]), 100, false);
    it_create_route(ORG(picture->oo1), STORAGE(s[2]), 50, false);
    it_create_route(ORG(picture->oo1), STORAGE(s[3]), 600, false);
    picture->route_oo2_mno3 = it_create_route(ORG(picture->oo2), STORAGE(s[3]), 50, false);
    it_create_route(STORAGE(s[1]), STORAGE(s[8]), 500, false);
    it_create_route(STORAGE(s[3]), STORAGE(s[6]), 600, false);
    it_create_route(STORAGE(s[8]), STORAGE(s[9]), 10, true);
    it_create_route(STORAGE(s[2]), STORAGE(s[5]), 50, true);
    it_create_route(STORAGE(s[3]), STORAGE(s[7]), 50, true);
    picture->built = true;
}

/* ---- runner fixtures ---- */

int tu_setup(void **state)
{
    (void)state;
    return it_start(NULL);
}

int tu_teardown(void **state)
{
    (void)state;
    return it_stop();
}

int tu_teardown_any_exit(void **state)
{
    (void)state;
    it_stop();
    return 0;
}

void tu_test_audit_finds_no_violation(void **state)
{
    (void)state;
    tu_assert_audit_clean();
}

static size_t on_body(char *data, size_t size, size_t count, void *context)
{
    tu_http_result *r = context;
    size_t bytes = size * count;
    char *grown = realloc(r->body, r->length + bytes + 1);
    if (grown == NULL) {
        return 0;
    }
    memcpy(grown + r->length, data, bytes);
    r->length += bytes;
    grown[r->length] = '\0';
    r->body = grown;
    return bytes;
}

static size_t on_header(char *data, size_t size, size_t count, void *context)
{
    tu_http_result *r = context;
    size_t bytes = size * count;
    if (bytes >= 12 && strncasecmp(data, "Retry-After:", 12) == 0) {
        r->retry_after = true;
    }
    if (bytes >= 13 && strncasecmp(data, "Content-Type:", 13) == 0) {
        const char *value = data + 13;
        while (*value == ' ') {
            value++;
        }
        r->problem_json = strncasecmp(value, "application/problem+json", 24) == 0;
    }
    static const char replayed[] = "Idempotent-Replayed:";
    if (bytes > sizeof replayed && strncasecmp(data, replayed, sizeof replayed - 1) == 0) {
        const char *value = data + sizeof replayed - 1;
        while (*value == ' ') {
            value++;
        }
        r->replayed = strncmp(value, "true", 4) == 0;
    }
    return bytes;
}

void tu_http_result_clear(tu_http_result *r)
{
    free(r->body);
    *r = (tu_http_result){0};
}

void tu_http_call(CURL *curl, const char *method, const char *url, const char *body,
                  const char *const *headers, const char *request_id, long timeout_s,
                  bool fresh_connection, tu_http_result *r)
{
    tu_http_result_clear(r);
    curl_easy_reset(curl);
    struct curl_slist *header_list = NULL;
    bool has_content_type = false;
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++) {
        has_content_type = has_content_type || strncasecmp(headers[i], "Content-Type:", 13) == 0;
        header_list = curl_slist_append(header_list, headers[i]);
    }
    char id_header[160];
    if (request_id != NULL) {
        snprintf(id_header, sizeof id_header, "X-Request-Id: %s", request_id);
        header_list = curl_slist_append(header_list, id_header);
    }
    header_list = curl_slist_append(header_list, "Expect:");
    if (body != NULL) {
        if (!has_content_type) {
            header_list = curl_slist_append(header_list, "Content-Type: application/json");
        }
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, r->error);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, timeout_s);
    if (fresh_connection) {
        curl_easy_setopt(curl, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, 1L);
    }
    r->started_ms = tu_now_ms();
    r->code = it_http_perform(curl, header_list);
    r->ended_ms = tu_now_ms();
    r->elapsed_ms = r->ended_ms - r->started_ms;
    if (r->code == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
    } else {
        r->status = 0;
        curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &r->os_errno);
        if (r->error[0] == '\0') {
            snprintf(r->error, sizeof r->error, "%s", curl_easy_strerror(r->code));
        }
    }
    if (r->body == NULL) {
        r->body = calloc(1, 1);
    }
}

/* ---- bookkeeping of load tests ---- */

const char *tu_bad_503(const tu_http_result *r)
{
    if (!r->retry_after) {
        return "503 without Retry-After";
    }
    if (!r->problem_json) {
        return "503 not application/problem+json";
    }
    cJSON *json = cJSON_Parse(r->body);
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(json, "status");
    bool ok = cJSON_IsNumber(status) && status->valuedouble == 503;
    cJSON_Delete(json);
    return ok ? NULL : "503 body is not a problem with status 503";
}

long long tu_transfer_id_of(const tu_http_result *r, long long org, long long glass)
{
    cJSON *json = cJSON_Parse(r->body);
    const cJSON *id_item = cJSON_GetObjectItemCaseSensitive(json, "id");
    const cJSON *org_item = cJSON_GetObjectItemCaseSensitive(json, "organization_id");
    const cJSON *received = cJSON_GetObjectItemCaseSensitive(json, "received");
    const cJSON *glass_item = cJSON_GetObjectItemCaseSensitive(received, "glass");
    long long id = 0;
    if (cJSON_IsNumber(id_item) && id_item->valuedouble >= 1 && cJSON_IsNumber(org_item) &&
        (long long)org_item->valuedouble == org && cJSON_IsNumber(glass_item) &&
        (long long)glass_item->valuedouble == glass) {
        id = (long long)id_item->valuedouble;
    }
    cJSON_Delete(json);
    return id;
}

void tu_load_request_pick(tu_load_request *request, prng *rng, bool mixed, const char *base,
                          long long org, const char *other_path)
{
    int pick = mixed ? (int)prng_below(rng, 4) : 0;
    request->method = "GET";
    request->body = NULL;
    request->amount = 0;
    if (pick <= 1) {
        request->method = "POST";
        request->amount = 1 + (long long)prng_below(rng, 3);
        snprintf(request->url, sizeof request->url, "%s/v1/organizations/%lld/transfers", base,
                 org);
        snprintf(request->body_text, sizeof request->body_text, "{\"waste\":{\"glass\":%lld}}",
                 request->amount);
        request->body = request->body_text;
    } else if (pick == 2) {
        snprintf(request->url, sizeof request->url, "%s/v1/organizations/%lld", base, org);
    } else {
        snprintf(request->url, sizeof request->url, "%s%s", base, other_path);
    }
}

void tu_acknowledged_add(tu_acknowledged *acknowledged, long long id, long long glass)
{
    if (acknowledged->count == acknowledged->capacity) {
        acknowledged->capacity = acknowledged->capacity ? acknowledged->capacity * 2 : 1024;
        acknowledged->ids =
            realloc(acknowledged->ids, acknowledged->capacity * sizeof *acknowledged->ids);
        if (acknowledged->ids == NULL) {
            abort();
        }
    }
    acknowledged->ids[acknowledged->count++] = id;
    acknowledged->glass += glass;
}

char *tu_acknowledged_sql_array(const tu_acknowledged *acknowledged)
{
    size_t size = acknowledged->count * 21 + 16;
    char *array = malloc(size);
    assert_non_null(array);
    size_t used = (size_t)snprintf(array, size, "{");
    for (size_t i = 0; i < acknowledged->count; i++) {
        used += (size_t)snprintf(array + used, size - used, "%s%lld", i ? "," : "",
                                 acknowledged->ids[i]);
    }
    snprintf(array + used, size - used, "}");
    return array;
}

void tu_acknowledged_clear(tu_acknowledged *acknowledged)
{
    free(acknowledged->ids);
    *acknowledged = (tu_acknowledged){0};
}

void tu_problem_add(tu_problems *problems, const char *fmt, ...)
{
    if (problems->count < TU_PROBLEMS_KEPT) {
        va_list args;
        va_start(args, fmt);
        vsnprintf(problems->kept[problems->count], sizeof problems->kept[0], fmt, args);
        va_end(args);
    }
    problems->count++;
}

void tu_problems_print(const tu_problems *problems, const char *label)
{
    for (int i = 0; i < problems->count && i < TU_PROBLEMS_KEPT; i++) {
        fprintf(stderr, "  %s: %s\n", label, problems->kept[i]);
    }
    if (problems->count > TU_PROBLEMS_KEPT) {
        fprintf(stderr, "  ... and %d more\n", problems->count - TU_PROBLEMS_KEPT);
    }
}

void tu_problems_check(const tu_problems *problems, const char *what, int cases)
{
    if (problems->count == 0) {
        if (cases >= 0) {
            print_message("%s: all %d cases passed\n", what, cases);
        }
        return;
    }
    tu_problems_print(problems, what);
    print_message("server log: %s\n", it_server_log_path());
    if (cases >= 0) {
        fail_msg("%s: %d of %d cases failed (listed above)", what, problems->count, cases);
    }
    fail_msg("%s: %d problems (listed above)", what, problems->count);
}

void tu_status_line(char *line, size_t size, long requests, const long statuses[600])
{
    size_t used = (size_t)snprintf(line, size, "%ld requests;", requests);
    for (int s = 0; s < 600; s++) {
        if (statuses[s] > 0 && used < size) {
            used += (size_t)snprintf(line + used, size - used, " %d:%ld", s, statuses[s]);
        }
    }
}

char *tu_raw_with_auth(const char *request, size_t *length)
{
    const char *line_end = memmem(request, *length, "\r\n", 2);
    size_t line = line_end != NULL ? (size_t)(line_end - request) : 0;
    bool protected_route = line_end != NULL && (memmem(request, line, " /v1/", 5) != NULL ||
                                                memmem(request, line, " /metrics", 9) != NULL);
    if (!protected_route) {
        char *copy = malloc(*length + 1);
        assert_non_null(copy);
        memcpy(copy, request, *length);
        copy[*length] = '\0';
        return copy;
    }
    char header[256];
    int header_length =
        snprintf(header, sizeof header, "\r\nAuthorization: Bearer %s", it_admin_key());
    char *out = malloc(*length + (size_t)header_length + 1);
    assert_non_null(out);
    memcpy(out, request, line);
    memcpy(out + line, header, (size_t)header_length);
    memcpy(out + line + header_length, request + line, *length - line);
    *length += (size_t)header_length;
    out[*length] = '\0';
    return out;
}

int tu_send_raw_with_auth(const char *request, size_t length)
{
    char *with_auth = tu_raw_with_auth(request, &length);
    int fd = tu_connect(NULL, 0);
    tu_send_all(fd, with_auth, length);
    free(with_auth);
    return fd;
}

long long tu_metric(const char *sample)
{
    it_response *response = it_get("/metrics");
    EXPECT_STATUS(response, 200);
    long long value = -1;
    size_t len = strlen(sample);
    for (const char *line = response->body; line != NULL && *line != '\0';) {
        if (strncmp(line, sample, len) == 0 && line[len] == ' ') {
            value = atoll(line + len + 1);
            break;
        }
        line = strchr(line, '\n');
        line = line != NULL ? line + 1 : NULL;
    }
    it_response_free(response);
    return value;
}

long long tu_metric_present(const char *sample)
{
    long long value = tu_metric(sample);
    if (value < 0) {
        fail_msg("/metrics has no %s", sample);
    }
    return value;
}

bool tu_log_mentions(const char *needle)
{
    FILE *log = fopen(it_server_log_path(), "r");
    if (log == NULL) {
        return false;
    }
    char line[8192];
    bool found = false;
    while (!found && fgets(line, sizeof line, log) != NULL) {
        found = strstr(line, needle) != NULL;
    }
    fclose(log);
    return found;
}

long tu_proc_status_kib(pid_t pid, const char *field)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    FILE *status = fopen(path, "r");
    assert_non_null(status);
    char line[256];
    size_t length = strlen(field);
    long kib = -1;
    while (fgets(line, sizeof line, status) != NULL) {
        if (strncmp(line, field, length) == 0 && line[length] == ':') {
            kib = atol(line + length + 1);
        }
    }
    fclose(status);
    assert_true(kib > 0);
    return kib;
}

long tu_vm_rss_kib(pid_t pid)
{
    return tu_proc_status_kib(pid, "VmRSS");
}

static int port_of(const char *url)
{
    const char *colon = strrchr(url, ':');
    assert_non_null(colon);
    return atoi(colon + 1);
}

int tu_server_port(void)
{
    return port_of(it_base_url());
}

static int try_connect_port(const char *local_ip, int receive_buffer, int port);

int tu_try_connect(const char *local_ip, int receive_buffer)
{
    return try_connect_port(local_ip, receive_buffer, tu_server_port());
}

int tu_connect_direct(int receive_buffer)
{
    int fd = try_connect_port(NULL, receive_buffer, port_of(it_direct_url()));
    if (fd < 0) {
        fail_msg("connect to the server: %s", strerror(errno));
    }
    return fd;
}

static int try_connect_port(const char *local_ip, int receive_buffer, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    if (receive_buffer > 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    }
    if (local_ip != NULL) {
        struct sockaddr_in local = {.sin_family = AF_INET, .sin_port = 0};
        assert_int_equal(inet_pton(AF_INET, local_ip, &local.sin_addr), 1);
        if (bind(fd, (struct sockaddr *)&local, sizeof local) != 0) {
            fail_msg("bind to %s: %s", local_ip, strerror(errno));
        }
    }
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
        int error = errno;
        close(fd);
        errno = error;
        return -1;
    }
    return fd;
}

int tu_connect_url(const char *base_url, int receive_buffer)
{
    const char *colon = strrchr(base_url, ':');
    assert_non_null(colon);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    if (receive_buffer > 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    }
    struct sockaddr_in address = {.sin_family = AF_INET,
                                  .sin_port = htons((uint16_t)atoi(colon + 1))};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
        fail_msg("connect to %s: %s", base_url, strerror(errno));
    }
    return fd;
}

int tu_connect(const char *local_ip, int receive_buffer)
{
    int fd = tu_try_connect(local_ip, receive_buffer);
    if (fd < 0) {
        fail_msg("connect to the server: %s", strerror(errno));
    }
    return fd;
}

void tu_send_all(int fd, const char *data, size_t len)
{
    for (size_t sent = 0; sent < len;) {
        ssize_t n = send(fd, data + sent, len - sent, MSG_NOSIGNAL);
        if (n <= 0) {
            fail_msg("send: %s", strerror(errno));
        }
        sent += (size_t)n;
    }
}

const char *tu_picture_path(const tu_picture *picture, long long org, const char *via)
{
    char text[512];
    int used = snprintf(text, sizeof text, "[{\"organization_id\":%lld}", org);
    for (const char *p = via; *p;) {
        char *end;
        long number = strtol(p, &end, 10);
        used += snprintf(text + used, sizeof text - (size_t)used, ",{\"storage_id\":%lld}",
                         picture->mno[number]);
        p = end;
    }
    snprintf(text + used, sizeof text - (size_t)used, "]");
    return tu_fmt("%s", text);
}
