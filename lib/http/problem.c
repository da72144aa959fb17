/* The problem table (see problem.h). The slugs are part of the API: clients match on them. */
#include "http/problem.h"

#include <assert.h>

static const problem_info problems[PROBLEM__COUNT] = {
    [PROBLEM_BAD_REQUEST] = {400, "bad-request", "Bad Request"},
    [PROBLEM_MALFORMED_JSON] = {400, "malformed-json", "Bad Request"},
    [PROBLEM_UNAUTHORIZED] = {401, "unauthorized", "Unauthorized"},
    [PROBLEM_FORBIDDEN] = {403, "forbidden", "Forbidden"},
    [PROBLEM_NOT_FOUND] = {404, "not-found", "Not Found"},
    [PROBLEM_METHOD_NOT_ALLOWED] = {405, "method-not-allowed", "Method Not Allowed"},
    [PROBLEM_CONFLICT] = {409, "conflict", "Conflict"},
    [PROBLEM_IDEMPOTENCY_IN_FLIGHT] = {409, "idempotency-key-in-flight", "Conflict"},
    [PROBLEM_PAYLOAD_TOO_LARGE] = {413, "payload-too-large", "Content Too Large"},
    [PROBLEM_UNSUPPORTED_MEDIA_TYPE] = {415, "unsupported-media-type", "Unsupported Media Type"},
    [PROBLEM_VALIDATION] = {422, "validation-error", "Unprocessable Content"},
    [PROBLEM_IDEMPOTENCY_REUSED] = {422, "idempotency-key-reused", "Unprocessable Content"},
    [PROBLEM_LOCKED] = {423, "locked", "Locked"},
    [PROBLEM_TOO_MANY_REQUESTS] = {429, "too-many-requests", "Too Many Requests"},
    [PROBLEM_INTERNAL] = {500, "internal-error", "Internal Server Error"},
    [PROBLEM_UNAVAILABLE] = {503, "service-unavailable", "Service Unavailable"},
};

const problem_info *problem_of(problem_kind kind)
{
    assert(kind >= 0 && kind < PROBLEM__COUNT);
    return &problems[kind];
}
