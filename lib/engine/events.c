/* The live-event hub (see events.h): the listener's connection, what the notifications
 * name until it is fetched, the fetch, and the subscribers.
 *
 *   listener: DOWN --backoff--> CONNECTING --PQconnectPoll--> SUBSCRIBING (LISTEN sent)
 *             --> READY (pinged every 15 s) and back to DOWN whenever the socket fails or a
 *             ping goes unanswered. Back to READY after a loss, the hub first fetches the
 *             transfers committed meanwhile (by position, from the ledger), then tells every
 *             live stream `resync`.
 *   fetch:    at most one at a time; notifications that arrive meanwhile wait for the next.
 *             Transfers are read by position after the last one delivered (so the order is
 *             the commit order and nothing is skipped, whatever arrived), unloads as the ones
 *             committed since the last read (the unloads ledger is append-only: a row whose
 *             writer the previous read's snapshot did not see is new, among the newest
 *             UNLOAD_WINDOW ids), storages, organizations and routes by the ids the
 *             notifications named. Without subscribers nothing is fetched: the position is
 *             read again when one comes.
 *   hints:    any database role may NOTIFY on the channel, so a notification only says
 *             where to look. A payload the triggers never send is ignored; a transfer or
 *             unload is delivered only once, whatever a payload names; a storage,
 *             organization or route is delivered only when it differs from what this
 *             instance last delivered of it (a record of the last payload's hash per id, at
 *             most RECORD_MAX ids of a kind: past that it starts over) or, never delivered,
 *             when a transaction wrote or deleted it after the snapshot taken when the first
 *             stream came (ST_EV_SINCE; the streams' clients refetched at `ready`). So no
 *             notification from outside makes an event for something that did not change,
 *             nor a `resync`.
 *   subscriber: WAITING (for the first position) --> [REPLAYING (Last-Event-ID)] --> LIVE,
 *             until its stream ends. */
#include "engine/events.h"

#include "engine/statements.h"
#include "engine/tx.h"
#include "http/stream.h"
#include "util/event_id.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/strbuf.h"

#include <event2/event_struct.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHANNEL         "wasteflow_events"
#define FETCH_TRANSFERS 200    /* transfers per fetch; more are fetched right after */
#define FETCH_IDS       500    /* ids of a kind per fetch; likewise */
#define REPLAY_MAX      1000   /* transfers a resuming stream is replayed, else resync */
#define BACKLOG_MAX     10000  /* transfers behind: skipped with a resync instead */
#define IDS_MAX         100000 /* distinct ids of a kind waiting for a fetch: more, a resync */
#define RECORD_MAX      65536  /* ids of a kind whose last payload is remembered */
/* How far below the newest unload delivered a late commit is still looked for: an unload
 * whose transaction ran while this many others were written is missed. */
#define UNLOAD_WINDOW      1000
#define TICK_MS            1000  /* keep-alives and credential checks */
#define PING_MS            15000 /* the listener's connection is checked this often */
#define BACKOFF_MIN_MS     100
#define BACKOFF_MAX_MS     5000
#define CONNECT_TIMEOUT_MS 5000
#define LINGER_MS          1000 /* a final event's time to reach its reader */
#define RETRY_MS           "1000"

static const char *const names[EVENT__COUNT] = {
    [EVENT_TRANSFER] = "transfer",
    [EVENT_UNLOAD] = "unload",
    [EVENT_STORAGE] = "storage",
    [EVENT_ORGANIZATION] = "organization",
    [EVENT_ROUTE] = "route",
    [EVENT_READY] = "ready",
    [EVENT_RESYNC] = "resync",
    [EVENT_SHUTDOWN] = "shutdown",
    [EVENT_UNAUTHORIZED] = "unauthorized",
};

const char *event_name(event_kind kind)
{
    return kind >= 0 && kind < EVENT__COUNT ? names[kind] : "";
}

/* The ids of one kind that notifications named and no fetch has read yet. */
typedef struct {
    int64_t *ids;
    size_t count, capacity;
    bool all; /* too many to name: tell the streams to resync instead */
} id_set;

/* What was last delivered of each storage, organization or route: id -> hash of its
 * payload (open addressing; id 0 marks a free slot, ids are positive). */
typedef struct {
    int64_t *ids;
    uint64_t *hashes;
    size_t count, capacity;
} delivered_map;

typedef enum { SUB_WAITING, SUB_REPLAYING, SUB_LIVE } sub_state;

typedef struct subscriber {
    events_hub *hub;
    http_stream *stream; /* NULL once it ended */
    auth_principal who;
    events_credential credential;
    sub_state state;
    int64_t resume_after; /* -1: none */
    int64_t position;     /* the last ledger position this stream has passed */
    /* Its principal's event-id binding (util/event_id.h), and the id of id_position. */
    uint64_t id_binding;
    int64_t id_position; /* -1: none sealed yet */
    char id_text[EVENT_ID_TEXT_SIZE];
    int64_t replayed;
    int64_t last_write_ms;
    bool replaying; /* a replay's database work is in flight (and holds this) */
    struct subscriber *prev, *next;
} subscriber;

typedef enum { LISTENER_DOWN, LISTENER_CONNECTING, LISTENER_SUBSCRIBING, LISTENER_READY } l_state;

/* The kinds fetched by id, in the order their events go out (after the transfers and the
 * unloads). */
static const event_kind by_id[] = {EVENT_STORAGE, EVENT_ORGANIZATION, EVENT_ROUTE};
#define BY_ID_COUNT (sizeof by_id / sizeof by_id[0])

struct events_hub {
    wf_app *app;
    events_options options;
    bool stopped;
    event_id_keys id_keys; /* of the deployment's key: every instance seals alike */

    /* The listener. */
    l_state state;
    PGconn *pg;
    int socket;
    struct event io;
    bool io_added;
    short io_events;
    struct event listener_timer; /* by state: backoff, connect timeout, ping, ping timeout */
    int backoff_ms;
    bool ping_in_flight;
    bool ever_ready;
    bool lost; /* READY was lost: catch up and resync once back */

    /* What changed and waits for a fetch. */
    bool transfers_dirty;
    id_set pending[EVENT__COUNT]; /* the by_id kinds */
    bool resync_pending;
    char resync_reason[160];

