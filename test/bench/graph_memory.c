/* What the road graph costs at regional scale (docs/design.md, "Scale"): a random world shaped like
 * `wasteflow seed synthetic` (every organization joined to a storage, the storages chained
 * two-way, the rest random roads, 30% two-way), built at once and in chunks as the cache's
 * full load does, then changed one road at a time; prints bytes per road and node, build and
 * apply times, and what a bounded search costs. A measurement, not a test; times are CPU
 * time, which drifts less than wall time on a shared machine.
 *
 *   bench_graph_memory [organizations storages roads]     (default 10000 100000 1000000) */
#include "core/graph.h"
#include "prng.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* CPU time of this process: on a shared machine wall time measures the neighbours. */
static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Bytes malloc has handed out and not had back, its own overhead included. */
static size_t heap_bytes(void)
{
    struct mallinfo2 info = mallinfo2();
    return info.uordblks + info.hblkhd;
}

/* The tests' generator (prng.h) from a fixed seed, so every run builds the same region. */
static prng generator = {20261127};
static uint64_t rng(void)
{
    return prng_next(&generator);
}
static int64_t pick(int64_t n)
{
    return 1 + (int64_t)(rng() % (uint64_t)n);
}

static void fail(const char *what)
{
    fprintf(stderr, "bench_graph_memory: %s failed\n", what);
    exit(1);
}

