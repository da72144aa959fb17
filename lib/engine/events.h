/* Live events (GET /v1/events): this instance's reader of the feed and the fan-out to its
 * streams.
 *
 * Every committed change is read from the tables, whichever instance, psql session or seed
 * made it: transfers from the ledger, storages, organizations, routes, unloads and alert firings
 * from event_log, which statement triggers write (sql/migrations/008_feed.sql). Each row carries
 * the id of the transaction that wrote it, and the reader takes, while any stream is open,
 * everything below a horizon that every smaller transaction id has ended by, in (xid, id)
 * order: one round trip on the service's control connection (db/pool.c connects,
 * reconnects and fails over) for everything new, however many streams are open, and
 * nothing at all while none is. No notification is listened to: nothing another database
 * role sends reaches a stream. Each change is rendered once (the api layer's policy: the
 * same JSON as its GET) and written to every stream whose principal may see it.
 *
 * Event ids. Transfers are delivered in (xid, id) order — the order of their transactions'
 * ids, the same on every instance; a transaction that commits after one with a higher id
 * is delivered when it commits, after it, never skipped. A transfer stands at its id; every
 * other event at the last transfer its stream has passed. The id a client sees is that
 * transfer id sealed for its principal (util/event_id.h): opaque, and good only for the
 * principal's own streams, on every instance of the deployment. Resuming after transfer P
 * replays, from the ledger, every transfer it may see after (xid of P, P) (at most 1000;
 * more, and it gets `resync` instead), then goes live. Other events are not replayed: a
 * client refetches what it shows when it gets `ready`.
 *
 * Events: transfer, unload, storage, organization, route, alert (the policy's payloads); ready
 * (the stream is live: nothing is missed from here on); resync (something may have been
 * missed — the feed could not be read for a while, or more changed at once than the
 * reader takes — refetch); shutdown (the server is stopping: reconnect); unauthorized (the
 * stream's credential was revoked or expired). A comment every keepalive_ms keeps proxies
 * from timing the stream out. */
#ifndef WF_ENGINE_EVENTS_H
#define WF_ENGINE_EVENTS_H

#include "auth/principal.h"
#include "db/pool.h"
#include "engine/app.h"
#include "http/server.h"
#include "util/arena.h"
#include "util/strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    EVENT_TRANSFER,
    EVENT_UNLOAD,
    EVENT_STORAGE,
    EVENT_ORGANIZATION,
    EVENT_ROUTE,
    EVENT_MOVEMENT,
    EVENT_ALERT,
    EVENT_READY,
    EVENT_RESYNC,
    EVENT_SHUTDOWN,
    EVENT_UNAUTHORIZED,
    EVENT__COUNT
} event_kind;

/* "transfer", "unload", ... (the SSE event names). */
const char *event_name(event_kind kind);

/* One change, as every stream allowed to may see it. */
typedef struct {
    event_kind kind;
    int64_t position;           /* a transfer's id (its event id); else 0 */
    uint64_t xid;               /* a transfer's transaction id; else 0 */
    int64_t organization_id;    /* the organization it concerns, 0 for none */
    const int64_t *storage_ids; /* the storages it concerns */
    size_t storage_count;
    const char *json;   /* the payload: one line of JSON */
    const void *source; /* what the policy rendered it from (its own; in the fetch's arena) */
} event_item;

/* What the api layer decides: the payloads and who sees them. */
typedef struct {
    /* The items of query q of a fetch, the rows of ST_FEED_TRANSFERS or the ST_EV_*
     * statement of kind, in the
     * arena, in the rows' order; ids (NULL for transfers) are what was asked for, so that
     * one without a row can be told to be deleted. Returns how many. */
    size_t (*render)(event_kind kind, arena *a, const db_result *result, int q, const int64_t *ids,
                     size_t id_count, event_item **out);
    bool (*visible)(const auth_principal *who, const event_item *item);
    /* When who, who may see item, is shown less of it than item->json, writes its own
     * payload (one line of JSON) to out and returns true; false: item->json is who's too. */
    bool (*narrowed)(const auth_principal *who, const event_item *item, strbuf *out);
    /* The filters of a replay for who: the organization or storage its transfers must
     * concern (0: any). */
    void (*replay_scope)(const auth_principal *who, int64_t *organization_id, int64_t *storage_id);
} events_policy;

typedef struct {
    int max_streams;        /* streams this instance holds open at once */
    int max_per_credential; /* of them, one credential's (actor's) */
    size_t max_buffered;    /* bytes a stream may have waiting for its reader */
    int keepalive_ms;       /* a comment after this long without a write */
    const events_policy *policy;
} events_options;

typedef struct events_hub events_hub;

/* The hub; it reads the feed while a stream is open. */
events_hub *events_new(wf_app *app, const events_options *options);
/* SIGTERM: every stream gets `shutdown` and ends (a reader that does not take it within a
 * second is disconnected); no stream is admitted from now on; the reader stops. */
void events_stop(events_hub *hub);
/* Database work of the hub still in flight (the pool must outlive it). */
bool events_busy(const events_hub *hub);
/* Disconnects whatever stream is left (before the HTTP server is freed). */
void events_free(events_hub *hub);

/* Checked every second while its stream is open: false ends the stream with
 * `unauthorized`. free(arg) runs when the stream is over. */
typedef struct {
    bool (*still_valid)(void *arg);
    void (*free)(void *arg);
    void *arg;
} events_credential;

/* The position of a Last-Event-ID: true when id is an event id this deployment sealed for
 * who (any of its streams, on any instance); false for anything else (malformed, edited,
 * forged, another principal's or another deployment's). */
bool events_resume_position(const events_hub *hub, const auth_principal *who, const char *id,
                            int64_t *position) __attribute__((warn_unused_result));

/* Answers the request with a stream (or 429 over the credential's share, 503 over the
 * instance's or while stopping). resume_after: a Last-Event-ID (>= 0) after which the
 * ledger's transfers are replayed first, or -1. The credential is the hub's to free, ctx
 * is answered either way. */
void events_subscribe(events_hub *hub, http_ctx *ctx, int64_t resume_after,
                      events_credential credential);

typedef struct {
    int streams;                 /* open */
    bool listening;              /* the feed is being read (a stream is open, reads succeed) */
    size_t buffered_bytes;       /* waiting for the streams' readers */
    uint64_t sent[EVENT__COUNT]; /* events written to streams, by kind */
    uint64_t slow_readers_cut;
    uint64_t polls;               /* reads of the feed */
    uint64_t listener_reconnects; /* reads failed and succeeded again */
} events_stats;

events_stats events_get_stats(const events_hub *hub);

#endif
