/* A maximum flow of least cost, solved by LEMON (liblemon-dev, Boost licence): Preflow finds
 * how much can flow at all, then NetworkSimplex routes exactly that much at the least cost.
 * A C API over the C++ library, so the rest of the service stays C: no exception crosses
 * it (every one is caught and turned into an error code), and everything the solver
 * allocates is freed before the call returns. Pure: no I/O, no globals; calls on different
 * threads are independent. */
#ifndef WF_FLOW_MIN_COST_FLOW_H
#define WF_FLOW_MIN_COST_FLOW_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One arc of the network: from and to are node indexes (< node_count), capacity >= 0, cost
 * >= 0 per unit of flow. */
typedef struct {
    uint32_t from, to;
    int64_t capacity;
    int64_t cost;
} mcf_arc;

typedef enum {
    MCF_OK = 0,
    MCF_INVALID = -1, /* a node index out of range, a negative capacity or cost, source == sink */
    MCF_NO_MEMORY = -2,
    MCF_OVERFLOW = -3, /* the flow's value or total cost would not fit in 64 bits */
    MCF_FAILED = -4,   /* the solver reported no optimum (cannot happen for valid input) */
} mcf_status;

/* Sends as much flow as the capacities allow from source to sink, and among such flows one
 * of least total cost (sum of flow x cost). Writes each arc's flow into flows (arc_count
 * slots), and the flow's value and total cost into *value and *cost. Returns MCF_OK or an
 * error, and then writes nothing. Memory: about 200 bytes per arc and per node, freed
 * before it returns. */
mcf_status mcf_solve(size_t node_count, const mcf_arc *arcs, size_t arc_count, uint32_t source,
                     uint32_t sink, int64_t *flows, int64_t *value, int64_t *cost)
    __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif

#endif
