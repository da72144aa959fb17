/* The live-event hub (see events.h): the streams and their subscribers; the reader of the
 * feed is engine/events_feed.c.
 *
 *   subscriber: WAITING (for the reader's starting point) --> [REPLAYING (Last-Event-ID):
 *             the transfers after (xid of the id's transfer, its id) up to the hub's last
 *             one, from the ledger, again while the hub moved on] --> LIVE, until its stream
 *             ends. A live stream gets each change the reader fans out that its principal
 *             may see; a transfer moves it past, seen or not (its event id). */
#include "engine/events_internal.h"

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

#define REPLAY_MAX 1000 /* transfers a resuming stream is replayed, else resync */
#define TICK_MS    1000 /* keep-alives and credential checks */
#define LINGER_MS  1000 /* a final event's time to reach its reader */
#define RETRY_MS   "1000"

static const char *const names[EVENT__COUNT] = {
    [EVENT_TRANSFER] = "transfer",
    [EVENT_UNLOAD] = "unload",
    [EVENT_STORAGE] = "storage",
    [EVENT_ORGANIZATION] = "organization",
    [EVENT_ROUTE] = "route",
    [EVENT_MOVEMENT] = "movement",
    [EVENT_ALERT] = "alert",
    [EVENT_READY] = "ready",
    [EVENT_RESYNC] = "resync",
    [EVENT_SHUTDOWN] = "shutdown",
    [EVENT_UNAUTHORIZED] = "unauthorized",
};

const char *event_name(event_kind kind)
{
    return kind >= 0 && kind < EVENT__COUNT ? names[kind] : "";
}

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
void events_fan_out(events_hub *hub, const event_item *item)
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

void events_broadcast_resync(events_hub *hub, const char *reason)
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

void events_want_resync(events_hub *hub, const char *reason)
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
    tx_finish(t);
}

/* Queues the transfers after the stream's place up to the hub's, from the ledger. */
static void queue_replay(tx *t, subscriber *sub)
{
    replay_job *job = tx_user(t);
    int64_t organization_id = 0, storage_id = 0;
    sub->hub->options.policy->replay_scope(&sub->who, &organization_id, &storage_id);
    tx_q(t, ST_FEED_TRANSFERS, events_xid_text(t, sub->at.xid), tx_int(t, sub->at.id),
         events_xid_text(t, job->upto.xid), tx_int(t, job->upto.id), tx_int(t, REPLAY_MAX + 1),
         organization_id > 0 ? tx_int(t, organization_id) : NULL,
         storage_id > 0 ? tx_int(t, storage_id) : NULL);
}

/* Where the Last-Event-ID's transfer stands in the feed's order. */
static void replay_located(tx *t, const db_result *result)
{
    replay_job *job = tx_user(t);
    subscriber *sub = job->sub;
    if (sub->stream == NULL) {
        tx_finish(t);
        return;
    }
    sub->at_known = true;
    if (db_rows(result, 0) == 1) {
        sub->at = (feed_pos){events_xid_of(db_text(result, 0, 0, 0)), sub->resume_after};
    } else if (sub->resume_after == 0) {
        sub->at = (feed_pos){0, 0}; /* before the first transfer */
    } else {
        /* An id of no transfer here: from another database (a restore, another
         * deployment). Start from here, and say so. */
        sub->at = job->upto;
        sub->position = job->upto.id;
        send_own(sub, EVENT_RESYNC,
                 "{\"reason\":\"Last-Event-ID is not a position of this database\"}");
        tx_finish(t);
        return;
    }
    if (pos_cmp(sub->at, job->upto) >= 0) {
        tx_finish(t); /* ahead of this instance: nothing to replay */
        return;
    }
    queue_replay(t, sub);
    tx_next(t, replay_read);
}

static void replay_done(tx *t, tx_outcome outcome)
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
    if (outcome != TX_OK) {
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
void events_activate(subscriber *sub)
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
        events_activate(sub);
    } else {
        sub->state = SUB_WAITING; /* for the read of the starting point */
        events_read_in(hub, 0);
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
    evtimer_assign(&hub->poll, app->base, events_read_cb, hub);
    evtimer_assign(&hub->prune, app->base, events_prune_cb, hub);
    evtimer_assign(&hub->tick, app->base, tick, hub);
    struct timeval tv = {TICK_MS / 1000, (TICK_MS % 1000) * 1000};
    evtimer_add(&hub->tick, &tv);
    events_prune_in(hub);
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
    return hub != NULL && (hub->fetching || hub->pruning || hub->replays > 0);
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
