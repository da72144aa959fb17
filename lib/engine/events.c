/* The live-event hub (see events.h): the reader of the feed, the fetch and the subscribers.
 *
 *   reader:   while a stream is open, reads the feed every POLL_MS (at once again while a
 *             read came back full) on the control connection: the transfers after the
 *             last one delivered and the event_log rows after the last one read, both below
 *             the horizon of the statement's snapshot (wf_feed_horizon in 008_feed.sql:
 *             every transaction with a smaller id has ended, and what it committed is
 *             visible). So the order is (xid, id) and nothing is skipped, whatever commits
 *             when: a row whose transaction is still running stays above the horizon until
 *             it ends. Then, in a second round, the unloads, storages, organizations and
 *             routes event_log named, as they are now (a deleted one has no row). A read
 *             that fails is retried with a backoff, and once one succeeds again the streams
 *             are told to `resync` (transfers are caught up by position first). Without
 *             streams nothing is read; the first stream reads the starting point again.
 *   subscriber: WAITING (for the starting point) --> [REPLAYING (Last-Event-ID)] --> LIVE,
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

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FETCH_TRANSFERS 200    /* transfers per read; more are read right after */
#define FETCH_LOG       500    /* event_log rows per read; likewise */
#define IDS_MAX         100000 /* distinct ids of a kind in one read: more, a resync */
#define REPLAY_MAX      1000   /* transfers a resuming stream is replayed, else resync */
#define POLL_MS         100    /* the feed is read this often while a stream is open */
#define PRUNE_MS        600000 /* event_log's old rows are deleted this often */
#define TICK_MS         1000   /* keep-alives and credential checks */
#define LINGER_MS       1000   /* a final event's time to reach its reader */
#define RETRY_MS        "1000"

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

/* A place in the feed's order: a transfer's (xid, id), or an event_log row's (xid, seq). */
typedef struct {
    uint64_t xid;
    int64_t id;
} feed_pos;

static int pos_cmp(feed_pos a, feed_pos b)
{
    if (a.xid != b.xid) {
        return a.xid < b.xid ? -1 : 1;
    }
    return a.id < b.id ? -1 : a.id > b.id;
}

static uint64_t xid_of(const char *text)
{
    return strtoull(text, NULL, 10);
}

static const char *xid_text(tx *t, uint64_t xid)
{
    char text[24];
    snprintf(text, sizeof text, "%" PRIu64, xid);
    return tx_text(t, text);
}

typedef enum { SUB_WAITING, SUB_REPLAYING, SUB_LIVE } sub_state;

typedef struct subscriber {
    events_hub *hub;
    http_stream *stream; /* NULL once it ended */
    auth_principal who;
    events_credential credential;
    sub_state state;
    int64_t resume_after; /* -1: none */
    bool at_known;        /* at is set (a resume's transfer was looked up) */
    feed_pos at;          /* the last transfer this stream has passed */
    int64_t position;     /* its id: the stream's event id (-1 before the first) */
    /* Its principal's event-id binding (util/event_id.h), and the id of id_position. */
    uint64_t id_binding;
    int64_t id_position; /* -1: none sealed yet */
    char id_text[EVENT_ID_TEXT_SIZE];
    int64_t replayed;
    int64_t last_write_ms;
    bool replaying; /* a replay's database work is in flight (and holds this) */
    struct subscriber *prev, *next;
} subscriber;

struct events_hub {
    wf_app *app;
    events_options options;
    bool stopped;
    event_id_keys id_keys; /* of the deployment's key: every instance seals alike */

    /* The reader. */
    bool started;  /* head and log are known (else read the starting point first) */
    feed_pos head; /* the last transfer delivered */
    feed_pos log;  /* the last event_log row read */
    bool fetching;
    bool more; /* the last read came back full */
    int fetch_failures;
    bool lost; /* reads failed: the streams resync once one succeeds */
    bool resync_pending;
    char resync_reason[160];
    struct event poll;
    struct event prune;

    subscriber *subs;
    int stream_count;
    int replays; /* replays in flight */
    struct event tick;
    events_stats stats;
};

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

/* One change to every live stream that may see it. A transfer moves each stream past it,
 * seen or not: its id says how far through the ledger the stream is. */