    /* The fetch. */
    bool fetching;
    struct event fetch_soon; /* one fetch for everything a turn's notifications named */
    struct event fetch_retry;
    int fetch_failures;
    bool head_known; /* the position is current (else read it before going live) */
    int64_t head;    /* the last ledger position delivered */
    /* Read with the position when the first stream comes (ST_EV_SINCE). */
    bool since_known;
    char *since;          /* the snapshot changes are judged against (pg_snapshot text) */
    int64_t unload_head;  /* the newest unload delivered (or existing then) */
    char *unload_since;   /* the snapshot of the last read of unloads (or since) */
    int64_t unload_after; /* delivered up to here under unload_since (a full read), or 0 */
    bool unloads_dirty;   /* a notification said unloads committed */
    delivered_map delivered[EVENT__COUNT]; /* the by_id kinds but unloads */

    subscriber *subs;
    int stream_count;
    int replays; /* replays in flight */
    struct event tick;
    events_stats stats;
};

/* ---------------------------------------------------------------- id sets */

static void set_normalize(id_set *set);

static void set_add(id_set *set, int64_t id)
{
    if (set->all) {
        return;
    }
    if (set->count == IDS_MAX) {
        set_normalize(set); /* the same ids named again and again take no more room */
    }
    if (set->count == IDS_MAX) {
        free(set->ids);
        *set = (id_set){.all = true};
        return;
    }
    if (set->count == set->capacity) {
        set->capacity = set->capacity ? set->capacity * 2 : 16;
        set->ids = xrealloc(set->ids, set->capacity * sizeof *set->ids);
    }
    set->ids[set->count++] = id;
}

static void set_clear(id_set *set)
{
    free(set->ids);
    *set = (id_set){0};
}

