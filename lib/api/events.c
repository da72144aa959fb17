/* GET /v1/events, the live stream of committed changes (Server-Sent Events): reads where a
 * client resumes (Last-Event-ID), makes the credential check that the hub repeats every
 * second, and hands the request to the hub (engine/events.h). And the hub's policy: each
 * event's payload, the same JSON as the resource's GET (api/repr.h), and who may see it:
 *   admin, auditor  everything;
 *   organization    its own transfers and organization; every storage and route;
 *   storage         the transfers that shipped to it, each with its own shipments only
 *                   (neither received nor pending), and its unloads; every storage and
 *                   route (no organization: it may not read them);
 *   (alert firings: admins, auditors and the storage they concern only)
 *   monitor         nothing (the route admits it no stream at all). */
#include "api/events.h"

#include "api/access.h"
#include "api/handlers.h"
#include "api/repr.h"
#include "api/rows.h"
#include "auth/api_key.h"
#include "auth/jwt.h"
#include "engine/key_cache.h"
#include "util/mem.h"
#include "util/strbuf.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---------------------------------------------------------------- the credential */

/* What the stream was opened with, to check again while it lasts. */
typedef struct {
    wf_app *app;
    bool api_key;
    int64_t key_id;
    uint8_t hash[API_KEY_HASH_BYTES];
    char *token; /* a JWT */
} stream_credential;

/* The same verdict as at admission (api/access.c): a key revoked, expired or gone (its
 * organization or storage deleted) is refused on every instance within about a second,
 * and so is an expired JWT. */
static bool credential_valid(void *arg)
{
    const stream_credential *c = arg;
    time_t now = time(NULL);
    if (c->api_key) {
        const key_entry *key = key_cache_find(c->app->keys, c->key_id);
        return key != NULL && api_key_hash_equal(key->hash, c->hash) && !key->revoked &&
               (key->expires_at == 0 || (int64_t)now < key->expires_at);
    }
    auth_principal principal;
    const char *why = NULL;
    return jwt_verify(c->app->jwt, c->token, (int64_t)now, &principal, &why) == 0;
}

static void credential_free(void *arg)
{
    stream_credential *c = arg;
    free(c->token);
    free(c);
}

/* The token of the request's "Authorization: Bearer <token>" (admission has checked it). */
static const char *bearer_token(const http_ctx *ctx)
{
    const char *header = http_header(ctx, "Authorization");
    if (header == NULL || strncasecmp(header, "Bearer ", 7) != 0) {
        return NULL;
    }
    header += 7;
    while (*header == ' ') {
        header++;
    }
    return header;
}

static events_credential credential_of(http_ctx *ctx)
{
    stream_credential *c = xcalloc(1, sizeof *c);
    c->app = app_of(ctx);
    const char *token = bearer_token(ctx);
    c->api_key = ctx->principal.key_id > 0;
    if (!c->api_key || token == NULL || api_key_parse(token, &c->key_id, c->hash) != 0) {
        c->api_key = false;
        c->token = xstrdup(token != NULL ? token : "");
    }
    return (events_credential){credential_valid, credential_free, c};
}

/* ---------------------------------------------------------------- the handler */

void handle_events(http_ctx *ctx)
{
    int64_t resume_after = -1;
    events_hub *hub = app_of(ctx)->events;
    if (hub == NULL) {
        http_problem(ctx, PROBLEM_UNAVAILABLE,
                     "The event feed is turned off on this deployment (WASTEFLOW_EVENTS=off).");
        return;
    }
    /* The header is what a reconnecting EventSource sends; the query parameter lets a page
     * that was reloaded resume too (EventSource cannot set headers). An empty header is no
     * id at all (the SSE rules). An id is opaque and the caller's own (engine/events.h): one
     * it was not sent is refused, never taken for a position. */
    const char *header = http_header(ctx, "Last-Event-ID");
    const char *param = http_query_param(ctx, "last_event_id");
    if (header != NULL && header[0] != '\0') {
        if (!events_resume_position(hub, &ctx->principal, header, &resume_after)) {
            http_problem(ctx, PROBLEM_BAD_REQUEST,
                         "Last-Event-ID must be an id a stream of this credential was sent, "
                         "unchanged.");
            return;
        }
    } else if (param != NULL) {
        if (!events_resume_position(hub, &ctx->principal, param, &resume_after)) {
            http_problem_invalid(ctx, "last_event_id",
                                 "must be an id a stream of this credential was sent, unchanged");
            return;
        }
    }
    events_subscribe(hub, ctx, resume_after, credential_of(ctx));
}

