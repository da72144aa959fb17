/* Unit tests of core/graph's versions and bounded searches, randomized with fixed seeds:
 *   - graph_apply over random sequences of upserts (new, replacing, identical) and deletes
 *     (present, absent) answers exactly as graph_build of the resulting road set — node and
 *     road counts, every distance and every path from every node — and every earlier
 *     version still answers as it did, before and after later versions are made and whatever
 *     order versions are freed in;
 *   - graph_search yields exactly the storages, order and distances of a textbook O(n^2)
 *     Dijkstra that follows graph.h's tie rule, with its paths;
 *   - a search that stops after a few storages holds memory for what it explored, not for
 *     the graph. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "check.h"
#include "core/graph.h"
#include "prng.h"
#include "runner.h"

static bool same_node(node_ref a, node_ref b)
{
    return a.kind == b.kind && a.id == b.id;
}

static bool node_before(node_ref a, node_ref b)
{
    return a.kind != b.kind ? a.kind < b.kind : a.id < b.id;
}

/* Distinct random nodes: small ids (many org/storage pairs with one id) or huge sparse ones. */
static void random_pool(prng *r, node_ref *pool, size_t count)
{
    bool huge = prng_range(r, 0, 1) == 1;
    for (size_t i = 0; i < count; i++) {
        bool unique;
        do {
            pool[i] =
                (node_ref){prng_range(r, 0, 1) ? NODE_STORAGE : NODE_ORG,
                           huge ? prng_range(r, 1, INT64_MAX) : prng_range(r, 1, (int64_t)count)};
            unique = true;
            for (size_t j = 0; j < i; j++) {
                unique = unique && !same_node(pool[i], pool[j]);
            }
        } while (!unique);
    }
}

static graph_road random_road(prng *r, const node_ref *pool, size_t pool_size, int64_t max_length,
                              int64_t route_id)
{
    size_t from = (size_t)prng_range(r, 0, (int64_t)pool_size - 1);
    size_t to = (size_t)prng_range(r, 0, (int64_t)pool_size - 1);
    if (from == to && prng_range(r, 0, 3) != 0) {
        to = (to + 1) % pool_size; /* loops, but rarely */
    }
    return (graph_road){pool[from], pool[to], prng_range(r, 1, max_length),
                        prng_range(r, 0, 2) == 0, route_id};
}

/* ---- comparing two graphs in every answer ---- */

/* graph_path into a fresh array (caller frees); *length set. */
static node_ref *path_of(const graph_paths *p, node_ref target, size_t *length)
{
    *length = graph_path(p, target, NULL, 0);
    node_ref *path = malloc((*length ? *length : 1) * sizeof *path);
    assert_non_null(path);
    if (*length > 0) {
        assert_int_equal(graph_path(p, target, path, *length), *length);
    }
    return path;
}

/* Asserts got answers exactly as want for sources and targets among nodes. */
static void assert_same_graph(const graph *got, const graph *want, const node_ref *nodes,
                              size_t node_count, size_t source_step, const char *what, int trial)
{
    CHECK(graph_node_count(got) == graph_node_count(want), "%s %d: %zu nodes, expected %zu", what,
          trial, graph_node_count(got), graph_node_count(want));
    CHECK(graph_road_count(got) == graph_road_count(want), "%s %d: %zu roads, expected %zu", what,
          trial, graph_road_count(got), graph_road_count(want));
    for (size_t i = 0; i < node_count; i++) {
        CHECK(graph_has_node(got, nodes[i]) == graph_has_node(want, nodes[i]), "%s %d: node %zu",
              what, trial, i);
    }
    for (size_t s = 0; s < node_count; s += source_step) {
        graph_paths *p = graph_shortest_from(got, nodes[s]);
        graph_paths *q = graph_shortest_from(want, nodes[s]);
        assert_non_null(p);
        assert_non_null(q);
        for (size_t t = 0; t < node_count; t++) {
            int64_t d = graph_distance(p, nodes[t]), e = graph_distance(q, nodes[t]);
            CHECK(d == e, "%s %d: source %zu target %zu: %" PRId64 " expected %" PRId64, what,
                  trial, s, t, d, e);
            size_t got_length, want_length;
            node_ref *got_path = path_of(p, nodes[t], &got_length);
            node_ref *want_path = path_of(q, nodes[t], &want_length);
            CHECK(got_length == want_length,
                  "%s %d: source %zu target %zu: path of %zu, expected %zu", what, trial, s, t,
                  got_length, want_length);
            for (size_t k = 0; k < got_length; k++) {
                CHECK(same_node(got_path[k], want_path[k]),
                      "%s %d: source %zu target %zu: hop %zu differs", what, trial, s, t, k);
            }
            free(got_path);
            free(want_path);
        }
        graph_paths_free(p);
        graph_paths_free(q);
    }
}