static int compare_ids(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Sorted, each once. */
static void set_normalize(id_set *set)
{
    if (set->count == 0) {
        return;
    }
    qsort(set->ids, set->count, sizeof *set->ids, compare_ids);
    size_t kept = 1;
    for (size_t i = 1; i < set->count; i++) {
        if (set->ids[i] != set->ids[kept - 1]) {
            set->ids[kept++] = set->ids[i];
        }
    }
    set->count = kept;
}

/* ---------------------------------------------------------------- event ids */

/* A principal's binding: role, scope, issuer and actor, so that no other principal can
 * resume with its ids nor recognise them. */
static uint64_t binding_of(const events_hub *hub, const auth_principal *who)
{
    const char *role = auth_role_name(who->role);
    return event_id_binding(&hub->id_keys, role != NULL ? role : "", who->organization_id,
                            who->storage_id, who->issuer, who->actor);
}

bool events_resume_position(const events_hub *hub, const auth_principal *who, const char *id,
                            int64_t *position)
{
    return hub != NULL && event_id_open(&hub->id_keys, binding_of(hub, who), id, position);
}

/* The id of the stream's position as its principal sees it, sealed once per position. */
static const char *stream_id(subscriber *sub)
{
    if (sub->id_position != sub->position) {
        event_id_seal(&sub->hub->id_keys, sub->id_binding, sub->position, sub->id_text);
        sub->id_position = sub->position;
    }
    return sub->id_text;
}

/* ---------------------------------------------------------------- what was delivered */

static void map_clear(delivered_map *map)
{
    free(map->ids);
    free(map->hashes);
    *map = (delivered_map){0};
}

static size_t map_slot(const delivered_map *map, int64_t id)
{
    size_t mask = map->capacity - 1;
    size_t slot = (size_t)((uint64_t)id * 0x9E3779B97F4A7C15u >> 17) & mask;
    while (map->ids[slot] != 0 && map->ids[slot] != id) {
        slot = (slot + 1) & mask;
    }
    return slot;
}

/* The hash last delivered for id, or false when there is none. */
static bool map_get(const delivered_map *map, int64_t id, uint64_t *hash)
{
    if (map->capacity == 0) {
        return false;
    }
    size_t slot = map_slot(map, id);
    if (map->ids[slot] != id) {
        return false;
    }
    *hash = map->hashes[slot];
    return true;
}

static void map_put(delivered_map *map, int64_t id, uint64_t hash)
{
    if (map->count >= RECORD_MAX) {
        map_clear(map); /* the bound: what is forgotten is judged by the snapshot again */
    }
    if (map->count * 2 >= map->capacity) {
        delivered_map grown = {.capacity = map->capacity ? map->capacity * 2 : 256};
        grown.ids = xcalloc(grown.capacity, sizeof *grown.ids);
        grown.hashes = xcalloc(grown.capacity, sizeof *grown.hashes);
        for (size_t i = 0; i < map->capacity; i++) {
            if (map->ids[i] != 0) {
                size_t slot = map_slot(&grown, map->ids[i]);
                grown.ids[slot] = map->ids[i];
                grown.hashes[slot] = map->hashes[i];
                grown.count++;
            }
        }
        map_clear(map);
        *map = grown;
    }
    size_t slot = map_slot(map, id);
    if (map->ids[slot] == 0) {
        map->ids[slot] = id;
        map->count++;
    }
    map->hashes[slot] = hash;
}

/* FNV-1a: the record only needs to tell one payload from the next of the same id. */
static uint64_t payload_hash(const char *json)
{
    uint64_t hash = 0xcbf29ce484222325u;
    for (const unsigned char *p = (const unsigned char *)json; *p != '\0'; p++) {
        hash = (hash ^ *p) * 0x100000001b3u;
    }
    return hash;
}

/* ---------------------------------------------------------------- writing to streams */

static void write_event(subscriber *sub, event_kind kind, const char *data, http_shared *shared)
{
    char head[96];
    /* Before its first position a stream has no id to give (an event of its own, such as
     * shutdown, while the position is read): the client keeps none. */
    int n = sub->position >= 0
                ? snprintf(head, sizeof head, "event: %s\nid: %s\n", names[kind], stream_id(sub))
                : snprintf(head, sizeof head, "event: %s\n", names[kind]);
    bool written = http_stream_write(sub->stream, head, (size_t)n);
    if (written && shared != NULL) {
        written = http_stream_write_shared(sub->stream, shared);
    } else if (written) {
        written = http_stream_write(sub->stream, "data: ", 6) &&
                  http_stream_write(sub->stream, data, strlen(data)) &&
                  http_stream_write(sub->stream, "\n\n", 2);
    }
    if (written) {
        sub->hub->stats.sent[kind]++;
        sub->last_write_ms = clock_ms();
    }
}

/* An event of the hub's own (ready, resync, ...) with its small payload. */
static void send_own(subscriber *sub, event_kind kind, const char *json)
{
    if (sub->stream != NULL) {
        write_event(sub, kind, json, NULL);
    }
}

/* "data: <json>\n\n", shared by every stream that gets it. */
static http_shared *payload_of(const char *json)
{
    strbuf text = {0};
    strbuf_puts(&text, "data: ");
    strbuf_puts(&text, json);
    strbuf_puts(&text, "\n\n");
    if (strbuf_failed(&text)) {
        mem_exhausted(text.len);
    }
    http_shared *piece = http_shared_new(text.data, text.len);
    strbuf_free(&text);
    return piece;
}

/* Writes item to sub, which may see it: the payload every such stream shares (made on first
 * use into *shared, which the caller releases), or one of sub's own when the policy shows
 * its principal less of the item (a storage its own shipments of a transfer). */
static void write_item(subscriber *sub, const event_item *item, http_shared **shared)
{
    const events_policy *policy = sub->hub->options.policy;
    strbuf own = {0};
    if (policy->narrowed != NULL && policy->narrowed(&sub->who, item, &own)) {
        if (strbuf_failed(&own)) {
            mem_exhausted(own.len);
        }
        http_shared *payload = payload_of(own.data);
        strbuf_free(&own);
        write_event(sub, item->kind, NULL, payload);
        http_shared_release(payload);
        return;
    }
    if (*shared == NULL) {
        *shared = payload_of(item->json);
    }
    write_event(sub, item->kind, NULL, *shared);
}

/* One change to every live stream that may see it. A transfer moves each stream's
 * position past it, seen or not: its id says how far through the ledger the stream is. */
static void fan_out(events_hub *hub, const event_item *item)
{
    http_shared *payload = NULL;
    for (subscriber *sub = hub->subs; sub != NULL; sub = sub->next) {
        if (sub->state != SUB_LIVE || sub->stream == NULL) {
            continue;
        }
        if (item->kind == EVENT_TRANSFER) {
            if (item->position <= sub->position) {
                continue; /* replayed to it already */
            }
            sub->position = item->position;
        }
        if (!hub->options.policy->visible(&sub->who, item)) {
            continue;
        }
        write_item(sub, item, &payload);
    }
    http_shared_release(payload);
}

static void json_reason(char *out, size_t size, const char *reason)
{
    strbuf text = {0};
    strbuf_puts(&text, "{\"reason\":");
    strbuf_json_string(&text, reason);
    strbuf_puts(&text, "}");
    snprintf(out, size, "%s", text.data != NULL ? text.data : "{}");
    strbuf_free(&text);
}

static void broadcast_resync(events_hub *hub, const char *reason)
{
    char json[256];
    json_reason(json, sizeof json, reason);
    log_event(LOG_INFO, "events: streams told to resync", "reason", reason, NULL);
    for (subscriber *sub = hub->subs; sub != NULL; sub = sub->next) {
        if (sub->state == SUB_LIVE && sub->stream != NULL) {
            if (sub->position < hub->head) {
                sub->position = hub->head;
            }
            send_own(sub, EVENT_RESYNC, json);
        }
    }
    hub->resync_pending = false;
}

static void want_resync(events_hub *hub, const char *reason)
{
    if (!hub->resync_pending) {
        snprintf(hub->resync_reason, sizeof hub->resync_reason, "%s", reason);
    }
    hub->resync_pending = true;
}

/* ---------------------------------------------------------------- subscribers */

static void subscriber_free(subscriber *sub)
{
    if (sub->credential.free != NULL) {
        sub->credential.free(sub->credential.arg);
    }
    free(sub);
}

static void go_live(subscriber *sub)
{
    events_hub *hub = sub->hub;
    sub->state = SUB_LIVE;
    if (sub->position < hub->head && sub->resume_after < 0) {
        sub->position = hub->head;
    }
    char json[128];
    snprintf(json, sizeof json, "{\"resumed\":%s,\"replayed\":%lld}",
             sub->resume_after >= 0 ? "true" : "false", (long long)sub->replayed);
    send_own(sub, EVENT_READY, json);
}

static void replay(subscriber *sub);

typedef struct {
    subscriber *sub;
    int64_t upto;
} replay_job;

static void replayed(tx *t, const db_result *result)
{
    replay_job *job = tx_user(t);
    subscriber *sub = job->sub;
    events_hub *hub = sub->hub;
    if (sub->stream != NULL && sub->position > db_int64(result, 0, 0, 0)) {
        /* An id past the newest position: from another database (a restore, another
         * deployment). Start from here, and say so. */
        sub->position = hub->head;
        job->upto = hub->head;
        send_own(sub, EVENT_RESYNC,
                 "{\"reason\":\"Last-Event-ID is not a position of this database\"}");
    } else if (sub->stream != NULL) {
        event_item *items;
        size_t count =
            hub->options.policy->render(EVENT_TRANSFER, tx_arena(t), result, 1, NULL, 0, &items);
        if (count > REPLAY_MAX) {
            send_own(sub, EVENT_RESYNC,
                     "{\"reason\":\"more transfers were missed than a stream replays\"}");
        } else {
            for (size_t i = 0; i < count; i++) {
                if (items[i].position <= sub->position ||
                    !hub->options.policy->visible(&sub->who, &items[i])) {
                    continue;
                }
                sub->position = items[i].position;
                http_shared *payload = NULL;
                write_item(sub, &items[i], &payload);
                http_shared_release(payload);
                sub->replayed++;
            }
        }
        if (sub->position < job->upto) {
            sub->position = job->upto;
        }
    }
    tx_reply(t, 200, NULL, NULL);
}

static void replay_done(tx *t, int status)
{
    replay_job *job = tx_user(t);
    subscriber *sub = job->sub;
    events_hub *hub = sub->hub;
    sub->replaying = false;
    hub->replays--;
    if (sub->stream == NULL) {
        subscriber_free(sub); /* its stream ended meanwhile */
        return;
    }
    if (hub->stopped) {
        return;
    }
    if (status != 200) {
        send_own(sub, EVENT_RESYNC, "{\"reason\":\"the ledger could not be read to resume\"}");
        if (sub->position < hub->head) {
            sub->position = hub->head;
        }
        go_live(sub);
        return;
    }
    if (hub->head > sub->position) {
        replay(sub); /* more committed while this one ran */
        return;
    }
    go_live(sub);
}

/* The transfers after the stream's position up to the hub's, from the ledger. */
static void replay(subscriber *sub)
{
    events_hub *hub = sub->hub;
    sub->state = SUB_REPLAYING;
    sub->replaying = true;
    hub->replays++;
    tx *t = tx_background(hub->app, clock_ms() + hub->app->cfg->request_timeout_ms, replay_done);
    replay_job *job = TX_NEW(t, replay_job);
    job->sub = sub;
    job->upto = hub->head;
    tx_set_user(t, job);
    int64_t organization_id = 0, storage_id = 0;
    hub->options.policy->replay_scope(&sub->who, &organization_id, &storage_id);
    tx_q0(t, ST_EV_HEAD);
    tx_q(t, ST_EV_TRANSFERS, tx_int(t, sub->position), tx_int(t, job->upto),
         tx_int(t, REPLAY_MAX + 1), organization_id > 0 ? tx_int(t, organization_id) : NULL,
         storage_id > 0 ? tx_int(t, storage_id) : NULL);
    tx_run(t, TX_READ, replayed);
}

/* The hub knows its position: the subscriber resumes, or starts from here. */
static void activate(subscriber *sub)
{
    events_hub *hub = sub->hub;
    if (sub->resume_after < 0 || sub->resume_after == hub->head) {
        sub->position = hub->head;
        go_live(sub);
        return;
    }
    /* Behind: replayed. Ahead of this instance (another got further, or the id is not this
     * database's: the replay tells): nothing at or before it is sent. */
    sub->position = sub->resume_after;
    replay(sub);
}

static void on_stream_end(void *arg, http_stream_end_reason reason)
{
    subscriber *sub = arg;
    events_hub *hub = sub->hub;
    if (reason == HTTP_STREAM_SLOW_READER) {
        hub->stats.slow_readers_cut++;
        char limit[24];
        snprintf(limit, sizeof limit, "%zu", hub->options.max_buffered);
        log_event(LOG_WARN, "events: slow reader cut off", "actor", sub->who.actor,
                  "max_buffered_bytes", limit, NULL);
    }
    sub->stream = NULL;
    if (sub->prev != NULL) {
        sub->prev->next = sub->next;
    } else {
        hub->subs = sub->next;
    }
    if (sub->next != NULL) {
        sub->next->prev = sub->prev;
    }
    hub->stream_count--;
    if (!sub->replaying) {
        subscriber_free(sub);
    }
}

static int streams_of(const events_hub *hub, const char *actor)
{
    int count = 0;
    for (const subscriber *sub = hub->subs; sub != NULL; sub = sub->next) {
        count += strcmp(sub->who.actor, actor) == 0;
    }
    return count;
}

static void fetch_start(events_hub *hub);

void events_subscribe(events_hub *hub, http_ctx *ctx, int64_t resume_after,
                      events_credential credential)
{
    if (hub->stopped || hub->stream_count >= hub->options.max_streams) {
        if (credential.free != NULL) {
            credential.free(credential.arg);
        }
        if (hub->stopped) {
            http_problem(ctx, PROBLEM_UNAVAILABLE, "The service is shutting down; connect again.");
        } else {
            http_problem(ctx, PROBLEM_UNAVAILABLE,
                         "This instance already holds %d event streams; retry shortly.",
                         hub->options.max_streams);
        }
        return;
    }
    if (streams_of(hub, ctx->principal.actor) >= hub->options.max_per_credential) {
        if (credential.free != NULL) {
            credential.free(credential.arg);
        }
        http_add_header(ctx, "Retry-After", "5");
        http_problem(ctx, PROBLEM_TOO_MANY_REQUESTS,
                     "This credential already has %d event streams open here; close one first.",
                     hub->options.max_per_credential);
        return;
    }
    subscriber *sub = xcalloc(1, sizeof *sub);
    sub->hub = hub;
    sub->who = ctx->principal;
    sub->credential = credential;
    sub->resume_after = resume_after;
    sub->position = -1;
    sub->id_binding = binding_of(hub, &sub->who);
    sub->id_position = -1;
    http_stream_options options = {
        .content_type = "text/event-stream; charset=utf-8",
        .max_buffered = hub->options.max_buffered,
        .on_end = on_stream_end,
        .arg = sub,
    };
    sub->stream = http_stream_start(ctx, &options);
    if (sub->stream == NULL) {
        subscriber_free(sub);
        return;
    }
    sub->next = hub->subs;
    if (hub->subs != NULL) {
        hub->subs->prev = sub;
    }
    hub->subs = sub;
    hub->stream_count++;
    /* How long a client waits before it reconnects after a break. */
    http_stream_write(sub->stream, "retry: " RETRY_MS "\n\n", strlen("retry: " RETRY_MS "\n\n"));
    sub->last_write_ms = clock_ms();
    if (hub->head_known && hub->since_known) {
        activate(sub);
    } else {
        sub->state = SUB_WAITING; /* for the fetch of the position and the snapshot */
        fetch_start(hub);
    }
}

/* ---------------------------------------------------------------- the fetch */

typedef struct {
    events_hub *hub;
    int q_head, q_transfers, q_since, q_unloads;
    int q_kind[BY_ID_COUNT];
    int q_changed[BY_ID_COUNT]; /* whether each id was written since the snapshot */
    int64_t *ids[BY_ID_COUNT];  /* what was asked, in the tx's arena */
    size_t id_count[BY_ID_COUNT];
} fetch_job;

static void fetch_later(events_hub *hub)
{
    if (!hub->stopped) {
        event_active(&hub->fetch_soon, EV_TIMEOUT, 0);
    }
}

static void activate_waiting(events_hub *hub)
{
    if (!hub->head_known || !hub->since_known) {
        return;
    }
    for (subscriber *sub = hub->subs; sub != NULL; sub = sub->next) {
        if (sub->state == SUB_WAITING && sub->stream != NULL) {
            activate(sub);
        }
    }
}

/* The items of a kind fetched by id that are news: different from what was delivered of
 * the id, or never delivered and written since the snapshot. Every item is recorded. */
static void fan_out_changed(events_hub *hub, event_kind kind, const db_result *result,
                            int q_changed, const int64_t *ids, const event_item *items,
                            size_t count)
{
    delivered_map *map = &hub->delivered[kind];
    int rows = db_rows(result, q_changed);
    int row = 0;
    for (size_t i = 0; i < count; i++) {
        int64_t id = ids[i];
        while (row < rows && db_int64(result, q_changed, row, 0) < id) {
            row++;
        }
        bool written = row < rows && db_int64(result, q_changed, row, 0) == id &&
                       db_text(result, q_changed, row, 1)[0] == 't';
        uint64_t hash = payload_hash(items[i].json), last = 0;
        bool news = map_get(map, id, &last) ? last != hash : written;
        map_put(map, id, hash);
        if (news) {
            fan_out(hub, &items[i]);
        }
    }
}

static bool any_pending(const events_hub *hub)
{
    for (size_t k = 0; k < BY_ID_COUNT; k++) {
        if (hub->pending[by_id[k]].count > 0) {
            return true;
        }
    }
    return false;
}

static void fetched(tx *t, const db_result *result)
{
    fetch_job *job = tx_user(t);
    events_hub *hub = job->hub;
    const events_policy *policy = hub->options.policy;
    if (job->q_since >= 0) {
        free(hub->since);
        hub->since = xstrdup(db_text(result, job->q_since, 0, 0));
        hub->unload_head = db_int64(result, job->q_since, 0, 1);
        free(hub->unload_since);
        hub->unload_since = xstrdup(hub->since);
        hub->unload_after = 0;
        hub->since_known = true;
    }
    if (job->q_head >= 0) {
        int64_t newest = db_int64(result, job->q_head, 0, 0);
        if (!hub->head_known) {
            hub->head = newest;
            hub->head_known = true;
        } else if (newest - hub->head > BACKLOG_MAX) {
            hub->head = newest;
            want_resync(hub, "more transfers committed at once than the streams are sent");
            job->q_transfers = -1;
        }
    }
    if (job->q_transfers >= 0) {
        event_item *items;
        size_t count =
            policy->render(EVENT_TRANSFER, tx_arena(t), result, job->q_transfers, NULL, 0, &items);
        for (size_t i = 0; i < count; i++) {
            if (items[i].position > hub->head) {
                fan_out(hub, &items[i]);
                hub->head = items[i].position;
            }
        }
        if (count == FETCH_TRANSFERS) {
            hub->transfers_dirty = true; /* there may be more */
        }
    }
    activate_waiting(hub); /* after the transfers of the head's read */
    if (job->q_unloads >= 0) {
        int rows = db_rows(result, job->q_unloads);
        int64_t newest = 0;
        for (int row = 0; row < rows; row++) {
            int64_t id = db_int64(result, job->q_unloads, row, 0);
            newest = id > newest ? id : newest;
        }
        hub->unload_head = newest > hub->unload_head ? newest : hub->unload_head;
        if (rows > 0 && rows < FETCH_IDS) {
            /* Everything new under the read's snapshot came: the next read starts there. */
            free(hub->unload_since);
            hub->unload_since = xstrdup(db_text(result, job->q_unloads, 0, 6));
            hub->unload_after = 0;
        } else if (rows > 0) {
            hub->unload_after = newest; /* the rest of this snapshot's news next */
        }
        event_item *items;
        size_t count =
            policy->render(EVENT_UNLOAD, tx_arena(t), result, job->q_unloads, NULL, 0, &items);
        for (size_t i = 0; i < count; i++) {
            fan_out(hub, &items[i]);
        }
        if (rows == FETCH_IDS) {
            hub->unloads_dirty = true; /* there may be more */
        }
    }
    for (size_t k = 0; k < BY_ID_COUNT; k++) {
        if (job->q_kind[k] < 0) {
            continue;
        }
        event_item *items;
        size_t count = policy->render(by_id[k], tx_arena(t), result, job->q_kind[k], job->ids[k],
                                      job->id_count[k], &items);
        fan_out_changed(hub, by_id[k], result, job->q_changed[k], job->ids[k], items, count);
    }
    tx_reply(t, 200, NULL, NULL);
}

static void fetch_done(tx *t, int status)
{
    fetch_job *job = tx_user(t);
    events_hub *hub = job->hub;
    hub->fetching = false;
    if (status != 200) {
        /* Everything asked is asked again (transfers by position: nothing is lost); after
         * a few failures the ids are dropped and the streams told to resync. */
        hub->fetch_failures++;
        if (job->q_transfers >= 0) {
            hub->transfers_dirty = true;
        }
        if (job->q_unloads >= 0) {
            hub->unloads_dirty = true;
        }
        for (size_t k = 0; k < BY_ID_COUNT; k++) {
            for (size_t i = 0; i < job->id_count[k]; i++) {
                set_add(&hub->pending[by_id[k]], job->ids[k][i]);
            }
        }
        if (hub->fetch_failures == 1 || hub->fetch_failures % 10 == 0) {
            char failures[16];
            snprintf(failures, sizeof failures, "%d", hub->fetch_failures);
            log_event(LOG_WARN, "events: fetch failed; retrying", "failures", failures, NULL);
        }
        if (hub->fetch_failures >= 5) {
            for (size_t k = 0; k < BY_ID_COUNT; k++) {
                set_clear(&hub->pending[by_id[k]]);
            }
            want_resync(hub, "changes could not be read from the database");
        }
        int ms = 200 << (hub->fetch_failures < 5 ? hub->fetch_failures : 5);
        struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
        if (!hub->stopped) {
            evtimer_add(&hub->fetch_retry, &tv);
        }
        return;
    }
    hub->fetch_failures = 0;
    fetch_start(hub);
}

static const char *array_literal(tx *t, const int64_t *ids, size_t count)
{
    strbuf text = {0};
    strbuf_puts(&text, "{");
    for (size_t i = 0; i < count; i++) {
        if (i > 0) {
            strbuf_puts(&text, ",");
        }
        strbuf_int(&text, ids[i]);
    }
    strbuf_puts(&text, "}");
    const char *literal = tx_text(t, text.data);
    strbuf_free(&text);
    return literal;
}

static const int kind_statement[EVENT__COUNT] = {
    [EVENT_STORAGE] = ST_EV_STORAGES,
    [EVENT_ORGANIZATION] = ST_EV_ORGANIZATIONS,
    [EVENT_ROUTE] = ST_EV_ROUTES,
};
static const int changed_statement[EVENT__COUNT] = {
    [EVENT_STORAGE] = ST_EV_STORAGES_CHANGED,
    [EVENT_ORGANIZATION] = ST_EV_ORGANIZATIONS_CHANGED,
    [EVENT_ROUTE] = ST_EV_ROUTES_CHANGED,
};

/* Starts a fetch of whatever waits, unless one runs or waits for its retry; with nobody to
 * tell, only forgets. Once everything is fetched, a resync that was due goes out. */
static void fetch_start(events_hub *hub)
{
    if (hub->fetching || hub->stopped || evtimer_pending(&hub->fetch_retry, NULL)) {
        return;
    }
    for (size_t k = 0; k < BY_ID_COUNT; k++) {
        id_set *set = &hub->pending[by_id[k]];
        if (set->all) {
            set_clear(set);
            want_resync(hub, "one statement changed more than the listener reads at once");
        }
    }
    if (hub->subs == NULL) {
        for (size_t k = 0; k < BY_ID_COUNT; k++) {
            set_clear(&hub->pending[by_id[k]]);
            map_clear(&hub->delivered[by_id[k]]);
        }
        if (hub->transfers_dirty) {
            hub->head_known = false; /* read again when a stream comes */
            hub->transfers_dirty = false;
        }
        /* Nobody was told of what changes now: the next stream's client reads it at
         * `ready`, so it is judged against a snapshot taken then. */
        hub->since_known = false;
        hub->unloads_dirty = false;
        hub->resync_pending = false;
        return;
    }
    bool transfers = hub->head_known && hub->transfers_dirty;
    bool known = hub->head_known && hub->since_known;
    bool unloads = known && hub->unloads_dirty;
    if (known && !transfers && !unloads && !any_pending(hub)) {
        if (hub->resync_pending && hub->state == LISTENER_READY) {
            broadcast_resync(hub, hub->resync_reason);
        }
        return;
    }
    tx *t = tx_background(hub->app, clock_ms() + hub->app->cfg->request_timeout_ms, fetch_done);
    fetch_job *job = TX_NEW(t, fetch_job);
    job->hub = hub;
    job->q_head = job->q_transfers = job->q_since = job->q_unloads = -1;
    tx_set_user(t, job);
    int q = 0;
    if (!hub->since_known) {
        tx_q0(t, ST_EV_SINCE);
        job->q_since = q++;
    }
    if (!hub->head_known || transfers) {
        tx_q0(t, ST_EV_HEAD);
        job->q_head = q++;
    }
    if (transfers) {
        tx_q(t, ST_EV_TRANSFERS, tx_int(t, hub->head), NULL, tx_int(t, FETCH_TRANSFERS), NULL,
             NULL);
        job->q_transfers = q++;
        hub->transfers_dirty = false;
    }
    if (unloads) {
        int64_t floor =
            hub->unload_after > 0 ? hub->unload_after : hub->unload_head - UNLOAD_WINDOW;
        tx_q(t, ST_EV_UNLOADS_AFTER, tx_int(t, floor), tx_text(t, hub->unload_since),
             tx_int(t, FETCH_IDS));
        job->q_unloads = q++;
        hub->unloads_dirty = false;
    }
    for (size_t k = 0; k < BY_ID_COUNT; k++) {
        id_set *set = &hub->pending[by_id[k]];
        job->q_kind[k] = job->q_changed[k] = -1;
        if (!known || set->count == 0) {
            continue; /* nobody is live before the position and the snapshot are known */
        }
        set_normalize(set);
        size_t take = set->count < FETCH_IDS ? set->count : FETCH_IDS;
        job->ids[k] = TX_ARRAY(t, int64_t, take);
        memcpy(job->ids[k], set->ids, take * sizeof *set->ids);
        job->id_count[k] = take;
        const char *ids = array_literal(t, job->ids[k], take);
        /* Whether they changed first: a change committing in between is then delivered
         * with its next notification rather than missed. */
        tx_q(t, changed_statement[by_id[k]], ids, tx_text(t, hub->since));
        job->q_changed[k] = q++;
        tx_q(t, kind_statement[by_id[k]], ids);
        job->q_kind[k] = q++;
        /* The rest waits for the next fetch, right after this one. */
        memmove(set->ids, set->ids + take, (set->count - take) * sizeof *set->ids);
        set->count -= take;
    }
    hub->fetching = true;
    tx_run(t, TX_READ, fetched);
}

static void fetch_soon_cb(evutil_socket_t fd, short events, void *arg)
{
    fetch_start(arg);
}

/* ---------------------------------------------------------------- notifications */

static event_kind kind_of(char letter)
{
    switch (letter) {
    case 'u':
        return EVENT_UNLOAD;
    case 's':
        return EVENT_STORAGE;
    case 'o':
        return EVENT_ORGANIZATION;
    case 'r':
        return EVENT_ROUTE;
    default:
        return EVENT__COUNT;
    }
}

/* Whether text is "<id>,<id>,..." (at least one; each a positive 64-bit integer). */
static bool id_list(const char *text)
{
    do {
        int64_t id = 0;
        const char *digits = text;
        while (*text >= '0' && *text <= '9') {
            if (id > (INT64_MAX - (*text - '0')) / 10) {
                return false;
            }
            id = id * 10 + (*text++ - '0');
        }
        if (text == digits || id == 0) {
            return false;
        }
    } while (*text++ == ',');
    return text[-1] == '\0';
}

/* "t", or "<kind>:<id>,<id>..." (sql/migrations/005_events.sql and 007_outsiders.sql), and
 * only as a hint of where to look (see the top of this file). Anything else — "<kind>:*",
 * which the triggers no longer send, or whatever another session sends — is ignored. */
static void on_notification(events_hub *hub, const char *payload)
{
    hub->stats.notifications++;
    if (strcmp(payload, "t") == 0) {
        hub->transfers_dirty = true;
        fetch_later(hub);
        return;
    }
    event_kind kind = payload[0] != '\0' && payload[1] == ':' ? kind_of(payload[0]) : EVENT__COUNT;
    if (kind == EVENT__COUNT || !id_list(payload + 2)) {
        log_event(LOG_DEBUG, "events: unknown notification ignored", "payload", payload, NULL);
        return;
    }
    if (kind == EVENT_UNLOAD) {
        hub->unloads_dirty = true; /* read after the newest delivered, whatever it names */
        fetch_later(hub);
        return;
    }
    id_set *set = &hub->pending[kind];
    for (const char *p = payload + 2; *p != '\0';) {
        set_add(set, strtoll(p, (char **)&p, 10));
        p += *p == ',';
    }
    fetch_later(hub);
}

/* ---------------------------------------------------------------- the listener */

static void listener_connect(events_hub *hub);

static void listener_timer_in(events_hub *hub, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(&hub->listener_timer, &tv);
}

static void listener_watch(events_hub *hub, short events);

static void listener_unwatch(events_hub *hub)
{
    if (hub->io_added) {
        event_del(&hub->io);
        hub->io_added = false;
    }
    hub->socket = -1;
}

static void listener_close(events_hub *hub)
{
    listener_unwatch(hub);
    evtimer_del(&hub->listener_timer);
    if (hub->pg != NULL) {
        PQfinish(hub->pg);
        hub->pg = NULL;
    }
    hub->ping_in_flight = false;
    hub->stats.listening = false;
}

static void listener_failed(events_hub *hub, const char *why_text)
{
    char why[256];
    snprintf(why, sizeof why, "%s", why_text); /* may be the message PQfinish frees */
    bool was_ready = hub->state == LISTENER_READY;
    listener_close(hub);
    hub->state = LISTENER_DOWN;
    if (hub->stopped) {
        return;
    }
    if (was_ready) {
        hub->lost = true;
        hub->stats.listener_reconnects++;
        log_event(LOG_WARN, "events: listener connection lost; reconnecting", "reason", why, NULL);
    } else if (hub->backoff_ms == BACKOFF_MIN_MS || hub->backoff_ms >= BACKOFF_MAX_MS) {
        log_event(LOG_WARN, "events: listener cannot connect; retrying", "reason", why, NULL);
    }
    listener_timer_in(hub, hub->backoff_ms);
    hub->backoff_ms = hub->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : hub->backoff_ms * 2;
}

static bool listener_flush(events_hub *hub)
{
    int rc = PQflush(hub->pg);
    if (rc < 0) {
        listener_failed(hub, PQerrorMessage(hub->pg));
        return false;
    }
    listener_watch(hub, rc == 1 ? EV_READ | EV_WRITE : EV_READ);
    return true;
}

static void listener_send(events_hub *hub, const char *sql)
{
    if (PQsendQuery(hub->pg, sql) != 1) {
        listener_failed(hub, PQerrorMessage(hub->pg));
        return;
    }
    if (listener_flush(hub)) {
        listener_timer_in(hub, hub->app->cfg->query_timeout_ms + 2000);
    }
}

static void listener_ready(events_hub *hub)
{
    hub->state = LISTENER_READY;
    hub->stats.listening = true;
    hub->backoff_ms = BACKOFF_MIN_MS;
    listener_timer_in(hub, PING_MS);
    if (hub->lost) {
        /* What committed while nobody listened: the transfers from the ledger, then every
         * live stream refetches the rest. */
        hub->lost = false;
        hub->transfers_dirty = true;
        want_resync(hub, "the database connection of the event listener was re-established");
        log_event(LOG_INFO, "events: listening again", NULL);
    } else if (!hub->ever_ready) {
        log_event(LOG_DEBUG, "events: listening", NULL);
    }
    hub->ever_ready = true;
    fetch_start(hub);
}

/* Results of LISTEN or of a ping, and the notifications that came with them. */
static void listener_read(events_hub *hub)
{
    if (PQconsumeInput(hub->pg) != 1) {
        listener_failed(hub, PQerrorMessage(hub->pg));
        return;
    }
    while (!PQisBusy(hub->pg)) {
        PGresult *r = PQgetResult(hub->pg);
        if (r == NULL) {
            break;
        }
        ExecStatusType status = PQresultStatus(r);
        char message[256];
        snprintf(message, sizeof message, "%s", PQresultErrorMessage(r));
        PQclear(r);
        if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
            listener_failed(hub, message);
            return;
        }
        evtimer_del(&hub->listener_timer);
        if (hub->state == LISTENER_SUBSCRIBING) {
            listener_ready(hub);
        } else {
            hub->ping_in_flight = false;
            listener_timer_in(hub, PING_MS);
        }
    }
    PGnotify *note;
    while (hub->pg != NULL && (note = PQnotifies(hub->pg)) != NULL) {
        if (strcmp(note->relname, CHANNEL) == 0) {
            on_notification(hub, note->extra);
        }
        PQfreemem(note);
    }
    if (hub->pg != NULL && PQstatus(hub->pg) == CONNECTION_BAD) {
        listener_failed(hub, "the server closed the connection");
    }
}

