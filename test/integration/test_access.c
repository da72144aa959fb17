/* Access control over HTTP (docs/design.md, "Access control"): every route of
 * lib/api/routes_table.c against every kind of caller — the five roles, scoped principals
 * naming their own and another's organization or storage, and every way credentials can
 * be wrong — with the exact status the contract gives, a problem+json body and the
 * Bearer challenge on each refusal, and the database untouched by it. Then row scoping,
 * actors, idempotency keys per principal, /v1/me, /v1/api-keys, and revocation across
 * two instances. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "runner.h"
#include "testutil.h"

#define CHALLENGE       "Bearer realm=\"wasteflow\""
#define CHALLENGE_TOKEN "Bearer realm=\"wasteflow\", error=\"invalid_token\""
#define HEX64           "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* ---------------------------------------------------------------- principals */

/* The callers of the matrix. The first seven hold valid credentials. */
typedef enum {
    P_ADMIN,
    P_AUDITOR,
    P_MONITOR,
    P_ORG_OWN,       /* a key for organization A */
    P_ORG_OTHER,     /* a key for organization B, naming A's paths */
    P_STORAGE_OWN,   /* a key for storage S */
    P_STORAGE_OTHER, /* a key for storage T, naming S's paths */
    P_NONE,          /* no Authorization header */
    P_UNKNOWN_KEY,   /* wf_<id>_<64 hex> with an id no key has */
    P_FORGED_KEY,    /* the admin key's id with another secret */
    P_MALFORMED_KEY, /* wf_ and then not the key syntax */
    P_REVOKED_KEY,
    P_EXPIRED_KEY,
    P_COUNT,
    P_VALID = P_NONE /* principals [0, P_VALID) hold valid credentials */
} principal;

static const char *const principal_names[P_COUNT] = {
    "admin",         "auditor",       "monitor",        "organization own", "organization other",
    "storage own",   "storage other", "no credentials", "unknown key",      "forged key",
    "malformed key", "revoked key",   "expired key",
};

/* What the runner creates once: two organizations and two storages with a road each, a
 * transfer each, and a credential for every principal. */
static struct {
    bool built;
    long long org_a, org_b;         /* A ships to S, B to T */
    long long storage_s, storage_t; /* 10 m from A and from B */
    long long route_r;              /* A -> S */
    long long transfer_a, transfer_b;
    long long movement_a; /* transfer_a's shipment to S (automatic: accepted at once) */
    long long spare_key;  /* an auditor key the matrix reads and (refused) revokes */
    char *token[P_COUNT];
    long long key_id[P_COUNT]; /* 0 when the principal has no real key */
} world;

/* The id of a key from its token "wf_<id>_<secret>". */
static long long key_id_of(const char *token)
{
    assert_true(strncmp(token, "wf_", 3) == 0);
    return strtoll(token + 3, NULL, 10);
}

/* "Authorization: ..." for the principal (none: an empty header, so curl sends none). */
static const char *auth_header(principal who)
{
    return who == P_NONE ? "Authorization:" : it_bearer(world.token[who]);
}

/* A request as principal who; extra: NULL or one more header line. */
static it_response *as(principal who, const char *method, const char *path, const char *body,
                       const char *extra)
{
    const char *headers[] = {auth_header(who), extra, NULL};
    return it_request(method, path, body, headers);
}

static it_response *as_token(const char *token, const char *method, const char *path,
                             const char *body)
{
    const char *headers[] = {it_bearer(token), NULL};
    return it_request(method, path, body, headers);
}

/* Polls GET /v1/me with token every 50 ms until it answers want (at most limit_ms); returns
 * the milliseconds it took, or -1. */
static long long wait_for_me_status(const char *base_url, const char *token, int want,
                                    long long limit_ms)
{
    long long start = tu_now_ms();
    for (;;) {
        const char *headers[] = {it_bearer(token), NULL};
        it_response *me = it_request_to(base_url, "GET", "/v1/me", NULL, headers);
        int status = me->status;
        it_response_free(me);
        long long elapsed = tu_now_ms() - start;
        if (status == want) {
            return elapsed;
        }
        if (elapsed > limit_ms) {
            return -1;
        }
        tu_sleep_ms(50);
    }
}

/* A key from `wasteflow keys create`, once this instance accepts it. Keys are used through
 * this everywhere but in test_new_key_is_accepted_on_its_first_use, so that a fresh key
 * refused on its first use (which that test shows) fails that test only. */
static char *ready_key(const char *role, long long organization_id, long long storage_id)
{
    char *token = it_new_key(role, organization_id, storage_id);
    int accepted = strcmp(role, "monitor") == 0 ? 403 : 200; /* known, and /metrics only */
    assert_true(wait_for_me_status(it_base_url(), token, accepted, tu_scaled_ms(1000)) >= 0);
    return token;
}

static long long new_transfer(principal who, long long org, const char *waste)
{
    it_response *r = as(who, "POST", tu_fmt("/v1/organizations/%lld/transfers", org),
                        tu_fmt("{\"waste\":%s}", waste), NULL);
    EXPECT_STATUS(r, 201);
    long long id = it_json_int(r->json, "id");
    it_response_free(r);
    return id;
}

static void build_world(void)
{
    if (world.built) {
        return;
    }
    world.org_a = tu_new_org("org-a", NULL, NULL);
    world.org_b = tu_new_org("org-b", NULL, NULL);
    world.storage_s = tu_new_storage("storage-s", "{\"glass\":1000000,\"plastic\":1000000}");
    world.storage_t = tu_new_storage("storage-t", "{\"glass\":1000000,\"plastic\":1000000}");
    world.route_r = it_create_route(ORG(world.org_a), STORAGE(world.storage_s), 10, false);
    it_create_route(ORG(world.org_b), STORAGE(world.storage_t), 10, false);

    world.token[P_ADMIN] = strdup(it_admin_key());
    world.token[P_AUDITOR] = ready_key("auditor", 0, 0);
    world.token[P_MONITOR] = ready_key("monitor", 0, 0);
    world.token[P_ORG_OWN] = ready_key("organization", world.org_a, 0);
    world.token[P_ORG_OTHER] = ready_key("organization", world.org_b, 0);
    world.token[P_STORAGE_OWN] = ready_key("storage", 0, world.storage_s);
    world.token[P_STORAGE_OTHER] = ready_key("storage", 0, world.storage_t);
    for (principal p = 0; p < P_VALID; p++) {
        world.key_id[p] = key_id_of(world.token[p]);
    }
    world.token[P_NONE] = strdup("");
    world.token[P_UNKNOWN_KEY] = tu_format("wf_987654321_%s", HEX64);
    world.token[P_FORGED_KEY] = tu_format("wf_%lld_%s", world.key_id[P_ADMIN], HEX64);
    world.token[P_MALFORMED_KEY] = strdup("wf_12_not-a-secret");

    world.token[P_REVOKED_KEY] = ready_key("admin", 0, 0);
    world.key_id[P_REVOKED_KEY] = key_id_of(world.token[P_REVOKED_KEY]);
    it_response *revoked = it_delete("/v1/api-keys/%lld", world.key_id[P_REVOKED_KEY]);
    EXPECT_STATUS(revoked, 204);
    it_response_free(revoked);

    /* The API refuses an expiry in the past, so the key is made to expire in SQL. */
    world.token[P_EXPIRED_KEY] = ready_key("admin", 0, 0);
    world.key_id[P_EXPIRED_KEY] = key_id_of(world.token[P_EXPIRED_KEY]);
    it_sql_exec("UPDATE api_keys SET expires_at = now() - interval '1 minute' WHERE id = %lld",
                world.key_id[P_EXPIRED_KEY]);

    char *spare = it_new_key("auditor", 0, 0);
    world.spare_key = key_id_of(spare);
    free(spare);

    /* Both refused within a second on this instance (docs/design.md, "Access control"). */
    assert_true(wait_for_me_status(it_base_url(), world.token[P_REVOKED_KEY], 401, 1000) >= 0);
    assert_true(wait_for_me_status(it_base_url(), world.token[P_EXPIRED_KEY], 401, 1000) >= 0);

    world.transfer_a = new_transfer(P_ORG_OWN, world.org_a, "{\"glass\":100}");
    world.transfer_b = new_transfer(P_ORG_OTHER, world.org_b, "{\"glass\":100}");
    world.movement_a =
        it_sql_int("SELECT id FROM shipments WHERE transfer_id = %lld ORDER BY position LIMIT 1",
                   world.transfer_a);
    world.built = true;
}

/* ---------------------------------------------------------------- the matrix */

enum {
    OPEN_ANY = -1, /* an open route whose answer depends on files not in this branch: every
                      caller gets what the anonymous one gets, and never 401 or 403 */
};

/* One route of lib/api/routes_table.c with the status each valid principal gets (admin,
 * auditor, monitor, organization own, organization other, storage own, storage other).
 * Principals without valid credentials get 401 on every route but the open ones, which
 * answer `open` to everyone.
 *
 * Placeholders in path and body: {A} {B} organizations, {S} {T} storages, {R} the road
 * A -> S, {TA} A's transfer (shipped to S), {K} a spare key, {N} a number unique to the
 * case, {FS} a storage made for the case. A trailing '!' ({A!} {S!} {R!} {K!}) stands for
 * an entity made for the case when the expected status is a success (so a DELETE that is
 * let through removes a throwaway), and for the fixed entity when it is a refusal (so the
 * refusal is about the real one). */
typedef struct {
    const char *method;
    const char *path;
    const char *body;
    int open; /* 0: a protected route; else the status of this open route, or OPEN_ANY */
    int expect[P_VALID];
} matrix_row;

#define READERS(ok)                                                                                \
    {                                                                                              \
        ok, ok, 403, ok, ok, ok, ok                                                                \
    }
#define ADMIN_ONLY(ok)                                                                             \
    {                                                                                              \
        ok, 403, 403, 403, 403, 403, 403                                                           \
    }
#define OWN_ORG_READ(ok)                                                                           \
    {                                                                                              \
        ok, ok, 403, ok, 403, 403, 403                                                             \
    }
#define OPEN_ROUTE(path, status)                                                                   \
    {                                                                                              \
        "GET", path, NULL, status,                                                                 \
        {                                                                                          \
            0                                                                                      \
        }                                                                                          \
    }

