/* Shortest road distances between organizations and storages: a directed graph built once
 * from the routes, then one Dijkstra run per source organization. Pure: no I/O, no globals;
 * a built graph is immutable, so threads may share it read-only. */
#ifndef WF_CORE_GRAPH_H
#define WF_CORE_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { NODE_ORG = 0, NODE_STORAGE = 1 } node_kind;

/* A node is an organization or a storage; ids are positive. */
typedef struct {
    node_kind kind;
    int64_t id;
} node_ref;

/* One route. distance_m >= 1; two_way makes it an edge in both directions. */
typedef struct {
    node_ref from, to;
    int64_t distance_m;
    bool two_way;
} graph_road;

typedef struct graph graph;             /* opaque, immutable after build */
typedef struct graph_paths graph_paths; /* result of one single-source run */

/* Builds the graph from roads; roads is only read during the call. A two-way road is an edge
 * in both directions; parallel roads are allowed and the shorter one wins; a road from a node
 * to itself is allowed and never used. The nodes are the endpoints of the roads (node ids may
 * be sparse and large). Results do not depend on the order of roads.
 * Returns NULL on allocation failure or invalid input: distance_m < 1, an id < 1, a kind that
 * is not NODE_ORG/NODE_STORAGE, or roads == NULL with road_count > 0. road_count 0 builds an
 * empty graph. The caller frees the result with graph_free. */
graph *graph_build(const graph_road *roads, size_t road_count) __attribute__((warn_unused_result));

/* Frees g; NULL is a no-op. Every graph_paths computed from g must be freed first. */
void graph_free(graph *g);

/* Number of distinct nodes (road endpoints). */
size_t graph_node_count(const graph *g) __attribute__((warn_unused_result));

/* Whether node is an endpoint of some road. */
bool graph_has_node(const graph *g, node_ref node) __attribute__((warn_unused_result));

/* Dijkstra with a binary heap from source. A source absent from the graph yields a result in
 * which everything except the source itself is unreachable. The result refers to g, which must
 * outlive it; g is only read, so concurrent runs on one graph are safe. Returns NULL on
 * allocation failure; the caller frees the result with graph_paths_free.
 *
 * Tie rule (deterministic, independent of road order): nodes are settled in ascending order
 * of (distance, kind, id) — organizations before storages at equal distance — and a node's
 * predecessor is replaced only by a strictly shorter distance. So among equal-length shortest
 * paths to v, the last hop comes from the earliest settled u with dist(u) + road(u,v) =
 * dist(v), and the path before u is u's own chosen path.
 *
 * A distance that would exceed INT64_MAX is treated as unreachable (impossible with the API's
 * 1..10^8 m roads: 10^5 roads sum to 10^13). */
graph_paths *graph_shortest_from(const graph *g, node_ref source)
    __attribute__((warn_unused_result));

/* Frees p; NULL is a no-op. */
void graph_paths_free(graph_paths *p);

/* Shortest distance in metres from the source to target, or -1 when unreachable (also when
 * target is not in the graph); 0 for the source itself. */
int64_t graph_distance(const graph_paths *p, node_ref target) __attribute__((warn_unused_result));

/* Writes the path source..target (both included) into out (up to cap refs) and returns its
 * length in nodes; 0 when unreachable (out untouched). The source's own path is [source],
 * length 1. If cap is too small returns the needed length and writes nothing, so
 * graph_path(p, t, NULL, 0) asks for the length. */
size_t graph_path(const graph_paths *p, node_ref target, node_ref *out, size_t cap)
    __attribute__((warn_unused_result));

/* Writes up to cap nodes of the given kind that the source reaches (the source itself
 * excluded), in (kind, id) order, with their distances into dist_out (may be NULL).
 * Returns how many there are in all, which may exceed cap; graph_node_count bounds it. */
size_t graph_reachable(const graph_paths *p, node_kind kind, node_ref *out, int64_t *dist_out,
                       size_t cap) __attribute__((warn_unused_result));

#endif
