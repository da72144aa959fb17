/* The storage view's cache of suspended orders and reachable sets (see view_cache.h). A
 * small array scanned linearly: at most VIEW_CACHE_MAX_ENTRIES entries, a lookup costs
 * microseconds, and eviction is by a use counter. */
#include "engine/view_cache.h"

#include "core/order_prefix.h"
#include "engine/storage_order.h"
#include "util/log.h"
#include "util/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

struct view_order {
    graph_snapshot *snapshot;
    int64_t organization_id;
    graph_search *search;
    /* Storages returned to the order (view_order_unread), served before the search. */
    int64_t *ahead_ids, *ahead_distances;
    size_t ahead_head, ahead_count;
    size_t storages_found; /* by the search, each once (not those served again) */
    /* A replay of a kept prefix (core/order_prefix.h) while search is NULL: the prefix's
     * storages are the ahead list, known_by_id their positions by id in seen_* (for
     * view_order_distance), and the search is made only when more are asked for, then
     * passed over the `replayed` first storages. replay_complete: the prefix holds every
     * storage reached, never a search. */
    size_t replayed;
    bool replay_complete;
    uint16_t *known_by_id;
    /* An order from the start records what it yields (at most VIEW_PREFIX_LENGTH), which
     * the cache keeps as the organization's prefix when the order is put or ended;
     * seen_all: the search ran to its end with every storage recorded. */
    bool recording, seen_all;
    int64_t *seen_ids, *seen_distances;
    size_t seen_count, seen_cap;
};

typedef enum { ENTRY_ORDER, ENTRY_REACHABLE } entry_kind;

typedef struct {
    entry_kind kind;
    int64_t organization_id;
    int64_t version;
    view_position at;  /* ENTRY_ORDER: where it was suspended */
    view_order *order; /* ENTRY_ORDER */
    graph_snapshot *snapshot;
    int64_t *reachable; /* ENTRY_REACHABLE */
    size_t reachable_count;
    size_t bytes;
    uint64_t used;
} cache_entry;

/* A type found common (see view_cache_type_common), until `until_ms`. */
typedef struct {
    char code[40];
    int64_t until_ms;
} common_type;

#define COMMON_TYPES_MAX 64

/* A rare type's storages (view_cache_members). */
typedef struct {
    char code[40];
    int64_t version;
    int64_t *ids;
    size_t count;
    uint64_t stored; /* when, in the cache's ticks: the oldest is replaced first */
} type_members_entry;

struct view_cache {
    size_t max_bytes, bytes;
    cache_entry *entries;
    size_t count;
    uint64_t tick;
    common_type common[COMMON_TYPES_MAX];
    type_members_entry members[VIEW_MEMBERS_TYPES];
    order_prefixes *prefixes;
    work_budget *budget;
};

view_cache *view_cache_new(size_t max_bytes)
{
    view_cache *cache = xcalloc(1, sizeof *cache);
    cache->max_bytes = max_bytes;
    cache->entries = xcalloc(VIEW_CACHE_MAX_ENTRIES, sizeof *cache->entries);
    cache->prefixes = order_prefixes_new(VIEW_PREFIX_SLOTS, VIEW_PREFIX_LENGTH, max_bytes / 4);
    if (cache->prefixes == NULL) {
        mem_exhausted(VIEW_PREFIX_SLOTS * sizeof(int64_t));
    }
    return cache;
}

static void entry_release(cache_entry *e)
{
    if (e->kind == ENTRY_ORDER) {
        view_order_free(e->order);
    } else {
        free(e->reachable);
        graph_snapshot_release(e->snapshot);
    }
}

static void remove_at(view_cache *cache, size_t i, bool release)
{
    cache->bytes -= cache->entries[i].bytes;
    if (release) {
        entry_release(&cache->entries[i]);
    }
    cache->entries[i] = cache->entries[--cache->count];
}