static const matrix_row matrix[] = {
    OPEN_ROUTE("/healthz", 200),
    OPEN_ROUTE("/readyz", 200),
    OPEN_ROUTE("/openapi.json", 200),
    OPEN_ROUTE("/docs", 200),
    OPEN_ROUTE("/docs/swagger-ui.css", 200),
    OPEN_ROUTE("/console", OPEN_ANY),
    OPEN_ROUTE("/console/app.js", OPEN_ANY),
    {"GET", "/metrics", NULL, 0, {200, 200, 200, 403, 403, 403, 403}},
    /* docs/design.md, "Access control": monitor may call GET /metrics only. */
    {"GET", "/v1/me", NULL, 0, {200, 200, 403, 200, 200, 200, 200}},
    {"GET", "/v1/api-keys", NULL, 0, ADMIN_ONLY(200)},
    {"POST", "/v1/api-keys", "{\"role\":\"auditor\",\"name\":\"matrix {N}\"}", 0, ADMIN_ONLY(201)},
    {"GET", "/v1/api-keys/{K}", NULL, 0, ADMIN_ONLY(200)},
    {"DELETE", "/v1/api-keys/{K!}", NULL, 0, ADMIN_ONLY(204)},
    {"GET", "/v1/waste-types", NULL, 0, READERS(200)},
    {"POST", "/v1/waste-types", "{\"code\":\"mx{N}\",\"name\":\"Matrix {N}\"}", 0, ADMIN_ONLY(201)},
    {"GET", "/v1/waste-types/glass", NULL, 0, READERS(200)},
    {"GET", "/v1/organizations", NULL, 0, {200, 200, 403, 200, 200, 403, 403}},
    {"POST", "/v1/organizations", "{\"name\":\"matrix org {N}\"}", 0, ADMIN_ONLY(201)},
    {"GET", "/v1/organizations/{A}", NULL, 0, OWN_ORG_READ(200)},
    {"PATCH", "/v1/organizations/{A}", "{\"capacity\":{}}", 0, ADMIN_ONLY(200)},
    {"DELETE", "/v1/organizations/{A!}", NULL, 0, ADMIN_ONLY(204)},
    {"GET", "/v1/organizations/{A}/storages", NULL, 0, OWN_ORG_READ(200)},
    {"POST",
     "/v1/organizations/{A}/transfers",
     "{\"waste\":{\"glass\":1}}",
     0,
     {201, 403, 403, 201, 403, 403, 403}},
    {"POST",
     "/v1/organizations/{A}/transfers?dry_run=true",
     "{\"waste\":{\"glass\":1}}",
     0,
     {200, 403, 403, 200, 403, 403, 403}},
    {"GET", "/v1/storages", NULL, 0, READERS(200)},
    {"POST", "/v1/storages", "{\"name\":\"matrix storage {N}\",\"capacity\":{\"glass\":1}}", 0,
     ADMIN_ONLY(201)},
    {"GET", "/v1/storages/{S}", NULL, 0, READERS(200)},
    {"PATCH", "/v1/storages/{S}", "{\"capacity\":{\"glass\":1000000}}", 0, ADMIN_ONLY(200)},
    {"DELETE", "/v1/storages/{S!}", NULL, 0, ADMIN_ONLY(204)},
    {"POST", "/v1/storages/{S}/unload", "{\"glass\":1}", 0, {200, 403, 403, 403, 403, 200, 403}},
    {"GET", "/v1/routes", NULL, 0, READERS(200)},
    {"POST", "/v1/routes",
     "{\"from\":{\"organization_id\":{A}},\"to\":{\"storage_id\":{FS}},\"distance_m\":5}", 0,
     ADMIN_ONLY(201)},
    {"GET", "/v1/routes/{R}", NULL, 0, READERS(200)},
    {"PATCH", "/v1/routes/{R}", "{\"distance_m\":10}", 0, ADMIN_ONLY(200)},
    {"DELETE", "/v1/routes/{R!}", NULL, 0, ADMIN_ONLY(204)},
    {"GET", "/v1/transfers", NULL, 0, READERS(200)},
    {"GET", "/v1/transfers/{TA}", NULL, 0, {200, 200, 403, 200, 404, 200, 404}},
    {"GET", "/v1/stats", NULL, 0, {200, 200, 403, 403, 403, 403, 403}},
    /* Movements, scoped as transfers. {MA} went to an automatic storage: accepted when it was
     * handed over, so those let through to change it get 409 (not in transit). */
    {"GET", "/v1/movements", NULL, 0, READERS(200)},
    {"GET", "/v1/movements/{MA}", NULL, 0, {200, 200, 403, 200, 404, 200, 404}},
    {"PATCH", "/v1/movements/{MA}", "{\"carrier\":\"x\"}", 0, {409, 403, 403, 409, 404, 403, 403}},
    {"POST",
     "/v1/movements/{MA}/receipt",
     "{\"received_kg\":1}",
     0,
     {409, 403, 403, 403, 403, 409, 403}},
    {"POST",
     "/v1/plans",
     "{\"hand_overs\":[{\"organization_id\":{A},\"waste\":{\"glass\":1}}]}",
     0,
     {200, 200, 403, 403, 403, 403, 403}},
    /* Whoever may read the storage may read its history and forecast (docs/history.md). */
    {"GET", "/v1/storages/{S}/history?waste_type=glass", NULL, 0, READERS(200)},
    {"GET", "/v1/storages/{S}/forecast?waste_type=glass", NULL, 0, READERS(200)},
    /* Rules and subscriptions: admins manage them, the auditor reads them as every GET. */
    {"GET", "/v1/alerts", NULL, 0, {200, 200, 403, 403, 403, 403, 403}},
    {"GET", "/v1/webhooks", NULL, 0, {200, 200, 403, 403, 403, 403, 403}},
    {"POST", "/v1/alerts", "{\"fill_ratio_above\":0.9}", 0, ADMIN_ONLY(201)},
};
enum { MATRIX_ROWS = sizeof matrix / sizeof matrix[0] };

static long long case_counter;

/* The entity a placeholder stands for in this case (see matrix_row). */
static long long placeholder(const char *name, bool success)
{
    if (strcmp(name, "A") == 0 || (strcmp(name, "A!") == 0 && !success)) {
        return world.org_a;
    }
    if (strcmp(name, "A!") == 0) {
        return tu_new_org("victim", NULL, NULL);
    }
    if (strcmp(name, "B") == 0) {
        return world.org_b;
    }
    if (strcmp(name, "S") == 0 || (strcmp(name, "S!") == 0 && !success)) {
        return world.storage_s;
    }
    if (strcmp(name, "S!") == 0 || strcmp(name, "FS") == 0) {
        return tu_new_storage("victim", "{\"glass\":1}");
    }
    if (strcmp(name, "T") == 0) {
        return world.storage_t;
    }
    if (strcmp(name, "R") == 0 || (strcmp(name, "R!") == 0 && !success)) {
        return world.route_r;
    }
    if (strcmp(name, "R!") == 0) {
        return it_create_route(ORG(world.org_a), STORAGE(tu_new_storage("victim", "{\"glass\":1}")),
                               7, false);
    }
    if (strcmp(name, "TA") == 0) {
        return world.transfer_a;
    }
    if (strcmp(name, "MA") == 0) {
        return world.movement_a;
    }
    if (strcmp(name, "K") == 0 || (strcmp(name, "K!") == 0 && !success)) {
        return world.spare_key;
    }
    if (strcmp(name, "K!") == 0) {
        char *token = it_new_key("auditor", 0, 0);
        long long id = key_id_of(token);
        free(token);
        return id;
    }
    if (strcmp(name, "N") == 0) {
        return case_counter;
    }
    fail_msg("matrix: unknown placeholder {%s}", name);
    return 0;
}

/* "{NAME}" or "{NAME!}": one to three capital letters, maybe a '!'. */
static bool is_placeholder(const char *start, const char *end)
{
    size_t letters = 0;
    while (start + letters < end && start[letters] >= 'A' && start[letters] <= 'Z') {
        letters++;
    }
    const char *rest = start + letters;
    return letters >= 1 && letters <= 3 && (rest == end || (rest[0] == '!' && rest + 1 == end));
}

/* The template with its placeholders replaced; caller frees. NULL stays NULL. */
static char *expand(const char *template, bool success)
{
    if (template == NULL) {
        return NULL;
    }
    char *out = strdup("");
    const char *c = template;
    while (*c != '\0') {
        const char *close = *c == '{' ? strchr(c, '}') : NULL;
        char name[8];
        if (close != NULL && is_placeholder(c + 1, close)) {
            memcpy(name, c + 1, (size_t)(close - c - 1));
            name[close - c - 1] = '\0';
            char *grown = tu_format("%s%lld", out, placeholder(name, success));
            free(out);
            out = grown;
            c = close + 1;
        } else {
            char *grown = tu_format("%s%c", out, *c);
            free(out);
            out = grown;
            c++;
        }
    }
    return out;
}

static long long idempotency_rows(void)
{
    return it_sql_int("SELECT count(*) FROM idempotency_keys");
}

/* The checks of one case, counted; a failed one is printed and counted as a failure, so
 * one run shows every cell of the matrix that is wrong. */
typedef struct {
    long cases;
    long assertions;
    long failures;
} tally;

static void check(tally *t, bool ok, const char *what, const char *method, const char *path,
                  principal who, const it_response *r)
{
    t->assertions++;
    if (!ok) {
        t->failures++;
        print_error("MATRIX %s %s as %s -> %d: %s\n  body: %.300s\n", method, path,
                    principal_names[who], r->status, what, r->body);
    }
}

static bool is_success(int status)
{
    return status >= 200 && status < 300;
}

static void run_case(tally *t, const matrix_row *row, principal who, int anonymous_status)
{
    int expected = row->open       ? (row->open == OPEN_ANY ? anonymous_status : row->open)
                   : who < P_VALID ? row->expect[who]
                                   : 401;
    case_counter++;
    t->cases++;
    bool success = is_success(expected);
    char *path = expand(row->path, success);
    char *body = expand(row->body, success);
    bool mutating = strcmp(row->method, "GET") != 0;
    bool refusal = expected == 401 || expected == 403 || (expected == 404 && !row->open);
    char *before = mutating && refusal ? it_db_fingerprint() : NULL;
    long long idempotency_before = before ? idempotency_rows() : 0;
    const char *idempotency = strcmp(row->method, "POST") == 0
                                  ? tu_fmt("Idempotency-Key: matrix-%lld", case_counter)
                                  : NULL;
    it_response *r = as(who, row->method, path, body, idempotency);

    check(t, r->status == expected, tu_fmt("expected %d", expected), row->method, path, who, r);
    if (row->open == OPEN_ANY) {
        check(t, r->status != 401 && r->status != 403, "an open route refused the caller",
              row->method, path, who, r);
    }
    if (refusal) {
        char *why = tu_problem_mismatch(r->status, it_header(r, "Content-Type"), r->json, expected,
                                        NULL, NULL);
        check(t, why == NULL, why ? why : "", row->method, path, who, r);
        free(why);
    }
    const char *challenge = it_header(r, "WWW-Authenticate");
    if (expected == 401) {
        const char *want = who == P_NONE ? CHALLENGE : CHALLENGE_TOKEN;
        check(t, challenge != NULL && strcmp(challenge, want) == 0,
              tu_fmt("WWW-Authenticate is '%s', expected '%s'", challenge ? challenge : "(none)",
                     want),
              row->method, path, who, r);
    }
    if (who != P_NONE && world.token[who][0] != '\0') {
        /* A refusal never echoes the credential. */
        check(t, strstr(r->body, world.token[who]) == NULL, "the body echoes the token",
              row->method, path, who, r);
    }
    if (before != NULL) {
        char *after = it_db_fingerprint();
        check(t, strcmp(before, after) == 0, "a refused request changed the database", row->method,
              path, who, r);
        check(t, idempotency_rows() == idempotency_before,
              "a refused request stored an Idempotency-Key", row->method, path, who, r);
        free(after);
    }
    free(before);
    it_response_free(r);
    free(path);
    free(body);
}

