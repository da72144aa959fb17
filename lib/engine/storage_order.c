/* Storage order (see storage_order.h): a bounded shortest-path search (core/graph.h) over
 * the snapshot, settled one storage at a time, so its cost is what it explored. */
#include "engine/storage_order.h"

#include "util/mem.h"

#include <stdlib.h>

struct storage_order {
    graph_search *search;
};

storage_order *storage_order_new(graph_snapshot *snapshot, int64_t organization_id)
{
    storage_order *order = xcalloc(1, sizeof *order);
    order->search = graph_search_begin(snapshot->roads, (node_ref){NODE_ORG, organization_id});
    if (order->search == NULL) {
        mem_exhausted(sizeof(graph_search *));
    }
    return order;
}

bool storage_search_next(graph_search *search, int64_t *storage_id, int64_t *distance_m)
{
    node_ref node;
    if (!graph_search_next(search, &node, distance_m)) {
        if (graph_search_failed(search)) {
            mem_exhausted(graph_search_bytes(search));
        }
        return false;
    }
    *storage_id = node.id;
    return true;
}

bool storage_order_next(void *arg, int64_t *storage_id, int64_t *distance_m)
{
    storage_order *order = arg;
    return storage_search_next(order->search, storage_id, distance_m);
}

void storage_order_free(storage_order *order)
{
    if (order != NULL) {
        graph_search_free(order->search);
        free(order);
    }
}
