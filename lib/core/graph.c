/* The road graph as a persistent value (see graph.h). Two persistent maps (core/pmap.h):
 * node -> its adjacency block (the roads leaving it, and how many road ends it has), and
 * route id -> the node the route leaves from. Blocks are reference-counted and shared
 * between versions like the maps' nodes; a change copies the blocks of the endpoints it
 * touches and the map paths leading to them, or changes them in place where the graph being
 * changed is their only owner. Searches keep their own state in a hash map keyed by node
 * and a binary heap ordered by (distance, kind, id), so they cost what they explore. */
#include "core/graph.h"

#include "core/pmap.h"

#include <stdlib.h>
#include <string.h>

/* A node as a map key: the kind in the top bit, the id (1..INT64_MAX) below; never 0, and
 * the keys' integer order is the tie rule's (kind, id) order. */
#define STORAGE_BIT (UINT64_C(1) << 63)
/* In an edge's route field: the road is two-way (route ids stay below 2^63). */
#define TWO_WAY_BIT (UINT64_C(1) << 63)

typedef struct {
    uint64_t target; /* node key */
    uint64_t route;  /* route id (0: anonymous), | TWO_WAY_BIT */
    int64_t length;
} graph_edge;

typedef struct {
    uint32_t refs;
    uint32_t count;    /* edges leaving the node */
    uint32_t capacity; /* edges allocated */
    uint32_t ends;     /* road endpoints at the node (a loop counts twice): a node while > 0 */
    bool noted;        /* on the running change's touched list (false in a finished graph) */
    graph_edge edges[];
} adjacency;

struct graph {
    pmap nodes;  /* node key -> adjacency * */
    pmap routes; /* route id -> key of the node the route leaves from */
    size_t road_count;
};

static uint64_t key_of(node_ref node)
{
    return (node.kind == NODE_STORAGE ? STORAGE_BIT : 0) | (uint64_t)node.id;
}

static node_ref node_of(uint64_t key)
{
    return (node_ref){(key & STORAGE_BIT) ? NODE_STORAGE : NODE_ORG, (int64_t)(key & ~STORAGE_BIT)};
}

static bool node_valid(node_ref node)
{
    return (node.kind == NODE_ORG || node.kind == NODE_STORAGE) && node.id >= 1;
}

static bool road_valid(const graph_road *road)
{
    return road->distance_m >= 1 && road->route_id >= 0 && node_valid(road->from) &&
           node_valid(road->to);
}

/* ---- adjacency blocks ---- */

static adjacency *adjacency_of(uint64_t value)
{
    return (adjacency *)(uintptr_t)value;
}

static size_t adjacency_size(uint32_t capacity)
{
    return sizeof(adjacency) + (size_t)capacity * sizeof(graph_edge);
}

static void adjacency_retain(uint64_t value)
{
    __atomic_add_fetch(&adjacency_of(value)->refs, 1, __ATOMIC_RELAXED);
}