void view_cache_free(view_cache *cache)
{
    if (cache == NULL) {
        return;
    }
    while (cache->count > 0) {
        remove_at(cache, cache->count - 1, true);
    }
    free(cache->entries);
    for (size_t i = 0; i < VIEW_MEMBERS_TYPES; i++) {
        free(cache->members[i].ids);
    }
    order_prefixes_free(cache->prefixes);
    work_budget_free(cache->budget);
    free(cache);
}

size_t view_cache_bytes(const view_cache *cache)
{
    return cache != NULL ? cache->bytes + order_prefixes_bytes(cache->prefixes) : 0;
}

size_t view_cache_entries(const view_cache *cache)
{
    return cache != NULL ? cache->count : 0;
}

/* Makes room for an entry of `bytes` at `version`: drops every entry of an older version
 * (no request will look for those again), then the least recently used. false when it can
 * never fit. */
static bool make_room(view_cache *cache, size_t bytes, int64_t version)
{
    if (bytes > cache->max_bytes) {
        return false;
    }
    for (size_t i = cache->count; i-- > 0;) {
        if (cache->entries[i].version < version) {
            remove_at(cache, i, true);
        }
    }
    while (cache->count > 0 &&
           (cache->count >= VIEW_CACHE_MAX_ENTRIES || cache->bytes + bytes > cache->max_bytes)) {
        size_t oldest = 0;
        for (size_t i = 1; i < cache->count; i++) {
            if (cache->entries[i].used < cache->entries[oldest].used) {
                oldest = i;
            }
        }
        remove_at(cache, oldest, true);
    }
    return true;
}

static size_t order_bytes(const view_order *order)
{
    return sizeof *order + (order->search != NULL ? graph_search_bytes(order->search) : 0) +
           (order->ahead_head + order->ahead_count + order->seen_cap) * 2 * sizeof(int64_t) +
           (order->known_by_id != NULL ? order->replayed * sizeof(uint16_t) : 0);
}

static view_order *order_new(graph_snapshot *snapshot, int64_t organization_id)
{
    view_order *order = xcalloc(1, sizeof *order);
    snapshot->refs++;
    order->snapshot = snapshot;
    order->organization_id = organization_id;
    return order;
}

/* The search, made (for a replay: and passed over the storages replayed). */
static void order_search(view_order *order)
{
    order->search =
        graph_search_begin(order->snapshot->roads, (node_ref){NODE_ORG, order->organization_id});
    if (order->search == NULL) {
        mem_exhausted(sizeof(graph_search *));
    }
    int64_t id, distance;
    for (size_t i = 0; i < order->replayed && storage_search_next(order->search, &id, &distance);
         i++) {
    }
}

static int64_t *copy_ids(const int64_t *ids, size_t count)
{
    int64_t *copy = xcalloc(count ? count : 1, sizeof *copy);
    memcpy(copy, ids, count * sizeof *copy);
    return copy;
}

/* An order that replays prefix before it searches (see view_order). */
static view_order *order_replay(graph_snapshot *snapshot, const order_prefix *prefix)
{
    view_order *order = order_new(snapshot, prefix->organization_id);
    size_t n = prefix->count;
    order->ahead_ids = copy_ids(prefix->ids, n);
    order->ahead_distances = copy_ids(prefix->distances, n);
    order->ahead_count = n;
    order->known_by_id = xcalloc(n, sizeof *order->known_by_id);
    memcpy(order->known_by_id, prefix->by_id, n * sizeof *order->known_by_id);
    order->replayed = n;
    order->replay_complete = prefix->complete;
    order->storages_found = n;
    order->seen_ids = copy_ids(prefix->ids, n);
    order->seen_distances = copy_ids(prefix->distances, n);
    order->seen_count = order->seen_cap = n;
    order->seen_all = prefix->complete;
    order->recording = true;
    return order;
}