static void fan_out(events_hub *hub, const event_item *item)
{
    http_shared *payload = NULL;
    feed_pos pos = {item->xid, item->position};
    for (subscriber *sub = hub->subs; sub != NULL; sub = sub->next) {
        if (sub->state != SUB_LIVE || sub->stream == NULL) {
            continue;
        }
        if (item->kind == EVENT_TRANSFER) {
            if (pos_cmp(pos, sub->at) <= 0) {
                continue; /* replayed to it already, or passed on another instance */
            }
            sub->at = pos;
            sub->position = item->position;
        }
        if (!hub->options.policy->visible(&sub->who, item)) {
            continue;
        }
        write_item(sub, item, &payload);
    }
    http_shared_release(payload);
}

/* The stream stands at least at the hub's last transfer. */
static void catch_up(subscriber *sub)
{
    if (pos_cmp(sub->at, sub->hub->head) < 0) {
        sub->at = sub->hub->head;
        sub->position = sub->hub->head.id;
    }
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
            catch_up(sub);
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
    sub->state = SUB_LIVE;
    if (sub->resume_after < 0) {
        catch_up(sub);
    }
    char json[128];
    snprintf(json, sizeof json, "{\"resumed\":%s,\"replayed\":%lld}",
             sub->resume_after >= 0 ? "true" : "false", (long long)sub->replayed);
    send_own(sub, EVENT_READY, json);
}

static void replay(subscriber *sub);

typedef struct {
    subscriber *sub;
    feed_pos upto; /* the hub's last transfer when the replay began */
} replay_job;

static void replay_read(tx *t, const db_result *result)
{
    replay_job *job = tx_user(t);
    subscriber *sub = job->sub;
    events_hub *hub = sub->hub;
    if (sub->stream != NULL) {
        event_item *items;
        size_t count =
            hub->options.policy->render(EVENT_TRANSFER, tx_arena(t), result, 0, NULL, 0, &items);
        if (count > REPLAY_MAX) {
            send_own(sub, EVENT_RESYNC,
                     "{\"reason\":\"more transfers were missed than a stream replays\"}");
        } else {
            for (size_t i = 0; i < count; i++) {
                sub->at = (feed_pos){items[i].xid, items[i].position};
                sub->position = items[i].position;
                if (!hub->options.policy->visible(&sub->who, &items[i])) {
                    continue;
                }
                http_shared *payload = NULL;
                write_item(sub, &items[i], &payload);
                http_shared_release(payload);
                sub->replayed++;
            }
        }
        if (pos_cmp(sub->at, job->upto) < 0) {
            sub->at = job->upto;
            sub->position = job->upto.id;
        }
    }
    tx_reply(t, 200, NULL, NULL);
}

/* Queues the transfers after the stream's place up to the hub's, from the ledger. */
static void queue_replay(tx *t, subscriber *sub)
{
    replay_job *job = tx_user(t);
    int64_t organization_id = 0, storage_id = 0;
    sub->hub->options.policy->replay_scope(&sub->who, &organization_id, &storage_id);
    tx_q(t, ST_FEED_TRANSFERS, xid_text(t, sub->at.xid), tx_int(t, sub->at.id),
         xid_text(t, job->upto.xid), tx_int(t, job->upto.id), tx_int(t, REPLAY_MAX + 1),
         organization_id > 0 ? tx_int(t, organization_id) : NULL,
         storage_id > 0 ? tx_int(t, storage_id) : NULL);
}

