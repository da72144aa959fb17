/* Entities created through the API for a test's fixtures (organizations, storages, routes),
 * and names unique within the test process. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "it_internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#define RESPONSE_FAIL(response, fmt, ...)                                                          \
    do {                                                                                           \
        it_note_failure(response);                                                                 \
        fail_msg("%s -> %d: " fmt "\n  body: %.2000s", it_request_line(response),                  \
                 (response)->status, __VA_ARGS__, (response)->body);                               \
    } while (0)

static unsigned name_counter;

static long long create_entity(const char *path, const char *body)
{
    it_response *response = it_request("POST", path, body, NULL);
    if (response->status != 201) {
        RESPONSE_FAIL(response, "expected 201 creating with %s", body);
    }
    long long id = it_json_int(response->json, "id");
    it_response_free(response);
    return id;
}

/* POSTs {"name": name, "capacity": capacity_json} (no capacity when NULL) to path. */
static long long create_named(const char *path, const char *name, const char *capacity_json)
{
    char *quoted = it_json_quote(name);
    char *body = capacity_json ? tu_format("{\"name\":%s,\"capacity\":%s}", quoted, capacity_json)
                               : tu_format("{\"name\":%s}", quoted);
    long long id = create_entity(path, body);
    free(body);
    free(quoted);
    return id;
}

long long it_create_org(const char *name, const char *capacity_json)
{
    return create_named("/v1/organizations", name, capacity_json);
}

long long it_create_storage(const char *name, const char *capacity_json)
{
    return create_named("/v1/storages", name, capacity_json);
}

long long it_create_route(const char *from_json, const char *to_json, long long distance_m,
                          bool two_way)
{
    char *body = tu_format("{\"from\":%s,\"to\":%s,\"distance_m\":%lld,\"two_way\":%s}", from_json,
                           to_json, distance_m, two_way ? "true" : "false");
    long long id = create_entity("/v1/routes", body);
    free(body);
    return id;
}

char *it_unique_name(const char *prefix)
{
    name_counter++;
    return tu_format("%s-%ld-%u", prefix, (long)getpid(), name_counter);
}
