/* The transfer engine, shared by POST /v1/organizations/{id}/transfers (and its dry run)
 * and the automatic dispatcher. It sequences the database round trips around the pure
 * plan of lib/core/transfer_plan.h; what the client sees is rendered by the caller
 * (lib/api/transfers.c) from the typed result. */
#ifndef WF_ENGINE_TRANSFER_H
#define WF_ENGINE_TRANSFER_H

#include "core/transfer_plan.h"
#include "engine/app.h"
#include "engine/tx.h"
#include "util/strbuf.h"

#include <stdbool.h>
#include <stdint.h>

/* A planned (and, unless a dry run, about to be committed) transfer. */
typedef struct {
    int64_t id; /* the new transfer's id; 0 for a dry run */
    int64_t organization_id;
    bool automatic; /* trigger "auto" (dispatcher) rather than "request" */
    bool dry_run;
    const char *actor;      /* who: "key:<id>", "jwt:<sub>", "dispatcher" */
    const char *created_at; /* PostgreSQL timestamptz text (UTC) */
    const plan_type *types; /* every type of the organization and the request, by code */
    size_t type_count;
    const plan_shipment *shipments;
    size_t shipment_count;
} transfer_result;

/* Writes the client's representation of a result. */
typedef void (*transfer_render_fn)(strbuf *out, const transfer_result *result);

/* What background dispatch of one organization came to. */
typedef struct {
    int status; /* 201 recorded, 204 nothing could be placed (nothing written), 423 the
                 * organization was busy in another transaction, else the database failed */
    size_t shipment_count;
} transfer_outcome;
typedef void (*transfer_done_fn)(void *arg, const transfer_outcome *outcome);

/* Hands over received (codes unique) for the organization and dispatches all its pending
 * waste, answering the request: 201 with the rendered transfer, 200 for a dry run (which
 * writes nothing), 404, 409 (on-site capacity), 422 (unknown type, pending overflow). */
void transfer_request(http_ctx *ctx, int64_t organization_id, const plan_quantity *received,
                      size_t received_count, bool dry_run, transfer_render_fn render);

/* Dispatches an organization's pending waste as an "auto" transfer; done runs exactly once,
 * later, from the event loop. */
void transfer_dispatch(wf_app *app, int64_t organization_id, int64_t deadline_ms,
                       transfer_done_fn done, void *arg);

#endif