static void test_matrix_every_route_every_principal(void **state)
{
    (void)state;
    build_world();
    tally t = {0};
    for (size_t i = 0; i < MATRIX_ROWS; i++) {
        const matrix_row *row = &matrix[i];
        int anonymous_status = 0;
        if (row->open == OPEN_ANY) {
            it_response *anonymous = as(P_NONE, row->method, row->path, NULL, NULL);
            anonymous_status = anonymous->status;
            it_response_free(anonymous);
        }
        for (principal who = 0; who < P_COUNT; who++) {
            run_case(&t, row, who, anonymous_status);
        }
    }
    print_message("access matrix: %d principals x %d routes = %ld cases, %ld assertions, "
                  "%ld failed\n",
                  (int)P_COUNT, (int)MATRIX_ROWS, t.cases, t.assertions, t.failures);
    assert_int_equal(t.cases, (long)P_COUNT * MATRIX_ROWS);
    assert_int_equal(t.failures, 0);
}

/* ---------------------------------------------------------------- the document */

/* The OpenAPI path of a matrix row: placeholders become {id}, a waste type {code}, a file
 * {file}; the query goes. Caller frees. */
static char *documented_path(const char *path)
{
    char *out = strdup("");
    const char *segment = path;
    const char *previous = "";
    size_t previous_len = 0;
    while (*segment == '/') {
        const char *end = segment + 1 + strcspn(segment + 1, "/?");
        size_t len = (size_t)(end - segment - 1);
        const char *text = segment + 1;
        const char *as = NULL;
        if (text[0] == '{') {
            as = "{id}";
        } else if (previous_len == 11 && strncmp(previous, "waste-types", 11) == 0) {
            as = "{code}";
        } else if ((previous_len == 4 && strncmp(previous, "docs", 4) == 0) ||
                   (previous_len == 7 && strncmp(previous, "console", 7) == 0)) {
            as = "{file}";
        }
        char *grown = as ? tu_format("%s/%s", out, as) : tu_format("%s/%.*s", out, (int)len, text);
        free(out);
        out = grown;
        previous = text;
        previous_len = len;
        segment = end;
    }
    return out;
}

static const cJSON *resolve_ref(const cJSON *document, const cJSON *item)
{
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(item, "$ref");
    if (!cJSON_IsString(ref)) {
        return item;
    }
    /* "#/components/responses/Unauthorized" */
    assert_true(strncmp(ref->valuestring, "#/", 2) == 0);
    char *pointer = strdup(ref->valuestring + 2);
    const cJSON *at = document;
    for (char *part = strtok(pointer, "/"); part != NULL; part = strtok(NULL, "/")) {
        at = cJSON_GetObjectItemCaseSensitive(at, part);
        assert_non_null(at);
    }
    free(pointer);
    return at;
}

/* /openapi.json says what the matrix checks: the scheme, every route with its security
 * (none on the open ones), 401 and 403 problem+json on the protected ones, the Bearer
 * challenge on 401, and the actor of a transfer. */
static void test_openapi_documents_access(void **state)
{
    (void)state;
    it_response *r = as(P_NONE, "GET", "/openapi.json", NULL, NULL);
    EXPECT_STATUS(r, 200);
    const cJSON *doc = r->json;
    assert_non_null(doc);
    ASSERT_MEMBERS(doc, "{\"components.securitySchemes.bearer.type\":\"http\","
                        "\"components.securitySchemes.bearer.scheme\":\"bearer\"}");
    assert_true(cJSON_IsString(it_json_at(doc, "components.securitySchemes.bearer.description")));
    ASSERT_JSON_AT(doc, "security", "[{\"bearer\":[]}]");
    const cJSON *paths = it_json_at(doc, "paths");
    int documented = 0;
    for (size_t i = 0; i < MATRIX_ROWS; i++) {
        const matrix_row *row = &matrix[i];
        char *template = documented_path(row->path);
        char method[8];
        size_t m = 0;
        for (; row->method[m] != '\0' && m < sizeof method - 1; m++) {
            method[m] = (char)(row->method[m] - 'A' + 'a');
        }
        method[m] = '\0';
        const cJSON *operation = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(paths, template), method);
        if (operation == NULL) {
            fail_msg("/openapi.json has no %s %s", row->method, template);
        }
        const cJSON *security = cJSON_GetObjectItemCaseSensitive(operation, "security");
        char *security_text = tu_json_text(security);
        const cJSON *responses = cJSON_GetObjectItemCaseSensitive(operation, "responses");
        const cJSON *unauthorized = cJSON_GetObjectItemCaseSensitive(responses, "401");
        const cJSON *forbidden = cJSON_GetObjectItemCaseSensitive(responses, "403");
        if (row->open) {
            if (strcmp(security_text, "[]") != 0 || unauthorized != NULL || forbidden != NULL) {
                fail_msg("%s %s is open, but its security is %s", row->method, template,
                         security_text);
            }
        } else {
            if (strcmp(security_text, "[{\"bearer\":[]}]") != 0 || unauthorized == NULL ||
                forbidden == NULL) {
                fail_msg("%s %s: security %s, 401 %s, 403 %s", row->method, template, security_text,
                         unauthorized ? "documented" : "missing",
                         forbidden ? "documented" : "missing");
            }
            const cJSON *resolved = resolve_ref(doc, unauthorized);
            assert_non_null(it_json_at(resolved, "headers.WWW-Authenticate"));
            assert_non_null(it_json_at(resolved, "content.application/problem+json"));
            if (forbidden != NULL) {
                assert_non_null(
                    it_json_at(resolve_ref(doc, forbidden), "content.application/problem+json"));
            }
            const cJSON *description = cJSON_GetObjectItemCaseSensitive(operation, "description");
            assert_true(cJSON_IsString(description));
            assert_non_null(strstr(description->valuestring, "**Access:**"));
        }
        documented++;
        free(security_text);
        free(template);
    }
    assert_int_equal(documented, MATRIX_ROWS);
    /* The transfer names its actor. */
    const cJSON *required = it_json_at(doc, "components.schemas.Transfer.required");
    bool actor_required = false;
    const cJSON *name;
    cJSON_ArrayForEach(name, required)
    {
        actor_required = actor_required || strcmp(name->valuestring, "actor") == 0;
    }
    assert_true(actor_required);
    it_response_free(r);
}

/* ---------------------------------------------------------------- routing, bodies */

/* 404 and 405 come before credentials are looked at. */
static void test_routing_comes_before_authentication(void **state)
{
    (void)state;
    build_world();
    const principal callers[] = {P_NONE, P_MALFORMED_KEY, P_UNKNOWN_KEY, P_MONITOR};
    for (size_t i = 0; i < sizeof callers / sizeof callers[0]; i++) {
        principal who = callers[i];
        it_response *unknown = as(who, "GET", "/v1/no-such-thing", NULL, NULL);
        EXPECT_PROBLEM(unknown, 404, NULL);
        assert_null(it_header(unknown, "WWW-Authenticate"));
        it_response_free(unknown);

        it_response *not_an_id = as(who, "GET", "/v1/organizations/abc", NULL, NULL);
        EXPECT_PROBLEM(not_an_id, 404, NULL);
        it_response_free(not_an_id);

        char *before = it_db_fingerprint();
        it_response *wrong_method = as(who, "DELETE", "/v1/stats", NULL, NULL);
        EXPECT_PROBLEM(wrong_method, 405, NULL);
        assert_non_null(it_header(wrong_method, "Allow"));
        assert_string_equal(it_header(wrong_method, "Allow"), "GET");
        assert_null(it_header(wrong_method, "WWW-Authenticate"));
        it_response_free(wrong_method);

        it_response *put = as(who, "PUT", "/v1/organizations", "{}", NULL);
        EXPECT_PROBLEM(put, 405, NULL);
        it_response_free(put);
        ASSERT_UNCHANGED(before);
    }
}

/* A refused request is not parsed: a malformed body, a body that is not JSON, an invalid
 * Idempotency-Key still get 401 or 403, not 400, 415 or 422. */
static void test_refused_request_body_is_not_read(void **state)
{
    (void)state;
    build_world();
    static const struct {
        principal who;
        int status;
    } callers[] = {{P_NONE, 401},    {P_UNKNOWN_KEY, 401}, {P_MALFORMED_KEY, 401},
                   {P_AUDITOR, 403}, {P_ORG_OWN, 403},     {P_STORAGE_OWN, 403}};
    static const struct {
        const char *body;
        const char *header;
    } bodies[] = {
        {"{\"name\": ", NULL},
        {"{\"name\":\"x\",\"name\":\"y\"}", NULL},
        {"[1,2,3]", NULL},
        {"name=x", "Content-Type: application/x-www-form-urlencoded"},
        {"{\"name\":\"fine\"}", NULL}, /* with an Idempotency-Key too long to be one */
    };
    char *long_idempotency = tu_format("Idempotency-Key: %0201d", 7);
    for (size_t c = 0; c < sizeof callers / sizeof callers[0]; c++) {
        for (size_t b = 0; b < sizeof bodies / sizeof bodies[0]; b++) {
            const char *header = bodies[b].header;
            if (b == sizeof bodies / sizeof bodies[0] - 1) {
                header = long_idempotency;
            }
            const char *headers[] = {auth_header(callers[c].who), header, NULL};
            char *before = it_db_fingerprint();
            it_response *r = it_request("POST", "/v1/organizations", bodies[b].body, headers);
            if (r->status != callers[c].status) {
                print_error("as %s with body %s\n", principal_names[callers[c].who],
                            bodies[b].body);
            }
            EXPECT_PROBLEM(r, callers[c].status, NULL);
            ASSERT_UNCHANGED(before);
            it_response_free(r);
        }
    }
    free(long_idempotency);
    /* The organization may hand over waste, but not with another's path: 403 before its
     * malformed body. */
    it_response *other =
        as(P_ORG_OTHER, "POST", tu_fmt("/v1/organizations/%lld/transfers", world.org_a),
           "{\"waste\":", NULL);
    EXPECT_PROBLEM(other, 403, NULL);
    it_response_free(other);
}