/* Where the Last-Event-ID's transfer stands in the feed's order. */
static void replay_located(tx *t, const db_result *result)
{
    replay_job *job = tx_user(t);
    subscriber *sub = job->sub;
    if (sub->stream == NULL) {
        tx_reply(t, 200, NULL, NULL);
        return;
    }
    sub->at_known = true;
    if (db_rows(result, 0) == 1) {
        sub->at = (feed_pos){xid_of(db_text(result, 0, 0, 0)), sub->resume_after};
    } else if (sub->resume_after == 0) {
        sub->at = (feed_pos){0, 0}; /* before the first transfer */
    } else {
        /* An id of no transfer here: from another database (a restore, another
         * deployment). Start from here, and say so. */
        sub->at = job->upto;
        sub->position = job->upto.id;
        send_own(sub, EVENT_RESYNC,
                 "{\"reason\":\"Last-Event-ID is not a position of this database\"}");
        tx_reply(t, 200, NULL, NULL);
        return;
    }
    if (pos_cmp(sub->at, job->upto) >= 0) {
        tx_reply(t, 200, NULL, NULL); /* ahead of this instance: nothing to replay */
        return;
    }
    queue_replay(t, sub);
    tx_next(t, replay_read);
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
        catch_up(sub);
        go_live(sub);
        return;
    }
    if (pos_cmp(hub->head, sub->at) > 0) {
        replay(sub); /* more was delivered live while this one ran */
        return;
    }
    go_live(sub);
}

static void replay(subscriber *sub)
{
    events_hub *hub = sub->hub;
    if (sub->at_known && pos_cmp(sub->at, hub->head) >= 0) {
        go_live(sub); /* ahead of this instance: nothing at or before its place is sent */
        return;
    }
    sub->state = SUB_REPLAYING;
    sub->replaying = true;
    hub->replays++;
    tx *t = tx_background(hub->app, clock_ms() + hub->app->cfg->request_timeout_ms, replay_done);
    replay_job *job = TX_NEW(t, replay_job);
    job->sub = sub;
    job->upto = hub->head;
    tx_set_user(t, job);
    if (sub->at_known) {
        queue_replay(t, sub);
        tx_run(t, TX_READ, replay_read);
        return;
    }
    tx_q(t, ST_FEED_POSITION, tx_int(t, sub->resume_after));
    tx_run(t, TX_READ, replay_located);
}

/* The hub knows its place: the subscriber resumes, or starts from here. */
static void activate(subscriber *sub)
{
    if (sub->resume_after < 0) {
        catch_up(sub);
        go_live(sub);
        return;
    }
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
static void poll_in(events_hub *hub, int ms);

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
    sub->at = (feed_pos){0, -1};
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
    if (hub->started) {
        activate(sub);
    } else {
        sub->state = SUB_WAITING; /* for the read of the starting point */
        poll_in(hub, 0);
    }
}

/* ---------------------------------------------------------------- the reader */

static void poll_in(events_hub *hub, int ms)
{
    if (hub->stopped) {
        return;
    }
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_del(&hub->poll);
    evtimer_add(&hub->poll, &tv);
}

static void activate_waiting(events_hub *hub)
{
    for (subscriber *sub = hub->subs; sub != NULL; sub = sub->next) {
        if (sub->state == SUB_WAITING && sub->stream != NULL) {
            activate(sub);
        }
    }
}

/* The kinds event_log names, in the order their events go out (after the transfers). */
static const struct {
    char letter;
    event_kind kind;
    int statement;
} logged[] = {
    {'u', EVENT_UNLOAD, ST_EV_UNLOADS},
    {'s', EVENT_STORAGE, ST_EV_STORAGES},
    {'o', EVENT_ORGANIZATION, ST_EV_ORGANIZATIONS},
    {'r', EVENT_ROUTE, ST_EV_ROUTES},
};
#define LOGGED_COUNT (sizeof logged / sizeof logged[0])

typedef struct {
    events_hub *hub;
    int64_t *ids[LOGGED_COUNT]; /* distinct, ascending, in the tx's arena */
    size_t id_count[LOGGED_COUNT];
    int q_kind[LOGGED_COUNT];
} fetch_job;