static void adjacency_release(uint64_t value)
{
    adjacency *a = adjacency_of(value);
    if (__atomic_sub_fetch(&a->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        free(a);
    }
}

static const pmap_ops adjacency_ops = {adjacency_retain, adjacency_release};

static const adjacency *find_adjacency(const graph *g, uint64_t key)
{
    uint64_t value;
    return pmap_get(&g->nodes, key, &value) ? adjacency_of(value) : NULL;
}

/* ---- changing a graph ---- */

typedef struct {
    graph *g;
    /* Nodes whose blocks this change wrote (each once: the block is marked noted): trimmed
     * to size, or dropped when no road ends there any more, once the change is done. */
    uint64_t *touched;
    size_t touched_count, touched_capacity;
} change_run;

static bool note_touched(change_run *run, uint64_t key)
{
    if (run->touched_count == run->touched_capacity) {
        size_t capacity = run->touched_capacity ? run->touched_capacity * 2 : 16;
        uint64_t *grown = realloc(run->touched, capacity * sizeof *grown);
        if (grown == NULL) {
            return false;
        }
        run->touched = grown;
        run->touched_capacity = capacity;
    }
    run->touched[run->touched_count++] = key;
    return true;
}

/* The block of key, made this graph's own with room for extra more edges, created empty
 * when the node is new; NULL on allocation failure. The pointer is valid only until the next
 * change to the node map. */
static adjacency *writable_node(change_run *run, uint64_t key, uint32_t extra)
{
    pmap *nodes = &run->g->nodes;
    uint64_t *slot;
    if (!pmap_get_mut(nodes, key, &adjacency_ops, &slot)) {
        return NULL;
    }
    if (slot == NULL) {
        adjacency *fresh = malloc(adjacency_size(extra));
        if (fresh == NULL) {
            return NULL;
        }
        *fresh = (adjacency){.refs = 1, .capacity = extra};
        if (!pmap_put(nodes, key, (uintptr_t)fresh, &adjacency_ops)) {
            free(fresh);
            return NULL;
        }
        /* The path is the graph's own now: this lookup copies nothing and cannot fail. */
        if (!pmap_get_mut(nodes, key, &adjacency_ops, &slot) || slot == NULL) {
            return NULL;
        }
    }
    adjacency *a = adjacency_of(*slot);
    if (a->count > UINT32_MAX - extra) {
        return NULL;
    }
    uint32_t needed = a->count + extra;
    bool own = __atomic_load_n(&a->refs, __ATOMIC_ACQUIRE) == 1;
    if (!own || a->capacity < needed) {
        /* A shared block is copied at its exact size; one of our own grows geometrically, so
         * a node gaining many roads in one change is not copied once per road. */
        uint32_t capacity = needed;
        if (own && a->capacity < UINT32_MAX / 2 && a->capacity * 2 > needed) {
            capacity = a->capacity * 2;
        }
        adjacency *fresh;
        if (own) {
            fresh = realloc(a, adjacency_size(capacity));
            if (fresh == NULL) {
                return NULL;
            }
        } else {
            fresh = malloc(adjacency_size(capacity));
            if (fresh == NULL) {
                return NULL;
            }
            memcpy(fresh, a, adjacency_size(a->count));
            fresh->refs = 1;
            adjacency_release(*slot);
        }
        fresh->capacity = capacity;
        *slot = (uintptr_t)fresh;
        a = fresh;
    }
    if (!a->noted) {
        if (!note_touched(run, key)) {
            return NULL;
        }
        a->noted = true;
    }
    return a;
}

/* Index of the first edge of route in a, from `from` on; a->count when there is none. */
static uint32_t edge_of_route(const adjacency *a, uint64_t route, uint32_t from)
{
    for (uint32_t i = from; i < a->count; i++) {
        if ((a->edges[i].route & ~TWO_WAY_BIT) == route) {
            return i;
        }
    }
    return a->count;
}

static void remove_edge(adjacency *a, uint32_t index)
{
    a->edges[index] = a->edges[--a->count]; /* edge order carries no meaning */
}

/* Deletes the road named route (>= 1); nothing when there is none. */
static bool remove_route(change_run *run, uint64_t route)
{
    uint64_t from;
    if (!pmap_get(&run->g->routes, route, &from)) {
        return true;
    }
    adjacency *a = writable_node(run, from, 0);
    if (a == NULL) {
        return false;
    }
    uint32_t index = edge_of_route(a, route, 0);
    if (index == a->count) {
        return false; /* the maps disagree: cannot happen */
    }
    uint64_t to = a->edges[index].target;
    bool two_way = (a->edges[index].route & TWO_WAY_BIT) != 0;
    remove_edge(a, index);
    a->ends--;
    if (to == from) {
        if (two_way) {
            uint32_t back = edge_of_route(a, route, 0);
            if (back < a->count) {
                remove_edge(a, back);
            }
        }
        a->ends--;
    } else {
        adjacency *b = writable_node(run, to, 0);
        if (b == NULL) {
            return false;
        }
        if (two_way) {
            uint32_t back = edge_of_route(b, route, 0);
            if (back < b->count) {
                remove_edge(b, back);
            }
        }
        b->ends--;
    }
    run->g->road_count--;
    return pmap_remove(&run->g->routes, route, NULL, NULL);
}

/* Whether the graph already holds road, under its id, exactly as given. */
static bool holds_same_road(const graph *g, const graph_road *road)
{
    uint64_t from;
    if (!pmap_get(&g->routes, (uint64_t)road->route_id, &from) || from != key_of(road->from)) {
        return false;
    }
    const adjacency *a = find_adjacency(g, from);
    uint32_t index = a ? edge_of_route(a, (uint64_t)road->route_id, 0) : 0;
    if (a == NULL || index == a->count) {
        return false;
    }
    const graph_edge *edge = &a->edges[index];
    return edge->target == key_of(road->to) && edge->length == road->distance_m &&
           ((edge->route & TWO_WAY_BIT) != 0) == road->two_way;
}

static void append_edge(adjacency *a, uint64_t target, uint64_t route, int64_t length)
{
    a->edges[a->count++] = (graph_edge){target, route, length};
}

/* Adds road (valid, named), replacing the road of the same id. */
static bool add_road(change_run *run, const graph_road *road)
{
    uint64_t route = (uint64_t)road->route_id;
    if (pmap_get(&run->g->routes, route, NULL)) {
        if (holds_same_road(run->g, road)) {
            return true;
        }
        if (!remove_route(run, route)) {
            return false;
        }
    }
    uint64_t from = key_of(road->from), to = key_of(road->to);
    uint64_t tagged = route | (road->two_way ? TWO_WAY_BIT : 0);
    bool loop = from == to;
    adjacency *a = writable_node(run, from, road->two_way && loop ? 2 : 1);
    if (a == NULL) {
        return false;
    }
    append_edge(a, to, tagged, road->distance_m);
    if (road->two_way && loop) {
        append_edge(a, from, tagged, road->distance_m);
    }
    a->ends++;
    /* a may move now: the node map changes when `to` is new. */
    adjacency *b = writable_node(run, to, road->two_way && !loop ? 1 : 0);
    if (b == NULL) {
        return false;
    }
    if (road->two_way && !loop) {
        append_edge(b, from, tagged, road->distance_m);
    }
    b->ends++;
    run->g->road_count++;
    return pmap_put(&run->g->routes, route, from, NULL);
}

/* After the changes: blocks trimmed to their size, nodes without roads dropped. */
static bool finish_run(change_run *run)
{
    pmap *nodes = &run->g->nodes;
    for (size_t i = 0; i < run->touched_count; i++) {
        uint64_t *slot;
        if (!pmap_get_mut(nodes, run->touched[i], &adjacency_ops, &slot)) {
            return false;
        }
        if (slot == NULL) {
            continue; /* cannot happen: touched nodes are dropped here only */
        }
        adjacency *a = adjacency_of(*slot);
        a->noted = false;
        if (a->ends == 0) {
            if (!pmap_remove(nodes, run->touched[i], &adjacency_ops, NULL)) {
                return false;
            }
        } else if (a->capacity > a->count) {
            adjacency *trimmed = realloc(a, adjacency_size(a->count));
            if (trimmed != NULL) {
                trimmed->capacity = trimmed->count;
                *slot = (uintptr_t)trimmed;
            } /* else the larger block serves */
        }
    }
    return true;
}

static bool changes_valid(const graph_change *changes, size_t count)
{
    if (count > 0 && changes == NULL) {
        return false;
    }
    for (size_t i = 0; i < count; i++) {
        const graph_change *change = &changes[i];
        if (change->road.route_id < 1 ||
            (change->op != GRAPH_UPSERT && change->op != GRAPH_DELETE) ||
            (change->op == GRAPH_UPSERT && !road_valid(&change->road))) {
            return false;
        }
    }
    return true;
}

/* Applies valid changes to g in place (sharing-aware); false on allocation failure. */
static bool run_changes(graph *g, const graph_change *changes, size_t count)
{
    change_run run = {.g = g};
    bool ok = true;
    for (size_t i = 0; ok && i < count; i++) {
        ok = changes[i].op == GRAPH_DELETE ? remove_route(&run, (uint64_t)changes[i].road.route_id)
                                           : add_road(&run, &changes[i].road);
    }
    ok = ok && finish_run(&run);
    free(run.touched);
    return ok;
}

/* ---- building at once ---- */

/* A road as the builder keeps it. */
typedef struct {
    uint64_t route; /* | TWO_WAY_BIT */
    uint64_t from, to;
    int64_t length;
} built_road;

struct graph_builder {
    built_road *roads;
    size_t count, capacity;
    size_t named; /* roads with a route id */
};

graph_builder *graph_builder_new(void)
{
    return calloc(1, sizeof(graph_builder));
}

void graph_builder_free(graph_builder *b)
{
    if (b != NULL) {
        free(b->roads);
        free(b);
    }
}

bool graph_builder_add(graph_builder *b, const graph_road *road)
{
    if (!road_valid(road)) {
        return false;
    }
    if (b->count == b->capacity) {
        size_t capacity = b->capacity ? b->capacity * 2 : 1024;
        built_road *grown = capacity > SIZE_MAX / sizeof *grown
                                ? NULL
                                : realloc(b->roads, capacity * sizeof *grown);
        if (grown == NULL) {
            return false;
        }
        b->roads = grown;
        b->capacity = capacity;
    }
    b->roads[b->count++] =
        (built_road){(uint64_t)road->route_id | (road->two_way ? TWO_WAY_BIT : 0),
                     key_of(road->from), key_of(road->to), road->distance_m};
    b->named += road->route_id != 0;
    return true;
}

/* The route map: route id -> from node, refusing a repeated id. */
static bool build_routes(graph *g, const graph_builder *b)
{
    pmap_entry *entries = malloc((b->named ? b->named : 1) * sizeof *entries);
    if (entries == NULL) {
        return false;
    }
    size_t n = 0;
    for (size_t i = 0; i < b->count; i++) {
        uint64_t route = b->roads[i].route & ~TWO_WAY_BIT;
        if (route != 0) {
            entries[n++] = (pmap_entry){route, b->roads[i].from};
        }
    }
    int built = pmap_build(&g->routes, entries, n);
    free(entries);
    return built == 0;
}

/* A scratch set of the nodes during a build: open addressing over node indices, grown as
 * nodes appear so its size follows the nodes, not the roads. */
typedef struct {
    uint64_t *keys;
    uint32_t *out_degree, *ends;
    size_t count, capacity;
    uint32_t *slots; /* index + 1, 0 empty; at least twice as many as nodes */
    size_t mask;
} node_table;

#define NO_INDEX UINT32_MAX

/* A node key's hash (half of MurmurHash3's finalizer), for the node table and a search's
 * open-addressed states alike. */
static size_t table_hash(uint64_t key)
{
    key ^= key >> 33;
    key *= UINT64_C(0xc4ceb9fe1a85ec53);
    key ^= key >> 33;
    return (size_t)key;
}

static size_t table_slot(const node_table *t, uint64_t key)
{
    size_t slot = table_hash(key) & t->mask;
    while (t->slots[slot] != 0 && t->keys[t->slots[slot] - 1] != key) {
        slot = (slot + 1) & t->mask;
    }
    return slot;
}

static bool table_grow(node_table *t)
{
    size_t capacity = t->capacity ? t->capacity * 2 : 1024;
    if (capacity >= NO_INDEX) {
        return false;
    }
    uint64_t *keys = realloc(t->keys, capacity * sizeof *keys);
    if (keys != NULL) {
        t->keys = keys;
    }
    uint32_t *out_degree = realloc(t->out_degree, capacity * sizeof *out_degree);
    if (out_degree != NULL) {
        t->out_degree = out_degree;
    }
    uint32_t *ends = realloc(t->ends, capacity * sizeof *ends);
    if (ends != NULL) {
        t->ends = ends;
    }
    uint32_t *slots = calloc(capacity * 2, sizeof *slots);
    if (keys == NULL || out_degree == NULL || ends == NULL || slots == NULL) {
        free(slots);
        return false;
    }
    free(t->slots);
    t->slots = slots;
    t->mask = capacity * 2 - 1;
    t->capacity = capacity;
    for (size_t i = 0; i < t->count; i++) {
        t->slots[table_slot(t, t->keys[i])] = (uint32_t)i + 1;
    }
    return true;
}

/* Index of key in t, added when absent; NO_INDEX on allocation failure. */
static uint32_t table_index(node_table *t, uint64_t key)
{
    if (t->count == t->capacity && !table_grow(t)) {
        return NO_INDEX;
    }
    size_t slot = table_slot(t, key);
    if (t->slots[slot] != 0) {
        return t->slots[slot] - 1;
    }
    uint32_t index = (uint32_t)t->count++;
    t->keys[index] = key;
    t->out_degree[index] = 0;
    t->ends[index] = 0;
    t->slots[slot] = index + 1;
    return index;
}

static void table_free(node_table *t)
{
    free(t->keys);
    free(t->out_degree);
    free(t->ends);
    free(t->slots);
}

/* The node map: every endpoint with its block, each allocated at its exact size. */
static bool build_nodes(graph *g, const graph_builder *b)
{
    node_table t = {0};
    pmap_entry *entries = NULL;
    for (size_t i = 0; i < b->count; i++) {
        const built_road *road = &b->roads[i];
        uint32_t from = table_index(&t, road->from);
        uint32_t to = from == NO_INDEX ? NO_INDEX : table_index(&t, road->to);
        if (to == NO_INDEX) {
            goto fail;
        }
        t.out_degree[from]++;
        t.ends[from]++;
        t.ends[to]++;
        if (road->route & TWO_WAY_BIT) {
            t.out_degree[to]++;
        }
    }
    entries = calloc(t.count ? t.count : 1, sizeof *entries);
    if (entries == NULL) {
        goto fail;
    }
    for (size_t i = 0; i < t.count; i++) {
        adjacency *a = malloc(adjacency_size(t.out_degree[i]));
        if (a == NULL) {
            goto fail;
        }
        *a = (adjacency){.refs = 1, .capacity = t.out_degree[i], .ends = t.ends[i]};
        entries[i] = (pmap_entry){t.keys[i], (uintptr_t)a};
    }
    for (size_t i = 0; i < b->count; i++) {
        const built_road *road = &b->roads[i];
        adjacency *from = adjacency_of(entries[t.slots[table_slot(&t, road->from)] - 1].value);
        append_edge(from, road->to, road->route, road->length);
        if (road->route & TWO_WAY_BIT) {
            adjacency *to = adjacency_of(entries[t.slots[table_slot(&t, road->to)] - 1].value);
            append_edge(to, road->from, road->route, road->length);
        }
    }
    if (pmap_build(&g->nodes, entries, t.count) != 0) {
        goto fail;
    }
    free(entries);
    table_free(&t);
    return true;
fail:
    for (size_t i = 0; entries != NULL && i < t.count; i++) {
        free(adjacency_of(entries[i].value)); /* calloc'd: NULL where not yet allocated */
    }
    free(entries);
    table_free(&t);
    return false;
}

graph *graph_builder_finish(graph_builder *b)
{
    graph *g = calloc(1, sizeof *g);
    bool ok = g != NULL && build_routes(g, b) && build_nodes(g, b);
    if (g != NULL) {
        g->road_count = b->count;
    }
    graph_builder_free(b);
    if (!ok) {
        graph_free(g);
        return NULL;
    }
    return g;
}

graph *graph_build(const graph_road *roads, size_t road_count)
{
    if (road_count > 0 && roads == NULL) {
        return NULL;
    }
    graph_builder *b = graph_builder_new();
    if (b == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < road_count; i++) {
        if (!graph_builder_add(b, &roads[i])) {
            graph_builder_free(b);
            return NULL;
        }
    }
    return graph_builder_finish(b);
}

graph *graph_apply(const graph *base, const graph_change *changes, size_t count)
{
    if (!changes_valid(changes, count)) {
        return NULL;
    }
    graph *g = calloc(1, sizeof *g);
    if (g == NULL) {
        return NULL;
    }
    pmap_share(&g->nodes, &base->nodes);
    pmap_share(&g->routes, &base->routes);
    g->road_count = base->road_count;
    if (!run_changes(g, changes, count)) {
        graph_free(g);
        return NULL;
    }
    return g;
}

void graph_free(graph *g)
{
    if (g == NULL) {
        return;
    }
    pmap_clear(&g->nodes, &adjacency_ops);
    pmap_clear(&g->routes, NULL);
    free(g);
}

size_t graph_node_count(const graph *g)
{
    return g->nodes.count;
}

size_t graph_road_count(const graph *g)
{
    return g->road_count;
}

bool graph_has_node(const graph *g, node_ref node)
{
    return node_valid(node) && pmap_get(&g->nodes, key_of(node), NULL);
}

static void add_block_bytes(uint64_t key, uint64_t value, void *arg)
{
    (void)key;
    *(size_t *)arg += adjacency_size(adjacency_of(value)->capacity);
}

size_t graph_bytes(const graph *g)
{
    size_t bytes = sizeof *g + pmap_bytes(&g->nodes) + pmap_bytes(&g->routes);
    pmap_each(&g->nodes, add_block_bytes, &bytes);
    return bytes;
}

/* ---- searching ---- */

#define NO_STATE     UINT32_MAX
#define HEAP_NONE    UINT32_MAX /* reached, not queued (never: a reached node is queued) */
#define HEAP_SETTLED (UINT32_MAX - 1)

/* One node the search has reached. */
typedef struct {
    uint64_t key;
    int64_t dist;
    uint32_t pred; /* state of the predecessor; NO_STATE for the source */
    uint32_t heap; /* position in the heap, or HEAP_SETTLED */
} search_state;

/* The heap holds its key so that sifting compares contiguous memory. */
typedef struct {
    int64_t dist;
    uint64_t key;
    uint32_t state;
} heap_entry;

struct graph_search {
    const graph *g;
    node_ref source;
    uint64_t source_key;
    search_state *states; /* in the order reached; indices are stable */
    uint32_t state_count, state_capacity;
    /* Open addressing over states: a slot holds state index + 1, 0 when empty; at most half
     * full, so probes stay short and always meet an empty slot. */
    uint32_t *slots;
    size_t slot_mask;
    heap_entry *heap;
    size_t heap_size, heap_capacity;
    size_t settled;
    bool failed;
};

/* The slot holding key's state, or the empty slot where it would go. */
static size_t find_slot(const graph_search *s, uint64_t key)
{
    size_t slot = table_hash(key) & s->slot_mask;
    while (s->slots[slot] != 0 && s->states[s->slots[slot] - 1].key != key) {
        slot = (slot + 1) & s->slot_mask;
    }
    return slot;
}

static uint32_t state_of(const graph_search *s, uint64_t key)
{
    uint32_t entry = s->slots[find_slot(s, key)];
    return entry == 0 ? NO_STATE : entry - 1;
}

static bool grow_slots(graph_search *s)
{
    size_t slot_count = (s->slot_mask + 1) * 2;
    uint32_t *slots = calloc(slot_count, sizeof *slots);
    if (slots == NULL) {
        return false;
    }
    free(s->slots);
    s->slots = slots;
    s->slot_mask = slot_count - 1;
    for (uint32_t i = 0; i < s->state_count; i++) {
        s->slots[find_slot(s, s->states[i].key)] = i + 1;
    }
    return true;
}

/* A new state for key (absent); NO_STATE on allocation failure. */
static uint32_t add_state(graph_search *s, uint64_t key, int64_t dist, uint32_t pred)
{
    if (s->state_count == s->state_capacity) {
        if (s->state_capacity >= UINT32_MAX / 4) {
            return NO_STATE;
        }
        uint32_t capacity = s->state_capacity * 2;
        search_state *grown = realloc(s->states, capacity * sizeof *grown);
        if (grown == NULL) {
            return NO_STATE;
        }
        s->states = grown;
        s->state_capacity = capacity;
    }
    if ((size_t)(s->state_count + 1) * 2 > s->slot_mask + 1 && !grow_slots(s)) {
        return NO_STATE;
    }
    uint32_t index = s->state_count++;
    s->states[index] = (search_state){key, dist, pred, HEAP_NONE};
    s->slots[find_slot(s, key)] = index + 1;
    return index;
}

static bool heap_less(heap_entry a, heap_entry b)
{
    /* Bitwise, not short-circuit: the comparison outcome is unpredictable. */
    return (a.dist < b.dist) | ((a.dist == b.dist) & (a.key < b.key));
}

static void heap_place(graph_search *s, size_t at, heap_entry entry)
{
    s->heap[at] = entry;
    s->states[entry.state].heap = (uint32_t)at;
}

static void heap_sift_up(graph_search *s, size_t at, heap_entry entry)
{
    while (at > 0) {
        size_t parent = (at - 1) / 2;
        if (!heap_less(entry, s->heap[parent])) {
            break;
        }
        heap_place(s, at, s->heap[parent]);
        at = parent;
    }
    heap_place(s, at, entry);
}

static void heap_sift_down(graph_search *s, size_t at, heap_entry entry)
{
    for (;;) {
        size_t child = 2 * at + 1;
        if (child >= s->heap_size) {
            break;
        }
        if (child + 1 < s->heap_size) {
            child += heap_less(s->heap[child + 1], s->heap[child]);
        }
        if (!heap_less(s->heap[child], entry)) {
            break;
        }
        heap_place(s, at, s->heap[child]);
        at = child;
    }
    heap_place(s, at, entry);
}

/* Queues state at its distance, or moves it up after its distance fell. */
static bool heap_push_or_decrease(graph_search *s, uint32_t state)
{
    search_state *st = &s->states[state];
    size_t at = st->heap;
    if (at == HEAP_NONE) {
        if (s->heap_size == s->heap_capacity) {
            size_t capacity = s->heap_capacity * 2;
            heap_entry *grown = realloc(s->heap, capacity * sizeof *grown);
            if (grown == NULL) {
                return false;
            }
            s->heap = grown;
            s->heap_capacity = capacity;
        }
        at = s->heap_size++;
    }
    heap_sift_up(s, at, (heap_entry){st->dist, st->key, state});
    return true;
}

static heap_entry heap_pop(graph_search *s)
{
    heap_entry top = s->heap[0];
    s->states[top.state].heap = HEAP_SETTLED;
    s->heap_size--;
    if (s->heap_size > 0) {
        heap_sift_down(s, 0, s->heap[s->heap_size]);
    }
    return top;
}

enum { SEARCH_INITIAL = 16 };

graph_search *graph_search_begin(const graph *g, node_ref source)
{
    graph_search *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return NULL;
    }
    s->g = g;
    s->source = source;
    s->source_key = node_valid(source) ? key_of(source) : 0;
    s->state_capacity = SEARCH_INITIAL;
    s->heap_capacity = SEARCH_INITIAL;
    s->slot_mask = 2 * SEARCH_INITIAL - 1;
    s->states = malloc(s->state_capacity * sizeof *s->states);
    s->heap = malloc(s->heap_capacity * sizeof *s->heap);
    s->slots = calloc(s->slot_mask + 1, sizeof *s->slots);
    if (s->states == NULL || s->heap == NULL || s->slots == NULL) {
        graph_search_free(s);
        return NULL;
    }
    if (s->source_key != 0 && find_adjacency(g, s->source_key) != NULL) {
        uint32_t state = add_state(s, s->source_key, 0, NO_STATE);
        if (state == NO_STATE || !heap_push_or_decrease(s, state)) {
            graph_search_free(s);
            return NULL;
        }
    }
    return s;
}

