/* An organization's storages in the allocation rule's order — (shortest road distance,
 * storage id) — produced one at a time, so a transfer only pays for the storages it looks
 * at. The snapshot must outlive the order. */
#ifndef WF_ENGINE_STORAGE_ORDER_H
#define WF_ENGINE_STORAGE_ORDER_H

#include "engine/graph_cache.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct storage_order storage_order;

storage_order *storage_order_new(graph_snapshot *snapshot, int64_t organization_id);
/* core/placement's place_next_fn: the next storage and its distance; false at the end. */
bool storage_order_next(void *order, int64_t *storage_id, int64_t *distance_m);
/* Starts the order over: the storages produced so far come again, in the same order, before
 * the search goes further (a transfer plans once before its first round trip and again with
 * what that round read; docs/design.md, "Transfers"). */
void storage_order_rewind(storage_order *order);
void storage_order_free(storage_order *order);
/* The next storage of a search over a snapshot (storages only, as storage_order's are):
 * false at its end; a search that ran out of memory aborts the process. */
bool storage_search_next(graph_search *search, int64_t *storage_id, int64_t *distance_m);

#endif