/* ---- graph_apply against graph_build ---- */

enum { MAX_POOL = 24, MAX_ROUTE_IDS = 160 };

/* The road set of one version, by route id (0 unused). */
typedef struct {
    bool present[MAX_ROUTE_IDS + 1];
    graph_road road[MAX_ROUTE_IDS + 1];
} road_set;

static graph *build_set(const road_set *set)
{
    graph_road roads[MAX_ROUTE_IDS];
    size_t count = 0;
    for (int id = 1; id <= MAX_ROUTE_IDS; id++) {
        if (set->present[id]) {
            roads[count++] = set->road[id];
        }
    }
    graph *g = graph_build(roads, count);
    assert_non_null(g);
    return g;
}

/* One random change to set (and into *change); next_id names new routes. */
static void random_change(prng *r, road_set *set, const node_ref *pool, size_t pool_size,
                          int64_t max_length, int *next_id, graph_change *change)
{
    int existing[MAX_ROUTE_IDS];
    int existing_count = 0;
    for (int id = 1; id <= MAX_ROUTE_IDS; id++) {
        if (set->present[id]) {
            existing[existing_count++] = id;
        }
    }
    int pick = existing_count > 0 ? existing[prng_range(r, 0, existing_count - 1)] : 0;
    int64_t kind = prng_range(r, 0, 9);
    if (pick != 0 && kind < 3) { /* delete a road */
        *change = (graph_change){GRAPH_DELETE, {.route_id = pick}};
        set->present[pick] = false;
    } else if (kind == 3) { /* delete any id: present, deleted before, or never used */
        int id = (int)prng_range(r, 1, MAX_ROUTE_IDS + 8);
        *change = (graph_change){GRAPH_DELETE, {.route_id = id}};
        if (id <= MAX_ROUTE_IDS) {
            set->present[id] = false;
        }
    } else if (pick != 0 && kind < 6) { /* replace a road, sometimes by itself */
        graph_road road =
            kind == 5 ? set->road[pick] : random_road(r, pool, pool_size, max_length, pick);
        *change = (graph_change){GRAPH_UPSERT, road};
        set->road[pick] = road;
    } else if (*next_id < MAX_ROUTE_IDS) { /* a new road */
        int id = ++*next_id;
        graph_road road = random_road(r, pool, pool_size, max_length, id);
        /* Sometimes parallel to an existing one, maybe reversed. */
        if (pick != 0 && prng_range(r, 0, 4) == 0) {
            road.from = set->road[pick].from;
            road.to = set->road[pick].to;
            if (prng_range(r, 0, 1)) {
                road.from = set->road[pick].to;
                road.to = set->road[pick].from;
            }
        }
        *change = (graph_change){GRAPH_UPSERT, road};
        set->present[id] = true;
        set->road[id] = road;
    } else {
        *change = (graph_change){GRAPH_DELETE, {.route_id = MAX_ROUTE_IDS + 1}};
    }
}

static void shuffle(prng *r, int *order, int count)
{
    for (int i = 0; i < count; i++) {
        order[i] = i;
    }
    for (int i = count - 1; i > 0; i--) {
        int j = (int)prng_range(r, 0, i);
        int swap = order[i];
        order[i] = order[j];
        order[j] = swap;
    }
}