/* ---------------------------------------------------------------- payloads */

static const char *text_of(arena *a, strbuf *out)
{
    if (strbuf_failed(out)) {
        mem_exhausted(out->len);
    }
    const char *text = arena_strndup(a, out->data != NULL ? out->data : "", out->len);
    strbuf_free(out);
    return text;
}

static const char *deleted_json(arena *a, int64_t id)
{
    return arena_printf(a, "{\"id\":%lld,\"deleted\":true}", (long long)id);
}

/* Rows of ST_FEED_TRANSFERS: the transfer's columns (api/rows.h), then its transaction id.
 * A transfer stands at its id in the feed. */
static size_t render_transfers(arena *a, const db_result *result, int q, event_item **out)
{
    repr_transfer_row *transfers;
    size_t count = rows_transfers(a, result, q, &transfers);
    event_item *items = ARENA_ARRAY(a, event_item, count > 0 ? count : 1);
    int rows = db_rows(result, q), row = 0;
    for (size_t i = 0; i < count; i++) {
        const repr_transfer_row *t = &transfers[i];
        uint64_t xid = strtoull(db_text(result, q, row, 15), NULL, 10);
        while (row < rows && db_int64(result, q, row, 0) == t->id) {
            row++;
        }
        int64_t *storages = ARENA_ARRAY(a, int64_t, t->shipment_count > 0 ? t->shipment_count : 1);
        for (size_t s = 0; s < t->shipment_count; s++) {
            storages[s] = t->shipments[s].storage_id;
        }
        strbuf json = {0};
        repr_transfer(&json, t);
        items[i] = (event_item){
            .kind = EVENT_TRANSFER,
            .position = t->id,
            .xid = xid,
            .organization_id = t->organization_id,
            .storage_ids = storages,
            .storage_count = t->shipment_count,
            .json = text_of(a, &json),
            .source = t,
        };
    }
    *out = items;
    return count;
}

/* Rows of ST_EV_UNLOADS (id, storage_id, waste_type, amount, actor, created_at): one event
 * per unload request, the rows of one storage, time and actor:
 * {"storage_id", "unloaded": {type: kg}, "actor", "created_at", "unload_ids": [...]}. */
static size_t render_unloads(arena *a, const db_result *result, int q, event_item **out)
{
    int rows = db_rows(result, q);
    event_item *items = ARENA_ARRAY(a, event_item, rows > 0 ? (size_t)rows : 1);
    size_t count = 0;
    for (int first = 0; first < rows;) {
        int64_t storage_id = db_int64(result, q, first, 1);
        const char *actor = db_text(result, q, first, 4);
        const char *created_at = db_text(result, q, first, 5);
        int end = first + 1;
        while (end < rows && db_int64(result, q, end, 1) == storage_id &&
               strcmp(db_text(result, q, end, 4), actor) == 0 &&
               strcmp(db_text(result, q, end, 5), created_at) == 0) {
            end++;
        }
        strbuf json = {0};
        strbuf_puts(&json, "{\"storage_id\":");
        strbuf_int(&json, storage_id);
        strbuf_puts(&json, ",\"unloaded\":{");
        for (int row = first; row < end; row++) {
            const char *code = db_text(result, q, row, 2);
            bool seen = false;
            for (int before = first; before < row && !seen; before++) {
                seen = strcmp(db_text(result, q, before, 2), code) == 0;
            }
            if (seen) {
                continue; /* summed where the type first came */
            }
            int64_t kg = 0;
            for (int same = row; same < end; same++) {
                if (strcmp(db_text(result, q, same, 2), code) == 0) {
                    kg += db_int64(result, q, same, 3);
                }
            }
            strbuf_puts(&json, row > first ? ",\"" : "\"");
            strbuf_puts(&json, code);
            strbuf_puts(&json, "\":");
            strbuf_int(&json, kg);
        }
        strbuf_puts(&json, "},\"actor\":");
        strbuf_json_string(&json, actor);
        strbuf_puts(&json, ",\"created_at\":");
        repr_timestamp(&json, created_at);
        strbuf_puts(&json, ",\"unload_ids\":[");
        for (int row = first; row < end; row++) {
            strbuf_puts(&json, row > first ? "," : "");
            strbuf_int(&json, db_int64(result, q, row, 0));
        }
        strbuf_puts(&json, "]}");
        int64_t *storage = ARENA_NEW(a, int64_t);
        *storage = storage_id;
        items[count++] = (event_item){
            .kind = EVENT_UNLOAD,
            .storage_ids = storage,
            .storage_count = 1,
            .json = text_of(a, &json),
        };
        first = end;
    }
    *out = items;
    return count;
}

