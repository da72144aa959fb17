/* Storage order (see storage_order.h): a bounded shortest-path search (core/graph.h) over
 * the snapshot, settled one storage at a time, so its cost is what it explored. What it has
 * produced is kept until it is rewound, which replays that once before searching further. */
#include "engine/storage_order.h"

#include "util/mem.h"

#include <stdlib.h>

typedef struct {
    int64_t storage_id;
    int64_t distance_m;
} settled;

struct storage_order {
    graph_search *search;
    settled *seen; /* every storage produced so far, in order */
    size_t seen_count, seen_cap;
    size_t cursor;  /* the next one to hand out */
    bool recording; /* until rewound: keep what is produced */
};

storage_order *storage_order_new(graph_snapshot *snapshot, int64_t organization_id)
{
    storage_order *order = xcalloc(1, sizeof *order);
    order->recording = true;
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
    if (order->cursor < order->seen_count) {
        *storage_id = order->seen[order->cursor].storage_id;
        *distance_m = order->seen[order->cursor].distance_m;
        order->cursor++;
        return true;
    }
    if (!storage_search_next(order->search, storage_id, distance_m)) {
        return false;
    }
    if (!order->recording) {
        return true;
    }
    if (order->seen_count == order->seen_cap) {
        size_t cap = order->seen_cap ? order->seen_cap * 2 : 8;
        order->seen = xrealloc(order->seen, cap * sizeof *order->seen);
        order->seen_cap = cap;
    }
    order->seen[order->seen_count++] = (settled){*storage_id, *distance_m};
    order->cursor = order->seen_count;
    return true;
}

void storage_order_rewind(storage_order *order)
{
    order->cursor = 0;
    order->recording = false; /* one replay: past what it holds, the search goes on alone */
}

void storage_order_free(storage_order *order)
{
    if (order != NULL) {
        graph_search_free(order->search);
        free(order->seen);
        free(order);
    }
}