static void test_apply_equals_build(void **state)
{
    (void)state;
    enum { TRIALS = 250, VERSIONS = 24 };
    prng r = {.state = 20261201};
    static road_set sets[VERSIONS + 1];
    graph *versions[VERSIONS + 1];
    node_ref pool[MAX_POOL];
    for (int trial = 0; trial < TRIALS; trial++) {
        size_t pool_size = (size_t)prng_range(&r, 2, MAX_POOL);
        random_pool(&r, pool, pool_size);
        /* Small lengths force ties; long ones large sums. */
        int64_t max_length = prng_range(&r, 0, 3) == 0 ? 100000000 : 4;
        int next_id = 0;
        memset(&sets[0], 0, sizeof sets[0]);
        /* Version 0 is built, with a few roads, or empty. */
        int initial = (int)prng_range(&r, 0, 12);
        for (int i = 0; i < initial; i++) {
            next_id++;
            sets[0].present[next_id] = true;
            sets[0].road[next_id] = random_road(&r, pool, pool_size, max_length, next_id);
        }
        versions[0] = build_set(&sets[0]);
        for (int v = 1; v <= VERSIONS; v++) {
            sets[v] = sets[v - 1];
            graph_change changes[8];
            size_t count = (size_t)prng_range(&r, 0, 8);
            for (size_t i = 0; i < count; i++) {
                random_change(&r, &sets[v], pool, pool_size, max_length, &next_id, &changes[i]);
            }
            versions[v] = graph_apply(versions[v - 1], changes, count);
            assert_non_null(versions[v]);
            /* The version just made, and its base, which it must not have changed. */
            graph *want = build_set(&sets[v]);
            assert_same_graph(versions[v], want, pool, pool_size, 1, "new version", trial);
            graph_free(want);
            if (v % 5 == 0) {
                want = build_set(&sets[v - 1]);
                assert_same_graph(versions[v - 1], want, pool, pool_size, 1, "base", trial);
                graph_free(want);
            }
        }
        /* Freed in a random order, the versions left answer as they always did. */
        int order[VERSIONS + 1];
        shuffle(&r, order, VERSIONS + 1);
        for (int i = 0; i <= VERSIONS; i++) {
            graph_free(versions[order[i]]);
            versions[order[i]] = NULL;
            if (i % 6 == 5) {
                for (int v = 0; v <= VERSIONS; v++) {
                    if (versions[v] != NULL) {
                        graph *want = build_set(&sets[v]);
                        assert_same_graph(versions[v], want, pool, pool_size, 3, "survivor", trial);
                        graph_free(want);
                    }
                }
            }
        }
    }
}

/* The same at a larger size: a 2,000-node graph changed 3,000 times in batches, checked from a
 * sample of sources against a fresh build at the end and at two kept versions. */
static void test_apply_equals_build_large(void **state)
{
    (void)state;
    enum { NODES = 2000, ROADS = 16000, CHANGES = 3000 };
    prng r = {.state = 4242};
    node_ref *nodes = malloc(NODES * sizeof *nodes);
    graph_road *roads = malloc((ROADS + CHANGES + 1) * sizeof *roads); /* by route id - 1 */
    bool *present = calloc(ROADS + CHANGES + 1, sizeof *present);
    graph_road *kept[2] = {malloc((ROADS + CHANGES) * sizeof(graph_road)),
                           malloc((ROADS + CHANGES) * sizeof(graph_road))};
    size_t kept_count[2] = {0, 0};
    graph_change *changes = malloc(64 * sizeof *changes);
    assert_true(nodes && roads && present && kept[0] && kept[1] && changes);
    for (size_t i = 0; i < NODES; i++) {
        nodes[i] = (node_ref){i % 4 == 0 ? NODE_ORG : NODE_STORAGE, 1 + (int64_t)(i / 2)};
    }
    for (int id = 1; id <= ROADS; id++) {
        roads[id - 1] = random_road(&r, nodes, NODES, 50, id);
        present[id] = true;
    }
    graph *g = graph_build(roads, ROADS);
    assert_non_null(g);
    graph *snapshot[2] = {NULL, NULL};
    int next_id = ROADS;
    for (int done = 0; done < CHANGES;) {
        size_t batch = (size_t)prng_range(&r, 1, 64);
        for (size_t i = 0; i < batch; i++, done++) {
            int id = (int)prng_range(&r, 1, next_id);
            int64_t kind = prng_range(&r, 0, 2);
            if (kind == 0) {
                changes[i] = (graph_change){GRAPH_DELETE, {.route_id = id}};
                present[id] = false;
            } else {
                if (kind == 2) {
                    id = ++next_id;
                }
                roads[id - 1] = random_road(&r, nodes, NODES, 50, id);
                present[id] = true;
                changes[i] = (graph_change){GRAPH_UPSERT, roads[id - 1]};
            }
        }
        graph *next = graph_apply(g, changes, batch);
        assert_non_null(next);
        if (g != snapshot[0] && g != snapshot[1]) {
            graph_free(g);
        }
        g = next;
        int keep = done >= CHANGES / 3 && snapshot[0] == NULL       ? 0
                   : done >= 2 * CHANGES / 3 && snapshot[1] == NULL ? 1
                                                                    : -1;
        if (keep >= 0) {
            snapshot[keep] = g; /* kept while later versions are made from it */
            for (int id = 1; id <= next_id; id++) {
                if (present[id]) {
                    kept[keep][kept_count[keep]++] = roads[id - 1];
                }
            }
        }
    }
    assert_true(g != snapshot[0] && g != snapshot[1]);
    size_t final_count = 0;
    for (int id = 1; id <= next_id; id++) {
        if (present[id]) {
            roads[final_count++] = roads[id - 1];
        }
    }
    graph *want = graph_build(roads, final_count);
    assert_non_null(want);
    assert_same_graph(g, want, nodes, NODES, 97, "final", 0);
    graph_free(want);
    graph_free(g);
    for (int k = 0; k < 2; k++) {
        want = graph_build(kept[k], kept_count[k]);
        assert_non_null(want);
        assert_non_null(snapshot[k]);
        assert_same_graph(snapshot[k], want, nodes, NODES, 131, "kept", k);
        graph_free(want);
        graph_free(snapshot[k]);
    }
    free(nodes);
    free(roads);
    free(present);
    free(kept[0]);
    free(kept[1]);
    free(changes);
}

