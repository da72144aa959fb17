/* Request-reading helpers shared by the resource handlers: strict body parsing, allowed
 * fields, list paging parameters and quantity maps, and the shapes several handlers share
 * (a page of results, a GET or DELETE by path id). A helper that rejects the request
 * answers it itself (problem+json) and returns false. Everything it allocates lives in the
 * request's arena. */
#ifndef WF_API_COMMON_H
#define WF_API_COMMON_H

#include "api/repr.h"
#include "auth/principal.h"
#include "engine/tx.h"
#include "http/server.h"
#include "util/json_input.h"
#include "util/strbuf.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

/* Parses the body as a JSON object (400 malformed, 422 not an object). The tree is the
 * caller's to cJSON_Delete. */
cJSON *api_body_object(http_ctx *ctx);
/* 422 naming the first member of obj not in allowed (NULL-terminated). */
bool api_only_fields(http_ctx *ctx, const cJSON *obj, const char *const *allowed,
                     const char *prefix);
/* api_body_object, then api_only_fields on it: the tree, or NULL when refused. */
cJSON *api_body_fields(http_ctx *ctx, const char *const *allowed);

/* A list's paging: limit (1..1000, default 100) and the cursor after which it resumes. */
typedef struct {
    int limit;
    int64_t after_id; /* 0 when the list starts at the beginning */
} api_page;
bool api_limit_param(http_ctx *ctx, int *limit);
/* limit and an id cursor. */
bool api_page_params(http_ctx *ctx, api_page *page);
/* An optional positive-id query parameter (0 when absent); 422 when malformed. */
bool api_id_param(http_ctx *ctx, const char *name, int64_t *out);
/* An optional waste-type code query parameter (NULL when absent); 422 when malformed
 * (unknown codes are checked against the database by ST_CHECK_TYPE). */
bool api_code_param(http_ctx *ctx, const char *name, const char **out);
/* Queues the check that code (from api_code_param) is a known type, naming field in the 422;
 * nothing when code is NULL. Queue it after the statements whose results the handler reads
 * by position: it has a result only when a code was given. */
void api_check_type(tx *t, const char *code, const char *field);

/* A quantity map {"glass": 10, ...} read from a request. */
typedef struct {
    const char *code;
    int64_t kg;
    bool is_null; /* "glass": null, where allowed */
} api_quantity;
typedef struct {
    int count;
    api_quantity *items; /* in request order; codes copied into the arena */
    const char *json;    /* normalized {"glass":10,...} (nulls kept) */
    const char *codes;   /* the codes as a Postgres text[] literal */
    const char *amounts; /* the amounts as a Postgres bigint[] literal (0 for null) */
} api_quantities;
/* Reads map: codes valid, values quantities (or null when allow_null). Adds field errors
 * under prefix ("capacity" -> "capacity.glass"); returns false when any was added. */
bool api_quantity_map(http_ctx *ctx, const cJSON *map, const char *prefix, bool allow_null,
                      field_errors *errors, api_quantities *out);

/* The {"name", "capacity"} body of a create (name required; capacity too when
 * capacity_required) or a merge-patch (everything optional, null removes a type). */
typedef struct {
    const char *name;     /* NULL when absent (patch) */
    const char *capacity; /* normalized JSON; "{}" on a create without it, NULL on a patch */
    const char *codes;    /* the capacity's codes as a Postgres text[] literal */
    const char *intake;   /* a storage's "automatic" or "weighed"; NULL when absent */
} api_name_capacity;
bool api_read_name_capacity(http_ctx *ctx, bool storage, bool creating, bool capacity_required,
                            api_name_capacity *out);

/* Starts a list on the request's tx: its paging, for the callback (tx_user). */
api_page *api_list_begin(tx *t, const api_page *page);
/* Replies 200 with a page: the first min(count, limit) of items (item(out, items, i) writes
 * one) and, when there are more, next_cursor = id_of(items, the last one written). */
typedef void (*api_item_fn)(strbuf *out, const void *items, size_t index);
typedef int64_t (*api_item_id_fn)(const void *items, size_t index);
void api_reply_page(tx *t, const void *items, size_t count, int limit, api_item_fn item,
                    api_item_id_fn id_of);
/* Runs the queued statements of a list of organizations or storages (TX_READ): the page is
 * query q's rows (rows_holders), each written by write. */
void api_run_holder_list(tx *t, const api_page *page, int q,
                         void (*write)(strbuf *out, const repr_holder *holder));
/* GET of an organization or a storage by the path id, written by write. */
void api_get_holder_by_id(http_ctx *ctx, int statement, const char *what,
                          void (*write)(strbuf *out, const repr_holder *holder));
/* The first organization or storage of query q, written by write, as the reply. */
void api_reply_holder(tx *t, const db_result *result, int q, int status, const char *location,
                      void (*write)(strbuf *out, const repr_holder *holder));
/* Replies 200 with a finished strbuf (503 when it could not be built). */
void api_reply_buffer(tx *t, int status, strbuf *body, const char *location);

/* GET of one resource: statement($1 key) rows, rendered by render(out, t, result) when
 * there is a row; 404 "<what> not found." otherwise. key must live as long as ctx. */
typedef void (*api_render_fn)(strbuf *out, tx *t, const db_result *result);
void api_get(http_ctx *ctx, int statement, const char *key, const char *what, api_render_fn render);
/* api_get with the path id as the key. */
void api_get_by_id(http_ctx *ctx, int statement, const char *what, api_render_fn render);

/* The work budget (WASTEFLOW_WORK_BUDGET, util/work_budget.h): the credential a request's
 * work is charged to, as the rate limit names it (an API key by its id, a JWT by its
 * subject and issuer); admission before the work (false: the credential is in debt, and the
 * request has been answered 429 with Retry-After, naming what spends the budget); and the
 * charge after it. */
typedef struct {
    char text[8 + AUTH_ISSUER_MAX + AUTH_ACTOR_MAX];
    size_t len;
} api_work_identity;
api_work_identity api_work_of(const http_ctx *ctx);
bool api_work_admits(http_ctx *ctx, const api_work_identity *identity, const char *spenders);
void api_work_charge(wf_app *app, const api_work_identity *identity, uint64_t units);

/* Runs a DELETE whose statements are queued (the first raises WF404 when the resource is
 * missing) as one round: 204, or the problem conflicts maps (the foreign keys through
 * which the ledger keeps its rows). */
void api_run_delete(tx *t, const tx_conflict *conflicts);

#endif
