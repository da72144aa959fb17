/* Helpers shared by the integration test runners, on top of the harness (harness.h): text
 * formatting, the suite's one clock, an HTTP client for load threads and their bookkeeping,
 * the suite's assertions (EXPECT_* / ASSERT_*, reporting the caller's file and line), entity
 * shortcuts, expected transfers and the picture's graph (docs/design.md, "The picture, as data").
 * Every helper fails the running test (cmocka) on a problem unless it says otherwise. The
 * harness itself uses the text and clock helpers, so there is one copy of each. */
#ifndef WF_IT_TESTUTIL_H
#define WF_IT_TESTUTIL_H

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "harness.h"
#include "prng.h"

/* ---- text ---- */

/* vprintf into a new buffer; caller frees. */
char *tu_vformat(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
/* printf into a new buffer; caller frees. */
char *tu_format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* printf into one of 16 rotating static buffers of 4 KiB: for paths and small JSON fragments
 * used right away. Not thread-safe. */
const char *tu_fmt(const char *format, ...) __attribute__((format(printf, 1, 2)));
/* unit repeated `times` times; caller frees. */
char *tu_repeat(const char *unit, size_t times);
/* The value printed as compact JSON, "(missing)" for NULL; caller frees. */
char *tu_json_text(const cJSON *value);

/* Route endpoints as JSON (a rotating tu_fmt buffer). */
#define ORG(id)     tu_fmt("{\"organization_id\":%lld}", (long long)(id))
#define STORAGE(id) tu_fmt("{\"storage_id\":%lld}", (long long)(id))

/* ---- time (the suite's one clock; thread-safe) ---- */

/* Sleeps the whole time, even when a signal interrupts it. */
void tu_sleep_ms(long milliseconds);
/* Monotonic clock, in milliseconds. */
long long tu_now_ms(void);
/* Monotonic clock, in seconds. */
double tu_now_seconds(void);
/* True when the server runs under valgrind (WASTEFLOW_VALGRIND=1), which slows it ~5x. */
bool tu_under_valgrind(void);
/* A time limit on the server's behaviour: milliseconds, five times as long under valgrind. */
long long tu_scaled_ms(long long milliseconds);
/* How long to wait for something that must happen (the dispatcher placing waste, an event
 * arriving): 15 s, 60 s under valgrind. Not a time limit on the server, which may be slow on a
 * loaded machine: a wait that runs out means the condition never came. */
long long tu_patience_ms(void);

/* ---- HTTP from any thread ---- */

/* One HTTP request on a caller-owned curl handle: safe in load-generating threads, where
 * the harness's it_request (test thread only) is not. */
typedef struct {
    long status; /* 0: transport error */
    CURLcode code;
    long os_errno; /* of a transport error */
    char *body;    /* never NULL after a call */
    size_t length;
    bool retry_after;  /* a Retry-After header came */
    bool problem_json; /* Content-Type application/problem+json */
    bool replayed;     /* Idempotent-Replayed: true */
    char error[CURL_ERROR_SIZE];
    long long started_ms, ended_ms, elapsed_ms;
} tu_http_result;

/* body: NULL for none, else sent as application/json unless headers set a Content-Type.
 * headers: NULL or a NULL-terminated list of "Name: value" to send (e.g. an Idempotency-Key).
 * request_id: sent as X-Request-Id when not NULL. fresh_connection: a new connection,
 * closed afterwards (so "refused" means the listener was gone). Clears r first. */
void tu_http_call(CURL *curl, const char *method, const char *url, const char *body,
                  const char *const *headers, const char *request_id, long timeout_s,
                  bool fresh_connection, tu_http_result *r);
void tu_http_result_clear(tu_http_result *r);

/* A raw HTTP request (length bytes) with "Authorization: Bearer <it_admin_key()>" inserted
 * after its request line when that line names /v1/ or /metrics (the others need no
 * credentials); *length is updated. Caller frees. */
char *tu_raw_with_auth(const char *request, size_t *length);

/* ---- bookkeeping of load tests (any thread; the caller serialises access) ---- */

/* NULL when r is a 503 as the contract wants it under load: application/problem+json with
 * status 503, and a Retry-After header. Else why not. */
const char *tu_bad_503(const tu_http_result *r);
/* The id of the transfer that r's 201 body describes when it is org's and received exactly
 * glass kg of glass; 0 when the body is not that. */
long long tu_transfer_id_of(const tu_http_result *r, long long org, long long glass);

/* A load thread: its place among its siblings and its own generator (seed it apart). */
typedef struct {
    pthread_t thread;
    int index;
    prng rng;
} tu_load_worker;

/* One request of a load on one organization: a transfer of 1 to 3 kg of glass, or (when
 * mixed, half the time) a GET of the organization or of other_path. */
typedef struct {
    const char *method; /* "POST" or "GET" */
    const char *body;   /* the transfer's body; NULL for a GET */
    long long amount;   /* kg of glass sent; 0 for a GET */
    char url[256];
    char body_text[96];
} tu_load_request;
/* base: the server's URL; other_path: a path under it, e.g. "/v1/stats". */
void tu_load_request_pick(tu_load_request *request, prng *rng, bool mixed, const char *base,
                          long long org, const char *other_path);

/* Transfers acknowledged with 201, and the glass the clients were told they received. */
typedef struct {
    long long *ids;
    size_t count, capacity;
    long long glass;
} tu_acknowledged;
/* Aborts when out of memory (it runs in load threads, where cmocka cannot fail a test). */
void tu_acknowledged_add(tu_acknowledged *acknowledged, long long id, long long glass);
/* The ids as a PostgreSQL array literal, "{1,2,3}"; caller frees. */
char *tu_acknowledged_sql_array(const tu_acknowledged *acknowledged);
/* Frees the ids and empties it. */
void tu_acknowledged_clear(tu_acknowledged *acknowledged);

/* The suite's one collect-then-fail helper: what a load or a table of cases found wrong,
 * collected so that one run reports every finding, then failed at once. The first
 * TU_PROBLEMS_KEPT messages are kept, all are counted. */
enum { TU_PROBLEMS_KEPT = 40 };
typedef struct {
    char kept[TU_PROBLEMS_KEPT][400];
    int count;
} tu_problems;
void tu_problem_add(tu_problems *problems, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A check that lets the run go on: when condition is false, adds the printf-style message
 * to problems (a tu_problems *). */
#define TU_CHECK(problems, condition, ...)                                                         \
    do {                                                                                           \
        if (!(condition))                                                                          \
            tu_problem_add((problems), __VA_ARGS__);                                               \
    } while (0)
/* Prints the kept messages to stderr, one a line after "  <label>: ", and how many more
 * there were. */
void tu_problems_print(const tu_problems *problems, const char *label);
/* When there is a problem: prints them and the server log's path, then fails the running
 * test ("<what>: N of <cases> cases failed", or "<what>: N problems" when cases < 0).
 * Else, with cases >= 0, says that all passed. Test thread only. */
void tu_problems_check(const tu_problems *problems, const char *what, int cases);

/* ---- raw TCP to the server (test thread only) ---- */

/* The port of the server the harness started. */
int tu_server_port(void);
/* A TCP connection to the server from local_ip (NULL: any local address), with a receive
 * buffer of receive_buffer bytes when not 0 (so the kernel takes little of what is not
 * read); -1 (errno set) when the connect fails. */
int tu_try_connect(const char *local_ip, int receive_buffer);
/* tu_try_connect, failing the test when the connect fails. */
int tu_connect(const char *local_ip, int receive_buffer);
/* tu_connect to the server itself (it_direct_url), never through the contract proxy: for
 * tests of how the server paces a connection, which a proxy reading ahead would change. */
int tu_connect_direct(int receive_buffer);
/* A TCP connection to the instance at base_url ("http://127.0.0.1:<port>", any instance the
 * harness started), with a receive buffer of receive_buffer bytes when not 0; fails the test
 * when the connect fails. */
int tu_connect_url(const char *base_url, int receive_buffer);
/* Sends all len bytes, failing the test when the connection will not take them. */
void tu_send_all(int fd, const char *data, size_t len);

/* A new connection (tu_connect) on which the raw request has been sent with credentials
 * (tu_raw_with_auth); its descriptor, for reading the answer. */
int tu_send_raw_with_auth(const char *request, size_t length);

/* ---- what the server says of itself (test thread only) ---- */

/* The value of one sample of /metrics, asked as the admin: the whole sample name with its
 * labels, e.g. "wasteflow_http_connections_closed_total{reason=\"idle_at_cap\"}"; -1 when
 * there is no such sample. */
long long tu_metric(const char *sample);
/* tu_metric of a sample that must be there: fails the test when it is not. */
long long tu_metric_present(const char *sample);
/* True when a line of the server's log contains needle. */
bool tu_log_mentions(const char *needle);
/* A memory figure of a process's /proc/<pid>/status (field "VmRSS", "VmHWM", ...), in KiB;
 * fails the test when it cannot be read. */
long tu_proc_status_kib(pid_t pid, const char *field);
/* The resident memory of a process (VmRSS), in KiB. */
long tu_vm_rss_kib(pid_t pid);

/* "<requests> requests; 200:12 201:30 503:2" into line: the responses counted by status. */
void tu_status_line(char *line, size_t size, long requests, const long statuses[600]);

/* ---- assertions reporting the caller's file and line ----
 *
 * The suite's one assertion dialect. A failure about a response names its request
 * ("POST /v1/organizations -> 500") and shows the body; after a transport error or a 5xx
 * it also tells whether the server died and shows the end of its log (it_note_failure). */

/* Asserts the HTTP status. */
#define EXPECT_STATUS(response, expected)                                                          \
    tu_expect_status_at(__FILE__, __LINE__, (response), (expected))
void tu_expect_status_at(const char *file, int line, const it_response *response, int expected);

/* Asserts an application/problem+json response with that status: type, title and detail are
 * strings, status is that number and, when field is not NULL, errors[] names that field. */
#define EXPECT_PROBLEM(response, status, field)                                                    \
    tu_expect_problem_at(__FILE__, __LINE__, (response), (status), NULL, (field))
/* EXPECT_PROBLEM, and the type is "https://wasteflow.dev/problems/<slug>". */
#define EXPECT_PROBLEM_TYPE(response, status, slug, field)                                         \
    tu_expect_problem_at(__FILE__, __LINE__, (response), (status), (slug), (field))
/* slug NULL: the type is not checked. */
void tu_expect_problem_at(const char *file, int line, const it_response *response, int status,
                          const char *slug, const char *field);
/* The check of EXPECT_PROBLEM_TYPE on the parts of a response that a runner's own client
 * received (content_type NULL: none): NULL when it is that problem, else why not (caller
 * frees). */
char *tu_problem_mismatch(int actual_status, const char *content_type, const cJSON *json,
                          int status, const char *slug, const char *field);

/* One row of a table of refused inputs (a body, a query, ...) and the field the problem must
 * name (NULL: none), for validation tests that loop over EXPECT_REJECTED(_TYPE). */
typedef struct {
    const char *input;
    const char *field;
} tu_refusal;

/* Sends a request that must be rejected with status (EXPECT_PROBLEM naming field) and, unless
 * it is a GET, must leave the database exactly as it was (it_db_fingerprint). */
#define EXPECT_REJECTED(method, path, body, status, field)                                         \
    tu_expect_rejected_at(__FILE__, __LINE__, (method), (path), (body), (status), (field))
void tu_expect_rejected_at(const char *file, int line, const char *method, const char *path,
                           const char *body, int status, const char *field);

/* Sends a request that must be rejected with EXPECT_PROBLEM_TYPE(status, slug, field) and must
 * leave the database exactly as it was -- a GET too, unlike EXPECT_REJECTED. */
#define EXPECT_REJECTED_TYPE(method, path, body, status, slug, field)                              \
    tu_expect_rejected_type_at(__FILE__, __LINE__, (method), (path), (body), NULL, (status),       \
                               (slug), (field))
/* EXPECT_REJECTED_TYPE with request headers: NULL or a NULL-terminated list of "Name: value". */
#define EXPECT_REJECTED_WITH_HEADERS(method, path, body, headers, status, slug, field)             \
    tu_expect_rejected_type_at(__FILE__, __LINE__, (method), (path), (body), (headers), (status),  \
                               (slug), (field))
void tu_expect_rejected_type_at(const char *file, int line, const char *method, const char *path,
                                const char *body, const char *const *headers, int status,
                                const char *slug, const char *field);

/* Asserts that the database is as it was when before was taken (it_db_fingerprint()), and
 * frees before: what was refused, or only read, changed nothing. */
#define ASSERT_UNCHANGED(before) tu_assert_unchanged_at(__FILE__, __LINE__, (before))
void tu_assert_unchanged_at(const char *file, int line, char *before);

/* The value of the response's header name; fails the test when the response has none. */
#define EXPECT_HEADER(response, name) tu_expect_header_at(__FILE__, __LINE__, (response), (name))
const char *tu_expect_header_at(const char *file, int line, const it_response *response,
                                const char *name);

/* Asserts that a created object's body has a positive id and that the Location header is
 * <collection>/<id> (collection as "/v1/routes"); returns the id. */
#define EXPECT_LOCATION(response, collection)                                                      \
    tu_expect_location_at(__FILE__, __LINE__, (response), (collection))
long long tu_expect_location_at(const char *file, int line, const it_response *response,
                                const char *collection);

/* Asserts the 201 of a POST to collection that created an object named name: its Location
 * (EXPECT_LOCATION), its name and a recent created_at. Returns the object's path (caller
 * frees). */
#define EXPECT_CREATED(response, collection, name)                                                 \
    tu_expect_created_at(__FILE__, __LINE__, (response), (collection), (name))
char *tu_expect_created_at(const char *file, int line, const it_response *response,
                           const char *collection, const char *name);

/* POSTs {"name": it_unique_name(prefix), members} to collection: EXPECT_CREATED, the object has
 * the members expected (ASSERT_MEMBERS), and a GET of it reads back the same. */
#define ASSERT_CREATES(collection, prefix, members, expected)                                      \
    tu_assert_creates_at(__FILE__, __LINE__, (collection), (prefix), (members), (expected))
void tu_assert_creates_at(const char *file, int line, const char *collection, const char *prefix,
                          const char *members, const char *expected);

/* DELETEs path and asserts a 204 with no body; then the object is gone: a GET, a DELETE and a
 * PATCH of path are 404 not-found and change nothing. */
#define EXPECT_DELETED(path) tu_expect_deleted_at(__FILE__, __LINE__, (path))
void tu_expect_deleted_at(const char *file, int line, const char *path);

/* GETs a list's path and asserts a 200 page of exactly item_count items, with a next_cursor
 * string when more is true (another page follows) and null when not. */
#define ASSERT_PAGE(path, item_count, more)                                                        \
    tu_assert_page_at(__FILE__, __LINE__, (path), (item_count), (more))
void tu_assert_page_at(const char *file, int line, const char *path, int item_count, bool more);

/* Walks the list at list_path (no query) in pages of limit, following next_cursor until it is
 * null: every page is a 200, every page but the last holds exactly limit items, and the items
 * are all's, in order, each once. Returns how many pages there were. */
int tu_walk_pages(const char *list_path, int limit, const cJSON *all);

/* GETs path (printf-formatted) and asserts the status: the server still answers, or a resource
 * is (still, no longer) there. */
#define EXPECT_GET_STATUS(status, ...)                                                             \
    tu_expect_get_status_at(__FILE__, __LINE__, (status), __VA_ARGS__)
void tu_expect_get_status_at(const char *file, int line, int status, const char *path_fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* GETs path and asserts a 200 whose value at the dotted json_path (see it_json_at; "": the
 * whole body) is the JSON text expected_fmt (printf-formatted), as ASSERT_JSON_AT. */
#define ASSERT_GET_AT(path, json_path, ...)                                                        \
    tu_assert_get_at(__FILE__, __LINE__, (path), (json_path), __VA_ARGS__)
void tu_assert_get_at(const char *file, int line, const char *path, const char *json_path,
                      const char *expected_fmt, ...) __attribute__((format(printf, 5, 6)));

/* GETs path and asserts a 200 whose body equals expected (a created or changed object, as
 * its POST or PATCH answered it): what was written reads back the same. */
#define ASSERT_READS_BACK(path, expected)                                                          \
    tu_assert_reads_back_at(__FILE__, __LINE__, (path), (expected))
void tu_assert_reads_back_at(const char *file, int line, const char *path, const cJSON *expected);

/* Compares actual with the JSON text expected_fmt (printf-formatted), exactly (object key
 * order aside). */
#define ASSERT_JSON(actual, ...) tu_assert_json_at(__FILE__, __LINE__, (actual), __VA_ARGS__)
void tu_assert_json_at(const char *file, int line, const cJSON *actual, const char *expected_fmt,
                       ...) __attribute__((format(printf, 4, 5)));

/* ASSERT_JSON on the value at a dotted path of root (see it_json_at), which must be there. */
#define ASSERT_JSON_AT(root, path, ...)                                                            \
    tu_assert_json_path_at(__FILE__, __LINE__, (root), (path), __VA_ARGS__)
void tu_assert_json_path_at(const char *file, int line, const cJSON *root, const char *path,
                            const char *expected_fmt, ...) __attribute__((format(printf, 5, 6)));

/* ASSERT_JSON_AT for each member of the JSON object members_fmt (printf-formatted): its name is
 * the dotted path (see it_json_at) and its value the JSON expected there, e.g.
 * ASSERT_MEMBERS(r->json, "{\"intake\":\"weighed\",\"items.0.status\":\"accepted\"}"); what
 * it does not name is not looked at. */
#define ASSERT_MEMBERS(root, ...) tu_assert_members_at(__FILE__, __LINE__, (root), __VA_ARGS__)
void tu_assert_members_at(const char *file, int line, const cJSON *root, const char *members_fmt,
                          ...) __attribute__((format(printf, 4, 5)));

/* GETs path (ASSERT_GET_MEMBERS), or PATCHes it with body (ASSERT_PATCH_MEMBERS), and asserts a
 * 200 whose body has these members (ASSERT_MEMBERS). */
#define ASSERT_GET_MEMBERS(path, ...)                                                              \
    tu_assert_answer_members_at(__FILE__, __LINE__, "GET", (path), NULL, __VA_ARGS__)
#define ASSERT_PATCH_MEMBERS(path, body, ...)                                                      \
    tu_assert_answer_members_at(__FILE__, __LINE__, "PATCH", (path), (body), __VA_ARGS__)
void tu_assert_answer_members_at(const char *file, int line, const char *method, const char *path,
                                 const char *body, const char *members_fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Asserts an RFC 3339 UTC timestamp ending in 'Z' (any fraction of a second, or none) that is
 * within an hour of now. */
#define ASSERT_RECENT_TIMESTAMP(text) tu_assert_recent_timestamp_at(__FILE__, __LINE__, (text))
void tu_assert_recent_timestamp_at(const char *file, int line, const char *text);

/* ---- JSON members ---- */

/* The member; fails when it is missing. */
const cJSON *tu_member(const cJSON *object, const char *key);
/* (For a member as an integer use it_json_int(object, key): it fails when the member is
 * missing or not an integer.) */
/* Asserts an RFC 3339 UTC timestamp with microseconds, e.g. 2026-11-27T08:34:14.123456Z. */
void tu_assert_timestamp(const cJSON *value);

/* ---- entities ---- */

/* Creates an organization named it_unique_name(prefix); returns its id and, when name_out is
 * non-NULL, the name (caller frees). */
long long tu_new_org(const char *prefix, const char *capacity_json, char **name_out);
/* Creates a storage named it_unique_name(prefix); returns its id. */
long long tu_new_storage(const char *prefix, const char *capacity_json);
/* Asserts GET /v1/organizations/{id} answers 200 with exactly this pending object. */
void tu_assert_pending(long long org_id, const char *pending);
/* Asserts GET /v1/storages/{id} answers 200 with exactly this stock and, when remaining is
 * non-NULL, exactly this remaining. */
void tu_assert_stock(long long storage_id, const char *stock, const char *remaining);
/* Asserts sql/audit.sql finds no violated invariant (prints its report otherwise). */
void tu_assert_audit_clean(void);

/* ---- transfers ---- */

/* One expected shipment. */
struct tu_ship {
    long long storage_id;
    const char *waste_type;
    long long amount;
    long long distance_m;
};
/* The (ships, count) arguments for a list of expected shipments. */
#define SHIPMENTS(...)                                                                             \
    (const struct tu_ship[]){__VA_ARGS__},                                                         \
        sizeof((const struct tu_ship[]){__VA_ARGS__}) / sizeof(struct tu_ship)
#define NO_SHIPMENTS NULL, 0

/* The shipments as a JSON array text (a static buffer, overwritten by the next call). */
const char *tu_shipments_json(const struct tu_ship *ships, size_t count);

/* Checks a transfer object (201 body, list item) member by member. */
#define ASSERT_TRANSFER(transfer, org_id, trigger, received, ...)                                  \
    tu_assert_transfer_at(__FILE__, __LINE__, (transfer), (org_id), (trigger), (received),         \
                          __VA_ARGS__)
void tu_assert_transfer_at(const char *file, int line, const cJSON *transfer, long long org_id,
                           const char *trigger, const char *received, const struct tu_ship *ships,
                           size_t ship_count, const char *pending);

/* A new organization with a 10 m road to storage; its id. */
long long tu_supplier_of(long long storage);
/* org hands kg of glass over, all of it to storage (its one road, 10 m), none left pending;
 * the transfer's id. */
long long tu_ship_glass(long long org, long long storage, long long kg);

/* POSTs the body (printf-formatted) to path and asserts a 201; the new object's id. For an
 * object that sets the scene rather than being the thing tested. */
#define POST_CREATED(path, ...) tu_post_created_at(__FILE__, __LINE__, (path), __VA_ARGS__)
long long tu_post_created_at(const char *file, int line, const char *path, const char *body_fmt,
                             ...) __attribute__((format(printf, 4, 5)));

/* A load in transit: a new storage that weighs its loads (100 kg of glass), a new organization
 * distance_m from it, and one hand-over of glass kg of glass to it; its one movement. */
typedef struct {
    long long movement, org, storage;
} tu_load;
tu_load tu_load_in_transit(long long glass, long long distance_m);

/* POSTs {"waste": waste_json} as a transfer of organization org and asserts a 201; returns the
 * transfer's id. For a transfer that sets the scene rather than being the thing tested. */
#define HAND_OVER(org, waste_json) tu_hand_over_at(__FILE__, __LINE__, (org), (waste_json))
long long tu_hand_over_at(const char *file, int line, long long org, const char *waste_json);

/* ---- the picture's graph (docs/design.md, "The picture, as data") ---- */

enum { TU_PICTURE_SLOTS = 10 }; /* storages are numbered МНО1..МНО9 (no МНО4) */

/* Capacity of МНО<number>, NULL for the unused slots. */
extern const char *const tu_picture_capacity[TU_PICTURE_SLOTS];

typedef struct {
    bool built;
    long long oo1, oo2;              /* ОО1, ОО2 */
    long long mno[TU_PICTURE_SLOTS]; /* МНО<number> */
    long long route_oo2_mno3;        /* the road ОО2 -> МНО3 */
} tu_picture;

/* Creates the picture's organizations, storages and roads once (nothing when already built). */
void tu_build_picture(tu_picture *picture);
/* The path a view item names from organization org through the storages МНО<n> listed in via
 * ("1 8 9"), as JSON text (a rotating tu_fmt buffer). */
const char *tu_picture_path(const tu_picture *picture, long long org, const char *via);

/* ---- a session of the runner's own (another role's, say) ---- */

/* Runs sql on pg; fails the test, naming the session's user and the error, unless it
 * succeeds. */
void tu_pg_exec(PGconn *pg, const char *sql);

/* ---- the database cluster (test thread only) ---- */

/* it_cluster_find, or skips the running test, saying why, when the cluster behind
 * DATABASE_URL is not one this runner may stop and start. */
void tu_find_cluster_or_skip(it_cluster *cluster, const char *fallback_log);

/* ---- runner fixtures ---- */

/* Group setup: it_start(NULL). */
int tu_setup(void **state);
/* Defines a group setup called name that is tu_setup with the runner's own environment
 * ("NAME=value"s added to the server's), e.g.
 * TU_SETUP_WITH(cap_setup, "WASTEFLOW_MAX_CONNECTIONS=20", "WASTEFLOW_MAX_IDLE_PER_CLIENT=4") */
#define TU_SETUP_WITH(name, ...)                                                                   \
    static int name(void **state)                                                                  \
    {                                                                                              \
        (void)state;                                                                               \
        static const char *const environment[] = {__VA_ARGS__, NULL};                              \
        return it_start(environment);                                                              \
    }
/* Group teardown: it_stop(), failing the group unless the server exited cleanly. */
int tu_teardown(void **state);
/* Group teardown: it_stop(), whatever the server's exit status. */
int tu_teardown_any_exit(void **state);

/* The last test of a runner: whatever the tests before did, sql/audit.sql finds no violated
 * invariant. TU_AUDIT_TEST is its cmocka entry, named "test_audit_finds_no_violation". */
void tu_test_audit_finds_no_violation(void **state);
#define TU_AUDIT_TEST                                                                              \
    {                                                                                              \
        .name = "test_audit_finds_no_violation", .test_func = tu_test_audit_finds_no_violation     \
    }

#endif
