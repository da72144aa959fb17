/* The adapter of plans_flow.h: copies the network into min_cost_flow's arcs. */
#include "flow/plans_flow.h"

#include "flow/min_cost_flow.h"

#include <stdlib.h>

int plans_flow_solve(const plans_network *network, int64_t *flow, void *arg)
{
    mcf_arc *arcs = malloc((network->arc_count > 0 ? network->arc_count : 1) * sizeof *arcs);
    if (arcs == NULL) {
        return MCF_NO_MEMORY;
    }
    for (size_t k = 0; k < network->arc_count; k++) {
        arcs[k] = (mcf_arc){.from = network->from[k],
                            .to = network->to[k],
                            .capacity = network->capacity[k],
                            .cost = network->cost[k]};
    }
    int64_t value, cost;
    mcf_status status = mcf_solve(network->node_count, arcs, network->arc_count, network->source,
                                  network->sink, flow, &value, &cost);
    free(arcs);
    return status;
}
