/* Storage order (see storage_order.h), over one full shortest-path run for now: the
 * reachable storages sorted once by (distance, id). */
#include "engine/storage_order.h"

#include "util/mem.h"

#include <stdlib.h>

struct storage_order {
    graph_paths *paths;
    node_ref *storages;
    int64_t *distances;
    size_t *sorted;
    size_t count, next;
};

static const storage_order *sorting; /* qsort has no context argument */

static int by_distance_then_id(const void *left, const void *right)
{
    size_t a = *(const size_t *)left, b = *(const size_t *)right;
    if (sorting->distances[a] != sorting->distances[b]) {
        return sorting->distances[a] < sorting->distances[b] ? -1 : 1;
    }
    return sorting->storages[a].id < sorting->storages[b].id
               ? -1
               : sorting->storages[a].id > sorting->storages[b].id;
}

storage_order *storage_order_new(graph_snapshot *snapshot, int64_t organization_id)
{
    storage_order *order = xcalloc(1, sizeof *order);
    order->paths = graph_shortest_from(snapshot->roads, (node_ref){NODE_ORG, organization_id});
    if (order->paths == NULL) {
        mem_exhausted(graph_node_count(snapshot->roads) * 16);
    }
    size_t nodes = graph_node_count(snapshot->roads) + 1;
    order->storages = xcalloc(nodes, sizeof *order->storages);
    order->distances = xcalloc(nodes, sizeof *order->distances);
    order->count =
        graph_reachable(order->paths, NODE_STORAGE, order->storages, order->distances, nodes);
    order->sorted = xcalloc(order->count + 1, sizeof *order->sorted);
    for (size_t i = 0; i < order->count; i++) {
        order->sorted[i] = i;
    }
    sorting = order;
    qsort(order->sorted, order->count, sizeof *order->sorted, by_distance_then_id);
    sorting = NULL;
    return order;
}

bool storage_order_next(void *arg, int64_t *storage_id, int64_t *distance_m)
{
    storage_order *order = arg;
    if (order->next >= order->count) {
        return false;
    }
    size_t i = order->sorted[order->next++];
    *storage_id = order->storages[i].id;
    *distance_m = order->distances[i];
    return true;
}

void storage_order_free(storage_order *order)
{
    if (order != NULL) {
        graph_paths_free(order->paths);
        free(order->storages);
        free(order->distances);
        free(order->sorted);
        free(order);
    }
}