/* ---- graph_search against a textbook Dijkstra ---- */

#define NO_EDGE INT64_MAX

/* Settles nodes in (dist, kind, id) order, relaxing with strictly shorter distances only:
 * graph.h's tie rule, written the slow and obvious way. order[] gets the settled nodes. */
static size_t reference_dijkstra(size_t n, const node_ref *nodes, int64_t edge[][MAX_POOL],
                                 size_t source, int64_t *dist, size_t *pred, size_t *order)
{
    bool settled[MAX_POOL] = {false};
    for (size_t i = 0; i < n; i++) {
        dist[i] = -1;
        pred[i] = SIZE_MAX;
    }
    dist[source] = 0;
    size_t count = 0;
    for (;;) {
        size_t u = SIZE_MAX;
        for (size_t i = 0; i < n; i++) {
            if (!settled[i] && dist[i] >= 0 &&
                (u == SIZE_MAX || dist[i] < dist[u] ||
                 (dist[i] == dist[u] && node_before(nodes[i], nodes[u])))) {
                u = i;
            }
        }
        if (u == SIZE_MAX) {
            return count;
        }
        settled[u] = true;
        order[count++] = u;
        for (size_t v = 0; v < n; v++) {
            if (settled[v] || edge[u][v] == NO_EDGE) {
                continue;
            }
            int64_t through = dist[u] + edge[u][v];
            if (dist[v] < 0 || through < dist[v]) {
                dist[v] = through;
                pred[v] = u;
            }
        }
    }
}

static size_t pool_index(const node_ref *pool, size_t n, node_ref node)
{
    for (size_t i = 0; i < n; i++) {
        if (same_node(pool[i], node)) {
            return i;
        }
    }
    return SIZE_MAX;
}