/* The item of resource id of kind, the JSON given. */
static event_item state_item(arena *a, event_kind kind, int64_t id, const char *json)
{
    int64_t *storage = NULL;
    if (kind == EVENT_STORAGE) {
        storage = ARENA_NEW(a, int64_t);
        *storage = id;
    }
    return (event_item){
        .kind = kind,
        .organization_id = kind == EVENT_ORGANIZATION ? id : 0,
        .storage_ids = storage,
        .storage_count = storage != NULL,
        .json = json,
    };
}

/* Storages, organizations or routes: the ids asked for (sorted, each once), each with its
 * representation or, when it has no row, {"id", "deleted": true}; in id order. */
static size_t render_states(event_kind kind, arena *a, const db_result *result, int q,
                            const int64_t *ids, size_t id_count, event_item **out)
{
    event_item *items = ARENA_ARRAY(a, event_item, id_count > 0 ? id_count : 1);
    repr_holder *holders = NULL;
    size_t found = 0;
    if (kind == EVENT_ROUTE) {
        found = (size_t)db_rows(result, q);
    } else {
        found = rows_holders(a, result, q, &holders);
    }
    size_t next = 0, count = 0;
    for (size_t i = 0; i < id_count; i++) {
        int64_t id = ids[i];
        while (next < found &&
               (kind == EVENT_ROUTE ? db_int64(result, q, (int)next, 0) : holders[next].id) < id) {
            next++;
        }
        bool present = next < found && (kind == EVENT_ROUTE ? db_int64(result, q, (int)next, 0)
                                                            : holders[next].id) == id;
        if (!present) {
            items[count++] = state_item(a, kind, id, deleted_json(a, id));
            continue;
        }
        strbuf json = {0};
        if (kind == EVENT_ROUTE) {
            repr_route_row route = rows_route(result, q, (int)next);
            repr_route(&json, &route);
        } else if (kind == EVENT_STORAGE) {
            repr_storage(&json, &holders[next]);
        } else {
            repr_organization(&json, &holders[next]);
        }
        items[count++] = state_item(a, kind, id, text_of(a, &json));
    }
    *out = items;
    return count;
}

/* Movements, as they are when the feed reads them (a load received since it set off is shown
 * received); one the ids name without a row cannot be (the ledger keeps every movement). */
static size_t render_movements(arena *a, const db_result *result, int q, event_item **out)
{
    int rows = db_rows(result, q);
    event_item *items = ARENA_ARRAY(a, event_item, rows > 0 ? (size_t)rows : 1);
    for (int row = 0; row < rows; row++) {
        repr_movement_row movement = rows_movement(result, q, row);
        strbuf json = {0};
        repr_movement(&json, &movement, false);
        int64_t *storage = ARENA_NEW(a, int64_t);
        *storage = movement.storage_id;
        items[row] = (event_item){
            .kind = EVENT_MOVEMENT,
            .organization_id = movement.organization_id,
            .storage_ids = storage,
            .storage_count = 1,
            .json = text_of(a, &json),
        };
    }
    *out = items;
    return (size_t)rows;
}