static int compare_ids(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static const char *array_literal(tx *t, const int64_t *ids, size_t count)
{
    strbuf text = {0};
    strbuf_puts(&text, "{");
    for (size_t i = 0; i < count; i++) {
        strbuf_puts(&text, i > 0 ? "," : "");
        strbuf_int(&text, ids[i]);
    }
    strbuf_puts(&text, "}");
    if (strbuf_failed(&text)) {
        mem_exhausted(text.len);
    }
    const char *literal = tx_text(t, text.data);
    strbuf_free(&text);
    return literal;
}

/* The second round: what event_log named, as it is now. */
static void states_read(tx *t, const db_result *result)
{
    fetch_job *job = tx_user(t);
    events_hub *hub = job->hub;
    for (size_t k = 0; k < LOGGED_COUNT; k++) {
        if (job->q_kind[k] < 0) {
            continue;
        }
        event_item *items;
        size_t count =
            hub->options.policy->render(logged[k].kind, tx_arena(t), result, job->q_kind[k],
                                        job->ids[k], job->id_count[k], &items);
        for (size_t i = 0; i < count; i++) {
            fan_out(hub, &items[i]);
        }
    }
    tx_reply(t, 200, NULL, NULL);
}

/* Collects the ids of each kind that the log rows (query 1) name. */
static bool collect_logged(events_hub *hub, tx *t, fetch_job *job, const db_result *result)
{
    int rows = db_rows(result, 1);
    size_t entries = 0;
    feed_pos last = hub->log;
    for (size_t k = 0; k < LOGGED_COUNT; k++) {
        job->ids[k] = TX_ARRAY(t, int64_t, rows > 0 ? (size_t)rows : 1);
        job->q_kind[k] = -1;
    }
    for (int row = 0; row < rows; row++) {
        feed_pos pos = {xid_of(db_text(result, 1, row, 0)), db_int64(result, 1, row, 1)};
        if (pos_cmp(pos, last) != 0) {
            entries++;
            last = pos;
        }
        char letter = db_text(result, 1, row, 2)[0];
        for (size_t k = 0; k < LOGGED_COUNT; k++) {
            if (logged[k].letter == letter) {
                job->ids[k][job->id_count[k]++] = db_int64(result, 1, row, 3);
            }
        }
    }
    hub->log = last;
    int q = 0;
    for (size_t k = 0; k < LOGGED_COUNT; k++) {
        size_t n = job->id_count[k];
        if (n == 0) {
            continue;
        }
        qsort(job->ids[k], n, sizeof *job->ids[k], compare_ids);
        size_t distinct = 1;
        for (size_t i = 1; i < n; i++) {
            if (job->ids[k][i] != job->ids[k][distinct - 1]) {
                job->ids[k][distinct++] = job->ids[k][i];
            }
        }
        if (distinct > IDS_MAX) {
            job->id_count[k] = 0;
            want_resync(hub, "one read named more changes than the streams are sent one by one");
            continue;
        }
        job->id_count[k] = distinct;
        tx_q(t, logged[k].statement, array_literal(t, job->ids[k], distinct));
        job->q_kind[k] = q++;
    }
    return entries == FETCH_LOG;
}

static void fetched(tx *t, const db_result *result)
{
    fetch_job *job = tx_user(t);
    events_hub *hub = job->hub;
    hub->stats.polls++;
    if (!hub->started) {
        /* Streams start here: their clients refetch at `ready`. */
        hub->head = (feed_pos){xid_of(db_text(result, 0, 0, 1)), db_int64(result, 0, 0, 2)};
        hub->log = (feed_pos){xid_of(db_text(result, 0, 0, 0)), 0};
        hub->started = true;
        activate_waiting(hub);
        tx_reply(t, 200, NULL, NULL);
        return;
    }
    event_item *items;
    size_t count =
        hub->options.policy->render(EVENT_TRANSFER, tx_arena(t), result, 0, NULL, 0, &items);
    for (size_t i = 0; i < count; i++) {
        fan_out(hub, &items[i]);
        hub->head = (feed_pos){items[i].xid, items[i].position};
    }
    hub->more = count == FETCH_TRANSFERS;
    hub->more |= collect_logged(hub, t, job, result);
    activate_waiting(hub);
    bool states = false;
    for (size_t k = 0; k < LOGGED_COUNT; k++) {
        states |= job->q_kind[k] >= 0;
    }
    if (states) {
        tx_next(t, states_read);
        return;
    }
    tx_reply(t, 200, NULL, NULL);
}

static void fetch_done(tx *t, int status)
{
    fetch_job *job = tx_user(t);
    events_hub *hub = job->hub;
    hub->fetching = false;
    if (hub->stopped) {
        return;
    }
    if (status != 200) {
        /* Read again from the same place (nothing is lost); the streams resync once a read
         * succeeds, since what they show may have changed meanwhile. */
        hub->fetch_failures++;
        hub->lost = true;
        if (hub->fetch_failures == 1 || hub->fetch_failures % 10 == 0) {
            char failures[16];
            snprintf(failures, sizeof failures, "%d", hub->fetch_failures);
            log_event(LOG_WARN, "events: reading the feed failed; retrying", "failures", failures,
                      NULL);
        }
        poll_in(hub, 200 << (hub->fetch_failures < 5 ? hub->fetch_failures : 5));
        return;
    }
    hub->fetch_failures = 0;
    if (hub->lost && hub->started && !hub->more) {
        hub->lost = false;
        hub->stats.listener_reconnects++;
        want_resync(hub, "the feed could not be read for a while");
    }
    if (hub->resync_pending && !hub->more) {
        broadcast_resync(hub, hub->resync_reason);
    }
    poll_in(hub, hub->more ? 0 : POLL_MS);
}

/* Reads what is new, unless a read runs; with nobody to tell, stops (the next stream reads
 * the starting point again). */
static void fetch_start(events_hub *hub)
{
    if (hub->fetching || hub->stopped) {
        return;
    }
    if (hub->subs == NULL) {
        hub->started = false;
        hub->lost = false;
        hub->resync_pending = false;
        return;
    }
    tx *t = tx_background(hub->app, clock_ms() + hub->app->cfg->request_timeout_ms, fetch_done);
    tx_use_control(t);
    fetch_job *job = TX_NEW(t, fetch_job);
    job->hub = hub;
    tx_set_user(t, job);
    if (!hub->started) {
        tx_q0(t, ST_FEED_START);
    } else {
        tx_q(t, ST_FEED_TRANSFERS, xid_text(t, hub->head.xid), tx_int(t, hub->head.id), NULL, NULL,
             tx_int(t, FETCH_TRANSFERS), NULL, NULL);
        tx_q(t, ST_FEED_LOG, xid_text(t, hub->log.xid), tx_int(t, hub->log.id),
             tx_int(t, FETCH_LOG));
    }
    hub->fetching = true;
    tx_run(t, TX_READ, fetched);
}

static void poll_cb(evutil_socket_t fd, short events, void *arg)
{
    (void)fd;
    (void)events;
    fetch_start(arg);
}

static void pruned(tx *t, const db_result *result)
{
    (void)result;
    tx_reply(t, 200, NULL, NULL);
}

/* event_log's rows older than any reader needs go, whether or not a stream is open. */
static void prune_cb(evutil_socket_t fd, short events, void *arg)
{
    (void)fd;
    (void)events;
    events_hub *hub = arg;
    if (hub->stopped) {
        return;
    }
    tx *t = tx_background(hub->app, clock_ms() + hub->app->cfg->request_timeout_ms, NULL);
    tx_use_control(t);
    tx_q0(t, ST_FEED_PRUNE);
    tx_run(t, TX_READ, pruned);
    struct timeval tv = {PRUNE_MS / 1000, 0};
    evtimer_add(&hub->prune, &tv);
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
    evtimer_assign(&hub->poll, app->base, poll_cb, hub);
    evtimer_assign(&hub->prune, app->base, prune_cb, hub);
    evtimer_assign(&hub->tick, app->base, tick, hub);
    struct timeval tv = {TICK_MS / 1000, (TICK_MS % 1000) * 1000};
    evtimer_add(&hub->tick, &tv);
    struct timeval prune = {PRUNE_MS / 1000, 0};
    evtimer_add(&hub->prune, &prune);
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
    evtimer_del(&hub->poll);
    evtimer_del(&hub->prune);
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
    evtimer_del(&hub->poll);
    evtimer_del(&hub->prune);
    evtimer_del(&hub->tick);
    free(hub);
}

events_stats events_get_stats(const events_hub *hub)
{
    events_stats stats = hub->stats;
    stats.streams = hub->stream_count;
    stats.listening = hub->started && !hub->lost;
    stats.buffered_bytes = 0;
    for (const subscriber *sub = hub->subs; sub != NULL; sub = sub->next) {
        if (sub->stream != NULL) {
            stats.buffered_bytes += http_stream_buffered(sub->stream);
        }
    }
    return stats;
}