static void listener_poll(events_hub *hub)
{
    switch (PQconnectPoll(hub->pg)) {
    case PGRES_POLLING_READING:
        listener_watch(hub, EV_READ);
        return;
    case PGRES_POLLING_WRITING:
        listener_watch(hub, EV_WRITE);
        return;
    case PGRES_POLLING_OK:
        evtimer_del(&hub->listener_timer);
        if (PQsetnonblocking(hub->pg, 1) != 0) {
            listener_failed(hub, PQerrorMessage(hub->pg));
            return;
        }
        hub->state = LISTENER_SUBSCRIBING;
        listener_send(hub, "LISTEN " CHANNEL);
        return;
    default:
        listener_failed(hub, PQerrorMessage(hub->pg));
        return;
    }
}

static void listener_io(evutil_socket_t fd, short events, void *arg)
{
    events_hub *hub = arg;
    if (hub->state == LISTENER_CONNECTING) {
        listener_poll(hub);
        return;
    }
    if ((events & EV_WRITE) && !listener_flush(hub)) {
        return;
    }
    if (events & EV_READ) {
        listener_read(hub);
    }
}

/* PQsocket may change between connection attempts: the event follows it. */
static void listener_watch(events_hub *hub, short events)
{
    int fd = PQsocket(hub->pg);
    if (hub->io_added && (fd != hub->socket || events != hub->io_events)) {
        event_del(&hub->io);
        hub->io_added = false;
    }
    if (!hub->io_added && fd >= 0) {
        event_assign(&hub->io, hub->app->base, fd, events | EV_PERSIST, listener_io, hub);
        event_add(&hub->io, NULL);
        hub->io_added = true;
        hub->io_events = events;
        hub->socket = fd;
    }
}