static void test_search_equals_dijkstra(void **state)
{
    (void)state;
    enum { TRIALS = 1500 };
    prng r = {.state = 99};
    node_ref pool[MAX_POOL];
    graph_road roads[4 * MAX_POOL];
    static int64_t edge[MAX_POOL][MAX_POOL];
    int64_t dist[MAX_POOL];
    size_t pred[MAX_POOL], order[MAX_POOL];
    node_ref path[MAX_POOL + 1];
    for (int trial = 0; trial < TRIALS; trial++) {
        size_t n = (size_t)prng_range(&r, 1, MAX_POOL);
        random_pool(&r, pool, n);
        int64_t max_length = prng_range(&r, 0, 2) == 0 ? 100000000 : 3;
        size_t road_count = (size_t)prng_range(&r, 0, 4 * (int64_t)n);
        for (size_t i = 0; i < n; i++) {
            for (size_t j = 0; j < n; j++) {
                edge[i][j] = NO_EDGE;
            }
        }
        for (size_t k = 0; k < road_count; k++) {
            roads[k] = random_road(&r, pool, n, max_length, (int64_t)k + 1);
            size_t a = pool_index(pool, n, roads[k].from), b = pool_index(pool, n, roads[k].to);
            if (roads[k].distance_m < edge[a][b]) {
                edge[a][b] = roads[k].distance_m;
            }
            if (roads[k].two_way && roads[k].distance_m < edge[b][a]) {
                edge[b][a] = roads[k].distance_m;
            }
        }
        graph *g = graph_build(roads, road_count);
        assert_non_null(g);
        for (size_t s = 0; s < n; s++) {
            bool in_graph = graph_has_node(g, pool[s]);
            size_t settled_count = reference_dijkstra(n, pool, edge, s, dist, pred, order);
            graph_search *search = graph_search_begin(g, pool[s]);
            assert_non_null(search);
            assert_int_equal(graph_search_distance(search, pool[s]), 0);
            size_t returned = 0;
            for (size_t k = 0; k < settled_count; k++) {
                size_t expected = order[k];
                if (expected == s || pool[expected].kind != NODE_STORAGE) {
                    continue;
                }
                if (!in_graph) {
                    break;
                }
                node_ref node;
                int64_t distance = -2;
                CHECK(graph_search_next(search, &node, &distance),
                      "trial %d source %zu: search ended before storage %zu", trial, s, k);
                CHECK(same_node(node, pool[expected]) && distance == dist[expected],
                      "trial %d source %zu: storage #%zu is (%d,%" PRId64 ") at %" PRId64
                      ", expected (%d,%" PRId64 ") at %" PRId64,
                      trial, s, returned, node.kind, node.id, distance, pool[expected].kind,
                      pool[expected].id, dist[expected]);
                returned++;
                assert_int_equal(graph_search_distance(search, node), distance);
                /* The path: the reference's predecessors, walked back. */
                size_t length = 1;
                for (size_t at = expected; at != s; at = pred[at]) {
                    length++;
                }
                CHECK(graph_search_path(search, node, path, MAX_POOL + 1) == length,
                      "trial %d source %zu: path length", trial, s);
                size_t at = expected;
                for (size_t h = length; h-- > 0; at = h > 0 ? pred[at] : at) {
                    CHECK(same_node(path[h], pool[at]), "trial %d source %zu: hop %zu", trial, s,
                          h);
                }
                /* A storage not settled yet has no distance so far. */
                for (size_t later = k + 1; later < settled_count; later++) {
                    size_t other = order[later];
                    if (pool[other].kind == NODE_STORAGE && dist[other] > distance) {
                        assert_int_equal(graph_search_distance(search, pool[other]), -1);
                        assert_int_equal(graph_search_path(search, pool[other], path, 1), 0);
                        break;
                    }
                }
            }
            CHECK(!graph_search_next(search, NULL, NULL), "trial %d source %zu: extra storage",
                  trial, s);
            assert_false(graph_search_failed(search));
            assert_false(graph_search_next(search, NULL, NULL)); /* and stays ended */
            /* Unreachable nodes have no distance. */
            for (size_t t = 0; t < n; t++) {
                if (dist[t] < 0 || !in_graph) {
                    assert_int_equal(graph_search_distance(search, pool[t]), t == s ? 0 : -1);
                }
            }
            assert_true(graph_search_settled(search) <= settled_count);
            graph_search_free(search);
        }
        graph_free(g);
    }
}

/* Searching a version keeps working while newer versions are made from it and after the
 * versions it was made from are freed. */
static void test_search_outlives_other_versions(void **state)
{
    (void)state;
    const graph_road roads[] = {
        {{NODE_ORG, 1}, {NODE_STORAGE, 1}, 10, false, 1},
        {{NODE_STORAGE, 1}, {NODE_STORAGE, 2}, 10, true, 2},
        {{NODE_STORAGE, 2}, {NODE_STORAGE, 3}, 10, false, 3},
    };
    graph *v0 = graph_build(roads, 3);
    assert_non_null(v0);
    const graph_change cut = {GRAPH_DELETE, {.route_id = 2}};
    graph *v1 = graph_apply(v0, &cut, 1);
    assert_non_null(v1);
    graph_search *old = graph_search_begin(v0, (node_ref){NODE_ORG, 1});
    graph_search *cut_search = graph_search_begin(v1, (node_ref){NODE_ORG, 1});
    assert_non_null(old);
    assert_non_null(cut_search);
    node_ref node;
    int64_t distance;
    assert_true(graph_search_next(cut_search, &node, &distance));
    assert_int_equal(node.id, 1);
    assert_false(graph_search_next(cut_search, &node, &distance)); /* the road on is gone */
    const graph_change shortcut = {GRAPH_UPSERT, {{NODE_ORG, 1}, {NODE_STORAGE, 3}, 5, false, 4}};
    graph *v2 = graph_apply(v1, &shortcut, 1);
    assert_non_null(v2);
    graph_free(v1);
    graph_search_free(cut_search);
    /* v0 still has every road; v2 has the shortcut but not route 2. */
    const int64_t want_old[][2] = {{1, 10}, {2, 20}, {3, 30}};
    for (int i = 0; i < 3; i++) {
        assert_true(graph_search_next(old, &node, &distance));
        assert_int_equal(node.id, want_old[i][0]);
        assert_int_equal(distance, want_old[i][1]);
    }
    assert_false(graph_search_next(old, NULL, NULL));
    graph_search_free(old);
    graph_free(v0);
    graph_search *fresh = graph_search_begin(v2, (node_ref){NODE_ORG, 1});
    assert_non_null(fresh);
    const int64_t want_new[][2] = {{3, 5}, {1, 10}};
    for (int i = 0; i < 2; i++) {
        assert_true(graph_search_next(fresh, &node, &distance));
        assert_int_equal(node.id, want_new[i][0]);
        assert_int_equal(distance, want_new[i][1]);
    }
    assert_false(graph_search_next(fresh, NULL, NULL));
    assert_int_equal(graph_node_count(v2), 4);
    graph_search_free(fresh);
    graph_free(v2);
}

