/* The picture's road network as core/graph roads (README, "The picture, as an example"), in
 * docs/design.md's order: route i + 1 is picture_roads[i]. Shared by the runners that
 * search it (test_graph.c) and plan on it (test_alloc_plans.c), so both test the same map. */
#ifndef WF_TEST_PICTURE_H
#define WF_TEST_PICTURE_H

#include "core/graph.h"

static const graph_road picture_roads[] = {
    {{NODE_ORG, 1}, {NODE_STORAGE, 1}, 100, false, 1},
    {{NODE_ORG, 1}, {NODE_STORAGE, 2}, 50, false, 2},
    {{NODE_ORG, 1}, {NODE_STORAGE, 3}, 600, false, 3},
    {{NODE_ORG, 2}, {NODE_STORAGE, 3}, 50, false, 4},
    {{NODE_STORAGE, 1}, {NODE_STORAGE, 8}, 500, false, 5},
    {{NODE_STORAGE, 3}, {NODE_STORAGE, 6}, 600, false, 6},
    {{NODE_STORAGE, 8}, {NODE_STORAGE, 9}, 10, true, 7},
    {{NODE_STORAGE, 2}, {NODE_STORAGE, 5}, 50, true, 8},
    {{NODE_STORAGE, 3}, {NODE_STORAGE, 7}, 50, true, 9},
};

#endif