/* An Authorization header of another scheme carries no bearer token: RFC 6750 section 3.1
 * says such a 401 SHOULD NOT carry an error code, and docs/design.md adds error="invalid_token"
 * only "when a token was sent". A Bearer header with a token that is not one is
 * invalid_token. */
static void test_challenge_without_a_bearer_token(void **state)
{
    (void)state;
    build_world();
    static const struct {
        const char *header;
        const char *challenge;
    } cases[] = {
        {"Authorization: Bearer not-a-token", CHALLENGE_TOKEN},
        {"Authorization: Bearer a b", CHALLENGE_TOKEN},
        {"Authorization: Basic YWRtaW46YWRtaW4=", CHALLENGE},
        {"Authorization: Digest username=\"admin\"", CHALLENGE},
    };
    int wrong = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *headers[] = {cases[i].header, NULL};
        it_response *r = it_request("GET", "/v1/me", NULL, headers);
        EXPECT_PROBLEM(r, 401, NULL);
        const char *challenge = it_header(r, "WWW-Authenticate");
        if (challenge == NULL || strcmp(challenge, cases[i].challenge) != 0) {
            print_error("%s: WWW-Authenticate is '%s', expected '%s'\n", cases[i].header,
                        challenge ? challenge : "(none)", cases[i].challenge);
            wrong++;
        }
        it_response_free(r);
    }
    assert_int_equal(wrong, 0);
}

/* ---------------------------------------------------------------- row scoping */

/* The ids at "items.N.id" of a list response, as "[1,2,3]". */
static char *item_ids(const it_response *r)
{
    char *out = strdup("[");
    const cJSON *item;
    const cJSON *items = it_json_at(r->json, "items");
    assert_true(cJSON_IsArray(items));
    cJSON_ArrayForEach(item, items)
    {
        char *grown = tu_format("%s%s%lld", out, out[1] ? "," : "", it_json_int(item, "id"));
        free(out);
        out = grown;
    }
    char *closed = tu_format("%s]", out);
    free(out);
    return closed;
}

static void test_organization_lists_only_itself(void **state)
{
    (void)state;
    build_world();
    it_response *all = as(P_ADMIN, "GET", "/v1/organizations?limit=1000", NULL, NULL);
    EXPECT_STATUS(all, 200);
    assert_true(cJSON_GetArraySize(it_json_at(all->json, "items")) >= 2);
    it_response_free(all);

    it_response *own = as(P_ORG_OWN, "GET", "/v1/organizations?limit=1000", NULL, NULL);
    EXPECT_STATUS(own, 200);
    char *ids = item_ids(own);
    assert_string_equal(ids, tu_fmt("[%lld]", world.org_a));
    ASSERT_JSON_AT(own->json, "next_cursor", "null");
    free(ids);
    it_response_free(own);

    it_response *other = as(P_ORG_OTHER, "GET", "/v1/organizations", NULL, NULL);
    EXPECT_STATUS(other, 200);
    ids = item_ids(other);
    assert_string_equal(ids, tu_fmt("[%lld]", world.org_b));
    free(ids);
    it_response_free(other);

    it_response *storage = as(P_STORAGE_OWN, "GET", "/v1/organizations", NULL, NULL);
    EXPECT_PROBLEM(storage, 403, NULL);
    it_response_free(storage);
}

/* Every transfer of a list response is the organization's (or shipped to the storage). */
static void expect_transfers_all(const it_response *r, long long organization, long long storage)
{
    const cJSON *item;
    cJSON_ArrayForEach(item, it_json_at(r->json, "items"))
    {
        if (organization != 0) {
            assert_int_equal(it_json_int(item, "organization_id"), organization);
        }
        if (storage != 0) {
            bool shipped = false;
            const cJSON *shipment;
            cJSON_ArrayForEach(shipment, tu_member(item, "shipments"))
            {
                shipped = shipped || it_json_int(shipment, "storage_id") == storage;
            }
            assert_true(shipped);
        }
    }
}

static bool list_has(const it_response *r, long long id)
{
    const cJSON *item;
    cJSON_ArrayForEach(item, it_json_at(r->json, "items"))
    {
        if (it_json_int(item, "id") == id) {
            return true;
        }
    }
    return false;
}

static void test_organization_lists_only_its_own_transfers(void **state)
{
    (void)state;
    build_world();
    it_response *own = as(P_ORG_OWN, "GET", "/v1/transfers?limit=1000", NULL, NULL);
    EXPECT_STATUS(own, 200);
    assert_true(list_has(own, world.transfer_a));
    assert_false(list_has(own, world.transfer_b));
    expect_transfers_all(own, world.org_a, 0);
    it_response_free(own);

    it_response *named =
        as(P_ORG_OWN, "GET", tu_fmt("/v1/transfers?organization_id=%lld", world.org_a), NULL, NULL);
    EXPECT_STATUS(named, 200);
    assert_true(list_has(named, world.transfer_a));
    expect_transfers_all(named, world.org_a, 0);
    it_response_free(named);

    it_response *another =
        as(P_ORG_OWN, "GET", tu_fmt("/v1/transfers?organization_id=%lld", world.org_b), NULL, NULL);
    EXPECT_PROBLEM(another, 403, NULL);
    it_response_free(another);

    /* Filtering by a storage stays within its own transfers: B's shipped to T, A's not. */
    it_response *by_storage =
        as(P_ORG_OWN, "GET", tu_fmt("/v1/transfers?storage_id=%lld", world.storage_t), NULL, NULL);
    EXPECT_STATUS(by_storage, 200);
    ASSERT_JSON_AT(by_storage->json, "items", "[]");
    it_response_free(by_storage);

    /* The admin sees both. */
    it_response *admin = as(P_ADMIN, "GET", "/v1/transfers?limit=1000", NULL, NULL);
    EXPECT_STATUS(admin, 200);
    assert_true(list_has(admin, world.transfer_a) && list_has(admin, world.transfer_b));
    it_response_free(admin);
}

static void test_storage_lists_only_transfers_shipped_to_it(void **state)
{
    (void)state;
    build_world();
    /* A transfer of A that ships nothing (no storage takes bio): not the storage's. */
    long long pending_only = new_transfer(P_ORG_OWN, world.org_a, "{\"bio\":5}");

    it_response *own = as(P_STORAGE_OWN, "GET", "/v1/transfers?limit=1000", NULL, NULL);
    EXPECT_STATUS(own, 200);
    assert_true(list_has(own, world.transfer_a));
    assert_false(list_has(own, world.transfer_b));
    assert_false(list_has(own, pending_only));
    expect_transfers_all(own, 0, world.storage_s);
    it_response_free(own);

    it_response *other = as(P_STORAGE_OTHER, "GET", "/v1/transfers?limit=1000", NULL, NULL);
    EXPECT_STATUS(other, 200);
    assert_true(list_has(other, world.transfer_b));
    assert_false(list_has(other, world.transfer_a));
    expect_transfers_all(other, 0, world.storage_t);
    it_response_free(other);

    it_response *another = as(P_STORAGE_OWN, "GET",
                              tu_fmt("/v1/transfers?storage_id=%lld", world.storage_t), NULL, NULL);
    EXPECT_PROBLEM(another, 403, NULL);
    it_response_free(another);

    it_response *by_org = as(P_STORAGE_OWN, "GET",
                             tu_fmt("/v1/transfers?organization_id=%lld", world.org_b), NULL, NULL);
    EXPECT_STATUS(by_org, 200);
    ASSERT_JSON_AT(by_org->json, "items", "[]");
    it_response_free(by_org);

    /* GET of one it may not see is 404, like one that does not exist. */
    const struct {
        principal who;
        long long transfer;
        int status;
    } gets[] = {
        {P_ORG_OWN, world.transfer_a, 200},
        {P_ORG_OWN, world.transfer_b, 404},
        {P_ORG_OWN, pending_only, 200},
        {P_ORG_OTHER, world.transfer_a, 404},
        {P_STORAGE_OWN, world.transfer_a, 200},
        {P_STORAGE_OWN, world.transfer_b, 404},
        {P_STORAGE_OWN, pending_only, 404},
        {P_STORAGE_OTHER, world.transfer_b, 200},
        {P_STORAGE_OTHER, world.transfer_a, 404},
        {P_AUDITOR, pending_only, 200},
        {P_ORG_OWN, 999999999, 404},
        {P_ADMIN, world.transfer_b, 200},
    };
    for (size_t i = 0; i < sizeof gets / sizeof gets[0]; i++) {
        it_response *r =
            as(gets[i].who, "GET", tu_fmt("/v1/transfers/%lld", gets[i].transfer), NULL, NULL);
        if (gets[i].status == 404) {
            EXPECT_PROBLEM(r, 404, NULL);
            it_response *missing = as(gets[i].who, "GET", "/v1/transfers/999999999", NULL, NULL);
            /* The same answer as for a transfer that does not exist. */
            assert_string_equal(it_json_str(r->json, "type"), it_json_str(missing->json, "type"));
            assert_string_equal(it_json_str(r->json, "detail"),
                                it_json_str(missing->json, "detail"));
            it_response_free(missing);
        } else {
            EXPECT_STATUS(r, gets[i].status);
            assert_int_equal(it_json_int(r->json, "id"), gets[i].transfer);
        }
        it_response_free(r);
    }
}

/* A transfer split between two storages, with some left pending: each storage's key sees its
 * own shipments and neither what the organization handed over nor what it kept, in GET
 * /v1/transfers/{id} and in the list; everyone else who may see it sees all of it. */