/* Relaxes the roads leaving the settled state. */
static bool relax(graph_search *s, uint32_t from_state)
{
    uint64_t from_key = s->states[from_state].key;
    int64_t from_dist = s->states[from_state].dist;
    const adjacency *a = find_adjacency(s->g, from_key);
    for (uint32_t e = 0; a != NULL && e < a->count; e++) {
        const graph_edge *edge = &a->edges[e];
        if (edge->length > INT64_MAX - from_dist) {
            continue; /* beyond any representable distance: treated as unreachable */
        }
        int64_t candidate = from_dist + edge->length;
        uint32_t to = state_of(s, edge->target);
        if (to == NO_STATE) {
            to = add_state(s, edge->target, candidate, from_state);
            if (to == NO_STATE || !heap_push_or_decrease(s, to)) {
                return false;
            }
            continue;
        }
        search_state *st = &s->states[to];
        /* Strictly shorter only: the first settled predecessor keeps a tie (see graph.h). */
        if (st->heap != HEAP_SETTLED && candidate < st->dist) {
            st->dist = candidate;
            st->pred = from_state;
            if (!heap_push_or_decrease(s, to)) {
                return false;
            }
        }
    }
    return true;
}

bool graph_search_next(graph_search *s, node_ref *node, int64_t *distance_m)
{
    while (!s->failed && s->heap_size > 0) {
        heap_entry settled = heap_pop(s);
        s->settled++;
        if (!relax(s, settled.state)) {
            s->failed = true;
            break;
        }
        if ((settled.key & STORAGE_BIT) && settled.key != s->source_key) {
            if (node != NULL) {
                *node = node_of(settled.key);
            }
            if (distance_m != NULL) {
                *distance_m = settled.dist;
            }
            return true;
        }
    }
    return false;
}

