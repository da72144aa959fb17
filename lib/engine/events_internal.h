/* What the hub's files share (engine/events.c: the hub, its streams and subscribers;
 * engine/events_feed.c: the reader of the feed). Not for use outside them. */
#ifndef WF_ENGINE_EVENTS_INTERNAL_H
#define WF_ENGINE_EVENTS_INTERNAL_H

#include "engine/events.h"
#include "engine/tx.h"
#include "http/stream.h"
#include "util/event_id.h"

#include <event2/event_struct.h>

/* A place in the feed's order: a transfer's (xid, id), or an event_log row's (xid, seq). */
typedef struct {
    uint64_t xid;
    int64_t id;
} feed_pos;

static inline int pos_cmp(feed_pos a, feed_pos b)
{
    if (a.xid != b.xid) {
        return a.xid < b.xid ? -1 : 1;
    }
    return a.id < b.id ? -1 : a.id > b.id;
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
    bool pruning; /* a prune's database work is in flight */

    subscriber *subs;
    int stream_count;
    int replays; /* replays in flight */
    struct event tick;
    events_stats stats;
};

/* events.c */
void events_fan_out(events_hub *hub, const event_item *item);
void events_want_resync(events_hub *hub, const char *reason);
void events_broadcast_resync(events_hub *hub, const char *reason);
/* A waiting subscriber: the hub knows its place now. */
void events_activate(subscriber *sub);

/* events_feed.c */
uint64_t events_xid_of(const char *text);
const char *events_xid_text(tx *t, uint64_t xid);
/* Reads the feed in ms (0: at once), unless the hub stopped. */
void events_read_in(events_hub *hub, int ms);
void events_read_cb(evutil_socket_t fd, short events, void *arg);
void events_prune_cb(evutil_socket_t fd, short events, void *arg);
/* Arms the next prune of event_log's old rows. */
void events_prune_in(events_hub *hub);

#endif