static void record(view_order *order, int64_t storage_id, int64_t distance_m)
{
    if (!order->recording || order->seen_count == VIEW_PREFIX_LENGTH) {
        return;
    }
    if (order->seen_count == order->seen_cap) {
        size_t cap = order->seen_cap ? order->seen_cap * 2 : 64;
        cap = cap > VIEW_PREFIX_LENGTH ? VIEW_PREFIX_LENGTH : cap;
        order->seen_ids = xrealloc(order->seen_ids, cap * sizeof *order->seen_ids);
        order->seen_distances =
            xrealloc(order->seen_distances, cap * sizeof *order->seen_distances);
        order->seen_cap = cap;
    }
    order->seen_ids[order->seen_count] = storage_id;
    order->seen_distances[order->seen_count] = distance_m;
    order->seen_count++;
}

/* What the order recorded from the start becomes the organization's kept prefix. */
static void keep_prefix(view_cache *cache, const view_order *order)
{
    if (cache != NULL && order->recording && order->seen_count > 0) {
        (void)order_prefixes_put(cache->prefixes, order->organization_id, order->snapshot->version,
                                 order->seen_ids, order->seen_distances, order->seen_count,
                                 order->seen_all);
    }
}

view_order *view_order_take(view_cache *cache, graph_snapshot *snapshot, int64_t organization_id,
                            const view_position *after, bool with_paths, bool *resumed)
{
    *resumed = false;
    if (cache != NULL && after != NULL) {
        for (size_t i = 0; i < cache->count; i++) {
            cache_entry *e = &cache->entries[i];
            if (e->kind == ENTRY_ORDER && e->organization_id == organization_id &&
                e->version == snapshot->version && e->at.distance_m == after->distance_m &&
                e->at.storage_id == after->storage_id) {
                view_order *order = e->order;
                remove_at(cache, i, false);
                *resumed = true;
                if (with_paths && order->search == NULL) {
                    order_search(order);
                }
                return order;
            }
        }
    }
    const order_prefix *prefix =
        cache != NULL && !with_paths
            ? order_prefixes_get(cache->prefixes, organization_id, snapshot->version)
            : NULL;
    view_order *order = NULL;
    if (prefix != NULL) {
        order = order_replay(snapshot, prefix);
    } else {
        order = order_new(snapshot, organization_id);
        order->recording = true; /* it starts at the beginning, even to reach `after` */
        order_search(order);
    }
    if (after != NULL) {
        /* Re-expand up to the cursor's position: the storages at or before it were shown. */
        int64_t id, distance;
        while (view_order_next(order, &id, &distance)) {
            if (view_position_before(after, distance, id)) {
                view_order_unread(order, &id, &distance, 1);
                break;
            }
        }
    }
    return order;
}

bool view_order_next(view_order *order, int64_t *storage_id, int64_t *distance_m)
{
    if (order->ahead_count > 0) {
        *storage_id = order->ahead_ids[order->ahead_head];
        *distance_m = order->ahead_distances[order->ahead_head];
        order->ahead_head++;
        order->ahead_count--;
        return true;
    }
    if (order->search == NULL) {
        if (order->replay_complete) {
            return false;
        }
        order_search(order);
    }
    if (!storage_search_next(order->search, storage_id, distance_m)) {
        order->seen_all = order->recording && order->seen_count == order->storages_found;
        return false;
    }
    order->storages_found++;
    record(order, *storage_id, *distance_m);
    return true;
}

size_t view_order_storages_found(const view_order *order)
{
    return order->storages_found;
}

void view_order_unread(view_order *order, const int64_t *storage_ids, const int64_t *distances,
                       size_t count)
{
    if (count == 0) {
        return;
    }
    if (order->ahead_head >= count) {
        order->ahead_head -= count;
    } else {
        size_t total = count + order->ahead_count;
        int64_t *ids = xcalloc(total, sizeof *ids);
        int64_t *dists = xcalloc(total, sizeof *dists);
        if (order->ahead_count > 0) {
            memcpy(ids + count, order->ahead_ids + order->ahead_head,
                   order->ahead_count * sizeof *ids);
            memcpy(dists + count, order->ahead_distances + order->ahead_head,
                   order->ahead_count * sizeof *dists);
        }
        free(order->ahead_ids);
        free(order->ahead_distances);
        order->ahead_ids = ids;
        order->ahead_distances = dists;
        order->ahead_head = 0;
    }
    memcpy(order->ahead_ids + order->ahead_head, storage_ids, count * sizeof *storage_ids);
    memcpy(order->ahead_distances + order->ahead_head, distances, count * sizeof *distances);
    order->ahead_count += count;
}