/* A regional-shaped graph (20,000 storages, 2,000 organizations, 200,000 roads): the first
 * ten storages cost a search a few kilobytes and a few dozen settled nodes, while the whole
 * tree holds megabytes. Bytes and counts, never time. */
static void test_search_memory_follows_exploration(void **state)
{
    (void)state;
    enum { ORGS = 2000, STORAGES = 20000, ROADS = 200000 };
    prng r = {.state = 13};
    graph_road *roads = malloc(ROADS * sizeof *roads);
    assert_non_null(roads);
    size_t n = 0;
    for (int64_t o = 1; o <= ORGS; o++, n++) {
        roads[n] = (graph_road){
            {NODE_ORG, o}, {NODE_STORAGE, o}, prng_range(&r, 1, 1000), false, (int64_t)n + 1};
    }
    for (int64_t s = 1; s < STORAGES; s++, n++) {
        roads[n] = (graph_road){{NODE_STORAGE, s},
                                {NODE_STORAGE, s + 1},
                                prng_range(&r, 1, 1000),
                                true,
                                (int64_t)n + 1};
    }
    for (; n < ROADS; n++) {
        bool from_org = prng_range(&r, 0, 1) == 1;
        roads[n] = (graph_road){
            {from_org ? NODE_ORG : NODE_STORAGE, prng_range(&r, 1, from_org ? ORGS : STORAGES)},
            {NODE_STORAGE, prng_range(&r, 1, STORAGES)},
            prng_range(&r, 1, 5000),
            prng_range(&r, 0, 9) < 3,
            (int64_t)n + 1};
    }
    graph *g = graph_build(roads, ROADS);
    assert_non_null(g);
    free(roads);
    size_t most_bytes = 0, most_settled = 0;
    for (int64_t o = 1; o <= ORGS; o += 97) {
        graph_search *s = graph_search_begin(g, (node_ref){NODE_ORG, o});
        assert_non_null(s);
        for (int k = 0; k < 10; k++) {
            assert_true(graph_search_next(s, NULL, NULL));
        }
        most_bytes = graph_search_bytes(s) > most_bytes ? graph_search_bytes(s) : most_bytes;
        most_settled =
            graph_search_settled(s) > most_settled ? graph_search_settled(s) : most_settled;
        graph_search_free(s);
    }
    graph_paths *whole = graph_shortest_from(g, (node_ref){NODE_ORG, 1});
    assert_non_null(whole);
    size_t whole_bytes = graph_paths_bytes(whole);
    CHECK(most_settled <= 100, "the 10th storage took %zu settled nodes", most_settled);
    CHECK(most_bytes <= 64 * 1024, "the 10th storage took %zu bytes", most_bytes);
    CHECK(whole_bytes >= 20 * most_bytes, "the whole tree: %zu bytes, 10 storages %zu", whole_bytes,
          most_bytes);
    graph_paths_free(whole);
    graph_free(g);
}

RUNNER_MAIN(NULL, NULL,
            {
                cmocka_unit_test(test_apply_equals_build),
                cmocka_unit_test(test_apply_equals_build_large),
                cmocka_unit_test(test_search_equals_dijkstra),
                cmocka_unit_test(test_search_outlives_other_versions),
                cmocka_unit_test(test_search_memory_follows_exploration),
            })
