/* POST /v1/plans' engine: one read-only snapshot (REPEATABLE READ READ ONLY, no locks,
 * nothing written) reads the batch's organizations, the storages' rooms for its types and
 * the road graph's version; then core/plans builds both plans on a thread of its own, off
 * the event loop, with LEMON's solver (flow/plans_flow.h), and the caller renders them. */
#ifndef WF_ENGINE_PLANS_H
#define WF_ENGINE_PLANS_H

#include "core/plans.h"
#include "engine/tx.h"
#include "http/server.h"

#include <stddef.h>
#include <stdint.h>

/* The most organization-to-storage arcs of one min-cost network (a batch needing more is
 * refused with 422): about 150 bytes each while it is solved, so at most ~300 MiB. */
#define PLANS_MAX_ARCS 2000000

/* A batch, read from the request (everything in the request's arena). */
typedef struct {
    size_t count;                      /* hand-overs, 1..10,000 */
    const int64_t *organization_ids;   /* count */
    uint32_t type_count;               /* distinct waste types, >= 1 */
    const char *const *codes;          /* type_count, the type keys' codes */
    const int64_t *kg;                 /* count x type_count: kg[i * type_count + k] */
    const char *codes_literal;         /* the codes as a text[] literal */
    const char *organizations_literal; /* the ids as a bigint[] literal */
} plans_batch;

/* Renders the two plans and replies (tx_reply); runs on the event loop. */
typedef void (*plans_render_fn)(tx *t, const plans_batch *batch, const plans_result *nearest,
                                const plans_result *min_cost);

/* The work a solve did, to charge to the request's credential (the storages its searches
 * examined and the room rows it read); runs on the event loop before the reply. */
typedef void (*plans_work_fn)(tx *t, uint64_t units);

/* Evaluates batch for the request: work is called once the solve is done (whatever its
 * outcome) and render exactly once on success; otherwise the
 * request has been answered with a problem (422 naming the field for an unknown type or
 * organization, or a batch too large to plan; 503 when the database is unavailable). */
void plans_evaluate(http_ctx *ctx, const plans_batch *batch, plans_render_fn render,
                    plans_work_fn work);

#endif