/* Rows of ST_EV_ALERTS: one `alert` event per firing, its JSON repr_alert_firing's. */
static size_t render_alerts(arena *a, const db_result *result, int q, event_item **out)
{
    int rows = db_rows(result, q);
    event_item *items = ARENA_ARRAY(a, event_item, rows > 0 ? (size_t)rows : 1);
    for (int row = 0; row < rows; row++) {
        repr_firing_row firing = rows_alert_firing(result, q, row);
        int64_t *storage = ARENA_NEW(a, int64_t);
        *storage = firing.storage_id;
        strbuf json = {0};
        repr_alert_firing(&json, &firing);
        items[row] = (event_item){
            .kind = EVENT_ALERT,
            .storage_ids = storage,
            .storage_count = 1,
            .json = text_of(a, &json),
        };
    }
    *out = items;
    return (size_t)rows;
}

static size_t render(event_kind kind, arena *a, const db_result *result, int q, const int64_t *ids,
                     size_t id_count, event_item **out)
{
    switch (kind) {
    case EVENT_TRANSFER:
        return render_transfers(a, result, q, out);
    case EVENT_UNLOAD:
        return render_unloads(a, result, q, out);
    case EVENT_MOVEMENT:
        return render_movements(a, result, q, out);
    case EVENT_ALERT:
        return render_alerts(a, result, q, out);
    case EVENT_STORAGE:
    case EVENT_ORGANIZATION:
    case EVENT_ROUTE:
        return render_states(kind, a, result, q, ids, id_count, out);
    default:
        *out = NULL;
        return 0;
    }
}

/* ---------------------------------------------------------------- who sees what */

static bool concerns_storage(const event_item *item, int64_t storage_id)
{
    for (size_t i = 0; i < item->storage_count; i++) {
        if (item->storage_ids[i] == storage_id) {
            return true;
        }
    }
    return false;
}

static bool visible(const auth_principal *who, const event_item *item)
{
    switch (who->role) {
    case ROLE_ADMIN:
    case ROLE_AUDITOR:
        return true;
    case ROLE_ORGANIZATION:
        switch (item->kind) {
        case EVENT_TRANSFER:
        case EVENT_ORGANIZATION:
        case EVENT_MOVEMENT:
            return item->organization_id == who->organization_id;
        case EVENT_STORAGE:
        case EVENT_ROUTE:
            return true;
        default:
            return false;
        }
    case ROLE_STORAGE:
        switch (item->kind) {
        case EVENT_TRANSFER:
        case EVENT_UNLOAD:
        case EVENT_MOVEMENT:
        case EVENT_ALERT:
            return concerns_storage(item, who->storage_id);
        case EVENT_STORAGE:
        case EVENT_ROUTE:
            return true;
        default:
            return false;
        }
    default:
        return false;
    }
}

/* A storage's principal sees only its own shipments of a transfer (api/repr.h), live and
 * replayed alike, as GET /v1/transfers shows it. */
static bool narrowed(const auth_principal *who, const event_item *item, strbuf *out)
{
    if (who->role != ROLE_STORAGE || item->kind != EVENT_TRANSFER || item->source == NULL) {
        return false;
    }
    repr_transfer_row transfer = *(const repr_transfer_row *)item->source;
    transfer.seen_by_storage = who->storage_id;
    repr_transfer(out, &transfer);
    return true;
}

static void replay_scope(const auth_principal *who, int64_t *organization_id, int64_t *storage_id)
{
    *organization_id = who->role == ROLE_ORGANIZATION ? who->organization_id : 0;
    *storage_id = who->role == ROLE_STORAGE ? who->storage_id : 0;
}

const events_policy api_events_policy = {
    .render = render,
    .visible = visible,
    .narrowed = narrowed,
    .replay_scope = replay_scope,
};