static void test_storage_sees_only_its_own_shipments(void **state)
{
    (void)state;
    build_world();
    long long org = tu_new_org("split-org", NULL, NULL);
    long long near = tu_new_storage("split-near", "{\"glass\":3}");
    long long far = tu_new_storage("split-far", "{\"glass\":5,\"plastic\":4}");
    it_create_route(ORG(org), STORAGE(near), 10, false);
    it_create_route(ORG(org), STORAGE(far), 30, false);
    char *org_key = ready_key("organization", org, 0);
    char *near_key = ready_key("storage", 0, near);
    char *far_key = ready_key("storage", 0, far);
    it_response *made = as_token(org_key, "POST", tu_fmt("/v1/organizations/%lld/transfers", org),
                                 "{\"waste\":{\"glass\":10,\"plastic\":1}}");
    EXPECT_STATUS(made, 201);
    long long id = it_json_int(made->json, "id");
    ASSERT_MEMBERS(made->json, "{\"received\":{\"glass\":10,\"plastic\":1},"
                               "\"pending\":{\"glass\":2}}");
    char actor[32];
    snprintf(actor, sizeof actor, "key:%lld", key_id_of(org_key));
    char *created_at = strdup(it_json_str(made->json, "created_at"));
    char *whole = tu_format(
        "{\"id\":%lld,\"organization_id\":%lld,\"trigger\":\"request\",\"actor\":\"%s\","
        "\"created_at\":\"%s\",\"received\":{\"glass\":10,\"plastic\":1},\"shipments\":["
        "{\"storage_id\":%lld,\"waste_type\":\"glass\",\"amount\":3,\"distance_m\":10},"
        "{\"storage_id\":%lld,\"waste_type\":\"glass\",\"amount\":5,\"distance_m\":30},"
        "{\"storage_id\":%lld,\"waste_type\":\"plastic\",\"amount\":1,\"distance_m\":30}],"
        "\"pending\":{\"glass\":2}}",
        id, org, actor, created_at, near, far, far);
    ASSERT_JSON(made->json, "%s", whole);
    it_response_free(made);

    const struct {
        const char *token;
        char *expected;
    } seen[] = {
        {near_key,
         tu_format("{\"id\":%lld,\"organization_id\":%lld,\"trigger\":\"request\",\"actor\":"
                   "\"%s\",\"created_at\":\"%s\",\"shipments\":[{\"storage_id\":%lld,"
                   "\"waste_type\":\"glass\",\"amount\":3,\"distance_m\":10}]}",
                   id, org, actor, created_at, near)},
        {far_key,
         tu_format("{\"id\":%lld,\"organization_id\":%lld,\"trigger\":\"request\",\"actor\":"
                   "\"%s\",\"created_at\":\"%s\",\"shipments\":[{\"storage_id\":%lld,"
                   "\"waste_type\":\"glass\",\"amount\":5,\"distance_m\":30},{\"storage_id\":"
                   "%lld,\"waste_type\":\"plastic\",\"amount\":1,\"distance_m\":30}]}",
                   id, org, actor, created_at, far, far)},
        {org_key, strdup(whole)},
        {world.token[P_ADMIN], strdup(whole)},
        {world.token[P_AUDITOR], strdup(whole)},
    };
    for (size_t i = 0; i < sizeof seen / sizeof seen[0]; i++) {
        it_response *one = as_token(seen[i].token, "GET", tu_fmt("/v1/transfers/%lld", id), NULL);
        EXPECT_STATUS(one, 200);
        ASSERT_JSON(one->json, "%s", seen[i].expected);
        it_response_free(one);
        /* The list shows it the same way (filtered by the organization to find it). */
        it_response *list =
            as_token(seen[i].token, "GET", tu_fmt("/v1/transfers?organization_id=%lld", org), NULL);
        EXPECT_STATUS(list, 200);
        const cJSON *items = it_json_at(list->json, "items");
        assert_int_equal(cJSON_GetArraySize(items), 1);
        ASSERT_JSON(cJSON_GetArrayItem(items, 0), "%s", seen[i].expected);
        it_response_free(list);
        free(seen[i].expected);
    }
    /* Nor does a filter by waste type tell a storage what it is not shown: the near storage
     * took only glass, so plastic (received, and shipped to the far one) finds nothing for
     * it; the far one, and the admin filtering by the near storage, find the transfer. */
    const struct {
        const char *token;
        const char *query;
        int count;
    } filters[] = {
        {near_key, "waste_type=plastic", 0},
        {near_key, "waste_type=glass", 1},
        {far_key, "waste_type=plastic", 1},
        {world.token[P_ADMIN], tu_fmt("storage_id=%lld&waste_type=plastic", near), 1},
    };
    for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++) {
        it_response *list =
            as_token(filters[i].token, "GET",
                     tu_fmt("/v1/transfers?organization_id=%lld&%s", org, filters[i].query), NULL);
        EXPECT_STATUS(list, 200);
        assert_int_equal(cJSON_GetArraySize(it_json_at(list->json, "items")), filters[i].count);
        it_response_free(list);
    }
    free(whole);
    free(created_at);
    free(org_key);
    free(near_key);
    free(far_key);
}

/* One JWT subject with two roles shares its actor, and so its Idempotency-Keys: its storage
 * token never gets the organization token's stored answer (the whole transfer) — it is
 * refused before any lookup — and reads the transfer as a storage. */
static void test_storage_never_replays_a_stored_transfer(void **state)
{
    (void)state;
    build_world();
    static const char secret[] = "an HS256 secret of at least 32 bytes, for this test";
    const char *env[] = {"WASTEFLOW_JWT_SECRET=an HS256 secret of at least 32 bytes, for this test",
                         "WASTEFLOW_JWT_ISSUER=https://idp.test",
                         "WASTEFLOW_JWT_AUDIENCE=wasteflow", NULL};
    it_stop_second_instance(); /* one a failed test left running */
    char *url = strdup(it_start_second_instance(env));
    long long exp = (long long)time(NULL) + 600;
    char *as_org = it_jwt_hs256(
        secret, tu_fmt("{\"sub\":\"two-roles\",\"iss\":\"https://idp.test\",\"aud\":\"wasteflow\","
                       "\"exp\":%lld,\"role\":\"organization\",\"organization_id\":%lld}",
                       exp, world.org_a));
    char *as_storage = it_jwt_hs256(
        secret, tu_fmt("{\"sub\":\"two-roles\",\"iss\":\"https://idp.test\",\"aud\":\"wasteflow\","
                       "\"exp\":%lld,\"role\":\"storage\",\"storage_id\":%lld}",
                       exp, world.storage_s));
    char *org_auth = strdup(it_bearer(as_org));
    char *storage_auth = strdup(it_bearer(as_storage));
    const char *idem = "Idempotency-Key: one-subject-two-roles";
    const char *org_headers[] = {org_auth, idem, NULL};
    const char *storage_headers[] = {storage_auth, idem, NULL};
    char *path = tu_format("/v1/organizations/%lld/transfers", world.org_a);
    const char *body = "{\"waste\":{\"glass\":6}}";

    it_response *made = it_request_to(url, "POST", path, body, org_headers);
    EXPECT_STATUS(made, 201);
    ASSERT_JSON_AT(made->json, "actor", "\"jwt:two-roles\"");
    long long id = it_json_int(made->json, "id");
    it_response *replayed = it_request_to(url, "POST", path, body, org_headers);
    EXPECT_STATUS(replayed, 201);
    assert_string_equal(it_header(replayed, "Idempotent-Replayed"), "true");

    it_response *refused = it_request_to(url, "POST", path, body, storage_headers);
    EXPECT_PROBLEM(refused, 403, NULL);
    assert_null(it_header(refused, "Idempotent-Replayed"));
    assert_null(cJSON_GetObjectItemCaseSensitive(refused->json, "shipments"));
    assert_null(strstr(refused->body, "\"pending\""));

    const char *storage_only[] = {storage_auth, NULL};
    it_response *read =
        it_request_to(url, "GET", tu_fmt("/v1/transfers/%lld", id), NULL, storage_only);
    EXPECT_STATUS(read, 200);
    /* The organization's answer's shipments to this storage, and nothing else. */
    cJSON *own = cJSON_CreateArray();
    const cJSON *shipment;
    cJSON_ArrayForEach(shipment, tu_member(made->json, "shipments"))
    {
        if (it_json_int(shipment, "storage_id") == world.storage_s) {
            cJSON_AddItemToArray(own, cJSON_Duplicate(shipment, true));
        }
    }
    assert_true(cJSON_GetArraySize(own) > 0);
    assert_true(cJSON_Compare(tu_member(read->json, "shipments"), own, true));
    cJSON_Delete(own);
    assert_null(cJSON_GetObjectItemCaseSensitive(read->json, "pending"));
    assert_null(cJSON_GetObjectItemCaseSensitive(read->json, "received"));

    it_response_free(made);
    it_response_free(replayed);
    it_response_free(refused);
    it_response_free(read);
    free(path);
    free(org_auth);
    free(storage_auth);
    free(as_org);
    free(as_storage);
    free(url);
    assert_int_equal(it_stop_second_instance(), 0);
}

/* Requirement 4: an organization's view shows every storage, its own roads or not. */
static void test_organization_view_lists_every_storage(void **state)
{
    (void)state;
    build_world();
    tu_new_storage("unreachable", "{\"bio\":10}");
    it_response *all = as(P_ADMIN, "GET", "/v1/storages?limit=1000", NULL, NULL);
    EXPECT_STATUS(all, 200);
    char *all_ids = item_ids(all);
    it_response_free(all);
    const principal viewers[] = {P_ORG_OWN, P_ADMIN, P_AUDITOR};
    for (size_t i = 0; i < sizeof viewers / sizeof viewers[0]; i++) {
        it_response *view =
            as(viewers[i], "GET", tu_fmt("/v1/organizations/%lld/storages?limit=1000", world.org_a),
               NULL, NULL);
        EXPECT_STATUS(view, 200);
        /* Reachable first by distance, then the rest by id: compare as sorted sets. */
        cJSON *items = cJSON_Duplicate(it_json_at(view->json, "items"), true);
        int n = cJSON_GetArraySize(items);
        long long *ids = calloc((size_t)n + 1, sizeof *ids);
        for (int k = 0; k < n; k++) {
            ids[k] = it_json_int(cJSON_GetArrayItem(items, k), "id");
        }
        for (int a = 0; a < n; a++) {
            for (int b = a + 1; b < n; b++) {
                if (ids[b] < ids[a]) {
                    long long swap = ids[a];
                    ids[a] = ids[b];
                    ids[b] = swap;
                }
            }
        }
        char *sorted = strdup("[");
        for (int k = 0; k < n; k++) {
            char *grown = tu_format("%s%s%lld", sorted, k ? "," : "", ids[k]);
            free(sorted);
            sorted = grown;
        }
        char *closed = tu_format("%s]", sorted);
        assert_string_equal(closed, all_ids);
        /* S is 10 m away; T, on B's road only, is unreachable from A but listed. */
        const cJSON *item;
        int seen = 0;
        cJSON_ArrayForEach(item, items)
        {
            long long id = it_json_int(item, "id");
            if (id == world.storage_s) {
                assert_int_equal(it_json_int(item, "distance_m"), 10);
                seen++;
            } else if (id == world.storage_t) {
                assert_true(cJSON_IsNull(tu_member(item, "distance_m")));
                seen++;
            }
        }
        assert_int_equal(seen, 2);
        free(closed);
        free(sorted);
        free(ids);
        cJSON_Delete(items);
        it_response_free(view);
    }
    free(all_ids);
}