bool graph_search_failed(const graph_search *s)
{
    return s->failed;
}

/* The settled state of node, or NO_STATE. */
static uint32_t settled_state(const graph_search *s, node_ref node)
{
    if (!node_valid(node)) {
        return NO_STATE;
    }
    uint32_t state = state_of(s, key_of(node));
    return state != NO_STATE && s->states[state].heap == HEAP_SETTLED ? state : NO_STATE;
}

static bool is_source(const graph_search *s, node_ref node)
{
    return node.kind == s->source.kind && node.id == s->source.id;
}

int64_t graph_search_distance(const graph_search *s, node_ref node)
{
    if (is_source(s, node)) {
        return 0; /* also when the source is in no road */
    }
    uint32_t state = settled_state(s, node);
    return state == NO_STATE ? -1 : s->states[state].dist;
}

size_t graph_search_path(const graph_search *s, node_ref node, node_ref *out, size_t cap)
{
    if (is_source(s, node)) {
        if (cap >= 1) {
            out[0] = s->source;
        }
        return 1;
    }
    uint32_t state = settled_state(s, node);
    if (state == NO_STATE) {
        return 0;
    }
    size_t length = 1;
    for (uint32_t at = state; s->states[at].pred != NO_STATE; at = s->states[at].pred) {
        length++;
    }
    if (cap < length) {
        return length;
    }
    size_t position = length;
    for (uint32_t at = state; at != NO_STATE; at = s->states[at].pred) {
        out[--position] = node_of(s->states[at].key);
    }
    return length;
}

