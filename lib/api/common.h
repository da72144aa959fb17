/* Request-reading helpers shared by the resource handlers: strict body parsing, allowed
 * fields, list paging parameters, quantity maps, and a one-statement read. Each helper
 * that can reject the request answers it itself and returns false/NULL. */
#ifndef WF_API_COMMON_H
#define WF_API_COMMON_H

#include "api/app.h"
#include "api/tx.h"
#include "http/server.h"
#include "util/json_input.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

/* Parses the body as a JSON object (400 malformed, 422 not an object). */
cJSON *api_body_object(http_ctx *ctx);
/* 422 naming the first member of obj not in allowed (NULL-terminated). */
bool api_only_fields(http_ctx *ctx, const cJSON *obj, const char *const *allowed,
                     const char *prefix);

/* limit (1..1000, default 100). */
bool api_limit_param(http_ctx *ctx, int *limit);
/* limit and cursor (a positive id, or 0 when absent). */
bool api_page_params(http_ctx *ctx, int *limit, int64_t *after_id);
/* Reads an optional positive-id query parameter (0 when absent); 422 when malformed. */
bool api_id_param(http_ctx *ctx, const char *name, int64_t *out);
/* Reads an optional waste-type code query parameter (NULL when absent); 422 when the
 * code is malformed (unknown codes are checked against the database by the caller). */
bool api_code_param(http_ctx *ctx, const char *name, const char **out);

/* A quantity map {"glass": 10, ...}: codes valid, values quantities (or null when
 * allow_null). Adds field errors under prefix ("capacity" -> "capacity.glass"). Builds a
 * normalized JSON text (integers) into *json_out and a "{a,b}" Postgres array of the codes
 * into *codes_out (both malloc'd). Returns the number of entries, -1 when invalid. */
int api_quantity_map(const cJSON *map, const char *prefix, bool allow_null, field_errors *errors,
                     char **json_out, char **codes_out);

/* Replies 422 with the collected errors (must be non-empty). */
void api_reply_field_errors(http_ctx *ctx, const field_errors *errors);

/* Runs one read statement (autocommit): 200 with column 0 of row 0 as the JSON body,
 * 404 naming what when there is no row. params must outlive the request (ctx->state
 * holder): pass a heap block in user, freed with user_free. */
void api_read_one(http_ctx *ctx, int statement, int param_count, const char *const *params,
                  const char *what, void *user, void (*user_free)(void *));

/* Per-request holder for statement parameters and the queries that use them: everything a
 * handler passes to api_tx_start lives here until the request ends (retries resend). */
typedef struct {
    char text[8][24]; /* formatted numbers */
    char *owned[8];   /* malloc'd strings freed with the request */
    int owned_count;
    const char *p[24]; /* parameter slots */
    db_query q[12];
    int count;
    int64_t id;       /* the resource id the request is about */
    int flags;        /* handler-specific */
    const void *spec; /* handler-specific, static */
} api_req;

api_req *api_req_new(void);
/* api_req_new, answering 503 (and returning NULL) when out of memory. */
api_req *api_req_for(http_ctx *ctx);
void api_req_free(void *req);
/* Keeps a malloc'd string until the request ends; returns it. */
const char *api_req_own(api_req *req, char *text);
/* Appends a query of statement whose param_count parameters start at slot p[first]. */
void api_req_add(api_req *req, int statement, int first, int param_count);
/* Starts req's queries in the given mode; cb gets the results. */
void api_req_run(http_ctx *ctx, api_req *req, api_tx_mode mode, api_tx_cb cb);

/* tx callback: 200 with column 0 of row 0 of the batch's last query as the JSON body, 404
 * when it has no row or NULL; database errors mapped by api_tx_db_error. */
void api_reply_json_row(api_tx *tx, const db_result *result);

/* GET of one resource by the path id: 200 with its JSON, 404 when there is none. */
void api_get_by_id(http_ctx *ctx, int statement);

/* Reads the {"name", "capacity"} body of a create (name required; capacity too when
 * capacity_required) or a merge-patch (everything optional, null removes a type) into
 * p[1] name or NULL, p[2] capacity JSON (NULL on a patch without it, "{}" on a create
 * without it), p[5] the codes as a Postgres array, p[6] "capacity." (for
 * ST_CHECK_TYPES). Answers the request and returns false when the body is invalid. */
bool api_read_name_capacity(http_ctx *ctx, api_req *req, bool creating, bool capacity_required);

/* A DELETE by path id (p[0]) whose queries are already added: 204; 404 naming `what` when
 * query found_query returned no row; 409 with `history` on a foreign-key violation (the
 * ledger keeps its rows); other errors as api_tx_db_error. */
typedef struct {
    const char *what;
    const char *history;
    int found_query;
} api_delete_spec;
void api_run_delete(http_ctx *ctx, api_req *req, const api_delete_spec *spec);

/* Formats an id as decimal text into buf (at least 24 bytes) and returns buf. */
const char *api_id_text(char *buf, int64_t id);

#endif