size_t view_order_path(const view_order *order, int64_t storage_id, node_ref *out, size_t cap)
{
    if (order->search == NULL) {
        return 0; /* a replay: view_order_take makes the search when paths are asked for */
    }
    return graph_search_path(order->search, (node_ref){NODE_STORAGE, storage_id}, out, cap);
}

size_t view_order_settled(const view_order *order)
{
    return order->search != NULL ? graph_search_settled(order->search) : 0;
}

int64_t view_order_distance(const view_order *order, int64_t storage_id)
{
    if (order->search == NULL) {
        order_prefix known = {.ids = order->seen_ids,
                              .distances = order->seen_distances,
                              .by_id = order->known_by_id,
                              .count = order->replayed};
        return order_prefix_distance(&known, storage_id);
    }
    return graph_search_distance(order->search, (node_ref){NODE_STORAGE, storage_id});
}

size_t view_order_ahead(const view_order *order)
{
    return order->ahead_count;
}

void view_order_free(view_order *order)
{
    if (order == NULL) {
        return;
    }
    graph_search_free(order->search);
    graph_snapshot_release(order->snapshot);
    free(order->ahead_ids);
    free(order->ahead_distances);
    free(order->known_by_id);
    free(order->seen_ids);
    free(order->seen_distances);
    free(order);
}

void view_order_end(view_cache *cache, view_order *order)
{
    if (order != NULL) {
        keep_prefix(cache, order);
        view_order_free(order);
    }
}

void view_order_put(view_cache *cache, view_order *order, const view_position *at)
{
    keep_prefix(cache, order);
    size_t bytes = order_bytes(order);
    if (cache == NULL || !make_room(cache, bytes, order->snapshot->version)) {
        view_order_free(order);
        return;
    }
    cache->entries[cache->count++] = (cache_entry){
        .kind = ENTRY_ORDER,
        .organization_id = order->organization_id,
        .version = order->snapshot->version,
        .at = *at,
        .order = order,
        .bytes = bytes,
        .used = ++cache->tick,
    };
    cache->bytes += bytes;
}

const int64_t *view_cache_reachable(view_cache *cache, graph_snapshot *snapshot,
                                    int64_t organization_id, size_t *count, bool *owned)
{
    *owned = false;
    if (cache != NULL) {
        for (size_t i = 0; i < cache->count; i++) {
            cache_entry *e = &cache->entries[i];
            if (e->kind == ENTRY_REACHABLE && e->organization_id == organization_id &&
                e->version == snapshot->version) {
                e->used = ++cache->tick;
                *count = e->reachable_count;
                return e->reachable;
            }
        }
    }
    /* One exhausted search, from the snapshot's own bounded cache of whole trees when it
     * has this organization's. graph_reachable lists in (kind, id) order: ascending ids. */
    const graph_paths *paths = graph_snapshot_paths(snapshot, organization_id);
    size_t n = graph_reachable(paths, NODE_STORAGE, NULL, NULL, 0);
    node_ref *nodes = xcalloc(n ? n : 1, sizeof *nodes);
    size_t written = graph_reachable(paths, NODE_STORAGE, nodes, NULL, n);
    int64_t *ids = xcalloc(n ? n : 1, sizeof *ids);
    for (size_t i = 0; i < written && i < n; i++) {
        ids[i] = nodes[i].id;
    }
    free(nodes);
    *count = n;
    size_t bytes = sizeof(cache_entry) + n * sizeof *ids;
    if (cache == NULL || !make_room(cache, bytes, snapshot->version)) {
        *owned = true;
        return ids;
    }
    snapshot->refs++;
    cache->entries[cache->count++] = (cache_entry){
        .kind = ENTRY_REACHABLE,
        .organization_id = organization_id,
        .version = snapshot->version,
        .snapshot = snapshot,
        .reachable = ids,
        .reachable_count = n,
        .bytes = bytes,
        .used = ++cache->tick,
    };
    cache->bytes += bytes;
    return ids;
}

