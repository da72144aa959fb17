/* What the storage view keeps between pages (engine/view.c), so a later page resumes
 * instead of recomputing the world:
 *   - suspended orders: a bounded shortest-path search (core/graph.h) from an organization,
 *     stopped after the storage a page ended on, with the storages it read ahead, keyed by
 *     (organization, graph version, position). A page whose cursor names that position takes
 *     it and goes on; any other (another instance, an evicted entry, a newer graph) starts a
 *     new search and re-expands up to the cursor's (distance, id);
 *   - reachable sets: the sorted ids of every storage an organization reaches at a graph
 *     version (one exhausted search), which the unreachable storages' pages by id skip;
 *   - kept prefixes: the first storages of each organization's order at the current graph
 *     version, as the searches that started from the beginning found them; a first page
 *     (or a page whose suspended search is gone) replays them instead of searching.
 * Both are bounded together by max_bytes (least recently used first out) and by
 * VIEW_CACHE_MAX_ENTRIES; entries of an older graph version are dropped as soon as a newer
 * one is cached. Event-loop only (not thread-safe). Each entry holds a reference to its
 * graph snapshot. */
#ifndef WF_ENGINE_VIEW_CACHE_H
#define WF_ENGINE_VIEW_CACHE_H

#include "core/graph.h"
#include "core/view_cursor.h"
#include "engine/graph_cache.h"
#include "util/work_budget.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The default bound: suspended searches and reachable sets together, and a quarter of it
 * again for the kept prefixes. */
#define VIEW_CACHE_BYTES       (32u << 20)
#define VIEW_CACHE_MAX_ENTRIES 1024
/* Kept prefixes of organizations' orders (core/order_prefix.h), replayed by first pages:
 * direct-mapped slots, at most VIEW_PREFIX_LENGTH storages each (a page at the largest
 * limit, 1000, and the storage after it). */
#define VIEW_PREFIX_SLOTS  4096
#define VIEW_PREFIX_LENGTH 1024

typedef struct view_cache view_cache;
/* An organization's storages in the allocation rule's (distance, id) order, produced one at
 * a time; owned by one request at a time. */
typedef struct view_order view_order;

view_cache *view_cache_new(size_t max_bytes);
void view_cache_free(view_cache *cache); /* NULL is a no-op */

/* The order from organization_id over snapshot that continues strictly after `after` (NULL:
 * from the start): the suspended one when the cache holds it (taken out of the cache),
 * else a new one advanced past it — replaying the organization's kept prefix when there is
 * one at this version (no search until the page asks for storages beyond it), else a new
 * search. *resumed tells which. with_paths: the caller will ask view_order_path, which needs
 * the search itself (no replay then). The order holds its own reference to snapshot. cache
 * may be NULL (nothing cached). */
view_order *view_order_take(view_cache *cache, graph_snapshot *snapshot, int64_t organization_id,
                            const view_position *after, bool with_paths, bool *resumed);
/* The next storage and its distance; false at the end. */
bool view_order_next(view_order *order, int64_t *storage_id, int64_t *distance_m);
/* Puts back storages that next returned but the caller did not use (in the order next gave
 * them): they come again, first. */
void view_order_unread(view_order *order, const int64_t *storage_ids, const int64_t *distances,
                       size_t count);
/* graph_search_path for a storage the order has returned. */
size_t view_order_path(const view_order *order, int64_t storage_id, node_ref *out, size_t cap);
/* How many storages the search has found so far: once next has returned false, every
 * storage the organization reaches. */
size_t view_order_storages_found(const view_order *order);
/* Nodes settled so far (for metrics and the work budget). */
size_t view_order_settled(const view_order *order);
/* The distance of a storage the search has settled (one it returned, ahead or not), else -1. */
int64_t view_order_distance(const view_order *order, int64_t storage_id);
/* How many storages view_order_next serves from those given back (view_order_unread, or
 * read ahead before a suspension) before it asks the search again. */
size_t view_order_ahead(const view_order *order);
/* Suspends order at position `at` (the last storage a page showed) for a later page;
 * takes it over (frees it when it does not fit). cache NULL: frees it. */
void view_order_put(view_cache *cache, view_order *order, const view_position *at);
/* Frees an order the list is done with, keeping what it found from the start as the
 * organization's prefix (view_order_put keeps it too). NULL is a no-op. */
void view_order_end(view_cache *cache, view_order *order);
void view_order_free(view_order *order); /* NULL is a no-op; keeps nothing */

/* The ids of the storages organization_id reaches in snapshot, ascending, and how many;
 * from the cache or computed (and cached when it fits). Valid until the next call on the
 * cache: use it within one callback. *owned is set when the caller must free the array
 * (it did not fit in the cache). */
const int64_t *view_cache_reachable(view_cache *cache, graph_snapshot *snapshot,
                                    int64_t organization_id, size_t *count, bool *owned);

/* The cached reachable set of view_cache_reachable, or NULL when it is not cached (nothing
 * is computed). Valid until the next call on the cache. */
const int64_t *view_cache_reachable_peek(view_cache *cache, const graph_snapshot *snapshot,
                                         int64_t organization_id, size_t *count);

/* Waste types that many storages accept, remembered for a while so that a view filtered by
 * one goes straight to its search instead of reading the type's storages first (a type's
 * storages are read, as core/type_members.h's index, only for a type few accept). A hint:
 * a type that became rare meanwhile is only served the slower way until it expires. */
#define VIEW_COMMON_TYPE_MS 10000
bool view_cache_type_common(view_cache *cache, const char *code, int64_t now_ms);
void view_cache_note_common(view_cache *cache, const char *code, int64_t now_ms);

/* The storages that accept a type few storages accept (core/type_members.h's index), as read
 * at a version of the storages' types (storage_census.types_version, which every storage
 * created or deleted and every type added to or removed from a storage moves): a view
 * filtered by the type uses them at once and checks the version in the same round, instead
 * of reading them first. At most VIEW_MEMBERS_TYPES types (the least recently stored out),
 * each at most VIEW_MEMBERS_CACHED ids. */
#define VIEW_MEMBERS_TYPES  64
#define VIEW_MEMBERS_CACHED 512
/* The ids (ascending) and their version, or NULL when none are cached for code. Valid until
 * the next call on the cache. */
const int64_t *view_cache_members(view_cache *cache, const char *code, int64_t *version,
                                  size_t *count);
/* Remembers a type's storages at a version (count <= VIEW_MEMBERS_CACHED; more: ignored). */
void view_cache_put_members(view_cache *cache, const char *code, int64_t version,
                            const int64_t *ids, size_t count);

/* The per-credential work budget of the view's requests (util/work_budget.h), made on first
 * use at `rate` units a second; NULL when rate is 0 (off). Kept with the view's caches:
 * the view is what it pays for. */
work_budget *view_cache_work_budget(view_cache *cache, int rate);

/* Bytes and entries held now (for tests and metrics). */
size_t view_cache_bytes(const view_cache *cache);
size_t view_cache_entries(const view_cache *cache);

#endif
