/* The first storages of organizations' orders, kept so that a storage view's first page
 * replays them instead of searching the road graph again.
 *
 * An organization's order is a search from it over one version of the road graph (storages
 * only, by (distance, id): core/graph.h), so it is the same on every request at that
 * version; what a page's search yielded from the start is a prefix of it, valid for as long
 * as that version is the current one. Each prefix is kept with its positions sorted by
 * storage id as well, so that whether (and how far) it reaches a storage is a binary
 * search: 18 bytes a storage in all.
 *
 * A table of `slots` entries, direct-mapped by organization id (a put replaces whatever
 * held the slot), at most `max_bytes` in all and at most `max_length` storages a prefix
 * (at most ORDER_PREFIX_MAX_LENGTH);
 * one graph version at a time: a put at a newer version drops every older entry, and one at
 * an older version is refused. Pure data: no I/O, no clock. */
#ifndef WF_CORE_ORDER_PREFIX_H
#define WF_CORE_ORDER_PREFIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct order_prefixes order_prefixes;

#define ORDER_PREFIX_MAX_LENGTH 65535 /* positions are 16-bit */

/* One organization's prefix: count storages in order (ids[i] at distances[i]); by_id their
 * positions ascending by id. complete: they are every storage the organization reaches. */
typedef struct {
    int64_t organization_id, version;
    const int64_t *ids, *distances;
    const uint16_t *by_id;
    size_t count;
    bool complete;
} order_prefix;

/* NULL when memory ran out, or slots or max_length is 0 (a larger max_length than
 * ORDER_PREFIX_MAX_LENGTH is taken as that). */
order_prefixes *order_prefixes_new(size_t slots, size_t max_length, size_t max_bytes);
void order_prefixes_free(order_prefixes *table); /* NULL is a no-op */

/* The prefix of organization_id at version, or NULL. Valid until the next put or free. */
const order_prefix *order_prefixes_get(const order_prefixes *table, int64_t organization_id,
                                       int64_t version);

/* Keeps ids/distances (count storages from the start of the organization's order at
 * version; complete as above) unless the slot already holds as much of the same order, the
 * version is older than one already kept, or it does not fit in max_bytes. A prefix longer
 * than max_length is kept cut to max_length, and then not complete. false: not kept (also
 * when memory ran out). */
bool order_prefixes_put(order_prefixes *table, int64_t organization_id, int64_t version,
                        const int64_t *ids, const int64_t *distances, size_t count, bool complete);

/* The distance of storage_id in prefix, or -1 when the prefix does not hold it. */
int64_t order_prefix_distance(const order_prefix *prefix, int64_t storage_id);

/* Bytes held by the kept prefixes, and how many there are. */
size_t order_prefixes_bytes(const order_prefixes *table);
size_t order_prefixes_count(const order_prefixes *table);

#endif