static void listener_connect(events_hub *hub)
{
    /* The service's own conninfo (several hosts and target_session_attrs included), named
     * so that pg_stat_activity tells it from the pool's sessions. */
    const char *const keys[] = {"dbname", "application_name", NULL};
    const char *const values[] = {hub->app->cfg->database_url, "wasteflow events", NULL};
    hub->pg = PQconnectStartParams(keys, values, 1);
    if (hub->pg == NULL || PQstatus(hub->pg) == CONNECTION_BAD) {
        listener_failed(hub, hub->pg != NULL ? PQerrorMessage(hub->pg) : "out of memory");
        return;
    }
    hub->state = LISTENER_CONNECTING;
    listener_timer_in(hub, CONNECT_TIMEOUT_MS);
    listener_poll(hub);
}

static void listener_timeout(evutil_socket_t fd, short events, void *arg)
{
    events_hub *hub = arg;
    switch (hub->state) {
    case LISTENER_DOWN:
        listener_connect(hub);
        return;
    case LISTENER_CONNECTING:
        listener_failed(hub, "connect timed out");
        return;
    case LISTENER_SUBSCRIBING:
        listener_failed(hub, "LISTEN was not answered");
        return;
    case LISTENER_READY:
        if (hub->ping_in_flight) {
            listener_failed(hub, "the database did not answer the listener's ping");
            return;
        }
        hub->ping_in_flight = true;
        listener_send(hub, "SELECT 1");
        return;
    }
}

