/* What the dispatcher's files share (engine/dispatch.c: the poll, the lease, room events,
 * the API; dispatch_sweep.c: sweeping pending organizations): its state and the steps one
 * file hands to another. Internal to lib/engine/dispatch*.c. */
#ifndef WF_ENGINE_DISPATCH_INTERNAL_H
#define WF_ENGINE_DISPATCH_INTERNAL_H

#include "core/placement.h"
#include "core/room_map.h"
#include "engine/dispatch.h"
#include "engine/lease_holder.h"
#include "engine/tx.h"

#include <event2/event_struct.h>

#include <stdbool.h>
#include <stdint.h>

#define NOT_LEADER_POLL_MS  2000  /* how often a follower tries for the lease */
#define LEASE_MIN_MS        5000  /* a crashed leader is replaced after this (or 3 intervals) */
#define TAKE_LIMIT          10000 /* room events taken at once (more: a full sweep) */
#define PAGE_ORGANIZATIONS  1000
#define BATCH_ORGANIZATIONS 200
#define CLEANUP_EVERY_MS    60000
#define FULL_SWEEP_FIRST_MS 10000
#define FULL_SWEEP_MAX_MS   300000
#define RETRY_SOON_MS       1000
#define ROOMS_MAX_ENTRIES   (1u << 20) /* as the room hints: at most 48 MiB */

/* One pending organization of a page. */
typedef struct {
    int64_t id;
    plan_type *types;
    uint32_t *keys;
    size_t type_count;
} pending_org;

struct dispatcher {
    wf_app *app;
    struct event timer;
    int interval_ms;
    bool stopped;
    bool kicked;
    bool working;
    char holder[LEASE_HOLDER_SIZE]; /* this process's name in dispatcher_lease */
    int lease_ms;                   /* how long a renewal lasts */
    int64_t term;                   /* the lease term this instance leads in; 0: not leader */
    bool releasing;                 /* giving the lease up at shutdown */
    bool hinting;    /* a room hint to the leader is in flight (dispatcher_room_appeared) */
    bool hint_again; /* room committed while it was: one more hint when it is done */
    room_map *rooms; /* room per (storage, type) as the dispatcher last saw it */
    /* The sweep in progress. */
    bool full;
    char *types; /* text[] literal of the types that gained room; NULL: any */
    char *cursor_since;
    int64_t cursor_id;
    bool last_page;
    int64_t graph_version;
    pending_org *page;
    size_t page_count;
    int64_t *queue; /* the page's organizations worth a transaction, oldest first */
    size_t queue_count, queue_next;
    size_t served;
    bool more_events;
    /* The last poll, and what the last take of room events asks for. */
    int64_t poll_term;
    bool poll_leads, poll_events;
    bool polled_once;
    enum { TAKE_NOTHING, TAKE_REFRESH, TAKE_SWEEP, TAKE_RELOAD } take;
    char *event_storages, *event_pair_types; /* bigint[] and text[] literals: the pairs */
    char *event_types;                       /* text[] literal: their distinct types */
    /* Timing. */
    int64_t next_full_ms;
    int full_backoff_ms;
    int64_t last_cleanup_ms;
};

/* Runs the next step in ms (0: at once, from the event loop). */
void dispatch_schedule(dispatcher *d, int ms);
/* Ends a step: frees the sweep's page and waits ms (the lease given up when stopping). */
void dispatch_go_idle(dispatcher *d, int ms);
void dispatch_free_page(dispatcher *d);
void dispatch_release_lease(dispatcher *d);
/* A background read's deadline, and one on the control connection. */
int64_t dispatch_deadline(const dispatcher *d);
tx *dispatch_control_read(dispatcher *d, tx_done_fn done);
/* A round callback that only finishes the work. */
void dispatch_finish(tx *t, const db_result *result);

/* Sweeps the pending organizations: all of them (full), or those waiting for types (a text[]
 * literal, taken over; NULL: any). */
void dispatch_start_sweep(dispatcher *d, bool full, char *types);

#endif