const int64_t *view_cache_reachable_peek(view_cache *cache, const graph_snapshot *snapshot,
                                         int64_t organization_id, size_t *count)
{
    for (size_t i = 0; cache != NULL && i < cache->count; i++) {
        cache_entry *e = &cache->entries[i];
        if (e->kind == ENTRY_REACHABLE && e->organization_id == organization_id &&
            e->version == snapshot->version) {
            e->used = ++cache->tick;
            *count = e->reachable_count;
            return e->reachable;
        }
    }
    *count = 0;
    return NULL;
}

bool view_cache_type_common(view_cache *cache, const char *code, int64_t now_ms)
{
    for (size_t i = 0; cache != NULL && i < COMMON_TYPES_MAX; i++) {
        if (cache->common[i].until_ms > now_ms && strcmp(cache->common[i].code, code) == 0) {
            return true;
        }
    }
    return false;
}

void view_cache_note_common(view_cache *cache, const char *code, int64_t now_ms)
{
    if (cache == NULL || strlen(code) >= sizeof cache->common[0].code) {
        return;
    }
    /* The same type's slot, else an expired one, else the one that expires first. */
    size_t slot = 0;
    for (size_t i = 0; i < COMMON_TYPES_MAX; i++) {
        if (strcmp(cache->common[i].code, code) == 0) {
            slot = i;
            break;
        }
        if (cache->common[i].until_ms < cache->common[slot].until_ms) {
            slot = i;
        }
    }
    snprintf(cache->common[slot].code, sizeof cache->common[slot].code, "%s", code);
    cache->common[slot].until_ms = now_ms + VIEW_COMMON_TYPE_MS;
}

/* Credentials active within one second that the budget tells apart (24 bytes each). */
#define WORK_BUDGET_IDENTITIES 16384

work_budget *view_cache_work_budget(view_cache *cache, int rate)
{
    if (rate <= 0) {
        return NULL;
    }
    if (cache->budget == NULL) {
        /* A key no client knows, so no client can choose identities that share a slot. */
        uint8_t seed[RATE_SEED_BYTES];
        if (getrandom(seed, sizeof seed, 0) != (ssize_t)sizeof seed) {
            uint64_t fallback[2] = {(uint64_t)clock_ms() * 0x9e3779b97f4a7c15ULL,
                                    (uint64_t)getpid()};
            memcpy(seed, fallback, sizeof seed);
        }
        cache->budget = work_budget_new(rate, WORK_BUDGET_IDENTITIES, seed);
    }
    return cache->budget;
}

const int64_t *view_cache_members(view_cache *cache, const char *code, int64_t *version,
                                  size_t *count)
{
    for (size_t i = 0; cache != NULL && i < VIEW_MEMBERS_TYPES; i++) {
        type_members_entry *e = &cache->members[i];
        if (e->code[0] != '\0' && strcmp(e->code, code) == 0) {
            *version = e->version;
            *count = e->count;
            return e->ids;
        }
    }
    return NULL;
}

void view_cache_put_members(view_cache *cache, const char *code, int64_t version,
                            const int64_t *ids, size_t count)
{
    if (cache == NULL || count > VIEW_MEMBERS_CACHED ||
        strlen(code) >= sizeof cache->members[0].code) {
        return;
    }
    size_t slot = 0;
    for (size_t i = 0; i < VIEW_MEMBERS_TYPES; i++) {
        if (strcmp(cache->members[i].code, code) == 0) {
            slot = i;
            break;
        }
        if (cache->members[i].stored < cache->members[slot].stored) {
            slot = i;
        }
    }
    type_members_entry *e = &cache->members[slot];
    int64_t *copy = copy_ids(ids, count);
    free(e->ids);
    snprintf(e->code, sizeof e->code, "%s", code);
    e->version = version;
    e->ids = copy;
    e->count = count;
    e->stored = ++cache->tick;
}
