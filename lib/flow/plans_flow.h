/* core/plans' min-cost network solved by min_cost_flow (LEMON): the solver the service
 * hands to plans_min_cost. */
#ifndef WF_FLOW_PLANS_FLOW_H
#define WF_FLOW_PLANS_FLOW_H

#include "core/plans.h"

/* A plans_solver: 0 on success, else the mcf_status (negative). arg is unused. */
int plans_flow_solve(const plans_network *network, int64_t *flow, void *arg);

#endif
