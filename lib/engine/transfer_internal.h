/* What the transfer engine's files share (engine/transfer.c: the request, the batch, the
 * nearest-first planning rounds; transfer_record.c: the writes; transfer_min_cost.c: the
 * min-cost dispatch of a batch): the job one transaction serves, and the steps one file
 * hands to another. Internal to lib/engine/transfer*.c. */
#ifndef WF_ENGINE_TRANSFER_INTERNAL_H
#define WF_ENGINE_TRANSFER_INTERNAL_H

#include "core/placement.h"
#include "core/plans.h"
#include "engine/graph_cache.h"
#include "engine/storage_order.h"
#include "engine/transfer.h"
#include "util/strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The most pairs one room read asks for (a world of full storages reads in pages). */
#define READ_CAP 2048

/* One organization being served. */
typedef struct {
    int64_t organization_id;
    int64_t transfer_id;
    int64_t id_block; /* the first of the 64 shipment ids its transfer took */
    /* Whether its pending_since was NULL when its row was locked: 1 or 0, or -1 when not
     * read (dispatch), which writes it whatever it was. */
    int since_null;
    plan_type *types;
    uint32_t *keys;
    size_t type_count;
    storage_order *order; /* NULL when there is nothing to place */
    const plan_shipment *shipments;
    size_t shipment_count;
    int64_t *movement_ids; /* per shipment, once numbered */
    bool *in_transit;      /* per shipment: to a weighed storage */
} served;

typedef struct {
    const char *actor;
    bool automatic;
    bool dry_run;
    const plan_quantity *received; /* what the request hands over (kept across retries) */
    size_t received_count;
    const int64_t *requested; /* dispatch: the organizations asked for, oldest first */
    size_t requested_count;
    transfer_render_fn render;
    transfer_done_fn done;
    void *done_arg;
    transfer_outcome outcome;
    room_map *seen; /* dispatch: the dispatcher's view of rooms, kept up to date */
    bool min_cost;  /* dispatch: WASTEFLOW_DISPATCH_POLICY=min_cost */
    /* A request reads ahead in its first round (transfer.c, read_ahead): the rooms its plan
     * would ask for first, planned before that round on this instance's current graph. The
     * pairs asked (kept across retries: the first round is sent again as it was), and until
     * a round 1 comes back, the graph and the storage order they came from (the order
     * rewound, to be planned with again when the graph is still current; ahead_drop). */
    place_pair *ahead;
    size_t ahead_count;
    graph_snapshot *ahead_snapshot;
    storage_order *ahead_order;
    /* Per attempt (reset by attempt_reset). */
    served *orgs;
    size_t org_count;
    graph_snapshot *snapshot;
    placement *plan;
    place_pair *reading; /* the pairs of the room read in flight */
    size_t reading_count;
    int64_t max_locked_id;
    size_t rows_locked;
    size_t read_rounds;
    const char *created_at;
    /* The weighed storages among the rooms read (their loads travel): few, so a list. */
    int64_t *weighed;
    size_t weighed_count, weighed_cap;
    /* Further blocks of shipment ids, for organizations with more than one block's worth. */
    const int64_t *extra_blocks;
    size_t extra_block_count;
    /* min_cost: every room this attempt read (by type key), the search of the organization
     * whose prefix is being read, and how many room reads the min-cost plan added. */
    room_map *fresh;
    graph_search *cost_search;
    size_t cost_search_index;
    size_t cost_rounds;
} transfer_job;

/* How many shipment ids one nextval hands out (the sequence's increment, migration 013). */
#define ID_BLOCK 64

/* The most (storage, type) rooms min-cost dispatch holds for a batch (transfer_min_cost.c). */
#define MIN_COST_ROOMS (1u << 18)

/* Postgres array literals, built item by item. */
typedef struct {
    strbuf text;
    size_t count;
} pg_array;

void transfer_array_int(pg_array *a, int64_t value);
void transfer_array_code(pg_array *a, const char *code);
/* The literal ("{...}") in the tx's memory; the array is emptied. */
const char *transfer_array_done(tx *t, pg_array *a);

/* The hint key of a type code. */
uint32_t transfer_key_of(tx *t, const char *code);
/* Sorts pairs into the order rows are locked in: (storage id, type code), the same on every
 * instance. */
void transfer_sort_pairs(tx *t, place_pair *pairs, size_t count);
/* A room read found storage_id weighed: loads to it travel. */
void transfer_note_weighed(tx *t, transfer_job *job, int64_t storage_id);
/* Asks the plan what to read next, and reads it (or, once nothing is left to read, goes on
 * to the shipments). */
void transfer_plan_round(tx *t, transfer_job *job);
/* Every organization's shipments are final: numbers their movements, then records. */
void transfer_shipments_final(tx *t, transfer_job *job);

/* The last round of a request (its rendered reply) and of a batch. */
void transfer_record_request(tx *t, transfer_job *job);
void transfer_record_batch(tx *t, transfer_job *job);

/* Whether a batch whose nearest-first plan is done is placed again at least cost, and the
 * rounds that do it (they end in transfer_shipments_final). */
bool transfer_min_cost_fits(const transfer_job *job);
void transfer_min_cost_round(tx *t, transfer_job *job);

#endif