int main(int argc, char **argv)
{
    int64_t organizations = 10000, storages = 100000, road_total = 1000000;
    if (argc == 4) {
        organizations = atoll(argv[1]);
        storages = atoll(argv[2]);
        road_total = atoll(argv[3]);
    }
    size_t count = (size_t)road_total;
    graph_road *roads = malloc(count * sizeof *roads);
    if (roads == NULL) {
        fail("malloc");
    }
    size_t n = 0;
    for (int64_t o = 1; o <= organizations && n < count; o++, n++) {
        roads[n] = (graph_road){{NODE_ORG, o},
                                {NODE_STORAGE, 1 + (o - 1) % storages},
                                pick(1000),
                                false,
                                (int64_t)n + 1};
    }
    for (int64_t s = 1; s < storages && n < count; s++, n++) {
        roads[n] = (graph_road){
            {NODE_STORAGE, s}, {NODE_STORAGE, s + 1}, pick(1000), true, (int64_t)n + 1};
    }
    while (n < count) {
        bool from_org = rng() % 2 == 0;
        node_ref from = {from_org ? NODE_ORG : NODE_STORAGE,
                         pick(from_org ? organizations : storages)};
        node_ref to = {NODE_STORAGE, pick(storages)};
        roads[n] = (graph_road){from, to, pick(5000), rng() % 10 < 3, (int64_t)n + 1};
        n++;
    }

    size_t heap_before = heap_bytes();
    double t0 = now_seconds();
    graph *g = graph_build(roads, count);
    double build_s = now_seconds() - t0;
    if (g == NULL) {
        fail("graph_build");
    }
    size_t heap_built = heap_bytes();
    size_t bytes = graph_bytes(g);
    printf("world: %lld organizations, %lld storages, %zu roads -> %zu nodes\n",
           (long long)organizations, (long long)storages, graph_road_count(g), graph_node_count(g));
    size_t held = heap_built - heap_before;
    printf("graph_build: %.0f ms CPU; graph_bytes %.1f MiB (%.1f B/road); malloc'd %.1f MiB = "
           "%.1f B/road, %.1f B/node\n",
           build_s * 1e3, bytes / 1048576.0, (double)bytes / (double)count, held / 1048576.0,
           (double)held / (double)count, (double)held / (double)graph_node_count(g));

    /* Searches: the first 10 storages, then everything. */
    enum { SOURCES = 200 };
    double first10 = 0;
    size_t first10_bytes = 0, first10_settled = 0;
    for (int i = 0; i < SOURCES; i++) {
        node_ref source = {NODE_ORG, pick(organizations)};
        t0 = now_seconds();
        graph_search *s = graph_search_begin(g, source);
        if (s == NULL) {
            fail("graph_search_begin");
        }
        for (int k = 0; k < 10 && graph_search_next(s, NULL, NULL); k++) {
        }
        first10 += now_seconds() - t0;
        first10_bytes += graph_search_bytes(s);
        first10_settled += graph_search_settled(s);
        graph_search_free(s);
    }
    printf("search to the 10th storage: %.1f us, %zu bytes, %zu nodes settled (mean of %d)\n",
           first10 / SOURCES * 1e6, first10_bytes / SOURCES, first10_settled / SOURCES, SOURCES);
    t0 = now_seconds();
    graph_paths *p = graph_shortest_from(g, (node_ref){NODE_ORG, 1});
    double full_s = now_seconds() - t0;
    if (p == NULL) {
        fail("graph_shortest_from");
    }
    printf("graph_shortest_from (whole graph): %.0f ms, %.1f MiB\n", full_s * 1e3,
           graph_paths_bytes(p) / 1048576.0);
    graph_paths_free(p);

    enum { BATCH = 100, BATCHES = 100 };
    graph_change *changes = malloc(BATCH * sizeof *changes);
    if (changes == NULL) {
        fail("malloc");
    }
    /* Changes one road at a time, every version kept (as requests keep snapshots), then the
     * same in batches of 100; random upserts (new and replacing) and deletes. */
    enum { SINGLE = 2000 };
    graph **versions = malloc((SINGLE + 1) * sizeof *versions);
    if (versions == NULL) {
        fail("malloc");
    }
    versions[0] = g;
    size_t heap_versions = heap_bytes();
    int64_t next_route = road_total + 1;
    t0 = now_seconds();
    for (int i = 1; i <= SINGLE; i++) {
        graph_change change;
        int kind = (int)(rng() % 3);
        node_ref from = {NODE_STORAGE, pick(storages)}, to = {NODE_STORAGE, pick(storages)};
        if (kind == 0) {
            change = (graph_change){GRAPH_UPSERT, {from, to, pick(5000), rng() % 2, next_route++}};
        } else if (kind == 1) {
            change =
                (graph_change){GRAPH_UPSERT, {from, to, pick(5000), rng() % 2, pick(road_total)}};
        } else {
            change = (graph_change){GRAPH_DELETE, {.route_id = pick(road_total)}};
        }
        versions[i] = graph_apply(versions[i - 1], &change, 1);
        if (versions[i] == NULL) {
            fail("graph_apply");
        }
    }
    double single_s = now_seconds() - t0;
    size_t heap_after_versions = heap_bytes();
    printf("graph_apply, one change per version: %.1f us per change; %d versions kept: "
           "+%.0f B malloc'd per version\n",
           single_s / SINGLE * 1e6, SINGLE, (double)(heap_after_versions - heap_versions) / SINGLE);
    graph *latest = versions[SINGLE];
    for (int i = 0; i < SINGLE; i++) {
        graph_free(versions[i]); /* oldest first: the newest keeps what it shares */
    }
    t0 = now_seconds();
    for (int b = 0; b < BATCHES; b++) {
        for (int i = 0; i < BATCH; i++) {
            node_ref from = {NODE_STORAGE, pick(storages)}, to = {NODE_STORAGE, pick(storages)};
            changes[i] = (graph_change){
                GRAPH_UPSERT, {from, to, pick(5000), rng() % 2, pick(road_total + SINGLE)}};
        }
        graph *next = graph_apply(latest, changes, BATCH);
        if (next == NULL) {
            fail("graph_apply");
        }
        graph_free(latest);
        latest = next;
    }
    double batch_s = now_seconds() - t0;
    printf("graph_apply, batches of %d: %.1f us per change\n", BATCH,
           batch_s / (BATCH * BATCHES) * 1e6);
    t0 = now_seconds();
    graph_free(latest);
    printf("graph_free: %.0f ms\n", (now_seconds() - t0) * 1e3);
    free(versions);
    free(changes);
    free(roads);
    return 0;
}