/* ---------------------------------------------------------------- actors */

static const char *transfer_actor(long long id)
{
    static char actor[128];
    it_response *r = it_get("/v1/transfers/%lld", id);
    EXPECT_STATUS(r, 200);
    snprintf(actor, sizeof actor, "%s", it_json_str(r->json, "actor"));
    it_response_free(r);
    return actor;
}

static void test_actor_of_key_transfers_and_unloads(void **state)
{
    (void)state;
    build_world();
    assert_string_equal(transfer_actor(world.transfer_a),
                        tu_fmt("key:%lld", world.key_id[P_ORG_OWN]));
    assert_string_equal(transfer_actor(world.transfer_b),
                        tu_fmt("key:%lld", world.key_id[P_ORG_OTHER]));

    it_response *made = as(P_ADMIN, "POST", tu_fmt("/v1/organizations/%lld/transfers", world.org_a),
                           "{\"waste\":{\"glass\":2}}", NULL);
    EXPECT_STATUS(made, 201);
    ASSERT_MEMBERS(made->json, "{\"actor\":\"key:%lld\",\"trigger\":\"request\"}",
                   world.key_id[P_ADMIN]);
    it_response_free(made);

    it_response *unload =
        as(P_STORAGE_OWN, "POST", tu_fmt("/v1/storages/%lld/unload", world.storage_s),
           "{\"glass\":3}", NULL);
    EXPECT_STATUS(unload, 200);
    it_response_free(unload);
    assert_int_equal(it_sql_int("SELECT count(*) FROM unloads WHERE id = (SELECT max(id) FROM "
                                "unloads) AND storage_id = %lld AND amount = 3 AND actor = "
                                "'key:%lld'",
                                world.storage_s, world.key_id[P_STORAGE_OWN]),
                     1);
}

/* Automatic transfers are the dispatcher's, the seeded ones the seed's. */
static void test_actor_of_dispatcher_and_seed(void **state)
{
    (void)state;
    build_world();
    /* Waste that cannot be placed, then room: dispatched without a request. */
    long long org = tu_new_org("waits", NULL, NULL);
    long long pending = new_transfer(P_ADMIN, org, "{\"plastic\":4}");
    assert_string_equal(transfer_actor(pending), tu_fmt("key:%lld", world.key_id[P_ADMIN]));
    long long room = tu_new_storage("room", "{\"plastic\":10}");
    it_create_route(ORG(org), STORAGE(room), 3, false);
    long long deadline = tu_now_ms() + tu_scaled_ms(3000);
    long long auto_id = 0;
    while (auto_id == 0 && tu_now_ms() < deadline) {
        it_response *list = it_get("/v1/transfers?organization_id=%lld", org);
        EXPECT_STATUS(list, 200);
        const cJSON *item;
        cJSON_ArrayForEach(item, it_json_at(list->json, "items"))
        {
            if (strcmp(it_json_str(item, "trigger"), "auto") == 0) {
                auto_id = it_json_int(item, "id");
                assert_string_equal(it_json_str(item, "actor"), "dispatcher");
            }
        }
        it_response_free(list);
        if (auto_id == 0) {
            tu_sleep_ms(50);
        }
    }
    assert_true(auto_id > 0);
    assert_string_equal(transfer_actor(auto_id), "dispatcher");

    assert_int_equal(it_seed_case1(), 0);
    long long seeded =
        it_sql_int("SELECT count(*) FROM transfers t JOIN organizations o ON o.id = "
                   "t.organization_id WHERE o.name IN ('ОО1', 'ОО2') AND t.trigger = 'request'");
    assert_int_equal(seeded, 2);
    long long first = it_sql_int("SELECT min(t.id) FROM transfers t JOIN organizations o ON o.id = "
                                 "t.organization_id WHERE o.name = 'ОО1'");
    assert_string_equal(transfer_actor(first), "seed");
    /* Everything else the seed's organizations have is the dispatcher's placing. */
    assert_int_equal(it_sql_int("SELECT count(*) FROM transfers t JOIN organizations o ON o.id = "
                                "t.organization_id WHERE o.name IN ('ОО1', 'ОО2') AND NOT "
                                "((t.trigger = 'request' AND t.actor = 'seed') OR "
                                "(t.trigger = 'auto' AND t.actor = 'dispatcher'))"),
                     0);
}

/* ---------------------------------------------------------------- idempotency per caller */

static void test_idempotency_keys_are_per_principal(void **state)
{
    (void)state;
    build_world();
    char *second_token = ready_key("organization", world.org_a, 0);
    const char *path = tu_fmt("/v1/organizations/%lld/transfers", world.org_a);
    char *path_copy = strdup(path);
    const char *body = "{\"waste\":{\"glass\":4}}";
    const char *idem = "Idempotency-Key: shared-by-two-callers";
    const char *first_headers[] = {auth_header(P_ORG_OWN), idem, NULL};
    char *second_auth = strdup(it_bearer(second_token));
    const char *second_headers[] = {second_auth, idem, NULL};

    it_response *first = it_request("POST", path_copy, body, first_headers);
    EXPECT_STATUS(first, 201);
    assert_null(it_header(first, "Idempotent-Replayed"));
    it_response *second = it_request("POST", path_copy, body, second_headers);
    EXPECT_STATUS(second, 201);
    assert_null(it_header(second, "Idempotent-Replayed"));
    long long first_id = it_json_int(first->json, "id");
    long long second_id = it_json_int(second->json, "id");
    assert_true(first_id != second_id);
    ASSERT_JSON_AT(second->json, "actor", "\"key:%lld\"", key_id_of(second_token));

    /* Each replays its own. */
    it_response *first_again = it_request("POST", path_copy, body, first_headers);
    EXPECT_STATUS(first_again, 201);
    assert_non_null(it_header(first_again, "Idempotent-Replayed"));
    assert_string_equal(it_header(first_again, "Idempotent-Replayed"), "true");
    assert_true(cJSON_Compare(first_again->json, first->json, true));
    it_response *second_again = it_request("POST", path_copy, body, second_headers);
    EXPECT_STATUS(second_again, 201);
    assert_string_equal(it_header(second_again, "Idempotent-Replayed"), "true");
    assert_true(cJSON_Compare(second_again->json, second->json, true));

    /* A third caller (the admin) with the same key makes its own transfer. */
    const char *admin_headers[] = {auth_header(P_ADMIN), idem, NULL};
    it_response *third = it_request("POST", path_copy, body, admin_headers);
    EXPECT_STATUS(third, 201);
    assert_null(it_header(third, "Idempotent-Replayed"));
    assert_true(it_json_int(third->json, "id") != first_id);
    assert_true(it_json_int(third->json, "id") != second_id);

    assert_int_equal(it_sql_int("SELECT count(*) FROM transfers WHERE id IN (%lld, %lld, %lld)",
                                first_id, second_id, it_json_int(third->json, "id")),
                     3);
    it_response_free(first);
    it_response_free(second);
    it_response_free(first_again);
    it_response_free(second_again);
    it_response_free(third);
    free(second_auth);
    free(second_token);
    free(path_copy);
}

/* ---------------------------------------------------------------- /v1/me */

static void test_me_for_each_principal(void **state)
{
    (void)state;
    build_world();
    static const char *const role[P_VALID] = {
        [P_ADMIN] = "admin",           [P_AUDITOR] = "auditor",        [P_MONITOR] = "monitor",
        [P_ORG_OWN] = "organization",  [P_ORG_OTHER] = "organization", [P_STORAGE_OWN] = "storage",
        [P_STORAGE_OTHER] = "storage",
    };
    const long long organization[P_VALID] = {
        [P_ORG_OWN] = world.org_a, [P_ORG_OTHER] = world.org_b};
    const long long storage[P_VALID] = {
        [P_STORAGE_OWN] = world.storage_s, [P_STORAGE_OTHER] = world.storage_t};
    for (principal p = 0; p < P_VALID; p++) {
        it_response *me = as(p, "GET", "/v1/me", NULL, NULL);
        if (p == P_MONITOR) {
            EXPECT_PROBLEM(me, 403, NULL); /* GET /metrics only */
            it_response_free(me);
            continue;
        }
        EXPECT_STATUS(me, 200);
        char *organization_id =
            organization[p] ? tu_format("%lld", organization[p]) : strdup("null");
        char *storage_id = storage[p] ? tu_format("%lld", storage[p]) : strdup("null");
        ASSERT_JSON(me->json,
                    "{\"role\":\"%s\",\"organization_id\":%s,\"storage_id\":%s,\"key_id\":%lld,"
                    "\"actor\":\"key:%lld\"}",
                    role[p], organization_id, storage_id, world.key_id[p], world.key_id[p]);
        free(organization_id);
        free(storage_id);
        it_response_free(me);
    }
    for (principal p = P_VALID; p < P_COUNT; p++) {
        it_response *me = as(p, "GET", "/v1/me", NULL, NULL);
        EXPECT_PROBLEM(me, 401, NULL);
        it_response_free(me);
    }
}

/* ---------------------------------------------------------------- /v1/api-keys */

