/* The service's one vocabulary of errors: every refusal is an RFC 9457 problem of one of
 * these kinds, with a fixed status, type slug (https://wasteflow.dev/problems/<slug>) and
 * title, and a detail written for the client. Sent through http_problem (lib/http) or,
 * inside database work, tx_fail (lib/engine), never assembled by hand. */
#ifndef WF_HTTP_PROBLEM_H
#define WF_HTTP_PROBLEM_H

typedef enum {
    PROBLEM_BAD_REQUEST,            /* 400 the request itself is malformed */
    PROBLEM_MALFORMED_JSON,         /* 400 the body is not JSON */
    PROBLEM_UNAUTHORIZED,           /* 401 no or bad credentials */
    PROBLEM_FORBIDDEN,              /* 403 credentials without the right */
    PROBLEM_NOT_FOUND,              /* 404 */
    PROBLEM_METHOD_NOT_ALLOWED,     /* 405 */
    PROBLEM_CONFLICT,               /* 409 the data's rules forbid the change */
    PROBLEM_IDEMPOTENCY_IN_FLIGHT,  /* 409 the key's first request still runs */
    PROBLEM_PAYLOAD_TOO_LARGE,      /* 413 */
    PROBLEM_UNSUPPORTED_MEDIA_TYPE, /* 415 */
    PROBLEM_VALIDATION,             /* 422 a field is invalid (with errors[]) */
    PROBLEM_IDEMPOTENCY_REUSED,     /* 422 the key came with another request */
    PROBLEM_LOCKED,                 /* 423 (background work only) */
    PROBLEM_TOO_MANY_REQUESTS,      /* 429 the credential's rate limit */
    PROBLEM_INTERNAL,               /* 500 a bug of ours, logged */
    PROBLEM_UNAVAILABLE,            /* 503 the database or the service is not available now */
    PROBLEM__COUNT
} problem_kind;

typedef struct {
    int status;
    const char *slug;
    const char *title;
} problem_info;

/* The kind's status, slug and title. */
const problem_info *problem_of(problem_kind kind);

#endif
