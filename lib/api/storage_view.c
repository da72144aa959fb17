/* GET /v1/organizations/{id}/storages — the storage view: every storage (optionally only those
 * accepting a type) with its road distance from the organization and its room, reachable
 * first by (distance, id), then the unreachable by id, a page at a time; and GET
 * /v1/organizations/{id}/storages/{storage_id}: one storage, always with its path. This file
 * reads the parameters and writes the items; engine/view.c sequences the rounds and says what
 * a page cost, charged after the work to the credential's work budget (util/work_budget.h; a
 * credential in debt gets 429 first). Cursors are signed with a subkey of the deployment's
 * key (HMAC-SHA256): a cursor is one this deployment handed out, never a client's choice. */
#include "api/common.h"
#include "api/handlers.h"
#include "api/repr.h"
#include "api/rows.h"
#include "core/view_cursor.h"
#include "engine/view.h"
#include "util/digest.h"
#include "util/metrics.h"
#include "util/work_budget.h"

#include <stdlib.h>
#include <string.h>

/* The largest page that carries paths (docs/design.md, "The storage view"). */
#define VIEW_PATH_LIMIT 100

/* Charges a request's work, after it was done. */
static void budget_charge(wf_app *app, const api_work_identity *identity, uint64_t nodes_settled,
                          uint64_t storages_examined, uint64_t round_trips)
{
    metrics_count_view_work(nodes_settled, storages_examined, round_trips);
    api_work_charge(app, identity, nodes_settled + storages_examined);
}

/* core/view_cursor's signer: HMAC-SHA256 under the view-cursor subkey, truncated. */
static void sign_cursor(const void *key, const uint8_t *message, size_t len,
                        uint8_t tag[VIEW_CURSOR_TAG_BYTES])
{
    const void *data[1] = {message};
    size_t lengths[1] = {len};
    uint8_t mac[DIGEST_HMAC_BYTES];
    digest_hmac_sha256(key, DIGEST_HMAC_BYTES, data, lengths, 1, mac);
    memcpy(tag, mac, VIEW_CURSOR_TAG_BYTES);
}

static view_cursor_signer cursor_signer(const uint8_t key[DIGEST_HMAC_BYTES])
{
    return (view_cursor_signer){sign_cursor, key};
}

/* The path source..storage as node references. */
static void write_path(tx *t, strbuf *out, const view_order *order, int64_t storage_id)
{
    size_t length = view_order_path(order, storage_id, NULL, 0);
    node_ref *path = TX_ARRAY(t, node_ref, length ? length : 1);
    length = view_order_path(order, storage_id, path, length);
    strbuf_puts(out, "[");
    for (size_t k = 0; k < length; k++) {
        strbuf_puts(out, k ? "," : "");
        repr_node(out, path[k]);
    }
    strbuf_puts(out, "]");
}

/* One item: {"id","storage_id","distance_m",["path",]"name",...}; distance_m < 0 for an
 * unreachable storage (order NULL then). */
static void write_item(tx *t, strbuf *out, const repr_holder *storage, int64_t distance_m,
                       bool with_path, const view_order *order)
{
    strbuf_puts(out, "{\"id\":");
    strbuf_int(out, storage->id);
    strbuf_puts(out, ",\"storage_id\":");
    strbuf_int(out, storage->id);
    strbuf_puts(out, ",\"distance_m\":");
    if (distance_m >= 0) {
        strbuf_int(out, distance_m);
    } else {
        strbuf_puts(out, "null");
    }
    if (with_path) {
        strbuf_puts(out, ",\"path\":");
        if (distance_m >= 0 && order != NULL) {
            write_path(t, out, order, storage->id);
        } else {
            strbuf_puts(out, "null");
        }
    }
    strbuf_puts(out, ",");
    repr_storage_members(out, storage);
    strbuf_puts(out, "}");
}

typedef struct {
    view_filter filter;
    /* The subkey cursors are signed with (cursor_signer), derived from the deployment's key:
     * every instance of the deployment verifies every other's cursors. */
    uint8_t cursor_key[DIGEST_HMAC_BYTES];
    bool with_path;
    api_work_identity who;
    repr_holder *storages; /* the last data round's, in order */
} page_writer;

static void page_begin(void *arg, strbuf *out)
{
    (void)arg;
    repr_page_begin(out);
}

static size_t page_rows(void *arg, tx *t, const db_result *result, int q, const int64_t **ids)
{
    page_writer *writer = arg;
    size_t count = rows_holders(tx_arena(t), result, q, &writer->storages);
    int64_t *list = TX_ARRAY(t, int64_t, count ? count : 1);
    for (size_t k = 0; k < count; k++) {
        list[k] = writer->storages[k].id;
    }
    *ids = list;
    return count;
}

static void page_item(void *arg, tx *t, strbuf *out, size_t index, size_t k, int64_t distance_m,
                      const view_order *order)
{
    page_writer *writer = arg;
    repr_page_item(out, index);
    write_item(t, out, &writer->storages[k], distance_m, writer->with_path, order);
}