/* Asserts text holds no key secret or stored hash: no run of 64 hex digits. */
static void assert_no_secret(const char *text)
{
    size_t run = 0;
    for (const char *c = text; *c != '\0'; c++) {
        bool hex = (*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f') || (*c >= 'A' && *c <= 'F');
        run = hex ? run + 1 : 0;
        if (run >= 64) {
            fail_msg("a secret or hash in: %.400s", text);
        }
    }
    assert_null(strstr(text, "secret"));
    assert_null(strstr(text, "hash"));
}

static void test_api_keys_create_list_get_revoke(void **state)
{
    (void)state;
    build_world();
    const char *body = tu_fmt("{\"role\":\"organization\",\"organization_id\":%lld,\"name\":"
                              "\"scale 7\",\"expires_at\":\"2099-01-31T00:00:00Z\"}",
                              world.org_a);
    it_response *made = it_request("POST", "/v1/api-keys", body, NULL);
    EXPECT_STATUS(made, 201);
    long long id = it_json_int(made->json, "id");
    const char *token = it_json_str(made->json, "key");
    char *key = strdup(token);
    assert_int_equal(key_id_of(key), id);
    assert_int_equal(strlen(key), strlen(tu_fmt("wf_%lld_", id)) + 64);
    assert_string_equal(it_header(made, "Location"), tu_fmt("/v1/api-keys/%lld", id));
    /* The answer carries the secret: no cache may keep it. */
    const char *cache_control = EXPECT_HEADER(made, "Cache-Control");
    assert_string_equal(cache_control, "no-store");
    ASSERT_RECENT_TIMESTAMP(it_json_str(made->json, "created_at"));
    char *created_at = strdup(it_json_str(made->json, "created_at"));
    ASSERT_JSON(made->json,
                "{\"id\":%lld,\"key\":\"%s\",\"role\":\"organization\",\"organization_id\":%lld,"
                "\"storage_id\":null,\"name\":\"scale 7\",\"created_at\":\"%s\","
                "\"expires_at\":\"2099-01-31T00:00:00.000000Z\",\"revoked_at\":null}",
                id, key, world.org_a, created_at);
    it_response_free(made);
    /* The database holds the SHA-256 of the secret, never the secret. */
    assert_int_equal(it_sql_int("SELECT count(*) FROM api_keys WHERE id = %lld AND secret_hash = "
                                "sha256(decode('%s', 'hex'))",
                                id, strchr(key + 3, '_') + 1),
                     1);

    /* The key works on this instance, as its organization (at once: see
     * test_new_key_is_accepted_on_its_first_use). */
    assert_true(wait_for_me_status(it_base_url(), key, 200, tu_scaled_ms(1000)) >= 0);
    it_response *me = as_token(key, "GET", "/v1/me", NULL);
    EXPECT_STATUS(me, 200);
    ASSERT_JSON_AT(me->json, "organization_id", "%lld", world.org_a);
    it_response_free(me);

    const char *shown =
        tu_fmt("{\"id\":%lld,\"role\":\"organization\",\"organization_id\":%lld,\"storage_id\":"
               "null,\"name\":\"scale 7\",\"created_at\":\"%s\",\"expires_at\":"
               "\"2099-01-31T00:00:00.000000Z\",\"revoked_at\":null}",
               id, world.org_a, created_at);
    char *shown_copy = strdup(shown);
    it_response *got = it_get("/v1/api-keys/%lld", id);
    EXPECT_STATUS(got, 200);
    ASSERT_JSON(got->json, "%s", shown_copy);
    assert_no_secret(got->body);
    it_response_free(got);

    /* The list: every key, none with its secret or hash. */
    it_response *list = it_get("/v1/api-keys?limit=1000");
    EXPECT_STATUS(list, 200);
    assert_no_secret(list->body);
    long long listed = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, it_json_at(list->json, "items"))
    {
        assert_null(cJSON_GetObjectItemCaseSensitive(item, "key"));
        if (it_json_int(item, "id") == id) {
            listed++;
            cJSON *want = cJSON_Parse(shown_copy);
            assert_true(cJSON_Compare(item, want, true));
            cJSON_Delete(want);
        }
    }
    assert_int_equal(listed, 1);
    assert_int_equal(cJSON_GetArraySize(it_json_at(list->json, "items")),
                     it_sql_int("SELECT count(*) FROM api_keys"));
    it_response_free(list);

    /* Pages of one, by id. */
    ASSERT_PAGE("/v1/api-keys?limit=1", 1, true);

    it_response *missing = it_get("/v1/api-keys/999999999");
    EXPECT_PROBLEM(missing, 404, NULL);
    it_response_free(missing);

    /* Revoked: 204 with no body, then refused (at once on this instance: see
     * test_revoked_key_is_refused_at_once_on_the_same_instance). */
    it_response *revoked = it_delete("/v1/api-keys/%lld", id);
    EXPECT_STATUS(revoked, 204);
    assert_int_equal(revoked->body_len, 0);
    it_response_free(revoked);
    assert_true(wait_for_me_status(it_base_url(), key, 401, tu_scaled_ms(1000)) >= 0);
    it_response *refused = as_token(key, "GET", "/v1/me", NULL);
    EXPECT_PROBLEM(refused, 401, NULL);
    assert_string_equal(it_header(refused, "WWW-Authenticate"), CHALLENGE_TOKEN);
    it_response_free(refused);

    /* It stays listed, with the time it was revoked; revoking again changes nothing. */
    got = it_get("/v1/api-keys/%lld", id);
    EXPECT_STATUS(got, 200);
    char *revoked_at = strdup(it_json_str(got->json, "revoked_at"));
    ASSERT_RECENT_TIMESTAMP(revoked_at);
    it_response_free(got);
    it_response *again = it_delete("/v1/api-keys/%lld", id);
    EXPECT_STATUS(again, 204);
    it_response_free(again);
    got = it_get("/v1/api-keys/%lld", id);
    ASSERT_JSON_AT(got->json, "revoked_at", "\"%s\"", revoked_at);
    it_response_free(got);
    EXPECT_REJECTED_TYPE("DELETE", "/v1/api-keys/999999999", NULL, 404, NULL, NULL);

    free(revoked_at);
    free(shown_copy);
    free(created_at);
    free(key);
}

/* A key revoked over HTTP is refused by the instance that revoked it on the very next
 * request: several keys in a row, so a lucky cache refresh in between cannot hide it. */
static void test_revoked_key_is_refused_at_once_on_the_same_instance(void **state)
{
    (void)state;
    build_world();
    int accepted_after_revoke = 0;
    for (int i = 0; i < 5; i++) {
        char *key = ready_key("auditor", 0, 0);
        it_response *revoked = it_delete("/v1/api-keys/%lld", key_id_of(key));
        EXPECT_STATUS(revoked, 204);
        it_response_free(revoked);
        it_response *me = as_token(key, "GET", "/v1/me", NULL);
        accepted_after_revoke += me->status == 200;
        it_response_free(me);
        free(key);
    }
    if (accepted_after_revoke > 0) {
        fail_msg("%d of 5 keys were still accepted by the instance that had just revoked them",
                 accepted_after_revoke);
    }
}

static void test_api_keys_validation(void **state)
{
    (void)state;
    build_world();
    static const tu_refusal cases[] = {
        {"{\"role\":\"root\",\"name\":\"x\"}", "role"},
        {"{\"role\":\"Admin\",\"name\":\"x\"}", "role"},
        {"{\"role\":7,\"name\":\"x\"}", "role"},
        {"{\"name\":\"x\"}", "role"},
        {"{\"role\":\"auditor\"}", "name"},
        {"{\"role\":\"auditor\",\"name\":\"\"}", "name"},
        {"{\"role\":\"auditor\",\"name\":null}", "name"},
        {"{\"role\":\"organization\",\"name\":\"x\"}", "organization_id"},
        {"{\"role\":\"storage\",\"name\":\"x\"}", "storage_id"},
        {"{\"role\":\"admin\",\"storage_id\":%S,\"name\":\"x\"}", "storage_id"},
        {"{\"role\":\"admin\",\"organization_id\":%A,\"name\":\"x\"}", "organization_id"},
        {"{\"role\":\"organization\",\"organization_id\":%A,\"storage_id\":%S,\"name\":\"x\"}",
         "storage_id"},
        {"{\"role\":\"organization\",\"organization_id\":999999999,\"name\":\"x\"}",
         "organization_id"},
        {"{\"role\":\"storage\",\"storage_id\":999999999,\"name\":\"x\"}", "storage_id"},
        {"{\"role\":\"organization\",\"organization_id\":0,\"name\":\"x\"}", "organization_id"},
        {"{\"role\":\"organization\",\"organization_id\":1.5,\"name\":\"x\"}", "organization_id"},
        {"{\"role\":\"organization\",\"organization_id\":\"%A\",\"name\":\"x\"}",
         "organization_id"},
        {"{\"role\":\"auditor\",\"name\":\"x\",\"expires_at\":\"tomorrow\"}", "expires_at"},
        {"{\"role\":\"auditor\",\"name\":\"x\",\"expires_at\":\"2099-02-30T00:00:00Z\"}",
         "expires_at"},
        {"{\"role\":\"auditor\",\"name\":\"x\",\"expires_at\":20990101}", "expires_at"},
        {"{\"role\":\"auditor\",\"name\":\"x\",\"expires_at\":\"2020-01-01T00:00:00Z\"}",
         "expires_at"},
        {"{\"role\":\"auditor\",\"name\":\"x\",\"key\":\"wf_1_" HEX64 "\"}", "key"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* %A and %S: organization A's and storage S's ids. */
        char *body = strdup(cases[i].input);
        for (char *at; (at = strstr(body, "%A")) != NULL || (at = strstr(body, "%S")) != NULL;) {
            long long id = at[1] == 'A' ? world.org_a : world.storage_s;
            at[0] = '\0';
            char *next = tu_format("%s%lld%s", body, id, at + 2);
            free(body);
            body = next;
        }
        EXPECT_REJECTED_TYPE("POST", "/v1/api-keys", body, 422, NULL, cases[i].field);
        free(body);
    }
    /* A name-only create is fine; a storage key for a real storage too. */
    it_response *fine = it_post("/v1/api-keys", "{\"role\":\"monitor\",\"name\":\"prometheus\"}");
    EXPECT_STATUS(fine, 201);
    ASSERT_JSON_AT(fine->json, "expires_at", "null");
    it_response_free(fine);
    fine = it_post("/v1/api-keys",
                   "{\"role\":\"storage\",\"storage_id\":%lld,\"name\":\"terminal\","
                   "\"organization_id\":null}",
                   world.storage_s);
    EXPECT_STATUS(fine, 201);
    ASSERT_JSON_AT(fine->json, "storage_id", "%lld", world.storage_s);
    it_response_free(fine);
}

/* A replay of a key creation shows the key without its secret: no stored response holds
 * one. */
static void test_api_key_creation_replay_hides_the_secret(void **state)
{
    (void)state;
    build_world();
    const char *body = "{\"role\":\"auditor\",\"name\":\"replayed\"}";
    const char *headers[] = {"Idempotency-Key: key-creation-once", NULL};
    it_response *first = it_request("POST", "/v1/api-keys", body, headers);
    EXPECT_STATUS(first, 201);
    long long id = it_json_int(first->json, "id");
    char *key = strdup(it_json_str(first->json, "key"));
    char *location = strdup(it_header(first, "Location"));

    long long keys_before = it_sql_int("SELECT count(*) FROM api_keys");
    it_response *replay = it_request("POST", "/v1/api-keys", body, headers);
    EXPECT_STATUS(replay, 201);
    assert_string_equal(it_header(replay, "Idempotent-Replayed"), "true");
    assert_string_equal(it_header(replay, "Location"), location);
    assert_int_equal(it_json_int(replay->json, "id"), id);
    assert_null(cJSON_GetObjectItemCaseSensitive(replay->json, "key"));
    assert_no_secret(replay->body);
    /* Otherwise the same object. */
    cJSON *without_key = cJSON_Duplicate(first->json, true);
    cJSON_DeleteItemFromObjectCaseSensitive(without_key, "key");
    assert_true(cJSON_Compare(without_key, replay->json, true));
    cJSON_Delete(without_key);
    assert_int_equal(it_sql_int("SELECT count(*) FROM api_keys"), keys_before);
    assert_int_equal(
        it_sql_int("SELECT count(*) FROM idempotency_keys WHERE strpos(body, '%s') > 0",
                   strchr(key + 3, '_') + 1),
        0);

    /* The key itself still works: the replay changed nothing about it. */
    assert_true(wait_for_me_status(it_base_url(), key, 200, tu_scaled_ms(1000)) >= 0);
    it_response *me = as_token(key, "GET", "/v1/me", NULL);
    EXPECT_STATUS(me, 200);
    it_response_free(me);
    it_response_free(first);
    it_response_free(replay);
    free(location);
    free(key);
}

/* A key with an expiry works until then and is refused from then on, by the clock alone. */
static void test_key_expires_on_time(void **state)
{
    (void)state;
    build_world();
    time_t expiry = time(NULL) + 3;
    struct tm utc;
    gmtime_r(&expiry, &utc);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &utc);
    it_response *made =
        it_post("/v1/api-keys",
                "{\"role\":\"auditor\",\"name\":\"short-lived\",\"expires_at\":\"%s\"}", stamp);
    EXPECT_STATUS(made, 201);
    char *key = strdup(it_json_str(made->json, "key"));
    it_response_free(made);
    assert_true(wait_for_me_status(it_base_url(), key, 200, tu_scaled_ms(1000)) >= 0);
    while (time(NULL) < expiry - 1) {
        tu_sleep_ms(50);
    }
    it_response *before = as_token(key, "GET", "/v1/me", NULL);
    EXPECT_STATUS(before, 200);
    it_response_free(before);
    while (time(NULL) < expiry) {
        tu_sleep_ms(20);
    }
    /* Within a second of the expiry (the database keeps microseconds, the check seconds). */
    long long refused_ms = wait_for_me_status(it_base_url(), key, 401, 1000);
    assert_true(refused_ms >= 0);
    it_response *after = as_token(key, "GET", "/v1/me", NULL);
    EXPECT_PROBLEM(after, 401, NULL);
    assert_string_equal(it_json_str(after->json, "detail"), "The API key has expired.");
    assert_string_equal(it_header(after, "WWW-Authenticate"), CHALLENGE_TOKEN);
    it_response_free(after);
    free(key);
}