/* ---------------------------------------------------------------- the tick */

static void tick(evutil_socket_t fd, short events, void *arg)
{
    events_hub *hub = arg;
    int64_t now = clock_ms();
    for (subscriber *sub = hub->subs; sub != NULL; sub = sub->next) {
        if (sub->stream == NULL || http_stream_over(sub->stream)) {
            continue;
        }
        if (sub->credential.still_valid != NULL &&
            !sub->credential.still_valid(sub->credential.arg)) {
            send_own(sub, EVENT_UNAUTHORIZED,
                     "{\"reason\":\"the stream's credential was revoked or has expired\"}");
            http_stream_end(sub->stream, LINGER_MS);
            continue;
        }
        if (now - sub->last_write_ms >= hub->options.keepalive_ms) {
            static const char comment[] = ": keep-alive\n\n";
            if (http_stream_write(sub->stream, comment, sizeof comment - 1)) {
                sub->last_write_ms = now;
            }
        }
    }
    struct timeval tv = {TICK_MS / 1000, (TICK_MS % 1000) * 1000};
    evtimer_add(&hub->tick, &tv);
}

/* ---------------------------------------------------------------- life */

events_hub *events_new(wf_app *app, const events_options *options)
{
    events_hub *hub = xcalloc(1, sizeof *hub);
    hub->app = app;
    hub->options = *options;
    event_id_keys_derive(app->deployment_key, sizeof app->deployment_key, &hub->id_keys);
    hub->socket = -1;
    hub->backoff_ms = BACKOFF_MIN_MS;
    hub->state = LISTENER_DOWN;
    evtimer_assign(&hub->listener_timer, app->base, listener_timeout, hub);
    event_assign(&hub->fetch_soon, app->base, -1, 0, fetch_soon_cb, hub);
    evtimer_assign(&hub->fetch_retry, app->base, fetch_soon_cb, hub);
    evtimer_assign(&hub->tick, app->base, tick, hub);
    struct timeval tv = {TICK_MS / 1000, (TICK_MS % 1000) * 1000};
    evtimer_add(&hub->tick, &tv);
    listener_connect(hub);
    return hub;
}

