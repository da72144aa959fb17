/* The transfer engine, shared by POST /v1/organizations/{id}/transfers (and its dry run)
 * and the automatic dispatcher. It sequences the database round trips around the pure
 * plan of lib/core/placement.h; what the client sees is rendered by the caller
 * (lib/api/transfers.c) from the typed result. */
#ifndef WF_ENGINE_TRANSFER_H
#define WF_ENGINE_TRANSFER_H

#include "core/room_map.h"
#include "core/transfer_plan.h"
#include "engine/app.h"
#include "engine/tx.h"
#include "util/strbuf.h"

#include <stdbool.h>
#include <stdint.h>

/* A planned (and, unless a dry run, about to be committed) transfer. */
typedef struct {
    int64_t id; /* the new transfer's id; 0 for a dry run, or when nothing was recorded */
    int64_t organization_id;
    bool automatic; /* trigger "auto" (dispatcher) rather than "request" */
    bool dry_run;
    const char *actor;      /* who: "key:<id>", "jwt:<sub>", "dispatcher" */
    const char *created_at; /* PostgreSQL timestamptz text (UTC); NULL when not recorded */
    const plan_type *types; /* every type of the organization and the request, by code */
    size_t type_count;
    const plan_shipment *shipments;
    size_t shipment_count;
    /* Per shipment: its movement's id (0 in a dry run) and whether it travels to a weighed
     * storage (then it is in transit until its receipt; else accepted at once). */
    const int64_t *movement_ids;
    const bool *in_transit;
} transfer_result;

/* Writes the client's representation of a result. */
typedef void (*transfer_render_fn)(strbuf *out, const transfer_result *result);

/* What background dispatch of a batch of organizations came to. */
typedef struct {
    tx_outcome ended;            /* TX_OK written (or nothing to write), else nothing was */
    size_t organizations_served; /* that got an "auto" transfer */
    size_t organizations_busy;   /* another transaction held them: not served */
    size_t shipment_count;
} transfer_outcome;
typedef void (*transfer_done_fn)(void *arg, const transfer_outcome *outcome);

/* Hands over received (codes unique) for the organization and dispatches all its pending
 * waste, answering the request: 201 with the rendered transfer; 200 for a dry run (which
 * reads one snapshot, takes no row lock and writes nothing) and for a transfer that would
 * receive and ship nothing (no ledger row, "id": null); 404, 409 (on-site capacity), 422
 * (unknown type, pending overflow). */
void transfer_request(http_ctx *ctx, int64_t organization_id, const plan_quantity *received,
                      size_t received_count, bool dry_run, transfer_render_fn render);

/* Dispatches the pending waste of organizations (oldest pending first: the order given)
 * in one transaction, as "auto" transfers, with the same result as dispatching them one
 * at a time in that order; organizations another transaction holds are skipped, and
 * organizations that can place nothing get no ledger row. Every room the transaction reads
 * is also written into seen (when not NULL), and what it ships is taken off seen once
 * committed: the dispatcher's own view of the rooms. done runs exactly once, later, from
 * the event loop. */
void transfer_dispatch(wf_app *app, const int64_t *organization_ids, size_t count, room_map *seen,
                       int64_t deadline_ms, transfer_done_fn done, void *arg);

#endif