/* Deleting an organization takes its keys with it: they are refused within a second. */
static void test_key_of_a_deleted_organization_is_refused(void **state)
{
    (void)state;
    build_world();
    long long org = tu_new_org("short-lived", NULL, NULL);
    char *key = ready_key("organization", org, 0);
    it_response *deleted = it_delete("/v1/organizations/%lld", org);
    EXPECT_STATUS(deleted, 204);
    it_response_free(deleted);
    assert_true(wait_for_me_status(it_base_url(), key, 401, tu_scaled_ms(1000)) >= 0);
    assert_int_equal(it_sql_int("SELECT count(*) FROM api_keys WHERE id = %lld", key_id_of(key)),
                     0);
    free(key);
}

/* A known key is checked without the database: with api_keys locked against every reader,
 * requests with known keys are still answered at once. */
static void test_known_key_needs_no_database_lookup(void **state)
{
    (void)state;
    build_world();
    it_sql_exec("BEGIN");
    it_sql_exec("LOCK TABLE api_keys, api_keys_state IN ACCESS EXCLUSIVE MODE");
    long long started = tu_now_ms();
    const principal callers[] = {P_ADMIN, P_ORG_OWN, P_STORAGE_OWN, P_AUDITOR};
    for (int round = 0; round < 5; round++) {
        for (size_t i = 0; i < sizeof callers / sizeof callers[0]; i++) {
            it_response *r =
                as(callers[i], "GET", tu_fmt("/v1/storages/%lld", world.storage_s), NULL, NULL);
            EXPECT_STATUS(r, 200);
            it_response_free(r);
            it_response *me = as(callers[i], "GET", "/v1/me", NULL, NULL);
            EXPECT_STATUS(me, 200);
            it_response_free(me);
        }
    }
    long long elapsed = tu_now_ms() - started;
    it_sql_exec("ROLLBACK");
    print_message("40 requests with known keys while api_keys was locked: %lld ms\n", elapsed);
    assert_true(elapsed < tu_scaled_ms(5000));
}

/* ---------------------------------------------------------------- two instances */

/* A key made on instance A works on B; revoked on A, B refuses it within a second. */
static void test_revocation_reaches_every_instance_within_a_second(void **state)
{
    (void)state;
    build_world();
    it_stop_second_instance(); /* one a failed test left running */
    const char *second = it_start_second_instance(NULL);
    char *second_url = strdup(second);

    it_response *made = it_post("/v1/api-keys",
                                "{\"role\":\"organization\",\"organization_id\":"
                                "%lld,\"name\":\"roaming scale\"}",
                                world.org_a);
    EXPECT_STATUS(made, 201);
    char *key = strdup(it_json_str(made->json, "key"));
    long long id = it_json_int(made->json, "id");
    it_response_free(made);

    long long usable_ms = wait_for_me_status(second_url, key, 200, tu_scaled_ms(1000));
    assert_true(usable_ms >= 0);
    /* Used on B for real: a transfer there records the key as its actor. */
    const char *headers[] = {it_bearer(key), NULL};
    it_response *transfer =
        it_request_to(second_url, "POST", tu_fmt("/v1/organizations/%lld/transfers", world.org_a),
                      "{\"waste\":{\"glass\":1}}", headers);
    EXPECT_STATUS(transfer, 201);
    ASSERT_JSON_AT(transfer->json, "actor", "\"key:%lld\"", id);
    it_response_free(transfer);

    it_response *revoked = it_delete("/v1/api-keys/%lld", id);
    EXPECT_STATUS(revoked, 204);
    it_response_free(revoked);
    long long refused_ms = wait_for_me_status(second_url, key, 401, 2000);
    print_message("revocation: a key made on A was usable on B after %lld ms; revoked on A, "
                  "refused on B after %lld ms\n",
                  usable_ms, refused_ms);
    assert_true(refused_ms >= 0);
    assert_true(refused_ms <= tu_scaled_ms(1000));
    /* A, where it was revoked, within the same second (at once: see
     * test_revoked_key_is_refused_at_once_on_the_same_instance); then it stays refused. */
    assert_true(wait_for_me_status(it_base_url(), key, 401, tu_scaled_ms(1000)) >= 0);
    assert_true(wait_for_me_status(second_url, key, 401, 0) >= 0);

    /* An expiry set in the database reaches B the same way. */
    char *expiring = it_new_key("auditor", 0, 0);
    assert_true(wait_for_me_status(second_url, expiring, 200, tu_scaled_ms(1000)) >= 0);
    it_sql_exec("UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = %lld",
                key_id_of(expiring));
    long long expired_ms = wait_for_me_status(second_url, expiring, 401, 2000);
    print_message("expiry set in SQL: refused on B after %lld ms\n", expired_ms);
    assert_true(expired_ms >= 0 && expired_ms <= tu_scaled_ms(1000));

    it_stop_second_instance();
    free(expiring);
    free(key);
    free(second_url);
}

/* A key is accepted on its first use, by the instance that made it and by any other: an
 * instance that does not know a key looks it up (key_cache.h: "A key this instance has not
 * seen yet (created a moment ago elsewhere) triggers one refresh") rather than answering
 * 401 to a valid key. Ten keys each, each used right after it was made, at different
 * points of the instances' refresh cycle. */
static int fresh_keys_refused(const char *maker_url, const char *user_url)
{
    int refused = 0;
    for (int i = 0; i < 10; i++) {
        it_response *made = it_request_to(maker_url, "POST", "/v1/api-keys",
                                          "{\"role\":\"auditor\",\"name\":\"fresh\"}", NULL);
        EXPECT_STATUS(made, 201);
        const char *headers[] = {it_bearer(it_json_str(made->json, "key")), NULL};
        it_response *me = it_request_to(user_url, "GET", "/v1/me", NULL, headers);
        if (me->status != 200) {
            refused++;
            print_error("key %lld made on %s, used on %s: %d %s\n", it_json_int(made->json, "id"),
                        maker_url, user_url, me->status, me->body);
        }
        it_response_free(me);
        it_response_free(made);
        tu_sleep_ms(37);
    }
    return refused;
}

static void test_new_key_is_accepted_on_its_first_use(void **state)
{
    (void)state;
    build_world();
    char *first_url = strdup(it_base_url());
    it_stop_second_instance(); /* one a failed test left running */
    char *second_url = strdup(it_start_second_instance(NULL));
    int same = fresh_keys_refused(first_url, first_url);
    int other = fresh_keys_refused(first_url, second_url);
    it_stop_second_instance();
    free(first_url);
    free(second_url);
    if (same + other > 0) {
        fail_msg("valid keys refused with 401 on their first use: %d of 10 on the instance that "
                 "made them, %d of 10 on another instance",
                 same, other);
    }
}

RUNNER_MAIN(tu_setup, tu_teardown,
            {
                cmocka_unit_test(test_matrix_every_route_every_principal),
                cmocka_unit_test(test_openapi_documents_access),
                cmocka_unit_test(test_routing_comes_before_authentication),
                cmocka_unit_test(test_refused_request_body_is_not_read),
                cmocka_unit_test(test_challenge_without_a_bearer_token),
                cmocka_unit_test(test_organization_lists_only_itself),
                cmocka_unit_test(test_organization_lists_only_its_own_transfers),
                cmocka_unit_test(test_storage_lists_only_transfers_shipped_to_it),
                cmocka_unit_test(test_storage_sees_only_its_own_shipments),
                cmocka_unit_test(test_storage_never_replays_a_stored_transfer),
                cmocka_unit_test(test_organization_view_lists_every_storage),
                cmocka_unit_test(test_actor_of_key_transfers_and_unloads),
                cmocka_unit_test(test_actor_of_dispatcher_and_seed),
                cmocka_unit_test(test_idempotency_keys_are_per_principal),
                cmocka_unit_test(test_me_for_each_principal),
                cmocka_unit_test(test_api_keys_create_list_get_revoke),
                cmocka_unit_test(test_revoked_key_is_refused_at_once_on_the_same_instance),
                cmocka_unit_test(test_api_keys_validation),
                cmocka_unit_test(test_api_key_creation_replay_hides_the_secret),
                cmocka_unit_test(test_key_expires_on_time),
                cmocka_unit_test(test_key_of_a_deleted_organization_is_refused),
                cmocka_unit_test(test_known_key_needs_no_database_lookup),
                cmocka_unit_test(test_revocation_reaches_every_instance_within_a_second),
                cmocka_unit_test(test_new_key_is_accepted_on_its_first_use),
                TU_AUDIT_TEST,
            })