void events_stop(events_hub *hub)
{
    if (hub == NULL || hub->stopped) {
        return;
    }
    hub->stopped = true;
    for (subscriber *sub = hub->subs; sub != NULL; sub = sub->next) {
        if (sub->stream != NULL && !http_stream_over(sub->stream)) {
            send_own(sub, EVENT_SHUTDOWN,
                     "{\"reason\":\"the server is shutting down; reconnect\"}");
            http_stream_end(sub->stream, LINGER_MS);
        }
    }
    event_del(&hub->fetch_soon);
    evtimer_del(&hub->fetch_retry);
    listener_close(hub);
    hub->state = LISTENER_DOWN;
}

bool events_busy(const events_hub *hub)
{
    return hub != NULL && (hub->fetching || hub->replays > 0);
}

void events_free(events_hub *hub)
{
    if (hub == NULL) {
        return;
    }
    while (hub->subs != NULL) {
        subscriber *sub = hub->subs;
        hub->subs = sub->next;
        if (sub->stream != NULL) {
            http_stream_abandon(sub->stream);
        }
        subscriber_free(sub);
    }
    listener_close(hub);
    event_del(&hub->fetch_soon);
    evtimer_del(&hub->fetch_retry);
    evtimer_del(&hub->tick);
    for (int k = 0; k < EVENT__COUNT; k++) {
        set_clear(&hub->pending[k]);
        map_clear(&hub->delivered[k]);
    }
    free(hub->since);
    free(hub->unload_since);
    free(hub);
}

events_stats events_get_stats(const events_hub *hub)
{
    events_stats stats = hub->stats;
    stats.streams = hub->stream_count;
    stats.buffered_bytes = 0;
    for (const subscriber *sub = hub->subs; sub != NULL; sub = sub->next) {
        if (sub->stream != NULL) {
            stats.buffered_bytes += http_stream_buffered(sub->stream);
        }
    }
    return stats;
}