size_t graph_search_settled(const graph_search *s)
{
    return s->settled;
}

size_t graph_search_bytes(const graph_search *s)
{
    return sizeof *s + (size_t)s->state_capacity * sizeof *s->states +
           (s->slot_mask + 1) * sizeof *s->slots + s->heap_capacity * sizeof *s->heap;
}

void graph_search_free(graph_search *s)
{
    if (s == NULL) {
        return;
    }
    free(s->states);
    free(s->slots);
    free(s->heap);
    free(s);
}

/* ---- the whole tree from one source ---- */

struct graph_paths {
    graph_search *search; /* exhausted */
    uint32_t *order;      /* settled states but the source, in key ((kind, id)) order */
    size_t order_count;
};

static int compare_keys(const void *left, const void *right, void *states)
{
    uint64_t a = ((const search_state *)states)[*(const uint32_t *)left].key;
    uint64_t b = ((const search_state *)states)[*(const uint32_t *)right].key;
    return a < b ? -1 : a > b;
}

graph_paths *graph_shortest_from(const graph *g, node_ref source)
{
    graph_paths *p = calloc(1, sizeof *p);
    if (p == NULL) {
        return NULL;
    }
    p->search = graph_search_begin(g, source);
    if (p->search == NULL) {
        goto fail;
    }
    graph_search *s = p->search;
    while (graph_search_next(s, NULL, NULL)) {
    }
    if (s->failed) {
        goto fail;
    }
    /* The frontier is empty now: give its memory back. */
    free(s->heap);
    s->heap = NULL;
    s->heap_capacity = 0;
    p->order = malloc((s->state_count ? s->state_count : 1) * sizeof *p->order);
    if (p->order == NULL) {
        goto fail;
    }
    for (uint32_t i = 0; i < s->state_count; i++) {
        if (s->states[i].key != s->source_key) {
            p->order[p->order_count++] = i;
        }
    }
    qsort_r(p->order, p->order_count, sizeof *p->order, compare_keys, s->states);
    return p;
fail:
    graph_paths_free(p);
    return NULL;
}

void graph_paths_free(graph_paths *p)
{
    if (p == NULL) {
        return;
    }
    graph_search_free(p->search);
    free(p->order);
    free(p);
}

size_t graph_paths_bytes(const graph_paths *p)
{
    return sizeof *p + graph_search_bytes(p->search) + p->order_count * sizeof *p->order;
}

int64_t graph_distance(const graph_paths *p, node_ref target)
{
    return graph_search_distance(p->search, target);
}

size_t graph_path(const graph_paths *p, node_ref target, node_ref *out, size_t cap)
{
    return graph_search_path(p->search, target, out, cap);
}

size_t graph_reachable(const graph_paths *p, node_kind kind, node_ref *out, int64_t *dist_out,
                       size_t cap)
{
    const search_state *states = p->search->states;
    size_t found = 0;
    for (size_t i = 0; i < p->order_count; i++) {
        const search_state *st = &states[p->order[i]];
        node_ref node = node_of(st->key);
        if (node.kind != kind) {
            continue;
        }
        if (found < cap) {
            out[found] = node;
            if (dist_out != NULL) {
                dist_out[found] = st->dist;
            }
        }
        found++;
    }
    return found;
}