static void page_end(void *arg, tx *t, strbuf *out, const view_page_end *end)
{
    page_writer *writer = arg;
    char cursor[VIEW_CURSOR_MAX];
    if (end->more) {
        view_cursor_signer signer = cursor_signer(writer->cursor_key);
        view_cursor_encode(&signer, &writer->filter, &end->after, cursor);
    }
    budget_charge(tx_app(t), &writer->who, end->nodes_settled, end->storages_examined,
                  (uint64_t)end->round_trips);
    repr_page_end(out, end->more ? cursor : NULL);
    api_reply_buffer(t, 200, out, NULL);
}

static const view_renderer page_renderer = {page_begin, page_rows, page_item, page_end};

/* A true/false query parameter, false when absent. */
static bool bool_param(http_ctx *ctx, const char *name, bool *out)
{
    const char *text = http_query_param(ctx, name);
    *out = false;
    if (text == NULL || strcmp(text, "false") == 0) {
        return true;
    }
    if (strcmp(text, "true") == 0) {
        *out = true;
        return true;
    }
    http_problem_invalid(ctx, name, "must be true or false");
    return false;
}

/* include: a comma-separated list of what to add to each item; "path" is the one. */
static bool include_param(http_ctx *ctx, bool *with_path)
{
    const char *text = http_query_param(ctx, "include");
    *with_path = false;
    if (text == NULL) {
        return true;
    }
    for (const char *p = text;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == 4 && memcmp(p, "path", 4) == 0) {
            *with_path = true;
        } else {
            http_problem_invalid(ctx, "include", "must be path");
            return false;
        }
        if (comma == NULL) {
            return true;
        }
        p = comma + 1;
    }
}

void handle_organization_storages(http_ctx *ctx)
{
    view_filter filter = {.organization_id = ctx->match.ids[0]};
    int limit;
    bool with_path;
    if (!api_code_param(ctx, "waste_type", &filter.waste_type) || !api_limit_param(ctx, &limit) ||
        !include_param(ctx, &with_path) || !bool_param(ctx, "reachable", &filter.reachable_only) ||
        !bool_param(ctx, "has_room", &filter.has_room)) {
        return;
    }
    if (with_path && limit > VIEW_PATH_LIMIT) {
        http_problem_invalid(ctx, "limit", "must be at most 100 with include=path");
        return;
    }
    uint8_t cursor_key[DIGEST_HMAC_BYTES];
    digest_derive_key(app_of(ctx)->deployment_key, DEPLOYMENT_KEY_BYTES, "view-cursor", cursor_key);
    view_cursor_signer signer = cursor_signer(cursor_key);
    api_work_identity who = api_work_of(ctx);
    if (!api_work_admits(ctx, &who, "storage views")) {
        return;
    }
    view_position start = {0};
    const char *cursor = http_query_param(ctx, "cursor");
    if (cursor != NULL && !view_cursor_decode(&signer, cursor, &filter, &start)) {
        /* Not one this deployment signed for this filter: forged, edited, or another
         * list's. 400, not 422: no value of the field is wrong, the request is. */
        http_problem(ctx, PROBLEM_BAD_REQUEST,
                     "cursor must be a next_cursor value returned by this list with the same "
                     "organization, waste_type, reachable and has_room.");
        return;
    }
    tx *t = tx_for(ctx);
    page_writer *writer = TX_NEW(t, page_writer);
    *writer = (page_writer){.filter = filter, .with_path = with_path, .who = who};
    memcpy(writer->cursor_key, cursor_key, sizeof cursor_key);
    view_page_request request = {filter, limit, cursor != NULL, start, with_path};
    view_page(t, &request, &page_renderer, writer);
}

/* The one storage's rows, as the organization sees it. */
static void storage_render(void *arg, tx *t, const db_result *result, int q, int64_t distance_m,
                           const view_order *order, uint64_t nodes_settled, int round_trips)
{
    const api_work_identity *who = arg;
    repr_holder *storages;
    if (rows_holders(tx_arena(t), result, q, &storages) == 0) {
        tx_fail(t, PROBLEM_NOT_FOUND, "Storage not found.");
        return;
    }
    strbuf out = {0};
    write_item(t, &out, &storages[0], distance_m, true, order);
    budget_charge(tx_app(t), who, nodes_settled, 1, (uint64_t)round_trips);
    api_reply_buffer(t, 200, &out, NULL);
}

void handle_organization_storage(http_ctx *ctx)
{
    api_work_identity who = api_work_of(ctx);
    if (!api_work_admits(ctx, &who, "storage views")) {
        return;
    }
    tx *t = tx_for(ctx);
    api_work_identity *owned = TX_NEW(t, api_work_identity);
    *owned = who;
    view_storage(t, ctx->match.ids[0], ctx->match.ids[1], storage_render, owned);
}
