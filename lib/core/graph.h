/* Shortest road distances between organizations and storages. A graph is an immutable,
 * persistent value: graph_apply makes a new version from an old one plus changed roads, at a
 * cost that grows with the change (the versions share everything else), and the old version
 * stays valid. Searches expand from a source only as far as the caller asks (graph_search),
 * or to exhaustion (graph_shortest_from). Pure: no I/O, no globals; a graph is never written
 * after it is returned (reference counts aside, which are atomic), so threads may read one
 * concurrently and free versions in any order. */
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

/* One road. distance_m >= 1; two_way makes it an edge in both directions. route_id >= 1
 * names it (the routes table's id) so that a later change can replace or delete it; 0 is an
 * anonymous road of graph_build, which no change can name. */
typedef struct {
    node_ref from, to;
    int64_t distance_m;
    bool two_way;
    int64_t route_id;
} graph_road;

typedef enum {
    GRAPH_UPSERT = 0, /* insert road.route_id, or replace the road it names */
    GRAPH_DELETE = 1, /* delete road.route_id (only that field is read); absent: no-op */
} graph_change_op;

typedef struct {
    graph_change_op op;
    graph_road road;
} graph_change;

typedef struct graph graph;             /* opaque, immutable after build */
typedef struct graph_paths graph_paths; /* result of one single-source run */
typedef struct graph_search graph_search;

/* Builds the graph from roads; roads is only read during the call. A two-way road is an edge
 * in both directions; parallel roads are allowed and the shorter one wins; a road from a node
 * to itself is allowed and never used. The nodes are the endpoints of the roads (node ids may
 * be sparse and large). Results do not depend on the order of roads.
 * Returns NULL on allocation failure or invalid input: distance_m < 1, an id < 1, a kind that
 * is not NODE_ORG/NODE_STORAGE, a route_id < 0, two roads with the same route_id >= 1, or
 * roads == NULL with road_count > 0. road_count 0 builds an empty graph. The caller frees the
 * result with graph_free. */
graph *graph_build(const graph_road *roads, size_t road_count) __attribute__((warn_unused_result));

/* graph_build fed one road at a time, for roads that arrive in parts (a full load read in
 * chunks): it keeps 32 bytes a road until finished. graph_builder_new returns NULL on
 * allocation failure. graph_builder_add returns false on invalid input (as graph_build would
 * refuse it) or allocation failure; the builder stays usable. graph_builder_finish consumes
 * the builder and returns what graph_build would (NULL on failure or a repeated route_id);
 * graph_builder_free discards one unfinished. */
typedef struct graph_builder graph_builder;
graph_builder *graph_builder_new(void) __attribute__((warn_unused_result));
bool graph_builder_add(graph_builder *b, const graph_road *road)
    __attribute__((warn_unused_result));
graph *graph_builder_finish(graph_builder *b) __attribute__((warn_unused_result));
void graph_builder_free(graph_builder *b);

/* A new version of base with the changes applied in order: the same graph, in every answer,
 * as graph_build of the resulting road set. base is only read and stays valid and unchanged;
 * the result shares every part of base that the changes leave alone, so its cost is the
 * changed roads' (plus the degree of their endpoints), never the graph's size. Endpoints
 * that no road touches any more stop being nodes. Returns NULL on allocation failure or
 * invalid input (an upsert as graph_build would refuse its road, or a route_id < 1); the
 * caller frees the result with graph_free, before or after base. */
graph *graph_apply(const graph *base, const graph_change *changes, size_t count)
    __attribute__((warn_unused_result));

/* Frees g; NULL is a no-op. Every graph_paths and graph_search on g must be freed first;
 * other versions sharing parts of g are unaffected. */
void graph_free(graph *g);

/* Number of distinct nodes (road endpoints). */
size_t graph_node_count(const graph *g) __attribute__((warn_unused_result));

/* Number of roads. */
size_t graph_road_count(const graph *g) __attribute__((warn_unused_result));

/* Whether node is an endpoint of some road. */
bool graph_has_node(const graph *g, node_ref node) __attribute__((warn_unused_result));

/* Bytes g's structures take, counting parts shared with other versions in full (so the
 * memory of a set of versions is at most the sum). */
size_t graph_bytes(const graph *g) __attribute__((warn_unused_result));

/* Incremental Dijkstra from source. Its memory and time grow with what it has explored so far
 * (a hash map of the nodes reached, a heap of the frontier), never with the graph's size.
 *
 * Tie rule (deterministic, independent of road order and of how the graph was built): nodes
 * are settled in ascending order of (distance, kind, id) — organizations before storages at
 * equal distance — and a node's predecessor is replaced only by a strictly shorter distance.
 * So among equal-length shortest paths to v, the last hop comes from the earliest settled u
 * with dist(u) + road(u,v) = dist(v), and the path before u is u's own chosen path.
 *
 * A distance that would exceed INT64_MAX is treated as unreachable (impossible with the API's
 * 1..10^8 m roads: 10^5 roads sum to 10^13).
 *
 * The search refers to g, which must outlive it. Returns NULL on allocation failure; the
 * caller frees it with graph_search_free. */
graph_search *graph_search_begin(const graph *g, node_ref source)
    __attribute__((warn_unused_result));

/* Settles nodes in the tie rule's order up to the next storage (never the source itself) and
 * returns it with its distance (either pointer may be NULL). false when nothing more is
 * reachable — or when memory ran out, which graph_search_failed then tells. */
bool graph_search_next(graph_search *s, node_ref *node, int64_t *distance_m);

/* Whether the search stopped because an allocation failed. */
bool graph_search_failed(const graph_search *s) __attribute__((warn_unused_result));

/* Distance of a settled node — the source (0, in the graph or not), every storage returned,
 * and the organizations settled before the last one — else -1. */
int64_t graph_search_distance(const graph_search *s, node_ref node)
    __attribute__((warn_unused_result));

/* graph_path's contract for a settled node (see graph_search_distance); 0 for any other. */
size_t graph_search_path(const graph_search *s, node_ref node, node_ref *out, size_t cap)
    __attribute__((warn_unused_result));

/* Nodes settled so far (the source included), and the bytes the search holds: for metrics. */
size_t graph_search_settled(const graph_search *s) __attribute__((warn_unused_result));
size_t graph_search_bytes(const graph_search *s) __attribute__((warn_unused_result));

/* Frees s; NULL is a no-op. */
void graph_search_free(graph_search *s);

/* The search of graph_search_begin run to exhaustion: every node the source reaches, with
 * the same tie rule. A source absent from the graph yields a result in which everything
 * except the source itself is unreachable. The result refers to g, which must outlive it.
 * Returns NULL on allocation failure; the caller frees the result with graph_paths_free. */
graph_paths *graph_shortest_from(const graph *g, node_ref source)
    __attribute__((warn_unused_result));

/* Frees p; NULL is a no-op. */
void graph_paths_free(graph_paths *p);

/* Bytes p holds (for cache budgets). */
size_t graph_paths_bytes(const graph_paths *p) __attribute__((warn_unused_result));

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
